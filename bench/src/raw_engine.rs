//! A plain wasmtime engine around the same guest component, for what the public API
//! cannot show: the cost of fuel and of epoch interruption separately (the library
//! uses fuel, whose yields carry its deadline checks, and since issue 14 no epoch), the phases of one execution, and many instances kept alive.
//!
//! The engine settings are the library's own (`jsruntime_wasm::engine_config`: pooling
//! allocator, stack sizes, keep-resident sizes, optimization level); only the mechanisms
//! under test, the slot count and `pagemap_scan` vary. Imports are stubs, as in
//! `tools/wizen`: scripts run
//! here never read `context` nor call the host. The library's per-execution extras
//! (tracing span, compile-cache lookup, semaphore, result parsing) are absent, so the
//! public API minus this engine is the library's own overhead.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use jsruntime_wasm::bindings::exports::jsruntime::sandbox::engine::{CompiledModule, RunLimits};
use jsruntime_wasm::bindings::jsruntime::sandbox::modules::GraphModule;
use jsruntime_wasm::bindings::{NoTenant, Sandbox, SandboxPre};
pub use jsruntime_wasm::KEEP_RESIDENT_BYTES;
use jsruntime_wasm::{EngineOptions, EPOCH_TICK, MAX_TABLE_ELEMENTS};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The guest component: the very bytes the `jsruntime` crate embeds, or, for A/B
/// measurements of a guest build (`profile raw:NAME`), the component at the path in
/// `JSRUNTIME_BENCH_GUEST` (raw engine only; the public API always runs the embedded one).
fn guest_wasm() -> &'static [u8] {
    static OVERRIDE: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    let guest = OVERRIDE.get_or_init(|| {
        let path = std::env::var_os("JSRUNTIME_BENCH_GUEST")?;
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(error) => panic!(
                "JSRUNTIME_BENCH_GUEST={}: {error}",
                Path::new(&path).display()
            ),
        }
    });
    guest.as_deref().unwrap_or_else(jsruntime::guest_component)
}

/// What names the guest in the compiled-guest cache: the override's length and a hash
/// of its bytes, or the embedded guest's sha256.
fn guest_key() -> String {
    if std::env::var_os("JSRUNTIME_BENCH_GUEST").is_none() {
        return GUEST_SHA256[..16].to_owned();
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    guest_wasm().hash(&mut hasher);
    format!("override-{}-{:016x}", guest_wasm().len(), hasher.finish())
}

/// sha256 of the guest component (the library's build identity of it).
pub const GUEST_SHA256: &str = jsruntime::GUEST_SHA256;

/// Linear-memory cap of every instance (the CPU workloads need more than the default).
const MEMORY_CAP_BYTES: usize = 512 * 1024 * 1024;
/// Fuel given to each store when fuel is on: enough never to run out.
const FUEL: u64 = 1_000_000_000_000;
/// The library's `INLINE_SLICE_FUEL` (host/src/instance/mod.rs): with fuel on, the store
/// yields this often, as the library's does, and the deadline is checked at each yield.
const YIELD_INTERVAL_FUEL: u64 = 2_000_000;

/// How to build a [`RawEngine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOptions {
    /// `Config::consume_fuel`.
    pub fuel: bool,
    /// `Config::epoch_interruption` (and a 1 ms ticker thread, as in the library).
    pub epoch: bool,
    /// Pool slots (component instances alive at once).
    pub slots: u32,
    /// `PoolingAllocationConfig::pagemap_scan`: `Auto` (the library's setting: on where the
    /// kernel supports it, Linux 6.7+) when true, `No` (wasmtime's default) when false.
    pub pagemap_scan: bool,
}

impl RawOptions {
    /// The library's settings: fuel on (yielding every [`YIELD_INTERVAL_FUEL`]), epoch
    /// off, pagemap scan where supported.
    pub fn library(slots: u32) -> Self {
        RawOptions {
            fuel: true,
            epoch: false,
            slots,
            pagemap_scan: true,
        }
    }

