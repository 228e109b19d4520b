//! The QuickJS engine: one runtime, a compile context and an eval-free run context.

use std::ffi::CString;

use javy::{Config, Runtime};
use rquickjs::context::intrinsic;
use rquickjs::{qjs, Context, Ctx, Value};

use crate::apis::{self, Api};
use crate::event_loop::{self, Turn};
use crate::modules::{self, GraphError, GraphModule, ImportRequest};
use crate::services;
use crate::value::{to_json, ErrorInfo, JsonError};

extern "C" {
    // Defined in the vendored quickjs.c (see vendor/rquickjs-sys/JSRUNTIME-PATCH.md).
    static jsruntime_out_of_memory_count: std::ffi::c_uint;
    static jsruntime_stack_overflow_count: std::ffi::c_uint;
    // JSRUNTIME-PATCH.md, 16: a graph instantiated without being evaluated.
    fn jsruntime_module_instantiate(
        ctx: *mut qjs::JSContext,
        module: *mut qjs::JSModuleDef,
    ) -> std::ffi::c_int;
    // JSRUNTIME-PATCH.md, 18: an export read without the namespace object.
    fn jsruntime_module_export(
        ctx: *mut qjs::JSContext,
        module: *mut qjs::JSModuleDef,
        name: qjs::JSAtom,
    ) -> qjs::JSValue;
    // JSRUNTIME-PATCH.md, 17: a graph evaluated without its promise.
    fn jsruntime_module_evaluate_sync(
        ctx: *mut qjs::JSContext,
        module: *mut qjs::JSModuleDef,
    ) -> std::ffi::c_int;
}

/// QuickJS's own out-of-memory and stack-overflow throws so far, to compare before and
/// after a compile or a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exhaustion {
    out_of_memory: u32,
    stack_overflow: u32,
}

impl Exhaustion {
    fn now() -> Self {
        // SAFETY: plain reads of two C globals; the guest is single-threaded.
        unsafe {
            Exhaustion {
                out_of_memory: std::ptr::addr_of!(jsruntime_out_of_memory_count).read(),
                stack_overflow: std::ptr::addr_of!(jsruntime_stack_overflow_count).read(),
            }
        }
    }
}

/// How many times QuickJS has run out of memory in this instance (for tests of code
/// that must report it as QuickJS does).
#[cfg(test)]
pub(crate) fn out_of_memory_count() -> u32 {
    Exhaustion::now().out_of_memory
}

/// Why a compile or a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The source does not parse.
    Syntax(ErrorInfo),
    /// The script threw and did not catch it, or its promise rejected.
    Exception(ErrorInfo),
    /// The script recursed past the stack limit.
    StackOverflow(ErrorInfo),
    /// The script went past the heap limit.
    OutOfMemory,
    /// The completion value's JSON is this many bytes, more than allowed.
    OutputLimit(u64),
    /// Anything else: the guest's own failure.
    Internal(String),
}

/// Limits the guest enforces during one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// QuickJS heap limit in bytes; 0 means none.
    pub heap_bytes: u64,
    /// QuickJS stack limit in bytes; 0 means none.
    pub stack_bytes: u32,
    /// Largest completion value, as JSON bytes.
    pub output_bytes: u32,
}

/// The intrinsics of the run context: everything standard except `Eval`, whose absence
/// is what makes `eval`, `Function(...)` and the constructor path throw.
type RunIntrinsics = (
    intrinsic::Date,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::Proxy,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
    intrinsic::WeakRef,
);

/// QuickJS's own default collects garbage cycles only when memory use grows by this much;
/// javy's default never collects, which lets cyclic garbage reach the memory cap.
const GC_THRESHOLD_BYTES: usize = 2 * 1024 * 1024;

/// One QuickJS runtime with its two contexts.
pub struct Engine {
    runtime: Runtime,
    run_context: Context,
    /// The graph [`Engine::prepare_graph`] read and instantiated, until
    /// [`Engine::run_prepared`] runs it.
    prepared: std::cell::Cell<Option<PreparedGraph>>,
}

/// A module graph read and instantiated in the run context, none of its code run yet.
struct PreparedGraph {
    /// The entry's resolved name.
    entry: String,
    /// The entry, alive in the run context's module list.
    module: std::ptr::NonNull<qjs::JSModuleDef>,
}

impl Engine {
    /// Creates the runtime, the compile context (javy's, with eval) and the run context
    /// (without eval, with the globals of [`apis`] installed).
    pub fn new() -> Result<Self, String> {
        let mut config = Config::default();
        config
            .eval(true)
            .javy_stream_io(false)
            .text_encoding(true)
            .gc_threshold(GC_THRESHOLD_BYTES);
        let runtime =
            Runtime::new(config).map_err(|e| format!("creating the QuickJS runtime: {e}"))?;
        let run_context = Context::custom::<RunIntrinsics>(runtime.context().runtime())
            .map_err(|e| format!("creating the run context: {e}"))?;
        let engine = Engine {
            runtime,
            run_context,
            prepared: std::cell::Cell::new(None),
        };
        engine.install_globals()?;
        // Last: the heap as executions find it (see `heap`), and the script stack after
        // everything the runtime allocated (see `stack`).
        engine.run_context.runtime().run_gc();
        crate::heap::lay_out(crate::stack::allocate);
        Ok(engine)
    }

