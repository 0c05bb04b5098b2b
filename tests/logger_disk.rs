//! The logger on a spool disk that fails it for real (a small tmpfs): what it reports about
//! its lines is what happened to them. A full disk loses nothing while Pub/Sub takes the
//! lines (they go through memory), spooling resumes once the disk has room, and with
//! Pub/Sub unreachable as well every line read is accounted for, exactly.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::Emulator;
use common::emulator::free_port;
use common::logger::{
    PATIENCE, assert_lines, finish, has_a_segment, indexed_text, indices, spooled_records,
    start_logger, wait_until,
};

/// A tmpfs mounted on a temporary directory for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs with `options`. Needs root: elsewhere prints a SKIPPED line and gives
    /// `None`, except under `CI=true` (which runs as root), where that is a failure.
    fn mount(test: &str, options: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = format!("cannot mount a tmpfs (root needed): {other:?}");
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{test}: {why}"
                );
                println!("SKIPPED: {test}: {why}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn lines_written_to_a_segment_that_cannot_rotate_are_not_reported_lost() {
    // Room for the directory and one file: the first segment is created, the next is not.
    // Mode 0700: a spool directory others can write is refused.
    let Some(disk) = Tmpfs::mount(
        "lines_written_to_a_segment_that_cannot_rotate_are_not_reported_lost",
        "size=64m,nr_inodes=2,mode=0700",
    ) else {
        return;
    };
    const LINES: usize = 3_000;
    // Pub/Sub unreachable: everything stays in the spool. Segments rotate at 256 KiB (a
    // quarter of the 1 MiB limit), about every 1,400 lines; 3,000 lines fit in the limit.
    let nobody = format!("127.0.0.1:{}", free_port());
    let mut logger = start_logger(
        &nobody,
        "disk-topic",
        disk.path(),
        &["--spool-max-bytes", "1MiB", "--shutdown-timeout", "100ms"],
    );
    logger
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(&indexed_text(0..LINES))
        .expect("write lines");
    let out = finish(logger);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no new segment can be started"),
        "the failed rotation is reported: {stderr}"
    );
    assert!(!stderr.contains("LOST"), "nothing was lost: {stderr}");
    assert_eq!(
        spooled_records(disk.path()),
        LINES as u64,
        "every line is in the spool: {stderr}"
    );
}

/// Fills the file system of `dir` with a file of zeros until it is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    path
}

#[test]
fn with_the_spool_disk_full_every_line_still_arrives_and_spooling_resumes_once_it_has_room() {
    let Some(disk) = Tmpfs::mount(
        "with_the_spool_disk_full_every_line_still_arrives_and_spooling_resumes_once_it_has_room",
        "size=4m,mode=0700",
    ) else {
        return;
    };
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("full-disk");
    emulator.create_subscription("full-disk-sub", "full-disk");
    let mut logger = start_logger(&emulator.host_port(), "full-disk", disk.path(), &[]);
    let mut stdin = logger.stdin.take().expect("stdin");
    stdin
        .write_all(&indexed_text(0..1))
        .expect("the first line");
    wait_until("the first segment", || has_a_segment(disk.path()));
    let filler = fill(disk.path());

    // 20,000 lines (about 3 MB) while not one byte fits on the disk.
    stdin
        .write_all(&indexed_text(1..20_001))
        .expect("write lines");
    let pulled = emulator.pull_all("full-disk-sub", 20_001, PATIENCE);
    let (got, _) = indices(&pulled);
    assert_lines(&got, 0..20_001, "lines in Pub/Sub while the disk is full");

    std::fs::remove_file(filler).expect("make room");
    stdin
        .write_all(&indexed_text(20_001..25_001))
        .expect("write more lines");
    drop(stdin);
    let out = finish(logger);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the logger failed: {stderr}");
    assert!(
        stderr.contains("held in memory and published from there"),
        "the failing spool is said: {stderr}"
    );
    assert!(
        stderr.contains("the spool can be written again"),
        "its recovery is said: {stderr}"
    );
    assert!(!stderr.contains("LOST"), "nothing was lost: {stderr}");
    let pulled = emulator.pull_all("full-disk-sub", 5_000, PATIENCE);
    let (got, _) = indices(&pulled);
    assert_lines(
        &got,
        20_001..25_001,
        "lines in Pub/Sub after the disk had room",
    );
}

/// The numbers of the counters line (`name=value` pairs) in `line`.
fn counters(line: &str) -> BTreeMap<String, u64> {
    line.split([' ', '(', ')', ','])
        .filter_map(|part| part.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

#[test]
fn with_the_spool_disk_full_and_pub_sub_unreachable_every_line_read_is_accounted_for() {
    let Some(disk) = Tmpfs::mount(
        "with_the_spool_disk_full_and_pub_sub_unreachable_every_line_read_is_accounted_for",
        "size=4m,mode=0700",
    ) else {
        return;
    };
    const LINES: u64 = 20_001;
    let nobody = format!("127.0.0.1:{}", free_port());
    let mut logger = start_logger(
        &nobody,
        "disk-topic",
        disk.path(),
        &[
            "--memory-max-bytes",
            "256KiB",
            "--shutdown-timeout",
            "100ms",
        ],
    );
    let mut stdin = logger.stdin.take().expect("stdin");
    stdin
        .write_all(&indexed_text(0..1))
        .expect("the first line");
    wait_until("the first segment", || has_a_segment(disk.path()));
    fill(disk.path());
    stdin
        .write_all(&indexed_text(1..LINES as usize))
        .expect("write lines");
    drop(stdin);
    let out = finish(logger);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let exit_line = stderr
        .lines()
        .find(|l| l.contains("at exit counters:"))
        .unwrap_or_else(|| panic!("no counters line at exit: {stderr}"));
    let c = counters(exit_line);
    let spool = spooled_records(disk.path());
    assert_eq!(c["lines_read"], LINES, "{exit_line}");
    assert_eq!(c["published_records"], 0, "{exit_line}");
    assert_eq!(c["memory_records"], 0, "{exit_line}");
    assert_eq!(
        c["spool_records"], spool,
        "what it says is in the spool is: {exit_line}"
    );
    assert_eq!(
        c["spool_records"] + c["dropped_records"],
        LINES,
        "read = spooled + dropped: {exit_line}"
    );
    assert_eq!(
        c["dropped_records"],
        c["spool_write_failed"] + c.get("memory_at_exit").copied().unwrap_or(0),
        "the reasons add up: {exit_line}"
    );
    assert!(
        c["spool_write_failed"] > 0,
        "past 256 KiB of memory lines are dropped: {exit_line}"
    );
    let said_lost: u64 = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("accesslog-pubsub: "))
        .filter_map(|l| l.split_once(" lines were lost"))
        .filter_map(|(n, _)| n.parse::<u64>().ok())
        .sum();
    assert_eq!(said_lost, c["dropped_records"], "{stderr}");
}