    /// A short label for tables.
    pub fn label(&self) -> &'static str {
        match (self.fuel, self.epoch) {
            (true, true) => "fuel + epoch",
            (false, true) => "epoch only",
            (true, false) => "fuel only",
            (false, false) => "neither",
        }
    }
}

/// The store data: empty WASI and a memory cap.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// Scripts run here never read `context` nor call the host.
    imports: NoTenant,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Wall time of each phase of one execution.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// `Store::new`, limiter, fuel, epoch deadline.
    pub store: Duration,
    /// `instantiate_async`: pool slot check-out, memory image mapping, start.
    pub instantiate: Duration,
    /// The guest's `run` export on the bytecode (load, evaluate, JSON).
    pub run: Duration,
    /// Dropping the store: the slot goes back to the pool and its memory is reset.
    pub drop: Duration,
}

/// A store with an instance that has run a script, kept alive.
pub struct LiveInstance {
    _store: Store<State>,
    _sandbox: Sandbox,
}

/// An engine, the guest's instance template, and the epoch ticker.
pub struct RawEngine {
    options: RawOptions,
    engine: Engine,
    pre: SandboxPre<State>,
    _ticker: Option<Ticker>,
}

impl RawEngine {
    /// Bytes the pool keeps resident in its unused memory slots: what the next reset of
    /// each slot copies back from the image.
    pub fn resident_bytes(&self) -> Option<usize> {
        self.engine
            .pooling_allocator_metrics()
            .map(|metrics| metrics.unused_memory_bytes_resident())
    }

