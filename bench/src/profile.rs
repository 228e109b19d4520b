//! `jsruntime-bench profile VARIANT N`: runs one kind of execution N times in a loop
//! and prints its median, so a profiler (perf, callgrind) can be attached to exactly
//! that work. Not part of the report.
//!
//! Usage: `jsruntime-bench profile VARIANT N [MAX_CONCURRENCY]`. Variants: `source`
//! (the trivial request of section 1), `script` (compiled `1+1`),
//! `context` (a script reading `context`), `result` (a script returning a 1000-element
//! array), `discarded` (the same array, returning `null`), `raw` (`1+1` on the raw
//! engine with the library's settings; also prints the phase medians), `raw-no-pagemap` (the same without `pagemap_scan`),
//! `throughput-1` and `throughput-2` (section 1's throughput on 1 or 2 tasks, N seconds),
//! `native-result` and `native-discarded` (the two array scripts in native QuickJS,
//! fresh context), and `native:NAME`, `api:NAME`, `raw:NAME` (and `raw-nofuel:NAME`, without fuel) for the workloads of
//! sections 3 and 4 (`fib`, `objects`, `strings`, `json`, `bundle`); `raw:NAME` also
//! prints the fuel one run uses (wasm operators executed: steady under load, for A/B
//! comparisons of guest builds through `JSRUNTIME_BENCH_GUEST`).
//!
//! `timeouts-runs` (N rounds of section 7, in one process, each run's figure printed:
//! the report keeps only p50 and max, and a rare slow run needs to be seen among the
//! others).
//!
//! `handlers-KIND` and `handlers-raw-KIND` run section 9's executions (KIND: `trivial`,
//! `1k`, `graph`, `graph-script`, `100k`; raw also `script-1k`) through the library or
//! the raw engine. `handlers-fuel` prints the fuel one raw run of each (and of
//! `script-1k`: the input without the module) uses (N is ignored): the guest's work,
//! steady whatever the machine's load, for A/B comparisons of guest builds through
//! `JSRUNTIME_BENCH_GUEST`.
//!
//! With `JSRUNTIME_BENCH_PERFMAP=1` the raw engine writes `/tmp/perf-PID.map`, so
//! `perf report` names the guest's functions (`raw:NAME` variants). With
//! `JSRUNTIME_BENCH_PRE_SCRIPT=SOURCE`, `raw` and `raw-no-pagemap` first run SOURCE a few
//! times, so the trivial loop runs in slots an earlier, larger execution has used
//! (e.g. `function f(n){return n ? f(n-1)+1 : 0}; f(3000)`; section 11 of BENCHMARKS.md
//! says why that matters). With `JSRUNTIME_BENCH_PRE_WORKLOADS=1` (or a list of names, `fib,json`) the library variants
//! (`source`, `script`, ...) first run every CPU workload once through the same runtime,
//! as the full report does before section 1.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use jsruntime::ExecRequest;

use crate::raw_engine::{RawEngine, RawOptions};
use crate::sandboxed::{bench_context, trivial_request, Api, BUILD_ARRAY};
use crate::stats::{us, Summary};
use crate::workloads::TRIVIAL;

