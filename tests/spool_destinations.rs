//! Segments record where their lines go: a logger takes over only what is meant for its own
//! destination (plus what records none), and an open to send only takes what it is told
//! to, creating nothing.

mod spool_support;

use std::path::Path;

use accesslog_pubsub::spool::{
    self, Adopt, Route, SpoolEvent, SpoolOptions, StreamContext, StreamKind,
};
use spool_support::*;

fn ctx_for(topic: Option<&str>) -> StreamContext {
    StreamContext {
        destination: topic.map(destination),
        ..ctx("%h %l %u %t \"%r\" %>s %b")
    }
}

/// Spools `n` lines tagged `tag` for `topic` (`None`: unconfigured), then crashes.
fn crashed(dir: &Path, topic: Option<&str>, tag: &str, n: u64) -> Vec<Line> {
    let lines: Vec<Line> = (0..n).map(|i| text_line(tag, i)).collect();
    let (mut w, r) = spool::open(opts(dir), ctx_for(topic)).unwrap();
    append(&mut w, &lines);
    drop((w, r));
    lines
}

/// Opens as a logger for `topic` with no input of its own and delivers what it takes.
async fn logger(dir: &Path, topic: Option<&str>) -> (Vec<Got>, Vec<Route>, Vec<SpoolEvent>) {
    let (w, mut r) = spool::open(opts(dir), ctx_for(topic)).unwrap();
    w.close().unwrap();
    let mut got = Vec::new();
    let mut routes = Vec::new();
    while let Some(b) = r.next_batch(1000, 1 << 20).await.unwrap() {
        routes.push(b.stream.route.clone());
        got.extend(records_of(&b));
        r.ack(b.ticket);
    }
    (got, routes, r.take_events())
}

#[tokio::test]
async fn a_logger_takes_over_only_the_orphans_of_its_own_destination() {
    let dir = tempfile::tempdir().unwrap();
    let a_lines = crashed(dir.path(), Some("topica"), "a", 1000);

    let (got, _, events) = logger(dir.path(), Some("topicb")).await;
    assert_eq!(got, Vec::new(), "none of topica's lines");
    let left = events
        .iter()
        .find(|e| matches!(e, SpoolEvent::LeftForOthers { .. }))
        .unwrap_or_else(|| panic!("the orphans are reported: {events:?}"));
    let text = left.to_string();
    assert!(
        text.contains("1 segments (1000 records)")
            && text.contains("projects/test/topics/topica")
            && text.contains("spool replay"),
        "{text}"
    );
    let status = spool::status(dir.path()).unwrap();
    assert_eq!(status.records, 1000, "still there for topica");
    assert_eq!(
        status.segments[0].info.route,
        Route::To(destination("topica").into())
    );

    let (got, routes, _) = logger(dir.path(), Some("topica")).await;
    assert_eq!(lines_of(&got), a_lines, "topica's own logger sends them");
    assert!(
        routes
            .iter()
            .all(|r| *r == Route::To(destination("topica").into()))
    );
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn unconfigured_and_older_segments_go_to_a_logger_that_has_a_destination() {
    let dir = tempfile::tempdir().unwrap();
    let unconfigured = crashed(dir.path(), None, "u", 100);
    let (got, _, _) = logger(dir.path(), None).await;
    assert_eq!(
        got,
        Vec::new(),
        "a logger without a destination takes nothing"
    );

    let older = crashed(dir.path(), Some("topica"), "v1", 100);
    let seg = segments(dir.path())
        .into_iter()
        .find(|s| spool_destination(s) == Some("topica".into()))
        .unwrap();
    rewrite_as_version_1(&seg);

    let (got, routes, _) = logger(dir.path(), Some("topicb")).await;
    let mut want = unconfigured;
    want.extend(older);
    assert_eq!(lines_of(&got), want);
    assert_eq!(routes, vec![Route::Unconfigured, Route::Unrecorded]);
}

#[tokio::test]
async fn opened_to_send_only_creates_nothing_and_takes_what_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let a_lines = crashed(dir.path(), Some("topica"), "a", 100);
    let b_lines = crashed(dir.path(), Some("topicb"), "b", 100);
    crashed(dir.path(), None, "u", 100);
    let before = files(dir.path());
    assert_eq!(before.len(), 3);

    let mut r = spool::open_to_send(
        SpoolOptions::new(dir.path()),
        Adopt::every(StreamKind::AccessLog, false),
    )
    .unwrap();
    assert_eq!(files(dir.path()), before, "nothing created by opening");
    let got = drain(&mut r).await;
    let mut want = a_lines;
    want.extend(b_lines);
    assert_eq!(lines_of(&got), want, "every recorded destination");
    drop(r);
    let left = files(dir.path());
    assert_eq!(
        left.len(),
        1,
        "only the unconfigured segment is left: {left:?}"
    );
    assert_eq!(left[0], before[2]);

    let missing = dir.path().join("not-yet");
    let mut r = spool::open_to_send(
        SpoolOptions::new(&missing),
        Adopt::every(StreamKind::AccessLog, true),
    )
    .unwrap();
    assert_eq!(drain(&mut r).await, Vec::new());
    assert!(!missing.exists(), "no directory created");
}

/// The topic a segment's header records (read through `status`).
fn spool_destination(seg: &Path) -> Option<String> {
    let status = spool::status(seg.parent().unwrap()).unwrap();
    let s = status.segments.iter().find(|s| s.path == seg)?;
    match &s.info.route {
        Route::To(d) => Some(d.topic.clone()),
        _ => None,
    }
}

/// Replaces a segment's header with the version 1 layout (no kind, no destination), as an
/// older version would have written it; the records stay as they are.
fn rewrite_as_version_1(seg: &Path) {
    let bytes = std::fs::read(seg).unwrap();
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let header_len = u32_at(12);
    let (format_len, host_len) = (u32_at(36), u32_at(40));
    let strings = &bytes[48..48 + format_len + host_len];
    let mut v1 = Vec::new();
    v1.extend_from_slice(b"ALPSPOOL");
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&0u16.to_le_bytes());
    v1.extend_from_slice(&((40 + strings.len() + 4) as u32).to_le_bytes());
    v1.extend_from_slice(&bytes[16..32]);
    v1.extend_from_slice(&(format_len as u32).to_le_bytes());
    v1.extend_from_slice(&(host_len as u32).to_le_bytes());
    v1.extend_from_slice(strings);
    let crc = crc32c::crc32c(&v1);
    v1.extend_from_slice(&crc.to_le_bytes());
    v1.extend_from_slice(&bytes[header_len..]);
    std::fs::write(seg, v1).unwrap();
}
