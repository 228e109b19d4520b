//! A property test of the host-function boundary: arbitrary JSON values cross it in both
//! directions unchanged.
//!
//! - Argument path: the script builds the value (`JSON.parse` of text it reads from its
//!   context) and passes it to the host function `echo`, which records what it received
//!   and returns it; the script returns what `echo` returned.
//! - Result path: the host function `give` returns the value to the script, which
//!   returns it as its result.
//!
//! One runtime (and one tokio runtime) serves every case; the sources never change, so
//! the compile cache holds two entries whatever the number of cases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsruntime::{Config, ExecContext, ExecRequest, HostFnError, Runtime};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Number, Value};

/// The value each case sends travels to the guest as the request id (JSON text), so
/// every case runs the same two sources.
const ARGUMENT_PATH: &str = "host.call('echo', JSON.parse(context.requestID))";
const RESULT_PATH: &str = "host.call('give', null)";

struct Harness {
    tokio: tokio::runtime::Runtime,
    runtime: Runtime,
    /// What `echo` received, by request id (the case's JSON text: the tests of this
    /// binary run in parallel, and equal ids carry equal values).
    echoed: Arc<Mutex<HashMap<String, Value>>>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a tokio runtime");
        let echoed = Arc::new(Mutex::new(HashMap::new()));
        let record = Arc::clone(&echoed);
        let runtime = tokio
            .block_on(async {
                Runtime::builder()
                    .config({
                        let mut value = Config::default();
                        value.max_concurrency = 2;
                        value
                    })
                    .host_fn("echo", move |call| {
                        let id = call.context.request_id.clone().unwrap_or_default();
                        record
                            .lock()
                            .expect("not poisoned")
                            .insert(id, call.args.clone());
                        async move { Ok(call.args) }
                    })
                    .host_fn("give", |call| async move {
                        let text = call.context.request_id.as_deref().unwrap_or("null");
                        serde_json::from_str(text)
                            .map_err(|e| HostFnError::new(format!("bad case: {e}")))
                    })
                    .build()
            })
            .expect("the runtime starts");
        Harness {
            tokio,
            runtime,
            echoed,
        }
    })
}

/// Equality of JSON values, with numbers compared as f64: JSON has one number type, and
/// JavaScript prints a float with no fraction as an integer (`1.0` comes back as `1`,
/// `-0.0` as `0`), so an `f64` number may come back as an integer of the same value.
/// Object keys are compared as sets: JavaScript orders integer-like keys first.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(key, x)| ys.get(key).is_some_and(|y| same_json(x, y)))
        }
        _ => a == b,
    }
}

/// Strings: any Unicode scalar values (control characters and astral planes included),
/// and a few that mean something to JavaScript or JSON.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}\u{2029}\u{feff}\u{fffd}\u{10ffff}a-z]{0,12}",
        1 => prop::sample::select(vec![
            String::new(),
            "__proto__".to_owned(),
            "constructor".to_owned(),
            "toJSON".to_owned(),
            "0".to_owned(),
            "4294967295".to_owned(),
            "-1".to_owned(),
            "\u{0}".to_owned(),
            "😀".to_owned(),
        ]),
    ]
}

/// Finite doubles whose JSON text reads back as the same double.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        -1.0e6..1.0e6f64,
        prop::sample::select(vec![
            0.0,
            -0.0,
            0.1,
            1.0,
            1e21,
            1e-7,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE
        ]),
    ]
    .prop_filter("finite and round-trips through JSON text", |x| {
        x.is_finite()
            && serde_json::to_string(x)
                .ok()
                .and_then(|text| serde_json::from_str::<f64>(&text).ok())
                == Some(*x)
    })
}

const MAX_SAFE: i64 = (1 << 53) - 1;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-MAX_SAFE..=MAX_SAFE).prop_map(|n| Value::Number(n.into())),
        (-1000i64..1000).prop_map(|n| Value::Number(n.into())),
        float().prop_map(|x| Number::from_f64(x).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ]
}

/// JSON values nested at most 5 deep.
fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn run(source: &str, value: &Value) -> Result<Value, String> {
    let harness = harness();
    let text = serde_json::to_string(value).expect("a JSON value serializes");
    let request = ExecRequest::source(source)
        .context(ExecContext::default().with_request_id(text))
        .timeout(std::time::Duration::from_secs(10));
    harness
        .tokio
        .block_on(harness.runtime.execute(&request))
        .map(|outcome| outcome.value)
        .map_err(|error| format!("{}: {error}", error.kind()))
}

/// The argument path: what `echo` received, and what the script returned.
fn through_echo(value: &Value) -> (Option<Value>, Result<Value, String>) {
    let result = run(ARGUMENT_PATH, value);
    let id = serde_json::to_string(value).expect("a JSON value serializes");
    let received = harness().echoed.lock().expect("not poisoned").remove(&id);
    (received, result)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Keep no regression files beside the test sources; a failure prints its input.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn json_values_cross_the_host_function_boundary_unchanged(value in json_value()) {
        // Argument path: script -> echo -> script -> result.
        let (received, result) = through_echo(&value);
        prop_assert!(
            received.as_ref().is_some_and(|received| same_json(received, &value)),
            "echo received {received:?}, the script passed {value}"
        );
        let result = result.map_err(TestCaseError::fail)?;
        prop_assert!(same_json(&result, &value), "echo's value came back as {result}, sent {value}");

        // Result path: give -> script -> result.
        let result = run(RESULT_PATH, &value).map_err(TestCaseError::fail)?;
        prop_assert!(same_json(&result, &value), "give's value came back as {result}, gave {value}");
    }
}

/// The awkward values a random run might miss, checked every time.
#[test]
fn awkward_values_cross_the_boundary_unchanged() {
    let values = [
        serde_json::json!({
            "__proto__": { "polluted": true },
            "constructor": "c",
            "toJSON": 1,
            "10": "integer-like keys come first in JavaScript",
            "": [null, true, false],
        }),
        serde_json::json!([
            "\u{0}\u{1}\u{1f}\"\\/\u{7f}\u{2028}\u{2029}\u{feff}\u{fffd}😀\u{10ffff}",
            9_007_199_254_740_991_i64,
            -9_007_199_254_740_991_i64,
            1e300,
            -0.0,
            5e-324,
            0.1,
            1.0,
            // JavaScript writes it as the integer 253533256143629100000, past u64; without
            // serde_json's `float_roundtrip` that text parsed to the next double up.
            2.535_332_561_436_291e20,
            [[[[[]]]]],
        ]),
        serde_json::json!("just a string"),
        serde_json::json!(null),
    ];
    for value in &values {
        let (received, result) = through_echo(value);
        let result = result.expect("the argument path runs");
        assert!(
            received.as_ref().is_some_and(|r| same_json(r, value)),
            "echo received {received:?}, the script passed {value}"
        );
        assert!(
            same_json(&result, value),
            "echo gave back {result}, sent {value}"
        );
        let result = run(RESULT_PATH, value).expect("the result path runs");
        assert!(
            same_json(&result, value),
            "give's value came back as {result}, gave {value}"
        );
    }
}
