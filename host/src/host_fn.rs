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

/// The host functions of a runtime, by name.
#[derive(Clone, Default)]
pub(crate) struct HostFns {
    by_name: HashMap<String, HostFn>,
}

impl HostFns {
    pub(crate) fn insert<F, Fut>(&mut self, name: String, function: F)
    where
        F: Fn(HostCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, HostFnError>> + Send + 'static,
    {
        let function: HostFn = Arc::new(move |call| Box::pin(function(call)));
        self.by_name.insert(name, function);
    }

    /// The registered names, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().cloned().collect();
        names.sort();
        names
    }

    pub(crate) fn get(&self, name: &str) -> Option<&HostFn> {
        self.by_name.get(name)
    }
}

impl std::fmt::Debug for HostFns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_name.keys().collect();
        names.sort();
        f.debug_struct("HostFns").field("names", &names).finish()
    }
}
