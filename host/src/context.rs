//! The caller's context (tenant, user, request) and the tenant-isolation helpers host
//! functions use.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The tenant an execution runs for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Tenant id; scripts see it as `context.tenantID` and `context.tenant.id`.
    pub id: String,
    /// Display name (`context.tenant.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The user an execution runs for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id (`context.user.id`).
    pub id: String,
    /// E-mail address (`context.user.email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// First name (`context.user.firstName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name (`context.user.lastName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Permission names (`context.user.permissions`, an array).
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Who an execution runs for. Scripts read it as the deeply frozen global `context`;
/// host functions receive it with every call.
///
/// ```
/// use jsruntime::{ExecContext, Tenant, User};
///
/// let context = ExecContext::default()
///     .with_tenant(Tenant { id: "t1".into(), name: Some("Acme".into()) })
///     .with_user(User { id: "u1".into(), email: Some("a@b.c".into()), ..User::default() })
///     .with_request_id("req-123")
///     .with_locale("en-US");
/// assert_eq!(context.tenant_id(), Some("t1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecContext {
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Tenant>,
    /// The user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The request id (`context.requestID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The locale, e.g. `en-US` (`context.locale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The caller's own deadline; scripts see the milliseconds left as
    /// `context.deadlineMs`. The execution's timeout is the sooner of this and its limit.
    #[serde(skip)]
    pub deadline: Option<Instant>,
}

impl ExecContext {
    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: Tenant) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Sets the user.
    pub fn with_user(mut self, user: User) -> Self {
        self.user = Some(user);
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the locale.
    pub fn with_locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// Sets the caller's deadline.
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The tenant id, if the context has a tenant.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant.as_ref().map(|tenant| tenant.id.as_str())
    }

    /// Refuses access to a resource owned by another tenant (the original design's
    /// `ValidateAccess`). Host functions call it before returning tenant data.
    ///
    /// ```
    /// use jsruntime::{ExecContext, Tenant, TenantError};
    ///
    /// let context = ExecContext::default().with_tenant(Tenant { id: "t1".into(), name: None });
    /// assert!(context.ensure_tenant("t1").is_ok());
    /// assert_eq!(
    ///     context.ensure_tenant("t2"),
    ///     Err(TenantError::Violation { current: "t1".into(), resource: "t2".into() })
    /// );
    /// ```
    pub fn ensure_tenant(&self, resource_tenant_id: &str) -> Result<(), TenantError> {
        let current = self.tenant_id().ok_or(TenantError::NoTenant)?;
        if current == resource_tenant_id {
            Ok(())
        } else {
            Err(TenantError::Violation {
                current: current.to_owned(),
                resource: resource_tenant_id.to_owned(),
            })
        }
    }

    /// Binds the current tenant id as the first parameter of a SQL query (the original
    /// design's `BuildQuery`): the query must filter on `$1`, and its other parameters
    /// follow. There is no query without a tenant: a context without one is refused.
    ///
    /// ```
    /// use jsruntime::{ExecContext, Tenant};
    ///
    /// let context = ExecContext::default().with_tenant(Tenant { id: "t1".into(), name: None });
    /// let query = context
    ///     .tenant_query("SELECT * FROM orders WHERE tenant_id = $1 AND id = $2", vec![serde_json::json!(42)])
    ///     .unwrap();
    /// assert_eq!(query.params, vec![serde_json::json!("t1"), serde_json::json!(42)]);
    /// ```
    pub fn tenant_query(
        &self,
        sql: impl Into<String>,
        params: Vec<serde_json::Value>,
    ) -> Result<TenantQuery, TenantError> {
        let tenant = self.tenant_id().ok_or(TenantError::NoTenant)?;
        let sql = sql.into();
        if !sql.contains("$1") {
            return Err(TenantError::UnboundQuery(sql));
        }
        let mut bound = Vec::with_capacity(params.len() + 1);
        bound.push(serde_json::Value::String(tenant.to_owned()));
        bound.extend(params);
        Ok(TenantQuery { sql, params: bound })
    }
}

/// A SQL query with the tenant id bound as `$1`; see [`ExecContext::tenant_query`].
#[derive(Debug, Clone, PartialEq)]
pub struct TenantQuery {
    /// The SQL text, unchanged.
    pub sql: String,
    /// The parameters: the tenant id first, then the caller's.
    pub params: Vec<serde_json::Value>,
}

/// A tenant-isolation check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// The execution has no tenant, so no tenant resource may be touched.
    #[error("tenant isolation: the execution has no tenant")]
    NoTenant,
    /// The resource belongs to another tenant.
    #[error("tenant isolation violation: current tenant {current}, resource tenant {resource}")]
    Violation {
        /// The execution's tenant.
        current: String,
        /// The resource's tenant.
        resource: String,
    },
    /// The query has no `$1` placeholder to bind the tenant to.
    #[error("tenant isolation: the query does not filter on $1 (the tenant id): {0}")]
    UnboundQuery(String),
}
