//! # jsruntime-wasm
//!
//! The one place that says how jsruntime talks to its guest and how wasmtime is set up
//! for it. Three programs load the guest component: the library (`host/`), the
//! benchmarks' raw engine (`bench/`) and the pre-initialization tool (`tools/wizen`).
//! Each used to carry its own copy of the bindings and of the engine settings, kept in
//! step by hand; now they all use this crate, so a setting changed here changes
//! everywhere and a contract change in `wit/` is one rebuild.
//!
//! - [`bindings`]: the Rust side of `wit/sandbox.wit` (imports `context` and `host`,
//!   exports `engine`), generated once with the host's options: `host.call` is async,
//!   every import can trap, every export is async.
//! - [`digest`]: the hashes behind `crypto.digest` and the fuel each costs an execution.
//! - [`engine_config`]: the wasmtime [`Config`](wasmtime::Config) the library runs with,
//!   with [`EngineOptions`] for the mechanisms the benchmarks turn on and off.
//! - [`input`]: the tape a handler's JSON input reaches the guest as: the host reads the
//!   text once, natively, and the guest only makes the values.
//!
//! This crate holds no guest bytes (the Wizer tool produces them, so it could not depend
//! on a crate that embeds them) and no policy: limits, pooling of instances and error
//! classification belong to the library.

#![deny(missing_docs)]

pub mod bindings;
mod config;
pub mod digest;
pub mod input;

pub use config::{
    engine_config, EngineOptions, EPOCH_TICK, HOST_STACK, KEEP_RESIDENT_BYTES, MAX_MEMORY_BYTES,
    MAX_TABLE_ELEMENTS, MAX_WASM_STACK,
};
