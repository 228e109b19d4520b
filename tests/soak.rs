//! Soak: N executions (`JSRUNTIME_SOAK_EXECUTIONS`, default 5,000; `make soak` runs
//! 200,000) from 100 tenants, 16 at a time, mixing successes, host calls, thrown errors,
//! timeouts and memory-limit hits. Every result is checked, and the process's RSS is
//! sampled every N/20 executions: it must not grow more than 10% between the sample at
//! 10% of N and the last one. Samples are taken at rest (the running executions are
//! let finish, and the pool thread destroy their instances, first), so they compare like
//! with like, and only after a warm-up of 1,000
//! executions (checked too, not counted in N) that lets every pool slot reach its
//! resident size.
//!
//! The sources are few and fixed; what varies per execution (tenant, request id) travels
//! in the context, so the compile cache does not grow with the run. One test per
//! binary: it measures the process's RSS.

mod common;

use common::{pool_at_rest, rss_bytes};
use std::time::{Duration, Instant};

use jsruntime::{Config, ErrorKind, ExecContext, ExecRequest, HostFnError, Runtime, Tenant, MIB};
use serde_json::json;

const DEFAULT_EXECUTIONS: usize = 5_000;
const TENANTS: usize = 100;
const CONCURRENCY: usize = 16;
/// RSS may grow at most this much between the sample at 10% of the run and the last.
const MAX_GROWTH: f64 = 0.10;
/// Executions run (and checked) before the measured ones, so that every pool slot has
/// held each kind of execution once and the process's RSS has reached its plateau; they
/// are not counted in N.
const WARM_UP: usize = 1_000;

/// Returns its tenant, its request number doubled, and whether it saw state left
/// behind by an earlier execution (it must not).
const NORMAL: &str = "const seen = globalThis.marker; globalThis.marker = context.tenantID; \
     ({ tenant: context.tenantID, seen: seen === undefined ? null : seen, \
        n: Number(context.requestID) * 2 })";
/// Asks the host for this tenant's record; the host checks the tenant itself.
const HOST_CALLS: &str = "const n = Number(context.requestID); \
     const a = host.call('tenant.record', { tenant: context.tenantID, n }); \
     const b = host.call('tenant.record', { tenant: context.tenantID, n: n + 1 }); \
     [a, b, JSON.parse(JSON.stringify({ list: [1, 2, 3].map(x => x * n) }))]";
const THROWS: &str = "throw new Error('failed ' + context.requestID)";
const SPINS: &str = "while (true) {}";
const HOGS: &str =
    "const hog = []; while (true) hog.push(new Array(10000).fill(context.requestID))";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    HostCalls,
    Throws,
    Spins,
    Hogs,
}

/// The kind of execution `i`: 55% plain successes, 25% host calls, 10% thrown errors,
/// 5% timeouts, 5% memory-limit hits (all deterministic, so the totals are known).
fn kind_of(i: usize) -> Kind {
    match i % 20 {
        0..=10 => Kind::Normal,
        11..=15 => Kind::HostCalls,
        16 | 17 => Kind::Throws,
        18 => Kind::Spins,
        _ => Kind::Hogs,
    }
}

fn executions() -> usize {
    std::env::var("JSRUNTIME_SOAK_EXECUTIONS")
        .ok()
        .map(|text| {
            text.replace('_', "")
                .parse()
                .expect("JSRUNTIME_SOAK_EXECUTIONS is a number")
        })
        .unwrap_or(DEFAULT_EXECUTIONS)
        .max(20)
}

/// Runs execution `i` and checks its result; `Err` says what was wrong.
async fn run_one(runtime: &Runtime, i: usize) -> Result<(), String> {
    let tenant = format!("tenant-{}", i % TENANTS);
    let context = ExecContext::default()
        .with_tenant(Tenant {
            id: tenant.clone(),
            name: None,
        })
        .with_request_id(i.to_string());
    let kind = kind_of(i);
    let (source, timeout, memory) = match kind {
        Kind::Normal => (NORMAL, Duration::from_secs(20), 32 * MIB),
        Kind::HostCalls => (HOST_CALLS, Duration::from_secs(20), 32 * MIB),
        Kind::Throws => (THROWS, Duration::from_secs(20), 32 * MIB),
        Kind::Spins => (SPINS, Duration::from_millis(10), 32 * MIB),
        Kind::Hogs => (HOGS, Duration::from_secs(20), 8 * MIB),
    };
    let request = ExecRequest::source(source)
        .context(context)
        .fuel(u64::MAX / 2)
        .timeout(timeout)
        .memory_bytes(memory);
    let result = runtime.execute(&request).await.map(|outcome| outcome.value);
    let n = i as u64;
    let ok = match kind {
        Kind::Normal => result == Ok(json!({ "tenant": tenant, "seen": null, "n": n * 2 })),
        Kind::HostCalls => {
            result
                == Ok(json!([
                    { "tenant": tenant, "n": n * 3 },
                    { "tenant": tenant, "n": (n + 1) * 3 },
                    { "list": [n, 2 * n, 3 * n] },
                ]))
        }
        Kind::Throws => result.as_ref().is_err_and(|error| {
            error.kind() == ErrorKind::Exception
                && error.script_error().map(|e| e.message.as_str()) == Some(&format!("failed {i}"))
        }),
        Kind::Spins => result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Timeout),
        Kind::Hogs => result
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::MemoryLimit),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "execution {i} ({kind:?}, {tenant}) gave {result:?}"
        ))
    }
}

