//! The public entry point: [`Runtime`], its [`Config`] and builder, [`ExecRequest`] and
//! [`Script`].

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::AtomicBool;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wasmtime::{Store, Trap};

use crate::cache::{self, BytecodeCache, CacheStats, ScriptHash};
use crate::context::ExecContext;
use crate::engine::{self, SandboxEngine};
use crate::error::{ExecError, SetupError};
use crate::host_fn::{HostCall, HostFnError, HostFns};
use crate::limits::{LimitOverrides, Limits, MIB};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::offload::{run_offloading, GuestThreads};
use crate::outcome::{Execution, Outcome, Stats};
use crate::pool::{Instance, Pool, PoolSettings, PoolStats};
use crate::sandbox::{failure_to_error, ExecState, Interrupt, RunLimits};

/// Runtime-wide settings. Build one with [`Config::default`] and change what you need.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most executions running at once; callers beyond it wait, in order, bounded by
    /// their own timeout and cancellation. The pooling allocator reserves a slot for
    /// each of these plus each ready instance. Default 64.
    pub max_concurrency: u32,
    /// Fresh instances kept instantiated ahead of demand by a background thread, so
    /// instantiation is off the request path; 0 instantiates on demand. Default 2.
    pub prewarm: u32,
    /// A ready instance older than this is replaced rather than used. Default 60 s.
    pub max_idle_age: Duration,
    /// Threads that run scripts still busy after their first millisecond, so long
    /// scripts never occupy the caller's tokio workers. Default: the number of CPUs.
    pub guest_threads: usize,
    /// Default limits of every execution; each request may override them.
    pub limits: Limits,
    /// Bytes of compiled bytecode the compile cache may hold. Default 64 MiB.
    pub cache_bytes: u64,
    /// Where the compiled guest component is cached across processes; `None` compiles
    /// it at every start (a few seconds). Default [`default_cache_dir`](crate::default_cache_dir).
    pub component_cache_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrency: 64,
            prewarm: 2,
            max_idle_age: Duration::from_secs(60),
            guest_threads: std::thread::available_parallelism().map_or(2, usize::from),
            limits: Limits::default(),
            cache_bytes: 64 * MIB,
            component_cache_dir: engine::default_cache_dir(),
        }
    }
}

/// Builds a [`Runtime`] with host functions.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jsruntime::{ExecRequest, HostFnError, Runtime};
///
/// let runtime = Runtime::builder()
///     .host_fn("orders.get", |call| async move {
///         let id = call.args["id"].as_i64().ok_or_else(|| HostFnError::new("id must be a number"))?;
///         Ok(serde_json::json!({ "id": id, "tenant": call.context.tenant_id() }))
///     })
///     .build()?;
/// let outcome = runtime.execute(&ExecRequest::source("host.call('orders.get', {id: 1}).id")).await?;
/// assert_eq!(outcome.value, serde_json::json!(1));
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct RuntimeBuilder {
    config: Config,
    host_fns: HostFns,
}

