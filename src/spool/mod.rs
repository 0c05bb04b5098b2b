//! The durable disk spool between the stdin reader and the Pub/Sub publisher.
//!
//! Every line read from stdin is appended here (one `pwrite` per chunk of lines, into the
//! page cache) before anything else happens to it, and leaves only once Pub/Sub has
//! acknowledged it. A crash, `kill -9`, a Pub/Sub outage or a restart of Apache or of the
//! machine loses nothing beyond what the fsync policy allows; the next process sends what
//! is left, oldest first, under the same record ids. The reader never waits for Pub/Sub
//! and Pub/Sub never waits for the disk: they only meet in the page cache.
//!
//! # Files
//!
//! All in one directory (`SpoolOptions::dir`):
//!
//! - `<created_us:020>-<stream:016x>.seg`: a segment. `created_us` is the creation time
//!   in µs since the Unix epoch, zero-padded to 20 digits, `stream` the segment's random
//!   64-bit stream id in 16 lowercase hex digits; so the lexical order of names is the
//!   order of age, across processes.
//! - `<same stem>.ack`: the segment's acknowledgement sidecar (only once something was
//!   acknowledged).
//! - `<same stem>.seg.tmp`: a segment being created (header written and locked under
//!   this name, then renamed, so nobody sees a segment without header or lock).
//! - `*.seg.damaged`, `*.ack.damaged`: files set aside because they were damaged; never
//!   read again, left for the operator, not counted in the size limit.
//! - `dead-letters.jsonl` (`DEAD_LETTERS_FILE`): records Pub/Sub refused for good (a
//!   message refused as INVALID_ARGUMENT alone in its request), appended by the publisher
//!   before it acknowledges them, one JSON object per line (`crate::publish::dead_letter`);
//!   left for the operator, not counted in the size limit, never read by the spool.
//!
//! Other files are ignored.
//!
//! # Segment layout
//!
//! All integers little-endian. A segment is a header followed by record frames.
//!
//! Header, version 2 (`48 + F + H + D + 4` bytes):
//!
//! | offset     | size | field |
//! |-----------:|-----:|-------|
//! | 0          | 8    | magic `ALPSPOOL` |
//! | 8          | 2    | header version, `2` |
//! | 10         | 2    | kind of stream ([`StreamKind`]): `0` access log lines |
//! | 12         | 4    | header length in bytes (`48 + F + H + D + 4`): where records start |
//! | 16         | 8    | stream id (u64) |
//! | 24         | 8    | creation time, µs since the epoch (i64) |
//! | 32         | 4    | flags: bit 0 *unconfigured* (the lines were read while the configuration was unusable; then D is 0); other bits 0 |
//! | 36         | 4    | F: byte length of the LogFormat string |
//! | 40         | 4    | H: byte length of the host name |
//! | 44         | 4    | D: byte length of the destination |
//! | 48         | F    | the LogFormat string (UTF-8) |
//! | 48+F       | H    | the host name (UTF-8) |
//! | 48+F+H     | D    | the destination: the canonical JSON object of [`Destination`] (project, topic, static attributes, attribute fields, ordering key field; see `crate::destination`) |
//! | 48+F+H+D   | 4    | CRC32C of all header bytes before it |
//!
//! Every version keeps the magic, the version at 8 and the header length at 12, and ends
//! its header with the CRC32C of the bytes before it. Version 1 (written before the
//! destination was recorded) is still read: `40 + F + H + 4` bytes, with 0 at 10 and the
//! lengths F, H at 32 and 36 and the two strings from 40; its segments have no recorded
//! destination ([`Route::Unrecorded`]). A header whose CRC is right but whose version,
//! kind, flags or destination this program does not know was written by a newer version:
//! [`Route::Unsupported`], left alone by everyone.
//!
//! Record frame (`32 + L` bytes), one per line:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0      | 4    | magic `A7 5C 0D 1E` |
//! | 4      | 4    | bits 0-23: L, the line length (at most 16 MiB - 1); bit 24: truncated; bit 25: fragment (not with bit 24); bits 26-31: 0 |
//! | 8      | 8    | seq (u64): index of the record in its segment, 0, 1, 2, ... |
//! | 16     | 8    | received_at: µs since the epoch when the line was read (i64) |
//! | 24     | 4    | CRC32C of the line bytes |
//! | 28     | 4    | CRC32C of bytes 0-27 of this frame |
//! | 32     | L    | the line, as read, without its newline |
//!
//! A record's id downstream is `<stream:016x>-<seq>` (`crate::record::RecordId`), the
//! same every time it is sent.
//!
//! A *fragment* is the start of a line whose newline has not been read yet (a read from
//! the pipe ended mid-line). The writer puts it after the last record, with the seq the
//! line will get, but does not count it as written: readers never see it, and the next
//! append overwrites it (or cuts it off with `set_len` when what follows is shorter).
//! On rotation it is first written into the new segment, then cut off the old one. So a
//! segment's only fragment is its last frame, and only in a segment whose process died
//! mid-line: the process that adopts it delivers it like any record, marked truncated
//! (the rest of the line arrives from whoever read it, as a parse error with its `raw`).
//!
//! The header holds what the segment's lines are and where they go ([`StreamContext`]:
//! kind, format, host, destination), so they are parsed and sent as they were meant to be
//! when they were read, whoever sends them and whatever the configuration says by then.
//! Segments rotate when they reach `segment_bytes`.
//!
//! # Acknowledgements
//!
//! Batches are acknowledged out of order; the process keeps, per segment, the batches in
//! flight and the contiguous acknowledged prefix. Each time the prefix moves it is written
//! in place (one `pwrite`) to the `.ack` sidecar, 20 bytes: the byte offset up to which
//! all records are acknowledged (u64), the seq of the first record not acknowledged (u64),
//! and a CRC32C of those 16 bytes. A sealed segment that is fully acknowledged is deleted
//! (segment first, then the sidecar). After a crash everything from the sidecar's offset
//! on is sent again: duplicates are possible downstream, losses are not. Sidecars are
//! never fsynced: losing one only causes duplicates.
//!
//! # Locking, several processes, adoption
//!
//! A segment belongs to whoever holds its advisory `flock` (exclusive, taken with
//! `File::try_lock`; released by the kernel when the process dies). A process holds the
//! lock of its own segments while it lives and of the orphans it adopts. At `open()` and
//! every 2 seconds after, the directory is scanned. Each segment no process of this
//! directory is known to hold has its header read (no lock needed: a header never changes
//! once the file has its name), and the spool's [`Adopt`] decides whether it is for this
//! process; a segment that is and whose lock can be taken is an orphan (its process is
//! gone) and is adopted: it is sealed, read from its ack offset and deleted once
//! acknowledged. After taking a lock the path is checked to still name the locked inode
//! (its owner may have deleted it in between). So an old and a new logger (Apache
//! restarts) share the directory without touching each other's data, and whatever a dead
//! one left is sent by the next one for the same destination. Sidecars without segment and
//! stale `.tmp` files (unlocked, older than a minute) are removed by the scan.
//!
//! What a logger adopts ([`Adopt::own`]): segments of its own kind and destination (equal
//! in every field), and segments without a recorded destination (version 1, a damaged
//! header, unconfigured), which go to its destination as version 1 sent them. Orphans of
//! another destination are left where they are, counted in the size limit, and reported
//! once ([`SpoolEvent::LeftForOthers`], at most every 10 minutes) with what to do:
//! `spool replay` sends each segment to its recorded destination. A logger without a
//! usable configuration adopts nothing.
//!
//! [`open_to_send`] opens the directory for reading and sending only (`spool replay`): no
//! segment, directory, thread or clean-up; the orphans its [`Adopt`] takes (usually
//! [`Adopt::every`] destination) are taken once, at open, and their files are the only ones
//! it touches (ack sidecars, and the files once sent).
//!
//! # What waits on what
//!
//! When a write fails (the disk is full or failing), the writer holds the lines in memory
//! instead, up to `SpoolOptions::memory_max_bytes` (`memory`), and the reader hands them out
//! before anything on disk; the next append tries the disk again.
//!
//! The reader is woken once per batch, not per append: it says where in the writer's
//! segment a full batch will end, and holds a partial one until its oldest record is
//! `max_delay` old ([`SpoolReader::next_due_batch`]); the writer wakes it only when an
//! append reaches that point (a seal, an adoption or the end of input always wake it).
//!
//! The writer runs on the stdin thread and never waits for the reader's or the background
//! thread's I/O: the state the three share is behind one lock that guards memory only and
//! is held for a few field updates at a time. Acknowledgement sidecars are written by the
//! reader outside it; segments that are finished, dropped by the full policy or set aside
//! leave the state at once (their bytes stop counting) and their files are removed outside
//! it, by the reader or by the background thread (which the writer wakes when it drops a
//! segment). The writer's own I/O is its appends, the fdatasync of `FsyncPolicy::Always`,
//! and creating its next segment.
//!
//! The size limit (`max_bytes`) counts the segment files this process holds plus the other
//! processes' segment files as measured at the last scan (so it is approximate during an
//! overlap of processes). When full, `DropOldest` deletes the oldest segments this process
//! holds (its sealed ones and adopted orphans, sealing the live one first if needed)
//! and counts their records not yet handed out as dropped (those handed out and still in
//! flight are counted when the publisher gives up on them, [`SpoolReader::abandon`]);
//! `DropNewest` takes the lines that still fit, then refuses every line until the spool
//! is back under 90% of the limit, so what it keeps is the oldest lines without gaps.
//! Space is freed by whole segments, so `segment_bytes` is clamped to at most a quarter of
//! `max_bytes`. Neither policy ever blocks the writer.
//!
//! # Recovery
//!
//! No content of the directory stops the spool or makes it panic. An adopted segment is
//! read like any other, lazily, in chunks; when a frame is invalid (bad magic, bad header
//! CRC, length past the end, bad line CRC) the reader scans forward for the next magic
//! that starts a whole valid frame and goes on from there:
//!
//! - invalid bytes up to the end of a sealed segment with a good header are a torn tail
//!   (a crash in the middle of a write): cut off, reported ([`SpoolEvent::TornTail`]);
//! - invalid bytes followed by valid records, or a damaged header, make the segment
//!   damaged: every valid record in it is still delivered (with a damaged header, under the
//!   stream id from the file name, with empty format and host, parsed with the configured
//!   format and sent to the configured destination), then, once all of it is
//!   acknowledged, the file is renamed aside as `.seg.damaged` instead of deleted
//!   ([`SpoolEvent::SetAside`], [`SpoolStats::damaged_files`]); a zero-length file or a
//!   file of garbage has no valid record and is set aside at once;
//! - a damaged ack sidecar is renamed aside as `.ack.damaged` and its segment is sent
//!   again from the start.
//!
//! # What each fsync policy survives
//!
//! Any policy: a crash of the process (`kill -9`, OOM, panic) loses nothing that
//! [`SpoolWriter::append_read`] wrote ([`AppendError::written`]), unfinished line included:
//! the data is in the page cache, which the kernel writes out by itself. The stdin reader
//! appends right after every `read()`, so a crash can only catch the bytes of the one read
//! being framed and written (at most 256 KiB, for well under a millisecond).
//!
//! A crash of the machine (power loss, kernel panic):
//!
//! - `Always`: loses nothing `append` returned for: each append is followed by an
//!   `fdatasync`, and each new segment file and the directory are fsynced at creation.
//! - `Interval(d)` (default 1 s): a background thread fdatasyncs every segment written
//!   since its last pass (and the directory after segment creation) every `d`: loses at
//!   most about the last `d` (plus the sync's own duration) of lines. `close` syncs.
//! - `Never`: loses whatever the kernel had not written back yet (on Linux typically up
//!   to 30 s, `vm.dirty_expire_centisecs`).
//!
//! In all cases the lost part is a suffix of the newest segments, possibly leaving a torn
//! tail or zeroed bytes, which recovery cuts off; and acknowledgements of up to the same
//! age may be lost, which re-sends (duplicates), never loses.
//!
//! # Memory
//!
//! Nothing is indexed in memory: per held segment a few counters and the batches in
//! flight. The reader reads at most one 256 KiB chunk beyond the batch limits.
//! Each held segment keeps one open file (its lock), so a spool of `max_bytes /
//! segment_bytes` segments needs that many descriptors.

