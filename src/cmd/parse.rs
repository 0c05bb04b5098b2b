//! `accesslog-pubsub parse`: stdin -> one JSON record per line on stdout, nothing published.
//!
//! The records are exactly what the piped logger publishes (same fields, the same privacy
//! settings applied, same `id` scheme: a random stream id for this run plus the line's
//! number in it), so a test log piped through here shows what will land in Pub/Sub and
//! BigQuery.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use crate::clock;
use crate::config::Config;
use crate::messages;
use crate::reader::{LineReader, ReadStats};
use crate::record::{Encoder, LineMeta, RecordId};

/// Output is written once this much is buffered.
const FLUSH_AT: usize = 256 * 1024;

/// What a `parse` run saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParseSummary {
    pub read: ReadStats,
    pub parse_errors: u64,
}

/// `parse` from stdin to stdout; the counts go to stderr when a line did not match, was cut
/// or was blank.
pub fn execute(config: &Config) -> Result<ExitCode, super::Error> {
    let summary = run(config, io::stdin().lock(), io::stdout().lock())
        .map_err(|e| super::Error::failure(format_args!("parse: {e}")))?;
    let read = summary.read;
    if summary.parse_errors > 0 || read.truncated_lines > 0 || read.blank_lines > 0 {
        messages::note(format_args!(
            "{} lines, {} did not match the format, {} truncated, {} blank skipped",
            read.lines, summary.parse_errors, read.truncated_lines, read.blank_lines
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses `input` to `output` until end of input. A closed output (`| head`) ends it quietly.
fn run(config: &Config, input: impl Read, mut output: impl Write) -> io::Result<ParseSummary> {
    let mut encoder = Encoder::with_privacy(
        config.input.format.clone(),
        &config.input.host,
        &config.privacy,
    );
    let stream = getrandom::u64().map_err(io::Error::other)?;
    let mut reader = LineReader::new(input, config.input.max_line_bytes);
    let mut out = Vec::with_capacity(FLUSH_AT * 2);
    let mut seq = 0u64;
    let mut parse_errors = 0u64;
    while let Some(chunk) = reader.next_chunk()? {
        let received_at_us = clock::now_us();
        for line in chunk.lines() {
            let meta = LineMeta {
                id: RecordId { stream, seq },
                received_at_us,
                truncated: line.truncated,
            };
            if !encoder.encode(line.bytes, &meta, &mut out) {
                parse_errors += 1;
            }
            out.push(b'\n');
            seq += 1;
        }
        if out.len() >= FLUSH_AT {
            if !write_or_closed(&mut output, &out)? {
                break;
            }
            out.clear();
        }
    }
    if write_or_closed(&mut output, &out)? {
        match output.flush() {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
            _ => {}
        }
    }
    Ok(ParseSummary {
        read: reader.stats(),
        parse_errors,
    })
}

/// Writes all of `bytes`; `Ok(false)` when the reader of `output` has gone away.
fn write_or_closed(output: &mut impl Write, bytes: &[u8]) -> io::Result<bool> {
    match output.write_all(bytes) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}
