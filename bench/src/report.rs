//! The results of a run, rendered as markdown (printed, and written to BENCHMARKS.md),
//! with each target judged met or not met.

use std::fmt::Write as _;
use std::time::Duration;

use crate::handlers::{Handlers, RawSplit, GRAPH_MODULES, ROUNDS};
use crate::raw_engine::Phases;
use crate::sandboxed::{ApiSplit, Throughput};
use crate::stats::{ms, us, Summary};
use crate::system::{CliStart, Machine, MemoryReading};
use crate::tenants::{Flood, NoisyNeighbour, QuotaCost, HOG_IN_FLIGHT};

/// Section 1: the trivial script through the public API.
#[derive(Debug, Clone)]
pub struct Trivial {
    /// Latency of one execution at a time.
    pub latency: Summary,
    /// One task on a current-thread runtime.
    pub throughput_1: Throughput,
    /// Two tasks on a two-worker runtime.
    pub throughput_2: Throughput,
    /// How long each throughput figure ran.
    pub window: Duration,
}

/// The peers table: `1+1` in a fresh native QuickJS runtime and a fresh Boa context.
#[derive(Debug, Clone)]
pub struct PeersTrivial {
    /// Native QuickJS, fresh runtime and context.
    pub native: Summary,
    /// Boa, fresh context (`None` in a build without the `boa` feature).
    pub boa: Option<Summary>,
    /// Samples behind each.
    pub samples: usize,
}

/// Section 2: where one trivial execution goes.
#[derive(Debug, Clone)]
pub struct Split {
    /// Variants through the public API.
    pub api: ApiSplit,
    /// Phases of `1+1` on the raw engine with the library's settings.
    pub raw: PhaseStats,
    /// The same without `pagemap_scan` (wasmtime's default).
    pub raw_without_pagemap: PhaseStats,
    /// Samples behind each phase median.
    pub raw_samples: usize,
    /// Samples behind each public-API median.
    pub api_samples: usize,
}

/// Median and fastest of each raw-engine phase (each phase summarized on its own).
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseStats {
    /// Medians.
    pub median: Phases,
    /// Fastest.
    pub fastest: Phases,
}

/// Section 3: one CPU workload in every mode (medians).
#[derive(Debug, Clone)]
pub struct CpuRow {
    /// Workload name.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Native QuickJS, fresh runtime and context.
    pub native_fresh: Duration,
    /// Native QuickJS, one context reused.
    pub native_reused: Duration,
    /// Public API, default config (fuel, with the deadline checked at its yields).
    pub sandboxed: Duration,
    /// Boa, fresh context (the `boa` feature; `None` without it).
    pub boa: Option<Duration>,
    /// Raw engine: (label, time) for fuel+epoch, epoch only, fuel only, neither.
    pub raw: Vec<(&'static str, Duration)>,
}

/// Section 4: the 200 KiB bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Source size.
    pub source_bytes: usize,
    /// Bytecode size.
    pub bytecode_bytes: usize,
    /// `ExecRequest::source`, a new name each time: compile-cache miss.
    pub source_miss: Duration,
    /// `ExecRequest::source`, same name: compile-cache hit (hashes the source).
    pub source_hit: Duration,
    /// `ExecRequest::script` of a `Runtime::compile`d script.
    pub script: Duration,
    /// Native QuickJS, fresh context, from source.
    pub native_fresh: Duration,
    /// Runs behind each median.
    pub runs: usize,
}

/// Section 5: many live instances, on one engine configuration.
#[derive(Debug, Clone)]
pub struct Memory {
    /// Which configuration.
    pub label: &'static str,
    /// Instances alive at once.
    pub instances: usize,
    /// Before creating any.
    pub before: MemoryReading,
    /// All alive, each in a pool slot never used before.
    pub fresh: MemoryReading,
    /// After dropping them: what the used slots keep resident.
    pub after_first_drop: MemoryReading,
    /// All alive again, in the same (reused) slots: the steady state of a server.
    pub reused: MemoryReading,
}

impl Memory {
    /// VmRSS growth per live instance in fresh slots, in MiB.
    pub fn fresh_rss_mib(&self) -> f64 {
        per_instance_mib(self.before.rss, self.fresh.rss, self.instances)
    }

    /// VmRSS growth per live instance in reused slots, in MiB.
    pub fn reused_rss_mib(&self) -> f64 {
        per_instance_mib(self.before.rss, self.reused.rss, self.instances)
    }
}

fn per_instance_mib(before_kib: u64, after_kib: u64, instances: usize) -> f64 {
    (after_kib as f64 - before_kib as f64) / 1024.0 / instances.max(1) as f64
}

/// Section 7: timeouts and cancellation.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// The timeout given.
    pub timeout: Duration,
    /// When the token was cancelled, into the run.
    pub cancel_after: Duration,
    /// One row per kind of guest: a plain loop, bulk memory, a wait on the host.
    pub rows: Vec<TimeoutRow>,
    /// The share of the machine's CPU time the hypervisor took during the section.
    pub steal_percent: Option<f64>,
}

/// Section 7, one kind of guest.
#[derive(Debug, Clone)]
pub struct TimeoutRow {
    /// What the guest does.
    pub what: &'static str,
    /// Return time past the timeout.
    pub overshoot: Summary,
    /// Cancel to return.
    pub cancel: Summary,
}

