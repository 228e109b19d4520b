//! The compile cache: QuickJS bytecode keyed by sha256 of the guest build, whether it is
//! a script or a module, the name and the source, bounded by total bytes.
//!
//! Only bytecode this host compiled from source enters it; there is no way to put
//! caller-supplied bytecode in, because QuickJS trusts the bytecode it loads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::modules::ModuleKind;

/// A cache key: sha256 over the guest build identity, the code's kind, its name and its
/// source.
pub type ScriptHash = [u8; 32];

/// What source is compiled as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// Strict-mode global code.
    Script,
    /// An ES module.
    Module,
}

/// One import a compiled module states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Import {
    pub(crate) specifier: String,
    pub(crate) kind: ModuleKind,
}

/// What the cache holds for one key: bytecode and, for a module, its imports (so a
/// cached module's graph is linked without compiling it again). Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) bytecode: Arc<[u8]>,
    pub(crate) imports: Arc<[Import]>,
}

impl Compiled {
    /// Bytecode of a script (no imports).
    pub(crate) fn script(bytecode: Arc<[u8]>) -> Compiled {
        Compiled {
            bytecode,
            imports: Arc::from([]),
        }
    }

    fn weight(&self) -> usize {
        self.bytecode.len()
            + self
                .imports
                .iter()
                .map(|import| import.specifier.len() + std::mem::size_of::<Import>())
                .sum::<usize>()
    }
}

/// Computes the cache key of a script or module.
pub(crate) fn code_hash(kind: CodeKind, name: &str, source: &str) -> ScriptHash {
    let mut hasher = Sha256::new();
    hasher.update(crate::guest::GUEST_SHA256.as_bytes());
    // Script keys keep the layout they had before modules existed.
    hasher.update(match kind {
        CodeKind::Script => [0],
        CodeKind::Module => [1],
    });
    hasher.update((name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    hasher.update(source.as_bytes());
    hasher.finalize().into()
}

/// Lower-case hex of a hash, for logs and spans.
pub(crate) fn hex(hash: &ScriptHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compile-cache statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found bytecode.
    pub hits: u64,
    /// Lookups that had to compile.
    pub misses: u64,
    /// Scripts cached now.
    pub entries: u64,
    /// Bytes of bytecode cached now.
    pub bytes: u64,
}

/// What [`BytecodeCache::get_or_compile`] found.
#[derive(Debug)]
pub(crate) enum Lookup<E> {
    /// The bytecode was cached (or another caller's compilation, which this one waited
    /// for, made it).
    Hit(Compiled),
    /// This caller's `compile` made the bytecode; it is cached now.
    Compiled(Compiled),
    /// This caller's `compile` failed with this error; nothing is cached.
    Failed(E),
    /// Another caller's compilation, which this one waited for, failed. The error may be
    /// that caller's own (its timeout, its cancellation), not this one's.
    OtherFailed(E),
}

/// Bytecode by script hash. Cheap to clone (clones share the cache).
#[derive(Clone)]
pub(crate) struct BytecodeCache {
    cache: moka::future::Cache<ScriptHash, Compiled>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BytecodeCache {
    pub(crate) fn new(max_bytes: u64) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &ScriptHash, value: &Compiled| {
                u32::try_from(key.len() + value.weight()).unwrap_or(u32::MAX)
            })
            .build();
        BytecodeCache {
            cache,
            counts: Arc::default(),
        }
    }

    /// The cached entry of `key`, without compiling (a dynamic import: what the cache
    /// lacks, the guest compiles for that run only).
    pub(crate) async fn get(&self, key: &ScriptHash) -> Option<Compiled> {
        let found = self.cache.get(key).await;
        let count = if found.is_some() {
            &self.counts.hits
        } else {
            &self.counts.misses
        };
        count.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Returns cached bytecode, or runs `compile` to make it. Concurrent callers with the
    /// same key wait for one compilation; see [`Lookup`] for what each learns.
    pub(crate) async fn get_or_compile<F, E>(&self, key: ScriptHash, compile: F) -> Lookup<E>
    where
        F: std::future::Future<Output = Result<Compiled, E>>,
        E: Clone + Send + Sync + 'static,
    {
        let mut compiled_here = false;
        let result = self
            .cache
            .try_get_with(key, async {
                compiled_here = true;
                compile.await
            })
            .await;
        match result {
            Ok(bytecode) if compiled_here => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Compiled(bytecode)
            }
            Ok(bytecode) => {
                self.counts.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(bytecode)
            }
            Err(error) => {
                self.counts.misses.fetch_add(1, Ordering::Relaxed);
                let error = E::clone(&error);
                if compiled_here {
                    Lookup::Failed(error)
                } else {
                    Lookup::OtherFailed(error)
                }
            }
        }
    }

    /// Current statistics.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counts.hits.load(Ordering::Relaxed),
            misses: self.counts.misses.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
            bytes: self.cache.weighted_size(),
        }
    }

    /// Applies pending evictions and counts, so `stats` is exact (tests, metrics).
    pub(crate) async fn sync(&self) {
        self.cache.run_pending_tasks().await;
    }
}
