//! The compile cache, the metrics snapshot and the `metrics` facade.

use std::time::Duration;

use jsruntime::{Config, ExecRequest, Runtime};

fn runtime_with(config: Config) -> Runtime {
    Runtime::new(config).expect("runtime starts")
}

fn runtime() -> Runtime {
    runtime_with(Config::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compilation_cache_misses_first_then_hits() {
    let runtime = runtime();
    let first = runtime
        .execute(&ExecRequest::source("1 + 1"))
        .await
        .expect("runs");
    assert!(!first.stats.cache_hit);
    let stats = runtime.cache_stats().await;
    assert_eq!((stats.misses, stats.hits, stats.entries), (1, 0, 1));
    assert!(stats.bytes > 0);

    let second = runtime
        .execute(&ExecRequest::source("1 + 1"))
        .await
        .expect("runs");
    assert!(second.stats.cache_hit);
    let stats = runtime.cache_stats().await;
    assert_eq!((stats.misses, stats.hits), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_compile_once() {
    let runtime = runtime();
    let source = "const xs = [3, 1, 2]; xs.sort().join(',')";
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let runtime = runtime.clone();
            tokio::spawn(async move { runtime.execute(&ExecRequest::source(source)).await })
        })
        .collect();
    for handle in handles {
        assert_eq!(
            handle.await.expect("task").map(|o| o.value),
            Ok(serde_json::json!("1,2,3"))
        );
    }
    let stats = runtime.cache_stats().await;
    assert_eq!(stats.misses, 1, "{stats:?}");
    assert_eq!(stats.hits, 7, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_script_hits_more_than_99_percent() {
    let runtime = runtime();
    for _ in 0..300 {
        runtime
            .execute(&ExecRequest::source("'repeat'.length"))
            .await
            .expect("runs");
    }
    let stats = runtime.cache_stats().await;
    let rate = stats.hits as f64 / (stats.hits + stats.misses) as f64;
    assert!(rate > 0.99, "hit rate {rate} ({stats:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded_by_bytes_and_keyed_by_name_and_source() {
    let runtime = runtime_with({
        let mut value = Config::default();
        value.cache_bytes = 16 * 1024;
        value
    });
    for i in 0..200 {
        let source = format!(
            "const values{i} = [{i}, {i} + 1, {i} + 2]; values{i}.reduce((a, b) => a + b, 0)"
        );
        runtime
            .execute(&ExecRequest::source(source))
            .await
            .expect("runs");
    }
    let stats = runtime.cache_stats().await;
    assert!(stats.bytes <= 16 * 1024, "{stats:?}");
    assert!(stats.entries < 200, "{stats:?}");

    let runtime = runtime_with(Config::default());
    runtime
        .execute(&ExecRequest::source("1").name("a.js"))
        .await
        .expect("runs");
    runtime
        .execute(&ExecRequest::source("1").name("b.js"))
        .await
        .expect("runs");
    assert_eq!(runtime.cache_stats().await.misses, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_scripts_skip_the_cache_and_syntax_errors_are_not_cached_as_bytecode() {
    let runtime = runtime();
    let script = runtime
        .compile("rule.js", "40 + 2")
        .await
        .expect("compiles");
    assert_eq!(script.name(), "rule.js");
    assert!(script.bytecode_len() > 0);
    for _ in 0..5 {
        let outcome = runtime
            .execute(&ExecRequest::script(&script))
            .await
            .expect("runs");
        assert_eq!(outcome.value, serde_json::json!(42));
        assert!(outcome.stats.cache_hit);
    }
    assert!(runtime.compile("bad.js", "let = ;").await.is_err());
    assert_eq!(runtime.cache_stats().await.entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_snapshot_counts_outcomes_fuel_and_latency() {
    let runtime = runtime();
    for _ in 0..3 {
        runtime
            .execute(&ExecRequest::source("1 + 1"))
            .await
            .expect("runs");
    }
    let timeout = ExecRequest::source("while (true) {}")
        .fuel(u64::MAX / 2)
        .timeout(Duration::from_millis(30));
    assert!(runtime.execute(&timeout).await.is_err());
    assert!(runtime
        .execute(&ExecRequest::source("throw new Error('x')"))
        .await
        .is_err());

    let metrics = runtime.metrics().await;
    assert_eq!(metrics.executions_total, 5);
    assert_eq!(metrics.timeouts_total, 1);
    assert_eq!(metrics.errors_by_kind.get("timeout"), Some(&1));
    assert_eq!(metrics.errors_by_kind.get("exception"), Some(&1));
    assert_eq!(metrics.errors_by_kind.len(), 2);
    assert!(metrics.fuel_used_total > 0);
    assert!(metrics.wall_time.p50_us > 0);
    assert!(
        metrics.wall_time.p99_us >= 30_000,
        "{:?}",
        metrics.wall_time
    );
    assert!(metrics.wall_time.p50_us <= metrics.wall_time.p90_us);
    assert_eq!(metrics.cache.misses, 3);
    assert!(metrics.pool.created >= 5);
}

#[test]
fn metrics_are_published_through_the_facade() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        tokio.block_on(async {
            let runtime = runtime();
            runtime
                .execute(&ExecRequest::source("1"))
                .await
                .expect("runs");
            assert!(runtime
                .execute(&ExecRequest::source("throw 1"))
                .await
                .is_err());
            runtime.metrics().await;
        });
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str, label: Option<(&str, &str)>| {
        snapshot.iter().find(|(key, _, _, _)| {
            key.key().name() == name
                && label
                    .is_none_or(|(k, v)| key.key().labels().any(|l| l.key() == k && l.value() == v))
        })
    };
    assert!(matches!(
        find("jsruntime_executions_total", Some(("outcome", "ok"))),
        Some((_, _, _, DebugValue::Counter(1)))
    ));
    assert!(matches!(
        find("jsruntime_executions_total", Some(("outcome", "exception"))),
        Some((_, _, _, DebugValue::Counter(1)))
    ));
    assert!(
        matches!(find("jsruntime_fuel_used_total", None), Some((_, _, _, DebugValue::Counter(n))) if *n > 0)
    );
    assert!(matches!(
        find("jsruntime_execution_seconds", None),
        Some((_, _, _, DebugValue::Histogram(_)))
    ));
    assert!(find("jsruntime_pool_created_total", None).is_some());
    assert!(find("jsruntime_cache_misses_total", None).is_some());
}
