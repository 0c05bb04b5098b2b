//! The size limit: both full policies lose exactly what they count, and appending never
//! fails or waits because the spool is full.

mod spool_support;

use std::collections::HashSet;

use accesslog_pubsub::spool::FullPolicy;
use spool_support::*;

const MAX: u64 = 1 << 20;
const LINES: u64 = 40_000;

#[tokio::test]
async fn drop_oldest_loses_exactly_the_counted_oldest_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.max_bytes = MAX;
    o.full_policy = FullPolicy::DropOldest;
    let (mut w, mut r) = open(o);
    let lines: Vec<Line> = (0..LINES).map(|i| text_line("o", i)).collect();
    let mut early = Vec::new();
    let mut tickets = Vec::new();
    let mut late = None;
    for (k, chunk) in lines.chunks(100).enumerate() {
        append(&mut w, chunk);
        assert!(w.stats().bytes <= MAX, "the limit holds after every append");
        if k == 20 {
            late = Some(r.next_batch(40, 1 << 20).await.unwrap().unwrap());
        } else if k % 50 == 10 {
            // Handed out but not acked yet when their segment may be dropped.
            let b = r.next_batch(30, 1 << 20).await.unwrap().unwrap();
            early.extend((0..b.len()).map(|i| {
                index_of(&Line {
                    bytes: b.line(i).to_vec(),
                    received_at_us: 0,
                    truncated: false,
                })
            }));
            tickets.push(b.ticket);
        }
    }
    w.close().unwrap();
    for t in tickets {
        r.ack(t);
    }
    // A batch handed out, then dropped with its segment, then given up on at shutdown.
    let late = late.expect("taken at k = 20");
    let (before_abandon, abandoned) = (r.stats().dropped_records, late.len() as u64);
    r.abandon(late);
    assert_eq!(r.stats().dropped_records, before_abandon + abandoned);
    let got = drain(&mut r).await;
    let dropped = r.stats().dropped_records;
    assert!(dropped > LINES / 2, "most had to go: {dropped}");
    let mut delivered: Vec<u64> = early;
    delivered.extend(got.iter().map(|g| index_of(&g.line)));
    assert_eq!(
        delivered.len() as u64 + dropped,
        LINES,
        "every line delivered or counted"
    );
    let unique: HashSet<u64> = delivered.iter().copied().collect();
    assert_eq!(unique.len(), delivered.len(), "none twice");
    // What was not handed out early is the newest lines, in order.
    let rest: Vec<u64> = got.iter().map(|g| index_of(&g.line)).collect();
    let first = rest[0];
    assert_eq!(rest, (first..LINES).collect::<Vec<_>>());
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn drop_newest_refuses_exactly_the_counted_newest_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.max_bytes = MAX;
    o.full_policy = FullPolicy::DropNewest;
    let (mut w, mut r) = open(o);
    let lines: Vec<Line> = (0..LINES).map(|i| text_line("n", i)).collect();
    for chunk in lines.chunks(100) {
        append(&mut w, chunk);
        assert!(w.stats().bytes <= MAX);
    }
    let dropped = w.stats().dropped_records;
    let kept = (LINES - dropped) as usize;
    assert!(dropped > LINES / 2, "{dropped}");
    let got = take(&mut r, kept).await;
    assert_eq!(
        lines_of(&got),
        lines[..kept].to_vec(),
        "the oldest are kept"
    );
    // Acknowledged segments are deleted: there is room again.
    let more: Vec<Line> = (LINES..LINES + 100).map(|i| text_line("n", i)).collect();
    append(&mut w, &more);
    assert_eq!(w.stats().dropped_records, dropped);
    w.close().unwrap();
    assert_eq!(lines_of(&drain(&mut r).await), more);
    assert_eq!(r.stats().dropped_records, dropped);
}
