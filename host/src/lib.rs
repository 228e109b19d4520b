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
//! | wall clock, cancellation | epoch interruption | `timeout`, `cancelled` |
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

mod cache;
mod context;
mod engine;
mod error;
mod host_fn;
mod limits;
mod metrics;
mod offload;
mod outcome;
mod pool;
mod runtime;
mod sandbox;

pub use cache::CacheStats;
pub use context::{ExecContext, Tenant, TenantError, TenantQuery, User};
pub use engine::{default_cache_dir, GUEST_SHA256};
pub use error::{ErrorKind, ExecError, ScriptError, SetupError};
pub use host_fn::{HostCall, HostFnError, HostFuture};
pub use limits::{
    LimitOverrides, Limits, MAX_MEMORY_BYTES, MAX_STACK_BYTES, MIB, MIN_MEMORY_BYTES,
};
pub use metrics::{MetricsSnapshot, WallTimePercentiles};
pub use outcome::{Execution, LogLevel, LogRecord, Outcome, Stats};
pub use pool::PoolStats;
pub use runtime::{Config, ExecRequest, Runtime, RuntimeBuilder, Script, DEFAULT_SCRIPT_NAME};
pub use tokio_util::sync::CancellationToken;
