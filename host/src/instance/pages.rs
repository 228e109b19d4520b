//! Where an instance's linear memory is in the host: to write a prepared module graph's
//! image into a fresh instance (`prepared`), and to give a large execution's memory back
//! to the snapshot before its pool slot is reset.
//!
//! wasmtime resets a used slot (`linear_memory_keep_resident` with `pagemap_scan`, see
//! `jsruntime_wasm::engine_config`) by copying the snapshot back into the first
//! [`KEEP_RESIDENT_BYTES`] of the pages the kernel reports as the instance's private
//! copies, in address order, and by unmapping every page after those, which restores the
//! snapshot's own. A page copied back stays a private copy, so the pages a slot keeps
//! are, for its whole life, the lowest ones any execution in it ever wrote. After an
//! execution that wrote more than the budget (a garbage collection writes to every object
//! of the snapshot's heap), they are pages the next short execution does not touch, and
//! the pages it does write lie past them: unmapped at every reset, copied again by a page
//! fault each at every execution. A trivial script went from 35 µs to 295 µs p50 after
//! one run of each CPU workload of the benchmarks (2 vCPUs, where every such fault also
//! interrupts the other CPU to flush its TLB; bench/FINDINGS.md, issue 14).
//!
//! So after an execution that may have written more than the budget, the instance
//! discards its whole linear memory (`madvise(MADV_DONTNEED)`) before its store is
//! dropped. On wasmtime's copy-on-write mapping that restores the snapshot's pages, which
//! is what wasmtime's own decommit does to the pages past the budget; the reset then finds
//! no private page, and the next execution in the slot costs what one in a fresh slot does.
//!
//! Only on Linux 6.7 and later, where wasmtime's reset scans for the written pages
//! (`PAGEMAP_SCAN`); an older kernel has it copy the whole budget back at every reset, and
//! there is nothing to gain.

use jsruntime_wasm::{KEEP_RESIDENT_BYTES, MAX_MEMORY_BYTES};
use wasmtime::component::{ComponentExportIndex, Instance, WasmList};
use wasmtime::Store;

/// New linear memory past the snapshot's that makes an execution large: as much as the
/// reset keeps, so it alone can fill the budget.
const LARGE_GROWTH_BYTES: usize = KEEP_RESIDENT_BYTES;

/// Fuel that makes an execution large: a few milliseconds of guest work, enough to have
/// collected garbage or recursed deep, and some fifty times what discarding costs the
/// next execution in the slot (the page faults of its own working set, ~150 µs on 2
/// shared vCPUs).
const LARGE_FUEL: u64 = 10_000_000;

/// The smallest host page: a linear memory starts on a host page, so on a multiple of it.
const MIN_HOST_PAGE_BYTES: usize = 4096;

/// Where an instance's linear memory is in the host's address space.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuestMemory {
    /// The host address of guest address 0.
    base: usize,
}