    /// Installs every API of [`apis::APIS`] in the run context, in order.
    fn install_globals(&self) -> Result<(), String> {
        // Compiled first: the compile context cannot be entered from inside the run
        // context's `with`.
        let mut compiled = Vec::with_capacity(apis::APIS.len());
        for api in apis::APIS {
            let bytecode = match api.js {
                Some(source) => Some(
                    crate::stack::on_script_stack(|| {
                        self.compile_here(&api.js_name(), source, Source::Strip)
                    })
                    .map_err(|failure| format!("compiling {}: {failure:?}", api.js_name()))?,
                ),
                None => None,
            };
            compiled.push((api, bytecode));
        }
        self.run_context.with(|ctx| {
            for (api, bytecode) in &compiled {
                install_api(&ctx, api, bytecode.as_deref())?;
            }
            Ok(())
        })
    }

    /// Runs `f` in the run context, outside any run: for tests that define natives of
    /// their own.
    #[cfg(test)]
    pub fn with_run_context<R>(
        &self,
        f: impl FnOnce(&Ctx<'_>) -> rquickjs::Result<R>,
    ) -> rquickjs::Result<R> {
        self.run_context.with(|ctx| f(&ctx))
    }

    /// Compiles `source` as strict-mode global code into QuickJS bytecode.
    pub fn compile(&self, name: &str, source: &str) -> Result<Vec<u8>, Failure> {
        crate::stack::on_script_stack(|| self.compile_here(name, source, Source::Keep))
    }

    fn compile_here(&self, name: &str, source: &str, keep: Source) -> Result<Vec<u8>, Failure> {
        let file_name =
            CString::new(name.replace('\0', "")).map_err(|e| Failure::Internal(e.to_string()))?;
        // QuickJS's tokenizer needs a NUL byte after the last character.
        let mut input = Vec::with_capacity(source.len() + 1);
        input.extend_from_slice(source.as_bytes());
        input.push(0);
        let before = Exhaustion::now();
        self.runtime.context().with(|ctx| {
            // SAFETY: the runtime pointer is valid for the life of the context. The stack
            // top is measured here, on the stack the parser recurses on.
            unsafe { qjs::JS_UpdateStackTop(qjs::JS_GetRuntime(ctx.as_raw().as_ptr())) };
            let flags = qjs::JS_EVAL_TYPE_GLOBAL
                | qjs::JS_EVAL_FLAG_STRICT
                | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
            // SAFETY: `input` is NUL-terminated and outlives the call; the returned value
            // is owned by `Value` from here on.
            let compiled = unsafe {
                let raw = qjs::JS_Eval(
                    ctx.as_raw().as_ptr(),
                    input.as_ptr() as *const _,
                    source.len() as _,
                    file_name.as_ptr(),
                    flags as i32,
                );
                if qjs::JS_IsException(raw) {
                    let thrown = ctx.catch();
                    return Err(classify(&ctx, &thrown, name, before, ErrorOrigin::Compile));
                }
                Value::from_raw(ctx.clone(), raw)
            };
            write_bytecode(&ctx, &compiled, keep)
        })
    }

    /// Compiles `source` as an ES module (strict by definition) into bytecode, with the
    /// imports it states; nothing is resolved or run.
    pub fn compile_module(&self, name: &str, source: &str) -> Result<CompiledModule, Failure> {
        crate::stack::on_script_stack(|| {
            self.runtime.context().with(|ctx| {
                // SAFETY: the runtime pointer is valid for the life of the context. The
                // stack top is measured here, on the stack the parser recurses on; the
                // attribute check runs while the source is parsed.
                unsafe {
                    let rt = qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
                    qjs::JS_UpdateStackTop(rt);
                    modules::install_hooks(rt);
                }
                compile_module_in(&ctx, name, source)
            })
        })
    }

    /// The compile context's raw pointer (it lives as long as the engine).
    fn compile_context(&self) -> *mut qjs::JSContext {
        self.runtime.context().with(|ctx| ctx.as_raw().as_ptr())
    }

    /// Runs bytecode from [`Engine::compile`] in the run context and returns the
    /// completion value as JSON; a promise is awaited first. `input` (the host's tape of
    /// it, [`crate::input`]) becomes the global `input`.
    pub fn run(
        &self,
        bytecode: &[u8],
        script_name: &str,
        input: Option<&[u8]>,
        limits: RunLimits,
    ) -> Result<String, Failure> {
        crate::stack::on_script_stack(|| {
            self.in_run(limits, |ctx, before| {
                define_input(ctx, input, script_name, before)?;
                // SAFETY: only bytecode this guest build produced reaches `run` (the host
                // has no API that accepts bytecode from callers).
                let completion = match unsafe { load_and_eval(ctx, bytecode) } {
                    Ok(value) => value,
                    Err(thrown) => {
                        return Err(classify(
                            ctx,
                            &thrown,
                            script_name,
                            before,
                            ErrorOrigin::Run,
                        ))
                    }
                };
                let value = settle(ctx, completion, script_name, before)?;
                result_json(ctx, value, script_name, before, limits)
            })
        })
    }

    /// Runs the module `entry`, the first of `graph` (its static import graph, linked by
    /// the host), to the end of its top level, then calls its export `export` (`default`
    /// when `None`, if it has one) with the input as its one argument, and returns what
    /// that settles to as JSON. A module with no default export and no export named
    /// gives `null`.
    pub fn run_module(
        &self,
        entry: &str,
        graph: &[GraphModule],
        export: Option<&str>,
        input: Option<&[u8]>,
        limits: RunLimits,
    ) -> Result<String, Failure> {
        crate::stack::on_script_stack(|| {
            self.in_run(limits, |ctx, before| {
                let input = define_input(ctx, input, entry, before)?;
                let module = read_and_resolve(ctx, graph, entry, before)?;
                evaluate(ctx, module, entry, before)?;
                call_entry(ctx, module, entry, export, input, before, limits)
            })
        })
    }

    /// Reads the module graph of a coming [`Engine::run_prepared`] (`entry` first, as
    /// [`Engine::run_module`] takes it) into the run context and instantiates it: every
    /// import bound to its module's export and every function declaration made, which
    /// is what evaluating it would do first. None of its code runs, so an instance that
    /// did only this has run no tenant code. An import of a name its module does not
    /// export is a syntax failure here, as it would be in the run. One graph at a time:
    /// a second before the run is an `internal` failure.
    pub fn prepare_graph(&self, entry: &str, graph: &[GraphModule]) -> Result<(), Failure> {
        if let Some(earlier) = self.prepared.take() {
            let message = format!("a graph ({}) is prepared already", earlier.entry);
            self.prepared.set(Some(earlier));
            return Err(Failure::Internal(message));
        }
        crate::stack::on_script_stack(|| {
            self.run_context.with(|ctx| {
                let before = Exhaustion::now();
                let raw = ctx.as_raw().as_ptr();
                // SAFETY: the runtime pointer is valid for the life of the context; the
                // stack top is measured here, on the stack linking recurses on.
                unsafe { qjs::JS_UpdateStackTop(qjs::JS_GetRuntime(raw)) };
                let module = read_and_resolve(&ctx, graph, entry, before)?;
                // SAFETY: `module` was just read into this context and is alive in its
                // module list, resolved (every import has its module).
                if unsafe { jsruntime_module_instantiate(raw, module.as_ptr()) } < 0 {
                    return Err(thrown_before_code(&ctx, entry, before));
                }
                self.prepared.set(Some(PreparedGraph {
                    entry: entry.to_owned(),
                    module,
                }));
                Ok(())
            })
        })
    }

    /// [`Engine::run_module`] of the graph [`Engine::prepare_graph`] prepared, whose entry
    /// is `entry`: its top level runs, then its export is called. Without a prepared
    /// graph, or with another entry's, an `internal` failure before anything runs.
    pub fn run_prepared(
        &self,
        entry: &str,
        export: Option<&str>,
        input: Option<&[u8]>,
        limits: RunLimits,
    ) -> Result<String, Failure> {
        let Some(prepared) = self.prepared.take() else {
            return Err(Failure::Internal("no module graph was prepared".to_owned()));
        };
        if prepared.entry != entry {
            return Err(Failure::Internal(format!(
                "the graph prepared is {}'s, not {entry}'s",
                prepared.entry
            )));
        }
        crate::stack::on_script_stack(|| {
            self.in_run(limits, |ctx, before| {
                let input = define_input(ctx, input, entry, before)?;
                evaluate(ctx, prepared.module, entry, before)?;
                call_entry(ctx, prepared.module, entry, export, input, before, limits)
            })
        })
    }

    /// Sets up a run (fresh seed, heap and stack limits, the module registry), calls `f`
    /// in the run context, and ends the registry whatever happened.
    fn in_run<R>(
        &self,
        limits: RunLimits,
        f: impl FnOnce(&Ctx<'_>, Exhaustion) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        if let Some(services) = services::current() {
            // The snapshot holds whatever state the generator had at build time: every
            // instance would repeat the same sequence without a fresh seed.
            apis::random::reseed(services.as_ref());
        }
        let before = Exhaustion::now();
        let compile_context = self.compile_context();
        let runtime = self.run_context.runtime();
        runtime.set_memory_limit(usize::try_from(limits.heap_bytes).unwrap_or(usize::MAX));
        let result = self.run_context.with(|ctx| {
            // SAFETY: the runtime pointer is valid for the life of the context. The stack
            // top is measured here, so the limit counts from this frame down. The compile
            // context is the engine's own.
            unsafe {
                let rt = qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
                qjs::JS_UpdateStackTop(rt);
                qjs::JS_SetMaxStackSize(rt, limits.stack_bytes as qjs::size_t);
                modules::begin_run(rt, compile_context);
            }
            event_loop::begin_run();
            let result = f(&ctx, before);
            // Timers and calls still pending once the result is settled end with the run.
            event_loop::end_run();
            result
        });
        modules::end_run();
        result
    }
}

/// A compiled module and the imports its source states, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledModule {
    /// QuickJS bytecode of the module.
    pub bytecode: Vec<u8>,
    /// Its import requests.
    pub imports: Vec<ImportRequest>,
}