fn soak_runtime() -> Runtime {
    Runtime::builder()
        .config(Config {
            max_concurrency: CONCURRENCY as u32,
            ..Config::default()
        })
        // Refuses another tenant's record, as a real host function would.
        .host_fn("tenant.record", |call| async move {
            let tenant = call.args["tenant"].as_str().unwrap_or_default();
            call.context.ensure_tenant(tenant)?;
            let n = call.args["n"]
                .as_u64()
                .ok_or_else(|| HostFnError::new("n must be a number"))?;
            Ok(json!({ "tenant": tenant, "n": n * 3 }))
        })
        .build()
        .expect("runtime starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_executions_from_a_hundred_tenants() {
    let total = executions();
    let sample_every = total / 20;
    let runtime = soak_runtime();
    let mut started = Instant::now();

    let mut samples: Vec<(usize, u64)> = Vec::new();
    let mut wrong: Vec<String> = Vec::new();
    let mut wrong_count = 0usize;
    let mut note = |result: Result<Result<(), String>, tokio::task::JoinError>| {
        let problem = match result {
            Ok(Ok(())) => return,
            Ok(Err(problem)) => problem,
            Err(error) => format!("an execution task failed: {error}"),
        };
        wrong_count += 1;
        // Keep the first few; the count says how many there were.
        if wrong.len() < 20 {
            wrong.push(problem);
        }
    };

    // Finished tasks are reaped as the run goes, so the harness holds nothing in
    // proportion to the number of executions.
    let mut running = tokio::task::JoinSet::new();
    for i in 0..WARM_UP + total {
        while running.len() >= CONCURRENCY {
            note(running.join_next().await.expect("a running task"));
        }
        if i == WARM_UP {
            while let Some(done) = running.join_next().await {
                note(done);
            }
            eprintln!(
                "soak: warm-up of {WARM_UP} executions took {:.1} s, RSS {:.1} MiB",
                started.elapsed().as_secs_f64(),
                rss_bytes() as f64 / MIB as f64
            );
            started = Instant::now();
        }
        let measured = i.saturating_sub(WARM_UP);
        if i > WARM_UP && measured % sample_every == 0 {
            // Sampled at rest (nothing running), so every sample measures the same
            // state: what the run has left behind, not what is in flight.
            while let Some(done) = running.join_next().await {
                note(done);
            }
            pool_at_rest(&runtime).await;
            let rss = rss_bytes();
            eprintln!(
                "soak: {measured:>9} executions  {:>8.1} s  RSS {:>7.1} MiB",
                started.elapsed().as_secs_f64(),
                rss as f64 / MIB as f64
            );
            samples.push((measured, rss));
        }
        let runtime = runtime.clone();
        running.spawn(async move { run_one(&runtime, i).await });
    }
    while let Some(done) = running.join_next().await {
        note(done);
    }
    let duration = started.elapsed();
    pool_at_rest(&runtime).await;
    let rss = rss_bytes();
    samples.push((total, rss));
    eprintln!(
        "soak: {total:>9} executions  {:>8.1} s  RSS {:>7.1} MiB (end)",
        duration.as_secs_f64(),
        rss as f64 / MIB as f64
    );

    let metrics = runtime.metrics().await;
    eprintln!(
        "soak: {total} executions in {:.1} s ({:.0}/s); {metrics:?}",
        duration.as_secs_f64(),
        total as f64 / duration.as_secs_f64()
    );

    assert!(
        wrong.is_empty(),
        "{wrong_count} of {total} executions gave a wrong result; the first ones:\n{}",
        wrong.join("\n")
    );

    let all = WARM_UP + total;
    let count = |kind: Kind| (0..all).filter(|&i| kind_of(i) == kind).count() as u64;
    assert_eq!(metrics.executions_total, all as u64);
    assert_eq!(
        metrics
            .errors_by_kind
            .get("exception")
            .copied()
            .unwrap_or(0),
        count(Kind::Throws)
    );
    assert_eq!(
        metrics.errors_by_kind.get("timeout").copied().unwrap_or(0),
        count(Kind::Spins)
    );
    assert_eq!(
        metrics
            .errors_by_kind
            .get("memory_limit")
            .copied()
            .unwrap_or(0),
        count(Kind::Hogs)
    );
    assert_eq!(
        metrics.cache.entries, 5,
        "the compile cache grew with the run"
    );

    // The pool at rest: every instance made was destroyed or is ready.
    let pool = pool_at_rest(&runtime).await;
    assert_eq!((pool.in_use, pool.waiting), (0, 0), "{pool:?}");
    assert_eq!(pool.created, pool.destroyed + pool.available, "{pool:?}");
    assert_eq!(pool.errors, 0, "{pool:?}");

    // RSS: from the sample at 10% of the run to the last.
    let baseline_at = total / 10;
    let (at, baseline) = samples
        .iter()
        .copied()
        .find(|&(i, _)| i >= baseline_at)
        .expect("a sample at 10% of the run");
    let growth = rss as f64 / baseline as f64 - 1.0;
    eprintln!(
        "soak: RSS {:.1} MiB after {at} executions, {:.1} MiB after {total}: {:+.1}%",
        baseline as f64 / MIB as f64,
        rss as f64 / MIB as f64,
        growth * 100.0
    );
    assert!(
        growth <= MAX_GROWTH,
        "RSS grew {:.1}% between execution {at} and the end ({total}); samples: {samples:?}",
        growth * 100.0
    );
}
