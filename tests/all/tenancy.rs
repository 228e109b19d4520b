//! Tenants' shares of a runtime: fair admission across tenants, per-tenant caps, quotas
//! (refusal, refill, fuel charging, shared stores, failing stores). These assert order
//! and counts, never times: waits are observed through `Runtime::tenant_stats`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsruntime::{
    Admission, Budget, BudgetLimits, BudgetStore, CancellationToken, Config, ErrorKind,
    ExecContext, ExecError, ExecRequest, MemoryBudgetStore, Quota, Runtime, StaticPolicy,
    StoreError, StoreFailure, StoreFuture, TenantLimits, TenantPolicy, TenantStats, WindowKey,
};
use serde_json::json;

use crate::common::{expect_kind, run_ok, tenant, HUGE_FUEL, PROMPT};

/// A script that runs until it is cancelled (or its long timeout).
fn spinning(context: ExecContext, cancel: &CancellationToken) -> ExecRequest {
    ExecRequest::source("while (true) {}")
        .context(context)
        .fuel(HUGE_FUEL)
        .timeout(Duration::from_secs(60))
        .cancel_token(cancel.clone())
}

fn config(max_concurrency: u32, per_tenant: u32) -> Config {
    let mut config = Config::default();
    config.max_concurrency = max_concurrency;
    config.max_concurrency_per_tenant = Some(per_tenant);
    config
}

