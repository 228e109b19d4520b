//! The execution pipeline: one request, from admission to its result.
//!
//! Every guest call of the runtime goes through [`Pipeline::execute`]: executions, but
//! also [`Runtime::compile`](crate::Runtime::compile) and the start-up check, so each gets
//! the same tracing span, offloading, deadline and cancellation handling, and
//! retirement of its instance. The stages, in order:
//!
//! 1. **Admission**: a request that is already cancelled, past its deadline, made from
//!    inside a host function, or sent to a closed runtime is refused before it takes a
//!    slot. The tenant policy gives the tenant's cap and quota; an execution beyond its
//!    tenant's quota is refused here (`quota`), otherwise it is counted in its window.
//! 2. **Slot**: wait for one of `max_concurrency` slots, served round robin across
//!    tenants and under the tenant's cap (`tenancy::fair`), no longer than the deadline,
//!    the caller's cancellation and shutdown allow; then admission is checked again.
//! 3. **Lease**: a fresh instance from the pool, prepared with the context and limits,
//!    when the execution first needs one: to compile what the cache lacks, or to run.
//! 4. **Bytecode**: a compiled script's own, or the cache's, or compiled now in this
//!    instance (before it has run any tenant code) and cached.
//! 5. **Link** (modules): every static import, transitively, is resolved, asked of the
//!    service's module loader, and compiled (cache first, then this instance, still
//!    before any tenant code has run), so a missing module fails the execution before
//!    any of its code runs and no slot ever waits on another.
//! 6. **Run**, then parse the JSON result. A module graph run before may start from its
//!    prepared image instead of being read and instantiated again (see `prepared`).
//! 7. **Finish**: logs and usage are read from the instance whatever happened, and the
//!    lease retires it. The fuel used is charged to the tenant's quota.
//!
//! Security invariant: bytecode that enters the cache (and so may be shared by other
//! executions, of any tenant) is only ever produced by an instance that had run no
//! tenant code when it compiled it: stages 4 and 5 happen before stage 6, in the same
//! fresh instance, and nothing the guest returns while a tenant's code runs is ever
//! cached (a dynamic `import()` the cache lacks is compiled inside the guest, for that
//! run only). The key is the guest build, script or module, the resolved name and the
//! source. A graph's image is likewise taken from a fresh instance that has read and
//! instantiated the graph and run none of its code, before the execution's code runs.
//!
//! The deadline and cancellation stop a running guest at its next fuel yield (the guest
//! call is dropped there, see `instance`), or the host-call import while a host function
//! runs, so even a failed execution ends
//! through stage 7 with its logs and stats. A backstop a little past the deadline answers
//! the caller even if something failed to stop.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jsruntime_wasm::bindings::exports::jsruntime::sandbox::engine::RunLimits;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cache::{self, BytecodeCache, CodeKind, Compiled, Lookup, ScriptHash};
use crate::context::ExecContext;
use crate::error::{ErrorKind, ExecError};
use crate::failure;
use crate::host_calls::{self, HostCaller};
use crate::instance::{Assignment, StopCheck, Usage};
use crate::json;
use crate::limits::{Limits, MIB};
use crate::metrics::Metrics;
use crate::module_graph::{Asker, Fetch, Fetched, ModuleSession};
use crate::modules::{ModuleKind, ModuleLoader};
use crate::offload::{run_offloading, GuestThreads};
use crate::outcome::{LogRecord, Stats};
use crate::pool::{Lease, Pool, Slot};
use crate::prepared::{Graph, GraphBody, GraphImage, GraphImages, GraphModule, Known};
use crate::quota::{FuelCharge, Quotas};
use crate::request::{Code, ExecRequest, Input};
use crate::tenancy::fair::TenantKey;
use crate::tenancy::policy::{Quota, TenantPolicy};

/// How long past its deadline (or its cancellation, or shutdown) the caller waits for an
/// execution to end through its normal path before it is answered without it (and
/// without its logs and stats). The guest stops within a slice of fuel and a host call at
/// once, so only a runtime failure or a badly overloaded machine reaches this.
const BACKSTOP_GRACE: Duration = Duration::from_millis(250);

