//! Deterministic executions: the same request gives the same result and logs, with
//! virtual time and seeded randomness; different seeds differ.

use std::time::{Duration, Instant};

use jsruntime::{ExecRequest, Runtime, DETERMINISTIC_EPOCH_MS};
use serde_json::json;

use crate::common::run_ok;

/// Reads every source of nondeterminism a script has.
const NOISY: &str = r#"(async () => {
    const seen = [Math.random(), Date.now(), performance.now(), new Date().toISOString()];
    console.log("random", Math.random());
    await new Promise((done) => setTimeout(done, 1500));
    seen.push(Date.now(), performance.now(), performance.timeOrigin);
    const order = [];
    await Promise.all([
        host.sleep({ ms: 30, value: "slow" }).then((v) => order.push(v)),
        host.sleep({ ms: 0, value: "fast" }).then((v) => order.push(v)),
    ]);
    seen.push(order, context.deadlineMs);
    console.log("done", JSON.stringify(seen));
    return seen;
})()"#;

fn runtime() -> Runtime {
    Runtime::builder()
        .host_fn_promise("sleep", |call| async move {
            let ms = call.args["ms"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(call.args["value"].clone())
        })
        .build()
        .expect("runtime")
}

#[tokio::test]
async fn the_same_seed_gives_the_same_result_and_logs() {
    let runtime = runtime();
    let request = ExecRequest::source(NOISY).deterministic(7);
    let first = run_ok(&runtime, request.clone()).await;
    for _ in 0..3 {
        let again = run_ok(&runtime, request.clone()).await;
        assert_eq!(again.value, first.value);
        assert_eq!(again.logs, first.logs);
    }
    let other = run_ok(&runtime, ExecRequest::source(NOISY).deterministic(8)).await;
    assert_ne!(
        other.value[0], first.value[0],
        "another seed draws other numbers"
    );
}

#[tokio::test]
async fn time_is_virtual_and_timers_fire_at_once_in_order() {
    let runtime = runtime();
    let started = Instant::now();
    let outcome = run_ok(&runtime, ExecRequest::source(NOISY).deterministic(1)).await;
    // The 1.5 s timer fired at once; the 30 ms host call really ran.
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    let seen = outcome.value;
    assert_eq!(seen[1], json!(DETERMINISTIC_EPOCH_MS));
    assert_eq!(seen[2], json!(0));
    assert_eq!(seen[3], json!("2025-01-01T00:00:00.000Z"));
    assert_eq!(seen[4], json!(DETERMINISTIC_EPOCH_MS + 1500));
    assert_eq!(seen[5], json!(1500));
    assert_eq!(seen[6], json!(DETERMINISTIC_EPOCH_MS));
    // Calls settle in the order they started, whichever ended first.
    assert_eq!(seen[7], json!(["slow", "fast"]));
}

#[tokio::test]
async fn without_a_seed_time_and_randomness_are_real() {
    let runtime = runtime();
    let a = run_ok(&runtime, ExecRequest::source("[Math.random(), Date.now()]")).await;
    let b = run_ok(&runtime, ExecRequest::source("[Math.random(), Date.now()]")).await;
    assert_ne!(a.value[0], b.value[0]);
    assert!(a.value[1].as_u64().unwrap_or(0) > DETERMINISTIC_EPOCH_MS);
}
