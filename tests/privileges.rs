//! Privileges for real, as root (CI runs as root; elsewhere these tests are skipped with
//! a printed reason): started as root with `user = "nobody"`, the logger's every uid and gid
//! is nobody's, its spool directory and files belong to nobody (0700 and 0600), and every
//! line still arrives. A spool directory others can write, or a configuration file
//! others can write, is refused with one line saying what to fix. Credentials never show in
//! what the program says.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::logger::{
    Guard, PATIENCE, assert_success, indexed_text, indices, start_logger, wait_until,
};
use common::{Emulator, binary, skip_or_fail};

const NOBODY: u32 = 65534;
/// An endpoint where nothing listens.
const CLOSED: &str = "http://127.0.0.1:9";

/// True when running as root; otherwise prints why the test is skipped (fails under CI).
fn as_root() -> bool {
    // SAFETY: geteuid() has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        skip_or_fail("needs root (privileges are dropped from root)");
    }
    root
}

/// A temp directory others can enter (mkdtemp gives 0700), so the dropped user reaches the
/// spool directory inside it.
fn open_temp_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    dir
}

/// The ids of one `Uid:`/`Gid:`/`Groups:` line of /proc/PID/status.
fn proc_ids(pid: u32, key: &str) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
        .split_whitespace()
        .map(|id| id.parse().expect("a numeric id"))
        .collect()
}

#[test]
fn as_root_with_user_nobody_it_runs_as_nobody_and_everything_arrives() {
    if !as_root() {
        return;
    }
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("privileges");
    emulator.create_subscription("privileges-sub", "privileges");
    let base = open_temp_dir();
    let spool = base.path().join("spool");
    let mut logger = Guard::new(start_logger(
        &emulator.host_port(),
        "privileges",
        &spool,
        &["--user", "nobody"],
    ));
    let pid = logger.pid();
    let stdin = logger
        .0
        .as_mut()
        .and_then(|c| c.stdin.as_mut())
        .expect("stdin");
    std::io::Write::write_all(stdin, &indexed_text(0..500)).expect("write lines");
    wait_until("a spool segment", || {
        fs::read_dir(&spool).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "seg")))
        })
    });

    for key in ["Uid:", "Gid:"] {
        assert_eq!(
            proc_ids(pid, key),
            [NOBODY; 4],
            "{key} real, effective, saved, fs"
        );
    }
    assert_eq!(
        proc_ids(pid, "Groups:"),
        [NOBODY],
        "no group of root's left"
    );
    let dir = fs::metadata(&spool).expect("spool dir");
    assert_eq!((dir.uid(), dir.mode() & 0o7777), (NOBODY, 0o700));
    std::io::Write::write_all(
        logger
            .0
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .expect("stdin"),
        &indexed_text(500..1000),
    )
    .expect("write more lines");

    let out = logger.finish();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("running as root"), "{stderr}");
    let pulled = emulator.pull_all("privileges-sub", 1000, PATIENCE);
    let (got, duplicates) = indices(&pulled);
    assert_eq!(got, (0..1000).collect(), "every line arrived");
    assert_eq!(duplicates, 0);

    // What is left in the spool (segments are deleted once acknowledged, so run once more
    // with Pub/Sub out of reach to keep one) belongs to nobody, 0600.
    let mut offline = Guard::new(
        Command::new(binary())
            .args([
                "--project",
                "test",
                "--topic",
                "privileges",
                "--user",
                "nobody",
            ])
            .args([
                "--endpoint",
                "http://127.0.0.1:9",
                "--shutdown-timeout",
                "1s",
            ])
            .arg("--spool-dir")
            .arg(&spool)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the logger"),
    );
    std::io::Write::write_all(
        offline
            .0
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .expect("stdin"),
        &indexed_text(0..10),
    )
    .expect("write lines");
    let out = offline.finish();
    assert_eq!(out.status.code(), Some(1), "records left unpublished");
    let files: Vec<fs::Metadata> = fs::read_dir(&spool)
        .expect("spool dir")
        .map(|e| e.expect("entry").metadata().expect("metadata"))
        .collect();
    assert!(!files.is_empty(), "the unpublished segment is there");
    for meta in files {
        assert_eq!((meta.uid(), meta.mode() & 0o777), (NOBODY, 0o600));
    }
}

