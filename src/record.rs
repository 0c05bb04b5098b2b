//! One line in, one flat JSON object out.
//!
//! STUB: the interface below is the contract the rest of the crate is written against.

use crate::logformat::LogFormat;

/// Identity of a record: the stream it was read in (random per stream) and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId {
    pub stream: u64,
    pub seq: u64,
}

/// What the reader knows about a line besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct LineMeta {
    pub id: RecordId,
    /// When the line was read, microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The line was longer than the maximum and was cut.
    pub truncated: bool,
}

/// Turns lines into JSON records for one format and host.
pub struct Encoder {}

impl Encoder {
    pub fn new(_format: LogFormat, _host: &str) -> Encoder {
        todo!()
    }

    /// Appends one JSON object (no newline) for `line` to `out`. Returns false for a parse error.
    pub fn encode(&mut self, _line: &[u8], _meta: &LineMeta, _out: &mut Vec<u8>) -> bool {
        todo!()
    }
}
