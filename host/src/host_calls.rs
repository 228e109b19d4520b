//! Where host functions run: always on the caller's task.
//!
//! An execution may move to a guest thread (see `offload`), but a host function belongs
//! to the service: it opens sockets on the service's tokio runtime, spawns onto it, reads
//! its task-locals. So the guest never polls a host function's future itself. The import
//! hands the future to a [`HostCaller`], and the caller's task, which awaits the
//! execution anyway, drives it through the matching [`HostCallRelay`] and sends the
//! outcome back. Wherever the guest runs, a host function runs in the same place: the
//! task that called `execute`.
//!
//! Guarantees:
//! - A host function that panics does not unwind into the caller or the guest: the panic
//!   is caught where the future is polled and reported as [`HostReply::Panicked`], the
//!   same whether or not the execution had moved.
//! - While a host function's future is polled, [`inside_host_fn`] is true: a host
//!   function that calls `Runtime::execute` is refused (it would wait for a slot that its
//!   own execution may be holding).
//! - When the guest stops waiting (its deadline, a cancellation, shutdown) or the
//!   execution is dropped, the host function's future is dropped at once.
//!
//! While the execution is still on the caller's task (it has not moved, see `offload`),
//! the pipeline's own calls of the service (a module loader, while it links a module's
//! imports) are polled once where they are started, which is then the caller's task
//! too: a loader that answers at once (an in-memory registry, a cache hit) costs no
//! round trip through the relay. See [`HostCaller::run_here_first`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::host_fn::{HostFnError, HostFuture};

tokio::task_local! {
    /// Set while a host function's future is polled.
    static IN_HOST_FN: ();
}

/// Whether the current code runs inside a host function (on its task, while the relay
/// polls it).
pub(crate) fn inside_host_fn() -> bool {
    IN_HOST_FN.try_with(|()| ()).is_ok()
}

/// How a host function ended.
#[derive(Debug)]
pub(crate) enum HostReply {
    /// It returned this value.
    Value(serde_json::Value),
    /// It returned an error, which the script sees as an `Error`.
    Failed(HostFnError),
    /// It panicked, with this message.
    Panicked(String),
}

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The instance's side: hands host-function futures to the caller's task.
#[derive(Debug, Clone)]
pub(crate) struct HostCaller {
    jobs: mpsc::UnboundedSender<Job>,
    /// True while the execution runs on the caller's task (shared with the relay, which
    /// clears it when the execution moves).
    on_callers_task: Arc<AtomicBool>,
}

impl HostCaller {
    /// A caller whose calls never run (for instances that are not executing: the pool's
    /// idle ones). Every call's receiver reports the relay gone.
    pub(crate) fn detached() -> HostCaller {
        let (caller, relay) = HostCaller::pair();
        relay.moved();
        caller
    }

    /// A connected caller and relay, for an execution that starts on the caller's task.
    pub(crate) fn pair() -> (HostCaller, HostCallRelay) {
        let (jobs, receiver) = mpsc::unbounded_channel();
        let on_callers_task = Arc::new(AtomicBool::new(true));
        (
            HostCaller {
                jobs,
                on_callers_task: Arc::clone(&on_callers_task),
            },
            HostCallRelay {
                jobs: receiver,
                running: FuturesUnordered::new(),
                on_callers_task,
            },
        )
    }

    /// Starts a host function's `future` on the caller's task. The receiver gets its
    /// outcome; dropping the receiver drops the future. If the caller's side is gone the
    /// receiver reports it at once (its error).
    pub(crate) fn start(&self, future: HostFuture) -> oneshot::Receiver<HostReply> {
        self.start_with(future, |ran| match ran {
            Ran::Done(Ok(value)) => HostReply::Value(value),
            Ran::Done(Err(error)) => HostReply::Failed(error),
            Ran::Panicked(message) => HostReply::Panicked(message),
        })
    }