impl RuntimeBuilder {
    /// Replaces the configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Registers a named host function. Scripts call it as `host.call(name, args)`; it
    /// receives the JSON argument and the caller's context, and returns JSON or an error
    /// the script sees as an `Error`. It may be async (a database query); the script sees
    /// a synchronous call. Each call counts against the execution's host-call limit.
    pub fn host_fn<F, Fut>(mut self, name: impl Into<String>, function: F) -> Self
    where
        F: Fn(HostCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, HostFnError>> + Send + 'static,
    {
        self.host_fns.insert(name.into(), function);
        self
    }

    /// Creates the runtime: configures wasmtime, loads (or compiles and caches) the guest,
    /// starts the epoch ticker and checks that the guest runs a script.
    pub fn build(self) -> Result<Runtime, SetupError> {
        Runtime::from_parts(self.config, self.host_fns)
    }
}

/// What to run: source (compiled through the cache) or a compiled [`Script`].
#[derive(Debug, Clone)]
enum Code {
    Source { name: Arc<str>, source: Arc<str> },
    Script(Script),
}

/// One execution request: the code, the caller's context, limit overrides and an
/// optional cancellation token.
///
/// ```
/// use std::time::Duration;
/// use jsruntime::ExecRequest;
///
/// let request = ExecRequest::source("1 + 1")
///     .name("formula.js")
///     .timeout(Duration::from_millis(100))
///     .fuel(10_000_000);
/// ```
#[derive(Debug, Clone)]
pub struct ExecRequest {
    code: Code,
    context: Arc<ExecContext>,
    overrides: LimitOverrides,
    cancel: Option<CancellationToken>,
}

/// The name a script gets when the request does not give one.
pub const DEFAULT_SCRIPT_NAME: &str = "script.js";

impl ExecRequest {
    /// Runs this source (strict-mode global code; its completion value is the result).
    pub fn source(source: impl Into<Arc<str>>) -> Self {
        Self::with_code(Code::Source {
            name: Arc::from(DEFAULT_SCRIPT_NAME),
            source: source.into(),
        })
    }

    /// Runs a script compiled earlier with [`Runtime::compile`].
    pub fn script(script: &Script) -> Self {
        Self::with_code(Code::Script(script.clone()))
    }

    fn with_code(code: Code) -> Self {
        ExecRequest {
            code,
            context: Arc::new(ExecContext::default()),
            overrides: LimitOverrides::default(),
            cancel: None,
        }
    }

    /// Names the source (stack traces and error positions use it). Ignored for a
    /// compiled [`Script`], which keeps its own name.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        if let Code::Source { name: current, .. } = &mut self.code {
            *current = name.into();
        }
        self
    }

    /// Sets the caller's context.
    pub fn context(mut self, context: ExecContext) -> Self {
        self.context = Arc::new(context);
        self
    }

    /// Overrides several limits at once.
    pub fn limits(mut self, overrides: LimitOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Overrides the fuel budget.
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.overrides.fuel = Some(fuel);
        self
    }

    /// Overrides the memory limit (bytes).
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.overrides.memory_bytes = Some(bytes);
        self
    }

    /// Overrides the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// Overrides the QuickJS stack limit (bytes).
    pub fn stack_bytes(mut self, bytes: u32) -> Self {
        self.overrides.stack_bytes = Some(bytes);
        self
    }

    /// Overrides the result size limit (bytes of JSON).
    pub fn output_bytes(mut self, bytes: u32) -> Self {
        self.overrides.output_bytes = Some(bytes);
        self
    }

    /// Overrides the host-call limit.
    pub fn host_calls(mut self, calls: u32) -> Self {
        self.overrides.host_calls = Some(calls);
        self
    }

    /// Overrides the log limit (bytes).
    pub fn log_bytes(mut self, bytes: u32) -> Self {
        self.overrides.log_bytes = Some(bytes);
        self
    }

    /// Cancels the execution when `token` is cancelled (also while it waits for a slot).
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// A compiled script: QuickJS bytecode that this runtime produced, to run many times.
/// Cheap to clone.
#[derive(Clone)]
pub struct Script {
    name: Arc<str>,
    hash: ScriptHash,
    bytecode: Arc<[u8]>,
}

impl Script {
    /// The name it was compiled under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// sha256 of (guest build, name, source), lower-case hex.
    pub fn hash_hex(&self) -> String {
        cache::hex(&self.hash)
    }

    /// Size of its bytecode.
    pub fn bytecode_len(&self) -> usize {
        self.bytecode.len()
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("name", &self.name)
            .field("hash", &self.hash_hex())
            .field("bytecode_len", &self.bytecode.len())
            .finish()
    }
}

