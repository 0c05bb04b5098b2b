//! Counters shared by the stdin reader and the publisher, read by the periodic report and by
//! [`crate::metrics`].
//!
//! Plain relaxed atomics: each counter is exact, a snapshot across counters is not atomic
//! (good enough for a report line). They live as long as the process: a reload (SIGHUP)
//! keeps them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::publish::trouble::Kind;

/// Everything the piped logger counts.
#[derive(Debug, Default)]
pub struct Stats {
    /// Lines read from stdin (blank lines not included).
    pub lines_read: AtomicU64,
    pub blank_lines: AtomicU64,
    pub truncated_lines: AtomicU64,
    /// Lines that could not be written to the spool (disk full or failing): lost.
    pub spool_write_failures: AtomicU64,
    /// Records that did not match the format (still published, marked `parse_error`).
    pub parse_errors: AtomicU64,
    /// Records Pub/Sub acknowledged.
    pub published: AtomicU64,
    /// Records whose publish the client gave up on, each attempt counted, by the kind of
    /// error ([`Kind::ALL`] order).
    pub publish_errors: [AtomicU64; Kind::COUNT],
    /// Publish requests the client sent again after a transient error (network, timeout,
    /// Pub/Sub unavailable).
    pub retries: AtomicU64,
    /// Records the publish loop sent again after the client gave up on them.
    pub resent: AtomicU64,
    /// Records cut because their JSON would not fit in one Pub/Sub message.
    pub oversized: AtomicU64,
    /// Records Pub/Sub refused for good, set aside in the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Configuration reloads (SIGHUP) that took effect.
    pub reloads: AtomicU64,
    /// Time from reading each record to its acknowledgement by Pub/Sub.
    pub latency: Latency,
    /// The latency's quantiles over the last report interval, set by the report.
    last_interval: Mutex<Option<Quantiles>>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub lines_read: u64,
    pub blank_lines: u64,
    pub truncated_lines: u64,
    pub spool_write_failures: u64,
    pub parse_errors: u64,
    pub published: u64,
    pub publish_errors: [u64; Kind::COUNT],
    pub retries: u64,
    pub resent: u64,
    pub oversized: u64,
    pub dead_lettered: u64,
    pub reloads: u64,
    pub latency: Histogram,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` records whose publish failed with an error of `kind`.
    pub fn publish_error(&self, kind: Kind, n: u64) {
        Stats::add(&self.publish_errors[kind as usize], n);
    }

    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            lines_read: get(&self.lines_read),
            blank_lines: get(&self.blank_lines),
            truncated_lines: get(&self.truncated_lines),
            spool_write_failures: get(&self.spool_write_failures),
            parse_errors: get(&self.parse_errors),
            published: get(&self.published),
            publish_errors: self.publish_errors.each_ref().map(get),
            retries: get(&self.retries),
            resent: get(&self.resent),
            oversized: get(&self.oversized),
            dead_lettered: get(&self.dead_lettered),
            reloads: get(&self.reloads),
            latency: self.latency.snapshot(),
        }
    }

    /// The latency's p50 and p99 over the last report interval; `None` before the first
    /// report, or when nothing was acknowledged in that interval.
    pub fn last_interval_latency(&self) -> Option<Quantiles> {
        *self
            .last_interval
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn set_last_interval_latency(&self, quantiles: Option<Quantiles>) {
        *self
            .last_interval
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = quantiles;
    }
}

impl Snapshot {
    /// Records whose publish failed, all kinds together.
    pub fn publish_failures(&self) -> u64 {
        self.publish_errors.iter().sum()
    }

    /// The publish errors by kind, named as in the metrics.
    pub fn publish_errors_by_kind(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Kind::ALL
            .iter()
            .map(|kind| (kind.label(), self.publish_errors[*kind as usize]))
    }
}

/// Upper bounds of the latency histogram's buckets, in µs; past the last one is `+Inf`.
pub const LATENCY_BOUNDS_US: [u64; 20] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    75_000,
    100_000,
    150_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
    900_000_000,
    3_600_000_000,
];

/// Buckets of the latency histogram: one per bound, and one past the last.
const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// A histogram of latencies, counted into fixed buckets ([`LATENCY_BOUNDS_US`]).
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl Latency {
    /// Counts the records read at `received_at_us` (µs since the epoch), acknowledged at
    /// `now_us`.
    pub fn record(&self, received_at_us: impl Iterator<Item = i64>, now_us: i64) {
        let mut counts = [0u64; BUCKETS];
        let mut sum = 0u64;
        for at in received_at_us {
            let us = u64::try_from(now_us - at).unwrap_or(0);
            counts[LATENCY_BOUNDS_US.partition_point(|bound| *bound < us)] += 1;
            sum = sum.saturating_add(us);
        }
        for (bucket, n) in self.buckets.iter().zip(counts) {
            if n > 0 {
                Stats::add(bucket, n);
            }
        }
        Stats::add(&self.sum_us, sum);
    }

    pub fn snapshot(&self) -> Histogram {
        Histogram {
            buckets: self.buckets.each_ref().map(|b| b.load(Ordering::Relaxed)),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a [`Latency`] histogram: the count of each bucket (not cumulative) and the sum.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
}

/// The median and 99th percentile of a histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantiles {
    pub p50: Duration,
    pub p99: Duration,
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// What was counted after `before`, a snapshot of the same histogram taken earlier.
    pub fn since(&self, before: &Histogram) -> Histogram {
        let mut buckets = self.buckets;
        for (now, then) in buckets.iter_mut().zip(before.buckets) {
            *now = now.saturating_sub(then);
        }
        Histogram {
            buckets,
            sum_us: self.sum_us.saturating_sub(before.sum_us),
        }
    }

    /// p50 and p99, or `None` when nothing was counted.
    pub fn quantiles(&self) -> Option<Quantiles> {
        Some(Quantiles {
            p50: self.quantile(0.5)?,
            p99: self.quantile(0.99)?,
        })
    }

    /// The `q` quantile (0 to 1), estimated as Prometheus' `histogram_quantile` does: linear
    /// within the bucket it falls in, the last bound when it falls past it.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = q * count as f64;
        let mut below = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let Some(&upper) = LATENCY_BOUNDS_US.get(i) else {
                    break;
                };
                let lower = if i == 0 { 0 } else { LATENCY_BOUNDS_US[i - 1] };
                let share = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                let us = lower as f64 + (upper - lower) as f64 * share;
                return Some(Duration::from_micros(us as u64));
            }
            below += n;
        }
        LATENCY_BOUNDS_US
            .last()
            .map(|&us| Duration::from_micros(us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_into_their_buckets_and_sum() {
        let latency = Latency::default();
        let now = 10_000_000_000;
        latency.record([now - 1_000, now - 1_001, now - 2_000_000].into_iter(), now);
        latency.record([now - 7_200_000_000, now + 5].into_iter(), now);
        let h = latency.snapshot();
        assert_eq!(h.count(), 5);
        assert_eq!(h.buckets[0], 2, "0 (a clock step back) and 1 ms: {h:?}");
        assert_eq!(h.buckets[1], 1, "1.001 ms");
        assert_eq!(h.buckets[12], 1, "2 s is in (1 s, 2.5 s]");
        assert_eq!(h.buckets[BUCKETS - 1], 1, "2 h is past the last bound");
        assert_eq!(h.sum_us, 1_000 + 1_001 + 2_000_000 + 7_200_000_000);
    }

    #[test]
    fn quantiles_interpolate_within_a_bucket_over_an_interval() {
        let latency = Latency::default();
        let now = 10_000_000_000;
        latency.record(std::iter::repeat_n(now - 3_000_000, 50), now);
        let before = latency.snapshot();
        // 100 records: 98 in (25 ms, 50 ms], 2 in (50 ms, 75 ms].
        latency.record(std::iter::repeat_n(now - 40_000, 98), now);
        latency.record(std::iter::repeat_n(now - 60_000, 2), now);
        let interval = latency.snapshot().since(&before);
        assert_eq!(interval.count(), 100);
        let q = interval.quantiles().expect("records were counted");
        assert_eq!(q.p50, Duration::from_micros(25_000 + 25_000 * 50 / 98));
        assert_eq!(q.p99, Duration::from_micros(50_000 + 25_000 / 2));
        assert_eq!(Histogram::default().quantiles(), None);
    }

    #[test]
    fn a_quantile_past_the_last_bound_is_the_last_bound() {
        let latency = Latency::default();
        latency.record([0].into_iter(), 7_200_000_000);
        assert_eq!(
            latency.snapshot().quantile(0.5),
            Some(Duration::from_secs(3600))
        );
    }
}