/// Runs the profiling loop described in the module documentation.
pub fn run(args: &[String]) -> Result<()> {
    let (Some(variant), Some(count)) = (args.first(), args.get(1)) else {
        bail!(
            "usage: jsruntime-bench profile VARIANT N [MAX_CONCURRENCY] (see bench/src/profile.rs)"
        );
    };
    let count: usize = count.parse().context("N must be a number")?;
    if let Some((mode, name)) = variant.split_once(':') {
        return workload(mode, name, count);
    }
    if let Some(kind) = variant.strip_prefix("handlers-") {
        return handlers(variant, kind, count);
    }
    let mut times = Vec::with_capacity(count);
    if let Some(source) = match variant.as_str() {
        "native-result" => Some(BUILD_ARRAY.to_owned()),
        "native-discarded" => Some(format!("{BUILD_ARRAY}, null")),
        _ => None,
    } {
        for _ in 0..count {
            let started = Instant::now();
            crate::native::run_fresh(&source)?;
            times.push(started.elapsed());
        }
        return print(variant, times);
    }
    // An optional third argument lowers `max_concurrency` (and so the pool's address
    // space reservation), e.g. to fit under valgrind.
    let api = match args.get(2) {
        Some(slots) => {
            let mut config = jsruntime::Config::default();
            config.max_concurrency = slots.parse().context("max_concurrency must be a number")?;
            Api::with_config(config)?
        }
        None => Api::new()?,
    };
    if variant == "timeouts-runs" {
        return timeouts_runs(&api, count);
    }
    if let Some(tasks) = match variant.as_str() {
        "throughput-1" => Some(1),
        "throughput-2" => Some(2),
        _ => None,
    } {
        // N is the window in seconds here.
        let window = std::time::Duration::from_secs(count as u64);
        let measured = crate::sandboxed::throughput(&api.runtime, tasks, window)?;
        println!(
            "{variant}: {:.0} executions/s, CPU {:.1} µs per execution",
            measured.per_second,
            us(measured.cpu_per_exec)
        );
        return Ok(());
    }
    if let Some(pagemap_scan) = match variant.as_str() {
        "raw" => Some(true),
        "raw-no-pagemap" => Some(false),
        _ => None,
    } {
        let engine = RawEngine::new(RawOptions {
            pagemap_scan,
            ..RawOptions::library(2)
        })?;
        let bytecode = api.block_on(engine.compile("trivial.js", TRIVIAL))?;
        // Ages the slots first: a script run in every slot before the loop (see the
        // module documentation).
        if let Ok(source) = std::env::var("JSRUNTIME_BENCH_PRE_SCRIPT") {
            let bytecode = api.block_on(engine.compile("pre.js", &source))?;
            for _ in 0..4 {
                // Its outcome does not matter, only the pages it dirtied.
                let _ = api.block_on(engine.execute(&bytecode));
            }
            if let Some(bytes) = engine.resident_bytes() {
                println!(
                    "{variant}: {} KiB kept resident after the pre-script",
                    bytes / 1024
                );
            }
        }
        let mut phases = Vec::with_capacity(count);
        for _ in 0..count {
            let p = api.block_on(engine.execute_phases(&bytecode))?;
            times.push(p.store + p.instantiate + p.run + p.drop);
            phases.push(p);
        }
        let phase = |get: fn(&crate::raw_engine::Phases) -> std::time::Duration| {
            us(crate::stats::median(phases.iter().map(get).collect()))
        };
        println!(
            "{variant} phases (medians): store {:.1} µs, instantiate {:.1} µs, run {:.1} µs, drop {:.1} µs",
            phase(|p| p.store),
            phase(|p| p.instantiate),
            phase(|p| p.run),
            phase(|p| p.drop)
        );
        if let Some(bytes) = engine.resident_bytes() {
            println!(
                "{variant}: {} KiB kept resident in unused slots",
                bytes / 1024
            );
        }
    } else {
        let script = |name: &str, source: &str| -> Result<ExecRequest> {
            Ok(ExecRequest::script(&api.compile(name, source)?).context(bench_context()))
        };
        let request = match variant.as_str() {
            "source" => trivial_request(),
            "script" => script("trivial.js", TRIVIAL)?,
            "context" => script(
                "context.js",
                "context.tenantID + '/' + context.user.id + '/' + context.requestID",
            )?,
            "result" => script("result.js", BUILD_ARRAY)?,
            "discarded" => script("discarded.js", &format!("{BUILD_ARRAY}, null"))?,
            other => bail!("unknown variant {other}"),
        };
        // Ages the library's slots as the full report does before section 1: every
        // workload once through the same runtime.
        if let Ok(names) = std::env::var("JSRUNTIME_BENCH_PRE_WORKLOADS") {
            for workload in crate::workloads::cpu_workloads()
                .into_iter()
                .chain([crate::workloads::bundle()])
                .filter(|w| names == "1" || names.split(',').any(|n| n == w.name))
            {
                api.execute(&crate::sandboxed::workload_request(
                    ExecRequest::source(workload.source.as_str()).name(workload.name),
                ))?;
            }
        }
        for _ in 0..count {
            times.push(api.time(&request)?);
        }
    }
    print(variant, times)
}

/// `native:NAME`, `api:NAME`, `raw:NAME` (raw engine, library settings) or
/// `raw-nofuel:NAME` (the same without fuel): a CPU workload of section 3 (`fib`,
/// `objects`, `strings`, `json`), `bundle`, or with NAME `@PATH` the script in PATH.
fn workload(mode: &str, name: &str, count: usize) -> Result<()> {
    // `@PATH`: a script file instead of a named workload.
    let workload = match name.strip_prefix('@') {
        Some(path) => crate::workloads::Workload {
            name: "file",
            description: "a script file",
            source: std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        },
        None => crate::workloads::cpu_workloads()
            .into_iter()
            .chain([crate::workloads::bundle()])
            .find(|w| w.name == name)
            .with_context(|| format!("no workload named {name}"))?,
    };
    let mut times = Vec::with_capacity(count);
    match mode {
        "native" => {
            for _ in 0..count {
                let started = Instant::now();
                crate::native::run_fresh(&workload.source)?;
                times.push(started.elapsed());
            }
        }
        "api" => {
            let api = Api::new()?;
            let request = crate::sandboxed::workload_request(
                ExecRequest::source(workload.source.as_str()).name(workload.name),
            );
            for _ in 0..count {
                times.push(api.time(&request)?);
            }
        }
        "raw" | "raw-nofuel" => {
            let api = Api::new()?;
            let engine = RawEngine::new(RawOptions {
                fuel: mode == "raw",
                ..RawOptions::library(2)
            })?;
            let bytecode = api.block_on(engine.compile(workload.name, &workload.source))?;
            for _ in 0..count {
                let started = Instant::now();
                api.block_on(engine.execute(&bytecode))?;
                times.push(started.elapsed());
            }
            // The same run's fuel: the guest's work in wasm operators, which the
            // machine's load does not move (for A/B of guest builds).
            if let Some(fuel) = api.block_on(engine.execute_fuel(&bytecode))? {
                println!("{mode}:{name}: fuel {fuel}");
            }
        }
        other => bail!("unknown mode {other} (native, api, raw, raw-nofuel)"),
    }
    print(&format!("{mode}:{name}"), times)
}