/// Runs untrusted JavaScript, one fresh WebAssembly instance per execution.
///
/// Cheap to clone (all clones share one engine). Dropping the last clone stops the
/// epoch ticker thread.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jsruntime::{ExecRequest, Runtime};
///
/// let runtime = Runtime::new(jsruntime::Config::default())?;
/// let outcome = runtime.execute(&ExecRequest::source("[1, 2, 3].map(x => x * 2)")).await?;
/// assert_eq!(outcome.value, serde_json::json!([2, 4, 6]));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Engine, instance template and epoch ticker.
    sandbox: SandboxEngine,
    pool: Pool,
    guest_threads: GuestThreads,
    cache: BytecodeCache,
    metrics: Metrics,
    /// Cancelled by [`Runtime::close`]: stops every running guest.
    shutdown: CancellationToken,
    closed: AtomicBool,
    /// Linear memory of a fresh instance (the snapshot): the part of the memory limit
    /// QuickJS's heap cannot use.
    base_memory_bytes: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone, so nothing runs: stop the background threads.
        self.shutdown.cancel();
        self.guest_threads.stop();
        self.pool.stop();
        self.sandbox.stop_ticker();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Fuel between yields: a script burns at most this much on the caller's task before
/// it yields and moves to a guest thread (see `offload`), about 150 µs of work, so a
/// burst of executions delays the caller's other tasks by little more than their
/// setup. (wasmtime cannot change the interval while the guest runs, so later slices
/// yield as often; a yield costs about a microsecond.)
const INLINE_SLICE_FUEL: u64 = 2_000_000;

/// Extra time, past the deadline, before the runtime stops waiting for a host function
/// that does not return (the guest itself is stopped by the epoch at the deadline).
const HOST_WAIT_GRACE: Duration = Duration::from_millis(5);

impl Runtime {
    /// Creates a runtime without host functions; see [`Runtime::builder`] for those.
    pub fn new(config: Config) -> Result<Runtime, SetupError> {
        Runtime::from_parts(config, HostFns::default())
    }

