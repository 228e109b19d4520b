//! Tenants' shares of a runtime: fair admission to its slots, a cap on each tenant's
//! executions at once, and budgets over time windows.
//!
//! - [`policy`]: what a tenant may use ([`TenantPolicy`](crate::TenantPolicy), the
//!   service's answer per tenant; [`StaticPolicy`](crate::StaticPolicy), a table).
//! - [`fair`]: the runtime's slots, served round robin across tenants, each under its
//!   cap.
//! - [`budget`]: where budgets are counted ([`BudgetStore`](crate::BudgetStore); the
//!   in-process [`MemoryBudgetStore`](crate::MemoryBudgetStore); the Redis store behind
//!   the `redis` feature, for budgets shared by replicas).

pub(crate) mod budget;
pub(crate) mod fair;
pub(crate) mod policy;
#[cfg(feature = "redis")]
pub(crate) mod redis;
