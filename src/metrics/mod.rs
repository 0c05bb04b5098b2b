//! The counters as an operator reads them: one [`Counters`] snapshot of [`Stats`] and the
//! spool, shown three ways under the same names:
//!
//! - the line SIGUSR1 asks for ([`Counters::line`]), said through [`crate::messages`];
//! - the status file ([`status_file`]): JSON, rewritten atomically every [`STATUS_EVERY`]
//!   and once more at exit;
//! - the Prometheus text endpoint ([`prometheus`]) on a loopback address.
//!
//! Nothing runs that was not asked for: with the status file and the endpoint off, the only
//! cost is the counting itself (relaxed atomic adds, a histogram bucket per acknowledged
//! record). The status file adds one timer; the endpoint a listening socket, idle until
//! scraped. All of it runs on the publisher's runtime thread.
//!
//! The names (README, "Counters and metrics"): counters `lines_read`, `blank_lines`,
//! `truncated_lines`, `parse_errors`, `oversized_records`, `published_records`,
//! `publish_retries`, `resent_records`, `publish_errors` (by `kind`),
//! `dead_lettered_records`, `dropped_records` (by `reason`), `reloads`; gauges
//! `spool_records`, `memory_records`, `spool_bytes`, `oldest_unpublished_age_seconds`; the latency from read to
//! acknowledgement `publish_latency_seconds` (a histogram; p50/p99 over the last
//! `report_interval` in the line and the status file).

pub mod prometheus;
pub mod status_file;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::config::Report;
use crate::messages;
use crate::shutdown::Asked;
use crate::spool::{SpoolProbe, SpoolStats};
use crate::stats::{Quantiles, Snapshot, Stats};
use status_file::StatusFile;

/// How often the status file is rewritten.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// Where the counters are read from.
#[derive(Debug)]
pub struct Metrics {
    stats: Arc<Stats>,
    spool: SpoolProbe,
    started_at_us: i64,
}

/// Every counter at one moment (each exact, together not atomic).
#[derive(Debug, Clone)]
pub struct Counters {
    pub started_at_us: i64,
    pub at_us: i64,
    pub stats: Snapshot,
    pub spool: SpoolStats,
    /// p50/p99 of the publish latency over the last report interval.
    pub latency: Option<Quantiles>,
}

impl Metrics {
    pub fn new(stats: Arc<Stats>, spool: SpoolProbe) -> Metrics {
        Metrics {
            stats,
            spool,
            started_at_us: clock::now_us(),
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            started_at_us: self.started_at_us,
            at_us: clock::now_us(),
            stats: self.stats.snapshot(),
            spool: self.spool.stats(),
            latency: self.stats.last_interval_latency(),
        }
    }
}

impl Counters {
    /// Records dropped, by reason.
    pub fn dropped_by_reason(&self) -> [(&'static str, u64); 3] {
        [
            ("spool_full", self.spool.dropped_records),
            ("spool_write_failed", self.stats.spool_write_failures),
            ("memory_at_exit", self.spool.memory_lost),
        ]
    }

    /// How long the oldest record not yet acknowledged has waited; zero when none waits.
    pub fn oldest_unpublished_age(&self) -> Duration {
        self.spool
            .oldest_received_at_us
            .map_or(Duration::ZERO, |oldest| {
                Duration::from_micros(u64::try_from(self.at_us - oldest).unwrap_or(0))
            })
    }

    /// The line SIGUSR1 asks for: `counters: name=value ...`, the errors and drops by kind
    /// after their totals when there are any, the latency when it is known.
    pub fn line(&self) -> String {
        let s = &self.stats;
        let mut line = format!(
            "counters: lines_read={} blank_lines={} truncated_lines={} parse_errors={} \
             oversized_records={} published_records={} publish_retries={} resent_records={} \
             publish_errors={}",
            s.lines_read,
            s.blank_lines,
            s.truncated_lines,
            s.parse_errors,
            s.oversized,
            s.published,
            s.retries,
            s.resent,
            s.publish_failures(),
        );
        push_parts(&mut line, s.publish_errors_by_kind());
        let dropped = self.dropped_by_reason();
        let _ = write!(
            line,
            " dead_lettered_records={} dropped_records={}",
            s.dead_lettered,
            dropped.iter().map(|(_, n)| n).sum::<u64>()
        );
        push_parts(&mut line, dropped.into_iter());
        let _ = write!(
            line,
            " spool_records={} memory_records={} spool_bytes={} oldest_unpublished_age_seconds={}",
            self.spool.records,
            self.spool.memory_records,
            self.spool.bytes,
            self.oldest_unpublished_age().as_secs()
        );
        if let Some(q) = self.latency {
            let _ = write!(
                line,
                " publish_latency_p50_seconds={:.3} publish_latency_p99_seconds={:.3}",
                q.p50.as_secs_f64(),
                q.p99.as_secs_f64()
            );
        }
        let _ = write!(line, " reloads={}", s.reloads);
        line
    }
}

/// ` (name=n, ...)` of the parts that are not zero, if any.
fn push_parts<'a>(line: &mut String, parts: impl Iterator<Item = (&'a str, u64)>) {
    let parts: Vec<String> = parts
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name}={n}"))
        .collect();
    if !parts.is_empty() {
        let _ = write!(line, " ({})", parts.join(", "));
    }
}

