//! Restarts and damage: what a crash or a damaged file leaves is still delivered, damaged
//! files are set aside and reported, nothing stops the spool.

mod spool_support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use accesslog_pubsub::record::RecordId;
use accesslog_pubsub::spool::{self, AckCheck, SpoolEvent};
use proptest::prelude::*;
use spool_support::*;

/// Line length of `fixed_line`, so record `k` is at `header + k * (32 + LEN)`.
const LEN: usize = 100;

fn fixed_line(i: u64) -> Line {
    let mut bytes = format!("fixed {i:08} ").into_bytes();
    bytes.resize(LEN, b'.');
    Line {
        bytes,
        received_at_us: i as i64,
        truncated: false,
    }
}

/// A spool holding `n` fixed lines in one segment, left as a crash leaves it.
fn crashed_spool(dir: &Path, n: u64) -> Vec<Line> {
    let lines: Vec<Line> = (0..n).map(fixed_line).collect();
    let (mut w, r) = open(opts(dir));
    append(&mut w, &lines);
    drop((w, r));
    lines
}

fn record_offset(seg: &Path, k: u64) -> u64 {
    header_len(seg) + k * (32 + LEN as u64)
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

/// Opens the spool with no input and delivers everything.
async fn replay(dir: &Path) -> (Vec<Got>, Vec<SpoolEvent>, spool::SpoolStats) {
    let (w, mut r) = open(opts(dir));
    w.close().unwrap();
    let got = drain(&mut r).await;
    (got, r.take_events(), r.stats())
}

fn has(events: &[SpoolEvent], pred: impl Fn(&SpoolEvent) -> bool) -> bool {
    events.iter().any(pred)
}

#[tokio::test]
async fn restart_resends_from_the_ack_cursor_with_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Line> = (0..1000).map(|i| text_line("r", i)).collect();
    let (stream, acked_ids) = {
        let (mut w, mut r) = open(opts(dir.path()));
        append(&mut w, &lines[..500]);
        append(&mut w, &lines[500..]);
        let mut batches = Vec::new();
        for _ in 0..5 {
            batches.push(r.next_batch(100, 1 << 20).await.unwrap().unwrap());
        }
        let stream = batches[0].stream.stream;
        let ids: Vec<String> = (0..300)
            .map(|seq| RecordId { stream, seq }.to_string())
            .collect();
        // Acked out of order: 0, 2, 1, 4 but not 3, so the cursor stops at 300.
        let mut tickets: Vec<_> = batches.into_iter().map(|b| Some(b.ticket)).collect();
        for i in [0, 2, 1, 4] {
            r.ack(tickets[i].take().unwrap());
        }
        drop((w, r)); // crash
        (stream, ids)
    };
    let (got, _, stats) = replay(dir.path()).await;
    assert_eq!(lines_of(&got), lines[300..].to_vec());
    assert!(got.iter().all(|g| g.stream == stream));
    assert_eq!(got[0].seq, 300);
    assert!(got.iter().all(|g| !acked_ids.contains(&g.id())));
    assert_eq!(stats.damaged_files, 0);
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn restart_after_rotations_delivers_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Line> = (0..3000).map(|i| text_line("r", i)).collect();
    {
        let mut o = opts(dir.path());
        o.segment_bytes = 64 * 1024;
        let (mut w, mut r) = open(o);
        for c in lines.chunks(100) {
            append(&mut w, c);
        }
        assert!(segments(dir.path()).len() > 2);
        take(&mut r, 250).await;
        drop((w, r));
    }
    let (got, _, _) = replay(dir.path()).await;
    assert_eq!(lines_of(&got), lines[250..].to_vec());
}

