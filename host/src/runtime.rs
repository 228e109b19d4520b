//! The public facade: [`Runtime`] and [`RuntimeBuilder`]. Construction and shutdown live
//! here; every execution goes through the pipeline in `execute`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::cache::CacheStats;
use crate::config::Config;
use crate::error::{ExecError, SetupError};
use crate::execute::{CacheSizes, Done, Pipeline, Prepared, Product, Purpose, Tenancy};
use crate::host_fn::{CallStyle, HostCall, HostFnError, HostFns};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::modules::ModuleLoader;
use crate::offload::GuestThreads;
use crate::outcome::Execution;
use crate::outcome::Outcome;
use crate::pool::{Pool, PoolSettings, PoolStats};
use crate::quota::Quotas;
use crate::request::{ExecRequest, Script};
use crate::tenancy::budget::{BudgetStore, MemoryBudgetStore};
use crate::tenancy::fair::TenantStats;
use crate::tenancy::policy::{StaticPolicy, TenantPolicy};
use crate::wasm::WasmEngine;

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
    policy: Option<Arc<dyn TenantPolicy>>,
    budget_store: Option<Arc<dyn BudgetStore>>,
    module_loader: Option<Arc<dyn ModuleLoader>>,
}

impl RuntimeBuilder {
    /// Replaces the configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Registers a named host function that scripts call synchronously: `host.call(name,
    /// args)`, or `host.orders.get(args)` for a function named `orders.get`, returns its
    /// result. It receives the JSON argument and the caller's context, and returns JSON
    /// or an error the script sees as a thrown `Error`. It may be async (a database
    /// query); the script waits for it. Each call counts against the execution's
    /// host-call limit. For calls a script can overlap, see
    /// [`RuntimeBuilder::host_fn_promise`].
    ///
    /// It always runs on the task that called [`Runtime::execute`], even when the
    /// script itself has moved to a guest thread: it has that task's tokio runtime (I/O,
    /// timers, `tokio::spawn`) and task-locals. It stops being polled (its future is
    /// dropped) when the execution's deadline passes, the caller cancels, or the runtime
    /// shuts down. If it panics, the execution ends with
    /// [`ExecError::HostFnPanicked`]; it must not call `execute` or `compile` itself
    /// (they return [`ExecError::InvalidRequest`]).
    pub fn host_fn<F, Fut>(mut self, name: impl Into<String>, function: F) -> Self
    where
        F: Fn(HostCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, HostFnError>> + Send + 'static,
    {
        self.host_fns
            .insert(name.into(), CallStyle::Blocking, function);
        self
    }

    /// Registers a named host function that scripts call as a Promise: `host.call(name,
    /// args)` (or `host.orders.fetch(args)`) returns a Promise at once, and the call runs
    /// on the host while the script goes on. So three calls under `Promise.all` take as
    /// long as the slowest, not as the three in a row. The promise resolves to the
    /// function's JSON result, or rejects with an `Error` carrying its error's message.
    ///
    /// Everything [`RuntimeBuilder::host_fn`] says holds here too (where it runs, the
    /// host-call limit, panics, the deadline). Besides:
    /// - At most [`Limits::calls_in_flight`](crate::Limits::calls_in_flight) calls of an
    ///   execution run at once (default 16); a call past it waits, in order, until one
    ///   ends. That is not an error, and its future is only created when it starts.
    /// - While the script has nothing to run but waits for calls (or timers), the guest
    ///   runs nothing: no fuel is used and no thread is held.
    /// - Calls still running when the execution ends, for any reason (the result settled,
    ///   an error, the deadline, cancellation), are dropped at once.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use jsruntime::{ExecRequest, Runtime};
    ///
    /// let runtime = Runtime::builder()
    ///     .host_fn_promise("orders.fetch", |call| async move {
    ///         tokio::time::sleep(Duration::from_millis(200)).await; // a slow service
    ///         Ok(serde_json::json!({ "id": call.args["id"] }))
    ///     })
    ///     .build()?;
    /// let script = "Promise.all([1, 2, 3].map((id) => host.orders.fetch({ id })))";
    /// // About 200 ms, not 600.
    /// let outcome = runtime.execute(&ExecRequest::source(script)).await?;
    /// assert_eq!(outcome.value, serde_json::json!([{ "id": 1 }, { "id": 2 }, { "id": 3 }]));
    /// # Ok(()) }
    /// ```
    pub fn host_fn_promise<F, Fut>(mut self, name: impl Into<String>, function: F) -> Self
    where
        F: Fn(HostCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, HostFnError>> + Send + 'static,
    {
        self.host_fns
            .insert(name.into(), CallStyle::Promise, function);
        self
    }

    /// Sets the policy that gives each tenant its cap on executions at once and its
    /// quota (see [`TenantPolicy`]). Without one every tenant has
    /// [`Config::max_concurrency_per_tenant`] and no quota.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), jsruntime::SetupError> {
    /// use std::{sync::Arc, time::Duration};
    /// use jsruntime::{Quota, Runtime, StaticPolicy, TenantLimits};
    ///
    /// let policy = StaticPolicy::new(
    ///     TenantLimits::default().quota(Quota::per(Duration::from_secs(60)).executions(1000)),
    /// );
    /// let runtime = Runtime::builder().tenant_policy(Arc::new(policy)).build()?;
    /// # Ok(()) }
    /// ```
    pub fn tenant_policy(mut self, policy: Arc<dyn TenantPolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Sets where quotas are counted. Default: a [`MemoryBudgetStore`] of this runtime's
    /// own. Give several runtimes one store to share budgets: the same
    /// `Arc<MemoryBudgetStore>` within a process, a Redis store (feature `redis`) across
    /// machines.
    pub fn budget_store(mut self, store: Arc<dyn BudgetStore>) -> Self {
        self.budget_store = Some(store);
        self
    }

    /// Where modules' imports come from (static `import` and dynamic `import()`), for
    /// each caller: see [`ModuleLoader`]. Default: none, so a module can import nothing
    /// (an import fails with `module_not_found`).
    pub fn module_loader(mut self, loader: Arc<dyn ModuleLoader>) -> Self {
        self.module_loader = Some(loader);
        self
    }

    /// Creates the runtime: checks the whole [`Config`] (nothing starts if it is
    /// refused), configures wasmtime, loads (or compiles and caches) the guest, starts
    /// the pool and guest threads, and checks that the guest runs a
    /// script. A failure at any step stops whatever had started.
    pub fn build(self) -> Result<Runtime, SetupError> {
        let policy = self
            .policy
            .unwrap_or_else(|| Arc::new(StaticPolicy::default()));
        let store = self
            .budget_store
            .unwrap_or_else(|| Arc::new(MemoryBudgetStore::default()));
        Runtime::start(
            self.config,
            self.host_fns,
            policy,
            store,
            self.module_loader,
        )
    }
}

/// Runs untrusted JavaScript, one fresh WebAssembly instance per execution.
///
/// Cheap to clone (all clones share one engine). Dropping the last clone stops the
/// background threads (pool, guest threads) and every guest still running.
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
    pipeline: Arc<Pipeline>,
    /// Set by the first [`Runtime::close`]: new requests are refused.
    closed: AtomicBool,
    /// Held by the `close` that is shutting down; `true` once one has finished. A `close`
    /// dropped half-way releases it unfinished, and the next one does the rest.
    close_done: tokio::sync::Mutex<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone, so no caller waits: stop the guests, then the threads.
        self.pipeline.shutdown.cancel();
        self.pipeline.guest_threads.stop();
        self.pipeline.pool.stop();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// How long the start-up check may take (its first instantiation may be slow on a busy
/// machine; it runs `6 * 7`).
const SELF_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// After [`Runtime::close`]'s grace period has passed and the guests still running were
/// told to stop, how long it waits for them to unwind before it stops the threads.
const STOP_GRACE: Duration = Duration::from_secs(1);

impl Runtime {
    /// Creates a runtime without host functions; see [`Runtime::builder`] for those.
    pub fn new(config: Config) -> Result<Runtime, SetupError> {
        Runtime::builder().config(config).build()
    }

    /// A builder, for host functions.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Every part dropped on an early return stops itself (the ticker, the pool thread,
    /// the guest threads), and after `inner` exists its `Drop` stops them all.
    fn start(
        config: Config,
        host_fns: HostFns,
        policy: Arc<dyn TenantPolicy>,
        store: Arc<dyn BudgetStore>,
        module_loader: Option<Arc<dyn ModuleLoader>>,
    ) -> Result<Runtime, SetupError> {
        config.validate().map_err(SetupError::InvalidConfig)?;
        let engine = WasmEngine::new(config.slots(), config.component_cache_dir.as_deref())?;
        let shutdown = CancellationToken::new();
        let pool = Pool::start(
            engine.template,
            Arc::new(host_fns),
            shutdown.clone(),
            PoolSettings {
                max_concurrency: config.max_concurrency,
                prewarm: config.prewarm,
                max_idle_age: config.max_idle_age,
            },
        )
        .map_err(|source| SetupError::Thread {
            what: "pool",
            source,
        })?;
        let guest_threads =
            GuestThreads::start(config.guest_threads).map_err(|source| SetupError::Thread {
                what: "guest",
                source,
            })?;
        let pipeline = Pipeline::new(
            Arc::new(pool),
            guest_threads,
            shutdown,
            config.limits,
            CacheSizes {
                bytecode_bytes: config.cache_bytes,
                graph_image_bytes: config.graph_image_bytes,
            },
            Tenancy {
                policy,
                quotas: Quotas::new(store),
                default_cap: config.default_tenant_cap(),
                max_concurrency: config.max_concurrency,
            },
            module_loader,
        );
        let runtime = Runtime {
            inner: Arc::new(Inner {
                config,
                pipeline: Arc::new(pipeline),
                closed: AtomicBool::new(false),
                close_done: tokio::sync::Mutex::new(false),
            }),
        };
        runtime.self_check()?;
        Ok(runtime)
    }

    /// Runs `6 * 7` through the pipeline before the runtime is handed out: proves the
    /// guest loads and works, and measures the memory a fresh instance starts with. It
    /// runs on a thread of its own with its own small executor, so it works whether or
    /// not the caller is inside a tokio runtime.
    fn self_check(&self) -> Result<(), SetupError> {
        let pipeline = Arc::clone(&self.inner.pipeline);
        let checking = std::thread::Builder::new()
            .name("jsruntime-check".into())
            .spawn(move || -> Result<Done, SetupError> {
                let executor = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .map_err(|source| SetupError::Thread {
                        what: "start-up check",
                        source,
                    })?;
                let request = ExecRequest::source("6 * 7")
                    .name("jsruntime-check.js")
                    .timeout(SELF_CHECK_TIMEOUT);
                let prepared = Prepared::new(
                    &request,
                    &pipeline.defaults,
                    Purpose::SelfCheck,
                    Instant::now(),
                )
                .map_err(SetupError::GuestCheck)?;
                Ok(executor.block_on(pipeline.execute(prepared)))
            })
            .map_err(|source| SetupError::Thread {
                what: "start-up check",
                source,
            })?;
        let done = checking.join().map_err(|_| {
            SetupError::GuestCheck(ExecError::Internal("the start-up check panicked".into()))
        })??;
        match done.result {
            Ok(Product::Value(value)) if value == serde_json::json!(42) => Ok(()),
            Ok(other) => Err(SetupError::GuestCheck(ExecError::Internal(format!(
                "6 * 7 gave {other:?}"
            )))),
            Err(error) => Err(SetupError::GuestCheck(error)),
        }
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Compile-cache statistics.
    pub async fn cache_stats(&self) -> CacheStats {
        let cache = &self.inner.pipeline.cache;
        cache.sync().await;
        cache.stats()
    }

    /// Instance pool statistics.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pipeline.pool.stats()
    }

    /// Executions of one tenant running and waiting now (`None`: requests without a
    /// tenant).
    pub fn tenant_stats(&self, tenant: Option<&str>) -> TenantStats {
        self.inner
            .pipeline
            .pool
            .tenant_stats(&tenant.map(Arc::from))
    }

    /// A snapshot of the runtime's metrics; also publishes the pool and cache gauges
    /// (and, with [`Config::tenant_metrics`], each tenant's) through the `metrics`
    /// facade.
    pub async fn metrics(&self) -> MetricsSnapshot {
        let pipeline = &self.inner.pipeline;
        let pool = self.pool_stats();
        let cache = self.cache_stats().await;
        let quota = pipeline.tenancy.quotas.stats();
        Metrics::publish(&pool, &cache);
        if self.inner.config.tenant_metrics {
            pipeline.metrics.publish_tenants(pipeline.pool.tenants());
        }
        pipeline.metrics.snapshot(pool, cache, quota)
    }

    /// Shuts the runtime down: refuses new executions at once (they get
    /// [`ExecError::Closed`]), waits up to `grace` for running and queued ones, then
    /// stops whatever still runs, including executions waiting in a host function (they
    /// end with [`ExecError::Closed`] too, logs and stats kept), destroys the ready
    /// instances and stops the background threads.
    ///
    /// Idempotent and cancel-safe: once one `close` has returned, later calls return at
    /// once; if a `close` is dropped before it finishes (say, by the caller's own
    /// timeout), the next call finishes the shutdown, and the pool makes no new
    /// instances in between.
    pub async fn close(&self, grace: Duration) {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::SeqCst);
        inner.pipeline.pool.stop_refilling();
        let mut done = inner.close_done.lock().await;
        if *done {
            return;
        }
        if !inner.pipeline.pool.drain(grace).await {
            // Past the grace period: stop the guests that still run and give them a
            // moment to unwind through their normal path.
            inner.pipeline.shutdown.cancel();
            let _ = inner.pipeline.pool.drain(STOP_GRACE).await;
        }
        inner.pipeline.shutdown.cancel();
        inner.pipeline.guest_threads.stop();
        inner.pipeline.pool.stop();
        *done = true;
    }

    /// Runs a request and returns its value, logs and stats, or why it failed.
    pub async fn execute(&self, request: &ExecRequest) -> Result<Outcome, ExecError> {
        self.execute_detailed(request).await.into_result()
    }

    /// Like [`Runtime::execute`], but a failed execution keeps its logs and stats.
    pub async fn execute_detailed(&self, request: &ExecRequest) -> Execution {
        let done = self.submit(request, Purpose::Execute).await;
        let result = match done.result {
            Ok(Product::Value(value)) => Ok(value),
            Ok(Product::Compiled(_)) => Err(ExecError::Internal(
                "the pipeline compiled where it was asked to run".into(),
            )),
            Err(error) => Err(error),
        };
        Execution {
            result,
            logs: done.logs,
            stats: done.stats,
        }
    }

    /// Compiles a script once, to run many times with [`ExecRequest::script`]. Goes
    /// through the compile cache; a miss compiles in a fresh instance (which runs no
    /// script) under the runtime's default limits. A syntax error is
    /// [`ExecError::Syntax`].
    pub async fn compile(&self, name: &str, source: &str) -> Result<Script, ExecError> {
        self.compile_request(ExecRequest::source(source).name(name))
            .await
    }

    /// Compiles an ES module once, to run many times with [`ExecRequest::script`] (as
    /// [`ExecRequest::module`] would run it). Only the module itself is compiled: its
    /// imports are loaded for each execution's caller, through the cache. As
    /// [`Runtime::compile`] otherwise.
    pub async fn compile_module(&self, name: &str, source: &str) -> Result<Script, ExecError> {
        self.compile_request(ExecRequest::module(source).name(name))
            .await
    }

    async fn compile_request(&self, request: ExecRequest) -> Result<Script, ExecError> {
        let started = Instant::now();
        let prepared = Prepared::new(
            &request,
            &self.inner.config.limits,
            Purpose::Compile,
            started,
        )?;
        let (kind, name, hash) = (prepared.kind, Arc::clone(&prepared.name), prepared.hash);
        match self.run_prepared(prepared, started).await.result? {
            Product::Compiled(compiled) => Ok(Script {
                kind,
                name,
                hash,
                compiled,
            }),
            Product::Value(_) => Err(ExecError::Internal(
                "the pipeline ran where it was asked to compile".into(),
            )),
        }
    }

    async fn submit(&self, request: &ExecRequest, purpose: Purpose) -> Done {
        let started = Instant::now();
        match Prepared::new(request, &self.inner.config.limits, purpose, started) {
            Ok(prepared) => self.run_prepared(prepared, started).await,
            Err(error) => Done::failed(error, started),
        }
    }

    async fn run_prepared(&self, prepared: Prepared, started: Instant) -> Done {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Done::failed(ExecError::Closed, started);
        }
        self.inner.pipeline.execute(prepared).await
    }
}
