//! The counters as an operator reads them, from the real binary: the line SIGUSR1 asks for
//! (and the process goes on), the status file, the Prometheus endpoint; each must agree
//! with what was piped in and what arrived in a real emulator, or sits in the spool while
//! Pub/Sub is unreachable.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::ChildStderr;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use common::Emulator;
use common::emulator::free_port;
use common::logger::{
    Guard, PATIENCE, run_tool, sample_lines, signal, spooled_records, start_logger,
    unreachable_logger, wait_until, write_lines,
};
use serde_json::Value;

const PULL_TIMEOUT: Duration = Duration::from_secs(60);

/// The logger's stderr lines as they come.
fn stderr_lines(stderr: ChildStderr) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next stderr line containing `what`; the lines skipped are kept in `seen`.
fn next_line_with(lines: &Receiver<String>, what: &str, seen: &mut Vec<String>) -> String {
    loop {
        match lines.recv_timeout(PATIENCE) {
            Ok(line) if line.contains(what) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line with {what:?} ({e}); stderr so far: {seen:#?}"),
        }
    }
}

/// The `name=value` pairs of a counters line.
fn line_values(line: &str) -> BTreeMap<String, String> {
    let (_, counters) = line
        .split_once("counters: ")
        .unwrap_or_else(|| panic!("not a counters line: {line}"));
    counters
        .split(' ')
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches([',', ')']).to_string()))
        .collect()
}

/// The status file, which must always be whole, valid JSON once it exists.
fn status(path: &Path) -> Option<Value> {
    let text = std::fs::read(path).ok()?;
    Some(serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "the status file is not valid JSON ({e}): {}",
            String::from_utf8_lossy(&text)
        )
    }))
}

/// Waits until the status file holds `field == want`, and returns it.
fn status_when(path: &Path, field: &str, want: u64) -> Value {
    let mut last = None;
    wait_until(&format!("{field} = {want} in the status file"), || {
        last = status(path);
        last.as_ref().is_some_and(|s| s[field] == want)
    });
    last.expect("read")
}

/// The samples of the Prometheus text at `port`: `name{labels}` -> value.
fn scrape(port: u16) -> BTreeMap<String, f64> {
    let mut response = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .expect("GET /metrics");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response
        .body_mut()
        .read_to_string()
        .expect("the body is text");
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample line: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        samples.insert(name.to_string(), value);
    }
    for family in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = family.split_once(' ').expect("# TYPE name kind");
        assert!(name.starts_with("accesslog_pubsub_"), "{family}");
        assert_eq!(
            name.ends_with("_total"),
            kind == "counter",
            "counters and only counters end _total: {family}"
        );
    }
    samples
}

fn sample(samples: &BTreeMap<String, f64>, name: &str) -> f64 {
    *samples
        .get(name)
        .unwrap_or_else(|| panic!("{name} is not in {samples:#?}"))
}

/// How many of `sample_lines(n)` do not match `combined`.
fn parse_errors_in(n: usize) -> u64 {
    (0..n).filter(|i| i % 50 == 13).count() as u64
}

