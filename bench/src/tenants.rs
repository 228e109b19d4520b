//! Tenants sharing one runtime (issue 11): the noisy neighbour, both tenants flooding,
//! and what a quota check adds to a trivial execution.
//!
//! Every scenario runs on a two-worker multi-thread tokio runtime (a service's), with
//! the default `Config` unless it says otherwise.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use jsruntime::{
    BudgetStore, Config, ExecContext, ExecRequest, Quota, Runtime, StaticPolicy, Tenant,
    TenantLimits,
};

use crate::stats::Summary;

/// The noisy tenant's executions in flight, and how long its flood runs before and
/// while the quiet tenant is measured.
pub const HOG_IN_FLIGHT: usize = 200;
const WARM_UP: Duration = Duration::from_millis(1500);
const MEASURE: Duration = Duration::from_secs(5);
/// Both tenants flooding: executions in flight each, and the script (a few ms of work).
const FLOOD_IN_FLIGHT: usize = 100;
const FLOOD_SCRIPT: &str = "let x = 0; for (let i = 0; i < 2e4; i++) x += i; x";
/// Trivial executions timed for the quota-check cost.
const QUOTA_SAMPLES: usize = 5_000;

fn tenant(id: &str) -> ExecContext {
    ExecContext::default().with_tenant(Tenant {
        id: id.into(),
        name: None,
    })
}

fn service_runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The quiet tenant's trivial executions while the noisy one keeps
/// [`HOG_IN_FLIGHT`] busy loops in flight, each running to its 1 s timeout.
#[derive(Debug, Clone, Copy)]
pub struct NoisyNeighbour {
    /// The quiet tenant alone.
    pub alone: Summary,
    /// With the noisy tenant, default `Config` (per-tenant cap a quarter of the slots).
    pub beside_hog: Summary,
    /// With the noisy tenant and no per-tenant cap (round robin only).
    pub beside_hog_uncapped: Summary,
    /// Executions of the noisy tenant that ended meanwhile (all should be timeouts).
    pub hog_ended: u64,
}

/// Runs the noisy-neighbour scenarios.
pub fn noisy_neighbour() -> Result<NoisyNeighbour> {
    let tokio = service_runtime()?;
    let alone = tokio.block_on(async {
        let runtime = Runtime::new(Config::default())?;
        quiet_latencies(&runtime, MEASURE / 2).await
    })?;
    let (beside_hog, hog_ended) = tokio.block_on(run_beside_hog(Config::default()))?;
    let mut uncapped = Config::default();
    uncapped.max_concurrency_per_tenant = Some(uncapped.max_concurrency);
    let (beside_hog_uncapped, _) = tokio.block_on(run_beside_hog(uncapped))?;
    Ok(NoisyNeighbour {
        alone,
        beside_hog,
        beside_hog_uncapped,
        hog_ended,
    })
}