#[tokio::test]
async fn a_live_process_keeps_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, r) = open(opts(dir.path()));
    append(&mut w, &[text_line("alive", 0)]);
    // A process that hangs but lives: its lock stays.
    std::mem::forget((w, r));
    let (w2, mut r2) = open(opts(dir.path()));
    assert_eq!(r2.stats().segments, 1, "only its own segment");
    let status = spool::status(dir.path()).unwrap();
    assert_eq!(status.segments.len(), 2);
    assert_eq!(status.records, 1);
    assert_eq!(status.segments.iter().filter(|s| s.in_use).count(), 2);
    w2.close().unwrap();
    assert_eq!(drain(&mut r2).await, Vec::new());
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "the hung process's segment is untouched"
    );
}

#[tokio::test]
async fn torn_tail_is_cut_and_the_rest_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let lines = crashed_spool(dir.path(), 1000);
    let seg = &segments(dir.path())[0];
    let len = std::fs::metadata(seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(len - 40)
        .unwrap();
    let check = &spool::verify(dir.path()).unwrap().files[0];
    assert_eq!((check.records, check.torn_tail_bytes), (999, 92));
    let (got, events, stats) = replay(dir.path()).await;
    assert_eq!(lines_of(&got), lines[..999].to_vec());
    assert!(
        has(&events, |e| matches!(
            e,
            SpoolEvent::TornTail { bytes: 92, .. }
        )),
        "{events:?}"
    );
    assert_eq!((stats.torn_tails, stats.damaged_files), (1, 0));
    assert_eq!(
        files(dir.path()),
        Vec::<String>::new(),
        "a torn tail is not damage"
    );
}

#[tokio::test]
async fn damage_in_the_middle_is_skipped_and_the_file_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let lines = crashed_spool(dir.path(), 1000);
    let seg = segments(dir.path())[0].clone();
    flip(&seg, record_offset(&seg, 500) + 40); // a line byte
    flip(&seg, record_offset(&seg, 700) + 5); // a length byte
    let report = spool::verify(dir.path()).unwrap();
    assert!(report.damage_found);
    assert_eq!(report.files[0].records, 998);
    assert_eq!(report.files[0].damaged_regions, 2);
    let (got, events, stats) = replay(dir.path()).await;
    let want: Vec<Line> = (lines.iter().enumerate())
        .filter(|(i, _)| *i != 500 && *i != 700)
        .map(|(_, l)| l.clone())
        .collect();
    assert_eq!(lines_of(&got), want);
    assert!(
        has(&events, |e| matches!(
            e,
            SpoolEvent::Skipped { bytes: 132, .. }
        )),
        "{events:?}"
    );
    assert!(has(&events, |e| matches!(e, SpoolEvent::SetAside { .. })));
    assert_eq!(stats.damaged_files, 1);
    let name = seg.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(files(dir.path()), vec![format!("{name}.damaged")]);
    let report = spool::verify(dir.path()).unwrap();
    assert!(report.damage_found && report.files.is_empty() && report.set_aside.len() == 1);
}

#[tokio::test]
async fn damaged_header_still_delivers_under_the_name_stream() {
    let dir = tempfile::tempdir().unwrap();
    let lines = crashed_spool(dir.path(), 300);
    let seg = segments(dir.path())[0].clone();
    for i in 0..20 {
        flip(&seg, i);
    }
    let stream_from_name = {
        let n = seg.file_name().unwrap().to_string_lossy().into_owned();
        u64::from_str_radix(&n[21..37], 16).unwrap()
    };
    let (got, events, stats) = replay(dir.path()).await;
    assert_eq!(lines_of(&got), lines);
    assert!(
        got.iter()
            .all(|g| g.stream == stream_from_name && g.format.is_empty())
    );
    assert!(has(&events, |e| matches!(e, SpoolEvent::BadHeader { .. })));
    assert_eq!(stats.damaged_files, 1);
    assert_eq!(segments(dir.path()).len(), 0);
}