/// Waits (bounded) until `tenant`'s running and waiting executions are as given.
async fn until_stats(runtime: &Runtime, tenant: Option<&str>, running: u64, waiting: u64) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = runtime.tenant_stats(tenant);
        if stats.running == running && stats.waiting == waiting {
            return;
        }
        assert!(
            Instant::now() < until,
            "tenant {tenant:?}: {stats:?}, expected {running} running and {waiting} waiting"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn spawn_all(
    runtime: &Runtime,
    requests: Vec<ExecRequest>,
) -> Vec<tokio::task::JoinHandle<jsruntime::Execution>> {
    requests
        .into_iter()
        .map(|request| {
            let runtime = runtime.clone();
            tokio::spawn(async move { runtime.execute_detailed(&request).await })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_cap_leaves_the_other_slots_to_other_tenants() {
    let runtime = Runtime::new(config(4, 2)).expect("runtime");
    let cancel = CancellationToken::new();
    let hog = spawn_all(
        &runtime,
        (0..6).map(|_| spinning(tenant("a"), &cancel)).collect(),
    );
    until_stats(&runtime, Some("a"), 2, 4).await;
    // Two of the four slots are free, and "a" may not take them.
    assert_eq!(runtime.pool_stats().in_use, 2);
    for _ in 0..3 {
        let outcome = run_ok(&runtime, ExecRequest::source("1 + 1").context(tenant("b"))).await;
        assert_eq!(outcome.value, json!(2));
    }
    // "a" still holds exactly its cap meanwhile.
    assert_eq!(runtime.tenant_stats(Some("a")), stats(2, 4));
    cancel.cancel();
    for handle in hog {
        let execution = handle.await.expect("joined");
        assert_eq!(
            execution.result.map_err(|e| e.kind()),
            Err(ErrorKind::Cancelled)
        );
    }
    until_stats(&runtime, Some("a"), 0, 0).await;
}

fn stats(running: u64, waiting: u64) -> TenantStats {
    let mut stats = TenantStats::default();
    stats.running = running;
    stats.waiting = waiting;
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_callers_are_served_round_robin_across_tenants_in_order_within_each() {
    let served = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = Arc::clone(&served);
    let runtime = Runtime::builder()
        .config(config(1, 1))
        .host_fn("served", move |call| {
            let record = Arc::clone(&record);
            async move {
                let who = format!(
                    "{}{}",
                    call.context.tenant_id().unwrap_or("-"),
                    call.args["n"]
                );
                record.lock().expect("lock").push(who);
                Ok(json!(null))
            }
        })
        .build()
        .expect("runtime");
    let cancel = CancellationToken::new();
    let blocker = spawn_all(&runtime, vec![spinning(tenant("x"), &cancel)]);
    until_stats(&runtime, Some("x"), 1, 0).await;
    let call = |id: &str, n: u32| {
        ExecRequest::source(format!("host.call('served', {{n: {n}}})"))
            .context(tenant(id))
            .timeout(Duration::from_secs(60))
    };
    // "a" queues all of its executions before "b" queues any.
    let mut queued = Vec::new();
    for n in 1..=4 {
        queued.extend(spawn_all(&runtime, vec![call("a", n)]));
        until_stats(&runtime, Some("a"), 0, u64::from(n)).await;
    }
    for n in 1..=4 {
        queued.extend(spawn_all(&runtime, vec![call("b", n)]));
        until_stats(&runtime, Some("b"), 0, u64::from(n)).await;
    }
    cancel.cancel();
    for handle in blocker.into_iter().chain(queued) {
        handle.await.expect("joined");
    }
    assert_eq!(
        *served.lock().expect("lock"),
        ["a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_tenant_are_one_tenant_of_their_own() {
    let runtime = Runtime::new(config(4, 1)).expect("runtime");
    let cancel = CancellationToken::new();
    let untenanted = spawn_all(
        &runtime,
        (0..2)
            .map(|_| spinning(ExecContext::default(), &cancel))
            .collect(),
    );
    until_stats(&runtime, None, 1, 1).await;
    // A tenant is not held back by them.
    run_ok(&runtime, ExecRequest::source("1").context(tenant("t"))).await;
    assert_eq!(runtime.tenant_stats(None), stats(1, 1));
    cancel.cancel();
    for handle in untenanted {
        handle.await.expect("joined");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_cap_is_a_quarter_of_the_slots_and_a_policy_sets_its_own() {
    let policy = StaticPolicy::new(TenantLimits::default())
        .tenant("big", TenantLimits::default().max_concurrent(3));
    let runtime = Runtime::builder()
        .config({
            let mut config = Config::default();
            config.max_concurrency = 8;
            config
        })
        .tenant_policy(Arc::new(policy))
        .build()
        .expect("runtime");
    let cancel = CancellationToken::new();
    let mut handles = spawn_all(
        &runtime,
        (0..4).map(|_| spinning(tenant("small"), &cancel)).collect(),
    );
    handles.extend(spawn_all(
        &runtime,
        (0..4).map(|_| spinning(tenant("big"), &cancel)).collect(),
    ));
    until_stats(&runtime, Some("small"), 2, 2).await;
    until_stats(&runtime, Some("big"), 3, 1).await;
    cancel.cancel();
    for handle in handles {
        handle.await.expect("joined");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_execution_still_ends_at_its_deadline() {
    let runtime = Runtime::new(config(4, 1)).expect("runtime");
    let cancel = CancellationToken::new();
    let hog = spawn_all(&runtime, vec![spinning(tenant("a"), &cancel)]);
    until_stats(&runtime, Some("a"), 1, 0).await;
    let started = Instant::now();
    let waited = runtime
        .execute(
            &ExecRequest::source("1")
                .context(tenant("a"))
                .timeout(Duration::from_millis(200)),
        )
        .await;
    assert_eq!(
        waited.map(|o| o.value).map_err(|e| e.kind()),
        Err(ErrorKind::Timeout)
    );
    assert!(started.elapsed() < PROMPT);
    assert_eq!(runtime.tenant_stats(Some("a")), stats(1, 0));
    cancel.cancel();
    for handle in hog {
        handle.await.expect("joined");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_panicking_policy_fails_only_its_requests() {
    #[derive(Debug)]
    struct Odd;
    impl TenantPolicy for Odd {
        fn limits(&self, tenant: Option<&str>) -> TenantLimits {
            match tenant {
                Some("zero") => TenantLimits::default().max_concurrent(0),
                Some("window") => TenantLimits::default()
                    .quota(Quota::per(Duration::from_millis(1)).executions(1)),
                Some("panics") => panic!("the policy broke"),
                _ => TenantLimits::default(),
            }
        }
    }
    let runtime = Runtime::builder()
        .tenant_policy(Arc::new(Odd))
        .build()
        .expect("runtime");
    let run = |id: &'static str| {
        let runtime = runtime.clone();
        async move {
            runtime
                .execute(&ExecRequest::source("1").context(tenant(id)))
                .await
                .map(|outcome| outcome.value)
        }
    };
    let zero = expect_kind(run("zero").await, ErrorKind::InvalidRequest);
    assert!(zero.to_string().contains("max_concurrent"), "{zero}");
    let window = expect_kind(run("window").await, ErrorKind::InvalidRequest);
    assert!(window.to_string().contains("window"), "{window}");
    expect_kind(run("panics").await, ErrorKind::Internal);
    assert_eq!(run("fine").await, Ok(json!(1)));
}

/// Runs `tenant`'s trivial script until it is refused; returns how many ran and the error.
async fn run_until_refused(runtime: &Runtime, id: &str, most: usize) -> (usize, ExecError) {
    for ran in 0..most {
        let execution = runtime
            .execute_detailed(&ExecRequest::source("1").context(tenant(id)))
            .await;
        if let Err(error) = execution.result {
            // Refused before it used an instance: nothing ran.
            assert_eq!(execution.stats.instance_id, 0, "{error:?}");
            assert_eq!(execution.stats.fuel_used, 0);
            return (ran, error);
        }
    }
    panic!("{id}: {most} executions ran and none was refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_beyond_the_budget_are_refused_with_when_it_refills() {
    let hour = Duration::from_secs(3600);
    let policy = StaticPolicy::new(TenantLimits::default()).tenant(
        "t",
        TenantLimits::default().quota(Quota::per(hour).executions(3)),
    );
    let runtime = Runtime::builder()
        .tenant_policy(Arc::new(policy))
        .build()
        .expect("runtime");
    let (ran, error) = run_until_refused(&runtime, "t", 10).await;
    // Exactly three, unless the hour turned meanwhile (then the count restarted).
    assert!((1..=3).contains(&ran), "{ran} ran");
    match error {
        ExecError::QuotaExceeded {
            budget,
            limit,
            window,
            refills_in,
            ..
        } => {
            assert_eq!((budget, limit, window), (Budget::Executions, 3, hour));
            assert!(
                refills_in <= hour && refills_in > Duration::ZERO,
                "{refills_in:?}"
            );
        }
        other => panic!("expected quota_exceeded, got {other:?}"),
    }
    assert_eq!(
        expect_kind(
            runtime
                .execute(&ExecRequest::source("1").context(tenant("t")))
                .await
                .map(|o| o.value),
            ErrorKind::QuotaExceeded
        )
        .kind()
        .as_str(),
        "quota_exceeded"
    );
    // Other tenants are not counted against it.
    run_ok(&runtime, ExecRequest::source("1").context(tenant("other"))).await;
    let metrics = runtime.metrics().await;
    assert!(metrics.quota.refused_executions >= 2, "{:?}", metrics.quota);
    assert!(
        metrics
            .errors_by_kind
            .get("quota_exceeded")
            .copied()
            .unwrap_or(0)
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_budget_refills_when_its_window_ends() {
    let window = Duration::from_millis(400);
    let policy = StaticPolicy::new(TenantLimits::default().quota(Quota::per(window).executions(2)));
    let runtime = Runtime::builder()
        .tenant_policy(Arc::new(policy))
        .build()
        .expect("runtime");
    let (_, error) = run_until_refused(&runtime, "t", 50).await;
    let ExecError::QuotaExceeded { refills_in, .. } = error else {
        panic!("expected quota_exceeded, got {error:?}");
    };
    tokio::time::sleep(refills_in + Duration::from_millis(20)).await;
    run_ok(&runtime, ExecRequest::source("1").context(tenant("t"))).await;
}

/// A store that forwards to a memory store and records every fuel charge.
#[derive(Debug, Default)]
struct Recording {
    inner: MemoryBudgetStore,
    charged: Mutex<Vec<u64>>,
}

impl BudgetStore for Recording {
    fn admit<'a>(&'a self, key: &'a WindowKey, limits: BudgetLimits) -> StoreFuture<'a, Admission> {
        self.inner.admit(key, limits)
    }
    fn charge_fuel<'a>(&'a self, key: &'a WindowKey, fuel: u64) -> StoreFuture<'a, ()> {
        self.charged.lock().expect("lock").push(fuel);
        self.inner.charge_fuel(key, fuel)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_is_charged_with_what_each_execution_used() {
    let store = Arc::new(Recording::default());
    let budget = 200_000_000;
    let policy = StaticPolicy::new(
        TenantLimits::default().quota(Quota::per(Duration::from_secs(3600)).fuel(budget)),
    );
    let runtime = Runtime::builder()
        .tenant_policy(Arc::new(policy))
        .budget_store(store.clone())
        .build()
        .expect("runtime");
    let work = "let x = 0; for (let i = 0; i < 1e3; i++) x += i; x";
    let outcome = run_ok(&runtime, ExecRequest::source(work).context(tenant("t"))).await;
    assert!(outcome.stats.fuel_used > 0);
    assert_eq!(
        *store.charged.lock().expect("lock"),
        [outcome.stats.fuel_used]
    );
    // A failed execution is charged too: this one runs out of its own fuel.
    let failed = runtime
        .execute_detailed(
            &ExecRequest::source("while (true) {}")
                .context(tenant("t"))
                .fuel(budget),
        )
        .await;
    assert_eq!(
        failed.result.map_err(|e| e.kind()),
        Err(ErrorKind::OutOfFuel)
    );
    assert_eq!(store.charged.lock().expect("lock").len(), 2);
    assert_eq!(
        store.charged.lock().expect("lock")[1],
        failed.stats.fuel_used
    );
    // Now the window's fuel is past the budget: refused.
    let (_, error) = run_until_refused(&runtime, "t", 1).await;
    assert!(
        matches!(error, ExecError::QuotaExceeded { budget: Budget::Fuel, limit, .. } if limit == budget),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_sharing_a_store_share_the_budget() {
    let store: Arc<dyn BudgetStore> = Arc::new(MemoryBudgetStore::default());
    let policy: Arc<dyn TenantPolicy> = Arc::new(StaticPolicy::new(
        TenantLimits::default().quota(Quota::per(Duration::from_secs(3600)).executions(4)),
    ));
    let build = || {
        Runtime::builder()
            .tenant_policy(Arc::clone(&policy))
            .budget_store(Arc::clone(&store))
            .build()
            .expect("runtime")
    };
    let (first, second) = (build(), build());
    let mut admitted = 0;
    let mut refused = 0;
    for round in 0..6 {
        let runtime = if round % 2 == 0 { &first } else { &second };
        match runtime
            .execute(&ExecRequest::source("1").context(tenant("t")))
            .await
        {
            Ok(_) => admitted += 1,
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::QuotaExceeded, "{error:?}");
                refused += 1;
            }
        }
    }
    // Four in the hour's window (more only if the hour turned during the test).
    assert!(
        admitted == 4 || (admitted > 4 && refused < 2),
        "{admitted} admitted, {refused} refused"
    );
}

/// A store that fails every operation, or never answers.
#[derive(Debug)]
enum Broken {
    Fails,
    Hangs,
}

impl BudgetStore for Broken {
    fn admit<'a>(&'a self, _: &'a WindowKey, _: BudgetLimits) -> StoreFuture<'a, Admission> {
        self.answer()
    }
    fn charge_fuel<'a>(&'a self, _: &'a WindowKey, _: u64) -> StoreFuture<'a, ()> {
        self.answer()
    }
}

impl Broken {
    fn answer<T: Send + 'static>(&self) -> StoreFuture<'_, T> {
        match self {
            Broken::Fails => Box::pin(std::future::ready(Err(StoreError::new(
                "connection refused",
            )))),
            Broken::Hangs => Box::pin(std::future::pending()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_refuses_or_allows_as_the_quota_says() {
    let quota = Quota::per(Duration::from_secs(60))
        .executions(10)
        .fuel(HUGE_FUEL);
    let policy = StaticPolicy::new(TenantLimits::default().quota(quota.clone())).tenant(
        "open",
        TenantLimits::default().quota(quota.on_store_failure(StoreFailure::Allow)),
    );
    for broken in [Broken::Fails, Broken::Hangs] {
        let runtime = Runtime::builder()
            .tenant_policy(Arc::new(policy.clone()))
            .budget_store(Arc::new(broken))
            .build()
            .expect("runtime");
        let started = Instant::now();
        let closed = runtime
            .execute(
                &ExecRequest::source("1")
                    .context(tenant("closed"))
                    .timeout(Duration::from_millis(300)),
            )
            .await;
        let error = expect_kind(closed.map(|o| o.value), ErrorKind::QuotaUnavailable);
        assert!(error.to_string().contains("budget store"), "{error}");
        assert!(started.elapsed() < PROMPT);
        // Fail open: it runs (when the store hangs, the admission waits until the
        // deadline, and then the deadline has passed).
        let started = Instant::now();
        let open = runtime
            .execute(
                &ExecRequest::source("1")
                    .context(tenant("open"))
                    .timeout(Duration::from_millis(300)),
            )
            .await
            .map(|o| o.value);
        assert!(started.elapsed() < PROMPT);
        match open {
            Ok(value) => assert_eq!(value, json!(1)),
            Err(error) => assert_eq!(error.kind(), ErrorKind::Timeout, "{error:?}"),
        }
        let metrics = runtime.metrics().await;
        assert!(metrics.quota.store_errors >= 2, "{:?}", metrics.quota);
    }
}

/// A store that behaves as a networked one may: it yields to the scheduler first (a wake
/// of its own while pending, as tokio's cooperative budget makes one too), then talks to a
/// socket, which needs the calling runtime's I/O driver; or it panics.
#[derive(Debug)]
enum Networked {
    Talks(std::net::SocketAddr),
    Panics,
}

impl Networked {
    fn answer<T: Send + 'static>(&self, value: T) -> StoreFuture<'_, T> {
        Box::pin(async move {
            match self {
                Networked::Talks(address) => {
                    tokio::task::yield_now().await;
                    tokio::net::TcpStream::connect(address)
                        .await
                        .map_err(|error| StoreError::new(error.to_string()))?;
                    Ok(value)
                }
                Networked::Panics => panic!("the store's own bug"),
            }
        })
    }
}

impl BudgetStore for Networked {
    fn admit<'a>(&'a self, _: &'a WindowKey, _: BudgetLimits) -> StoreFuture<'a, Admission> {
        self.answer(Admission::Admitted)
    }
    fn charge_fuel<'a>(&'a self, _: &'a WindowKey, _: u64) -> StoreFuture<'a, ()> {
        self.answer(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_runs_on_the_callers_runtime_even_when_it_yields() {
    // A yield looks like the guest's own to the offloader, which used to move the whole
    // execution to a guest thread, whose runtime has no I/O: the socket panicked there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let quota = Quota::per(Duration::from_secs(3600))
        .executions(1000)
        .fuel(HUGE_FUEL);
    let runtime = Runtime::builder()
        .tenant_policy(Arc::new(StaticPolicy::new(
            TenantLimits::default().quota(quota),
        )))
        .budget_store(Arc::new(Networked::Talks(address)))
        .build()
        .expect("runtime");
    for _ in 0..20 {
        run_ok(&runtime, ExecRequest::source("1").context(tenant("t"))).await;
    }
    assert_eq!(runtime.metrics().await.quota.store_errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_panics_is_a_failing_store() {
    let quota = Quota::per(Duration::from_secs(60))
        .executions(10)
        .fuel(HUGE_FUEL);
    let policy = StaticPolicy::new(TenantLimits::default().quota(quota.clone()))
        .tenant(
            "open",
            TenantLimits::default().quota(quota.on_store_failure(StoreFailure::Allow)),
        )
        .tenant("free", TenantLimits::default());
    let runtime = Runtime::builder()
        .tenant_policy(Arc::new(policy))
        .budget_store(Arc::new(Networked::Panics))
        .build()
        .expect("runtime");
    let closed = runtime
        .execute(&ExecRequest::source("1").context(tenant("closed")))
        .await;
    let error = expect_kind(closed.map(|o| o.value), ErrorKind::QuotaUnavailable);
    assert!(error.to_string().contains("panicked"), "{error}");
    // Fail open: it runs, uncounted and uncharged; a tenant without a quota never asks.
    run_ok(&runtime, ExecRequest::source("1").context(tenant("open"))).await;
    run_ok(&runtime, ExecRequest::source("1").context(tenant("free"))).await;
    assert_eq!(runtime.metrics().await.quota.store_errors, 2);
}

#[test]
fn per_tenant_gauges_are_published_only_when_asked_for() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    for tenant_metrics in [false, true] {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let gauge = |snapshot: &[(metrics_util::CompositeKey, _, _, DebugValue)]| {
            snapshot
                .iter()
                .find(|(key, _, _, _)| {
                    key.key().name() == "jsruntime_tenant_running"
                        && key
                            .key()
                            .labels()
                            .any(|l| l.key() == "tenant" && l.value() == "a")
                })
                .map(|(_, _, _, value)| match value {
                    DebugValue::Gauge(value) => value.into_inner(),
                    other => panic!("not a gauge: {other:?}"),
                })
        };
        metrics::with_local_recorder(&recorder, || {
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio");
            tokio.block_on(async {
                let mut config = Config::default();
                config.tenant_metrics = tenant_metrics;
                let runtime = Runtime::new(config).expect("runtime");
                let cancel = CancellationToken::new();
                let held = spawn_all(&runtime, vec![spinning(tenant("a"), &cancel)]);
                until_stats(&runtime, Some("a"), 1, 0).await;
                runtime.metrics().await;
                let running = gauge(&snapshotter.snapshot().into_vec());
                assert_eq!(running, tenant_metrics.then_some(1.0));
                cancel.cancel();
                for handle in held {
                    handle.await.expect("joined");
                }
                until_stats(&runtime, Some("a"), 0, 0).await;
                runtime.metrics().await;
                // A tenant that is gone is published once as 0.
                let running = gauge(&snapshotter.snapshot().into_vec());
                assert_eq!(running, tenant_metrics.then_some(0.0));
            });
        });
    }
}
