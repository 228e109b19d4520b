//! The component's WIT bindings: exports call into [`crate::engine`], imports back
//! [`crate::services::Services`].

use std::cell::OnceCell;
use std::rc::Rc;

use crate::engine::{Engine, Failure, RunLimits};
use crate::modules::{
    GraphBody, GraphModule, ImportRequest, LoadError, ModuleBody, ModuleDef, ModuleKind,
};
use crate::services::{
    self, CallError, CallStyle, Completion, Function, HashAlgorithm, LogLevel, Services, Tenant,
    User,
};
use crate::value::ErrorInfo;

wit_bindgen::generate!({
    world: "sandbox",
    path: "../wit",
});

use exports::jsruntime::sandbox::engine as wit_engine;
use jsruntime::sandbox::{
    context as wit_context, crypto as wit_crypto, host as wit_host, modules as wit_modules,
};

thread_local! {
    /// Created by `wizer-initialize` at build time and captured in the snapshot; created
    /// on first use when the component was not pre-initialized (a plain build).
    static ENGINE: OnceCell<Result<Engine, String>> = const { OnceCell::new() };
}

fn with_engine<T>(f: impl FnOnce(&Engine) -> Result<T, Failure>) -> Result<T, Failure> {
    ENGINE.with(|cell| match cell.get_or_init(Engine::new) {
        Ok(engine) => f(engine),
        Err(message) => Err(Failure::Internal(message.clone())),
    })
}

/// The services of a component instance: its WIT imports.
struct ImportedServices;

impl Services for ImportedServices {
    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => wit_host::LogLevel::Debug,
            LogLevel::Info => wit_host::LogLevel::Info,
            LogLevel::Warn => wit_host::LogLevel::Warn,
            LogLevel::Error => wit_host::LogLevel::Error,
        };
        wit_host::log(level, message);
    }

    fn call(&self, name: &str, args_json: &str) -> Result<String, CallError> {
        wit_host::call(name, args_json).map_err(call_error)
    }

    fn start_call(&self, name: &str, args_json: &str) -> Result<u32, CallError> {
        wit_host::start_call(name, args_json).map_err(call_error)
    }

    fn wait(&self, timeout: Option<std::time::Duration>) -> Option<Completion> {
        // Nanoseconds in a u64 last 584 years; a longer timeout is as good as none.
        let timeout_ns = timeout.and_then(|timeout| u64::try_from(timeout.as_nanos()).ok());
        wit_host::wait(timeout_ns).map(|completion| Completion {
            id: completion.id,
            outcome: completion.outcome.map_err(call_error),
        })
    }

    fn functions(&self) -> Vec<Function> {
        wit_host::functions()
            .into_iter()
            .map(|function| Function {
                name: function.name,
                style: match function.style {
                    wit_host::CallStyle::Blocking => CallStyle::Blocking,
                    wit_host::CallStyle::Promise => CallStyle::Promise,
                },
            })
            .collect()
    }

    fn tenant(&self) -> Option<Tenant> {
        wit_context::tenant().map(|t| Tenant {
            id: t.id,
            name: t.name,
        })
    }

    fn user(&self) -> Option<User> {
        wit_context::user().map(|u| User {
            id: u.id,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            permissions: u.permissions,
        })
    }

    fn request_id(&self) -> Option<String> {
        wit_context::request_id()
    }

    fn locale(&self) -> Option<String> {
        wit_context::locale()
    }

    fn deadline_ms(&self) -> Option<i64> {
        wit_context::deadline_ms()
    }

    fn load_module(
        &self,
        importer: &str,
        specifier: &str,
        kind: ModuleKind,
    ) -> Result<ModuleDef, LoadError> {
        wit_modules::load(importer, specifier, wit_kind(kind))
            .map(module_def)
            .map_err(|error| match error {
                wit_modules::LoadError::NotFound(message) => LoadError::NotFound(message),
                wit_modules::LoadError::Failed(message) => LoadError::Failed(message),
            })
    }

    fn digest(&self, algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
        let algorithm = match algorithm {
            HashAlgorithm::Sha1 => wit_crypto::HashAlgorithm::Sha1,
            HashAlgorithm::Sha256 => wit_crypto::HashAlgorithm::Sha256,
            HashAlgorithm::Sha384 => wit_crypto::HashAlgorithm::Sha384,
            HashAlgorithm::Sha512 => wit_crypto::HashAlgorithm::Sha512,
        };
        wit_crypto::digest(algorithm, data)
    }

    fn random_seed(&self) -> u64 {
        // wasi:random, asked at run time: anything drawn at build time is in the snapshot.
        // It fails only if the host refuses randomness; the clock still varies the seed.
        getrandom::u64().unwrap_or_else(|_| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        })
    }
}

fn call_error(error: wit_host::CallError) -> CallError {
    match error {
        wit_host::CallError::UnknownFunction => CallError::UnknownFunction,
        wit_host::CallError::Failed(message) => CallError::Failed(message),
    }
}

fn wit_kind(kind: ModuleKind) -> wit_modules::ModuleKind {
    match kind {
        ModuleKind::JavaScript => wit_modules::ModuleKind::Javascript,
        ModuleKind::Json => wit_modules::ModuleKind::Json,
    }
}

fn module_def(module: wit_modules::Module) -> ModuleDef {
    ModuleDef {
        name: module.name,
        kind: match module.kind {
            wit_modules::ModuleKind::Javascript => ModuleKind::JavaScript,
            wit_modules::ModuleKind::Json => ModuleKind::Json,
        },
        body: module.body.map(|body| match body {
            wit_modules::ModuleBody::Bytecode(bytes) => ModuleBody::Bytecode(bytes),
            wit_modules::ModuleBody::Source(source) => ModuleBody::Source(source),
            wit_modules::ModuleBody::Json(text) => ModuleBody::Json(text),
        }),
        links: module
            .links
            .into_iter()
            .map(|link| (link.specifier, link.resolved))
            .collect(),
    }
}

