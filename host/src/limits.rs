//! Per-execution limits: their defaults, and how a request overrides them.

use std::time::Duration;

use crate::error::ExecError;

/// Bytes in a MiB.
pub const MIB: u64 = 1024 * 1024;

/// The smallest memory limit accepted: the pre-initialized QuickJS heap plus the guest's
/// stack take about 4 MiB before a script allocates anything.
pub const MIN_MEMORY_BYTES: u64 = 8 * MIB;

/// The largest memory limit: a wasm32 linear memory cannot grow past 4 GiB.
pub const MAX_MEMORY_BYTES: u64 = jsruntime_wasm::MAX_MEMORY_BYTES;

/// The largest QuickJS stack limit. Scripts run on a 2 MiB stack in the guest's linear
/// memory (`guest/src/stack.rs`); the rest is left for the frames below the interpreter.
pub const MAX_STACK_BYTES: u32 = 1536 * 1024;

/// The longest timeout accepted: a day. Far beyond any script's need, and small enough
/// that a deadline computed from it never overflows the clock (`Duration::MAX` used to
/// make every execution panic).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The limits of one execution. [`Limits::default`] gives the defaults listed on each
/// field; a [`Runtime`](crate::Runtime) has its own defaults (from its
/// [`Config`](crate::Config)) and each request may override any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// CPU budget in wasmtime fuel units (about one per wasm instruction).
    /// Default 2,000,000,000: a few seconds of work, so the timeout usually trips first.
    pub fuel: u64,
    /// Cap on the guest's linear memory in bytes; QuickJS's own heap limit is set a
    /// little below it so most overruns are a clean error. Default 64 MiB.
    pub memory_bytes: u64,
    /// Wall-clock timeout, counted from the call (time spent waiting for a free slot
    /// counts). Default 1 s; at most [`MAX_TIMEOUT`].
    pub timeout: Duration,
    /// QuickJS stack limit in bytes: recursion past it is `stack_overflow`.
    /// Default 1 MiB (a few thousand nested calls), at most 1.5 MiB.
    pub stack_bytes: u32,
    /// Largest completion value, as JSON bytes. Default 1 MiB.
    pub output_bytes: u32,
    /// Host function calls allowed; the call past it ends the execution with
    /// `host_call_limit`. Default 1000. Blocking and Promise calls count alike.
    pub host_calls: u32,
    /// Promise host calls of one execution that run at once; a call past it waits (in
    /// order) until one of them ends, it is not an error. Default 16.
    pub calls_in_flight: u32,
    /// Bytes of `console.*` output kept; the excess is dropped and counted. Default 64 KiB.
    pub log_bytes: u32,
    /// Largest input ([`ExecRequest::input`](crate::ExecRequest::input)), as JSON bytes;
    /// a larger one is refused before an instance is used (`input_limit`). Default 1 MiB.
    pub input_bytes: u64,
    /// Most modules one execution may load: the entry module, each module it imports
    /// statically or dynamically, JSON modules too. Beyond it a static import fails the
    /// execution (`module_limit`) and a dynamic `import()` rejects. Default 256.
    pub modules: u32,
    /// Most bytes of module source (entry module included) one execution may load,
    /// with the same consequences as [`Limits::modules`]. Default 8 MiB.
    pub module_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 2_000_000_000,
            memory_bytes: 64 * MIB,
            timeout: Duration::from_secs(1),
            stack_bytes: 1024 * 1024,
            output_bytes: 1024 * 1024,
            host_calls: 1000,
            calls_in_flight: 16,
            log_bytes: 64 * 1024,
            input_bytes: MIB,
            modules: 256,
            module_bytes: 8 * MIB,
        }
    }
}

