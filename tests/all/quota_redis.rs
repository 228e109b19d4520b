//! The Redis budget store (feature `redis`) against a real redis-server: counting,
//! refills, expiry, replicas sharing one budget, and what happens when Redis is down or
//! never answers; then runtimes using it.
//!
//! The server's URL comes from `JSRUNTIME_TEST_REDIS_URL`, which `make test` sets
//! through `tools/with-redis` (a throwaway redis-server on a free port). Every test uses
//! key prefixes of its own, so they run in parallel on one server.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsruntime::{
    Admission, Budget, BudgetLimits, BudgetStore, Quota, RedisBudgetStore, StoreError, WindowKey,
};
use tokio::net::{TcpListener, TcpStream};

/// The test server's URL. Unset is a failure, never a silent pass: with the feature on,
/// these tests are meant to run.
fn redis_url() -> String {
    match std::env::var("JSRUNTIME_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "JSRUNTIME_TEST_REDIS_URL is not set: the Redis budget store's tests need a \
             redis-server. Run them through `make test`, or by hand with \
             `tools/with-redis cargo test --release -p jsruntime --features redis --test all \
             quota_redis` (see TESTING.md)."
        ),
    }
}

/// A key prefix no other test (or earlier run against the same server) uses.
fn unique_prefix(test: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "jsruntime-test:{test}:{}-{nanos}-{}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn store(test: &str) -> RedisBudgetStore {
    RedisBudgetStore::new(&redis_url())
        .expect("the test server's URL parses")
        .key_prefix(unique_prefix(test))
}

/// A direct connection to the test server, to look at the store's keys.
async fn inspect() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("the test server's URL parses")
        .get_multiplexed_async_connection()
        .await
        .expect("the test server answers")
}

async fn get(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<u64> {
    redis::cmd("GET")
        .arg(key)
        .query_async(connection)
        .await
        .expect("GET")
}

async fn pttl(connection: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(connection)
        .await
        .expect("PTTL")
}

/// A window of an hour, fixed for the test: the store never looks at the clock but for
/// expiry, so an hour boundary during the test changes nothing.
fn hour(tenant: Option<&str>, quota: &Quota) -> WindowKey {
    WindowKey::at(tenant.map(Arc::from), quota, SystemTime::now())
}

fn budgets(executions: Option<u64>, fuel: Option<u64>) -> BudgetLimits {
    let mut quota = Quota::per(Duration::from_secs(3600));
    quota.executions = executions;
    quota.fuel = fuel;
    BudgetLimits::of(&quota)
}

/// A loopback port nothing listens on (bound, then released).
async fn dead_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind a loopback port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    port
}

/// A server that accepts connections and never answers (nor closes them).
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    address
}

/// A proxy to the test server that can go silent: while `silent` is set, it passes
/// nothing on in either direction (a server that hangs, or a network that drops).
async fn proxy(silent: Arc<AtomicBool>) -> SocketAddr {
    let upstream: SocketAddr = {
        let url = redis_url();
        let info = redis::Client::open(url).expect("parses");
        info.get_connection_info()
            .addr()
            .to_string()
            .parse()
            .expect("the test server is host:port")
    };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(upstream).await else {
                continue;
            };
            let (client, server) = (Arc::new(client), Arc::new(server));
            tokio::spawn(pump(client.clone(), server.clone(), silent.clone()));
            tokio::spawn(pump(server, client, silent.clone()));
        }
    });
    address
}

