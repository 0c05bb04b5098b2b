//! Golden files: each `tests/golden/NAME.log` (invented sample lines) is encoded with the
//! LogFormat in `NAME.format` and must give exactly the records in `NAME.jsonl`, byte for
//! byte (key order included). Ids and `received_at` are fixed: stream `0123456789abcdef`,
//! sequence = line number, received 2026-11-01T08:15:02.5Z plus one microsecond per line.
//!
//! After a deliberate change, rewrite the expectations with
//! `UPDATE_GOLDEN=1 cargo test --test parser_golden` and review the diff.

use std::fs;
use std::path::Path;

use accesslog_pubsub::logformat::LogFormat;
use accesslog_pubsub::record::{Encoder, LineMeta, RecordId};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

/// The records for `log` under `format`, one JSON object per line.
fn encode_log(format: &str, log: &str) -> String {
    let mut encoder = Encoder::new(LogFormat::new(format).unwrap(), "web-1.example.com");
    let mut out = Vec::new();
    for (i, line) in log.lines().filter(|l| !l.is_empty()).enumerate() {
        let seq = i as u64 + 1;
        let meta = LineMeta {
            id: RecordId {
                stream: 0x0123_4567_89ab_cdef,
                seq,
            },
            received_at_us: 1_793_520_902_500_000 + seq as i64,
            truncated: false,
        };
        encoder.encode(line.as_bytes(), &meta, &mut out);
        out.push(b'\n');
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn golden_logs_give_golden_records() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut names: Vec<String> = fs::read_dir(GOLDEN)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 4, "golden files missing: {names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let base = Path::new(GOLDEN).join(name);
        let format = fs::read_to_string(base.with_extension("format")).unwrap();
        let log = fs::read_to_string(base.with_extension("log")).unwrap();
        let got = encode_log(format.trim_end_matches('\n'), &log);
        let expected_path = base.with_extension("jsonl");
        if update {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        for (no, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            if g != w {
                failures.push(format!("{name}.log:{}\n  got:  {g}\n  want: {w}", no + 1));
            }
        }
        if got.lines().count() != want.lines().count() {
            failures.push(format!(
                "{name}: {} records, {} expected",
                got.lines().count(),
                want.lines().count()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
