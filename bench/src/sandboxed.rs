//! Measurements through the public async API of `jsruntime`: every execution is
//! `Runtime::execute`, a fresh instance from the pool, under the default `Config`
//! (fuel on, its yields carrying the deadline and cancellation checks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use jsruntime::{
    CancellationToken, Config, ErrorKind, ExecContext, ExecRequest, Outcome, Runtime, Script,
    Tenant, User, MIB,
};

use crate::stats::Summary;
use crate::workloads::TRIVIAL;

/// Limits of the CPU workloads: they must not hit the defaults (1 s, 64 MiB); the
/// mechanisms stay on, and the budget's size does not change their cost.
const WORKLOAD_TIMEOUT: Duration = Duration::from_secs(30);
const WORKLOAD_FUEL: u64 = 1_000_000_000_000;
const WORKLOAD_MEMORY: u64 = 512 * MIB;

/// A `jsruntime` runtime with the default configuration, and a single-threaded tokio
/// runtime to drive it.
pub struct Api {
    /// The runtime.
    pub runtime: Runtime,
    tokio: tokio::runtime::Runtime,
}

impl Api {
    /// `Runtime::new(Config::default())`: the compiled guest comes from the default
    /// component cache (compiled on first use).
    pub fn new() -> Result<Api> {
        Api::with_config(Config::default())
    }

    /// A runtime with this configuration.
    pub fn with_config(config: Config) -> Result<Api> {
        let runtime = Runtime::new(config)?;
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Api { runtime, tokio })
    }

    /// Runs `future` on this API's tokio runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.tokio.block_on(future)
    }

    /// Executes a request to completion.
    pub fn execute(&self, request: &ExecRequest) -> Result<Outcome> {
        Ok(self.block_on(self.runtime.execute(request))?)
    }

    /// Wall time of one successful execution.
    pub fn time(&self, request: &ExecRequest) -> Result<Duration> {
        let started = Instant::now();
        self.execute(request)?;
        Ok(started.elapsed())
    }

    /// Compiles through the runtime (and its cache).
    pub fn compile(&self, name: &str, source: &str) -> Result<Script> {
        Ok(self.block_on(self.runtime.compile(name, source))?)
    }
}

/// The caller context every trivial execution carries: tenant, user, request id.
pub fn bench_context() -> ExecContext {
    ExecContext::default()
        .with_tenant(Tenant {
            id: "tenant-1".into(),
            name: Some("Acme".into()),
        })
        .with_user(User {
            id: "user-1".into(),
            email: Some("ada@example.com".into()),
            permissions: vec!["scripts.execute".into()],
            ..User::default()
        })
        .with_request_id("req-0001")
}

/// The trivial request: `ExecRequest::source("1+1")` with [`bench_context`].
pub fn trivial_request() -> ExecRequest {
    ExecRequest::source(TRIVIAL).context(bench_context())
}

/// A request for a CPU workload, with room to finish.
pub fn workload_request(request: ExecRequest) -> ExecRequest {
    request
        .timeout(WORKLOAD_TIMEOUT)
        .fuel(WORKLOAD_FUEL)
        .memory_bytes(WORKLOAD_MEMORY)
}

/// Latency of the trivial request, one at a time, after `warmup` executions.
pub fn trivial_latency(api: &Api, warmup: usize, samples: usize) -> Result<Summary> {
    let request = trivial_request();
    for _ in 0..warmup {
        api.execute(&request)?;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        times.push(api.time(&request)?);
    }
    Ok(Summary::of(times))
}

/// Throughput of trivial executions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Throughput {
    /// Executions per second (wall clock).
    pub per_second: f64,
    /// CPU time of the whole process (every thread, the library's included) per execution.
    pub cpu_per_exec: Duration,
}

