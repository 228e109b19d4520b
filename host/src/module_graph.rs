//! The modules of one execution: what it has loaded, within its limits, through the
//! service's loader.
//!
//! A [`ModuleSession`] lives as long as its execution. The pipeline fills it while it
//! links the static import graph before the entry module runs (`execute`); the instance
//! keeps it for the dynamic `import()`s the guest asks the host for. Both go through
//! [`ModuleSession::fetch`], so every module counts against the same `modules` and
//! `module_bytes` limits, each name is asked of the loader at most once, and every load
//! runs on the caller's task (through the [`HostCaller`], as host functions do), bounded
//! by the execution's deadline, cancellation and shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::cache::{self, BytecodeCache, CodeKind, Compiled};
use crate::context::ExecContext;
use crate::error::ExecError;
use crate::failure::Interrupt;
use crate::host_calls::{HostCaller, Ran};
use crate::limits::Limits;
use crate::modules::{resolve, ModuleKind, ModuleLoader, ModuleRequest};

/// A module the loader gave.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    /// The resolved name.
    pub(crate) name: String,
    pub(crate) kind: ModuleKind,
    pub(crate) source: Arc<str>,
    /// Its position among the execution's modules (see [`Fetch`]).
    pub(crate) index: u32,
}

impl Fetched {
    /// The cache key of this module's bytecode.
    pub(crate) fn hash(&self) -> cache::ScriptHash {
        cache::code_hash(CodeKind::Module, &self.name, &self.source)
    }
}

/// Who asks [`ModuleSession::fetch`] for a module: where its loader is polled first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asker {
    /// The pipeline, linking the static imports (stage 5): the loader is polled once
    /// in place while the execution is still on the caller's task
    /// ([`HostCaller::run_here_first`]).
    Link,
    /// The guest's dynamic `import()`: through the relay, like a host function.
    Import,
}

/// What [`ModuleSession::fetch`] found.
///
/// Every module of an execution has an index: the order the execution came to know it
/// in, the entry 0. The static graph is linked in that order (stage 5 fetches every
/// module of it before any dynamic import can), so the index is its position there.
#[derive(Debug)]
pub(crate) enum Fetch {
    /// A module new to this execution.
    New(Fetched),
    /// The execution has this module already (under this resolved name, at this index).
    Known { name: String, index: u32 },
}

/// Why a module could not be fetched.
#[derive(Debug, Clone)]
pub(crate) enum FetchError {
    /// Nothing resolves the specifier.
    NotFound {
        specifier: String,
        importer: String,
        reason: String,
    },
    /// The loader failed or panicked.
    Failed { module: String, message: String },
    /// A module limit was reached.
    Limit(String),
    /// The execution must stop (deadline, cancellation, shutdown).
    Interrupted(Interrupt),
}

impl FetchError {
    /// The error of an execution whose static import failed so.
    pub(crate) fn into_exec_error(self, limits: &Limits) -> ExecError {
        match self {
            FetchError::NotFound {
                specifier,
                importer,
                reason,
            } => ExecError::ModuleNotFound {
                specifier,
                importer,
                reason,
            },
            FetchError::Failed { module, message } => {
                ExecError::ModuleLoadFailed { module, message }
            }
            FetchError::Limit(message) => ExecError::ModuleLimit(message),
            FetchError::Interrupted(interrupt) => interrupt.into_error(limits),
        }
    }

    /// The message a dynamic `import()` rejects with.
    pub(crate) fn message(&self) -> String {
        match self {
            FetchError::NotFound {
                specifier,
                importer,
                reason,
            } => format!("cannot find module {specifier:?} imported by {importer:?}: {reason}"),
            FetchError::Failed { module, message } => {
                format!("loading module {module:?} failed: {message}")
            }
            FetchError::Limit(message) => format!("module limit: {message}"),
            FetchError::Interrupted(interrupt) => interrupt.to_string(),
        }
    }
}

/// The modules of one execution.
pub(crate) struct ModuleSession {
    loader: Option<Arc<dyn ModuleLoader>>,
    context: Arc<ExecContext>,
    /// The runtime's bytecode cache (a dynamic import takes what it holds).
    pub(crate) cache: BytecodeCache,
    max_modules: u32,
    max_bytes: u64,
    /// Every module this execution has, by resolved name: its kind and index.
    known: HashMap<String, (ModuleKind, u32)>,
    bytes: u64,
}

impl ModuleSession {
    /// A session whose first module is the entry `name` (of `source_len` bytes), or that
    /// has none yet (a script).
    pub(crate) fn new(
        loader: Option<Arc<dyn ModuleLoader>>,
        context: Arc<ExecContext>,
        cache: BytecodeCache,
        limits: &Limits,
    ) -> ModuleSession {
        ModuleSession {
            loader,
            context,
            cache,
            max_modules: limits.modules,
            max_bytes: limits.module_bytes,
            known: HashMap::new(),
            bytes: 0,
        }
    }