/// Compiles a module in `ctx` (the compile context) without touching the stack top: also
/// used from inside a run, for a dynamic import the host's cache lacked.
pub(crate) fn compile_module_in(
    ctx: &Ctx<'_>,
    name: &str,
    source: &str,
) -> Result<CompiledModule, Failure> {
    let file_name =
        CString::new(name.replace('\0', "")).map_err(|e| Failure::Internal(e.to_string()))?;
    let mut input = Vec::with_capacity(source.len() + 1);
    input.extend_from_slice(source.as_bytes());
    input.push(0);
    let before = Exhaustion::now();
    let flags = qjs::JS_EVAL_TYPE_MODULE | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
    // SAFETY: `input` is NUL-terminated and outlives the call; the returned value is owned
    // by `Value` from here on.
    let compiled = unsafe {
        let raw = qjs::JS_Eval(
            ctx.as_raw().as_ptr(),
            input.as_ptr() as *const _,
            source.len() as _,
            file_name.as_ptr(),
            flags as i32,
        );
        if qjs::JS_IsException(raw) {
            let thrown = ctx.catch();
            return Err(classify(ctx, &thrown, name, before, ErrorOrigin::Compile));
        }
        Value::from_raw(ctx.clone(), raw)
    };
    let imports = modules::requests(ctx, &compiled).map_err(|message| {
        Failure::Syntax(ErrorInfo {
            name: Some("SyntaxError".to_owned()),
            message,
            ..ErrorInfo::default()
        })
    })?;
    let bytecode = write_bytecode(ctx, &compiled, Source::Keep)?;
    Ok(CompiledModule { bytecode, imports })
}

