//! Host functions: where they run (the caller's task, with its tokio runtime, I/O,
//! `spawn` and task-locals, whether or not the script moved to a guest thread), what a
//! panic does, what a script may pass them, and what they may not do (call `execute`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jsruntime::{
    CancellationToken, Config, ErrorKind, ExecError, ExecRequest, HostFnError, Runtime,
    MAX_JSON_DEPTH,
};
use serde_json::json;

use crate::common::{assert_still_works, expect_kind, PROMPT};

/// Computes for a few milliseconds first: past its first slice, so by the time it calls
/// the host it runs on a guest thread.
const BUSY: &str = "let x = 0; for (let i = 0; i < 3e5; i++) x += i;";

tokio::task_local! {
    static SERVICE_LOCAL: u32;
}

fn io_error(error: std::io::Error) -> HostFnError {
    HostFnError::new(error.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_functions_have_the_callers_io_spawn_and_task_locals_wherever_the_script_runs() {
    let runtime = Runtime::builder()
        .host_fn("net.bind", |_call| async move {
            // Needs the I/O driver of the service's runtime.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(io_error)?;
            let port = listener.local_addr().map_err(io_error)?.port();
            // Lands on the service's runtime (a guest thread's would die with it).
            let spawned = tokio::spawn(async move {
                drop(listener);
                7
            })
            .await
            .map_err(|e| HostFnError::new(e.to_string()))?;
            Ok(json!({ "port": port, "spawned": spawned }))
        })
        .host_fn("service.local", |_call| async move {
            Ok(json!(SERVICE_LOCAL.try_with(|value| *value).ok()))
        })
        .build()
        .expect("runtime");
    for script in ["", BUSY] {
        for _ in 0..20 {
            let source =
                format!("{script} const r = host.call('net.bind'); [r.spawned, r.port > 0]");
            let outcome = runtime
                .execute(&ExecRequest::source(source))
                .await
                .expect("the host function's I/O works");
            assert_eq!(outcome.value, json!([7, true]));
        }
        let source = format!("{script} host.call('service.local')");
        let value = SERVICE_LOCAL
            .scope(42, runtime.execute(&ExecRequest::source(source)))
            .await
            .expect("runs")
            .value;
        assert_eq!(
            value,
            json!(42),
            "the host function sees the caller's task-locals"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_host_function_is_one_typed_error_with_stats_inline_or_moved() {
    let runtime = Runtime::builder()
        .host_fn("db.query", |_call| async move {
            if true {
                panic!("the database driver has a bug");
            }
            Ok(json!(null))
        })
        .build()
        .expect("runtime");
    for script in ["", BUSY] {
        let source = format!("{script} try {{ host.call('db.query') }} catch (e) {{ 'caught' }}");
        let execution = runtime.execute_detailed(&ExecRequest::source(source)).await;
        match &execution.result {
            Err(ExecError::HostFnPanicked { name, message }) => {
                assert_eq!(name, "db.query");
                assert!(message.contains("database driver has a bug"), "{message}");
            }
            other => panic!("expected host_fn_panicked, got {other:?}"),
        }
        assert_eq!(execution.stats.host_calls, 1);
        assert!(execution.stats.fuel_used > 0, "{:?}", execution.stats);
        assert!(execution.stats.instance_id > 0);
    }
    assert_still_works(&runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_or_cancellation_during_a_host_call_keeps_logs_and_stats() {
    let runtime = Runtime::builder()
        .host_fn("slow", |_call| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(json!(1))
        })
        .build()
        .expect("runtime");
    let source = "console.log('before the call'); host.call('slow')";
    let started = Instant::now();
    let execution = runtime
        .execute_detailed(&ExecRequest::source(source).timeout(Duration::from_millis(200)))
        .await;
    assert_eq!(
        execution.result.as_ref().map_err(ExecError::kind).err(),
        Some(ErrorKind::Timeout)
    );
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    assert_eq!(execution.logs.len(), 1, "{:?}", execution.logs);
    assert_eq!(execution.logs[0].message, "before the call");
    assert!(execution.stats.fuel_used > 0);
    assert_eq!(execution.stats.host_calls, 1);

    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let execution = runtime
        .execute_detailed(&ExecRequest::source(source).cancel_token(token))
        .await;
    assert_eq!(
        execution.result.as_ref().map_err(ExecError::kind).err(),
        Some(ErrorKind::Cancelled)
    );
    assert_eq!(execution.logs.len(), 1, "{:?}", execution.logs);
    assert!(execution.stats.fuel_used > 0);
    // The metrics count the fuel of both (it used to be lost).
    let metrics = runtime.metrics().await;
    assert!(
        metrics.fuel_used_total > execution.stats.fuel_used,
        "{metrics:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_already_cancelled_or_past_their_deadline_run_nothing() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let runtime = Runtime::builder()
        .host_fn("side.effect", move |_call| {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(json!(null))
            }
        })
        .build()
        .expect("runtime");
    let source = "host.call('side.effect'); host.call('side.effect'); 1";
    for _ in 0..20 {
        let token = CancellationToken::new();
        token.cancel();
        let result = runtime
            .execute(&ExecRequest::source(source).cancel_token(token))
            .await;
        expect_kind(result.map(|o| o.value), ErrorKind::Cancelled);

        let past = jsruntime::ExecContext::default().with_deadline(Instant::now());
        let result = runtime
            .execute(&ExecRequest::source(source).context(past))
            .await;
        expect_kind(result.map(|o| o.value), ErrorKind::Timeout);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no host function may have run"
    );

    // A deadline that passes during the first host call: the second never starts.
    let slow_calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&slow_calls);
    let runtime = Runtime::builder()
        .host_fn("slow.effect", move |_call| {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(json!(null))
            }
        })
        .build()
        .expect("runtime");
    let source = "try { host.call('slow.effect') } catch (e) {} host.call('slow.effect'); 1";
    let result = runtime
        .execute(&ExecRequest::source(source).timeout(Duration::from_millis(100)))
        .await;
    expect_kind(result.map(|o| o.value), ErrorKind::Timeout);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(slow_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn values_json_turns_into_undefined_are_sent_as_null() {
    let runtime = Runtime::builder()
        .host_fn("echo", |call| async move { Ok(call.args) })
        .build()
        .expect("runtime");
    let source = "[host.call('echo', () => 1), host.call('echo', Symbol('s')), host.call('echo'), \
                  host.call('echo', [() => 1])]";
    let outcome = runtime
        .execute(&ExecRequest::source(source))
        .await
        .expect("runs");
    assert_eq!(outcome.value, json!([null, null, null, [null]]));
}

#[tokio::test]
async fn arguments_nested_too_deep_are_a_catchable_error_not_an_internal_one() {
    let runtime = Runtime::builder()
        .host_fn("echo", |call| async move { Ok(call.args) })
        .build()
        .expect("runtime");
    let nested = |depth: usize| format!("let v = 1; for (let i = 0; i < {depth}; i++) v = [v];");
    let ok = format!(
        "{} JSON.stringify(host.call('echo', v)).length",
        nested(MAX_JSON_DEPTH)
    );
    let outcome = runtime
        .execute(&ExecRequest::source(ok))
        .await
        .expect("runs");
    assert_eq!(outcome.value, json!(2 * MAX_JSON_DEPTH + 1));
    let deep = format!(
        "{} try {{ host.call('echo', v); 'no error' }} catch (e) {{ e.message }}",
        nested(500)
    );
    let outcome = runtime
        .execute(&ExecRequest::source(deep))
        .await
        .expect("runs");
    let message = outcome.value.as_str().unwrap_or_default().to_owned();
    assert!(message.contains("deeper than 100 levels"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_function_cannot_call_execute_and_nothing_stalls() {
    let shared: Arc<OnceLock<Runtime>> = Arc::new(OnceLock::new());
    let inner = Arc::clone(&shared);
    let mut config = Config::default();
    config.max_concurrency = 1;
    let runtime = Runtime::builder()
        .config(config)
        .host_fn("nested", move |_call| {
            let inner = Arc::clone(&inner);
            async move {
                let Some(runtime) = inner.get() else {
                    return Err(HostFnError::new("no runtime"));
                };
                let result = runtime.execute(&ExecRequest::source("1 + 1")).await;
                Ok(json!(result.map_err(|e| e.kind().as_str()).err()))
            }
        })
        .build()
        .expect("runtime");
    assert!(shared.set(runtime.clone()).is_ok());
    let started = Instant::now();
    let outcome = runtime
        .execute(&ExecRequest::source("host.call('nested')").timeout(Duration::from_secs(5)))
        .await
        .expect("the outer execution completes");
    assert_eq!(outcome.value, json!("invalid_request"));
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
}
