//! The appending side: frames lines into the active segment with one `pwrite` per call,
//! rotates segments, applies the full policy and the fsync policy, seals on close.
//!
//! The writer runs on the stdin thread, so besides its own writes it does no I/O: segments
//! the full policy drops are removed by the background thread, finished ones by the reader.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::ack::AckCursor;
use super::dir::{self, Stem};
use super::memory::LineToHold;
use super::segment::{self, Kind, MAX_LINE_LEN, RECORD_HEADER_LEN};
use super::state::{Entry, Segment, Shared};
use super::stats::SpoolEvent;
use super::{Adopt, FsyncPolicy, FullPolicy, SegmentInfo, SpoolError, SpoolStats, StreamContext};
use crate::clock;

/// `DropNewest` takes lines again once the spool is under this share of its limit (9/10).
const RESUME_AT: (u64, u64) = (9, 10);

/// One line to spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineIn<'a> {
    /// The line without its newline (longer than 16 MiB - 1 is cut and marked truncated).
    pub bytes: &'a [u8],
    /// When it was read, in microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The reader already cut it.
    pub truncated: bool,
}

/// Why an append did not go as it should, and whether its lines were written. Displayed
/// to follow "N lines": `not spooled, the spool cannot be written (spool ...: No space left
/// on device): 20 held in memory and published from there (...)`.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Nothing of these lines was written (the disk failed or is full): `held` of them are
    /// in the memory lane and published from there (lost if the process dies), `lost` did
    /// not fit in `memory_max_bytes`.
    #[error("{}", not_written(error, *held, *lost))]
    NotWritten {
        error: SpoolError,
        held: u64,
        lost: u64,
    },
    /// The lines were written (they are sent as usual, and survive a crash of the process)
    /// but forcing them to disk failed: a crash of the machine may lose them.
    #[error("spooled, but not synced to disk (a crash of the machine could lose them): {0}")]
    NotSynced(SpoolError),
    /// The lines were written and are sent as usual, but the next segment could not be
    /// started; the current one goes on growing and the next append tries again.
    #[error("spooled, but no new segment can be started (the current one grows on): {0}")]
    NotRotated(SpoolError),
}

/// What [`AppendError::NotWritten`] says after "N lines".
fn not_written(error: &SpoolError, held: u64, lost: u64) -> String {
    if held == 0 {
        return format!("LOST, the spool cannot be written: {error}");
    }
    let mut text = format!(
        "not spooled, the spool cannot be written ({error}): {held} held in memory and \
         published from there (durability reduced: a crash of the process loses them)"
    );
    if lost > 0 {
        text.push_str(&format!(", {lost} LOST (memory_max_bytes is full)"));
    }
    text
}

impl AppendError {
    /// The lines are in the spool.
    pub fn written(&self) -> bool {
        !matches!(self, AppendError::NotWritten { .. })
    }

    /// Lines neither spooled nor held in memory.
    pub fn lost(&self) -> u64 {
        match self {
            AppendError::NotWritten { lost, .. } => *lost,
            AppendError::NotSynced(_) | AppendError::NotRotated(_) => 0,
        }
    }
}

/// Appends lines; used from one plain thread (the stdin reader). Never blocks on the
/// reader or on Pub/Sub: an append is a `pwrite` into the page cache (plus an fdatasync
/// with `FsyncPolicy::Always`).
#[derive(Debug)]
pub struct SpoolWriter {
    shared: Arc<Shared>,
    /// What the lines are and where they go: the header of every segment started.
    ctx: StreamContext,
    active: Arc<Segment>,
    /// End of the active segment's records and the next seq (the writer's own copy).
    written: u64,
    next_seq: u64,
    last_created_us: u64,
    buf: Vec<u8>,
    /// End of what is on disk in the active segment: `written`, plus the fragment if any.
    on_disk: u64,
    /// The unfinished line last written as a fragment, and when it was read.
    fragment: Option<(Vec<u8>, i64)>,
    closed: bool,
    /// `DropNewest` is refusing lines until the spool has room again.
    refusing: bool,
}

