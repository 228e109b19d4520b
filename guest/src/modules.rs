//! ES modules: a run's static graph, and QuickJS's module hooks for what comes later.
//!
//! The host hands a run its static import graph up front (`engine.run-module`): every
//! module once, the entry first, each import linked to its module by position.
//! [`read_graph`] reads them all and links them directly, so no hook is asked about a
//! static import. The hooks serve what the host could not link in advance, a dynamic
//! `import()`, from this run's table:
//!
//! - *normalize* (importer, specifier) gives the resolved name from the importer's links
//!   (those of a module a dynamic import brought). Any other specifier is asked of the
//!   host ([`Services::load_module`](crate::services::Services::load_module)); the
//!   answer joins the table. A module the run has already (a static one, by the name its
//!   bytecode carries) QuickJS then finds among its loaded modules.
//! - *load* (resolved name) builds the module from its body: bytecode from the host's
//!   cache is read; JavaScript source (only a dynamic import the cache lacked) is
//!   compiled in the compile context and read back, for this run only; JSON text becomes
//!   a module whose default export is the parsed value.
//! - *check attributes* accepts `with { type: "json" }` and no attribute at all.
//!
//! Resolution itself (what `./x.js` means from `lib/a.js`) is the host's alone: the
//! guest never computes a name, so the two sides cannot disagree.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::NonNull;

use rquickjs::{qjs, Ctx, Exception, Value};

use crate::fnv::BuildFnv;
use crate::services;
use crate::value::{to_text_lossy, ErrorInfo};

extern "C" {
    // Defined in the vendored quickjs.c (see vendor/rquickjs-sys/JSRUNTIME-PATCH.md, 6).
    fn jsruntime_module_request_count(module: qjs::JSValue) -> c_int;
    fn jsruntime_module_request_name(module: qjs::JSValue, i: c_int) -> qjs::JSAtom;
    fn jsruntime_module_request_attributes(
        ctx: *mut qjs::JSContext,
        module: qjs::JSValue,
        i: c_int,
    ) -> qjs::JSValue;
    // JSRUNTIME-PATCH.md, 14: a graph linked by its reader.
    fn jsruntime_read_module_unlinked(
        ctx: *mut qjs::JSContext,
        buf: *const u8,
        buf_len: usize,
    ) -> qjs::JSValue;
    fn jsruntime_module_link(
        module: *mut qjs::JSModuleDef,
        i: c_int,
        target: *mut qjs::JSModuleDef,
    ) -> c_int;
    fn jsruntime_module_mark_resolved(module: *mut qjs::JSModuleDef) -> c_int;
}

/// How an import asks for a module: its `with { type }` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// No `type` attribute.
    JavaScript,
    /// `with { type: "json" }`.
    Json,
}

/// One import of a module, as its source states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    /// The specifier, as written.
    pub specifier: String,
    /// What the import asks for.
    pub kind: ModuleKind,
}

/// What a module is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleBody {
    /// Bytecode this guest build compiled (`Engine::compile_module`).
    Bytecode(Vec<u8>),
    /// JavaScript source, compiled in this run for this run only.
    Source(String),
    /// JSON text.
    Json(String),
}

/// A module under its resolved name, with the links of its imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDef {
    /// The resolved name (what stack traces and `import.meta` would call it).
    pub name: String,
    /// JavaScript or JSON.
    pub kind: ModuleKind,
    /// None when the run already has it.
    pub body: Option<ModuleBody>,
    /// (specifier, resolved name) of the imports the host resolved.
    pub links: Vec<(String, String)>,
}

/// One module of a run's static import graph (`engine.run-module`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphModule {
    /// What it is made of.
    pub body: GraphBody,
    /// For each of its import requests, in order, the index in the graph of the module
    /// it resolves to.
    pub links: Vec<u32>,
}

/// What a module of a static graph is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphBody {
    /// Bytecode this guest build compiled (`Engine::compile_module`); it carries the
    /// module's resolved name.
    Bytecode(Vec<u8>),
    /// A JSON module: its resolved name and text.
    Json {
        /// The resolved name.
        name: String,
        /// The JSON text.
        text: String,
    },
}

/// Why a static graph could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// QuickJS threw (out of memory, a JSON module that does not parse): the exception
    /// is pending in the context.
    Thrown,
    /// The graph is not one the host could have made (its links do not match its
    /// modules' imports): a bug on one side, never the tenant's.
    Mismatch(String),
}

/// Why the host could not load a module for a dynamic `import()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// Nothing resolves the specifier (a `TypeError` with this message).
    NotFound(String),
    /// The loader failed or a limit was reached (an `Error` with this message).
    Failed(String),
}

/// The modules of the current run.
#[derive(Default)]
struct Table {
    /// Bodies not built yet, by resolved name.
    bodies: HashMap<String, (ModuleKind, ModuleBody), BuildFnv>,
    /// Importer, then specifier, to resolved name. Nested and keyed by `String` so the
    /// normalize hook, called once per import, looks a link up with the `&str`s QuickJS
    /// hands it, without allocating; the name is kept as the C string the hook returns
    /// (`None`: it holds a NUL, which the hook refuses).
    links: HashMap<String, HashMap<String, Option<CString>, BuildFnv>, BuildFnv>,
}

impl Table {
    fn add(&mut self, module: ModuleDef) {
        if !module.links.is_empty() {
            let links = self.links.entry(module.name.clone()).or_default();
            for (specifier, resolved) in module.links {
                links.insert(specifier, CString::new(resolved).ok());
            }
        }
        if let Some(body) = module.body {
            self.bodies.insert(module.name, (module.kind, body));
        }
    }

