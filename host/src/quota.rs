//! The quota check of the pipeline: an execution is counted in its tenant's window, or
//! refused, before it takes a slot; its fuel is charged after it ended.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;

use crate::error::ExecError;
use crate::host_calls::panic_message;
use crate::tenancy::budget::{Admission, Budget, BudgetLimits, BudgetStore, StoreError, WindowKey};
use crate::tenancy::fair::TenantKey;
use crate::tenancy::policy::{Quota, StoreFailure};

/// How long the caller waits, after its execution ended, for the execution's fuel to be
/// charged: the same grace the caller is ever kept past its deadline. A store slower than
/// this loses the charge (counted as a store error) rather than hold the result.
const CHARGE_TIMEOUT: Duration = Duration::from_millis(250);

/// Quota figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct QuotaStats {
    /// Executions refused because their executions budget was used up.
    pub refused_executions: u64,
    /// Executions refused because their fuel budget was used up.
    pub refused_fuel: u64,
    /// Store operations that failed or timed out (admissions and charges).
    pub store_errors: u64,
}

/// The quota check, over the runtime's budget store.
#[derive(Debug)]
pub(crate) struct Quotas {
    store: Arc<dyn BudgetStore>,
    refused_executions: AtomicU64,
    refused_fuel: AtomicU64,
    store_errors: AtomicU64,
}

/// An admitted execution's fuel, to charge once it ended.
#[derive(Debug)]
pub(crate) struct FuelCharge {
    key: WindowKey,
}

impl Quotas {
    pub(crate) fn new(store: Arc<dyn BudgetStore>) -> Quotas {
        Quotas {
            store,
            refused_executions: AtomicU64::new(0),
            refused_fuel: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
        }
    }

    /// Counts one execution of `tenant` in its current window, or refuses it. The store
    /// may take until `deadline`; past it, it counts as failed. Returns what to charge
    /// the fuel to when the quota has a fuel budget.
    pub(crate) async fn admit(
        &self,
        tenant: &TenantKey,
        quota: &Quota,
        deadline: Instant,
    ) -> Result<Option<FuelCharge>, ExecError> {
        if !quota.is_limited() {
            return Ok(None);
        }
        let now = SystemTime::now();
        let key = WindowKey::at(tenant.clone(), quota, now);
        let asked = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            answer(async { self.store.admit(&key, BudgetLimits::of(quota)).await }),
        )
        .await;
        let failure = match asked {
            Ok(Ok(Admission::Admitted)) => {
                return Ok(quota.fuel.is_some().then_some(FuelCharge { key }));
            }
            Ok(Ok(Admission::Exhausted(budget))) => {
                let (counter, limit) = match budget {
                    Budget::Executions => (&self.refused_executions, quota.executions),
                    Budget::Fuel => (&self.refused_fuel, quota.fuel),
                };
                counter.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("jsruntime_quota_refusals_total", "budget" => budget.as_str())
                    .increment(1);
                return Err(ExecError::QuotaExceeded {
                    budget,
                    limit: limit.unwrap_or(0),
                    window: quota.window,
                    refills_in: key.refills_in(SystemTime::now()),
                });
            }
            Ok(Err(error)) => error,
            Err(_elapsed) => StoreError::new("it did not answer before the execution's deadline"),
        };
        self.store_failed("admit", &failure);
        match quota.on_store_failure {
            StoreFailure::Refuse => Err(ExecError::QuotaUnavailable(failure.to_string())),
            // Fail open: the execution runs, uncounted (and its fuel is not charged).
            StoreFailure::Allow => Ok(None),
        }
    }

    /// Charges the fuel an admitted execution used, waiting at most [`CHARGE_TIMEOUT`].
    pub(crate) async fn charge(&self, charge: FuelCharge, fuel: u64) {
        if fuel == 0 {
            return;
        }
        let failure = match tokio::time::timeout(
            CHARGE_TIMEOUT,
            answer(async { self.store.charge_fuel(&charge.key, fuel).await }),
        )
        .await
        {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_elapsed) => StoreError::new(format!(
                "it did not answer within {CHARGE_TIMEOUT:?}; {fuel} fuel was not charged"
            )),
        };
        self.store_failed("charge_fuel", &failure);
    }

    fn store_failed(&self, operation: &'static str, error: &StoreError) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("jsruntime_quota_store_errors_total", "operation" => operation)
            .increment(1);
        tracing::warn!(operation, %error, "jsruntime: the budget store failed");
    }

    pub(crate) fn stats(&self) -> QuotaStats {
        QuotaStats {
            refused_executions: self.refused_executions.load(Ordering::Relaxed),
            refused_fuel: self.refused_fuel.load(Ordering::Relaxed),
            store_errors: self.store_errors.load(Ordering::Relaxed),
        }
    }
}

/// A store call's answer, a panic in it (the store is the service's code) taken as its
/// failure: the quota's `on_store_failure` decides, as for any failing store, and the
/// caller's task, where the store runs, carries on.
async fn answer<T>(call: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(answer) => answer,
        Err(payload) => Err(StoreError::new(format!(
            "it panicked: {}",
            panic_message(&*payload)
        ))),
    }
}
