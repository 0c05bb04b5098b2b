//! The status file: the counters as one JSON object, for monitoring to read.
//!
//! Rewritten every [`super::STATUS_EVERY`] and once more at exit (then with `"running":
//! false`), atomically: the JSON is written to `.NAME.PID.tmp` in the same directory, which
//! is then renamed over the file, so a reader sees the old file or the new one, never part
//! of one. It is not fsynced: after a crash it may be an old version (or, on a power loss,
//! empty); the next write replaces it. Mode 0644: counters only, nothing from the logs.
//!
//! A write that fails (directory missing or not writable, disk full) is said on stderr at
//! most once per [`COMPLAIN_EVERY`]; the logging goes on and the next write tries again.
//!
//! The fields, in this order (README, "Status file"): `pid`, `running`, `started_at`,
//! `updated_at` (RFC 3339, UTC), then the counters under the names of [`super`], with
//! `publish_errors` and `dropped_records` as objects by kind and reason, and
//! `publish_latency_p50_seconds`/`_p99_seconds` (`null` when nothing was acknowledged in the
//! last report interval).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;
use tokio::time::{MissedTickBehavior, interval};

use super::{Counters, Metrics, STATUS_EVERY};
use crate::messages::{self, PerKind};

/// A failing write is said at most this often.
pub const COMPLAIN_EVERY: Duration = Duration::from_secs(300);

/// The file, and when its failures were last said.
#[derive(Debug)]
pub struct StatusFile {
    path: PathBuf,
    complaints: Mutex<PerKind<()>>,
}

/// The JSON object, field by field.
#[derive(Debug, Serialize)]
struct Status {
    pid: u32,
    running: bool,
    started_at: String,
    updated_at: String,
    lines_read: u64,
    blank_lines: u64,
    truncated_lines: u64,
    parse_errors: u64,
    oversized_records: u64,
    published_records: u64,
    publish_retries: u64,
    resent_records: u64,
    publish_errors: BTreeMap<&'static str, u64>,
    dead_lettered_records: u64,
    dropped_records: BTreeMap<&'static str, u64>,
    spool_records: u64,
    memory_records: u64,
    spool_bytes: u64,
    oldest_unpublished_age_seconds: u64,
    publish_latency_p50_seconds: Option<f64>,
    publish_latency_p99_seconds: Option<f64>,
    reloads: u64,
}

impl Status {
    fn of(c: &Counters, running: bool) -> Status {
        let s = &c.stats;
        Status {
            pid: std::process::id(),
            running,
            started_at: rfc3339(c.started_at_us),
            updated_at: rfc3339(c.at_us),
            lines_read: s.lines_read,
            blank_lines: s.blank_lines,
            truncated_lines: s.truncated_lines,
            parse_errors: s.parse_errors,
            oversized_records: s.oversized,
            published_records: s.published,
            publish_retries: s.retries,
            resent_records: s.resent,
            publish_errors: s.publish_errors_by_kind().collect(),
            dead_lettered_records: s.dead_lettered,
            dropped_records: c.dropped_by_reason().into_iter().collect(),
            spool_records: c.spool.records,
            memory_records: c.spool.memory_records,
            spool_bytes: c.spool.bytes,
            oldest_unpublished_age_seconds: c.oldest_unpublished_age().as_secs(),
            publish_latency_p50_seconds: c.latency.map(|q| q.p50.as_secs_f64()),
            publish_latency_p99_seconds: c.latency.map(|q| q.p99.as_secs_f64()),
            reloads: s.reloads,
        }
    }
}

/// µs since the epoch as `2026-11-25T10:00:00Z`.
fn rfc3339(us: i64) -> String {
    DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

impl StatusFile {
    pub fn new(path: PathBuf) -> StatusFile {
        StatusFile {
            path,
            complaints: Mutex::new(PerKind::new(COMPLAIN_EVERY)),
        }
    }

    /// Replaces the file with `counters`; a failure is said on stderr (within the limit).
    pub fn write(&self, counters: &Counters, running: bool) {
        let json = serde_json::to_vec(&Status::of(counters, running));
        let result = json.map_err(io::Error::other).and_then(|mut json| {
            json.push(b'\n');
            replace(&self.path, &json)
        });
        if let Err(e) = result {
            let mut complaints = self
                .complaints
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if complaints.allow((), Instant::now()) {
                messages::warn(format_args!(
                    "status file {}: cannot write it: {e}",
                    self.path.display()
                ));
            }
        }
    }
}

/// Writes the file at once, then every [`STATUS_EVERY`].
pub async fn keep_writing(file: Arc<StatusFile>, metrics: Arc<Metrics>) {
    let mut every = interval(STATUS_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        file.write(&metrics.counters(), true);
    }
}

/// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let temp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&temp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::SpoolStats;
    use crate::stats::{Quantiles, Snapshot};
    use serde_json::Value;

    #[test]
    fn the_file_is_replaced_whole_with_every_field() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("status.json");
        let file = StatusFile::new(path.clone());
        let mut counters = Counters {
            started_at_us: 1_764_064_800_000_000,
            at_us: 1_764_064_860_000_000,
            stats: Snapshot {
                lines_read: 7,
                published: 6,
                ..Snapshot::default()
            },
            spool: SpoolStats {
                records: 1,
                dropped_records: 2,
                oldest_received_at_us: Some(1_764_064_850_000_000),
                ..SpoolStats::default()
            },
            latency: None,
        };
        file.write(&counters, true);
        let read = || -> Value {
            serde_json::from_slice(&fs::read(&path).expect("the file is there"))
                .expect("valid JSON")
        };
        let status = read();
        assert_eq!(status["pid"], std::process::id());
        assert_eq!(status["running"], true);
        assert_eq!(status["started_at"], "2025-11-25T10:00:00Z");
        assert_eq!(status["updated_at"], "2025-11-25T10:01:00Z");
        assert_eq!(status["lines_read"], 7);
        assert_eq!(status["published_records"], 6);
        assert_eq!(status["spool_records"], 1);
        assert_eq!(status["dropped_records"]["spool_full"], 2);
        assert_eq!(status["dropped_records"]["spool_write_failed"], 0);
        assert_eq!(status["dropped_records"]["memory_at_exit"], 0);
        assert_eq!(status["memory_records"], 0);
        assert_eq!(status["publish_errors"]["topic_not_found"], 0);
        assert_eq!(status["oldest_unpublished_age_seconds"], 10);
        assert_eq!(status["publish_latency_p50_seconds"], Value::Null);
        assert_eq!(status.as_object().map(|o| o.len()), Some(22));

        counters.latency = Some(Quantiles {
            p50: Duration::from_millis(30),
            p99: Duration::from_millis(60),
        });
        file.write(&counters, false);
        let status = read();
        assert_eq!(status["running"], false);
        assert_eq!(status["publish_latency_p99_seconds"], 0.06);
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["status.json"], "no temporary file left");
    }

    #[test]
    fn a_failing_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("gone").join("status.json");
        assert!(replace(&missing, b"{}").is_err());
        let target = dir.path().join("a-directory");
        fs::create_dir(&target).expect("mkdir");
        fs::write(target.join("x"), "keeps it non-empty").expect("write");
        assert!(replace(&target, b"{}").is_err(), "cannot rename over it");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["a-directory"]);
    }
}
