//! # jsruntime-bench
//!
//! Measures `jsruntime` side by side with the same QuickJS run natively, and writes
//! the results to `BENCHMARKS.md` at the repository root (also printed). Run it with
//! `make bench`, which first builds the guest and the CLI, or with
//! `cargo run --release -p jsruntime-bench` once those exist.
//!
//! What it measures, in order (a few minutes in all):
//!
//! 1. the trivial script `1+1` through the public API: latency and throughput;
//! 2. where one trivial execution goes (raw-engine phases, public-API differences);
//! 3. CPU workloads, sandboxed vs native QuickJS, and the cost of fuel and of epoch
//!    interruption separately;
//! 4. a 200 KiB script from source vs from cached bytecode;
//! 5. memory per live instance, with 500 alive;
//! 6. start-up time of the CLI, with a warm and a cold compiled-guest cache;
//! 7. timeout and cancellation precision;
//! 8. tenants sharing a runtime: the noisy neighbour, two floods, the quota check's cost;
//! 9. handlers and modules (issue 12): a 1 KiB input, a graph of 20 modules, a 100 KiB
//!    input, each against its baseline, and the guest's share of each.
//!
//! With the `boa` feature (`make bench` turns it on), sections 1 and 3 also run every
//! script in Boa, the pure-Rust engine, with a fresh context per execution like native
//! QuickJS's "fresh" column; the peers table puts the three side by side.
//!
//! Modules: [`workloads`] (the scripts), [`native`] (the baseline), [`boa`] (the pure-Rust
//! peer), [`sandboxed`] (the
//! public API), [`raw_engine`] (a plain wasmtime engine around the same guest),
//! [`system`] (machine, `/proc`, the CLI child process), [`stats`], [`report`], and
//! [`profile`] (`jsruntime-bench profile VARIANT N`: one kind of execution in a loop,
//! to attach a profiler to).
//!
//! Some sections also run on their own, printing their figures: `jsruntime-bench
//! handlers` (9), `web` (10), `tenants` (8) and `timeouts` (7).

mod boa;
mod handlers;
mod native;
mod profile;
mod raw_engine;
mod report;
mod sandboxed;
mod stats;
mod system;
mod tenants;
mod web;
mod workloads;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use jsruntime::ExecRequest;

use raw_engine::{Phases, RawEngine, RawOptions};
use report::{
    Bundle, CpuRow, Memory, PeersTrivial, PhaseStats, Results, Split, TimeoutRow, Timeouts, Trivial,
};
use sandboxed::{workload_request, Api};
use stats::Summary;
use system::{Machine, MemoryReading};
use workloads::Workload;

/// Iteration counts, chosen to keep the whole run to a few minutes on two cores.
const TRIVIAL_WARMUP: usize = 2_000;
const TRIVIAL_SAMPLES: usize = 20_000;
/// `1+1` in a fresh native QuickJS runtime, and in a fresh Boa context, for the peers
/// table: fewer than the sandbox's, because a fresh Boa context costs milliseconds.
const PEER_TRIVIAL_SAMPLES: usize = 2_000;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(3);
const SPLIT_SAMPLES: usize = 1_200;
const PHASE_SAMPLES: usize = 5_000;
/// Rounds of each CPU workload Boa runs, without a warm-up round: Boa is one to two
/// orders of magnitude slower (its strings workload took 211 s over `CPU_ROUNDS` + 1
/// rounds, most of a full run), and one round says as much for that comparison.
const BOA_ROUNDS: usize = 1;
const CPU_ROUNDS: usize = 5;
const BUNDLE_RUNS: usize = 30;
const LIVE_INSTANCES: usize = 500;
const CLI_COLD_RUNS: usize = 3;
const CLI_WARM_RUNS: usize = 15;
/// Raw-engine runs behind each guest-side figure of section 9.
const HANDLERS_RAW_SAMPLES: usize = 1_000;

