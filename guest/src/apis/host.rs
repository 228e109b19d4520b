//! `host`: the host functions the service registered, as `host.call(name, args)` and,
//! for a function registered as `orders.get`, `host.orders.get(args)`.
//!
//! The service chooses, per function, how a script sees it. A blocking function's call
//! waits for the host: the arguments cross as JSON text
//! ([`Services::call`](crate::services::Services::call)) and the result comes back as
//! JSON text, read into a value by [`crate::json`]; an unknown name or a failed call throws a catchable
//! `Error` with the host's message. A Promise function's call returns a Promise at once
//! ([`Services::start_call`](crate::services::Services::start_call)); the host runs the
//! call while the script goes on, and the [`event_loop`](crate::event_loop) settles the
//! promise with the parsed result, or rejects it with an `Error` carrying the host's
//! message. Both directions are JSON so that no JavaScript object (with its getters,
//! prototypes or proxies) ever reaches the host.
//!
//! The object is built in JavaScript the first time a script reads `host` (a script that
//! never does costs no host call for the names), without the iterator protocol, `in`, or
//! descriptors that have a prototype, and deep-frozen: see the comments in `host.js`.

use rquickjs::{function::Func, Ctx, Exception, IntoJs, Object, Promise, Result, Value};

use super::Api;
use crate::event_loop;
use crate::services::{self, CallError, CallStyle};
use crate::value::{json_string, to_text_lossy};

/// `host`.
pub const API: Api = Api {
    name: "host",
    native: natives,
    js: Some(include_str!("host.js")),
};

/// `{ call(name, argsJson), functions() }` for `host.js`.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("call", Func::from(call))?;
    natives.set("start", Func::from(start))?;
    natives.set("functions", Func::from(functions))?;
    natives.into_js(ctx)
}

/// Calls a host function; returns its result (the host's JSON, read as `JSON.parse`
/// reads it: [`crate::json`]), or throws.
fn call<'js>(ctx: Ctx<'js>, name: Value<'js>, args: Value<'js>) -> Result<Value<'js>> {
    let name = to_text_lossy(&ctx, &name, "");
    // `host.js` always passes JSON text, `null` for what JSON has no text for.
    let args = to_text_lossy(&ctx, &args, "null");
    let Some(services) = services::current() else {
        return Err(Exception::throw_internal(
            &ctx,
            "host services are not available",
        ));
    };
    match services.call(&name, &args) {
        Ok(json) => crate::json::parse(&ctx, &json),
        Err(CallError::UnknownFunction) => Err(Exception::throw_message(
            &ctx,
            &format!("unknown host function {}", json_string(&name)),
        )),
        Err(CallError::Failed(message)) => Err(Exception::throw_message(&ctx, &message)),
    }
}

/// Starts a Promise host function's call; returns its promise.
fn start<'js>(ctx: Ctx<'js>, name: Value<'js>, args: Value<'js>) -> Result<Promise<'js>> {
    let name = to_text_lossy(&ctx, &name, "");
    let args = to_text_lossy(&ctx, &args, "null");
    event_loop::start_call(&ctx, &name, &args)
}

