//! The logger inside a real Debian httpd, in the pipe of the shipped snippet, publishing to a
//! real emulator: what arrives in Pub/Sub is compared with what httpd answered and with
//! httpd's own file copy of the lines (`accesslog-pubsub parse` of it), across odd requests,
//! gracefuls with downloads in flight, restarts during an outage, and a stop with a backlog.
//!
//! Skipped with a printed reason where apache2 or gcloud is missing, except under CI=true.
//! `ACCESSLOG_PUBSUB_INSTALLED=1` runs them against the installed /usr/bin/accesslog-pubsub.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use common::Emulator;
use common::Pulled;
use common::apache::{Apache, BIG_FILE_BYTES, LoggerTarget};
use common::emulator::process_alive;
use common::logger::{PATIENCE, spooled_records, wait_until, without_run_keys};
use common::proxy::Proxy;

const TOPIC: &str = "apache-log";
const SUBSCRIPTION: &str = "apache-log-sub";

/// An emulator with the topic and its subscription.
fn emulator() -> Option<Emulator> {
    let emulator = Emulator::start()?;
    emulator.create_topic(TOPIC);
    emulator.create_subscription(SUBSCRIPTION, TOPIC);
    Some(emulator)
}

fn target(endpoint: String) -> LoggerTarget {
    LoggerTarget {
        endpoint,
        topic: TOPIC.into(),
        extra: String::new(),
        config_extra: String::new(),
    }
}

/// The pulled records, one per id (Pub/Sub delivers at least once), without the keys that
/// differ between the logger and `parse`.
fn distinct_records(pulled: &[Pulled]) -> Vec<Value> {
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for message in pulled {
        let record = message.json();
        let id = record["id"]
            .as_str()
            .expect("every record has an id")
            .to_owned();
        by_id.entry(id).or_insert(record);
    }
    by_id.into_values().map(without_run_keys).collect()
}

/// Asserts that `arrived` and `expected` are the same records, as multisets.
fn assert_same_records(arrived: Vec<Value>, expected: Vec<Value>) {
    let count = |records: Vec<Value>| {
        let mut map: BTreeMap<String, usize> = BTreeMap::new();
        for r in records {
            *map.entry(without_run_keys(r).to_string()).or_default() += 1;
        }
        map
    };
    let (arrived_n, expected_n) = (arrived.len(), expected.len());
    let (arrived, expected) = (count(arrived), count(expected));
    if arrived != expected {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|(k, n)| arrived.get(*k).copied().unwrap_or(0) < **n)
            .map(|(k, _)| k)
            .take(3)
            .collect();
        let extra: Vec<&String> = arrived
            .iter()
            .filter(|(k, n)| expected.get(*k).copied().unwrap_or(0) < **n)
            .map(|(k, _)| k)
            .take(3)
            .collect();
        panic!(
            "{arrived_n} distinct records arrived, httpd wrote {expected_n} lines; \
             missing (first 3): {missing:#?}; not written by httpd (first 3): {extra:#?}"
        );
    }
}

/// One HTTP/1.1 exchange on its own connection: the status and the body.
fn exchange(port: u16, request: &[u8]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to httpd");
    stream.write_all(request).expect("send a request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no end of headers in {:?}",
                String::from_utf8_lossy(&response)
            )
        });
    let status_line = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"));
    (status, response[head_end + 4..].to_vec())
}

/// One request of the odd mix and what its record must say.
struct Sent {
    raw: Vec<u8>,
    method: &'static str,
    user_agent: Option<String>,
    vhost: &'static str,
    forwarded_for: Option<&'static str>,
}