/// `handlers-KIND` (library) and `handlers-raw-KIND` (raw engine, the guest's side):
/// section 9's executions, KIND one of `trivial`, `1k`, `graph`, `graph-script`, `100k`
/// (and `script-1k`, raw only: a script reading the 1 KiB input); `handlers-native-100k`:
/// native QuickJS's `JSON.parse` of the 100 KiB input.
fn handlers(variant: &str, kind: &str, count: usize) -> Result<()> {
    use crate::handlers::Setup;
    let setup = Setup::new()?;
    let mut times = Vec::with_capacity(count);
    if kind == "native-100k" {
        let summary = crate::handlers::native_parse(&setup.large, count)?;
        println!(
            "{variant}: {count} runs, p50 {:.1} µs, min {:.1} µs",
            us(summary.p50),
            us(summary.min)
        );
        return Ok(());
    }
    if kind == "fuel" {
        let raw = crate::handlers::RawRuns::new(&setup)?;
        for kind in [
            "trivial",
            "1k",
            "script-1k",
            "graph",
            "graph-script",
            "100k",
        ] {
            println!("handlers-raw-{kind}: {} fuel", raw.fuel(&setup, kind)?);
        }
        return Ok(());
    }
    if let Some(kind) = kind.strip_prefix("raw-") {
        let raw = crate::handlers::RawRuns::new(&setup)?;
        for _ in 0..count {
            let started = Instant::now();
            raw.run(&setup, kind)?;
            times.push(started.elapsed());
        }
        return print(variant, times);
    }
    let request = match kind {
        "trivial" => setup.trivial(),
        "1k" => setup.handler_1k(),
        "graph" => setup.graph(),
        "graph-script" => setup.graph_as_script(),
        "100k" => setup.input_100k(),
        other => bail!("unknown variant handlers-{other}"),
    };
    for _ in 0..count {
        let started = Instant::now();
        setup.tokio.block_on(setup.runtime.execute(&request))?;
        times.push(started.elapsed());
    }
    print(variant, times)
}

fn print(variant: &str, times: Vec<std::time::Duration>) -> Result<()> {
    let count = times.len();
    let mut sorted = times.clone();
    sorted.sort();
    let deciles: Vec<String> = (1..10)
        .map(|d| format!("{:.0}", us(sorted[count * d / 10])))
        .collect();
    let summary = Summary::of(times);
    println!(
        "{variant}: {count} runs, p50 {:.1} µs, p99 {:.1} µs, min {:.1} µs (deciles {})",
        us(summary.p50),
        us(summary.p99),
        us(summary.min),
        deciles.join(" ")
    );
    Ok(())
}

/// `timeouts-runs`: section 7's runs, `rounds` times over, every run's figure in ms.
fn timeouts_runs(api: &Api, rounds: usize) -> Result<()> {
    let ms = |runs: Vec<std::time::Duration>| {
        runs.iter()
            .map(|run| format!("{:.1}", us(*run) / 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for round in 0..rounds {
        for (what, source) in crate::sandboxed::TIMEOUT_GUESTS {
            let overshoots = crate::sandboxed::timeout_overshoot(
                api,
                crate::sandboxed::TIMEOUT_RUNS,
                crate::sandboxed::TIMEOUT,
                source,
            )?;
            let cancellations = crate::sandboxed::cancellation_latency(
                api,
                crate::sandboxed::TIMEOUT_RUNS,
                crate::sandboxed::CANCEL_AFTER,
                source,
            )?;
            println!(
                "round {round}, {what}: overshoot {} | cancellation {}",
                ms(overshoots),
                ms(cancellations)
            );
        }
    }
    Ok(())
}