impl Timeouts {
    /// The worst overshoot and the worst cancellation latency over every row.
    fn worst(&self) -> (Duration, Duration) {
        self.rows
            .iter()
            .fold((Duration::ZERO, Duration::ZERO), |(o, c), row| {
                (o.max(row.overshoot.max), c.max(row.cancel.max))
            })
    }
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// The machine.
    pub machine: Machine,
    /// Date of the run (UTC).
    pub date: String,
    /// Section 1.
    pub trivial: Trivial,
    /// Section 1's peers.
    pub peers_trivial: PeersTrivial,
    /// Section 2.
    pub split: Split,
    /// Section 3.
    pub cpu: Vec<CpuRow>,
    /// Rounds behind each CPU median.
    pub cpu_rounds: usize,
    /// Section 4.
    pub bundle: Bundle,
    /// Section 5: the library's settings, then variants.
    pub memory: Vec<Memory>,
    /// Section 6, or why it was not measured.
    pub cli: Result<CliStart, String>,
    /// Section 7.
    pub timeouts: Timeouts,
    /// Section 8: the noisy neighbour.
    pub noisy: NoisyNeighbour,
    /// Section 8: both tenants flooding.
    pub flood: Flood,
    /// Section 8: the cost of a quota check.
    pub quota_cost: QuotaCost,
    /// Section 9: handlers and modules.
    pub handlers: Handlers,
    /// Section 9: the same executions on the raw engine (the guest's share).
    pub handlers_raw: RawSplit,
    /// Section 10: Promise host calls and the web APIs.
    pub web: crate::web::Web,
    /// /proc/loadavg at the end.
    pub load_at_end: String,
    /// The share of the machine's CPU time stolen by the hypervisor over the whole run.
    pub steal_percent: Option<f64>,
    /// Wall time of the whole run.
    pub total: Duration,
}

/// One target and whether this run met it.
struct Target {
    what: &'static str,
    figure: String,
    met: Option<bool>,
}