/// Why a request goes through the pipeline; it decides what it produces and what is
/// counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Run the code; counted in the execution metrics.
    Execute,
    /// Compile the source only (no tenant code runs); counted as a compilation.
    Compile,
    /// The runtime's own start-up check: not counted, and it bypasses the bytecode cache
    /// so a caller's first execution finds the cache as empty as the runtime is new.
    SelfCheck,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Execute => "execute",
            Purpose::Compile => "compile",
            Purpose::SelfCheck => "self_check",
        }
    }
}

/// A request resolved once, before anything waits: its limits with the overrides applied,
/// its deadline, its name and cache key.
pub(crate) struct Prepared {
    pub(crate) purpose: Purpose,
    code: Code,
    pub(crate) kind: CodeKind,
    pub(crate) name: Arc<str>,
    /// The input's tape (`jsruntime_wasm::input`), its JSON checked against its limit.
    input: Option<Arc<[u8]>>,
    /// The export a module's execution calls.
    entry: Option<Arc<str>>,
    pub(crate) hash: ScriptHash,
    context: Arc<ExecContext>,
    tenant: TenantKey,
    limits: Limits,
    deadline: Instant,
    cancel: Option<CancellationToken>,
    /// The seed of a deterministic execution.
    deterministic: Option<u64>,
    started: Instant,
}

impl Prepared {
    /// Resolves `request` against the runtime's default limits. `started` is when the
    /// caller called: the timeout counts from there.
    pub(crate) fn new(
        request: &ExecRequest,
        defaults: &Limits,
        purpose: Purpose,
        started: Instant,
    ) -> Result<Prepared, ExecError> {
        let mut limits = defaults.with(&request.overrides)?;
        let mut deadline = started.checked_add(limits.timeout).ok_or_else(|| {
            ExecError::InvalidRequest(format!("timeout {:?} is too long", limits.timeout))
        })?;
        if let Some(caller_deadline) = request.context.deadline {
            if caller_deadline < deadline {
                // The caller's own deadline comes first: it is the timeout that applies
                // (and the one a `timeout` error reports).
                deadline = caller_deadline;
                limits.timeout = caller_deadline.saturating_duration_since(started);
            }
        }
        let kind = request.code.kind();
        let (name, hash) = match &request.code {
            Code::Source { name, source, .. } => {
                (Arc::clone(name), cache::code_hash(kind, name, source))
            }
            Code::Script(script) => (Arc::clone(&script.name), script.hash),
        };
        let input = match &request.input {
            None => None,
            Some(Input::Invalid(reason)) => return Err(ExecError::InvalidRequest(reason.clone())),
            Some(Input::Tape { json_bytes, .. }) if *json_bytes > limits.input_bytes => {
                return Err(ExecError::InputLimit {
                    size_bytes: *json_bytes,
                    limit_bytes: limits.input_bytes,
                })
            }
            Some(Input::Tape { tape, .. }) => Some(Arc::clone(tape)),
        };
        if request.entry.is_some() && kind == CodeKind::Script {
            return Err(ExecError::InvalidRequest(
                "an entry names an export of a module; this request runs a script".into(),
            ));
        }
        Ok(Prepared {
            purpose,
            code: request.code.clone(),
            kind,
            name,
            input,
            entry: request.entry.clone(),
            hash,
            tenant: request.context.tenant_id().map(Arc::from),
            context: Arc::clone(&request.context),
            limits,
            deadline,
            cancel: request.cancel.clone(),
            deterministic: request.deterministic,
            started,
        })
    }
}

/// What a successful pass through the pipeline produced.
#[derive(Debug)]
pub(crate) enum Product {
    /// The script's result.
    Value(serde_json::Value),
    /// Bytecode, and a module's imports ([`Purpose::Compile`]).
    Compiled(Compiled),
}

/// One pass through the pipeline, successful or not.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) result: Result<Product, ExecError>,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) stats: Stats,
}

impl Done {
    /// A request that ended before it had an instance.
    pub(crate) fn failed(error: ExecError, started: Instant) -> Done {
        Done {
            result: Err(error),
            logs: Vec::new(),
            stats: Stats {
                wall_us: elapsed_us(started),
                ..Stats::default()
            },
        }
    }
}