#[tokio::test]
async fn empty_and_garbage_files_are_set_aside_next_to_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let lines = crashed_spool(dir.path(), 200);
    let empty = dir.path().join("00000000000000000001-00000000000000aa.seg");
    let garbage = dir.path().join("00000000000000000002-00000000000000bb.seg");
    std::fs::write(&empty, b"").unwrap();
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    std::fs::File::create(&garbage)
        .unwrap()
        .write_all(&noise)
        .unwrap();
    let (got, events, stats) = replay(dir.path()).await;
    assert_eq!(lines_of(&got), lines);
    assert_eq!(stats.damaged_files, 2);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, SpoolEvent::BadHeader { .. }))
            .count(),
        2
    );
    assert_eq!(
        files(dir.path()),
        vec![
            "00000000000000000001-00000000000000aa.seg.damaged".to_owned(),
            "00000000000000000002-00000000000000bb.seg.damaged".to_owned(),
        ]
    );
}

#[tokio::test]
async fn damaged_ack_file_resends_everything() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Line> = (0..400).map(fixed_line).collect();
    {
        let (mut w, mut r) = open(opts(dir.path()));
        append(&mut w, &lines);
        take(&mut r, 100).await;
        drop((w, r));
    }
    let ack = files(dir.path())
        .into_iter()
        .find(|n| n.ends_with(".ack"))
        .unwrap();
    let ack = dir.path().join(ack);
    let report = spool::verify(dir.path()).unwrap();
    assert!(matches!(
        report.files[0].ack,
        AckCheck::Valid { next_seq: 100, .. }
    ));
    assert!(!report.damage_found);
    std::fs::write(&ack, b"not an ack file at all").unwrap();
    assert!(spool::verify(dir.path()).unwrap().damage_found);
    let (got, events, stats) = replay(dir.path()).await;
    assert_eq!(lines_of(&got), lines, "duplicates, never losses");
    assert!(has(&events, |e| matches!(e, SpoolEvent::BadAck { .. })));
    assert_eq!(stats.damaged_files, 1);
    let mut aside = ack.into_os_string();
    aside.push(".damaged");
    assert_eq!(
        files(dir.path()),
        vec![
            Path::new(&aside)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        ]
    );
}

#[tokio::test]
async fn status_counts_without_reading_everything() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Line> = (0..500).map(fixed_line).collect();
    let (mut w, mut r) = open(opts(dir.path()));
    append(&mut w, &lines);
    take(&mut r, 120).await;
    let status = spool::status(dir.path()).unwrap();
    assert_eq!(status.records, 380);
    assert_eq!(status.oldest_received_at_us, Some(120));
    assert!(status.segments[0].in_use && status.segments[0].header_ok);
    assert!(status.set_aside.is_empty());
    let report = spool::verify(dir.path()).unwrap();
    assert!(!report.damage_found);
    assert_eq!(report.files[0].records, 500);
    w.close().unwrap();
    drain(&mut r).await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Whatever happens to a segment (bytes flipped anywhere, header included, and a cut
    /// anywhere), opening never fails or panics and every untouched record is delivered.
    #[test]
    fn any_damage_still_delivers_every_untouched_record(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let lines = crashed_spool(dir.path(), 60);
        let seg = segments(dir.path())[0].clone();
        let mut bytes = std::fs::read(&seg).unwrap();
        let start = record_offset(&seg, 0) as usize;
        let end_of = |k: usize| start + (k + 1) * (32 + LEN);
        let mut touched = vec![false; lines.len()];
        for (at, mask) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
            if i >= start {
                touched[(i - start) / (32 + LEN)] = true;
            }
        }
        if let Some(cut) = cut {
            let n = cut.index(bytes.len() + 1);
            bytes.truncate(n);
            for (k, t) in touched.iter_mut().enumerate() {
                *t |= end_of(k) > n;
            }
        }
        std::fs::write(&seg, &bytes).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (got, _, _) = rt.block_on(replay(dir.path()));
        let want: Vec<Line> = (lines.iter().zip(&touched))
            .filter(|(_, t)| !**t)
            .map(|(l, _)| l.clone())
            .collect();
        let got = lines_of(&got);
        prop_assert!(want.iter().all(|l| got.contains(l)));
        prop_assert!(got.iter().all(|l| lines.contains(l)));
        prop_assert!(segments(dir.path()).is_empty());
    }
}
