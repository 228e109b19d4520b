//! `AbortController` and `AbortSignal` (DOM Standard §3 "Aborting ongoing activities"),
//! in JavaScript (`abort.js`), on top of [`super::event`].
//!
//! What it supports: `new AbortController()` with `signal` and `abort(reason)`;
//! `AbortSignal.abort(reason)`, `AbortSignal.any(signals)` (a dependent signal, aborted
//! with the reason of the first of its sources to abort, before any `abort` event is
//! fired), `aborted`, `reason`, `throwIfAborted()`, `onabort`, and one trusted `abort`
//! event per signal. A reason left out is an "AbortError" `DOMException`. The
//! `signal` option of `addEventListener` removes its listener on abort.
//!
//! `AbortSignal.timeout(ms)` aborts its signal with a "TimeoutError" `DOMException` from
//! one of the run's timers (see [`timers`](super::timers)): it fires while the run waits,
//! like any timer, and not once the result has settled.
//!
//! A dependent signal holds its sources, and they hold it, for as long as the run lasts
//! (the standard allows collecting them earlier; a run is short and its instance is
//! thrown away after it).

use rquickjs::{Ctx, Result, Value};

use super::Api;

/// `AbortController` and `AbortSignal`; JavaScript only.
pub const API: Api = Api {
    name: "abort",
    native: no_natives,
    js: Some(include_str!("abort.js")),
};

/// The JavaScript part needs nothing native.
fn no_natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    Ok(Value::new_undefined(ctx.clone()))
}

#[cfg(test)]
mod tests {
    use crate::testing::{run_ok, Fake};

    fn js(source: &str) -> String {
        run_ok(&Fake::default(), source)
    }

