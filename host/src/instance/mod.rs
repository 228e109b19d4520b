//! One instance of the guest: the per-execution side of the sandbox, behind one boundary.
//!
//! An [`Instance`] is created fresh (from the `InstancePre`, through the pooling
//! allocator), serves exactly one execution and is then destroyed. What it offers is
//! the order an execution goes through: [`prepare`](Instance::prepare) (the context,
//! limits, fuel and deadline), [`compile`](Instance::compile) and/or
//! [`run`](Instance::run), and [`finish`](Instance::finish) (logs and usage). Nothing
//! outside this module reaches into the store.

pub(crate) mod crypto;
mod imports;
mod pages;
mod state;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use jsruntime_wasm::bindings::exports::jsruntime::sandbox::engine::RunLimits;
use jsruntime_wasm::bindings::jsruntime::sandbox::modules as wit_modules;
use jsruntime_wasm::bindings::{Sandbox, SandboxIndices, SandboxPre};
use tokio_util::sync::CancellationToken;
use wasmtime::component::ComponentExportIndex;
use wasmtime::Store;

use crate::cache::{Compiled, Import};
use crate::error::ExecError;
use crate::failure;
use crate::host_fn::HostFns;
use crate::module_graph::ModuleSession;
use crate::modules::ModuleKind;
use crate::outcome::LogRecord;
use crate::prepared::GraphImage;

use pages::GuestMemory;
pub(crate) use state::{Assignment, ExecState, StopCheck};

/// Fuel between yields: a script burns at most this much on the caller's task before
/// it yields and moves to a guest thread (see `offload`), about 150 µs of work, so a
/// burst of executions delays the caller's other tasks by little more than their
/// setup. (wasmtime cannot change the interval while the guest runs, so later slices
/// yield as often; a yield costs about a microsecond.)
///
/// It is also the granularity of timeouts and cancellation: the deadline, the caller's
/// token and shutdown are checked at every yield (see [`guest_call`]). Fuel is consumed
/// by every instruction of guest code, so a guest that runs yields within this much of
/// its work, whatever it runs; what consumes no fuel is a single instruction's own work
/// (a `memory.fill` or `memory.copy`, bounded by the memory cap) and the host's imports,
/// which end their own waits at the deadline. That replaced wasmtime's epoch
/// interruption, whose checks at every function entry and loop back-edge cost the guest
/// 10-30% of its speed (bench/FINDINGS.md, issue 14).
const INLINE_SLICE_FUEL: u64 = 2_000_000;

/// Fuel for instantiation, which runs no script; the execution's budget is set when it
/// is prepared.
const INSTANTIATION_FUEL: u64 = 1_000_000_000;

/// What an execution used, read when it finishes.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    /// The `console.*` records it kept (plus the note on dropped ones).
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) fuel_used: u64,
    /// Peak linear memory.
    pub(crate) memory_bytes: u64,
    pub(crate) host_calls: u32,
}

/// What every instance is made from: the pre-linked guest, the indices of its exports.
#[derive(Clone)]
pub(crate) struct Template {
    pre: SandboxPre<ExecState>,
    indices: SandboxIndices,
    /// `engine.locate-memory`, called on every new instance (see `pages`).
    locate_memory: ComponentExportIndex,
}

impl Template {
    /// Checks that the guest has every export the host calls.
    pub(crate) fn new(pre: SandboxPre<ExecState>) -> wasmtime::Result<Template> {
        let indices = SandboxIndices::new(pre.instance_pre())?;
        let component = pre.instance_pre().component();
        let locate_memory = component
            .get_export_index(None, "jsruntime:sandbox/engine@0.1.0")
            .and_then(|engine| component.get_export_index(Some(&engine), "locate-memory"))
            .ok_or_else(|| wasmtime::format_err!("the guest exports no engine.locate-memory"))?;
        Ok(Template {
            pre,
            indices,
            locate_memory,
        })
    }

    /// Linear memory the pooling allocator keeps resident in slots no instance holds.
    pub(crate) fn idle_resident_bytes(&self) -> u64 {
        self.pre
            .engine()
            .pooling_allocator_metrics()
            .map_or(0, |metrics| metrics.unused_memory_bytes_resident() as u64)
    }
}