/// Defines the global `input` from the host's tape of it ([`crate::input`]), and
/// returns it (`undefined` without one).
fn define_input<'js>(
    ctx: &Ctx<'js>,
    input: Option<&[u8]>,
    script_name: &str,
    before: Exhaustion,
) -> Result<Value<'js>, Failure> {
    let Some(tape) = input else {
        return Ok(Value::new_undefined(ctx.clone()));
    };
    let value = match crate::input::from_tape(ctx, tape) {
        Ok(value) => value,
        Err(crate::input::Stop::Threw) => {
            let thrown = ctx.catch();
            return Err(classify(
                ctx,
                &thrown,
                script_name,
                before,
                ErrorOrigin::Run,
            ));
        }
        Err(crate::input::Stop::Malformed(what)) => {
            return Err(Failure::Internal(format!(
                "the input's tape does not read: {what}"
            )));
        }
    };
    let raw = ctx.as_raw().as_ptr();
    // `input` is one of QuickJS's own atoms: set by it, the name is not looked up.
    // SAFETY: `ctx` is live; the global object's reference is freed after the call, and
    // the value's reference is duplicated for the property, which takes it.
    let set = unsafe {
        let global = qjs::JS_GetGlobalObject(raw);
        let set = qjs::JS_SetProperty(
            raw,
            global,
            qjs::JS_ATOM_input as qjs::JSAtom,
            qjs::JS_DupValue(raw, value.as_raw()),
        );
        qjs::JS_FreeValue(raw, global);
        set
    };
    if set < 0 {
        let thrown = ctx.catch();
        return Err(classify(
            ctx,
            &thrown,
            script_name,
            before,
            ErrorOrigin::Run,
        ));
    }
    Ok(value)
}

/// The exception pending in `ctx`, thrown before any of the graph's code ran: a
/// `SyntaxError` there (a JSON module that does not parse, an import of a name a module
/// does not export) is a syntax failure.
fn thrown_before_code(ctx: &Ctx<'_>, entry: &str, before: Exhaustion) -> Failure {
    let thrown = ctx.catch();
    match classify(ctx, &thrown, entry, before, ErrorOrigin::Run) {
        Failure::Exception(info) if info.name.as_deref() == Some("SyntaxError") => {
            Failure::Syntax(info)
        }
        other => other,
    }
}

/// Reads the graph (the entry first) into `ctx` and links each import to its module;
/// returns the entry.
fn read_and_resolve(
    ctx: &Ctx<'_>,
    graph: &[GraphModule],
    entry: &str,
    before: Exhaustion,
) -> Result<std::ptr::NonNull<qjs::JSModuleDef>, Failure> {
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `ctx` is the run context; the graph's bytecode is module bytecode of this
    // build (the host's cache holds only that). The module value made here is borrowed
    // (JS_ResolveModule takes no reference).
    unsafe {
        let module = match modules::read_graph(raw, graph) {
            Ok(module) => module,
            Err(GraphError::Thrown) => return Err(thrown_before_code(ctx, entry, before)),
            Err(GraphError::Mismatch(message)) => return Err(Failure::Internal(message)),
        };
        let value = qjs::JS_MKPTR(qjs::JS_TAG_MODULE, module.as_ptr() as *mut _);
        if qjs::JS_ResolveModule(raw, value) < 0 {
            return Err(thrown_before_code(ctx, entry, before));
        }
        Ok(module)
    }
}

/// Runs the entry's top level to the end (top-level `await` included), instantiating
/// the graph first unless [`Engine::prepare_graph`] did.
fn evaluate(
    ctx: &Ctx<'_>,
    module: std::ptr::NonNull<qjs::JSModuleDef>,
    entry: &str,
    before: Exhaustion,
) -> Result<(), Failure> {
    let raw = ctx.as_raw().as_ptr();
    // A graph none of whose modules can suspend is evaluated without the promise of its
    // completion (patch 17); what it queued runs before the entry is called, as it does
    // once that promise settles.
    // SAFETY: `module` is alive in the run context's module list.
    match unsafe { jsruntime_module_evaluate_sync(raw, module.as_ptr()) } {
        0 => {
            settle(ctx, Value::new_undefined(ctx.clone()), entry, before)?;
            return Ok(());
        }
        -2 => {
            let thrown = ctx.catch();
            return Err(classify(ctx, &thrown, entry, before, ErrorOrigin::Run));
        }
        1 => {}
        _ => return Err(thrown_before_code(ctx, entry, before)),
    }
    // SAFETY: `module` is alive in the run context's module list; JS_EvalFunction takes
    // the reference it is given, and the result is owned by `Value`.
    unsafe {
        let value = qjs::JS_MKPTR(qjs::JS_TAG_MODULE, module.as_ptr() as *mut _);
        let evaluated = qjs::JS_EvalFunction(raw, qjs::JS_DupValue(raw, value));
        if qjs::JS_IsException(evaluated) {
            return Err(thrown_before_code(ctx, entry, before));
        }
        let evaluated = Value::from_raw(ctx.clone(), evaluated);
        settle(ctx, evaluated, entry, before)?;
    }
    Ok(())
}

