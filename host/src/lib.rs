//! # jsruntime
//!
//! Runs untrusted, multi-tenant JavaScript with hard isolation. Each execution gets a
//! fresh instance of a WebAssembly component that holds the QuickJS engine
//! (pre-initialized at build time), drawn from wasmtime's pooling allocator; nothing
//! passes between executions or tenants but read-only code.
//!
//! Every limit is enforced by the sandbox, whatever the script does:
//!
//! | limit | mechanism | error kind |
//! |---|---|---|
//! | CPU | wasmtime fuel | `out_of_fuel` |
//! | wall clock, cancellation | checks at the guest's fuel yields, and in every host wait | `timeout`, `cancelled` |
//! | memory | linear-memory cap, and QuickJS's heap limit under it | `memory_limit` |
//! | recursion | QuickJS stack limit, wasm stack limit | `stack_overflow` |
//! | host functions | call counter | `host_call_limit` |
//! | result size | checked in the guest | `output_limit` |
//!
//! Scripts run in strict mode without `eval` or the `Function` constructor. They read
//! the caller's context from a frozen global `context`, log through `console.*`, and
//! call named host functions with `host.call(name, args)`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use jsruntime::{Config, ExecContext, ExecRequest, Runtime, Tenant};
//!
//! let runtime = Runtime::new(Config::default())?;
//! let request = ExecRequest::source("`${context.tenant.name}: ${1 + 1}`")
//!     .context(ExecContext::default().with_tenant(Tenant { id: "t1".into(), name: Some("Acme".into()) }));
//! let outcome = runtime.execute(&request).await?;
//! assert_eq!(outcome.value, serde_json::json!("Acme: 2"));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

// Module layout, leaves first; every `use crate::` edge points to a module listed above
// it. The guest's side of the contract and the engine settings are in `jsruntime-wasm`.
//
// leaves:         limits, error, context, outcome, json, guest, host_fn, tenancy (policy,
//                 budget, fair), modules (loader, files, resolve)
// services:       cache, config, request, failure, host_calls, quota, module_graph,
//                 prepared (graph images)
// one instance:   instance (state, imports)
// shared parts:   wasm (engine, component, ticker), pool (leases), offload (guest threads)
// counting:       metrics (over the pool's and the cache's stats)
// the pipeline:   execute
// the facade:     runtime
mod cache;
mod config;
mod context;
mod deterministic;
mod error;
mod execute;
mod failure;
mod guest;
mod host_calls;
mod host_fn;
mod instance;
mod json;
mod limits;
mod metrics;
mod module_graph;
mod modules;
mod offload;
mod outcome;
mod pool;
mod prepared;
mod promise_calls;
mod quota;
mod request;
mod runtime;
mod tenancy;
mod wasm;

pub use cache::CacheStats;
pub use config::{default_cache_dir, Config, MAX_GUEST_THREADS, MIN_IDLE_AGE};
pub use context::{ExecContext, Tenant, TenantError, TenantQuery, User};
pub use error::{BoxError, ErrorKind, ExecError, ScriptError, SetupError};
#[doc(hidden)]
pub use guest::guest_component;
pub use guest::GUEST_SHA256;
pub use host_fn::{HostCall, HostFnError, HostFuture};
pub use json::MAX_JSON_DEPTH;
pub use limits::{
    LimitOverrides, Limits, MAX_MEMORY_BYTES, MAX_STACK_BYTES, MAX_TIMEOUT, MIB, MIN_MEMORY_BYTES,
};
pub use metrics::{MetricsSnapshot, WallTimePercentiles};
pub use modules::{
    FileModuleLoader, LoadFuture, MemoryModuleLoader, ModuleKind, ModuleLoader, ModuleRequest,
};
pub use outcome::{Execution, LogLevel, LogRecord, Outcome, Stats};
pub use pool::PoolStats;
pub use quota::QuotaStats;
pub use request::{
    ExecRequest, Script, DEFAULT_MODULE_NAME, DEFAULT_SCRIPT_NAME, DETERMINISTIC_EPOCH_MS,
};
pub use runtime::{Runtime, RuntimeBuilder};
pub use tenancy::budget::{
    Admission, Budget, BudgetLimits, BudgetStore, MemoryBudgetStore, StoreError, StoreFuture,
    WindowKey,
};
pub use tenancy::fair::TenantStats;
pub use tenancy::policy::{
    Quota, StaticPolicy, StoreFailure, TenantLimits, TenantPolicy, MAX_QUOTA_WINDOW,
    MIN_QUOTA_WINDOW,
};
/// The Redis budget store, for quotas shared by replicas. Needs the cargo feature `redis`.
#[cfg(feature = "redis")]
pub use tenancy::redis::RedisBudgetStore;
pub use tokio_util::sync::CancellationToken;
