//! The wasmtime side, set up once per runtime: engine configuration, the guest
//! component (compiled once, cached on disk), the linker and `InstancePre`, and the
//! epoch ticker that gives timeouts and cancellation.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::error::SetupError;
use crate::sandbox::{ExecState, SandboxPre};

/// The pre-initialized guest component, embedded at build time.
pub(crate) const GUEST_WASM: &[u8] = include_bytes!(env!("JSRUNTIME_GUEST_PATH"));

/// sha256 of [`GUEST_WASM`]: the guest's build identity.
pub const GUEST_SHA256: &str = env!("JSRUNTIME_GUEST_SHA256");

/// Largest wasm call stack of a guest. QuickJS's interpreter spends several times more
/// native stack per JS call than linear-memory stack; at this size the QuickJS stack
/// limit (at most [`MAX_STACK_BYTES`](crate::limits::MAX_STACK_BYTES)) trips first, so
/// recursion ends in a catchable `RangeError` and not a trap. wasmtime's default
/// (512 KiB) fails a recursion only 1000 calls deep.
const MAX_WASM_STACK: usize = 16 * 1024 * 1024;

/// Room on the async stack for host frames below the guest (host functions, libcalls).
const HOST_STACK: usize = 1024 * 1024;

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
const KEEP_RESIDENT_BYTES: usize = 256 * 1024;

/// Per-component ceilings for the pooling allocator; the guest needs fewer.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// How often the epoch advances: the granularity of timeouts, cancellation and of the
/// guest's yields to the async executor.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Engine, component and instance template.
pub(crate) struct SandboxEngine {
    pub(crate) pre: SandboxPre<ExecState>,
    ticker: Ticker,
}

impl SandboxEngine {
    /// Stops the epoch ticker and joins its thread. Guests still running are no longer
    /// interrupted, so the runtime stops them first.
    pub(crate) fn stop_ticker(&self) {
        self.ticker.stop();
    }

    /// `slots`: instances that may exist at once (running plus ready).
    pub(crate) fn new(slots: u32, component_cache_dir: Option<&Path>) -> Result<Self, SetupError> {
        let engine = Engine::new(&engine_config(slots)?).map_err(wasmtime_error)?;
        let component = load_component(&engine, component_cache_dir)?;
        let mut linker = Linker::<ExecState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasmtime_error)?;
        crate::sandbox::Sandbox::add_to_linker::<_, HasSelf<ExecState>>(&mut linker, |state| state)
            .map_err(wasmtime_error)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(wasmtime_error)?;
        let pre = SandboxPre::new(instance_pre).map_err(wasmtime_error)?;
        let ticker = Ticker::start(engine.clone())?;
        Ok(SandboxEngine { pre, ticker })
    }
}

fn engine_config(slots: u32) -> Result<wasmtime::Config, SetupError> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots.saturating_mul(MEMORIES_PER_COMPONENT))
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .total_tables(slots.saturating_mul(TABLES_PER_COMPONENT))
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .table_elements(MAX_TABLE_ELEMENTS_POOL)
        // One async stack per execution in flight.
        .total_stacks(slots)
        // Any memory cap up to the wasm32 maximum; `StoreLimits` enforces the real one.
        .max_memory_size(usize::try_from(crate::limits::MAX_MEMORY_BYTES).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        // Reset only the pages an execution dirtied (Linux 6.7+; off elsewhere) instead of
        // the whole kept-resident region: most of a fresh instance's heap is never written.
        .pagemap_scan(Enabled::Auto)
        .table_keep_resident(64 * 1024);

    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .cranelift_opt_level(OptLevel::Speed)
        // CPU budget: deterministic, counts wasm work whatever the machine's speed.
        .consume_fuel(true)
        // Wall clock: the ticker advances the epoch; the store's callback checks the
        // deadline and cancellation, and yields to the executor in between.
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + HOST_STACK)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(config)
}

const MAX_TABLE_ELEMENTS_POOL: usize = 100_000;

/// Compiling the guest with Cranelift takes seconds; a compiled copy is kept on disk,
/// keyed by the guest's hash and the engine's compatibility hash (wasmtime version,
/// settings, CPU features), so a different build never loads a stale artifact.
fn load_component(engine: &Engine, cache_dir: Option<&Path>) -> Result<Component, SetupError> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, GUEST_WASM).map_err(wasmtime_error);
    };
    let path = cached_component_path(engine, dir);
    if path.exists() {
        // SAFETY: the file is one this function wrote (atomically, below) from a
        // component wasmtime compiled with a compatible engine, as its name says;
        // wasmtime itself checks the engine compatibility recorded inside it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                "ignoring an unusable compiled guest in the cache; recompiling"
            ),
        }
    }
    let compiled = engine
        .precompile_component(GUEST_WASM)
        .map_err(wasmtime_error)?;
    if let Err(error) = write_atomically(dir, &path, &compiled) {
        tracing::warn!(path = %path.display(), %error, "could not cache the compiled guest");
    }
    // SAFETY: `compiled` was produced just now by this engine.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(wasmtime_error)
}

fn cached_component_path(engine: &Engine, dir: &Path) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hasher.finish();
    dir.join(format!(
        "guest-{}-{engine_hash:016x}.cwasm",
        &GUEST_SHA256[..16]
    ))
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The default directory for the compiled-guest cache: `$XDG_CACHE_HOME/jsruntime`,
/// else `$HOME/.cache/jsruntime`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|base| base.join("jsruntime"))
}

pub(crate) fn wasmtime_error(error: wasmtime::Error) -> SetupError {
    SetupError::Wasmtime(format!("{error:#}"))
}

/// A thread that advances the engine's epoch every [`EPOCH_TICK`].
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Self, SetupError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("jsruntime-epoch".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| SetupError::Wasmtime(format!("starting the epoch ticker: {e}")))?;
        Ok(Ticker {
            stop,
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}