/// Calls the evaluated entry's export `export` (`default` when `None`) with `input` and
/// returns what it settles to as JSON; `null` for a module with no default export and
/// no export named.
fn call_entry<'js>(
    ctx: &Ctx<'js>,
    module: std::ptr::NonNull<qjs::JSModuleDef>,
    entry: &str,
    export: Option<&str>,
    input: Value<'js>,
    before: Exhaustion,
    limits: RunLimits,
) -> Result<String, Failure> {
    let name = export.unwrap_or("default");
    let raw = ctx.as_raw().as_ptr();
    // What the module's namespace object would give for `name`, without making it
    // (patch 18).
    // SAFETY: `ctx` is live and QuickJS copies the `len` bytes of the name (UTF-8,
    // patch 13); `module` is alive in the context's module list and linked; the atom is
    // freed once read, and the export's value is owned by `Value`.
    let handler = unsafe {
        // `default` is one of QuickJS's own atoms: the common case needs no lookup.
        let atom = match export {
            None => qjs::JS_ATOM_default as qjs::JSAtom,
            Some(name) => qjs::JS_NewAtomLen(raw, name.as_ptr().cast(), name.len() as _),
        };
        if atom == qjs::JS_ATOM_NULL {
            let thrown = ctx.catch();
            return Err(classify(ctx, &thrown, entry, before, ErrorOrigin::Run));
        }
        let value = jsruntime_module_export(raw, module.as_ptr(), atom);
        qjs::JS_FreeAtom(raw, atom);
        if qjs::JS_IsException(value) {
            let thrown = ctx.catch();
            return Err(classify(ctx, &thrown, entry, before, ErrorOrigin::Run));
        }
        Value::from_raw(ctx.clone(), value)
    };
    if handler.is_undefined() && export.is_none() {
        return result_json(ctx, Value::new_null(ctx.clone()), entry, before, limits);
    }
    let Some(handler) = handler.as_function() else {
        let message = if handler.is_undefined() {
            format!("the module {entry} has no export named {name:?}")
        } else {
            format!(
                "the export {name:?} of the module {entry} is not a function (it is {})",
                type_name(&handler)
            )
        };
        return Err(Failure::Exception(ErrorInfo {
            name: Some("TypeError".to_owned()),
            message,
            ..ErrorInfo::default()
        }));
    };
    let returned = match handler.call::<_, Value>((input,)) {
        Ok(value) => value,
        Err(_) => {
            let thrown = ctx.catch();
            return Err(classify(ctx, &thrown, entry, before, ErrorOrigin::Run));
        }
    };
    let value = settle(ctx, returned, entry, before)?;
    result_json(ctx, value, entry, before, limits)
}

/// `typeof`-like name of a value, for error messages.
fn type_name(value: &Value<'_>) -> &'static str {
    use rquickjs::Type;
    match value.type_of() {
        Type::Null => "null",
        Type::Bool => "a boolean",
        Type::Int | Type::Float => "a number",
        Type::String => "a string",
        Type::Symbol => "a symbol",
        Type::BigInt => "a bigint",
        Type::Array => "an array",
        _ => "an object",
    }
}

/// The result as JSON text, within the output limit.
fn result_json<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    script_name: &str,
    before: Exhaustion,
    limits: RunLimits,
) -> Result<String, Failure> {
    match to_json(ctx, value, limits.output_bytes as usize) {
        Ok(json) => Ok(json),
        Err(JsonError::TooLarge(len)) => Err(Failure::OutputLimit(len)),
        Err(JsonError::Threw) => {
            let thrown = ctx.catch();
            Err(classify(
                ctx,
                &thrown,
                script_name,
                before,
                ErrorOrigin::Run,
            ))
        }
    }
}

/// Defines `api`'s native part, then evaluates its JavaScript part (`bytecode`) and
/// calls the function it evaluates to with what the native part returned and the exports
/// of the APIs installed before it; what that call returns, if anything, becomes this
/// API's entry in the exports (see [`apis::exports`]).
fn install_api<'js>(ctx: &Ctx<'js>, api: &Api, bytecode: Option<&[u8]>) -> Result<(), String> {
    let name = api.js_name();
    let natives =
        (api.native)(ctx).map_err(|e| format!("defining the native part of {name}: {e}"))?;
    let Some(bytecode) = bytecode else {
        return Ok(());
    };
    let described =
        |thrown: &Value<'js>| format!("{:?}", ErrorInfo::from_thrown(ctx, thrown, &name));
    // SAFETY: `bytecode` was compiled by this engine from the API's own source (see
    // `install_globals`), which is what `load_and_eval` requires.
    let wrapper = unsafe { load_and_eval(ctx, bytecode) }
        .map_err(|thrown| format!("running {name}: {}", described(&thrown)))?;
    let Some(wrapper) = wrapper.as_function() else {
        return Err(format!("{name} does not evaluate to a function"));
    };
    let exports = apis::exports(ctx).map_err(|e| format!("reading the exports for {name}: {e}"))?;
    match wrapper.call::<_, Value>((natives, exports.clone())) {
        Ok(returned) if returned.is_undefined() => Ok(()),
        Ok(returned) => exports
            .set(api.name, returned)
            .map_err(|e| format!("keeping the exports of {name}: {e}")),
        Err(_) => {
            let thrown = ctx.catch();
            Err(format!("installing {name}: {}", described(&thrown)))
        }
    }
}

