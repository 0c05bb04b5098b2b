//! The periodic one-line summary on stderr (Apache's error log).
//!
//! Every `report_interval` the counters are compared with the previous report. A line is
//! printed only when something is wrong (publish failures, Pub/Sub unreachable, lines lost
//! or dropped, a backlog building up in the spool), or always with `verbose`.

use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use crate::reader;
use crate::spool::SpoolStats;
use crate::stats::{Snapshot, Stats};

/// A spool backlog whose oldest record is older than this is trouble worth a line.
const BACKLOG_AGE: Duration = Duration::from_secs(60);

/// Decides when to print, and what.
pub struct Reporter {
    interval: Interval,
    verbose: bool,
    previous: Snapshot,
    previous_dropped: u64,
    last_report: Instant,
}

impl Reporter {
    pub fn new(every: Duration, verbose: bool) -> Reporter {
        let mut interval = interval_at(Instant::now() + every, every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Reporter {
            interval,
            verbose,
            previous: Snapshot::default(),
            previous_dropped: 0,
            last_report: Instant::now(),
        }
    }

    /// Resolves when the next report is due.
    pub async fn tick(&mut self) {
        self.interval.tick().await;
    }

    /// When the previous report period began.
    pub fn last_report(&self) -> Instant {
        self.last_report
    }

    /// The report line for the period that just ended, if one is warranted. `transient` is the
    /// last transient publish error of the period.
    pub fn report(
        &mut self,
        stats: &Stats,
        spool: &SpoolStats,
        transient: Option<String>,
    ) -> Option<String> {
        let now = stats.snapshot();
        let before = std::mem::replace(&mut self.previous, now);
        let dropped = spool.dropped_records;
        let dropped_now = dropped - self.previous_dropped.min(dropped);
        self.previous_dropped = dropped;
        self.last_report = Instant::now();
        let backlog_age = spool.oldest_received_at_us.map(|oldest| {
            Duration::from_micros(u64::try_from(reader::now_us() - oldest).unwrap_or(0))
        });

        let mut trouble = Vec::new();
        let failures = now.publish_failures - before.publish_failures;
        if failures > 0 {
            trouble.push(format!("{failures} publish failures"));
        }
        if let Some(error) = transient {
            trouble.push(format!("Pub/Sub unreachable or failing, retrying: {error}"));
        }
        let lost = now.spool_write_failures - before.spool_write_failures;
        if lost > 0 {
            trouble.push(format!("{lost} lines LOST: the spool could not be written"));
        }
        if dropped_now > 0 {
            trouble.push(format!("{dropped_now} records dropped: the spool is full"));
        }
        if let Some(age) = backlog_age.filter(|age| *age > BACKLOG_AGE) {
            trouble.push(format!(
                "oldest unpublished record is {}s old",
                age.as_secs()
            ));
        }
        if trouble.is_empty() && !self.verbose {
            return None;
        }
        let mut line = format!(
            "read {} lines, published {}, {} parse errors, {} truncated; spool: {} records, {} bytes",
            now.lines_read - before.lines_read,
            now.published - before.published,
            now.parse_errors - before.parse_errors,
            now.truncated_lines - before.truncated_lines,
            spool.records,
            spool.bytes,
        );
        for t in trouble {
            line.push_str("; ");
            line.push_str(&t);
        }
        Some(line)
    }
}
