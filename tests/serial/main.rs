//! The end-to-end tests that measure the whole process, in one binary where they run one
//! at a time: `shutdown` counts the process's threads, `soak` its RSS, `tracing` relies
//! on no other test touching its call sites while its subscriber is set, and `load`
//! times a timer while 250 scripts keep both cores busy. Beside other tests, each would
//! see their threads, their memory, their call sites or their CPU, so they stay out of
//! `tests/all` (where tests run in parallel) and take [`one_at_a_time`]'s lock instead.

#[path = "../common/mod.rs"]
mod common;

mod load;
mod shutdown;
mod soak;
mod tracing;

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Held by every test of this binary for the whole of its run: the test harness runs
/// tests on several threads, so this is what makes them run one after the other. (A
/// test that fails leaves the lock poisoned; the next one takes it all the same.)
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `test` alone in the process (see [`one_at_a_time`]) on a tokio runtime like
/// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`'s, which is shut down
/// before the next test starts.
fn alone<F: Future>(test: F) -> F::Output {
    let _alone = one_at_a_time();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    tokio.block_on(test)
}