/// A fresh or prepared instance. Dropping it destroys it (and counts that).
pub(crate) struct Instance {
    store: Store<ExecState>,
    bindings: Sandbox,
    /// Where its linear memory is: for a prepared graph's image (`prepared`), and to
    /// discard a large execution's pages before the slot's reset (`pages`).
    memory: Option<GuestMemory>,
    /// Linear memory right after instantiation: the snapshot's.
    initial_memory_bytes: usize,
    /// Unique per instance over the runtime's life.
    id: u64,
    created: Instant,
    destroyed: Arc<AtomicU64>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(memory) = self.memory {
            let fuel_left = self.store.get_fuel().unwrap_or(0);
            let state = self.store.data();
            // SAFETY: the store is alive until this drop returns and no guest code runs
            // in it again (an instance serves one execution, and this is its end); nothing
            // borrows its memory, as `&mut self` shows.
            unsafe {
                memory.discard_if_large(
                    self.initial_memory_bytes,
                    state.limiter.peak_bytes,
                    state.limits.fuel.saturating_sub(fuel_left),
                );
            }
        }
        self.destroyed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Instance {
    /// Instantiates the guest. `destroyed` counts this instance when it is dropped.
    pub(crate) async fn new(
        template: &Template,
        host_fns: Arc<HostFns>,
        shutdown: CancellationToken,
        id: u64,
        destroyed: Arc<AtomicU64>,
    ) -> wasmtime::Result<Instance> {
        let pre = &template.pre;
        let mut store = Store::new(pre.engine(), ExecState::idle(host_fns, shutdown));
        store.limiter(|state| &mut state.limiter);
        // Instantiation runs no script (the guest is pre-initialized): its fuel bounds it.
        store.set_fuel(INSTANTIATION_FUEL)?;
        let instance = pre.instance_pre().instantiate_async(&mut store).await?;
        let bindings = template.indices.load(&mut store, &instance)?;
        let memory = GuestMemory::locate(&mut store, &instance, &template.locate_memory).await;
        let initial_memory_bytes = store.data().limiter.peak_bytes;
        Ok(Instance {
            store,
            bindings,
            memory,
            initial_memory_bytes,
            id,
            created: Instant::now(),
            destroyed,
        })
    }

    /// Unique per instance over the runtime's life.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// When it was instantiated.
    pub(crate) fn created(&self) -> Instant {
        self.created
    }

    /// Linear memory right after instantiation (the snapshot's), whatever ran since.
    pub(crate) fn initial_memory_bytes(&self) -> u64 {
        self.initial_memory_bytes as u64
    }

    /// Gives the instance its execution: context, limits, deadline, fuel budget.
    pub(crate) fn prepare(&mut self, assignment: Assignment) -> Result<(), ExecError> {
        let fuel = assignment.limits.fuel;
        self.store.data_mut().assign(assignment);
        let store = &mut self.store;
        store
            .set_fuel(fuel)
            .and_then(|()| store.fuel_async_yield_interval(Some(INLINE_SLICE_FUEL)))
            .map_err(|e| ExecError::Internal(format!("setting fuel: {e:#}")))?;
        Ok(())
    }

    /// Compiles `source` to bytecode inside the guest (the parser runs sandboxed too).
    pub(crate) async fn compile(
        &mut self,
        name: &str,
        source: &str,
    ) -> Result<Arc<[u8]>, ExecError> {
        self.fresh_slice();
        let check = self.store.data().stop_check();
        let api = self.bindings.jsruntime_sandbox_engine();
        let result = guest_call(check, api.call_compile(&mut self.store, name, source)).await;
        let bytecode = self.classify(result)?;
        Ok(Arc::from(bytecode))
    }

    /// Compiles an ES module inside the guest; its imports are listed, not loaded.
    pub(crate) async fn compile_module(
        &mut self,
        name: &str,
        source: &str,
    ) -> Result<Compiled, ExecError> {
        self.fresh_slice();
        let check = self.store.data().stop_check();
        let api = self.bindings.jsruntime_sandbox_engine();
        let call = api.call_compile_module(&mut self.store, name, source);
        let result = guest_call(check, call).await;
        let compiled = self.classify(result)?;
        Ok(Compiled {
            bytecode: Arc::from(compiled.bytecode),
            imports: compiled
                .imports
                .into_iter()
                .map(|import| Import {
                    specifier: import.specifier,
                    kind: module_kind(import.kind),
                })
                .collect(),
        })
    }

    /// Runs bytecode that this guest build compiled, with `input` (its tape,
    /// `jsruntime_wasm::input`) as the global `input`, and returns the result as JSON
    /// text.
    pub(crate) async fn run(
        &mut self,
        name: &str,
        bytecode: &[u8],
        input: Option<&[u8]>,
        guest_limits: RunLimits,
    ) -> Result<String, ExecError> {
        self.fresh_slice();
        let check = self.store.data().stop_check();
        let api = self.bindings.jsruntime_sandbox_engine();
        let call = api.call_run(&mut self.store, name, bytecode, input, guest_limits);
        let result = guest_call(check, call).await;
        self.classify(result)
    }

    /// Runs the module `entry`, the first of `graph` (its import graph, linked by
    /// position), as a handler: its export `export` (or `default`) is called with
    /// `input`; returns the result as JSON text.
    pub(crate) async fn run_module(
        &mut self,
        entry: &str,
        graph: &[wit_modules::GraphModule],
        export: Option<&str>,
        input: Option<&[u8]>,
        guest_limits: RunLimits,
    ) -> Result<String, ExecError> {
        self.fresh_slice();
        let check = self.store.data().stop_check();
        let api = self.bindings.jsruntime_sandbox_engine();
        let call = api.call_run_module(&mut self.store, entry, graph, export, input, guest_limits);
        let result = guest_call(check, call).await;
        self.classify(result)
    }

    /// Reads the static import graph `graph` (entry `entry`) into this instance and
    /// instantiates it, running none of its code (`engine.prepare-graph`); returns the
    /// fuel that took (charged to the execution, as all its guest calls are).
    pub(crate) async fn prepare_graph(
        &mut self,
        entry: &str,
        graph: &[wit_modules::GraphModule],
    ) -> Result<u64, ExecError> {
        self.fresh_slice();
        let before = self.store.get_fuel().unwrap_or(0);
        let check = self.store.data().stop_check();
        let api = self.bindings.jsruntime_sandbox_engine();
        let call = api.call_prepare_graph(&mut self.store, entry, graph);
        let result = guest_call(check, call).await;
        self.classify(result)?;
        Ok(before.saturating_sub(self.store.get_fuel().unwrap_or(0)))
    }

    /// Calls `f` with the instance's linear memory as it is now; `None` if the instance
    /// does not know where its memory is.
    pub(crate) fn with_memory<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let memory = self.memory?;
        let len = self.store.data().limiter.peak_bytes;
        // SAFETY: the store is alive (borrowed from `self`), its memory is `len` bytes
        // (memory only grows, and the limiter saw every growth), and no guest code runs
        // while `self` is borrowed: a guest call needs `&mut self`.
        Some(f(unsafe { memory.bytes(len) }))
    }