/// Reads bytecode into `ctx` and evaluates it. On failure returns the thrown value.
///
/// # Safety
/// `bytecode` must come from [`Engine::compile`] of this same build.
unsafe fn load_and_eval<'js>(ctx: &Ctx<'js>, bytecode: &[u8]) -> Result<Value<'js>, Value<'js>> {
    let raw_ctx = ctx.as_raw().as_ptr();
    let function = qjs::JS_ReadObject(
        raw_ctx,
        bytecode.as_ptr(),
        bytecode.len() as _,
        qjs::JS_READ_OBJ_BYTECODE as i32,
    );
    if qjs::JS_IsException(function) {
        return Err(ctx.catch());
    }
    // JS_EvalFunction takes ownership of `function`.
    let result = qjs::JS_EvalFunction(raw_ctx, function);
    if qjs::JS_IsException(result) {
        return Err(ctx.catch());
    }
    Ok(Value::from_raw(ctx.clone(), result))
}

/// Whether compiled functions keep their source text (for `Function.prototype.toString`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A script's and a module's: its functions print as written.
    Keep,
    /// The APIs' JavaScript parts: their functions print as `[native code]`, as a
    /// browser's built-ins do, and the snapshot does not carry every function's text
    /// (QuickJS keeps a copy per function, nested ones included).
    Strip,
}

fn write_bytecode(ctx: &Ctx<'_>, compiled: &Value<'_>, keep: Source) -> Result<Vec<u8>, Failure> {
    let before = Exhaustion::now();
    let mut len: qjs::size_t = 0;
    // SAFETY: the buffer is allocated by QuickJS, copied, then freed with its allocator.
    unsafe {
        let buf = qjs::JS_WriteObject(
            ctx.as_raw().as_ptr(),
            &mut len,
            compiled.as_raw(),
            (qjs::JS_WRITE_OBJ_BYTECODE
                | if keep == Source::Strip {
                    qjs::JS_WRITE_OBJ_STRIP_SOURCE
                } else {
                    0
                }) as i32,
        );
        if buf.is_null() {
            let _ = ctx.catch();
            if Exhaustion::now().out_of_memory != before.out_of_memory {
                return Err(Failure::OutOfMemory);
            }
            return Err(Failure::Internal(
                "QuickJS could not serialize the bytecode".to_owned(),
            ));
        }
        let bytes = std::slice::from_raw_parts(buf, len as usize).to_vec();
        qjs::js_free(ctx.as_raw().as_ptr(), buf as *mut _);
        Ok(bytes)
    }
}

/// Runs the job queue until the completion value settles, if it is a promise.
fn settle<'js>(
    ctx: &Ctx<'js>,
    completion: Value<'js>,
    script_name: &str,
    before: Exhaustion,
) -> Result<Value<'js>, Failure> {
    let Some(promise) = completion.as_promise().cloned() else {
        // Jobs queued by a script that returned a plain value still run: their effects
        // (console output, host calls) are part of the execution.
        drain_jobs(ctx, before, &|| true);
        return Ok(completion);
    };
    run_event_loop(ctx, before, script_name, || {
        promise.state() != rquickjs::promise::PromiseState::Pending
    })?;
    match promise.state() {
        rquickjs::promise::PromiseState::Resolved => match promise.result::<Value>() {
            Some(Ok(value)) => Ok(value),
            _ => Err(Failure::Internal(
                "a resolved promise had no value".to_owned(),
            )),
        },
        rquickjs::promise::PromiseState::Rejected => {
            // SAFETY: reading the rejection reason of a settled promise owned by `ctx`.
            let reason = unsafe {
                Value::from_raw(
                    ctx.clone(),
                    qjs::JS_PromiseResult(ctx.as_raw().as_ptr(), promise.as_raw()),
                )
            };
            Err(classify(
                ctx,
                &reason,
                script_name,
                before,
                ErrorOrigin::Run,
            ))
        }
        // Running out of memory can break a chain of promises (the job that would
        // have settled the next one could not be created): the result never settles
        // because the run failed for lack of memory, and that is what it is.
        rquickjs::promise::PromiseState::Pending
            if Exhaustion::now().out_of_memory != before.out_of_memory =>
        {
            Err(Failure::OutOfMemory)
        }
        rquickjs::promise::PromiseState::Pending => Err(Failure::Exception(ErrorInfo {
            name: Some("Error".to_owned()),
            message: "the script returned a promise that never settles (nothing left to wait for)"
                .to_owned(),
            ..ErrorInfo::default()
        })),
    }
}

/// Runs queued jobs and the event loop's timers and host calls until `settled()`, until
/// nothing is left to wait for, or until QuickJS ran out of memory (the result is then
/// classified as that). A timer callback's uncaught exception ends the run.
fn run_event_loop(
    ctx: &Ctx<'_>,
    before: Exhaustion,
    script_name: &str,
    settled: impl Fn() -> bool,
) -> Result<(), Failure> {
    loop {
        drain_jobs(ctx, before, &settled);
        if settled() || Exhaustion::now().out_of_memory != before.out_of_memory {
            return Ok(());
        }
        match event_loop::turn(ctx) {
            Ok(Turn::Progressed) => {}
            Ok(Turn::Idle) => return Ok(()),
            Err(event_loop::Thrown) => {
                let thrown = ctx.catch();
                return Err(classify(
                    ctx,
                    &thrown,
                    script_name,
                    before,
                    ErrorOrigin::Run,
                ));
            }
        }
    }
}