fn graph_module(module: wit_modules::GraphModule) -> GraphModule {
    GraphModule {
        body: match module.body {
            wit_modules::GraphBody::Bytecode(bytes) => GraphBody::Bytecode(bytes),
            wit_modules::GraphBody::Json(json) => GraphBody::Json {
                name: json.name,
                text: json.text,
            },
        },
        links: module.links,
    }
}

fn import_request(request: ImportRequest) -> wit_modules::ImportRequest {
    wit_modules::ImportRequest {
        specifier: request.specifier,
        kind: wit_kind(request.kind),
    }
}

fn run_limits(limits: wit_engine::RunLimits) -> RunLimits {
    RunLimits {
        heap_bytes: limits.heap_bytes,
        stack_bytes: limits.stack_bytes,
        output_bytes: limits.output_bytes,
    }
}

fn error_info(info: ErrorInfo) -> wit_engine::ErrorInfo {
    wit_engine::ErrorInfo {
        name: info.name,
        message: info.message,
        stack: info.stack,
        line: info.line,
        column: info.column,
    }
}

fn failure(failure: Failure) -> wit_engine::Failure {
    match failure {
        Failure::Syntax(info) => wit_engine::Failure::Syntax(error_info(info)),
        Failure::Exception(info) => wit_engine::Failure::Exception(error_info(info)),
        Failure::StackOverflow(info) => wit_engine::Failure::StackOverflow(error_info(info)),
        Failure::OutOfMemory => wit_engine::Failure::OutOfMemory,
        Failure::OutputLimit(len) => wit_engine::Failure::OutputLimit(len),
        Failure::Internal(message) => wit_engine::Failure::Internal(message),
    }
}

struct Component;

impl Guest for Component {
    fn wizer_initialize() {
        ENGINE.with(|cell| {
            let _ = cell.get_or_init(Engine::new);
        });
    }
}

impl wit_engine::Guest for Component {
    fn compile(name: String, source: String) -> Result<Vec<u8>, wit_engine::Failure> {
        with_engine(|engine| engine.compile(&name, &source)).map_err(failure)
    }

    fn run(
        name: String,
        bytecode: Vec<u8>,
        input: Option<Vec<u8>>,
        limits: wit_engine::RunLimits,
    ) -> Result<String, wit_engine::Failure> {
        services::install(Rc::new(ImportedServices));
        let limits = run_limits(limits);
        with_engine(|engine| engine.run(&bytecode, &name, input.as_deref(), limits))
            .map_err(failure)
    }

    fn compile_module(
        name: String,
        source: String,
    ) -> Result<wit_engine::CompiledModule, wit_engine::Failure> {
        with_engine(|engine| engine.compile_module(&name, &source))
            .map(|compiled| wit_engine::CompiledModule {
                bytecode: compiled.bytecode,
                imports: compiled.imports.into_iter().map(import_request).collect(),
            })
            .map_err(failure)
    }

    fn run_module(
        entry: String,
        graph: Vec<wit_modules::GraphModule>,
        export_name: Option<String>,
        input: Option<Vec<u8>>,
        limits: wit_engine::RunLimits,
    ) -> Result<String, wit_engine::Failure> {
        services::install(Rc::new(ImportedServices));
        let limits = run_limits(limits);
        let graph: Vec<GraphModule> = graph.into_iter().map(graph_module).collect();
        with_engine(|engine| {
            engine.run_module(
                &entry,
                &graph,
                export_name.as_deref(),
                input.as_deref(),
                limits,
            )
        })
        .map_err(failure)
    }

    fn prepare_graph(
        entry: String,
        graph: Vec<wit_modules::GraphModule>,
    ) -> Result<(), wit_engine::Failure> {
        let graph: Vec<GraphModule> = graph.into_iter().map(graph_module).collect();
        with_engine(|engine| engine.prepare_graph(&entry, &graph)).map_err(failure)
    }

    fn run_prepared(
        entry: String,
        export_name: Option<String>,
        input: Option<Vec<u8>>,
        limits: wit_engine::RunLimits,
    ) -> Result<String, wit_engine::Failure> {
        services::install(Rc::new(ImportedServices));
        let limits = run_limits(limits);
        with_engine(|engine| {
            engine.run_prepared(&entry, export_name.as_deref(), input.as_deref(), limits)
        })
        .map_err(failure)
    }

    fn grow_memory(bytes: u64) -> bool {
        #[cfg(target_arch = "wasm32")]
        {
            const PAGE_BYTES: u64 = 65536;
            let current = core::arch::wasm32::memory_size::<0>() as u64 * PAGE_BYTES;
            if bytes <= current {
                return true;
            }
            let Ok(pages) = usize::try_from((bytes - current).div_ceil(PAGE_BYTES)) else {
                return false;
            };
            // Memory past the current end is not the allocator's until its `sbrk` moves
            // there; a prepared graph's image (which the host writes next) carries the
            // allocator's state as it was when it had grown this far.
            core::arch::wasm32::memory_grow::<0>(pages) != usize::MAX
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = bytes;
            false
        }
    }

    fn locate_memory() -> (Vec<u8>, u32) {
        let marker = vec![0u8];
        // A wasm32 address fits in 32 bits (natively, only the tests call this).
        let address = marker.as_ptr() as usize as u32;
        (marker, address)
    }
}

export!(Component);
