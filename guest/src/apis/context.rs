//! `context`: the caller's tenant, user, request id, locale and deadline, built
//! natively and deeply frozen: `context.tenantID`, `context.tenant.{id,name}`,
//! `context.user.{id,email,firstName,lastName,permissions}`, `context.requestID`,
//! `context.locale`, `context.deadlineMs` (milliseconds left when read). Absent fields
//! are left out, so the script sees `undefined` for them.
//!
//! `context.js` defines the global as a getter that builds the object the first time a
//! script reads it and keeps it for the rest of the run: a script that never reads
//! `context` costs no host call. So it is built after the script may have tampered with
//! built-ins. Everything here goes through QuickJS's C API, which consults no
//! prototype: properties are *defined* (a setter a script put on `Object.prototype` or
//! `Array.prototype` is never called) and objects are frozen by `JS_FreezeObject`, not
//! by a `freeze` a script could have replaced.
//!
//! Building it natively, rather than as JSON parsed and deep-frozen in JavaScript, takes
//! the interpreter out of it: a script that reads `context` paid ~40 µs for that before.

use rquickjs::object::{Accessor, Property};
use rquickjs::{function::Func, qjs, Array, Ctx, Exception, IntoJs, Object, Result, Value};

use super::Api;
use crate::services::{self, Services};

/// `context`.
pub const API: Api = Api {
    name: "context",
    native: natives,
    js: Some(include_str!("context.js")),
};

/// `{ build() }` for `context.js`: [`context_object`].
fn natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    let natives = Object::new(ctx.clone())?;
    natives.set("build", Func::from(context_object))?;
    natives.into_js(ctx)
}

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

#[cfg(test)]
mod tests {
    use crate::services::{Tenant, User};
    use crate::testing::{run_ok, Fake};

    fn full() -> Fake {
        Fake {
            tenant: Some(Tenant {
                id: "t1".to_owned(),
                name: Some("Acme".to_owned()),
            }),
            user: Some(User {
                id: "u1".to_owned(),
                email: Some("ada@example.com".to_owned()),
                first_name: Some("Ada".to_owned()),
                last_name: None,
                permissions: vec!["orders.read".to_owned(), "orders.write".to_owned()],
            }),
            request_id: Some("req-1".to_owned()),
            locale: Some("fr-CH".to_owned()),
            deadline_ms: Some(1500),
            ..Fake::default()
        }
    }

    #[test]
    fn has_the_callers_fields_and_leaves_absent_ones_out() {
        let result = run_ok(
            &full(),
            "[JSON.stringify(context), context.user.lastName, 'lastName' in context.user]",
        );
        assert_eq!(
            result,
            concat!(
                r#"["{\"tenantID\":\"t1\",\"tenant\":{\"id\":\"t1\",\"name\":\"Acme\"},"#,
                r#"\"user\":{\"id\":\"u1\",\"email\":\"ada@example.com\",\"firstName\":\"Ada\","#,
                r#"\"permissions\":[\"orders.read\",\"orders.write\"]},"#,
                r#"\"requestID\":\"req-1\",\"locale\":\"fr-CH\",\"deadlineMs\":1500}",null,false]"#
            )
        );
    }

    #[test]
    fn is_empty_without_a_caller_context() {
        let result = run_ok(
            &Fake::default(),
            "[JSON.stringify(context), context.tenant, context.deadlineMs, Object.isFrozen(context)]",
        );
        assert_eq!(result, r#"["{}",null,null,true]"#);
    }

    #[test]
    fn is_frozen_all_the_way_down_with_read_only_fields() {
        let result = run_ok(
            &full(),
            r#"const objects = [context, context.tenant, context.user, context.user.permissions];
               const attempts = [
                 () => { context.tenantID = "t2"; },
                 () => { context.tenant.id = "t2"; },
                 () => { context.user.permissions.push("admin"); },
                 () => { context.extra = 1; },
                 () => { delete context.locale; },
                 () => { globalThis.context = {}; },
               ];
               const d = Object.getOwnPropertyDescriptor(context.user, "id");
               [objects.every(Object.isFrozen),
                attempts.map((f) => { try { f(); return false; } catch (e) { return e instanceof TypeError; } }),
                [d.writable, d.enumerable, d.configurable],
                context === context, context.tenantID, context.user.permissions.length]"#,
        );
        assert_eq!(
            result,
            r#"[true,[true,true,true,true,true,true],[false,true,false],true,"t1",2]"#
        );
    }

    #[test]
    fn deadline_is_read_at_each_access_and_never_negative() {
        let fake = Fake {
            deadline_ms: Some(-5),
            ..Fake::default()
        };
        let result = run_ok(
            &fake,
            r#"const d = Object.getOwnPropertyDescriptor(context, "deadlineMs");
               [context.deadlineMs, typeof d.get, d.set, d.enumerable, d.configurable]"#,
        );
        assert_eq!(result, r#"[0,"function",null,true,false]"#);
    }

    #[test]
    fn a_script_that_tampered_first_gets_the_same_frozen_object() {
        let result = run_ok(
            &full(),
            r#"let setters = 0;
               for (const key of ["id", "name", "tenant", "user", "0", "1", "permissions"]) {
                 Object.defineProperty(Object.prototype, key, { set() { setters++; }, configurable: true });
               }
               Object.freeze = (o) => o;
               Array.prototype[Symbol.iterator] = function* () {};
               Array.prototype.push = function () { throw new Error("push"); };
               [setters, Object.isFrozen(context.user.permissions), context.user.permissions[1], context.tenant.name]"#,
        );
        assert_eq!(result, r#"[0,true,"orders.write","Acme"]"#);
    }
}