    /// Counts the entry module, whose source came with the request.
    pub(crate) fn add_entry(&mut self, name: &str, source_len: usize) -> Result<(), FetchError> {
        self.count(name, ModuleKind::JavaScript, source_len)
            .map(drop)
    }

    /// Counts a new module against the limits and gives it the next index.
    fn count(
        &mut self,
        name: &str,
        kind: ModuleKind,
        source_len: usize,
    ) -> Result<u32, FetchError> {
        if self.known.len() >= self.max_modules as usize {
            return Err(FetchError::Limit(format!(
                "loading {name:?} would make more than {} modules",
                self.max_modules
            )));
        }
        let bytes = self.bytes.saturating_add(source_len as u64);
        if bytes > self.max_bytes {
            return Err(FetchError::Limit(format!(
                "loading {name:?} ({source_len} bytes) would make more than {} bytes of module source",
                self.max_bytes
            )));
        }
        self.bytes = bytes;
        // Below `max_modules`, a u32.
        let index = self.known.len() as u32;
        self.known.insert(name.to_owned(), (kind, index));
        Ok(index)
    }

    /// Resolves `specifier` from `importer` and, unless the execution has that module
    /// already, asks the loader for it (on the caller's task, until the future `stopped`
    /// makes ends; it is made only if the loader does not answer at once).
    pub(crate) async fn fetch<S: Future<Output = Interrupt>>(
        &mut self,
        asker: Asker,
        host_caller: &HostCaller,
        stopped: impl FnOnce() -> S,
        importer: &str,
        specifier: &str,
        kind: ModuleKind,
    ) -> Result<Fetch, FetchError> {
        let not_found = |reason: String| FetchError::NotFound {
            specifier: specifier.to_owned(),
            importer: importer.to_owned(),
            reason,
        };
        let name = resolve(importer, specifier).map_err(not_found)?;
        if let Some(&(known, index)) = self.known.get(&name) {
            if known != kind {
                return Err(FetchError::Failed {
                    module: name,
                    message: format!(
                        "it is imported both as {} and as {}",
                        kind_name(known),
                        kind_name(kind)
                    ),
                });
            }
            return Ok(Fetch::Known { name, index });
        }
        let Some(loader) = self.loader.clone() else {
            return Err(not_found("the runtime has no module loader".to_owned()));
        };
        if self.known.len() >= self.max_modules as usize {
            return Err(FetchError::Limit(format!(
                "loading {name:?} would make more than {} modules",
                self.max_modules
            )));
        }
        let request = ModuleRequest {
            name: name.clone(),
            specifier: specifier.to_owned(),
            importer: importer.to_owned(),
            kind,
        };
        let context = Arc::clone(&self.context);
        let load = async move { loader.load(&context, &request).await };
        let mut reply = match asker {
            Asker::Link => host_caller.run_here_first(load),
            Asker::Import => host_caller.run(load),
        };
        // A loader that answered when first polled (an in-memory one, in place) needs no
        // wait, nor the deadline's timer and the tokens' clones that `stopped` makes.
        let ran = match reply.try_recv() {
            Ok(ran) => Ok(ran),
            Err(oneshot::error::TryRecvError::Closed) => Err(()),
            Err(oneshot::error::TryRecvError::Empty) => tokio::select! {
                biased;
                ran = reply => ran.map_err(|_| ()),
                interrupt = stopped() => return Err(FetchError::Interrupted(interrupt)),
            },
        };
        let source = match ran {
            Ok(Ran::Done(Ok(Some(source)))) => source,
            Ok(Ran::Done(Ok(None))) => {
                return Err(not_found(format!(
                    "the module loader has no module {name:?}"
                )))
            }
            Ok(Ran::Done(Err(error))) => {
                return Err(FetchError::Failed {
                    module: name,
                    message: error.to_string(),
                })
            }
            Ok(Ran::Panicked(message)) => {
                return Err(FetchError::Failed {
                    module: name,
                    message: format!("the module loader panicked: {message}"),
                })
            }
            // The caller's side is gone: the execution was dropped.
            Err(_) => return Err(FetchError::Interrupted(Interrupt::Cancelled)),
        };
        let index = self.count(&name, kind, source.len())?;
        Ok(Fetch::New(Fetched {
            name,
            kind,
            source,
            index,
        }))
    }

    /// The cached bytecode of a fetched JavaScript module, if any.
    pub(crate) async fn cached(&self, module: &Fetched) -> Option<Compiled> {
        self.cache.get(&module.hash()).await
    }
}

fn kind_name(kind: ModuleKind) -> &'static str {
    match kind {
        ModuleKind::JavaScript => "JavaScript",
        ModuleKind::Json => "JSON",
    }
}
