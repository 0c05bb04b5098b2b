//! The piped logger against a real Pub/Sub emulator: what arrives is what `parse` prints,
//! with the configured attributes; outages and restarts of Pub/Sub lose nothing; a missing
//! topic is a clear error.

mod common;

use std::io::{Seek, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use common::logger::{finish, ids, sample_lines, start_logger, without_run_keys, write_lines};
use common::proxy::Proxy;
use common::{Emulator, binary};
use serde_json::Value;

const PULL_TIMEOUT: Duration = Duration::from_secs(60);

/// What `parse` prints for `lines`, without the per-run keys. The lines go in through a
/// file, so parse's output cannot fill its pipe while we are still writing.
fn parse_output(lines: &[String]) -> Vec<Value> {
    let mut input = tempfile::tempfile().expect("temp file");
    for line in lines {
        writeln!(input, "{line}").expect("write the lines");
    }
    input.rewind().expect("rewind");
    let out = Command::new(binary())
        .arg("parse")
        .stdin(input)
        .output()
        .expect("run accesslog-pubsub parse");
    assert!(out.status.success(), "parse failed: {:?}", out);
    let records: Vec<Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("parse prints JSON"))
        .collect();
    assert_eq!(records.len(), lines.len());
    records.into_iter().map(without_run_keys).collect()
}

/// Records as sorted JSON texts, to compare two sets of records regardless of order.
fn sorted_texts(records: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut texts: Vec<String> = records.into_iter().map(|r| r.to_string()).collect();
    texts.sort();
    texts
}

#[test]
fn every_line_arrives_once_as_the_record_parse_prints_with_the_configured_attributes() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("access-log");
    emulator.create_subscription("access-log-sub", "access-log");
    let spool = tempfile::tempdir().expect("spool dir");
    let lines = sample_lines(3000);

    let mut logger = start_logger(
        &emulator.host_port(),
        "access-log",
        spool.path(),
        &[
            "--attribute",
            "env=test",
            "--attribute-field",
            "status",
            "--attribute-field",
            "method",
        ],
    );
    write_lines(logger.stdin.as_mut().expect("stdin"), &lines);
    let out = finish(logger);
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pulled = emulator.pull_all("access-log-sub", lines.len(), PULL_TIMEOUT);
    assert_eq!(pulled.len(), lines.len(), "exactly one message per line");
    assert_eq!(ids(&pulled).len(), lines.len(), "ids are unique");

    assert_eq!(
        sorted_texts(pulled.iter().map(|p| without_run_keys(p.json()))),
        sorted_texts(parse_output(&lines)),
        "the published records are what `parse` prints for the same lines"
    );
    for message in &pulled {
        let record = message.json();
        assert_eq!(
            message.attributes.get("env").map(String::as_str),
            Some("test")
        );
        for field in ["status", "method"] {
            let value = record.get(field).filter(|v| !v.is_null());
            let want = value.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            assert_eq!(
                message.attributes.get(field),
                want.as_ref(),
                "attribute {field}"
            );
        }
    }
    let errors = pulled
        .iter()
        .filter(|p| p.json().get("parse_error").is_some())
        .count();
    assert_eq!(
        errors,
        lines.len() / 50,
        "the garbage lines arrive as parse errors"
    );
    assert!(
        std::fs::read_dir(spool.path())
            .expect("spool dir")
            .all(|e| {
                e.map(|e| !e.file_name().to_string_lossy().ends_with(".seg"))
                    .unwrap_or(true)
            }),
        "the spool is empty once everything was acknowledged"
    );
}

#[test]
fn lines_read_while_pubsub_is_down_arrive_once_it_is_up() {
    let Some(mut emulator) = Emulator::start() else {
        return;
    };
    emulator.stop();
    // The logger reaches the emulator through a proxy, which is cut while the restarted
    // emulator gets its topic and subscription: nothing can be published in between.
    let mut network = Proxy::new(emulator.port());
    let spool = tempfile::tempdir().expect("spool dir");
    let lines = sample_lines(500);

    let mut logger = start_logger(
        &network.host_port(),
        "late-topic",
        spool.path(),
        &["--shutdown-timeout", "60s"],
    );
    write_lines(logger.stdin.as_mut().expect("stdin"), &lines);
    std::thread::sleep(Duration::from_secs(3));
    network.down();
    emulator.start_again();
    emulator.create_topic("late-topic");
    emulator.create_subscription("late-sub", "late-topic");
    network.up();
    let out = finish(logger);
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pulled = emulator.pull_all("late-sub", lines.len(), PULL_TIMEOUT);
    assert_eq!(ids(&pulled).len(), lines.len(), "every line arrives");
}