    /// A builder, for host functions.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    fn from_parts(config: Config, host_fns: HostFns) -> Result<Runtime, SetupError> {
        config
            .limits
            .validate()
            .map_err(SetupError::InvalidConfig)?;
        if config.max_concurrency == 0 {
            return Err(SetupError::InvalidConfig(
                "max_concurrency must be at least 1".into(),
            ));
        }
        let slots = config
            .max_concurrency
            .checked_add(config.prewarm)
            .ok_or_else(|| {
                SetupError::InvalidConfig("max_concurrency + prewarm overflows".into())
            })?;
        let sandbox = SandboxEngine::new(slots, config.component_cache_dir.as_deref())?;
        let shutdown = CancellationToken::new();
        let pool = Pool::start(
            sandbox.pre.clone(),
            Arc::new(host_fns),
            shutdown.clone(),
            PoolSettings {
                max_concurrency: config.max_concurrency,
                prewarm: config.prewarm,
                max_idle_age: config.max_idle_age,
            },
        )
        .map_err(|e| SetupError::Wasmtime(format!("starting the pool thread: {e}")))?;
        if config.guest_threads == 0 {
            return Err(SetupError::InvalidConfig(
                "guest_threads must be at least 1".into(),
            ));
        }
        let guest_threads = GuestThreads::start(config.guest_threads)
            .map_err(|e| SetupError::Wasmtime(format!("starting the guest threads: {e}")))?;
        let inner = Inner {
            guest_threads,
            cache: BytecodeCache::new(config.cache_bytes),
            metrics: Metrics::default(),
            sandbox,
            pool,
            shutdown,
            closed: AtomicBool::new(false),
            base_memory_bytes: AtomicU64::new(0),
            config,
        };
        let runtime = Runtime {
            inner: Arc::new(inner),
        };
        block_on(runtime.check_guest())?;
        Ok(runtime)
    }

    /// Runs one script in a fresh instance at start-up: proves the guest loads and works,
    /// and measures the memory a fresh instance starts with.
    async fn check_guest(&self) -> Result<(), SetupError> {
        let failed = |e: &dyn std::fmt::Debug| SetupError::GuestCheck(format!("{e:?}"));
        let mut instance = self.inner.pool.checkout().await.map_err(|e| failed(&e))?;
        let base = instance.store.data().limiter.peak_bytes as u64;
        self.inner.base_memory_bytes.store(base, Ordering::Relaxed);
        let limits = self.inner.config.limits;
        let deadline = Instant::now() + Duration::from_secs(30);
        begin(
            &mut instance,
            Arc::new(ExecContext::default()),
            &limits,
            deadline,
            None,
        )
        .map_err(|e| failed(&e))?;
        let api = instance.sandbox.jsruntime_sandbox_engine();
        let bytecode = api
            .call_compile(&mut instance.store, "check.js", "6 * 7")
            .await
            .map_err(|e| failed(&e))?
            .map_err(|e| failed(&e))?;
        let json = api
            .call_run(
                &mut instance.store,
                "check.js",
                &bytecode,
                self.run_limits(&limits),
            )
            .await
            .map_err(|e| failed(&e))?
            .map_err(|e| failed(&e))?;
        if json != "42" {
            return Err(SetupError::GuestCheck(format!("6 * 7 gave {json}")));
        }
        Ok(())
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Compile-cache statistics.
    pub async fn cache_stats(&self) -> CacheStats {
        self.inner.cache.sync().await;
        self.inner.cache.stats()
    }

    /// Instance pool statistics.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// A snapshot of the runtime's metrics; also publishes the pool and cache gauges
    /// through the `metrics` facade.
    pub async fn metrics(&self) -> MetricsSnapshot {
        let pool = self.inner.pool.stats();
        let cache = self.cache_stats().await;
        Metrics::publish(&pool, &cache);
        self.inner.metrics.snapshot(pool, cache)
    }

    /// Shuts the runtime down: refuses new executions, waits up to `grace` for running
    /// and queued ones, cancels whatever still runs after that, destroys the ready
    /// instances and stops the background threads. Other clones of this runtime get
    /// `internal` errors ("the runtime is closed") from then on.
    pub async fn close(&self, grace: Duration) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if !self.inner.pool.drain(grace).await {
            // Past the grace period: stop the guests that still run (they see `cancelled`)
            // and give them a moment to unwind.
            self.inner.shutdown.cancel();
            let _ = self.inner.pool.drain(Duration::from_secs(1)).await;
        }
        self.inner.shutdown.cancel();
        self.inner.guest_threads.stop();
        self.inner.pool.stop();
        self.inner.sandbox.stop_ticker();
    }

    /// Runs a request and returns its value, logs and stats, or why it failed.
    pub async fn execute(&self, request: &ExecRequest) -> Result<Outcome, ExecError> {
        self.execute_detailed(request).await.into_result()
    }

    /// Like [`Runtime::execute`], but a failed execution keeps its logs and stats.
    pub async fn execute_detailed(&self, request: &ExecRequest) -> Execution {
        let started = Instant::now();
        if self.inner.closed.load(Ordering::SeqCst) {
            return failed(closed_error(), started, Stats::default());
        }
        let mut limits = match self.inner.config.limits.with(&request.overrides) {
            Ok(limits) => limits,
            Err(error) => return failed(error, started, Stats::default()),
        };
        let mut deadline = started + limits.timeout;
        if let Some(caller_deadline) = request.context.deadline {
            if caller_deadline < deadline {
                // The caller's own deadline comes first: it is the timeout that applies
                // (and the one a `timeout` error reports).
                deadline = caller_deadline;
                limits.timeout = caller_deadline.saturating_duration_since(started);
            }
        }
        let (name, hash) = match &request.code {
            Code::Source { name, source } => (Arc::clone(name), cache::script_hash(name, source)),
            Code::Script(script) => (Arc::clone(&script.name), script.hash),
        };
        let span = tracing::info_span!(
            "jsruntime.execute",
            tenant_id = request.context.tenant_id().unwrap_or(""),
            request_id = request.context.request_id.as_deref().unwrap_or(""),
            script = %name,
            script_hash = %cache::hex(&hash),
            outcome = tracing::field::Empty,
            fuel_used = tracing::field::Empty,
            wall_us = tracing::field::Empty,
        );
        let run = {
            let runtime = self.clone();
            let request = request.clone();
            async move {
                runtime
                    .run_guarded(&request, &name, hash, limits, deadline, started)
                    .await
            }
        };
        let closed = move || failed(closed_error(), started, Stats::default());
        let execution = run_offloading(&self.inner.guest_threads, run, closed)
            .instrument(span.clone())
            .await;
        span.record(
            "outcome",
            execution
                .result
                .as_ref()
                .map_or_else(|e| e.kind().as_str(), |_| "ok"),
        );
        span.record("fuel_used", execution.stats.fuel_used);
        span.record("wall_us", execution.stats.wall_us);
        self.inner.metrics.record(
            execution
                .result
                .as_ref()
                .map(|_| ())
                .map_err(ExecError::kind),
            execution.stats.fuel_used,
            execution.stats.wall_time(),
        );
        execution
    }

    /// Runs the execution, stopping it at the deadline or on cancellation even while it
    /// waits for a slot or for a host function (the epoch stops the guest itself).
    async fn run_guarded(
        &self,
        request: &ExecRequest,
        name: &Arc<str>,
        hash: ScriptHash,
        limits: Limits,
        deadline: Instant,
        started: Instant,
    ) -> Execution {
        let cancel = request.cancel.clone();
        let cancelled = async {
            match &cancel {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let backstop = tokio::time::Instant::from_std(deadline + HOST_WAIT_GRACE);
        tokio::select! {
            biased;
            execution = self.run_in_sandbox(request, name, hash, limits, deadline, started) => execution,
            () = cancelled => failed(ExecError::Cancelled, started, Stats::default()),
            () = tokio::time::sleep_until(backstop) => failed(ExecError::Timeout { timeout: limits.timeout }, started, Stats::default()),
        }
    }

    async fn run_in_sandbox(
        &self,
        request: &ExecRequest,
        name: &Arc<str>,
        hash: ScriptHash,
        limits: Limits,
        deadline: Instant,
        started: Instant,
    ) -> Execution {
        let Some(slot) = self.inner.pool.acquire().await else {
            return failed(closed_error(), started, Stats::default());
        };
        let mut instance = match self.inner.pool.checkout().await {
            Ok(instance) => instance,
            Err(error) => {
                return failed(
                    ExecError::Internal(format!("could not instantiate the guest: {error:#}")),
                    started,
                    Stats::default(),
                )
            }
        };
        let mut cache_hit = false;
        let result = async {
            begin(
                &mut instance,
                Arc::clone(&request.context),
                &limits,
                deadline,
                request.cancel.clone(),
            )?;
            let bytecode = match &request.code {
                Code::Script(script) => {
                    cache_hit = true;
                    Arc::clone(&script.bytecode)
                }
                Code::Source { source, .. } => {
                    let compile = compile_in(&mut instance, name, source, &limits);
                    match self.inner.cache.get_or_compile(hash, compile).await {
                        Ok((bytecode, hit)) => {
                            cache_hit = hit;
                            bytecode
                        }
                        Err((error, _)) if error.kind() == crate::ErrorKind::Syntax => {
                            return Err(error)
                        }
                        Err((error, true)) => return Err(error),
                        // Another execution's compilation failed for a reason of its own
                        // (its timeout, its cancellation): compile for this one.
                        Err((_, false)) => compile_in(&mut instance, name, source, &limits).await?,
                    }
                }
            };
            let api = instance.sandbox.jsruntime_sandbox_engine();
            let json = api
                .call_run(
                    &mut instance.store,
                    name,
                    &bytecode,
                    self.run_limits(&limits),
                )
                .await
                .map_err(|e| classify_trap(e, &instance.store, &limits))?
                .map_err(|failure| failure_to_error(failure, &limits))?;
            parse_result(&json)
        }
        .await;
        let fuel_left = instance.store.get_fuel().unwrap_or(0);
        let state = instance.store.data_mut();
        let stats = Stats {
            fuel_used: limits.fuel.saturating_sub(fuel_left),
            wall_us: elapsed_us(started),
            memory_bytes: state.limiter.peak_bytes as u64,
            host_calls: state.host_calls,
            cache_hit,
            instance_id: instance.id,
        };
        let logs = state.take_logs();
        // Destroyed before the slot is released (so its pooling-allocator slot is free
        // before another execution can start), off the request path when it can be.
        self.inner.pool.retire(instance, slot);
        Execution {
            result,
            logs,
            stats,
        }
    }

    /// The limits the guest enforces itself. QuickJS's heap limit is the memory limit
    /// less what a fresh instance already uses and some headroom for the guest's own
    /// allocations (the result's JSON text), so most overruns are a clean error.
    fn run_limits(&self, limits: &Limits) -> RunLimits {
        let base = self.inner.base_memory_bytes.load(Ordering::Relaxed);
        let headroom = (limits.memory_bytes / 8).max(2 * MIB);
        RunLimits {
            heap_bytes: limits.memory_bytes.saturating_sub(base + headroom).max(MIB),
            stack_bytes: limits.stack_bytes,
            output_bytes: limits.output_bytes,
        }
    }

    /// Compiles a script once, to run many times with [`ExecRequest::script`]. Goes
    /// through the compile cache; a miss compiles in a fresh instance under the
    /// runtime's default limits. A syntax error is [`ExecError::Syntax`].
    pub async fn compile(&self, name: &str, source: &str) -> Result<Script, ExecError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(closed_error());
        }
        let limits = self.inner.config.limits;
        let name: Arc<str> = Arc::from(name);
        let hash = cache::script_hash(&name, source);
        let deadline = Instant::now() + limits.timeout;
        let compile = async {
            let _slot = self.inner.pool.acquire().await.ok_or_else(closed_error)?;
            let mut instance = self.inner.pool.checkout().await.map_err(|e| {
                ExecError::Internal(format!("could not instantiate the guest: {e:#}"))
            })?;
            begin(
                &mut instance,
                Arc::new(ExecContext::default()),
                &limits,
                deadline,
                None,
            )?;
            compile_in(&mut instance, &name, source, &limits).await
        };
        let (bytecode, _) = self
            .inner
            .cache
            .get_or_compile(hash, compile)
            .await
            .map_err(|(error, _)| error)?;
        Ok(Script {
            name,
            hash,
            bytecode,
        })
    }
}

