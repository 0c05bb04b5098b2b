//! The command line as a user meets it: `parse` on a sample log, `schema`, refused
//! configurations (one line, exit 2), flags over the file, and the spool tools on a spool
//! that does not exist yet.

mod common;

use std::process::{Command, Output, Stdio};

use common::binary;
use common::logger::{run_with_input, without_run_keys};
use serde_json::Value;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one line a refused invocation prints, checked to be alone and to exit 2.
fn refusal(args: &[&str]) -> String {
    let out = run_with_input(args, b"");
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "exit code for {args:?}: {text}");
    assert_eq!(text.lines().count(), 1, "one line for {args:?}: {text}");
    assert!(out.stdout.is_empty(), "nothing on stdout for {args:?}");
    text
}

#[test]
fn parse_prints_the_golden_records_for_the_sample_log() {
    let log = std::fs::read(format!("{GOLDEN}/combined.log")).expect("golden log");
    let out = run_with_input(&["parse", "--host", "web-1.example.com"], &log);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let want: Vec<Value> = std::fs::read_to_string(format!("{GOLDEN}/combined.jsonl"))
        .expect("golden records")
        .lines()
        .map(|l| serde_json::from_str(l).expect("golden JSON"))
        .collect();
    assert_eq!(got.len(), want.len(), "one record per line");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(without_run_keys(g.clone()), without_run_keys(w.clone()));
    }
    let ids: std::collections::BTreeSet<&str> =
        got.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), got.len(), "ids are unique");
    let errors = want
        .iter()
        .filter(|r| r.get("parse_error").is_some())
        .count();
    assert!(errors > 0, "the sample has lines that do not match");
    assert!(
        stderr(&out).contains(&format!(
            "{} lines, {errors} did not match the format",
            want.len()
        )),
        "parse says how many lines did not match: {}",
        stderr(&out)
    );
}

