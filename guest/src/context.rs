//! The `context` object scripts read: the caller's tenant, user, request id, locale and
//! deadline, built natively and frozen.
//!
//! It is built the first time a script reads `context` (the prelude caches it for the
//! rest of the run), so after the script may have tampered with built-ins. Everything
//! here goes through QuickJS's C API, which consults no prototype: properties are
//! *defined* (a setter a script put on `Object.prototype` or `Array.prototype` is never
//! called) and objects are frozen by `JS_FreezeObject`, not by a `freeze` a script could
//! have replaced.
//!
//! Building it natively, rather than as JSON parsed and deep-frozen in JavaScript, takes
//! the interpreter out of it: a script that reads `context` paid ~40 µs for that before.

use rquickjs::object::{Accessor, Property};
use rquickjs::{qjs, Array, Ctx, Exception, IntoJs, Object, Result};

use crate::services::{self, Services};

/// The frozen `context` object of the current run; an empty frozen object outside a
/// run. Absent fields are left out, so the script sees `undefined` for them.
pub fn context_object(ctx: Ctx<'_>) -> Result<Object<'_>> {
    let context = Object::new(ctx.clone())?;
    if let Some(services) = services::current() {
        define_fields(&ctx, &context, services.as_ref())?;
    }
    freeze(&ctx, context)
}

fn define_fields<'js>(
    ctx: &Ctx<'js>,
    context: &Object<'js>,
    services: &dyn Services,
) -> Result<()> {
    if let Some(tenant) = services.tenant() {
        define(context, "tenantID", tenant.id.as_str())?;
        let object = Object::new(ctx.clone())?;
        define(&object, "id", tenant.id)?;
        if let Some(name) = tenant.name {
            define(&object, "name", name)?;
        }
        define(context, "tenant", freeze(ctx, object)?)?;
    }
    if let Some(user) = services.user() {
        let object = Object::new(ctx.clone())?;
        define(&object, "id", user.id)?;
        for (key, value) in [
            ("email", user.email),
            ("firstName", user.first_name),
            ("lastName", user.last_name),
        ] {
            if let Some(value) = value {
                define(&object, key, value)?;
            }
        }
        let permissions = Array::new(ctx.clone())?;
        for (index, permission) in user.permissions.into_iter().enumerate() {
            let index = u32::try_from(index)
                .map_err(|_| Exception::throw_range(ctx, "too many permissions"))?;
            define(permissions.as_object(), index, permission)?;
        }
        define(
            &object,
            "permissions",
            freeze(ctx, permissions.into_object())?,
        )?;
        define(context, "user", freeze(ctx, object)?)?;
    }
    if let Some(request_id) = services.request_id() {
        define(context, "requestID", request_id)?;
    }
    if let Some(locale) = services.locale() {
        define(context, "locale", locale)?;
    }
    if services.deadline_ms().is_some() {
        // Read at each access, so it counts down during the run.
        context.prop("deadlineMs", Accessor::from(deadline_ms).enumerable())?;
    }
    Ok(())
}

/// Milliseconds left before the caller's deadline, never negative.
fn deadline_ms() -> Option<f64> {
    services::current()
        .and_then(|services| services.deadline_ms())
        .map(|ms| ms.max(0) as f64)
}

/// Defines an enumerable, read-only, non-configurable own property.
fn define<'js, K, V>(object: &Object<'js>, key: K, value: V) -> Result<()>
where
    K: rquickjs::IntoAtom<'js>,
    V: IntoJs<'js>,
{
    object.prop(key, Property::from(value).enumerable())
}

/// `Object.freeze`, by the engine itself.
fn freeze<'js>(ctx: &Ctx<'js>, object: Object<'js>) -> Result<Object<'js>> {
    // SAFETY: `object` belongs to `ctx` and stays alive across the call, which only
    // borrows it.
    let status = unsafe { qjs::JS_FreezeObject(ctx.as_raw().as_ptr(), object.as_raw()) };
    if status < 0 {
        // QuickJS left the exception (out of memory) pending on the context.
        return Err(rquickjs::Error::Exception);
    }
    Ok(object)
}