    /// The resolved name `specifier` links to from `importer`, if the host linked it.
    fn link(&self, importer: &str, specifier: &str) -> Option<&Option<CString>> {
        self.links.get(importer)?.get(specifier)
    }
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
    /// The compile context, where a dynamic import's source is compiled (the run context
    /// has no parser entry: it lacks the eval intrinsic).
    static COMPILE_CONTEXT: Cell<*mut qjs::JSContext> = const { Cell::new(std::ptr::null_mut()) };
}

/// Installs the hooks on `runtime` (the attribute check also runs when a module is
/// compiled, so compiling needs them too).
///
/// # Safety
/// `runtime` must be the engine's live runtime.
pub unsafe fn install_hooks(runtime: *mut qjs::JSRuntime) {
    // SAFETY: the hooks are plain functions of this module; no opaque pointer is used.
    unsafe {
        qjs::JS_SetModuleLoaderFunc2(
            runtime,
            None,
            Some(load_hook),
            Some(check_attributes_hook),
            std::ptr::null_mut(),
        );
        qjs::JS_SetModuleNormalizeFunc2(runtime, Some(normalize_hook));
    }
}

/// Starts a run's registry, empty (what the run's dynamic imports bring joins it), and
/// installs the hooks on `runtime`.
///
/// # Safety
/// `runtime` and `compile_context` must be the engine's live runtime and compile context.
pub unsafe fn begin_run(runtime: *mut qjs::JSRuntime, compile_context: *mut qjs::JSContext) {
    TABLE.with(|table| *table.borrow_mut() = Table::default());
    COMPILE_CONTEXT.with(|cell| cell.set(compile_context));
    // SAFETY: the caller's contract.
    unsafe { install_hooks(runtime) };
}

/// Takes the module `name` out of the table and builds it in `ctx`, for the load hook.
/// On failure an exception is pending in `ctx`.
///
/// # Safety
/// `ctx` must be the run context, inside a run begun with [`begin_run`].
unsafe fn build(ctx: *mut qjs::JSContext, name: &str) -> Option<NonNull<qjs::JSModuleDef>> {
    let taken = TABLE.with(|table| table.borrow_mut().bodies.remove(name));
    // SAFETY: `ctx` is the live run context (the caller's contract).
    let ctx_ref = unsafe { Ctx::from_raw(NonNull::new(ctx)?) };
    let Some((kind, body)) = taken else {
        let _ = Exception::throw_reference(
            &ctx_ref,
            &format!("module {name:?} was not given to this run"),
        );
        return None;
    };
    match (kind, body) {
        // SAFETY: bytecode in the table comes from the host's cache, which only holds what
        // `Engine::compile_module` of this build produced.
        (_, ModuleBody::Bytecode(bytecode)) => unsafe { read_module(ctx, &bytecode) },
        (_, ModuleBody::Source(source)) => {
            let bytecode = compile_for_this_run(&ctx_ref, name, &source)?;
            // SAFETY: just compiled by this build's compile context.
            unsafe { read_module(ctx, &bytecode) }
        }
        (_, ModuleBody::Json(text)) => json_module(&ctx_ref, name, &text),
    }
}

/// Reads a run's static graph into `ctx` and links every module to the modules its
/// imports resolve to, by position, and returns the entry (the first).
///
/// Why by position: the host resolved every import already, so the guest need not
/// resolve them again by name. Read one at a time, each module's imports went through
/// the normalize hook twice (QuickJS resolves while it reads and again before it links),
/// each time a C string of both names, a table lookup and a copy of the answer, and the
/// graph came over as names and links to look up: for a graph of 21 small modules that
/// was a fifth of the run. Read unlinked (`JSRUNTIME-PATCH.md`, 14), no hook is called:
/// each module joins the context's loaded modules under the name its bytecode carries
/// (where a later dynamic `import()` of it finds it), and is handed the modules of its
/// imports directly. Cycles need nothing special: every module is read before any is
/// linked.
///
/// # Safety
/// `ctx` must be the run context, inside a run begun with [`begin_run`]; the graph's
/// bytecode must be module bytecode this guest build wrote (the host's cache holds only
/// that).
pub unsafe fn read_graph(
    ctx: *mut qjs::JSContext,
    graph: &[GraphModule],
) -> Result<NonNull<qjs::JSModuleDef>, GraphError> {
    if graph.is_empty() {
        return Err(GraphError::Mismatch("the graph has no module".to_owned()));
    }
    // SAFETY: `ctx` is the live run context (the caller's contract).
    let ctx_ref = unsafe { Ctx::from_raw(NonNull::new(ctx).ok_or(GraphError::Thrown)?) };
    let mut read = Vec::with_capacity(graph.len());
    for module in graph {
        let built = match &module.body {
            // SAFETY: the caller's contract.
            GraphBody::Bytecode(bytecode) => unsafe { read_unlinked(ctx, bytecode) },
            GraphBody::Json { name, text } => json_module(&ctx_ref, name, text),
        };
        read.push(built.ok_or(GraphError::Thrown)?);
    }
    for (index, (module, links)) in read.iter().zip(graph.iter().map(|m| &m.links)).enumerate() {
        // SAFETY: every pointer in `read` is a module alive in the context's list.
        unsafe {
            let value = qjs::JS_MKPTR(qjs::JS_TAG_MODULE, module.as_ptr() as *mut c_void);
            let count = usize::try_from(jsruntime_module_request_count(value)).unwrap_or(0);
            if count != links.len() {
                return Err(GraphError::Mismatch(format!(
                    "module {index} of the graph has {count} imports, the host linked {}",
                    links.len()
                )));
            }
            for (i, &target) in links.iter().enumerate() {
                let target = usize::try_from(target)
                    .ok()
                    .and_then(|target| read.get(target))
                    .ok_or_else(|| {
                        GraphError::Mismatch(format!(
                            "import {i} of module {index} links to module {target}, past the graph's {}",
                            read.len()
                        ))
                    })?;
                // `i` < `count`, which came from a c_int.
                jsruntime_module_link(module.as_ptr(), i as c_int, target.as_ptr());
            }
            if jsruntime_module_mark_resolved(module.as_ptr()) < 0 {
                return Err(GraphError::Mismatch(format!(
                    "module {index} of the graph has an import without its module"
                )));
            }
        }
    }
    Ok(read[0])
}

