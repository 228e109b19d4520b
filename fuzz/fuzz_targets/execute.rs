//! Fuzzes `Runtime::execute_detailed` with arbitrary script source and arbitrary small
//! limits, and checks the promises of a hard sandbox on every input:
//!
//! * it never panics, and a failure is one of the error kinds, never `internal` or
//!   `invalid_request` (the generator only makes valid limits, so either is a library
//!   bug);
//! * it returns within its timeout plus a margin ([`MARGIN`], or
//!   `JSRUNTIME_FUZZ_MARGIN_MS`);
//! * it uses no more fuel than its budget, makes no more host calls than allowed, keeps
//!   no more log bytes than allowed, and returns no more JSON than allowed;
//! * the runtime keeps working: `1 + 1` gives 2 after every failure other than a syntax
//!   error or an exception, and every [`RECHECK_EVERY`]th input.
//!
//! libFuzzer's coverage sees only the host's native code: QuickJS runs as wasm, which
//! is not instrumented. So the target also reports what the guest did, as libFuzzer
//! "extra counters" ([`guest_feedback`]): the outcome, fuel and memory used (in
//! power-of-two buckets), log records, host calls, the result's JSON type and size, the
//! script error's name. An input that makes the guest behave differently in those terms
//! is kept in the corpus.
//!
//! Input format (what the corpus files hold): the first [`HEADER_BYTES`] bytes choose the
//! limits and the context (see [`Header`]); the rest is the script source, lossy UTF-8.
//! The seed files put a printable header and a newline first, then the program.

#![no_main]

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use jsruntime::{
    Config, ErrorKind, ExecContext, ExecRequest, HostFnError, LimitOverrides, Runtime, Tenant,
    User, MIB,
};
use libfuzzer_sys::fuzz_target;

/// How long past its timeout an execution may take to return (the machine is shared
/// and the build is instrumented, so this is generous).
const MARGIN: Duration = Duration::from_secs(2);

/// Check that the runtime still works every this many inputs.
const RECHECK_EVERY: u64 = 100;

/// One fuzz input: a fixed header of [`HEADER_BYTES`] bytes that chooses the limits and
/// the context, then the script source (every remaining byte, as lossy UTF-8).
///
/// (A `Vec<u8>` last field would not do: `arbitrary` reads it as a continuation byte
/// before every element, so the source would be every other byte of the file.)
#[derive(Debug, Arbitrary)]
struct Input<'a> {
    header: Header,
    source: &'a [u8],
}

/// Bytes of the header.
const HEADER_BYTES: usize = 19;

/// The header's fields, in order. A limit field's bytes, read as a big-endian number
/// `n`, give `min + n % (max - min + 1)` (see [`Case::decode`]).
#[derive(Debug, Arbitrary)]
struct Header {
    /// Fuel: 1..=50,000,000 units.
    fuel: [u8; 4],
    /// Memory limit: 8..=32 MiB (any byte count in between).
    memory: [u8; 4],
    /// Timeout: 1..=200 ms.
    timeout: u8,
    /// QuickJS stack: 16 KiB..=1 MiB.
    stack: [u8; 3],
    /// Largest JSON result: 1..=64 KiB.
    output: [u8; 2],
    /// Host calls allowed: 0..=10.
    host_calls: u8,
    /// Console output kept: 0..=4 KiB.
    log: [u8; 2],
    /// Bit 0 a tenant, bit 1 a user, bit 2 a request id and locale, bit 3 a caller
    /// deadline (half the timeout), bit 4: compile first with `Runtime::compile` and run
    /// the compiled `Script`.
    flags: u8,
    /// Ignored: the seeds put a newline here, after their printable header.
    _separator: u8,
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_BYTES);

/// One decoded input.
#[derive(Debug)]
struct Case {
    fuel: u64,
    memory_bytes: u64,
    timeout: Duration,
    stack_bytes: u32,
    output_bytes: u32,
    host_calls: u32,
    log_bytes: u32,
    flags: u8,
    source: String,
}

