//! What the piped logger says on stderr (Apache's error log) besides publish errors.
//!
//! - [`Reporter`]: the periodic one-line summary. Every `report_interval` the counters are
//!   compared with the previous report. A line is printed only when something is wrong
//!   (publish failures, Pub/Sub unreachable, lines lost or dropped, a backlog building up in
//!   the spool) as a warning; otherwise as an info line, which only `verbose` shows.
//! - [`Notices`]: the spool's events (a dead process's segments adopted, damage cut off or
//!   set aside, the spool full), said as they happen, at most [`NOTICE_BUDGET`] lines per
//!   [`NOTICE_PERIOD`] plus one saying how many were held back; drops for a full spool are
//!   summed into one line per [`NOTICE_PERIOD`].
//!
//! Both say their lines through [`crate::messages`].

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at};

use crate::clock;
use crate::config::Config;
use crate::messages::{self, Budget, Level, PerKind};
use crate::spool::{DEAD_LETTERS_FILE, FullPolicy, SpoolEvent, SpoolReader, SpoolStats};
use crate::stats::{Snapshot, Stats};

/// Spool event lines printed per [`NOTICE_PERIOD`] at most.
pub const NOTICE_BUDGET: usize = 10;
/// The period of the spool events' budget, and of the lines about drops.
pub const NOTICE_PERIOD: Duration = Duration::from_secs(30);

/// A spool backlog whose oldest record is older than this is trouble worth a line.
const BACKLOG_AGE: Duration = Duration::from_secs(60);

/// Decides when to print, and what.
pub struct Reporter {
    interval: Interval,
    previous: Snapshot,
    previous_dropped: u64,
    last_report: Instant,
}