/// Reads module bytecode into `ctx` without resolving its imports (see [`read_graph`]).
///
/// # Safety
/// `bytecode` must be module bytecode this guest build wrote.
unsafe fn read_unlinked(
    ctx: *mut qjs::JSContext,
    bytecode: &[u8],
) -> Option<NonNull<qjs::JSModuleDef>> {
    // SAFETY: the caller's contract; see `module_of`.
    unsafe {
        module_of(
            ctx,
            jsruntime_read_module_unlinked(ctx, bytecode.as_ptr(), bytecode.len()),
        )
    }
}

/// The module a read gave, or `None` with an exception pending: a script's bytecode is
/// a `TypeError`. The value is freed once its pointer is taken; the context's module
/// list keeps the module.
///
/// # Safety
/// `value` must be a value just read in `ctx`, owned by the caller.
unsafe fn module_of(
    ctx: *mut qjs::JSContext,
    value: qjs::JSValue,
) -> Option<NonNull<qjs::JSModuleDef>> {
    // SAFETY: the caller's contract.
    unsafe {
        if qjs::JS_IsException(value) {
            return None;
        }
        if qjs::JS_VALUE_GET_TAG(value) != qjs::JS_TAG_MODULE {
            qjs::JS_FreeValue(ctx, value);
            let _ = qjs::JS_ThrowTypeError(ctx, c"bytecode of a script, not a module".as_ptr());
            return None;
        }
        let module = qjs::JS_VALUE_GET_PTR(value) as *mut qjs::JSModuleDef;
        qjs::JS_FreeValue(ctx, value);
        NonNull::new(module)
    }
}

/// Reads module bytecode into `ctx`; its imports are resolved (normalize, load) as it is
/// read. The module stays alive in the context's module list.
///
/// # Safety
/// `bytecode` must be module bytecode this guest build wrote.
unsafe fn read_module(
    ctx: *mut qjs::JSContext,
    bytecode: &[u8],
) -> Option<NonNull<qjs::JSModuleDef>> {
    // SAFETY: the caller's contract; see `module_of`.
    unsafe {
        let value = qjs::JS_ReadObject(
            ctx,
            bytecode.as_ptr(),
            bytecode.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        );
        module_of(ctx, value)
    }
}

/// Compiles a dynamic import's source in the compile context and returns its bytecode;
/// a syntax error is thrown in `ctx` as a `SyntaxError` naming the module.
fn compile_for_this_run(ctx: &Ctx<'_>, name: &str, source: &str) -> Option<Vec<u8>> {
    let compile_context = COMPILE_CONTEXT.with(Cell::get);
    let Some(compile_context) = NonNull::new(compile_context) else {
        let _ = Exception::throw_internal(ctx, "no compile context");
        return None;
    };
    // SAFETY: the compile context lives as long as the engine; QuickJS allows several
    // contexts of one runtime to be used on the same thread.
    let compile_ctx = unsafe { Ctx::from_raw(compile_context) };
    match crate::engine::compile_module_in(&compile_ctx, name, source) {
        Ok(compiled) => Some(compiled.bytecode),
        Err(failure) => {
            let message = match failure {
                crate::engine::Failure::Syntax(info) => located(name, &info),
                other => format!("module {name:?} could not be compiled: {other:?}"),
            };
            let _ = Exception::throw_syntax(ctx, &message);
            None
        }
    }
}

/// A syntax error's message with the module and the position in it.
pub fn located(name: &str, info: &ErrorInfo) -> String {
    match (info.line, info.column) {
        (Some(line), Some(column)) => {
            format!(
                "{} (in module {name}, line {line}, column {column})",
                info.message
            )
        }
        _ => format!("{} (in module {name})", info.message),
    }
}

