//! What makes an execution deterministic ([`ExecRequest::deterministic`]): virtual clocks
//! and seeded randomness, given to the guest through WASI.
//!
//! The guest reads time and randomness only through `wasi:clocks` and `wasi:random`
//! (QuickJS's `Date`, the timers' clock, `performance`, the seed of `Math.random`,
//! `crypto`), so replacing the host's side of those interfaces is enough: nothing in the
//! guest knows. The clocks stand still while code runs and move only when the guest waits
//! for timers with no host call in flight (`host.wait`, see `instance::imports`), by
//! exactly the time it asked to wait.
//!
//! [`ExecRequest::deterministic`]: crate::ExecRequest::deterministic

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx};

use crate::request::DETERMINISTIC_EPOCH_MS;

/// The virtual time of one execution: nanoseconds since it began. Clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct VirtualClock {
    elapsed_ns: Arc<AtomicU64>,
}

impl VirtualClock {
    /// Moves time forward by `by` (saturating: a clock past 584 years stays there).
    pub(crate) fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .elapsed_ns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Time since the execution began.
    pub(crate) fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed_ns.load(Ordering::Acquire))
    }
}

/// The execution's `wasi:clocks/wall-clock`: [`DETERMINISTIC_EPOCH_MS`] plus virtual time.
struct VirtualWallClock(VirtualClock);

impl HostWallClock for VirtualWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(DETERMINISTIC_EPOCH_MS).saturating_add(self.0.elapsed())
    }
}

/// The execution's `wasi:clocks/monotonic-clock`: virtual time, from zero.
struct VirtualMonotonicClock(VirtualClock);

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Derives the seed of one generator from the execution's, so that the two generators
/// (and the insecure seed) do not repeat each other's numbers.
fn derive(seed: u64, stream: u64) -> u64 {
    // SplitMix64's finalizer: distinct streams give unrelated seeds.
    let mut z = seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The WASI context of a deterministic execution with `seed`: nothing of the host, as
/// for every execution, and virtual clocks and seeded randomness.
pub(crate) fn wasi_ctx(seed: u64, clock: &VirtualClock) -> WasiCtx {
    WasiCtx::builder()
        .wall_clock(VirtualWallClock(clock.clone()))
        .monotonic_clock(VirtualMonotonicClock(clock.clone()))
        .secure_random(StdRng::seed_from_u64(derive(seed, 1)))
        .insecure_random(StdRng::seed_from_u64(derive(seed, 2)))
        .insecure_random_seed(u128::from(derive(seed, 3)) << 64 | u128::from(derive(seed, 4)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clocks_move_only_when_advanced() {
        let clock = VirtualClock::default();
        let wall = VirtualWallClock(clock.clone());
        let monotonic = VirtualMonotonicClock(clock.clone());
        assert_eq!(wall.now(), Duration::from_millis(DETERMINISTIC_EPOCH_MS));
        assert_eq!(monotonic.now(), 0);
        clock.advance(Duration::from_millis(250));
        assert_eq!(monotonic.now(), 250_000_000);
        assert_eq!(
            wall.now(),
            Duration::from_millis(DETERMINISTIC_EPOCH_MS + 250)
        );
        clock.advance(Duration::MAX);
        assert_eq!(monotonic.now(), u64::MAX);
    }

    #[test]
    fn streams_of_one_seed_differ_and_seeds_differ() {
        assert_ne!(derive(7, 1), derive(7, 2));
        assert_ne!(derive(7, 1), derive(8, 1));
        assert_eq!(derive(7, 1), derive(7, 1));
    }
}
