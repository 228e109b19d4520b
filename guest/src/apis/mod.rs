//! The globals the guest installs in the run context, one module each (as javy's
//! `apis` do): [`console`], [`host`], [`context`], and the seeded `Math.random` of
//! [`random`].
//!
//! Each module owns both parts of its global: a native part, in Rust, that bridges to
//! [`crate::services`], and, where it needs one, a JavaScript part beside it
//! (`console.js`, ...) that wraps the native functions into the object scripts see.
//! The engine installs them once, at pre-initialization, so they are in the snapshot
//! and a run pays nothing for them.
//!
//! How a JavaScript part gets its natives: its source is global code whose completion
//! value is a function; the engine compiles it (in the compile context, since the run
//! context has no eval), evaluates it in the run context and calls that function once
//! with what the native part returned. The native functions are never properties of
//! the global object, so there is nothing for a script to find or for the JS part to
//! delete. Every JS part captures the built-ins it uses when it runs, which is before
//! any script runs: a script that tampers with built-in prototypes cannot change how
//! these APIs behave for the host.
//!
//! Adding a global (a web API such as `TextEncoder`, say): write a module with an
//! [`Api`] constant, and add it to [`APIS`].

use rquickjs::{Ctx, Result, Value};

pub mod console;
pub mod context;
pub mod host;
pub mod random;
pub mod url;

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
    /// once with the native part's value. `None` for an API that is native only.
    pub js: Option<&'static str>,
}

impl Api {
    /// The file name the JavaScript part is compiled under.
    pub fn js_name(&self) -> String {
        format!("jsruntime:{}", self.name)
    }
}

/// Every API, in the order they are installed.
pub const APIS: &[Api] = &[random::API, console::API, host::API, context::API, url::API];

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
}
