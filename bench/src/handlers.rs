//! Handlers and modules (`jsruntime-bench handlers`): a handler called with a 1 KiB
//! input against the trivial script, a graph of 20 cached modules against the same code
//! as one script, and a 100 KiB input against native QuickJS's `JSON.parse` of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use jsruntime::{Config, ExecRequest, MemoryModuleLoader, Runtime};

use jsruntime_wasm::bindings::jsruntime::sandbox::modules::{GraphBody, GraphModule};

use crate::native::NativeContext;
use crate::raw_engine::{RawEngine, RawOptions};
use crate::stats::Summary;

/// Samples per measurement (after a fifth as many to warm up).
const SAMPLES: usize = 2000;
/// The turns [`measure`] takes its samples in.
pub const ROUNDS: usize = 10;
/// Modules in the graph.
pub const GRAPH_MODULES: usize = 20;

/// What section 9 measured.
#[derive(Debug, Clone)]
pub struct Handlers {
    /// `1+1` as a script, no input.
    pub trivial: Summary,
    /// A handler module called with a 1 KiB input.
    pub handler_1k: Summary,
    /// A handler importing [`GRAPH_MODULES`] cached modules.
    pub graph: Summary,
    /// The same code as one script.
    pub graph_as_script: Summary,
    /// A handler called with a 100 KiB input.
    pub input_100k: Summary,
    /// Native QuickJS's `JSON.parse` of the same 100 KiB.
    pub native_parse_100k: Summary,
    /// Bytes of the two inputs.
    pub input_sizes: (usize, usize),
}

impl Handlers {
    /// The three figures: (what, its timings, what it is compared with, those timings,
    /// the target ratio of their p50s).
    pub fn figures(&self) -> [(&'static str, &Summary, &'static str, &Summary, f64); 3] {
        [
            (
                "handler called with a 1 KiB JSON input",
                &self.handler_1k,
                "trivial script `1+1`",
                &self.trivial,
                1.3,
            ),
            (
                "handler importing a graph of 20 cached modules",
                &self.graph,
                "the same code as one script",
                &self.graph_as_script,
                1.5,
            ),
            (
                "handler called with a 100 KiB JSON input",
                &self.input_100k,
                "native QuickJS `JSON.parse` of it",
                &self.native_parse_100k,
                2.0,
            ),
        ]
    }
}

