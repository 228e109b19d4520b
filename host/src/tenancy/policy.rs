//! What a tenant may use: [`TenantPolicy`], the trait a service implements, and
//! [`StaticPolicy`], a per-tenant table.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// The shortest quota window accepted. Windows are counted in milliseconds of the wall
/// clock shared by every replica; one shorter than this would mostly measure clock skew
/// between machines.
pub const MIN_QUOTA_WINDOW: Duration = Duration::from_millis(100);

/// The longest quota window accepted: a week. Far beyond any billing need, and small
/// enough that window arithmetic in milliseconds never overflows.
pub const MAX_QUOTA_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Decides each tenant's share of a runtime: how many of its executions run at once
/// and what budget it has over a time window.
///
/// The runtime asks once per execution, before it waits for a slot, with the tenant id of
/// the request's context (`None` for a request without a tenant: all of those together
/// are one tenant). It must answer quickly and must not block (no I/O): it runs on the
/// caller's task. [`StaticPolicy`] is a table; a service with tenants in a database
/// caches their plans and answers from the cache.
///
/// ```
/// use std::time::Duration;
/// use jsruntime::{Quota, TenantLimits, TenantPolicy};
///
/// /// Tenants whose id starts with "free-" get 2 executions at once and 100 a minute.
/// #[derive(Debug)]
/// struct Plans;
///
/// impl TenantPolicy for Plans {
///     fn limits(&self, tenant: Option<&str>) -> TenantLimits {
///         match tenant {
///             Some(id) if id.starts_with("free-") => TenantLimits::default()
///                 .max_concurrent(2)
///                 .quota(Quota::per(Duration::from_secs(60)).executions(100)),
///             _ => TenantLimits::default(),
///         }
///     }
/// }
/// ```
pub trait TenantPolicy: fmt::Debug + Send + Sync + 'static {
    /// The limits of `tenant` (`None`: requests without a tenant).
    fn limits(&self, tenant: Option<&str>) -> TenantLimits;
}

/// One tenant's limits. The default has no quota and the runtime's per-tenant cap
/// ([`Config::max_concurrency_per_tenant`](crate::Config::max_concurrency_per_tenant)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantLimits {
    /// Most executions of the tenant running at once; the tenant's further executions
    /// wait (in their order, bounded by their deadline) even when slots are free.
    /// `None`: the runtime's per-tenant cap. Values above
    /// [`Config::max_concurrency`](crate::Config::max_concurrency) mean that; 0 is
    /// refused as an invalid request.
    pub max_concurrent: Option<u32>,
    /// The tenant's budgets over a time window; `None`: unlimited.
    pub quota: Option<Quota>,
}

impl TenantLimits {
    /// Sets [`TenantLimits::max_concurrent`].
    pub fn max_concurrent(mut self, executions: u32) -> Self {
        self.max_concurrent = Some(executions);
        self
    }

    /// Sets [`TenantLimits::quota`].
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quota = Some(quota);
        self
    }
}

/// Budgets over a fixed time window, counted in a [`BudgetStore`](crate::BudgetStore).
///
/// Windows are aligned to the Unix epoch (a 60 s window runs from one whole minute of
/// the wall clock to the next), so every replica sharing a store counts the same window.
/// An execution is refused with [`ExecError::QuotaExceeded`](crate::ExecError::QuotaExceeded)
/// before it uses an instance when its window has already admitted `executions`
/// executions, or when the fuel its window's executions used has reached `fuel`. Fuel is
/// charged after each execution with what it really used, so the last executions admitted
/// may take a window past its fuel budget by at most their own fuel limits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quota {
    /// The window's length: [`MIN_QUOTA_WINDOW`] to [`MAX_QUOTA_WINDOW`].
    pub window: Duration,
    /// Executions admitted per window; `None`: not limited.
    pub executions: Option<u64>,
    /// Fuel used per window; `None`: not limited.
    pub fuel: Option<u64>,
    /// What happens when the store cannot be reached. Default [`StoreFailure::Refuse`].
    pub on_store_failure: StoreFailure,
}

