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
        Func::from(|| -> String {
            services::current()
                .map(|services| context_json(services.as_ref()))
                .unwrap_or_else(|| "{}".to_owned())
        }),
    )?;

    globals.set(
        "__jsruntime_deadline",
        Func::from(|| -> Option<f64> {
            services::current()
                .and_then(|services| services.deadline_ms())
                .map(|ms| ms.max(0) as f64)
        }),
    )?;
    Ok(())
}

/// The caller's context as the JSON object the prelude freezes into `context`.
/// Absent fields are left out, so the script sees `undefined` for them.
pub fn context_json(services: &dyn services::Services) -> String {
    let mut fields: Vec<String> = Vec::new();
    let mut push = |key: &str, json: String| fields.push(format!("{}:{json}", json_string(key)));
    if let Some(tenant) = services.tenant() {
        push("tenantID", json_string(&tenant.id));
        let mut tenant_fields = vec![format!("\"id\":{}", json_string(&tenant.id))];
        if let Some(name) = &tenant.name {
            tenant_fields.push(format!("\"name\":{}", json_string(name)));
        }
        push("tenant", format!("{{{}}}", tenant_fields.join(",")));
    }
    if let Some(user) = services.user() {
        let mut user_fields = vec![format!("\"id\":{}", json_string(&user.id))];
        for (key, value) in [
            ("email", &user.email),
            ("firstName", &user.first_name),
            ("lastName", &user.last_name),
        ] {
            if let Some(value) = value {
                user_fields.push(format!("{}:{}", json_string(key), json_string(value)));
            }
        }
        let permissions: Vec<String> = user.permissions.iter().map(|p| json_string(p)).collect();
        user_fields.push(format!("\"permissions\":[{}]", permissions.join(",")));
        push("user", format!("{{{}}}", user_fields.join(",")));
    }
    if let Some(request_id) = services.request_id() {
        push("requestID", json_string(&request_id));
    }
    if let Some(locale) = services.locale() {
        push("locale", json_string(&locale));
    }
    if services.deadline_ms().is_some() {
        push("hasDeadline", "true".to_owned());
    }
    format!("{{{}}}", fields.join(","))
}