impl Reporter {
    pub fn new(every: Duration) -> Reporter {
        let mut interval = interval_at(Instant::now() + every, every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Reporter {
            interval,
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

    /// The report line for the period that just ended, a warning when something is wrong.
    /// `transient` is the last transient publish error of the period. The period's publish
    /// latency p50/p99 are kept in `stats` ([`Stats::last_interval_latency`]).
    pub fn report(
        &mut self,
        stats: &Stats,
        spool: &SpoolStats,
        transient: Option<Arc<str>>,
    ) -> (Level, String) {
        let now = stats.snapshot();
        let before = std::mem::replace(&mut self.previous, now);
        let dropped = spool.dropped_records;
        let dropped_now = dropped - self.previous_dropped.min(dropped);
        self.previous_dropped = dropped;
        self.last_report = Instant::now();
        let backlog_age = spool.oldest_received_at_us.map(|oldest| {
            Duration::from_micros(u64::try_from(clock::now_us() - oldest).unwrap_or(0))
        });

        let mut trouble = Vec::new();
        let failures = now.publish_failures() - before.publish_failures();
        let latency = now.latency.since(&before.latency).quantiles();
        stats.set_last_interval_latency(latency);
        if failures > 0 {
            trouble.push(format!("{failures} publish failures"));
        }
        if let Some(error) = transient {
            trouble.push(format!("Pub/Sub unreachable or failing, retrying: {error}"));
        }
        let dead = now.dead_lettered - before.dead_lettered;
        if dead > 0 {
            trouble.push(format!(
                "{dead} records refused by Pub/Sub as invalid, set aside in {DEAD_LETTERS_FILE}"
            ));
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
        let level = if trouble.is_empty() {
            Level::Info
        } else {
            Level::Warning
        };
        let mut line = format!(
            "read {} lines, published {}, {} parse errors, {} truncated, {} oversized, {} blank; \
             spool: {} records, {} bytes",
            now.lines_read - before.lines_read,
            now.published - before.published,
            now.parse_errors - before.parse_errors,
            now.truncated_lines - before.truncated_lines,
            now.oversized - before.oversized,
            now.blank_lines - before.blank_lines,
            spool.records,
            spool.bytes,
        );
        if let Some(q) = latency {
            line.push_str(&format!(
                "; publish latency p50 {}ms, p99 {}ms",
                q.p50.as_millis(),
                q.p99.as_millis()
            ));
        }
        for t in trouble {
            line.push_str("; ");
            line.push_str(&t);
        }
        (level, line)
    }
}

/// Says the spool's events, rate-limited.
#[derive(Debug)]
pub struct Notices {
    events: Budget,
    /// Dropped records already reported.
    dropped_reported: u64,
    drop_lines: PerKind<()>,
}

impl Default for Notices {
    fn default() -> Notices {
        Notices {
            events: Budget::new(NOTICE_BUDGET, NOTICE_PERIOD, "spool events"),
            dropped_reported: 0,
            drop_lines: PerKind::new(NOTICE_PERIOD),
        }
    }
}

impl Notices {
    /// Says what the spool reported since the last call, within the budget.
    pub fn print(&mut self, spool: &mut SpoolReader, config: &Config) {
        self.print_lines(spool, config, false);
    }

    /// When lines held back are due (the next period of their budget), if there are:
    /// `dropped_records` is the spool's count so far. Nothing else needs a timer: the
    /// spool wakes the publisher at each event ([`SpoolReader::news`]).
    pub fn due(&self, dropped_records: u64) -> Option<std::time::Instant> {
        let drops = (dropped_records > self.dropped_reported).then(|| {
            self.drop_lines
                .allowed_from(&())
                .unwrap_or_else(std::time::Instant::now)
        });
        match (self.events.held_until(), drops) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Says what the spool reported since the last call and what was held back: the last
    /// words before the program exits.
    pub fn finish(&mut self, spool: &mut SpoolReader, config: &Config) {
        self.print_lines(spool, config, true);
    }

    fn print_lines(&mut self, spool: &mut SpoolReader, config: &Config, last: bool) {
        let now = std::time::Instant::now();
        let limit = (config.spool.full_policy, config.spool.max_bytes);
        for line in self.lines(spool.take_events(), &spool.stats(), limit, now, last) {
            messages::note(line);
        }
    }

    /// The lines to say at `now` for `events` and the spool's counters, under the full
    /// policy and size limit given; `last` ignores the periods and reports everything pending.
    fn lines(
        &mut self,
        events: Vec<SpoolEvent>,
        stats: &SpoolStats,
        (policy, max_bytes): (FullPolicy, u64),
        now: std::time::Instant,
        last: bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.events.roll(now, last));
        for event in events {
            if matches!(event, SpoolEvent::Dropped { .. }) {
                continue;
            }
            if self.events.take() {
                out.push(event.to_string());
            }
        }
        let dropped = stats.dropped_records - self.dropped_reported.min(stats.dropped_records);
        if dropped > 0 && (last || self.drop_lines.allow((), now)) {
            let policy = match policy {
                FullPolicy::DropOldest => "drop_oldest: the oldest records were deleted",
                FullPolicy::DropNewest => "drop_newest: new lines were refused",
            };
            out.push(format!(
                "spool full ({} bytes, spool_max_bytes {}): {dropped} records dropped ({policy}; \
                 {} dropped since start)",
                stats.bytes, max_bytes, stats.dropped_records
            ));
            self.dropped_reported = stats.dropped_records;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::trouble::Kind;
    use std::path::PathBuf;
    use std::time::Instant;

    const LIMIT: (FullPolicy, u64) = (FullPolicy::DropNewest, 1 << 20);

    fn adopted(i: u64) -> SpoolEvent {
        SpoolEvent::Adopted {
            path: PathBuf::from(format!("/spool/{i}.seg")),
            records: i,
        }
    }

    #[tokio::test]
    async fn the_report_counts_what_the_period_saw_and_is_a_warning_only_on_trouble() {
        let mut reporter = Reporter::new(Duration::from_secs(60));
        let stats = Stats::default();
        let spool = SpoolStats::default();
        Stats::add(&stats.lines_read, 10);
        Stats::add(&stats.blank_lines, 3);
        Stats::add(&stats.oversized, 2);
        let (level, line) = reporter.report(&stats, &spool, None);
        assert_eq!(level, Level::Info);
        assert!(
            line.starts_with(
                "read 10 lines, published 0, 0 parse errors, 0 truncated, 2 oversized, 3 blank; \
                 spool: 0 records, 0 bytes"
            ),
            "{line}"
        );
        assert_eq!(stats.last_interval_latency(), None);
        Stats::add(&stats.blank_lines, 1);
        stats.publish_error(Kind::Other, 4);
        stats.latency.record([0, 0].into_iter(), 40_000);
        let (level, line) = reporter.report(&stats, &spool, None);
        assert_eq!(level, Level::Warning);
        assert!(line.contains("0 oversized, 1 blank"), "{line}");
        assert!(
            line.ends_with("; publish latency p50 37ms, p99 49ms; 4 publish failures"),
            "{line}"
        );
        assert!(stats.last_interval_latency().is_some());
        let (_, line) = reporter.report(&stats, &spool, None);
        assert!(!line.contains("latency"), "none acknowledged: {line}");
        assert_eq!(stats.last_interval_latency(), None);
    }

    #[test]
    fn spool_events_are_printed_within_a_budget_per_period() {
        let mut notices = Notices::default();
        let start = Instant::now();
        let events = (0..25).map(adopted).collect();
        let stats = SpoolStats::default();
        let lines = notices.lines(events, &stats, LIMIT, start, false);
        assert_eq!(lines.len(), NOTICE_BUDGET);
        assert!(
            lines[0].contains("adopted /spool/0.seg (0 records to send)"),
            "{lines:?}"
        );
        let soon = notices.lines(vec![adopted(99)], &stats, LIMIT, start, false);
        assert!(soon.is_empty(), "over budget: {soon:?}");
        let later = notices.lines(
            vec![adopted(7)],
            &stats,
            LIMIT,
            start + NOTICE_PERIOD,
            false,
        );
        assert_eq!(
            later,
            [
                "16 more spool events were not shown (at most 10 per 30s)".to_string(),
                "spool: adopted /spool/7.seg (7 records to send)".to_string(),
            ]
        );
    }

    #[test]
    fn drops_are_summed_into_one_line_per_period_and_the_rest_said_at_exit() {
        let mut notices = Notices::default();
        let start = Instant::now();
        let mut stats = SpoolStats {
            dropped_records: 5,
            bytes: 1 << 20,
            ..SpoolStats::default()
        };
        let lines = notices.lines(Vec::new(), &stats, LIMIT, start, false);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("spool full (1048576 bytes, spool_max_bytes 1048576): 5 records dropped (drop_newest"),
            "{lines:?}"
        );
        stats.dropped_records = 12;
        assert!(
            notices
                .lines(Vec::new(), &stats, LIMIT, start, false)
                .is_empty()
        );
        let last = notices.lines(Vec::new(), &stats, LIMIT, start, true);
        assert!(last[0].contains(": 7 records dropped"), "{last:?}");
        assert!(last[0].contains("12 dropped since start"), "{last:?}");
    }
}
