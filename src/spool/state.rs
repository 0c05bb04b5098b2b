//! The state one process shares between its writer, its reader and its background thread:
//! the segments it holds (locked), how far each is read and acknowledged, size accounting,
//! and retiring segments (delete when done, set aside when damaged, drop when full).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use tokio::sync::Notify;

use super::ack::{AckCursor, AckFile, Progress};
use super::dir::{self, Stem};
use super::segment;
use super::stats::{SpoolEvent, SpoolStats, Tally};
use super::{SegmentInfo, SpoolOptions};

/// Process-wide ids of segments, so a ticket can never be applied to the wrong one.
static NEXT_SEGMENT_ID: AtomicU64 = AtomicU64::new(1);

/// A segment file this process holds the lock of (kept while the `File` lives).
#[derive(Debug)]
pub(crate) struct Segment {
    pub id: u64,
    pub stem: Stem,
    pub path: PathBuf,
    pub info: Arc<SegmentInfo>,
    pub file: File,
    /// End of the last whole record written (the file length for adopted segments).
    written: AtomicU64,
    /// Seq after the last record.
    end_seq: AtomicU64,
    /// No more records will be added.
    sealed: AtomicBool,
    /// Written since the last fdatasync (`FsyncPolicy::Interval`).
    pub dirty: AtomicBool,
}

impl Segment {
    pub(crate) fn new(
        dir: &Path,
        stem: Stem,
        info: Arc<SegmentInfo>,
        file: File,
        end: (u64, u64),
        sealed: bool,
    ) -> Segment {
        Segment {
            id: NEXT_SEGMENT_ID.fetch_add(1, Ordering::Relaxed),
            path: stem.seg(dir),
            stem,
            info,
            file,
            written: AtomicU64::new(end.0),
            end_seq: AtomicU64::new(end.1),
            sealed: AtomicBool::new(sealed),
            dirty: AtomicBool::new(false),
        }
    }

    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    pub(crate) fn end_seq(&self) -> u64 {
        self.end_seq.load(Ordering::Acquire)
    }

    /// Publishes records appended by the writer up to byte `written`, seq `end_seq`.
    pub(crate) fn publish(&self, written: u64, end_seq: u64) {
        self.end_seq.store(end_seq, Ordering::Release);
        self.written.store(written, Ordering::Release);
    }

    pub(crate) fn sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    pub(crate) fn seal(&self) {
        self.sealed.store(true, Ordering::Release);
    }
}

/// A held segment and how far this process has handed it out and seen it acknowledged.
#[derive(Debug)]
pub(crate) struct Entry {
    pub seg: Arc<Segment>,
    /// Next byte to hand out.
    pub read_pos: u64,
    /// Seq of the next record to hand out.
    pub next_seq: u64,
    pub progress: Progress,
    pub ack_file: AckFile,
    /// Damage was found: set aside instead of deleted once done.
    pub damaged: bool,
}

impl Entry {
    pub(crate) fn new(seg: Arc<Segment>, acked: AckCursor, dir: &Path, damaged: bool) -> Entry {
        Entry {
            ack_file: AckFile::new(seg.stem.ack(dir)),
            read_pos: acked.offset,
            next_seq: acked.next_seq,
            progress: Progress::new(acked),
            seg,
            damaged,
        }
    }

    pub(crate) fn unread(&self) -> bool {
        self.read_pos < self.seg.written()
    }

    /// Sealed, handed out and acknowledged entirely.
    pub(crate) fn finished(&self) -> bool {
        self.seg.sealed() && !self.unread() && self.progress.idle()
    }
}

/// Everything behind the state lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Held segments in name (= age) order.
    entries: Vec<Entry>,
    pub writer_closed: bool,
    pub tally: Tally,
}

/// What the reader should do next.
#[derive(Debug)]
pub(crate) enum Pick {
    Read {
        seg: Arc<Segment>,
        pos: u64,
        end: u64,
    },
    Wait,
    Done,
}

impl State {
    pub(crate) fn insert(&mut self, entry: Entry) {
        let at = self
            .entries
            .partition_point(|e| e.seg.stem < entry.seg.stem);
        self.entries.insert(at, entry);
    }

