//! Signals as httpd and an operator send them, to the real binary: SIGTERM drains and then
//! stops with what is unpublished left in the spool, a second SIGTERM exits at once, and
//! SIGINT stops `spool replay`. Pub/Sub is a closed port, so nothing is ever acknowledged.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::binary;
use common::logger::{
    Guard, closed_endpoint, sample_lines, signal, spooled_records, unreachable_logger, wait_until,
    write_lines,
};

#[test]
fn sigterm_drains_then_exits_leaving_the_unpublished_in_the_spool() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Guard::new(unreachable_logger(
        "signals",
        dir.path(),
        &["--drain-timeout", "1s", "--shutdown-timeout", "1s"],
    ));
    let stdin = child
        .0
        .as_mut()
        .and_then(|c| c.stdin.as_mut())
        .expect("stdin");
    write_lines(stdin, &sample_lines(3));
    wait_until("3 lines spooled", || spooled_records(dir.path()) == 3);
    signal(child.pid(), libc::SIGTERM);
    // Its stdin stays open: only the drain timeout ends the input.
    let out = child
        .0
        .take()
        .expect("running")
        .wait_with_output()
        .expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("exiting with 3 records not yet published"),
        "{stderr}"
    );
    assert_eq!(spooled_records(dir.path()), 3, "they stay in the spool");

    let mut replay = Command::new(binary())
        .args(["spool", "replay", "--project", "test", "--topic", "signals"])
        .arg("--endpoint")
        .arg(closed_endpoint())
        .arg("--spool-dir")
        .arg(dir.path())
        .env_remove("PUBSUB_EMULATOR_HOST")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start spool replay");
    let mut lines = BufReader::new(replay.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a line").expect("UTF-8");
    assert!(first.contains("replay: 3 records to publish"), "{first}");
    signal(replay.id(), libc::SIGINT);
    let rest: Vec<String> = lines.map(|l| l.expect("UTF-8")).collect();
    let status = replay.wait().expect("wait for replay");
    assert_eq!(status.code(), Some(1), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("records, 3 left in")),
        "{rest:?}"
    );
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Guard::new(unreachable_logger(
        "signals",
        dir.path(),
        &["--drain-timeout", "1h"],
    ));
    let stdin = child
        .0
        .as_mut()
        .and_then(|c| c.stdin.as_mut())
        .expect("stdin");
    write_lines(stdin, &sample_lines(2));
    wait_until("2 lines spooled", || spooled_records(dir.path()) == 2);
    // With an hour to drain and stdin open, only a second signal can end it. Signals sent
    // close together may merge into one, so it is sent again until the process is gone.
    let mut status = None;
    wait_until("the exit after a second SIGTERM", || {
        let running = child.0.as_mut().expect("started");
        status = running.try_wait().expect("try_wait");
        if status.is_none() {
            signal(running.id(), libc::SIGTERM);
        }
        status.is_some()
    });
    child.0 = None;
    assert_eq!(status.and_then(|s| s.code()), Some(1));
    assert_eq!(
        spooled_records(dir.path()),
        2,
        "what was read is in the spool"
    );
}

#[test]
fn sighup_sigpipe_and_sigusr2_do_not_end_the_logger() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Guard::new(unreachable_logger(
        "signals",
        dir.path(),
        &["--drain-timeout", "1s", "--shutdown-timeout", "1s"],
    ));
    let stdin = child
        .0
        .as_mut()
        .and_then(|c| c.stdin.as_mut())
        .expect("stdin");
    write_lines(stdin, &sample_lines(2));
    wait_until("2 lines spooled", || spooled_records(dir.path()) == 2);
    for sig in [libc::SIGHUP, libc::SIGPIPE, libc::SIGUSR2] {
        signal(child.pid(), sig);
        // A signal whose default action ends the process would have done so by now, and
        // the lines written after it would not be read.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let running = child.0.as_mut().expect("started");
        assert!(
            running.try_wait().expect("try_wait").is_none(),
            "signal {sig} ended the logger"
        );
    }
    let stdin = child
        .0
        .as_mut()
        .and_then(|c| c.stdin.as_mut())
        .expect("stdin");
    write_lines(stdin, &sample_lines(3));
    wait_until("5 lines spooled", || spooled_records(dir.path()) == 5);
    let out = child.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("exiting with 5 records not yet published"),
        "{stderr}"
    );
}