mod ack;
mod dir;
mod error;
mod maintenance;
mod memory;
mod reader;
mod scan;
mod segment;
mod state;
mod stats;
mod status;
mod writer;

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::destination::Destination;

pub use error::SpoolError;
pub use reader::{AckTicket, Batch, SpoolProbe, SpoolReader};
pub use segment::SpooledRecord;
pub use stats::{SpoolEvent, SpoolStats};
pub use status::{AckCheck, FileCheck, SegmentStatus, SpoolStatus, VerifyReport, status, verify};
pub use writer::{AppendError, LineIn, SpoolWriter};

/// The dead-letter file in the spool directory: records Pub/Sub refused for good (see the
/// module doc, and `crate::publish::dead_letter` for its lines).
pub(crate) const DEAD_LETTERS_FILE: &str = "dead-letters.jsonl";

/// Smallest segment size used, whatever the options say.
const MIN_SEGMENT_BYTES: u64 = 64 * 1024;
/// Shortest `FsyncPolicy::Interval` used.
const MIN_FSYNC_INTERVAL: Duration = Duration::from_millis(10);

/// Where and how to spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolOptions {
    pub dir: PathBuf,
    /// Size limit of all segment files together (default 1 GiB).
    pub max_bytes: u64,
    pub full_policy: FullPolicy,
    pub fsync: FsyncPolicy,
    /// Segment size at which a new segment is started (default 32 MiB; clamped to at most
    /// `max_bytes / 4`, at least 64 KiB).
    pub segment_bytes: u64,
    /// Line bytes held in memory when the spool cannot be written (default 64 MiB).
    pub memory_max_bytes: u64,
}

