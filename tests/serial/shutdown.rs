//! `Runtime::close` and drop: running work is waited for (then cancelled), new work is
//! refused, and no background thread is left. It counts the process's threads by name,
//! so it runs alone (see `tests/serial/main.rs`).

use std::time::{Duration, Instant};

use jsruntime::{Config, ErrorKind, ExecRequest, Runtime};

/// Threads of this process whose name starts with `jsruntime-`.
fn runtime_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("jsruntime-"))
        .count()
}

/// The count of runtime threads once it reaches `expected` (a new thread names itself
/// only once it runs, so a count taken at once may be short), or the last count seen.
fn runtime_threads_settled(expected: usize) -> usize {
    let mut count = runtime_threads();
    for _ in 0..200 {
        if count == expected {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        count = runtime_threads();
    }
    count
}

#[test]
fn close_waits_cancels_refuses_and_leaves_no_threads() {
    crate::alone(async {
        assert_eq!(runtime_threads(), 0);
        let config = {
            let mut value = Config::default();
            value.prewarm = 2;
            value.guest_threads = 2;
            value
        };
        let runtime = Runtime::new(config.clone()).expect("runtime starts");
        assert_eq!(
            runtime_threads_settled(3),
            3,
            "the pool thread and two guest threads (no epoch ticker since issue 14)"
        );

        // A short execution in flight is waited for.
        let short = {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                runtime
                    .execute(&ExecRequest::source(
                        "const t = Date.now() + 50; while (Date.now() < t) {} 'done'",
                    ))
                    .await
            })
        };
        // An endless one is cancelled once the grace period is over.
        let endless = {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let request = ExecRequest::source("while (true) {}")
                    .fuel(u64::MAX / 2)
                    .timeout(Duration::from_secs(60));
                runtime.execute(&request).await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        runtime.close(Duration::from_millis(200)).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "close took {:?}",
            started.elapsed()
        );

        assert_eq!(
            short.await.expect("task").map(|o| o.value),
            Ok(serde_json::json!("done"))
        );
        let endless = endless.await.expect("task").expect_err("stopped by close");
        // Shutdown has a kind of its own: the caller did not cancel anything.
        assert_eq!(endless.kind(), ErrorKind::Closed);

        let refused = runtime
            .execute(&ExecRequest::source("1"))
            .await
            .expect_err("closed");
        assert_eq!(refused.kind(), ErrorKind::Closed);
        assert!(refused.to_string().contains("closed"), "{refused}");
        assert_eq!(runtime_threads(), 0, "close joins the background threads");
        let stats = runtime.pool_stats();
        assert_eq!(stats.available, 0);
        assert_eq!(stats.created, stats.destroyed, "{stats:?}");

        // Dropping the last handle of a runtime that was never closed stops its threads too.
        let other = Runtime::new(config).expect("runtime starts");
        assert_eq!(runtime_threads_settled(3), 3);
        other
            .execute(&ExecRequest::source("1"))
            .await
            .expect("runs");
        drop(other);
        assert_eq!(runtime_threads(), 0, "drop joins the background threads");
    });
}
