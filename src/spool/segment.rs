//! Segment file framing: the header at the start of a segment, the record frames after it,
//! and the scans that read them back (a clean run of records, resync past damage, the last
//! record of a file). The byte layout is documented in the module doc of `spool`.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use memchr::memmem;

use super::{Route, SegmentInfo, StreamContext, StreamKind};
use crate::destination::Destination;
use std::sync::Arc;

/// First 8 bytes of every segment file.
const SEGMENT_MAGIC: [u8; 8] = *b"ALPSPOOL";
/// The header version written; version 1 (no destination) is still read.
const FORMAT_VERSION: u16 = 2;
/// Bytes of a version 1 header before its two strings.
const V1_FIXED_LEN: usize = 40;
/// Bytes of a version 2 header before its three strings.
const V2_FIXED_LEN: usize = 48;
/// Bytes every version starts with: magic, version, kind, header length.
const PREFIX_LEN: usize = 16;
/// Header flag: the lines were read while the configuration was unusable.
const FLAG_UNCONFIGURED: u32 = 1;
/// Longest `format`, `host` or destination text a header may carry.
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

/// What reading a segment's header found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Header {
    /// A valid header of a version this program reads, and the offset where records start.
    Valid(SegmentInfo, u64),
    /// Missing, cut short or damaged (bad magic, bad CRC, lengths that do not add up).
    Damaged,
    /// Intact, but of a version, kind of stream, flag or destination this program does not
    /// know (written by a newer version): why, for the operator.
    Unsupported(String),
}

