//! The hostile-script suite: every `.js` file in `tests/hostile/` runs through the public
//! API under tight limits, and must end the way its header says, within its timeout
//! (plus a margin for a noisy machine), leaving the runtime working and clean.
//!
//! A script begins with header comments; prose comment lines may sit among them:
//!
//! ```text
//! // expect: timeout                      (an ErrorKind name, or `ok <JSON value>`)
//! // limits: timeout_ms=200 fuel=max memory_mb=32
//! // context: {"tenant": {"id": "t1"}}    (optional: the ExecContext, as JSON)
//! // expect-name: TypeError               (optional: the script error's name; `none`
//! //                                        for a thrown value that is not an Error)
//! // expect-message: text                 (optional: the script error's exact message)
//! // expect-message-contains: text        (optional)
//! // expect-logs: ["line 1", "line 2"]    (optional: the exact log messages)
//! // expect-last-log-contains: text       (optional)
//! // expect-message-max-bytes: 65536      (optional: bounds on the script error's
//! // expect-name-max-bytes: 65536          message, name and stack, in bytes)
//! // expect-stack-max-bytes: 65536
//! ```
//!
//! Limit keys: `timeout_ms`, `fuel` (a number or `max`), `memory_mb`, `stack_kb`,
//! `output_bytes`, `host_calls`, `log_bytes`; a key a header leaves out takes the suite's
//! default (see [`SUITE_DEFAULTS`]).
//!
//! Each script is a test of its own (libtest-mimic; this binary has `harness = false`),
//! named by its file name without `.js`, so the usual filters work: `cargo test --release
//! -p jsruntime --test hostile -- busy_loop` runs every script whose name contains
//! `busy_loop`, `-- --exact busy_loop` only `busy_loop.js`. Every failing script is
//! reported at the end, so one run shows them all. They run one at a time, in file-name
//! order, on one shared runtime, unless `--test-threads` says otherwise. Setting
//! `JSRUNTIME_HOSTILE_FILTER=substring` still keeps only the scripts whose name contains
//! it; run with `--nocapture` to see each script's outcome, time and peak memory.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jsruntime::{
    Config, ErrorKind, ExecContext, ExecError, ExecRequest, Execution, HostFnError, Runtime, MIB,
};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};

/// Where the scripts live.
const HOSTILE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/hostile");

/// How much longer than its timeout an execution may take to return: the machine is
/// shared and noisy.
const MARGIN: Duration = Duration::from_millis(1500);

/// Fuel for `fuel=max`: so much that the timeout always trips first.
const MAX_FUEL: u64 = 1_000_000_000_000_000;

/// The limits a script gets for any key its `limits:` header leaves out: tight ones.
struct SuiteDefaults {
    timeout: Duration,
    fuel: u64,
    memory_bytes: u64,
    stack_bytes: u32,
    output_bytes: u32,
    host_calls: u32,
    log_bytes: u32,
}

const SUITE_DEFAULTS: SuiteDefaults = SuiteDefaults {
    timeout: Duration::from_millis(500),
    fuel: 500_000_000,
    memory_bytes: 32 * MIB,
    stack_bytes: 256 * 1024,
    output_bytes: 64 * 1024,
    host_calls: 100,
    log_bytes: 16 * 1024,
};

/// How a script must end.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Ok(Value),
    Error(ErrorKind),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Ok(value) => write!(f, "ok {value}"),
            Expected::Error(kind) => write!(f, "{kind}"),
        }
    }
}

/// One script and its parsed header.
#[derive(Debug)]
struct Case {
    name: String,
    source: String,
    expected: Expected,
    timeout: Duration,
    fuel: u64,
    memory_bytes: u64,
    stack_bytes: u32,
    output_bytes: u32,
    host_calls: u32,
    log_bytes: u32,
    context: ExecContext,
    /// `Some(None)` means "not an Error" (`expect-name: none`).
    error_name: Option<Option<String>>,
    message: Option<String>,
    message_contains: Option<String>,
    logs: Option<Vec<String>>,
    last_log_contains: Option<String>,
    /// Upper bounds, in bytes, on the script error's message, name and stack.
    message_max: Option<usize>,
    name_max: Option<usize>,
    stack_max: Option<usize>,
}

fn parse_kind(name: &str) -> Result<ErrorKind, String> {
    ErrorKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == name)
        .ok_or_else(|| format!("unknown error kind {name:?}"))
}

