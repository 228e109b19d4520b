//! `console.log/info/warn/error/debug`: each formats its arguments into one line and
//! hands it, with its level, to [`Services::log`](crate::services::Services::log).
//!
//! The formatting is JavaScript (`console.js`), since it is about JavaScript values
//! (an `Error` with its stack, an object as JSON, anything else as `String(value)`);
//! the native part only carries the finished line out. The records are captured by the
//! host, not printed: what a script logs is data returned with the outcome, and the
//! host bounds its volume. `console` is a frozen, non-writable, non-configurable global,
//! so a script can neither replace it for code that runs after it nor add methods.

use rquickjs::{function::Func, Ctx, IntoJs, Object, Result, Value};

use super::Api;
use crate::services::{self, LogLevel};
use crate::value::to_text_lossy;

/// `console`.
pub const API: Api = Api {
    name: "console",
    native: natives,
    js: Some(include_str!("console.js")),
};

/// `{ log(level, text) }` for `console.js`.
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set(
        "log",
        Func::from(|ctx: Ctx<'_>, level: i32, message: Value<'_>| {
            let message = to_text_lossy(&ctx, &message, "");
            if let Some(services) = services::current() {
                services.log(self::level(level), &message);
            }
        }),
    )?;
    natives.into_js(ctx)
}

/// The level numbers `console.js` uses; anything else counts as `Info`.
fn level(number: i32) -> LogLevel {
    match number {
        0 => LogLevel::Debug,
        2 => LogLevel::Warn,
        3 => LogLevel::Error,
        _ => LogLevel::Info,
    }
}

#[cfg(test)]
mod tests {
    use crate::services::LogLevel;
    use crate::testing::{run_ok, Fake};

    fn logs_of(source: &str) -> Vec<(LogLevel, String)> {
        let fake = Fake::default();
        run_ok(&fake, source);
        fake.logs()
    }

    #[test]
    fn each_method_logs_at_its_level() {
        let logs = logs_of(
            r#"console.debug("d"); console.log("l"); console.info("i");
               console.warn("w"); console.error("e");"#,
        );
        assert_eq!(
            logs,
            [
                (LogLevel::Debug, "d".to_owned()),
                (LogLevel::Info, "l".to_owned()),
                (LogLevel::Info, "i".to_owned()),
                (LogLevel::Warn, "w".to_owned()),
                (LogLevel::Error, "e".to_owned()),
            ]
        );
    }

    #[test]
    fn formats_arguments_as_a_browser_console_does() {
        let logs = logs_of(
            r#"console.log("a", 1, true, null, undefined, {x: [1, "y"]}, [2], 10n, Symbol("s"));
               const cyclic = {}; cyclic.self = cyclic;
               console.log(cyclic, {big: 1n});
               console.log({ toJSON() { throw 1; }, toString() { throw 2; } });
               console.log();"#,
        );
        let lines: Vec<&str> = logs.iter().map(|(_, line)| line.as_str()).collect();
        assert_eq!(
            lines,
            [
                r#"a 1 true null undefined {"x":[1,"y"]} [2] 10 Symbol(s)"#,
                "[object Object] [object Object]",
                "[unprintable]",
                "",
            ]
        );
    }

    #[test]
    fn an_error_is_logged_with_its_stack() {
        let logs =
            logs_of("function f() { return new TypeError('bad'); }\nconsole.error('got', f());");
        let [(LogLevel::Error, line)] = logs.as_slice() else {
            panic!("one error record expected: {logs:?}");
        };
        assert!(
            line.starts_with("got TypeError: bad\n    at f (test.js:1"),
            "{line}"
        );
    }

    #[test]
    fn formatting_does_not_use_what_a_script_replaced() {
        let logs = logs_of(
            r#"Array.prototype.join = () => "joined by the script";
               Array.prototype.map = () => [];
               JSON.stringify = () => "stringified by the script";
               globalThis.String = () => "converted by the script";
               console.log("a", {b: 1}, 2);"#,
        );
        assert_eq!(logs, [(LogLevel::Info, r#"a {"b":1} 2"#.to_owned())]);
    }

    #[test]
    fn console_is_frozen_and_cannot_be_replaced() {
        let fake = Fake::default();
        let result = run_ok(
            &fake,
            r#"const attempts = [
                 () => { console.log = () => {}; },
                 () => { console.extra = 1; },
                 () => { globalThis.console = {}; },
                 () => { delete globalThis.console; },
               ];
               const threw = attempts.map((f) => { try { f(); return false; } catch (e) { return e instanceof TypeError; } });
               console.log("still mine");
               [Object.isFrozen(console), threw]"#,
        );
        assert_eq!(result, "[true,[true,true,true,true]]");
        assert_eq!(fake.logs(), [(LogLevel::Info, "still mine".to_owned())]);
    }

    #[test]
    fn lone_surrogates_reach_the_host_as_replacement_characters() {
        assert_eq!(
            logs_of(r#"console.log("a\ud800b")"#),
            [(LogLevel::Info, "a\u{fffd}b".to_owned())]
        );
    }
}
