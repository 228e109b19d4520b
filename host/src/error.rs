//! Typed errors: why an execution failed ([`ExecError`]) and why a runtime could not be
//! built ([`SetupError`]).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A JavaScript error as the script saw it: a syntax error or an uncaught exception.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScriptError {
    /// The error's name (`TypeError`, `SyntaxError`, ...); `None` when the script threw a
    /// value that is not an `Error` (`throw 1`, `throw {}`).
    pub name: Option<String>,
    /// The message, or the thrown value as text for non-Error values.
    pub message: String,
    /// QuickJS's stack trace.
    pub stack: Option<String>,
    /// 1-based line in the script, when known.
    pub line: Option<u32>,
    /// 1-based column in the script, when known.
    pub column: Option<u32>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}: {}", self.message)?,
            None => write!(f, "{}", self.message)?,
        }
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

/// Why an execution failed. Every failure a script can cause maps to exactly one kind
/// (see [`ExecError::kind`]); after any of them the runtime keeps working.
///
/// Five kinds say the script is not to blame: [`InvalidRequest`](ExecError::InvalidRequest)
/// (the caller asked for something the runtime refuses),
/// [`QuotaExceeded`](ExecError::QuotaExceeded) and
/// [`QuotaUnavailable`](ExecError::QuotaUnavailable) (the tenant's budget refused it, or
/// could not be checked), [`Closed`](ExecError::Closed) (the runtime was shut down) and
/// [`Internal`](ExecError::Internal) (the runtime itself
/// failed: alert on this one). New kinds may be added, so match with a wildcard arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The source does not parse.
    #[error("syntax error: {0}")]
    Syntax(ScriptError),
    /// The script threw and did not catch it, or the promise it returned rejected.
    #[error("uncaught exception: {0}")]
    Exception(ScriptError),
    /// The script used up its fuel (CPU budget).
    #[error("out of fuel: the script used its whole CPU budget of {budget} fuel units")]
    OutOfFuel {
        /// The budget it had.
        budget: u64,
    },
    /// The script ran past its wall-clock timeout (or waited past it for a slot).
    #[error("timeout: the script did not finish within {timeout:?}")]
    Timeout {
        /// The timeout it had.
        timeout: Duration,
    },
    /// The caller cancelled the execution.
    #[error("cancelled by the caller")]
    Cancelled,
    /// The script went past its memory limit.
    #[error("memory limit: the script needed more than its {limit_bytes} bytes of memory")]
    MemoryLimit {
        /// The limit it had, in bytes of linear memory.
        limit_bytes: u64,
    },
    /// The script recursed too deeply.
    #[error("stack overflow: {}", .0.as_ref().map_or("the script recursed too deeply".to_owned(), |e| e.to_string()))]
    StackOverflow(Option<ScriptError>),
    /// The script called host functions more often than allowed.
    #[error("host call limit: the script made more than {limit} host function calls")]
    HostCallLimit {
        /// The number of calls it was allowed.
        limit: u32,
    },
    /// The completion value, as JSON, is larger than allowed.
    #[error("output limit: the result is {size_bytes} bytes of JSON, more than the {limit_bytes} allowed")]
    OutputLimit {
        /// Size of the JSON result in bytes.
        size_bytes: u64,
        /// The limit in bytes.
        limit_bytes: u64,
    },
    /// The result, as JSON, nests arrays and objects deeper than
    /// [`MAX_JSON_DEPTH`](crate::MAX_JSON_DEPTH) levels.
    #[error("output depth: the result nests arrays and objects deeper than {limit} levels")]
    OutputDepth {
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// A host function panicked. The execution ends here (the script cannot catch it);
    /// the runtime, its other executions and the service's own tasks carry on.
    #[error("host function panicked: {name}: {message}")]
    HostFnPanicked {
        /// The host function's name.
        name: String,
        /// The panic's message, when it had a text one.
        message: String,
    },
    /// The input is larger than the execution's `input_bytes` limit; refused before an
    /// instance was used.
    #[error(
        "input limit: the input is {size_bytes} bytes of JSON, more than the {limit_bytes} allowed"
    )]
    InputLimit {
        /// The input's size.
        size_bytes: u64,
        /// The limit that applied.
        limit_bytes: u64,
    },
    /// A static import that nothing resolves: the loader has no such module, or the
    /// specifier leads nowhere. The execution ran none of its code.
    #[error("module not found: {specifier:?} imported by {importer:?}: {reason}")]
    ModuleNotFound {
        /// The specifier as written.
        specifier: String,
        /// The importing module's name.
        importer: String,
        /// Why nothing resolves it.
        reason: String,
    },
    /// The module loader failed (or panicked) while loading a module.
    #[error("module load failed: {module:?}: {message}")]
    ModuleLoadFailed {
        /// The resolved name of the module being loaded.
        module: String,
        /// The loader's error.
        message: String,
    },
    /// The execution's modules went past `modules` or `module_bytes`.
    #[error("module limit: {0}")]
    ModuleLimit(String),
    /// The caller's request cannot run as asked: a limit out of range, or `execute`
    /// called from inside a host function. Nothing ran.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The tenant's quota for the current window is used up (see
    /// [`Quota`](crate::Quota)). Refused before it used an instance; nothing ran.
    #[error("quota exceeded: the {budget} budget of {limit} per {window:?} is used up; it refills in {refills_in:?}")]
    QuotaExceeded {
        /// Which budget.
        budget: crate::tenancy::budget::Budget,
        /// The budget per window.
        limit: u64,
        /// The quota's window.
        window: Duration,
        /// When the window ends and the budget is whole again.
        refills_in: Duration,
    },
    /// The tenant has a quota, its budget store could not be asked (unreachable, too
    /// slow, failing), and the quota fails closed
    /// ([`StoreFailure::Refuse`](crate::StoreFailure::Refuse)). Nothing ran.
    #[error("quota unavailable: {0}")]
    QuotaUnavailable(String),
    /// The runtime was closed with [`Runtime::close`](crate::Runtime::close): before the
    /// request started, or while it ran (it was stopped).
    #[error("closed: the runtime is shut down")]
    Closed,
    /// The runtime itself failed (the guest could not be instantiated, the guest broke
    /// its contract); the message says how. Not caused by the script or the caller.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The kind of an [`ExecError`], as a stable name (`"out_of_fuel"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`ExecError::Syntax`].
    Syntax,
    /// See [`ExecError::Exception`].
    Exception,
    /// See [`ExecError::OutOfFuel`].
    OutOfFuel,
    /// See [`ExecError::Timeout`].
    Timeout,
    /// See [`ExecError::Cancelled`].
    Cancelled,
    /// See [`ExecError::MemoryLimit`].
    MemoryLimit,
    /// See [`ExecError::StackOverflow`].
    StackOverflow,
    /// See [`ExecError::HostCallLimit`].
    HostCallLimit,
    /// See [`ExecError::OutputLimit`].
    OutputLimit,
    /// See [`ExecError::OutputDepth`].
    OutputDepth,
    /// See [`ExecError::HostFnPanicked`].
    HostFnPanicked,
    /// See [`ExecError::InvalidRequest`].
    InvalidRequest,
    /// See [`ExecError::InputLimit`].
    InputLimit,
    /// See [`ExecError::ModuleNotFound`].
    ModuleNotFound,
    /// See [`ExecError::ModuleLoadFailed`].
    ModuleLoadFailed,
    /// See [`ExecError::ModuleLimit`].
    ModuleLimit,
    /// See [`ExecError::QuotaExceeded`].
    QuotaExceeded,
    /// See [`ExecError::QuotaUnavailable`].
    QuotaUnavailable,
    /// See [`ExecError::Closed`].
    Closed,
    /// See [`ExecError::Internal`].
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 20] = [
        ErrorKind::Syntax,
        ErrorKind::Exception,
        ErrorKind::OutOfFuel,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::MemoryLimit,
        ErrorKind::StackOverflow,
        ErrorKind::HostCallLimit,
        ErrorKind::OutputLimit,
        ErrorKind::OutputDepth,
        ErrorKind::HostFnPanicked,
        ErrorKind::InvalidRequest,
        ErrorKind::InputLimit,
        ErrorKind::ModuleNotFound,
        ErrorKind::ModuleLoadFailed,
        ErrorKind::ModuleLimit,
        ErrorKind::QuotaExceeded,
        ErrorKind::QuotaUnavailable,
        ErrorKind::Closed,
        ErrorKind::Internal,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::Exception => "exception",
            ErrorKind::OutOfFuel => "out_of_fuel",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::MemoryLimit => "memory_limit",
            ErrorKind::StackOverflow => "stack_overflow",
            ErrorKind::HostCallLimit => "host_call_limit",
            ErrorKind::OutputLimit => "output_limit",
            ErrorKind::OutputDepth => "output_depth",
            ErrorKind::HostFnPanicked => "host_fn_panicked",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InputLimit => "input_limit",
            ErrorKind::ModuleNotFound => "module_not_found",
            ErrorKind::ModuleLoadFailed => "module_load_failed",
            ErrorKind::ModuleLimit => "module_limit",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::QuotaUnavailable => "quota_unavailable",
            ErrorKind::Closed => "closed",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ExecError {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExecError::Syntax(_) => ErrorKind::Syntax,
            ExecError::Exception(_) => ErrorKind::Exception,
            ExecError::OutOfFuel { .. } => ErrorKind::OutOfFuel,
            ExecError::Timeout { .. } => ErrorKind::Timeout,
            ExecError::Cancelled => ErrorKind::Cancelled,
            ExecError::MemoryLimit { .. } => ErrorKind::MemoryLimit,
            ExecError::StackOverflow(_) => ErrorKind::StackOverflow,
            ExecError::HostCallLimit { .. } => ErrorKind::HostCallLimit,
            ExecError::OutputLimit { .. } => ErrorKind::OutputLimit,
            ExecError::OutputDepth { .. } => ErrorKind::OutputDepth,
            ExecError::HostFnPanicked { .. } => ErrorKind::HostFnPanicked,
            ExecError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            ExecError::InputLimit { .. } => ErrorKind::InputLimit,
            ExecError::ModuleNotFound { .. } => ErrorKind::ModuleNotFound,
            ExecError::ModuleLoadFailed { .. } => ErrorKind::ModuleLoadFailed,
            ExecError::ModuleLimit(_) => ErrorKind::ModuleLimit,
            ExecError::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            ExecError::QuotaUnavailable(_) => ErrorKind::QuotaUnavailable,
            ExecError::Closed => ErrorKind::Closed,
            ExecError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The script-level details (name, message, stack, position), for the kinds that
    /// carry them.
    pub fn script_error(&self) -> Option<&ScriptError> {
        match self {
            ExecError::Syntax(e) | ExecError::Exception(e) => Some(e),
            ExecError::StackOverflow(e) => e.as_ref(),
            _ => None,
        }
    }
}

/// The error a [`SetupError`] keeps as its source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`Runtime`](crate::Runtime) could not be created. Whatever construction had
/// started (threads, the engine, instances) is stopped before this is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A configuration value is out of range; the message names it. Checked before
    /// anything starts.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// wasmtime refused the engine configuration or the guest component.
    #[error("wasmtime: {what}")]
    Wasmtime {
        /// What the runtime was doing.
        what: &'static str,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// A background thread could not be started.
    #[error("could not start the {what} thread")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The guest failed its start-up check (it runs `6 * 7` through the execution
    /// pipeline before the runtime is handed out).
    #[error("the guest failed its start-up check")]
    GuestCheck(#[source] ExecError),
}

impl SetupError {
    pub(crate) fn wasmtime(what: &'static str) -> impl FnOnce(wasmtime::Error) -> SetupError {
        move |error| SetupError::Wasmtime {
            what,
            source: error.into_boxed_dyn_error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_stable_name() {
        let names: std::collections::BTreeSet<&str> =
            ErrorKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert_eq!(ExecError::Closed.kind().as_str(), "closed");
        assert_eq!(
            ExecError::InvalidRequest(String::new()).kind().as_str(),
            "invalid_request"
        );
    }

    #[test]
    fn setup_errors_keep_their_source() {
        use std::error::Error as _;
        let error = SetupError::GuestCheck(ExecError::Internal("broken".into()));
        let source = error.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("internal error: broken"));
    }
}
