//! Bindings generated from `wit/sandbox.wit`.
//!
//! One set, with the options the library needs: `host.call`, `host.wait` and
//! `modules.load` are async (a host function or a module loader may await a database; a
//! wait for Promise calls and timers awaits them), every import may trap (the host ends an instance from inside an
//! import: the host-call limit, a deadline reached while a host function runs), and the
//! exports are async (the guest runs on a fiber that yields to the executor). The Wizer
//! tool and the benchmarks implement the same traits with stubs.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "sandbox",
    path: "../wit",
    imports: {
        "jsruntime:sandbox/host.call": async | trappable,
        "jsruntime:sandbox/host.wait": async | trappable,
        "jsruntime:sandbox/modules.load": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

/// Imports for programs that run the guest without a tenant: the Wizer tool (the
/// initializer builds the engine and never asks for the context or the host) and the
/// benchmarks' raw engine (its scripts never read `context` nor call the host). Every
/// context field is absent, logs are dropped, no host function and no module exists.
///
/// Link it with a getter from the store's data:
/// `Sandbox::add_to_linker::<_, HasSelf<NoTenant>>(&mut linker, |state: &mut State| &mut state.imports)`.
#[derive(Debug, Default)]
pub struct NoTenant;

impl jsruntime::sandbox::context::Host for NoTenant {
    fn tenant(&mut self) -> wasmtime::Result<Option<jsruntime::sandbox::context::TenantInfo>> {
        Ok(None)
    }
    fn user(&mut self) -> wasmtime::Result<Option<jsruntime::sandbox::context::UserInfo>> {
        Ok(None)
    }
    fn request_id(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
    fn locale(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
    fn deadline_ms(&mut self) -> wasmtime::Result<Option<i64>> {
        Ok(None)
    }
}

impl jsruntime::sandbox::host::Host for NoTenant {
    fn log(
        &mut self,
        _level: jsruntime::sandbox::host::LogLevel,
        _message: String,
    ) -> wasmtime::Result<()> {
        Ok(())
    }
    fn functions(&mut self) -> wasmtime::Result<Vec<jsruntime::sandbox::host::FunctionInfo>> {
        Ok(Vec::new())
    }
    fn start_call(
        &mut self,
        _name: String,
        _args_json: String,
    ) -> wasmtime::Result<Result<u32, jsruntime::sandbox::host::CallError>> {
        Ok(Err(jsruntime::sandbox::host::CallError::UnknownFunction))
    }
    async fn wait(
        &mut self,
        _timeout_ns: Option<u64>,
    ) -> wasmtime::Result<Option<jsruntime::sandbox::host::Completion>> {
        // No call is ever in flight. A timer would be polled for until due: these
        // programs run no timers.
        Ok(None)
    }
    async fn call(
        &mut self,
        _name: String,
        _args_json: String,
    ) -> wasmtime::Result<Result<String, jsruntime::sandbox::host::CallError>> {
        Ok(Err(jsruntime::sandbox::host::CallError::UnknownFunction))
    }
}

impl jsruntime::sandbox::modules::Host for NoTenant {
    async fn load(
        &mut self,
        importer: String,
        specifier: String,
        _kind: jsruntime::sandbox::modules::ModuleKind,
    ) -> wasmtime::Result<
        Result<jsruntime::sandbox::modules::Module, jsruntime::sandbox::modules::LoadError>,
    > {
        Ok(Err(jsruntime::sandbox::modules::LoadError::NotFound(
            format!("cannot import {specifier:?} from {importer:?}: no modules here"),
        )))
    }
}

impl jsruntime::sandbox::crypto::Host for NoTenant {
    fn digest(
        &mut self,
        algorithm: jsruntime::sandbox::crypto::HashAlgorithm,
        data: Vec<u8>,
    ) -> wasmtime::Result<Vec<u8>> {
        // These programs charge no fuel for it: they set no budget a script could exceed.
        Ok(crate::digest::digest(algorithm, &data))
    }
}