/// How the runtime shares its slots and budgets between tenants.
pub(crate) struct Tenancy {
    /// The service's policy (or a table with the defaults).
    pub(crate) policy: Arc<dyn TenantPolicy>,
    /// Where quotas are counted.
    pub(crate) quotas: Quotas,
    /// A tenant's cap when the policy sets none.
    pub(crate) default_cap: u32,
    /// The runtime's slots: no cap is larger.
    pub(crate) max_concurrency: u32,
}

/// How much the runtime's caches may hold.
pub(crate) struct CacheSizes {
    /// Compiled bytecode ([`Config::cache_bytes`](crate::Config::cache_bytes)).
    pub(crate) bytecode_bytes: u64,
    /// Prepared graphs' images
    /// ([`Config::graph_image_bytes`](crate::Config::graph_image_bytes)).
    pub(crate) graph_image_bytes: u64,
}

/// What every execution of one runtime shares.
pub(crate) struct Pipeline {
    pub(crate) pool: Arc<Pool>,
    pub(crate) cache: BytecodeCache,
    pub(crate) metrics: Metrics,
    pub(crate) guest_threads: GuestThreads,
    /// Cancelled when the runtime shuts down: stops every running guest.
    pub(crate) shutdown: CancellationToken,
    /// The runtime's default limits.
    pub(crate) defaults: Limits,
    pub(crate) tenancy: Tenancy,
    /// Where modules' imports come from.
    module_loader: Option<Arc<dyn ModuleLoader>>,
    /// Linear memory of a fresh instance (the snapshot), read from the first instance
    /// leased: the part of the memory limit QuickJS's heap cannot use.
    base_memory_bytes: OnceLock<u64>,
    /// The images of prepared module graphs (see `prepared`).
    images: GraphImages,
    /// A fresh instance's memory, copied from the first instance that made a graph's
    /// image: what images are the difference from.
    fresh_memory: OnceLock<Arc<[u8]>>,
}

/// The instance of one execution, leased when it is first needed: a module's execution
/// whose graph is all in the cache needs none until it runs, and its instance is then
/// still fresh, so it may start from the graph's image (`prepared`).
struct Held {
    /// The execution's slot, until an instance is leased with it.
    slot: Option<Slot>,
    lease: Option<Lease>,
    /// What the instance is given when it is leased.
    assignment: Option<Assignment>,
}

impl Held {
    /// The execution's instance: a fresh one, leased and given the execution now if it
    /// has none yet.
    async fn fresh(&mut self, pool: &Arc<Pool>) -> Result<&mut Lease, ExecError> {
        if self.lease.is_none() {
            let slot = self.slot.take().ok_or_else(Held::gone)?;
            let lease = pool.lease(slot).await.map_err(|error| {
                ExecError::Internal(format!("could not instantiate the guest: {error:#}"))
            })?;
            self.give(lease)?;
        }
        self.lease.as_mut().ok_or_else(Held::gone)
    }

    /// Gives the execution `lease`, its first instance.
    fn give(&mut self, lease: Lease) -> Result<&mut Lease, ExecError> {
        let assignment = self.assignment.take().ok_or_else(Held::gone)?;
        let lease = self.lease.insert(lease);
        lease.prepare(assignment)?;
        Ok(lease)
    }

    fn gone() -> ExecError {
        ExecError::Internal("the execution's instance was leased twice".to_owned())
    }
}

/// How an execution got its code and its instance, for its [`Stats`].
#[derive(Default)]
struct Noted {
    cache_hit: bool,
    graph_prepared: bool,
}

impl Pipeline {
    pub(crate) fn new(
        pool: Arc<Pool>,
        guest_threads: GuestThreads,
        shutdown: CancellationToken,
        defaults: Limits,
        caches: CacheSizes,
        tenancy: Tenancy,
        module_loader: Option<Arc<dyn ModuleLoader>>,
    ) -> Pipeline {
        Pipeline {
            pool,
            cache: BytecodeCache::new(caches.bytecode_bytes),
            metrics: Metrics::default(),
            guest_threads,
            shutdown,
            defaults,
            tenancy,
            module_loader,
            base_memory_bytes: OnceLock::new(),
            images: GraphImages::new(caches.graph_image_bytes),
            fresh_memory: OnceLock::new(),
        }
    }

