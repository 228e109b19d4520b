//! What is refused before anything starts: configurations and requests out of range.

use std::time::Duration;

use jsruntime::{Config, ErrorKind, ExecRequest, Runtime, SetupError, MAX_JSON_DEPTH};
use serde_json::json;

use crate::common::{expect_kind, run, run_request, runtime};

fn refused(config: Config) -> String {
    match Runtime::new(config) {
        Err(SetupError::InvalidConfig(message)) => message,
        Err(other) => panic!("expected InvalidConfig, got {other:?}"),
        Ok(_) => panic!("the configuration should be refused"),
    }
}

#[test]
fn refused_configurations_start_nothing_and_leak_nothing() {
    // Each refused build used to leave a pool thread, the engine and its pooling
    // reservation behind; after about 240 no runtime could be built at all.
    let pool_threads = || {
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                    .filter(|name| name.trim() == "jsruntime-pool")
                    .count()
            })
            .unwrap_or(0)
    };
    let before = pool_threads();
    for _ in 0..300 {
        let mut config = Config::default();
        config.guest_threads = 0;
        assert!(refused(config).contains("guest_threads"));
    }
    // Other tests of this binary start and stop runtimes meanwhile; 300 leaked threads
    // would stand out far beyond that.
    let after = pool_threads();
    assert!(
        after < before + 20,
        "pool threads: {before} before, {after} after"
    );
    let runtime = Runtime::new(Config::default()).expect("a valid runtime still starts");
    drop(runtime);
}

#[test]
fn out_of_range_settings_are_refused_with_their_name() {
    let mut config = Config::default();
    config.max_idle_age = Duration::ZERO;
    assert!(refused(config).contains("max_idle_age"));
    let mut config = Config::default();
    config.max_idle_age = Duration::from_millis(1);
    assert!(refused(config).contains("max_idle_age"));
    let mut config = Config::default();
    config.limits.timeout = Duration::MAX;
    assert!(refused(config).contains("timeout"));
}

#[tokio::test]
async fn a_request_with_an_unrepresentable_timeout_is_an_invalid_request() {
    let rt = runtime();
    for timeout in [Duration::MAX, Duration::from_secs(u64::MAX / 4)] {
        let result = run_request(&rt, ExecRequest::source("1").timeout(timeout)).await;
        let error = expect_kind(result, ErrorKind::InvalidRequest);
        assert!(error.to_string().contains("timeout"), "{error}");
    }
    assert_eq!(run(&rt, "2 + 2").await, Ok(json!(4)));
}

#[tokio::test]
async fn a_result_nested_too_deep_is_output_depth_not_internal() {
    let rt = runtime();
    let nested = |depth: usize| format!("let v = 1; for (let i = 0; i < {depth}; i++) v = [v]; v");
    let value = run(&rt, &nested(MAX_JSON_DEPTH))
        .await
        .expect("deep but allowed");
    assert_eq!(value.to_string().len(), 2 * MAX_JSON_DEPTH + 1);
    for depth in [MAX_JSON_DEPTH + 1, 128, 1_000] {
        let error = expect_kind(run(&rt, &nested(depth)).await, ErrorKind::OutputDepth);
        assert!(error.to_string().contains("100 levels"), "{error}");
    }
}
