//! The snapshot's heap, laid out so that what an execution allocates lands on few pages.
//!
//! Why: the host resets a used pool slot by copying the snapshot back into every page
//! the execution wrote (`host/src/instance/pages.rs`), so each page an execution dirties
//! costs it a page copy, and the guest's first touch of it. Pre-initialization leaves
//! the allocator (wasi-libc's dlmalloc) with free chunks scattered through the heap: the
//! garbage of building the runtime and installing the APIs. dlmalloc serves a request
//! from any free chunk that fits before it takes memory from its top chunk, so the
//! small allocations of an execution landed in those holes, one or two per page: `1+1`
//! wrote 15 pages, a handler given a 1 KiB input 35, nearly all of them for a few
//! kilobytes of objects (bench/FINDINGS.md, issue 12).
//!
//! So the last thing pre-initialization does ([`lay_out`]) is:
//!
//! 1. collect garbage, so what the runtime no longer holds is free;
//! 2. take every free chunk out of the allocator's reach, by allocating it and keeping
//!    it: these *plugs* are memory the snapshot holds anyway, in pages it has anyway;
//! 3. reserve one block of [`RUN_HEAP_BYTES`] right after the heap, and allocate the
//!    script stack after it (`stack`), so that in address order the heap an execution
//!    writes comes before the stack (which is what the reset's budget needs: `stack`
//!    says why). Its first [`ARENA_BYTES`] are QuickJS's *run arena* (patch 19 of
//!    `JSRUNTIME-PATCH.md`): an execution's small QuickJS allocations are served from
//!    it one after another, inline in QuickJS's allocation functions; the other
//!    [`MALLOC_ROOM_BYTES`] are left free to the allocator, for the guest's Rust code
//!    and QuickJS's larger blocks.
//!
//! Why an arena: an execution's instance is thrown away after it, so nothing an
//! execution frees needs to be reused for long, and an allocation through QuickJS's
//! allocator table into dlmalloc was half a dozen wasm calls (the request, then the
//! usable size QuickJS accounts) plus dlmalloc's own bookkeeping: allocation was the
//! largest part of making a handler's input (bench/FINDINGS.md, "a run arena"). A
//! block freed in the arena is only taken back if it is the arena's last; once the
//! arena is full, allocations go to malloc as before, which reuses what is freed, so an
//! execution making garbage for long still runs in bounded memory. QuickJS's accounting
//! (its heap limit and garbage-collection threshold) counts arena blocks as it counts
//! malloc'd ones.
//!
//! What it gave (`instance::tests` in the host checks the bounds): `1+1` writes 10 pages
//! instead of 15 before the layout, the handler with a 1 KiB input 23 instead of 35.
//! What the handler still writes beyond `1+1` is mostly the snapshot's own objects
//! (reference counts of the prototypes and atoms it uses, the atom and shape tables),
//! which no layout moves. The plugs hold ~70 KiB; the snapshot's memory is 128 KiB
//! larger (the run heap, and the top the plugging grew), all of it zero pages no
//! instance copies unless it writes them.
//!
//! How plugging knows a chunk came from a hole: the boundary. A block larger than any
//! hole can only come from the top chunk, so everything below it is the heap as it is and
//! everything above it is the top. Requests of decreasing sizes are made until one is
//! served above the boundary (it is freed again, which gives it back to the top): dlmalloc
//! serves a request from the top only when no free chunk fits it (its documented
//! order: an exact or next bin, the designated victim, the best fit of the trees, and
//! only then the top), so once requests of the smallest chunk size are served from the
//! top, no free chunk is left. This relies on that policy, not on dlmalloc's data
//! structures. Were it ever not to hold, or a hole larger than the boundary to appear,
//! plugging would stop early (at the first request served above the boundary, or at
//! [`MAX_PLUGS`]) and the heap would only be as scattered as before.

/// The block executions allocate from first: room for what a typical handler makes
/// (a 1 KiB input is ~6 KiB of objects) without growing memory. No larger: once an
/// execution has written a page, the slot's reset copies it back after every later
/// execution in that slot (`host/src/instance/pages.rs`), so a block of 256 KiB, filled
/// once by a larger execution, made every later trivial one in its slot pay for 64 page
/// copies (section 9 of BENCHMARKS.md: `1+1` at 63 µs instead of 36). At 64 KiB that is
/// at most 16 pages, fewer than the holes it replaces (~70 KiB over some 25 pages).
pub const RUN_HEAP_BYTES: usize = ARENA_BYTES + MALLOC_ROOM_BYTES;