    #[test]
    fn abort_sets_the_reason_and_fires_one_trusted_event() {
        let result = js(r#"const controller = new AbortController();
               const signal = controller.signal;
               const seen = [];
               signal.addEventListener("abort", (e) => seen.push([e.type, e.isTrusted, e.target === signal, signal.aborted]));
               const before = [signal.aborted, signal.reason, signal === controller.signal];
               controller.abort();
               controller.abort("again");
               const reason = signal.reason;
               [before, seen, reason instanceof DOMException, reason.name, reason.code]"#);
        assert_eq!(
            result,
            r#"[[false,null,true],[["abort",true,true,true]],true,"AbortError",20]"#
        );
    }

    #[test]
    fn a_reason_given_is_kept_and_thrown_as_is() {
        let result = js(r#"const controller = new AbortController();
               const reason = { why: "stop" };
               const untouched = (() => { try { controller.signal.throwIfAborted(); return "not thrown"; } catch (e) { return e; } })();
               controller.abort(reason);
               let thrown;
               try { controller.signal.throwIfAborted(); } catch (e) { thrown = e; }
               const falsy = new AbortController();
               falsy.abort(0);
               [untouched, thrown === reason, controller.signal.reason === reason, falsy.signal.aborted, falsy.signal.reason]"#);
        assert_eq!(result, r#"["not thrown",true,true,true,0]"#);
    }

    #[test]
    fn onabort_is_an_event_handler() {
        let result = js(r#"const controller = new AbortController();
               const signal = controller.signal;
               const order = [];
               const handler = function (e) { order.push(["onabort", this === signal, e.type]); };
               const defaults = [signal.onabort];
               signal.onabort = handler;
               signal.addEventListener("abort", () => order.push("listener"));
               signal.onabort = function () { order.push("replaced, same place"); };
               const other = new AbortController();
               other.signal.onabort = () => order.push("never");
               other.signal.onabort = null;
               other.signal.onabort = 5;
               other.abort();
               controller.abort();
               [defaults, order, typeof signal.onabort, other.signal.onabort]"#);
        assert_eq!(
            result,
            r#"[[null],["replaced, same place","listener"],"function",null]"#
        );
    }

    #[test]
    fn timeout_aborts_with_a_timeout_error_after_its_delay() {
        let result = js(r#"new Promise((done) => {
                const signal = AbortSignal.timeout(5);
                const before = signal.aborted;
                const errors = [NaN, -1, Infinity, 2 ** 53].map((ms) => {
                    try { AbortSignal.timeout(ms); return "no error"; } catch (e) { return e.name; }
                });
                signal.onabort = () => done([before, signal.aborted, signal.reason.name, signal.reason.code, errors,
                                             AbortSignal.timeout(2 ** 40).aborted]);
            })"#);
        assert_eq!(
            result,
            r#"[false,true,"TimeoutError",23,["TypeError","TypeError","TypeError","TypeError"],false]"#
        );
    }

    #[test]
    fn the_static_abort_makes_an_aborted_signal() {
        let result = js(r#"const a = AbortSignal.abort();
               const b = AbortSignal.abort("why");
               const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               [a.aborted, a.reason.name, b.reason, a instanceof EventTarget,
                caught(() => new AbortSignal()), caught(() => AbortSignal()),
                caught(() => { class S extends AbortSignal {}; new S(); })]"#);
        assert_eq!(
            result,
            r#"[true,"AbortError","why",true,"TypeError","TypeError","TypeError"]"#
        );
    }

    #[test]
    fn any_follows_its_sources_and_all_reasons_are_set_before_the_events() {
        let result = js(r#"const a = new AbortController();
               const b = new AbortController();
               const either = AbortSignal.any([a.signal, b.signal]);
               const nested = AbortSignal.any([either]);
               const never = AbortSignal.any([]);
               const order = [];
               b.signal.onabort = () => order.push(["b", either.aborted, nested.aborted]);
               a.signal.onabort = () => order.push("a");
               either.onabort = () => order.push("either");
               nested.onabort = () => order.push("nested");
               b.abort("b went");
               a.abort("a went");
               [order, either.reason, nested.reason, never.aborted, b.signal.aborted]"#);
        assert_eq!(
            result,
            r#"[[["b",true,true],"either","nested","a"],"b went","b went",false,true]"#
        );
    }

    #[test]
    fn any_of_an_aborted_signal_is_aborted_already() {
        let result = js(r#"const done = AbortSignal.abort("early");
               const fresh = new AbortController();
               const any = AbortSignal.any(new Set([fresh.signal, done]));
               const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               [any.aborted, any.reason, caught(() => AbortSignal.any([{}])), caught(() => AbortSignal.any(1)),
                caught(() => AbortSignal.any())]"#);
        assert_eq!(
            result,
            r#"[true,"early","TypeError","TypeError","TypeError"]"#
        );
    }

    #[test]
    fn a_listener_with_a_signal_goes_when_the_signal_aborts() {
        let result = js(r#"const target = new EventTarget();
               const controller = new AbortController();
               const order = [];
               target.addEventListener("e", () => order.push("with signal"), { signal: controller.signal });
               target.addEventListener("e", () => order.push("never"), { signal: AbortSignal.abort() });
               target.dispatchEvent(new Event("e"));
               controller.abort();
               target.dispatchEvent(new Event("e"));
               const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               [order, caught(() => target.addEventListener("e", () => {}, { signal: null })),
                caught(() => target.addEventListener("e", () => {}, { signal: {} }))]"#);
        assert_eq!(result, r#"[["with signal"],"TypeError","TypeError"]"#);
    }

    #[test]
    fn the_interfaces_have_webidl_shapes() {
        let result = js(
            r#"const d = (o, k) => Object.getOwnPropertyDescriptor(o, k);
               const global = d(globalThis, "AbortSignal");
               [AbortController.length, AbortSignal.length, AbortSignal.any.length, AbortSignal.abort.length,
                AbortController.prototype.abort.length,
                Object.getPrototypeOf(AbortSignal) === EventTarget,
                Object.prototype.toString.call(new AbortController()),
                Object.prototype.toString.call(new AbortController().signal),
                Object.keys(AbortSignal.prototype), Object.keys(AbortSignal), Object.keys(AbortController.prototype),
                global.writable, global.enumerable, global.configurable,
                "timeout" in AbortSignal]"#,
        );
        assert_eq!(
            result,
            r#"[0,0,1,0,0,true,"[object AbortController]","[object AbortSignal]",["aborted","reason","throwIfAborted","onabort"],["abort","timeout","any"],["signal","abort"],true,false,true,true]"#
        );
    }

    #[test]
    fn brand_checks() {
        let result = js(
            r#"const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               const d = (o, k) => Object.getOwnPropertyDescriptor(o, k);
               [caught(() => d(AbortSignal.prototype, "aborted").get.call(new EventTarget())),
                caught(() => d(AbortSignal.prototype, "onabort").set.call({}, () => {})),
                caught(() => AbortController.prototype.abort.call({})),
                caught(() => AbortSignal.prototype.throwIfAborted.call(AbortSignal))]"#,
        );
        assert_eq!(
            result,
            r#"["TypeError","TypeError","TypeError","TypeError"]"#
        );
    }
}
