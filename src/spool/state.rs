//! The state one process shares between its writer, its reader and its background thread:
//! the segments it holds (locked), how far each is read and acknowledged, size accounting,
//! and retiring segments (delete when done, set aside when damaged, drop when full).
//!
//! The state lock guards memory only and is held for a few field updates at a time: the
//! stdin thread takes it on every append, so no file is read, written, renamed or removed
//! under it. Retiring a segment takes it out of the state at once (its bytes no longer
//! count) and queues its files; the queue is worked off outside the lock by the reader
//! (after acknowledgements) and by the background thread (woken by the writer when the
//! full policy drops a segment), never by the writer while it takes input.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use tokio::sync::Notify;

use super::ack::{AckCursor, AckFile, Progress};
use super::dir::{self, Stem};
use super::memory::{LineToHold, MemoryLane};
use super::scan::ScanMemo;
use super::segment;
use super::stats::{SpoolEvent, SpoolStats, Tally};
use super::{Adopt, SegmentInfo, SpoolOptions, StreamContext};
use crate::clock;

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
    /// Written outside the state lock, by the reader.
    pub ack_file: Arc<AckFile>,
    /// Damage was found: set aside instead of deleted once done.
    pub damaged: bool,
}

impl Entry {
    pub(crate) fn new(seg: Arc<Segment>, acked: AckCursor, dir: &Path, damaged: bool) -> Entry {
        Entry {
            ack_file: Arc::new(AckFile::new(seg.stem.ack(dir))),
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

/// A segment taken out of the state whose files are still to be removed or set aside.
#[derive(Debug)]
pub(crate) struct Retired {
    /// Holds the segment's lock until its files are gone.
    seg: Arc<Segment>,
    ack_file: Arc<AckFile>,
    /// Set aside as damaged instead of deleted.
    damaged: bool,
}

/// Everything behind the state lock.
#[derive(Debug)]
pub(crate) struct State {
    /// Held segments in name (= age) order.
    entries: Vec<Entry>,
    /// Retired segments whose files are not removed yet.
    retired: Vec<Retired>,
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

    /// The stems of the segments this process holds, retired ones not removed yet included.
    pub(crate) fn held_stems(&self) -> HashSet<Stem> {
        (self.entries.iter().map(|e| &e.seg))
            .chain(self.retired.iter().map(|r| &r.seg))
            .map(|seg| seg.stem.clone())
            .collect()
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

    /// Takes entry `i` out and queues its files for [`Shared::remove_retired`].
    fn retire(&mut self, i: usize, shared: &Shared) {
        let e = self.entries.remove(i);
        shared
            .held_bytes
            .fetch_sub(e.seg.written(), Ordering::Relaxed);
        self.retired.push(Retired {
            seg: e.seg,
            ack_file: e.ack_file,
            damaged: e.damaged,
        });
    }

    /// Full policy `DropOldest`: retires the oldest held segment other than `keep`,
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

    /// The counters, and the segments whose oldest record not acknowledged is not handed
    /// out yet, with its offset (its time is read from the file, outside the lock).
    fn stats(&self, shared: &Shared) -> (SpoolStats, Vec<(Arc<Segment>, u64)>) {
        let mut unread = Vec::new();
        let mut oldest = None::<i64>;
        for e in &self.entries {
            match e.progress.oldest_pending() {
                Some(t) => oldest = Some(oldest.map_or(t, |o| o.min(t))),
                None if e.unread() => unread.push((Arc::clone(&e.seg), e.read_pos)),
                None => {}
            }
        }
        let stats = SpoolStats {
            records: self
                .entries
                .iter()
                .map(|e| e.seg.end_seq().saturating_sub(e.progress.acked().next_seq))
                .sum(),
            bytes: shared.used_bytes(),
            segments: self.entries.len(),
            dropped_records: shared.dropped.load(Ordering::Relaxed),
            memory_records: shared.memory_records.load(Ordering::Relaxed),
            memory_lost: shared.memory_lost.load(Ordering::Relaxed),
            damaged_files: self.tally.damaged_files,
            torn_tails: self.tally.torn_tails,
            skipped_bytes: self.tally.skipped_bytes,
            oldest_received_at_us: oldest,
        };
        (stats, unread)
    }
}

/// What the writer, the reader and the background thread of one open spool share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub opts: SpoolOptions,
    state: Mutex<State>,
    /// Wakes the reader: records worth a batch appended ([`Shared::appended`]), a segment
    /// sealed or adopted, the writer closed.
    pub notify: Notify,
    /// Where the reader wants to be woken in the writer's segment: once it ends at this
    /// seq or this byte offset ([`Shared::wake_reader_at`]). `u64::MAX`: not waiting.
    wake_at_seq: AtomicU64,
    wake_at_byte: AtomicU64,
    /// Wakes whoever says the spool's events ([`Tally::event`]).
    pub news: Arc<Notify>,
    /// Bytes of the segments this process holds.
    pub held_bytes: AtomicU64,
    /// Bytes of other processes' segments as of the last scan.
    pub others_bytes: AtomicU64,
    /// Records lost to the full policy.
    pub dropped: AtomicU64,
    /// Lines the writer could not write to disk, held for the reader ([`MemoryLane`]).
    pub memory: Mutex<MemoryLane>,
    /// Records of the memory lane not yet acknowledged (held, or handed out).
    pub memory_records: AtomicU64,
    /// Records of the memory lane never acknowledged: the process stopped first.
    pub memory_lost: AtomicU64,
    /// A segment was created since the directory was last fsynced.
    pub dir_dirty: AtomicBool,
    /// Which orphans are taken over (changed by [`Shared::set_adopt`]).
    adopt: Mutex<Adopt>,
    /// Opened to send only (no writer, no background thread): cleans nothing up and
    /// reports nothing about segments it leaves alone.
    pub sends_only: bool,
    /// What the scans learnt about the segments they leave alone (taken by the scan only).
    pub scan_memo: Mutex<ScanMemo>,
    /// Wakes the background thread (segments to remove); dropped with the last user, which
    /// stops it. `None` without a background thread (opened to send only).
    wake: Option<mpsc::Sender<()>>,
}

impl Shared {
    pub(crate) fn new(opts: SpoolOptions, adopt: Adopt, wake: Option<mpsc::Sender<()>>) -> Shared {
        let news = Arc::new(Notify::new());
        Shared {
            dir: opts.dir.clone(),
            opts,
            state: Mutex::new(State {
                entries: Vec::new(),
                retired: Vec::new(),
                writer_closed: false,
                tally: Tally::new(Arc::clone(&news)),
            }),
            notify: Notify::new(),
            wake_at_seq: AtomicU64::new(0),
            wake_at_byte: AtomicU64::new(0),
            news,
            held_bytes: AtomicU64::new(0),
            others_bytes: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            memory: Mutex::new(MemoryLane::default()),
            memory_records: AtomicU64::new(0),
            memory_lost: AtomicU64::new(0),
            dir_dirty: AtomicBool::new(false),
            adopt: Mutex::new(adopt),
            sends_only: wake.is_none(),
            scan_memo: Mutex::new(ScanMemo::default()),
            wake,
        }
    }

    /// Whether orphans with this header are taken over.
    pub(crate) fn adopts(&self, info: &SegmentInfo) -> bool {
        self.adopt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .takes(info)
    }

    /// Takes over what `adopt` takes from the next scan on, the segments left alone so far
    /// included.
    pub(crate) fn set_adopt(&self, adopt: Adopt) {
        *self.adopt.lock().unwrap_or_else(PoisonError::into_inner) = adopt;
        self.scan_memo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .forget();
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn used_bytes(&self) -> u64 {
        self.held_bytes.load(Ordering::Relaxed) + self.others_bytes.load(Ordering::Relaxed)
    }

    /// The writer's segment now ends at seq `end_seq`, byte `written`: wakes the reader if
    /// it asked to be woken there. So the reader is woken once per batch, not per line.
    pub(crate) fn appended(&self, end_seq: u64, written: u64) {
        // Pairs with the fence in `wake_reader_at`: either the reader sees the records
        // just published, or this sees where it wants to be woken.
        fence(Ordering::SeqCst);
        if end_seq >= self.wake_at_seq.load(Ordering::SeqCst)
            || written >= self.wake_at_byte.load(Ordering::SeqCst)
        {
            self.wake_at_seq.store(u64::MAX, Ordering::SeqCst);
            self.wake_at_byte.store(u64::MAX, Ordering::SeqCst);
            self.notify.notify_one();
        }
    }

    /// The reader is about to wait: wake it once the writer's segment ends at or past seq
    /// `end_seq` or byte `end_byte` (`0, 0`: at the next append). The reader must look at
    /// the segment again after this, before it waits.
    pub(crate) fn wake_reader_at(&self, end_seq: u64, end_byte: u64) {
        self.wake_at_seq.store(end_seq, Ordering::SeqCst);
        self.wake_at_byte.store(end_byte, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Holds what fits of `lines` of `ctx` in the memory lane (the spool cannot be
    /// written), wakes the reader, and returns how many.
    pub(crate) fn hold_in_memory(&self, ctx: &StreamContext, lines: &[LineToHold<'_>]) -> usize {
        let max = usize::try_from(self.opts.memory_max_bytes).unwrap_or(usize::MAX);
        let held = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hold(ctx, lines, max, || {
                getrandom::u64().unwrap_or_else(|_| clock::now_us().unsigned_abs())
            });
        if held > 0 {
            self.memory_records
                .fetch_add(held as u64, Ordering::Relaxed);
            self.notify.notify_one();
        }
        held
    }

    /// Something was written and not fdatasynced yet (a segment, or the directory).
    pub(crate) fn unsynced(&self) -> bool {
        self.dir_dirty.load(Ordering::Relaxed)
            || self
                .lock()
                .segments()
                .iter()
                .any(|seg| seg.dirty.load(Ordering::Relaxed))
    }

    /// Wakes the background thread: retired segments to remove, or a first write since
    /// the last sync.
    pub(crate) fn wake(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.send(());
        }
    }

    /// Removes the files of retired segments (renamed aside first if damaged), outside the
    /// state lock.
    pub(crate) fn remove_retired(&self) {
        let retired = std::mem::take(&mut self.lock().retired);
        if retired.is_empty() {
            return;
        }
        let mut events = Vec::new();
        let mut set_aside = 0;
        for r in &retired {
            let path = &r.seg.path;
            if r.damaged {
                match dir::set_aside(path) {
                    Ok(to) => {
                        set_aside += 1;
                        events.push(SpoolEvent::SetAside {
                            from: path.clone(),
                            to,
                        });
                    }
                    Err(err) => events.push(SpoolEvent::Error {
                        what: format!("cannot set aside {}: {err}", path.display()),
                    }),
                }
            }
            // The segment first, so a sidecar never outlives knowledge of what it belongs to
            // for long (a leftover one is removed by the scan).
            if let Err(err) = dir::remove_file(path).and_then(|()| r.ack_file.remove()) {
                events.push(SpoolEvent::Error {
                    what: format!("cannot remove {}: {err}", path.display()),
                });
            }
        }
        let mut st = self.lock();
        st.tally.damaged_files += set_aside;
        for e in events {
            st.tally.event(e);
        }
        drop(st);
        // Only now, with the files gone, are their locks released.
        drop(retired);
    }

    /// The counters (see [`SpoolStats`]).
    pub(crate) fn stats(&self) -> SpoolStats {
        let (mut stats, unread) = self.lock().stats(self);
        for (seg, pos) in unread {
            if let Ok(Some(h)) = segment::header_at(&seg.file, pos, seg.written()) {
                let t = h.received_at_us;
                stats.oldest_received_at_us =
                    Some(stats.oldest_received_at_us.map_or(t, |o| o.min(t)));
            }
        }
        stats
    }
}
