//! The instance pool: single-use instances, some instantiated ahead of demand, and a cap
//! on how many executions run at once.
//!
//! An instance serves exactly one execution and is then destroyed, so nothing passes
//! between executions or tenants. What the pool keeps are *fresh* instances, made by a
//! background thread so that instantiation is off the request path; one past its idle
//! age is replaced. The same thread destroys used instances (resetting a slot's memory
//! takes several microseconds), so the caller has its result without waiting for that. Callers beyond the concurrency cap
//! wait for a slot, served round robin across tenants (`tenancy::fair`), bounded by their
//! own deadline and cancellation. The pooling allocator has
//! a slot for every instance that can exist at once (running plus ready), so it never
//! runs out.

use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::host_fn::HostFns;
use crate::instance::{Instance, Template};
use crate::tenancy::fair::{FairSlots, Grant, TenantKey, TenantStats};

/// Pool statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PoolStats {
    /// Fresh instances ready to serve.
    pub available: u64,
    /// Executions running now (an execution counts until its instance is destroyed).
    pub in_use: u64,
    /// Callers waiting for a slot.
    pub waiting: u64,
    /// Instances created since start.
    pub created: u64,
    /// Instances destroyed since start (after their execution, past their idle age, or
    /// at shutdown).
    pub destroyed: u64,
    /// Instantiations that failed.
    pub errors: u64,
    /// Linear memory kept resident in the pool slots no instance holds: what their last
    /// reset kept for the next instance (at most 256 KiB a slot; after an execution that
    /// wrote more, none, see `instance::pages`). 0 where the platform does not say.
    pub resident_bytes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    destroyed: Arc<AtomicU64>,
    errors: AtomicU64,
}

/// Settings of the pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    pub(crate) max_concurrency: u32,
    pub(crate) prewarm: u32,
    pub(crate) max_idle_age: Duration,
}

/// Instances handed between callers and the pool thread.
#[derive(Default)]
struct Queues {
    /// Fresh instances, oldest first.
    ready: VecDeque<Instance>,
    /// A used instance handed to the pool thread to destroy, with its execution's slot,
    /// which is released only once the instance is gone. At most one: only an idle pool
    /// thread is handed one.
    retiring: Option<(Instance, Slot)>,
    /// The pool thread waits for work, spinning or parked (set by it before it waits,
    /// cleared by whoever gives it work).
    pool_thread_idle: bool,
    /// The pool thread is parked on the condition variable: only then does handing it
    /// work need a wake-up (a system call).
    pool_thread_parked: bool,
}

impl Queues {
    /// Takes the ready instances past `max_age` out of the queue. The queue is in order of
    /// creation (only the pool thread adds to it), so they are at its front.
    fn take_expired(&mut self, max_age: Duration) -> Vec<Instance> {
        let mut expired = Vec::new();
        while self
            .ready
            .front()
            .is_some_and(|instance| instance.created().elapsed() > max_age)
        {
            expired.extend(self.ready.pop_front());
        }
        expired
    }
}

/// State shared with the pool thread.
struct Shared {
    template: Template,
    host_fns: Arc<HostFns>,
    shutdown: tokio_util::sync::CancellationToken,
    queues: Mutex<Queues>,
    /// Signalled when the pool thread has work (the ready queue ran low, an instance was
    /// retired) or the pool stops.
    refill: Condvar,
    /// Bumped whenever the pool thread may have work: what it watches while it spins.
    work: AtomicU64,
    stop: AtomicBool,
    /// The runtime is closing: no more instances are made ahead of demand.
    closing: AtomicBool,
    counters: Arc<Counters>,
    next_id: AtomicU64,
    settings: PoolSettings,
}