/// `accesslog-pubsub ARGS` as root, to completion; its exit code and stderr.
fn run(args: &[&str], config: Option<&Path>, spool: &Path) -> (Option<i32>, String) {
    let mut command = Command::new(binary());
    command
        .args(args)
        .args(["--project", "test", "--topic", "t"])
        .arg("--spool-dir")
        .arg(spool)
        .stdin(Stdio::null());
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let out = command.output().expect("run accesslog-pubsub");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_spool_directory_others_can_write_is_refused_with_the_fix() {
    if !as_root() {
        return;
    }
    let base = open_temp_dir();
    let spool = base.path().join("spool");
    fs::create_dir(&spool).expect("create spool dir");
    fs::set_permissions(&spool, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    let (code, stderr) = run(
        &["spool", "replay", "--user", "nobody", "--endpoint", CLOSED],
        None,
        &spool,
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("group or others can write it (mode 0777)")
            && stderr.contains(&format!("chmod 700 {}", spool.display())),
        "{stderr}"
    );
    let mode = fs::metadata(&spool).expect("spool dir").mode() & 0o7777;
    assert_eq!(mode, 0o777, "left as it was");
}

#[test]
fn as_root_a_config_file_others_can_write_is_refused() {
    if !as_root() {
        return;
    }
    let base = open_temp_dir();
    let config = base.path().join("config.toml");
    fs::write(&config, "verbose = false\n").expect("write config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o666)).expect("chmod 0666");
    let spool = base.path().join("spool");
    let (code, stderr) = run(
        &["spool", "replay", "--endpoint", CLOSED],
        Some(&config),
        &spool,
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("group or others can write it (owner root, mode 0666)")
            && stderr.contains("chmod go-w"),
        "{stderr}"
    );

    // The same file, only root may write it, in a directory a user can write: refused.
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).expect("chmod 0644");
    let open = base.path().join("open");
    fs::create_dir(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    let inside = open.join("config.toml");
    fs::copy(&config, &inside).expect("copy");
    let (code, stderr) = run(
        &["spool", "replay", "--endpoint", CLOSED],
        Some(&inside),
        &spool,
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("it is in {}", open.display())),
        "{stderr}"
    );

    // Mode 0644, owned by root, in root's directories: accepted (replay finds nothing).
    let (code, stderr) = run(
        &["spool", "replay", "--timeout", "1s", "--endpoint", CLOSED],
        Some(&config),
        &spool,
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn credentials_are_never_printed() {
    let base = open_temp_dir();
    let secret = "SECRET-KEY-MATERIAL-4711";
    let key = base.path().join("key.json");
    fs::write(
        &key,
        format!(
            r#"{{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key_id":"1","private_key":"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n","project_id":"p"}}"#
        ),
    )
    .expect("write key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    let spool = base.path().join("spool");
    let mut logger = Guard::new(
        Command::new(binary())
            .args([
                "--project",
                "test",
                "--topic",
                "t",
                "--shutdown-timeout",
                "2s",
            ])
            .args(["--endpoint", "https://127.0.0.1:9", "--credentials-file"])
            .arg(&key)
            .arg("--spool-dir")
            .arg(&spool)
            .env_remove("PUBSUB_EMULATOR_HOST")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the logger"),
    );
    std::io::Write::write_all(
        logger
            .0
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .expect("stdin"),
        &indexed_text(0..3),
    )
    .expect("write lines");
    std::thread::sleep(Duration::from_secs(3));
    let out = logger.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.is_empty(), "the failure is said");
    assert!(!stderr.contains(secret), "{stderr}");

    // Not JSON at all, the secret on the first line: the error names the file, not its text.
    fs::write(&key, format!("{secret}\n")).expect("write key");
    let (code, stderr) = run(
        &[
            "spool",
            "replay",
            "--endpoint",
            "https://127.0.0.1:9",
            "--credentials-file",
            key.to_str().expect("UTF-8"),
        ],
        None,
        &spool,
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("credentials file") && !stderr.contains(secret),
        "{stderr}"
    );
}
