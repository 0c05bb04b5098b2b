//! Several loggers on one directory (Apache restarts run an old and a new one at once):
//! neither touches the other's live segments; what a dead one leaves is delivered once.

mod spool_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use accesslog_pubsub::spool;
use spool_support::*;

const CHILD_DIR: &str = "SPOOL_TEST_CHILD_DIR";
const CHILD_MODE: &str = "SPOOL_TEST_CHILD_MODE";
const READY: &str = "SPOOL-CHILD-READY";
const CHILD_LINES: u64 = 5000;

/// In a child: spool `CHILD_LINES` lines, say so, then hang or exit as told. True if this
/// is the child.
fn child_main() -> bool {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return false;
    };
    let (mut w, r) = open(opts(Path::new(&dir)));
    let lines: Vec<Line> = (0..CHILD_LINES).map(|i| text_line("child", i)).collect();
    for c in lines.chunks(500) {
        append(&mut w, c);
    }
    let hang = std::env::var(CHILD_MODE).as_deref() == Ok("hang");
    if !hang {
        w.close().unwrap();
    }
    println!("{READY}");
    if hang {
        std::thread::sleep(PATIENCE * 10);
    }
    drop(r);
    std::process::exit(0);
}

/// A child process, killed if the test fails before it ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `test` of this binary again as a child spooling into `dir`; returns once it has.
fn spawn_child(test: &str, dir: &Path, mode: &str) -> ChildGuard {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_MODE, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        if line.unwrap().contains(READY) {
            return ChildGuard(child);
        }
    }
    panic!("child ended without spooling: {:?}", child.wait());
}

fn child_records(got: &[Got]) -> Vec<u64> {
    got.iter()
        .filter(|g| g.line.bytes.starts_with(b"child"))
        .map(|g| index_of(&g.line))
        .collect()
}

/// The parent: its own lines and, once the child is gone, the child's, each once.
async fn parent(dir: &Path, child: &mut Child, kill: bool) {
    let (mut w, mut r) = open(opts(dir));
    let st = spool::status(dir).unwrap();
    let child_seg = st
        .segments
        .iter()
        .find(|s| s.records == CHILD_LINES)
        .unwrap();
    if kill {
        assert!(child_seg.in_use, "the hanging child holds its segment");
        assert_eq!(r.stats().segments, 1, "so the parent holds only its own");
    }
    let own: Vec<Line> = (0..100).map(|i| text_line("parent", i)).collect();
    append(&mut w, &own);
    if kill {
        let got = take(&mut r, 100).await;
        assert_eq!(lines_of(&got), own, "nothing of the live child");
        child.kill().unwrap();
    }
    child.wait().unwrap();
    // Adopted at open (child already gone) or by a rescan after the kill.
    let mut got = take(&mut r, CHILD_LINES as usize + if kill { 0 } else { 100 }).await;
    w.close().unwrap();
    got.extend(drain(&mut r).await);
    assert_eq!(
        child_records(&got),
        (0..CHILD_LINES).collect::<Vec<_>>(),
        "each once, in order"
    );
    let child_ids: HashSet<String> = got
        .iter()
        .filter(|g| g.line.bytes.starts_with(b"child"))
        .map(Got::id)
        .collect();
    assert_eq!(child_ids.len(), CHILD_LINES as usize);
    assert_eq!(files(dir), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_killed_while_holding_its_segment() {
    if child_main() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("child_killed_while_holding_its_segment", dir.path(), "hang");
    parent(dir.path(), &mut child.0, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_exited_without_publishing() {
    if child_main() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("child_exited_without_publishing", dir.path(), "exit");
    parent(dir.path(), &mut child.0, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loggers_in_one_process_then_one_dies() {
    if child_main() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut old_w, mut old_r) = open(opts(dir.path()));
    let old_lines: Vec<Line> = (0..300).map(|i| text_line("old", i)).collect();
    append(&mut old_w, &old_lines[..200]);
    let old_got = take(&mut old_r, 50).await;

    let (mut new_w, mut new_r) = open(opts(dir.path()));
    let new_lines: Vec<Line> = (0..300).map(|i| text_line("new", i)).collect();
    append(&mut new_w, &new_lines[..150]);
    append(&mut old_w, &old_lines[200..]);
    append(&mut new_w, &new_lines[150..]);
    let got_new = take(&mut new_r, 300).await;
    assert_eq!(
        lines_of(&got_new),
        new_lines,
        "the new logger sees only its own"
    );
    assert_eq!(lines_of(&old_got), old_lines[..50].to_vec());

    drop((old_w, old_r)); // the old one dies; 250 of its lines are not acknowledged
    let adopted = take(&mut new_r, 250).await;
    assert_eq!(lines_of(&adopted), old_lines[50..].to_vec());
    new_w.close().unwrap();
    assert_eq!(drain(&mut new_r).await, Vec::new());
    assert_eq!(files(dir.path()), Vec::<String>::new());
}
