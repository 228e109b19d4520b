//! Input and handlers: `ExecRequest::input`, the `input_bytes` limit, module scripts whose
//! entry export is called with the input, compiled modules.

use std::sync::Arc;

use jsruntime::{Config, ErrorKind, ExecContext, ExecRequest, MemoryModuleLoader, Runtime, Tenant};
use serde_json::json;

use crate::common::{assert_type_error, expect_kind, run_ok, run_request, runtime};

#[tokio::test]
async fn a_script_sees_its_input_as_a_global_and_none_without_one() {
    let rt = runtime();
    let request = ExecRequest::source("input.items.reduce((sum, item) => sum + item.price, 0)")
        .input(json!({ "items": [{ "price": 3 }, { "price": 4 }] }));
    assert_eq!(run_request(&rt, request).await, Ok(json!(7)));
    let request = ExecRequest::source("typeof input");
    assert_eq!(run_request(&rt, request).await, Ok(json!("undefined")));
    let request = ExecRequest::source("input").input_json(r#"[1, "two", null]"#);
    assert_eq!(run_request(&rt, request).await, Ok(json!([1, "two", null])));
}

/// The input is what `JSON.parse` of its text gives, to the edge cases: a `"__proto__"`
/// member is an own property (not the prototype), a repeated key keeps its first place
/// and its last value, `-0` stays `-0`, a number past the doubles is `Infinity`, integers
/// past 2^53 round as `JSON.parse` rounds them, and escapes decode.
#[tokio::test]
async fn the_input_is_what_json_parse_gives_for_its_text() {
    let rt = runtime();
    let text = r#"{"__proto__": {"polluted": true}, "b": 1, "a": 2, "b": 3, "zero": -0,
                   "huge": 1e400, "big": 9007199254740993, "s": "\u00e9\ud83d\ude00\n"}"#;
    let script = r#"const parsed = JSON.parse(INPUT_TEXT);
        [Object.getPrototypeOf(input) === Object.prototype, ({}).polluted === undefined,
         Object.hasOwn(input, "__proto__"), input.__proto__.polluted, Object.keys(input).join(),
         input.b, Object.is(input.zero, -0), input.huge === Infinity, input.big === parsed.big,
         input.s === "\u00e9\u{1F600}\n", input.s === parsed.s, JSON.stringify(input) === JSON.stringify(parsed)]"#
        .replace(
            "INPUT_TEXT",
            &serde_json::to_string(text).expect("text as a string"),
        );
    let request = ExecRequest::source(script).input_json(text);
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!([
            true,
            true,
            true,
            true,
            "__proto__,b,a,zero,huge,big,s",
            3,
            true,
            true,
            true,
            true,
            true,
            true
        ]))
    );
}

