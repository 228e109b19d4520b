//! `performance`: `performance.now()` and `performance.timeOrigin` (W3C High Resolution
//! Time), and `toJSON()`.
//!
//! Time zero is the start of the run: `performance.now()` is the time since then on the
//! monotonic clock, and `timeOrigin` the wall-clock time, in milliseconds since the Unix
//! epoch, when it began. Both are coarsened to [`RESOLUTION_MS`], as browsers do where
//! pages are not cross-origin isolated: a finer clock only helps timing attacks, and
//! tenants' code shares a process with the host. In a deterministic execution the host's
//! clocks are virtual, so both start at a fixed instant and advance only with timers.
//!
//! One difference from a browser: `Performance` does not inherit from `EventTarget`, and
//! has none of the Performance Timeline's entries (`mark`, `measure`): a run is too short
//! lived for them.

use rquickjs::{function::Func, Ctx, IntoJs, Object, Result, Value};

use super::Api;
use crate::event_loop;

/// `performance` and `Performance`.
pub const API: Api = Api {
    name: "performance",
    native: natives,
    js: Some(include_str!("performance.js")),
};

/// The clock's resolution, in milliseconds: 100 µs, browsers' figure for documents that
/// are not cross-origin isolated (HR-Time §"Clock resolution").
pub const RESOLUTION_MS: f64 = 0.1;

fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("now", Func::from(now))?;
    natives.set("timeOrigin", Func::from(time_origin))?;
    natives.into_js(ctx)
}

fn coarsen(ms: f64) -> f64 {
    (ms / RESOLUTION_MS).floor() * RESOLUTION_MS
}

/// Milliseconds since the run began.
fn now() -> f64 {
    coarsen(event_loop::elapsed().as_secs_f64() * 1000.0)
}

/// The wall-clock time the run began at, in milliseconds since the Unix epoch.
fn time_origin() -> f64 {
    coarsen(event_loop::time_origin().as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use crate::testing::{run_ok, Fake};

    #[test]
    fn now_starts_near_zero_and_advances_with_time() {
        let result = run_ok(
            &Fake::default(),
            r#"new Promise((done) => {
                const first = performance.now();
                setTimeout(() => done([first >= 0 && first < 1000, performance.now() - first >= 10]), 10);
            })"#,
        );
        assert_eq!(result, "[true,true]");
    }

    #[test]
    fn the_origin_is_the_wall_clock_at_the_start() {
        let result = run_ok(
            &Fake::default(),
            r#"const drift = Math.abs(performance.timeOrigin + performance.now() - Date.now());
               [drift < 50, performance.timeOrigin === performance.timeOrigin,
                JSON.stringify(performance) === JSON.stringify({ timeOrigin: performance.timeOrigin })]"#,
        );
        assert_eq!(result, "[true,true,true]");
    }

    #[test]
    fn the_interface_is_branded() {
        let result = run_ok(
            &Fake::default(),
            r#"const names = (f) => { try { f(); return "ok"; } catch (e) { return e.name; } };
               [Object.prototype.toString.call(performance), performance instanceof Performance,
                names(() => new Performance()), names(() => Performance.prototype.now.call({})),
                typeof Object.getOwnPropertyDescriptor(Performance.prototype, "timeOrigin").get]"#,
        );
        assert_eq!(
            result,
            r#"["[object Performance]",true,"TypeError","TypeError","function"]"#
        );
    }
}
