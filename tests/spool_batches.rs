//! Lines appended one at a time, as Apache writes them, leave the spool in batches: a
//! batch the writer is still filling is handed out when it is full or when its oldest
//! line has waited `max_delay`, never line by line; a sealed segment's records go at once.

mod spool_support;

use std::time::Duration;

use spool_support::*;

const HOUR: Duration = Duration::from_secs(3600);

/// [`text_line`] `i`, read now.
fn fresh(tag: &str, i: u64) -> Line {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    Line {
        received_at_us: i64::try_from(now.as_micros()).unwrap(),
        ..text_line(tag, i)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn records_appended_one_by_one_leave_in_full_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    for i in 0..120 {
        append(&mut w, &[fresh("one", i)]);
    }
    let rt = runtime();
    for first in [0, 50] {
        let b = rt
            .block_on(async {
                tokio::time::timeout(PATIENCE, r.next_due_batch(50, 1 << 20, HOUR)).await
            })
            .expect("a full batch is handed out at once")
            .unwrap()
            .unwrap();
        let got: Vec<u64> = records_of(&b).iter().map(|g| g.seq).collect();
        assert_eq!(got, (first..first + 50).collect::<Vec<_>>());
    }
}

#[test]
fn a_partly_filled_batch_waits_for_max_delay_then_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    for i in 0..20 {
        append(&mut w, &[fresh("few", i)]);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let start = tokio::time::Instant::now();
        let b = r
            .next_due_batch(50, 1 << 20, Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        // The clock is paused: it moved only because the reader waited for the delay.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(29),
            "handed out after {waited:?}, before the batch was full or 30 s old"
        );
        assert_eq!(b.len(), 20);
    });
}

#[test]
fn the_writer_wakes_the_reader_when_the_batch_fills() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    let writer = std::thread::spawn(move || {
        for i in 0..100 {
            append(&mut w, &[fresh("fill", i)]);
            std::thread::sleep(Duration::from_millis(1));
        }
        w
    });
    let rt = runtime();
    let b = rt
        .block_on(async {
            tokio::time::timeout(PATIENCE, r.next_due_batch(100, 1 << 20, HOUR)).await
        })
        .expect("the reader is woken once the batch is full, not after max_delay")
        .unwrap()
        .unwrap();
    assert_eq!(b.len(), 100, "one batch of every line, not the first few");
    drop(writer.join().unwrap());
}

#[test]
fn records_of_a_sealed_segment_go_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    for i in 0..5 {
        append(&mut w, &[fresh("sealed", i)]);
    }
    w.close().unwrap();
    let rt = runtime();
    let b = rt
        .block_on(async {
            tokio::time::timeout(PATIENCE, r.next_due_batch(50, 1 << 20, HOUR)).await
        })
        .expect("the input ended: nothing more will fill the batch")
        .unwrap()
        .unwrap();
    assert_eq!(b.len(), 5);
    assert!(
        rt.block_on(r.next_due_batch(50, 1 << 20, HOUR))
            .unwrap()
            .is_none()
    );
}
