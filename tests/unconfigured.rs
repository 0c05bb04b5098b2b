//! A configuration that cannot be used never ends the piped logger (httpd would respawn it
//! and nobody would read its pipe): a bad format, or a config file with an unknown key,
//! and every line piped in is still read, kept unparsed in the spool, and the trouble said
//! once; the next logger with a usable configuration sends them all, parsed with its
//! format. Subcommands still refuse a bad configuration with exit 2.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};

use common::Emulator;
use common::logger::{
    PATIENCE, finish, indexed_text, indices, run_tool, signal, spooled_records, start_logger,
    wait_until,
};

/// Pipes `0..n` into a logger started with `args` (and PUBSUB_EMULATOR_HOST), to the end.
fn pipe_through(emulator: &Emulator, args: &[&str], n: usize) -> (Option<i32>, String) {
    let mut child = Command::new(common::binary())
        .args(args)
        .env("PUBSUB_EMULATOR_HOST", emulator.host_port())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accesslog-pubsub");
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(&indexed_text(0..n))
        .expect("every line is read");
    let out = finish(child);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn every_line_arrives_after_a_fix(emulator: &Emulator, topic: &str, spool: &std::path::Path) {
    let sub = format!("{topic}-sub");
    let fixed = start_logger(&emulator.host_port(), topic, spool, &[]);
    let out = finish(fixed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = emulator.pull_all(&sub, 20_000, PATIENCE);
    let (got, duplicates) = indices(&pulled);
    assert_eq!(got, (0..20_000).collect(), "every line arrived");
    assert_eq!(duplicates, 0);
    for p in &pulled {
        let record = p.json();
        assert!(
            record.get("parse_error").is_none(),
            "parsed with combined: {record}"
        );
    }
    assert_eq!(spooled_records(spool), 0);
}

#[test]
fn a_bad_format_keeps_every_line_for_the_next_logger() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("unconf-format");
    emulator.create_subscription("unconf-format-sub", "unconf-format");
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let spool_arg = spool.to_str().expect("UTF-8");
    let args = [
        "--project",
        "test",
        "--topic",
        "unconf-format",
        "--spool-dir",
        spool_arg,
        "--format",
        "%h%Z",
    ];
    let (code, stderr) = pipe_through(&emulator, &args, 20_000);
    assert_eq!(code, Some(1), "{stderr}");
    let trouble: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("the configuration cannot be used"))
        .collect();
    assert_eq!(trouble.len(), 1, "said once: {stderr}");
    assert!(
        trouble[0].contains("--format") && trouble[0].contains("%Z"),
        "{stderr}"
    );
    assert!(stderr.contains("20000 lines kept unparsed"), "{stderr}");
    assert_eq!(spooled_records(&spool), 20_000);
    assert!(
        emulator
            .pull_all("unconf-format-sub", 0, std::time::Duration::from_secs(1))
            .is_empty(),
        "nothing published without a usable configuration"
    );

    // A subcommand still refuses the same configuration with exit 2.
    let out = run_tool(&["parse", "--format", "%h%Z"], &[]);
    assert_eq!(out.status.code(), Some(2));

    every_line_arrives_after_a_fix(&emulator, "unconf-format", &spool);
}

#[test]
fn a_config_file_with_an_unknown_key_keeps_every_line_for_the_next_logger() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("unconf-key");
    emulator.create_subscription("unconf-key-sub", "unconf-key");
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let config = dir.path().join("config.toml");
    fs::write(
        &config,
        format!(
            "project = \"test\"\ntopic = \"unconf-key\"\nspool_dir = \"{}\"\nbatch_size = 5\n",
            spool.display()
        ),
    )
    .expect("write config");
    let args = ["--config", config.to_str().expect("UTF-8")];
    let (code, stderr) = pipe_through(&emulator, &args, 20_000);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("batch_size"), "names the key: {stderr}");
    assert_eq!(
        spooled_records(&spool),
        20_000,
        "in the file's spool_dir: {stderr}"
    );

    every_line_arrives_after_a_fix(&emulator, "unconf-key", &spool);
}

