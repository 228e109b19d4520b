//! Pre-initializes the jsruntime guest component with Wizer.
//!
//! Usage: `jsruntime-wizen IN.wasm OUT.wasm`. It instantiates the component, calls its
//! `wizer-initialize` export (which builds the QuickJS runtime, both contexts and the
//! prelude), snapshots the resulting memory and globals into a new component, and writes
//! it to OUT. Imports the initializer never calls (the tenant context, host services)
//! are defined as traps; WASI is present but empty, so nothing of the build machine
//! (environment, files, clock readings used later) leaks into the snapshot. Its clocks
//! and random sources are fixed too (see [`deterministic_wasi`]): the same IN gives the
//! same OUT byte for byte, on any machine, which is what lets the repository commit the
//! pre-initialized guest and CI check it.

use anyhow::{Context as _, Result};
use wasmtime::component::{Component, HasSelf, Instance, Lift, Linker, ResourceTable, WasmList};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use jsruntime_wasm::bindings::{NoTenant, Sandbox};

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The initializer builds the engine only; it never asks for the tenant context or
    /// host services. These answers exist to satisfy the linker.
    imports: NoTenant,
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
            wasi: deterministic_wasi(),
            table: ResourceTable::new(),
            imports: NoTenant,
        },
    );

    let mut wizer = Wizer::new();
    // The component refers to its init export after the rewrite; removing it leaves a
    // component that fails to load.
    wizer.keep_init_func(true);
    let (context, instrumented) = wizer
        .instrument_component(&wasm)
        .map_err(|e| anyhow::anyhow!("instrumenting the guest: {e:?}"))?;
    let component = Component::new(&engine, &instrumented)
        .map_err(|e| anyhow::anyhow!("compiling the guest: {e:?}"))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Sandbox::add_to_linker::<_, HasSelf<NoTenant>>(&mut linker, |state: &mut State| {
        &mut state.imports
    })
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let instance = linker
        .instantiate_async(&mut store, &component)
        .await
        .map_err(|e| anyhow::anyhow!("instantiating the guest: {e:?}"))?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, "wizer-initialize")
        .map_err(|e| anyhow::anyhow!("the guest has no wizer-initialize export: {e:?}"))?;
    init.call_async(&mut store, ())
        .await
        .map_err(|e| anyhow::anyhow!("the guest's initializer failed: {e:?}"))?;
    let snapshot = wizer
        .snapshot_component(
            &context,
            &mut Snapshotted {
                store: &mut store,
                instance,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("snapshotting the guest: {e:?}"))?;

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

/// Lets Wizer read the initialized instance's state (the functions its instrumentation
/// added return memories and globals). Written here rather than taken from
/// `wasmtime-wizer`'s own `wasmtime` feature, which would build wasmtime a second time with
/// a different feature set than the host library's.
struct Snapshotted<'a> {
    store: &'a mut Store<State>,
    instance: Instance,
}

impl Snapshotted<'_> {
    async fn call<R: Lift + Send + Sync + 'static, R2>(
        &mut self,
        instance: &str,
        func: &str,
        use_result: impl FnOnce(&mut Store<State>, R) -> R2,
    ) -> R2 {
        let failed = |what: &str| -> ! { panic!("wizer: cannot {what} {instance}#{func}") };
        let (_, exported_instance) = self
            .instance
            .get_export(&mut *self.store, None, instance)
            .unwrap_or_else(|| failed("find"));
        let (_, exported_func) = self
            .instance
            .get_export(&mut *self.store, Some(&exported_instance), func)
            .unwrap_or_else(|| failed("find"));
        let typed = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *self.store, exported_func)
            .unwrap_or_else(|_| failed("type"));
        let (result,) = typed
            .call_async(&mut *self.store, ())
            .await
            .unwrap_or_else(|_| failed("call"));
        use_result(&mut *self.store, result)
    }
}

impl ComponentInstanceState for Snapshotted<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(&store))
        })
        .await
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, value| value).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, value| value).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, value: f32| value.to_bits())
            .await
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, value: f64| value.to_bits())
            .await
    }
}

/// The initializer's WASI: empty, with clocks and randomness that give the same answers on
/// every run. Without this the snapshot differs from build to build (QuickJS seeds its
/// own state from the clock when a context is created; Rust's hash maps ask for random
/// keys), and a committed guest could not be checked against a build from source.
///
/// A fixed seed at build time is harmless: the guest replaces `Math.random` with a
/// generator it reseeds from `wasi:random` at the start of every run
/// (`guest/src/apis/random.rs`), which happens in a fresh instance, after the snapshot.
fn deterministic_wasi() -> WasiCtx {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// 2024-01-01T00:00:00Z, advancing by a microsecond per reading.
    struct FixedWallClock(AtomicU64);
    impl wasmtime_wasi::HostWallClock for FixedWallClock {
        fn resolution(&self) -> Duration {
            Duration::from_micros(1)
        }
        fn now(&self) -> Duration {
            let readings = self.0.fetch_add(1, Ordering::Relaxed);
            Duration::from_secs(1_704_067_200) + Duration::from_micros(readings)
        }
    }
    /// Starts at 0, advancing by a microsecond per reading (never standing still, so a
    /// loop that waits for time to pass still ends).
    struct FixedMonotonicClock(AtomicU64);
    impl wasmtime_wasi::HostMonotonicClock for FixedMonotonicClock {
        fn resolution(&self) -> u64 {
            1_000
        }
        fn now(&self) -> u64 {
            self.0.fetch_add(1_000, Ordering::Relaxed)
        }
    }

    let seed: Vec<u8> = b"jsruntime-wizen".to_vec();
    WasiCtx::builder()
        .secure_random(wasmtime_wasi::Deterministic::new(seed.clone()))
        .insecure_random(wasmtime_wasi::Deterministic::new(seed))
        .insecure_random_seed(0x6a73_7275_6e74_696d_652d_7769_7a65_6e00)
        .wall_clock(FixedWallClock(AtomicU64::new(0)))
        .monotonic_clock(FixedMonotonicClock(AtomicU64::new(0)))
        .build()
}