impl Limits {
    /// Checks that every limit is in range; the message names the one that is not.
    pub fn validate(&self) -> Result<(), String> {
        if self.fuel == 0 {
            return Err("fuel must be at least 1".into());
        }
        if !(MIN_MEMORY_BYTES..=MAX_MEMORY_BYTES).contains(&self.memory_bytes) {
            return Err(format!(
                "memory limit {} bytes is outside {MIN_MEMORY_BYTES}..={MAX_MEMORY_BYTES}",
                self.memory_bytes
            ));
        }
        if self.timeout.is_zero() {
            return Err("timeout must be more than zero".into());
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(format!(
                "timeout {:?} is longer than the maximum {MAX_TIMEOUT:?}",
                self.timeout
            ));
        }
        if self.stack_bytes == 0 || self.stack_bytes > MAX_STACK_BYTES {
            return Err(format!(
                "stack limit {} bytes is outside 1..={MAX_STACK_BYTES}",
                self.stack_bytes
            ));
        }
        if self.calls_in_flight == 0 {
            return Err("calls in flight must be at least 1".into());
        }
        if self.output_bytes == 0 {
            return Err("output limit must be at least 1 byte".into());
        }
        if self.input_bytes == 0 {
            return Err("input limit must be at least 1 byte".into());
        }
        if self.modules == 0 {
            return Err("module limit must be at least 1 (the entry module counts)".into());
        }
        if self.module_bytes == 0 {
            return Err("module source limit must be at least 1 byte".into());
        }
        Ok(())
    }

    /// Applies the overrides of a request.
    pub(crate) fn with(mut self, overrides: &LimitOverrides) -> Result<Limits, ExecError> {
        let LimitOverrides {
            fuel,
            memory_bytes,
            timeout,
            stack_bytes,
            output_bytes,
            host_calls,
            calls_in_flight,
            log_bytes,
            input_bytes,
            modules,
            module_bytes,
        } = *overrides;
        self.fuel = fuel.unwrap_or(self.fuel);
        self.memory_bytes = memory_bytes.unwrap_or(self.memory_bytes);
        self.timeout = timeout.unwrap_or(self.timeout);
        self.stack_bytes = stack_bytes.unwrap_or(self.stack_bytes);
        self.output_bytes = output_bytes.unwrap_or(self.output_bytes);
        self.host_calls = host_calls.unwrap_or(self.host_calls);
        self.calls_in_flight = calls_in_flight.unwrap_or(self.calls_in_flight);
        self.log_bytes = log_bytes.unwrap_or(self.log_bytes);
        self.input_bytes = input_bytes.unwrap_or(self.input_bytes);
        self.modules = modules.unwrap_or(self.modules);
        self.module_bytes = module_bytes.unwrap_or(self.module_bytes);
        self.validate()
            .map_err(|message| ExecError::InvalidRequest(format!("invalid limits: {message}")))?;
        Ok(self)
    }
}

/// The limits a request sets for itself; `None` keeps the runtime's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitOverrides {
    /// See [`Limits::fuel`].
    pub fuel: Option<u64>,
    /// See [`Limits::memory_bytes`].
    pub memory_bytes: Option<u64>,
    /// See [`Limits::timeout`].
    pub timeout: Option<Duration>,
    /// See [`Limits::stack_bytes`].
    pub stack_bytes: Option<u32>,
    /// See [`Limits::output_bytes`].
    pub output_bytes: Option<u32>,
    /// See [`Limits::host_calls`].
    pub host_calls: Option<u32>,
    /// See [`Limits::calls_in_flight`].
    pub calls_in_flight: Option<u32>,
    /// See [`Limits::log_bytes`].
    pub log_bytes: Option<u32>,
    /// See [`Limits::input_bytes`].
    pub input_bytes: Option<u64>,
    /// See [`Limits::modules`].
    pub modules: Option<u32>,
    /// See [`Limits::module_bytes`].
    pub module_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn overrides_replace_only_what_they_set() {
        let overrides = LimitOverrides {
            fuel: Some(10),
            ..LimitOverrides::default()
        };
        let limits = Limits::default().with(&overrides).expect("valid");
        assert_eq!(limits.fuel, 10);
        assert_eq!(limits.memory_bytes, Limits::default().memory_bytes);
    }

    #[test]
    fn out_of_range_overrides_are_refused_with_a_reason() {
        let overrides = LimitOverrides {
            memory_bytes: Some(1024),
            ..LimitOverrides::default()
        };
        let error = Limits::default().with(&overrides).expect_err("too small");
        assert!(
            error.to_string().contains("memory limit 1024 bytes"),
            "{error}"
        );
        let overrides = LimitOverrides {
            stack_bytes: Some(MAX_STACK_BYTES + 1),
            ..LimitOverrides::default()
        };
        assert!(Limits::default().with(&overrides).is_err());
        let overrides = LimitOverrides {
            timeout: Some(Duration::ZERO),
            ..LimitOverrides::default()
        };
        assert!(Limits::default().with(&overrides).is_err());
    }
}