/// Prepares a checked-out instance for one execution: its context, limits and budget.
fn begin(
    instance: &mut Instance,
    context: Arc<ExecContext>,
    limits: &Limits,
    deadline: Instant,
    cancel: Option<CancellationToken>,
) -> Result<(), ExecError> {
    instance
        .store
        .data_mut()
        .begin(context, limits, deadline, cancel);
    let store = &mut instance.store;
    store
        .set_fuel(limits.fuel)
        .and_then(|()| store.fuel_async_yield_interval(Some(INLINE_SLICE_FUEL)))
        .map_err(|e| ExecError::Internal(format!("setting fuel: {e:#}")))?;
    store.set_epoch_deadline(1);
    Ok(())
}

async fn compile_in(
    instance: &mut Instance,
    name: &str,
    source: &str,
    limits: &Limits,
) -> Result<Arc<[u8]>, ExecError> {
    let api = instance.sandbox.jsruntime_sandbox_engine();
    let bytecode = api
        .call_compile(&mut instance.store, name, source)
        .await
        .map_err(|e| classify_trap(e, &instance.store, limits))?
        .map_err(|failure| failure_to_error(failure, limits))?;
    Ok(Arc::from(bytecode))
}

/// Names the reason a guest call ended in a trap or host error.
fn classify_trap(error: wasmtime::Error, store: &Store<ExecState>, limits: &Limits) -> ExecError {
    if let Some(interrupt) = error.downcast_ref::<Interrupt>() {
        return match interrupt {
            Interrupt::Timeout => ExecError::Timeout {
                timeout: limits.timeout,
            },
            Interrupt::Cancelled => ExecError::Cancelled,
            Interrupt::HostCallLimit => ExecError::HostCallLimit {
                limit: limits.host_calls,
            },
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            return ExecError::OutOfFuel {
                budget: limits.fuel,
            }
        }
        Some(Trap::StackOverflow) => return ExecError::StackOverflow(None),
        _ => {}
    }
    if store.data().limiter.refused {
        // The guest asked for memory past the cap and failed on the refusal (an
        // allocation failure aborts the guest's Rust code).
        return ExecError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        };
    }
    if let Some(Trap::MemoryOutOfBounds) = error.downcast_ref::<Trap>() {
        // The guest's linear-memory stack ran out below QuickJS's own check.
        return ExecError::StackOverflow(None);
    }
    ExecError::Internal(format!("the guest failed: {error:#}"))
}

