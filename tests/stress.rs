//! 10,000 executions from 50 tenants, 16 at a time, mixing successes, thrown errors,
//! timeouts and memory-limit hits: every result is right for its script, no execution
//! sees another tenant's data, the pool's books balance, and memory does not grow.
//! One test per binary: it measures the process's RSS.

mod common;

use common::{pool_at_rest, rss_bytes};
use std::time::Duration;

use jsruntime::{Config, ErrorKind, ExecContext, ExecRequest, Runtime, Tenant, MIB};

const EXECUTIONS: usize = 10_000;
const TENANTS: usize = 50;
const CONCURRENCY: usize = 16;

/// The scripts vary by kind only; the execution number travels in the request id, so
/// the compile cache holds five entries and does not grow with the run.
const NORMAL: &str = "const seen = globalThis.marker; globalThis.marker = context.tenantID; \
                      ({ tenant: context.tenantID, seen: seen === undefined ? null : seen, n: Number(context.requestID) * 2 })";
const THROWS: &str = "throw new Error('failed ' + context.requestID)";
const SPINS: &str = "while (true) {}";
const HOGS: &str =
    "const hog = []; while (true) hog.push(new Array(10000).fill(context.requestID))";
const JSON_WORK: &str = "JSON.parse(JSON.stringify({ tenant: context.tenantID, list: [1, 2, 3].map(x => x * Number(context.requestID)) }))";

async fn run_one(runtime: &Runtime, i: usize) {
    let tenant = format!("tenant-{}", i % TENANTS);
    let context = ExecContext::default()
        .with_tenant(Tenant {
            id: tenant.clone(),
            name: None,
        })
        .with_request_id(i.to_string());
    let kind = i % 10;
    let source = match kind {
        0..=5 => NORMAL,
        6 => THROWS,
        7 => SPINS,
        8 if i % 50 == 8 => HOGS,
        _ => JSON_WORK,
    };
    let request = ExecRequest::source(source)
        .context(context)
        .fuel(u64::MAX / 2)
        .timeout(if kind == 7 {
            Duration::from_millis(10)
        } else {
            Duration::from_secs(20)
        })
        .memory_bytes(if source == HOGS { 8 * MIB } else { 64 * MIB });
    let result = runtime.execute(&request).await.map(|outcome| outcome.value);
    match source {
        NORMAL => assert_eq!(
            result,
            Ok(serde_json::json!({ "tenant": tenant, "seen": null, "n": i * 2 })),
            "execution {i}"
        ),
        THROWS => {
            let error = result.expect_err("throws");
            assert_eq!(error.kind(), ErrorKind::Exception, "execution {i}");
            assert_eq!(
                error.script_error().map(|e| e.message.clone()),
                Some(format!("failed {i}"))
            );
        }
        SPINS => assert_eq!(
            result.map_err(|e| e.kind()),
            Err(ErrorKind::Timeout),
            "execution {i}"
        ),
        HOGS => assert_eq!(
            result.map_err(|e| e.kind()),
            Err(ErrorKind::MemoryLimit),
            "execution {i}"
        ),
        _ => assert_eq!(
            result,
            Ok(serde_json::json!({ "tenant": tenant, "list": [i, 2 * i, 3 * i] })),
            "execution {i}"
        ),
    }
}

async fn run_batch(runtime: &Runtime, range: std::ops::Range<usize>) {
    // Finished tasks are reaped as the run goes, so the harness itself holds no memory
    // in proportion to the number of executions.
    let mut running = tokio::task::JoinSet::new();
    for i in range {
        if running.len() >= CONCURRENCY {
            running
                .join_next()
                .await
                .expect("a task")
                .expect("an execution's assertions failed");
        }
        let runtime = runtime.clone();
        running.spawn(async move { run_one(&runtime, i).await });
    }
    while let Some(done) = running.join_next().await {
        done.expect("an execution's assertions failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mixed_executions_from_fifty_tenants() {
    let runtime = Runtime::new(Config {
        max_concurrency: CONCURRENCY as u32,
        ..Config::default()
    })
    .expect("runtime starts");

    // RSS is read at rest both times: after the executions have returned and the pool
    // thread has destroyed their instances (an instance still being destroyed may hold
    // megabytes of a memory hog's heap).
    run_batch(&runtime, 0..1_000).await;
    pool_at_rest(&runtime).await;
    let rss_after_first_thousand = rss_bytes();
    run_batch(&runtime, 1_000..EXECUTIONS).await;
    pool_at_rest(&runtime).await;
    let rss_at_end = rss_bytes();

    let metrics = runtime.metrics().await;
    eprintln!(
        "RSS after 1,000: {} KiB, after {EXECUTIONS}: {} KiB ({:+.1}%); {metrics:?}",
        rss_after_first_thousand / 1024,
        rss_at_end / 1024,
        (rss_at_end as f64 / rss_after_first_thousand as f64 - 1.0) * 100.0
    );
    assert_eq!(metrics.executions_total, EXECUTIONS as u64);
    assert_eq!(metrics.errors_by_kind.get("timeout"), Some(&1_000));
    assert_eq!(metrics.errors_by_kind.get("exception"), Some(&1_000));
    assert_eq!(metrics.errors_by_kind.get("memory_limit"), Some(&200));
    assert_eq!(metrics.cache.entries, 5);

    // The pool at rest: every instance made was destroyed or is ready.
    let pool = pool_at_rest(&runtime).await;
    assert_eq!((pool.in_use, pool.waiting), (0, 0), "{pool:?}");
    assert_eq!(pool.created, pool.destroyed + pool.available, "{pool:?}");
    assert_eq!(pool.errors, 0);

    let growth = rss_at_end as f64 / rss_after_first_thousand as f64;
    assert!(
        growth <= 1.10,
        "RSS grew {:.1}% between the 1,000th and the last execution",
        (growth - 1.0) * 100.0
    );
}