impl Case {
    fn decode(input: &Input) -> Case {
        fn pick(bytes: &[u8], min: u64, max: u64) -> u64 {
            let n = bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
            min + n % (max - min + 1)
        }
        let h = &input.header;
        let small = |bytes: &[u8], min: u64, max: u64| pick(bytes, min, max) as u32;
        Case {
            fuel: pick(&h.fuel, 1, 50_000_000),
            memory_bytes: pick(&h.memory, 8 * MIB, 32 * MIB),
            timeout: Duration::from_millis(pick(&[h.timeout], 1, 200)),
            stack_bytes: small(&h.stack, 16 * 1024, 1024 * 1024),
            output_bytes: small(&h.output, 1, 64 * 1024),
            host_calls: small(&[h.host_calls], 0, 10),
            log_bytes: small(&h.log, 0, 4096),
            flags: h.flags,
            source: String::from_utf8_lossy(input.source).into_owned(),
        }
    }

    fn overrides(&self) -> LimitOverrides {
        let mut overrides = LimitOverrides::default();
        overrides.fuel = Some(self.fuel);
        overrides.memory_bytes = Some(self.memory_bytes);
        overrides.timeout = Some(self.timeout);
        overrides.stack_bytes = Some(self.stack_bytes);
        overrides.output_bytes = Some(self.output_bytes);
        overrides.host_calls = Some(self.host_calls);
        overrides.log_bytes = Some(self.log_bytes);
        overrides
    }
}

/// The runtime's own defaults: used by `Runtime::compile` and by the `1 + 1` check.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