    /// Puts a prepared graph's memory image (`prepared`) into this fresh instance, which
    /// then holds the graph as `engine.prepare-graph` would have left it, and charges the
    /// execution the fuel the preparation used. `Ok(false)` if it cannot: the instance
    /// does not know where its memory is, or the fuel left or the memory limit does not
    /// allow it (the execution then runs the graph unprepared, as it would have). Checked
    /// before anything changes, so the memory limiter never refuses a growth here.
    pub(crate) async fn apply_image(&mut self, image: &GraphImage) -> Result<bool, ExecError> {
        let Some(memory) = self.memory else {
            return Ok(false);
        };
        let fuel = self.store.get_fuel().unwrap_or(0);
        let memory_limit = self.store.data().limits.memory_bytes;
        if fuel < image.fuel_used() || image.memory_bytes() as u64 > memory_limit {
            return Ok(false);
        }
        if image.memory_bytes() > self.store.data().limiter.peak_bytes {
            let check = self.store.data().stop_check();
            let api = self.bindings.jsruntime_sandbox_engine();
            let call = api.call_grow_memory(&mut self.store, image.memory_bytes() as u64);
            let grown = guest_call(check, call).await;
            let grown = self.classify(grown.map(Ok::<bool, failure::GuestFailure>))?;
            if !grown || image.memory_bytes() > self.store.data().limiter.peak_bytes {
                return Ok(false);
            }
        }
        for (offset, bytes) in image.runs() {
            // SAFETY: the store is alive (`&mut self`), the image's runs lie within its
            // `memory_bytes`, which the memory now has, no guest code runs, and nothing
            // holds a reference into the memory (`with_memory` lends it only for a call).
            unsafe { memory.write(offset, bytes) };
        }
        self.store
            .set_fuel(fuel - image.fuel_used())
            .map_err(|e| ExecError::Internal(format!("setting fuel: {e:#}")))?;
        Ok(true)
    }

