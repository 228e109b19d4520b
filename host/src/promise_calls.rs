//! The Promise host calls of one execution: started by the guest's `host.start-call`,
//! run on the caller's task (through the [`HostCaller`], like every host function), and
//! reported to the guest's `host.wait` one at a time.
//!
//! Guarantees:
//! - At most `calls_in_flight` run at once ([`Limits::calls_in_flight`]); a call past it
//!   waits, in the order the calls were made, and starts when a running one ends. Its
//!   future is only created then: a waiting call has done nothing yet.
//! - [`PromiseCalls::next`] reports each call once. In an ordered (deterministic)
//!   execution it reports them in the order they were started, holding back a call that
//!   ended before an earlier one; otherwise in the order they end.
//! - Dropping the [`PromiseCalls`] (the execution ended, for any reason) drops every call
//!   still running: the relay drops a host future whose receiver is gone.
//!
//! [`Limits::calls_in_flight`]: crate::Limits::calls_in_flight

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::oneshot;

use crate::host_calls::{HostCaller, HostReply};
use crate::host_fn::{HostCall, HostFn};

/// How one call ended: its reply, or the relay's side was gone.
pub(crate) type Outcome = Result<HostReply, oneshot::error::RecvError>;

/// A call that ended: its id, the function's name and how it ended.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
}

type Running = Pin<Box<dyn Future<Output = Ended> + Send>>;

/// The Promise calls of one execution.
pub(crate) struct PromiseCalls {
    cap: usize,
    ordered: bool,
    next_id: u32,
    /// Made, but past the cap: not started yet.
    waiting: VecDeque<(u32, HostFn, HostCall)>,
    running: FuturesUnordered<Running>,
    /// Ordered only: ids not reported yet, in the order they were made, and the calls
    /// that ended before their turn.
    order: VecDeque<u32>,
    ended: HashMap<u32, Ended>,
}

impl PromiseCalls {
    /// No calls yet; at most `cap` (at least 1) at once; reported in start order if
    /// `ordered`.
    pub(crate) fn new(cap: u32, ordered: bool) -> PromiseCalls {
        PromiseCalls {
            cap: usize::try_from(cap.max(1)).unwrap_or(usize::MAX),
            ordered,
            next_id: 0,
            waiting: VecDeque::new(),
            running: FuturesUnordered::new(),
            order: VecDeque::new(),
            ended: HashMap::new(),
        }
    }

    /// Whether no call is running, waiting or held back.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty() && self.ended.is_empty()
    }

    /// Makes a call of `function`: started at once if there is room, else when there is.
    /// Returns its id.
    pub(crate) fn start(&mut self, caller: &HostCaller, function: HostFn, call: HostCall) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        if self.ordered {
            self.order.push_back(id);
        }
        if self.running.len() < self.cap {
            self.launch(caller, id, &function, call);
        } else {
            self.waiting.push_back((id, function, call));
        }
        id
    }

    fn launch(&mut self, caller: &HostCaller, id: u32, function: &HostFn, call: HostCall) {
        let name = call.name.clone();
        let reply = caller.start(function(call));
        self.running.push(Box::pin(async move {
            Ended {
                id,
                name,
                outcome: reply.await,
            }
        }));
    }

    /// Starts waiting calls while there is room.
    fn fill(&mut self, caller: &HostCaller) {
        while self.running.len() < self.cap {
            let Some((id, function, call)) = self.waiting.pop_front() else {
                return;
            };
            self.launch(caller, id, &function, call);
        }
    }

    /// The next call to report; `None` when there is none. Cancel-safe: a call that
    /// ended while the caller stopped waiting is kept for the next `next`.
    pub(crate) async fn next(&mut self, caller: &HostCaller) -> Option<Ended> {
        loop {
            if self.ordered {
                if let Some(front) = self.order.front() {
                    if let Some(ended) = self.ended.remove(front) {
                        self.order.pop_front();
                        return Some(ended);
                    }
                }
            }
            let ended = self.running.next().await?;
            self.fill(caller);
            if !self.ordered {
                return Some(ended);
            }
            self.ended.insert(ended.id, ended);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::context::ExecContext;
    use crate::host_calls::HostCallRelay;

    /// A function that answers its argument (a number of milliseconds) after that long.
    fn sleeper() -> HostFn {
        Arc::new(|call: HostCall| {
            Box::pin(async move {
                let ms = call.args.as_u64().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(call.args)
            })
        })
    }

    fn call(ms: u64) -> HostCall {
        HostCall {
            name: "sleep".into(),
            args: serde_json::json!(ms),
            context: Arc::new(ExecContext::default()),
        }
    }

    /// Reports every call of `delays` (ms each), driving the relay, as ids.
    async fn reported(
        calls: &mut PromiseCalls,
        caller: &HostCaller,
        relay: &mut HostCallRelay,
    ) -> Vec<u32> {
        let mut ids = Vec::new();
        loop {
            let next = tokio::select! {
                next = calls.next(caller) => next,
                () = std::future::poll_fn(|cx| relay.poll_drive(cx)) => unreachable!(),
            };
            match next {
                Some(ended) => {
                    assert!(matches!(ended.outcome, Ok(HostReply::Value(_))));
                    ids.push(ended.id);
                }
                None => return ids,
            }
        }
    }

    #[tokio::test]
    async fn calls_are_reported_as_they_end_or_in_order() {
        for (ordered, expected) in [(false, vec![3, 2, 1]), (true, vec![1, 2, 3])] {
            let (caller, mut relay) = HostCaller::pair();
            let mut calls = PromiseCalls::new(16, ordered);
            for ms in [150, 75, 0] {
                calls.start(&caller, sleeper(), call(ms));
            }
            assert_eq!(reported(&mut calls, &caller, &mut relay).await, expected);
            assert!(calls.is_empty());
        }
    }

    #[tokio::test]
    async fn calls_past_the_cap_wait_for_room_in_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static MOST: AtomicUsize = AtomicUsize::new(0);
        static STARTED: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());
        let counting: HostFn = Arc::new(|call: HostCall| {
            Box::pin(async move {
                STARTED
                    .lock()
                    .expect("lock")
                    .push(call.args.as_u64().unwrap_or(0));
                let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                MOST.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                RUNNING.fetch_sub(1, Ordering::SeqCst);
                Ok(call.args)
            })
        });
        let (caller, mut relay) = HostCaller::pair();
        let mut calls = PromiseCalls::new(2, false);
        for n in 0..6 {
            calls.start(&caller, Arc::clone(&counting), call(n));
        }
        assert_eq!(calls.waiting.len(), 4);
        assert_eq!(reported(&mut calls, &caller, &mut relay).await.len(), 6);
        assert_eq!(MOST.load(Ordering::SeqCst), 2);
        assert_eq!(*STARTED.lock().expect("lock"), [0, 1, 2, 3, 4, 5]);
    }
}
