//! The end-to-end tests that can share a process, in one binary (like wasmtime's
//! `tests/all`): each binary links wasmtime, which is slow, so one binary with a module
//! per area links it once. Run one area with `cargo test --release -p jsruntime --test
//! all -- execution::`, one test by its path (`-- --exact
//! pool::ready_instances_are_used_and_stats_balance_at_rest`).
//!
//! Tests that measure the whole process (its threads, its RSS, `tracing`'s per-call-site
//! cache, how promptly a timer fires under load) cannot share it with tests running
//! beside them: they are in `tests/serial`, where they run one at a time. The hostile
//! scripts are `tests/hostile.rs`, one test per script.

#[path = "../common/mod.rs"]
mod common;

mod admission;
mod async_calls;
mod boundary;
mod cache_metrics;
mod cli;
mod closing;
mod context;
mod deterministic;
mod execution;
mod graph_images;
mod handlers;
mod host_functions;
mod modules;
mod pool;
#[cfg(feature = "redis")]
mod quota_redis;
mod tenancy;
mod web_encoding;
mod web_url_crypto;