async fn run_beside_hog(config: Config) -> Result<(Summary, u64)> {
    let runtime = Runtime::new(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let ended = Arc::new(AtomicU64::new(0));
    let hog: Vec<_> = (0..HOG_IN_FLIGHT)
        .map(|_| {
            let (runtime, stop, ended) = (runtime.clone(), stop.clone(), ended.clone());
            tokio::spawn(async move {
                let request = ExecRequest::source("while (true) {}").context(tenant("noisy"));
                while !stop.load(Ordering::Relaxed) {
                    let _ = runtime.execute(&request).await;
                    ended.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(WARM_UP).await;
    let quiet = quiet_latencies(&runtime, MEASURE).await;
    stop.store(true, Ordering::Relaxed);
    for task in hog {
        task.await?;
    }
    Ok((quiet?, ended.load(Ordering::Relaxed)))
}

/// The quiet tenant runs `1+1` back to back for `window`.
async fn quiet_latencies(runtime: &Runtime, window: Duration) -> Result<Summary> {
    let request = ExecRequest::source("1+1").context(tenant("quiet"));
    let mut samples = Vec::new();
    let until = Instant::now() + window;
    while Instant::now() < until {
        let started = Instant::now();
        runtime.execute(&request).await?;
        samples.push(started.elapsed());
    }
    Ok(Summary::of(samples))
}

/// Both tenants keep [`FLOOD_IN_FLIGHT`] executions of the same script in flight.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// Executions completed by each tenant.
    pub completed: [u64; 2],
    /// How long both flooded.
    pub window: Duration,
}

impl Flood {
    /// The share of all completions that tenant `index` had.
    pub fn share(&self, index: usize) -> f64 {
        let total = self.completed.iter().sum::<u64>().max(1);
        self.completed[index] as f64 / total as f64
    }
}

/// Runs the two-floods scenario.
pub fn flood() -> Result<Flood> {
    let tokio = service_runtime()?;
    tokio.block_on(async {
        let runtime = Runtime::new(Config::default())?;
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let counts = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
        let mut tasks = Vec::new();
        for (index, id) in ["first", "second"].into_iter().enumerate() {
            for _ in 0..FLOOD_IN_FLIGHT {
                let (runtime, measuring, stop) = (runtime.clone(), measuring.clone(), stop.clone());
                let count = counts[index].clone();
                let request = ExecRequest::source(FLOOD_SCRIPT)
                    .context(tenant(id))
                    .timeout(Duration::from_secs(30));
                tasks.push(tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let ok = runtime.execute(&request).await.is_ok();
                        if ok && measuring.load(Ordering::Relaxed) {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
        }
        tokio::time::sleep(WARM_UP).await;
        measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(MEASURE).await;
        measuring.store(false, Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await?;
        }
        let completed = [
            counts[0].load(Ordering::Relaxed),
            counts[1].load(Ordering::Relaxed),
        ];
        if completed.contains(&0) {
            bail!("a flooding tenant completed nothing: {completed:?}");
        }
        Ok(Flood {
            completed,
            window: MEASURE,
        })
    })
}

/// What a quota check adds to a trivial execution: medians with no quota and with a
/// quota counted in each store.
#[derive(Debug, Clone)]
pub struct QuotaCost {
    /// No quota.
    pub none: Summary,
    /// Quota (executions and fuel) in the in-process store.
    pub memory: Summary,
    /// The same in Redis, or why it was not measured.
    pub redis: Result<Summary, String>,
}

/// Times trivial executions with and without a quota.
pub fn quota_cost(redis: Option<Arc<dyn BudgetStore>>, redis_missing: String) -> Result<QuotaCost> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let quota = Quota::per(Duration::from_secs(3600))
        .executions(u64::MAX)
        .fuel(u64::MAX);
    let measure = |store: Option<Arc<dyn BudgetStore>>, with_quota: bool| -> Result<Summary> {
        tokio.block_on(async {
            let limits = if with_quota {
                TenantLimits::default().quota(quota.clone())
            } else {
                TenantLimits::default()
            };
            let mut builder = Runtime::builder().tenant_policy(Arc::new(StaticPolicy::new(limits)));
            if let Some(store) = store {
                builder = builder.budget_store(store);
            }
            let runtime = builder.build()?;
            let request = ExecRequest::source("1+1").context(tenant("measured"));
            for _ in 0..QUOTA_SAMPLES / 5 {
                runtime.execute(&request).await?;
            }
            let mut samples = Vec::with_capacity(QUOTA_SAMPLES);
            for _ in 0..QUOTA_SAMPLES {
                let started = Instant::now();
                runtime.execute(&request).await?;
                samples.push(started.elapsed());
            }
            Ok(Summary::of(samples))
        })
    };
    let none = measure(None, false)?;
    let memory = measure(None, true)?;
    let redis = match redis {
        Some(store) => measure(Some(store), true).map_err(|e| format!("{e:#}")),
        None => Err(redis_missing),
    };
    Ok(QuotaCost {
        none,
        memory,
        redis,
    })
}

/// The Redis store the quota cost is measured with: at `JSRUNTIME_TEST_REDIS_URL` (set by
/// `make bench`, which runs the bench under `tools/with-redis`), or why there is none.
pub fn redis_store() -> (Option<Arc<dyn BudgetStore>>, String) {
    let Ok(url) = std::env::var("JSRUNTIME_TEST_REDIS_URL") else {
        return (
            None,
            "no server (run through `make bench`, which starts one)".to_owned(),
        );
    };
    match jsruntime::RedisBudgetStore::new(&url) {
        Ok(store) => {
            let prefix = format!("jsruntime-bench:{}:", std::process::id());
            (Some(Arc::new(store.key_prefix(prefix))), String::new())
        }
        Err(error) => (None, format!("{error}")),
    }
}
