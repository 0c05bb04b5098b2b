//! Segment file framing: the header at the start of a segment, the record frames after it,
//! and the scans that read them back (a clean run of records, resync past damage, the last
//! record of a file). The byte layout is documented in the module doc of `spool`.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use memchr::memmem;

/// First 8 bytes of every segment file.
const SEGMENT_MAGIC: [u8; 8] = *b"ALPSPOOL";
const FORMAT_VERSION: u16 = 1;
/// Bytes of the segment header before the two strings.
const FIXED_HEADER_LEN: usize = 40;
/// Longest `format` or `host` string a header may carry.
const MAX_HEADER_STRING: usize = 1 << 20;

/// First 4 bytes of every record frame (not ASCII, so rare in log lines).
const RECORD_MAGIC: [u8; 4] = [0xA7, 0x5C, 0x0D, 0x1E];
/// Bytes of a record frame before its line.
pub(crate) const RECORD_HEADER_LEN: usize = 32;
/// Longest line a record holds; longer lines are cut and marked truncated.
pub(crate) const MAX_LINE_LEN: usize = (1 << 24) - 1;
const LEN_MASK: u32 = (1 << 24) - 1;
const FLAG_TRUNCATED: u32 = 1 << 24;
const FLAG_FRAGMENT: u32 = 1 << 25;

/// Bytes read per window when scanning for the next record past damage.
const RESYNC_WINDOW: usize = 256 * 1024;
/// First window read from the end of a file to find its last record.
const TAIL_WINDOW: u64 = 64 * 1024;

/// The parse context a segment's lines share, as stored in its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub stream: u64,
    pub created_us: i64,
    pub format: String,
    pub host: String,
}

impl SegmentHeader {
    /// The header bytes; records start right after them.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let format = clip_str(&self.format);
        let host = clip_str(&self.host);
        let header_len = FIXED_HEADER_LEN + format.len() + host.len() + 4;
        let mut out = Vec::with_capacity(header_len);
        out.extend_from_slice(&SEGMENT_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&len_u32(header_len).to_le_bytes());
        out.extend_from_slice(&self.stream.to_le_bytes());
        out.extend_from_slice(&self.created_us.to_le_bytes());
        out.extend_from_slice(&len_u32(format.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(host.len()).to_le_bytes());
        out.extend_from_slice(format.as_bytes());
        out.extend_from_slice(host.as_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads and checks the header of a file `len` bytes long: the header and its length,
    /// or `None` when it is missing or damaged.
    pub(crate) fn read(file: &File, len: u64) -> io::Result<Option<(SegmentHeader, u64)>> {
        if len < (FIXED_HEADER_LEN + 4) as u64 {
            return Ok(None);
        }
        let mut fixed = [0u8; FIXED_HEADER_LEN];
        file.read_exact_at(&mut fixed, 0)?;
        if fixed[..8] != SEGMENT_MAGIC || u16_at(&fixed, 8) != FORMAT_VERSION {
            return Ok(None);
        }
        let header_len = u32_at(&fixed, 12) as usize;
        let format_len = u32_at(&fixed, 32) as usize;
        let host_len = u32_at(&fixed, 36) as usize;
        if format_len > MAX_HEADER_STRING
            || host_len > MAX_HEADER_STRING
            || header_len != FIXED_HEADER_LEN + format_len + host_len + 4
            || header_len as u64 > len
        {
            return Ok(None);
        }
        let mut all = vec![0u8; header_len];
        file.read_exact_at(&mut all, 0)?;
        let body = header_len - 4;
        if crc32c::crc32c(&all[..body]) != u32_at(&all, body) {
            return Ok(None);
        }
        let strings = &all[FIXED_HEADER_LEN..body];
        let (format, host) = strings.split_at(format_len);
        let header = SegmentHeader {
            stream: u64_at(&all, 16),
            created_us: i64::from_le_bytes(array_at(&all, 24)),
            format: String::from_utf8_lossy(format).into_owned(),
            host: String::from_utf8_lossy(host).into_owned(),
        };
        Ok(Some((header, header_len as u64)))
    }
}

/// What a record frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A whole line.
    Line,
    /// A line cut because it was too long.
    Truncated,
    /// The start of a line whose newline had not been read yet (see the module doc of
    /// `spool`): delivered only if its process died before the line was complete.
    Fragment,
}

/// Appends one record frame for `line` (at most [`MAX_LINE_LEN`] bytes) to `out`.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    seq: u64,
    received_at_us: i64,
    kind: Kind,
    line: &[u8],
) {
    let start = out.len();
    let flags = match kind {
        Kind::Line => 0,
        Kind::Truncated => FLAG_TRUNCATED,
        Kind::Fragment => FLAG_FRAGMENT,
    };
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&((len_u32(line.len()) & LEN_MASK) | flags).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&received_at_us.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(line).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(line);
}

