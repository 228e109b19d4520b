//! Tenants' shares of a runtime: fair admission to its slots, a cap on each tenant's
//! executions at once, and budgets over time windows.
//!
//! - [`policy`]: what a tenant may use ([`TenantPolicy`](crate::TenantPolicy), the
//!   service's answer per tenant; [`StaticPolicy`](crate::StaticPolicy), a table).
//! - [`budget`]: where budgets are counted ([`BudgetStore`](crate::BudgetStore); the
//!   in-process [`MemoryBudgetStore`](crate::MemoryBudgetStore); the Redis store behind
//!   the `redis` feature, for budgets shared by replicas).

pub(crate) mod budget;
pub(crate) mod policy;