    /// Starts any of the service's futures (a module loader's, say) on the caller's task,
    /// with the same guarantees as a host function's: the receiver gets its outcome (or
    /// its panic), dropping the receiver drops it.
    pub(crate) fn run<T, F>(&self, future: F) -> oneshot::Receiver<Ran<T>>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.start_with(future, |ran| ran)
    }

    /// [`HostCaller::run`], but while the execution is still on the caller's task the
    /// future is first polled once here (on that task, with the same guarantees: its
    /// panic caught, [`inside_host_fn`] true): a future ready at once is answered
    /// without a round trip through the relay; one that is not goes on in the relay.
    ///
    /// For the pipeline's own calls only (stage 5, linking), never from inside the guest:
    /// there this runs on the instance's fiber, whose stack is sized for the guest, not
    /// for the service's code.
    pub(crate) fn run_here_first<T, F>(&self, future: F) -> oneshot::Receiver<Ran<T>>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (mut job, outcome) = job(future, |ran| ran);
        if self.on_callers_task.load(Ordering::Acquire) {
            // A no-op waker is enough: a future that is not ready is polled again by the
            // relay, with its waker, before anything could need waking (a future wakes
            // only the waker of its latest poll).
            let mut context = Context::from_waker(Waker::noop());
            if job.as_mut().poll(&mut context).is_ready() {
                return outcome;
            }
        }
        let _ = self.jobs.send(job);
        outcome
    }

    fn start_with<T, R, F>(
        &self,
        future: F,
        outcome_of: impl FnOnce(Ran<T>) -> R + Send + 'static,
    ) -> oneshot::Receiver<R>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (job, outcome) = job(future, outcome_of);
        // A send fails only when the relay is gone; the job (and its reply sender) is then
        // dropped, which the receiver reports.
        let _ = self.jobs.send(job);
        outcome
    }
}

/// A service future as a job for the relay (its panic caught, [`inside_host_fn`] true
/// while it is polled, dropped when the receiver is), and the receiver of its outcome.
fn job<T, R, F>(
    future: F,
    outcome_of: impl FnOnce(Ran<T>) -> R + Send + 'static,
) -> (Job, oneshot::Receiver<R>)
where
    T: Send + 'static,
    R: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let (reply, outcome) = oneshot::channel();
    let job: Job = Box::pin(async move {
        let mut reply = reply;
        let run = AssertUnwindSafe(IN_HOST_FN.scope((), future)).catch_unwind();
        tokio::select! {
            ran = run => {
                let _ = reply.send(outcome_of(match ran {
                    Ok(value) => Ran::Done(value),
                    Err(panic) => Ran::Panicked(panic_message(panic.as_ref())),
                }));
            }
            // The guest stopped waiting: drop the service's future.
            () = reply.closed() => {}
        }
    });
    (job, outcome)
}

/// How a future started with [`HostCaller::run`] ended.
#[derive(Debug)]
pub(crate) enum Ran<T> {
    /// It completed with this.
    Done(T),
    /// It panicked, with this message.
    Panicked(String),
}

/// The caller's side: polls the host functions of one execution.
pub(crate) struct HostCallRelay {
    jobs: mpsc::UnboundedReceiver<Job>,
    running: FuturesUnordered<Job>,
    on_callers_task: Arc<AtomicBool>,
}

impl HostCallRelay {
    /// The execution leaves the caller's task: from now on every call goes through the
    /// relay (see [`HostCaller::run_here_first`]). Called before it moves.
    pub(crate) fn moved(&self) {
        self.on_callers_task.store(false, Ordering::Release);
    }

    /// A relay no instance sends to (tests of the code that drives relays).
    #[cfg(test)]
    pub(crate) fn detached() -> HostCallRelay {
        HostCaller::pair().1
    }

