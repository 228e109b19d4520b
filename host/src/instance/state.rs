//! The data of one instance's store: what the imports and the limiter work with.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::context::ExecContext;
use crate::deterministic::VirtualClock;
use crate::failure::Interrupt;
use crate::host_calls::HostCaller;
use crate::host_fn::HostFns;
use crate::limits::Limits;
use crate::module_graph::ModuleSession;
use crate::outcome::{LogLevel, LogRecord};
use crate::promise_calls::PromiseCalls;

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
    fn new(cap_bytes: u64) -> Self {
        MemoryLimiter {
            cap_bytes: usize::try_from(cap_bytes).unwrap_or(usize::MAX),
            peak_bytes: 0,
            refused: false,
        }
    }
}

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
        Ok(desired <= jsruntime_wasm::MAX_TABLE_ELEMENTS)
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
    fn new(cap_bytes: u32) -> Self {
        LogSink {
            cap_bytes: cap_bytes as usize,
            ..LogSink::default()
        }
    }

    pub(crate) fn push(&mut self, level: LogLevel, message: String) {
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
    fn finish(mut self) -> Vec<LogRecord> {
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

/// What an instance is given for one execution (see [`Instance::prepare`](super::Instance::prepare)).
pub(crate) struct Assignment {
    /// Who the execution runs for.
    pub(crate) context: Arc<ExecContext>,
    /// Its limits, overrides applied.
    pub(crate) limits: Limits,
    /// When it must have ended.
    pub(crate) deadline: Instant,
    /// The caller's cancellation, if any.
    pub(crate) cancel: Option<CancellationToken>,
    /// Where its host functions run.
    pub(crate) host_caller: HostCaller,
    /// The seed of a deterministic execution.
    pub(crate) deterministic: Option<u64>,
}

/// Whether an execution must stop now: the runtime is shutting down, the caller
/// cancelled, or the deadline passed (checked in that order).
fn interrupt(
    shutdown: &CancellationToken,
    cancel: Option<&CancellationToken>,
    deadline: Instant,
) -> Option<Interrupt> {
    if shutdown.is_cancelled() {
        Some(Interrupt::Shutdown)
    } else if cancel.is_some_and(CancellationToken::is_cancelled) {
        Some(Interrupt::Cancelled)
    } else if Instant::now() >= deadline {
        Some(Interrupt::Timeout)
    } else {
        None
    }
}

/// What [`ExecState::interrupt`] looks at, held outside the store: two token handles and
/// the deadline, so checking costs two atomic loads and a clock read.
pub(crate) struct StopCheck {
    shutdown: CancellationToken,
    cancel: Option<CancellationToken>,
    deadline: Instant,
}

impl StopCheck {
    /// The check of an execution that has no instance yet.
    pub(crate) fn new(
        shutdown: CancellationToken,
        cancel: Option<CancellationToken>,
        deadline: Instant,
    ) -> StopCheck {
        StopCheck {
            shutdown,
            cancel,
            deadline,
        }
    }

    /// Whether the execution must stop now (see [`ExecState::interrupt`]).
    pub(crate) fn interrupt(&self) -> Option<Interrupt> {
        interrupt(&self.shutdown, self.cancel.as_ref(), self.deadline)
    }

    /// Resolves when the execution must stop, with the reason (see
    /// [`ExecState::stopped`]).
    pub(crate) fn stopped(&self) -> impl std::future::Future<Output = Interrupt> + Send + 'static {
        let shutdown = self.shutdown.clone();
        let cancel = self.cancel.clone();
        let deadline = tokio::time::Instant::from_std(self.deadline);
        async move {
            let cancelled = async {
                match &cancel {
                    Some(token) => token.cancelled().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = shutdown.cancelled() => Interrupt::Shutdown,
                () = cancelled => Interrupt::Cancelled,
                () = tokio::time::sleep_until(deadline) => Interrupt::Timeout,
            }
        }
    }
}

/// The data of one instance's store.
///
/// A store is created idle (for the pool, before anyone asks for it) and gets the
/// execution's [`Assignment`] when it is prepared.
pub(crate) struct ExecState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) context: Arc<ExecContext>,
    pub(crate) limits: Limits,
    pub(crate) deadline: Instant,
    pub(crate) cancel: Option<CancellationToken>,
    /// Cancelled when the runtime shuts down.
    pub(crate) shutdown: CancellationToken,
    pub(crate) logs: LogSink,
    pub(crate) host_calls: u32,
    pub(crate) host_fns: Arc<HostFns>,
    pub(crate) host_caller: HostCaller,
    /// The execution's Promise host calls.
    pub(crate) promise_calls: PromiseCalls,
    /// The virtual time of a deterministic execution (`None`: real time).
    pub(crate) virtual_clock: Option<VirtualClock>,
    /// The execution's modules, for a dynamic `import()` (none before the run).
    pub(crate) modules: Option<ModuleSession>,
}

