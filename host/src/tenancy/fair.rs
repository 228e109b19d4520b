//! Fair admission to a runtime's slots: round robin across tenants, in order within each,
//! with a cap on each tenant's slots.
//!
//! Every waiting tenant that is below its cap is in a ring. A freed slot goes to the
//! tenant at the front of the ring (its oldest waiter), which then goes to the back if
//! it still has waiters and room under its cap. So with two tenants flooding, slots
//! alternate between them whatever their volumes; a tenant at its cap waits for one of
//! its own executions to end, while others use the free slots.
//!
//! A slot is handed to its waiter under the lock (the waiter's future only observes it),
//! so a waiter that gives up (its deadline, its cancellation) either is still queued and
//! leaves, or was already handed a slot and gives it back: no slot is ever lost.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, Notify};

/// A tenant as admission sees it: the context's tenant id, or `None` for requests
/// without one (together one tenant).
pub(crate) type TenantKey = Option<Arc<str>>;

/// Running and waiting executions of one tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TenantStats {
    /// Executions of the tenant holding a slot.
    pub running: u64,
    /// Executions of the tenant waiting for one.
    pub waiting: u64,
}

/// The slots, shared by every execution of a runtime.
#[derive(Debug)]
pub(crate) struct FairSlots {
    state: Mutex<State>,
    /// Notified whenever the last running or waiting execution ends.
    idle: Notify,
}

#[derive(Debug)]
struct State {
    free: u32,
    closed: bool,
    /// Tenants with executions running or waiting.
    tenants: HashMap<TenantKey, Tenant>,
    /// Tenants with waiters and room under their cap, in the order they are served.
    ring: VecDeque<TenantKey>,
    next_waiter: u64,
    running: u64,
    waiting: u64,
}

#[derive(Debug)]
struct Tenant {
    running: u32,
    /// The cap of the latest request of the tenant.
    cap: u32,
    waiters: VecDeque<Waiter>,
    in_ring: bool,
}

impl Tenant {
    fn stats(&self) -> TenantStats {
        TenantStats {
            running: u64::from(self.running),
            waiting: self.waiters.len() as u64,
        }
    }
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    granted: oneshot::Sender<()>,
}