    /// Takes newly started calls and drives the running ones. Never ready (generic over
    /// the output, so callers can return it from their own polls): the relay lives as long
    /// as its execution, and its owner stops polling it when the execution ends (dropping
    /// it drops what still runs).
    pub(crate) fn poll_drive<T>(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        while let Poll::Ready(Some(job)) = self.jobs.poll_recv(cx) {
            self.running.push(job);
        }
        while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {}
        Poll::Pending
    }

    /// [`HostCallRelay::poll_drive`] as a future that never completes.
    #[cfg(test)]
    pub(crate) async fn drive(&mut self) {
        std::future::poll_fn(|cx| self.poll_drive(cx)).await
    }
}

/// The text of a panic's payload, as the standard panic hook would print it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a text message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_run_on_the_relay_side_and_panics_are_caught() {
        let (caller, mut relay) = HostCaller::pair();
        let ok = caller.start(Box::pin(async { Ok(serde_json::json!(inside_host_fn())) }));
        let panics = caller.start(Box::pin(async { panic!("boom") }));
        let outcomes = async { (ok.await, panics.await) };
        let (ok, panics) = tokio::select! {
            outcomes = outcomes => outcomes,
            () = relay.drive() => unreachable!("the relay never completes"),
        };
        assert!(matches!(
            ok,
            Ok(HostReply::Value(serde_json::Value::Bool(true)))
        ));
        assert!(matches!(panics, Ok(HostReply::Panicked(message)) if message == "boom"));
        assert!(!inside_host_fn());
    }

    #[tokio::test]
    async fn a_dropped_receiver_drops_the_host_future() {
        let (caller, mut relay) = HostCaller::pair();
        let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
        struct SignalOnDrop(Option<oneshot::Sender<()>>);
        impl Drop for SignalOnDrop {
            fn drop(&mut self) {
                if let Some(tx) = self.0.take() {
                    let _ = tx.send(());
                }
            }
        }
        let guard = SignalOnDrop(Some(dropped_tx));
        let receiver = caller.start(Box::pin(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(serde_json::Value::Null)
        }));
        let waiting = async {
            tokio::task::yield_now().await;
            drop(receiver);
            dropped_rx.await
        };
        tokio::select! {
            dropped = waiting => assert!(dropped.is_ok()),
            () = relay.drive() => unreachable!(),
        }
    }

    #[tokio::test]
    async fn a_ready_future_is_answered_in_place_until_the_execution_moves() {
        let (caller, relay) = HostCaller::pair();
        // Nothing drives the relay: only an answer given in place arrives.
        let mut ready = caller.run_here_first(async { inside_host_fn() });
        assert!(matches!(ready.try_recv(), Ok(Ran::Done(true))));
        let mut panicked = caller.run_here_first(async { panic!("boom") });
        assert!(matches!(panicked.try_recv(), Ok(Ran::Panicked(m)) if m == "boom"));
        relay.moved();
        let mut moved = caller.run_here_first(async { 7 });
        assert!(moved.try_recv().is_err(), "polled in place after the move");
        drop(relay);
        assert!(moved.await.is_err());
    }

    #[tokio::test]
    async fn a_pending_future_goes_on_in_the_relay() {
        let (caller, mut relay) = HostCaller::pair();
        let (tx, rx) = oneshot::channel::<u8>();
        let reply = caller.run_here_first(async move { rx.await.unwrap_or(0) });
        let answered = async {
            tokio::task::yield_now().await;
            let _ = tx.send(7);
            reply.await
        };
        tokio::select! {
            answered = answered => assert!(matches!(answered, Ok(Ran::Done(7)))),
            () = relay.drive() => unreachable!("the relay never completes"),
        }
    }

    #[tokio::test]
    async fn a_gone_relay_is_reported_to_the_guest() {
        let (caller, relay) = HostCaller::pair();
        drop(relay);
        let outcome = caller.start(Box::pin(async { Ok(serde_json::Value::Null) }));
        assert!(outcome.await.is_err());
        assert!(HostCaller::detached()
            .start(Box::pin(async { Ok(serde_json::Value::Null) }))
            .await
            .is_err());
    }
}