/// Section 7: timeout overshoot and cancellation latency of each kind of guest.
fn measure_timeouts(api: &Api) -> Result<Timeouts> {
    let counters = system::CpuCounters::now();
    let mut rows = Vec::new();
    for (what, source) in sandboxed::TIMEOUT_GUESTS {
        rows.push(TimeoutRow {
            what,
            overshoot: Summary::of(sandboxed::timeout_overshoot(
                api,
                sandboxed::TIMEOUT_RUNS,
                sandboxed::TIMEOUT,
                source,
            )?),
            cancel: Summary::of(sandboxed::cancellation_latency(
                api,
                sandboxed::TIMEOUT_RUNS,
                sandboxed::CANCEL_AFTER,
                source,
            )?),
        });
    }
    Ok(Timeouts {
        timeout: sandboxed::TIMEOUT,
        cancel_after: sandboxed::CANCEL_AFTER,
        rows,
        steal_percent: system::CpuCounters::now().steal_percent_since(&counters),
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("profile") {
        return profile::run(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("handlers") {
        let setup = handlers::Setup::new()?;
        let measured = handlers::measure(&setup)?;
        println!("{measured:#?}");
        let r = |a: &stats::Summary, b: &stats::Summary| handlers::ratio(a.p50, b.p50);
        println!(
            "inputs: {} and {} bytes of JSON",
            measured.input_sizes.0, measured.input_sizes.1
        );
        println!(
            "handler 1 KiB / trivial: {:.2} (target <= 1.3)\n20-module graph / one script: {:.2} (target <= 1.5)\n100 KiB input / native JSON.parse: {:.2} (target <= 2)",
            r(&measured.handler_1k, &measured.trivial),
            r(&measured.graph, &measured.graph_as_script),
            r(&measured.input_100k, &measured.native_parse_100k),
        );
        // The guest's share: the same work on the raw engine.
        let raw = handlers::measure_raw(&setup, HANDLERS_RAW_SAMPLES)?;
        println!("{raw:#?}");
        let mut section = String::new();
        report::write_handlers(&mut section, &measured, &raw);
        println!("{section}");
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("web") {
        let measured = web::measure()?;
        println!("{measured:#?}\n{}", web::report(&measured));
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("timeouts") {
        let timeouts = measure_timeouts(&Api::new()?)?;
        println!("{timeouts:#?}");
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("tenants") {
        let noisy = tenants::noisy_neighbour()?;
        println!("{noisy:#?}");
        let flood = tenants::flood()?;
        println!("{flood:#?}");
        let (redis, redis_missing) = tenants::redis_store();
        let cost = tenants::quota_cost(redis, redis_missing)?;
        println!("{cost:#?}");
        return Ok(());
    }
    let started = Instant::now();
    let run_counters = system::CpuCounters::now();
    let machine = Machine::describe();
    progress("starting the runtime (Config::default())");
    let api = Api::new().context("starting the jsruntime runtime")?;
    let cpu_workloads = workloads::cpu_workloads();
    let bundle_workload = workloads::bundle();

    progress("checking that every workload gives the same result natively and sandboxed");
    for workload in cpu_workloads.iter().chain([&bundle_workload]) {
        check_same_result(&api, workload)?;
    }

    progress("1. trivial script: latency and throughput");
    let trivial = Trivial {
        latency: sandboxed::trivial_latency(&api, TRIVIAL_WARMUP, TRIVIAL_SAMPLES)?,
        throughput_1: sandboxed::throughput(&api.runtime, 1, THROUGHPUT_WINDOW)?,
        throughput_2: sandboxed::throughput(&api.runtime, 2, THROUGHPUT_WINDOW)?,
        window: THROUGHPUT_WINDOW,
    };

    progress("1. peers: `1+1` in a fresh native QuickJS runtime and a fresh Boa context");
    let peers_trivial = measure_peers_trivial(PEER_TRIVIAL_SAMPLES)?;

    progress("2. split of one trivial execution");
    let split = measure_split(&api)?;

    progress(
        "3. CPU workloads (compiling the guest for each raw-engine configuration on first use)",
    );
    let cpu = measure_cpu(&api, &cpu_workloads)?;

    progress("4. 200 KiB script");
    let bundle = measure_bundle(&api, &bundle_workload)?;

    progress("5. memory with 500 live instances");
    let memory = measure_memory(&api)?;

    progress("7. timeout and cancellation precision");
    let timeouts = measure_timeouts(&api)?;
    drop(api);

    progress("8. tenants: noisy neighbour, two floods, quota check");
    let noisy = tenants::noisy_neighbour()?;
    let flood = tenants::flood()?;
    let (redis, redis_missing) = tenants::redis_store();
    let quota_cost = tenants::quota_cost(redis, redis_missing)?;

    progress("9. handlers and modules: 1 KiB input, 20-module graph, 100 KiB input");
    let handlers_setup = handlers::Setup::new()?;
    let handlers = handlers::measure(&handlers_setup)?;
    let handlers_raw = handlers::measure_raw(&handlers_setup, HANDLERS_RAW_SAMPLES)?;
    drop(handlers_setup);

    progress("10. Promise host calls and web APIs: Promise.all, TextEncoder, SHA-256");
    let web = web::measure()?;

    progress("6. CLI start-up (cold runs compile the guest: several seconds each)");
    let cli_path = system::cli_path();
    let cli = if cli_path.exists() {
        system::cli_start(&cli_path, CLI_COLD_RUNS, CLI_WARM_RUNS).map_err(|e| format!("{e:#}"))
    } else {
        Err(format!(
            "{} is missing (build it with `make bench`)",
            cli_path.display()
        ))
    };

    let results = Results {
        machine,
        date: system::today(),
        trivial,
        peers_trivial,
        split,
        cpu,
        cpu_rounds: CPU_ROUNDS,
        bundle,
        memory,
        cli,
        timeouts,
        noisy,
        flood,
        quota_cost,
        handlers,
        handlers_raw,
        web,
        load_at_end: system::load_average(),
        steal_percent: system::CpuCounters::now().steal_percent_since(&run_counters),
        total: started.elapsed(),
    };
    let markdown = results.to_markdown();
    println!("{markdown}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    std::fs::write(&path, &markdown).with_context(|| format!("writing {}", path.display()))?;
    progress(&format!(
        "wrote {}",
        path.canonicalize().unwrap_or(path).display()
    ));
    Ok(())
}

fn progress(message: &str) {
    eprintln!("==> {message}");
}

/// Fails unless the workload's result is the same natively and in the sandbox.
fn check_same_result(api: &Api, workload: &Workload) -> Result<()> {
    let native: serde_json::Value = serde_json::from_str(&native::run_fresh(&workload.source)?)?;
    let request =
        workload_request(ExecRequest::source(workload.source.as_str()).name(workload.name));
    let sandboxed = api
        .execute(&request)
        .with_context(|| format!("running {} in the sandbox", workload.name))?
        .value;
    if native != sandboxed {
        bail!(
            "{}: native gave {native}, the sandbox gave {sandboxed}",
            workload.name
        );
    }
    if let Some(boa) = boa::run_fresh(&workload.source) {
        let boa: serde_json::Value = serde_json::from_str(&boa?)?;
        if !same_json(&native, &boa) {
            bail!("{}: native gave {native}, Boa gave {boa}", workload.name);
        }
    }
    Ok(())
}

/// Equal JSON, numbers compared as numbers: engines may print an integral double as
/// `2` or `2.0`, and serde_json keeps integers and floats apart.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same_json(x, y)))
        }
        _ => a == b,
    }
}

/// `1+1` run `samples` times in a fresh native QuickJS runtime and, if built with it,
/// a fresh Boa context, interleaved, after a tenth as many warm-up runs of each.
fn measure_peers_trivial(samples: usize) -> Result<PeersTrivial> {
    let mut native = Vec::with_capacity(samples);
    let mut boa = Vec::with_capacity(if boa::ENABLED { samples } else { 0 });
    for sample in 0..samples + samples / 10 {
        let n = time(|| native::run_fresh(workloads::TRIVIAL).map(drop))?;
        let started = Instant::now();
        let ran = boa::run_fresh(workloads::TRIVIAL);
        let b = started.elapsed();
        if sample >= samples / 10 {
            native.push(n);
            if let Some(result) = ran {
                result?;
                boa.push(b);
            }
        }
    }
    Ok(PeersTrivial {
        native: Summary::of(native),
        boa: (!boa.is_empty()).then(|| Summary::of(boa)),
        samples,
    })
}

/// Section 2: API variants, and raw-engine phases with and without `pagemap_scan`.
fn measure_split(api: &Api) -> Result<Split> {
    let api_split = sandboxed::api_split(api, SPLIT_SAMPLES)?;
    let mut phases = Vec::new();
    for pagemap_scan in [true, false] {
        let engine = RawEngine::new(RawOptions {
            pagemap_scan,
            ..RawOptions::library(4)
        })?;
        phases.push(api.block_on(raw_phases(&engine, PHASE_SAMPLES))?);
    }
    Ok(Split {
        api: api_split,
        raw_without_pagemap: phases.pop().unwrap_or_default(),
        raw: phases.pop().unwrap_or_default(),
        raw_samples: PHASE_SAMPLES,
        api_samples: SPLIT_SAMPLES,
    })
}

/// Median and fastest of each phase of `1+1` over `samples` executions, after a warm-up.
async fn raw_phases(engine: &RawEngine, samples: usize) -> Result<PhaseStats> {
    let bytecode = engine.compile("trivial.js", workloads::TRIVIAL).await?;
    for _ in 0..samples / 10 {
        engine.execute_phases(&bytecode).await?;
    }
    let mut all = Vec::with_capacity(samples);
    for _ in 0..samples {
        all.push(engine.execute_phases(&bytecode).await?);
    }
    let summarize = |pick: fn(&Summary) -> Duration| {
        let phase =
            |get: fn(&Phases) -> Duration| pick(&Summary::of(all.iter().map(get).collect()));
        Phases {
            store: phase(|p| p.store),
            instantiate: phase(|p| p.instantiate),
            run: phase(|p| p.run),
            drop: phase(|p| p.drop),
        }
    };
    Ok(PhaseStats {
        median: summarize(|s| s.p50),
        fastest: summarize(|s| s.min),
    })
}

/// Section 3: every workload in every mode, interleaved round by round.
fn measure_cpu(api: &Api, workloads: &[Workload]) -> Result<Vec<CpuRow>> {
    let mut raw = Vec::new();
    for (fuel, epoch) in [(true, true), (false, true), (true, false), (false, false)] {
        raw.push(RawEngine::new(RawOptions {
            fuel,
            epoch,
            ..RawOptions::library(2)
        })?);
    }
    struct Prepared<'w> {
        workload: &'w Workload,
        request: ExecRequest,
        bytecode: Vec<u8>,
        reused: native::NativeContext,
        times: Vec<Vec<Duration>>,
        boa: Vec<Duration>,
    }
    let mut prepared = Vec::new();
    for workload in workloads {
        prepared.push(Prepared {
            workload,
            request: workload_request(
                ExecRequest::source(workload.source.as_str()).name(workload.name),
            ),
            bytecode: api.block_on(raw[0].compile(workload.name, &workload.source))?,
            reused: native::NativeContext::new()?,
            times: vec![Vec::new(); 3 + raw.len()],
            boa: Vec::new(),
        });
    }
    for round in 0..=CPU_ROUNDS {
        for p in &mut prepared {
            let mut round_times = Vec::with_capacity(3 + raw.len());
            round_times.push(time(|| native::run_fresh(&p.workload.source).map(drop))?);
            round_times.push(time(|| p.reused.run(&p.workload.source).map(drop))?);
            round_times.push(api.time(&p.request)?);
            // Boa last among the in-process engines; a build without it records nothing.
            let started = Instant::now();
            let boa_round = (1..=BOA_ROUNDS).contains(&round);
            if let Some(result) = boa_round
                .then(|| boa::run_fresh(&p.workload.source))
                .flatten()
            {
                result?;
                let elapsed = started.elapsed();
                if round > 0 {
                    p.boa.push(elapsed);
                }
            }
            for engine in &raw {
                round_times.push(time(|| {
                    api.block_on(engine.execute(&p.bytecode)).map(drop)
                })?);
            }
            // Round 0 warms caches, the bytecode cache and the pool's slots.
            if round > 0 {
                for (times, t) in p.times.iter_mut().zip(round_times) {
                    times.push(t);
                }
            }
        }
    }
    Ok(prepared
        .into_iter()
        .map(|p| {
            let mut fastest_times = p.times.into_iter().map(fastest);
            let mut next = || fastest_times.next().unwrap_or_default();
            CpuRow {
                name: p.workload.name,
                description: p.workload.description,
                native_fresh: next(),
                native_reused: next(),
                sandboxed: next(),
                boa: (!p.boa.is_empty()).then(|| fastest(p.boa)),
                raw: raw
                    .iter()
                    .map(|engine| (engine.options().label(), next()))
                    .collect(),
            }
        })
        .collect())
}

/// The fastest of repeated timings.
fn fastest(times: Vec<Duration>) -> Duration {
    Summary::of(times).min
}

fn time(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed())
}

/// Section 4: the bundle from source (miss, hit), as a compiled script, and natively.
fn measure_bundle(api: &Api, bundle: &Workload) -> Result<Bundle> {
    let source: std::sync::Arc<str> = bundle.source.as_str().into();
    let script = api.compile("bundle.js", &source)?;
    let hit = ExecRequest::source(std::sync::Arc::clone(&source)).name("bundle.js");
    let compiled = ExecRequest::script(&script);
    let mut times: [Vec<Duration>; 4] = Default::default();
    for run in 0..=BUNDLE_RUNS {
        let miss =
            ExecRequest::source(std::sync::Arc::clone(&source)).name(format!("bundle-{run}.js"));
        let round = [
            api.time(&miss)?,
            api.time(&hit)?,
            api.time(&compiled)?,
            time(|| native::run_fresh(&source).map(drop))?,
        ];
        if run > 0 {
            for (times, t) in times.iter_mut().zip(round) {
                times.push(t);
            }
        }
    }
    let [source_miss, source_hit, script_time, native_fresh] = times.map(fastest);
    Ok(Bundle {
        source_bytes: source.len(),
        bytecode_bytes: script.bytecode_len(),
        source_miss,
        source_hit,
        script: script_time,
        native_fresh,
        runs: BUNDLE_RUNS,
    })
}

/// The small script each live instance runs.
const SMALL_SCRIPT: &str =
    "const order = { id: 7, lines: [1, 2, 3].map((n) => ({ sku: 'SKU-' + n, qty: n })) }; JSON.stringify(order).length";

/// Section 5: RSS with many instances alive, on raw engines with enough slots: the
/// library's settings, then the same without `pagemap_scan`.
fn measure_memory(api: &Api) -> Result<Vec<Memory>> {
    let mut runs = Vec::new();
    for pagemap_scan in [true, false] {
        let options = RawOptions {
            pagemap_scan,
            ..RawOptions::library(LIVE_INSTANCES as u32 + 12)
        };
        let engine = RawEngine::new(options)?;
        let bytecode = api.block_on(engine.compile("small.js", SMALL_SCRIPT))?;
        let live_round = || -> Result<MemoryReading> {
            let mut live = Vec::with_capacity(LIVE_INSTANCES);
            for _ in 0..LIVE_INSTANCES {
                live.push(api.block_on(engine.live_instance(&bytecode))?);
            }
            Ok(MemoryReading::now())
        };
        let before = MemoryReading::now();
        let fresh = live_round()?;
        let after_first_drop = MemoryReading::now();
        let reused = live_round()?;
        runs.push(Memory {
            label: if pagemap_scan {
                "library settings"
            } else {
                "without pagemap_scan"
            },
            instances: LIVE_INSTANCES,
            before,
            fresh,
            after_first_drop,
            reused,
        });
    }
    Ok(runs)
}