/// The logger's stderr so far, from the file it writes to.
fn stderr_of(path: &std::path::Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_sighup_after_the_fix_sends_everything_without_a_restart() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("unconf-hup");
    emulator.create_subscription("unconf-hup-sub", "unconf-hup");
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let config = dir.path().join("config.toml");
    let good = format!(
        "project = \"test\"\ntopic = \"unconf-hup\"\nspool_dir = \"{}\"\n",
        spool.display()
    );
    fs::write(&config, format!("{good}batch_size = 5\n")).expect("write config");
    let stderr_path = dir.path().join("stderr");
    let mut child = Command::new(common::binary())
        .args(["--config", config.to_str().expect("UTF-8")])
        .env("PUBSUB_EMULATOR_HOST", emulator.host_port())
        .stdin(Stdio::piped())
        .stderr(fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start accesslog-pubsub");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&indexed_text(0..10_000)).expect("write");
    wait_until("the first 10,000 lines in the spool", || {
        spooled_records(&spool) == 10_000
    });

    // Still broken: the reload is refused, the logger reads on.
    signal(pid, libc::SIGHUP);
    wait_until("the refused reload said", || {
        stderr_of(&stderr_path).contains("reload: the configuration still cannot be used")
    });
    assert!(
        stderr_of(&stderr_path).contains("batch_size"),
        "names the key: {}",
        stderr_of(&stderr_path)
    );

    // Fixed while a line is half written: the same process waits for the rest of it, takes
    // over what it kept, and goes on with what comes next.
    let next = indexed_text(10_000..20_000);
    let (half, rest) = next.split_at(40);
    stdin.write_all(half).expect("write half a line");
    fs::write(&config, &good).expect("fix config");
    signal(pid, libc::SIGHUP);
    // Let the reload find the line half read (the result must not depend on it).
    std::thread::sleep(std::time::Duration::from_millis(300));
    stdin.write_all(rest).expect("write after the fix");
    wait_until("the start with the fixed configuration", || {
        stderr_of(&stderr_path).contains("starting again with it")
    });
    let pulled = emulator.pull_all("unconf-hup-sub", 20_000, PATIENCE);
    drop(stdin);
    let status = child.wait().expect("wait");
    let stderr = stderr_of(&stderr_path);
    assert!(status.success(), "{status}: {stderr}");
    let (got, duplicates) = indices(&pulled);
    assert_eq!(got, (0..20_000).collect(), "every line arrived: {stderr}");
    assert_eq!(duplicates, 0);
    for p in &pulled {
        let record = p.json();
        assert!(record.get("parse_error").is_none(), "parsed: {record}");
    }
    assert_eq!(spooled_records(&spool), 0);
}

#[test]
fn a_bad_flag_in_the_pipe_keeps_every_line_for_the_next_logger() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("unconf-flag");
    emulator.create_subscription("unconf-flag-sub", "unconf-flag");
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let stderr_path = dir.path().join("stderr");
    let mut child = Command::new(common::binary())
        .args([
            "--project",
            "test",
            "--topic",
            "unconf-flag",
            "--no-such-flag",
        ])
        .arg(format!("--spool-dir={}", spool.display()))
        .env("PUBSUB_EMULATOR_HOST", emulator.host_port())
        .stdin(Stdio::piped())
        .stderr(fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("start accesslog-pubsub");
    wait_until("the trouble said", || {
        stderr_of(&stderr_path).contains("the configuration cannot be used")
    });
    // A reload cannot change the command line, and says so.
    signal(child.id(), libc::SIGHUP);
    wait_until("the refused reload said", || {
        stderr_of(&stderr_path).contains("fix the CustomLog line in httpd.conf")
    });
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(&indexed_text(0..20_000))
        .expect("every line is read");
    let out = finish(child);
    let stderr = stderr_of(&stderr_path);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--no-such-flag") && stderr.contains("(on the command line)"),
        "{stderr}"
    );
    assert!(stderr.contains("20000 lines kept unparsed"), "{stderr}");
    assert_eq!(spooled_records(&spool), 20_000);

    // A subcommand with the same mistake is refused, as before.
    let out = run_tool(&["parse", "--no-such-flag"], &[]);
    assert_eq!(out.status.code(), Some(2));

    every_line_arrives_after_a_fix(&emulator, "unconf-flag", &spool);
}