impl GuestMemory {
    /// Asks the guest (`engine.locate-memory`) where its memory is. `None` if the
    /// guest's answer is not an address in its memory.
    pub(crate) async fn locate<T: Send + 'static>(
        store: &mut Store<T>,
        instance: &Instance,
        export: &ComponentExportIndex,
    ) -> Option<GuestMemory> {
        let func = instance
            .get_typed_func::<(), ((WasmList<u8>, u32),)>(&mut *store, export)
            .ok()?;
        let ((marker, address),) = func.call_async(&mut *store, ()).await.ok()?;
        let bytes = marker.as_le_slice(&*store);
        if bytes.len() != 1 {
            return None;
        }
        let base = (bytes.as_ptr() as usize).checked_sub(address as usize)?;
        // A linear memory starts on a host page: anything else is not its start. (The
        // instance is fresh: only the guest's own code has run in it.)
        if base % MIN_HOST_PAGE_BYTES != 0 {
            return None;
        }
        Some(GuestMemory { base })
    }

    /// Discards the memory of an instance whose execution was large, so that its slot's
    /// reset starts from the snapshot. `initial_bytes` is the memory it was instantiated
    /// with, `peak_bytes` the most it grew to, `fuel_used` what its execution burned.
    ///
    /// # Safety
    ///
    /// The instance's store must be alive and must never run guest code again: this
    /// changes the guest's memory under it. No reference into that memory may be held.
    pub(crate) unsafe fn discard_if_large(
        &self,
        initial_bytes: usize,
        peak_bytes: usize,
        fuel_used: u64,
    ) {
        if !worth_it() || !is_large(initial_bytes, peak_bytes, fuel_used) {
            return;
        }
        let cap = usize::try_from(MAX_MEMORY_BYTES).unwrap_or(usize::MAX);
        let len = peak_bytes.min(cap);
        // SAFETY: `base..base + len` is the instance's linear memory (its size is what the
        // limiter granted, and wasm pages are whole host pages), mapped by wasmtime for as
        // long as the store lives, which the caller guarantees, as it does that nothing
        // reads or runs in it again before wasmtime resets it. MADV_DONTNEED only drops
        // the instance's private copies of pages: the mapping stays, its contents become
        // the snapshot's again (zeros past it), exactly what wasmtime's reset produces.
        // Failing changes nothing: the reset does its usual work.
        unsafe {
            libc::madvise(self.base as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

impl GuestMemory {
    /// The first `len` bytes of the instance's linear memory.
    ///
    /// # Safety
    ///
    /// The instance's store must be alive, `len` at most its memory's current size, and no
    /// guest code may run and nothing may write the memory while the slice is held.
    pub(crate) unsafe fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: the caller's contract: `base..base + len` is mapped linear memory that
        // nothing changes meanwhile.
        unsafe { std::slice::from_raw_parts(self.base as *const u8, len) }
    }

    /// Writes `bytes` at guest address `offset`.
    ///
    /// # Safety
    ///
    /// The instance's store must be alive, `offset + bytes.len()` at most its memory's
    /// current size, no guest code may run meanwhile, and no reference into the memory may
    /// be held.
    pub(crate) unsafe fn write(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: the caller's contract: the range is mapped linear memory that nothing
        // else reads or writes meanwhile; `bytes` is host memory, so the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (self.base + offset) as *mut u8,
                bytes.len(),
            );
        }
    }
}

/// Whether an execution may have written more pages than the reset keeps.
fn is_large(initial_bytes: usize, peak_bytes: usize, fuel_used: u64) -> bool {
    peak_bytes.saturating_sub(initial_bytes) >= LARGE_GROWTH_BYTES || fuel_used >= LARGE_FUEL
}

/// Linux 6.7 or later (`PAGEMAP_SCAN`), read once.
fn worth_it() -> bool {
    static WORTH_IT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WORTH_IT.get_or_init(|| {
        cfg!(target_os = "linux") && kernel_release().is_some_and(|r| scans_pagemap(&r))
    })
}

fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()
}

/// Whether a kernel release string (`6.1.0-18-amd64`) is 6.7 or later.
fn scans_pagemap(release: &str) -> bool {
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    matches!((major, minor), (Some(major), Some(minor)) if (major, minor) >= (6, 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_from_6_7_scan_the_pagemap() {
        assert!(scans_pagemap("6.7.0"));
        assert!(scans_pagemap("6.12.48-1-amd64\n"));
        assert!(scans_pagemap("7.0"));
        assert!(!scans_pagemap("6.6.87.2-microsoft-standard-WSL2"));
        assert!(!scans_pagemap("5.15.0-105-generic"));
        assert!(!scans_pagemap("six"));
        assert!(!scans_pagemap(""));
    }

    #[test]
    fn an_execution_is_large_by_its_growth_or_its_fuel() {
        let initial = 52 * 65536;
        assert!(!is_large(initial, initial, 68_000));
        assert!(!is_large(initial, initial + 65536, LARGE_FUEL - 1));
        assert!(is_large(initial, initial + LARGE_GROWTH_BYTES, 0));
        assert!(is_large(initial, initial, LARGE_FUEL));
    }
}
