//! Busy scripts never hold a tokio worker for long: the guest yields at every slice of
//! fuel, so 1000 concurrent long scripts on a 2-worker runtime leave a 10 ms timer
//! firing on time. Runs alone (see `tests/serial/main.rs`): other tests' scripts would
//! compete for the same two cores.

use std::time::{Duration, Instant};

use jsruntime::{Config, ExecRequest, Runtime};

#[test]
fn a_thousand_busy_scripts_do_not_starve_a_10ms_timer() {
    crate::alone(async {
        let runtime = Runtime::new({
            let mut value = Config::default();
            value.max_concurrency = 250;
            value
        })
        .expect("runtime starts");

        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let timer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(10));
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut last = Instant::now();
                let mut gaps = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    interval.tick().await;
                    gaps.push(last.elapsed());
                    last = Instant::now();
                }
                gaps
            })
        };

        let started = Instant::now();
        // Each script spins for 100 ms of wall time: with 250 running at once on two
        // cores, every one of them is runnable for the whole test.
        let source = "const until = Date.now() + 100; while (Date.now() < until) {} true";
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                let runtime = runtime.clone();
                tokio::spawn(async move {
                    let request = ExecRequest::source(source)
                        .fuel(u64::MAX / 2)
                        .timeout(Duration::from_secs(60));
                    runtime.execute(&request).await
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(
                handle.await.expect("task").map(|o| o.value),
                Ok(serde_json::json!(true))
            );
        }
        let busy = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let gaps = timer.await.expect("timer task");

        let mut sorted = gaps.clone();
        sorted.sort();
        let p50 = sorted[sorted.len() / 2];
        let p90 = sorted[sorted.len() * 9 / 10];
        let max = *sorted.last().expect("ticks");
        eprintln!(
            "busy for {busy:?}: {} ticks, gaps p50 {p50:?} p90 {p90:?} max {max:?}",
            gaps.len()
        );
        // The timer kept firing throughout: about one tick per 10 ms of the busy period,
        // typical gaps of about 10 ms, and no gap anywhere near the length of the run (the
        // largest comes while the burst of 1000 executions is being set up).
        assert!(
            gaps.len() as u128 >= busy.as_millis() / 10 / 2,
            "{} ticks in {busy:?}",
            gaps.len()
        );
        assert!(p50 < Duration::from_millis(20), "median gap {p50:?}");
        assert!(p90 < Duration::from_millis(50), "p90 gap {p90:?}");
        assert!(max < Duration::from_millis(250), "max gap {max:?}");
    });
}
