//! Counters shared by the stdin reader and the publisher, read by the periodic report.
//!
//! Plain relaxed atomics: each counter is exact, a snapshot across counters is not atomic
//! (good enough for a report line).

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Publish attempts that failed for a record (each retry counts again).
    pub publish_failures: AtomicU64,
    /// Records cut because their JSON would not fit in one Pub/Sub message.
    pub oversized: AtomicU64,
    /// Records Pub/Sub refused for good, set aside in the dead-letter file.
    pub dead_lettered: AtomicU64,
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
    pub publish_failures: u64,
    pub oversized: u64,
    pub dead_lettered: u64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
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
            publish_failures: get(&self.publish_failures),
            oversized: get(&self.oversized),
            dead_lettered: get(&self.dead_lettered),
        }
    }
}