/// The fixed part of a record frame, checked (magic, header CRC, flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub len: usize,
    pub seq: u64,
    pub received_at_us: i64,
    /// Cut: too long, or a fragment whose line never ended.
    pub truncated: bool,
    data_crc: u32,
}

impl RecordHeader {
    /// Decodes the first [`RECORD_HEADER_LEN`] bytes of `b`, or `None` if they are not a
    /// valid record header.
    pub(crate) fn decode(b: &[u8]) -> Option<RecordHeader> {
        let b = b.get(..RECORD_HEADER_LEN)?;
        if b[..4] != RECORD_MAGIC || crc32c::crc32c(&b[..28]) != u32_at(b, 28) {
            return None;
        }
        let len_flags = u32_at(b, 4);
        let flags = len_flags & !LEN_MASK;
        if flags & !(FLAG_TRUNCATED | FLAG_FRAGMENT) != 0 || flags == FLAG_TRUNCATED | FLAG_FRAGMENT
        {
            return None;
        }
        Some(RecordHeader {
            len: (len_flags & LEN_MASK) as usize,
            seq: u64_at(b, 8),
            received_at_us: i64::from_le_bytes(array_at(b, 16)),
            truncated: flags != 0,
            data_crc: u32_at(b, 24),
        })
    }

    /// Bytes of the whole frame.
    pub(crate) fn frame_len(&self) -> usize {
        RECORD_HEADER_LEN + self.len
    }

    fn data_ok(&self, line: &[u8]) -> bool {
        crc32c::crc32c(line) == self.data_crc
    }
}

/// One record as handed out: its identity within the segment and where its line is in the
/// batch's `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledRecord {
    /// Index of the record in its segment (0, 1, 2, ...).
    pub seq: u64,
    /// When the line was read, in microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The line was cut: it was too long, or it is the start of a line its process read
    /// but did not live to see the end of.
    pub truncated: bool,
    /// The line's bytes in `Batch::data`.
    pub range: Range<usize>,
}

/// How much one read may return.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_records: usize,
    pub max_bytes: usize,
}

/// Valid records read from one place in a file, in order.
#[derive(Debug)]
pub(crate) struct Run {
    /// The frames read, from the start offset to `end`.
    pub data: Vec<u8>,
    pub records: Vec<SpooledRecord>,
    /// File offset right after the last record of the run.
    pub end: u64,
}

/// Reads the valid records that start at `start`, never past `end`, `chunk` bytes at a
/// time (so it reads at most one chunk beyond what the limits let it return). The run
/// stops before the first frame that is invalid or incomplete, so an empty run with
/// `start < end` means the bytes at `start` are damaged (see [`resync`]).
pub(crate) fn read_run(
    file: &File,
    start: u64,
    end: u64,
    limits: Limits,
    chunk: usize,
) -> io::Result<Run> {
    let mut buf = Buffer {
        file,
        start,
        available: usize::try_from(end.saturating_sub(start)).unwrap_or(usize::MAX),
        chunk: chunk.max(RECORD_HEADER_LEN),
        data: Vec::new(),
    };
    let mut records = Vec::new();
    let mut line_bytes = 0usize;
    let mut at = 0usize;
    while records.len() < limits.max_records.max(1) {
        if !buf.fill(at + RECORD_HEADER_LEN)? {
            break;
        }
        let Some(header) = RecordHeader::decode(&buf.data[at..]) else {
            break;
        };
        let frame_end = at + header.frame_len();
        if (!records.is_empty() && line_bytes + header.len > limits.max_bytes)
            || !buf.fill(frame_end)?
        {
            break;
        }
        let line = at + RECORD_HEADER_LEN..frame_end;
        if !header.data_ok(&buf.data[line.clone()]) {
            break;
        }
        records.push(SpooledRecord {
            seq: header.seq,
            received_at_us: header.received_at_us,
            truncated: header.truncated,
            range: line,
        });
        line_bytes += header.len;
        at = frame_end;
    }
    let mut data = buf.data;
    data.truncate(at);
    Ok(Run {
        data,
        records,
        end: start + at as u64,
    })
}

