//! The disk spool through the real program and a real emulator: `kill -9`, outages, damaged
//! files, a full spool and two loggers on one directory lose nothing that is not counted.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::Emulator;
use common::logger::{
    Guard, PATIENCE, SharedPipe, anon_kib, assert_lines, assert_success, index_of, indexed_line,
    indexed_text, indices, logger_command, rss_kib, run_tool, spooled_records, start_logger,
    wait_until,
};
use common::proxy::Proxy;

/// Segment files in `dir`, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("spool dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Files in `dir` whose names end with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("spool dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(suffix))
        .collect()
}

/// An emulator that is not running yet (its port reserved), to bring up later.
fn emulator_down() -> Option<Emulator> {
    let mut emulator = Emulator::start()?;
    emulator.stop();
    Some(emulator)
}

/// Spools lines `range` for `topic` with Pub/Sub unreachable: the logger exits after a short
/// shutdown timeout, leaving them all in the spool (one segment per run).
fn spool_offline(emulator: &Emulator, topic: &str, dir: &Path, range: std::ops::Range<usize>) {
    let n = range.len() as u64;
    let before = spooled_records(dir);
    let mut logger = start_logger(
        &emulator.host_port(),
        topic,
        dir,
        &["--shutdown-timeout", "100ms"],
    );
    let stdin = logger.stdin.as_mut().expect("stdin");
    stdin.write_all(&indexed_text(range)).expect("write lines");
    let out = common::logger::finish(logger);
    assert_eq!(
        out.status.code(),
        Some(1),
        "unpublished records make a failing exit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(spooled_records(dir), before + n, "all of them spooled");
}

#[test]
fn kill_9_mid_stream_loses_no_line_httpd_wrote() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("crash-topic");
    emulator.create_subscription("crash-sub", "crash-topic");
    let spool = tempfile::tempdir().expect("spool dir");
    const LINES: usize = 60_000;
    let pipe = SharedPipe::new();
    let start = |pipe: &SharedPipe| {
        Guard::new(
            logger_command(
                &emulator.host_port(),
                "crash-topic",
                spool.path(),
                &["--shutdown-timeout", "60s"],
            )
            .stdin(pipe.reader())
            .spawn()
            .expect("start the logger"),
        )
    };
    let mut first = start(&pipe);
    let mut write = pipe.write.try_clone().expect("dup the write end");
    // Everything up to the middle of line LINES / 2, as httpd's workers would write it.
    let mut text = indexed_text(0..LINES);
    let cut = indexed_text(0..LINES / 2).len() + 40;
    let rest = text.split_off(cut);
    write.write_all(&text).expect("write lines");
    // Once it has taken everything from the pipe (it spools right after each read) it is
    // killed, while Pub/Sub is still busy with those lines and half a line is pending.
    wait_until("the logger to read the pipe empty", || pipe.unread() == 0);
    std::thread::sleep(Duration::from_millis(200));
    first.kill9();
    // httpd starts the next logger on the same pipe; the workers go on writing.
    let mut second = start(&pipe);
    write.write_all(&rest).expect("write lines");
    drop(write);
    drop(pipe);
    let out = second.finish();
    assert_success(&out);

    let pulled = emulator.pull_all("crash-sub", LINES, PATIENCE);
    let records: Vec<serde_json::Value> = pulled.iter().map(|p| p.json()).collect();
    let (cut, whole): (Vec<_>, Vec<_>) =
        records.iter().partition(|r| r.get("parse_error").is_some());
    let got: BTreeSet<usize> = whole.iter().map(|r| index_of(r)).collect();
    // The line the first logger was reading when it died arrives in two cut pieces: the
    // part it had read (marked truncated), and the rest, read by the next one.
    let split: BTreeSet<usize> = (0..LINES).filter(|i| !got.contains(i)).collect();
    assert_lines(&split, [LINES / 2], "lines not delivered whole");
    let raw = |r: &serde_json::Value| r["raw"].as_str().unwrap_or_default().to_string();
    for &i in &split {
        let line = indexed_line(i);
        let head = cut
            .iter()
            .find(|r| r["truncated"] == true && line.starts_with(&raw(r)))
            .map(|r| raw(r))
            .unwrap_or_else(|| panic!("line {i} is missing: {cut:?}"));
        assert!(
            cut.iter().any(|r| format!("{head}{}", raw(r)) == line),
            "line {i} is neither whole nor in two pieces: {cut:?}"
        );
    }
    println!(
        "{} messages for {LINES} lines: {} split by the kill, {} duplicates",
        pulled.len(),
        split.len(),
        whole.len() - got.len()
    );
}

