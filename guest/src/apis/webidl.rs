//! `webidl`: no global of its own, but the rules of WebIDL's JavaScript binding that the
//! web API modules share, as JavaScript helpers (`webidl.js`) in the exports
//! ([`super::exports`]) under `webidl`.
//!
//! A web API here is a JavaScript class (the private fields of a class are its internal
//! slots: a method called on the wrong object throws a `TypeError` by itself, which is
//! WebIDL's brand check), which `defineInterface` turns into an interface object as
//! WebIDL defines one: its regular operations and attributes enumerable ("Operations",
//! "Attributes"), `Symbol.toStringTag` on the prototype ("Interface prototype object"),
//! its constants on both ("Constants"). `exposeInterface` and `exposeOperation` put them
//! on the global object ("define the global property references"); the argument
//! helpers do WebIDL's conversions (`DOMString`, `boolean`, dictionaries) and its check
//! of how many arguments an operation requires.

use rquickjs::{Ctx, Result, Value};

use super::Api;

/// The WebIDL helpers; installs no global.
pub const API: Api = Api {
    name: "webidl",
    native: no_natives,
    js: Some(include_str!("webidl.js")),
};

/// The JavaScript part needs nothing native.
fn no_natives<'js>(ctx: &Ctx<'js>) -> Result<Value<'js>> {
    Ok(Value::new_undefined(ctx.clone()))
}