    /// Configures the engine and loads the guest, compiling it once per distinct
    /// configuration (kept in `target/bench-cache/`).
    pub fn new(options: RawOptions) -> Result<Self> {
        let engine = Engine::new(&engine_config(&options)).map_err(wasmtime_error)?;
        let component = load_component(&engine)?;
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasmtime_error)?;
        Sandbox::add_to_linker::<_, HasSelf<NoTenant>>(&mut linker, |state: &mut State| {
            &mut state.imports
        })
        .map_err(wasmtime_error)?;
        let pre = SandboxPre::new(linker.instantiate_pre(&component).map_err(wasmtime_error)?)
            .map_err(wasmtime_error)?;
        let ticker = options.epoch.then(|| Ticker::start(engine.clone()));
        Ok(RawEngine {
            options,
            engine,
            pre,
            _ticker: ticker,
        })
    }

    /// Its options.
    pub fn options(&self) -> RawOptions {
        self.options
    }

    /// A fresh instance of the guest in `store`.
    async fn instantiate(&self, store: &mut Store<State>) -> Result<Sandbox> {
        self.pre
            .instantiate_async(store)
            .await
            .map_err(wasmtime_error)
    }

    fn new_store(&self) -> Result<Store<State>> {
        let state = State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_CAP_BYTES)
                .table_elements(MAX_TABLE_ELEMENTS)
                .build(),
            imports: NoTenant,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        if self.options.fuel {
            store.set_fuel(FUEL).map_err(wasmtime_error)?;
            store
                .fuel_async_yield_interval(Some(YIELD_INTERVAL_FUEL))
                .map_err(wasmtime_error)?;
        }
        if self.options.epoch {
            // As the library: check a deadline each tick and yield to the executor.
            let deadline = Instant::now() + Duration::from_secs(60);
            store.epoch_deadline_callback(move |_| {
                if Instant::now() >= deadline {
                    Err(wasmtime::Error::msg("deadline"))
                } else {
                    Ok(UpdateDeadline::Yield(1))
                }
            });
            store.set_epoch_deadline(1);
        }
        Ok(store)
    }

    /// Compiles `source` to bytecode in a fresh instance.
    pub async fn compile(&self, name: &str, source: &str) -> Result<Vec<u8>> {
        let mut store = self.new_store()?;
        let sandbox = self.instantiate(&mut store).await?;
        sandbox
            .jsruntime_sandbox_engine()
            .call_compile(&mut store, name, source)
            .await
            .map_err(wasmtime_error)?
            .map_err(|failure| anyhow!("compiling {name}: {failure:?}"))
    }

    /// Compiles `source` as an ES module in a fresh instance.
    pub async fn compile_module(&self, name: &str, source: &str) -> Result<CompiledModule> {
        let mut store = self.new_store()?;
        let sandbox = self.instantiate(&mut store).await?;
        sandbox
            .jsruntime_sandbox_engine()
            .call_compile_module(&mut store, name, source)
            .await
            .map_err(wasmtime_error)?
            .map_err(|failure| anyhow!("compiling {name}: {failure:?}"))
    }

    /// Runs the module `entry`, the first of `graph` (linked already), in a fresh
    /// instance, its default export called with `input`, and returns the JSON result:
    /// the guest's side of a handler execution, without the library's.
    pub async fn execute_module(
        &self,
        entry: &str,
        graph: &[GraphModule],
        input: Option<&[u8]>,
    ) -> Result<String> {
        Ok(self.run_module(entry, graph, input).await?.0)
    }

    /// [`RawEngine::execute_module`], returning the fuel it used instead of its result
    /// (see [`RawEngine::execute_fuel`]).
    pub async fn execute_module_fuel(
        &self,
        entry: &str,
        graph: &[GraphModule],
        input: Option<&[u8]>,
    ) -> Result<Option<u64>> {
        let (_, store) = self.run_module(entry, graph, input).await?;
        self.fuel_used(&store)
    }

    /// `run-module` in a fresh instance: the result, and the store it ran in.
    async fn run_module(
        &self,
        entry: &str,
        graph: &[GraphModule],
        input: Option<&[u8]>,
    ) -> Result<(String, Store<State>)> {
        let mut store = self.new_store()?;
        let sandbox = self.instantiate(&mut store).await?;
        let json = sandbox
            .jsruntime_sandbox_engine()
            .call_run_module(&mut store, entry, graph, None, input, run_limits())
            .await
            .map_err(wasmtime_error)?
            .map_err(|failure| anyhow!("the module failed: {failure:?}"))?;
        Ok((json, store))
    }

    /// Runs bytecode in a fresh instance with `input` (its tape, `jsruntime_wasm::input`)
    /// as the global `input`.
    pub async fn execute_with_input(
        &self,
        bytecode: &[u8],
        input: Option<&[u8]>,
    ) -> Result<String> {
        Ok(self.run_script(bytecode, input).await?.0)
    }

    /// [`RawEngine::execute_with_input`], returning the fuel it used instead of its
    /// result (see [`RawEngine::execute_fuel`]).
    pub async fn execute_with_input_fuel(
        &self,
        bytecode: &[u8],
        input: Option<&[u8]>,
    ) -> Result<Option<u64>> {
        let (_, store) = self.run_script(bytecode, input).await?;
        self.fuel_used(&store)
    }

    /// `run` in a fresh instance: the result, and the store it ran in.
    async fn run_script(
        &self,
        bytecode: &[u8],
        input: Option<&[u8]>,
    ) -> Result<(String, Store<State>)> {
        let mut store = self.new_store()?;
        let sandbox = self.instantiate(&mut store).await?;
        let json = sandbox
            .jsruntime_sandbox_engine()
            .call_run(&mut store, "bench.js", bytecode, input, run_limits())
            .await
            .map_err(wasmtime_error)?
            .map_err(|failure| anyhow!("the script failed: {failure:?}"))?;
        Ok((json, store))
    }

    /// The fuel a store's run used; `None` when fuel is off.
    fn fuel_used(&self, store: &Store<State>) -> Result<Option<u64>> {
        if !self.options.fuel {
            return Ok(None);
        }
        let left = store.get_fuel().map_err(wasmtime_error)?;
        Ok(Some(FUEL.saturating_sub(left)))
    }

    /// Runs bytecode in a fresh instance and returns the JSON result.
    pub async fn execute(&self, bytecode: &[u8]) -> Result<String> {
        let mut store = self.new_store()?;
        let sandbox = self.instantiate(&mut store).await?;
        run(&sandbox, &mut store, bytecode).await
    }

    /// Runs bytecode in a fresh instance and returns the fuel it used (wasm operators
    /// executed, instantiation included): a figure for A/B comparisons of guest builds
    /// that the machine's load does not move. `None` when fuel is off.
    pub async fn execute_fuel(&self, bytecode: &[u8]) -> Result<Option<u64>> {
        let mut store = self.new_store()?;
        let sandbox = self.instantiate(&mut store).await?;
        run(&sandbox, &mut store, bytecode).await?;
        self.fuel_used(&store)
    }

    /// Runs bytecode in a fresh instance, timing each phase.
    pub async fn execute_phases(&self, bytecode: &[u8]) -> Result<Phases> {
        let t0 = Instant::now();
        let mut store = self.new_store()?;
        let t1 = Instant::now();
        let sandbox = self.instantiate(&mut store).await?;
        let t2 = Instant::now();
        run(&sandbox, &mut store, bytecode).await?;
        let t3 = Instant::now();
        drop(store);
        let t4 = Instant::now();
        Ok(Phases {
            store: t1 - t0,
            instantiate: t2 - t1,
            run: t3 - t2,
            drop: t4 - t3,
        })
    }

    /// Instantiates, runs the bytecode, and keeps the instance alive.
    pub async fn live_instance(&self, bytecode: &[u8]) -> Result<LiveInstance> {
        let mut store = self.new_store()?;
        let sandbox = self.instantiate(&mut store).await?;
        run(&sandbox, &mut store, bytecode).await?;
        Ok(LiveInstance {
            _store: store,
            _sandbox: sandbox,
        })
    }
}

