//! The component's WIT bindings: exports call into [`crate::engine`], imports back
//! [`crate::services::Services`].

use std::cell::OnceCell;
use std::rc::Rc;

use crate::engine::{Engine, Failure, RunLimits};
use crate::services::{self, CallError, LogLevel, Services, Tenant, User};
use crate::value::ErrorInfo;

wit_bindgen::generate!({
    world: "sandbox",
    path: "../wit",
});

use exports::jsruntime::sandbox::engine as wit_engine;
use jsruntime::sandbox::{context as wit_context, host as wit_host};

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
        wit_host::call(name, args_json).map_err(|error| match error {
            wit_host::CallError::UnknownFunction => CallError::UnknownFunction,
            wit_host::CallError::Failed(message) => CallError::Failed(message),
        })
    }

    fn functions(&self) -> Vec<String> {
        wit_host::functions()
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
        limits: wit_engine::RunLimits,
    ) -> Result<String, wit_engine::Failure> {
        services::install(Rc::new(ImportedServices));
        let limits = RunLimits {
            heap_bytes: limits.heap_bytes,
            stack_bytes: limits.stack_bytes,
            output_bytes: limits.output_bytes,
        };
        with_engine(|engine| engine.run(&bytecode, &name, limits)).map_err(failure)
    }
}

export!(Component);
