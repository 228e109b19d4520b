//! Keeps long-running guests off the caller's tokio workers.
//!
//! An execution starts on the caller's task: most scripts finish within their first
//! slice of fuel (`INLINE_SLICE_FUEL`, ~150 µs of work) and pay no hand-off. A script
//! still running at its first yield moves, future and all, to one of the runtime's own guest threads, and the
//! caller just awaits the result. So however many tenants run busy scripts, the
//! embedding service's own tasks and timers keep their workers: a fair scheduler
//! serving hundreds of runnable slices cannot fire a 10 ms timer on time.
//!
//! Dropping the caller's future still stops the execution: the moved task notices that
//! nobody waits for its result and drops the guest at its next yield.
//!
//! Host functions never move: the caller's task drives them through the execution's
//! [`HostCallRelay`] the whole time, inline or moved (see `host_calls`), so they run with
//! the service's runtime, its I/O, its `spawn` and its task-locals.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use crate::host_calls::HostCallRelay;

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Threads that run moved guests, each with a single-threaded tokio runtime (timers only:
/// host functions, which may need I/O, run on the caller's task). Dropping it stops them.
pub(crate) struct GuestThreads {
    senders: Mutex<Vec<mpsc::UnboundedSender<Task>>>,
    next: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl GuestThreads {
    pub(crate) fn start(count: usize) -> std::io::Result<GuestThreads> {
        let mut senders = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for index in 0..count.max(1) {
            let (sender, mut receiver) = mpsc::unbounded_channel::<Task>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            let thread = std::thread::Builder::new()
                .name(format!("jsruntime-guest-{index}"))
                .spawn(move || {
                    lower_priority();
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&runtime, async move {
                        while let Some(task) = receiver.recv().await {
                            tokio::task::spawn_local(task);
                        }
                    });
                    // Tasks still here are dropped with the LocalSet: their guests stop.
                })?;
            senders.push(sender);
            threads.push(thread);
        }
        Ok(GuestThreads {
            senders: Mutex::new(senders),
            next: AtomicUsize::new(0),
            threads: Mutex::new(threads),
        })
    }

    /// Hands a task to the next thread; gives it back if the threads are stopped.
    /// (Dropping `GuestThreads` stops the threads, see [`GuestThreads::stop`].)
    fn spawn(&self, task: Task) -> Result<(), Task> {
        let senders = lock(&self.senders);
        if senders.is_empty() {
            return Err(task);
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % senders.len();
        senders[index].send(task).map_err(|error| error.0)
    }

    /// Stops the threads (dropping any task they still hold) and joins them. Called
    /// from a guest thread itself (the last handle of a runtime dropped by a moved
    /// execution), that thread is left to finish on its own.
    pub(crate) fn stop(&self) {
        lock(&self.senders).clear();
        let threads = std::mem::take(&mut *lock(&self.threads));
        let current = std::thread::current().id();
        for thread in threads {
            if thread.thread().id() != current {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for GuestThreads {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Scheduling priority (nice value) of the guest threads.
///
/// They run only scripts that outlived their first slice of fuel: long, possibly hostile
/// work. At +10 a guest thread weighs about a tenth of a normal one with the kernel's
/// fair scheduler, so when the machine is short of cores the embedding service's own
/// threads (its tokio workers and timers, its short scripts run inline) come first and
/// tenants' long scripts share what is left, instead of every thread getting an equal
/// slice. On an idle machine it changes nothing.
const GUEST_THREAD_NICE: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority to [`GUEST_THREAD_NICE`]. Failing is
/// harmless (the thread keeps the default priority), so errors are ignored.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` and `setpriority` have no memory-safety preconditions; on Linux
    // `PRIO_PROCESS` with a thread id sets the priority of that thread alone.
    unsafe {
        let thread_id = libc::gettid();
        libc::setpriority(
            libc::PRIO_PROCESS,
            thread_id as libc::id_t,
            GUEST_THREAD_NICE,
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `future` on the caller's task until it first yields (wakes itself during a
/// poll), then moves it to `threads` and awaits its output. All along, the caller's task
/// drives `relay`: the execution's host functions. `stopped` gives the output when the
/// threads are gone before it finishes.
pub(crate) async fn run_offloading<F>(
    threads: &GuestThreads,
    future: F,
    mut relay: HostCallRelay,
    stopped: impl FnOnce() -> F::Output,
) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Box::pin(future);
    let detector = YieldDetector::default();
    let inline = std::future::poll_fn(|cx| {
        let polled = detector.poll_inline(future.as_mut(), cx);
        if polled.is_pending() {
            // A host call the guest just started, or one that makes progress.
            let _: Poll<()> = relay.poll_drive(cx);
        }
        polled
    });
    match inline.await {
        Some(output) => output,
        None => finish_elsewhere(threads, future, relay, stopped).await,
    }
}

/// Moves a started future to a guest thread and awaits its output there, driving the
/// host-call relay meanwhile.
async fn finish_elsewhere<F>(
    threads: &GuestThreads,
    future: Pin<Box<F>>,
    mut relay: HostCallRelay,
    stopped: impl FnOnce() -> F::Output,
) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Nothing the instance starts from now on is polled where it runs (see `host_calls`).
    relay.moved();
    // `tracing` dispatches to the current thread's subscriber: the caller's, which may be
    // thread-local (`with_default`), goes along, or the script's console events and the
    // guest's own would be lost once the execution moved.
    let future = tracing::instrument::WithSubscriber::with_current_subscriber(future);
    let (sender, receiver) = oneshot::channel();
    let task: Task = Box::pin(async move {
        let mut sender = sender;
        tokio::select! {
            output = future => { let _ = sender.send(output); }
            // The caller dropped its future: stop the guest.
            () = sender.closed() => {}
        }
    });
    if threads.spawn(task).is_err() {
        return stopped();
    }
    let mut receiver = receiver;
    let output = std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = Pin::new(&mut receiver).poll(cx) {
            return Poll::Ready(output);
        }
        relay.poll_drive(cx)
    })
    .await;
    match output {
        Ok(output) => output,
        Err(_) => stopped(),
    }
}

/// Polls a future with a waker that notes whether the future woke itself during the
/// poll (a yield).
#[derive(Default)]
struct YieldDetector {
    waker: Arc<DetectingWaker>,
}

/// The waker the inline phase polls with.
///
/// Every wake is passed on to the caller's waker, whenever it comes: whether a wake
/// counts as a yield only decides where the future is polled next, never whether it is.
/// An earlier version swallowed a wake that found a poll in progress (the poller was to
/// see a flag and move the future), but the check and the flag were two steps: a wake
/// from another thread (a slot granted, a timer) that saw the poll in progress and was
/// then preempted before it set the flag landed after the poller had looked, and was
/// lost: the execution slept until its deadline woke it (issue 11's soak stall).
#[derive(Default)]
struct DetectingWaker {
    /// Wakes so far; a poll during which it moved woke the future (a yield).
    wakes: AtomicU64,
    outer: Mutex<Option<Waker>>,
}

impl Wake for DetectingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Counted before the caller's waker is woken, so a poll that has not finished
        // yet sees it.
        self.wakes.fetch_add(1, Ordering::AcqRel);
        // Also during a poll, so no timing can lose it. If the future then moves, the
        // caller's task is polled once for nothing (it only awaits the moved task).
        if let Some(waker) = lock(&self.outer).as_ref() {
            waker.wake_by_ref();
        }
    }
}

impl YieldDetector {
    /// `Ready(Some(output))` when the future finished, `Ready(None)` when it yielded
    /// and should move, `Pending` when it waits for something else.
    ///
    /// A wake from another thread that lands during the poll also reads as a yield (it
    /// is not told apart from one); the future then moves, which costs a hand-off, not
    /// a wake-up: it is polled at once on the guest thread.
    fn poll_inline<F: Future + ?Sized>(
        &self,
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<F::Output>> {
        {
            // Replaced before the poll: a wake that comes after it reaches this waker.
            let mut outer = lock(&self.waker.outer);
            match outer.as_ref() {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *outer = Some(cx.waker().clone()),
            }
        }
        let before = self.waker.wakes.load(Ordering::Acquire);
        let waker = Waker::from(Arc::clone(&self.waker));
        let result = future.poll(&mut Context::from_waker(&waker));
        match result {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending if self.waker.wakes.load(Ordering::Acquire) != before => {
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Yields `n` times by waking itself, like a guest at each fuel yield, then reports
    /// the thread it finished on.
    struct SelfWaking(u32);

    impl Future for SelfWaking {
        type Output = String;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<String> {
            if self.0 == 0 {
                return Poll::Ready(std::thread::current().name().unwrap_or("").to_owned());
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn short_work_stays_and_yielding_work_moves() {
        let threads = GuestThreads::start(1).expect("threads");
        let here = std::thread::current().name().unwrap_or("").to_owned();
        let relay = || HostCallRelay::detached();
        let stayed =
            run_offloading(&threads, SelfWaking(0), relay(), || "stopped".to_owned()).await;
        assert_eq!(stayed, here);
        let moved = run_offloading(&threads, SelfWaking(3), relay(), || "stopped".to_owned()).await;
        assert_eq!(moved, "jsruntime-guest-0");
        threads.stop();
        let after_stop =
            run_offloading(&threads, SelfWaking(3), relay(), || "stopped".to_owned()).await;
        assert_eq!(after_stop, "stopped");
    }

    /// A waker that records that it was woken: the caller's task.
    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Pending on its first poll, after handing its waker to `wake`; ready on the next.
    struct WokenBy<W: FnMut(Waker)> {
        wake: W,
        polled: bool,
    }

    impl<W: FnMut(Waker) + Unpin> Future for WokenBy<W> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if std::mem::replace(&mut self.polled, true) {
                return Poll::Ready(());
            }
            let waker = cx.waker().clone();
            (self.wake)(waker);
            Poll::Pending
        }
    }

    /// The invariant that makes a lost wake-up impossible: a wake that comes during a
    /// poll is passed on to the caller's waker too, not only noted for the poller. (The
    /// soak stall: a slot granted from another thread found the poll in progress, the
    /// poll ended before the grant's wake had noted it, and the execution slept until its
    /// deadline.)
    #[test]
    fn a_wake_during_the_poll_reaches_the_caller_too() {
        let detector = YieldDetector::default();
        let outer = Arc::new(Flag::default());
        let outer_waker = Waker::from(Arc::clone(&outer));
        let mut future = WokenBy {
            wake: |waker: Waker| waker.wake(),
            polled: false,
        };
        let polled = detector.poll_inline(
            Pin::new(&mut future),
            &mut Context::from_waker(&outer_waker),
        );
        assert!(
            matches!(polled, Poll::Ready(None)),
            "a self-wake is a yield"
        );
        assert!(
            outer.0.load(Ordering::SeqCst),
            "the caller's waker was not woken"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiting_on_something_else_stays_inline() {
        let threads = GuestThreads::start(1).expect("threads");
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let _ = tx.send(7);
        });
        let relay = HostCallRelay::detached();
        assert_eq!(
            run_offloading(&threads, rx, relay, || Ok(0)).await.ok(),
            Some(7)
        );
        threads.stop();
    }
}