#[test]
fn lines_read_before_kill_9_are_sent_by_the_next_logger_with_empty_stdin_under_their_ids() {
    let Some(mut emulator) = emulator_down() else {
        return;
    };
    let spool = tempfile::tempdir().expect("spool dir");
    const LINES: usize = 5_000;
    let mut logger = Guard::new(
        logger_command(&emulator.host_port(), "crash-topic", spool.path(), &[])
            .stdin(Stdio::piped())
            .spawn()
            .expect("start the logger"),
    );
    let stdin = logger
        .0
        .as_mut()
        .and_then(|c| c.stdin.as_mut())
        .expect("stdin");
    stdin
        .write_all(&indexed_text(0..LINES))
        .expect("write lines");
    wait_until("the logger to spool every line", || {
        spooled_records(spool.path()) == LINES as u64
    });
    logger.kill9();
    let stream = segments(spool.path())[0]
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.split_once('-'))
        .map(|(_, stream)| stream.to_string())
        .expect("segment named <time>-<stream>.seg");

    emulator.start_again();
    emulator.create_topic("crash-topic");
    emulator.create_subscription("crash-sub", "crash-topic");
    let out = logger_command(
        &emulator.host_port(),
        "crash-topic",
        spool.path(),
        &["--shutdown-timeout", "60s"],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run the next logger");
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("adopted") && stderr.contains(&format!("({LINES} records to send)")),
        "the takeover is reported: {stderr}"
    );

    let pulled = emulator.pull_all("crash-sub", LINES, PATIENCE);
    let (got, _) = indices(&pulled);
    assert_lines(&got, 0..LINES, "every line read arrives");
    for p in &pulled {
        let record = p.json();
        let want = format!("{stream}-{}", index_of(&record));
        assert_eq!(
            record["id"],
            want.as_str(),
            "the id given when the line was read"
        );
    }
    assert_eq!(spooled_records(spool.path()), 0);
}

#[test]
fn pubsub_unreachable_for_the_whole_input_then_back_everything_arrives_and_memory_stays_flat() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("outage-topic");
    emulator.create_subscription("outage-sub", "outage-topic");
    let mut network = Proxy::new(emulator.port());
    network.down();
    let spool = tempfile::tempdir().expect("spool dir");
    const WARM: usize = 20_000;
    const LINES: usize = 200_000;
    let mut logger = Guard::new(
        logger_command(
            &network.host_port(),
            "outage-topic",
            spool.path(),
            &["--shutdown-timeout", "120s"],
        )
        .stdin(Stdio::piped())
        .spawn()
        .expect("start the logger"),
    );
    let pid = logger.pid();
    let stdin = logger
        .0
        .as_mut()
        .and_then(|c| c.stdin.take())
        .expect("stdin");
    let mut stdin = stdin;
    stdin
        .write_all(&indexed_text(0..WARM))
        .expect("write lines");
    wait_until("the first lines to be spooled", || {
        spooled_records(spool.path()) == WARM as u64
    });
    let warm_rss = rss_kib(pid);
    stdin
        .write_all(&indexed_text(WARM..LINES))
        .expect("write lines");
    wait_until("every line to be spooled", || {
        spooled_records(spool.path()) == LINES as u64
    });
    let full_rss = rss_kib(pid);
    println!("RSS after {WARM} lines: {warm_rss} KiB; after {LINES}: {full_rss} KiB");
    assert!(
        full_rss < warm_rss + 8 * 1024,
        "memory grew with the spool: {warm_rss} KiB -> {full_rss} KiB"
    );

    network.up();
    drop(stdin);
    let out = logger.finish();
    assert_success(&out);
    let pulled = emulator.pull_all("outage-sub", LINES, PATIENCE);
    let (got, duplicates) = indices(&pulled);
    assert_eq!(got.len(), LINES, "every line arrives");
    println!("{duplicates} duplicates");
}