/// The bytes of a file from `start`, read on demand.
struct Buffer<'f> {
    file: &'f File,
    start: u64,
    /// Bytes between `start` and the end of what may be read.
    available: usize,
    chunk: usize,
    data: Vec<u8>,
}

impl Buffer<'_> {
    /// Makes the first `need` bytes available; false if the file does not have them.
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        if need <= self.data.len() {
            return Ok(true);
        }
        if need > self.available {
            return Ok(false);
        }
        let have = self.data.len();
        let target = need.max(have + self.chunk).min(self.available);
        self.data.resize(target, 0);
        self.file
            .read_exact_at(&mut self.data[have..], self.start + have as u64)?;
        Ok(true)
    }
}

/// The offset of the first whole valid record after `from` and before `end`, or `end` if
/// there is none: where reading resumes past damage.
pub(crate) fn resync(file: &File, from: u64, end: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; RESYNC_WINDOW];
    let mut pos = from + 1;
    while pos + RECORD_HEADER_LEN as u64 <= end {
        let n = usize::try_from(end - pos).map_or(RESYNC_WINDOW, |n| n.min(RESYNC_WINDOW));
        file.read_exact_at(&mut buf[..n], pos)?;
        for i in memmem::find_iter(&buf[..n], &RECORD_MAGIC) {
            if record_at(file, pos + i as u64, end)?.is_some() {
                return Ok(pos + i as u64);
            }
        }
        if pos + n as u64 >= end {
            break;
        }
        // Overlap by less than a magic so one cut by the window edge is still found.
        pos += (n - (RECORD_MAGIC.len() - 1)) as u64;
    }
    Ok(end)
}

/// The header of the frame at `offset` if it is valid and ends by `end` (line not checked).
pub(crate) fn header_at(file: &File, offset: u64, end: u64) -> io::Result<Option<RecordHeader>> {
    if offset + RECORD_HEADER_LEN as u64 > end {
        return Ok(None);
    }
    let mut b = [0u8; RECORD_HEADER_LEN];
    file.read_exact_at(&mut b, offset)?;
    Ok(RecordHeader::decode(&b).filter(|h| offset + h.frame_len() as u64 <= end))
}

/// The header of the record at `offset` if the whole frame is valid and ends by `end`.
fn record_at(file: &File, offset: u64, end: u64) -> io::Result<Option<RecordHeader>> {
    let Some(header) = header_at(file, offset, end)? else {
        return Ok(None);
    };
    let mut line = vec![0u8; header.len];
    file.read_exact_at(&mut line, offset + RECORD_HEADER_LEN as u64)?;
    Ok(header.data_ok(&line).then_some(header))
}

/// The last whole valid record between `start` and `end`, found by scanning backwards from
/// the end in growing windows (a torn tail is passed over).
pub(crate) fn last_record(file: &File, start: u64, end: u64) -> io::Result<Option<RecordHeader>> {
    let mut window = TAIL_WINDOW;
    loop {
        let lo = end.saturating_sub(window).max(start);
        let mut buf = vec![0u8; usize::try_from(end - lo).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut buf, lo)?;
        let candidates: Vec<usize> = memmem::find_iter(&buf, &RECORD_MAGIC).collect();
        for &i in candidates.iter().rev() {
            if let Some(header) = record_at(file, lo + i as u64, end)? {
                return Ok(Some(header));
            }
        }
        if lo == start {
            return Ok(None);
        }
        window = window.saturating_mul(4);
    }
}