fn run_limits() -> RunLimits {
    RunLimits {
        // The cap less the room the library leaves (fresh-instance memory, headroom).
        heap_bytes: (MEMORY_CAP_BYTES - 64 * 1024 * 1024) as u64,
        stack_bytes: 1024 * 1024,
        output_bytes: 1024 * 1024,
    }
}

async fn run(sandbox: &Sandbox, store: &mut Store<State>, bytecode: &[u8]) -> Result<String> {
    sandbox
        .jsruntime_sandbox_engine()
        .call_run(&mut *store, "bench.js", bytecode, None, run_limits())
        .await
        .map_err(wasmtime_error)?
        .map_err(|failure| anyhow!("the script failed: {failure:?}"))
}

fn engine_config(options: &RawOptions) -> Config {
    jsruntime_wasm::engine_config(&EngineOptions {
        slots: options.slots,
        fuel: options.fuel,
        epoch: options.epoch,
        pagemap_scan: options.pagemap_scan,
        // `perf record` sees wasm function names through /tmp/perf-PID.map (profiling only).
        perf_map: std::env::var_os("JSRUNTIME_BENCH_PERFMAP").is_some(),
    })
}

/// Where compiled copies of the guest are kept: compiling it takes seconds per
/// configuration, and the fuel and epoch settings change the machine code.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-cache")
}

fn load_component(engine: &Engine) -> Result<Component> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = cache_dir().join(format!(
        "guest-{}-{:016x}.cwasm",
        guest_key(),
        hasher.finish()
    ));
    if path.exists() {
        // SAFETY: the file was written below by `precompile_component` of an engine with
        // the same compatibility hash (it is in the name); wasmtime checks it again.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(component);
        }
    }
    let compiled = engine
        .precompile_component(guest_wasm())
        .map_err(wasmtime_error)?;
    std::fs::create_dir_all(cache_dir()).context("creating target/bench-cache")?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &compiled).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    // SAFETY: produced just now by this engine.
    unsafe { Component::deserialize_file(engine, &path) }.map_err(wasmtime_error)
}

fn wasmtime_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow!("{error:?}")
}

/// Advances the engine's epoch every [`EPOCH_TICK`], as the library's ticker does.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