/// The instance pool. Dropping it stops it (see [`Pool::stop`]).
pub(crate) struct Pool {
    shared: Arc<Shared>,
    slots: Arc<FairSlots>,
    refill_thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Pool {
    pub(crate) fn start(
        template: Template,
        host_fns: Arc<HostFns>,
        shutdown: tokio_util::sync::CancellationToken,
        settings: PoolSettings,
    ) -> Result<Pool, std::io::Error> {
        let shared = Arc::new(Shared {
            template,
            host_fns,
            shutdown,
            queues: Mutex::new(Queues::default()),
            refill: Condvar::new(),
            work: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            counters: Arc::new(Counters::default()),
            next_id: AtomicU64::new(1),
            settings,
        });
        let refill_thread = if settings.prewarm > 0 {
            let shared = Arc::clone(&shared);
            Some(
                std::thread::Builder::new()
                    .name("jsruntime-pool".into())
                    .spawn(move || refill_loop(&shared))?,
            )
        } else {
            None
        };
        Ok(Pool {
            shared,
            slots: Arc::new(FairSlots::new(settings.max_concurrency)),
            refill_thread: Mutex::new(refill_thread),
        })
    }

    /// Waits for a slot for `tenant`, which may hold at most `cap` at once (fairly
    /// across tenants, in order within one); `None` once the pool is stopped.
    /// Cancel-safe: a caller that gives up while waiting leaves no trace.
    pub(crate) async fn acquire(&self, tenant: TenantKey, cap: u32) -> Option<Slot> {
        let grant = self.slots.acquire(tenant, cap).await?;
        Some(Slot { _grant: grant })
    }

    /// Running and waiting executions of one tenant.
    pub(crate) fn tenant_stats(&self, tenant: &TenantKey) -> TenantStats {
        self.slots.tenant(tenant)
    }

    /// Every tenant with executions running or waiting.
    pub(crate) fn tenants(&self) -> Vec<(TenantKey, TenantStats)> {
        self.slots.tenants()
    }

    /// A fresh instance for the holder of a slot: a ready one if there is one that is not
    /// past its idle age, otherwise one instantiated now. The lease retires the instance
    /// (and then frees the slot) when it is dropped.
    pub(crate) async fn lease(self: &Arc<Self>, slot: Slot) -> Result<Lease, wasmtime::Error> {
        let (taken, expired, parked) = {
            let mut queues = lock(&self.shared.queues);
            let expired = queues.take_expired(self.shared.settings.max_idle_age);
            (queues.ready.pop_front(), expired, queues.pool_thread_parked)
        };
        // Past their age: destroyed outside the lock.
        drop(expired);
        if self.shared.settings.prewarm > 0 {
            // A spinning pool thread starts the replacement now, while this one runs.
            self.shared.work.fetch_add(1, Ordering::Release);
            // A parked one is woken only if the queue ran dry, so that a burst finds
            // instances ready; otherwise the retire at the end of this execution wakes
            // it. (Each wake-up is a system call on the request path.)
            if taken.is_none() && parked {
                self.shared.refill.notify_one();
            }
        }
        let instance = match taken {
            Some(instance) => instance,
            None => instantiate(&self.shared).await?,
        };
        Ok(Lease {
            instance: ManuallyDrop::new(instance),
            slot: ManuallyDrop::new(slot),
            pool: Arc::clone(self),
        })
    }

    /// Destroys a used instance and then releases its execution's slot: on the pool
    /// thread when there is one, so the caller does not wait for it, or here.
    fn retire(&self, instance: Instance, slot: Slot) {
        if self.shared.settings.prewarm > 0 && !self.shared.stop.load(Ordering::Relaxed) {
            let mut queues = lock(&self.shared.queues);
            // Hand over only to an idle pool thread. When it is still busy (callers keep
            // the cores saturated), a hand-off would only queue work behind it and add
            // a wake-up per execution: the caller destroys the instance itself.
            if queues.pool_thread_idle && queues.retiring.is_none() {
                queues.retiring = Some((instance, slot));
                queues.pool_thread_idle = false;
                let parked = queues.pool_thread_parked;
                drop(queues);
                self.shared.work.fetch_add(1, Ordering::Release);
                if parked {
                    self.shared.refill.notify_one();
                }
                return;
            }
        }
        drop(instance);
        drop(slot);
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let counters = &self.shared.counters;
        let totals = self.slots.totals();
        PoolStats {
            available: lock(&self.shared.queues).ready.len() as u64,
            in_use: totals.running,
            waiting: totals.waiting,
            created: counters.created.load(Ordering::Relaxed),
            destroyed: counters.destroyed.load(Ordering::Relaxed),
            errors: counters.errors.load(Ordering::Relaxed),
            resident_bytes: self.shared.template.idle_resident_bytes(),
        }
    }

    /// Waits until no execution runs and none waits, for at most `bound`; true if so.
    /// Cancel-safe.
    pub(crate) async fn drain(&self, bound: Duration) -> bool {
        tokio::time::timeout(bound, self.slots.idle()).await.is_ok()
    }

    /// Makes no more instances ahead of demand (the runtime is closing; executions still
    /// running or queued are served).
    pub(crate) fn stop_refilling(&self) {
        self.shared.closing.store(true, Ordering::Relaxed);
    }

    /// Stops the refill thread, refuses new executions and destroys the ready instances.
    /// Idempotent.
    pub(crate) fn stop(&self) {
        self.slots.close();
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.refill.notify_all();
        let thread = lock(&self.refill_thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        // Retired instances before their slots (in each pair, the instance drops first).
        let queues = std::mem::take(&mut *lock(&self.shared.queues));
        drop(queues);
    }
}

/// A running execution's hold on the pool: a concurrency slot of its tenant, freed for
/// the next caller when dropped.
pub(crate) struct Slot {
    _grant: Grant,
}

/// An instance leased for one execution, with the execution's slot. Dropping the lease
/// retires the instance: it is destroyed (on the pool thread when that is idle) and only
/// then is the slot freed, so the pooling allocator always has a slot for the next one.
pub(crate) struct Lease {
    /// Taken out only in `drop`.
    instance: ManuallyDrop<Instance>,
    /// Taken out only in `drop`.
    slot: ManuallyDrop<Slot>,
    pool: Arc<Pool>,
}

impl std::ops::Deref for Lease {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.instance
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Instance {
        &mut self.instance
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and neither field is used after being taken here.
        let (instance, slot) = unsafe {
            (
                ManuallyDrop::take(&mut self.instance),
                ManuallyDrop::take(&mut self.slot),
            )
        };
        self.pool.retire(instance, slot);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (push/pop only).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn instantiate(shared: &Shared) -> Result<Instance, wasmtime::Error> {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let made = Instance::new(
        &shared.template,
        Arc::clone(&shared.host_fns),
        shared.shutdown.clone(),
        id,
        Arc::clone(&shared.counters.destroyed),
    )
    .await;
    let counter = if made.is_ok() {
        &shared.counters.created
    } else {
        &shared.counters.errors
    };
    counter.fetch_add(1, Ordering::Relaxed);
    made
}

/// Drives a future to completion on the current thread: the pool thread has no tokio
/// runtime, and instantiation does no I/O (it only runs wasm on a fiber, whose yields
/// are polled again at once).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(1)),
        }
    }
}

/// How long the pool thread spins for new work before it parks. Callers running
/// executions back to back hand it work every few tens of microseconds; parking in
/// between made each hand-off a futex wake-up on the caller's side and a context switch
/// on the pool thread's, which cost more CPU per execution than the work handed over.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

/// Spins until `shared.work` moves past `seen`, the pool stops, or
/// [`SPIN_BEFORE_PARK`] has passed.
fn spin_for_work(shared: &Shared, seen: u64) {
    let until = Instant::now() + SPIN_BEFORE_PARK;
    while shared.work.load(Ordering::Acquire) == seen
        && !shared.stop.load(Ordering::Relaxed)
        && Instant::now() < until
    {
        std::hint::spin_loop();
    }
}

/// Keeps `prewarm` fresh instances ready, replacing those past their idle age, and
/// destroys retired instances (releasing their slots afterwards).
fn refill_loop(shared: &Shared) {
    let target = shared.settings.prewarm as usize;
    // Check ages often enough that none is more than half its age late.
    let age_check =
        (shared.settings.max_idle_age / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
    // Whether the thread has just spun without finding work, and may park.
    let mut spun = false;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let (retired, expired, short) = {
            let mut queues = lock(&shared.queues);
            let expired = queues.take_expired(shared.settings.max_idle_age);
            let retired = queues.retiring.take();
            let short = queues.ready.len() < target && !shared.closing.load(Ordering::Relaxed);
            if retired.is_none() && expired.is_empty() && !short {
                queues.pool_thread_idle = true;
                if !spun {
                    let seen = shared.work.load(Ordering::Acquire);
                    drop(queues);
                    spin_for_work(shared, seen);
                    // Whatever the spin saw, the queues (under the lock) decide.
                    spun = true;
                    continue;
                }
                // Parked is set under the lock that callers hold when they hand over
                // work, so none of them can miss it and skip the wake-up.
                queues.pool_thread_parked = true;
                let (mut guard, _) = shared
                    .refill
                    .wait_timeout(queues, age_check)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                guard.pool_thread_parked = false;
                guard.pool_thread_idle = false;
                drop(guard);
                spun = false;
                continue;
            }
            queues.pool_thread_idle = false;
            spun = false;
            (retired, expired, short)
        };
        // Outside the lock: callers check out and retire meanwhile.
        drop(retired);
        drop(expired);
        if short {
            match block_on(instantiate(shared)) {
                Ok(instance) => lock(&shared.queues).ready.push_back(instance),
                Err(error) => {
                    tracing::error!(%error, "jsruntime: could not instantiate a guest for the pool");
                    // Do not spin on a persistent failure.
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}
