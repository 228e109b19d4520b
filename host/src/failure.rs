//! Why an execution failed: every trap, interrupt and guest-reported failure becomes an
//! [`ExecError`] here, and nowhere else.
//!
//! A guest call can end three ways besides success: the guest reports a [`Failure`]
//! (a syntax error, an exception, its own heap limit), wasmtime traps (fuel, the wasm
//! stack, a memory grow refused by the limiter), or the host stops it from outside with an
//! [`Interrupt`] (at a fuel yield of the guest's call, or raised as a trap from inside an
//! import).

use jsruntime_wasm::bindings::exports::jsruntime::sandbox::engine::{ErrorInfo, Failure};

/// A failure as the guest reports it.
pub(crate) type GuestFailure = Failure;
use wasmtime::Trap;

use crate::error::{ExecError, ScriptError};
use crate::json::{JsonError, MAX_JSON_DEPTH};
use crate::limits::Limits;

/// Why the host stopped an instance from outside: the guest's call is dropped at a fuel
/// yield (see `instance::guest_call`), or an import raises it as a trap, so the guest
/// cannot catch it and carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Interrupt {
    #[error("the execution's deadline passed")]
    Timeout,
    #[error("the execution was cancelled by the caller")]
    Cancelled,
    #[error("the runtime is shutting down")]
    Shutdown,
    #[error("the execution made more host calls than allowed")]
    HostCallLimit,
    #[error("host function {name} panicked: {message}")]
    HostFnPanicked { name: String, message: String },
}

impl Interrupt {
    pub(crate) fn into_error(self, limits: &Limits) -> ExecError {
        match self {
            Interrupt::Timeout => ExecError::Timeout {
                timeout: limits.timeout,
            },
            Interrupt::Cancelled => ExecError::Cancelled,
            Interrupt::Shutdown => ExecError::Closed,
            Interrupt::HostCallLimit => ExecError::HostCallLimit {
                limit: limits.host_calls,
            },
            Interrupt::HostFnPanicked { name, message } => {
                ExecError::HostFnPanicked { name, message }
            }
        }
    }
}

/// Names the reason a guest call ended in a trap or a host error. `memory_refused`: the
/// instance's limiter refused to grow its memory during the call.
pub(crate) fn from_trap(
    error: wasmtime::Error,
    memory_refused: bool,
    limits: &Limits,
) -> ExecError {
    if let Some(interrupt) = error.downcast_ref::<Interrupt>() {
        return interrupt.clone().into_error(limits);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            return ExecError::OutOfFuel {
                budget: limits.fuel,
            }
        }
        Some(Trap::StackOverflow) => return ExecError::StackOverflow(None),
        _ => {}
    }
    if memory_refused {
        // The guest asked for memory past the cap and failed on the refusal (an
        // allocation failure aborts the guest's Rust code).
        return ExecError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        };
    }
    if let Some(Trap::MemoryOutOfBounds) = error.downcast_ref::<Trap>() {
        // The guest's linear-memory stack ran out below QuickJS's own check.
        return ExecError::StackOverflow(None);
    }
    ExecError::Internal(format!("the guest failed: {error:#}"))
}

/// Converts the failure the guest reported into the public error.
pub(crate) fn from_failure(failure: Failure, limits: &Limits) -> ExecError {
    fn script(info: ErrorInfo) -> ScriptError {
        ScriptError {
            name: info.name,
            message: info.message,
            stack: info.stack.filter(|stack| !stack.trim().is_empty()),
            line: info.line,
            column: info.column,
        }
    }
    match failure {
        Failure::Syntax(info) => ExecError::Syntax(script(info)),
        Failure::Exception(info) => ExecError::Exception(script(info)),
        Failure::StackOverflow(info) => ExecError::StackOverflow(Some(script(info))),
        Failure::OutOfMemory => ExecError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        },
        Failure::OutputLimit(size_bytes) => ExecError::OutputLimit {
            size_bytes,
            limit_bytes: u64::from(limits.output_bytes),
        },
        Failure::Internal(message) => ExecError::Internal(format!("guest: {message}")),
    }
}

/// Converts a result the host could not accept into the public error.
pub(crate) fn from_result_json(error: JsonError) -> ExecError {
    match error {
        JsonError::TooDeep => ExecError::OutputDepth {
            limit: MAX_JSON_DEPTH,
        },
        JsonError::Invalid(message) => {
            ExecError::Internal(format!("the guest returned invalid JSON: {message}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupts_become_their_kinds() {
        let limits = Limits::default();
        let kind = |interrupt: Interrupt| {
            from_trap(wasmtime::Error::new(interrupt), false, &limits).kind()
        };
        use crate::ErrorKind;
        assert_eq!(kind(Interrupt::Timeout), ErrorKind::Timeout);
        assert_eq!(kind(Interrupt::Cancelled), ErrorKind::Cancelled);
        assert_eq!(kind(Interrupt::Shutdown), ErrorKind::Closed);
        assert_eq!(kind(Interrupt::HostCallLimit), ErrorKind::HostCallLimit);
        let panicked = Interrupt::HostFnPanicked {
            name: "f".into(),
            message: "boom".into(),
        };
        assert_eq!(kind(panicked), ErrorKind::HostFnPanicked);
    }

    #[test]
    fn a_refused_grow_is_a_memory_limit_whatever_the_trap() {
        let error = from_trap(wasmtime::Error::msg("abort"), true, &Limits::default());
        assert_eq!(error.kind(), crate::ErrorKind::MemoryLimit);
        let error = from_trap(wasmtime::Error::msg("abort"), false, &Limits::default());
        assert_eq!(error.kind(), crate::ErrorKind::Internal);
    }
}