/// A JSON module: its default export is the parsed text (read by [`crate::json`], so a
/// text it refuses, a malformed one too, is QuickJS's `JSON.parse`'s to read). A parse
/// error is thrown as a `SyntaxError` naming the module.
fn json_module(ctx: &Ctx<'_>, name: &str, text: &str) -> Option<NonNull<qjs::JSModuleDef>> {
    let raw = ctx.as_raw().as_ptr();
    let parsed = match crate::json::parse(ctx, text) {
        Ok(value) => value,
        Err(_) => {
            let thrown = ctx.catch();
            let info = ErrorInfo::from_thrown(ctx, &thrown, name);
            let _ =
                Exception::throw_syntax(ctx, &format!("{} (in JSON module {name})", info.message));
            return None;
        }
    };
    let c_name = CString::new(name).ok()?;
    // SAFETY: `raw` is the live run context; the module's private value takes a reference
    // to the parsed value, which the init hook exports.
    unsafe {
        let module = NonNull::new(qjs::JS_NewCModule(
            raw,
            c_name.as_ptr(),
            Some(json_init_hook),
        ))?;
        if qjs::JS_AddModuleExport(raw, module.as_ptr(), c"default".as_ptr()) < 0 {
            return None;
        }
        qjs::JS_SetModulePrivateValue(raw, module.as_ptr(), qjs::JS_DupValue(raw, parsed.as_raw()));
        Some(module)
    }
}

/// The import requests of a compiled module (patch 6), in source order.
pub fn requests<'js>(ctx: &Ctx<'js>, module: &Value<'js>) -> Result<Vec<ImportRequest>, String> {
    // SAFETY: `module` is a live module value of `ctx`; names are borrowed atoms, the
    // attributes a new reference owned by `Value`.
    unsafe {
        let count = jsruntime_module_request_count(module.as_raw());
        let mut requests = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for i in 0..count.max(0) {
            let atom = jsruntime_module_request_name(module.as_raw(), i);
            let specifier = atom_text(ctx, atom);
            let attributes = Value::from_raw(
                ctx.clone(),
                jsruntime_module_request_attributes(ctx.as_raw().as_ptr(), module.as_raw(), i),
            );
            let kind = kind_of(ctx, &attributes)?;
            requests.push(ImportRequest { specifier, kind });
        }
        Ok(requests)
    }
}

fn atom_text(ctx: &Ctx<'_>, atom: qjs::JSAtom) -> String {
    // SAFETY: `atom` is live in `ctx`; the string value is owned by `Value`.
    unsafe {
        let value = Value::from_raw(
            ctx.clone(),
            qjs::JS_AtomToString(ctx.as_raw().as_ptr(), atom),
        );
        to_text_lossy(ctx, &value, "")
    }
}

/// The kind an import's attributes ask for; an attribute other than `type`, or a type
/// other than `json`, is refused with the reason.
fn kind_of<'js>(ctx: &Ctx<'js>, attributes: &Value<'js>) -> Result<ModuleKind, String> {
    let Some(object) = attributes.as_object() else {
        return Ok(ModuleKind::JavaScript);
    };
    let mut kind = ModuleKind::JavaScript;
    for key in object.keys::<String>() {
        let key = key.map_err(|_| "an import attribute key is not a string".to_owned())?;
        if key != "type" {
            return Err(format!(
                "import attribute {key:?} is not supported (only \"type\")"
            ));
        }
        let value: Value = object
            .get(&key)
            .map_err(|_| "reading an import attribute".to_owned())?;
        let value = to_text_lossy(ctx, &value, "");
        if value != "json" {
            return Err(format!(
                "import attribute type {value:?} is not supported (only \"json\")"
            ));
        }
        kind = ModuleKind::Json;
    }
    Ok(kind)
}

/// Ends a run's registry (the next run starts from what the host hands it).
pub fn end_run() {
    TABLE.with(|table| *table.borrow_mut() = Table::default());
}

/// A name QuickJS hands a hook, borrowed when it is UTF-8 (as every name the host
/// links is): `to_string_lossy` alone takes its slower, chunked path for every name.
fn c_text(name: &CStr) -> Cow<'_, str> {
    match name.to_str() {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => name.to_string_lossy(),
    }
}

/// QuickJS's normalize hook: the resolved name of `specifier` imported by `importer`.
unsafe extern "C" fn normalize_hook(
    ctx: *mut qjs::JSContext,
    importer: *const c_char,
    specifier: *const c_char,
    attributes: qjs::JSValue,
    _opaque: *mut c_void,
) -> *mut c_char {
    // SAFETY: QuickJS passes NUL-terminated strings and a live context. Borrowed (no
    // copy) unless they are not UTF-8.
    let (importer, specifier) = unsafe {
        (
            c_text(CStr::from_ptr(importer)),
            c_text(CStr::from_ptr(specifier)),
        )
    };
    let Some(ctx_ptr) = NonNull::new(ctx) else {
        return std::ptr::null_mut();
    };
    // SAFETY: a live context, for the length of this call.
    let ctx_ref = unsafe { Ctx::from_raw(ctx_ptr) };
    // The common case, a link the host made: the name is copied straight from the table
    // into QuickJS's allocation.
    let linked = TABLE.with(|table| {
        let table = table.borrow();
        table.link(&importer, &specifier).map(|resolved| {
            resolved.as_ref().map(|resolved| {
                // SAFETY: QuickJS frees the returned name with js_free.
                unsafe { qjs::js_strdup(ctx, resolved.as_ptr()) }
            })
        })
    });
    match linked {
        Some(Some(duplicated)) => return duplicated,
        Some(None) => {
            let _ = Exception::throw_type(&ctx_ref, "a module name holds a NUL character");
            return std::ptr::null_mut();
        }
        None => {}
    }
    // SAFETY: `attributes` is borrowed from QuickJS for this call; duplicated so the
    // `Value` that frees it owns a reference of its own.
    let attributes = unsafe { Value::from_raw(ctx_ref.clone(), qjs::JS_DupValue(ctx, attributes)) };
    let kind = match kind_of(&ctx_ref, &attributes) {
        Ok(kind) => kind,
        Err(message) => {
            let _ = Exception::throw_type(&ctx_ref, &message);
            return std::ptr::null_mut();
        }
    };
    let resolved = match load_from_host(&importer, &specifier, kind) {
        Ok(module) => {
            let resolved = module.name.clone();
            TABLE.with(|table| {
                let mut table = table.borrow_mut();
                table
                    .links
                    .entry(importer.into_owned())
                    .or_default()
                    .insert(specifier.into_owned(), CString::new(resolved.clone()).ok());
                table.add(module);
            });
            resolved
        }
        Err(LoadError::NotFound(message)) => {
            let _ = Exception::throw_type(&ctx_ref, &message);
            return std::ptr::null_mut();
        }
        Err(LoadError::Failed(message)) => {
            let _ = Exception::throw_message(&ctx_ref, &message);
            return std::ptr::null_mut();
        }
    };
    let Ok(resolved) = CString::new(resolved) else {
        let _ = Exception::throw_type(&ctx_ref, "a module name holds a NUL character");
        return std::ptr::null_mut();
    };
    // SAFETY: QuickJS frees the returned name with js_free.
    unsafe { qjs::js_strdup(ctx, resolved.as_ptr()) }
}