struct Harness {
    tokio: tokio::runtime::Runtime,
    runtime: Runtime,
    margin: Duration,
    /// `JSRUNTIME_FUZZ_VERBOSE=1`: print each input's outcome on stderr (to see what a
    /// corpus exercises: `execute FILE...` runs just those files).
    verbose: bool,
    inputs: AtomicU64,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let mut config = Config::default();
    config.max_concurrency = 2;
    config.prewarm = 0;
    config.guest_threads = 1;
    config.limits.timeout = DEFAULT_TIMEOUT;
    let runtime = Runtime::builder()
        .config(config)
        .host_fn("echo", |call| async move { Ok(call.args) })
        .host_fn("fail", |call| async move {
            Err(HostFnError::new(format!("fail: {}", call.args)))
        })
        // Waits `args` ms (at most 1 s): past the deadline, the runtime must stop waiting.
        .host_fn("sleep", |call| async move {
            let ms = call.args.as_u64().unwrap_or(0).min(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(serde_json::json!(ms))
        })
        .host_fn("tenant", |call| async move {
            Ok(serde_json::json!(call.context.tenant_id()))
        })
        .build()
        .expect("the runtime starts");
    let margin = std::env::var("JSRUNTIME_FUZZ_MARGIN_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(MARGIN, Duration::from_millis);
    let verbose = std::env::var_os("JSRUNTIME_FUZZ_VERBOSE").is_some_and(|v| v != "0");
    Harness {
        tokio,
        runtime,
        margin,
        verbose,
        inputs: AtomicU64::new(0),
    }
});

fn context(flags: u8, timeout: Duration) -> ExecContext {
    let mut context = ExecContext::default();
    if flags & 1 != 0 {
        context = context.with_tenant(Tenant {
            id: "t1".into(),
            name: Some("Acme".into()),
        });
    }
    if flags & 2 != 0 {
        context = context.with_user(User {
            id: "u1".into(),
            email: Some("a@example.com".into()),
            first_name: Some("Ada".into()),
            last_name: None,
            permissions: vec!["read".into(), "write".into()],
        });
    }
    if flags & 4 != 0 {
        context = context.with_request_id("req-1").with_locale("en-US");
    }
    if flags & 8 != 0 {
        context = context.with_deadline(Instant::now() + timeout / 2);
    }
    context
}

fuzz_target!(
    init: {
        LazyLock::force(&HARNESS);
    },
    |input: Input<'_>| {
        let harness = &*HARNESS;
        let n = harness.inputs.fetch_add(1, Ordering::Relaxed);
        let case = Case::decode(&input);
        let timeout = case.timeout;
        let overrides = case.overrides();

        let started = Instant::now();
        let (compiled, execution) = harness.tokio.block_on(async {
            let request = if case.flags & 16 != 0 {
                match harness.runtime.compile("fuzz.js", &case.source).await {
                    Ok(script) => ExecRequest::script(&script),
                    Err(error) => return (Some(error), None),
                }
            } else {
                ExecRequest::source(case.source.as_str())
            };
            let request = request.limits(overrides).context(context(case.flags, timeout));
            (None, Some(harness.runtime.execute_detailed(&request).await))
        });
        let elapsed = started.elapsed();

        // A compile through `Runtime::compile` runs under the runtime's defaults.
        let allowed = if case.flags & 16 != 0 { DEFAULT_TIMEOUT + timeout } else { timeout }
            + harness.margin;
        assert!(
            elapsed <= allowed,
            "returned after {elapsed:?}, more than {allowed:?} (timeout {timeout:?}); \
             compile error {compiled:?}; execution {execution:?}"
        );

        let kind = match (&compiled, &execution) {
            (Some(error), _) => Some(error.kind()),
            (None, Some(execution)) => {
                check_execution(&case, execution);
                execution.result.as_ref().err().map(|error| error.kind())
            }
            (None, None) => unreachable!(),
        };
        guest_feedback(kind, execution.as_ref());
        if harness.verbose {
            let stats = execution.as_ref().map(|e| e.stats).unwrap_or_default();
            eprintln!(
                "outcome={} fuel={} memory_mib={} host_calls={} wall_ms={}",
                kind.map_or("ok", ErrorKind::as_str),
                stats.fuel_used,
                stats.memory_bytes / MIB,
                stats.host_calls,
                elapsed.as_millis()
            );
        }
        if let Some(kind) = kind {
            assert!(ErrorKind::ALL.contains(&kind));
            assert!(
                !matches!(kind, ErrorKind::Internal | ErrorKind::InvalidRequest),
                "a {kind} error with valid limits {:?}; compile error {compiled:?}; execution {execution:?}",
                overrides
            );
        }

        let recheck = n % RECHECK_EVERY == 0
            || kind.is_some_and(|kind| !matches!(kind, ErrorKind::Syntax | ErrorKind::Exception));
        if recheck {
            let started = Instant::now();
            let result = harness
                .tokio
                .block_on(harness.runtime.execute(&ExecRequest::source("1 + 1")));
            let elapsed = started.elapsed();
            assert_eq!(
                result.as_ref().map(|outcome| &outcome.value),
                Ok(&serde_json::json!(2)),
                "the runtime stopped working after an execution that failed with {kind:?}"
            );
            assert!(
                elapsed <= DEFAULT_TIMEOUT + harness.margin,
                "`1 + 1` took {elapsed:?}"
            );
        }
    }
);

/// Counters libFuzzer reads after each input, as it reads its own coverage counters (it
/// finds them by their section, on Linux) and resets before the next.
const EXTRA: usize = 4096;

/// Outcomes counted apart: every error kind, and success.
const KINDS: usize = ErrorKind::ALL.len() + 1;
const FUEL_AT: usize = 16;
const MEMORY_AT: usize = FUEL_AT + KINDS * 32;
const LOGS_AT: usize = MEMORY_AT + KINDS * 64;
const HOST_CALLS_AT: usize = LOGS_AT + 32;
const JSON_AT: usize = HOST_CALLS_AT + KINDS * 16;
const NAMES_AT: usize = JSON_AT + 6 * 32;
const _: () = assert!(NAMES_AT + KINDS * 32 <= EXTRA, "the feature regions overlap");
#[used]
#[link_section = "__libfuzzer_extra_counters"]
static EXTRA_COUNTERS: [AtomicU8; EXTRA] = [const { AtomicU8::new(0) }; EXTRA];

