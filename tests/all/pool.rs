//! The instance pool: single-use instances, ready instances refreshed by age, callers
//! beyond the concurrency cap waiting in order, and stats that balance.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use jsruntime::{CancellationToken, Config, ErrorKind, ExecRequest, PoolStats, Runtime};

fn runtime(max_concurrency: u32, prewarm: u32, max_idle_age: Duration) -> Runtime {
    let mut config = Config::default();
    config.max_concurrency = max_concurrency;
    config.prewarm = prewarm;
    config.max_idle_age = max_idle_age;
    Runtime::new(config).expect("runtime starts")
}

/// Waits until no execution runs or waits (background refills may still be in flight).
async fn at_rest(runtime: &Runtime) -> PoolStats {
    for _ in 0..200 {
        let stats = runtime.pool_stats();
        if stats.in_use == 0 && stats.waiting == 0 {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the pool never came to rest: {:?}", runtime.pool_stats());
}

/// The pool's stats once `done` holds of them (background work takes its time on a
/// loaded machine), or after 10 s, whatever they are then.
async fn eventually(runtime: &Runtime, done: impl Fn(&PoolStats) -> bool) -> PoolStats {
    let started = Instant::now();
    loop {
        let stats = runtime.pool_stats();
        if done(&stats) || started.elapsed() > Duration::from_secs(10) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A script that holds its slot for about `ms` milliseconds of wall time.
fn busy_for(ms: u64) -> String {
    format!("const until = Date.now() + {ms}; while (Date.now() < until) {{}} {ms}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_instance_is_never_handed_out_again() {
    let runtime = runtime(8, 2, Duration::from_secs(60));
    let mut seen = HashSet::new();
    for i in 0..30 {
        let execution = runtime
            .execute_detailed(&ExecRequest::source(format!("{i} + 1")))
            .await;
        assert_eq!(execution.result, Ok(serde_json::json!(i + 1)));
        assert!(execution.stats.instance_id > 0);
        assert!(
            seen.insert(execution.stats.instance_id),
            "instance {} reused",
            execution.stats.instance_id
        );
    }
    // Failed executions (a trapped or interrupted instance) are never reused either.
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let source = if i % 2 == 0 {
                    "while (true) {}"
                } else {
                    "throw new Error('x')"
                };
                let request = ExecRequest::source(source).fuel(100_000);
                runtime.execute_detailed(&request).await
            })
        })
        .collect();
    for handle in handles {
        let execution = handle.await.expect("task");
        assert!(execution.result.is_err());
        assert!(
            seen.insert(execution.stats.instance_id),
            "instance {} reused",
            execution.stats.instance_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_instances_past_their_age_are_replaced() {
    // The shortest age accepted, so replacements come quickly.
    let runtime = runtime(4, 2, jsruntime::MIN_IDLE_AGE);
    let stats = eventually(&runtime, |s| s.created >= 5 && s.destroyed >= 3).await;
    // Two were made at start and replaced several times since, without any execution.
    assert!(stats.created >= 5, "{stats:?}");
    assert!(stats.destroyed >= 3, "{stats:?}");
    assert!(stats.available <= 2, "{stats:?}");
    assert_eq!(
        runtime
            .execute(&ExecRequest::source("1 + 1"))
            .await
            .map(|o| o.value),
        Ok(serde_json::json!(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_instances_are_used_and_stats_balance_at_rest() {
    let runtime = runtime(4, 3, Duration::from_secs(60));
    let stats = eventually(&runtime, |s| s.available == 3).await;
    assert_eq!(stats.available, 3, "prewarmed: {stats:?}");
    let handles: Vec<_> = (0..40)
        .map(|i| {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                runtime
                    .execute(&ExecRequest::source(format!("{i} * 2")))
                    .await
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(
            handle.await.expect("task").map(|o| o.value),
            Ok(serde_json::json!(i * 2))
        );
    }
    let stats = at_rest(&runtime).await;
    assert_eq!(
        stats.created,
        stats.destroyed + stats.available,
        "{stats:?}"
    );
    assert_eq!(stats.errors, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_beyond_the_cap_wait_in_order() {
    let runtime = runtime(1, 0, Duration::from_secs(60));
    let blocker = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let request = ExecRequest::source(busy_for(500))
                .fuel(u64::MAX / 2)
                .timeout(Duration::from_secs(5));
            runtime.execute(&request).await
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut waiters = Vec::new();
    for i in 0..5u64 {
        let waiter = runtime.clone();
        waiters.push(tokio::spawn(async move {
            waiter
                .execute_detailed(
                    &ExecRequest::source(format!("{i}")).timeout(Duration::from_secs(5)),
                )
                .await
        }));
        // Arrival order is the spawn order: the next caller is spawned only once this
        // one waits (a spawned task may start late on a loaded machine).
        let arrived = Instant::now();
        while runtime.pool_stats().waiting < i + 1 && arrived.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert!(
        runtime.pool_stats().waiting >= 4,
        "{:?}",
        runtime.pool_stats()
    );
    assert!(blocker.await.expect("task").is_ok());
    // Nothing is instantiated ahead (prewarm 0): each caller's instance is made when it
    // gets the slot, so instance ids give the order in which the callers were served
    // (the order their results come back in is a race between finished tasks).
    let mut served = Vec::new();
    for (i, waiter) in waiters.into_iter().enumerate() {
        let execution = waiter.await.expect("task");
        assert_eq!(execution.result, Ok(serde_json::json!(i)));
        served.push((execution.stats.instance_id, i));
    }
    served.sort();
    let order: Vec<usize> = served.into_iter().map(|(_, i)| i).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_while_waiting_leaves_no_trace() {
    let runtime = runtime(1, 0, Duration::from_secs(60));
    let blocker = {
        let runtime = runtime.clone();
        tokio::spawn(async move { runtime.execute(&ExecRequest::source(busy_for(300))).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;

    let started = Instant::now();
    let timed_out = runtime
        .execute(&ExecRequest::source("1").timeout(Duration::from_millis(50)))
        .await
        .expect_err("no slot within 50 ms");
    assert_eq!(timed_out.kind(), ErrorKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    let token = CancellationToken::new();
    let canceller = {
        let token = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            token.cancel();
        })
    };
    let cancelled = runtime
        .execute(
            &ExecRequest::source("1")
                .timeout(Duration::from_secs(5))
                .cancel_token(token),
        )
        .await
        .expect_err("cancelled while waiting");
    assert_eq!(cancelled.kind(), ErrorKind::Cancelled);
    canceller.await.expect("task");

    // A caller whose future is dropped while waiting.
    let dropped = tokio::time::timeout(
        Duration::from_millis(20),
        runtime.execute(&ExecRequest::source("1")),
    )
    .await;
    assert!(dropped.is_err());

    assert_eq!(runtime.pool_stats().waiting, 0);
    assert!(blocker.await.expect("task").is_ok());
    let stats = at_rest(&runtime).await;
    assert_eq!(stats.in_use, 0);
    assert_eq!(
        stats.created,
        stats.destroyed + stats.available,
        "{stats:?}"
    );
    // Only the executions that got a slot made an instance (start-up check + blocker).
    assert_eq!(stats.created, 2, "{stats:?}");
    assert_eq!(
        runtime
            .execute(&ExecRequest::source("2 + 2"))
            .await
            .map(|o| o.value),
        Ok(serde_json::json!(4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_fails_for_lack_of_allocator_slots() {
    let runtime = runtime(3, 2, Duration::from_secs(60));
    let handles: Vec<_> = (0..120)
        .map(|i| {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let request = ExecRequest::source(format!("[{i}].map(x => x + 1)[0]"))
                    .timeout(Duration::from_secs(30));
                runtime.execute(&request).await
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(
            handle.await.expect("task").map(|o| o.value),
            Ok(serde_json::json!(i + 1))
        );
    }
    assert_eq!(at_rest(&runtime).await.errors, 0);
}

/// Whether the kernel has `PAGEMAP_SCAN` (Linux 6.7+), which the slot reset, and the
/// discarding of a large execution's memory before it, depend on.
fn kernel_scans_pagemap() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    matches!((major, minor), (Some(major), Some(minor)) if (major, minor) >= (6, 7))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_execution_leaves_its_slot_as_fresh_as_the_snapshot() {
    // One slot, so every execution runs in the one before it used.
    let runtime = runtime(1, 0, Duration::from_secs(60));
    let run = |source: &'static str| {
        let runtime = runtime.clone();
        async move {
            let value = runtime
                .execute(&ExecRequest::source(source).timeout(Duration::from_secs(30)))
                .await
                .map(|o| o.value);
            let stats = eventually(&runtime, |s| s.in_use == 0 && s.destroyed == s.created).await;
            (value, stats)
        }
    };
    let (value, small) = run("1 + 1").await;
    assert_eq!(value, Ok(serde_json::json!(2)));
    // Lots of objects (garbage collected on the way, which writes to the snapshot's whole
    // heap), a grown memory, and a global left behind.
    let (value, large) = run("globalThis.leaked = 'x'.repeat(1 << 20); \
         let a = []; for (let i = 0; i < 40000; i++) a.push({ i, s: 'k' + i }); a.length")
    .await;
    assert_eq!(value, Ok(serde_json::json!(40000)));
    let (value, after) = run("typeof leaked === 'undefined' && typeof a === 'undefined' \
         && [1, 2, 3].map((x) => x * 2).join() === '2,4,6' \
         && JSON.stringify({ k: [1, 'two'] }) === '{\"k\":[1,\"two\"]}'")
    .await;
    assert_eq!(
        value,
        Ok(serde_json::json!(true)),
        "the next execution sees the snapshot"
    );
    const BUDGET: u64 = 256 * 1024;
    for stats in [&small, &large, &after] {
        assert!(stats.resident_bytes <= BUDGET, "{stats:?}");
    }
    if kernel_scans_pagemap() {
        // A short execution's pages stay resident for the next; a large one's memory was
        // given back whole, where the reset alone would have kept a full budget of it.
        assert!(small.resident_bytes > 0, "{small:?}");
        assert_eq!(large.resident_bytes, 0, "{large:?}");
        assert!(after.resident_bytes > 0, "{after:?}");
    }
}
