//! What a caller asks for: [`ExecRequest`] (the code, its input, the caller's context,
//! limit overrides, cancellation) and [`Script`] (bytecode compiled once, to run many
//! times).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cache::{self, CodeKind, Compiled, ScriptHash};
use crate::context::ExecContext;
use crate::json::{self, MAX_JSON_DEPTH};
use crate::limits::LimitOverrides;

/// What to run: source (compiled through the cache) or a compiled [`Script`].
#[derive(Debug, Clone)]
pub(crate) enum Code {
    Source {
        kind: CodeKind,
        name: Arc<str>,
        source: Arc<str>,
    },
    Script(Script),
}

impl Code {
    pub(crate) fn kind(&self) -> CodeKind {
        match self {
            Code::Source { kind, .. } => *kind,
            Code::Script(script) => script.kind,
        }
    }
}

/// A request's input, read when the request was built.
#[derive(Debug, Clone)]
pub(crate) enum Input {
    /// The guest's tape of the JSON (`jsruntime_wasm::input`), and the JSON's length in
    /// bytes (what [`Limits::input_bytes`](crate::Limits::input_bytes) counts).
    Tape { tape: Arc<[u8]>, json_bytes: u64 },
    /// Why the input given cannot be used (the execution is refused with this).
    Invalid(String),
}

impl Input {
    /// The input of JSON text: its tape, or why it cannot be one.
    fn read(json: &str) -> Input {
        match jsruntime_wasm::input::encode(json, MAX_JSON_DEPTH) {
            Ok(tape) => Input::Tape {
                tape: Arc::from(tape),
                json_bytes: json.len() as u64,
            },
            Err(reason) => Input::Invalid(format!("the input is not usable JSON: {reason}")),
        }
    }
}

/// One execution request: the code, its input, the caller's context, limit overrides
/// and an optional cancellation token.
///
/// A *script* ([`ExecRequest::source`]) is strict-mode global code; its completion value
/// is the result. A *module* ([`ExecRequest::module`]) is an ES module: it runs its top
/// level (awaiting top-level `await`), then its entry export (`default`, or the one
/// [`ExecRequest::entry`] names) is called with the input and what it returns, awaited,
/// is the result. Both see the input as the global `input` too.
///
/// ```
/// use std::time::Duration;
/// use jsruntime::ExecRequest;
///
/// let request = ExecRequest::source("1 + 1")
///     .name("formula.js")
///     .timeout(Duration::from_millis(100))
///     .fuel(10_000_000);
///
/// let handler = ExecRequest::module("export default (cart) => cart.items.length")
///     .name("rules/count.js")
///     .input(serde_json::json!({ "items": [1, 2, 3] }));
/// ```
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub(crate) code: Code,
    pub(crate) input: Option<Input>,
    pub(crate) entry: Option<Arc<str>>,
    pub(crate) context: Arc<ExecContext>,
    pub(crate) overrides: LimitOverrides,
    pub(crate) cancel: Option<CancellationToken>,
    pub(crate) deterministic: Option<u64>,
}

/// The name a script gets when the request does not give one.
pub const DEFAULT_SCRIPT_NAME: &str = "script.js";

/// Where a deterministic execution's wall clock starts
/// ([`ExecRequest::deterministic`]): 2025-01-01T00:00:00Z, in milliseconds since the Unix
/// epoch.
pub const DETERMINISTIC_EPOCH_MS: u64 = 1_735_689_600_000;

/// The name a module gets when the request does not give one (its relative imports
/// resolve from the top of the module names: `./tax.js` is `tax.js`).
pub const DEFAULT_MODULE_NAME: &str = "main.mjs";

impl ExecRequest {
    /// Runs this source (strict-mode global code; its completion value is the result).
    pub fn source(source: impl Into<Arc<str>>) -> Self {
        Self::with_code(Code::Source {
            kind: CodeKind::Script,
            name: Arc::from(DEFAULT_SCRIPT_NAME),
            source: source.into(),
        })
    }

    /// Runs this source as an ES module, as a handler: see the type's description. Its
    /// imports come from the runtime's [`ModuleLoader`](crate::ModuleLoader).
    pub fn module(source: impl Into<Arc<str>>) -> Self {
        Self::with_code(Code::Source {
            kind: CodeKind::Module,
            name: Arc::from(DEFAULT_MODULE_NAME),
            source: source.into(),
        })
    }

    /// Runs a script or module compiled earlier with
    /// [`Runtime::compile`](crate::Runtime::compile) or
    /// [`Runtime::compile_module`](crate::Runtime::compile_module).
    pub fn script(script: &Script) -> Self {
        Self::with_code(Code::Script(script.clone()))
    }

    fn with_code(code: Code) -> Self {
        ExecRequest {
            code,
            input: None,
            entry: None,
            context: Arc::new(ExecContext::default()),
            overrides: LimitOverrides::default(),
            cancel: None,
            deterministic: None,
        }
    }