impl Results {
    fn targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        let p50 = us(self.trivial.latency.p50);
        // Issue 14's targets (they replace issue 4's 30 µs and 40,000 exec/s).
        targets.push(Target {
            what: "trivial execution p50 <= 15 µs",
            figure: format!("{p50:.1} µs"),
            met: Some(p50 <= 15.0),
        });
        let one = self.trivial.throughput_1.per_second;
        targets.push(Target {
            what: "trivial throughput >= 60,000 exec/s on one thread",
            figure: format!("{one:.0} exec/s"),
            met: Some(one >= 60_000.0),
        });
        let two = self.trivial.throughput_2.per_second / one.max(f64::MIN_POSITIVE);
        targets.push(Target {
            what: "trivial throughput on two threads >= 1.8x one thread",
            figure: format!("{two:.2}x"),
            met: Some(two >= 1.8),
        });
        let worst = self
            .cpu
            .iter()
            .map(|row| (row.name, ratio(row.sandboxed, row.native_fresh)))
            .fold(
                ("-", 0.0f64),
                |worst, row| if row.1 > worst.1 { row } else { worst },
            );
        targets.push(Target {
            what: "CPU workloads <= 1.5x native (fresh context), every workload",
            figure: format!("worst {:.2}x ({})", worst.1, worst.0),
            met: Some(worst.1 <= 1.5),
        });
        let speedup = ratio(self.bundle.source_miss, self.bundle.script);
        targets.push(Target {
            what: "200 KiB script: cached bytecode >= 3x faster than from source",
            figure: format!("{speedup:.1}x"),
            met: Some(speedup >= 3.0),
        });
        if let Some(memory) = self.memory.first() {
            let fresh = memory.fresh_rss_mib();
            targets.push(Target {
                what: "<= 2 MiB RSS per live instance (500 alive, pool slots used for the first time)",
                figure: format!("{fresh:.2} MiB"),
                met: Some(fresh <= 2.0),
            });
            let reused = memory.reused_rss_mib();
            targets.push(Target {
                what: "<= 2 MiB RSS per live instance (500 alive again in the same, reused slots)",
                figure: format!("{reused:.2} MiB"),
                met: Some(reused <= 2.0),
            });
        }
        match &self.cli {
            Ok(cli) => {
                let warm = crate::stats::median(cli.warm.clone());
                targets.push(Target {
                    what: "CLI warm start <= 150 ms",
                    figure: format!("{:.1} ms", ms(warm)),
                    met: Some(ms(warm) <= 150.0),
                });
            }
            Err(reason) => targets.push(Target {
                what: "CLI warm start <= 150 ms",
                figure: format!("not measured: {reason}"),
                met: None,
            }),
        }
        let (overshoot, cancel) = self.timeouts.worst();
        let (overshoot, cancel) = (ms(overshoot), ms(cancel));
        targets.push(Target {
            what: "timeout overshoot <= 10 ms (worst run, every kind of guest in section 7)",
            figure: format!("{overshoot:.2} ms"),
            met: Some(overshoot <= 10.0),
        });
        targets.push(Target {
            what: "cancellation seen within 5 ms (worst run, every kind of guest in section 7)",
            figure: format!("{cancel:.2} ms"),
            met: Some(cancel <= 5.0),
        });
        let quiet = &self.noisy.beside_hog;
        targets.push(Target {
            what: "beside a tenant with 200 busy executions in flight: p50 <= 1 ms, max <= 50 ms",
            figure: format!("p50 {:.3} ms, max {:.1} ms", ms(quiet.p50), ms(quiet.max)),
            met: Some(ms(quiet.p50) <= 1.0 && ms(quiet.max) <= 50.0),
        });
        let share = self.flood.share(0);
        targets.push(Target {
            what: "two tenants flooding: each completes 40% to 60%",
            figure: format!("{:.1}% / {:.1}%", share * 100.0, (1.0 - share) * 100.0),
            met: Some((0.4..=0.6).contains(&share)),
        });
        for (what, value, base_what, base, target) in self.handlers.figures() {
            let ratio = ratio(value.p50, base.p50);
            targets.push(Target {
                what: match what {
                    "handler called with a 1 KiB JSON input" => {
                        "handler with a 1 KiB input <= 1.3x the trivial script (p50)"
                    }
                    "handler importing a graph of 20 cached modules" => {
                        "handler importing 20 cached modules <= 1.5x the same code as one script (p50)"
                    }
                    _ => "handler with a 100 KiB input <= 2x native QuickJS JSON.parse of it (p50)",
                },
                figure: format!("{ratio:.2}x ({base_what})"),
                met: Some(ratio <= target),
            });
        }
        for (what, figure, met) in crate::web::targets(&self.web) {
            targets.push(Target {
                what,
                figure,
                met: Some(met),
            });
        }
        targets
    }

    /// The whole report, as markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        self.write_header(&mut out);
        self.write_targets(&mut out);
        self.write_trivial(&mut out);
        self.write_split(&mut out);
        self.write_cpu(&mut out);
        self.write_peers(&mut out);
        self.write_bundle(&mut out);
        self.write_memory(&mut out);
        self.write_cli(&mut out);
        self.write_timeouts(&mut out);
        self.write_tenants(&mut out);
        write_handlers(&mut out, &self.handlers, &self.handlers_raw);
        out.push_str(&crate::web::markdown(&self.web));
        // What profiling found: prose kept beside the code, dated, not regenerated.
        out.push('\n');
        out.push_str(include_str!("../FINDINGS.md"));
        out
    }

    fn write_header(&self, out: &mut String) {
        let m = &self.machine;
        let _ = writeln!(out, "# jsruntime benchmarks\n");
        let _ = writeln!(
            out,
            "Generated by `make bench` (`cargo run --release -p jsruntime-bench`, source in `bench/`). \
             Every figure below comes from one run of it. The machine may be shared: load from other \
             processes adds noise (the load average is given below), so each section says how it \
             summarizes repeated runs (median, p99, or the fastest run), and section 1 also gives \
             CPU time per execution, which load does not inflate.\n"
        );
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| date | {} |", self.date);
        let _ = writeln!(out, "| CPU | {} |", m.cpu);
        let _ = writeln!(out, "| cores | {} |", m.cores);
        let _ = writeln!(out, "| kernel | Linux {} |", m.kernel);
        let _ = writeln!(
            out,
            "| load average (1/5/15 min) | start {}, end {} |",
            m.load_at_start, self.load_at_end
        );
        let _ = writeln!(out, "| rustc | {} |", env!("BENCH_RUSTC_VERSION"));
        let _ = writeln!(out, "| wasmtime | {} |", env!("BENCH_WASMTIME_VERSION"));
        let _ = writeln!(
            out,
            "| guest | javy {}, rquickjs {} (QuickJS-ng), wasm32-wasip2, Wizer-initialized; sha256 {}… |",
            env!("BENCH_JAVY_VERSION"),
            env!("BENCH_GUEST_RQUICKJS_VERSION"),
            &jsruntime::GUEST_SHA256[..12]
        );
        let _ = writeln!(
            out,
            "| native baseline | rquickjs {} built for the host |",
            env!("BENCH_RQUICKJS_VERSION")
        );
        let _ = writeln!(
            out,
            "| peer | boa_engine {} (pure Rust), {} |",
            crate::boa::VERSION,
            if crate::boa::ENABLED {
                "built for the host"
            } else {
                "not built (feature `boa` off)"
            }
        );
        if let Some(steal) = self.steal_percent {
            let _ = writeln!(
                out,
                "| steal time (CPU time the hypervisor gave to other guests) | {steal:.1}% |"
            );
        }
        let _ = writeln!(out, "| run time | {:.0} s |\n", self.total.as_secs_f64());
    }

    fn write_targets(&self, out: &mut String) {
        let _ = writeln!(out, "## Targets\n\n| target | this run | |\n|---|---|---|");
        for target in self.targets() {
            let verdict = match target.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "not measured",
            };
            let _ = writeln!(out, "| {} | {} | {verdict} |", target.what, target.figure);
        }
        out.push('\n');
    }

    fn write_trivial(&self, out: &mut String) {
        let t = &self.trivial;
        let _ = writeln!(
            out,
            "## 1. Trivial script through the public API\n\n\
             `Runtime::execute(&ExecRequest::source(\"1+1\").context(..))` with a tenant, user and request id, \
             default `Config` (fuel on; deadline and cancellation checked at its yields), a fresh instance per execution. The source is \
             compiled once and then found in the compile cache, as in steady state. Latency: one \
             execution at a time on a current-thread tokio runtime, after a warm-up. Throughput: \
             requests back to back for {:.0} s from one task on a current-thread runtime (\"1 thread\"), \
             and from two tasks on a two-worker multi-thread runtime (\"2 threads\"). The library's own \
             background threads (instance pre-warming, guest threads) run besides, on the same \
             cores; \"1 thread\" is the caller's side.\n",
            t.window.as_secs_f64()
        );
        let _ = writeln!(out, "| figure | value |\n|---|---|");
        let _ = writeln!(out, "| latency p50 | {:.1} µs |", us(t.latency.p50));
        let _ = writeln!(out, "| latency p99 | {:.1} µs |", us(t.latency.p99));
        let _ = writeln!(
            out,
            "| latency min / max | {:.1} µs / {:.1} µs |",
            us(t.latency.min),
            us(t.latency.max)
        );
        let _ = writeln!(out, "| latency mean | {:.1} µs |", us(t.latency.mean));
        let _ = writeln!(out, "| samples | {} |", t.latency.count);
        for (label, tp) in [
            ("1 thread (current-thread runtime, 1 task)", &t.throughput_1),
            (
                "2 threads (multi-thread runtime, 2 workers, 2 tasks)",
                &t.throughput_2,
            ),
        ] {
            let _ = writeln!(out, "| throughput, {label} | {:.0} exec/s |", tp.per_second);
            let _ = writeln!(
                out,
                "| CPU time per execution, {label}, whole process | {:.1} µs (= {:.0} exec/s per fully used core) |",
                us(tp.cpu_per_exec),
                1.0 / tp.cpu_per_exec.as_secs_f64().max(f64::MIN_POSITIVE)
            );
        }
        let _ = writeln!(
            out,
            "\nThroughput is the inverse of the *mean* latency, which on a loaded machine sits well above \
             the median. The CPU time per execution (user + system time of every thread of the process \
             during the throughput window, from `/proc/self/stat`, divided by the executions) does not \
             depend on what else the machine runs; it includes the library's background threads.\n"
        );
    }

    fn write_split(&self, out: &mut String) {
        let s = &self.split;
        let a = &s.api;
        let total = |p: &Phases| p.store + p.instantiate + p.run + p.drop;
        let _ = writeln!(
            out,
            "## 2. Where one trivial execution goes\n\n\
             The public API does not expose phases, so two sources are combined:\n\n\
             - **Raw engine** (`bench/src/raw_engine.rs`): a plain wasmtime engine with the library's \
             engine settings (same guest bytes, pooling allocator, fuel with its yields, no epoch, same stack, keep-resident \
             and `pagemap_scan` settings), each phase timed directly around its call; {} executions of \
             precompiled `1+1` bytecode. Its imports are stubs, and it has none of the library's own \
             per-execution work (pool check-out, tracing span, metrics, compile-cache lookup, result \
             parsing).\n\
             - **Public API** (`Runtime::execute`, {} runs per variant, each variant run in blocks): a \
             figure is the difference between two requests that differ in one respect.\n\n\
             Each figure is given as the median and as the fastest run: on this shared machine the \
             median includes time lost to other processes, the fastest is close to the undisturbed \
             cost. Each phase is summarized on its own, so the totals are sums of medians (fastest).\n",
            s.raw_samples, s.api_samples
        );
        let _ = writeln!(
            out,
            "| phase | how it was measured | median | fastest |\n|---|---|---|---|"
        );
        let (med, fast) = (&s.raw.median, &s.raw.fastest);
        let mut row = |phase: &str, how: &str, median: f64, fastest: f64| {
            let _ = writeln!(
                out,
                "| {phase} | {how} | {median:.1} µs | {fastest:.1} µs |"
            );
        };
        row(
            "store setup",
            "raw: `Store::new`, limiter, `set_fuel`, yield interval",
            us(med.store),
            us(fast.store),
        );
        row(
            "instantiate",
            "raw: `SandboxPre::instantiate_async` (pool slot, memory image mapping, core instances)",
            us(med.instantiate),
            us(fast.instantiate),
        );
        row(
            "run `1+1`",
            "raw: the guest's `run` export (bytecode load, eval, JSON result)",
            us(med.run),
            us(fast.run),
        );
        row(
            "drop",
            "raw: dropping the store (slot back to the pool, linear memory reset)",
            us(med.drop),
            us(fast.drop),
        );
        row(
            "**raw total**",
            "sum of the four",
            us(total(med)),
            us(total(fast)),
        );
        row(
            "public API, `ExecRequest::script(1+1)`",
            "compiled once with `Runtime::compile`",
            us(a.script_trivial.p50),
            us(a.script_trivial.min),
        );
        row(
            "everything else on the request path",
            "API `script(1+1)` − raw run (neither instantiation nor the drop is on this path when the \
             library has a pool thread, as with pre-warming: it instantiates ahead of time and \
             destroys used instances)",
            us(a.script_trivial.p50) - us(med.run),
            us(a.script_trivial.min) - us(fast.run),
        );
        row(
            "compile-cache lookup",
            "API `source(\"1+1\")` − `script(1+1)`",
            us(a.source_trivial.p50) - us(a.script_trivial.p50),
            us(a.source_trivial.min) - us(a.script_trivial.min),
        );
        row(
            "reading `context`",
            &format!(
                "API script reading `context.tenantID`, `.user.id`, `.requestID` ({:.1} µs) − script `null` ({:.1} µs), medians",
                us(a.script_context.p50),
                us(a.script_null.p50)
            ),
            us(a.script_context.p50) - us(a.script_null.p50),
            us(a.script_context.min) - us(a.script_null.min),
        );
        row(
            "returning a result",
            &format!(
                "API script returning a {} B JSON array ({:.1} µs) − the same script returning `null` ({:.1} µs), medians",
                a.result_bytes,
                us(a.script_result.p50),
                us(a.script_result_discarded.p50)
            ),
            us(a.script_result.p50) - us(a.script_result_discarded.p50),
            us(a.script_result.min) - us(a.script_result_discarded.min),
        );
        let _ = writeln!(
            out,
            "\nThe library sets `PoolingAllocationConfig::pagemap_scan(Enabled::Auto)`: on Linux ≥ 6.7 a \
             freed slot resets only the pages the instance dirtied. Without it (wasmtime's default, and \
             what older kernels get) the whole keep-resident region is reset with `memcpy`/`memset` \
             (medians):\n"
        );
        let _ = writeln!(
            out,
            "| raw engine | store | instantiate | run | drop | total |\n|---|---|---|---|---|---|"
        );
        for (label, p) in [
            ("library settings", &s.raw.median),
            ("without pagemap_scan", &s.raw_without_pagemap.median),
        ] {
            let _ = writeln!(
                out,
                "| {label} | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs | {:.1} µs |",
                us(p.store),
                us(p.instantiate),
                us(p.run),
                us(p.drop),
                us(total(p))
            );
        }
        out.push('\n');
    }

    fn write_cpu(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## 3. CPU workloads: sandbox vs native QuickJS\n\n\
             Fastest of {} rounds (after one warm-up round); in each round every mode runs each workload \
             once, interleaved. The fastest, not the median: on this shared machine other processes \
             only ever add time, and a run of hundreds of milliseconds is often interrupted. **sandboxed** is the public API with the default `Config` (fuel, yielding every 2,000,000 units, where the deadline is checked; no epoch since issue 14), \
             cached bytecode, fresh instance. **native fresh** creates a QuickJS runtime and context, \
             evaluates the source (parse included) and frees them; **native reused** evaluates in one \
             long-lived context. The raw-engine columns run the same precompiled bytecode in a fresh \
             instance of a plain wasmtime engine with only the named mechanisms on; \"neither\" is \
             wasm alone. Ratios are against native fresh. Scripts: `bench/js/`.\n",
            self.cpu_rounds
        );
        let raw_labels: Vec<&str> = self
            .cpu
            .first()
            .map_or(Vec::new(), |row| row.raw.iter().map(|(l, _)| *l).collect());
        let _ = write!(
            out,
            "| workload | native fresh | native reused | sandboxed (API) |"
        );
        for label in &raw_labels {
            let _ = write!(out, " raw: {label} |");
        }
        let _ = write!(out, "\n|---|---|---|---|");
        for _ in &raw_labels {
            out.push_str("---|");
        }
        out.push('\n');
        for row in &self.cpu {
            let base = row.native_fresh;
            let _ = write!(
                out,
                "| {} | {:.1} ms | {:.1} ms ({:.2}x) | **{:.1} ms ({:.2}x)** |",
                row.name,
                ms(base),
                ms(row.native_reused),
                ratio(row.native_reused, base),
                ms(row.sandboxed),
                ratio(row.sandboxed, base)
            );
            for (_, time) in &row.raw {
                let _ = write!(out, " {:.1} ms ({:.2}x) |", ms(*time), ratio(*time, base));
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "\nCost of each mechanism, raw engine, relative to \"neither\":\n"
        );
        let _ = writeln!(out, "| workload | what it does | fuel + epoch | epoch only | fuel only |\n|---|---|---|---|---|");
        for row in &self.cpu {
            let find = |label: &str| row.raw.iter().find(|(l, _)| *l == label).map(|(_, t)| *t);
            let Some(neither) = find("neither") else {
                continue;
            };
            let cell = |label: &str| {
                find(label).map_or_else(
                    || "-".to_owned(),
                    |t| format!("{:+.1}%", (ratio(t, neither) - 1.0) * 100.0),
                )
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.name,
                row.description,
                cell("fuel + epoch"),
                cell("epoch only"),
                cell("fuel only")
            );
        }
        out.push('\n');
    }

    /// The peers table: the sandbox against what a Rust service could embed instead,
    /// in process and without isolation, on the same scripts in the same run.
    fn write_peers(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## 3a. Peers: jsruntime vs native QuickJS vs Boa\n\n\
             What a Rust service could use instead of the sandbox, on the same scripts in this run: native QuickJS (the engine the guest embeds, built for the host) and Boa (`boa_engine` {}, a pure-Rust engine), both in process, with no isolation, each with a fresh runtime or context per execution. `1+1`: p50 of {} executions of each peer, interleaved, against section 1's p50 for jsruntime. CPU workloads: section 3's fastest of {} rounds; Boa ran one of them (`BOA_ROUNDS`: it is one to two orders of magnitude slower, and its strings workload alone took minutes over every round). Ratios are jsruntime's time over the peer's: below 1, the sandbox is faster.\n",
            crate::boa::VERSION,
            self.peers_trivial.samples,
            self.cpu_rounds
        );
        let boa_missing = "not built (the `boa` feature is off)";
        let _ = writeln!(
            out,
            "| script | jsruntime (API) | native QuickJS, fresh | Boa, fresh | jsruntime / QuickJS | jsruntime / Boa | Boa / QuickJS |\n\
             |---|---|---|---|---|---|---|"
        );
        let trivial = self.trivial.latency.p50;
        let native = self.peers_trivial.native.p50;
        let boa = self.peers_trivial.boa.as_ref().map(|b| b.p50);
        let mut rows = vec![("`1+1` (p50)", trivial, native, boa, true)];
        for row in &self.cpu {
            rows.push((row.name, row.sandboxed, row.native_fresh, row.boa, false));
        }
        for (name, ours, quickjs, boa, micro) in rows {
            let time = |d: Duration| {
                if micro {
                    format!("{:.1} µs", us(d))
                } else {
                    format!("{:.1} ms", ms(d))
                }
            };
            let (boa_time, ours_boa, boa_quickjs) = match boa {
                Some(b) => (
                    time(b),
                    format!("{:.2}", ratio(ours, b)),
                    format!("{:.2}", ratio(b, quickjs)),
                ),
                None => (boa_missing.to_owned(), "-".to_owned(), "-".to_owned()),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {boa_time} | {:.2} | {ours_boa} | {boa_quickjs} |",
                time(ours),
                time(quickjs),
                ratio(ours, quickjs),
            );
        }
        out.push('\n');
    }

    fn write_bundle(&self, out: &mut String) {
        let b = &self.bundle;
        let _ = writeln!(
            out,
            "## 4. A 200 KiB script: from source vs cached bytecode\n\n\
             A generated bundle ({} bytes of source, {} bytes of bytecode; `workloads::bundle`): a module \
             registry and a few hundred modules of small functions, of which five run. Fastest of {} \
             runs each (as in section 3), interleaved, through the public API.\n",
            b.source_bytes, b.bytecode_bytes, b.runs
        );
        let _ = writeln!(out, "| how | fastest | vs compiled script |\n|---|---|---|");
        let rows = [
            (
                "`ExecRequest::source`, new name each run (compile-cache miss: compile + run)",
                b.source_miss,
            ),
            (
                "`ExecRequest::source`, same name (cache hit; hashes the 200 KiB source)",
                b.source_hit,
            ),
            (
                "`ExecRequest::script` of a `Runtime::compile`d script",
                b.script,
            ),
            (
                "native QuickJS, fresh context, from source (reference)",
                b.native_fresh,
            ),
        ];
        for (how, time) in rows {
            let _ = writeln!(
                out,
                "| {how} | {:.2} ms | {:.2}x |",
                ms(time),
                ratio(time, b.script)
            );
        }
        out.push('\n');
    }

    fn write_memory(&self, out: &mut String) {
        let Some(first) = self.memory.first() else {
            return;
        };
        let n = first.instances;
        let _ = writeln!(
            out,
            "## 5. Memory per live instance\n\n\
             The public API drops each instance when its execution ends, so this uses the raw engine \
             ({n}+ pool slots): {n} stores are instantiated and each runs a small script, all kept \
             alive; then all are dropped; then {n} are created again, in the same pool slots. Memory \
             comes from `/proc/self/status` (VmRSS, RssAnon) and `/proc/self/smaps_rollup` (Pss), \
             read before, with the first {n} alive, after dropping them, and with the second {n} alive. \
             Per-instance figures are the growth over the reading before, divided by {n}.\n\n\
             A fresh slot maps the guest's memory image copy-on-write and only the pages the \
             instance writes become private. When an instance is freed, the pool resets up to {} KiB \
             of its memory *in place* (keep-resident) and keeps those pages: with `pagemap_scan` only \
             the pages the instance dirtied, without it the whole region (the image is copied back, \
             the rest zeroed), so that every slot ever used then holds the whole region resident, \
             alive or not. VmRSS counts a shared page once per mapping (the image is mapped into \
             every instance); Pss divides it.\n",
            crate::raw_engine::KEEP_RESIDENT_BYTES / 1024
        );
        let _ = writeln!(
            out,
            "| engine | fresh slots: VmRSS | fresh: Pss | fresh: RssAnon | after drop, kept per used slot (VmRSS) | reused slots: VmRSS | reused: Pss |\n\
             |---|---|---|---|---|---|---|"
        );
        for m in &self.memory {
            let per = |before: u64, after: u64| per_instance_mib(before, after, m.instances);
            let _ = writeln!(
                out,
                "| {} | {:.2} MiB | {:.2} MiB | {:.2} MiB | {:.2} MiB | {:.2} MiB | {:.2} MiB |",
                m.label,
                m.fresh_rss_mib(),
                per(m.before.pss, m.fresh.pss),
                per(m.before.anon, m.fresh.anon),
                per(m.before.rss, m.after_first_drop.rss),
                m.reused_rss_mib(),
                per(m.before.pss, m.reused.pss)
            );
        }
        let _ = writeln!(out, "\nRaw readings, library settings (MiB):\n");
        let _ = writeln!(out, "| reading | before | fresh, alive | after drop | reused, alive |\n|---|---|---|---|---|");
        let mib = |kib: u64| kib as f64 / 1024.0;
        let rows = [
            (
                "VmRSS",
                first.before.rss,
                first.fresh.rss,
                first.after_first_drop.rss,
                first.reused.rss,
            ),
            (
                "RssAnon",
                first.before.anon,
                first.fresh.anon,
                first.after_first_drop.anon,
                first.reused.anon,
            ),
            (
                "RssFile + RssShmem",
                first.before.shared,
                first.fresh.shared,
                first.after_first_drop.shared,
                first.reused.shared,
            ),
            (
                "Pss",
                first.before.pss,
                first.fresh.pss,
                first.after_first_drop.pss,
                first.reused.pss,
            ),
        ];
        for (name, before, fresh, dropped, reused) in rows {
            let _ = writeln!(
                out,
                "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
                mib(before),
                mib(fresh),
                mib(dropped),
                mib(reused)
            );
        }
        out.push('\n');
    }

    fn write_cli(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "## 6. CLI start-up\n\n\
             `target/release/jsruntime run trivial.js` as a child process, timed from spawn to the first \
             line of output (`2`). Cold: `XDG_CACHE_HOME` is a new empty directory, so the guest is \
             compiled with Cranelift before anything runs. Warm: the compiled guest is in the cache \
             (filled by the first cold run).\n"
        );
        match &self.cli {
            Ok(cli) => {
                let _ = writeln!(
                    out,
                    "| cache | runs | median | min | max |\n|---|---|---|---|---|"
                );
                for (name, runs) in [("warm", &cli.warm), ("cold", &cli.cold)] {
                    let summary = Summary::of(runs.clone());
                    let _ = writeln!(
                        out,
                        "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
                        summary.count,
                        ms(summary.p50),
                        ms(summary.min),
                        ms(summary.max)
                    );
                }
            }
            Err(reason) => {
                let _ = writeln!(out, "Not measured: {reason}.");
            }
        }
        out.push('\n');
    }

    fn write_timeouts(&self, out: &mut String) {
        let t = &self.timeouts;
        let _ = writeln!(
            out,
            "## 7. Timeout and cancellation precision\n\n\
             Three guests through the public API on a current-thread tokio runtime, fuel large \
             enough never to run out: `while (true) {{}}`; a loop of 24 MiB `copyWithin`s (each one \
             `memory.copy` instruction, which runs uninterrupted; wasmtime charges it a unit of fuel \
             per byte before it runs, so the guest yields before each); and a promise waiting for a \
             timer far past the deadline (the guest waits in the host's wait import). Timeout: a {} ms timeout; the figure is the time `execute` took \
             past {} ms. Cancellation: another thread cancels the request's `CancellationToken` {} ms \
             into the run; the figure is the time from `cancel()` to `execute` returning `cancelled`. \
             The deadline and the token are checked at every fuel yield of the guest (every 2,000,000 fuel units).\n",
            ms(t.timeout),
            ms(t.timeout),
            ms(t.cancel_after)
        );
        let _ = writeln!(
            out,
            "| guest | figure | runs | p50 | max |\n|---|---|---|---|---|"
        );
        for row in &t.rows {
            for (figure, summary) in [
                ("timeout overshoot", &row.overshoot),
                ("cancellation latency", &row.cancel),
            ] {
                let _ = writeln!(
                    out,
                    "| {} | {figure} | {} | {:.2} ms | {:.2} ms |",
                    row.what,
                    summary.count,
                    ms(summary.p50),
                    ms(summary.max)
                );
            }
        }
        if let Some(steal) = t.steal_percent {
            let _ = writeln!(
                out,
                "\nSteal time during this section: {steal:.1}% of the machine's CPU time \
                 (`/proc/stat`: the hypervisor running other guests while this one wanted to run). \
                 A vCPU it deschedules stalls the execution and the thread that would answer it, \
                 typically for several milliseconds, so a max well above the p50 in a section \
                 with steal is the machine's; `jsruntime-bench timeouts` reruns this section alone."
            );
        }
    }
}