/// An input of about `bytes` bytes of JSON: a cart of items.
fn cart_json(bytes: usize) -> String {
    let mut items = Vec::new();
    let mut len = 0;
    let mut i = 0;
    while len < bytes {
        let item = format!(
            r#"{{"sku":"SKU-{i:06}","price":{}.{:02},"qty":{}}}"#,
            i % 97,
            i % 100,
            i % 7 + 1
        );
        len += item.len() + 1;
        items.push(item);
        i += 1;
    }
    format!(r#"{{"region":"EU","items":[{}]}}"#, items.join(","))
}

/// The code and inputs of the three measurements, and the runtime that runs them.
pub struct Setup {
    /// A current-thread tokio runtime (the measurements run on one thread).
    pub tokio: tokio::runtime::Runtime,
    /// The library, with a loader holding the graph's modules.
    pub runtime: Runtime,
    /// The handler called with the inputs.
    pub handler: &'static str,
    /// The graph's entry module.
    pub graph_entry: String,
    /// The graph's imported modules: (name, source).
    pub graph_modules: Vec<(String, String)>,
    /// The same code as one script.
    pub graph_script: String,
    /// About 1 KiB of JSON.
    pub small: String,
    /// About 100 KiB of JSON.
    pub large: String,
}

impl Setup {
    /// Builds the runtime (`Config::default()`, a [`MemoryModuleLoader`]) and the code.
    pub fn new() -> Result<Setup> {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let loader = Arc::new(MemoryModuleLoader::new());
        let mut graph_imports = String::new();
        let mut graph_script = String::new();
        let mut graph_modules = Vec::new();
        let mut sum = Vec::new();
        for i in 0..GRAPH_MODULES {
            let name = format!("lib/m{i}.js");
            let source = format!("export function f{i}(x) {{ return x + {i}; }}");
            loader.insert_shared(name.clone(), source.clone());
            graph_modules.push((name, source));
            graph_imports.push_str(&format!("import {{ f{i} }} from './lib/m{i}.js';\n"));
            graph_script.push_str(&format!("function f{i}(x) {{ return x + {i}; }}\n"));
            sum.push(format!("f{i}(1)"));
        }
        let sum = sum.join(" + ");
        let runtime = {
            let _guard = tokio.enter();
            Runtime::builder()
                .config(Config::default())
                .module_loader(loader)
                .build()?
        };
        Ok(Setup {
            tokio,
            runtime,
            handler: "export default (cart) => cart.items.length;",
            graph_entry: format!("{graph_imports}export default () => {sum};"),
            graph_modules,
            graph_script: format!("{graph_script}{sum}"),
            small: cart_json(1024),
            large: cart_json(100 * 1024),
        })
    }

    /// The trivial request, `1+1`.
    pub fn trivial(&self) -> ExecRequest {
        ExecRequest::source("1+1")
    }

    /// The handler with the 1 KiB input.
    pub fn handler_1k(&self) -> ExecRequest {
        ExecRequest::module(self.handler).input_json(self.small.as_str())
    }

    /// The graph's entry module.
    pub fn graph(&self) -> ExecRequest {
        ExecRequest::module(self.graph_entry.as_str())
    }

    /// The graph's code as one script.
    pub fn graph_as_script(&self) -> ExecRequest {
        ExecRequest::source(self.graph_script.as_str())
    }

    /// The handler with the 100 KiB input.
    pub fn input_100k(&self) -> ExecRequest {
        ExecRequest::module(self.handler).input_json(self.large.as_str())
    }
}

/// Runs section 9 on `setup`.
///
/// The six measurements are taken in turns, [`SAMPLES`] / [`ROUNDS`] of each per round,
/// after a fifth of [`SAMPLES`] of each to warm up: a stretch of minutes in which the
/// machine runs slower (a neighbour on the core's other hardware thread shows as no
/// steal time) then slows both sides of each ratio alike, where one measurement after
/// another let it fall on one side only (the full run of 2026-12-04 22:21 had every row
/// of this section 1.5-2x slower than the same binary's section alone).
pub fn measure(setup: &Setup) -> Result<Handlers> {
    let (runtime, tokio) = (&setup.runtime, &setup.tokio);
    let requests = [
        setup.trivial(),
        setup.handler_1k(),
        setup.graph(),
        setup.graph_as_script(),
        setup.input_100k(),
    ];
    let native = NativeContext::new()?;
    let mut times: [Vec<Duration>; 6] = Default::default();
    tokio.block_on(async {
        for request in &requests {
            for _ in 0..SAMPLES / 5 {
                runtime.execute(request).await?;
            }
        }
        for _ in 0..SAMPLES / 5 {
            parse_once(&native, &setup.large)?;
        }
        for _ in 0..ROUNDS {
            for (request, times) in requests.iter().zip(&mut times) {
                for _ in 0..SAMPLES / ROUNDS {
                    let started = Instant::now();
                    runtime.execute(request).await?;
                    times.push(started.elapsed());
                }
            }
            for _ in 0..SAMPLES / ROUNDS {
                times[5].push(parse_once(&native, &setup.large)?);
            }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let [trivial, handler_1k, graph, graph_as_script, input_100k, native_parse_100k] =
        times.map(Summary::of);
    Ok(Handlers {
        trivial,
        handler_1k,
        graph,
        graph_as_script,
        input_100k,
        native_parse_100k,
        input_sizes: (setup.small.len(), setup.large.len()),
    })
}

/// One native `JSON.parse` of `json` in `native`'s warm context: how long it took (the
/// parsed value is freed after the clock stops).
fn parse_once(native: &NativeContext, json: &str) -> Result<Duration> {
    native.with_ctx(|ctx| {
        let started = Instant::now();
        let parsed = ctx.json_parse(json.as_bytes());
        let took = started.elapsed();
        parsed
            .map(|_| took)
            .map_err(|e| anyhow!("JSON.parse natively: {e}"))
    })
}

/// Native QuickJS's `JSON.parse` of `json` in a warm context, `samples` times (after a
/// fifth as many to warm up).
pub fn native_parse(json: &str, samples: usize) -> Result<Summary> {
    let native = NativeContext::new()?;
    let mut times = Vec::with_capacity(samples);
    for round in 0..(samples + samples / 5) {
        let took = parse_once(&native, json)?;
        if round >= samples / 5 {
            times.push(took);
        }
    }
    Ok(Summary::of(times))
}

/// The guest's side of the same measurements: the raw engine (library settings, stub
/// imports, no pipeline) running what the library hands the guest. The library's figure
/// less this one is the host's share.
#[derive(Debug, Clone)]
pub struct RawSplit {
    /// `run` of `1+1`'s bytecode.
    pub trivial: Summary,
    /// `run-module` of the handler with the 1 KiB input.
    pub handler_1k: Summary,
    /// `run` of `input` (a script) with the 1 KiB input: the input without the module.
    pub script_1k: Summary,
    /// `run-module` of the graph (21 modules' bytecode, linked).
    pub graph: Summary,
    /// `run` of the graph's code as one script.
    pub graph_as_script: Summary,
    /// `run-module` of the handler with the 100 KiB input.
    pub input_100k: Summary,
    /// Building the handler's request with the 1 KiB input (`ExecRequest::input_json`
    /// reads it into its tape, natively, once per request).
    pub request_1k: Summary,
    /// The same with the 100 KiB input.
    pub request_100k: Summary,
}

/// What the raw engine runs for [`RawSplit`]: the guest's inputs, compiled once.
pub struct RawRuns {
    engine: RawEngine,
    handler: Vec<GraphModule>,
    graph: Vec<GraphModule>,
    trivial: Vec<u8>,
    input_script: Vec<u8>,
    graph_script: Vec<u8>,
    /// The tapes of the inputs (`jsruntime_wasm::input`), read once as the library reads
    /// a request's input once, where the request is built.
    small: Vec<u8>,
    large: Vec<u8>,
}

impl RawRuns {
    /// Compiles the code of `setup` on a raw engine (library settings).
    pub fn new(setup: &Setup) -> Result<RawRuns> {
        let engine = RawEngine::new(RawOptions::library(2))?;
        let tokio = &setup.tokio;
        let module = |name: &str, source: &str, links: Vec<u32>| -> Result<GraphModule> {
            let compiled = tokio.block_on(engine.compile_module(name, source))?;
            Ok(GraphModule {
                body: GraphBody::Bytecode(compiled.bytecode),
                links,
            })
        };
        let handler = vec![module("main.js", setup.handler, Vec::new())?];
        // The entry first, each import linked to its module by position, as the library
        // hands it over.
        let links = (1..=setup.graph_modules.len() as u32).collect();
        let mut graph = vec![module("main.js", &setup.graph_entry, links)?];
        for (name, source) in &setup.graph_modules {
            graph.push(module(name, source, Vec::new())?);
        }
        let trivial = tokio.block_on(engine.compile("trivial.js", "1+1"))?;
        let input_script = tokio.block_on(engine.compile("input.js", "input.items.length"))?;
        let graph_script = tokio.block_on(engine.compile("graph.js", &setup.graph_script))?;
        let tape = |json: &str| {
            jsruntime_wasm::input::encode(json, jsruntime::MAX_JSON_DEPTH)
                .map_err(|error| anyhow!("reading the input: {error}"))
        };
        Ok(RawRuns {
            engine,
            handler,
            graph,
            trivial,
            input_script,
            graph_script,
            small: tape(&setup.small)?,
            large: tape(&setup.large)?,
        })
    }

    /// Runs one of them: `trivial`, `1k`, `script-1k`, `graph`, `graph-script`, `100k`.
    pub fn run(&self, setup: &Setup, kind: &str) -> Result<String> {
        let engine = &self.engine;
        setup.tokio.block_on(async {
            match self.program(kind)? {
                Program::Script(bytecode, input) => {
                    engine.execute_with_input(bytecode, input).await
                }
                Program::Module(graph, input) => {
                    engine.execute_module("main.js", graph, input).await
                }
            }
        })
    }

    /// The fuel (wasm operators executed, instantiation included) one run of `kind`
    /// uses: the guest's work, which the machine's load does not move, for A/B
    /// comparisons of guest builds (`JSRUNTIME_BENCH_GUEST`). Kinds as for [`RawRuns::run`].
    pub fn fuel(&self, setup: &Setup, kind: &str) -> Result<u64> {
        let engine = &self.engine;
        let fuel = setup.tokio.block_on(async {
            match self.program(kind)? {
                Program::Script(bytecode, input) => {
                    engine.execute_with_input_fuel(bytecode, input).await
                }
                Program::Module(graph, input) => {
                    engine.execute_module_fuel("main.js", graph, input).await
                }
            }
        })?;
        fuel.ok_or_else(|| anyhow!("the raw engine runs without fuel"))
    }

    /// What a run of `kind` runs.
    fn program(&self, kind: &str) -> Result<Program<'_>> {
        let small = Some(self.small.as_slice());
        let large = Some(self.large.as_slice());
        Ok(match kind {
            "trivial" => Program::Script(&self.trivial, None),
            "1k" => Program::Module(&self.handler, small),
            "script-1k" => Program::Script(&self.input_script, small),
            "graph" => Program::Module(&self.graph, None),
            "graph-script" => Program::Script(&self.graph_script, None),
            "100k" => Program::Module(&self.handler, large),
            other => return Err(anyhow!("unknown raw run {other}")),
        })
    }
}

/// What one of [`RawRuns`]' runs is: a script's bytecode or a module graph (its entry
/// `main.js` first), with its input.
enum Program<'a> {
    Script(&'a [u8], Option<&'a [u8]>),
    Module(&'a [GraphModule], Option<&'a [u8]>),
}

/// Measures [`RawSplit`].
pub fn measure_raw(setup: &Setup, samples: usize) -> Result<RawSplit> {
    let runs = RawRuns::new(setup)?;
    let timed = |kind: &str| -> Result<Summary> {
        let mut times = Vec::with_capacity(samples);
        for round in 0..(samples + samples / 5) {
            let started = Instant::now();
            runs.run(setup, kind)?;
            if round >= samples / 5 {
                times.push(started.elapsed());
            }
        }
        Ok(Summary::of(times))
    };
    let built = |json: &str| {
        let mut times = Vec::with_capacity(samples);
        for round in 0..(samples + samples / 5) {
            let started = Instant::now();
            let request = ExecRequest::module(setup.handler).input_json(json);
            let took = started.elapsed();
            std::hint::black_box(request);
            if round >= samples / 5 {
                times.push(took);
            }
        }
        Summary::of(times)
    };
    Ok(RawSplit {
        request_1k: built(&setup.small),
        request_100k: built(&setup.large),
        trivial: timed("trivial")?,
        handler_1k: timed("1k")?,
        script_1k: timed("script-1k")?,
        graph: timed("graph")?,
        graph_as_script: timed("graph-script")?,
        input_100k: timed("100k")?,
    })
}

/// Ratio of two medians.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}
