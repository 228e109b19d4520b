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
