//! What a caller asks for: [`ExecRequest`] (the code, the caller's context, limit
//! overrides, cancellation) and [`Script`] (bytecode compiled once, to run many times).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cache::{self, ScriptHash};
use crate::context::ExecContext;
use crate::limits::LimitOverrides;

/// What to run: source (compiled through the cache) or a compiled [`Script`].
#[derive(Debug, Clone)]
pub(crate) enum Code {
    Source { name: Arc<str>, source: Arc<str> },
    Script(Script),
}

/// One execution request: the code, the caller's context, limit overrides and an
/// optional cancellation token.
///
/// ```
/// use std::time::Duration;
/// use jsruntime::ExecRequest;
///
/// let request = ExecRequest::source("1 + 1")
///     .name("formula.js")
///     .timeout(Duration::from_millis(100))
///     .fuel(10_000_000);
/// ```
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub(crate) code: Code,
    pub(crate) context: Arc<ExecContext>,
    pub(crate) overrides: LimitOverrides,
    pub(crate) cancel: Option<CancellationToken>,
}

/// The name a script gets when the request does not give one.
pub const DEFAULT_SCRIPT_NAME: &str = "script.js";

impl ExecRequest {
    /// Runs this source (strict-mode global code; its completion value is the result).
    pub fn source(source: impl Into<Arc<str>>) -> Self {
        Self::with_code(Code::Source {
            name: Arc::from(DEFAULT_SCRIPT_NAME),
            source: source.into(),
        })
    }

    /// Runs a script compiled earlier with [`Runtime::compile`](crate::Runtime::compile).
    pub fn script(script: &Script) -> Self {
        Self::with_code(Code::Script(script.clone()))
    }

    fn with_code(code: Code) -> Self {
        ExecRequest {
            code,
            context: Arc::new(ExecContext::default()),
            overrides: LimitOverrides::default(),
            cancel: None,
        }
    }

    /// Names the source (stack traces and error positions use it). Ignored for a
    /// compiled [`Script`], which keeps its own name.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        if let Code::Source { name: current, .. } = &mut self.code {
            *current = name.into();
        }
        self
    }

    /// Sets the caller's context.
    pub fn context(mut self, context: ExecContext) -> Self {
        self.context = Arc::new(context);
        self
    }

    /// Overrides several limits at once.
    pub fn limits(mut self, overrides: LimitOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Overrides the fuel budget.
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.overrides.fuel = Some(fuel);
        self
    }

    /// Overrides the memory limit (bytes).
    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.overrides.memory_bytes = Some(bytes);
        self
    }

    /// Overrides the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// Overrides the QuickJS stack limit (bytes).
    pub fn stack_bytes(mut self, bytes: u32) -> Self {
        self.overrides.stack_bytes = Some(bytes);
        self
    }

    /// Overrides the result size limit (bytes of JSON).
    pub fn output_bytes(mut self, bytes: u32) -> Self {
        self.overrides.output_bytes = Some(bytes);
        self
    }

    /// Overrides the host-call limit.
    pub fn host_calls(mut self, calls: u32) -> Self {
        self.overrides.host_calls = Some(calls);
        self
    }

    /// Overrides the log limit (bytes).
    pub fn log_bytes(mut self, bytes: u32) -> Self {
        self.overrides.log_bytes = Some(bytes);
        self
    }

    /// Cancels the execution when `token` is cancelled (also while it waits for a slot).
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// A compiled script: QuickJS bytecode that this runtime produced, to run many times.
/// Cheap to clone.
#[derive(Clone)]
pub struct Script {
    pub(crate) name: Arc<str>,
    pub(crate) hash: ScriptHash,
    pub(crate) bytecode: Arc<[u8]>,
}

impl Script {
    /// The name it was compiled under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// sha256 of (guest build, name, source), lower-case hex.
    pub fn hash_hex(&self) -> String {
        cache::hex(&self.hash)
    }

    /// Size of its bytecode.
    pub fn bytecode_len(&self) -> usize {
        self.bytecode.len()
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("name", &self.name)
            .field("hash", &self.hash_hex())
            .field("bytecode_len", &self.bytecode.len())
            .finish()
    }
}
