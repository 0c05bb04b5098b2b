//! The consuming side: hands out batches of records, oldest segment first, reading ahead
//! in bounded chunks; takes acknowledgements and retires segments once done.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::SegmentInfo;
use super::SpoolError;
use super::ack::{AckCursor, AckFile};
use super::memory::MEMORY_SEGMENT;
use super::segment::{self, Limits, Run, SpooledRecord, is_torn_tail};
use super::state::{Pick, Segment, Shared};
use super::stats::{SpoolEvent, SpoolStats};
use crate::clock;

/// Bytes read from a segment at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Records handed out together, all from one segment.
#[derive(Debug)]
pub struct Batch {
    /// The segment's parse context and stream id.
    pub stream: Arc<SegmentInfo>,
    /// The records, in order.
    pub records: Vec<SpooledRecord>,
    /// The bytes read (record frames); `records[i].range` is line `i` in it.
    pub data: Vec<u8>,
    /// Give it back to [`SpoolReader::ack`] once Pub/Sub acknowledged every record.
    pub ticket: AckTicket,
}

impl Batch {
    /// The bytes of line `i`.
    pub fn line(&self, i: usize) -> &[u8] {
        &self.data[self.records[i].range.clone()]
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Proof that a batch was handed out; consumed by [`SpoolReader::ack`].
#[derive(Debug, PartialEq, Eq)]
pub struct AckTicket {
    segment: u64,
    /// The batch's number in its segment; in the memory lane its record count.
    batch: u64,
}

/// Hands out spooled records; used from one tokio task.
///
/// Reads are `pread`s from the page cache, done inline (they do not wait for input; the
/// wait for new records is asynchronous).
#[derive(Debug)]
pub struct SpoolReader {
    shared: Arc<Shared>,
    /// The batch being held for more records (segment id, its first byte) and until when.
    holding: Option<(u64, u64, tokio::time::Instant)>,
}

/// Reads a spool's counters from another task or thread (the metrics), while its
/// [`SpoolReader`] publishes.
#[derive(Debug, Clone)]
pub struct SpoolProbe {
    shared: Arc<Shared>,
}

impl SpoolProbe {
    pub fn stats(&self) -> SpoolStats {
        self.shared.stats()
    }
}

enum Step {
    Batch(Batch),
    Again,
    /// Nothing to hand out: wait for the writer.
    Wait,
    /// A batch is filling in the writer's segment: wait for it to fill, or until then.
    Hold(tokio::time::Instant),
    Done,
}

impl SpoolReader {
    pub(crate) fn new(shared: Arc<Shared>) -> SpoolReader {
        SpoolReader {
            shared,
            holding: None,
        }
    }

    /// Waits until records are available, then returns at most `max_records` records and
    /// about `max_bytes` of line bytes (at least one record), from one segment, oldest
    /// segment first. `Ok(None)` once the writer is closed and every record has been
    /// handed out. Batches handed out are never handed out again by this process.
    ///
    /// Cancel safe (may be a `tokio::select!` branch): a batch is taken from the spool
    /// only in the poll that returns it.
    pub async fn next_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Option<Batch>, SpoolError> {
        self.next(max_records, max_bytes, None).await
    }

    /// [`next_batch`](Self::next_batch), but records the writer is still adding to are
    /// handed out only as a full batch (`max_records` records or `max_bytes`), or once the
    /// oldest of them was read `max_delay` ago. The writer wakes this only then, so a
    /// line-at-a-time input costs a wake-up per batch, not per line. Records of sealed and
    /// adopted segments (a backlog) go at once.
    pub async fn next_due_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        max_delay: Duration,
    ) -> Result<Option<Batch>, SpoolError> {
        self.next(max_records, max_bytes, Some(max_delay)).await
    }

    async fn next(
        &mut self,
        max_records: usize,
        max_bytes: usize,
        max_delay: Option<Duration>,
    ) -> Result<Option<Batch>, SpoolError> {
        let limits = Limits {
            max_records: max_records.max(1),
            max_bytes,
        };
        loop {
            match self.step(limits, max_delay) {
                Step::Batch(batch) => return Ok(Some(batch)),
                Step::Done => return Ok(None),
                Step::Again => tokio::task::yield_now().await,
                Step::Wait => self.shared.notify.notified().await,
                Step::Hold(until) => {
                    tokio::select! {
                        () = self.shared.notify.notified() => {}
                        () = tokio::time::sleep_until(until) => {}
                    }
                }
            }
        }
    }

    /// Notified at each of the spool's events (see [`take_events`](Self::take_events)).
    pub fn news(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.shared.news)
    }

