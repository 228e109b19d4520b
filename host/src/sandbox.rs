//! The per-execution side of the sandbox: the store's data, the guest's imports
//! (context, logging, host functions) and the memory limiter.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::context::ExecContext;
use crate::host_fn::{HostCall, HostFns};
use crate::outcome::{LogLevel, LogRecord};

wasmtime::component::bindgen!({
    world: "sandbox",
    path: "../wit",
    imports: {
        "jsruntime:sandbox/host.call": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

use self::jsruntime::sandbox::{context as wit_context, host as wit_host};
pub(crate) use exports::jsruntime::sandbox::engine::{Failure, RunLimits};

/// Why the host stopped an instance from outside (raised as a trap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Interrupt {
    #[error("the execution's deadline passed")]
    Timeout,
    #[error("the execution was cancelled")]
    Cancelled,
    #[error("the execution made more host calls than allowed")]
    HostCallLimit,
}

/// Caps the instance's linear memory and records its peak.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    cap_bytes: usize,
    pub(crate) peak_bytes: usize,
    /// A grow past the cap was refused: whatever the guest did next (a clean
    /// out-of-memory error or an abort) is a memory-limit failure.
    pub(crate) refused: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(cap_bytes: u64) -> Self {
        MemoryLimiter {
            cap_bytes: usize::try_from(cap_bytes).unwrap_or(usize::MAX),
            peak_bytes: 0,
            refused: false,
        }
    }
}

/// Tables only hold the guest's function pointers; they never need to grow much.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap_bytes {
            self.refused = true;
            return Ok(false);
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// `console.*` records of one execution, capped in bytes.
#[derive(Debug, Default)]
pub(crate) struct LogSink {
    cap_bytes: usize,
    used_bytes: usize,
    dropped_records: u64,
    dropped_bytes: u64,
    records: Vec<LogRecord>,
}

impl LogSink {
    pub(crate) fn new(cap_bytes: u32) -> Self {
        LogSink {
            cap_bytes: cap_bytes as usize,
            ..LogSink::default()
        }
    }

    fn push(&mut self, level: LogLevel, message: String) {
        if self.dropped_records == 0 && self.used_bytes + message.len() <= self.cap_bytes {
            self.used_bytes += message.len();
            self.records.push(LogRecord { level, message });
        } else {
            // Once one record is dropped, all later ones are too, so the kept records
            // are a prefix of the output and the final note tells what is missing.
            self.dropped_records += 1;
            self.dropped_bytes += message.len() as u64;
        }
    }

    /// The kept records, plus one final record saying how much was dropped.
    pub(crate) fn finish(mut self) -> Vec<LogRecord> {
        if self.dropped_records > 0 {
            self.records.push(LogRecord {
                level: LogLevel::Warn,
                message: format!(
                    "[jsruntime] log limit of {} bytes reached: {} more records ({} bytes) dropped",
                    self.cap_bytes, self.dropped_records, self.dropped_bytes
                ),
            });
        }
        self.records
    }
}

/// The data of one execution's store.
///
/// A store is created idle (for the pool, before anyone asks for it) and gets the
/// execution's context and limits at check-out ([`ExecState::begin`]).
pub(crate) struct ExecState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) context: Arc<ExecContext>,
    pub(crate) deadline: Instant,
    pub(crate) cancel: Option<CancellationToken>,
    /// Cancelled when the runtime shuts down.
    shutdown: CancellationToken,
    pub(crate) logs: LogSink,
    pub(crate) host_calls: u32,
    host_call_limit: u32,
    host_fns: Arc<HostFns>,
}

