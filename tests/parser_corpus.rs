//! The shared real-log corpus (`../shared/corpus/real-logs`, not part of this repository),
//! checked through the library's Encoder with the rules of `check_parse.py`: every expected
//! key present with an equal value of the same JSON type, `{"parse_error": true}` = a
//! non-empty `parse_error` and a `raw`, `{}` = any record.
//!
//! The corpus lives outside the repository; where it is missing the test says so and passes.

use std::fs;
use std::path::Path;

use accesslog_pubsub::logformat::LogFormat;
use accesslog_pubsub::record::{Encoder, LineMeta, RecordId};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/real-logs");

/// JSON equality where 200, 200.0 and true are all different.
fn same(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            g.is_i64() == w.is_i64() && g.is_u64() == w.is_u64() && g == w
        }
        _ => got == want,
    }
}

/// The mismatches of one record: `(key, got, want)`.
fn check(record: &Value, want: &Value) -> Vec<String> {
    let want = want.as_object().expect("expectation is an object");
    if want.len() == 1 && want.get("parse_error") == Some(&Value::Bool(true)) {
        let pe = record
            .get("parse_error")
            .and_then(Value::as_str)
            .unwrap_or("");
        let raw = record.get("raw").filter(|r| !r.is_null());
        return if pe.is_empty() || raw.is_none() {
            vec![format!("want a parse error, got {record}")]
        } else {
            vec![]
        };
    }
    want.iter()
        .filter_map(|(k, w)| match record.get(k) {
            Some(g) if same(g, w) => None,
            g => Some(format!("{k}: got {g:?}, want {w}")),
        })
        .collect()
}

#[test]
fn real_logs_match_their_expectations() {
    let dir = Path::new(CORPUS);
    if !dir.is_dir() {
        eprintln!("skipped: no real-log corpus at {CORPUS}");
        return;
    }
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("corpus folder")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log").map(str::to_owned)
        })
        .collect();
    names.sort();
    let (mut total, mut matched) = (0, 0);
    for name in names {
        let base = dir.join(&name);
        let format = fs::read_to_string(base.with_extension("format"))
            .map(|f| f.trim_end_matches(['\r', '\n']).to_owned())
            .unwrap_or_else(|_| "combined".to_owned());
        let log = fs::read(base.with_extension("log")).unwrap();
        let wants: Vec<Value> = fs::read_to_string(base.with_extension("expect.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut encoder = Encoder::new(LogFormat::new(&format).unwrap(), "test");
        let lines: Vec<(usize, &[u8])> = log
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
            .filter(|(_, l)| !l.trim_ascii().is_empty())
            .collect();
        assert_eq!(lines.len(), wants.len(), "{name}: lines vs expectations");
        let mut bad = 0;
        for ((no, line), want) in lines.iter().zip(&wants) {
            let meta = LineMeta {
                id: RecordId {
                    stream: 1,
                    seq: *no as u64,
                },
                received_at_us: 0,
                truncated: false,
            };
            let mut out = Vec::new();
            encoder.encode(line, &meta, &mut out);
            let record: Value = serde_json::from_slice(&out).expect("valid JSON");
            let diffs = check(&record, want);
            if !diffs.is_empty() {
                bad += 1;
                println!("{name}.log:{no}: {}", diffs.join("; "));
            }
        }
        println!("{name}: {} lines, {bad} mismatches", lines.len());
        total += lines.len();
        matched += lines.len() - bad;
    }
    println!("corpus: {matched} of {total} lines match");
    assert_eq!(matched, total);
}
