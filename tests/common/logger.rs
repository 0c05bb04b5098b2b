//! Running the piped logger as a real process, the way Apache does: sample log lines, its
//! stdin a pipe the test writes, the records pulled back out of the emulator.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Pulled, binary};

/// Generous bound on waits that only a bug can make long (never asserted as a timing).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// `n` combined-format lines, all different, a few of them odd.
pub fn sample_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 50 {
            7 => format!(
                "203.0.113.{} - user{i} [25/Nov/2026:10:00:{:02} +0100] \"-\" 408 - \"-\" \"-\"",
                i % 250,
                i % 60
            ),
            13 => format!("this line #{i} is not an access log line"),
            21 => format!(
                "2001:db8::{:x} - alice [25/Nov/2026:10:00:{:02} +0100] \"POST /api/v1/items?id={i} HTTP/2.0\" 201 {} \"https://www.example.com/\" \"curl/8.5 \\\"quoted\\\"\"",
                i,
                i % 60,
                i * 3
            ),
            _ => format!(
                "198.51.100.{} - - [25/Nov/2026:10:{:02}:{:02} +0100] \"GET /page/{i}?q=x HTTP/1.1\" {} {} \"https://www.example.com/from/{i}\" \"Mozilla/5.0 (X11; Linux x86_64) test/{i}\"",
                i % 250,
                (i / 60) % 60,
                i % 60,
                if i % 10 == 0 { 404 } else { 200 },
                1000 + i
            ),
        })
        .collect()
}

/// Combined line number `i`, recognisable in its record by `path` (see [`index_of`]).
pub fn indexed_line(i: usize) -> String {
    format!(
        "192.0.2.{} - - [25/Nov/2026:10:{:02}:{:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 {} \"https://www.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) spool-test\"",
        i % 250,
        (i / 60) % 60,
        i % 60,
        500 + i % 1000
    )
}

/// Lines `range` of [`indexed_line`], newline-terminated, as one buffer.
pub fn indexed_text(range: std::ops::Range<usize>) -> Vec<u8> {
    let mut text = Vec::new();
    for i in range {
        text.extend_from_slice(indexed_line(i).as_bytes());
        text.push(b'\n');
    }
    text
}