/// Runs queued jobs until none is left, or until QuickJS has run out of memory during
/// this run while the result is already settled.
///
/// The second case ends chains that outlive an out-of-memory error: a job that fails
/// for lack of memory rejects its own promise, but a job it queued before failing still
/// runs and queues the next, so an endless promise chain that reached the heap limit
/// would go on failing and freeing until the timeout. Once the result is decided nothing
/// such a job does can change it; the run ends and, having run out of memory, is
/// classified as out of memory.
fn drain_jobs(ctx: &Ctx<'_>, before: Exhaustion, result_settled: &impl Fn() -> bool) {
    while ctx.execute_pending_job() {
        if Exhaustion::now().out_of_memory != before.out_of_memory && result_settled() {
            break;
        }
    }
}

/// The C library's `strtod`, replaced in the guest.
///
/// QuickJS's `JSON.parse` converts every number it reads (`"qty":3` too) with `strtod`,
/// and wasi-libc's (musl's `__floatscan`, exact but slow) took about a sixth of parsing
/// a 100 KiB input of prices and quantities in the guest. This definition takes its
/// place at link time (the linker resolves the symbol here before it looks in the libc
/// archive), and Rust's float parser, also correctly rounded (round half to even), gives
/// the same value for every decimal number.
///
/// It reads what C's `strtod` reads, in the C locale: leading white space, a sign, then
/// a decimal number (digits with an optional `.` and exponent), `inf`, `infinity` or
/// `nan` in any case. Hexadecimal floats (`0x1p3`, C99) are read as their leading `0`,
/// as C89 did: the only caller in this guest, QuickJS's JSON number parser, passes
/// decimal numbers it has checked. `errno` is not set on overflow or underflow (the
/// result is still ±inf or 0, as C's): QuickJS does not read it.
///
/// # Safety
/// `text` must point to a NUL-terminated string; `end`, if not null, to a writable
/// pointer.
#[cfg(target_family = "wasm")]
#[no_mangle]
pub unsafe extern "C" fn strtod(
    text: *const std::ffi::c_char,
    end: *mut *mut std::ffi::c_char,
) -> f64 {
    // Only the bytes a number can be made of are handed on (QuickJS passes a pointer into
    // the whole JSON text: its length must not be measured once per number).
    let mut len = 0;
    loop {
        // SAFETY: the caller's contract: NUL-terminated, and the scan stops at the NUL
        // (not one of the bytes it goes on with).
        let byte = unsafe { *text.add(len) }.cast_unsigned();
        let numeric = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b'+' | b'-' | b'.'
            );
        if !numeric {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes just read.
    let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) };
    let (value, used) = parse_c_double(bytes);
    if !end.is_null() {
        // SAFETY: `used` is at most the string's length; `end` is writable.
        unsafe { *end = text.add(used).cast_mut() };
    }
    value
}