fn parse_case(path: &Path) -> Result<Case, String> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let source = std::fs::read_to_string(path).map_err(|e| format!("reading: {e}"))?;
    let mut case = Case {
        name,
        expected: Expected::Ok(Value::Null),
        timeout: SUITE_DEFAULTS.timeout,
        fuel: SUITE_DEFAULTS.fuel,
        memory_bytes: SUITE_DEFAULTS.memory_bytes,
        stack_bytes: SUITE_DEFAULTS.stack_bytes,
        output_bytes: SUITE_DEFAULTS.output_bytes,
        host_calls: SUITE_DEFAULTS.host_calls,
        log_bytes: SUITE_DEFAULTS.log_bytes,
        context: ExecContext::default(),
        error_name: None,
        message: None,
        message_contains: None,
        logs: None,
        last_log_contains: None,
        message_max: None,
        name_max: None,
        stack_max: None,
        source: String::new(),
    };
    let mut saw_expect = false;
    let mut saw_limits = false;
    for line in source.lines() {
        let Some(comment) = line.strip_prefix("//") else {
            break;
        };
        let comment = comment.trim();
        let Some((key, value)) = comment.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "expect" => {
                saw_expect = true;
                case.expected = match value.strip_prefix("ok") {
                    Some(json) if value == "ok" || json.starts_with(' ') => {
                        let json = json.trim();
                        let value = if json.is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(json)
                                .map_err(|e| format!("expect: bad JSON {json:?}: {e}"))?
                        };
                        Expected::Ok(value)
                    }
                    _ => Expected::Error(parse_kind(value)?),
                };
            }
            "limits" => {
                saw_limits = true;
                for setting in value.split_whitespace() {
                    let (key, number) = setting
                        .split_once('=')
                        .ok_or_else(|| format!("limits: {setting:?} is not key=value"))?;
                    let parse = |text: &str| -> Result<u64, String> {
                        text.replace('_', "")
                            .parse::<u64>()
                            .map_err(|e| format!("limits: {setting:?}: {e}"))
                    };
                    let small = |n: u64| u32::try_from(n).map_err(|e| format!("{setting:?}: {e}"));
                    match key {
                        "timeout_ms" => case.timeout = Duration::from_millis(parse(number)?),
                        "fuel" if number == "max" => case.fuel = MAX_FUEL,
                        "fuel" => case.fuel = parse(number)?,
                        "memory_mb" => case.memory_bytes = parse(number)? * MIB,
                        "stack_kb" => case.stack_bytes = small(parse(number)? * 1024)?,
                        "output_bytes" => case.output_bytes = small(parse(number)?)?,
                        "host_calls" => case.host_calls = small(parse(number)?)?,
                        "log_bytes" => case.log_bytes = small(parse(number)?)?,
                        other => return Err(format!("limits: unknown key {other:?}")),
                    }
                }
            }
            "context" => {
                case.context = serde_json::from_str(value).map_err(|e| format!("context: {e}"))?;
            }
            "expect-name" => {
                case.error_name = Some((value != "none").then(|| value.to_owned()));
            }
            "expect-message" => case.message = Some(unescape(value)?),
            "expect-message-contains" => case.message_contains = Some(unescape(value)?),
            "expect-logs" => {
                case.logs =
                    Some(serde_json::from_str(value).map_err(|e| format!("expect-logs: {e}"))?);
            }
            "expect-last-log-contains" => case.last_log_contains = Some(value.to_owned()),
            "expect-message-max-bytes" => case.message_max = Some(parse_size(key, value)?),
            "expect-name-max-bytes" => case.name_max = Some(parse_size(key, value)?),
            "expect-stack-max-bytes" => case.stack_max = Some(parse_size(key, value)?),
            other if other.starts_with("expect") || other == "limit" => {
                return Err(format!("unknown header {other:?}"));
            }
            _ => {}
        }
    }
    if !saw_expect || !saw_limits {
        return Err("the header must have both `// expect:` and `// limits:` lines".into());
    }
    case.source = source;
    Ok(case)
}

fn parse_size(key: &str, value: &str) -> Result<usize, String> {
    value
        .replace('_', "")
        .parse()
        .map_err(|e| format!("{key}: {value:?}: {e}"))
}

/// Header texts may be a JSON string literal (for characters a file should not hold
/// raw); anything else is taken as it is.
fn unescape(value: &str) -> Result<String, String> {
    if value.starts_with('"') {
        serde_json::from_str(value).map_err(|e| format!("bad JSON string {value:?}: {e}"))
    } else {
        Ok(value.to_owned())
    }
}

fn request(case: &Case) -> ExecRequest {
    ExecRequest::source(case.source.as_str())
        .name(case.name.as_str())
        .context(case.context.clone())
        .timeout(case.timeout)
        .fuel(case.fuel)
        .memory_bytes(case.memory_bytes)
        .stack_bytes(case.stack_bytes)
        .output_bytes(case.output_bytes)
        .host_calls(case.host_calls)
        .log_bytes(case.log_bytes)
}

