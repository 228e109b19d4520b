//! Promise host functions and timers: concurrency, limits, the deadline and cancellation
//! while a guest waits, and what a waiting guest costs (no fuel, no tokio worker).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsruntime::{CancellationToken, ErrorKind, ExecRequest, HostFnError, Runtime};
use serde_json::json;

use crate::common::{assert_still_works, expect_kind, run_ok, run_request, PROMPT};

/// A runtime whose `sleep({ms, value})` resolves to `value` after `ms` milliseconds,
/// as a Promise function, and `blockingSleep` likewise as a blocking one.
fn sleepy_runtime() -> Runtime {
    async fn sleep(args: serde_json::Value) -> Result<serde_json::Value, HostFnError> {
        let ms = args["ms"]
            .as_u64()
            .ok_or_else(|| HostFnError::new("ms must be a number"))?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(args["value"].clone())
    }
    Runtime::builder()
        .host_fn_promise("sleep", |call| sleep(call.args))
        .host_fn("blockingSleep", |call| sleep(call.args))
        .host_fn_promise("fail", |_call| async {
            Err(HostFnError::new("the service said no"))
        })
        .build()
        .expect("runtime")
}

#[tokio::test]
async fn three_200_ms_calls_under_promise_all_overlap() {
    let runtime = sleepy_runtime();
    let script = "Promise.all([1, 2, 3].map((value) => host.sleep({ ms: 200, value })))";
    let started = Instant::now();
    let outcome = run_ok(&runtime, ExecRequest::source(script)).await;
    let took = started.elapsed();
    assert_eq!(outcome.value, json!([1, 2, 3]));
    assert_eq!(outcome.stats.host_calls, 3);
    // Concurrent: about 200 ms. In a row they would take 600 ms.
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(
        took < Duration::from_millis(450),
        "the calls did not overlap: {took:?}"
    );
}

#[tokio::test]
async fn promises_settle_in_the_order_calls_end_and_errors_reject() {
    let runtime = sleepy_runtime();
    let script = r#"(async () => {
        const order = [];
        const slow = host.sleep({ ms: 150, value: "slow" }).then((v) => order.push(v));
        const fast = host.sleep({ ms: 0, value: "fast" }).then((v) => order.push(v));
        const failed = await host.fail().then(() => "resolved", (e) => [e instanceof Error, e.message]);
        await Promise.all([slow, fast]);
        return [order, failed, host.blockingSleep({ ms: 1, value: "blocking" })];
    })()"#;
    let outcome = run_ok(&runtime, ExecRequest::source(script)).await;
    assert_eq!(
        outcome.value,
        json!([["fast", "slow"], [true, "the service said no"], "blocking"])
    );
}

#[tokio::test]
async fn calls_past_the_in_flight_cap_wait_for_room() {
    static RUNNING: AtomicU32 = AtomicU32::new(0);
    static MOST: AtomicU32 = AtomicU32::new(0);
    let runtime = Runtime::builder()
        .host_fn_promise("work", |call| async move {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MOST.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(10)).await;
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            Ok(call.args)
        })
        .build()
        .expect("runtime");
    let script = "Promise.all(Array.from({ length: 12 }, (_, i) => host.work(i)))";
    let outcome = run_ok(&runtime, ExecRequest::source(script).calls_in_flight(3)).await;
    assert_eq!(outcome.value, json!((0..12).collect::<Vec<_>>()));
    assert_eq!(MOST.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn every_promise_call_counts_against_the_host_call_limit() {
    let runtime = sleepy_runtime();
    let script =
        "Promise.all(Array.from({ length: 10 }, (_, i) => host.sleep({ ms: 1, value: i })))";
    expect_kind(
        run_request(&runtime, ExecRequest::source(script).host_calls(9)).await,
        ErrorKind::HostCallLimit,
    );
    let outcome = run_ok(&runtime, ExecRequest::source(script).host_calls(10)).await;
    assert_eq!(outcome.stats.host_calls, 10);
}

#[tokio::test]
async fn the_deadline_and_cancellation_stop_a_waiting_guest_at_once() {
    let runtime = sleepy_runtime();
    let waits_on_a_call = "host.sleep({ ms: 60000, value: 1 })";
    let waits_on_a_timer = "new Promise((done) => setTimeout(done, 60000))";
    for script in [waits_on_a_call, waits_on_a_timer] {
        let started = Instant::now();
        let request = ExecRequest::source(script).timeout(Duration::from_millis(200));
        expect_kind(run_request(&runtime, request).await, ErrorKind::Timeout);
        assert!(started.elapsed() < Duration::from_millis(200) + PROMPT);

        let token = CancellationToken::new();
        let cancel = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        });
        let started = Instant::now();
        let request = ExecRequest::source(script)
            .timeout(Duration::from_secs(60))
            .cancel_token(token);
        expect_kind(run_request(&runtime, request).await, ErrorKind::Cancelled);
        assert!(started.elapsed() < PROMPT);
    }
    assert_still_works(&runtime).await;
}

