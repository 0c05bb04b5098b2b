//! The logger on a spool disk that fails it for real (a small tmpfs): what it reports about
//! its lines is what happened to them.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::emulator::free_port;
use common::logger::{finish, indexed_text, spooled_records, start_logger};

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
