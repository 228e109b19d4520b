//! Pre-initializes the jsruntime guest component with Wizer.
//!
//! Usage: `jsruntime-wizen IN.wasm OUT.wasm`. It instantiates the component, calls its
//! `wizer-initialize` export (which builds the QuickJS runtime, both contexts and the
//! prelude), snapshots the resulting memory and globals into a new component, and writes
//! it to OUT. Imports the initializer never calls (the tenant context, host services)
//! are defined as traps; WASI is present but empty, so nothing of the build machine
//! (environment, files, clock readings used later) leaks into the snapshot.

use anyhow::{Context as _, Result};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wizer::Wizer;

wasmtime::component::bindgen!({
    world: "sandbox",
    path: "../../wit",
});

use jsruntime::sandbox::{context, host};

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

/// The initializer builds the engine only; it never asks for the tenant context or host
/// services. These answers exist to satisfy the linker and are never seen by a script.
impl context::Host for State {
    fn tenant(&mut self) -> Option<context::TenantInfo> {
        None
    }
    fn user(&mut self) -> Option<context::UserInfo> {
        None
    }
    fn request_id(&mut self) -> Option<String> {
        None
    }
    fn locale(&mut self) -> Option<String> {
        None
    }
    fn deadline_ms(&mut self) -> Option<i64> {
        None
    }
}

impl host::Host for State {
    fn log(&mut self, _level: host::LogLevel, _message: String) {}
    fn functions(&mut self) -> Vec<String> {
        Vec::new()
    }
    fn call(&mut self, _name: String, _args_json: String) -> Result<String, host::CallError> {
        Err(host::CallError::Failed(
            "no host functions during pre-initialization".into(),
        ))
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: jsruntime-wizen IN.wasm OUT.wasm");
    };
    let wasm = std::fs::read(&input).with_context(|| format!("reading {input}"))?;

    let engine =
        Engine::new(&Config::new()).map_err(|e| anyhow::anyhow!("creating the engine: {e:?}"))?;
    let mut store = Store::new(
        &engine,
        State {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );

    let mut wizer = Wizer::new();
    // The component refers to its init export after the rewrite; removing it leaves a
    // component that fails to load.
    wizer.keep_init_func(true);
    let (snapshot, _) = wizer
        .run_component(&mut store, &wasm, async |store, component: &Component| {
            let mut linker = Linker::new(store.engine());
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            Sandbox::add_to_linker::<_, wasmtime::component::HasSelf<State>>(
                &mut linker,
                |state| state,
            )?;
            linker.instantiate_async(store, component).await
        })
        .await
        .map_err(|e| anyhow::anyhow!("pre-initializing the guest: {e:?}"))?;

    let tmp = format!("{output}.tmp");
    std::fs::write(&tmp, &snapshot).with_context(|| format!("writing {tmp}"))?;
    std::fs::rename(&tmp, &output).with_context(|| format!("writing {output}"))?;
    eprintln!(
        "pre-initialized {input} ({} bytes) into {output} ({} bytes)",
        wasm.len(),
        snapshot.len()
    );
    Ok(())
}