/// Parses the guest's JSON result. `JSON.stringify` escapes lone surrogates
/// (`"\ud800"`), which JSON allows but `serde_json` refuses; those become U+FFFD.
fn parse_result(json: &str) -> Result<serde_json::Value, ExecError> {
    serde_json::from_str(json)
        .or_else(|_| serde_json::from_str(&replace_lone_surrogates(json)))
        .map_err(|e| ExecError::Internal(format!("the guest returned invalid JSON: {e}")))
}

/// Replaces `\uXXXX` escapes of unpaired UTF-16 surrogates with `\ufffd`.
pub(crate) fn replace_lone_surrogates(json: &str) -> String {
    fn surrogate_at(bytes: &[u8], at: usize) -> Option<u16> {
        let escape = bytes.get(at..at + 6)?;
        if escape[0] != b'\\' || escape[1] != b'u' {
            return None;
        }
        let hex = std::str::from_utf8(&escape[2..]).ok()?;
        let unit = u16::from_str_radix(hex, 16).ok()?;
        (0xD800..=0xDFFF).contains(&unit).then_some(unit)
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(unit) = surrogate_at(bytes, i) {
                let paired = (0xD800..=0xDBFF).contains(&unit)
                    && surrogate_at(bytes, i + 6)
                        .is_some_and(|low| (0xDC00..=0xDFFF).contains(&low));
                out.push_str(&json[last..i]);
                if paired {
                    out.push_str(&json[i..i + 12]);
                    i += 12;
                } else {
                    out.push_str("\\ufffd");
                    i += 6;
                }
                last = i;
                continue;
            }
            // Skip the escaped character, so `\\\\ud800` (an escaped backslash) is not read
            // as an escape.
            i += 2;
            continue;
        }
        i += 1;
    }
    out.push_str(&json[last..]);
    out
}

/// What executions get once [`Runtime::close`] has been called.
fn closed_error() -> ExecError {
    ExecError::Internal("the runtime is closed".into())
}

fn failed(error: ExecError, started: Instant, mut stats: Stats) -> Execution {
    stats.wall_us = elapsed_us(started);
    Execution {
        result: Err(error),
        logs: Vec::new(),
        stats,
    }
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Drives a future to completion on the current thread. Used only at start-up, where
/// the caller may not be inside a tokio runtime; the future does no I/O, it only runs
/// wasm on a fiber (yields from the epoch callback are polled again at once).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(
            parse_result(r#""a\ud800b""#).ok(),
            Some(serde_json::json!("a\u{fffd}b"))
        );
        assert_eq!(
            parse_result(r#""\udc00""#).ok(),
            Some(serde_json::json!("\u{fffd}"))
        );
        // A valid pair is kept.
        assert_eq!(
            parse_result(r#""\ud83d\ude00""#).ok(),
            Some(serde_json::json!("😀"))
        );
        // An escaped backslash followed by text that looks like an escape is text.
        assert_eq!(
            parse_result(r#"["\\ud800", "\ud800"]"#).ok(),
            Some(serde_json::json!(["\\ud800", "\u{fffd}"]))
        );
    }
}
