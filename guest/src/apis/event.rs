//! `Event` and `EventTarget` (DOM Standard §2 "Events": "Interface Event", "Interface
//! EventTarget", "Dispatching events"), in JavaScript (`event.js`): there is nothing for
//! native code to speed up, and every step calls back into script anyway.
//!
//! What it supports: `new Event(type, { bubbles, cancelable, composed })` with `type`,
//! `target`, `srcElement`, `currentTarget`, `eventPhase` and the phase constants,
//! `bubbles`, `cancelable`, `composed`, `defaultPrevented`, `returnValue`, `cancelBubble`,
//! `isTrusted` (an own unforgeable property; true only for events the APIs fire
//! themselves, such as `abort`), `timeStamp`, `preventDefault()` (which does nothing for
//! an event that is not cancelable, or inside a passive listener),
//! `stopPropagation()`, `stopImmediatePropagation()`, `composedPath()`, `initEvent()`;
//! `new EventTarget()` with `addEventListener(type, callback or { handleEvent },
//! options or capture)` (`capture`, `once`, `passive`, `signal`), `removeEventListener`
//! and `dispatchEvent`, which returns `!defaultPrevented` and throws an
//! "InvalidStateError" `DOMException` for an event already being dispatched or not
//! initialized.
//!
//! Choices where the standard leaves room or assumes a browser:
//! - An exception thrown by a listener is "reported" (HTML "report an exception"): the
//!   guest has no `onerror`, so it goes to the host's log as an error record, formatted
//!   as `console.error("Uncaught", error)` formats it; the dispatch goes on with the
//!   next listener and `dispatchEvent` returns normally.
//! - There are no trees here (no nodes, no shadow roots): an event's path is its target
//!   alone, so it is `AT_TARGET` in both passes (capture listeners first) and `bubbles`
//!   changes nothing.
//! - `timeStamp` is milliseconds since the Unix epoch (`Date.now()`), since the guest has
//!   no `performance.timeOrigin` to be relative to.
//!
//! For the APIs installed after it, `event.js` exports `fire` (a trusted event),
//! `defineEventHandler` (an `on<type>` attribute, HTML's event handler IDL attributes)
//! and the hook through which `abort` serves the `signal` option.

use rquickjs::{Ctx, Result, Value};

use super::Api;

/// `Event` and `EventTarget`; JavaScript only.
pub const API: Api = Api {
    name: "event",
    native: no_natives,
    js: Some(include_str!("event.js")),
};

/// The JavaScript part needs nothing native.
fn no_natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    Ok(Value::new_undefined(ctx.clone()))
}

#[cfg(test)]
mod tests {
    use crate::services::LogLevel;
    use crate::testing::{run_ok, Fake};

    fn js(source: &str) -> String {
        run_ok(&Fake::default(), source)
    }

    #[test]
    fn an_event_has_its_type_and_init_and_the_initial_state() {
        let result = js(r#"const a = new Event("ping");
               const b = new Event(42, { bubbles: 1, cancelable: "yes", composed: {} });
               const c = new Event("x", null);
               [[a.type, a.bubbles, a.cancelable, a.composed, a.defaultPrevented, a.eventPhase,
                 a.target, a.currentTarget, a.srcElement, a.isTrusted, a.returnValue, a.cancelBubble,
                 typeof a.timeStamp, a.composedPath()],
                [b.type, b.bubbles, b.cancelable, b.composed], [c.bubbles]]"#);
        assert_eq!(
            result,
            r#"[["ping",false,false,false,false,0,null,null,null,false,true,false,"number",[]],["42",true,true,true],[false]]"#
        );
    }

    #[test]
    fn the_constructor_checks_its_arguments() {
        let result = js(
            r#"const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               [caught(() => new Event()), caught(() => new Event("x", 1)), caught(() => Event("x")),
                caught(() => new Event(Symbol())), caught(() => new EventTarget().addEventListener("x")),
                caught(() => new EventTarget().addEventListener("x", 1)),
                caught(() => new EventTarget().dispatchEvent({ type: "x" })),
                caught(() => new EventTarget().dispatchEvent())]"#,
        );
        assert_eq!(
            result,
            r#"["TypeError","TypeError","TypeError","TypeError","TypeError","TypeError","TypeError","TypeError"]"#
        );
    }

