//! Spool round trips: what goes in comes out, in order, intact, and the files go away.

mod spool_support;

use accesslog_pubsub::spool::{self, LineIn, SpoolOptions};
use spool_support::*;

/// Deterministic lines of every kind: arbitrary bytes, one byte, 64 KiB and longer.
fn varied_lines(n: u64) -> Vec<Line> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = match i % 97 {
                0 => 70_000,
                1 => 65_536,
                2 => 1,
                _ => (x % 400) as usize + 1,
            };
            let bytes = (0..len).map(|j| (x >> (j % 56)) as u8 ^ j as u8).collect();
            Line {
                bytes,
                received_at_us: (x >> 1) as i64 - (1 << 61),
                truncated: i % 5 == 0,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_with_concurrent_writer_and_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let lines = varied_lines(20_000);
    let mut o = opts(dir.path());
    o.max_bytes = 1 << 40;
    o.segment_bytes = 64 * 1024;
    let (mut w, mut r) = open(o);
    let to_write = lines.clone();
    let writer = std::thread::spawn(move || {
        for chunk in to_write.chunks(37) {
            append(&mut w, chunk);
        }
        w.close().unwrap();
    });
    let mut got = Vec::new();
    let mut sizes = [1, 7, 500, 10_000].iter().cycle();
    while let Some(b) = batch(&mut r, *sizes.next().unwrap(), true).await {
        let streams: std::collections::HashSet<u64> = b.iter().map(|g| g.stream).collect();
        assert_eq!(streams.len(), 1, "a batch comes from one segment");
        got.extend(b);
    }
    writer.join().unwrap();
    assert_eq!(lines_of(&got), lines);
    // Ids are consecutive seqs per segment, from 0.
    let mut expected_seq = 0;
    for g in &got {
        if g.seq == 0 {
            expected_seq = 0;
        }
        assert_eq!(g.seq, expected_seq);
        expected_seq += 1;
    }
    assert!(
        got.iter().all(|g| g.format == "%h %l %u %t \"%r\" %>s %b"),
        "every segment's header carries the format"
    );
    assert!(
        got.iter()
            .map(|g| g.stream)
            .collect::<std::collections::HashSet<_>>()
            .len()
            > 10
    );
    let stats = r.stats();
    assert_eq!(stats.records, 0);
    assert_eq!(stats.segments, 0);
    assert_eq!(stats.dropped_records, 0);
    assert_eq!(
        files(dir.path()),
        Vec::<String>::new(),
        "everything acked is deleted"
    );
}

#[tokio::test]
async fn unacked_batches_keep_their_segments_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    let lines: Vec<Line> = (0..100).map(|i| text_line("a", i)).collect();
    append(&mut w, &lines);
    w.close().unwrap();
    let b1 = r.next_batch(60, 1 << 20).await.unwrap().unwrap();
    let b2 = r.next_batch(60, 1 << 20).await.unwrap().unwrap();
    assert_eq!((b1.len(), b2.len()), (60, 40));
    assert!(r.next_batch(60, 1 << 20).await.unwrap().is_none());
    assert_eq!(r.stats().records, 100, "handed out is not acknowledged");
    r.ack(b2.ticket);
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(
        r.stats().records,
        100,
        "only a contiguous prefix counts as acked"
    );
    assert_eq!(
        r.stats().oldest_received_at_us,
        Some(lines[0].received_at_us)
    );
    r.ack(b1.ticket);
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn byte_limit_and_oversized_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.fsync = spool::FsyncPolicy::Always;
    let (mut w, mut r) = open(o);
    let huge = vec![b'z'; (1 << 24) + 10];
    let small = b"x".repeat(1000);
    w.append(&[
        LineIn {
            bytes: &huge,
            received_at_us: 1,
            truncated: false,
        },
        LineIn {
            bytes: &small,
            received_at_us: 2,
            truncated: false,
        },
        LineIn {
            bytes: &small,
            received_at_us: 3,
            truncated: false,
        },
    ])
    .unwrap();
    w.close().unwrap();
    let b = r.next_batch(10, 100).await.unwrap().unwrap();
    assert_eq!(
        b.len(),
        1,
        "a record bigger than max_bytes still comes, alone"
    );
    assert_eq!(b.line(0).len(), (1 << 24) - 1);
    assert!(
        b.records[0].truncated,
        "cut to the longest line a record holds"
    );
    r.ack(b.ticket);
    let b = r.next_batch(10, 1500).await.unwrap().unwrap();
    assert_eq!(b.len(), 1, "about max_bytes of lines");
    assert_eq!(b.records[0].seq, 1);
    r.ack(b.ticket);
    assert_eq!(drain(&mut r).await.len(), 1);
}

#[tokio::test]
async fn replay_mode_open_close_drain_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Line> = (0..1000).map(|i| text_line("old", i)).collect();
    {
        let (mut w, r) = open(opts(dir.path()));
        append(&mut w, &lines);
        drop((w, r)); // a crash: nothing sealed, nothing acked
    }
    let (w, mut r) = spool::open(SpoolOptions::new(dir.path()), ctx("new")).unwrap();
    w.close().unwrap();
    let got = drain(&mut r).await;
    assert_eq!(lines_of(&got), lines);
    assert_eq!(
        files(dir.path()),
        Vec::<String>::new(),
        "the replay's own empty segment is gone too"
    );
    let events = r.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, spool::SpoolEvent::Adopted { records: 1000, .. })),
        "{events:?}"
    );
}

#[test]
fn errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let err = spool::open(opts(&file.join("spool")), ctx("")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "spool {}: cannot create directory: ",
            file.join("spool").display()
        )),
        "{msg}"
    );
}
