//! Tests of the test harness itself (`tests/common`) against the real Pub/Sub emulator:
//! REST round trip, pull semantics, restart on the same port, and no process left behind.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use common::emulator::{free_port, group_alive, process_alive};
use common::{Emulator, binary};

const PULL_TIMEOUT: Duration = Duration::from_secs(20);

/// Pids of live processes whose command line has `--port=PORT`, as the java emulator's
/// does, wherever they are in the process tree.
fn emulator_pids_on(port: u16) -> Vec<u32> {
    let needle = format!("--port={port}");
    fs::read_dir("/proc")
        .expect("read /proc")
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            let ours = cmdline.split(|&b| b == 0).any(|a| a == needle.as_bytes());
            (ours && process_alive(pid)).then_some(pid)
        })
        .collect()
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn publish_and_pull_round_trip() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    eprintln!("emulator started in {:?}", emulator.startup_time());
    assert_eq!(
        emulator.host_port(),
        format!("127.0.0.1:{}", emulator.port())
    );
    assert_eq!(
        emulator.endpoint(),
        format!("http://127.0.0.1:{}", emulator.port())
    );
    emulator.create_topic("harness-topic");
    emulator.create_subscription_with_ack_deadline("harness-sub", "harness-topic", 10);
    assert!(emulator.topic_exists("harness-topic"));
    assert!(!emulator.topic_exists("other-topic"));

    let sent = [
        (
            br#"{"n":1,"path":"/a?b=c"}"#.to_vec(),
            vec![("vhost", "www.example.org")],
        ),
        (
            "{\"n\":2,\"ua\":\"caf\u{e9} \\\"x\\\"\"}"
                .as_bytes()
                .to_vec(),
            vec![("record_id", "r-2"), ("vhost", "b")],
        ),
        (vec![0, 159, 146, 150, 255], vec![]),
    ];
    let mut ids = Vec::new();
    for (data, attributes) in &sent {
        ids.push(emulator.publish("harness-topic", data, attributes));
    }

    let mut pulled = emulator.pull_all("harness-sub", 3, PULL_TIMEOUT);
    assert_eq!(pulled.len(), 3, "pulled: {pulled:?}");
    pulled.sort_by_key(|p| ids.iter().position(|id| *id == p.message_id));
    for ((data, attributes), (message, id)) in sent.iter().zip(pulled.iter().zip(&ids)) {
        assert_eq!(&message.data, data);
        assert_eq!(message.attributes, attrs(attributes));
        assert_eq!(&message.message_id, id);
        assert_eq!(message.ordering_key, None);
    }
    assert_eq!(pulled[0].json()["path"], "/a?b=c");
    assert_eq!(pulled[1].json()["ua"], "caf\u{e9} \"x\"");

    // Everything was acked: nothing comes back, even after the 10 s ack deadline.
    std::thread::sleep(Duration::from_secs(11));
    let again = emulator.pull_all("harness-sub", 0, PULL_TIMEOUT);
    assert!(again.is_empty(), "redelivered, so not acked: {again:?}");
}

#[test]
fn pull_all_returns_more_than_expected() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("extra-topic");
    emulator.create_subscription_with_ack_deadline("extra-sub", "extra-topic", 60);
    for n in 0..5 {
        emulator.publish("extra-topic", format!("{n}").as_bytes(), &[]);
    }
    let pulled = emulator.pull_all("extra-sub", 3, PULL_TIMEOUT);
    let mut numbers: Vec<u8> = pulled.iter().flat_map(|p| p.data.clone()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, b"01234");
}

#[test]
#[should_panic(expected = "not JSON")]
fn pulled_json_panics_on_non_json() {
    let message = common::Pulled {
        data: b"not json".to_vec(),
        attributes: BTreeMap::new(),
        ordering_key: None,
        message_id: "1".into(),
    };
    message.json();
}