fn load_from_host(
    importer: &str,
    specifier: &str,
    kind: ModuleKind,
) -> Result<ModuleDef, LoadError> {
    match services::current() {
        Some(services) => services.load_module(importer, specifier, kind),
        None => Err(LoadError::NotFound(format!(
            "cannot import {specifier:?} from {importer:?}: no module loader"
        ))),
    }
}

/// QuickJS's load hook: builds the module the normalize hook named.
unsafe extern "C" fn load_hook(
    ctx: *mut qjs::JSContext,
    name: *const c_char,
    _opaque: *mut c_void,
    _attributes: qjs::JSValue,
) -> *mut qjs::JSModuleDef {
    // SAFETY: QuickJS passes a NUL-terminated name and the live context it is loading in.
    unsafe {
        let name = c_text(CStr::from_ptr(name));
        build(ctx, &name).map_or(std::ptr::null_mut(), NonNull::as_ptr)
    }
}

/// QuickJS's attribute check (parse time and dynamic `import()`): `type: "json"` only.
unsafe extern "C" fn check_attributes_hook(
    ctx: *mut qjs::JSContext,
    _opaque: *mut c_void,
    attributes: qjs::JSValue,
) -> c_int {
    let Some(ctx_ptr) = NonNull::new(ctx) else {
        return -1;
    };
    // SAFETY: a live context; `attributes` is borrowed, so duplicated for the `Value`.
    let (ctx_ref, attributes) = unsafe {
        let ctx_ref = Ctx::from_raw(ctx_ptr);
        let attributes = Value::from_raw(ctx_ref.clone(), qjs::JS_DupValue(ctx, attributes));
        (ctx_ref, attributes)
    };
    match kind_of(&ctx_ref, &attributes) {
        Ok(_) => 0,
        Err(message) => {
            let _ = Exception::throw_syntax(&ctx_ref, &message);
            -1
        }
    }
}

