//! The memory lane: lines the writer could not write to disk (ENOSPC, EIO, EDQUOT, a
//! read-only remount), held in memory, up to `SpoolOptions::memory_max_bytes` of line bytes,
//! for the reader to hand out before anything on disk. They are as good as spooled while
//! the process lives, and lost if it dies (the stderr line says so when it starts).
//!
//! They get a stream id of their own, drawn when the lane is first used for a stream
//! context, and seqs from 0, so their record ids never collide with a segment's. Batches
//! of the lane carry [`MEMORY_SEGMENT`] in their ticket: acknowledging one forgets it, and
//! abandoning one (the process stops before Pub/Sub took it) counts its records as lost.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use super::segment::{Limits, SpooledRecord};
use super::{SegmentInfo, StreamContext};

/// The segment id of batches of the memory lane (real segments count from 1).
pub(crate) const MEMORY_SEGMENT: u64 = 0;

/// One held line.
#[derive(Debug)]
struct Held {
    seq: u64,
    received_at_us: i64,
    truncated: bool,
    /// Its bytes in the lane's buffer.
    range: Range<usize>,
}

/// Lines held in memory, oldest first; every line of one stream context.
#[derive(Debug, Default)]
pub(crate) struct MemoryLane {
    /// What the held lines are (and the context it was made for).
    stream: Option<(StreamContext, Arc<SegmentInfo>)>,
    next_seq: u64,
    lines: VecDeque<Held>,
    /// The held lines' bytes, back to back; `start` is where the oldest begins.
    buf: Vec<u8>,
    start: usize,
}

/// A line to hold: its bytes, when it was read, whether it was cut.
pub(crate) type LineToHold<'a> = (&'a [u8], i64, bool);

impl MemoryLane {
    /// Line bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Holds a prefix of `lines` of `ctx` that fits in `max_bytes` (all lines held
    /// included); returns how many. Lines of another context than the held ones are held
    /// only once the lane is empty (a reload while the disk fails: rare, and the lane then
    /// drains within a batch or two).
    pub(crate) fn hold(
        &mut self,
        ctx: &StreamContext,
        lines: &[LineToHold<'_>],
        max_bytes: usize,
        new_stream: impl FnOnce() -> u64,
    ) -> usize {
        let same = self.stream.as_ref().is_some_and(|(held, _)| held == ctx);
        if !same {
            if !self.lines.is_empty() {
                return 0;
            }
            let info = SegmentInfo::of(ctx, new_stream(), crate::clock::now_us());
            self.stream = Some((ctx.clone(), Arc::new(info)));
            self.next_seq = 0;
        }
        if self.lines.is_empty() {
            self.buf.clear();
            self.start = 0;
        }
        let mut held = 0;
        for &(bytes, received_at_us, truncated) in lines {
            if self.bytes() + bytes.len() > max_bytes {
                break;
            }
            let begin = self.buf.len();
            self.buf.extend_from_slice(bytes);
            self.lines.push_back(Held {
                seq: self.next_seq,
                received_at_us,
                truncated,
                range: begin..self.buf.len(),
            });
            self.next_seq += 1;
            held += 1;
        }
        held
    }

    /// Takes the oldest lines, within `limits` (at least one), as a batch's parts: the
    /// stream, the records and their bytes.
    pub(crate) fn take(
        &mut self,
        limits: Limits,
    ) -> Option<(Arc<SegmentInfo>, Vec<SpooledRecord>, Vec<u8>)> {
        let info = Arc::clone(&self.stream.as_ref()?.1);
        let mut records = Vec::new();
        let mut data = Vec::new();
        while let Some(line) = self.lines.front() {
            let len = line.range.len();
            if !records.is_empty()
                && (records.len() >= limits.max_records || data.len() + len > limits.max_bytes)
            {
                break;
            }
            let begin = data.len();
            data.extend_from_slice(&self.buf[line.range.clone()]);
            records.push(SpooledRecord {
                seq: line.seq,
                received_at_us: line.received_at_us,
                truncated: line.truncated,
                range: begin..data.len(),
            });
            self.start = line.range.end;
            self.lines.pop_front();
        }
        if self.lines.is_empty() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            let shift = self.start;
            for line in &mut self.lines {
                line.range = line.range.start - shift..line.range.end - shift;
            }
            self.start = 0;
        }
        (!records.is_empty()).then_some((info, records, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::StreamKind;

    fn ctx(format: &str) -> StreamContext {
        StreamContext {
            kind: StreamKind::AccessLog,
            format: format.into(),
            host: "web-1".into(),
            destination: None,
        }
    }

    const ALL: Limits = Limits {
        max_records: 1000,
        max_bytes: 1 << 20,
    };

    #[test]
    fn lines_are_held_up_to_the_bound_and_taken_oldest_first_with_their_own_seqs() {
        let mut lane = MemoryLane::default();
        let lines: Vec<LineToHold<'_>> = vec![(b"one", 1, false), (b"two", 2, true)];
        assert_eq!(lane.hold(&ctx("combined"), &lines, 8, || 7), 2);
        assert_eq!(
            lane.hold(&ctx("combined"), &[(b"three", 3, false)], 8, || 8),
            0
        );
        assert_eq!(lane.bytes(), 6);
        let (info, records, data) = lane.take(ALL).unwrap();
        assert_eq!(info.stream, 7);
        assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1]);
        assert!(records[1].truncated);
        assert_eq!(&data[records[1].range.clone()], b"two");
        assert_eq!(lane.bytes(), 0);
        assert_eq!(
            lane.hold(&ctx("combined"), &[(b"three", 3, false)], 8, || 9),
            1
        );
        let (info, records, _) = lane.take(ALL).unwrap();
        assert_eq!(
            (info.stream, records[0].seq),
            (7, 2),
            "same stream, next seq"
        );
    }

    #[test]
    fn a_take_stops_at_the_limits_and_the_rest_stays_in_order() {
        let mut lane = MemoryLane::default();
        let lines: Vec<Vec<u8>> = (0..10).map(|i| format!("line {i}").into_bytes()).collect();
        let holds: Vec<LineToHold<'_>> = lines.iter().map(|l| (&l[..], 0, false)).collect();
        assert_eq!(lane.hold(&ctx("common"), &holds, 1 << 20, || 1), 10);
        let limits = Limits {
            max_records: 4,
            max_bytes: 1 << 20,
        };
        let mut seen = Vec::new();
        while let Some((_, records, data)) = lane.take(limits) {
            assert!(records.len() <= 4);
            seen.extend(records.iter().map(|r| data[r.range.clone()].to_vec()));
        }
        assert_eq!(seen, lines);
    }

    #[test]
    fn another_context_waits_until_the_lane_is_empty() {
        let mut lane = MemoryLane::default();
        assert_eq!(lane.hold(&ctx("common"), &[(b"a", 0, false)], 100, || 1), 1);
        assert_eq!(
            lane.hold(&ctx("combined"), &[(b"b", 0, false)], 100, || 2),
            0
        );
        lane.take(ALL).unwrap();
        assert_eq!(
            lane.hold(&ctx("combined"), &[(b"b", 0, false)], 100, || 2),
            1
        );
        assert_eq!(lane.take(ALL).unwrap().0.format, "combined");
    }
}