impl SpoolOptions {
    /// The defaults, spooling in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolOptions {
        SpoolOptions {
            dir: dir.into(),
            max_bytes: 1 << 30,
            full_policy: FullPolicy::default(),
            fsync: FsyncPolicy::default(),
            segment_bytes: 32 << 20,
            memory_max_bytes: 64 << 20,
        }
    }

    /// The segment size actually used.
    pub(crate) fn segment_limit(&self) -> u64 {
        self.segment_bytes
            .min(self.max_bytes / 4)
            .max(MIN_SEGMENT_BYTES)
    }
}

/// What to do when the spool reaches `max_bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FullPolicy {
    /// Delete the oldest data to make room.
    #[default]
    DropOldest,
    /// Refuse new lines.
    DropNewest,
}

/// When appended data is forced to disk (see the module doc for what each survives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `fdatasync` after every append.
    Always,
    /// `fdatasync` written segments every so often, from a background thread.
    Interval(Duration),
    /// Leave it to the kernel.
    Never,
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_secs(1))
    }
}

/// What kind of lines a segment holds (a header field): decides how they are parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Apache access log lines, parsed with the segment's LogFormat.
    #[default]
    AccessLog,
}

impl StreamKind {
    /// The kind's number in the header.
    pub(crate) fn code(self) -> u16 {
        match self {
            StreamKind::AccessLog => 0,
        }
    }