    #[test]
    fn a_listener_sees_the_event_at_its_target_and_the_state_is_reset_after() {
        let result = js(r#"const target = new EventTarget();
               const seen = [];
               target.addEventListener("go", function (e) {
                 seen.push(this === target, e.target === target, e.currentTarget === target,
                           e.eventPhase, e.composedPath().length, e.composedPath()[0] === target);
               });
               const event = new Event("go");
               const returned = target.dispatchEvent(event);
               [seen, returned, event.eventPhase, event.currentTarget, event.target === target,
                event.composedPath(), event.isTrusted]"#);
        assert_eq!(
            result,
            "[[true,true,true,2,1,true],true,0,null,true,[],false]"
        );
    }

    #[test]
    fn capture_listeners_run_first_and_each_once_per_callback_and_capture() {
        let result = js(r#"const target = new EventTarget();
               const order = [];
               const f = () => order.push("f");
               target.addEventListener("e", () => order.push("bubble"));
               target.addEventListener("e", () => order.push("capture"), true);
               target.addEventListener("e", f);
               target.addEventListener("e", f);
               target.addEventListener("e", f, { capture: true });
               target.addEventListener("other", () => order.push("other"));
               target.dispatchEvent(new Event("e"));
               order"#);
        assert_eq!(result, r#"["capture","f","bubble","f"]"#);
    }

    #[test]
    fn remove_event_listener_matches_type_callback_and_capture() {
        let result = js(r#"const target = new EventTarget();
               const order = [];
               const f = () => order.push("f");
               target.addEventListener("e", f);
               target.addEventListener("e", f, true);
               target.removeEventListener("e", f, { capture: true });
               target.removeEventListener("e", () => {});
               target.removeEventListener("e", null);
               target.dispatchEvent(new Event("e"));
               target.removeEventListener("e", f, false);
               target.dispatchEvent(new Event("e"));
               order"#);
        assert_eq!(result, r#"["f"]"#);
    }

    #[test]
    fn prevent_default_respects_cancelable_and_passive() {
        let result = js(r#"const target = new EventTarget();
               target.addEventListener("a", (e) => e.preventDefault());
               target.addEventListener("p", (e) => e.preventDefault(), { passive: true });
               target.addEventListener("r", (e) => { e.returnValue = false; });
               const cancelable = new Event("a", { cancelable: true });
               const plain = new Event("a");
               const passive = new Event("p", { cancelable: true });
               const legacy = new Event("r", { cancelable: true });
               [target.dispatchEvent(cancelable), cancelable.defaultPrevented, cancelable.returnValue,
                target.dispatchEvent(plain), plain.defaultPrevented,
                target.dispatchEvent(passive), passive.defaultPrevented,
                target.dispatchEvent(legacy), legacy.defaultPrevented]"#);
        assert_eq!(
            result,
            "[false,true,false,true,false,true,false,false,true]"
        );
    }

    #[test]
    fn once_handle_event_and_changes_during_dispatch() {
        let result = js(r#"const target = new EventTarget();
               const order = [];
               target.addEventListener("e", () => order.push("once"), { once: true });
               const listener = { handleEvent(e) { order.push(this === listener ? "handleEvent" : "wrong this"); } };
               target.addEventListener("e", listener);
               const late = () => order.push("late");
               const removed = () => order.push("removed");
               target.addEventListener("e", () => {
                 target.removeEventListener("e", removed);
                 target.addEventListener("e", late);
                 listener.handleEvent = () => order.push("replaced");
               });
               target.addEventListener("e", removed);
               target.dispatchEvent(new Event("e"));
               order.push("|");
               target.dispatchEvent(new Event("e"));
               order"#);
        assert_eq!(result, r#"["once","handleEvent","|","replaced","late"]"#);
    }

    #[test]
    fn stopping_propagation() {
        let result = js(r#"const target = new EventTarget();
               const order = [];
               target.addEventListener("i", (e) => { order.push("i1"); e.stopImmediatePropagation(); });
               target.addEventListener("i", () => order.push("i2"));
               target.addEventListener("p", (e) => { order.push("capture"); e.stopPropagation(); }, true);
               target.addEventListener("p", () => order.push("bubble"));
               target.addEventListener("c", (e) => { order.push("c1"); e.cancelBubble = true; e.cancelBubble = false; });
               target.addEventListener("c", (e) => order.push(e.cancelBubble ? "c2, stopped but same pass" : "c2"));
               const i = new Event("i");
               target.dispatchEvent(i);
               target.dispatchEvent(new Event("p"));
               target.dispatchEvent(new Event("c"));
               target.dispatchEvent(i);
               [order, i.cancelBubble]"#);
        assert_eq!(
            result,
            r#"[["i1","capture","c1","c2, stopped but same pass","i1"],false]"#
        );
    }

    #[test]
    fn a_throwing_listener_is_reported_and_the_dispatch_goes_on() {
        let fake = Fake::default();
        let result = run_ok(
            &fake,
            r#"const target = new EventTarget();
               const order = [];
               target.addEventListener("e", () => { throw new RangeError("boom"); });
               target.addEventListener("e", { handleEvent: 1 });
               target.addEventListener("e", () => order.push("after"));
               [target.dispatchEvent(new Event("e")), order]"#,
        );
        assert_eq!(result, r#"[true,["after"]]"#);
        let logs = fake.logs();
        assert_eq!(logs.len(), 2, "{logs:?}");
        assert_eq!(logs[0].0, LogLevel::Error);
        assert!(
            logs[0].1.starts_with("Uncaught RangeError: boom\n"),
            "{logs:?}"
        );
        assert!(logs[1].1.starts_with("Uncaught TypeError: "), "{logs:?}");
    }

    #[test]
    fn dispatching_an_event_being_dispatched_is_an_invalid_state() {
        let result = js(r#"const target = new EventTarget();
               let inner;
               target.addEventListener("e", (e) => {
                 try { target.dispatchEvent(e); } catch (error) {
                   inner = [error instanceof DOMException, error.name, error.code];
                 }
               });
               const event = new Event("e");
               [target.dispatchEvent(event), inner, target.dispatchEvent(event)]"#);
        assert_eq!(result, r#"[true,[true,"InvalidStateError",11],true]"#);
    }

    #[test]
    fn init_event_reinitializes_outside_a_dispatch() {
        let result = js(r#"const event = new Event("a", { cancelable: true });
               event.preventDefault();
               event.initEvent("b", true);
               const target = new EventTarget();
               let during;
               target.addEventListener("b", (e) => { e.initEvent("c"); during = e.type; });
               target.dispatchEvent(event);
               [event.type, event.bubbles, event.cancelable, event.defaultPrevented, during, Event.prototype.initEvent.length]"#);
        assert_eq!(result, r#"["b",true,false,false,"b",1]"#);
    }

    #[test]
    fn the_interfaces_have_webidl_shapes() {
        let result = js(
            r#"const d = (o, k) => Object.getOwnPropertyDescriptor(o, k);
               const global = d(globalThis, "EventTarget");
               const isTrusted = d(new Event("x"), "isTrusted");
               [Event.length, EventTarget.length, Event.name,
                EventTarget.prototype.addEventListener.length, EventTarget.prototype.removeEventListener.length,
                EventTarget.prototype.dispatchEvent.length,
                Object.prototype.toString.call(new Event("x")), Object.prototype.toString.call(new EventTarget()),
                d(Event.prototype, "type").enumerable, d(EventTarget.prototype, "dispatchEvent").enumerable,
                Event.AT_TARGET, new Event("x").BUBBLING_PHASE, d(Event, "NONE").writable,
                global.writable, global.enumerable, global.configurable,
                isTrusted.configurable, typeof isTrusted.get,
                isTrusted.get === d(new Event("y"), "isTrusted").get,
                Object.keys(Event.prototype).includes("isTrusted")]"#,
        );
        assert_eq!(
            result,
            r#"[1,0,"Event",2,2,1,"[object Event]","[object EventTarget]",true,true,2,3,false,true,false,true,false,"function",true,false]"#
        );
    }

    #[test]
    fn brand_checks() {
        let result = js(
            r#"const caught = (f) => { try { f(); return "no error"; } catch (e) { return e.constructor.name; } };
               const d = (o, k) => Object.getOwnPropertyDescriptor(o, k);
               [caught(() => EventTarget.prototype.addEventListener.call({}, "x", null)),
                caught(() => EventTarget.prototype.dispatchEvent.call({}, new Event("x"))),
                caught(() => d(Event.prototype, "type").get.call({})),
                caught(() => Event.prototype.preventDefault.call(new EventTarget())),
                caught(() => Event.prototype.bubbles)]"#,
        );
        assert_eq!(
            result,
            r#"["TypeError","TypeError","TypeError","TypeError","TypeError"]"#
        );
    }

    #[test]
    fn subclasses_work() {
        let result = js(r#"class Counter extends EventTarget {
                 constructor() { super(); this.count = 0; this.addEventListener("tick", () => this.count++); }
               }
               class Tick extends Event { constructor() { super("tick"); } }
               const counter = new Counter();
               counter.dispatchEvent(new Tick());
               counter.dispatchEvent(new Tick());
               [counter.count, new Tick() instanceof Event]"#);
        assert_eq!(result, "[2,true]");
    }

    #[test]
    fn dispatch_does_not_use_what_a_script_replaced() {
        let result = js(r#"let log = "";
               Object.defineProperty(Array.prototype, "0", { set(v) { log += "[setter]"; }, configurable: true });
               Object.defineProperty(Object.prototype, "removed", { get() { return true; }, configurable: true });
               Function.prototype.call = () => { log += "[call]"; };
               Reflect.apply = () => { log += "[apply]"; };
               const target = new EventTarget();
               target.addEventListener("e", () => { log += "[listener]"; });
               target.dispatchEvent(new Event("e"));
               log"#);
        assert_eq!(result, r#""[listener]""#);
    }
}
