//! Handlers and modules (`jsruntime-bench handlers`): a handler called with a 1 KiB
//! input against the trivial script, a graph of 20 cached modules against the same code
//! as one script, and a 100 KiB input against native QuickJS's `JSON.parse` of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use jsruntime::{Config, ExecRequest, MemoryModuleLoader, Runtime};

use crate::native::NativeContext;
use crate::stats::Summary;

/// Samples per measurement (after a fifth as many to warm up).
const SAMPLES: usize = 2000;
/// Modules in the graph.
pub const GRAPH_MODULES: usize = 20;

/// What section 9 measured.
#[derive(Debug)]
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

fn time(
    runtime: &Runtime,
    tokio: &tokio::runtime::Runtime,
    request: &ExecRequest,
) -> Result<Summary> {
    tokio.block_on(async {
        for _ in 0..SAMPLES / 5 {
            runtime.execute(request).await?;
        }
        let mut samples = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let started = Instant::now();
            runtime.execute(request).await?;
            samples.push(started.elapsed());
        }
        Ok::<_, anyhow::Error>(Summary::of(samples))
    })
}

/// Runs section 9.
pub fn measure() -> Result<Handlers> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let loader = Arc::new(MemoryModuleLoader::new());
    let mut graph_imports = String::new();
    let mut graph_script = String::new();
    let mut sum = Vec::new();
    for i in 0..GRAPH_MODULES {
        loader.insert_shared(
            format!("lib/m{i}.js"),
            format!("export function f{i}(x) {{ return x + {i}; }}"),
        );
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
    let small = cart_json(1024);
    let large = cart_json(100 * 1024);
    let handler = "export default (cart) => cart.items.length;";
    let trivial = time(&runtime, &tokio, &ExecRequest::source("1+1"))?;
    let handler_1k = time(
        &runtime,
        &tokio,
        &ExecRequest::module(handler).input_json(small.as_str()),
    )?;
    let graph = time(
        &runtime,
        &tokio,
        &ExecRequest::module(format!("{graph_imports}export default () => {sum};")),
    )?;
    let graph_as_script = time(
        &runtime,
        &tokio,
        &ExecRequest::source(format!("{graph_script}{sum}")),
    )?;
    let input_100k = time(
        &runtime,
        &tokio,
        &ExecRequest::module(handler).input_json(large.as_str()),
    )?;
    let native = NativeContext::new()?;
    let mut samples = Vec::with_capacity(SAMPLES);
    for round in 0..(SAMPLES + SAMPLES / 5) {
        let took = native.with_ctx(|ctx| {
            let started = Instant::now();
            let parsed = ctx.json_parse(large.as_bytes());
            let took = started.elapsed();
            parsed
                .map(|_| took)
                .map_err(|e| anyhow!("JSON.parse natively: {e}"))
        })?;
        if round >= SAMPLES / 5 {
            samples.push(took);
        }
    }
    Ok(Handlers {
        trivial,
        handler_1k,
        graph,
        graph_as_script,
        input_100k,
        native_parse_100k: Summary::of(samples),
        input_sizes: (small.len(), large.len()),
    })
}

/// Ratio of two medians.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}
