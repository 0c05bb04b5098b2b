//! What a running spool reports: counters ([`SpoolStats`]) and notable events
//! ([`SpoolEvent`]: damage found, files set aside or adopted, segments dropped).

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;

/// Events kept for [`crate::spool::SpoolReader::take_events`]; older ones are discarded.
const MAX_EVENTS: usize = 1024;

/// A snapshot of the spool's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records on disk not yet acknowledged, in the segments this process holds (exact
    /// unless a segment is damaged).
    pub records: u64,
    /// Bytes of all segment files in the directory, other processes' included (theirs as
    /// of the last scan).
    pub bytes: u64,
    /// Segments this process holds (its own and adopted ones).
    pub segments: usize,
    /// Records deleted or refused by the full policy.
    pub dropped_records: u64,
    /// Records held in memory because the spool could not be written, not yet
    /// acknowledged (they are not in `records`).
    pub memory_records: u64,
    /// Records held in memory that the process stopped before Pub/Sub took: lost.
    pub memory_lost: u64,
    /// Files renamed aside as `*.damaged` (segments and ack sidecars).
    pub damaged_files: u64,
    /// Incomplete last records cut off (crash in the middle of a write).
    pub torn_tails: u64,
    /// Bytes skipped as unreadable (damage and torn tails).
    pub skipped_bytes: u64,
    /// When the oldest record not yet acknowledged was read (µs since the epoch).
    pub oldest_received_at_us: Option<i64>,
}

/// Something an operator may want to see in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolEvent {
    /// A segment left by a process that is gone was taken over.
    Adopted { path: PathBuf, records: u64 },
    /// A segment's header is unreadable: its lines are delivered with empty format and host.
    BadHeader { path: PathBuf },
    /// Unreadable bytes were skipped; the records after them are delivered.
    Skipped {
        path: PathBuf,
        offset: u64,
        bytes: u64,
    },
    /// An incomplete last record was cut off.
    TornTail {
        path: PathBuf,
        offset: u64,
        bytes: u64,
    },
    /// An ack sidecar was unreadable: the segment is re-sent from its start.
    BadAck { path: PathBuf },
    /// A segment could not be read; the rest of it is skipped.
    ReadError { path: PathBuf, error: String },
    /// A damaged file was renamed aside.
    SetAside { from: PathBuf, to: PathBuf },
    /// The full policy deleted a segment with this many records not yet handed out.
    Dropped { path: PathBuf, records: u64 },
    /// Segments left by processes that are gone are for other destinations (`routes`), so
    /// this logger does not send them.
    LeftForOthers {
        dir: PathBuf,
        segments: u64,
        records: u64,
        routes: Vec<String>,
    },
    /// Housekeeping failed (fsync, rename, remove, scan, an ack file); the spool goes on.
    Error { what: String },
}

impl fmt::Display for SpoolEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolEvent::Adopted { path, records } => write!(
                f,
                "spool: adopted {} ({records} records to send)",
                path.display()
            ),
            SpoolEvent::BadHeader { path } => write!(
                f,
                "spool: {}: damaged header, lines sent without format and host",
                path.display()
            ),
            SpoolEvent::Skipped {
                path,
                offset,
                bytes,
            } => write!(
                f,
                "spool: {}: skipped {bytes} unreadable bytes at offset {offset}",
                path.display()
            ),
            SpoolEvent::TornTail {
                path,
                offset,
                bytes,
            } => write!(
                f,
                "spool: {}: cut off an incomplete last record ({bytes} bytes at offset {offset})",
                path.display()
            ),
            SpoolEvent::BadAck { path } => write!(
                f,
                "spool: {}: damaged ack file, segment re-sent from its start",
                path.display()
            ),
            SpoolEvent::ReadError { path, error } => write!(
                f,
                "spool: {}: read error, rest of the segment skipped: {error}",
                path.display()
            ),
            SpoolEvent::SetAside { from, to } => {
                write!(f, "spool: {} set aside as {}", from.display(), to.display())
            }
            SpoolEvent::Dropped { path, records } => write!(
                f,
                "spool full: deleted {} ({records} records lost)",
                path.display()
            ),
            SpoolEvent::LeftForOthers {
                dir,
                segments,
                records,
                routes,
            } => write!(
                f,
                "spool: {segments} segments ({records} records) left in {dir} by loggers that \
                 are gone are for another destination ({}), so this logger does not send them: \
                 `accesslog-pubsub spool replay --spool-dir {dir}` sends each where it belongs",
                routes.join("; "),
                dir = dir.display()
            ),
            SpoolEvent::Error { what } => write!(f, "spool: {what}"),
        }
    }
}

/// The counters and events a spool keeps under its state lock.
#[derive(Debug)]
pub(crate) struct Tally {
    pub damaged_files: u64,
    pub torn_tails: u64,
    pub skipped_bytes: u64,
    events: VecDeque<SpoolEvent>,
    /// Woken at each event, so they are said as they happen.
    news: Arc<Notify>,
}

impl Tally {
    /// A tally that wakes `news` at each event.
    pub(crate) fn new(news: Arc<Notify>) -> Tally {
        Tally {
            damaged_files: 0,
            torn_tails: 0,
            skipped_bytes: 0,
            events: VecDeque::new(),
            news,
        }
    }

    pub(crate) fn event(&mut self, event: SpoolEvent) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
        self.news.notify_one();
    }

    pub(crate) fn take_events(&mut self) -> Vec<SpoolEvent> {
        self.events.drain(..).collect()
    }
}