/// `s` cut to at most [`MAX_HEADER_STRING`] bytes, on a character boundary.
fn clip_str(s: &str) -> &str {
    let mut n = s.len().min(MAX_HEADER_STRING);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn array_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(array_at(b, at))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array_at(b, at))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array_at(b, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    const ALL: Limits = Limits {
        max_records: usize::MAX,
        max_bytes: usize::MAX,
    };

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    /// Every valid record of the file, walking past damage like the reader does.
    fn walk(file: &File, end: u64) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < end {
            let run = read_run(file, pos, end, ALL, 4096).unwrap();
            if run.records.is_empty() {
                pos = resync(file, pos, end).unwrap();
                continue;
            }
            for r in &run.records {
                out.push((r.seq, run.data[r.range.clone()].to_vec()));
            }
            pos = run.end;
        }
        out
    }

    #[test]
    fn header_round_trip_and_damage() {
        let header = SegmentHeader {
            stream: 0x0123_4567_89ab_cdef,
            created_us: 1_700_000_000_000_000,
            format: "%h %l %u %t \"%r\" %>s %b".into(),
            host: "wéb1".into(),
        };
        let bytes = header.encode();
        let f = file_with(&bytes);
        let (read, len) = SegmentHeader::read(&f, bytes.len() as u64)
            .unwrap()
            .unwrap();
        assert_eq!(read, header);
        assert_eq!(len, bytes.len() as u64);
        for i in [0, 9, 13, 20, 41, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let f = file_with(&bad);
            assert_eq!(
                SegmentHeader::read(&f, bad.len() as u64).unwrap(),
                None,
                "byte {i}"
            );
        }
        assert_eq!(SegmentHeader::read(&file_with(b""), 0).unwrap(), None);
    }

    #[test]
    fn run_respects_limits_and_big_first_record() {
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 0, 5, Kind::Line, &[b'x'; 10_000]);
        encode_record(&mut bytes, 1, 6, Kind::Truncated, b"short");
        encode_record(&mut bytes, 2, 7, Kind::Fragment, b"third");
        let f = file_with(&bytes);
        let end = bytes.len() as u64;
        let small = Limits {
            max_records: usize::MAX,
            max_bytes: 100,
        };
        let run = read_run(&f, 0, end, small, 64).unwrap();
        assert_eq!(
            run.records.len(),
            1,
            "a first record over the limits comes alone"
        );
        assert_eq!(run.records[0].range.len(), 10_000);
        let one = Limits {
            max_records: 1,
            max_bytes: usize::MAX,
        };
        let run2 = read_run(&f, run.end, end, one, 64).unwrap();
        assert_eq!(run2.records.len(), 1);
        assert!(run2.records[0].truncated);
        assert_eq!(&run2.data[run2.records[0].range.clone()], b"short");
        let run3 = read_run(&f, run2.end, end, ALL, 64).unwrap();
        assert_eq!(run3.records[0].seq, 2);
        assert!(run3.records[0].truncated, "a fragment comes out cut");
        assert_eq!(run3.end, end);
        let all = read_run(&f, 0, end, ALL, 64).unwrap();
        assert_eq!(all.records.len(), 3, "reads on chunk by chunk");
        assert_eq!(read_run(&f, 0, end - 1, ALL, 64).unwrap().records.len(), 2);
        assert_eq!(last_record(&f, 0, end).unwrap().map(|h| h.seq), Some(2));
        assert_eq!(last_record(&f, 0, end - 1).unwrap().map(|h| h.seq), Some(1));
    }

    proptest! {
        #[test]
        fn resync_recovers_every_untouched_record(
            lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 1..40),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        ) {
            let mut bytes = Vec::new();
            let mut spans = Vec::new();
            for (seq, line) in lines.iter().enumerate() {
                let start = bytes.len();
                encode_record(&mut bytes, seq as u64, seq as i64, Kind::Line, line);
                spans.push(start..bytes.len());
            }
            let mut hit = vec![false; lines.len()];
            for (index, mask) in &flips {
                let i = index.index(bytes.len());
                bytes[i] ^= mask;
                hit[spans.iter().position(|s| s.contains(&i)).unwrap()] = true;
            }
            let f = file_with(&bytes);
            let got = walk(&f, bytes.len() as u64);
            let want: Vec<(u64, Vec<u8>)> = lines.iter().enumerate()
                .filter(|(i, _)| !hit[*i])
                .map(|(i, l)| (i as u64, l.clone()))
                .collect();
            // Every untouched record is found, and damage creates none.
            prop_assert_eq!(got, want);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let f = file_with(&bytes);
            let end = bytes.len() as u64;
            let _ = SegmentHeader::read(&f, end).unwrap();
            let _ = walk(&f, end);
            let _ = last_record(&f, 0, end).unwrap();
        }
    }
}
