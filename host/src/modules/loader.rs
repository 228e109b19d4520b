//! The [`ModuleLoader`] contract, and the in-memory registry that ships.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use crate::context::ExecContext;
use crate::error::BoxError;

/// What an import asks for: its `with { type }` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModuleKind {
    /// JavaScript: an import without a `type` attribute.
    JavaScript,
    /// `with { type: "json" }`: the module's default export is the parsed JSON.
    Json,
}

/// One module a loader is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleRequest {
    /// The resolved name (see the crate's README: `./tax.js` imported by `rules/a.js`
    /// is `rules/tax.js`; a bare specifier is its own name). This is what to look up.
    pub name: String,
    /// The specifier as the importing module wrote it.
    pub specifier: String,
    /// The importing module's name.
    pub importer: String,
    /// What the import asks for.
    pub kind: ModuleKind,
}

/// What [`ModuleLoader::load`] returns: the module's source, `None` when the registry has
/// no module of that name (the execution fails with `module_not_found`), or an error (the
/// execution fails with `module_load_failed` and the error's message).
pub type LoadFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Arc<str>>, BoxError>> + Send + 'a>>;

/// Where a runtime's modules come from: the service's registry of tenant modules.
///
/// The runtime calls `load` for every module an execution imports that it has not
/// already loaded for that execution, with the caller's context, so each tenant can
/// have a registry of its own: tenant `t1` importing `"lib/tax"` gets whatever the
/// loader answers for `t1`, and nothing the loader answers is shared across tenants
/// but bytecode compiled from the very same name and source.
///
/// Guarantees the runtime gives a loader:
/// - It runs on the task that called `execute` (as host functions do), never on a guest
///   thread, and its time counts against the execution's deadline: at the deadline, on
///   cancellation or at shutdown its future is dropped.
/// - A panic in it fails that execution only (`module_load_failed`).
/// - It is asked at most once per name per execution; the source it returns is hashed
///   and the bytecode cache keyed by that hash, so a changed source is compiled afresh
///   and an unchanged one is not compiled again.
///
/// A loader over a database looks up `(context.tenant_id(), request.name)` and returns
/// the row's source:
///
/// ```
/// use std::sync::Arc;
/// use jsruntime::{ExecContext, LoadFuture, ModuleLoader, ModuleRequest};
///
/// #[derive(Debug)]
/// struct Registry; // holds a connection pool in a real service
///
/// impl Registry {
///     async fn fetch(&self, tenant: Option<&str>, name: &str) -> Result<Option<String>, std::io::Error> {
///         Ok((tenant == Some("t1") && name == "lib/tax.js").then(|| "export const rate = 0.2;".to_owned()))
///     }
/// }
///
/// impl ModuleLoader for Registry {
///     fn load<'a>(&'a self, context: &'a ExecContext, request: &'a ModuleRequest) -> LoadFuture<'a> {
///         Box::pin(async move {
///             let row = self.fetch(context.tenant_id(), &request.name).await?;
///             Ok(row.map(Arc::from))
///         })
///     }
/// }
/// ```
pub trait ModuleLoader: std::fmt::Debug + Send + Sync + 'static {
    /// The source of the module `request` names, for the caller `context`.
    fn load<'a>(&'a self, context: &'a ExecContext, request: &'a ModuleRequest) -> LoadFuture<'a>;
}

/// A registry in memory: module sources by name, shared by every tenant or for one
/// tenant. A tenant's own module comes before a shared one of the same name; a request
/// without a tenant sees the shared modules only. It can be changed while the runtime
/// runs (each execution sees the registry as it is when each module is loaded).
///
/// ```
/// use jsruntime::MemoryModuleLoader;
///
/// let modules = MemoryModuleLoader::new()
///     .with_shared("lib/tax.js", "export const vat = (x) => x * 1.2;")
///     .with_tenant("t1", "lib/tax.js", "export const vat = (x) => x * 1.25;");
/// modules.insert_shared("lib/round.js", "export const round = Math.round;");
/// ```
#[derive(Default)]
pub struct MemoryModuleLoader {
    modules: RwLock<Registry>,
}

/// Sources by name: the shared ones, and each tenant's own. Two levels rather than one
/// map keyed by (tenant, name), so a lookup (one per import per execution) borrows its
/// names instead of building a key of owned strings.
#[derive(Default)]
struct Registry {
    shared: HashMap<String, Arc<str>>,
    tenants: HashMap<String, HashMap<String, Arc<str>>>,
}

impl Registry {
    fn len(&self) -> usize {
        self.shared.len() + self.tenants.values().map(HashMap::len).sum::<usize>()
    }
}

impl MemoryModuleLoader {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a module every tenant sees.
    pub fn with_shared(self, name: impl Into<String>, source: impl Into<Arc<str>>) -> Self {
        self.insert_shared(name, source);
        self
    }

    /// Adds a module only `tenant` sees.
    pub fn with_tenant(
        self,
        tenant: impl Into<String>,
        name: impl Into<String>,
        source: impl Into<Arc<str>>,
    ) -> Self {
        self.insert_for_tenant(tenant, name, source);
        self
    }

