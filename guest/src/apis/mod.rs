//! The globals the guest installs in the run context, one module each (as javy's
//! `apis` do): [`console`], [`host`], [`context`], the seeded `Math.random` of
//! [`random`], the [`timers`] and [`performance`], and the web APIs: [`dom_exception`]
//! (`DOMException`, WebIDL), [`event`] (`Event`, `EventTarget`, DOM Standard), [`abort`]
//! (`AbortController`, `AbortSignal`, DOM Standard), [`encoding`] (`TextEncoder`,
//! `TextDecoder`, WHATWG Encoding) and [`base64`] (`atob`, `btoa`, HTML Standard).
//! [`webidl`] installs no global: it holds the WebIDL binding rules the web APIs share.
//! More web APIs: [`url`] (`URL`, `URLSearchParams`), [`crypto`] (`crypto`, WebCrypto's
//! `getRandomValues`, `randomUUID`, SHA digests and HMAC) and [`structured_clone`].
//!
//! Each module owns both parts of its global: a native part, in Rust, that bridges to
//! [`crate::services`] or does the bulk work, and, where it needs one, a JavaScript part
//! beside it (`console.js`, ...) that wraps the native functions into the object scripts
//! see. The engine installs them once, at pre-initialization, so they are in the
//! snapshot and a run pays nothing for them.
//!
//! How a JavaScript part gets its natives: its source is global code whose completion
//! value is a function; the engine compiles it (in the compile context, since the run
//! context has no eval), evaluates it in the run context and calls that function once
//! with what the native part returned and the [`exports`] of the APIs installed before
//! it. The native functions are never properties of the global object, so there is
//! nothing for a script to find or for the JS part to delete. Every JS part captures the
//! built-ins it uses when it runs, which is before any script runs: a script that
//! tampers with built-in prototypes cannot change how these APIs behave for the host.
//!
//! How the APIs share their internals: what a JavaScript part's function returns (if not
//! `undefined`) is kept in the exports under its API's name: `dom_exception` exports its
//! constructor, which `abort` uses for its default reason and which
//! [`dom_exception::throw`] uses from Rust. The exports object lives in the runtime's
//! userdata, not on any object a script can reach, so a script that replaces a global
//! (`globalThis.DOMException = ...`) changes nothing the APIs themselves do.
//!
//! Web globals are defined as WebIDL's JavaScript binding defines them on the global
//! object ("define the global property references", and "Operations" for those of the
//! global itself): an interface object (`TextEncoder`, ...) is writable, configurable
//! and not enumerable; an operation of the global (`atob`, `btoa`) is writable,
//! configurable and enumerable. Unlike `console`, `host` and
//! `context`, which the host relies on and keeps fixed, a script may replace them, as
//! in a browser; that only changes what its own later code sees.
//!
//! Adding a global: write a module with an [`Api`] constant, and add it to [`APIS`]
//! after the APIs it uses.

use rquickjs::{Ctx, JsLifetime, Object, Result, Value};

pub mod abort;
pub mod base64;
pub mod console;
pub mod context;
pub mod crypto;
pub mod dom_exception;
pub mod encoding;
pub mod event;
pub mod host;
pub mod performance;
pub mod random;
pub mod structured_clone;
pub mod timers;
pub mod url;
pub mod webidl;

/// One global (or one change to a built-in) the guest installs.
pub struct Api {
    /// Short name; the JavaScript part is compiled as `jsruntime:<name>`, which is what
    /// stack traces through it show.
    pub name: &'static str,
    /// Defines the native part in the run context and returns what the JavaScript part
    /// is called with (usually an object of native functions; `undefined` when there is
    /// no JavaScript part).
    pub native: for<'js> fn(&Ctx<'js>) -> Result<Value<'js>>,
    /// The JavaScript part: global code whose completion value is a function, called
    /// once with the native part's value and the [`exports`] so far; what it returns
    /// (unless `undefined`) becomes the exports' entry `name`. `None` for an API that is
    /// native only.
    pub js: Option<&'static str>,
}

impl Api {
    /// The file name the JavaScript part is compiled under.
    pub fn js_name(&self) -> String {
        format!("jsruntime:{}", self.name)
    }
}