#[test]
fn while_pubsub_is_unreachable_the_backlog_waits_in_the_spool_not_in_memory() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("probe-topic");
    emulator.create_subscription("probe-sub", "probe-topic");
    let mut network = Proxy::new(emulator.port());
    network.down();
    let spool = tempfile::tempdir().expect("spool dir");
    const FIRST: usize = 1_000;
    const LINES: usize = 20_000;
    // Room in flight for the whole backlog: only the outage can keep it in the spool.
    let mut logger = start_logger(
        &network.host_port(),
        "probe-topic",
        spool.path(),
        &[
            "--max-in-flight",
            "50000",
            "--batch-max-delay",
            "20ms",
            "--shutdown-timeout",
            "60s",
        ],
    );
    let pid = logger.id();
    let stdin = logger.stdin.as_mut().expect("stdin");
    stdin
        .write_all(&indexed_text(0..FIRST))
        .expect("write lines");
    wait_until("the first batch to be spooled", || {
        spooled_records(spool.path()) == FIRST as u64
    });
    std::thread::sleep(Duration::from_secs(1));
    let first = anon_kib(pid);
    stdin
        .write_all(&indexed_text(FIRST..LINES))
        .expect("write lines");
    wait_until("every line to be spooled", || {
        spooled_records(spool.path()) == LINES as u64
    });
    // Time for the publisher to take the batches that are due, were it to.
    std::thread::sleep(Duration::from_secs(2));
    let backlog = anon_kib(pid);
    println!("anonymous memory: {first} KiB with one batch due, {backlog} KiB with twenty");
    // Nineteen more batches of messages held for an unreachable Pub/Sub would be ~10 MiB.
    assert!(
        backlog < first + 3 * 1024,
        "memory grew with the backlog while Pub/Sub was unreachable: {first} KiB -> \
         {backlog} KiB"
    );

    network.up();
    let out = common::logger::finish(logger);
    assert_success(&out);
    let pulled = emulator.pull_all("probe-sub", LINES, PATIENCE);
    let (got, _) = indices(&pulled);
    assert_lines(&got, 0..LINES, "lines in Pub/Sub after the outage");
}

/// Flips one byte of line `i`'s text inside segment `seg`.
fn flip_line_byte(seg: &Path, i: usize) {
    let mut bytes = std::fs::read(seg).expect("read segment");
    let needle = format!("GET /item/{i} HTTP");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .expect("the line is in the segment");
    bytes[at + 4] ^= 0x20;
    std::fs::write(seg, bytes).expect("write segment");
}