/// [`strtod`]'s reading of `bytes`: the value and how many bytes it used (0: no number).
pub fn parse_c_double(bytes: &[u8]) -> (f64, usize) {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while matches!(at(i), b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let start = i;
    let negative = at(i) == b'-';
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    let integer_from = i;
    while at(i).is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - integer_from;
    if at(i) == b'.' {
        let fraction_from = i + 1;
        let mut j = fraction_from;
        while at(j).is_ascii_digit() {
            j += 1;
        }
        digits += j - fraction_from;
        if digits > 0 {
            i = j;
        }
    }
    if digits == 0 {
        let rest = &bytes[i..];
        let starts =
            |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
        let sign = if negative { -1.0 } else { 1.0 };
        return if starts(b"infinity") {
            (sign * f64::INFINITY, i + 8)
        } else if starts(b"inf") {
            (sign * f64::INFINITY, i + 3)
        } else if starts(b"nan") {
            (sign * f64::NAN, i + 3)
        } else {
            (0.0, 0)
        };
    }
    if matches!(at(i), b'e' | b'E') {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            while at(j).is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    // ASCII digits, sign, point and exponent: what Rust's float syntax accepts too.
    let value = std::str::from_utf8(&bytes[start..i])
        .ok()
        .and_then(|number| number.parse::<f64>().ok());
    match value {
        Some(value) => (value, i),
        None => (0.0, 0),
    }
}

/// Where a failure happened: a compile failure that is not exhaustion is a syntax error.
#[derive(Clone, Copy)]
enum ErrorOrigin {
    Compile,
    Run,
}

/// Names a failure. Exhaustion is decided by QuickJS's own counters, not by the thrown
/// value's wording: a script can throw `new RangeError("Maximum call stack size
/// exceeded")` itself, and QuickJS throws `null` when it cannot even allocate its
/// out-of-memory error. An out-of-memory error during the run ends it as
/// `OutOfMemory` even if the script caught it and then failed otherwise.
fn classify<'js>(
    ctx: &Ctx<'js>,
    thrown: &Value<'js>,
    script_name: &str,
    before: Exhaustion,
    origin: ErrorOrigin,
) -> Failure {
    let now = Exhaustion::now();
    if now.out_of_memory != before.out_of_memory {
        return Failure::OutOfMemory;
    }
    let info = ErrorInfo::from_thrown(ctx, thrown, script_name);
    let overflowed = now.stack_overflow != before.stack_overflow;
    if overflowed
        && info.name.as_deref() == Some("RangeError")
        && info.message.starts_with("Maximum call stack size exceeded")
    {
        return Failure::StackOverflow(info);
    }
    match origin {
        ErrorOrigin::Compile => Failure::Syntax(info),
        ErrorOrigin::Run => Failure::Exception(info),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_c_double, Failure, RunLimits};

    #[test]
    fn strtod_reads_what_c_reads_with_the_same_values() {
        let cases: [(&str, f64, usize); 14] = [
            ("3", 3.0, 1),
            ("-12.50,", -12.5, 6),
            ("  +1e3x", 1000.0, 6),
            ("1.5E-2]", 0.015, 6),
            ("1e", 1.0, 1),
            ("1e+", 1.0, 1),
            (".5", 0.5, 2),
            ("5.", 5.0, 2),
            ("0.1", 0.1, 3),
            ("1e400", f64::INFINITY, 5),
            ("-1e-400", -0.0, 7),
            ("-Infinity", f64::NEG_INFINITY, 9),
            ("inFx", f64::INFINITY, 3),
            ("0x1p3", 0.0, 1),
        ];
        for (text, value, used) in cases {
            assert_eq!(parse_c_double(text.as_bytes()), (value, used), "{text}");
        }
        assert!(parse_c_double(b"-1e-400").0.is_sign_negative());
        assert!(parse_c_double(b"nan").0.is_nan());
        for none in ["", "-", ".", "+.e5", "x1", " "] {
            assert_eq!(parse_c_double(none.as_bytes()), (0.0, 0), "{none:?}");
        }
        // Many digits, rounded once and correctly (the nearest double to the decimal).
        assert_eq!(
            parse_c_double(b"2.2250738585072011e-308").0,
            2.225_073_858_507_201e-308
        );
        assert_eq!(
            parse_c_double(b"9007199254740993").0,
            9_007_199_254_740_992.0
        );
    }
    use crate::testing::{run, run_ok, run_with, Fake, LIMITS};

    #[test]
    fn the_run_context_has_no_eval() {
        let result = run_ok(
            &Fake::default(),
            r#"[() => eval("1"), () => new Function("return 1"), () => (function () {}).constructor("return 1")]
                 .map((f) => { try { f(); return "ran"; } catch (e) { return e.name; } })"#,
        );
        assert_eq!(result, r#"["TypeError","TypeError","TypeError"]"#);
    }

    #[test]
    fn the_run_context_has_atomics_and_nothing_in_it_can_block() {
        // Natively QuickJS always had Atomics; on WASI it has it through the vendored
        // patch (JSRUNTIME-PATCH.md), which the end-to-end tests check on the guest.
        let result = run_ok(
            &Fake::default(),
            r#"const shared = new Int32Array(new SharedArrayBuffer(16));
               const plain = new Int32Array(4);
               const threw = (f) => { try { return f(); } catch (e) { return e.name; } };
               [Object.prototype.toString.call(Atomics), Atomics.add(plain, 0, 5), Atomics.load(plain, 0),
                Atomics.compareExchange(shared, 1, 0, 7), Atomics.exchange(shared, 1, 8), shared[1],
                Atomics.isLockFree(4), Atomics.notify(shared, 0, 1),
                threw(() => Atomics.wait(plain, 0, 5)), threw(() => Atomics.wait(shared, 0, 0)),
                threw(() => Atomics.wait(shared, 0, 0, 0)), threw(() => Atomics.wait(shared, 0, 1)),
                typeof Atomics.waitAsync]"#,
        );
        // A wait on a plain buffer is a TypeError per the standard; on a shared one it
        // needs a runtime that may block, which this one never is (one agent, no
        // threads), so even a wait that would return "not-equal" throws.
        assert_eq!(
            result,
            r#"["[object Atomics]",0,5,0,7,8,true,0,"TypeError","TypeError","TypeError","TypeError","undefined"]"#
        );
    }

    #[test]
    fn a_promise_is_awaited_and_jobs_queued_after_it_still_run() {
        let fake = Fake::default();
        let result = run_ok(
            &fake,
            "Promise.resolve().then(() => console.log('late')); Promise.resolve(41).then((x) => x + 1)",
        );
        assert_eq!(result, "42");
        assert_eq!(fake.logs().len(), 1);
    }

    #[test]
    fn an_endless_promise_chain_under_a_heap_limit_is_out_of_memory() {
        let source = "function next() { return Promise.resolve().then(next); } next();";
        let limits = RunLimits {
            heap_bytes: 8 * 1024 * 1024,
            ..LIMITS
        };
        assert_eq!(
            run_with(&Fake::default(), source, limits),
            Err(Failure::OutOfMemory)
        );
    }

    #[test]
    fn failures_are_classified_with_their_position() {
        let Err(Failure::Syntax(info)) = run(&Fake::default(), "let x = 1;\nlet = ;") else {
            panic!("a syntax error expected");
        };
        assert_eq!(
            (info.name.as_deref(), info.line),
            (Some("SyntaxError"), Some(2))
        );
        let Err(Failure::Exception(info)) = run(&Fake::default(), "\n  throw new RangeError('no')")
        else {
            panic!("an exception expected");
        };
        assert_eq!(
            (
                info.name.as_deref(),
                info.message.as_str(),
                info.line,
                info.column
            ),
            (Some("RangeError"), "no", Some(2), Some(13))
        );
        assert!(matches!(
            run(&Fake::default(), "function f() { return f() + 1; } f()"),
            Err(Failure::StackOverflow(_))
        ));
        assert_eq!(
            run(&Fake::default(), "'x'.repeat(2 * 1024 * 1024)"),
            Err(Failure::OutputLimit(2 * 1024 * 1024 + 2))
        );
    }
}