/// A JSON module's evaluation: exports the parsed value as `default`.
unsafe extern "C" fn json_init_hook(
    ctx: *mut qjs::JSContext,
    module: *mut qjs::JSModuleDef,
) -> c_int {
    // SAFETY: QuickJS calls this with the live context and the module `json_module` made;
    // JS_SetModuleExport takes ownership of the value.
    unsafe {
        let value = qjs::JS_GetModulePrivateValue(ctx, module);
        qjs::JS_SetModuleExport(ctx, module, c"default".as_ptr(), value)
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Failure;
    use crate::input::tests::{arr, obj, tape, T};
    use crate::testing::{run, run_module, Fake};

    fn fake(modules: &[(&str, &str)]) -> Fake {
        Fake {
            modules: modules
                .iter()
                .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
                .collect(),
            ..Fake::default()
        }
    }

    #[test]
    fn the_default_export_is_called_with_the_input_and_awaited() {
        let fake = fake(&[(
            "main.js",
            "export default async function (cart) { await null; return cart.items.length + input.items.length; }",
        )]);
        let items = tape(&obj([("items", arr([T::Int(1), T::Int(2), T::Int(3)]))]));
        let result = run_module(&fake, "main.js", None, Some(&items));
        assert_eq!(result, Ok("6".to_owned()));
    }

    #[test]
    fn static_imports_json_modules_cycles_and_top_level_await() {
        let fake = fake(&[
            ("rules/main.js", r#"
                import { tax } from "./tax.js";
                import rates from "../data/rates.json" with { type: "json" };
                import { even } from "./even.js";
                const base = await Promise.resolve(100);
                export function price(input) { return [tax(base, rates.vat), even(4), even(3)]; }
            "#),
            ("rules/tax.js", "export const tax = (amount, rate) => amount * (1 + rate);"),
            ("data/rates.json", r#"{"vat": 0.25}"#),
            ("rules/even.js", "import { odd } from './odd.js'; export function even(n) { return n === 0 ? true : odd(n - 1); }"),
            ("rules/odd.js", "import { even } from './even.js'; export function odd(n) { return n === 0 ? false : even(n - 1); }"),
        ]);
        let result = run_module(&fake, "rules/main.js", Some("price"), None);
        assert_eq!(result, Ok("[125,true,false]".to_owned()));
    }

    #[test]
    fn modules_without_top_level_await_run_straight_through_and_throw_what_they_throw() {
        // Each module's top level runs once, in post-order; one that throws ends the run
        // with its own exception (patch 12: no promise in between).
        let fake = fake(&[
            ("main.js", "import { log } from './log.js'; import './b.js'; log.push('main'); export default () => log;"),
            ("log.js", "export const log = []; log.push('log');"),
            ("b.js", "import { log } from './log.js'; import './c.js'; log.push('b');"),
            ("c.js", "import { log } from './log.js'; log.push('c'); export let later = 1; later = 2;"),
            ("throws.js", "import './c.js'; throw new RangeError('at import');"),
            ("entry.js", "import './throws.js'; export default () => 'unreachable';"),
        ]);
        assert_eq!(
            run_module(&fake, "main.js", None, None),
            Ok(r#"["log","c","b","main"]"#.to_owned())
        );
        let Err(Failure::Exception(info)) = run_module(&fake, "entry.js", None, None) else {
            panic!("an exception expected");
        };
        assert_eq!(info.name.as_deref(), Some("RangeError"));
        assert_eq!(info.message, "at import");
    }

    #[test]
    fn a_graph_evaluated_without_its_promise_is_still_one_evaluation() {
        // Patch 17: a graph without top-level await is evaluated without the promise of
        // its completion. Jobs its top level queued still run before the entry is called,
        // and a later dynamic import of the entry finds it evaluated, once.
        let single = fake(&[(
            "main.js",
            r#"
                export const log = [];
                let runs = 0;
                runs += 1;
                Promise.resolve().then(() => log.push("job"));
                log.push("top");
                export const count = () => runs;
                export default async () => {
                    const self = await import("./main.js");
                    return [...log, self.count(), self.log === log];
                };
            "#,
        )]);
        assert_eq!(
            run_module(&single, "main.js", None, None),
            Ok(r#"["top","job",1,true]"#.to_owned())
        );
        // A module that waits on one with top-level await takes the promise's path.
        let waiting = fake(&[
            (
                "main.js",
                "import { v } from './slow.js'; export default () => v;",
            ),
            ("slow.js", "export const v = await Promise.resolve(7);"),
        ]);
        assert_eq!(
            run_module(&waiting, "main.js", None, None),
            Ok("7".to_owned())
        );
    }

    #[test]
    fn a_dynamic_import_of_a_static_module_is_that_module() {
        // The static graph is linked by position, never by name; a dynamic import of one
        // of its modules finds it among the loaded modules by the name its bytecode
        // carries: one instance, evaluated once.
        let fake = fake(&[
            ("main.js", "import * as a from './lib/a.js'; export default async () => { const b = await import('./lib/a.js'); const c = await import('lib/a.js'); return [a === b, b === c, b.count()]; };"),
            ("lib/a.js", "let runs = 0; runs += 1; export const count = () => runs;"),
        ]);
        assert_eq!(
            run_module(&fake, "main.js", None, None),
            Ok("[true,true,1]".to_owned())
        );
    }

    #[test]
    fn a_graph_whose_links_do_not_match_its_imports_is_refused_before_any_code_runs() {
        use crate::engine::Engine;
        use crate::modules::{GraphBody, GraphModule};
        use crate::testing::LIMITS;
        let engine = Engine::new().expect("an engine");
        let main = engine
            .compile_module(
                "main.js",
                "import { f } from './f.js'; console.log('ran'); export default f;",
            )
            .expect("compiles");
        let f = engine
            .compile_module("f.js", "export const f = () => 1;")
            .expect("compiles");
        let fake = Fake::default();
        crate::services::install(std::rc::Rc::new(fake.clone()));
        let graph = |links: Vec<u32>| {
            vec![
                GraphModule {
                    body: GraphBody::Bytecode(main.bytecode.clone()),
                    links,
                },
                GraphModule {
                    body: GraphBody::Bytecode(f.bytecode.clone()),
                    links: Vec::new(),
                },
            ]
        };
        for links in [vec![], vec![1, 1], vec![2]] {
            let result = engine.run_module("main.js", &graph(links.clone()), None, None, LIMITS);
            assert!(
                matches!(&result, Err(Failure::Internal(message)) if message.contains("module 0")),
                "{links:?}: {result:?}"
            );
        }
        assert!(matches!(
            engine.run_module("main.js", &[], None, None, LIMITS),
            Err(Failure::Internal(_))
        ));
        assert!(fake.logs().is_empty());
        assert_eq!(
            engine.run_module("main.js", &graph(vec![1]), None, None, LIMITS),
            Ok("1".to_owned())
        );
    }

    #[test]
    fn preparing_a_graph_runs_none_of_its_code() {
        // Preparing reads and instantiates: imports bound, function declarations made
        // (hoisted, so callable from a cycle), and nothing else. Every top level, with its
        // logs, its host calls and its throw, waits for the run.
        use crate::engine::Engine;
        use crate::testing::{graph_of, LIMITS};
        let fake = Fake {
            functions: vec!["record".to_owned()],
            reply: |_, _| Ok("true".to_owned()),
            ..fake(&[
                ("main.js", "import { hoisted, value } from './lib.js'; console.log('main ran'); host.record({}); export default () => [hoisted(), value];"),
                ("lib.js", "console.log('lib ran'); globalThis.libRan = true; export function hoisted() { return typeof globalThis.libRan; } export const value = 2;"),
                ("throws.js", "import { hoisted } from './lib.js'; throw new RangeError('top level ' + hoisted());"),
            ])
        };
        for (entry, expected) in [
            ("main.js", Ok(r#"["boolean",2]"#.to_owned())),
            ("throws.js", Err("top level boolean")),
        ] {
            let fake = Fake {
                records: std::rc::Rc::default(),
                ..fake.clone()
            };
            crate::services::install(std::rc::Rc::new(fake.clone()));
            let engine = Engine::new().expect("an engine");
            let graph = graph_of(&engine, &fake, entry).expect("compiles");
            engine.prepare_graph(entry, &graph).expect("prepares");
            assert!(fake.logs().is_empty(), "{entry}: {:?}", fake.logs());
            assert!(fake.calls().is_empty(), "{entry}: {:?}", fake.calls());
            let result = engine.run_prepared(entry, None, None, LIMITS);
            match expected {
                Ok(json) => assert_eq!(result, Ok(json)),
                Err(message) => assert!(
                    matches!(&result, Err(Failure::Exception(info)) if info.message == message),
                    "{result:?}"
                ),
            }
            // Then each top level ran once, in order: lib's first.
            let ran: Vec<String> = fake.logs().into_iter().map(|(_, text)| text).collect();
            let expected_logs = if entry == "main.js" {
                vec!["lib ran", "main ran"]
            } else {
                vec!["lib ran"]
            };
            assert_eq!(ran, expected_logs, "{entry}");
            assert_eq!(
                fake.calls().len(),
                usize::from(entry == "main.js"),
                "{entry}"
            );
        }
    }

    #[test]
    fn a_prepared_graph_runs_once_and_only_under_its_entry() {
        // What the host can get wrong is refused before any code runs: a run with no
        // graph prepared, a second graph, another entry's run. A graph that cannot be
        // instantiated fails to prepare as its run would have.
        use crate::engine::Engine;
        use crate::testing::{graph_of, LIMITS};
        let fake = fake(&[
            (
                "main.js",
                "import { f } from './f.js'; console.log('ran'); export default f;",
            ),
            ("f.js", "export const f = () => 1;"),
            (
                "missing.js",
                "import { g } from './f.js'; export default g;",
            ),
        ]);
        crate::services::install(std::rc::Rc::new(fake.clone()));
        let engine = Engine::new().expect("an engine");
        let internal = |result: Result<String, Failure>, part: &str| {
            assert!(
                matches!(&result, Err(Failure::Internal(message)) if message.contains(part)),
                "{part}: {result:?}"
            );
        };
        internal(
            engine.run_prepared("main.js", None, None, LIMITS),
            "no module graph",
        );
        let graph = graph_of(&engine, &fake, "main.js").expect("compiles");
        engine.prepare_graph("main.js", &graph).expect("prepares");
        assert!(matches!(
            engine.prepare_graph("main.js", &graph),
            Err(Failure::Internal(message)) if message.contains("prepared already")
        ));
        internal(engine.run_prepared("f.js", None, None, LIMITS), "main.js's");
        assert!(fake.logs().is_empty());
        // The graph refused above is gone with that run: nothing runs twice.
        internal(
            engine.run_prepared("main.js", None, None, LIMITS),
            "no module graph",
        );

        let engine = Engine::new().expect("an engine");
        engine.prepare_graph("main.js", &graph).expect("prepares");
        assert_eq!(
            engine.run_prepared("main.js", None, None, LIMITS),
            Ok("1".to_owned())
        );
        assert_eq!(fake.logs().len(), 1);

        let engine = Engine::new().expect("an engine");
        let graph = graph_of(&engine, &fake, "missing.js").expect("compiles");
        let Err(Failure::Syntax(info)) = engine.prepare_graph("missing.js", &graph) else {
            panic!("a syntax failure expected");
        };
        assert!(info.message.contains('g'), "{info:?}");
        let unprepared = Fake {
            records: std::rc::Rc::default(),
            ..fake.clone()
        };
        assert_eq!(
            run_module(&unprepared, "missing.js", None, None),
            Err(Failure::Syntax(info))
        );
    }

    #[test]
    fn a_module_without_a_default_export_just_evaluates() {
        let fake = fake(&[("main.js", "console.log('ran'); export const x = 1;")]);
        assert_eq!(
            run_module(&fake, "main.js", None, None),
            Ok("null".to_owned())
        );
        assert_eq!(fake.logs().len(), 1);
    }

    #[test]
    fn a_missing_or_non_function_export_is_a_type_error_naming_it() {
        let fake = fake(&[("main.js", "export const rate = 3;")]);
        let Err(Failure::Exception(info)) = run_module(&fake, "main.js", Some("handle"), None)
        else {
            panic!("an exception expected");
        };
        assert_eq!(info.name.as_deref(), Some("TypeError"));
        assert!(info.message.contains("\"handle\""), "{}", info.message);
        let Err(Failure::Exception(info)) = run_module(&fake, "main.js", Some("rate"), None) else {
            panic!("an exception expected");
        };
        assert!(info.message.contains("not a function"), "{}", info.message);
    }

    #[test]
    fn the_entry_export_is_what_the_namespace_would_give() {
        // Patch 18 reads the entry's export without making its namespace object: an
        // export re-exported from another module, renamed, through `export *`, or as a
        // namespace (`export * as`), and a name two `export *` both give (ambiguous, so
        // absent from the namespace), are what the namespace would have given.
        let fake = fake(&[
            (
                "main.js",
                r#"
                export { run as default, run as again } from "./impl.js";
                export * from "./a.js";
                export * from "./b.js";
                export * as tools from "./impl.js";
            "#,
            ),
            ("impl.js", "export const run = (input) => input * 2;"),
            (
                "a.js",
                "export const dup = () => 'a'; export const fromA = () => 'only a';",
            ),
            ("b.js", "export const dup = () => 'b';"),
        ]);
        assert_eq!(
            run_module(&fake, "main.js", None, Some(&tape(&T::Int(21)))),
            Ok("42".to_owned())
        );
        assert_eq!(
            run_module(&fake, "main.js", Some("again"), Some(&tape(&T::Int(2)))),
            Ok("4".to_owned())
        );
        assert_eq!(
            run_module(&fake, "main.js", Some("fromA"), None),
            Ok(r#""only a""#.to_owned())
        );
        let Err(Failure::Exception(info)) = run_module(&fake, "main.js", Some("dup"), None) else {
            panic!("an exception expected");
        };
        assert!(
            info.message.contains("no export named \"dup\""),
            "{}",
            info.message
        );
        let Err(Failure::Exception(info)) = run_module(&fake, "main.js", Some("tools"), None)
        else {
            panic!("an exception expected");
        };
        assert!(
            info.message.contains("(it is an object)"),
            "{}",
            info.message
        );
    }

    #[test]
    fn names_read_from_bytecode_are_the_atoms_the_runtime_already_has() {
        // Each module's names are looked up among the runtime's atoms by their bytes
        // (patch 15): those the entry made when it was read (every import is an export's
        // name), names the snapshot has (`TextEncoder`), Latin-1 and wide names, and two
        // names that must stay apart ("Ã©" is the UTF-8 bytes of "é" as characters).
        let fake = fake(&[
            (
                "main.js",
                r#"
                import { café, 名前, x, TextEncoder as te, "Ã©" as a, "é" as b } from "./lib.js";
                import * as lib from "./lib.js";
                export default () => [café, 名前, x, te === globalThis.TextEncoder, a, b,
                    Object.keys(lib).join(","), ({ "café": 1, "é": 2, "Ã©": 3 })["é"]];
                "#,
            ),
            (
                "lib.js",
                r#"
                export const café = "c", 名前 = "n", x = "x", TextEncoder = globalThis.TextEncoder;
                const one = "Ã©", two = "é";
                export { one as "Ã©", two as "é" };
                "#,
            ),
        ]);
        assert_eq!(
            run_module(&fake, "main.js", None, None),
            Ok(r#"["c","n","x",true,"Ã©","é","TextEncoder,café,x,Ã©,é,名前",2]"#.to_owned())
        );
    }

    #[test]
    fn a_non_ascii_entry_names_its_own_export() {
        // "Ã©" is the two characters whose codes are the UTF-8 bytes of "é" (patch 13).
        let fake = fake(&[(
            "main.js",
            r#"const a = () => "Ã©", b = () => "é"; export { a as "Ã©", b as "é" };"#,
        )]);
        assert_eq!(
            run_module(&fake, "main.js", Some("é"), None),
            Ok(r#""é""#.to_owned())
        );
        assert_eq!(
            run_module(&fake, "main.js", Some("Ã©"), None),
            Ok(r#""Ã©""#.to_owned())
        );
    }

    #[test]
    fn dynamic_import_asks_the_host_and_compiles_for_this_run() {
        let fake = fake(&[
            ("lib/util.js", "import data from './data.json' with { type: 'json' }; export const twice = (x) => x * 2 * data.k;"),
            ("lib/data.json", r#"{"k": 1}"#),
        ]);
        let source = r#"
            (async () => {
                const { twice } = await import("lib/util.js");
                let missing;
                try { await import("./nope.js"); } catch (e) { missing = e.name + ": " + e.message; }
                return [twice(21), missing];
            })()
        "#;
        let result = run(&fake, source).expect("runs");
        assert!(
            result.starts_with(r#"[42,"TypeError: cannot find module \"./nope.js\""#),
            "{result}"
        );
    }

    #[test]
    fn import_errors_before_any_code_runs_are_syntax_errors() {
        let fake = fake(&[
            (
                "main.js",
                "import { nope } from './a.js'; console.log('ran'); export default () => nope;",
            ),
            ("a.js", "export const yes = 1;"),
        ]);
        let result = run_module(&fake, "main.js", None, None);
        assert!(matches!(result, Err(Failure::Syntax(_))), "{result:?}");
        assert!(fake.logs().is_empty());
        let fake = fake_json_broken();
        let Err(Failure::Syntax(info)) = run_module(&fake, "main.js", None, None) else {
            panic!("a syntax failure expected");
        };
        assert!(info.message.contains("bad.json"), "{}", info.message);
    }

    fn fake_json_broken() -> Fake {
        fake(&[
            (
                "main.js",
                "import d from './bad.json' with { type: 'json' }; export default () => d;",
            ),
            ("bad.json", "{ not json"),
        ])
    }

    #[test]
    fn unsupported_import_attributes_are_refused_when_compiled() {
        let fake = fake(&[(
            "main.js",
            "import x from './a.css' with { type: 'css' }; export default x;",
        )]);
        assert!(matches!(
            run_module(&fake, "main.js", None, None),
            Err(Failure::Syntax(_))
        ));
    }
}