/// The header of a new segment `stream` for lines of `ctx`; records start right after it.
pub(crate) fn encode_header(stream: u64, created_us: i64, ctx: &StreamContext) -> Vec<u8> {
    let format = clip_str(&ctx.format);
    let host = clip_str(&ctx.host);
    let (flags, destination) = match &ctx.destination {
        Some(d) => (0, d.to_json()),
        None => (FLAG_UNCONFIGURED, String::new()),
    };
    let header_len = V2_FIXED_LEN + format.len() + host.len() + destination.len() + 4;
    let mut out = Vec::with_capacity(header_len);
    out.extend_from_slice(&SEGMENT_MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&ctx.kind.code().to_le_bytes());
    out.extend_from_slice(&len_u32(header_len).to_le_bytes());
    out.extend_from_slice(&stream.to_le_bytes());
    out.extend_from_slice(&created_us.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    for part in [format, host, &destination] {
        out.extend_from_slice(&len_u32(part.len()).to_le_bytes());
    }
    for part in [format, host, &destination] {
        out.extend_from_slice(part.as_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads and checks the header of a segment file `len` bytes long.
pub(crate) fn read_header(file: &File, len: u64) -> io::Result<Header> {
    let max_len = V2_FIXED_LEN + 3 * MAX_HEADER_STRING + 4;
    if len < (PREFIX_LEN + 4) as u64 {
        return Ok(Header::Damaged);
    }
    let mut prefix = [0u8; PREFIX_LEN];
    file.read_exact_at(&mut prefix, 0)?;
    let header_len = u32_at(&prefix, 12) as usize;
    if prefix[..8] != SEGMENT_MAGIC
        || header_len < PREFIX_LEN + 4
        || header_len > max_len
        || header_len as u64 > len
    {
        return Ok(Header::Damaged);
    }
    let mut all = vec![0u8; header_len];
    file.read_exact_at(&mut all, 0)?;
    let body = header_len - 4;
    if crc32c::crc32c(&all[..body]) != u32_at(&all, body) {
        return Ok(Header::Damaged);
    }
    Ok(match u16_at(&all, 8) {
        1 => decode_v1(&all[..body]),
        2 => decode_v2(&all[..body]),
        v => Header::Unsupported(format!(
            "header version {v}, written by a newer version of accesslog-pubsub"
        )),
    })
}

/// The strings of lengths `lens` that follow `fixed` bytes of header `b`, if they fill it
/// exactly.
fn strings<const N: usize>(b: &[u8], fixed: usize, lens: [usize; N]) -> Option<[&[u8]; N]> {
    if lens.iter().any(|&n| n > MAX_HEADER_STRING) || b.len() != fixed + lens.iter().sum::<usize>()
    {
        return None;
    }
    let mut at = fixed;
    Some(lens.map(|n| {
        at += n;
        &b[at - n..at]
    }))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Version 1 (`b`: the header without its CRC): no kind (access log), no destination.
fn decode_v1(b: &[u8]) -> Header {
    if b.len() < V1_FIXED_LEN {
        return Header::Damaged;
    }
    let Some([format, host]) = strings(b, V1_FIXED_LEN, [32, 36].map(|at| u32_at(b, at) as usize))
    else {
        return Header::Damaged;
    };
    Header::Valid(
        SegmentInfo {
            stream: u64_at(b, 16),
            created_us: i64::from_le_bytes(array_at(b, 24)),
            kind: StreamKind::AccessLog,
            format: text(format),
            host: text(host),
            route: Route::Unrecorded,
        },
        (b.len() + 4) as u64,
    )
}

/// Version 2 (`b`: the header without its CRC): kind, flags and the destination.
fn decode_v2(b: &[u8]) -> Header {
    if b.len() < V2_FIXED_LEN {
        return Header::Damaged;
    }
    let lens = [36, 40, 44].map(|at| u32_at(b, at) as usize);
    let Some([format, host, destination]) = strings(b, V2_FIXED_LEN, lens) else {
        return Header::Damaged;
    };
    let Some(kind) = StreamKind::from_code(u16_at(b, 10)) else {
        return Header::Unsupported(format!(
            "a kind of stream this version does not know ({})",
            u16_at(b, 10)
        ));
    };
    let route = match u32_at(b, 32) {
        0 => match Destination::from_json(destination) {
            Ok(d) => Route::To(Arc::new(d)),
            Err(e) => {
                return Header::Unsupported(format!(
                    "a destination this version does not understand ({e}): {}",
                    String::from_utf8_lossy(destination)
                ));
            }
        },
        FLAG_UNCONFIGURED if destination.is_empty() => Route::Unconfigured,
        FLAG_UNCONFIGURED => return Header::Damaged,
        flags => {
            return Header::Unsupported(format!(
                "header flags this version does not know ({flags:#x})"
            ));
        }
    };
    Header::Valid(
        SegmentInfo {
            stream: u64_at(b, 16),
            created_us: i64::from_le_bytes(array_at(b, 24)),
            kind,
            format: text(format),
            host: text(host),
            route,
        },
        (b.len() + 4) as u64,
    )
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

/// Whether unreadable bytes of a segment that end at `next` are a torn tail (a crash in the
/// middle of a write, cut off and not counted as damage): they run to `end`, the end of
/// what may be read, and everything before them was intact (`clean_so_far`: good header,
/// no damage found before).
pub(crate) fn is_torn_tail(clean_so_far: bool, next: u64, end: u64) -> bool {
    clean_so_far && next == end
}

/// `s` cut to at most [`MAX_HEADER_STRING`] bytes, on a character boundary.
fn clip_str(s: &str) -> &str {
    &s[..s.floor_char_boundary(MAX_HEADER_STRING)]
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

    fn read(bytes: &[u8]) -> Header {
        read_header(&file_with(bytes), bytes.len() as u64).unwrap()
    }

    fn ctx(destination: Option<Destination>) -> StreamContext {
        StreamContext {
            kind: StreamKind::AccessLog,
            format: "%h %l %u %t \"%r\" %>s %b".into(),
            host: "wéb1".into(),
            destination,
        }
    }

    fn destination() -> Destination {
        Destination {
            project: "acme".into(),
            topic: "weblogs".into(),
            attributes: [("env".to_string(), "prod".to_string())].into(),
            attribute_fields: vec!["vhost".into()],
            ordering_key_field: None,
        }
    }

    /// A header as version 1 wrote it.
    fn v1_header(stream: u64, created_us: i64, format: &str, host: &str) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"ALPSPOOL");
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&len_u32(40 + format.len() + host.len() + 4).to_le_bytes());
        out.extend_from_slice(&stream.to_le_bytes());
        out.extend_from_slice(&created_us.to_le_bytes());
        out.extend_from_slice(&len_u32(format.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(host.len()).to_le_bytes());
        out.extend_from_slice(format.as_bytes());
        out.extend_from_slice(host.as_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn header_round_trip_and_damage() {
        let bytes = encode_header(
            0x0123_4567_89ab_cdef,
            1_700_000_000_000_000,
            &ctx(Some(destination())),
        );
        let Header::Valid(info, len) = read(&bytes) else {
            panic!("{:?}", read(&bytes));
        };
        assert_eq!(len, bytes.len() as u64);
        assert_eq!(info.stream, 0x0123_4567_89ab_cdef);
        assert_eq!(info.created_us, 1_700_000_000_000_000);
        assert_eq!(info.kind, StreamKind::AccessLog);
        assert_eq!(
            (info.format.as_str(), info.host.as_str()),
            ("%h %l %u %t \"%r\" %>s %b", "wéb1")
        );
        assert_eq!(info.route, Route::To(Arc::new(destination())));
        for i in [0, 9, 13, 20, 33, 45, 50, bytes.len() - 10, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert_eq!(read(&bad), Header::Damaged, "byte {i}");
        }
        assert_eq!(read(b""), Header::Damaged);
        assert_eq!(read(&bytes[..bytes.len() - 1]), Header::Damaged);
    }

    #[test]
    fn unconfigured_lines_are_recorded_as_such() {
        let bytes = encode_header(7, 8, &ctx(None));
        let Header::Valid(info, _) = read(&bytes) else {
            panic!("{:?}", read(&bytes));
        };
        assert_eq!(info.route, Route::Unconfigured);
    }

    #[test]
    fn version_1_headers_are_read_without_a_destination() {
        let bytes = v1_header(9, 10, "%h %b", "web1");
        let Header::Valid(info, len) = read(&bytes) else {
            panic!("{:?}", read(&bytes));
        };
        assert_eq!(len, bytes.len() as u64);
        assert_eq!((info.stream, info.created_us), (9, 10));
        assert_eq!(
            (info.format.as_str(), info.host.as_str()),
            ("%h %b", "web1")
        );
        assert_eq!(info.route, Route::Unrecorded);
    }

    /// A version 2 layout with the given fields, CRC right.
    fn raw_header(version: u16, kind: u16, flags: u32, destination: &str) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"ALPSPOOL");
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&len_u32(48 + 2 + destination.len() + 4).to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&2i64.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        for n in [1, 1, destination.len()] {
            out.extend_from_slice(&len_u32(n).to_le_bytes());
        }
        out.extend_from_slice(b"fh");
        out.extend_from_slice(destination.as_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn what_a_newer_version_wrote_is_left_alone() {
        let d = r#"{"project":"acme","topic":"weblogs"}"#;
        assert!(matches!(read(&raw_header(2, 0, 0, d)), Header::Valid(..)));
        let unsupported = |b: Vec<u8>| matches!(read(&b), Header::Unsupported(_));
        assert!(unsupported(raw_header(3, 0, 0, d)), "version");
        assert!(unsupported(raw_header(2, 1, 0, d)), "kind");
        assert!(unsupported(raw_header(2, 0, 2, d)), "flags");
        let privacy = r#"{"project":"acme","topic":"weblogs","redact":["remote_host"]}"#;
        assert!(unsupported(raw_header(2, 0, 0, privacy)), "destination");
        assert_eq!(read(&raw_header(2, 0, 1, d)), Header::Damaged);
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
            let _ = read_header(&f, end).unwrap();
            let _ = walk(&f, end);
            let _ = last_record(&f, 0, end).unwrap();
        }
    }
}
