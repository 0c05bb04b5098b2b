//! Helpers shared by the `spool_*` integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use accesslog_pubsub::Destination;
use accesslog_pubsub::record::RecordId;
use accesslog_pubsub::spool::{
    self, Batch, FsyncPolicy, LineIn, SpoolOptions, SpoolReader, SpoolWriter, StreamContext,
    StreamKind,
};

/// Generous bound on waits that only a bug can make long (never asserted as a timing).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A line the reader could have read: the `i`th line of the test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub bytes: Vec<u8>,
    pub received_at_us: i64,
    pub truncated: bool,
}

/// A record as the reader handed it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub stream: u64,
    pub seq: u64,
    pub format: String,
    pub line: Line,
}

impl Got {
    pub fn id(&self) -> String {
        RecordId {
            stream: self.stream,
            seq: self.seq,
        }
        .to_string()
    }
}

/// A destination of its own for `topic`.
pub fn destination(topic: &str) -> Destination {
    Destination {
        project: "test".to_owned(),
        topic: topic.to_owned(),
        attributes: Default::default(),
        attribute_fields: Vec::new(),
        ordering_key_field: None,
    }
}

/// Lines of `format` for the topic `logs`.
pub fn ctx(format: &str) -> StreamContext {
    StreamContext {
        kind: StreamKind::AccessLog,
        format: format.to_owned(),
        host: "web1".to_owned(),
        destination: Some(destination("logs")),
    }
}

pub fn opts(dir: &Path) -> SpoolOptions {
    SpoolOptions {
        fsync: FsyncPolicy::Never,
        ..SpoolOptions::new(dir)
    }
}

pub fn open(opts: SpoolOptions) -> (SpoolWriter, SpoolReader) {
    spool::open(opts, ctx("%h %l %u %t \"%r\" %>s %b")).unwrap()
}

/// A short text line that says which it is.
pub fn text_line(tag: &str, i: u64) -> Line {
    Line {
        bytes: format!("{tag} line {i:08} GET /index.html HTTP/1.1 200 1234").into_bytes(),
        received_at_us: 1_700_000_000_000_000 + i as i64,
        truncated: false,
    }
}

/// The index `text_line` put into a line.
pub fn index_of(line: &Line) -> u64 {
    let s = String::from_utf8_lossy(&line.bytes);
    s.split(' ').nth(2).and_then(|n| n.parse().ok()).unwrap()
}

pub fn append(w: &mut SpoolWriter, lines: &[Line]) {
    let ins: Vec<LineIn<'_>> = lines
        .iter()
        .map(|l| LineIn {
            bytes: &l.bytes,
            received_at_us: l.received_at_us,
            truncated: l.truncated,
        })
        .collect();
    w.append(&ins).unwrap();
}

/// Reads one batch (waiting at most `PATIENCE`), acking it if `ack`.
pub async fn batch(r: &mut SpoolReader, max: usize, ack: bool) -> Option<Vec<Got>> {
    let b = tokio::time::timeout(PATIENCE, r.next_batch(max, 1 << 20))
        .await
        .expect("the reader should not hang")
        .unwrap()?;
    let got = records_of(&b);
    if ack {
        r.ack(b.ticket);
    }
    Some(got)
}

/// The records of a batch.
pub fn records_of(b: &Batch) -> Vec<Got> {
    (0..b.len())
        .map(|i| Got {
            stream: b.stream.stream,
            seq: b.records[i].seq,
            format: b.stream.format.clone(),
            line: Line {
                bytes: b.line(i).to_vec(),
                received_at_us: b.records[i].received_at_us,
                truncated: b.records[i].truncated,
            },
        })
        .collect()
}

/// Reads and acks until the reader ends.
pub async fn drain(r: &mut SpoolReader) -> Vec<Got> {
    let mut out = Vec::new();
    while let Some(b) = batch(r, 500, true).await {
        out.extend(b);
    }
    out
}

/// Reads and acks exactly `n` records (or more if a batch overshoots).
pub async fn take(r: &mut SpoolReader, n: usize) -> Vec<Got> {
    let mut out = Vec::new();
    while out.len() < n {
        out.extend(batch(r, n - out.len(), true).await.expect("more records"));
    }
    out
}

/// Names of the files in `dir`, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Paths of the segment files in `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|n| n.ends_with(".seg"))
        .map(|n| dir.join(n))
        .collect()
}

/// Offset where records start in a segment (its header length).
pub fn header_len(seg: &Path) -> u64 {
    let b = std::fs::read(seg).unwrap();
    u64::from(u32::from_le_bytes(b[12..16].try_into().unwrap()))
}

pub fn lines_of(got: &[Got]) -> Vec<Line> {
    got.iter().map(|g| g.line.clone()).collect()
}
