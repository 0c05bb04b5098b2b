//! Resource use: memory stays flat however much is spooled (nothing is indexed or buffered
//! in memory), and how fast appending is (ignored: run with `--release -- --ignored`).

mod spool_support;

use accesslog_pubsub::spool::LineIn;
use spool_support::*;

/// Resident set size of this process in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

const BOUND: u64 = 64 << 20;

#[tokio::test]
async fn memory_stays_flat_while_the_spool_grows_and_drains() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, mut r) = open(opts(dir.path()));
    let lines: Vec<Line> = (0..1000).map(|i| text_line("m", i)).collect();
    let ins: Vec<LineIn<'_>> = lines
        .iter()
        .map(|l| LineIn {
            bytes: &l.bytes,
            received_at_us: l.received_at_us,
            truncated: false,
        })
        .collect();
    w.append(&ins).unwrap();
    let before = rss();
    // 2 million lines, about 160 MB on disk, while the reader reads nothing.
    for _ in 1..2000 {
        w.append(&ins).unwrap();
    }
    let spooled = rss();
    assert!(
        spooled < before + BOUND,
        "RSS grew by {} MiB while spooling",
        (spooled - before) >> 20
    );
    assert_eq!(r.stats().records, 2_000_000);
    w.close().unwrap();
    let mut n = 0;
    let mut peak = 0;
    while let Some(b) = r.next_batch(1000, 1 << 20).await.unwrap() {
        n += b.len();
        r.ack(b.ticket);
        if n % 100_000 == 0 {
            peak = peak.max(rss());
        }
    }
    assert_eq!(n, 2_000_000);
    assert!(
        peak < before + BOUND,
        "RSS grew by {} MiB while draining",
        (peak - before) >> 20
    );
    assert_eq!(files(dir.path()), Vec::<String>::new());
}