    /// Runs one prepared request through every stage, traced and counted.
    pub(crate) async fn execute(self: &Arc<Self>, prepared: Prepared) -> Done {
        let span = tracing::info_span!(
            "jsruntime.execute",
            purpose = prepared.purpose.as_str(),
            tenant_id = prepared.context.tenant_id().unwrap_or(""),
            request_id = prepared.context.request_id.as_deref().unwrap_or(""),
            script = %prepared.name,
            script_hash = %cache::hex(&prepared.hash),
            outcome = tracing::field::Empty,
            fuel_used = tracing::field::Empty,
            wall_us = tracing::field::Empty,
        );
        let purpose = prepared.purpose;
        let started = prepared.started;
        let (done, charge) = if host_calls::inside_host_fn() {
            // Its own execution may hold the slot it would wait for: with every slot held
            // by such callers, all of them would wait out their timeouts.
            let done = Done::failed(
                ExecError::InvalidRequest(
                    "execute and compile cannot be called from inside a host function".into(),
                ),
                started,
            );
            (done, None)
        } else {
            let (host_caller, relay) = HostCaller::pair();
            let pipeline = Arc::clone(self);
            let run = async move { pipeline.guarded(prepared, host_caller).await };
            let threads_gone = move || (Done::failed(ExecError::Closed, started), None);
            run_offloading(&self.guest_threads, run, relay, threads_gone)
                .instrument(span.clone())
                .await
        };
        if let Some(charge) = charge {
            self.tenancy
                .quotas
                .charge(charge, done.stats.fuel_used)
                .instrument(span.clone())
                .await;
        }
        let outcome = done.result.as_ref().map(|_| ()).map_err(ExecError::kind);
        span.record("outcome", outcome.map_or_else(ErrorKind::as_str, |()| "ok"));
        span.record("fuel_used", done.stats.fuel_used);
        span.record("wall_us", done.stats.wall_us);
        match purpose {
            Purpose::Execute => {
                self.metrics
                    .record(outcome, done.stats.fuel_used, done.stats.wall_time())
            }
            Purpose::Compile => self.metrics.record_compilation(outcome),
            Purpose::SelfCheck => {}
        }
        done
    }

    /// The stages, with the backstop: the caller is answered at most [`BACKSTOP_GRACE`]
    /// after the deadline, its cancellation or shutdown, whatever the execution does.
    async fn guarded(
        self: &Arc<Self>,
        prepared: Prepared,
        host_caller: HostCaller,
    ) -> (Done, Option<FuelCharge>) {
        let started = prepared.started;
        let timeout = prepared.limits.timeout;
        let backstop = tokio::time::Instant::from_std(prepared.deadline) + BACKSTOP_GRACE;
        let cancel = prepared.cancel.clone();
        let cancelled = async {
            cancelled(cancel.as_ref()).await;
            tokio::time::sleep(BACKSTOP_GRACE).await;
        };
        let shut_down = async {
            self.shutdown.cancelled().await;
            tokio::time::sleep(BACKSTOP_GRACE).await;
        };
        tokio::select! {
            biased;
            done = self.stages(prepared, host_caller) => done,
            // Answered without the execution: its fuel is unknown, so not charged.
            () = tokio::time::sleep_until(backstop) => (Done::failed(ExecError::Timeout { timeout }, started), None),
            () = cancelled => (Done::failed(ExecError::Cancelled, started), None),
            () = shut_down => (Done::failed(ExecError::Closed, started), None),
        }
    }