#[test]
fn parse_takes_a_logformat_string_and_handles_crlf_blank_and_long_lines() {
    let format = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D"#;
    let long_agent = "x".repeat(2000);
    let input = format!(
        "198.51.100.7 - - [25/Nov/2026:10:00:00 +0100] \"GET /a HTTP/1.1\" 200 12 \"-\" \"curl/8\" 1500\r\n\
         \n   \n\
         198.51.100.8 - - [25/Nov/2026:10:00:01 +0100] \"GET /b HTTP/1.1\" 200 12 \"-\" \"{long_agent}\" 7\n"
    );
    let out = run_with_input(
        &["parse", "--format", format, "--max-line-bytes", "1KiB"],
        input.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(records.len(), 2, "blank lines carry nothing");
    assert_eq!(records[0]["duration_us"], 1500);
    assert_eq!(records[0]["timestamp"], "2026-11-25T09:00:00Z");
    assert_eq!(records[0]["tz_offset"], "+01:00");
    assert_eq!(records[0]["user_agent"], "curl/8", "the CR is gone");
    assert_eq!(records[1]["truncated"], true);
    assert!(records[1]["parse_error"].is_string(), "{}", records[1]);
    assert_eq!(records[1]["raw"].as_str().map(str::len), Some(1024));
    assert!(
        stderr(&out).contains("2 lines, 1 did not match the format, 1 truncated, 2 blank skipped"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn schema_lists_every_key_parse_can_print() {
    let out = run_with_input(&["schema", "--format", "vhost_combined"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let schema: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    let columns: std::collections::BTreeMap<String, String> = schema
        .iter()
        .map(|f| {
            assert_eq!(f["mode"], "NULLABLE");
            (
                f["name"].as_str().expect("name").to_string(),
                f["type"].as_str().expect("type").to_string(),
            )
        })
        .collect();
    let log = std::fs::read(format!("{GOLDEN}/vhost_combined.log")).expect("golden log");
    let parsed = run_with_input(&["parse", "--format", "vhost_combined"], &log);
    for line in String::from_utf8(parsed.stdout).expect("UTF-8").lines() {
        let record: Value = serde_json::from_str(line).expect("JSON");
        for (key, value) in record.as_object().expect("object") {
            let kind = columns
                .get(key)
                .unwrap_or_else(|| panic!("{key} is not in the schema"));
            let fits = match value {
                Value::Null => true,
                Value::Number(_) => kind == "INTEGER",
                Value::Bool(_) => kind == "BOOLEAN",
                Value::String(_) => kind == "STRING" || kind == "TIMESTAMP",
                _ => false,
            };
            assert!(fits, "{key} = {value} does not fit {kind}");
        }
    }
    assert_eq!(columns["server_port"], "INTEGER");
    assert_eq!(columns["timestamp"], "TIMESTAMP");
}

#[test]
fn bad_settings_are_refused_with_one_line_naming_them() {
    let text = refusal(&["parse", "--format", "%h %Z %t"]);
    assert!(
        text.contains("--format") && text.contains("column 4") && text.contains("%Z"),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("config.toml");
    let path = file.to_str().expect("UTF-8 path");
    std::fs::write(&file, "format = \"combined\"\nbatch_max_mesages = 10\n").expect("write");
    let text = refusal(&["--config", path, "parse"]);
    assert!(
        text.contains("line 2") && text.contains("batch_max_mesages"),
        "{text}"
    );

    std::fs::write(&file, "batch_max_messages = 5000\n").expect("write");
    let text = refusal(&["--config", path, "parse"]);
    assert!(
        text.contains("batch_max_messages: 5000 is out of range"),
        "{text}"
    );
    // A flag wins over the file, so the same file is fine with a good flag.
    let out = run_with_input(
        &["--config", path, "--batch-max-messages", "500", "parse"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let text = refusal(&["parse", "--spool-fsync-interval", "soon"]);
    assert!(text.contains("--spool-fsync-interval"), "{text}");
    let text = refusal(&["parse", "--attribute-field", "no_such_field"]);
    assert!(
        text.contains("no_such_field") && text.contains("user_agent"),
        "{text}"
    );
    // The piped logger never refuses to read (httpd would respawn it and nobody would read
    // its pipe): it says what is wrong and keeps the lines for a logger that can send them.
    let out = run_with_input(
        &["--spool-dir", dir.path().to_str().expect("UTF-8")],
        b"a line\n",
    );
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the configuration cannot be used: --project and --topic are required")
            && text.contains("1 lines kept unparsed"),
        "{text}"
    );
}

#[test]
fn spool_tools_on_a_spool_that_does_not_exist_yet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("never-used");
    let spool = spool.to_str().expect("UTF-8 path");
    let status = run_with_input(&["spool", "status", "--spool-dir", spool], b"");
    assert!(status.status.success());
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("does not exist yet; nothing spooled")
    );
    let verify = run_with_input(&["spool", "verify", "--spool-dir", spool], b"");
    assert!(verify.status.success());
    let endpoint = "http://127.0.0.1:9";
    let replay = run_with_input(
        &[
            "spool",
            "replay",
            "--spool-dir",
            spool,
            "--endpoint",
            endpoint,
        ],
        b"",
    );
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert!(
        stderr(&replay).contains("replay: 0 records to publish"),
        "{}",
        stderr(&replay)
    );
    assert!(
        !std::path::Path::new(spool).exists(),
        "looking and replaying create nothing"
    );
}

/// `args` run with stdout on `stdout`; the exit status and stderr.
fn run_to(args: &[&str], stdout: Stdio) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .args(args)
        .env_remove("PUBSUB_EMULATOR_HOST")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("run accesslog-pubsub");
    (out.status.code(), stderr(&out))
}

/// A pipe whose reading end is already closed: every write into it fails.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe2() fills two new descriptors, which we own from here on.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nothing else.
    let (read, write) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(read);
    Stdio::from(write)
}

#[test]
fn output_that_cannot_be_written_fails_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().to_str().expect("UTF-8 path");
    let full = || Stdio::from(std::fs::File::create("/dev/full").expect("open /dev/full"));
    for (args, what) in [
        (&["spool", "status", "--spool-dir", spool][..], "spool"),
        (&["spool", "verify", "--spool-dir", spool][..], "spool"),
        (&["schema"][..], "schema"),
    ] {
        for (stdout, why) in [
            (full(), "No space left on device"),
            (closed_pipe(), "Broken pipe"),
        ] {
            let (code, text) = run_to(args, stdout);
            assert_eq!(code, Some(1), "{args:?} into a {why}: {text}");
            assert_eq!(
                text.lines().collect::<Vec<_>>(),
                [format!(
                    "accesslog-pubsub: {what}: writing to stdout: {why} (os error {})",
                    if why == "Broken pipe" { 32 } else { 28 }
                )],
                "{args:?}"
            );
        }
    }
    let (code, text) = run_to(&["parse"], full());
    assert_eq!(code, Some(0), "nothing to write, nothing fails: {text}");
}
