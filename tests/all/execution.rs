//! End-to-end tests of sandboxed execution: errors, limits, cancellation, concurrency,
//! result values, stats and the compile cache.

use std::time::{Duration, Instant};

use crate::common::{
    assert_still_works, assert_type_error, expect_exception, expect_kind, expect_syntax, run,
    run_ok, run_request, runtime, HUGE_FUEL, PROMPT,
};
use jsruntime::{CancellationToken, ErrorKind, ExecError, ExecRequest, MIB};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncaught_exception_is_reported_and_the_runtime_recovers() {
    let rt = runtime();
    let error = expect_exception(run(&rt, "throw new Error('test panic')").await);
    assert_eq!(error.message, "test panic");
    assert_eq!(error.name.as_deref(), Some("Error"));
    assert_eq!(run(&rt, "2 + 2").await, Ok(json!(4)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigning_an_undeclared_variable_is_a_reference_error_in_strict_mode() {
    let rt = runtime();
    let error = expect_exception(run(&rt, "x = 1").await);
    assert_eq!(error.name.as_deref(), Some("ReferenceError"), "{error:?}");
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// CPU: fuel, timeout, cancellation
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_runs_out_of_fuel_under_a_small_budget() {
    let rt = runtime();
    let request = ExecRequest::source("while(true){}").fuel(1_000_000);
    let error = expect_kind(run_request(&rt, request).await, ErrorKind::OutOfFuel);
    assert_eq!(error, ExecError::OutOfFuel { budget: 1_000_000 });
    assert_eq!(run(&rt, "1 + 1").await, Ok(json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_times_out_under_a_large_budget() {
    let rt = runtime();
    let timeout = Duration::from_millis(100);
    let request = ExecRequest::source("while(true){}")
        .fuel(HUGE_FUEL)
        .timeout(timeout);
    let started = Instant::now();
    let error = expect_kind(run_request(&rt, request).await, ErrorKind::Timeout);
    let elapsed = started.elapsed();
    assert_eq!(error, ExecError::Timeout { timeout });
    assert!(elapsed < PROMPT, "a 100 ms timeout took {elapsed:?}");
    assert_eq!(run(&rt, "1 + 1").await, Ok(json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_token_stops_an_infinite_loop() {
    let rt = runtime();
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let request = ExecRequest::source("while(true){}")
        .fuel(HUGE_FUEL)
        .timeout(Duration::from_secs(10))
        .cancel_token(token);
    let started = Instant::now();
    let error = expect_kind(run_request(&rt, request).await, ErrorKind::Cancelled);
    let elapsed = started.elapsed();
    assert_eq!(error, ExecError::Cancelled);
    assert!(
        elapsed < PROMPT,
        "cancelled after 100 ms, but returned after {elapsed:?} (timeout 10 s)"
    );
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_execute_future_stops_the_execution() {
    let rt = runtime();
    let request = ExecRequest::source("while(true){}")
        .fuel(HUGE_FUEL)
        .timeout(Duration::from_secs(10));
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_millis(100), rt.execute(&request)).await;
    let elapsed = started.elapsed();
    assert!(
        result.is_err(),
        "the loop should still run when the future is dropped: {result:?}"
    );
    assert!(
        elapsed < PROMPT,
        "dropping the future after 100 ms took {elapsed:?}"
    );
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_executions_each_return_their_own_result() {
    let rt = runtime();
    let tasks: Vec<_> = (0..10u64)
        .map(|i| {
            let rt = rt.clone();
            tokio::spawn(async move { (i, run(&rt, &format!("const n = {i}; n * n")).await) })
        })
        .collect();
    for task in tasks {
        let (i, result) = task.await.expect("the execution task does not panic");
        assert_eq!(result, Ok(json!(i * i)), "script {i}");
    }
}

// ---------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_hits_the_memory_limit() {
    let rt = runtime();
    let request =
        ExecRequest::source("const a = []; while (true) a.push(new Array(10000).fill(1))")
            .memory_bytes(32 * MIB);
    let error = expect_kind(run_request(&rt, request).await, ErrorKind::MemoryLimit);
    assert_eq!(
        error,
        ExecError::MemoryLimit {
            limit_bytes: 32 * MIB
        }
    );
    assert_eq!(run(&rt, "1 + 1").await, Ok(json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_that_catches_out_of_memory_still_ends() {
    let rt = runtime();
    let request = ExecRequest::source(
        "const a=[]; while(true){ try { a.push(new Array(1e5).fill(1)) } catch (e) {} }",
    )
    .memory_bytes(32 * MIB)
    .timeout(Duration::from_millis(500));
    let started = Instant::now();
    let result = run_request(&rt, request).await;
    let elapsed = started.elapsed();
    match &result {
        Err(
            ExecError::MemoryLimit { .. } | ExecError::Timeout { .. } | ExecError::OutOfFuel { .. },
        ) => {}
        other => panic!("expected memory_limit, timeout or out_of_fuel, got {other:?}"),
    }
    assert!(
        elapsed < PROMPT + Duration::from_millis(500),
        "took {elapsed:?}"
    );
    assert_still_works(&rt).await;
}

/// QuickJS's small allocations come from a run arena until it is full, and from malloc
/// after that (guest/src/heap.rs, QuickJS patch 19). Every way a block is used (made,
/// zeroed, grown in place while it is the arena's last, moved when it is not, given
/// back) gives the same values on either side of that line, and garbage made long past
/// it is reused, so memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_allocations_behave_alike_in_and_past_the_run_arena() {
    let rt = runtime();
    let script = r#"
        const out = {};
        // Blocks of nonzero bytes given back, then blocks that must start zeroed: far
        // more of them than the arena holds.
        for (let i = 0; i < 50; i++) { let s = 'x'.repeat(40 + i); s = null; }
        let zeroed = 0;
        for (let i = 0; i < 3000; i++) {
            const bytes = new Uint8Array(1 + (i % 200));
            if (bytes.every(b => b === 0)) zeroed++;
            bytes.fill(255);
        }
        out.zeroed = zeroed;
        // A string grown by appending, an array grown by pushing: in place, then moved.
        let s = '';
        for (let i = 0; i < 2000; i++) s += String.fromCharCode(97 + (i % 26));
        out.stringLength = s.length;
        out.stringTail = s.slice(-3);
        const arrays = [[], [], []];
        for (let i = 0; i < 3000; i++) arrays[i % 3].push({ i, name: 'n' + i });
        out.arraySums = arrays.map(a => a.reduce((sum, o) => sum + o.i, 0));
        out.lastName = arrays[2][999].name;
        // Garbage: 200,000 short-lived objects, some 30 MB were none of it reused.
        let odd = 0;
        for (let i = 0; i < 200000; i++) { const o = { a: i, b: [i] }; odd += o.b[0] & 1; }
        out.odd = odd;
        out
    "#;
    let outcome = run_ok(
        &rt,
        ExecRequest::source(script)
            .fuel(HUGE_FUEL)
            .memory_bytes(64 * MIB),
    )
    .await;
    assert_eq!(
        outcome.value,
        json!({
            "zeroed": 3000,
            "stringLength": 2000,
            "stringTail": "vwx",
            "arraySums": [1_498_500, 1_499_500, 1_500_500],
            "lastName": "n2999",
            "odd": 100_000,
        })
    );
    assert!(
        outcome.stats.memory_bytes < 16 * MIB,
        "peak memory {} bytes",
        outcome.stats.memory_bytes
    );
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Recursion
// ---------------------------------------------------------------------------------------

const RECURSE_1000: &str = "function f(n){ return n === 0 ? 0 : f(n - 1) + 1 } f(1000)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_recursion_is_a_stack_overflow() {
    let rt = runtime();
    let result = run(&rt, "function f(n){ return f(n+1) + 1 } f(0)").await;
    expect_kind(result, ErrorKind::StackOverflow);
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursion_1000_deep_works_under_the_default_stack_limit() {
    let rt = runtime();
    assert_eq!(run(&rt, RECURSE_1000).await, Ok(json!(1000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_stack_limit_makes_recursion_1000_deep_overflow() {
    let rt = runtime();
    let request = ExecRequest::source(RECURSE_1000).stack_bytes(64 * 1024);
    expect_kind(run_request(&rt, request).await, ErrorKind::StackOverflow);
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Syntax errors
// ---------------------------------------------------------------------------------------

/// A syntax error on line 2 (the `;` at column 11) and one on line 3 (the `)` at column 11).
const SYNTAX_ERRORS: [(&str, u32, u32); 2] = [
    ("const a = 1;\nconst b = ;\n", 2, 11),
    ("let x = 1;\nlet y = 2;\n  let z = );\n", 3, 11),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_error_reports_its_line() {
    let rt = runtime();
    for (source, line, _) in SYNTAX_ERRORS {
        let error = expect_syntax(run(&rt, source).await);
        assert_eq!(error.name.as_deref(), Some("SyntaxError"), "{error:?}");
        assert_eq!(error.line, Some(line), "{source:?}: {error:?}");
    }
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_error_reports_the_column_of_the_offending_token() {
    let rt = runtime();
    for (source, line, column) in SYNTAX_ERRORS {
        let error = expect_syntax(run(&rt, source).await);
        assert_eq!(
            (error.line, error.column),
            (Some(line), Some(column)),
            "{source:?}: {error:?}"
        );
    }
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Code generation from strings is refused
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_and_function_constructors_are_refused() {
    let rt = runtime();
    let attempts = [
        "eval('1')",
        "(0, eval)('1')",
        "globalThis.eval('1')",
        "new Function('return 1')()",
        "Function('return 1')()",
        "(function(){}).constructor('return 1')()",
        "(async function(){}).constructor('return 1')",
        "(function*(){}).constructor('yield 1')",
        "(async function*(){}).constructor('yield 1')",
    ];
    for source in attempts {
        assert_type_error(run(&rt, source).await, source);
    }
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Promises
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_promises_are_awaited() {
    let rt = runtime();
    assert_eq!(run(&rt, "Promise.resolve(5)").await, Ok(json!(5)));
    assert_eq!(run(&rt, "(async () => 7)()").await, Ok(json!(7)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_promise_is_an_exception_with_the_rejection_message() {
    let rt = runtime();
    let error =
        expect_exception(run(&rt, "Promise.reject(new Error('rejected on purpose'))").await);
    assert_eq!(error.message, "rejected on purpose");
    let error =
        expect_exception(run(&rt, "(async () => { throw new Error('async failure') })()").await);
    assert_eq!(error.message, "async failure");
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_random_differs_between_fresh_instances() {
    let rt = runtime();
    let first = run(&rt, "Math.random()").await.expect("Math.random() runs");
    let second = run(&rt, "Math.random()").await.expect("Math.random() runs");
    for value in [&first, &second] {
        let number = value.as_f64().expect("Math.random() returns a number");
        assert!((0.0..1.0).contains(&number), "{number}");
    }
    assert_ne!(
        first, second,
        "two fresh instances drew the same random number"
    );
}

// ---------------------------------------------------------------------------------------
// Result values
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_and_arrays_round_trip_as_json() {
    let rt = runtime();
    let value = run(
        &rt,
        "({a: 1, b: [1, 'two', null, true], c: {d: 1.5, e: 'é'}})",
    )
    .await;
    assert_eq!(
        value,
        Ok(json!({"a": 1, "b": [1, "two", null, true], "c": {"d": 1.5, "e": "é"}}))
    );
    assert_eq!(
        run(&rt, "[1, [2, [3]], {}]").await,
        Ok(json!([1, [2, [3]], {}]))
    );
    assert_eq!(run(&rt, "'text'").await, Ok(json!("text")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undefined_result_is_null() {
    let rt = runtime();
    assert_eq!(run(&rt, "undefined").await, Ok(Value::Null));
    assert_eq!(run(&rt, "let unused = 1;").await, Ok(Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_larger_than_the_output_limit_is_refused() {
    let rt = runtime();
    let request = ExecRequest::source("'x'.repeat(2000)").output_bytes(1000);
    match expect_kind(run_request(&rt, request).await, ErrorKind::OutputLimit) {
        ExecError::OutputLimit {
            size_bytes,
            limit_bytes,
        } => {
            assert_eq!(limit_bytes, 1000);
            assert!(size_bytes > 1000, "size_bytes {size_bytes}");
        }
        other => unreachable!("{other:?}"),
    }
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cyclic_result_is_a_type_error() {
    let rt = runtime();
    assert_type_error(
        run(&rt, "const o = {}; o.self = o; o").await,
        "cyclic result",
    );
    assert_still_works(&rt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_surrogate_becomes_the_replacement_character() {
    let rt = runtime();
    assert_eq!(run(&rt, r"'\ud800'").await, Ok(json!("\u{fffd}")));
}

// ---------------------------------------------------------------------------------------
// Invalid requests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_limits_are_an_invalid_request_naming_the_limit() {
    let rt = runtime();
    let request = ExecRequest::source("1").memory_bytes(1024);
    // The caller's mistake, told apart from a failure of the runtime (`internal`).
    match expect_kind(run_request(&rt, request).await, ErrorKind::InvalidRequest) {
        ExecError::InvalidRequest(message) => {
            assert!(message.contains("memory limit"), "{message}")
        }
        other => unreachable!("{other:?}"),
    }
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Stats and the compile cache
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_execution_reports_stats() {
    let rt = runtime();
    let source = "let total = 0; for (let i = 0; i < 1000; i++) total += i; total";
    let first = run_ok(&rt, ExecRequest::source(source)).await;
    assert_eq!(first.value, json!(499_500));
    assert!(first.stats.fuel_used > 0, "{:?}", first.stats);
    assert!(first.stats.memory_bytes > 0, "{:?}", first.stats);
    assert!(first.stats.wall_us > 0, "{:?}", first.stats);
    assert!(
        !first.stats.cache_hit,
        "the first run compiles: {:?}",
        first.stats
    );

    let second = run_ok(&rt, ExecRequest::source(source)).await;
    assert_eq!(second.value, json!(499_500));
    assert!(
        second.stats.cache_hit,
        "the second run uses the cache: {:?}",
        second.stats
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_script_runs_many_times() {
    let rt = runtime();
    let script = rt
        .compile("square.js", "const n = 12; n * n")
        .await
        .expect("the script compiles");
    assert_eq!(script.name(), "square.js");
    assert!(script.bytecode_len() > 0);
    for _ in 0..5 {
        let outcome = run_ok(&rt, ExecRequest::script(&script)).await;
        assert_eq!(outcome.value, json!(144));
        assert!(outcome.stats.cache_hit, "{:?}", outcome.stats);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiling_bad_source_is_a_syntax_error() {
    let rt = runtime();
    let error = rt
        .compile("bad.js", "const = ;")
        .await
        .expect_err("bad source does not compile");
    assert_eq!(error.kind(), ErrorKind::Syntax, "{error:?}");
    assert_still_works(&rt).await;
}

// ---------------------------------------------------------------------------------------
// Configuration and the request builder
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_configurations_are_refused_with_a_clear_error() {
    use jsruntime::{Config, Runtime, SetupError};
    let cases = [
        (
            {
                let mut value = Config::default();
                value.max_concurrency = 0;
                value
            },
            "max_concurrency",
        ),
        (
            {
                let mut value = Config::default();
                value.guest_threads = 0;
                value
            },
            "guest_threads",
        ),
        (
            {
                let mut value = Config::default();
                value.max_concurrency = u32::MAX;
                value.prewarm = u32::MAX;
                value
            },
            "overflows",
        ),
    ];
    for (config, named) in cases {
        match Runtime::new(config) {
            Err(SetupError::InvalidConfig(message)) => {
                assert!(message.contains(named), "{message:?} should name {named}")
            }
            Err(other) => panic!("expected InvalidConfig naming {named}, got {other:?}"),
            Ok(_) => panic!("a configuration with a bad {named} was accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_setter_of_a_request_takes_effect() {
    use jsruntime::{LimitOverrides, Runtime};
    let rt = Runtime::builder()
        .host_fn("echo", |call| async move { Ok(call.args) })
        .build()
        .expect("runtime starts");

    // host_calls: the second call is one too many.
    let request = ExecRequest::source("host.echo(1); host.echo(2); 'unreachable'").host_calls(1);
    expect_kind(run_request(&rt, request).await, ErrorKind::HostCallLimit);

    // log_bytes: the kept logs fit the cap, and the last record says what was dropped.
    let request = ExecRequest::source("for (let i = 0; i < 100; i++) console.log('line ' + i); 1")
        .log_bytes(64);
    let outcome = rt.execute(&request).await.expect("runs");
    let (note, kept) = outcome.logs.split_last().expect("some logs");
    let kept_bytes: usize = kept.iter().map(|l| l.message.len()).sum();
    assert!(
        kept_bytes <= 64,
        "kept {kept_bytes} bytes under a 64-byte cap"
    );
    assert!(note.message.contains("dropped"), "{:?}", note.message);

    // A whole set of overrides at once.
    let request = ExecRequest::source("'x'.repeat(100)").limits({
        let mut value = LimitOverrides::default();
        value.output_bytes = Some(16);
        value
    });
    expect_kind(run_request(&rt, request).await, ErrorKind::OutputLimit);
    let request = ExecRequest::source("while (true) {}").limits({
        let mut value = LimitOverrides::default();
        value.fuel = Some(1_000_000);
        value
    });
    expect_kind(run_request(&rt, request).await, ErrorKind::OutOfFuel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_and_runtimes_describe_themselves() {
    let rt = runtime();
    let script = rt.compile("answer.js", "42").await.expect("compiles");
    assert_eq!(script.name(), "answer.js");
    let hash = script.hash_hex();
    assert_eq!(hash.len(), 64, "sha256 in hex: {hash}");
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()), "{hash}");
    let described = format!("{script:?}");
    assert!(
        described.contains("answer.js") && described.contains(&hash),
        "{described}"
    );
    assert!(format!("{rt:?}").contains("max_concurrency"), "{rt:?}");
    assert_eq!(
        rt.config().max_concurrency,
        jsruntime::Config::default().max_concurrency
    );
}