/// How long an idle store may run wasm (its instantiation) before it is stopped.
const IDLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl ExecState {
    /// A store's data before it is checked out: no context, no budget for scripts.
    pub(crate) fn idle(host_fns: Arc<HostFns>, shutdown: CancellationToken) -> Self {
        ExecState {
            // Nothing of the host: no files, environment, arguments, network or stdio.
            // Clocks and randomness remain (Date.now, Math.random's seed).
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(crate::limits::MAX_MEMORY_BYTES),
            context: Arc::new(ExecContext::default()),
            deadline: Instant::now() + IDLE_DEADLINE,
            cancel: None,
            shutdown,
            logs: LogSink::new(0),
            host_calls: 0,
            host_call_limit: 0,
            host_fns,
        }
    }

    /// Gives a checked-out store its execution's context and limits.
    pub(crate) fn begin(
        &mut self,
        context: Arc<ExecContext>,
        limits: &crate::Limits,
        deadline: Instant,
        cancel: Option<CancellationToken>,
    ) {
        self.limiter.cap_bytes = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        self.context = context;
        self.deadline = deadline;
        self.cancel = cancel;
        self.logs = LogSink::new(limits.log_bytes);
        self.host_calls = 0;
        self.host_call_limit = limits.host_calls;
    }

    /// The epoch callback's check: stop the guest if the deadline passed, the caller
    /// cancelled or the runtime is shutting down.
    pub(crate) fn interrupt(&self) -> Option<Interrupt> {
        if self.shutdown.is_cancelled()
            || self
                .cancel
                .as_ref()
                .is_some_and(|token| token.is_cancelled())
        {
            Some(Interrupt::Cancelled)
        } else if Instant::now() >= self.deadline {
            Some(Interrupt::Timeout)
        } else {
            None
        }
    }

    /// Takes the captured logs, leaving none.
    pub(crate) fn take_logs(&mut self) -> Vec<LogRecord> {
        std::mem::take(&mut self.logs).finish()
    }
}

impl WasiView for ExecState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit_context::Host for ExecState {
    fn tenant(&mut self) -> wasmtime::Result<Option<wit_context::TenantInfo>> {
        Ok(self
            .context
            .tenant
            .as_ref()
            .map(|tenant| wit_context::TenantInfo {
                id: tenant.id.clone(),
                name: tenant.name.clone(),
            }))
    }

    fn user(&mut self) -> wasmtime::Result<Option<wit_context::UserInfo>> {
        Ok(self
            .context
            .user
            .as_ref()
            .map(|user| wit_context::UserInfo {
                id: user.id.clone(),
                email: user.email.clone(),
                first_name: user.first_name.clone(),
                last_name: user.last_name.clone(),
                permissions: user.permissions.clone(),
            }))
    }

    fn request_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.context.request_id.clone())
    }

    fn locale(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(self.context.locale.clone())
    }

    fn deadline_ms(&mut self) -> wasmtime::Result<Option<i64>> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        Ok(Some(
            i64::try_from(remaining.as_millis()).unwrap_or(i64::MAX),
        ))
    }
}

impl wit_host::Host for ExecState {
    fn log(&mut self, level: wit_host::LogLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit_host::LogLevel::Debug => LogLevel::Debug,
            wit_host::LogLevel::Info => LogLevel::Info,
            wit_host::LogLevel::Warn => LogLevel::Warn,
            wit_host::LogLevel::Error => LogLevel::Error,
        };
        let tenant_id = self.context.tenant_id().unwrap_or("");
        let request_id = self.context.request_id.as_deref().unwrap_or("");
        match level {
            LogLevel::Debug => {
                tracing::debug!(target: "jsruntime::script", tenant_id, request_id, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "jsruntime::script", tenant_id, request_id, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "jsruntime::script", tenant_id, request_id, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "jsruntime::script", tenant_id, request_id, "{message}")
            }
        }
        self.logs.push(level, message);
        Ok(())
    }

    fn functions(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.host_fns.names())
    }

    async fn call(
        &mut self,
        name: String,
        args_json: String,
    ) -> wasmtime::Result<Result<String, wit_host::CallError>> {
        if self.host_calls >= self.host_call_limit {
            // Ends the instance: a script cannot catch this and carry on.
            return Err(wasmtime::Error::new(Interrupt::HostCallLimit));
        }
        self.host_calls += 1;
        let Some(function) = self.host_fns.get(&name).cloned() else {
            return Ok(Err(wit_host::CallError::UnknownFunction));
        };
        // Lone surrogates are valid in a JS string but not in serde_json's: they become U+FFFD,
        // as in results.
        let args = match serde_json::from_str(&args_json)
            .or_else(|_| serde_json::from_str(&crate::runtime::replace_lone_surrogates(&args_json)))
        {
            Ok(args) => args,
            Err(error) => {
                return Ok(Err(wit_host::CallError::Failed(format!(
                    "host.call({name}): the arguments are not valid JSON: {error}"
                ))))
            }
        };
        let call = HostCall {
            name,
            args,
            context: Arc::clone(&self.context),
        };
        Ok(match function(call).await {
            Ok(value) => Ok(value.to_string()),
            Err(error) => Err(wit_host::CallError::Failed(error.message)),
        })
    }
}

/// Converts the guest's failure into the public error.
pub(crate) fn failure_to_error(failure: Failure, limits: &crate::Limits) -> crate::ExecError {
    use crate::error::{ExecError, ScriptError};
    use exports::jsruntime::sandbox::engine::ErrorInfo;
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