/// Request `i` of the mix: quotes and backslashes and UTF-8 and a tab in the User-Agent,
/// long URLs, odd and unknown methods, HEAD, POST, another vhost, X-Forwarded-For, and a
/// request line over httpd's limit. The User-Agent starts with `test/{i} ` to find its record.
fn request(i: usize) -> Sent {
    let ua = format!("test/{i} Mozilla/5.0");
    let (method, target, user_agent, extra): (&str, String, String, &str) = match i % 10 {
        0 => (
            "GET",
            format!("/index.html?n={i}"),
            format!("test/{i} \"quoted\" \\back\\slash"),
            "",
        ),
        1 => ("GET", format!("/long/{}?n={i}", "x".repeat(5000)), ua, ""),
        2 => ("PROPFIND", format!("/index.html?n={i}"), ua, ""),
        3 => ("HEAD", format!("/index.html?n={i}"), ua, ""),
        4 => (
            "POST",
            format!("/index.html?n={i}"),
            ua,
            "Content-Length: 3\r\n",
        ),
        6 => (
            "GET",
            format!("/index.html?n={i}"),
            ua,
            "X-Forwarded-For: 198.51.100.7, 10.0.0.1\r\n",
        ),
        7 => (
            "GET",
            format!("/caf%C3%A9?n={i}"),
            format!("test/{i} café\tbar"),
            "",
        ),
        8 => ("BREW", format!("/pot?n={i}"), ua, ""),
        9 => ("GET", format!("/{}?n={i}", "y".repeat(9000)), ua, ""),
        _ => ("GET", format!("/index.html?n={i}"), ua, ""),
    };
    let vhost = if i % 10 == 5 { "a.test" } else { "b.test" };
    let body = if method == "POST" { "a=1" } else { "" };
    let raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: {vhost}\r\nUser-Agent: {user_agent}\r\n{extra}Connection: close\r\n\r\n{body}"
    );
    Sent {
        raw: raw.into_bytes(),
        method,
        // httpd answers 414 to a request line over LimitRequestLine before reading headers.
        user_agent: (i % 10 != 9).then_some(user_agent),
        vhost,
        forwarded_for: (i % 10 == 6).then_some("198.51.100.7, 10.0.0.1"),
    }
}

#[test]
fn requests_of_every_kind_arrive_exactly_as_httpd_answered_and_logged_them() {
    let Some(emulator) = emulator() else { return };
    let Some(mut apache) = Apache::start(&target(emulator.endpoint())) else {
        return;
    };
    const N: usize = 300;
    let mut answered = Vec::with_capacity(N);
    for i in 0..N {
        let sent = request(i);
        let (status, body) = exchange(apache.port(), &sent.raw);
        answered.push((sent, status, body.len()));
    }
    let pulled = emulator.pull_all(SUBSCRIPTION, N, PATIENCE);
    apache.stop();

    let records = distinct_records(&pulled);
    assert_eq!(records.len(), N, "records that arrived, one per request");
    let lines = apache.access_lines();
    assert_eq!(lines.len(), N, "lines httpd wrote");
    assert_same_records(records.clone(), apache.parsed_access_log());

    let by_agent: BTreeMap<&str, &Value> = records
        .iter()
        .filter_map(|r| Some((r["user_agent"].as_str()?, r)))
        .collect();
    let mut too_long = 0;
    for (sent, status, body_len) in &answered {
        let Some(agent) = &sent.user_agent else {
            assert_eq!(*status, 414, "a request line over the limit");
            too_long += 1;
            continue;
        };
        let record = by_agent
            .get(agent.as_str())
            .unwrap_or_else(|| panic!("no record with user_agent {agent:?}"));
        assert_eq!(record["status"], *status, "status of {agent:?}: {record}");
        assert_eq!(record["method"], sent.method, "{record}");
        assert_eq!(record["vhost"], sent.vhost, "{record}");
        assert_eq!(
            record["req_x_forwarded_for"].as_str(),
            sent.forwarded_for,
            "{record}"
        );
        assert!(record["duration_us"].is_u64(), "{record}");
        assert_eq!(record["parse_error"], Value::Null, "{record}");
        if sent.method != "HEAD" && *body_len > 0 {
            assert_eq!(
                record["bytes_sent"], *body_len,
                "bytes of {agent:?}: {record}"
            );
        }
    }
    let logged_414 = records.iter().filter(|r| r["status"] == 414).count();
    assert_eq!(logged_414, too_long, "414 records");
}