    async fn stages(
        self: &Arc<Self>,
        prepared: Prepared,
        host_caller: HostCaller,
    ) -> (Done, Option<FuelCharge>) {
        let started = prepared.started;
        if let Err(error) = self.admit(&prepared) {
            return (Done::failed(error, started), None);
        }
        let (cap, quota) = match self.tenant_share(&prepared) {
            Ok(share) => share,
            Err(error) => return (Done::failed(error, started), None),
        };
        let charge = match quota {
            Some(quota) => {
                // The budget store's I/O runs on the caller's task, through the relay as a
                // module loader's does: a future that wakes itself while pending (tokio's
                // cooperative budget, a client's own retries) looks to the offloader like
                // a guest's fuel yield, and a guest thread's runtime has no I/O driver.
                let pipeline = Arc::clone(self);
                let (tenant, deadline) = (prepared.tenant.clone(), prepared.deadline);
                let reply = host_caller.run_here_first(async move {
                    pipeline
                        .tenancy
                        .quotas
                        .admit(&tenant, &quota, deadline)
                        .await
                });
                let admitted = match reply.await {
                    Ok(host_calls::Ran::Done(admitted)) => admitted,
                    // The store's own panics are its failures (`quota`); this is ours.
                    Ok(host_calls::Ran::Panicked(message)) => Err(ExecError::Internal(format!(
                        "the quota check panicked: {message}"
                    ))),
                    // The caller's side is gone: the execution was dropped.
                    Err(_) => Err(ExecError::Cancelled),
                };
                match admitted {
                    Ok(charge) => charge,
                    Err(error) => return (Done::failed(error, started), None),
                }
            }
            None => None,
        };
        // From here on the execution is counted in its window: whatever happens, the
        // fuel it used is charged.
        let done = self.run_stages(prepared, host_caller, cap).await;
        (done, charge)
    }

    async fn run_stages(&self, prepared: Prepared, host_caller: HostCaller, cap: u32) -> Done {
        let started = prepared.started;
        let slot = match self.wait_for_slot(&prepared, cap).await {
            Ok(slot) => slot,
            Err(error) => return Done::failed(error, started),
        };
        // The wait may have taken until the deadline or a cancellation.
        if let Err(error) = self.admit(&prepared) {
            return Done::failed(error, started);
        }
        let mut held = Held {
            slot: Some(slot),
            lease: None,
            assignment: Some(Assignment {
                context: Arc::clone(&prepared.context),
                limits: prepared.limits,
                deadline: prepared.deadline,
                cancel: prepared.cancel.clone(),
                host_caller: host_caller.clone(),
                deterministic: prepared.deterministic,
            }),
        };
        let mut noted = Noted::default();
        let result = self
            .work(&mut held, &prepared, host_caller, &mut noted)
            .await;
        let (usage, instance_id) = match held.lease.as_mut() {
            Some(lease) => (lease.finish(), lease.id()),
            None => (Usage::default(), 0),
        };
        // Retires the instance (destroyed, then the slot is freed), off the request path
        // when the pool thread is idle.
        drop(held);
        Done {
            result,
            logs: usage.logs,
            stats: Stats {
                fuel_used: usage.fuel_used,
                wall_us: elapsed_us(started),
                memory_bytes: usage.memory_bytes,
                host_calls: usage.host_calls,
                cache_hit: noted.cache_hit,
                graph_prepared: noted.graph_prepared,
                instance_id,
            },
        }
    }

