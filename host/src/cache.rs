//! The compile cache: QuickJS bytecode keyed by sha256 of the guest build, whether it is
//! a script or a module, the name and the source, bounded by total bytes.
//!
//! Only bytecode this host compiled from source enters it; there is no way to put
//! caller-supplied bytecode in, because QuickJS trusts the bytecode it loads.
//!
//! Ahead of it, for imported modules, the runtime keeps the module last compiled under
//! each resolved name with the source it came from (`Recent`), so a graph whose loader
//! hands back the same sources is linked without hashing them again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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
    recent: Arc<Mutex<Recent>>,
}

/// At most this many bytes (names, sources and bytecode) are held by [`Recent`]; an entry
/// that would pass it empties it first. Small beside the cache's own bound (64 MiB by
/// default), and ample for the graphs a runtime's hot handlers import.
const RECENT_MAX_BYTES: usize = 4 * 1024 * 1024;

/// The module last compiled under each resolved name, and the source it was compiled
/// from, ahead of the keyed cache.
///
/// Why: every execution of a handler looks each module of its graph up again (the loader
/// stays the source of truth), and a keyed lookup is a sha256 of the module's source and
/// a lookup in the shared cache, ~0.7 µs a module: a fifth of a cached graph of 20 small
/// modules in the library. A loader mostly hands back the same source (the very same
/// `Arc`, for [`MemoryModuleLoader`](crate::MemoryModuleLoader)), so comparing it with
/// the source last compiled under that name (the pointer, then the text) finds the same
/// bytecode for less. Bytecode depends only on the guest build (one per runtime), the
/// name and the source, so the answer is the keyed cache's. Any other source (a new
/// version, another tenant's module of the same name) takes the keyed path, and its
/// bytecode replaces the entry.
#[derive(Default)]
struct Recent {
    by_name: HashMap<String, RecentModule>,
    bytes: usize,
}

struct RecentModule {
    source: Arc<str>,
    compiled: Compiled,
}

impl RecentModule {
    fn weight(&self, name: &str) -> usize {
        name.len() + self.source.len() + self.compiled.weight()
    }
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
            recent: Arc::default(),
        }
    }

    /// The bytecode of the module last compiled under `name`, if it was compiled from
    /// `source` (see [`Recent`]); counted as a hit.
    pub(crate) fn recent_module(&self, name: &str, source: &Arc<str>) -> Option<Compiled> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = recent.by_name.get(name)?;
        if !(Arc::ptr_eq(&entry.source, source) || *entry.source == **source) {
            return None;
        }
        let compiled = entry.compiled.clone();
        drop(recent);
        self.counts.hits.fetch_add(1, Ordering::Relaxed);
        Some(compiled)
    }

    /// Remembers `compiled` as the bytecode of the module `name` compiled from `source`:
    /// what the keyed cache holds for them, or what an instance that had run no tenant
    /// code compiled from them.
    pub(crate) fn remember_module(&self, name: &str, source: &Arc<str>, compiled: &Compiled) {
        let entry = RecentModule {
            source: Arc::clone(source),
            compiled: compiled.clone(),
        };
        let weight = entry.weight(name);
        if weight > RECENT_MAX_BYTES {
            return;
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = recent.by_name.remove(name) {
            recent.bytes -= old.weight(name);
        }
        if recent.bytes + weight > RECENT_MAX_BYTES {
            recent.by_name.clear();
            recent.bytes = 0;
        }
        recent.bytes += weight;
        recent.by_name.insert(name.to_owned(), entry);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(bytes: usize) -> Compiled {
        Compiled {
            bytecode: Arc::from(vec![7u8; bytes]),
            imports: Arc::from([]),
        }
    }

    #[test]
    fn a_recent_module_is_found_only_for_the_source_it_was_compiled_from() {
        let cache = BytecodeCache::new(1 << 20);
        let source: Arc<str> = Arc::from("export const a = 1;");
        assert!(cache.recent_module("lib/a.js", &source).is_none());
        cache.remember_module("lib/a.js", &source, &compiled(10));
        // The same Arc, or the same text in another allocation, finds it.
        assert!(cache.recent_module("lib/a.js", &source).is_some());
        let copy: Arc<str> = Arc::from("export const a = 1;");
        assert!(cache.recent_module("lib/a.js", &copy).is_some());
        // Another source under that name (a new version, another tenant's), or the same
        // source under another name, does not.
        let other: Arc<str> = Arc::from("export const a = 2;");
        assert!(cache.recent_module("lib/a.js", &other).is_none());
        assert!(cache.recent_module("lib/b.js", &source).is_none());
        // Remembering the other source replaces the entry.
        cache.remember_module("lib/a.js", &other, &compiled(10));
        assert!(cache.recent_module("lib/a.js", &source).is_none());
        assert!(cache.recent_module("lib/a.js", &other).is_some());
        assert_eq!(cache.stats().hits, 3, "each find counts as a hit");
    }

    #[test]
    fn recent_modules_stay_within_their_bound() {
        let cache = BytecodeCache::new(1 << 20);
        let source: Arc<str> = Arc::from("x");
        let big = RECENT_MAX_BYTES / 3;
        for i in 0..10 {
            cache.remember_module(&format!("m{i}.js"), &source, &compiled(big));
            let recent = cache.recent.lock().unwrap_or_else(PoisonError::into_inner);
            assert!(recent.bytes <= RECENT_MAX_BYTES, "{}", recent.bytes);
            let held: usize = recent
                .by_name
                .iter()
                .map(|(name, entry)| entry.weight(name))
                .sum();
            assert_eq!(held, recent.bytes);
        }
        // The latest is always kept; one larger than the bound is never held.
        assert!(cache.recent_module("m9.js", &source).is_some());
        cache.remember_module("huge.js", &source, &compiled(RECENT_MAX_BYTES + 1));
        assert!(cache.recent_module("huge.js", &source).is_none());
        assert!(cache.recent_module("m9.js", &source).is_some());
    }
}