    pub(crate) fn from_code(code: u16) -> Option<StreamKind> {
        match code {
            0 => Some(StreamKind::AccessLog),
            _ => None,
        }
    }
}

/// What the lines about to be appended are and where they go, stored in each segment's
/// header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamContext {
    pub kind: StreamKind,
    /// The LogFormat string.
    pub format: String,
    /// The host name the records are attributed to.
    pub host: String,
    /// Where the records go; `None` when the configuration was unusable as they were read
    /// (the segment is then recorded as unconfigured).
    pub destination: Option<Destination>,
}

/// Where a segment's records go, as its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Recorded: sent there, by whoever sends them.
    To(Arc<Destination>),
    /// Not recorded (a version 1 segment, or a damaged header): sent where the process that
    /// takes the segment over sends its own lines, as version 1 did.
    Unrecorded,
    /// Read while the configuration was unusable: taken over by the next logger with a
    /// usable one, sent to its destination and parsed with its format.
    Unconfigured,
    /// A header this version cannot act on (a newer version wrote it), and why: never taken
    /// over, left for a version that can.
    Unsupported(String),
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::To(d) => d.fmt(f),
            Route::Unrecorded => f.write_str("not recorded (older version or damaged header)"),
            Route::Unconfigured => {
                f.write_str("unconfigured (read without a usable configuration)")
            }
            Route::Unsupported(why) => write!(f, "unknown to this version: {why}"),
        }
    }
}

/// What a segment's header says about its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub stream: u64,
    /// When the segment was created, µs since the epoch.
    pub created_us: i64,
    pub kind: StreamKind,
    /// Empty if the header was damaged.
    pub format: String,
    /// Empty if the header was damaged.
    pub host: String,
    pub route: Route,
}

