//! Where quota windows are counted: the [`BudgetStore`] trait, and
//! [`MemoryBudgetStore`], the in-process store every runtime has by default.
//!
//! A store keeps two counters per (tenant, window): executions admitted and fuel used.
//! Both operations are atomic in the store, so runtimes on several machines sharing one
//! store (the Redis store, feature `redis`) share one budget.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::tenancy::policy::Quota;

/// What a [`BudgetStore`] operation returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A budget store could not answer: unreachable, too slow, or it failed. What the
/// execution does then is the quota's [`StoreFailure`](crate::StoreFailure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("budget store: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// An error with this message (it should say what failed and where).
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Which of a quota's budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Budget {
    /// Executions admitted per window.
    Executions,
    /// Fuel used per window.
    Fuel,
}

impl Budget {
    /// The stable name: `"executions"` or `"fuel"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Budget::Executions => "executions",
            Budget::Fuel => "fuel",
        }
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tenant's window: what a store keys its two counters by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WindowKey {
    /// The tenant id; `None` for requests without a tenant (a store must keep them apart
    /// from every tenant id, including the empty one).
    pub tenant: Option<Arc<str>>,
    /// The window's length in milliseconds.
    pub window_ms: u64,
    /// Which window: milliseconds since the Unix epoch divided by `window_ms`.
    pub index: u64,
}

impl WindowKey {
    /// The window of `quota` that holds `now`.
    pub fn at(tenant: Option<Arc<str>>, quota: &Quota, now: SystemTime) -> WindowKey {
        let window_ms = u64::try_from(quota.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        WindowKey {
            tenant,
            window_ms,
            index: unix_ms(now) / window_ms,
        }
    }

    /// When this window ends (its budgets refill), as milliseconds since the Unix epoch.
    pub fn ends_at_ms(&self) -> u64 {
        self.index.saturating_add(1).saturating_mul(self.window_ms)
    }

    /// How long after `now` this window ends.
    pub fn refills_in(&self, now: SystemTime) -> Duration {
        Duration::from_millis(self.ends_at_ms().saturating_sub(unix_ms(now)))
    }

    /// How long a store should keep the window's counters: until it ends, plus a
    /// window's length for clock skew between replicas.
    pub fn keep_for(&self, now: SystemTime) -> Duration {
        self.refills_in(now) + Duration::from_millis(self.window_ms)
    }
}

fn unix_ms(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

/// The budgets an admission is checked against (`None`: not limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetLimits {
    /// Executions per window.
    pub executions: Option<u64>,
    /// Fuel per window.
    pub fuel: Option<u64>,
}

impl BudgetLimits {
    /// The budgets of `quota`.
    pub fn of(quota: &Quota) -> BudgetLimits {
        BudgetLimits {
            executions: quota.executions,
            fuel: quota.fuel,
        }
    }
}

/// What [`BudgetStore::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted: the execution may run.
    Admitted,
    /// Not counted: this budget of the window is used up.
    Exhausted(Budget),
}

/// Counts executions and fuel per tenant and window. The runtime calls
/// [`admit`](BudgetStore::admit) before an execution takes a slot and
/// [`charge_fuel`](BudgetStore::charge_fuel) after it ended (when the quota has a fuel
/// budget), each bounded by the execution's deadline: a store that does not answer in
/// time counts as failed, and so does one that panics. Both run on the task that called
/// `execute`, with its runtime's I/O and timers, wherever the execution itself runs.
///
/// Implementations must make each operation atomic with respect to every runtime that
/// shares the store, and must expire a window's counters once it is over
/// ([`WindowKey::keep_for`]).
pub trait BudgetStore: fmt::Debug + Send + Sync + 'static {
    /// If the window's fuel used is below `limits.fuel` and its executions are below
    /// `limits.executions`, counts one execution and admits it; otherwise counts nothing
    /// and says which budget is used up (fuel first).
    fn admit<'a>(&'a self, key: &'a WindowKey, limits: BudgetLimits) -> StoreFuture<'a, Admission>;

    /// Adds `fuel` to the window's fuel used.
    fn charge_fuel<'a>(&'a self, key: &'a WindowKey, fuel: u64) -> StoreFuture<'a, ()>;
}

/// The in-process [`BudgetStore`]: budgets hold within one runtime (or the runtimes
/// of one process that share it). Windows that are over are dropped as new ones start.
///
/// ```
/// use std::sync::Arc;
/// let store = Arc::new(jsruntime::MemoryBudgetStore::default());
/// // Two runtimes built with `.budget_store(store.clone())` share the budgets.
/// ```
#[derive(Debug, Default)]
pub struct MemoryBudgetStore {
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    counters: HashMap<WindowKey, Counters>,
    /// Counters are swept for ended windows when a window starts after this.
    next_sweep_ms: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    executions: u64,
    fuel: u64,
}