#[test]
fn three_gracefuls_under_load_each_with_a_download_in_flight_lose_no_line() {
    let Some(emulator) = emulator() else { return };
    let Some(mut apache) = Apache::start(&target(emulator.endpoint())) else {
        return;
    };
    const REQUESTS: usize = 100_000;
    let mut gracefuls = 0;
    // The logger of the serving generation. The one of the generation before may still be
    // draining and publishing what its workers wrote when ab gets to the next graceful.
    let mut serving = None;
    let summary = apache.ab(REQUESTS, "/index.html", |apache, done| {
        if ![10_000, 40_000, 70_000].contains(&done) {
            return;
        }
        gracefuls += 1;
        let current = *serving.get_or_insert_with(|| {
            let loggers = apache.loggers();
            assert_eq!(loggers.len(), 1, "loggers before the first graceful");
            loggers[0]
        });
        let download = apache.slow_download(&gracefuls.to_string());
        let old_loggers = apache.loggers();
        apache.graceful();
        // The old logger got SIGTERM and keeps reading: the old worker that sends the
        // download still holds the pipe, and writes its line only when the download ends.
        let mut new_loggers = Vec::new();
        wait_until("the new generation's logger", || {
            new_loggers = apache.loggers();
            new_loggers.retain(|p| !old_loggers.contains(p));
            !new_loggers.is_empty()
        });
        assert_eq!(
            new_loggers.len(),
            1,
            "new loggers after graceful {gracefuls}"
        );
        serving = Some(new_loggers[0]);
        assert!(
            process_alive(current),
            "the old logger exited while a request of its generation was in flight"
        );
        let bytes = download.finish();
        assert!(bytes > BIG_FILE_BYTES, "the download got {bytes} bytes");
    });
    assert_eq!(gracefuls, 3, "gracefuls done");
    assert!(
        summary.ran_through_every_progress_call,
        "ab ended before a graceful was over: raise REQUESTS"
    );
    // A keep-alive connection that a graceful closes under ab's next request counts as a
    // failed request that httpd never saw, so never logged.
    let lines = apache.access_lines().len();
    let answered = summary.complete - summary.failed + 3;
    assert!(
        (answered..=summary.complete + 3).contains(&lines),
        "httpd wrote {lines} lines for {answered} answered requests ({summary:?})"
    );
    let pulled = emulator.pull_all(SUBSCRIPTION, lines, PATIENCE);
    apache.stop();
    let records = distinct_records(&pulled);
    for tag in ["1", "2", "3"] {
        let path = format!("/big.bin?slow={tag}");
        let slow: Vec<&Value> = records.iter().filter(|r| r["path"] == path).collect();
        assert_eq!(slow.len(), 1, "the download across graceful {tag}");
        assert_eq!(slow[0]["bytes_sent"], BIG_FILE_BYTES);
    }
    assert_same_records(records, apache.parsed_access_log());
}

#[test]
fn two_restarts_under_load_while_pubsub_is_unreachable_lose_nothing_and_empty_the_spool() {
    let Some(emulator) = emulator() else { return };
    let mut proxy = Proxy::new(emulator.port());
    let endpoint = format!("http://{}", proxy.host_port());
    let Some(mut apache) = Apache::start(&target(endpoint)) else {
        return;
    };
    proxy.down();
    const REQUESTS: usize = 30_000;
    let mut restarts = 0;
    let summary = apache.ab(REQUESTS, "/index.html", |apache, done| {
        if [9_000, 18_000].contains(&done) {
            apache.restart();
            restarts += 1;
        }
    });
    assert_eq!(restarts, 2);
    assert!(
        summary.ran_through_every_progress_call,
        "ab ended before a restart was over: raise REQUESTS"
    );
    let lines = apache.access_lines().len();
    // A restart kills the workers, so a request in flight may be cut before it is logged.
    assert!(
        lines >= summary.complete - summary.failed,
        "httpd wrote {lines} lines for {} answered requests",
        summary.complete - summary.failed
    );
    assert!(
        spooled_records(&apache.spool_dir()) > 0,
        "nothing waits in the spool"
    );

    proxy.up();
    let pulled = emulator.pull_all(SUBSCRIPTION, lines, PATIENCE);
    wait_until("an empty spool", || {
        spooled_records(&apache.spool_dir()) == 0
    });
    apache.stop();
    assert_same_records(distinct_records(&pulled), apache.parsed_access_log());
}

