//! `accesslog-pubsub check` against a real emulator: all OK (exit 0); a topic that does not
//! exist is a FAIL naming it; a spool directory others can write is a FAIL saying what to
//! fix; `--sample` counts the lines the format matches and explains the first that do not.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::Emulator;
use common::logger::run_tool;

fn check(emulator: &Emulator, topic: &str, spool: &std::path::Path, extra: &[&str]) -> Output {
    let spool = spool.to_str().expect("UTF-8 path");
    let mut args = vec![
        "check",
        "--project",
        "test",
        "--topic",
        topic,
        "--spool-dir",
        spool,
    ];
    args.extend_from_slice(extra);
    run_tool(&args, &[("PUBSUB_EMULATOR_HOST", &emulator.host_port())])
}

/// The stdout line about `what`, e.g. `OK    topic: ...`.
fn line<'a>(stdout: &'a str, what: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l[6..].starts_with(&format!("{what}: ")))
        .unwrap_or_else(|| panic!("no {what} line in:\n{stdout}"))
}

#[test]
fn check_says_ok_fail_and_what_to_fix() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("weblogs");
    let base = tempfile::tempdir().expect("temp dir");
    let spool = base.path().join("spool");
    fs::create_dir(&spool).expect("mkdir spool");
    fs::set_permissions(&spool, fs::Permissions::from_mode(0o700)).expect("chmod 0700");

    let out = check(&emulator, "weblogs", &spool, &["--user", "nobody"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        line(&stdout, "topic").starts_with("OK    topic: projects/test/topics/weblogs exists"),
        "{stdout}"
    );
    for what in ["configuration", "format", "user", "spool", "credentials"] {
        assert!(line(&stdout, what).starts_with("OK"), "{stdout}");
    }

    let out = check(&emulator, "no-such-topic", &spool, &["--user", "nobody"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let topic = line(&stdout, "topic");
    assert!(
        topic.starts_with("FAIL  topic: projects/test/topics/no-such-topic does not exist"),
        "{stdout}"
    );

    fs::set_permissions(&spool, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    let out = check(&emulator, "weblogs", &spool, &["--user", "nobody"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let spool_line = line(&stdout, "spool");
    assert!(
        spool_line.starts_with("FAIL") && spool_line.contains("chmod 700"),
        "{stdout}"
    );
    assert!(line(&stdout, "topic").starts_with("OK"), "{stdout}");
}

#[test]
fn a_sample_log_is_counted_and_its_misfits_explained() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("weblogs");
    let base = tempfile::tempdir().expect("temp dir");
    let sample = base.path().join("access.log");
    let mut text = String::new();
    for i in 0..9 {
        text.push_str(&common::logger::indexed_line(i));
        text.push('\n');
    }
    text.push_str("not an access log line\n");
    fs::write(&sample, text).expect("write sample");
    let out = check(
        &emulator,
        "weblogs",
        &base.path().join("spool"),
        &["--sample", sample.to_str().expect("UTF-8")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "a WARN is not a FAIL: {stdout}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("sample: ")).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("WARN") && lines[0].contains("9 of 10 lines"),
        "{stdout}"
    );
    assert!(lines[1].contains("line 10: "), "{stdout}");
}