impl FairSlots {
    pub(crate) fn new(slots: u32) -> FairSlots {
        FairSlots {
            state: Mutex::new(State {
                free: slots,
                closed: false,
                tenants: HashMap::new(),
                ring: VecDeque::new(),
                next_waiter: 0,
                running: 0,
                waiting: 0,
            }),
            idle: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent before anything that could panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a slot for `tenant`, which may hold at most `cap` at once; `None` once
    /// closed. Cancel-safe: a caller that stops waiting leaves no trace (a slot handed to
    /// it meanwhile goes to the next waiter).
    pub(crate) async fn acquire(self: &Arc<Self>, tenant: TenantKey, cap: u32) -> Option<Grant> {
        let cap = cap.max(1);
        let receiver = {
            let mut guard = self.lock();
            let state = &mut *guard;
            if state.closed {
                return None;
            }
            let ring_empty = state.ring.is_empty();
            let free = state.free;
            let entry = state.tenants.entry(tenant.clone()).or_insert(Tenant {
                running: 0,
                cap,
                waiters: VecDeque::new(),
                in_ring: false,
            });
            entry.cap = cap;
            // A free slot with nobody eligible waiting (the ring is served whenever a
            // slot frees, so a non-empty ring means no slot is free) and room under the
            // tenant's cap: taken at once.
            if free > 0 && ring_empty && entry.waiters.is_empty() && entry.running < cap {
                entry.running += 1;
                state.free -= 1;
                state.running += 1;
                return Some(Grant {
                    slots: Arc::clone(self),
                    tenant,
                });
            }
            let id = state.next_waiter;
            state.next_waiter += 1;
            let (granted, receiver) = oneshot::channel();
            entry.waiters.push_back(Waiter { id, granted });
            let eligible = entry.running < entry.cap && !entry.in_ring;
            if eligible {
                entry.in_ring = true;
                state.ring.push_back(tenant.clone());
            }
            state.waiting += 1;
            // The cap may have been raised: the tenant may be served now.
            state.dispatch();
            Waiting {
                slots: Arc::clone(self),
                tenant: tenant.clone(),
                id,
                receiver,
                done: false,
            }
        };
        receiver.wait().await
    }

    /// Executions running and waiting in total.
    pub(crate) fn totals(&self) -> TenantStats {
        let state = self.lock();
        TenantStats {
            running: state.running,
            waiting: state.waiting,
        }
    }

    /// Running and waiting executions of one tenant.
    pub(crate) fn tenant(&self, tenant: &TenantKey) -> TenantStats {
        let state = self.lock();
        state
            .tenants
            .get(tenant)
            .map_or_else(TenantStats::default, Tenant::stats)
    }

    /// Every tenant with executions running or waiting.
    pub(crate) fn tenants(&self) -> Vec<(TenantKey, TenantStats)> {
        let state = self.lock();
        state
            .tenants
            .iter()
            .map(|(key, entry)| (key.clone(), entry.stats()))
            .collect()
    }

    /// Waits until no execution runs or waits. Cancel-safe.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            {
                let state = self.lock();
                if state.running == 0 && state.waiting == 0 {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Refuses new callers and wakes every waiter with `None`. Running executions keep
    /// their slots until they end.
    pub(crate) fn close(&self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.closed = true;
        let mut woken = 0;
        for entry in state.tenants.values_mut() {
            woken += entry.waiters.len() as u64;
            entry.waiters.clear();
            entry.in_ring = false;
        }
        state.ring.clear();
        state.waiting -= woken;
        state.tenants.retain(|_, entry| entry.running > 0);
        let idle = state.running == 0;
        drop(guard);
        if idle {
            self.idle.notify_waiters();
        }
    }

    fn release(&self, tenant: &TenantKey) {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.free += 1;
        state.running -= 1;
        if let Some(entry) = state.tenants.get_mut(tenant) {
            entry.running -= 1;
            if entry.running == 0 && entry.waiters.is_empty() {
                state.tenants.remove(tenant);
            } else if !entry.waiters.is_empty() && !entry.in_ring && entry.running < entry.cap {
                entry.in_ring = true;
                state.ring.push_back(tenant.clone());
            }
        }
        state.dispatch();
        let idle = state.running == 0 && state.waiting == 0;
        drop(guard);
        if idle {
            self.idle.notify_waiters();
        }
    }

    /// A waiter gave up: it leaves the queue, or gives back the slot it was handed.
    fn abandon(&self, tenant: &TenantKey, id: u64, receiver: &mut oneshot::Receiver<()>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut left = false;
        if let Some(entry) = state.tenants.get_mut(tenant) {
            if let Some(position) = entry.waiters.iter().position(|w| w.id == id) {
                entry.waiters.remove(position);
                left = true;
                let unused = entry.waiters.is_empty();
                let gone = unused && entry.running == 0;
                if unused && entry.in_ring {
                    entry.in_ring = false;
                    state.ring.retain(|key| key != tenant);
                }
                if gone {
                    state.tenants.remove(tenant);
                }
            }
        }
        if left {
            state.waiting -= 1;
            let idle = state.running == 0 && state.waiting == 0;
            drop(guard);
            if idle {
                self.idle.notify_waiters();
            }
        } else {
            drop(guard);
            // Not queued any more: it was handed a slot (or the slots were closed).
            if receiver.try_recv().is_ok() {
                self.release(tenant);
            }
        }
    }
}

impl State {
    /// Hands free slots to the tenants in the ring, one each in turn.
    fn dispatch(&mut self) {
        while self.free > 0 {
            let Some(key) = self.ring.pop_front() else {
                return;
            };
            let Some(entry) = self.tenants.get_mut(&key) else {
                continue;
            };
            entry.in_ring = false;
            let Some(waiter) = entry.waiters.pop_front() else {
                continue;
            };
            if entry.running >= entry.cap {
                // Its cap was lowered by a later request: it waits for its own slots.
                entry.waiters.push_front(waiter);
                continue;
            }
            // The receiver lives as long as the waiter is queued (it leaves the queue
            // under this lock before it is dropped), so the send succeeds.
            if waiter.granted.send(()).is_err() {
                // Unreachable by the above; the waiter is gone either way.
                self.waiting -= 1;
                if !entry.waiters.is_empty() {
                    entry.in_ring = true;
                    self.ring.push_front(key);
                }
                continue;
            }
            entry.running += 1;
            self.free -= 1;
            self.running += 1;
            self.waiting -= 1;
            if !entry.waiters.is_empty() && entry.running < entry.cap {
                entry.in_ring = true;
                self.ring.push_back(key);
            }
        }
    }
}

/// A caller queued for a slot.
struct Waiting {
    slots: Arc<FairSlots>,
    tenant: TenantKey,
    id: u64,
    receiver: oneshot::Receiver<()>,
    done: bool,
}

impl Waiting {
    async fn wait(mut self) -> Option<Grant> {
        let granted = (&mut self.receiver).await;
        self.done = true;
        match granted {
            Ok(()) => Some(Grant {
                slots: Arc::clone(&self.slots),
                tenant: self.tenant.clone(),
            }),
            // The slots were closed.
            Err(_) => None,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.done {
            self.slots
                .abandon(&self.tenant, self.id, &mut self.receiver);
        }
    }
}

/// A slot held by one execution of a tenant; dropping it frees the slot for the next.
#[derive(Debug)]
pub(crate) struct Grant {
    slots: Arc<FairSlots>,
    tenant: TenantKey,
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.slots.release(&self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn key(name: &str) -> TenantKey {
        Some(Arc::from(name))
    }

    /// A queued acquire: polled once so it joins the queue, then kept.
    fn queued(
        slots: &Arc<FairSlots>,
        tenant: TenantKey,
        cap: u32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Grant>>>> {
        let slots = Arc::clone(slots);
        let mut future = Box::pin(async move { slots.acquire(tenant, cap).await });
        assert!(future.as_mut().now_or_never().is_none(), "should queue");
        future
    }

    fn ready(
        future: &mut std::pin::Pin<Box<dyn std::future::Future<Output = Option<Grant>>>>,
    ) -> Option<Grant> {
        future.as_mut().now_or_never().flatten()
    }

    #[test]
    fn free_slots_are_taken_at_once_up_to_the_cap() {
        let slots = Arc::new(FairSlots::new(4));
        let a1 = slots.acquire(key("a"), 2).now_or_never().flatten();
        let a2 = slots.acquire(key("a"), 2).now_or_never().flatten();
        assert!(a1.is_some() && a2.is_some());
        let mut a3 = queued(&slots, key("a"), 2);
        // Slots are free, but "a" is at its cap; "b" is not.
        let b1 = slots.acquire(key("b"), 2).now_or_never().flatten();
        assert!(b1.is_some());
        assert_eq!(
            slots.tenant(&key("a")),
            TenantStats {
                running: 2,
                waiting: 1
            }
        );
        drop(a1);
        assert!(ready(&mut a3).is_some());
    }

    #[test]
    fn freed_slots_alternate_between_waiting_tenants() {
        let slots = Arc::new(FairSlots::new(1));
        let first = slots.acquire(key("a"), 8).now_or_never().flatten();
        // "a" queues five before "b" queues any.
        let mut waiting: Vec<(&str, _)> = Vec::new();
        for _ in 0..5 {
            waiting.push(("a", queued(&slots, key("a"), 8)));
        }
        for _ in 0..5 {
            waiting.push(("b", queued(&slots, key("b"), 8)));
        }
        let mut order = Vec::new();
        let mut held = first;
        for _ in 0..10 {
            drop(held.take());
            let index = waiting
                .iter_mut()
                .position(|(_, future)| {
                    if let Some(grant) = ready(future) {
                        held = Some(grant);
                        true
                    } else {
                        false
                    }
                })
                .expect("one waiter is served per freed slot");
            order.push(waiting.remove(index).0);
        }
        assert_eq!(order, ["a", "b", "a", "b", "a", "b", "a", "b", "a", "b"]);
    }

    #[test]
    fn within_a_tenant_waiters_are_served_in_order() {
        let slots = Arc::new(FairSlots::new(1));
        let held = slots.acquire(None, 1).now_or_never().flatten();
        let mut first = queued(&slots, None, 1);
        let mut second = queued(&slots, None, 1);
        drop(held);
        assert!(ready(&mut second).is_none());
        let grant = ready(&mut first);
        assert!(grant.is_some());
        drop(grant);
        assert!(ready(&mut second).is_some());
    }

    #[test]
    fn a_waiter_that_gives_up_leaves_no_trace_and_loses_no_slot() {
        let slots = Arc::new(FairSlots::new(1));
        let held = slots.acquire(key("a"), 1).now_or_never().flatten();
        let gone = queued(&slots, key("b"), 1);
        drop(gone);
        assert_eq!(
            slots.totals(),
            TenantStats {
                running: 1,
                waiting: 0
            }
        );
        // Handed a slot, then dropped before it looked: the slot comes back.
        let handed = queued(&slots, key("b"), 1);
        let mut next = queued(&slots, key("c"), 1);
        drop(held);
        drop(handed);
        let grant = ready(&mut next);
        assert!(grant.is_some());
        assert_eq!(
            slots.totals(),
            TenantStats {
                running: 1,
                waiting: 0
            }
        );
        drop(grant);
        assert_eq!(
            slots.totals(),
            TenantStats {
                running: 0,
                waiting: 0
            }
        );
    }

    #[test]
    fn closing_wakes_waiters_and_refuses_new_callers() {
        let slots = Arc::new(FairSlots::new(1));
        let held = slots.acquire(None, 1).now_or_never().flatten();
        let mut waiting = queued(&slots, None, 1);
        slots.close();
        assert!(waiting.as_mut().now_or_never().expect("woken").is_none());
        assert!(slots
            .acquire(None, 1)
            .now_or_never()
            .expect("at once")
            .is_none());
        let idle = slots.idle();
        futures_util::pin_mut!(idle);
        assert!(idle.as_mut().now_or_never().is_none());
        drop(held);
        assert!(idle.now_or_never().is_some());
    }
}

#[cfg(test)]
mod stress {
    use super::*;
    use std::time::Duration;

    /// Many callers of few tenants on a multi-thread runtime, some giving up while they
    /// wait: every caller that does not give up is served, and at the end nothing is held.
    #[test]
    fn every_caller_is_served_or_leaves_and_nothing_is_lost() {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("tokio");
        tokio.block_on(async {
            let slots = Arc::new(FairSlots::new(16));
            let mut tasks = Vec::new();
            for i in 0..20_000u64 {
                let slots = Arc::clone(&slots);
                tasks.push(tokio::spawn(async move {
                    let tenant = Some(Arc::from(format!("t{}", i % 50).as_str()));
                    let patience = if i % 7 == 0 {
                        Duration::from_micros(50)
                    } else {
                        Duration::from_secs(20)
                    };
                    match tokio::time::timeout(patience, slots.acquire(tenant, 4)).await {
                        Ok(Some(grant)) => {
                            if i % 3 == 0 {
                                tokio::task::yield_now().await;
                            }
                            drop(grant);
                            true
                        }
                        Ok(None) => panic!("closed"),
                        Err(_) => {
                            assert!(i % 7 == 0, "caller {i} waited 20 s");
                            false
                        }
                    }
                }));
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            for task in tasks {
                task.await.expect("joined");
            }
            assert_eq!(slots.totals(), TenantStats::default());
            assert!(slots.tenants().is_empty());
        });
    }
}