/// Trivial executions per second with `tasks` tasks looping for `duration`: one task
/// on a current-thread tokio runtime, more on a multi-thread runtime with one worker
/// per task.
pub fn throughput(runtime: &Runtime, tasks: usize, duration: Duration) -> Result<Throughput> {
    let tokio = if tasks == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(tasks)
            .enable_all()
            .build()?
    };
    let done = std::sync::Arc::new(AtomicU64::new(0));
    let cpu_before = crate::system::process_cpu_time();
    let started = Instant::now();
    let deadline = started + duration;
    tokio.block_on(async {
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let runtime = runtime.clone();
            let done = std::sync::Arc::clone(&done);
            handles.push(tokio::spawn(async move {
                let request = trivial_request();
                while Instant::now() < deadline {
                    runtime.execute(&request).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, jsruntime::ExecError>(())
            }));
        }
        for handle in handles {
            handle
                .await
                .map_err(|e| anyhow!("a throughput task failed: {e}"))??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let elapsed = started.elapsed();
    let cpu = crate::system::process_cpu_time().saturating_sub(cpu_before);
    let done = done.load(Ordering::Relaxed).max(1);
    Ok(Throughput {
        per_second: done as f64 / elapsed.as_secs_f64(),
        cpu_per_exec: cpu / u32::try_from(done).unwrap_or(u32::MAX),
    })
}

/// Timings of trivial variants through the API, for the split of one execution.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiSplit {
    /// `ExecRequest::source("1+1")`, cache hit (the trivial request).
    pub source_trivial: Summary,
    /// `ExecRequest::script` of `1+1`.
    pub script_trivial: Summary,
    /// `ExecRequest::script` of `null`.
    pub script_null: Summary,
    /// A script that reads `context` (tenant, user, request id).
    pub script_context: Summary,
    /// A script that builds a 1000-element array of objects and returns it.
    pub script_result: Summary,
    /// The same script, returning `null` instead.
    pub script_result_discarded: Summary,
    /// Bytes of the large result's JSON.
    pub result_bytes: usize,
}

/// The array the result-size variant builds (about 38 KB of JSON).
pub const BUILD_ARRAY: &str =
    "Array.from({ length: 1000 }, (_, i) => ({ id: i, name: 'item-' + i, even: i % 2 === 0 }))";

/// Runs each split variant in blocks (a warm-up, then `samples / PASSES` timed runs),
/// cycling through the variants `PASSES` times, and summarizes each. Blocks, not
/// round-robin: a large execution right before a trivial one slows it (cold caches),
/// which is not the cost of the trivial one.
pub fn api_split(api: &Api, samples: usize) -> Result<ApiSplit> {
    const PASSES: usize = 4;
    let context = bench_context();
    let script = |name: &str, source: &str| -> Result<ExecRequest> {
        Ok(ExecRequest::script(&api.compile(name, source)?).context(context.clone()))
    };
    let variants = [
        trivial_request(),
        script("trivial.js", TRIVIAL)?,
        script("null.js", "null")?,
        script(
            "context.js",
            "context.tenantID + '/' + context.user.id + '/' + context.requestID",
        )?,
        script("result.js", BUILD_ARRAY)?,
        script("discarded.js", &format!("{BUILD_ARRAY}, null"))?,
    ];
    let result_bytes = api.execute(&variants[4])?.value.to_string().len();
    let block = (samples / PASSES).max(1);
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(samples); variants.len()];
    for _ in 0..PASSES {
        for (request, times) in variants.iter().zip(times.iter_mut()) {
            for _ in 0..(block / 10).max(1) {
                api.execute(request)?;
            }
            for _ in 0..block {
                times.push(api.time(request)?);
            }
        }
    }
    let mut summaries = times.into_iter().map(Summary::of);
    let mut next = || summaries.next().unwrap_or_default();
    Ok(ApiSplit {
        source_trivial: next(),
        script_trivial: next(),
        script_null: next(),
        script_context: next(),
        script_result: next(),
        script_result_discarded: next(),
        result_bytes,
    })
}

/// The infinite loop of the timeout and cancellation figures.
pub const SPIN: &str = "while (true) {}";

/// A loop of bulk-memory operations, each one `memory.copy` of 24 MiB that runs
/// uninterrupted: the deadline can only be seen between two of them.
pub const SPIN_BULK_MEMORY: &str =
    "const bytes = new Uint8Array(24 * 1024 * 1024); while (true) bytes.copyWithin(1, 0);";

/// A guest waiting on the host (the wait loop's import) for a timer far past any deadline.
pub const WAIT_ON_HOST: &str = "new Promise((resolve) => setTimeout(resolve, 1e9))";

/// Section 7's guests: a loop, bulk-memory operations, a wait in the host.
pub const TIMEOUT_GUESTS: [(&str, &str); 3] = [
    ("`while (true) {}`", SPIN),
    ("24 MiB `copyWithin` in a loop", SPIN_BULK_MEMORY),
    ("waiting on a timer (host wait)", WAIT_ON_HOST),
];

/// Section 7's timeout.
pub const TIMEOUT: Duration = Duration::from_millis(100);
/// Runs of each guest for each of section 7's figures.
pub const TIMEOUT_RUNS: usize = 10;
/// How far into a run section 7 cancels it.
pub const CANCEL_AFTER: Duration = Duration::from_millis(50);

/// How long past its 100 ms timeout `while(true){}` ran before `execute` returned.
pub fn timeout_overshoot(
    api: &Api,
    runs: usize,
    timeout: Duration,
    source: &str,
) -> Result<Vec<Duration>> {
    let request = ExecRequest::source(source)
        .timeout(timeout)
        .fuel(WORKLOAD_FUEL);
    let mut overshoots = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let result = api.block_on(api.runtime.execute(&request));
        let elapsed = started.elapsed();
        match result {
            Err(error) if error.kind() == ErrorKind::Timeout => {}
            other => bail!("{source} under a timeout ended with {other:?}"),
        }
        overshoots.push(elapsed.saturating_sub(timeout));
    }
    Ok(overshoots)
}

/// Time from `CancellationToken::cancel` (on another thread, `after` into the run)
/// to `execute` returning `cancelled`.
pub fn cancellation_latency(
    api: &Api,
    runs: usize,
    after: Duration,
    source: &str,
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(runs);
    for _ in 0..runs {
        let token = CancellationToken::new();
        let request = ExecRequest::source(source)
            .timeout(Duration::from_secs(10))
            .fuel(WORKLOAD_FUEL)
            .cancel_token(token.clone());
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(after);
            let at = Instant::now();
            token.cancel();
            at
        });
        let result = api.block_on(api.runtime.execute(&request));
        let returned = Instant::now();
        let cancelled_at = canceller
            .join()
            .map_err(|_| anyhow!("the canceller panicked"))?;
        match result {
            Err(error) if error.kind() == ErrorKind::Cancelled => {}
            other => bail!("a cancelled {source} ended with {other:?}"),
        }
        latencies.push(returned.saturating_duration_since(cancelled_at));
    }
    Ok(latencies)
}