/// Copies `from` to `to` (with tokio's readiness calls: the tests' tokio has no io-util)
/// unless `silent`, when what arrives is dropped.
async fn pump(from: Arc<TcpStream>, to: Arc<TcpStream>, silent: Arc<AtomicBool>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if from.readable().await.is_err() {
            return;
        }
        let read = match from.try_read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        if silent.load(Ordering::SeqCst) {
            continue;
        }
        let mut written = 0;
        while written < read {
            if to.writable().await.is_err() {
                return;
            }
            match to.try_write(&buffer[written..read]) {
                Ok(n) => written += n,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

fn expect_store_error<T: std::fmt::Debug>(result: Result<T, StoreError>) -> StoreError {
    match result {
        Ok(value) => panic!("expected a StoreError, got {value:?}"),
        Err(error) => error,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admits_up_to_the_executions_budget_then_refuses_and_counts_nothing() {
    let store = store("executions");
    let quota = Quota::per(Duration::from_secs(3600)).executions(3);
    let key = hour(Some("t1"), &quota);
    let limits = BudgetLimits::of(&quota);
    for _ in 0..3 {
        assert_eq!(store.admit(&key, limits).await, Ok(Admission::Admitted));
    }
    for _ in 0..3 {
        assert_eq!(
            store.admit(&key, limits).await,
            Ok(Admission::Exhausted(Budget::Executions))
        );
    }
    let mut redis = inspect().await;
    assert_eq!(
        get(&mut redis, &store.key_for(&key, Budget::Executions)).await,
        Some(3),
        "refusals count nothing"
    );
    assert_eq!(
        get(&mut redis, &store.key_for(&key, Budget::Fuel)).await,
        None,
        "admissions write no fuel counter"
    );
    // A budget of zero admits nothing, and unlimited admits anything.
    assert_eq!(
        store.admit(&key, budgets(Some(0), None)).await,
        Ok(Admission::Exhausted(Budget::Executions))
    );
    assert_eq!(
        store.admit(&key, budgets(None, None)).await,
        Ok(Admission::Admitted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fuel_budget_refuses_once_charged_fuel_reaches_it_and_comes_first() {
    let store = store("fuel");
    let quota = Quota::per(Duration::from_secs(3600))
        .executions(2)
        .fuel(1_000);
    let key = hour(Some("t1"), &quota);
    let limits = BudgetLimits::of(&quota);
    assert_eq!(store.admit(&key, limits).await, Ok(Admission::Admitted));
    store.charge_fuel(&key, 999).await.expect("charged");
    assert_eq!(store.admit(&key, limits).await, Ok(Admission::Admitted));
    // Executions are used up too, but fuel is what is reported once it is.
    assert_eq!(
        store.admit(&key, limits).await,
        Ok(Admission::Exhausted(Budget::Executions))
    );
    store.charge_fuel(&key, 1).await.expect("charged");
    assert_eq!(
        store.admit(&key, limits).await,
        Ok(Admission::Exhausted(Budget::Fuel))
    );
    let mut redis = inspect().await;
    assert_eq!(
        get(&mut redis, &store.key_for(&key, Budget::Fuel)).await,
        Some(1_000)
    );
    assert_eq!(
        get(&mut redis, &store.key_for(&key, Budget::Executions)).await,
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_beyond_two_to_the_53_are_compared_exactly_and_fuel_saturates() {
    // Lua's numbers are doubles: 2^53 + 1 would read as 2^53.
    let store = store("big");
    let quota = Quota::per(Duration::from_secs(3600));
    let key = hour(Some("t1"), &quota);
    let big = (1u64 << 53) + 1;
    store.charge_fuel(&key, big - 1).await.expect("charged");
    assert_eq!(
        store.admit(&key, budgets(None, Some(big))).await,
        Ok(Admission::Admitted),
        "2^53 is below 2^53 + 1"
    );
    store.charge_fuel(&key, 1).await.expect("charged");
    assert_eq!(
        store.admit(&key, budgets(None, Some(big))).await,
        Ok(Admission::Exhausted(Budget::Fuel))
    );
    // Past Redis's integers the counter saturates instead of failing.
    store.charge_fuel(&key, u64::MAX).await.expect("charged");
    store.charge_fuel(&key, u64::MAX).await.expect("charged");
    let mut redis = inspect().await;
    assert_eq!(
        get(&mut redis, &store.key_for(&key, Budget::Fuel)).await,
        Some(i64::MAX as u64)
    );
    assert_eq!(
        store
            .admit(&key, budgets(None, Some(i64::MAX as u64)))
            .await,
        Ok(Admission::Exhausted(Budget::Fuel))
    );
    assert!(pttl(&mut redis, &store.key_for(&key, Budget::Fuel)).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_refills_when_it_ends_and_its_counters_expire() {
    let store = store("refill");
    let quota = Quota::per(Duration::from_millis(300)).executions(2);
    let limits = BudgetLimits::of(&quota);
    let now = SystemTime::now();
    let first = WindowKey::at(Some("t1".into()), &quota, now);
    // Use the window up (each admission in the window the clock says, as the runtime
    // does; all in one window unless it ends meanwhile, which the loop allows for).
    let mut refused_in = None;
    for _ in 0..20 {
        let key = WindowKey::at(Some("t1".into()), &quota, SystemTime::now());
        match store.admit(&key, limits).await.expect("admit") {
            Admission::Admitted => {}
            Admission::Exhausted(budget) => {
                assert_eq!(budget, Budget::Executions);
                refused_in = Some(key);
                break;
            }
        }
    }
    let refused_in = refused_in.expect("two admissions use a window up");
    tokio::time::sleep(refused_in.refills_in(SystemTime::now()) + Duration::from_millis(20)).await;
    let next = WindowKey::at(Some("t1".into()), &quota, SystemTime::now());
    assert!(next.index > refused_in.index);
    assert_eq!(store.admit(&next, limits).await, Ok(Admission::Admitted));
    // The first window's counter lives until its end plus one window, then is gone.
    let mut redis = inspect().await;
    tokio::time::sleep(first.keep_for(SystemTime::now()) + Duration::from_millis(100)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(store.key_for(&first, Budget::Executions))
        .query_async(&mut redis)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0, "an ended window's counter expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_expire_after_the_window_and_one_more() {
    let store = store("ttl");
    let quota = Quota::per(Duration::from_secs(60))
        .executions(10)
        .fuel(1_000_000);
    let key = hour(Some("t1"), &quota);
    store
        .admit(&key, BudgetLimits::of(&quota))
        .await
        .expect("admit");
    store.charge_fuel(&key, 5).await.expect("charge");
    let mut redis = inspect().await;
    for which in [Budget::Executions, Budget::Fuel] {
        let ttl = pttl(&mut redis, &store.key_for(&key, which)).await;
        assert!(
            (1..=120_000).contains(&ttl),
            "{which}: PTTL {ttl} ms, not within the window's end plus one window"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_budget_even_when_admitting_at_once() {
    let prefix = unique_prefix("replicas");
    let replica = || {
        Arc::new(
            RedisBudgetStore::new(&redis_url())
                .expect("parses")
                .key_prefix(prefix.clone()),
        )
    };
    let (a, b) = (replica(), replica());
    let quota = Quota::per(Duration::from_secs(3600)).executions(2);
    let key = hour(Some("t1"), &quota);
    let limits = BudgetLimits::of(&quota);
    assert_eq!(a.admit(&key, limits).await, Ok(Admission::Admitted));
    assert_eq!(b.admit(&key, limits).await, Ok(Admission::Admitted));
    assert_eq!(
        a.admit(&key, limits).await,
        Ok(Admission::Exhausted(Budget::Executions))
    );
    assert_eq!(
        b.admit(&key, limits).await,
        Ok(Admission::Exhausted(Budget::Executions))
    );

    // 200 admissions at once from 100 tasks per replica, for a budget of 37.
    let quota = Quota::per(Duration::from_secs(3600)).executions(37);
    let key = hour(Some("t2"), &quota);
    let limits = BudgetLimits::of(&quota);
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..200 {
        let store = if task % 2 == 0 { a.clone() } else { b.clone() };
        let key = key.clone();
        tasks.spawn(async move { store.admit(&key, limits).await });
    }
    let mut admitted = 0;
    while let Some(result) = tasks.join_next().await {
        match result.expect("the task ran").expect("Redis answered") {
            Admission::Admitted => admitted += 1,
            Admission::Exhausted(budget) => assert_eq!(budget, Budget::Executions),
        }
    }
    assert_eq!(admitted, 37, "exactly the budget was admitted");
    let mut redis = inspect().await;
    assert_eq!(
        get(&mut redis, &a.key_for(&key, Budget::Executions)).await,
        Some(37)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_and_the_untenanted_do_not_share_budgets() {
    let store = store("tenants");
    let quota = Quota::per(Duration::from_secs(3600)).executions(1);
    let limits = BudgetLimits::of(&quota);
    for tenant in [
        Some("a"),
        Some(""),
        Some("u"),
        Some("a:1"),
        Some("{a}"),
        None,
    ] {
        let key = hour(tenant, &quota);
        assert_eq!(
            store.admit(&key, limits).await,
            Ok(Admission::Admitted),
            "{tenant:?} has a budget of its own"
        );
        assert_eq!(
            store.admit(&key, limits).await,
            Ok(Admission::Exhausted(Budget::Executions)),
            "{tenant:?}"
        );
    }
    // Windows of different lengths are counted apart too.
    let other = Quota::per(Duration::from_secs(60)).executions(1);
    assert_eq!(
        store
            .admit(&hour(Some("a"), &other), BudgetLimits::of(&other))
            .await,
        Ok(Admission::Admitted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_store_error_at_once_naming_the_server() {
    let port = dead_port().await;
    let store = RedisBudgetStore::new(&format!("redis://127.0.0.1:{port}/")).expect("parses");
    let quota = Quota::per(Duration::from_secs(3600)).executions(1);
    let key = hour(Some("t1"), &quota);
    for _ in 0..3 {
        let started = Instant::now();
        let error = expect_store_error(store.admit(&key, BudgetLimits::of(&quota)).await);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
        assert!(
            error.message().contains(&format!("127.0.0.1:{port}")),
            "{error}"
        );
        let error = expect_store_error(store.charge_fuel(&key, 1).await);
        assert!(error.message().contains("connect"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_a_store_error_not_a_hang() {
    let address = silent_server().await;
    // The default timeouts: 1 s to connect, 500 ms for an answer.
    let store = Arc::new(RedisBudgetStore::new(&format!("redis://{address}/")).expect("parses"));
    let quota = Quota::per(Duration::from_secs(3600)).executions(1);
    let key = hour(Some("t1"), &quota);
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        store.admit(&key, BudgetLimits::of(&quota)),
    )
    .await
    .expect("the store gave up on its own, well within 5 s");
    let error = expect_store_error(result);
    assert!(error.message().contains(&address.to_string()), "{error}");
    // Many operations waiting at once all give up too (they share the failed attempt).
    let mut tasks = tokio::task::JoinSet::new();
    let limits = BudgetLimits::of(&quota);
    for _ in 0..20 {
        let (store, key) = (store.clone(), key.clone());
        tasks.spawn(async move { store.admit(&key, limits).await });
    }
    let all = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(result) = tasks.join_next().await {
            expect_store_error(result.expect("the task ran"));
        }
    });
    all.await
        .expect("every waiting operation gave up within 5 s");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_times_out_and_the_store_reconnects_when_it_is_back() {
    let silent = Arc::new(AtomicBool::new(false));
    let address = proxy(silent.clone()).await;
    let store = RedisBudgetStore::new(&format!("redis://{address}/"))
        .expect("parses")
        .key_prefix(unique_prefix("reconnect"))
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(300));
    let quota = Quota::per(Duration::from_secs(3600)).executions(10);
    let key = hour(Some("t1"), &quota);
    let limits = BudgetLimits::of(&quota);
    assert_eq!(store.admit(&key, limits).await, Ok(Admission::Admitted));

    silent.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let error = expect_store_error(store.admit(&key, limits).await);
    assert!(error.message().contains("no answer"), "{error}");
    // Then a new connection, which cannot get through either.
    expect_store_error(store.admit(&key, limits).await);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );

    silent.store(false, Ordering::SeqCst);
    // Back: the next operation connects again (the silent connection was dropped). The
    // admission that timed out may or may not have been counted by Redis.
    assert_eq!(store.admit(&key, limits).await, Ok(Admission::Admitted));
    let mut redis = inspect().await;
    let counted = get(&mut redis, &store.key_for(&key, Budget::Executions))
        .await
        .expect("counted");
    assert!((2..=3).contains(&counted), "{counted}");
}

/// Runtimes with the Redis store: the quota check and the fuel charge go through it.
/// (These use `Runtime::builder().tenant_policy(..).budget_store(..)`.)
mod runtime {
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime};

    use jsruntime::{
        Budget, BudgetStore, Config, ErrorKind, ExecContext, ExecError, ExecRequest, Quota,
        RedisBudgetStore, Runtime, StaticPolicy, StoreFailure, Tenant, TenantLimits, TenantPolicy,
        WindowKey,
    };

    use super::{dead_port, get, inspect, redis_url, silent_server, unique_prefix};
    use crate::common::PROMPT;

    const HOUR: Duration = Duration::from_secs(3600);

    fn runtime(policy: StaticPolicy, store: Arc<dyn BudgetStore>) -> Runtime {
        Runtime::builder()
            .config(Config::default())
            .tenant_policy(Arc::new(policy) as Arc<dyn TenantPolicy>)
            .budget_store(store)
            .build()
            .expect("a runtime with a Redis budget store starts")
    }

    fn as_tenant(id: &str, source: &str) -> ExecRequest {
        ExecRequest::source(source).context(ExecContext::default().with_tenant(Tenant {
            id: id.into(),
            name: None,
        }))
    }

    /// Waits, if the current hour-long window is about to end, for the next one, so a
    /// test's executions all fall in one window.
    async fn fresh_window(quota: &Quota) {
        let key = WindowKey::at(None, quota, SystemTime::now());
        let left = key.refills_in(SystemTime::now());
        if left < Duration::from_secs(30) {
            tokio::time::sleep(left + Duration::from_millis(50)).await;
        }
    }

    fn redis_store(test: &str) -> Arc<RedisBudgetStore> {
        Arc::new(
            RedisBudgetStore::new(&redis_url())
                .expect("parses")
                .key_prefix(unique_prefix(test)),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_runtimes_share_one_redis_budget() {
        let quota = Quota::per(HOUR).executions(3);
        fresh_window(&quota).await;
        let prefix = unique_prefix("runtimes");
        // Two replicas: each its own store value, the same Redis and prefix.
        let replica = || {
            let store = RedisBudgetStore::new(&redis_url())
                .expect("parses")
                .key_prefix(prefix.clone());
            let policy = StaticPolicy::new(TenantLimits::default())
                .tenant("t1", TenantLimits::default().quota(quota.clone()));
            runtime(policy, Arc::new(store))
        };
        let (a, b) = (replica(), replica());
        for (runtime, expected) in [(&a, 1), (&b, 2), (&a, 3)] {
            let outcome = runtime
                .execute(&as_tenant("t1", "1 + 2"))
                .await
                .unwrap_or_else(|error| panic!("execution {expected} is admitted: {error:?}"));
            assert_eq!(outcome.value, serde_json::json!(3));
        }
        for runtime in [&a, &b] {
            match runtime.execute(&as_tenant("t1", "1 + 2")).await {
                Err(error @ ExecError::QuotaExceeded { .. }) => {
                    assert_eq!(error.kind(), ErrorKind::QuotaExceeded);
                    let ExecError::QuotaExceeded {
                        budget,
                        limit,
                        window,
                        refills_in,
                        ..
                    } = error
                    else {
                        unreachable!()
                    };
                    assert_eq!(budget, Budget::Executions);
                    assert_eq!(limit, 3);
                    assert_eq!(window, HOUR);
                    assert!(refills_in <= HOUR);
                }
                other => panic!("the 4th execution must be refused, got {other:?}"),
            }
        }
        // Another tenant has no quota: not counted, not refused.
        assert!(a.execute(&as_tenant("t2", "1")).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fuel_is_charged_with_what_ran() {
        let quota = Quota::per(HOUR).fuel(1_000_000_000_000);
        fresh_window(&quota).await;
        let store = redis_store("runtime-fuel");
        let policy = StaticPolicy::new(TenantLimits::default())
            .tenant("t1", TenantLimits::default().quota(quota.clone()));
        let runtime = runtime(policy, store.clone());
        let outcome = runtime
            .execute(&as_tenant(
                "t1",
                "let s = 0; for (let i = 0; i < 100000; i++) s += i; s",
            ))
            .await
            .expect("runs");
        let used = outcome.stats.fuel_used;
        assert!(used > 0);
        let key = WindowKey::at(Some("t1".into()), &quota, SystemTime::now());
        let counter = store.key_for(&key, Budget::Fuel);
        let mut redis = inspect().await;
        // The charge may land just after the result.
        let started = Instant::now();
        let mut charged = get(&mut redis, &counter).await;
        while charged != Some(used) && started.elapsed() < PROMPT {
            tokio::time::sleep(Duration::from_millis(20)).await;
            charged = get(&mut redis, &counter).await;
        }
        assert_eq!(charged, Some(used), "the window is charged the fuel used");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_down_refuses_or_allows_as_the_quota_says() {
        let port = dead_port().await;
        let store =
            Arc::new(RedisBudgetStore::new(&format!("redis://127.0.0.1:{port}/")).expect("parses"));
        let policy = StaticPolicy::new(TenantLimits::default())
            .tenant(
                "closed",
                TenantLimits::default().quota(
                    Quota::per(HOUR)
                        .executions(10)
                        .on_store_failure(StoreFailure::Refuse),
                ),
            )
            .tenant(
                "open",
                TenantLimits::default().quota(
                    Quota::per(HOUR)
                        .executions(10)
                        .on_store_failure(StoreFailure::Allow),
                ),
            );
        let runtime = runtime(policy, store);
        match runtime.execute(&as_tenant("closed", "2 + 2")).await {
            Err(ExecError::QuotaUnavailable(message)) => {
                assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
            }
            other => panic!("a failing store with Refuse refuses, got {other:?}"),
        }
        let outcome = runtime
            .execute(&as_tenant("open", "2 + 2"))
            .await
            .expect("a failing store with Allow runs the execution");
        assert_eq!(outcome.value, serde_json::json!(4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_that_never_answers_cannot_hold_an_execution_past_its_timeout() {
        let address = silent_server().await;
        let store = Arc::new(
            RedisBudgetStore::new(&format!("redis://{address}/"))
                .expect("parses")
                .connect_timeout(Duration::from_secs(10))
                .response_timeout(Duration::from_secs(10)),
        );
        let policy = StaticPolicy::new(TenantLimits::default()).tenant(
            "t1",
            TenantLimits::default().quota(Quota::per(HOUR).executions(10)),
        );
        let runtime = runtime(policy, store);
        let started = Instant::now();
        let result = runtime
            .execute(&as_tenant("t1", "1").timeout(Duration::from_millis(300)))
            .await;
        let elapsed = started.elapsed();
        match result {
            Err(error) => assert!(
                matches!(
                    error.kind(),
                    ErrorKind::Timeout | ErrorKind::QuotaUnavailable
                ),
                "{error:?}"
            ),
            Ok(outcome) => panic!("nothing could admit it, yet it ran: {outcome:?}"),
        }
        assert!(
            elapsed < Duration::from_millis(300) + PROMPT,
            "the store held the execution for {elapsed:?}"
        );
    }
}
