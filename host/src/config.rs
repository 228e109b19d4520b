//! Runtime-wide settings: [`Config`], its defaults, and the check that runs before
//! anything is started.

use std::path::PathBuf;
use std::time::Duration;

use crate::limits::{Limits, MIB};

/// The shortest `max_idle_age` accepted. A ready instance younger than this is never
/// replaced: with no floor, an age of zero made the pool thread replace its instances as
/// fast as it could instantiate them (~90,000 a second on an idle runtime).
pub const MIN_IDLE_AGE: Duration = Duration::from_millis(100);

/// The most guest threads accepted: far more than any machine has cores; the bound only
/// catches a value that is a mistake (each thread is an OS thread with its own stack).
pub const MAX_GUEST_THREADS: usize = 1024;

/// Runtime-wide settings. Build one with [`Config::default`] and change what you need;
/// [`RuntimeBuilder::build`](crate::RuntimeBuilder::build) checks it (see
/// [`Config::validate`]) before it starts anything.
///
/// ```
/// let mut config = jsruntime::Config::default();
/// config.max_concurrency = 16;
/// config.limits.timeout = std::time::Duration::from_millis(250);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Most executions running at once; callers beyond it wait (fairly across tenants), bounded by
    /// their own timeout and cancellation. The pooling allocator reserves a slot for
    /// each of these plus each ready instance. Default 64; at least 1.
    pub max_concurrency: u32,
    /// Fresh instances kept instantiated ahead of demand by a background thread, so
    /// instantiation is off the request path; 0 instantiates on demand. Default 2.
    pub prewarm: u32,
    /// A ready instance older than this is replaced rather than used. Default 60 s; at
    /// least [`MIN_IDLE_AGE`].
    pub max_idle_age: Duration,
    /// Bytes of memory for prepared module graphs: the second time a module graph runs
    /// (all its modules cached), the pages of linear memory that reading and
    /// instantiating it changed, none of its code run yet, are kept as its image, and
    /// later executions of exactly that graph (as their own loader's answers give it)
    /// start from the image and only evaluate it. An execution is charged the fuel the
    /// preparation used, as if it had done it. The least recently run graphs make way.
    /// 0 keeps none: every graph is read and instantiated by the execution that runs it.
    /// Besides the images, the first one made keeps a copy of a fresh instance's memory
    /// (what images differ from; about 3.5 MiB). Default 32 MiB.
    pub graph_image_bytes: u64,
    /// Threads that run scripts still busy after their first millisecond, so long
    /// scripts never occupy the caller's tokio workers. Default: the number of CPUs;
    /// 1 to [`MAX_GUEST_THREADS`].
    pub guest_threads: usize,
    /// Most executions of one tenant running at once (a tenant is the context's tenant
    /// id; requests without one are one tenant together). `None`: a quarter of
    /// `max_concurrency`, at least 1, so one tenant's volume leaves room for the others.
    /// A [`TenantPolicy`](crate::TenantPolicy) may set it per tenant. Callers waiting for
    /// a slot are served round robin across tenants, in order within each.
    ///
    /// The cap holds even when every other slot is free (that is what keeps room for a
    /// tenant that arrives later). A service that runs no tenants, where every request is
    /// the one tenant without an id, should set this to `Some(max_concurrency)`.
    pub max_concurrency_per_tenant: Option<u32>,
    /// Publish running and waiting executions per tenant (`jsruntime_tenant_running`,
    /// `jsruntime_tenant_waiting`, label `tenant`). Off by default: one label value per
    /// tenant can overwhelm a metrics backend with thousands of tenants. Either way
    /// [`Runtime::tenant_stats`](crate::Runtime::tenant_stats) answers for one tenant.
    pub tenant_metrics: bool,
    /// Default limits of every execution; each request may override them.
    pub limits: Limits,
    /// Bytes of compiled bytecode the compile cache may hold. Default 64 MiB.
    pub cache_bytes: u64,
    /// Where the compiled guest component is cached across processes; `None` compiles
    /// it at every start (a few seconds). Default [`default_cache_dir`].
    pub component_cache_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrency: 64,
            prewarm: 2,
            max_idle_age: Duration::from_secs(60),
            graph_image_bytes: 32 * MIB,
            guest_threads: std::thread::available_parallelism().map_or(2, usize::from),
            max_concurrency_per_tenant: None,
            tenant_metrics: false,
            limits: Limits::default(),
            cache_bytes: 64 * MIB,
            component_cache_dir: default_cache_dir(),
        }
    }
}

impl Config {
    /// Checks every setting; the message names the first one out of range.
    pub fn validate(&self) -> Result<(), String> {
        self.limits.validate()?;
        if self.max_concurrency == 0 {
            return Err("max_concurrency must be at least 1".into());
        }
        if self.max_concurrency.checked_add(self.prewarm).is_none() {
            return Err("max_concurrency + prewarm overflows".into());
        }
        if self.max_concurrency_per_tenant == Some(0) {
            return Err("max_concurrency_per_tenant must be at least 1".into());
        }
        if !(1..=MAX_GUEST_THREADS).contains(&self.guest_threads) {
            return Err(format!(
                "guest_threads must be between 1 and {MAX_GUEST_THREADS}, not {}",
                self.guest_threads
            ));
        }
        if self.max_idle_age < MIN_IDLE_AGE {
            return Err(format!(
                "max_idle_age must be at least {MIN_IDLE_AGE:?}, not {:?}",
                self.max_idle_age
            ));
        }
        Ok(())
    }

    /// The per-tenant cap when no policy sets one.
    pub(crate) fn default_tenant_cap(&self) -> u32 {
        self.max_concurrency_per_tenant
            .unwrap_or(self.max_concurrency / 4)
            .clamp(1, self.max_concurrency)
    }

    /// Instances that may exist at once: running plus ready.
    pub(crate) fn slots(&self) -> u32 {
        self.max_concurrency.saturating_add(self.prewarm)
    }
}

/// The default directory for the compiled-guest cache: `$XDG_CACHE_HOME/jsruntime`,
/// else `$HOME/.cache/jsruntime`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|base| base.join("jsruntime"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_value_is_named() {
        assert_eq!(Config::default().validate(), Ok(()));
        let refused = |change: fn(&mut Config)| {
            let mut config = Config::default();
            change(&mut config);
            config.validate().expect_err("refused")
        };
        assert!(refused(|c| c.max_concurrency = 0).contains("max_concurrency"));
        assert!(refused(|c| c.max_concurrency_per_tenant = Some(0))
            .contains("max_concurrency_per_tenant"));
        assert!(refused(|c| c.guest_threads = 0).contains("guest_threads"));
        assert!(refused(|c| c.max_idle_age = Duration::ZERO).contains("max_idle_age"));
        assert!(refused(|c| c.limits.timeout = Duration::MAX).contains("timeout"));
        assert!(refused(|c| {
            c.max_concurrency = u32::MAX;
            c.prewarm = 1;
        })
        .contains("overflows"));
    }
}
