//! The wasmtime side, set up once per runtime: the engine (configured by
//! [`jsruntime_wasm::engine_config`]), the guest component (compiled once, cached on
//! disk), the linker and `InstancePre`. Timeouts and cancellation need no thread here:
//! they are checked at the guest's fuel yields (see `instance`).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use jsruntime_wasm::bindings::jsruntime::sandbox as wit;
use jsruntime_wasm::bindings::SandboxPre;
use jsruntime_wasm::EngineOptions;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::Engine;

use crate::error::SetupError;
use crate::guest::{GUEST_SHA256, GUEST_WASM};
use crate::instance::{ExecState, Template};

/// Engine, component and instance template.
pub(crate) struct WasmEngine {
    pub(crate) template: Template,
}

impl WasmEngine {
    /// `slots`: instances that may exist at once (running plus ready).
    pub(crate) fn new(slots: u32, component_cache_dir: Option<&Path>) -> Result<Self, SetupError> {
        let config = jsruntime_wasm::engine_config(&EngineOptions::library(slots));
        let engine =
            Engine::new(&config).map_err(SetupError::wasmtime("configuring the engine"))?;
        let component = load_component(&engine, component_cache_dir)?;
        let mut linker = Linker::<ExecState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(SetupError::wasmtime("linking WASI"))?;
        // Interface by interface: `crypto` is linked by hand (its import charges fuel,
        // which needs the store; see `instance::crypto`).
        wit::context::add_to_linker::<_, HasSelf<ExecState>>(&mut linker, |state| state)
            .and_then(|()| wit::host::add_to_linker::<_, HasSelf<ExecState>>(&mut linker, |s| s))
            .and_then(|()| wit::modules::add_to_linker::<_, HasSelf<ExecState>>(&mut linker, |s| s))
            .and_then(|()| crate::instance::crypto::add_to_linker(&mut linker))
            .map_err(SetupError::wasmtime("linking the guest's imports"))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(SetupError::wasmtime("pre-instantiating the guest"))?;
        let template = SandboxPre::new(instance_pre)
            .and_then(Template::new)
            .map_err(SetupError::wasmtime("checking the guest's exports"))?;
        Ok(WasmEngine { template })
    }
}

/// Compiling the guest with Cranelift takes seconds; a compiled copy is kept on disk,
/// keyed by the guest's hash and the engine's compatibility hash (wasmtime version,
/// settings, CPU features), so a different build never loads a stale artifact.
fn load_component(engine: &Engine, cache_dir: Option<&Path>) -> Result<Component, SetupError> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, GUEST_WASM)
            .map_err(SetupError::wasmtime("compiling the guest"));
    };
    let path = cached_component_path(engine, dir);
    if path.exists() {
        // SAFETY: the file is one this function wrote (atomically, below) from a
        // component wasmtime compiled with a compatible engine, as its name says;
        // wasmtime itself checks the engine compatibility recorded inside it.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                "ignoring an unusable compiled guest in the cache; recompiling"
            ),
        }
    }
    let compiled = engine
        .precompile_component(GUEST_WASM)
        .map_err(SetupError::wasmtime("compiling the guest"))?;
    if let Err(error) = write_atomically(dir, &path, &compiled) {
        tracing::warn!(path = %path.display(), %error, "could not cache the compiled guest");
    }
    // SAFETY: `compiled` was produced just now by this engine.
    unsafe { Component::deserialize(engine, &compiled) }
        .map_err(SetupError::wasmtime("loading the compiled guest"))
}

fn cached_component_path(engine: &Engine, dir: &Path) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hasher.finish();
    dir.join(format!(
        "guest-{}-{engine_hash:016x}.cwasm",
        &GUEST_SHA256[..16]
    ))
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