#[test]
fn sigusr1_the_status_file_and_prometheus_say_what_was_sent_and_arrived() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("counted");
    emulator.create_subscription("counted-sub", "counted");
    let spool = tempfile::tempdir().expect("spool dir");
    let run = tempfile::tempdir().expect("status dir");
    let status_path = run.path().join("status.json");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let n = 700;
    let lines = sample_lines(n);

    let mut logger = Guard::new(start_logger(
        &emulator.host_port(),
        "counted",
        spool.path(),
        &[
            "--status-file",
            status_path.to_str().expect("UTF-8 path"),
            "--metrics-listen",
            &listen,
        ],
    ));
    let child = logger.0.as_mut().expect("running");
    let stderr = stderr_lines(child.stderr.take().expect("stderr"));
    write_lines(child.stdin.as_mut().expect("stdin"), &lines);
    let pulled = emulator.pull_all("counted-sub", n, PULL_TIMEOUT);
    assert_eq!(pulled.len(), n, "every line arrived");

    let running = status_when(&status_path, "published_records", n as u64);
    assert_eq!(running["running"], true);
    assert_eq!(running["pid"], logger.pid());
    assert_eq!(running["lines_read"], n);
    assert_eq!(running["parse_errors"], parse_errors_in(n));
    assert_eq!(running["spool_records"], 0);
    assert_eq!(running["dropped_records"]["spool_full"], 0);
    assert_eq!(running["publish_errors"]["topic_not_found"], 0);

    let mut seen = Vec::new();
    for _ in 0..2 {
        signal(logger.pid(), libc::SIGUSR1);
        let line = next_line_with(&stderr, "counters: ", &mut seen);
        let values = line_values(&line);
        assert_eq!(values["lines_read"], n.to_string(), "{line}");
        assert_eq!(values["published_records"], n.to_string(), "{line}");
        assert_eq!(
            values["parse_errors"],
            parse_errors_in(n).to_string(),
            "{line}"
        );
        assert_eq!(values["dropped_records"], "0", "{line}");
        assert_eq!(values["spool_records"], "0", "{line}");
    }
    let child = logger.0.as_mut().expect("started");
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "SIGUSR1 does not end the logger"
    );

    let samples = scrape(port);
    let n = n as f64;
    assert_eq!(sample(&samples, "accesslog_pubsub_lines_read_total"), n);
    assert_eq!(
        sample(&samples, "accesslog_pubsub_published_records_total"),
        n
    );
    assert_eq!(
        sample(&samples, "accesslog_pubsub_parse_errors_total"),
        parse_errors_in(lines.len()) as f64
    );
    assert_eq!(
        sample(&samples, "accesslog_pubsub_publish_latency_seconds_count"),
        n
    );
    assert_eq!(
        sample(
            &samples,
            "accesslog_pubsub_publish_latency_seconds_bucket{le=\"+Inf\"}"
        ),
        n
    );
    assert_eq!(sample(&samples, "accesslog_pubsub_spool_records"), 0.0);
    assert_eq!(
        sample(
            &samples,
            "accesslog_pubsub_dropped_records_total{reason=\"spool_full\"}"
        ),
        0.0
    );
    let missing = ureq::get(&format!("http://127.0.0.1:{port}/"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("GET /");
    assert_eq!(missing.status(), 404);

    let out = logger.finish();
    assert!(
        out.status.success(),
        "the logger failed ({}); stderr: {seen:#?}",
        out.status
    );
    let last = status(&status_path).expect("the status file stays");
    assert_eq!(last["running"], false, "the last write says it ended");
    assert_eq!(last["published_records"], lines.len());
}

#[test]
fn with_pubsub_unreachable_the_counters_show_the_backlog() {
    let spool = tempfile::tempdir().expect("spool dir");
    let run = tempfile::tempdir().expect("status dir");
    let status_path = run.path().join("status.json");
    let port = free_port();
    let n = 40;
    let mut logger = Guard::new(unreachable_logger(
        "counted",
        spool.path(),
        &[
            "--status-file",
            status_path.to_str().expect("UTF-8 path"),
            "--metrics-listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-timeout",
            "1s",
        ],
    ));
    let child = logger.0.as_mut().expect("running");
    let stderr = stderr_lines(child.stderr.take().expect("stderr"));
    write_lines(child.stdin.as_mut().expect("stdin"), &sample_lines(n));

    let backlog = status_when(&status_path, "spool_records", n as u64);
    assert_eq!(backlog["lines_read"], n);
    assert_eq!(backlog["published_records"], 0);
    assert!(backlog["spool_bytes"].as_u64().is_some_and(|b| b > 0));
    assert_eq!(backlog["publish_latency_p50_seconds"], Value::Null);

    signal(logger.pid(), libc::SIGUSR1);
    let mut seen = Vec::new();
    let values = line_values(&next_line_with(&stderr, "counters: ", &mut seen));
    assert_eq!(values["lines_read"], n.to_string());
    assert_eq!(values["published_records"], "0");
    assert_eq!(values["spool_records"], n.to_string());
    assert!(!values.contains_key("publish_latency_p50_seconds"));

    let samples = scrape(port);
    assert_eq!(sample(&samples, "accesslog_pubsub_spool_records"), n as f64);
    assert_eq!(
        sample(&samples, "accesslog_pubsub_published_records_total"),
        0.0
    );
    assert_eq!(
        sample(&samples, "accesslog_pubsub_publish_latency_seconds_count"),
        0.0
    );

    let out = logger.finish();
    assert_eq!(out.status.code(), Some(1), "records left unpublished");
    let last = status(&status_path).expect("the status file stays");
    assert_eq!(last["running"], false);
    assert_eq!(last["spool_records"], n);
}

#[test]
fn a_metrics_port_in_use_is_said_and_the_logging_goes_on() {
    let spool = tempfile::tempdir().expect("spool dir");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let mut logger = Guard::new(unreachable_logger(
        "counted",
        spool.path(),
        &[
            "--metrics-listen",
            &format!("127.0.0.1:{port}"),
            "--shutdown-timeout",
            "1s",
        ],
    ));
    let child = logger.0.as_mut().expect("running");
    write_lines(child.stdin.as_mut().expect("stdin"), &sample_lines(3));
    wait_until("the lines spooled", || spooled_records(spool.path()) == 3);
    let out = logger.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "metrics_listen 127.0.0.1:{port}: cannot listen (Address already in use"
        )),
        "{stderr}"
    );
    assert_eq!(spooled_records(spool.path()), 3, "kept for the next run");
}

#[test]
fn a_metrics_address_other_than_loopback_is_refused() {
    let out = run_tool(
        &[
            "check",
            "--project",
            "p",
            "--topic",
            "t",
            "--metrics-listen",
            "0.0.0.0:9464",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "accesslog-pubsub: --metrics-listen: 0.0.0.0:9464 is not a loopback address"
        ),
        "{stderr}"
    );
}