/// How long an idle store may run wasm (its instantiation) before it is stopped.
const IDLE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl ExecState {
    /// A store's data before it is prepared: no context, no budget for scripts, no host
    /// calls.
    pub(crate) fn idle(host_fns: Arc<HostFns>, shutdown: CancellationToken) -> Self {
        ExecState {
            // Nothing of the host: no files, environment, arguments, network or stdio.
            // Clocks and randomness remain (Date.now, Math.random's seed).
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(jsruntime_wasm::MAX_MEMORY_BYTES),
            context: Arc::new(ExecContext::default()),
            limits: Limits {
                host_calls: 0,
                log_bytes: 0,
                ..Limits::default()
            },
            deadline: Instant::now() + IDLE_DEADLINE,
            cancel: None,
            shutdown,
            logs: LogSink::new(0),
            host_calls: 0,
            host_fns,
            host_caller: HostCaller::detached(),
            promise_calls: PromiseCalls::new(1, false),
            virtual_clock: None,
            modules: None,
        }
    }

    /// Gives the store its execution.
    pub(crate) fn assign(&mut self, assignment: Assignment) {
        let Assignment {
            context,
            limits,
            deadline,
            cancel,
            host_caller,
            deterministic,
        } = assignment;
        self.limiter.cap_bytes = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        self.context = context;
        self.limits = limits;
        self.deadline = deadline;
        self.cancel = cancel;
        self.logs = LogSink::new(limits.log_bytes);
        self.host_calls = 0;
        self.host_caller = host_caller;
        self.promise_calls = PromiseCalls::new(limits.calls_in_flight, deterministic.is_some());
        self.virtual_clock = deterministic.map(|seed| {
            let clock = VirtualClock::default();
            // The idle store's context had the real clocks; nothing of it is kept (it
            // holds no resources: the store's table is separate).
            self.wasi = crate::deterministic::wasi_ctx(seed, &clock);
            clock
        });
        self.modules = None;
    }

    /// Whether the execution must stop now: the runtime is shutting down, the caller
    /// cancelled, or the deadline passed (checked in that order).
    pub(crate) fn interrupt(&self) -> Option<Interrupt> {
        interrupt(&self.shutdown, self.cancel.as_ref(), self.deadline)
    }

    /// The same check, copied out of the store, for the host to make while a guest call
    /// holds the store: at every yield of the call (see `Instance::guest_call`).
    pub(crate) fn stop_check(&self) -> StopCheck {
        StopCheck::new(self.shutdown.clone(), self.cancel.clone(), self.deadline)
    }

    /// Resolves when the execution must stop, with the reason: for waits outside wasm
    /// (a host function), where no fuel yield happens to check the deadline.
    pub(crate) fn stopped(&self) -> impl std::future::Future<Output = Interrupt> + Send + 'static {
        self.stop_check().stopped()
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