impl Results {
    fn write_tenants(&self, out: &mut String) {
        let n = &self.noisy;
        let _ = writeln!(
            out,
            "\n## 8. Tenants sharing a runtime\n\n\
             A service's two-worker multi-thread tokio runtime, default `Config` (64 slots, a \
             tenant holds at most a quarter). The noisy tenant keeps {HOG_IN_FLIGHT} executions of \
             `while (true) {{}}` in flight, each running to (or waiting until) its 1 s timeout; the \
             quiet tenant runs `1+1` back to back, one at a time. Before issue 11 (one global \
             arrival order, no cap; measured 2026-12-01 on this machine kind) the quiet tenant's \
             p50 was 970 ms and its max 996 ms. \"Round robin only\" lifts the cap \
             (`max_concurrency_per_tenant = max_concurrency`): the noisy tenant then holds every \
             slot and the quiet one waits for the next to free.\n"
        );
        let _ = writeln!(
            out,
            "| quiet tenant's `1+1` | executions | p50 | p99 | max |\n|---|---|---|---|---|"
        );
        for (what, s) in [
            ("alone", &n.alone),
            ("beside the noisy tenant", &n.beside_hog),
            (
                "beside it, round robin only (no cap)",
                &n.beside_hog_uncapped,
            ),
        ] {
            let _ = writeln!(
                out,
                "| {what} | {} | {:.1} µs | {:.1} µs | {:.2} ms |",
                s.count,
                us(s.p50),
                us(s.p99),
                ms(s.max)
            );
        }
        let _ = writeln!(
            out,
            "\nThe noisy tenant's executions that ended during the run, warm-up included (default `Config`): \
             {}, all at their timeout, most of them while waiting under its cap.",
            n.hog_ended
        );
        let f = &self.flood;
        let _ = writeln!(
            out,
            "\nBoth tenants flooding: each keeps 100 executions of the same ~2 ms loop in flight \
             for {:.0} s; completed: {} and {} ({:.1}% / {:.1}%).\n",
            f.window.as_secs_f64(),
            f.completed[0],
            f.completed[1],
            f.share(0) * 100.0,
            (1.0 - f.share(0)) * 100.0
        );
        let q = &self.quota_cost;
        let _ = writeln!(
            out,
            "What a quota check adds to `1+1` (one execution at a time on a current-thread \
             runtime; a quota with an executions and a fuel budget, so one admission and one fuel \
             charge per execution):\n\n| quota | p50 | p99 | added to p50 |\n|---|---|---|---|"
        );
        let _ = writeln!(
            out,
            "| none | {:.1} µs | {:.1} µs | |",
            us(q.none.p50),
            us(q.none.p99)
        );
        let _ = writeln!(
            out,
            "| in-process store | {:.1} µs | {:.1} µs | {:+.1} µs |",
            us(q.memory.p50),
            us(q.memory.p99),
            us(q.memory.p50) - us(q.none.p50)
        );
        match &q.redis {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| Redis on loopback | {:.1} µs | {:.1} µs | {:+.1} µs |",
                    us(r.p50),
                    us(r.p99),
                    us(r.p50) - us(q.none.p50)
                );
            }
            Err(reason) => {
                let _ = writeln!(out, "| Redis | not measured: {reason} | | |");
            }
        }
    }
}

