//! The stdin thread waits for nothing but its own writes: the spool's housekeeping on the
//! reader's side (here an ack file whose write hangs) never holds up an append.

mod spool_support;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::sync::mpsc;
use std::time::Instant;

use spool_support::*;

/// What the kernel says thread `tid` of this process waits in.
fn wait_channel(tid: i32) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default()
}

#[test]
fn appends_go_on_while_an_ack_file_write_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.segment_bytes = 64 * 1024;
    let (mut w, mut r) = open(o);
    let lines: Vec<Line> = (0..5000).map(|i| text_line("w", i)).collect();
    append(&mut w, &lines[..100]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = rt.block_on(r.next_batch(10, 1 << 20)).unwrap().unwrap();

    // The segment's ack sidecar is a FIFO: opening it for writing waits for a reader.
    let seg = segments(dir.path())[0].clone();
    let ack = seg.with_extension("ack");
    let path = CString::new(ack.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);

    let (tid_tx, tid_rx) = mpsc::channel();
    let acker = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        r.ack(b.ticket);
        r
    });
    let tid = tid_rx.recv().unwrap();
    let start = Instant::now();
    while !wait_channel(tid).contains("wait_for_partner") {
        assert!(
            start.elapsed() < PATIENCE,
            "the ack never reached its file: {}",
            wait_channel(tid)
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    // Enough lines for several new segments, each registered under the state lock.
    let (done_tx, done_rx) = mpsc::channel();
    let rest = lines[100..].to_vec();
    let writer = std::thread::spawn(move || {
        for chunk in rest.chunks(100) {
            append(&mut w, chunk);
        }
        w.close().unwrap();
        done_tx.send(()).unwrap();
    });
    let appended = done_rx.recv_timeout(PATIENCE).is_ok();

    // Let the ack's open through (its write then fails: a FIFO cannot be written at an
    // offset; that is reported as an event and only means duplicates after a crash).
    let fifo = std::fs::File::open(&ack).unwrap();
    let r = acker.join().unwrap();
    drop(fifo);
    writer.join().unwrap();
    drop(r);
    assert!(appended, "appends waited for the reader's ack file write");
}
