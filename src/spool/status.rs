//! Read-only views of a spool directory for operator tools, safe while loggers run:
//! [`status`] (cheap: headers, ack files and file tails) and [`verify`] (every checksum).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::ack::{self, AckCursor, Sidecar};
use super::dir::{self, Listed, Stem};
use super::segment::{self, Header, Limits};
use super::{Route, SegmentInfo, SpoolError};

/// Bytes read at a time by [`verify`].
const VERIFY_CHUNK: usize = 1024 * 1024;

/// What [`status`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStatus {
    pub segments: Vec<SegmentStatus>,
    /// Records not yet acknowledged, all segments together.
    pub records: u64,
    /// Bytes of all segment files.
    pub bytes: u64,
    /// When the oldest record not yet acknowledged was read (µs since the epoch).
    pub oldest_received_at_us: Option<i64>,
    /// Files renamed aside as damaged (`*.damaged`).
    pub set_aside: Vec<PathBuf>,
}

/// One segment file as [`status`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentStatus {
    pub path: PathBuf,
    /// Locked by a running logger (its live segment, or one it adopted).
    pub in_use: bool,
    /// What its header says (made up from the file name when the header is damaged).
    pub info: SegmentInfo,
    pub header_ok: bool,
    /// Records not yet acknowledged (counted from the seq of the last record, so exact
    /// unless the file is damaged).
    pub records: u64,
    pub bytes: u64,
    pub oldest_received_at_us: Option<i64>,
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub files: Vec<FileCheck>,
    /// Files renamed aside as damaged earlier (`*.damaged`).
    pub set_aside: Vec<PathBuf>,
    /// Some segment or ack file is damaged, or damaged files were set aside.
    pub damage_found: bool,
}

/// The checks of one segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub path: PathBuf,
    pub in_use: bool,
    pub header_ok: bool,
    /// Valid records in the file (acknowledged ones included).
    pub records: u64,
    /// Stretches of unreadable bytes followed by valid records.
    pub damaged_regions: u64,
    pub damaged_bytes: u64,
    /// Unreadable bytes at the end (a record being written, in a file in use).
    pub torn_tail_bytes: u64,
    pub ack: AckCheck,
}

/// The state of a segment's `.ack` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCheck {
    Missing,
    Valid { offset: u64, next_seq: u64 },
    Damaged,
}

impl FileCheck {
    /// The file has damage (a torn tail counts only when no logger is writing the file).
    pub fn damaged(&self) -> bool {
        !self.header_ok
            || self.damaged_regions > 0
            || self.ack == AckCheck::Damaged
            || (!self.in_use && self.torn_tail_bytes > 0)
    }
}

/// Summarizes the spool in `dir` without reading whole files.
pub fn status(dir: &Path) -> Result<SpoolStatus, SpoolError> {
    let mut out = SpoolStatus::default();
    for item in list(dir)? {
        match item {
            Listed::Segment(stem) => {
                let path = stem.seg(dir);
                let Some(s) = inspect(dir, &stem).map_err(|e| io_error(&path, e))? else {
                    continue;
                };
                out.records += s.records;
                out.bytes += s.bytes;
                out.oldest_received_at_us =
                    min_opt(out.oldest_received_at_us, s.oldest_received_at_us);
                out.segments.push(s);
            }
            Listed::Damaged(path) => out.set_aside.push(path),
            Listed::Ack(_) | Listed::Tmp(_) => {}
        }
    }
    Ok(out)
}

/// Checks every header, record checksum and ack file of the spool in `dir`.
pub fn verify(dir: &Path) -> Result<VerifyReport, SpoolError> {
    let mut out = VerifyReport::default();
    for item in list(dir)? {
        match item {
            Listed::Segment(stem) => {
                let path = stem.seg(dir);
                if let Some(check) = check(dir, &stem).map_err(|e| io_error(&path, e))? {
                    out.damage_found |= check.damaged();
                    out.files.push(check);
                }
            }
            Listed::Damaged(path) => {
                out.damage_found = true;
                out.set_aside.push(path);
            }
            Listed::Ack(_) | Listed::Tmp(_) => {}
        }
    }
    Ok(out)
}