impl SegmentInfo {
    /// The stream `stream`, created at `created_us`, of lines of `ctx`.
    pub(crate) fn of(ctx: &StreamContext, stream: u64, created_us: i64) -> SegmentInfo {
        SegmentInfo {
            stream,
            created_us,
            kind: ctx.kind,
            format: ctx.format.clone(),
            host: ctx.host.clone(),
            route: ctx
                .destination
                .clone()
                .map_or(Route::Unconfigured, |d| Route::To(Arc::new(d))),
        }
    }
}

/// Which segments left by processes that are gone (orphans) an open spool takes over, by
/// what their headers say. Segments of another kind, and unsupported ones, never.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopt {
    kind: StreamKind,
    recorded: Recorded,
    /// Also segments without a recorded destination (unrecorded and unconfigured ones).
    unrecorded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Recorded {
    Only(Destination),
    Any,
    No,
}

impl Adopt {
    /// What a logger appending `ctx` takes over: the segments of its own destination, and
    /// those without a recorded one. A logger without a usable configuration takes none.
    pub fn own(ctx: &StreamContext) -> Adopt {
        Adopt {
            kind: ctx.kind,
            recorded: ctx.destination.clone().map_or(Recorded::No, Recorded::Only),
            unrecorded: ctx.destination.is_some(),
        }
    }

    /// Every segment of `kind` with a recorded destination, and with `unrecorded` also
    /// those without one (a replay that has a destination to send those to).
    pub fn every(kind: StreamKind, unrecorded: bool) -> Adopt {
        Adopt {
            kind,
            recorded: Recorded::Any,
            unrecorded,
        }
    }

    /// Whether a segment with this header is taken over.
    pub fn takes(&self, info: &SegmentInfo) -> bool {
        if info.kind != self.kind {
            return false;
        }
        match &info.route {
            Route::To(d) => match &self.recorded {
                Recorded::Only(own) => **d == *own,
                Recorded::Any => true,
                Recorded::No => false,
            },
            Route::Unrecorded | Route::Unconfigured => self.unrecorded,
            Route::Unsupported(_) => false,
        }
    }
}

/// Opens the spool in `opts.dir` (creating it if needed) for a logger appending `ctx`:
/// adopts the orphans [`Adopt::own`] takes, starts a new segment for this process and the
/// background thread (fsync, rescans, removals).
pub fn open(
    mut opts: SpoolOptions,
    ctx: StreamContext,
) -> Result<(SpoolWriter, SpoolReader), SpoolError> {
    if let FsyncPolicy::Interval(d) = opts.fsync {
        opts.fsync = FsyncPolicy::Interval(d.max(MIN_FSYNC_INTERVAL));
    }
    let dir = opts.dir.clone();
    std::fs::create_dir_all(&dir)
        .map_err(|e| SpoolError::io(&dir, "cannot create directory", e))?;
    let (wake, woken) = mpsc::channel();
    let shared = Arc::new(state::Shared::new(opts, Adopt::own(&ctx), Some(wake)));
    scan::rescan(&shared, true).map_err(|e| SpoolError::io(&dir, "cannot read directory", e))?;
    let writer = SpoolWriter::start(Arc::clone(&shared), ctx)?;
    maintenance::spawn(&shared, woken)
        .map_err(|e| SpoolError::io(&dir, "cannot start the spool thread", e))?;
    Ok((writer, SpoolReader::new(shared)))
}

/// Opens the spool in `opts.dir` for reading and sending only (`spool replay`): takes over
/// the orphans `adopt` takes, once, and hands out their records. It creates nothing (no
/// segment, no directory, no thread), cleans nothing up, and touches no file but those it
/// sends: their ack sidecars, and the files themselves once sent (deleted, or set aside if
/// damaged). A directory that does not exist holds nothing to send.
pub fn open_to_send(opts: SpoolOptions, adopt: Adopt) -> Result<SpoolReader, SpoolError> {
    let dir = opts.dir.clone();
    let shared = Arc::new(state::Shared::new(opts, adopt, None));
    shared.lock().writer_closed = true;
    if dir.exists() {
        scan::rescan(&shared, true)
            .map_err(|e| SpoolError::io(&dir, "cannot read directory", e))?;
    }
    Ok(SpoolReader::new(shared))
}