/// Random JSON texts (objects that share their keys, repeat them, escape them; numbers in
/// every form JSON has; strings with escapes and non-ASCII): the input made from each is,
/// value by value, key order, `-0` and property attributes included, what `JSON.parse`
/// makes of the same text in the same guest.
#[tokio::test]
async fn random_inputs_are_what_json_parse_gives_for_their_text() {
    const SAME: &str = r#"function same(a, b) {
        if (typeof a !== typeof b) return false;
        if (a === null || typeof a !== "object") return Object.is(a, b);
        if (Array.isArray(a) !== Array.isArray(b)) return false;
        if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
        const ka = Reflect.ownKeys(a), kb = Reflect.ownKeys(b);
        if (ka.length !== kb.length) return false;
        for (let i = 0; i < ka.length; i++) {
            if (ka[i] !== kb[i]) return false;
            const da = Object.getOwnPropertyDescriptor(a, ka[i]);
            const db = Object.getOwnPropertyDescriptor(b, kb[i]);
            if (da.writable !== db.writable || da.enumerable !== db.enumerable
                || da.configurable !== db.configurable || !("value" in da)) return false;
            if (!same(da.value, db.value)) return false;
        }
        return true;
    }"#;
    let rt = runtime();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for case in 0..60 {
        let mut text = String::new();
        random_json(&mut rng, 0, &mut text);
        let script = format!(
            "{SAME}\nsame(input, JSON.parse({}))",
            serde_json::to_string(&text).expect("text as a string")
        );
        let request = ExecRequest::source(script).input_json(&text);
        assert_eq!(
            run_request(&rt, request).await,
            Ok(json!(true)),
            "case {case}: {text}"
        );
    }
}

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn random_json(rng: &mut XorShift, depth: u32, out: &mut String) {
    const KEYS: [&str; 8] = [
        "id",
        "name",
        "price",
        "qty",
        "__proto__",
        "é",
        "a\\\"b",
        "0",
    ];
    const SPACE: [&str; 4] = ["", " ", "\n", "\t "];
    let space = |rng: &mut XorShift| SPACE[rng.below(4) as usize];
    let pick = if depth >= 4 {
        rng.below(5)
    } else {
        rng.below(8)
    };
    match pick {
        0 => out.push_str(["null", "true", "false"][rng.below(3) as usize]),
        1 => out.push_str(
            [
                "0",
                "-0",
                "7",
                "-42",
                "2147483647",
                "2147483648",
                "-2147483649",
                "0.5",
                "-1.25e-3",
                "1E+2",
                "1e400",
                "-1e400",
                "5e-324",
                "1e-400",
                "9007199254740993",
                "123456789012345678901234567890",
                "0.1",
                "1.7976931348623157e308",
            ][rng.below(18) as usize],
        ),
        2..=4 => {
            out.push('"');
            for _ in 0..rng.below(6) {
                out.push_str(
                    [
                        "a",
                        "é",
                        "😀",
                        "\\n",
                        "\\\"",
                        "\\\\",
                        "\\/",
                        "\\u00e9",
                        "\\ud83d\\ude00",
                        "\\u0000",
                        " ",
                    ][rng.below(11) as usize],
                );
            }
            out.push('"');
        }
        5 => {
            out.push('[');
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(space(rng));
                random_json(rng, depth + 1, out);
                out.push_str(space(rng));
            }
            out.push(']');
        }
        _ => {
            // Objects: often records with the same keys (one shape), sometimes a key twice.
            let records = rng.below(2) == 0;
            out.push('{');
            let count = if records { 3 } else { rng.below(5) };
            for i in 0..count {
                if i > 0 {
                    out.push(',');
                }
                let key = if records {
                    KEYS[i as usize]
                } else {
                    KEYS[rng.below(8) as usize]
                };
                out.push_str(space(rng));
                out.push_str(&format!("\"{key}\""));
                out.push_str(space(rng));
                out.push(':');
                random_json(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
}

#[tokio::test]
async fn each_execution_gets_a_fresh_copy_of_the_input() {
    let rt = runtime();
    let request = ExecRequest::source("input.count += 1; input.count").input(json!({ "count": 1 }));
    for _ in 0..3 {
        assert_eq!(run_request(&rt, request.clone()).await, Ok(json!(2)));
    }
}

#[tokio::test]
async fn an_input_past_its_limit_is_refused_before_any_instance() {
    let rt = runtime();
    let big = json!({ "blob": "x".repeat(2 * 1024 * 1024) });
    let execution = rt
        .execute_detailed(&ExecRequest::source("1").input(big.clone()))
        .await;
    let error = execution
        .result
        .expect_err("a 2 MiB input is past the 1 MiB default");
    assert_eq!(error.kind(), ErrorKind::InputLimit);
    assert!(error.to_string().contains("1048576"), "{error}");
    assert_eq!(execution.stats.instance_id, 0, "no instance was used");
    let request = ExecRequest::source("input.blob.length")
        .input(big)
        .input_bytes(4 * 1024 * 1024);
    assert_eq!(run_request(&rt, request).await, Ok(json!(2 * 1024 * 1024)));
    let request = ExecRequest::source("1")
        .input(json!([1, 2, 3]))
        .input_bytes(4);
    expect_kind(run_request(&rt, request).await, ErrorKind::InputLimit);
}

#[tokio::test]
async fn unusable_input_is_an_invalid_request() {
    let rt = runtime();
    let request = ExecRequest::source("1").input_json("{ not json");
    let error = expect_kind(run_request(&rt, request).await, ErrorKind::InvalidRequest);
    assert!(error.to_string().contains("input"), "{error}");
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    let request = ExecRequest::source("1").input(deep);
    expect_kind(run_request(&rt, request).await, ErrorKind::InvalidRequest);
    let request = ExecRequest::source("1").entry("handle");
    expect_kind(run_request(&rt, request).await, ErrorKind::InvalidRequest);
}

#[tokio::test]
async fn a_module_calls_its_default_export_with_the_input_and_awaits_it() {
    let rt = runtime();
    let source = r#"
        const rates = await Promise.resolve({ vat: 0.25 });
        export default async function price(cart) {
            const net = cart.items.reduce((sum, item) => sum + item.price * item.qty, 0);
            await null;
            return { net, gross: net * (1 + rates.vat), same: cart === input };
        }
    "#;
    let request = ExecRequest::module(source)
        .name("rules/price.js")
        .input(json!({ "items": [{ "price": 10, "qty": 2 }, { "price": 5, "qty": 4 }] }));
    assert_eq!(
        run_request(&rt, request).await,
        Ok(json!({ "net": 40, "gross": 50, "same": true }))
    );
}

#[tokio::test]
async fn a_named_entry_is_called_and_a_bad_one_is_a_type_error_naming_it() {
    let rt = runtime();
    let source =
        "export function validate(order) { return order.total > 0; } export const limit = 3;";
    let request = ExecRequest::module(source)
        .entry("validate")
        .input(json!({ "total": 12 }));
    assert_eq!(run_request(&rt, request).await, Ok(json!(true)));
    let missing = ExecRequest::module(source).entry("handle");
    let error = assert_type_error(run_request(&rt, missing).await, "a missing export");
    assert!(error.message.contains("handle"), "{}", error.message);
    let not_a_function = ExecRequest::module(source).entry("limit");
    let error = assert_type_error(
        run_request(&rt, not_a_function).await,
        "a non-function export",
    );
    assert!(error.message.contains("limit"), "{}", error.message);
    let no_default = ExecRequest::module(source);
    assert_eq!(run_request(&rt, no_default).await, Ok(json!(null)));
}

#[tokio::test]
async fn modules_have_context_console_and_host() {
    let rt = Runtime::builder()
        .host_fn("rates.get", |_call| async move { Ok(json!(0.2)) })
        .build()
        .expect("a runtime starts");
    let source = r#"
        console.log("top level");
        export default (order) => {
            console.log("handler");
            return [context.tenant.id, host.rates.get(), order.id];
        };
    "#;
    let context = ExecContext::default().with_tenant(Tenant {
        id: "t1".into(),
        name: None,
    });
    let request = ExecRequest::module(source)
        .context(context)
        .input(json!({ "id": 7 }));
    let outcome = run_ok(&rt, request).await;
    assert_eq!(outcome.value, json!(["t1", 0.2, 7]));
    let logs: Vec<&str> = outcome
        .logs
        .iter()
        .map(|log| log.message.as_str())
        .collect();
    assert_eq!(logs, ["top level", "handler"]);
}

#[tokio::test]
async fn a_handler_called_many_times_is_compiled_once() {
    let rt = runtime();
    let source = "export default (x) => x * 2;";
    let before = rt.cache_stats().await;
    for i in 0..5 {
        let request = ExecRequest::module(source)
            .name("double.js")
            .input(json!(i));
        let outcome = run_ok(&rt, request).await;
        assert_eq!(outcome.value, json!(i * 2));
        assert_eq!(outcome.stats.cache_hit, i > 0);
    }
    let after = rt.cache_stats().await;
    assert_eq!(after.misses - before.misses, 1);
    let script = rt
        .compile_module("double.js", source)
        .await
        .expect("compiles");
    assert!(script.is_module());
    let request = ExecRequest::script(&script).input(json!(21));
    assert_eq!(run_request(&rt, request).await, Ok(json!(42)));
    // A script and a module of the same name and source are not the same bytecode.
    let as_script = ExecRequest::source(source).name("double.js");
    expect_kind(run_request(&rt, as_script).await, ErrorKind::Syntax);
}

#[tokio::test]
async fn a_compiled_module_imports_for_each_callers_tenant() {
    let loader = MemoryModuleLoader::new()
        .with_tenant("t1", "lib/rate.js", "export default 1;")
        .with_tenant("t2", "lib/rate.js", "export default 2;");
    let rt = Runtime::builder()
        .config(Config::default())
        .module_loader(Arc::new(loader))
        .build()
        .expect("a runtime starts");
    let script = rt
        .compile_module(
            "main.js",
            "import rate from 'lib/rate.js'; export default () => rate;",
        )
        .await
        .expect("compiles without its imports");
    for (tenant, rate) in [("t1", 1), ("t2", 2)] {
        let context = ExecContext::default().with_tenant(Tenant {
            id: tenant.into(),
            name: None,
        });
        let request = ExecRequest::script(&script).context(context);
        assert_eq!(run_request(&rt, request).await, Ok(json!(rate)));
    }
}
