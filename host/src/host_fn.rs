//! Named host functions that the embedding service offers to scripts.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::context::ExecContext;

/// One call from a script: the JSON arguments and the caller's context.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostCall {
    /// The function name the script called (`"orders.get"`).
    pub name: String,
    /// The argument the script passed, as JSON (`null` when it passed none).
    pub args: serde_json::Value,
    /// Who the execution runs for; check resources with [`ExecContext::ensure_tenant`].
    pub context: Arc<ExecContext>,
}

/// A host function failed; the script sees a JS `Error` with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostFnError {
    /// The message the script sees.
    pub message: String,
}

impl HostFnError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        HostFnError {
            message: message.into(),
        }
    }
}

impl From<crate::context::TenantError> for HostFnError {
    fn from(error: crate::context::TenantError) -> Self {
        HostFnError::new(error.to_string())
    }
}

/// The future a host function returns.
pub type HostFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, HostFnError>> + Send>>;

/// A registered host function.
pub(crate) type HostFn = Arc<dyn Fn(HostCall) -> HostFuture + Send + Sync>;

/// How scripts see a host function. On the host both are async functions; the style
/// only decides what the script's call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallStyle {
    /// `host.f(args)` waits for the function and returns its result
    /// ([`RuntimeBuilder::host_fn`](crate::RuntimeBuilder::host_fn)).
    Blocking,
    /// `host.f(args)` returns a Promise at once; calls run concurrently
    /// ([`RuntimeBuilder::host_fn_promise`](crate::RuntimeBuilder::host_fn_promise)).
    Promise,
}

/// The host functions of a runtime, by name.
#[derive(Clone, Default)]
pub(crate) struct HostFns {
    by_name: HashMap<String, (HostFn, CallStyle)>,
}

impl HostFns {
    pub(crate) fn insert<F, Fut>(&mut self, name: String, style: CallStyle, function: F)
    where
        F: Fn(HostCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, HostFnError>> + Send + 'static,
    {
        let function: HostFn = Arc::new(move |call| Box::pin(function(call)));
        self.by_name.insert(name, (function, style));
    }

    /// The registered functions and their styles, sorted by name.
    pub(crate) fn functions(&self) -> Vec<(String, CallStyle)> {
        let mut functions: Vec<(String, CallStyle)> = self
            .by_name
            .iter()
            .map(|(name, (_, style))| (name.clone(), *style))
            .collect();
        functions.sort();
        functions
    }

    pub(crate) fn get(&self, name: &str) -> Option<&HostFn> {
        self.by_name.get(name).map(|(function, _)| function)
    }
}

impl std::fmt::Debug for HostFns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_name.keys().collect();
        names.sort();
        f.debug_struct("HostFns").field("names", &names).finish()
    }
}