/// Every API, in the order they are installed: an API comes after those whose exports
/// or globals it uses (`webidl` first of the web APIs, `dom_exception` before anything
/// that throws one, `event` before `abort`, the timers before `abort`).
pub const APIS: &[Api] = &[
    random::API,
    console::API,
    host::API,
    context::API,
    timers::API,
    performance::API,
    webidl::API,
    dom_exception::API,
    event::API,
    abort::API,
    encoding::API,
    base64::API,
    url::API,
    crypto::API,
    structured_clone::API,
];

/// The exports object held in the runtime's userdata.
struct Exports<'js>(Object<'js>);

// SAFETY: `Exports` holds nothing but an `Object<'js>`, so changing its lifetime is what
// changing the object's lifetime is.
unsafe impl<'js> JsLifetime<'js> for Exports<'js> {
    type Changed<'to> = Exports<'to>;
}

/// What the JavaScript parts installed so far returned, by API name (an object without
/// prototype, created on first use). It is reachable only from Rust and from the
/// functions the JS parts captured it in, never from a script.
pub fn exports<'js>(ctx: &Ctx<'js>) -> Result<Object<'js>> {
    if let Some(exports) = ctx.userdata::<Exports>() {
        return Ok(exports.0.clone());
    }
    let exports = Object::new(ctx.clone())?;
    exports.set_prototype(None)?;
    // The store fails only while the userdata is borrowed, which it is not here.
    let _ = ctx.store_userdata(Exports(exports.clone()));
    Ok(exports)
}

/// The value `key` of the exports of the API `api` (`undefined` if it has none).
pub fn exported<'js>(ctx: &Ctx<'js>, api: &str, key: &str) -> Result<Value<'js>> {
    let entry: Value = exports(ctx)?.get(api)?;
    match entry.as_object() {
        Some(entry) => entry.get(key),
        None => Ok(Value::new_undefined(ctx.clone())),
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{run_ok, Fake};

    #[test]
    fn no_native_name_is_left_on_the_global_object() {
        let names = run_ok(
            &Fake::default(),
            "Object.getOwnPropertyNames(globalThis).filter((n) => /jsruntime/i.test(n))",
        );
        assert_eq!(names, "[]");
    }

    #[test]
    fn the_globals_are_there_and_cannot_be_replaced() {
        let descriptors = run_ok(
            &Fake::default(),
            r#"["console", "host", "context"].map((name) => {
                const d = Object.getOwnPropertyDescriptor(globalThis, name);
                return [name, d.enumerable, d.configurable, "value" in d ? d.writable : typeof d.get];
            })"#,
        );
        assert_eq!(
            descriptors,
            r#"[["console",false,false,false],["host",false,false,"function"],["context",false,false,"function"]]"#
        );
    }

    #[test]
    fn the_web_globals_are_defined_as_webidl_defines_them() {
        let descriptors = run_ok(
            &Fake::default(),
            r#"["DOMException", "Event", "EventTarget", "AbortController", "AbortSignal",
                "TextEncoder", "TextDecoder", "atob", "btoa"].map((name) => {
                const d = Object.getOwnPropertyDescriptor(globalThis, name);
                return [name, typeof d.value, d.writable, d.enumerable, d.configurable];
            })"#,
        );
        assert_eq!(
            descriptors,
            concat!(
                r#"[["DOMException","function",true,false,true],["Event","function",true,false,true],"#,
                r#"["EventTarget","function",true,false,true],["AbortController","function",true,false,true],"#,
                r#"["AbortSignal","function",true,false,true],["TextEncoder","function",true,false,true],"#,
                r#"["TextDecoder","function",true,false,true],["atob","function",true,true,true],"#,
                r#"["btoa","function",true,true,true]]"#
            )
        );
    }

    #[test]
    fn replacing_web_globals_changes_nothing_the_apis_do() {
        let result = run_ok(
            &Fake::default(),
            r#"const saved = { DOMException, Event, EventTarget, AbortSignal };
               for (const name of ["DOMException", "Event", "EventTarget", "AbortSignal", "TextEncoder"]) {
                 globalThis[name] = function Fake() { throw new Error("the fake " + name); };
               }
               const controller = new AbortController();
               let event;
               controller.signal.onabort = (e) => { event = e; };
               controller.abort();
               let thrown;
               try { btoa("Ā"); } catch (e) { thrown = e; }
               [controller.signal.reason instanceof saved.DOMException, event instanceof saved.Event,
                thrown instanceof saved.DOMException, thrown.name]"#,
        );
        assert_eq!(result, r#"[true,true,true,"InvalidCharacterError"]"#);
    }
}
