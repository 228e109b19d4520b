//! Execution metrics: kept in the runtime for [`Runtime::metrics`](crate::Runtime::metrics)
//! and published through the [`metrics`] crate facade, so a service exports them with
//! whatever recorder it installs (Prometheus, StatsD, ...).
//!
//! Names published (all prefixed `jsruntime_`):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `jsruntime_executions_total` | counter | `outcome` = `ok` or an error kind |
//! | `jsruntime_compilations_total` | counter | `outcome` (from [`Runtime::compile`](crate::Runtime::compile)) |
//! | `jsruntime_fuel_used_total` | counter | |
//! | `jsruntime_execution_seconds` | histogram | `outcome` |
//! | `jsruntime_pool_available`, `_in_use`, `_waiting` | gauge | |
//! | `jsruntime_pool_created_total`, `_destroyed_total`, `_errors_total` | gauge (monotonic) | |
//! | `jsruntime_cache_hits_total`, `_misses_total` | gauge (monotonic) | |
//! | `jsruntime_cache_entries`, `jsruntime_cache_bytes` | gauge | |
//! | `jsruntime_quota_refusals_total` | counter | `budget` = `executions` or `fuel` |
//! | `jsruntime_quota_store_errors_total` | counter | `operation` = `admit` or `charge_fuel` |
//! | `jsruntime_tenant_running`, `_waiting` | gauge | `tenant` (only with [`Config::tenant_metrics`](crate::Config::tenant_metrics)) |
//!
//! Per-tenant gauges are opt-in: a label value per tenant makes one time series per
//! tenant, which a backend with thousands of tenants may not afford. Requests without a
//! tenant are labelled `tenant=""`; a tenant that has nothing running or waiting is
//! published as 0 once and then left out.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::cache::CacheStats;
use crate::error::ErrorKind;
use crate::pool::PoolStats;
use crate::quota::QuotaStats;
use crate::tenancy::fair::{TenantKey, TenantStats};

/// Percentiles of execution wall time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WallTimePercentiles {
    /// Median, in microseconds.
    pub p50_us: u64,
    /// 90th percentile, in microseconds.
    pub p90_us: u64,
    /// 99th percentile, in microseconds.
    pub p99_us: u64,
}

/// A snapshot of a runtime's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Executions finished, successful or not.
    pub executions_total: u64,
    /// Calls of [`Runtime::compile`](crate::Runtime::compile) finished, successful or not
    /// (not counted in `executions_total`).
    pub compilations_total: u64,
    /// Failed executions by kind (kinds that never happened are absent).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Executions that ended in `timeout`.
    pub timeouts_total: u64,
    /// Fuel used by all executions.
    pub fuel_used_total: u64,
    /// Wall-time percentiles (bucketed: each figure is the upper bound of its bucket,
    /// within about 10% of the true value).
    pub wall_time: WallTimePercentiles,
    /// The instance pool.
    pub pool: PoolStats,
    /// The compile cache.
    pub cache: CacheStats,
    /// Quota refusals and budget-store failures.
    pub quota: QuotaStats,
}

/// Histogram buckets grow by this factor: figures are within ~10%.
const BUCKET_GROWTH: f64 = 1.1;
/// Buckets from 1 µs up to about 1.1^256 µs (far beyond any timeout).
const BUCKETS: usize = 256;

/// Counters kept by the runtime.
#[derive(Debug)]
pub(crate) struct Metrics {
    executions: AtomicU64,
    compilations: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    fuel_used: AtomicU64,
    wall_buckets: Vec<AtomicU64>,
    /// Tenants whose gauges were published last time (to zero those now gone).
    published_tenants: Mutex<HashSet<TenantKey>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            executions: AtomicU64::new(0),
            compilations: AtomicU64::new(0),
            errors: Default::default(),
            fuel_used: AtomicU64::new(0),
            wall_buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            published_tenants: Mutex::new(HashSet::new()),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us <= 1 {
        return 0;
    }
    let index = ((us as f64).ln() / BUCKET_GROWTH.ln()).ceil() as usize;
    index.min(BUCKETS - 1)
}

fn bucket_upper_us(index: usize) -> u64 {
    BUCKET_GROWTH.powi(index as i32).ceil() as u64
}

impl Metrics {
    /// Records one finished execution, here and through the `metrics` facade.
    pub(crate) fn record(&self, outcome: Result<(), ErrorKind>, fuel_used: u64, wall: Duration) {
        self.executions.fetch_add(1, Ordering::Relaxed);
        self.fuel_used.fetch_add(fuel_used, Ordering::Relaxed);
        let wall_us = u64::try_from(wall.as_micros()).unwrap_or(u64::MAX);
        self.wall_buckets[bucket_of(wall_us)].fetch_add(1, Ordering::Relaxed);
        let label = match outcome {
            Ok(()) => "ok",
            Err(kind) => {
                let index = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
                self.errors[index].fetch_add(1, Ordering::Relaxed);
                kind.as_str()
            }
        };
        metrics::counter!("jsruntime_executions_total", "outcome" => label).increment(1);
        metrics::counter!("jsruntime_fuel_used_total").increment(fuel_used);
        metrics::histogram!("jsruntime_execution_seconds", "outcome" => label)
            .record(wall.as_secs_f64());
    }

