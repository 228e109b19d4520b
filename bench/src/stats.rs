//! Summaries of timing samples.

use std::time::Duration;

/// Order statistics of a set of timings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Fastest.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Summary {
    /// Summarizes `samples` (nearest-rank percentiles).
    pub fn of(mut samples: Vec<Duration>) -> Summary {
        samples.sort_unstable();
        if samples.is_empty() {
            return Summary::default();
        }
        Summary {
            count: samples.len(),
            min: samples[0],
            p50: percentile(&samples, 50.0),
            p99: percentile(&samples, 99.0),
            max: samples[samples.len() - 1],
            mean: samples.iter().sum::<Duration>() / samples.len() as u32,
        }
    }
}

/// The nearest-rank `p`th percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of samples.
pub fn median(samples: Vec<Duration>) -> Duration {
    Summary::of(samples).p50
}

/// Microseconds, as a float.
pub fn us(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Milliseconds, as a float.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let summary = Summary::of(samples);
        assert_eq!(summary.p50, Duration::from_micros(50));
        assert_eq!(summary.p99, Duration::from_micros(99));
        assert_eq!(summary.min, Duration::from_micros(1));
        assert_eq!(summary.max, Duration::from_micros(100));
        assert_eq!(summary.mean, Duration::from_nanos(50_500));
        assert_eq!(
            median(vec![Duration::from_micros(3)]),
            Duration::from_micros(3)
        );
    }
}