#[test]
fn damaged_spool_files_are_reported_set_aside_and_every_intact_record_is_sent() {
    let Some(mut emulator) = emulator_down() else {
        return;
    };
    let spool = tempfile::tempdir().expect("spool dir");
    let dir = spool.path();
    spool_offline(&emulator, "damage-topic", dir, 0..1000);
    spool_offline(&emulator, "damage-topic", dir, 1000..2000);
    let segs = segments(dir);
    assert_eq!(segs.len(), 2);
    // A torn tail: the last record of the first segment cut in half.
    let len = std::fs::metadata(&segs[0]).expect("stat").len();
    std::fs::File::options()
        .write(true)
        .open(&segs[0])
        .and_then(|f| f.set_len(len - 40))
        .expect("truncate");
    // Flipped bytes in the middle of the second.
    flip_line_byte(&segs[1], 1500);
    // A zero-length segment and one full of garbage, named like segments.
    std::fs::write(dir.join("00000000000000000001-00000000000000aa.seg"), b"").expect("write");
    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(
        dir.join("00000000000000000002-00000000000000bb.seg"),
        garbage,
    )
    .expect("write");

    let dir_arg = dir.to_str().expect("utf-8 path");
    let verify = run_tool(&["spool", "verify", "--spool-dir", dir_arg], &[]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(
        verify.status.code(),
        Some(1),
        "verify fails on damage: {text}"
    );
    assert!(
        text.contains("DAMAGE FOUND in 4 of 4 segment files"),
        "{text}"
    );
    assert!(text.contains("incomplete last record"), "{text}");
    assert!(text.contains("1 damaged regions"), "{text}");

    emulator.start_again();
    emulator.create_topic("damage-topic");
    emulator.create_subscription("damage-sub", "damage-topic");
    let host = emulator.host_port();
    let out = logger_command(&host, "damage-topic", dir, &["--shutdown-timeout", "60s"])
        .stdin(Stdio::null())
        .output()
        .expect("run the logger");
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cut off an incomplete last record"),
        "{stderr}"
    );
    assert!(stderr.contains("skipped"), "{stderr}");
    assert!(stderr.contains("set aside as"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let pulled = emulator.pull_all("damage-sub", 1998, PATIENCE);
    let (got, _) = indices(&pulled);
    let intact = (0..2000).filter(|&i| i != 999 && i != 1500);
    assert_lines(&got, intact, "all intact records, and only those");
    assert_eq!(
        files_ending(dir, ".seg").len(),
        0,
        "nothing is left to send: {:?}",
        files_ending(dir, "")
    );
    assert_eq!(
        files_ending(dir, ".seg.damaged").len(),
        3,
        "set aside for the operator"
    );

    let status = run_tool(&["spool", "status", "--spool-dir", dir_arg], &[]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("records not yet published: 0"), "{text}");
    assert!(text.contains("files set aside as damaged: 3"), "{text}");

    // The next start does not trip over what was set aside.
    let again = logger_command(&host, "damage-topic", dir, &[])
        .stdin(Stdio::null())
        .output()
        .expect("run the logger again");
    assert_success(&again);
}

/// Runs `policy` on a 1 MiB spool with Pub/Sub down for 20,000 lines (about 6 MB), then
/// replays what was kept. Returns the line numbers that arrived and the drop count the
/// logger reported.
fn full_spool(policy: &str) -> Option<(BTreeSet<usize>, usize)> {
    let mut emulator = emulator_down()?;
    let spool = tempfile::tempdir().expect("spool dir");
    const LINES: usize = 20_000;
    let mut logger = start_logger(
        &emulator.host_port(),
        "full-topic",
        spool.path(),
        &[
            "--spool-max-bytes",
            "1MiB",
            "--spool-full-policy",
            policy,
            "--shutdown-timeout",
            "100ms",
        ],
    );
    // Never blocked: the whole input is taken, however full the spool.
    let mut stdin = logger.stdin.take().expect("stdin");
    stdin
        .write_all(&indexed_text(0..LINES))
        .expect("write lines");
    drop(stdin);
    let out = logger.wait_with_output().expect("wait for the logger");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let dropped: usize = stderr
        .lines()
        .filter(|l| l.contains("spool full ("))
        .filter_map(|l| {
            l.split(" dropped since start")
                .next()?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or_else(|| panic!("no drop count reported: {stderr}"));
    assert!(stderr.contains(policy), "the policy is named: {stderr}");

    emulator.start_again();
    emulator.create_topic("full-topic");
    emulator.create_subscription("full-sub", "full-topic");
    let dir = spool.path().to_str().expect("utf-8 path");
    let replay = run_tool(
        &[
            "spool",
            "replay",
            "--project",
            "test",
            "--topic",
            "full-topic",
            "--spool-dir",
            dir,
        ],
        &[("PUBSUB_EMULATOR_HOST", &emulator.host_port())],
    );
    assert_success(&replay);
    let pulled = emulator.pull_all("full-sub", LINES - dropped, PATIENCE);
    let (got, _) = indices(&pulled);
    assert_eq!(
        got.len() + dropped,
        LINES,
        "every line arrived or was counted as dropped"
    );
    assert!(dropped > LINES / 2, "most lines could not fit: {dropped}");
    Some((got, dropped))
}

#[test]
fn a_full_spool_with_drop_newest_keeps_the_oldest_lines_and_counts_the_rest() {
    let Some((got, dropped)) = full_spool("drop_newest") else {
        return;
    };
    let kept = 20_000 - dropped;
    assert_lines(&got, 0..kept, "the oldest lines are kept");
}

#[test]
fn a_full_spool_with_drop_oldest_keeps_the_newest_lines_and_counts_the_rest() {
    let Some((got, dropped)) = full_spool("drop_oldest") else {
        return;
    };
    let newest = 20_000 - got.len()..20_000;
    assert_lines(
        &got,
        newest,
        &format!("the newest lines are kept ({dropped} dropped)"),
    );
}

#[test]
fn two_loggers_on_one_spool_at_once_deliver_both_inputs_once() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    emulator.create_topic("pair-topic");
    emulator.create_subscription("pair-sub", "pair-topic");
    let spool = tempfile::tempdir().expect("spool dir");
    const EACH: usize = 30_000;
    let extra = ["--shutdown-timeout", "60s"];
    let mut old = start_logger(&emulator.host_port(), "pair-topic", spool.path(), &extra);
    let mut new = start_logger(&emulator.host_port(), "pair-topic", spool.path(), &extra);
    let mut old_in = old.stdin.take().expect("stdin");
    let mut new_in = new.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        old_in
            .write_all(&indexed_text(0..EACH))
            .expect("write lines");
    });
    new_in
        .write_all(&indexed_text(EACH..2 * EACH))
        .expect("write lines");
    writer.join().expect("writer thread");
    drop(new_in);
    let (old_out, new_out) = (
        old.wait_with_output().expect("wait"),
        new.wait_with_output().expect("wait"),
    );
    assert_success(&old_out);
    assert_success(&new_out);

    let pulled = emulator.pull_all("pair-sub", 2 * EACH, PATIENCE);
    let (got, duplicates) = indices(&pulled);
    assert_lines(&got, 0..2 * EACH, "all lines of both arrive");
    assert_eq!(
        duplicates, 0,
        "none twice: nothing failed, so nothing was retried"
    );
    assert_eq!(spooled_records(spool.path()), 0);
}

#[test]
fn a_logger_of_another_topic_never_sends_a_dead_loggers_lines_and_replay_sends_them_home() {
    let Some(emulator) = Emulator::start() else {
        return;
    };
    for (topic, sub) in [("topica", "suba"), ("topicb", "subb")] {
        emulator.create_topic(topic);
        emulator.create_subscription(sub, topic);
    }
    let mut network = Proxy::new(emulator.port());
    network.down();
    let spool = tempfile::tempdir().expect("spool dir");
    let dir = spool.path().to_str().expect("utf-8 path");
    // Logger A: Pub/Sub unreachable, killed with 1,000 lines spooled.
    let mut a = Guard::new(
        logger_command(&network.host_port(), "topica", spool.path(), &[])
            .stdin(Stdio::piped())
            .spawn()
            .expect("start logger A"),
    );
    a.0.as_mut()
        .and_then(|c| c.stdin.as_mut())
        .expect("stdin")
        .write_all(&indexed_text(0..1000))
        .expect("write lines");
    wait_until("logger A to spool every line", || {
        spooled_records(spool.path()) == 1000
    });
    a.kill9();

    // Pub/Sub is back; logger B, of another topic, runs on the same spool.
    network.up();
    let mut b = start_logger(
        &network.host_port(),
        "topicb",
        spool.path(),
        &["--shutdown-timeout", "60s"],
    );
    b.stdin
        .as_mut()
        .expect("stdin")
        .write_all(&indexed_text(1000..1100))
        .expect("write lines");
    let out = common::logger::finish(b);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("projects/test/topics/topica") && stderr.contains("spool replay"),
        "B says what it leaves, and what to do: {stderr}"
    );
    let status = run_tool(&["spool", "status", "--spool-dir", dir], &[]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("projects/test/topics/topica: 1000 records"),
        "the backlog per destination: {text}"
    );

    // Replay needs no topic: each segment goes where it was meant to go.
    let replay = run_tool(
        &["spool", "replay", "--spool-dir", dir],
        &[("PUBSUB_EMULATOR_HOST", &network.host_port())],
    );
    assert_success(&replay);
    let (a_got, _) = indices(&emulator.pull_all("suba", 1000, PATIENCE));
    assert_lines(&a_got, 0..1000, "topica gets all of A's lines");
    let (b_got, _) = indices(&emulator.pull_all("subb", 100, PATIENCE));
    assert_lines(&b_got, 1000..1100, "topicb gets B's lines and none of A's");
    assert_eq!(spooled_records(spool.path()), 0);
}

#[test]
fn replay_to_another_topic_moves_a_backlog_on_purpose() {
    let Some(mut emulator) = emulator_down() else {
        return;
    };
    let spool = tempfile::tempdir().expect("spool dir");
    spool_offline(&emulator, "old-topic", spool.path(), 0..500);
    emulator.start_again();
    emulator.create_topic("new-topic");
    emulator.create_subscription("new-sub", "new-topic");
    let dir = spool.path().to_str().expect("utf-8 path");
    let replay = run_tool(
        &[
            "spool",
            "replay",
            "--spool-dir",
            dir,
            "--to-topic",
            "new-topic",
        ],
        &[("PUBSUB_EMULATOR_HOST", &emulator.host_port())],
    );
    assert_success(&replay);
    let (got, _) = indices(&emulator.pull_all("new-sub", 500, PATIENCE));
    assert_lines(&got, 0..500, "the backlog arrives where it was sent");
    assert_eq!(spooled_records(spool.path()), 0);
}