    /// Runs the graph [`prepare_graph`](Self::prepare_graph) prepared, as
    /// [`run_module`](Self::run_module) runs a graph it is handed.
    pub(crate) async fn run_prepared(
        &mut self,
        entry: &str,
        export: Option<&str>,
        input: Option<&[u8]>,
        guest_limits: RunLimits,
    ) -> Result<String, ExecError> {
        self.fresh_slice();
        let check = self.store.data().stop_check();
        let api = self.bindings.jsruntime_sandbox_engine();
        let call = api.call_run_prepared(&mut self.store, entry, export, input, guest_limits);
        let result = guest_call(check, call).await;
        self.classify(result)
    }

    /// Starts the guest call about to be made on a whole fuel slice of its own: the fuel
    /// an earlier call of this execution left in its slice (compiling before running)
    /// does not count against it. Otherwise that call's remainder makes the new one yield
    /// early, and a yield moves the execution to a guest thread (see `offload`), which
    /// costs a hand-off and a cross-thread round trip per host call for an execution that
    /// would have finished inline. (`set_fuel` refills the slice from the budget; the
    /// budget itself is unchanged.)
    fn fresh_slice(&mut self) {
        if let Ok(fuel) = self.store.get_fuel() {
            // Cannot fail: fuel is on and the amount is what the store holds.
            let _ = self.store.set_fuel(fuel);
        }
    }

    /// Gives the instance the execution's modules, for the dynamic imports of its run.
    pub(crate) fn set_modules(&mut self, session: ModuleSession) {
        self.store.data_mut().modules = Some(session);
    }

    /// What the execution used, and its logs (taken: a second call finds none).
    pub(crate) fn finish(&mut self) -> Usage {
        let fuel_left = self.store.get_fuel().unwrap_or(0);
        let state = self.store.data_mut();
        Usage {
            logs: state.take_logs(),
            fuel_used: state.limits.fuel.saturating_sub(fuel_left),
            memory_bytes: state.limiter.peak_bytes as u64,
            host_calls: state.host_calls,
        }
    }

    fn classify<T>(
        &self,
        result: wasmtime::Result<Result<T, failure::GuestFailure>>,
    ) -> Result<T, ExecError> {
        let state = self.store.data();
        result
            .map_err(|error| failure::from_trap(error, state.limiter.refused, &state.limits))?
            .map_err(|failure| failure::from_failure(failure, &state.limits))
    }
}

/// Drives one guest call, and ends it at its first yield after the execution must stop
/// (deadline, cancellation, shutdown): `check` is looked at every time the call's future
/// is polled, which is at its start, at each fuel yield ([`INLINE_SLICE_FUEL`]) and each
/// time a host import it waits on wakes it. Ending it drops wasmtime's future, which
/// unwinds the guest's fiber; the instance is never called again (it serves one
/// execution), and its store stays readable for the logs and usage.
async fn guest_call<T>(
    check: StopCheck,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    let mut call = std::pin::pin!(call);
    std::future::poll_fn(|cx| match check.interrupt() {
        Some(interrupt) => Poll::Ready(Err(wasmtime::Error::new(interrupt))),
        None => call.as_mut().poll(cx),
    })
    .await
}