impl SpoolWriter {
    /// Starts this process's first segment.
    pub(crate) fn start(
        shared: Arc<Shared>,
        ctx: StreamContext,
    ) -> Result<SpoolWriter, SpoolError> {
        let (active, last_created_us) = new_segment(&shared, &ctx, 0)?;
        Ok(SpoolWriter {
            ctx,
            written: active.written(),
            on_disk: active.written(),
            fragment: None,
            shared,
            active,
            next_seq: 0,
            last_created_us,
            buf: Vec::new(),
            closed: false,
            refusing: false,
        })
    }

    /// Spools `lines` with one write; wakes the reader if that makes the batch it waits
    /// for ([`Shared::appended`]). When the spool is full, the full
    /// policy applies (lines refused or oldest segments deleted, counted in
    /// `SpoolStats::dropped_records`) and this still returns `Ok`. An error says whether
    /// the lines were written nonetheless ([`AppendError::written`]).
    pub fn append(&mut self, lines: &[LineIn<'_>]) -> Result<(), AppendError> {
        self.append_read(lines, None)
    }

    /// [`append`](Self::append) for what one read from the input gave: its complete `lines`
    /// and `unfinished`, the start of the next line as far as it was read. That start is
    /// written too, as a fragment past the records the reader sees, and replaced by the
    /// next append: so a crash before the line's end loses none of its bytes (the next
    /// process delivers them as a cut line), and otherwise the line is sent once, whole.
    pub fn append_read(
        &mut self,
        lines: &[LineIn<'_>],
        unfinished: Option<LineIn<'_>>,
    ) -> Result<(), AppendError> {
        let unfinished = unfinished.filter(|l| !l.bytes.is_empty());
        if lines.is_empty() && unfinished.is_none() && self.fragment.is_none() {
            return Ok(());
        }
        let take = match self.admit(lines) {
            Ok(take) => take,
            Err(error) => return Err(self.not_written(error, lines)),
        };
        let lines = &lines[..take];
        self.buf.clear();
        let mut seq = self.next_seq;
        for l in lines {
            let cut = l.bytes.len() > MAX_LINE_LEN;
            let kind = if l.truncated || cut {
                Kind::Truncated
            } else {
                Kind::Line
            };
            let line = &l.bytes[..l.bytes.len().min(MAX_LINE_LEN)];
            segment::encode_record(&mut self.buf, seq, l.received_at_us, kind, line);
            seq += 1;
        }
        let records_len = self.buf.len() as u64;
        self.fragment = unfinished.map(|l| {
            let line = &l.bytes[..l.bytes.len().min(MAX_LINE_LEN)];
            segment::encode_record(&mut self.buf, seq, l.received_at_us, Kind::Fragment, line);
            (line.to_vec(), l.received_at_us)
        });
        let seg = &self.active;
        let end = self.written + self.buf.len() as u64;
        let written = seg
            .file
            .write_all_at(&self.buf, self.written)
            .and_then(|()| {
                // A longer fragment of an earlier append must not outlive the line it began.
                if self.on_disk > end {
                    seg.file.set_len(end)
                } else {
                    Ok(())
                }
            });
        if let Err(e) = written {
            // Cut a partial write so the segment ends with whole records.
            let _ = seg.file.set_len(self.written);
            self.on_disk = self.written;
            self.fragment = None;
            let error = SpoolError::io(&seg.path, "cannot write", e);
            return Err(self.not_written(error, lines));
        }
        self.on_disk = end;
        self.written += records_len;
        self.next_seq = seq;
        seg.publish(self.written, seq);
        self.shared
            .held_bytes
            .fetch_add(records_len, Ordering::Relaxed);
        if records_len > 0 {
            self.shared.appended(seq, self.written);
        }
        let synced = match self.shared.opts.fsync {
            FsyncPolicy::Always => seg.file.sync_data().map_err(|e| {
                AppendError::NotSynced(SpoolError::io(&seg.path, "cannot fdatasync", e))
            }),
            FsyncPolicy::Interval(_) => {
                // The first write since the last sync wakes the background thread, which
                // syncs one interval later; nothing wakes it while nothing is written.
                if !seg.dirty.swap(true, Ordering::Relaxed) {
                    self.shared.wake();
                }
                Ok(())
            }
            FsyncPolicy::Never => Ok(()),
        };
        if self.written >= self.shared.opts.segment_limit() {
            self.rotate().map_err(AppendError::NotRotated)?;
        }
        synced
    }

    /// End of input: seals the active segment (fdatasync unless `FsyncPolicy::Never`);
    /// the reader ends after handing out everything.
    pub fn close(mut self) -> Result<(), SpoolError> {
        self.finish();
        if matches!(self.shared.opts.fsync, FsyncPolicy::Never) {
            return Ok(());
        }
        let segments = self.shared.lock().segments();
        for seg in segments {
            if seg.dirty.swap(false, Ordering::Relaxed) {
                seg.file
                    .sync_data()
                    .map_err(|e| SpoolError::io(&seg.path, "cannot fdatasync", e))?;
            }
        }
        Ok(())
    }

    /// Lines appended from now on are `ctx`'s (a reload): seals the active segment, starts
    /// one with `ctx` in its header, and takes over the orphans `ctx`'s destination takes
    /// ([`Adopt::own`]). The same context again changes nothing.
    pub fn switch(&mut self, ctx: StreamContext) -> Result<(), SpoolError> {
        if ctx == self.ctx {
            return Ok(());
        }
        self.shared.set_adopt(Adopt::own(&ctx));
        self.ctx = ctx;
        self.rotate()
    }

    /// Counters (same as `SpoolReader::stats`).
    pub fn stats(&self) -> SpoolStats {
        self.shared.stats()
    }

    /// Seals the active segment and starts the next one.
    fn rotate(&mut self) -> Result<(), SpoolError> {
        let (next, created) = new_segment(&self.shared, &self.ctx, self.last_created_us)?;
        self.last_created_us = created;
        let old = std::mem::replace(&mut self.active, next);
        let old_written = self.written;
        self.written = self.active.written();
        self.on_disk = self.written;
        self.next_seq = 0;
        // The unfinished line moves on with the writer: written at the start of the new
        // segment first, then cut off the old one (a crash in between leaves it twice,
        // never nowhere).
        if let Some((line, received_at_us)) = self.fragment.take() {
            self.buf.clear();
            segment::encode_record(&mut self.buf, 0, received_at_us, Kind::Fragment, &line);
            self.active
                .file
                .write_all_at(&self.buf, self.written)
                .map_err(|e| SpoolError::io(&self.active.path, "cannot write", e))?;
            self.on_disk += self.buf.len() as u64;
            self.fragment = Some((line, received_at_us));
            if let Err(e) = old.file.set_len(old_written) {
                self.shared.lock().tally.event(SpoolEvent::Error {
                    what: format!("cannot cut {}: {e}", old.path.display()),
                });
            }
        }
        old.seal();
        self.shared.notify.notify_one();
        Ok(())
    }

    /// `lines` could not be written because of `error`: holds what fits in memory.
    fn not_written(&self, error: SpoolError, lines: &[LineIn<'_>]) -> AppendError {
        let holds: Vec<LineToHold<'_>> = lines
            .iter()
            .map(|l| (l.bytes, l.received_at_us, l.truncated))
            .collect();
        let held = self.shared.hold_in_memory(&self.ctx, &holds);
        AppendError::NotWritten {
            error,
            held: held as u64,
            lost: (lines.len() - held) as u64,
        }
    }

    /// How many of `lines` (a prefix) may be written; the others are counted as dropped.
    /// `DropOldest` makes room by deleting the oldest segments. `DropNewest` takes the
    /// lines that still fit, then refuses all lines until the spool is back under
    /// [`RESUME_AT`] of its limit, so what it keeps is the oldest lines, without gaps.
    fn admit(&mut self, lines: &[LineIn<'_>]) -> Result<usize, SpoolError> {
        let max = self.shared.opts.max_bytes;
        let size = |l: &LineIn<'_>| (RECORD_HEADER_LEN + l.bytes.len().min(MAX_LINE_LEN)) as u64;
        let incoming: u64 = lines.iter().map(size).sum();
        let take = match self.shared.opts.full_policy {
            FullPolicy::DropOldest => {
                let mut rotated = false;
                loop {
                    if self.shared.used_bytes() + incoming <= max {
                        break lines.len();
                    }
                    if self.shared.lock().drop_oldest(&self.shared, self.active.id) {
                        self.shared.wake();
                        continue;
                    }
                    if rotated || self.next_seq == 0 {
                        break 0;
                    }
                    rotated = true;
                    self.rotate()?;
                }
            }
            FullPolicy::DropNewest => {
                let used = self.shared.used_bytes();
                if self.refusing && used + incoming <= max / RESUME_AT.1 * RESUME_AT.0 {
                    self.refusing = false;
                }
                if self.refusing {
                    0
                } else {
                    let mut room = max.saturating_sub(used);
                    let fit = lines
                        .iter()
                        .take_while(|l| {
                            let ok = size(l) <= room;
                            room = room.saturating_sub(size(l));
                            ok
                        })
                        .count();
                    self.refusing = fit < lines.len();
                    fit
                }
            }
        };
        if take < lines.len() {
            self.shared
                .dropped
                .fetch_add((lines.len() - take) as u64, Ordering::Relaxed);
            self.shared.news.notify_one();
        }
        Ok(take)
    }

    /// Seals the active segment. An unfinished line still pending becomes a record of its
    /// own: the input ended (or failed) before its newline, and nobody else will finish it.
    fn finish(&mut self) {
        if !self.closed {
            self.closed = true;
            if self.fragment.take().is_some() {
                self.shared
                    .held_bytes
                    .fetch_add(self.on_disk - self.written, Ordering::Relaxed);
                self.written = self.on_disk;
                self.next_seq += 1;
                self.active.publish(self.written, self.next_seq);
            }
            self.active.seal();
            self.shared.lock().writer_closed = true;
            self.shared.notify.notify_one();
            // The input is over: what the full policy dropped can be removed from here.
            self.shared.remove_retired();
        }
    }
}

impl Drop for SpoolWriter {
    /// Like `close` without the final fdatasync: the files are left as a crash leaves them.
    fn drop(&mut self) {
        self.finish();
    }
}

/// Creates, locks and registers a new own segment named after a time later than `after`.
fn new_segment(
    shared: &Shared,
    ctx: &StreamContext,
    after: u64,
) -> Result<(Arc<Segment>, u64), SpoolError> {
    let stream = getrandom::u64().map_err(|error| SpoolError::Random {
        path: shared.dir.clone(),
        error,
    })?;
    let created = u64::try_from(clock::now_us()).unwrap_or(0).max(after + 1);
    let stem = Stem::new(created, stream);
    let created_us = i64::try_from(created).unwrap_or(i64::MAX);
    let bytes = segment::encode_header(stream, created_us, ctx);
    let path = stem.seg(&shared.dir);
    let file = dir::create_segment(&shared.dir, &stem, &bytes)
        .map_err(|e| SpoolError::io(&path, "cannot create segment", e))?;
    match shared.opts.fsync {
        FsyncPolicy::Always => file
            .sync_data()
            .and_then(|()| dir::sync_dir(&shared.dir))
            .map_err(|e| SpoolError::io(&shared.dir, "cannot fsync", e))?,
        FsyncPolicy::Interval(_) => shared.dir_dirty.store(true, Ordering::Relaxed),
        FsyncPolicy::Never => {}
    }
    let info = Arc::new(SegmentInfo::of(ctx, stream, created_us));
    let start = bytes.len() as u64;
    let seg = Arc::new(Segment::new(
        &shared.dir,
        stem,
        info,
        file,
        (start, 0),
        false,
    ));
    if matches!(shared.opts.fsync, FsyncPolicy::Interval(_)) {
        seg.dirty.store(true, Ordering::Relaxed);
        shared.wake();
    }
    let acked = AckCursor {
        offset: start,
        next_seq: 0,
    };
    shared.held_bytes.fetch_add(start, Ordering::Relaxed);
    shared
        .lock()
        .insert(Entry::new(Arc::clone(&seg), acked, &shared.dir, false));
    Ok((seg, created))
}
