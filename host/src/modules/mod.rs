//! ES modules from a service's registry: the [`ModuleLoader`] a service registers, the
//! loaders that ship ([`MemoryModuleLoader`], [`FileModuleLoader`]) and how a specifier
//! becomes a module name ([`resolve`]).
//!
//! A loader is asked for modules by *resolved name*, with the caller's
//! [`ExecContext`](crate::ExecContext): each tenant can have a registry of its own. The
//! pipeline (`linking`) asks it for every static import before a module runs, and the
//! guest asks again, through the host, for a dynamic `import()` nothing linked.

mod files;
mod loader;
mod resolve;

pub use files::FileModuleLoader;
pub use loader::{LoadFuture, MemoryModuleLoader, ModuleKind, ModuleLoader, ModuleRequest};
pub(crate) use resolve::resolve;