    /// Pub/Sub acknowledged every record of the batch. Records before the oldest batch
    /// not yet acknowledged are never sent again, even after a restart (unless the ack
    /// file cannot be written: that is reported as an event, and means duplicates later).
    pub fn ack(&mut self, ticket: AckTicket) {
        if ticket.segment == MEMORY_SEGMENT {
            self.shared
                .memory_records
                .fetch_sub(ticket.batch, Ordering::Relaxed);
            return;
        }
        let save = {
            let mut st = self.shared.lock();
            let Some(e) = st.entry_mut(ticket.segment) else {
                // Dropped by the full policy meanwhile.
                return;
            };
            if !e.progress.ack(ticket.batch) {
                return;
            }
            if e.finished() {
                st.retire_finished(&self.shared);
                None
            } else {
                Some((Arc::clone(&e.ack_file), e.progress.acked()))
            }
        };
        if let Some((file, cursor)) = save {
            self.save_ack(&file, cursor);
        }
        self.shared.remove_retired();
    }

    /// Gives up on a batch that will never be acknowledged (the process is stopping). Its
    /// records stay in the spool for the next process, unless the full policy deleted their
    /// segment since it was handed out: then they are lost, and counted as dropped; a batch
    /// of the memory lane is lost too ([`SpoolStats::memory_lost`]).
    pub fn abandon(&mut self, batch: Batch) {
        let records = batch.records.len() as u64;
        if batch.ticket.segment == MEMORY_SEGMENT {
            self.shared
                .memory_records
                .fetch_sub(records, Ordering::Relaxed);
            self.shared
                .memory_lost
                .fetch_add(records, Ordering::Relaxed);
            return;
        }
        let held = self.shared.lock().entry_mut(batch.ticket.segment).is_some();
        if !held {
            self.shared.dropped.fetch_add(records, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> SpoolStats {
        self.shared.stats()
    }

    /// [`SpoolStats::dropped_records`], without the rest of the counters.
    pub fn dropped_records(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Gives up on the lines of the memory lane not handed out yet (the process is
    /// stopping): they are lost, and counted ([`SpoolStats::memory_lost`]).
    pub fn abandon_memory(&mut self) {
        let limits = Limits {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
        };
        while let Some(batch) = self.take_memory(limits) {
            self.abandon(batch);
        }
    }

    /// A handle that reads [`SpoolReader::stats`] while the reader is busy elsewhere.
    pub fn probe(&self) -> SpoolProbe {
        SpoolProbe {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Events since the last call (damage found, files set aside or adopted, segments
    /// dropped), oldest first. At most the last 1024 are kept.
    pub fn take_events(&mut self) -> Vec<SpoolEvent> {
        self.shared.lock().tally.take_events()
    }

    fn step(&mut self, limits: Limits, max_delay: Option<Duration>) -> Step {
        if let Some(batch) = self.take_memory(limits) {
            return Step::Batch(batch);
        }
        let pick = {
            let mut st = self.shared.lock();
            st.retire_finished(&self.shared);
            st.pick()
        };
        self.shared.remove_retired();
        let (seg, pos, end) = match pick {
            Pick::Read { seg, pos, end } => (seg, pos, end),
            Pick::Wait => {
                self.shared.wake_reader_at(0, 0);
                return match self.shared.lock().pick() {
                    Pick::Wait => Step::Wait,
                    Pick::Read { .. } | Pick::Done => Step::Again,
                };
            }
            Pick::Done => return Step::Done,
        };
        match segment::read_run(&seg.file, pos, end, limits, READ_CHUNK) {
            Ok(run) if !run.records.is_empty() => {
                if let Some(step) =
                    max_delay.and_then(|d| self.hold(&seg, pos, end, &run, limits, d))
                {
                    return step;
                }
                self.hand_out(&seg, pos, run)
                    .map_or(Step::Again, Step::Batch)
            }
            Ok(_) => match segment::resync(&seg.file, pos, end) {
                Ok(next) => self.skip(&seg, pos, next, None),
                Err(e) => self.skip(&seg, pos, end, Some(e.to_string())),
            },
            Err(e) => self.skip(&seg, pos, end, Some(e.to_string())),
        }
    }

    /// Whether `run`, all the writer's segment holds from `pos` to `end`, is to wait for
    /// more: it is not a full batch and its oldest record was read less than `max_delay`
    /// ago. Then asks the writer to wake the reader when the batch is full, and says to
    /// hold until the delay is over (or to look again, if the batch filled meanwhile).
    /// The moment is worked out once per batch, from the record's age then (at most
    /// `max_delay`), so a wall clock set back holds nothing longer.
    fn hold(
        &mut self,
        seg: &Segment,
        pos: u64,
        end: u64,
        run: &Run,
        limits: Limits,
        max_delay: Duration,
    ) -> Option<Step> {
        if seg.sealed() || run.end < end || run.records.len() >= limits.max_records {
            return None;
        }
        let first = run.records.first()?;
        let now = tokio::time::Instant::now();
        let until = match self.holding {
            Some((id, at, until)) if id == seg.id && at == pos => until,
            _ => {
                let waited = clock::now_us().saturating_sub(first.received_at_us);
                let waited = Duration::from_micros(u64::try_from(waited).unwrap_or(0));
                let until = now + max_delay.saturating_sub(waited);
                self.holding = Some((seg.id, pos, until));
                until
            }
        };
        if now >= until {
            return None;
        }
        let full_seq = first.seq + limits.max_records as u64;
        let full_byte = pos.saturating_add(limits.max_bytes as u64);
        self.shared.wake_reader_at(full_seq, full_byte);
        if seg.sealed() || seg.end_seq() >= full_seq || seg.written() >= full_byte {
            return Some(Step::Again);
        }
        Some(Step::Hold(until))
    }

    /// A batch of the memory lane (lines the writer could not write), which goes before
    /// anything on disk: it is lost if the process dies.
    fn take_memory(&mut self, limits: Limits) -> Option<Batch> {
        let (stream, records, data) = self
            .shared
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(limits)?;
        Some(Batch {
            stream,
            ticket: AckTicket {
                segment: MEMORY_SEGMENT,
                batch: records.len() as u64,
            },
            records,
            data,
        })
    }

    /// Registers a run read at `pos` as a batch, unless the segment was dropped meanwhile.
    fn hand_out(&mut self, seg: &Arc<Segment>, pos: u64, run: Run) -> Option<Batch> {
        let mut st = self.shared.lock();
        let e = st.entry_mut(seg.id).filter(|e| e.read_pos == pos)?;
        let first = run.records.first()?.received_at_us;
        let next_seq = run.records.last()?.seq + 1;
        let end = AckCursor {
            offset: run.end,
            next_seq,
        };
        let batch = e.progress.hand_out(end, Some(first), false);
        e.read_pos = run.end;
        e.next_seq = next_seq;
        Some(Batch {
            stream: Arc::clone(&seg.info),
            records: run.records,
            data: run.data,
            ticket: AckTicket {
                segment: seg.id,
                batch,
            },
        })
    }

    /// Passes over unreadable bytes `pos..next` (damage, a torn tail, or a read error).
    fn skip(&mut self, seg: &Arc<Segment>, pos: u64, next: u64, error: Option<String>) -> Step {
        let save = {
            let mut st = self.shared.lock();
            let Some(e) = st.entry_mut(seg.id).filter(|e| e.read_pos == pos) else {
                return Step::Again;
            };
            let path = seg.path.clone();
            let bytes = next - pos;
            let torn =
                error.is_none() && seg.sealed() && is_torn_tail(!e.damaged, next, seg.written());
            let event = match error {
                Some(error) => SpoolEvent::ReadError { path, error },
                None if torn => SpoolEvent::TornTail {
                    path,
                    offset: pos,
                    bytes,
                },
                None => SpoolEvent::Skipped {
                    path,
                    offset: pos,
                    bytes,
                },
            };
            e.damaged |= !torn;
            e.read_pos = next;
            let before = e.progress.acked();
            let cursor = AckCursor {
                offset: next,
                next_seq: e.next_seq,
            };
            e.progress.hand_out(cursor, None, true);
            let save = (e.progress.acked() != before && !e.finished())
                .then(|| (Arc::clone(&e.ack_file), e.progress.acked()));
            st.tally.skipped_bytes += bytes;
            st.tally.torn_tails += u64::from(torn);
            st.tally.event(event);
            save
        };
        if let Some((file, cursor)) = save {
            self.save_ack(&file, cursor);
        }
        Step::Again
    }

    /// Writes a segment's ack sidecar (outside the state lock); a failure is an event.
    fn save_ack(&self, file: &AckFile, cursor: AckCursor) {
        if let Err(err) = file.write(cursor) {
            self.shared.lock().tally.event(SpoolEvent::Error {
                what: format!("cannot write {}: {err}", file.path().display()),
            });
        }
    }
}

impl Drop for SpoolReader {
    /// Removes what was retired and not removed yet.
    fn drop(&mut self) {
        self.shared.remove_retired();
    }
}
