//! `setTimeout`, `setInterval`, `clearTimeout`, `clearInterval` (HTML Standard §8.6,
//! timers), on the run's [`event_loop`](crate::event_loop).
//!
//! `timers.js` converts the arguments as the standard's WebIDL says (`timeout` is a
//! `long`; extra arguments go to the handler; the handler is called with the global
//! object as `this`) and wraps the handler into a function of no arguments; the native
//! part here only sets and clears. A handler that is not a function is a `TypeError`:
//! the standard would compile a string as code, and the run context has no compiler.
//! Timers still pending when the result settles are dropped with the run.

use rquickjs::{function::Func, Ctx, Function, IntoJs, Object, Result, Value};

use super::Api;
use crate::event_loop;

/// The four timer functions.
pub const API: Api = Api {
    name: "timers",
    native: natives,
    js: Some(include_str!("timers.js")),
};

/// `{ set(callback, timeout, repeat), clear(id) }` for `timers.js`.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("set", Func::from(set))?;
    natives.set("clear", Func::from(clear))?;
    natives.into_js(ctx)
}

/// Sets a timer; `timeout` is already a non-negative `long`.
fn set<'js>(ctx: Ctx<'js>, callback: Function<'js>, timeout: i32, repeat: bool) -> u32 {
    event_loop::set_timer(&ctx, callback, timeout.max(0).unsigned_abs(), repeat)
}

/// Clears a timer; ids that are not a timer's are ignored.
fn clear(id: i32) {
    if let Ok(id) = u32::try_from(id) {
        event_loop::clear_timer(id);
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Failure;
    use crate::testing::{run, run_ok, Fake};

    #[test]
    fn timers_fire_in_due_order_then_in_the_order_they_were_set() {
        let result = run_ok(
            &Fake::default(),
            r#"new Promise((done) => {
                const order = [];
                setTimeout(() => order.push("b20"), 20);
                setTimeout(() => order.push("a0"));
                setTimeout(() => order.push("c0"), 0);
                setTimeout(() => order.push("d-5"), -5);
                setTimeout(() => { order.push("e30"); done(order); }, 30);
                Promise.resolve().then(() => order.push("job"));
            })"#,
        );
        assert_eq!(result, r#"["job","a0","c0","d-5","b20","e30"]"#);
    }

    #[test]
    fn arguments_this_and_the_returned_ids() {
        let result = run_ok(
            &Fake::default(),
            r#"new Promise((done) => {
                const ids = [setTimeout(function (a, b) {
                    done([a, b, this === globalThis, ids[0] > 0, ids[0] !== ids[1]]);
                }, 1, "x", 2), setTimeout(() => {}, 1)];
            })"#,
        );
        assert_eq!(result, r#"["x",2,true,true,true]"#);
    }

    #[test]
    fn cleared_timers_do_not_fire_and_intervals_repeat_until_cleared() {
        let result = run_ok(
            &Fake::default(),
            r#"new Promise((done) => {
                const log = [];
                const never = setTimeout(() => log.push("cleared"), 1);
                clearTimeout(never);
                clearTimeout(12345); clearTimeout(); clearInterval("x");
                let n = 0;
                const every = setInterval(() => {
                    log.push(++n);
                    if (n === 3) { clearInterval(every); setTimeout(() => done(log), 5); }
                }, 1);
            })"#,
        );
        assert_eq!(result, "[1,2,3]");
    }

    #[test]
    fn the_timeout_is_converted_as_a_webidl_long() {
        // 2 ** 32 + 1 wraps to 1; NaN, "abc" and Infinity are 0; "3" is 3.
        let result = run_ok(
            &Fake::default(),
            r#"new Promise((done) => {
                const order = [];
                setTimeout(() => order.push("wrapped"), 2 ** 32 + 1);
                setTimeout(() => order.push("nan"), NaN);
                setTimeout(() => order.push("string"), "3");
                setTimeout(() => order.push("infinite"), Infinity);
                setTimeout(() => done(order), 10);
            })"#,
        );
        assert_eq!(result, r#"["nan","infinite","wrapped","string"]"#);
    }

    #[test]
    fn signatures_are_those_of_the_standard() {
        let result = run_ok(
            &Fake::default(),
            r#"["setTimeout", "setInterval", "clearTimeout", "clearInterval"].map((name) => {
                const d = Object.getOwnPropertyDescriptor(globalThis, name);
                return [d.value.name, d.value.length, d.writable, d.enumerable, d.configurable,
                        "prototype" in d.value];
            })"#,
        );
        assert_eq!(
            result,
            r#"[["setTimeout",1,true,true,true,false],["setInterval",1,true,true,true,false],["clearTimeout",0,true,true,true,false],["clearInterval",0,true,true,true,false]]"#
        );
    }

    #[test]
    fn a_string_handler_is_a_type_error() {
        let result = run_ok(
            &Fake::default(),
            r#"try { setTimeout("globalThis.x = 1", 0); "no error" } catch (e) { [e.name, e.message] }"#,
        );
        assert!(
            result.starts_with(r#"["TypeError","setTimeout: the handler must be a function"#),
            "{result}"
        );
    }

    #[test]
    fn pending_timers_end_with_the_result() {
        let fake = Fake::default();
        let result = run_ok(
            &fake,
            r#"setTimeout(() => console.log("late"), 1); setInterval(() => {}, 1); 42"#,
        );
        assert_eq!(result, "42");
        assert!(fake.logs().is_empty());
    }

    #[test]
    fn an_uncaught_exception_in_a_callback_ends_the_run() {
        let failure = run(
            &Fake::default(),
            r#"new Promise(() => { setTimeout(() => { throw new RangeError("in a timer"); }, 1); })"#,
        );
        match failure {
            Err(Failure::Exception(info)) => {
                assert_eq!(info.name.as_deref(), Some("RangeError"));
                assert_eq!(info.message, "in a timer");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn deeply_nested_timers_are_clamped_to_four_milliseconds() {
        // Each zero-delay timer sets the next. The 24 set from inside a timer have levels
        // 2 to 25; those set from a timer of level 6 or more (19 of them) wait 4 ms each:
        // at least 76 ms on the run's clock (less 0.1 ms of the clock's resolution).
        let result = run_ok(
            &Fake::default(),
            r#"new Promise((done) => {
                const start = performance.now();
                let level = 0;
                const next = () => { if (++level === 25) done(performance.now() - start >= 75.9); else setTimeout(next, 0); };
                setTimeout(next, 0);
            })"#,
        );
        assert_eq!(result, "true");
    }

    #[test]
    fn a_promise_waiting_on_nothing_still_never_settles() {
        let failure = run(&Fake::default(), "new Promise(() => {})");
        assert!(
            matches!(&failure, Err(Failure::Exception(info)) if info.message.contains("never settles")),
            "{failure:?}"
        );
    }
}