impl Windows {
    fn entry(&mut self, key: &WindowKey) -> &mut Counters {
        let end = key.ends_at_ms();
        if end > self.next_sweep_ms {
            // A new window started: forget those that ended (a window's counters are
            // never read once it is over). Sweeping once per window keeps this cheap.
            let now_ms = unix_ms(SystemTime::now());
            self.counters.retain(|key, _| key.ends_at_ms() > now_ms);
            self.next_sweep_ms = end;
        }
        self.counters.entry(key.clone()).or_default()
    }
}

impl MemoryBudgetStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        // Each update is a few additions: a panic cannot leave the map inconsistent.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl BudgetStore for MemoryBudgetStore {
    fn admit<'a>(&'a self, key: &'a WindowKey, limits: BudgetLimits) -> StoreFuture<'a, Admission> {
        let mut windows = self.lock();
        let counters = windows.entry(key);
        let admission = if limits.fuel.is_some_and(|fuel| counters.fuel >= fuel) {
            Admission::Exhausted(Budget::Fuel)
        } else if limits
            .executions
            .is_some_and(|executions| counters.executions >= executions)
        {
            Admission::Exhausted(Budget::Executions)
        } else {
            counters.executions += 1;
            Admission::Admitted
        };
        Box::pin(std::future::ready(Ok(admission)))
    }

    fn charge_fuel<'a>(&'a self, key: &'a WindowKey, fuel: u64) -> StoreFuture<'a, ()> {
        let mut windows = self.lock();
        let counters = windows.entry(key);
        counters.fuel = counters.fuel.saturating_add(fuel);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(future: StoreFuture<'_, T>) -> Result<T, StoreError> {
        futures_util::FutureExt::now_or_never(future).expect("the memory store is immediate")
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let quota = Quota::per(Duration::from_secs(60));
        let now = UNIX_EPOCH + Duration::from_millis(125_500);
        let key = WindowKey::at(Some("t".into()), &quota, now);
        assert_eq!(key.index, 2);
        assert_eq!(key.ends_at_ms(), 180_000);
        assert_eq!(key.refills_in(now), Duration::from_millis(54_500));
    }

    #[test]
    fn executions_are_counted_until_the_budget_and_fuel_comes_first() {
        let store = MemoryBudgetStore::default();
        let quota = Quota::per(Duration::from_secs(3600))
            .executions(2)
            .fuel(100);
        let key = WindowKey::at(Some("t".into()), &quota, SystemTime::now());
        let limits = BudgetLimits::of(&quota);
        assert_eq!(block(store.admit(&key, limits)), Ok(Admission::Admitted));
        assert_eq!(block(store.admit(&key, limits)), Ok(Admission::Admitted));
        assert_eq!(
            block(store.admit(&key, limits)),
            Ok(Admission::Exhausted(Budget::Executions))
        );
        block(store.charge_fuel(&key, 100)).expect("charged");
        assert_eq!(
            block(store.admit(&key, limits)),
            Ok(Admission::Exhausted(Budget::Fuel))
        );
    }

    #[test]
    fn tenants_and_the_untenanted_are_counted_apart() {
        let store = MemoryBudgetStore::default();
        let quota = Quota::per(Duration::from_secs(3600)).executions(1);
        let limits = BudgetLimits::of(&quota);
        let now = SystemTime::now();
        for tenant in [Some(Arc::from("a")), Some(Arc::from("")), None] {
            let key = WindowKey::at(tenant, &quota, now);
            assert_eq!(block(store.admit(&key, limits)), Ok(Admission::Admitted));
            assert_eq!(
                block(store.admit(&key, limits)),
                Ok(Admission::Exhausted(Budget::Executions))
            );
        }
    }

    #[test]
    fn ended_windows_are_forgotten() {
        let store = MemoryBudgetStore::default();
        let quota = Quota::per(Duration::from_secs(1)).executions(1);
        let limits = BudgetLimits::of(&quota);
        let old = WindowKey::at(None, &quota, UNIX_EPOCH + Duration::from_secs(5));
        block(store.admit(&old, limits)).expect("admitted");
        let current = WindowKey::at(None, &quota, SystemTime::now());
        block(store.admit(&current, limits)).expect("admitted");
        assert_eq!(store.lock().counters.len(), 1);
    }
}