/// The host's name of a WIT module kind.
pub(crate) fn module_kind(kind: wit_modules::ModuleKind) -> ModuleKind {
    match kind {
        wit_modules::ModuleKind::Javascript => ModuleKind::JavaScript,
        wit_modules::ModuleKind::Json => ModuleKind::Json,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::host_calls::HostCaller;
    use crate::limits::Limits;
    use crate::wasm::WasmEngine;
    use crate::ExecContext;

    /// The smallest host page: what the slot's reset copies back.
    const PAGE_BYTES: usize = 4096;

    async fn fresh(template: &Template) -> Instance {
        let mut instance = Instance::new(
            template,
            Arc::new(HostFns::default()),
            CancellationToken::new(),
            1,
            Arc::new(AtomicU64::new(0)),
        )
        .await
        .expect("instantiating the guest");
        instance
            .prepare(Assignment {
                context: Arc::new(ExecContext::default()),
                limits: Limits::default(),
                deadline: Instant::now() + Duration::from_secs(60),
                cancel: None,
                host_caller: HostCaller::detached(),
                deterministic: None,
            })
            .expect("assigning an execution");
        instance
    }

    fn guest_limits() -> RunLimits {
        RunLimits {
            heap_bytes: 64 << 20,
            stack_bytes: Limits::default().stack_bytes,
            output_bytes: 1 << 20,
        }
    }

    /// The pages of `instance`'s memory that differ from `before`, in order, each once
    /// (`GraphImage::capture` finds the changed lines; a page may hold several).
    fn written_pages(instance: &Instance, before: &[u8]) -> Vec<usize> {
        let image = instance
            .with_memory(|now| GraphImage::capture(before, now, 0))
            .expect("the guest's memory is located");
        let pages: std::collections::BTreeSet<usize> = image
            .runs()
            .flat_map(|(offset, bytes)| {
                (offset / PAGE_BYTES)..(offset + bytes.len()).div_ceil(PAGE_BYTES)
            })
            .collect();
        pages.into_iter().collect()
    }

    /// Every page an execution writes is copied back when its slot is reset, so what a
    /// short one writes is most of what it costs past instantiation. The guest's heap is
    /// laid out for that (guest/src/heap.rs): without it, `1+1` wrote 15 pages and the
    /// handler 35, its allocations scattered over the holes of the snapshot's heap.
    #[tokio::test(flavor = "current_thread")]
    async fn a_short_execution_writes_few_pages() {
        let engine = WasmEngine::new(2, None).expect("the engine");
        let template = &engine.template;
        let trivial = {
            let mut compiler = fresh(template).await;
            compiler.compile("t.js", "1+1").await.expect("compiling")
        };
        let handler = {
            let mut compiler = fresh(template).await;
            let source = "export default (cart) => cart.items.length;";
            compiler
                .compile_module("h.js", source)
                .await
                .expect("compiling")
        };
        let items: Vec<String> = (0..24)
            .map(|i| {
                format!(
                    r#"{{"sku":"SKU-{i:06}","price":{i}.25,"qty":{}}}"#,
                    i % 7 + 1
                )
            })
            .collect();
        let cart = format!(r#"{{"region":"EU","items":[{}]}}"#, items.join(","));
        let tape = jsruntime_wasm::input::encode(&cart, crate::MAX_JSON_DEPTH).expect("a tape");

        let mut instance = fresh(template).await;
        let before = instance.with_memory(<[u8]>::to_vec).expect("memory");
        let result = instance.run("t.js", &trivial, None, guest_limits()).await;
        assert_eq!(result.expect("1+1 runs"), "2");
        let trivial_pages = written_pages(&instance, &before);

        let mut instance = fresh(template).await;
        let before = instance.with_memory(<[u8]>::to_vec).expect("memory");
        let graph = [wit_modules::GraphModule {
            body: wit_modules::GraphBody::Bytecode(handler.bytecode.to_vec()),
            links: Vec::new(),
        }];
        let result = instance
            .run_module("h.js", &graph, None, Some(&tape), guest_limits())
            .await;
        assert_eq!(result.expect("the handler runs"), "24");
        let handler_pages = written_pages(&instance, &before);

        println!("1+1 wrote pages {trivial_pages:?}; the handler {handler_pages:?}");
        assert!(trivial_pages.len() <= 12, "1+1 wrote {trivial_pages:?}");
        assert!(
            handler_pages.len() <= 24,
            "the handler wrote {handler_pages:?}"
        );
    }
}
