//! Typed errors: why an execution failed ([`ExecError`]) and why a runtime could not be
//! built ([`SetupError`]).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A JavaScript error as the script saw it: a syntax error or an uncaught exception.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// The request was invalid or the runtime failed for a reason of its own; the message
    /// says which.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The kind of an [`ExecError`], as a stable name (`"out_of_fuel"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// See [`ExecError::Internal`].
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Syntax,
        ErrorKind::Exception,
        ErrorKind::OutOfFuel,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::MemoryLimit,
        ErrorKind::StackOverflow,
        ErrorKind::HostCallLimit,
        ErrorKind::OutputLimit,
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

/// Why a [`Runtime`](crate::Runtime) could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A configuration value is out of range; the message names it.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// wasmtime refused the engine configuration or the guest component.
    #[error("wasmtime: {0}")]
    Wasmtime(String),
    /// The guest failed its start-up check.
    #[error("the guest failed its start-up check: {0}")]
    GuestCheck(String),
}