/// Describes an execution's result in one line, for the failure report.
fn describe(result: &Result<Value, ExecError>) -> String {
    match result {
        Ok(value) => {
            let text = value.to_string();
            if text.len() > 300 {
                format!("ok {}... ({} bytes)", prefix(&text, 300), text.len())
            } else {
                format!("ok {text}")
            }
        }
        Err(error) => {
            let mut text = format!("{}: {error}", error.kind());
            if text.len() > 300 {
                text = format!("{}...", prefix(&text, 300));
            }
            text
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What is wrong with an execution of `case`, if anything.
fn check(case: &Case, execution: &Execution, elapsed: Duration) -> Vec<String> {
    let mut problems = Vec::new();
    let actual = describe(&execution.result);
    match (&case.expected, &execution.result) {
        (Expected::Ok(expected), Ok(value)) => {
            if value != expected {
                problems.push(format!("expected ok {expected}, got {actual}"));
            }
        }
        (Expected::Error(kind), Err(error)) => {
            if error.kind() != *kind {
                problems.push(format!("expected {kind}, got {actual}"));
            }
        }
        (expected, _) => problems.push(format!("expected {expected}, got {actual}")),
    }
    let script_error = execution
        .result
        .as_ref()
        .err()
        .and_then(ExecError::script_error);
    if let Some(name) = &case.error_name {
        let actual_name = script_error.map(|e| e.name.clone());
        if actual_name.as_ref() != Some(name) {
            problems.push(format!(
                "expected the error name {name:?}, got {actual_name:?} ({actual})"
            ));
        }
    }
    if let Some(message) = &case.message {
        let actual_message = script_error.map(|e| e.message.as_str());
        if actual_message != Some(message.as_str()) {
            problems.push(format!(
                "expected the message {message:?}, got {actual_message:?}"
            ));
        }
    }
    if let Some(part) = &case.message_contains {
        let actual_message = script_error.map(|e| e.message.as_str()).unwrap_or("");
        if !actual_message.contains(part.as_str()) {
            problems.push(format!(
                "expected a message containing {part:?}, got {actual_message:?}"
            ));
        }
    }
    for (what, max, text) in [
        (
            "message",
            case.message_max,
            script_error.map(|e| e.message.as_str()),
        ),
        (
            "name",
            case.name_max,
            script_error.and_then(|e| e.name.as_deref()),
        ),
        (
            "stack",
            case.stack_max,
            script_error.and_then(|e| e.stack.as_deref()),
        ),
    ] {
        let length = text.map_or(0, str::len);
        if let Some(max) = max.filter(|&max| length > max) {
            problems.push(format!(
                "the error's {what} is {length} bytes, more than {max}"
            ));
        }
    }
    let messages: Vec<&str> = execution
        .logs
        .iter()
        .map(|record| record.message.as_str())
        .collect();
    if let Some(logs) = &case.logs {
        if messages != *logs {
            problems.push(format!("expected the logs {logs:?}, got {messages:?}"));
        }
    }
    if let Some(part) = &case.last_log_contains {
        match messages.last() {
            Some(last) if last.contains(part.as_str()) => {
                // The kept records fit the cap; the note about the dropped ones comes
                // on top of it.
                let kept: usize = messages[..messages.len() - 1].iter().map(|m| m.len()).sum();
                if kept > case.log_bytes as usize {
                    problems.push(format!(
                        "{kept} bytes of logs kept, more than the {} allowed",
                        case.log_bytes
                    ));
                }
            }
            last => problems.push(format!(
                "expected the last log to contain {part:?}, got {last:?} ({} records)",
                messages.len()
            )),
        }
    }
    if elapsed > case.timeout + MARGIN {
        problems.push(format!(
            "returned after {elapsed:?}, past its timeout of {:?} plus {MARGIN:?}",
            case.timeout
        ));
    }
    problems
}

/// What a fresh instance looks like to a script: run before the suite and after every
/// script, so a script that pollutes built-ins or globals is caught if anything of it
/// reaches the next execution.
const CLEANLINESS_PROBE: &str = "[Object.prototype, Array.prototype, Function.prototype, \
     String.prototype, Promise.prototype, JSON, globalThis]\
     .map(o => Reflect.ownKeys(o).map(String).sort().join()).concat([typeof globalThis.marker, \
     Object.getPrototypeOf(context) === Object.prototype])";

fn scripts() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(HOSTILE_DIR)
        .unwrap_or_else(|e| panic!("reading {HOSTILE_DIR}: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "js"))
        .collect();
    paths.sort();
    paths
}

fn suite_runtime() -> Runtime {
    Runtime::builder()
        .config({
            let mut value = Config::default();
            value.max_concurrency = 4;
            value
        })
        // Returns its argument unchanged.
        .host_fn("echo", |call| async move { Ok(call.args) })
        // The tenant the host sees, whatever the script did to its own `context`.
        .host_fn("whoami", |call| async move {
            Ok(json!({
                "tenant": call.context.tenant_id(),
                "request": call.context.request_id,
            }))
        })
        .host_fn("fail", |call| async move {
            Err(HostFnError::new(format!(
                "failed on purpose: {}",
                call.args
            )))
        })
        // A Promise function that never settles, for the Promise-call floods.
        .host_fn_promise("hang", |_call| async move {
            std::future::pending::<()>().await;
            Ok(serde_json::Value::Null)
        })
        // Awkward names, for host_namespace_odd_names.js: each echoes its argument.
        .host_fn("call", |call| async move { Ok(call.args) })
        .host_fn("constructor", |call| async move { Ok(call.args) })
        .host_fn("toString", |call| async move { Ok(call.args) })
        .host_fn("__proto__.polluted", |call| async move { Ok(call.args) })
        .host_fn(
            "Object.prototype.polluted",
            |call| async move { Ok(call.args) },
        )
        .build()
        .expect("the suite's runtime starts")
}

/// What every script's test shares: one tokio runtime, one suite runtime, and what the
/// cleanliness probe gave before any script ran.
struct Suite {
    tokio: tokio::runtime::Runtime,
    runtime: Runtime,
    probe: ExecRequest,
    clean: Value,
}

/// The suite, started by the first test that needs it (so `--list` starts nothing); the
/// others wait for it, so the probe always runs before the first script.
fn suite() -> &'static Suite {
    static SUITE: OnceLock<Suite> = OnceLock::new();
    SUITE.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let runtime = tokio.block_on(async { suite_runtime() });
        let probe = ExecRequest::source(CLEANLINESS_PROBE);
        let clean = tokio
            .block_on(runtime.execute(&probe))
            .expect("the cleanliness probe runs")
            .value;
        Suite {
            tokio,
            runtime,
            probe,
            clean,
        }
    })
}

/// Runs one script and says what is wrong with how it ended, if anything, and with the
/// runtime after it.
fn run_script(path: &Path, verbose: bool) -> Result<(), Failed> {
    let case = parse_case(path).map_err(|problem| format!("{}: {problem}", path.display()))?;
    let Suite {
        tokio,
        runtime,
        probe,
        clean,
    } = suite();
    let problems = tokio.block_on(async {
        let started = Instant::now();
        let execution = runtime.execute_detailed(&request(&case)).await;
        let elapsed = started.elapsed();
        if verbose {
            eprintln!(
                "{:<44} {:>5} ms {:>5} MiB  {}",
                case.name,
                elapsed.as_millis(),
                execution.stats.memory_bytes / MIB,
                describe(&execution.result)
            );
        }
        let mut problems = check(&case, &execution, elapsed);

        match runtime.execute(&ExecRequest::source("2 + 2")).await {
            Ok(outcome) if outcome.value == json!(4) => {}
            other => problems.push(format!(
                "the next execution (2 + 2) on the same runtime failed: {other:?}"
            )),
        }
        match runtime.execute(probe).await {
            Ok(outcome) if outcome.value == *clean => {}
            other => problems.push(format!(
                "the next execution does not see a clean instance: {other:?}, expected {clean}"
            )),
        }
        problems
    });
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}:\n    {}", case.name, problems.join("\n    ")).into())
    }
}