/// The line number of an [`indexed_line`] record.
pub fn index_of(record: &Value) -> usize {
    record["path"]
        .as_str()
        .and_then(|p| p.strip_prefix("/item/"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an indexed line's record: {record}"))
}

/// The distinct line numbers among `pulled`, and how many messages were duplicates.
pub fn indices(pulled: &[Pulled]) -> (BTreeSet<usize>, usize) {
    let all: Vec<usize> = pulled.iter().map(|p| index_of(&p.json())).collect();
    let distinct: BTreeSet<usize> = all.iter().copied().collect();
    let duplicates = all.len() - distinct.len();
    (distinct, duplicates)
}

/// `set` as compact ranges (`0..4346, 19465..20000`), for failure messages.
pub fn ranges(set: &BTreeSet<usize>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start + 1;
        while iter.peek() == Some(&end) {
            iter.next();
            end += 1;
        }
        out.push(format!("{start}..{end}"));
    }
    if out.is_empty() {
        "nothing".into()
    } else {
        out.join(", ")
    }
}

/// Asserts that the line numbers `got` are exactly `want`, showing both as ranges.
pub fn assert_lines(got: &BTreeSet<usize>, want: impl IntoIterator<Item = usize>, what: &str) {
    let want: BTreeSet<usize> = want.into_iter().collect();
    assert!(
        *got == want,
        "{what}: got lines {}, want {}",
        ranges(got),
        ranges(&want)
    );
}

/// The record without `id` and `received_at`, which differ between two runs of the same line.
pub fn without_run_keys(mut record: Value) -> Value {
    let object = record.as_object_mut().expect("a record is a JSON object");
    object.remove("id");
    object.remove("received_at");
    record
}

/// Distinct record ids among `pulled`; panics if a message is not a record.
pub fn ids(pulled: &[Pulled]) -> BTreeSet<String> {
    pulled
        .iter()
        .map(|p| {
            p.json()["id"]
                .as_str()
                .expect("every record has an id")
                .to_string()
        })
        .collect()
}

pub fn write_lines(stdin: &mut impl Write, lines: &[String]) {
    for line in lines {
        writeln!(stdin, "{line}").expect("write a line into the logger's stdin");
    }
    stdin.flush().expect("flush the logger's stdin");
}

/// The logger publishing to `topic` at `emulator_host`, its stdin as given, its stdout and
/// stderr captured.
pub fn logger_command(emulator_host: &str, topic: &str, spool: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(["--project", "test", "--topic", topic, "--spool-dir"])
        .arg(spool)
        .args(extra)
        .env("PUBSUB_EMULATOR_HOST", emulator_host)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// An endpoint where nothing listens (a port that was free a moment ago).
pub fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("its address").port();
    format!("http://127.0.0.1:{port}")
}

/// The logger publishing to `topic` at [`closed_endpoint`], so nothing is ever
/// acknowledged; its stdin a pipe we write, its stdout and stderr captured.
pub fn unreachable_logger(topic: &str, spool: &Path, extra: &[&str]) -> Child {
    Command::new(binary())
        .args(["--project", "test", "--topic", topic, "--endpoint"])
        .arg(closed_endpoint())
        .arg("--spool-dir")
        .arg(spool)
        .args(extra)
        .env_remove("PUBSUB_EMULATOR_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accesslog-pubsub")
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill() only sends a signal to the child we started.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// The logger with its stdin a pipe we write (`child.stdin`).
pub fn start_logger(emulator_host: &str, topic: &str, spool: &Path, extra: &[&str]) -> Child {
    logger_command(emulator_host, topic, spool, extra)
        .stdin(Stdio::piped())
        .spawn()
        .expect("start accesslog-pubsub")
}

/// Closes the logger's stdin (EOF) and waits for it to exit.
pub fn finish(mut child: Child) -> Output {
    drop(child.stdin.take());
    child.wait_with_output().expect("wait for accesslog-pubsub")
}

/// Panics with the logger's stderr unless it exited 0.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "logger failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A pipe whose read end can be handed to one logger after another, as httpd does: what a
/// killed logger had not read yet stays in the pipe for the next one.
pub struct SharedPipe {
    pub read: OwnedFd,
    pub write: File,
}

impl SharedPipe {
    pub fn new() -> SharedPipe {
        let mut fds = [0; 2];
        // Close-on-exec, or every process the other tests start would hold the write end
        // and the logger would never see EOF.
        // SAFETY: pipe2() fills two new descriptors, which we own from here on.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just created and are not owned elsewhere.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        SharedPipe { read, write }
    }

    /// Bytes written into the pipe and not read yet.
    pub fn unread(&self) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD on a pipe we own writes one int.
        let rc = unsafe { libc::ioctl(self.read.as_raw_fd(), libc::FIONREAD, &mut n) };
        assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
        usize::try_from(n).unwrap_or(0)
    }

    /// A new copy of the read end, for the next logger's stdin.
    pub fn reader(&self) -> Stdio {
        Stdio::from(self.read.try_clone().expect("dup the pipe's read end"))
    }
}

/// A running process that is killed and reaped if the test ends before it does.
pub struct Guard(pub Option<Child>);

impl Guard {
    pub fn new(child: Child) -> Guard {
        Guard(Some(child))
    }

    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("still running").id()
    }

    /// SIGKILL, then the output it had written.
    pub fn kill9(&mut self) -> Output {
        let mut child = self.0.take().expect("still running");
        child.kill().expect("kill -9 the logger");
        child.wait_with_output().expect("reap the logger")
    }

    /// Closes its stdin if we hold it and waits for the exit.
    pub fn finish(&mut self) -> Output {
        finish(self.0.take().expect("still running"))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Resident set size of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// Anonymous memory of process `pid` (its heap and stacks, not its mapped files) in KiB.
pub fn anon_kib(pid: u32) -> u64 {
    status_kib(pid, "RssAnon")
}

/// A size in KiB from `/proc/PID/status`.
fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

/// Waits until `done` holds, for at most [`PATIENCE`]; panics naming `what` otherwise.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The logger has created its first segment in the spool at `dir` (it is up and reading).
pub fn has_a_segment(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "seg"))
    })
}

/// Records not yet published in the spool at `dir`, as `spool status` counts them.
pub fn spooled_records(dir: &Path) -> u64 {
    accesslog_pubsub::spool::status(dir)
        .expect("spool status")
        .records
}

/// `accesslog-pubsub ARGS...` run to completion with stdin from /dev/null.
pub fn run_tool(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run accesslog-pubsub")
}

/// Runs the program with `args` and `stdin` as its input (written from a thread, so a
/// large input cannot block on a full stdout), the emulator's variable unset. A program
/// that ends before reading it all (a refused configuration) closes the pipe: not an error.
pub fn run_with_input(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .env_remove("PUBSUB_EMULATOR_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start accesslog-pubsub");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("wait for accesslog-pubsub");
    match writer.join().expect("writer") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
        _ => out,
    }
}