    /// Names the source (stack traces and error positions use it; a module's relative
    /// imports resolve against it). Ignored for a compiled [`Script`], which keeps its
    /// own name.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        if let Code::Source { name: current, .. } = &mut self.code {
            *current = name.into();
        }
        self
    }

    /// Gives the execution its input: the global `input` (a fresh copy in each
    /// execution: what a script does to it stays inside), and a module's entry export
    /// gets it as its argument. Without one, `input` is not defined and the entry gets
    /// `undefined`.
    ///
    /// Serialized and read once, here, into what the guest makes the value from (so
    /// running the same request again reads nothing). At most
    /// [`Limits::input_bytes`](crate::Limits::input_bytes) bytes of JSON (else
    /// `input_limit`) nested at most [`MAX_JSON_DEPTH`] levels (else `invalid_request`).
    pub fn input(mut self, input: serde_json::Value) -> Self {
        self.input = Some(if json::depth_exceeds(&input, MAX_JSON_DEPTH) {
            Input::Invalid(format!(
                "the input nests arrays and objects deeper than {MAX_JSON_DEPTH} levels"
            ))
        } else {
            Input::read(&input.to_string())
        });
        self
    }

    /// [`ExecRequest::input`] from JSON text the service already has (a request body),
    /// without building a `serde_json::Value`. Read here, once: text that is not JSON
    /// (RFC 8259; a string may not hold a lone surrogate escape such as `"\ud800"`), or
    /// nests deeper than [`MAX_JSON_DEPTH`], makes the execution fail with
    /// `invalid_request`.
    pub fn input_json(mut self, json: impl AsRef<str>) -> Self {
        self.input = Some(Input::read(json.as_ref()));
        self
    }

    /// Names the export a module's execution calls (default: `default`). A module
    /// without that export, or whose export is not a function, fails with a `TypeError`
    /// (`exception`) that names it. Only for modules: a script with an entry is refused
    /// (`invalid_request`).
    pub fn entry(mut self, export: impl Into<Arc<str>>) -> Self {
        self.entry = Some(export.into());
        self
    }

    /// Runs the execution deterministically, from `seed`: the same request gives the
    /// same result and the same logs, byte for byte, run after run (for tests, and for
    /// replaying a tenant's failure).
    ///
    /// - `Math.random`, `crypto.getRandomValues` and `crypto.randomUUID` draw from a
    ///   generator seeded with `seed`.
    /// - Virtual time: `Date.now()` starts at [`DETERMINISTIC_EPOCH_MS`] and
    ///   `performance.now()` at 0, and neither advances while code runs. When the script
    ///   waits for timers only, time jumps to the next timer's due time at once, so
    ///   timers fire immediately, in order. `context.deadline` counts down in virtual
    ///   time too.
    /// - Promise host calls still run for real (the host functions are the service's
    ///   code), but their promises settle in the order the calls were started, whatever
    ///   order they end in, and they take no virtual time.
    ///
    /// The real limits still apply: the timeout is wall-clock time, and fuel, memory and
    /// the host-call limit are what they always are. Blocking host calls and a module
    /// loader are the service's code: whatever they return is what the script sees.
    ///
    /// ```
    /// use jsruntime::ExecRequest;
    ///
    /// let replay = ExecRequest::source("Math.random()").deterministic(42);
    /// ```
    pub fn deterministic(mut self, seed: u64) -> Self {
        self.deterministic = Some(seed);
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

    /// Overrides how many Promise host calls may run at once.
    pub fn calls_in_flight(mut self, calls: u32) -> Self {
        self.overrides.calls_in_flight = Some(calls);
        self
    }

    /// Overrides the log limit (bytes).
    pub fn log_bytes(mut self, bytes: u32) -> Self {
        self.overrides.log_bytes = Some(bytes);
        self
    }

    /// Overrides the input limit (bytes of JSON).
    pub fn input_bytes(mut self, bytes: u64) -> Self {
        self.overrides.input_bytes = Some(bytes);
        self
    }

    /// Overrides the number of modules the execution may load.
    pub fn modules(mut self, modules: u32) -> Self {
        self.overrides.modules = Some(modules);
        self
    }

    /// Overrides the bytes of module source the execution may load.
    pub fn module_bytes(mut self, bytes: u64) -> Self {
        self.overrides.module_bytes = Some(bytes);
        self
    }

    /// Cancels the execution when `token` is cancelled (also while it waits for a slot).
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// A compiled script or module: QuickJS bytecode that this runtime produced, to run many
/// times. Cheap to clone. A module's imports are not part of it: they are loaded (and
/// compiled, through the cache) by each execution, for that execution's caller.
#[derive(Clone)]
pub struct Script {
    pub(crate) kind: CodeKind,
    pub(crate) name: Arc<str>,
    pub(crate) hash: ScriptHash,
    pub(crate) compiled: Compiled,
}

impl Script {
    /// The name it was compiled under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is an ES module (from [`Runtime::compile_module`](crate::Runtime::compile_module)).
    pub fn is_module(&self) -> bool {
        self.kind == CodeKind::Module
    }

    /// sha256 of (guest build, script or module, name, source), lower-case hex.
    pub fn hash_hex(&self) -> String {
        cache::hex(&self.hash)
    }

    /// Size of its bytecode.
    pub fn bytecode_len(&self) -> usize {
        self.compiled.bytecode.len()
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("hash", &self.hash_hex())
            .field("bytecode_len", &self.compiled.bytecode.len())
            .finish()
    }
}
