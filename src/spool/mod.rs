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
//!
//! Other files are ignored.
//!
//! # Segment layout
//!
//! All integers little-endian. A segment is a header followed by record frames.
//!
//! Header (`40 + F + H + 4` bytes):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0      | 8    | magic `ALPSPOOL` |
//! | 8      | 2    | format version, `1` |
//! | 10     | 2    | reserved, 0 |
//! | 12     | 4    | header length in bytes (`40 + F + H + 4`): where records start |
//! | 16     | 8    | stream id (u64) |
//! | 24     | 8    | creation time, µs since the epoch (i64) |
//! | 32     | 4    | F: byte length of the LogFormat string |
//! | 36     | 4    | H: byte length of the host name |
//! | 40     | F    | the LogFormat string (UTF-8) |
//! | 40+F   | H    | the host name (UTF-8) |
//! | 40+F+H | 4    | CRC32C of all header bytes before it |
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
//! A record's id downstream is `<stream:016x>-<seq>` ([`SegmentInfo::record_id`]), the
//! same every time it is sent.
//!
//! A *fragment* is the start of a line whose newline has not been read yet (a read from
//! the pipe ended mid-line). The writer puts it after the last record, with the seq the
//! line will get, but does not count it as written: readers never see it, and the next
//! append overwrites it (or cuts it off with `set_len` when what follows is shorter).
//! On rotation it is first written into the new segment, then cut off the old one. So a
//! segment's only fragment is its last frame, and only in a segment whose process died
//! mid-line: the process that adopts it delivers it like any record, marked truncated
//! (the rest of the line arrives from whoever read it, as a parse error with its `raw`). The header holds the parse context of the segment's lines
//! (format, host): a configuration reload starts a new segment ([`SpoolWriter::rotate`]).
//! Segments also rotate when they reach `segment_bytes`.
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
//! # Locking and several processes
//!
//! A segment belongs to whoever holds its advisory `flock` (exclusive, taken with
//! `File::try_lock`; released by the kernel when the process dies). A process holds the
//! lock of its own segments while it lives and of the orphans it adopts. At `open()` and
//! every 2 seconds after, the directory is scanned: a segment whose lock can be taken is an
//! orphan (its process is gone) and is adopted: it is sealed, read from its ack offset and
//! deleted once acknowledged. After taking a lock the path is checked to still name the
//! locked inode (its owner may have deleted it in between). So an old and a new logger
//! (Apache restarts) share the directory without touching each other's data, and
//! whatever a dead one left is sent by the next one. Sidecars without segment and stale
//! `.tmp` files (unlocked, older than a minute) are removed by the scan.
//!
//! The size limit (`max_bytes`) counts the segment files this process holds plus the other
//! processes' segment files as measured at the last scan (so it is approximate during an
//! overlap of processes). When full, `DropOldest` deletes the oldest segments this process
//! holds (its sealed ones and adopted orphans, sealing the live one first if needed)
//! and counts their records not yet handed out as dropped (those handed out and still in
//! flight are counted when the publisher gives up on them, [`SpoolReader::abandon`]);
//! `DropNewest` takes the lines that still fit, then refuses every line until the spool
//! is back under 90% of the limit, so what it keeps is the oldest lines without gaps. Space is freed by whole segments, so `segment_bytes` is
//! clamped to at most a quarter of `max_bytes`. Neither policy ever blocks the writer.
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
//!   stream id from the file name, with empty format and host), then, once all of it is
//!   acknowledged, the file is renamed aside as `.seg.damaged` instead of deleted
//!   ([`SpoolEvent::SetAside`], [`SpoolStats::damaged_files`]); a zero-length file or a
//!   file of garbage has no valid record and is set aside at once;
//! - a damaged ack sidecar is renamed aside as `.ack.damaged` and its segment is sent
//!   again from the start.
//!
//! # What each fsync policy survives
//!
//! Any policy: a crash of the process (`kill -9`, OOM, panic) loses nothing that
//! [`SpoolWriter::append_read`] returned for, unfinished line included: the data is in the
//! page cache, which the kernel writes out by itself. The stdin reader appends right after
//! every `read()`, so a crash can only catch the bytes of the one read being framed and
//! written (at most 256 KiB, for well under a millisecond).
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
mod reader;
mod scan;
mod segment;
mod state;
mod stats;
mod status;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

pub use error::SpoolError;
pub use reader::{AckTicket, Batch, SpoolReader};
pub use segment::SpooledRecord;
pub use stats::{SpoolEvent, SpoolStats};
pub use status::{AckCheck, FileCheck, SegmentStatus, SpoolStatus, VerifyReport, status, verify};
pub use writer::{LineIn, SpoolWriter};

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
        }
    }

    /// The segment size actually used.
    pub fn segment_limit(&self) -> u64 {
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

/// The parse context of the lines about to be appended, stored in each segment's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamContext {
    /// The LogFormat string.
    pub format: String,
    /// The host name the records are attributed to.
    pub host: String,
}

/// What a segment's header says about its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub stream: u64,
    /// When the segment was created, µs since the epoch.
    pub created_us: i64,
    /// Empty if the header was damaged.
    pub format: String,
    /// Empty if the header was damaged.
    pub host: String,
}

impl SegmentInfo {
    /// The id of record `seq` of this segment: `<stream:016x>-<seq>`.
    pub fn record_id(&self, seq: u64) -> String {
        format!("{:016x}-{}", self.stream, seq)
    }
}

/// Opens the spool in `opts.dir` (creating it if needed), adopts the segments left by
/// processes that are gone, starts a new segment for this process with `ctx` and the
/// background thread (fsync, rescans).
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
    let (stop, stopped) = mpsc::channel();
    let shared = Arc::new(state::Shared::new(opts, stop));
    scan::rescan(&shared).map_err(|e| SpoolError::io(&dir, "cannot read directory", e))?;
    let writer = SpoolWriter::start(Arc::clone(&shared), ctx)?;
    maintenance::spawn(&shared, stopped)
        .map_err(|e| SpoolError::io(&dir, "cannot start the spool thread", e))?;
    Ok((writer, SpoolReader::new(shared)))
}