/// The outputs the configuration turns on, for one run of the piped logger.
pub struct Outputs {
    metrics: Arc<Metrics>,
    status_file: Option<Arc<StatusFile>>,
    listen: Option<SocketAddr>,
}

impl Outputs {
    pub fn new(report: &Report, stats: Arc<Stats>, spool: SpoolProbe) -> Outputs {
        Outputs {
            metrics: Arc::new(Metrics::new(stats, spool)),
            status_file: report
                .status_file
                .clone()
                .map(|path| Arc::new(StatusFile::new(path))),
            listen: report.metrics_listen,
        }
    }

    /// Starts them on the current tokio runtime, where they run until it ends: the answer
    /// to SIGUSR1, the status file's timer, the Prometheus endpoint. An endpoint that
    /// cannot listen is said on stderr and left off; the logging goes on.
    pub fn start(&self, asked: Asked) {
        tokio::spawn(answer_sigusr1(Arc::clone(&self.metrics), asked));
        if let Some(file) = &self.status_file {
            tokio::spawn(status_file::keep_writing(
                Arc::clone(file),
                Arc::clone(&self.metrics),
            ));
        }
        if let Some(addr) = self.listen {
            match prometheus::bind(addr) {
                Ok(listener) => {
                    tokio::spawn(prometheus::serve(listener, Arc::clone(&self.metrics)));
                }
                Err(e) => messages::error(format_args!(
                    "metrics_listen {addr}: cannot listen ({e}); no Prometheus endpoint, \
                     the logging goes on"
                )),
            }
        }
    }

    /// Writes the status file a last time, with `running` false.
    /// The counters now.
    pub fn counters(&self) -> Counters {
        self.metrics.counters()
    }

    pub fn finish(&self) {
        if let Some(file) = &self.status_file {
            file.write(&self.metrics.counters(), false);
        }
    }
}

/// Says the counters line each time SIGUSR1 asks.
async fn answer_sigusr1(metrics: Arc<Metrics>, mut asked: Asked) {
    loop {
        asked.next().await;
        messages::note(metrics.counters().line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::trouble::Kind;

    fn counters() -> Counters {
        Counters {
            started_at_us: 1_000_000,
            at_us: 100_000_000,
            stats: Snapshot::default(),
            spool: SpoolStats::default(),
            latency: None,
        }
    }

    #[test]
    fn the_line_names_every_counter_and_details_only_what_is_not_zero() {
        let mut c = counters();
        c.stats.lines_read = 120;
        c.stats.published = 100;
        assert_eq!(
            c.line(),
            "counters: lines_read=120 blank_lines=0 truncated_lines=0 parse_errors=0 \
             oversized_records=0 published_records=100 publish_retries=0 resent_records=0 \
             publish_errors=0 dead_lettered_records=0 dropped_records=0 spool_records=0 \
             memory_records=0 spool_bytes=0 oldest_unpublished_age_seconds=0 reloads=0"
        );
        c.stats.publish_errors[Kind::TopicNotFound as usize] = 3;
        c.stats.spool_write_failures = 2;
        c.spool.dropped_records = 5;
        c.spool.oldest_received_at_us = Some(25_000_000);
        c.latency = Some(Quantiles {
            p50: Duration::from_millis(31),
            p99: Duration::from_micros(64_600),
        });
        let line = c.line();
        assert!(
            line.contains(" publish_errors=3 (topic_not_found=3) dead_lettered_records=0"),
            "{line}"
        );
        assert!(
            line.contains(" dropped_records=7 (spool_full=5, spool_write_failed=2) "),
            "{line}"
        );
        assert!(
            line.contains(" oldest_unpublished_age_seconds=75 "),
            "{line}"
        );
        assert!(
            line.ends_with(
                " publish_latency_p50_seconds=0.031 publish_latency_p99_seconds=0.065 reloads=0"
            ),
            "{line}"
        );
    }
}