#[tokio::test]
async fn a_call_still_running_when_the_result_settles_is_dropped() {
    struct Dropped(Arc<AtomicU32>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&dropped);
    let runtime = Runtime::builder()
        .host_fn_promise("forever", move |_call| {
            let guard = Dropped(Arc::clone(&seen));
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
                Ok(json!(null))
            }
        })
        .build()
        .expect("runtime");
    let outcome = run_ok(&runtime, ExecRequest::source("host.forever(); 'done'")).await;
    assert_eq!(outcome.value, json!("done"));
    // The relay drops the future as soon as the execution's side is gone.
    let deadline = Instant::now() + PROMPT;
    while dropped.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn waiting_uses_no_fuel() {
    let runtime = sleepy_runtime();
    let trivial = run_ok(&runtime, ExecRequest::source("Promise.resolve(1)")).await;
    let waited = run_ok(
        &runtime,
        ExecRequest::source(
            "Promise.all([host.sleep({ ms: 300, value: 1 }), new Promise((r) => setTimeout(r, 300))])",
        ),
    )
    .await;
    // Building `host` and setting a timer cost a little; 300 ms of spinning would cost
    // hundreds of millions.
    assert!(
        waited.stats.fuel_used < trivial.stats.fuel_used + 2_000_000,
        "waiting used fuel: {} against {}",
        waited.stats.fuel_used,
        trivial.stats.fuel_used
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_waiting_guest_pins_no_tokio_worker() {
    let runtime = sleepy_runtime();
    // One worker: if the guest's wait blocked it, the ticker could not tick.
    let ticks = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&ticks);
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let script =
        "Promise.all([host.sleep({ ms: 300, value: 1 }), new Promise((r) => setTimeout(r, 300))])";
    run_ok(&runtime, ExecRequest::source(script)).await;
    ticker.abort();
    assert!(
        ticks.load(Ordering::SeqCst) >= 5,
        "the other task made no progress"
    );
}

#[tokio::test]
async fn timers_run_in_order_and_pending_ones_end_with_the_result() {
    let runtime = sleepy_runtime();
    let script = r#"new Promise((done) => {
        const log = [];
        setTimeout(() => log.push("b"), 20);
        setTimeout(() => log.push("a"), 0);
        const every = setInterval(() => { log.push("i"); if (log.length === 4) { clearInterval(every); done(log); } }, 5);
        setTimeout(() => console.log("never printed"), 10000);
    })"#;
    let outcome = run_ok(&runtime, ExecRequest::source(script)).await;
    let log: Vec<String> = serde_json::from_value(outcome.value).expect("strings");
    assert_eq!(log[0], "a");
    assert_eq!(log.len(), 4);
    assert!(outcome.logs.is_empty());
}