    pub(crate) fn entry_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.seg.id == id)
    }

    pub(crate) fn held_stems(&self) -> HashSet<Stem> {
        self.entries.iter().map(|e| e.seg.stem.clone()).collect()
    }

    pub(crate) fn segments(&self) -> Vec<Arc<Segment>> {
        self.entries.iter().map(|e| Arc::clone(&e.seg)).collect()
    }

    /// The oldest segment with records to hand out: sealed and adopted segments first, in
    /// name order, then the live one.
    pub(crate) fn pick(&self) -> Pick {
        let ready = |e: &&Entry| e.unread();
        let next = (self.entries.iter().filter(|e| e.seg.sealed()).find(ready))
            .or_else(|| self.entries.iter().filter(|e| !e.seg.sealed()).find(ready));
        match next {
            Some(e) => Pick::Read {
                seg: Arc::clone(&e.seg),
                pos: e.read_pos,
                end: e.seg.written(),
            },
            None if self.writer_closed && self.entries.iter().all(|e| e.seg.sealed()) => Pick::Done,
            None => Pick::Wait,
        }
    }

    /// Retires every finished entry.
    pub(crate) fn retire_finished(&mut self, shared: &Shared) {
        while let Some(i) = self.entries.iter().position(Entry::finished) {
            self.retire(i, shared);
        }
    }

    /// Removes entry `i` and its files: renamed aside if damaged, else deleted.
    pub(crate) fn retire(&mut self, i: usize, shared: &Shared) {
        let e = self.entries.remove(i);
        shared
            .held_bytes
            .fetch_sub(e.seg.written(), Ordering::Relaxed);
        if e.damaged {
            match dir::set_aside(&e.seg.path) {
                Ok(to) => {
                    self.tally.damaged_files += 1;
                    self.tally.event(SpoolEvent::SetAside {
                        from: e.seg.path.clone(),
                        to,
                    });
                }
                Err(err) => self.tally.event(SpoolEvent::Error {
                    what: format!("cannot set aside {}: {err}", e.seg.path.display()),
                }),
            }
        }
        if let Err(err) = dir::remove_segment(&shared.dir, &e.seg.stem) {
            self.tally.event(SpoolEvent::Error {
                what: format!("cannot remove {}: {err}", e.seg.path.display()),
            });
        }
    }

    /// Full policy `DropOldest`: deletes the oldest held segment other than `keep`,
    /// counting its records not yet handed out as dropped. False if there is none.
    pub(crate) fn drop_oldest(&mut self, shared: &Shared, keep: u64) -> bool {
        let Some(i) = self.entries.iter().position(|e| e.seg.id != keep) else {
            return false;
        };
        let e = &mut self.entries[i];
        let lost = e.seg.end_seq().saturating_sub(e.next_seq);
        shared.dropped.fetch_add(lost, Ordering::Relaxed);
        let path = e.seg.path.clone();
        e.damaged = false;
        self.retire(i, shared);
        self.tally.event(SpoolEvent::Dropped {
            path,
            records: lost,
        });
        true
    }

    pub(crate) fn stats(&self, shared: &Shared) -> SpoolStats {
        let oldest = self
            .entries
            .iter()
            .filter_map(|e| {
                e.progress.oldest_pending().or_else(|| {
                    let end = e.seg.written();
                    segment::header_at(&e.seg.file, e.read_pos, end)
                        .ok()
                        .flatten()
                        .map(|h| h.received_at_us)
                })
            })
            .min();
        SpoolStats {
            records: self
                .entries
                .iter()
                .map(|e| e.seg.end_seq().saturating_sub(e.progress.acked().next_seq))
                .sum(),
            bytes: shared.used_bytes(),
            segments: self.entries.len(),
            dropped_records: shared.dropped.load(Ordering::Relaxed),
            damaged_files: self.tally.damaged_files,
            torn_tails: self.tally.torn_tails,
            skipped_bytes: self.tally.skipped_bytes,
            oldest_received_at_us: oldest,
        }
    }
}

/// What the writer, the reader and the background thread of one `open()` share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub opts: SpoolOptions,
    state: Mutex<State>,
    /// Wakes the reader: records appended, segment adopted, writer closed.
    pub notify: Notify,
    /// Bytes of the segments this process holds.
    pub held_bytes: AtomicU64,
    /// Bytes of other processes' segments as of the last scan.
    pub others_bytes: AtomicU64,
    /// Records lost to the full policy.
    pub dropped: AtomicU64,
    /// A segment was created since the directory was last fsynced.
    pub dir_dirty: AtomicBool,
    /// Dropped with the last user, which stops the background thread.
    _stop: mpsc::Sender<()>,
}

impl Shared {
    pub(crate) fn new(opts: SpoolOptions, stop: mpsc::Sender<()>) -> Shared {
        Shared {
            dir: opts.dir.clone(),
            opts,
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            held_bytes: AtomicU64::new(0),
            others_bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dir_dirty: AtomicBool::new(false),
            _stop: stop,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn used_bytes(&self) -> u64 {
        self.held_bytes.load(Ordering::Relaxed) + self.others_bytes.load(Ordering::Relaxed)
    }
}