/// The run heap's first part: QuickJS's run arena (patch 19), where its small
/// allocations go one after another without a call into the allocator.
pub const ARENA_BYTES: usize = 56 * 1024;

/// The run heap's second part, left free to the allocator: what the guest's Rust code
/// allocates (the input's tape, the result's text) and QuickJS's larger blocks, so that
/// they too land next to the arena rather than past the stack.
pub const MALLOC_ROOM_BYTES: usize = 8 * 1024;

/// A bound on the plugs taken: far more than the holes pre-initialization leaves (a few
/// thousand), so that plugging ends even if the allocator ever behaved otherwise.
#[cfg(target_arch = "wasm32")]
const MAX_PLUGS: usize = 200_000;

/// Request sizes for plugging, largest first: each hole is taken in a few bites, and the
/// last (one byte: dlmalloc's smallest chunk) fits any hole left. None is larger than the
/// run heap: a request the holes cannot serve is served from the top, growing memory if
/// the top is short, and that growth is then part of the run heap and the stack rather
/// than memory no one uses.
#[cfg(target_arch = "wasm32")]
const PLUG_SIZES: [usize; 13] = [
    1 << 15,
    1 << 14,
    1 << 13,
    1 << 12,
    1 << 11,
    1 << 10,
    512,
    256,
    128,
    64,
    32,
    16,
    1,
];

#[cfg(target_arch = "wasm32")]
extern "C" {
    fn malloc(size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
    /// QuickJS's run arena (patch 19): its small allocations come from `len` bytes at
    /// `start` from then on.
    fn jsruntime_arena_set(start: *mut u8, len: usize);
}

/// Plugs the heap's free chunks, reserves the run arena, leaves [`MALLOC_ROOM_BYTES`]
/// free and allocates the script stack after them (`allocate_stack` does, returning its
/// top, as `stack::allocate` does). Called once, at the end of pre-initialization, after
/// the garbage was collected. Natively (unit tests) it only allocates the stack: the
/// host's allocator is not the snapshot's.
///
/// # Panics
///
/// If the stack came to lie below the run heap: the layout this exists for would be
/// lost without a sign (it was once, see `lay_out_wasm`), so pre-initialization, and with
/// it the guest's build, fails instead.
pub fn lay_out(allocate_stack: impl FnOnce() -> usize) {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: malloc and free of wasi-libc, the allocator every allocation of this
        // guest goes through (Rust's `System` and QuickJS's `js_def_malloc` alike).
        // Blocks are only freed here if this function allocated them and nothing else
        // saw them; plugs are never freed.
        unsafe { lay_out_wasm(allocate_stack) }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _top = allocate_stack();
    }
}

#[cfg(target_arch = "wasm32")]
unsafe fn lay_out_wasm(allocate_stack: impl FnOnce() -> usize) {
    let mut plugs = 0;
    // The boundary: larger than any hole (the whole heap is smaller than this), so it
    // comes from the top chunk.
    let boundary_bytes = crate::stack::SCRIPT_STACK_BYTES + RUN_HEAP_BYTES;
    let boundary = std::hint::black_box(malloc(boundary_bytes));
    if boundary.is_null() {
        let _top = allocate_stack();
        return;
    }
    let boundary = boundary as usize;
    'sizes: for size in PLUG_SIZES {
        loop {
            if plugs == MAX_PLUGS {
                break 'sizes;
            }
            let plug = std::hint::black_box(malloc(size));
            if plug.is_null() {
                continue 'sizes;
            }
            if plug as usize > boundary {
                // From the top: no hole fits this size any more.
                free(plug);
                continue 'sizes;
            }
            plugs += 1;
        }
    }
    // The boundary goes back to the top chunk it came from (it is the top's neighbour:
    // whatever was taken above it was given back); the arena and the malloc room are
    // then the top's first bytes, and the stack follows them.
    free(boundary as *mut u8);
    // `black_box`: a block whose only use is being freed is one LLVM may remove, and
    // it did, which put the stack where the run heap was meant to be.
    let arena = std::hint::black_box(malloc(ARENA_BYTES));
    let room = std::hint::black_box(malloc(MALLOC_ROOM_BYTES));
    let stack_top = allocate_stack();
    if !room.is_null() {
        assert!(
            stack_top.saturating_sub(crate::stack::SCRIPT_STACK_BYTES) > room as usize,
            "the script stack (top {stack_top:#x}) lies below the run heap ({:#x})",
            room as usize
        );
        free(room);
    }
    if !arena.is_null() {
        // The arena is never freed: QuickJS allocates from it until the instance is
        // thrown away.
        jsruntime_arena_set(arena, ARENA_BYTES);
    }
}
