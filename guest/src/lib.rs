//! The jsruntime sandbox guest: QuickJS (through `javy`) as a WebAssembly component.
//!
//! The host creates one instance of this component per execution. The component is
//! pre-initialized at build time (Wizer calls [`wizer-initialize`](bindings::Guest)), so
//! an instance starts with the QuickJS runtime and both of its contexts ready:
//!
//! - the *compile* context has the eval intrinsic; it only ever parses source into
//!   bytecode and never runs a script;
//! - the *run* context lacks the eval intrinsic, so `eval`, `new Function(...)` and
//!   `(function(){}).constructor('...')` all throw; it runs bytecode, in strict mode.
//!
//! The engine logic lives in [`engine`], the globals scripts see in [`apis`] (one
//! module each); both talk to the outside world through the [`services::Services`]
//! trait, so they run natively in unit tests (each module's `tests`, against the fake
//! of `testing`); [`bindings`] wires them to the component's WIT imports and exports.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod apis;
pub mod engine;
pub mod event_loop;
pub mod fnv;
pub mod heap;
pub mod input;
pub mod json;
pub mod modules;
pub mod services;
pub mod stack;
pub mod value;

#[cfg(target_arch = "wasm32")]
mod bindings;

#[cfg(test)]
mod testing;
