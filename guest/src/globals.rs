//! The native side of the APIs scripts see (`console`, `host`, `context`, `Math.random`).
//!
//! Each native function is a thin bridge to [`crate::services`]; `prelude.js` wraps them
//! into the public JS objects and removes the native names, at pre-initialization time.

use rquickjs::{function::Func, Ctx, Exception, Object, Result};

use crate::services::{self, CallError, LogLevel};
use crate::value::{json_string, to_text_lossy};

/// Source of the prelude, run once per engine in the run context.
pub const PRELUDE: &str = include_str!("prelude.js");

/// Name the prelude is compiled under (it shows in stack traces of API errors).
pub const PRELUDE_NAME: &str = "jsruntime:prelude";

/// Defines the native bindings the prelude consumes, and the seeded `Math.random`.
pub fn define_natives(ctx: &Ctx<'_>) -> Result<()> {
    let globals = ctx.globals();

    let math: Object = globals.get("Math")?;
    math.set("random", Func::from(fastrand::f64))?;

    globals.set(
        "__jsruntime_log",
        Func::from(|ctx: Ctx<'_>, level: i32, message: rquickjs::Value<'_>| {
            let level = match level {
                0 => LogLevel::Debug,
                2 => LogLevel::Warn,
                3 => LogLevel::Error,
                _ => LogLevel::Info,
            };
            let message = to_text_lossy(&ctx, &message, "");
            if let Some(services) = services::current() {
                services.log(level, &message);
            }
        }),
    )?;

    globals.set(
        "__jsruntime_call",
        Func::from(
            |ctx: Ctx<'_>,
             name: rquickjs::Value<'_>,
             args: rquickjs::Value<'_>|
             -> Result<String> {
                let name = to_text_lossy(&ctx, &name, "");
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
                    Err(CallError::Failed(message)) => {
                        Err(Exception::throw_message(&ctx, &message))
                    }
                }
            },
        ),
    )?;

    globals.set(
        "__jsruntime_functions",
        Func::from(|| -> String {
            let names = services::current()
                .map(|services| services.functions())
                .unwrap_or_default();
            let quoted: Vec<String> = names.iter().map(|name| json_string(name)).collect();
            format!("[{}]", quoted.join(","))
        }),
    )?;

    globals.set(
        "__jsruntime_context",
        Func::from(crate::context::context_object),
    )?;
    Ok(())
}
