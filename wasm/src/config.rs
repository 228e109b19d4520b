//! The engine settings: pooling allocator, stacks, fuel (and, for the benchmarks only,
//! epoch interruption).

use std::time::Duration;

use wasmtime::{Enabled, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// The largest linear memory a guest may have: a wasm32 memory cannot grow past 4 GiB.
/// The library's per-execution cap (`StoreLimits`-style limiter) is the real limit.
pub const MAX_MEMORY_BYTES: u64 = 4096 * 1024 * 1024;

/// Largest wasm call stack of a guest. QuickJS's interpreter spends several times more
/// native stack per JS call than linear-memory stack; at this size the QuickJS stack
/// limit (at most 1.5 MiB, see the library's `MAX_STACK_BYTES`) trips first, so
/// recursion ends in a catchable `RangeError` and not a trap. wasmtime's default
/// (512 KiB) fails a recursion only 1000 calls deep.
pub const MAX_WASM_STACK: usize = 16 * 1024 * 1024;

/// Room on the async stack for host frames below the guest (host functions, libcalls).
pub const HOST_STACK: usize = 1024 * 1024;

/// Guest memory kept resident (reset in place, not unmapped) when a pool slot is reused:
/// page faults on the copy-on-write heap otherwise dominate a short execution (a trivial
/// script: ~130 us with nothing kept, ~20 us with this).
///
/// The reset keeps, in address order, the pages the kernel reports as private copies, up
/// to this budget, and a page once copied stays one: every slot copies up to this much
/// back at every reset for the life of the runtime, whichever execution dirtied it. So it
/// is sized to what a short execution dirties (~40 KiB for `1+1`), with room for a
/// moderate script, and no larger: a slot that once ran a recursion 3,000 deep makes
/// every later trivial execution in it cost ~27 us at 128 KiB, ~33 us at 256 KiB and
/// ~44 us at 512 KiB, while a fresh slot costs ~20 us at each (raw engine,
/// `jsruntime-bench profile raw` with `JSRUNTIME_BENCH_PRE_SCRIPT`). The guest runs
/// scripts on a stack placed after its heap so that such stale pages do not push the
/// working set out of the budget (guest/src/stack.rs).
pub const KEEP_RESIDENT_BYTES: usize = 256 * 1024;

/// Table elements kept resident per slot: the guest's function table fits.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 * 1024;

/// Per-component ceilings for the pooling allocator; the guest needs fewer.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// Tables only hold the guest's function pointers; they never need to grow much.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// How often the epoch advances, in an engine with epoch interruption on: the
/// benchmarks' engines only. The library does not use the epoch: it checks deadlines and
/// cancellation at the guest's fuel yields, which cost it nothing more than fuel does,
/// where the epoch checks at every function entry and loop back-edge cost 10-30% of the
/// guest's speed (bench/FINDINGS.md, issue 14).
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// What varies between engines built from [`engine_config`]. The library always uses
/// [`EngineOptions::library`]; the benchmarks vary the mechanisms to measure each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Pool slots: component instances that may exist at once (running plus ready).
    pub slots: u32,
    /// `Config::consume_fuel`: the CPU budget, deterministic whatever the machine.
    pub fuel: bool,
    /// `Config::epoch_interruption`: wall-clock deadline and cancellation checks (and
    /// yields) every [`EPOCH_TICK`], driven by a ticker thread. Off in the library.
    pub epoch: bool,
    /// `PoolingAllocationConfig::pagemap_scan`: `Auto` (reset only the pages an
    /// execution dirtied, on Linux 6.7+) when true, `No` when false.
    pub pagemap_scan: bool,
    /// Write `/tmp/perf-PID.map` so `perf` names wasm functions (profiling only).
    pub perf_map: bool,
}

impl EngineOptions {
    /// The library's settings for `slots` instances: fuel on (its yields carry the
    /// deadline and cancellation checks), epoch off, pagemap scan where the kernel
    /// supports it, no profiler.
    pub fn library(slots: u32) -> Self {
        EngineOptions {
            slots,
            fuel: true,
            epoch: false,
            pagemap_scan: true,
            perf_map: false,
        }
    }
}

/// The wasmtime configuration for `options`.
///
/// ```
/// let config = jsruntime_wasm::engine_config(&jsruntime_wasm::EngineOptions::library(4));
/// let _engine = wasmtime::Engine::new(&config);
/// ```
pub fn engine_config(options: &EngineOptions) -> wasmtime::Config {
    let slots = options.slots;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots.saturating_mul(MEMORIES_PER_COMPONENT))
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .total_tables(slots.saturating_mul(TABLES_PER_COMPONENT))
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .table_elements(MAX_TABLE_ELEMENTS)
        // One async stack per execution in flight.
        .total_stacks(slots)
        // Any memory cap up to the wasm32 maximum; the library's limiter enforces the real one.
        .max_memory_size(usize::try_from(MAX_MEMORY_BYTES).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        // Reset only the pages an execution dirtied (Linux 6.7+; off elsewhere) instead of
        // the whole kept-resident region: most of a fresh instance's heap is never written.
        .pagemap_scan(if options.pagemap_scan {
            Enabled::Auto
        } else {
            Enabled::No
        })
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);

    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .cranelift_opt_level(OptLevel::Speed)
        .consume_fuel(options.fuel)
        .epoch_interruption(options.epoch)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + HOST_STACK)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if options.perf_map {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}