fn list(dir: &Path) -> Result<Vec<Listed>, SpoolError> {
    dir::list(dir).map_err(|e| SpoolError::io(dir, "cannot read directory", e))
}

fn io_error(path: &Path, e: io::Error) -> SpoolError {
    SpoolError::io(path, "cannot read", e)
}

/// An open segment file and what its first bytes and sidecar say.
struct Opened {
    file: File,
    len: u64,
    in_use: bool,
    header: Header,
    ack: Sidecar,
}

impl Opened {
    /// `None` if the file disappeared meanwhile.
    fn open(dir: &Path, stem: &Stem) -> io::Result<Option<Opened>> {
        let file = match File::open(stem.seg(dir)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let in_use = dir::in_use(&file)?;
        let len = file.metadata()?.len();
        let header = segment::read_header(&file, len)?;
        let ack = ack::read_sidecar(&stem.ack(dir))?;
        Ok(Some(Opened {
            file,
            len,
            in_use,
            header,
            ack,
        }))
    }

    fn data_start(&self) -> u64 {
        match self.header {
            Header::Valid(_, start) => start,
            Header::Damaged | Header::Unsupported(_) => 0,
        }
    }

    /// The header is intact (whether this version can act on it or not).
    fn header_ok(&self) -> bool {
        !matches!(self.header, Header::Damaged)
    }

    /// What the header says, or what the name says when it does not say it.
    fn info(&self, stem: &Stem) -> SegmentInfo {
        match &self.header {
            Header::Valid(info, _) => info.clone(),
            Header::Damaged => dir::info_from_name(stem, Route::Unrecorded),
            Header::Unsupported(why) => dir::info_from_name(stem, Route::Unsupported(why.clone())),
        }
    }

    /// Where sending resumes: the sidecar's cursor, or the start if it has none or a
    /// damaged one.
    fn acked(&self) -> Result<AckCursor, AckCursor> {
        self.ack.resume_at(self.data_start(), self.len)
    }
}

fn inspect(dir: &Path, stem: &Stem) -> io::Result<Option<SegmentStatus>> {
    let Some(f) = Opened::open(dir, stem)? else {
        return Ok(None);
    };
    let acked = f.acked().unwrap_or_else(|start| start);
    let last = segment::last_record(&f.file, acked.offset, f.len)?;
    let first = segment::header_at(&f.file, acked.offset, f.len)?;
    Ok(Some(SegmentStatus {
        path: stem.seg(dir),
        in_use: f.in_use,
        info: f.info(stem),
        header_ok: f.header_ok(),
        records: last.map_or(0, |h| (h.seq + 1).saturating_sub(acked.next_seq)),
        bytes: f.len,
        oldest_received_at_us: first.map(|h| h.received_at_us),
    }))
}

fn check(dir: &Path, stem: &Stem) -> io::Result<Option<FileCheck>> {
    let Some(f) = Opened::open(dir, stem)? else {
        return Ok(None);
    };
    let mut out = FileCheck {
        path: stem.seg(dir),
        in_use: f.in_use,
        header_ok: f.header_ok(),
        records: 0,
        damaged_regions: 0,
        damaged_bytes: 0,
        torn_tail_bytes: 0,
        ack: match (f.ack, f.acked()) {
            (Sidecar::Missing, _) => AckCheck::Missing,
            (_, Ok(c)) => AckCheck::Valid {
                offset: c.offset,
                next_seq: c.next_seq,
            },
            (_, Err(_)) => AckCheck::Damaged,
        },
    };
    let limits = Limits {
        max_records: usize::MAX,
        max_bytes: VERIFY_CHUNK,
    };
    let mut pos = f.data_start();
    while pos < f.len {
        let run = segment::read_run(&f.file, pos, f.len, limits, VERIFY_CHUNK)?;
        if !run.records.is_empty() {
            out.records += run.records.len() as u64;
            pos = run.end;
            continue;
        }
        let next = segment::resync(&f.file, pos, f.len)?;
        let clean_so_far = out.header_ok && out.damaged_regions == 0;
        if segment::is_torn_tail(clean_so_far, next, f.len) {
            out.torn_tail_bytes = next - pos;
        } else {
            out.damaged_regions += 1;
            out.damaged_bytes += next - pos;
        }
        pos = next;
    }
    Ok(Some(out))
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