/// The host functions as a JSON array of `[name, isPromise]` pairs (empty outside a run).
fn functions() -> String {
    let functions = services::current()
        .map(|services| services.functions())
        .unwrap_or_default();
    let pairs: Vec<String> = functions
        .iter()
        .map(|function| {
            let promise = function.style == CallStyle::Promise;
            format!("[{},{promise}]", json_string(&function.name))
        })
        .collect();
    format!("[{}]", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use crate::services::CallError;
    use crate::testing::{run_ok, Fake};

    /// A fake whose functions answer with their arguments, except `fail`.
    fn fake(names: &[&str]) -> Fake {
        let mut fake = Fake::default();
        for name in names {
            fake.functions.push((*name).to_owned());
        }
        fake.reply = |name, args| match name {
            "fail" => Err(CallError::Failed("the host said no".to_owned())),
            _ => Ok(format!("{{\"echo\":{args}}}")),
        };
        fake
    }

    /// [`fake`], with `names` as Promise functions instead.
    fn promise_fake(names: &[&str]) -> Fake {
        let mut fake = fake(&[]);
        fake.promise_functions = names.iter().map(|name| (*name).to_owned()).collect();
        fake
    }

    #[test]
    fn a_promise_function_returns_a_promise_of_its_result() {
        let fake = promise_fake(&["orders.fetch"]);
        let result = run_ok(
            &fake,
            r#"const p = host.orders.fetch({ id: 1 });
               const viaCall = host.call("orders.fetch", 2);
               Promise.all([p instanceof Promise, viaCall instanceof Promise, p, viaCall])"#,
        );
        assert_eq!(result, r#"[true,true,{"echo":{"id":1}},{"echo":2}]"#);
        assert_eq!(fake.calls().len(), 2);
    }

    #[test]
    fn calls_settle_in_the_order_the_host_ends_them() {
        let mut fake = promise_fake(&["f"]);
        fake.reverse_completions = true;
        let result = run_ok(
            &fake,
            r#"const order = [];
               const calls = [1, 2, 3].map((n) => host.f(n).then((r) => { order.push(r.echo); return r.echo; }));
               Promise.all(calls).then((all) => [all, order])"#,
        );
        // Promise.all keeps the calls' order; the reactions ran in the host's.
        assert_eq!(result, "[[1,2,3],[3,2,1]]");
    }

    #[test]
    fn a_failed_or_unknown_promise_call_rejects_with_an_error() {
        let fake = promise_fake(&["fail", "ok"]);
        let result = run_ok(
            &fake,
            r#"const reason = (p) => p.then(() => "resolved", (e) => [e instanceof Error, e.message]);
               Promise.all([reason(host.fail()), reason(host.call("fail")), host.ok(7)])"#,
        );
        assert_eq!(
            result,
            r#"[[true,"the host said no"],[true,"the host said no"],{"echo":7}]"#
        );
    }

    #[test]
    fn blocking_and_promise_functions_and_timers_mix() {
        let mut fake = fake(&["now"]);
        fake.promise_functions = vec!["later".to_owned()];
        let result = run_ok(
            &fake,
            r#"(async () => {
                const log = [];
                const later = host.later("l").then((r) => log.push(r.echo));
                log.push(host.now("n").echo);
                await new Promise((done) => setTimeout(done, 5));
                await later;
                return log;
            })()"#,
        );
        assert_eq!(result, r#"["n","l"]"#);
    }

    #[test]
    fn calls_still_in_flight_when_the_result_settles_are_left_behind() {
        let fake = promise_fake(&["f"]);
        let result = run_ok(
            &fake,
            r#"host.f(1).then(() => console.log("too late")); "done""#,
        );
        assert_eq!(result, r#""done""#);
        assert!(fake.logs().is_empty());
    }

    #[test]
    fn call_sends_the_name_and_json_arguments_and_parses_the_result() {
        let fake = fake(&["orders.get"]);
        let result = run_ok(
            &fake,
            r#"host.call("orders.get", {id: 1, tags: ["a"]}).echo"#,
        );
        assert_eq!(result, r#"{"id":1,"tags":["a"]}"#);
        assert_eq!(
            fake.calls(),
            [(
                "orders.get".to_owned(),
                r#"{"id":1,"tags":["a"]}"#.to_owned()
            )]
        );
    }

    #[test]
    fn a_registered_name_is_a_function_nested_by_its_dots() {
        let fake = fake(&["orders.get", "orders.list", "ping"]);
        let result = run_ok(
            &fake,
            r#"[host.orders.get({id: 2}).echo.id, host.orders.list().echo, host.ping("x").echo]"#,
        );
        assert_eq!(result, r#"[2,null,"x"]"#);
        assert_eq!(
            fake.calls(),
            [
                ("orders.get".to_owned(), r#"{"id":2}"#.to_owned()),
                ("orders.list".to_owned(), "null".to_owned()),
                ("ping".to_owned(), r#""x""#.to_owned()),
            ]
        );
    }

    #[test]
    fn arguments_json_cannot_express_are_sent_as_null() {
        // Review finding #11: these used to reach the host as the text `undefined`.
        let fake = fake(&["f"]);
        run_ok(
            &fake,
            r#"host.call("f"); host.call("f", undefined); host.call("f", () => 1);
               host.call("f", Symbol("s")); host.call("f", { toJSON() { return undefined; } });
               host.f(() => 1);"#,
        );
        let args: Vec<String> = fake.calls().into_iter().map(|(_, args)| args).collect();
        assert_eq!(args, ["null"; 6]);
    }

    #[test]
    fn unknown_names_and_host_errors_throw_catchable_errors() {
        let fake = fake(&["fail"]);
        let result = run_ok(
            &fake,
            r#"const caught = (f) => { try { f(); return "no error"; } catch (e) { return [e instanceof Error, e.message]; } };
               [caught(() => host.call("nope", 1)), caught(() => host.fail()), caught(() => host.call(1))]"#,
        );
        assert_eq!(
            result,
            r#"[[true,"unknown host function \"nope\""],[true,"the host said no"],[true,"host.call: the function name must be a string"]]"#
        );
        // Every call that reached the host counts there, an unknown name too.
        assert_eq!(
            fake.calls(),
            [
                ("nope".to_owned(), "1".to_owned()),
                ("fail".to_owned(), "null".to_owned()),
            ]
        );
    }

    #[test]
    fn a_result_that_is_not_json_throws() {
        let mut fake = fake(&["bad"]);
        fake.reply = |_, _| Ok("undefined".to_owned());
        let result = run_ok(
            &fake,
            r#"try { host.bad(); } catch (e) { e instanceof SyntaxError }"#,
        );
        assert_eq!(result, "true");
    }

    #[test]
    fn host_is_frozen_all_the_way_down_and_has_no_prototypes() {
        let fake = fake(&["orders.get", "a.b.c"]);
        let result = run_ok(
            &fake,
            r#"[Object.isFrozen(host), Object.isFrozen(host.orders), Object.isFrozen(host.a.b),
                Object.isFrozen(host.orders.get), Object.isFrozen(host.call),
                Object.getPrototypeOf(host), Object.getPrototypeOf(host.a.b),
                host === host, Object.keys(host)]"#,
        );
        assert_eq!(
            result,
            r#"[true,true,true,true,true,null,null,true,["call","orders","a"]]"#
        );
    }

    #[test]
    fn colliding_names_stay_reachable_through_call() {
        let fake = fake(&["orders", "orders.get", "call", "__proto__.x"]);
        let result = run_ok(
            &fake,
            r#"[typeof host.orders, typeof host.orders.get, host.call("orders", 1).echo,
                host.call("call", 2).echo, typeof host["__proto__"].x]"#,
        );
        assert_eq!(result, r#"["object","function",1,2,"function"]"#);
    }

    #[test]
    fn a_script_that_tampered_first_still_gets_the_whole_frozen_host() {
        let fake = fake(&["orders.get", "orders.list"]);
        let result = run_ok(
            &fake,
            r#"Array.prototype[Symbol.iterator] = function* () {};
               Object.defineProperty(Object.prototype, "get", { get() { throw new Error("read get"); } });
               Object.prototype.writable = true;
               Object.freeze = (o) => o;
               JSON.stringify = () => "\"tampered\"";
               JSON.parse = () => "tampered";
               String.prototype.split = () => [];
               [Object.isFrozen(host.orders), Object.keys(host.orders), host.orders.get({id: 3}).echo.id]"#,
        );
        assert_eq!(result, r#"[true,["get","list"],3]"#);
    }
}