/// One test per script, named by its file name without `.js`, in file-name order; run
/// one at a time unless `--test-threads` says otherwise (the timeouts are checked
/// against a wall clock, and the machine has two cores).
fn main() {
    let mut args = Arguments::from_args();
    args.test_threads.get_or_insert(1);
    // libtest-mimic never captures output: print each script's outcome, time and peak
    // memory only when asked, as the old harness did with `--nocapture`.
    let verbose = args.nocapture;
    let filter = std::env::var("JSRUNTIME_HOSTILE_FILTER").unwrap_or_default();
    let paths = scripts();

    let mut trials = vec![Trial::test("the_suite_holds_at_least_40_scripts", {
        let count = paths.len();
        move || {
            assert!(
                count >= 40,
                "the suite should hold at least 40 scripts, found {count} in {HOSTILE_DIR}"
            );
            Ok(())
        }
    })];
    let mut ran = 0;
    for path in paths {
        // The old harness's filter, matched as it was against the whole file name.
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !file_name.contains(filter.as_str()) {
            continue;
        }
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        ran += 1;
        trials.push(Trial::test(name, move || run_script(&path, verbose)));
    }
    if ran == 0 {
        trials.push(Trial::test("a_script_matches_the_filter", move || {
            assert!(ran > 0, "no script matched the filter {filter:?}");
            Ok(())
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}
