//! `host`: the host functions the service registered, as `host.call(name, args)` and,
//! for a function registered as `orders.get`, `host.orders.get(args)`.
//!
//! A call is synchronous to the script: the arguments cross as JSON text
//! ([`Services::call`](crate::services::Services::call)) and the result comes back as
//! JSON text that `host.js` parses. Both directions are JSON so that no JavaScript
//! object (with its getters, prototypes or proxies) ever reaches the host. An unknown
//! name or a failed call throws a catchable `Error` with the host's message.
//!
//! The object is built in JavaScript the first time a script reads `host` (a script that
//! never does costs no host call for the names), without the iterator protocol, `in`, or
//! descriptors that have a prototype, and deep-frozen: see the comments in `host.js`.

use rquickjs::{function::Func, Ctx, Exception, IntoJs, Object, Result, Value};

use super::Api;
use crate::services::{self, CallError};
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
    natives.set("functions", Func::from(functions))?;
    natives.into_js(ctx)
}

/// Calls a host function; returns its result as JSON text, or throws.
fn call<'js>(ctx: Ctx<'js>, name: Value<'js>, args: Value<'js>) -> Result<String> {
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
        Ok(json) => Ok(json),
        Err(CallError::UnknownFunction) => Err(Exception::throw_message(
            &ctx,
            &format!("unknown host function {}", json_string(&name)),
        )),
        Err(CallError::Failed(message)) => Err(Exception::throw_message(&ctx, &message)),
    }
}

/// The names of the host functions, as a JSON array (empty outside a run).
fn functions() -> String {
    let names = services::current()
        .map(|services| services.functions())
        .unwrap_or_default();
    let quoted: Vec<String> = names.iter().map(|name| json_string(name)).collect();
    format!("[{}]", quoted.join(","))
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