    /// Adds or replaces a shared module; returns the source it replaced.
    pub fn insert_shared(
        &self,
        name: impl Into<String>,
        source: impl Into<Arc<str>>,
    ) -> Option<Arc<str>> {
        self.write().shared.insert(name.into(), source.into())
    }

    /// Adds or replaces a module of `tenant`; returns the source it replaced.
    pub fn insert_for_tenant(
        &self,
        tenant: impl Into<String>,
        name: impl Into<String>,
        source: impl Into<Arc<str>>,
    ) -> Option<Arc<str>> {
        self.write()
            .tenants
            .entry(tenant.into())
            .or_default()
            .insert(name.into(), source.into())
    }

    /// Removes a shared module; returns its source.
    pub fn remove_shared(&self, name: &str) -> Option<Arc<str>> {
        self.write().shared.remove(name)
    }

    /// Removes a module of `tenant`; returns its source.
    pub fn remove_for_tenant(&self, tenant: &str, name: &str) -> Option<Arc<str>> {
        let mut registry = self.write();
        let modules = registry.tenants.get_mut(tenant)?;
        let removed = modules.remove(name);
        if modules.is_empty() {
            registry.tenants.remove(tenant);
        }
        removed
    }

    /// The source `tenant` gets for `name`.
    pub fn get(&self, tenant: Option<&str>, name: &str) -> Option<Arc<str>> {
        let modules = self
            .modules
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tenant
            .and_then(|tenant| modules.tenants.get(tenant)?.get(name))
            .or_else(|| modules.shared.get(name))
            .cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        // A panic while the lock was held cannot leave the map half-changed (each change
        // is one insert or remove), so a poisoned lock is still a good map.
        self.modules
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for MemoryModuleLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let modules = self
            .modules
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f.debug_struct("MemoryModuleLoader")
            .field("modules", &modules.len())
            .finish()
    }
}

impl ModuleLoader for MemoryModuleLoader {
    fn load<'a>(&'a self, context: &'a ExecContext, request: &'a ModuleRequest) -> LoadFuture<'a> {
        let found = self.get(context.tenant_id(), &request.name);
        Box::pin(std::future::ready(Ok(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Tenant;

    fn request(name: &str) -> ModuleRequest {
        ModuleRequest {
            name: name.to_owned(),
            specifier: name.to_owned(),
            importer: "main.js".to_owned(),
            kind: ModuleKind::JavaScript,
        }
    }

    fn tenant(id: &str) -> ExecContext {
        ExecContext::default().with_tenant(Tenant {
            id: id.to_owned(),
            name: None,
        })
    }

    #[tokio::test]
    async fn a_tenant_sees_its_own_modules_then_the_shared_ones_never_anothers() {
        let loader = MemoryModuleLoader::new()
            .with_shared("lib/tax.js", "shared")
            .with_tenant("t1", "lib/tax.js", "t1's")
            .with_tenant("t2", "lib/only-t2.js", "t2's");
        let load = |context: ExecContext, name: &'static str| {
            let loader = &loader;
            async move {
                loader
                    .load(&context, &request(name))
                    .await
                    .expect("an in-memory load cannot fail")
                    .map(|source| source.to_string())
            }
        };
        assert_eq!(
            load(tenant("t1"), "lib/tax.js").await.as_deref(),
            Some("t1's")
        );
        assert_eq!(
            load(tenant("t2"), "lib/tax.js").await.as_deref(),
            Some("shared")
        );
        assert_eq!(
            load(ExecContext::default(), "lib/tax.js").await.as_deref(),
            Some("shared")
        );
        assert_eq!(load(tenant("t1"), "lib/only-t2.js").await, None);
        assert_eq!(load(ExecContext::default(), "lib/only-t2.js").await, None);
        assert_eq!(
            loader.remove_for_tenant("t1", "lib/tax.js").as_deref(),
            Some("t1's")
        );
        assert_eq!(loader.remove_for_tenant("t1", "lib/tax.js"), None);
        assert_eq!(loader.remove_for_tenant("t3", "lib/tax.js"), None);
        assert_eq!(
            load(tenant("t1"), "lib/tax.js").await.as_deref(),
            Some("shared")
        );
        assert_eq!(format!("{loader:?}"), "MemoryModuleLoader { modules: 2 }");
        assert_eq!(
            loader.remove_shared("lib/tax.js").as_deref(),
            Some("shared")
        );
        assert_eq!(load(tenant("t1"), "lib/tax.js").await, None);
        // A tenant's module comes back after its removal; a replaced one is returned.
        loader.insert_for_tenant("t1", "lib/tax.js", "again");
        assert_eq!(
            loader
                .insert_for_tenant("t1", "lib/tax.js", "newer")
                .as_deref(),
            Some("again")
        );
        assert_eq!(
            load(tenant("t1"), "lib/tax.js").await.as_deref(),
            Some("newer")
        );
    }
}