#[test]
fn restart_keeps_the_port_and_forgets_topics() {
    let Some(mut emulator) = Emulator::start() else {
        return;
    };
    let port = emulator.port();
    let first_group = emulator.process_group().expect("running");
    emulator.create_topic("restart-topic");

    emulator.restart();
    eprintln!("emulator restarted in {:?}", emulator.startup_time());
    assert_eq!(emulator.port(), port);
    assert!(!group_alive(first_group), "old process group still alive");
    assert_ne!(emulator.process_group(), Some(first_group));
    assert!(!emulator.topic_exists("restart-topic"));

    emulator.create_topic("restart-topic");
    emulator.create_subscription("restart-sub", "restart-topic");
    let id = emulator.publish("restart-topic", b"after restart", &[("k", "v")]);
    let pulled = emulator.pull_all("restart-sub", 1, PULL_TIMEOUT);
    assert_eq!(pulled.len(), 1);
    assert_eq!(pulled[0].data, b"after restart");
    assert_eq!(pulled[0].message_id, id);
}

#[test]
fn kill_then_start_again_on_the_same_port() {
    let Some(mut emulator) = Emulator::start() else {
        return;
    };
    let port = emulator.port();
    emulator.kill();
    assert!(!emulator.is_running());
    assert!(emulator_pids_on(port).is_empty());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still answers after kill"
    );

    emulator.start_again();
    assert_eq!(emulator.port(), port);
    emulator.create_topic("again-topic");
    assert!(emulator.topic_exists("again-topic"));
}

/// Sends `GET /` on a raw connection and returns the first reply line, or None if nothing
/// came within a second.
fn first_reply_line(port: u16) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("set timeout");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line)
}

#[test]
fn freeze_hangs_and_thaw_resumes() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    let port = emulator.port();
    assert!(first_reply_line(port).is_some_and(|l| l.contains("200")));
    emulator.freeze();
    assert_eq!(first_reply_line(port), None, "a frozen emulator answered");
    emulator.thaw();
    assert!(first_reply_line(port).is_some_and(|l| l.contains("200")));
    // Dropping a frozen emulator must still end it.
    emulator.freeze();
    let group = emulator.process_group().expect("running");
    drop(emulator);
    assert!(
        !group_alive(group),
        "frozen process group {group} survived drop"
    );
}

#[test]
fn start_on_a_chosen_port() {
    let port = free_port();
    let Some(emulator) = Emulator::start_on(port) else {
        return;
    };
    assert_eq!(emulator.host_port(), format!("127.0.0.1:{port}"));
    emulator.create_topic("chosen-topic");
    assert!(emulator.topic_exists("chosen-topic"));
}

#[test]
fn drop_and_stop_leave_no_process() {
    let Some(mut emulator) = Emulator::start() else {
        return;
    };
    let port = emulator.port();
    let group = emulator.process_group().expect("running");
    assert!(group_alive(group));
    assert_eq!(
        emulator_pids_on(port).len(),
        1,
        "expected exactly one java emulator on port {port}"
    );
    emulator.stop();
    assert!(
        !group_alive(group),
        "process group {group} alive after stop"
    );
    assert!(emulator_pids_on(port).is_empty());
    // A second stop (and the drop after it) is harmless.
    emulator.stop();
    drop(emulator);

    let Some(emulator) = Emulator::start() else {
        return;
    };
    let port = emulator.port();
    let group = emulator.process_group().expect("running");
    drop(emulator);
    assert!(
        !group_alive(group),
        "process group {group} alive after drop"
    );
    assert!(emulator_pids_on(port).is_empty());
}

#[test]
fn binary_path_points_at_the_built_program() {
    assert!(binary().is_file(), "{} missing", binary().display());
}

/// Runs one test of this binary again in a child process with gcloud off the PATH.
fn run_without_gcloud(test: &str, ci: Option<&str>) -> (bool, String) {
    let mut command = std::process::Command::new(std::env::current_exe().expect("current exe"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("PATH", "/nonexistent")
        .env_remove("CI");
    if let Some(value) = ci {
        command.env("CI", value);
    }
    let output = command.output().expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn missing_gcloud_skips_locally_and_fails_in_ci() {
    let (ok, text) = run_without_gcloud("start_on_a_chosen_port", None);
    assert!(ok, "a missing emulator must skip outside CI:\n{text}");
    assert!(
        text.contains("SKIPPED: start_on_a_chosen_port: gcloud pubsub emulator not found"),
        "no SKIPPED line:\n{text}"
    );

    let (ok, text) = run_without_gcloud("start_on_a_chosen_port", Some("true"));
    assert!(!ok, "a missing emulator must fail in CI:\n{text}");
    assert!(
        text.contains("CI must have it installed"),
        "no CI message:\n{text}"
    );
}