    /// Records one finished [`Runtime::compile`](crate::Runtime::compile).
    pub(crate) fn record_compilation(&self, outcome: Result<(), ErrorKind>) {
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let label = outcome.map_or_else(ErrorKind::as_str, |()| "ok");
        metrics::counter!("jsruntime_compilations_total", "outcome" => label).increment(1);
    }

    /// Publishes pool and cache figures as gauges.
    pub(crate) fn publish(pool: &PoolStats, cache: &CacheStats) {
        metrics::gauge!("jsruntime_pool_available").set(pool.available as f64);
        metrics::gauge!("jsruntime_pool_in_use").set(pool.in_use as f64);
        metrics::gauge!("jsruntime_pool_waiting").set(pool.waiting as f64);
        metrics::gauge!("jsruntime_pool_created_total").set(pool.created as f64);
        metrics::gauge!("jsruntime_pool_destroyed_total").set(pool.destroyed as f64);
        metrics::gauge!("jsruntime_pool_errors_total").set(pool.errors as f64);
        metrics::gauge!("jsruntime_pool_resident_bytes").set(pool.resident_bytes as f64);
        metrics::gauge!("jsruntime_cache_hits_total").set(cache.hits as f64);
        metrics::gauge!("jsruntime_cache_misses_total").set(cache.misses as f64);
        metrics::gauge!("jsruntime_cache_entries").set(cache.entries as f64);
        metrics::gauge!("jsruntime_cache_bytes").set(cache.bytes as f64);
    }

    /// Publishes running and waiting executions per tenant; tenants published before and
    /// absent now are set to 0.
    pub(crate) fn publish_tenants(&self, tenants: Vec<(TenantKey, TenantStats)>) {
        let mut published = self
            .published_tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now: HashSet<TenantKey> = tenants.iter().map(|(key, _)| key.clone()).collect();
        let gone = published.difference(&now).cloned().collect::<Vec<_>>();
        let zero = TenantStats::default();
        for (key, stats) in tenants
            .iter()
            .map(|(k, s)| (k, s))
            .chain(gone.iter().map(|k| (k, &zero)))
        {
            let label = key.as_deref().unwrap_or("").to_owned();
            metrics::gauge!("jsruntime_tenant_running", "tenant" => label.clone())
                .set(stats.running as f64);
            metrics::gauge!("jsruntime_tenant_waiting", "tenant" => label)
                .set(stats.waiting as f64);
        }
        *published = now;
    }

    pub(crate) fn snapshot(
        &self,
        pool: PoolStats,
        cache: CacheStats,
        quota: QuotaStats,
    ) -> MetricsSnapshot {
        let errors_by_kind = ErrorKind::ALL
            .iter()
            .zip(&self.errors)
            .filter_map(|(kind, count)| {
                let count = count.load(Ordering::Relaxed);
                (count > 0).then(|| (kind.as_str().to_owned(), count))
            })
            .collect::<BTreeMap<_, _>>();
        let timeouts_total = errors_by_kind
            .get(ErrorKind::Timeout.as_str())
            .copied()
            .unwrap_or(0);
        MetricsSnapshot {
            executions_total: self.executions.load(Ordering::Relaxed),
            compilations_total: self.compilations.load(Ordering::Relaxed),
            errors_by_kind,
            timeouts_total,
            fuel_used_total: self.fuel_used.load(Ordering::Relaxed),
            wall_time: self.percentiles(),
            pool,
            cache,
            quota,
        }
    }

    fn percentiles(&self) -> WallTimePercentiles {
        let counts: Vec<u64> = self
            .wall_buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let quantile = |q: f64| -> u64 {
            if total == 0 {
                return 0;
            }
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (index, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return bucket_upper_us(index);
                }
            }
            bucket_upper_us(BUCKETS - 1)
        };
        WallTimePercentiles {
            p50_us: quantile(0.50),
            p90_us: quantile(0.90),
            p99_us: quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_values_within_ten_percent() {
        for us in [2u64, 10, 57, 1_000, 123_456, 10_000_000] {
            let upper = bucket_upper_us(bucket_of(us));
            assert!(upper >= us, "{us} -> {upper}");
            assert!((upper as f64) <= (us as f64) * 1.1 + 1.0, "{us} -> {upper}");
        }
    }

    #[test]
    fn percentiles_and_errors_are_counted() {
        let metrics = Metrics::default();
        for ms in 1..=100u64 {
            metrics.record(Ok(()), 10, Duration::from_millis(ms));
        }
        metrics.record(Err(ErrorKind::Timeout), 5, Duration::from_millis(100));
        let snapshot = metrics.snapshot(
            PoolStats::default(),
            CacheStats::default(),
            QuotaStats::default(),
        );
        assert_eq!(snapshot.executions_total, 101);
        assert_eq!(snapshot.timeouts_total, 1);
        assert_eq!(snapshot.errors_by_kind.get("timeout"), Some(&1));
        assert_eq!(snapshot.fuel_used_total, 1005);
        let p50 = snapshot.wall_time.p50_us;
        assert!((50_000..=56_000).contains(&p50), "p50 {p50}");
        assert!(
            snapshot.wall_time.p99_us >= 99_000,
            "p99 {}",
            snapshot.wall_time.p99_us
        );
    }
}
