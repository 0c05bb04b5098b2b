//! A line whose newline has not been read yet is on disk too (as a fragment): completed, it
//! is delivered once and whole; if its process dies first, the next one delivers the part
//! that was read, marked truncated.

mod spool_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use accesslog_pubsub::spool::{self, LineIn, SpoolWriter};
use spool_support::*;

const CHILD_DIR: &str = "SPOOL_FRAGMENT_CHILD_DIR";
const READY: &str = "SPOOL-FRAGMENT-CHILD-READY";

fn line_in(bytes: &[u8]) -> LineIn<'_> {
    LineIn {
        bytes,
        received_at_us: 1_700_000_000_000_000,
        truncated: false,
    }
}

/// One read that gave `lines` and the start of the next line.
fn read(w: &mut SpoolWriter, lines: &[&[u8]], unfinished: &[u8]) {
    let ins: Vec<LineIn<'_>> = lines.iter().map(|l| line_in(l)).collect();
    w.append_read(&ins, Some(line_in(unfinished))).unwrap();
}

fn texts(got: &[Got]) -> Vec<(String, bool)> {
    got.iter()
        .map(|g| {
            (
                String::from_utf8_lossy(&g.line.bytes).into_owned(),
                g.line.truncated,
            )
        })
        .collect()
}

#[tokio::test]
async fn a_line_read_in_pieces_is_delivered_once_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    read(&mut w, &[b"first"], b"sec");
    read(&mut w, &[], b"second, still");
    read(&mut w, &[b"second, still going", b"third"], b"");
    w.close().unwrap();
    let got = drain(&mut r).await;
    assert_eq!(
        texts(&got),
        [
            ("first".to_string(), false),
            ("second, still going".to_string(), false),
            ("third".to_string(), false)
        ]
    );
    assert_eq!(got[1].seq, 1, "no record number is spent on the pieces");
}

#[tokio::test]
async fn an_unfinished_line_moves_to_the_next_segment_when_the_segment_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.segment_bytes = 64 * 1024;
    let (mut w, mut r) = open(o);
    let filler = vec![b'f'; 70 * 1024];
    // The 70 KiB line fills the segment: it is sealed while "unfin" is pending.
    read(&mut w, &[&filler], b"unfin");
    assert_eq!(spool::status(dir.path()).unwrap().segments.len(), 2);
    read(&mut w, &[b"unfinished no more"], b"");
    w.close().unwrap();
    let got = drain(&mut r).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].line.bytes, b"unfinished no more");
    assert_ne!(
        got[0].stream, got[1].stream,
        "the line went on in the new segment"
    );
}

#[tokio::test]
async fn input_ending_mid_line_delivers_the_piece_marked_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    read(&mut w, &[b"whole"], b"half a li");
    w.close().unwrap();
    assert_eq!(
        texts(&drain(&mut r).await),
        [
            ("whole".to_string(), false),
            ("half a li".to_string(), true)
        ]
    );
}

#[tokio::test]
async fn a_piece_that_came_to_nothing_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, r) = open(opts(dir.path()));
    read(&mut w, &[b"kept"], b"      ");
    // The line turned out blank: the reader skipped it, nothing is appended for it.
    read(&mut w, &[], b"");
    let report = spool::verify(dir.path()).unwrap();
    assert_eq!(report.files[0].records, 1, "only the whole line is on disk");
    drop((w, r));
}

/// In a child: spools a line and an unfinished one, says so, and waits to be killed.
fn child_main() -> bool {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return false;
    };
    let (mut w, _r) = open(opts(Path::new(&dir)));
    read(&mut w, &[b"before the crash"], b"GET /half-read");
    println!("{READY}");
    std::thread::sleep(PATIENCE * 10);
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_line_the_next_process_delivers_what_was_read_of_it() {
    if child_main() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let test = "kill_9_mid_line_the_next_process_delivers_what_was_read_of_it";
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    assert!(
        out.lines().any(|l| l.unwrap().contains(READY)),
        "child ended without spooling"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let (w, mut r) = open(opts(dir.path()));
    w.close().unwrap();
    assert_eq!(
        texts(&drain(&mut r).await),
        [
            ("before the crash".to_string(), false),
            ("GET /half-read".to_string(), true)
        ]
    );
}