    /// Refuses a request that cannot run now.
    fn admit(&self, prepared: &Prepared) -> Result<(), ExecError> {
        if self.shutdown.is_cancelled() {
            Err(ExecError::Closed)
        } else if prepared.cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
            Err(ExecError::Cancelled)
        } else if Instant::now() >= prepared.deadline {
            Err(ExecError::Timeout {
                timeout: prepared.limits.timeout,
            })
        } else {
            Ok(())
        }
    }

    /// The tenant's cap and quota, from the policy. Only executions are counted in
    /// quotas; the start-up check has every slot to itself.
    fn tenant_share(&self, prepared: &Prepared) -> Result<(u32, Option<Quota>), ExecError> {
        let tenancy = &self.tenancy;
        if prepared.purpose == Purpose::SelfCheck {
            return Ok((tenancy.max_concurrency, None));
        }
        let tenant = prepared.tenant.as_deref();
        // The policy is the service's code: a panic in it fails this request only.
        let limits = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tenancy.policy.limits(tenant)
        }))
        .map_err(|_| ExecError::Internal("the tenant policy panicked".into()))?;
        let cap = match limits.max_concurrent {
            Some(0) => {
                return Err(ExecError::InvalidRequest(format!(
                    "the tenant policy gives {} a max_concurrent of 0",
                    tenant.map_or("requests without a tenant".to_owned(), |id| format!(
                        "tenant {id:?}"
                    ))
                )))
            }
            Some(cap) => cap.min(tenancy.max_concurrency),
            None => tenancy.default_cap,
        };
        let quota = match limits.quota {
            Some(quota) if prepared.purpose == Purpose::Execute => {
                quota.validate().map_err(|error| {
                    ExecError::InvalidRequest(format!("the tenant policy's quota: {error}"))
                })?;
                Some(quota)
            }
            _ => None,
        };
        Ok((cap, quota))
    }

    /// Waits for a slot (round robin across tenants, in order within one, at most `cap`
    /// for this tenant), bounded by the deadline, the caller's cancellation and shutdown.
    async fn wait_for_slot(&self, prepared: &Prepared, cap: u32) -> Result<Slot, ExecError> {
        let deadline = tokio::time::Instant::from_std(prepared.deadline);
        tokio::select! {
            biased;
            slot = self.pool.acquire(prepared.tenant.clone(), cap) => slot.ok_or(ExecError::Closed),
            () = self.shutdown.cancelled() => Err(ExecError::Closed),
            () = cancelled(prepared.cancel.as_ref()) => Err(ExecError::Cancelled),
            () = tokio::time::sleep_until(deadline) => Err(ExecError::Timeout { timeout: prepared.limits.timeout }),
        }
    }

    /// Stages 3 to 6: the instance is leased when first needed (see [`Held`]).
    async fn work(
        &self,
        held: &mut Held,
        prepared: &Prepared,
        host_caller: HostCaller,
        noted: &mut Noted,
    ) -> Result<Product, ExecError> {
        let compiled = match &prepared.code {
            Code::Script(script) => {
                noted.cache_hit = true;
                script.compiled.clone()
            }
            Code::Source { source, .. } if prepared.purpose == Purpose::SelfCheck => {
                let lease = held.fresh(&self.pool).await?;
                Compiled::script(lease.compile(&prepared.name, source).await?)
            }
            Code::Source { kind, source, .. } => {
                let (compiled, hit) = self
                    .compile_cached(held, *kind, &prepared.name, prepared.hash, source)
                    .await?;
                noted.cache_hit = hit;
                compiled
            }
        };
        if prepared.purpose == Purpose::Compile {
            return Ok(Product::Compiled(compiled));
        }
        let mut session = ModuleSession::new(
            self.module_loader.clone(),
            Arc::clone(&prepared.context),
            self.cache.clone(),
            &prepared.limits,
        );
        let input = prepared.input.as_deref();
        let json = match prepared.kind {
            CodeKind::Script => {
                let lease = held.fresh(&self.pool).await?;
                let guest_limits = self.guest_limits(lease, &prepared.limits);
                lease.set_modules(session);
                lease
                    .run(&prepared.name, &compiled.bytecode, input, guest_limits)
                    .await?
            }
            CodeKind::Module => {
                let source_len = match &prepared.code {
                    Code::Source { source, .. } => source.len(),
                    Code::Script(_) => 0,
                };
                session
                    .add_entry(&prepared.name, source_len)
                    .map_err(|error| error.into_exec_error(&prepared.limits))?;
                let graph = self
                    .link(held, prepared, &mut session, &host_caller, compiled)
                    .await?;
                self.run_graph(held, prepared, session, &graph, noted)
                    .await?
            }
        };
        json::parse(&json)
            .map(Product::Value)
            .map_err(failure::from_result_json)
    }

    /// Stage 6 of a module: runs `graph`. From its image when it has one (see
    /// `prepared`); preparing it and offering its image when it runs for the second time;
    /// otherwise as the guest is handed it. Only an execution that has no instance yet
    /// (it compiled nothing) and is not deterministic uses or makes an image.
    async fn run_graph(
        &self,
        held: &mut Held,
        prepared: &Prepared,
        session: ModuleSession,
        graph: &Graph,
        noted: &mut Noted,
    ) -> Result<String, ExecError> {
        let export = prepared.entry.as_deref();
        let input = prepared.input.as_deref();
        let name = &prepared.name;
        let known = if prepared.deterministic.is_some() || !self.images.enabled() {
            Known::Plain
        } else if held.lease.is_some() {
            // It compiled a module in its instance, which is not fresh any more: the
            // graph is marked as run, for next time, and runs as it is handed.
            self.images.lookup(graph);
            Known::Plain
        } else {
            self.images.lookup(graph)
        };
        let lease = held.fresh(&self.pool).await?;
        let guest_limits = self.guest_limits(lease, &prepared.limits);
        match known {
            Known::Image(image) if lease.apply_image(&image).await? => {
                noted.graph_prepared = true;
                lease.set_modules(session);
                lease.run_prepared(name, export, input, guest_limits).await
            }
            Known::Prepare => {
                // The lease is fresh: nothing has run in it yet.
                let fresh = match self.fresh_memory.get() {
                    Some(fresh) => Some(Arc::clone(fresh)),
                    None => lease
                        .with_memory(|memory| Arc::<[u8]>::from(memory))
                        .map(|memory| Arc::clone(self.fresh_memory.get_or_init(|| memory))),
                };
                let fuel_used = lease.prepare_graph(name, &graph.to_wit()).await?;
                if let Some(fresh) = fresh {
                    let image =
                        lease.with_memory(|memory| GraphImage::capture(&fresh, memory, fuel_used));
                    if let Some(image) = image {
                        self.images.insert(graph, image);
                    }
                }
                lease.set_modules(session);
                lease.run_prepared(name, export, input, guest_limits).await
            }
            _ => {
                lease.set_modules(session);
                lease
                    .run_module(name, &graph.to_wit(), export, input, guest_limits)
                    .await
            }
        }
    }

    /// The limits the guest enforces itself, for an execution on `lease`.
    fn guest_limits(&self, lease: &Lease, limits: &Limits) -> RunLimits {
        let base_memory_bytes = *self
            .base_memory_bytes
            .get_or_init(|| lease.initial_memory_bytes());
        guest_limits(limits, base_memory_bytes)
    }

    /// Bytecode of `source` from the cache, or compiled in the execution's instance
    /// (fresh: leased for this if it has none yet, and it has run no tenant code yet) and
    /// cached; and whether it was a hit.
    async fn compile_cached(
        &self,
        held: &mut Held,
        kind: CodeKind,
        name: &str,
        hash: ScriptHash,
        source: &str,
    ) -> Result<(Compiled, bool), ExecError> {
        let lookup = {
            let compile = async {
                let lease = held.fresh(&self.pool).await?;
                compile_in(lease, kind, name, source).await
            };
            self.cache.get_or_compile(hash, compile).await
        };
        match lookup {
            Lookup::Hit(compiled) => Ok((compiled, true)),
            Lookup::Compiled(compiled) => Ok((compiled, false)),
            Lookup::Failed(error) => Err(error),
            Lookup::OtherFailed(error) if error.kind() == ErrorKind::Syntax => Err(error),
            // Another execution's compilation failed for a reason of its own (its
            // timeout, its cancellation): compile for this one.
            Lookup::OtherFailed(_) => {
                let lease = held.fresh(&self.pool).await?;
                Ok((compile_in(lease, kind, name, source).await?, false))
            }
        }
    }

    /// Stage 5: the static import graph of the entry module (`entry`, compiled), every
    /// module fetched once, compiled through the cache, and linked by position: the entry
    /// first, then each module in the order it is first imported (breadth first), each
    /// import given the index of its module. JSON modules are handed over as text. An
    /// instance is leased only for a module the cache lacks.
    async fn link(
        &self,
        held: &mut Held,
        prepared: &Prepared,
        session: &mut ModuleSession,
        host_caller: &HostCaller,
        entry: Compiled,
    ) -> Result<Graph, ExecError> {
        let limits = &prepared.limits;
        let stops = StopCheck::new(
            self.shutdown.clone(),
            prepared.cancel.clone(),
            prepared.deadline,
        );
        // Each module at the index the session gave it (the entry 0, then each new module
        // in the order it is first imported): its slot is taken then, and filled when its
        // turn comes.
        let mut graph: Vec<Option<GraphModule>> = Vec::new();
        let mut queue = std::collections::VecDeque::from([(0, prepared.name.to_string(), entry)]);
        while let Some((index, name, compiled)) = queue.pop_front() {
            let mut links = Vec::with_capacity(compiled.imports.len());
            for import in compiled.imports.iter() {
                let fetched = session
                    .fetch(
                        Asker::Link,
                        host_caller,
                        || stops.stopped(),
                        &name,
                        &import.specifier,
                        import.kind,
                    )
                    .await
                    .map_err(|error| error.into_exec_error(limits))?;
                let target = match fetched {
                    Fetch::Known { index, .. } => index,
                    Fetch::New(module) => {
                        let target = module.index;
                        if module.kind == ModuleKind::Json {
                            *slot(&mut graph, target) = Some(GraphModule {
                                body: GraphBody::Json {
                                    name: module.name,
                                    text: module.source,
                                },
                                links: Vec::new(),
                            });
                        } else {
                            // The recent module, when it is this source's, without making
                            // the lookup's future: boxed, that (several KiB of state) is
                            // made only for a module to look up or compile.
                            let compiled =
                                match self.cache.recent_module(&module.name, &module.source) {
                                    Some(compiled) => compiled,
                                    None => Box::pin(self.compile_import(held, &module)).await?,
                                };
                            queue.push_back((target, module.name, compiled));
                        }
                        target
                    }
                };
                links.push(target);
            }
            *slot(&mut graph, index) = Some(GraphModule {
                body: GraphBody::Bytecode(compiled.bytecode),
                links,
            });
        }
        // Every slot was filled: JSON modules when first imported, the others when the
        // queue reached them.
        let modules = graph
            .into_iter()
            .map(|module| {
                module.ok_or_else(|| {
                    ExecError::Internal("a module of the graph was never made".to_owned())
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Graph {
            entry: Arc::clone(&prepared.name),
            modules,
        })
    }

    /// An imported module's bytecode, through the keyed cache (the caller looked for it
    /// among the recent modules); its syntax error names it.
    async fn compile_import(
        &self,
        held: &mut Held,
        module: &Fetched,
    ) -> Result<Compiled, ExecError> {
        let compiled = self
            .compile_cached(
                held,
                CodeKind::Module,
                &module.name,
                module.hash(),
                &module.source,
            )
            .await;
        match compiled {
            Ok((compiled, _)) => {
                self.cache
                    .remember_module(&module.name, &module.source, &compiled);
                Ok(compiled)
            }
            Err(ExecError::Syntax(mut error)) => {
                error.message = format!("{} (in module {})", error.message, module.name);
                Err(ExecError::Syntax(error))
            }
            Err(error) => Err(error),
        }
    }
}

/// The slot of the module at `index` in a graph being made, the graph grown to hold it.
fn slot(graph: &mut Vec<Option<GraphModule>>, index: u32) -> &mut Option<GraphModule> {
    let index = index as usize;
    if graph.len() <= index {
        graph.resize_with(index + 1, || None);
    }
    &mut graph[index]
}

/// Compiles `source` as `kind` in `lease`.
async fn compile_in(
    lease: &mut Lease,
    kind: CodeKind,
    name: &str,
    source: &str,
) -> Result<Compiled, ExecError> {
    match kind {
        CodeKind::Script => Ok(Compiled::script(lease.compile(name, source).await?)),
        CodeKind::Module => lease.compile_module(name, source).await,
    }
}

/// The limits the guest enforces itself. QuickJS's heap limit is the memory limit less
/// what a fresh instance already uses and some headroom for the guest's own allocations
/// (the result's JSON text), so most overruns are a clean error.
fn guest_limits(limits: &Limits, base_memory_bytes: u64) -> RunLimits {
    let headroom = (limits.memory_bytes / 8).max(2 * MIB);
    RunLimits {
        heap_bytes: limits
            .memory_bytes
            .saturating_sub(base_memory_bytes + headroom)
            .max(MIB),
        stack_bytes: limits.stack_bytes,
        output_bytes: limits.output_bytes,
    }
}

/// Resolves when `token` is cancelled; never without one.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