#[test]
fn a_stop_with_a_backlog_leaves_it_in_the_spool_and_the_next_start_sends_it() {
    let Some(emulator) = emulator() else { return };
    let mut proxy = Proxy::new(emulator.port());
    let endpoint = format!("http://{}", proxy.host_port());
    let Some(mut apache) = Apache::start(&target(endpoint)) else {
        return;
    };
    proxy.down();
    let summary = apache.ab(5_000, "/index.html", |_, _| {});
    assert_eq!(summary.failed, 0);
    apache.stop();
    let lines = apache.access_lines().len();
    assert_eq!(lines, summary.complete, "lines httpd wrote");
    assert_eq!(
        spooled_records(&apache.spool_dir()),
        lines as u64,
        "the backlog in the spool after the stop"
    );

    proxy.up();
    apache.start_again();
    let pulled = emulator.pull_all(SUBSCRIPTION, lines, PATIENCE);
    wait_until("an empty spool", || {
        spooled_records(&apache.spool_dir()) == 0
    });
    apache.stop();
    assert_same_records(distinct_records(&pulled), apache.parsed_access_log());
}

#[test]
fn a_bad_format_never_stalls_httpd_and_after_the_fix_every_line_arrives() {
    let Some(emulator) = emulator() else { return };
    let bad = LoggerTarget {
        extra: "--format %h%Z".into(),
        ..target(emulator.endpoint())
    };
    never_stalls_and_sends_all_after_the_fix(&emulator, &bad, "--format: ");
}

#[test]
fn an_unknown_key_in_the_config_file_never_stalls_httpd_and_after_the_fix_every_line_arrives() {
    let Some(emulator) = emulator() else { return };
    let bad = LoggerTarget {
        config_extra: "batch_size = 5\n".into(),
        ..target(emulator.endpoint())
    };
    never_stalls_and_sends_all_after_the_fix(&emulator, &bad, "batch_size");
}

/// 20,000 requests through httpd whose logger runs with `bad`: every one answered, the
/// trouble (`said`) in the ErrorLog, nothing published; then the shipped configuration and
/// a graceful: every line arrives, parsed with it.
fn never_stalls_and_sends_all_after_the_fix(emulator: &Emulator, bad: &LoggerTarget, said: &str) {
    let good = target(emulator.endpoint());
    let Some(mut apache) = Apache::start(bad) else {
        return;
    };
    const REQUESTS: usize = 20_000;
    // A logger that stopped reading would stall httpd after about 650 requests.
    let summary = apache.ab(REQUESTS, "/index.html", |_, _| {});
    assert_eq!(
        (summary.complete, summary.failed),
        (REQUESTS, 0),
        "every request answered"
    );
    let error_log = apache.error_log();
    assert!(
        error_log.contains("the configuration cannot be used: ") && error_log.contains(said),
        "the trouble is in httpd's ErrorLog: {error_log}"
    );
    assert!(
        emulator
            .pull_all(SUBSCRIPTION, 0, std::time::Duration::from_secs(1))
            .is_empty(),
        "nothing published without a usable configuration"
    );

    apache.set_logger(&good);
    apache.graceful();
    let lines = apache.access_lines().len();
    assert_eq!(lines, REQUESTS, "httpd logged every request");
    let pulled = emulator.pull_all(SUBSCRIPTION, lines, PATIENCE);
    apache.stop();
    assert_same_records(distinct_records(&pulled), apache.parsed_access_log());
}
