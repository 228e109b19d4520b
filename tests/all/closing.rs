//! `Runtime::close` with executions waiting in host functions, and a `close` that is
//! dropped half-way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsruntime::{ErrorKind, ExecError, ExecRequest, Runtime};
use serde_json::json;
use tokio::sync::Notify;

use crate::common::PROMPT;

/// A runtime whose `wait` host function blocks for a minute, and a notification of each
/// call starting.
fn runtime_with_a_blocking_host_fn() -> (Runtime, Arc<Notify>) {
    let started = Arc::new(Notify::new());
    let notify = Arc::clone(&started);
    let runtime = Runtime::builder()
        .host_fn("wait", move |_call| {
            let notify = Arc::clone(&notify);
            async move {
                notify.notify_one();
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(json!(null))
            }
        })
        .build()
        .expect("runtime");
    (runtime, started)
}

fn waiting_request() -> ExecRequest {
    ExecRequest::source("console.log('waiting'); host.call('wait')")
        .timeout(Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_executions_waiting_in_a_host_function_with_its_own_error() {
    let (runtime, started) = runtime_with_a_blocking_host_fn();
    let running = {
        let runtime = runtime.clone();
        tokio::spawn(async move { runtime.execute_detailed(&waiting_request()).await })
    };
    started.notified().await;
    let closing = Instant::now();
    runtime.close(Duration::from_millis(100)).await;
    assert!(
        closing.elapsed() < PROMPT,
        "close took {:?}",
        closing.elapsed()
    );
    let execution = running.await.expect("the execution task");
    assert_eq!(execution.result, Err(ExecError::Closed));
    assert!(!ExecError::Closed
        .to_string()
        .contains("cancelled by the caller"));
    assert_eq!(
        execution.logs.len(),
        1,
        "logs are kept: {:?}",
        execution.logs
    );
    assert_eq!(execution.stats.host_calls, 1);
    let after = runtime.execute(&ExecRequest::source("1")).await;
    assert_eq!(after.map_err(|e| e.kind()).err(), Some(ErrorKind::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_dropped_half_way_is_finished_by_the_next() {
    let (runtime, started) = runtime_with_a_blocking_host_fn();
    let running = {
        let runtime = runtime.clone();
        tokio::spawn(async move { runtime.execute_detailed(&waiting_request()).await })
    };
    started.notified().await;
    // The caller's own timeout drops the first close while it waits out its grace.
    let first = tokio::time::timeout(
        Duration::from_millis(50),
        runtime.close(Duration::from_secs(20)),
    )
    .await;
    assert!(first.is_err(), "the first close is still waiting");
    let created = runtime.pool_stats().created;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        runtime.pool_stats().created,
        created,
        "no pre-warming while closing"
    );
    let second = Instant::now();
    runtime.close(Duration::from_millis(100)).await;
    assert!(second.elapsed() < PROMPT, "{:?}", second.elapsed());
    // The second close finished the shutdown: the waiting execution was stopped.
    let execution = tokio::time::timeout(PROMPT, running)
        .await
        .expect("the execution ended with the shutdown")
        .expect("the execution task");
    assert_eq!(execution.result, Err(ExecError::Closed));
    // Idempotent from here on.
    let third = Instant::now();
    runtime.close(Duration::from_secs(5)).await;
    assert!(
        third.elapsed() < Duration::from_millis(500),
        "{:?}",
        third.elapsed()
    );
}