fn hit(feature: usize) {
    EXTRA_COUNTERS[feature % EXTRA].store(1, Ordering::Relaxed);
}

/// Powers of two: 0 for 0, 1 for 1, 2 for 2..=3, ... (at most 64).
fn log2_bucket(value: u64) -> usize {
    (64 - value.leading_zeros()) as usize
}

fn kind_index(kind: Option<ErrorKind>) -> usize {
    kind.map_or(ErrorKind::ALL.len(), |kind| {
        ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
    })
}

/// Reports, as extra counters, what the guest did (see the module's documentation).
fn guest_feedback(kind: Option<ErrorKind>, execution: Option<&jsruntime::Execution>) {
    let k = kind_index(kind); // 0..KINDS
    hit(k);
    let Some(execution) = execution else { return };
    let stats = &execution.stats;
    // kind x fuel: KINDS x 32
    hit(FUEL_AT + k * 32 + log2_bucket(stats.fuel_used).min(31));
    // kind x memory in MiB: KINDS x 64
    hit(MEMORY_AT + k * 64 + (stats.memory_bytes / MIB).min(63) as usize);
    // log records: 32
    hit(LOGS_AT + execution.logs.len().min(31));
    // host calls x kind: KINDS x 16
    hit(HOST_CALLS_AT + k * 16 + (stats.host_calls as usize).min(15));
    match &execution.result {
        // JSON type x size: 6 x 32
        Ok(value) => {
            let type_index = match value {
                serde_json::Value::Null => 0,
                serde_json::Value::Bool(_) => 1,
                serde_json::Value::Number(_) => 2,
                serde_json::Value::String(_) => 3,
                serde_json::Value::Array(_) => 4,
                serde_json::Value::Object(_) => 5,
            };
            let size = serde_json::to_string(value).map_or(0, |json| json.len() as u64);
            hit(JSON_AT + type_index * 32 + log2_bucket(size).min(31));
        }
        // error name x kind: KINDS x 32
        Err(error) => {
            let name = error
                .script_error()
                .and_then(|e| e.name.as_deref())
                .unwrap_or("");
            let hash = name
                .bytes()
                .fold(5381usize, |h, b| h.wrapping_mul(33) ^ usize::from(b));
            hit(NAMES_AT + k * 32 + hash % 32);
        }
    }
}

fn check_execution(case: &Case, execution: &jsruntime::Execution) {
    let stats = &execution.stats;
    assert!(
        stats.fuel_used <= case.fuel,
        "used {} fuel of a budget of {}",
        stats.fuel_used,
        case.fuel
    );
    assert!(
        stats.host_calls <= case.host_calls,
        "made {} host calls, {} allowed",
        stats.host_calls,
        case.host_calls
    );
    // The kept records are a prefix of the output within the cap; a final warning
    // (which is not counted) says what was dropped.
    let kept: usize = execution
        .logs
        .iter()
        .filter(|record| !record.message.starts_with("[jsruntime] log limit of"))
        .map(|record| record.message.len())
        .sum();
    assert!(
        kept <= case.log_bytes as usize,
        "kept {kept} log bytes, {} allowed",
        case.log_bytes
    );
    if let Ok(value) = &execution.result {
        // serde_json writes a value in no more bytes than QuickJS's JSON.stringify did
        // (it never escapes more, and writes numbers as short or shorter). `undefined`,
        // functions and symbols have no JSON text and become `null`, which is not
        // measured against the limit.
        let size = serde_json::to_string(value).expect("JSON").len();
        assert!(
            size <= case.output_bytes as usize || value.is_null(),
            "returned {size} bytes of JSON, {} allowed",
            case.output_bytes
        );
    }
}