impl Quota {
    /// A quota over windows of `window`, with no budget yet.
    pub fn per(window: Duration) -> Quota {
        Quota {
            window,
            executions: None,
            fuel: None,
            on_store_failure: StoreFailure::Refuse,
        }
    }

    /// Sets [`Quota::executions`].
    pub fn executions(mut self, executions: u64) -> Self {
        self.executions = Some(executions);
        self
    }

    /// Sets [`Quota::fuel`].
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// Sets [`Quota::on_store_failure`].
    pub fn on_store_failure(mut self, choice: StoreFailure) -> Self {
        self.on_store_failure = choice;
        self
    }

    /// Checks the window; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_QUOTA_WINDOW..=MAX_QUOTA_WINDOW).contains(&self.window) {
            return Err(format!(
                "quota window must be between {MIN_QUOTA_WINDOW:?} and {MAX_QUOTA_WINDOW:?}, not {:?}",
                self.window
            ));
        }
        Ok(())
    }

    /// Whether there is anything to count.
    pub(crate) fn is_limited(&self) -> bool {
        self.executions.is_some() || self.fuel.is_some()
    }
}

/// What an execution does when its tenant's [`BudgetStore`](crate::BudgetStore) fails
/// (unreachable, too slow, an error). Either way the failure is counted in
/// `jsruntime_quota_store_errors_total` and logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// Fail closed: the execution is refused with
    /// [`ExecError::QuotaUnavailable`](crate::ExecError::QuotaUnavailable). The safe
    /// choice when the budget is what you bill or protect by.
    #[default]
    Refuse,
    /// Fail open: the execution runs uncounted. The choice when availability matters
    /// more than the budget (a store outage must not stop the product).
    Allow,
}

/// A [`TenantPolicy`] from a table: limits per tenant id, for requests without a tenant,
/// and for every other tenant.
///
/// ```
/// use std::time::Duration;
/// use jsruntime::{Quota, StaticPolicy, TenantLimits, TenantPolicy};
///
/// let policy = StaticPolicy::new(TenantLimits::default().max_concurrent(4))
///     .tenant("acme", TenantLimits::default().max_concurrent(16))
///     .tenant("trial", TenantLimits::default().quota(Quota::per(Duration::from_secs(60)).executions(10)))
///     .untenanted(TenantLimits::default().max_concurrent(1));
/// assert_eq!(policy.limits(Some("acme")).max_concurrent, Some(16));
/// assert_eq!(policy.limits(Some("other")).max_concurrent, Some(4));
/// assert_eq!(policy.limits(None).max_concurrent, Some(1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticPolicy {
    default: TenantLimits,
    untenanted: Option<TenantLimits>,
    tenants: HashMap<String, TenantLimits>,
}

impl StaticPolicy {
    /// A table whose every tenant has `default`.
    pub fn new(default: TenantLimits) -> StaticPolicy {
        StaticPolicy {
            default,
            untenanted: None,
            tenants: HashMap::new(),
        }
    }

    /// Gives tenant `id` its own limits.
    pub fn tenant(mut self, id: impl Into<String>, limits: TenantLimits) -> Self {
        self.tenants.insert(id.into(), limits);
        self
    }

    /// Gives requests without a tenant their own limits (otherwise they have the
    /// default).
    pub fn untenanted(mut self, limits: TenantLimits) -> Self {
        self.untenanted = Some(limits);
        self
    }
}

impl TenantPolicy for StaticPolicy {
    fn limits(&self, tenant: Option<&str>) -> TenantLimits {
        let found = match tenant {
            Some(id) => self.tenants.get(id),
            None => self.untenanted.as_ref(),
        };
        found.unwrap_or(&self.default).clone()
    }
}
