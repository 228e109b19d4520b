//! What an execution returns: the value, the captured logs, and its stats.

use std::time::Duration;

use serde::Serialize;

use crate::error::ExecError;

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `console.debug`
    Debug,
    /// `console.log`, `console.info`
    Info,
    /// `console.warn`
    Warn,
    /// `console.error`
    Error,
}

/// One `console.*` call of a script, formatted as a browser console would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRecord {
    /// Its level.
    pub level: LogLevel,
    /// The formatted message.
    pub message: String,
}

/// Measurements of one execution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Fuel consumed (compile and run).
    pub fuel_used: u64,
    /// Wall time from the call to the result, in microseconds.
    pub wall_us: u64,
    /// Peak linear memory of the instance, in bytes.
    pub memory_bytes: u64,
    /// Host function calls made.
    pub host_calls: u32,
    /// Whether the bytecode came from the compile cache (or a [`Script`](crate::Script)).
    pub cache_hit: bool,
    /// Whether a module's execution started from its import graph's prepared image (the
    /// graph read and instantiated once, by an earlier execution, before any of its code
    /// ran; see [`Config::graph_image_bytes`](crate::Config::graph_image_bytes)).
    pub graph_prepared: bool,
    /// The instance that ran it: unique over the runtime's life (instances are never
    /// reused); 0 when the execution never got one.
    pub instance_id: u64,
}

impl Stats {
    /// Wall time as a [`Duration`].
    pub fn wall_time(&self) -> Duration {
        Duration::from_micros(self.wall_us)
    }
}

/// A successful execution.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Outcome {
    /// The completion value of the script (awaited if it was a promise), as JSON.
    /// `undefined`, functions and symbols become `null`.
    pub value: serde_json::Value,
    /// The script's `console.*` output, in order.
    pub logs: Vec<LogRecord>,
    /// Measurements.
    pub stats: Stats,
}

/// Everything about one execution, successful or not: what
/// [`Runtime::execute_detailed`](crate::Runtime::execute_detailed) returns, so a failed
/// execution's logs and stats are not lost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Execution {
    /// The value, or why there is none.
    pub result: Result<serde_json::Value, ExecError>,
    /// The script's `console.*` output, in order.
    pub logs: Vec<LogRecord>,
    /// Measurements.
    pub stats: Stats,
}

impl Execution {
    /// Splits into the plain `Result` that [`Runtime::execute`](crate::Runtime::execute) returns.
    pub fn into_result(self) -> Result<Outcome, ExecError> {
        let Execution {
            result,
            logs,
            stats,
        } = self;
        result.map(|value| Outcome { value, logs, stats })
    }
}
