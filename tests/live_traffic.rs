//! Lines as Apache writes them: one `write()` per line, into the logger's pipe. A burst
//! never finds the pipe full (the writer never has to wait), every line arrives, and
//! line-at-a-time writes wake the logger far less often than once per line.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::Emulator;
use common::logger::{
    PATIENCE, assert_lines, finish, has_a_segment, indexed_line, indices, start_logger, wait_until,
};

/// Voluntary context switches of every thread of `pid`: how often it went to sleep.
fn wakeups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the logger's threads");
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .sum()
}

#[test]
fn a_burst_of_5000_lines_written_one_per_write_never_finds_the_pipe_full_and_all_arrive() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("burst");
    emulator.create_subscription("burst-sub", "burst");
    let spool = tempfile::tempdir().expect("spool dir");
    let mut logger = start_logger(&emulator.host_port(), "burst", spool.path(), &[]);
    let mut stdin = logger.stdin.take().expect("stdin");
    writeln!(stdin, "{}", indexed_line(0)).expect("the first line");
    wait_until("the logger spooled its first line", || {
        has_a_segment(spool.path())
    });
    // As Apache's workers do, but never waiting: a full pipe shows as WouldBlock.
    let fd = stdin.as_raw_fd();
    // SAFETY: fcntl on a pipe we own, only adding O_NONBLOCK to its flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK), 0);
    }
    let mut would_block = 0;
    for i in 1..5001 {
        let line = format!("{}\n", indexed_line(i));
        loop {
            match stdin.write(line.as_bytes()) {
                Ok(n) => {
                    assert_eq!(n, line.len(), "a line is written whole");
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    would_block += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("write line {i}: {e}"),
            }
        }
    }
    assert_eq!(
        would_block, 0,
        "the pipe was full: Apache's workers would have waited"
    );
    logger.stdin = Some(stdin);
    let out = finish(logger);
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pulled = emulator.pull_all("burst-sub", 5001, PATIENCE);
    let (got, _) = indices(&pulled);
    assert_lines(&got, 0..5001, "lines in Pub/Sub after the burst");
}

#[test]
fn lines_written_one_at_a_time_wake_the_logger_far_less_than_once_per_line() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("paced");
    emulator.create_subscription("paced-sub", "paced");
    let spool = tempfile::tempdir().expect("spool dir");
    let mut logger = start_logger(&emulator.host_port(), "paced", spool.path(), &[]);
    let pid = logger.id();
    let stdin = logger.stdin.as_mut().expect("stdin");
    writeln!(stdin, "{}", indexed_line(0)).expect("the first line");
    wait_until("the logger spooled its first line", || {
        has_a_segment(spool.path())
    });
    let before = wakeups(pid);
    let lines = 600;
    for i in 1..=lines {
        stdin
            .write_all(format!("{}\n", indexed_line(i)).as_bytes())
            .expect("write a line");
        std::thread::sleep(Duration::from_millis(1));
    }
    let woken = wakeups(pid) - before;
    let out = finish(logger);
    assert!(
        out.status.success(),
        "logger failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each read takes the lines of `read_coalesce` (20 ms), each batch those of
    // `batch_max_delay`: a few wake-ups per read and per batch, against two per line
    // (read, then publish) if every write woke it.
    assert!(
        woken < lines as u64 / 2,
        "{woken} wake-ups for {lines} lines written one at a time"
    );
    let pulled = emulator.pull_all("paced-sub", lines + 1, PATIENCE);
    let (got, _) = indices(&pulled);
    assert_lines(&got, 0..=lines, "lines in Pub/Sub");
}
