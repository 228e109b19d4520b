//! Helpers shared by the end-to-end tests.
//!
//! Each test binary uses only some of them.
#![allow(dead_code)]

use std::time::Duration;

use jsruntime::{
    Config, ErrorKind, ExecContext, ExecError, ExecRequest, Outcome, Runtime, ScriptError, Tenant,
};
use serde_json::{json, Value};

/// A fuel budget so large that the wall-clock timeout always trips first.
pub const HUGE_FUEL: u64 = 1_000_000_000_000_000;

/// An upper bound for "returned promptly after its timeout or cancellation": generous,
/// because the machine is shared and noisy.
pub const PROMPT: Duration = Duration::from_secs(2);

/// The context of a request from tenant `id` (no name, user or request id).
pub fn tenant(id: &str) -> ExecContext {
    ExecContext::default().with_tenant(Tenant {
        id: id.into(),
        name: None,
    })
}

/// A runtime with the default configuration and no host functions.
pub fn runtime() -> Runtime {
    Runtime::new(Config::default()).expect("a runtime with the default configuration starts")
}

/// Runs `source` with the runtime's default limits and returns its value.
pub async fn run(runtime: &Runtime, source: &str) -> Result<Value, ExecError> {
    run_request(runtime, ExecRequest::source(source)).await
}

/// Runs a request and returns its value.
pub async fn run_request(runtime: &Runtime, request: ExecRequest) -> Result<Value, ExecError> {
    runtime.execute(&request).await.map(|outcome| outcome.value)
}

/// Runs a request that must succeed and returns the whole outcome.
pub async fn run_ok(runtime: &Runtime, request: ExecRequest) -> Outcome {
    match runtime.execute(&request).await {
        Ok(outcome) => outcome,
        Err(error) => panic!("the execution should succeed, but failed: {error:?}"),
    }
}

/// Proves the runtime still works after whatever the test did to it.
pub async fn assert_still_works(runtime: &Runtime) {
    assert_eq!(
        run(runtime, "2 + 2").await,
        Ok(json!(4)),
        "the runtime should keep working after a failed execution"
    );
}

/// The error of a result that must have failed with `kind`.
pub fn expect_kind(result: Result<Value, ExecError>, kind: ErrorKind) -> ExecError {
    match result {
        Ok(value) => panic!("expected a {kind} error, but the script returned {value}"),
        Err(error) => {
            assert_eq!(error.kind(), kind, "unexpected error: {error:?}");
            error
        }
    }
}

/// The script error of a result that must be an uncaught exception.
pub fn expect_exception(result: Result<Value, ExecError>) -> ScriptError {
    match expect_kind(result, ErrorKind::Exception) {
        ExecError::Exception(script_error) => script_error,
        other => unreachable!("kind() said exception for {other:?}"),
    }
}

/// The script error of a result that must be a syntax error.
pub fn expect_syntax(result: Result<Value, ExecError>) -> ScriptError {
    match expect_kind(result, ErrorKind::Syntax) {
        ExecError::Syntax(script_error) => script_error,
        other => unreachable!("kind() said syntax for {other:?}"),
    }
}

/// Asserts that an uncaught exception is a `TypeError`.
pub fn assert_type_error(result: Result<Value, ExecError>, what: &str) -> ScriptError {
    let error = expect_exception(result);
    assert_eq!(
        error.name.as_deref(),
        Some("TypeError"),
        "{what}: expected a TypeError, got {error:?}"
    );
    error
}

/// Waits until the pool is at rest: nothing running or waiting (an execution counts as
/// running until the pool thread has destroyed its instance, which may come a little
/// after its result) and the ready instances topped up. Gives up after 10 s.
pub async fn pool_at_rest(runtime: &Runtime) -> jsruntime::PoolStats {
    let started = std::time::Instant::now();
    loop {
        let stats = runtime.pool_stats();
        let topped_up = stats.available >= u64::from(runtime.config().prewarm);
        if (stats.in_use == 0 && stats.waiting == 0 && topped_up)
            || started.elapsed() > Duration::from_secs(10)
        {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The process's anonymous resident memory (`RssAnon`), in bytes, once the C allocator
/// has handed the free memory it keeps back to the system (glibc's `malloc_trim`).
///
/// Anonymous, not all of VmRSS: what a leak grows (the Rust and C heaps, thread stacks,
/// the pool slots' private copies of guest pages) is anonymous memory. The rest of
/// VmRSS is file-backed, mostly the test binary's code and the compiled guest's mapping,
/// and it moves by megabytes with which code paths ran last and what the kernel
/// reclaimed meanwhile (these machines reclaim cold pages in the background): file
/// pages alone moved by up to 10% within a run, the soak's check of all of VmRSS failed
/// with no leak (+11.8%, +13.0%), and it missed a real one (300 bytes per execution
/// moved VmRSS by 5-10%).
///
/// Why trim first: glibc keeps freed memory in its arenas, one per thread that
/// allocated, and how much of it is resident at a given moment depends on which threads
/// ran what; untrimmed, RSS at rest moved by 2-5 MiB between consecutive samples of the
/// soak, as much as a real leak would in a short run. What is still resident after the
/// trim is what the process holds.
pub fn anon_rss_bytes() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the C allocator to the system; it
    // has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon");
    kb * 1024
}