/// Section 9 (also printed by `jsruntime-bench handlers`).
pub fn write_handlers(out: &mut String, h: &Handlers, raw: &RawSplit) {
    let _ = writeln!(
        out,
        "\n## 9. Handlers and modules\n\n\
             Issue 12's targets. Default `Config`, a `MemoryModuleLoader`, one execution at a \
             time on a current-thread runtime, everything cached (bytecode, the pool's ready \
             instances); p50 of {} executions each, after a fifth as many to warm up, taken \
             in turns ({ROUNDS} rounds, each with its share of every one, the native parse too, so a \
             slower stretch of the machine slows both sides of a ratio alike). The \
             handler is `export default (cart) => cart.items.length`, called with a cart of \
             {} and {} bytes of JSON (`ExecRequest::input_json`); the graph's entry imports \
             {GRAPH_MODULES} one-function modules (`./lib/mN.js`) and calls each, the script \
             defines the same functions and makes the same calls. The native `JSON.parse` runs \
             in a warm context (rquickjs, no sandbox), the parsed value freed after the clock \
             stops.\n",
        h.trivial.count, h.input_sizes.0, h.input_sizes.1
    );
    let _ = writeln!(
        out,
        "| | p50 | p99 | against | p50 | ratio | target |\n|---|---|---|---|---|---|---|"
    );
    for (what, value, base_what, base, target) in h.figures() {
        let r = ratio(value.p50, base.p50);
        let _ = writeln!(
            out,
            "| {what} | {:.1} µs | {:.1} µs | {base_what} | {:.1} µs | {r:.2} | <= {target} {} |",
            us(value.p50),
            us(value.p99),
            us(base.p50),
            if r <= target { "(met)" } else { "(not met)" }
        );
    }
    let _ = writeln!(
        out,
        "\nThe guest's share: the same guest calls on the raw engine (section 2's: library \
             engine settings, stub imports, no pipeline), instantiation included (the library \
             instantiates ahead, on its pool thread, so its figures may be lower than these).\n\n\
             | raw engine | p50 | library p50 |\n|---|---|---|"
    );
    for (what, raw, library) in [
        ("`run` of `1+1`", &raw.trivial, Some(&h.trivial)),
        (
            "`run` of a script reading the 1 KiB `input`",
            &raw.script_1k,
            None,
        ),
        (
            "`run-module` of the handler, 1 KiB input",
            &raw.handler_1k,
            Some(&h.handler_1k),
        ),
        (
            "`run` of the graph's code as one script",
            &raw.graph_as_script,
            Some(&h.graph_as_script),
        ),
        (
            "`run-module` of the graph (21 modules' bytecode, linked)",
            &raw.graph,
            Some(&h.graph),
        ),
        (
            "`run-module` of the handler, 100 KiB input",
            &raw.input_100k,
            Some(&h.input_100k),
        ),
    ] {
        let library = library.map_or(String::new(), |s| format!("{:.1} µs", us(s.p50)));
        let _ = writeln!(out, "| {what} | {:.1} µs | {library} |", us(raw.p50));
    }
    let _ = writeln!(
        out,
        "\nBuilding the handler's request reads its input into the tape the guest makes the \
         value from, natively and once per request (`ExecRequest::input_json`; the library's \
         rows above time `execute` of a built request, as every row of this report does): \
         p50 {:.1} µs for the 1 KiB input, {:.1} µs for the 100 KiB one.",
        us(raw.request_1k.p50),
        us(raw.request_100k.p50)
    );
}

fn ratio(value: Duration, base: Duration) -> f64 {
    value.as_secs_f64() / base.as_secs_f64().max(f64::MIN_POSITIVE)
}