#[test]
fn killing_and_restarting_pubsub_mid_run_loses_nothing() {
    let Some(mut emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("restart-topic");
    emulator.create_subscription("restart-sub", "restart-topic");
    let spool = tempfile::tempdir().expect("spool dir");
    let lines = sample_lines(1500);
    let (before, rest) = lines.split_at(500);
    let (during, after) = rest.split_at(500);

    let mut network = Proxy::new(emulator.port());
    let mut logger = start_logger(
        &network.host_port(),
        "restart-topic",
        spool.path(),
        &["--shutdown-timeout", "60s"],
    );
    let stdin = logger.stdin.as_mut().expect("stdin");
    write_lines(stdin, before);
    // What the first emulator accepted must be pulled from it: it forgets everything when killed.
    let mut pulled = emulator.pull_all("restart-sub", before.len(), PULL_TIMEOUT);
    emulator.kill();
    write_lines(stdin, during);
    std::thread::sleep(Duration::from_secs(2));
    // Cut while the new emulator gets its topic and subscription (see above).
    network.down();
    emulator.start_again();
    emulator.create_topic("restart-topic");
    emulator.create_subscription("restart-sub", "restart-topic");
    network.up();
    write_lines(stdin, after);
    let out = finish(logger);
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    pulled.extend(emulator.pull_all("restart-sub", during.len() + after.len(), PULL_TIMEOUT));

    let distinct = ids(&pulled);
    assert_eq!(distinct.len(), lines.len(), "every line read arrives");
    println!(
        "{} messages for {} lines: {} duplicates",
        pulled.len(),
        lines.len(),
        pulled.len() - distinct.len()
    );
}

#[test]
fn a_missing_topic_is_one_clear_error_and_a_failing_exit_after_the_shutdown_timeout() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    let spool = tempfile::tempdir().expect("spool dir");
    let lines = sample_lines(20);

    let started = Instant::now();
    let mut logger = start_logger(
        &emulator.host_port(),
        "no-such-topic",
        spool.path(),
        &["--shutdown-timeout", "2s"],
    );
    write_lines(logger.stdin.as_mut().expect("stdin"), &lines);
    let out = finish(logger);
    let stderr = String::from_utf8_lossy(&out.stderr);

    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the shutdown timeout"
    );
    assert!(
        stderr.contains("topic projects/test/topics/no-such-topic does not exist"),
        "stderr names the topic: {stderr}"
    );
    assert!(
        stderr.contains("20 records not yet published"),
        "stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    let trouble_lines = stderr
        .lines()
        .filter(|l| l.contains("does not exist"))
        .count();
    assert_eq!(trouble_lines, 1, "the error is rate-limited: {stderr}");
}

#[test]
fn records_pubsub_refuses_are_set_aside_and_every_other_record_is_published() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    // The topic's schema wants a numeric status: the records of lines that do not match
    // the format have none, and Pub/Sub refuses any request that carries one of them.
    let schema = serde_json::json!({
        "type": "record",
        "name": "Access",
        "fields": [{ "name": "status", "type": "int" }]
    });
    emulator.create_topic_with_schema("strict-topic", &schema);
    emulator.create_subscription("strict-sub", "strict-topic");
    let spool = tempfile::tempdir().expect("spool dir");
    let lines = sample_lines(1000);
    let bad = lines.len() / 50;

    let mut logger = start_logger(
        &emulator.host_port(),
        "strict-topic",
        spool.path(),
        &["--shutdown-timeout", "60s"],
    );
    write_lines(logger.stdin.as_mut().expect("stdin"), &lines);
    let out = finish(logger);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "logger failed: {stderr}");
    assert!(
        stderr.contains("as invalid") && stderr.contains("dead-letters.jsonl"),
        "the refusal is reported: {stderr}"
    );

    let pulled = emulator.pull_all("strict-sub", lines.len() - bad, PULL_TIMEOUT);
    assert_eq!(pulled.len(), lines.len() - bad, "every good record, once");
    assert!(
        pulled.iter().all(|p| p.json().get("parse_error").is_none()),
        "only good records arrive"
    );
    let letters = std::fs::read_to_string(spool.path().join("dead-letters.jsonl"))
        .expect("the dead-letter file");
    let refused: Vec<Value> = letters
        .lines()
        .map(|l| serde_json::from_str(l).expect("a dead letter is JSON"))
        .collect();
    assert_eq!(refused.len(), bad, "exactly the bad records are set aside");
    let mut all_ids = ids(&pulled);
    for letter in &refused {
        let record: Value =
            serde_json::from_str(letter["data"].as_str().expect("data")).expect("a record");
        assert!(record.get("parse_error").is_some(), "{letter}");
        assert_eq!(letter["id"], record["id"]);
        assert_eq!(letter["topic"], "projects/test/topics/strict-topic");
        all_ids.insert(record["id"].as_str().expect("id").to_string());
    }
    assert_eq!(
        all_ids.len(),
        lines.len(),
        "every line is either published or set aside"
    );
    let status = Command::new(binary())
        .args(["spool", "status", "--spool-dir"])
        .arg(spool.path())
        .output()
        .expect("spool status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("records not yet published: 0")
            && text.contains(&format!("records refused by Pub/Sub, set aside: {bad} in")),
        "{text}"
    );
}
