//! `accesslog-pubsub spool status | verify | replay`: the operator's tools for the spool
//! directory.
//!
//! - `status` reads headers, ack files and the ends of segment files only: cheap, and safe
//!   while loggers run.
//! - `verify` reads every byte and checks every checksum (also safe while loggers run; a
//!   live segment's last record being written is not counted as damage). Exit 1 on damage.
//! - `replay` opens the spool to send only (it creates nothing), takes over every segment no
//!   running logger holds and sends each to the destination it records (those that record
//!   none, to the configured one; `--to-project`/`--to-topic` move them all on purpose),
//!   then exits: 0 once everything it took is acknowledged, 1 when stopped (SIGINT, SIGTERM
//!   or `--timeout`) with records left, which stay in the spool. On a terminal it draws a
//!   progress bar on stderr.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::watch;

use crate::clock;
use crate::config::Config;
use crate::destination::Destination;
use crate::messages;
use crate::publish::connect::ConnectError;
use crate::publish::route::Redirect;
use crate::publish::{self, Outcome, PublishContext};
use crate::shutdown;
use crate::spool::{
    self, AckCheck, Adopt, DEAD_LETTERS_FILE, SpoolError, SpoolStatus, StreamKind, VerifyReport,
};
use crate::stats::Stats;

/// How often the progress bar is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// Width of the progress bar in characters.
const BAR_WIDTH: usize = 30;

/// Why a spool command could not do its job.
#[derive(Debug, Error)]
pub enum SpoolCommandError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot start: {0}")]
    Start(io::Error),
    #[error("writing to stdout: {0}")]
    Output(io::Error),
}

/// `spool status`, to stdout.
pub fn execute_status(config: &Config) -> Result<ExitCode, super::Error> {
    status(config, &mut io::stdout().lock())
        .map(|()| ExitCode::SUCCESS)
        .map_err(command_error)
}

/// `spool verify`, to stdout: exit 1 on damage.
pub fn execute_verify(config: &Config) -> Result<ExitCode, super::Error> {
    match verify(config, &mut io::stdout().lock()) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::FAILURE),
        Err(e) => Err(command_error(e)),
    }
}

/// `spool replay`: exit 1 when stopped with records left.
pub fn execute_replay(config: &Config, how: &Replay) -> Result<ExitCode, super::Error> {
    match replay(config, how) {
        Ok(ReplayEnd::Done) => Ok(ExitCode::SUCCESS),
        Ok(ReplayEnd::Stopped { .. }) => Ok(ExitCode::FAILURE),
        Err(e) => Err(command_error(e)),
    }
}

impl From<publish::Error> for SpoolCommandError {
    fn from(e: publish::Error) -> SpoolCommandError {
        match e {
            publish::Error::Spool(e) => SpoolCommandError::Spool(e),
            publish::Error::Connect(e) => SpoolCommandError::Connect(e),
        }
    }
}

/// The one line a failed spool command ends with; a missing topic is a usage error.
fn command_error(e: SpoolCommandError) -> super::Error {
    let line = format!("spool: {e}");
    match e {
        SpoolCommandError::Connect(ConnectError::MissingTopic) => super::Error::usage(line),
        _ => super::Error::failure(line),
    }
}

/// `spool status`: prints what the spool holds. A directory that does not exist yet holds
/// nothing.
pub fn status(config: &Config, out: &mut impl Write) -> Result<(), SpoolCommandError> {
    let dir = &config.spool.dir;
    let text = if dir.exists() {
        let dead_letters = count_lines(&dir.join(DEAD_LETTERS_FILE))
            .map_err(|e| SpoolError::io(&dir.join(DEAD_LETTERS_FILE), "cannot read", e))?;
        describe_status(
            dir,
            &spool::status(dir)?,
            config.spool.max_bytes,
            dead_letters,
        )
    } else {
        format!(
            "spool {}: does not exist yet; nothing spooled\n",
            dir.display()
        )
    };
    write_out(out, &text)
}

/// Writes all of `text` and flushes it: a full disk or a closed pipe is an error.
fn write_out(out: &mut impl Write, text: &str) -> Result<(), SpoolCommandError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(SpoolCommandError::Output)
}

/// The lines of a file; 0 if it does not exist.
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0;
    loop {
        match io::Read::read(&mut file, &mut buf)? {
            0 => return Ok(lines),
            n => lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64,
        }
    }
}

/// The text `spool status` prints.
fn describe_status(dir: &Path, status: &SpoolStatus, max_bytes: u64, dead_letters: u64) -> String {
    let mut text = String::new();
    let in_use = status.segments.iter().filter(|s| s.in_use).count();
    let damaged_headers = status.segments.iter().filter(|s| !s.header_ok).count();
    let _ = writeln!(text, "spool {}", dir.display());
    let _ = writeln!(text, "  records not yet published: {}", status.records);
    let _ = writeln!(
        text,
        "  bytes on disk: {} ({:.1}% of spool_max_bytes {max_bytes})",
        status.bytes,
        status.bytes as f64 * 100.0 / max_bytes.max(1) as f64
    );
    let oldest = match status.oldest_received_at_us {
        Some(us) => format!(
            "read {} ago",
            humantime::format_duration(age_seconds(us, clock::now_us()))
        ),
        None => "none".to_string(),
    };
    let _ = writeln!(text, "  oldest record: {oldest}");
    let _ = writeln!(
        text,
        "  segment files: {} ({in_use} held by a running logger{})",
        status.segments.len(),
        if damaged_headers > 0 {
            format!(", {damaged_headers} with a damaged header")
        } else {
            String::new()
        }
    );
    for (route, (records, segments, held)) in by_destination(status) {
        let _ = writeln!(
            text,
            "    {route}: {records} records in {segments} segment files ({held} held by a running \
             logger)"
        );
    }
    let _ = writeln!(
        text,
        "  files set aside as damaged: {}",
        status.set_aside.len()
    );
    for path in &status.set_aside {
        let _ = writeln!(text, "    {}", path.display());
    }
    if dead_letters > 0 {
        let _ = writeln!(
            text,
            "  records refused by Pub/Sub, set aside: {dead_letters} in {}",
            dir.join(DEAD_LETTERS_FILE).display()
        );
    }
    text
}

/// Records, segment files and those held by a running logger, per destination (as each
/// header says it).
fn by_destination(status: &SpoolStatus) -> std::collections::BTreeMap<String, (u64, u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    for s in &status.segments {
        let (records, segments, held) = out.entry(s.info.route.to_string()).or_insert((0, 0, 0));
        *records += s.records;
        *segments += 1;
        *held += u64::from(s.in_use);
    }
    out
}

/// `spool verify`: checks every checksum; `Ok(true)` when nothing is damaged.
pub fn verify(config: &Config, out: &mut impl Write) -> Result<bool, SpoolCommandError> {
    let dir = &config.spool.dir;
    if !dir.exists() {
        let text = format!(
            "spool {}: does not exist yet; nothing to verify\n",
            dir.display()
        );
        return write_out(out, &text).map(|()| true);
    }
    let report = spool::verify(dir)?;
    write_out(out, &describe_verify(dir, &report))?;
    Ok(!report.damage_found)
}

/// The text `spool verify` prints: one line per file, then the verdict.
fn describe_verify(dir: &Path, report: &VerifyReport) -> String {
    let mut text = String::new();
    let mut records = 0;
    let mut damaged = 0;
    for file in &report.files {
        records += file.records;
        let mut problems = Vec::new();
        if !file.header_ok {
            problems.push("damaged header".to_string());
        }
        if file.damaged_regions > 0 {
            problems.push(format!(
                "{} damaged regions ({} bytes)",
                file.damaged_regions, file.damaged_bytes
            ));
        }
        if file.torn_tail_bytes > 0 && !file.in_use {
            problems.push(format!(
                "incomplete last record ({} bytes)",
                file.torn_tail_bytes
            ));
        }
        if file.ack == AckCheck::Damaged {
            problems.push("damaged ack file".to_string());
        }
        let verdict = if file.damaged() {
            damaged += 1;
            format!("DAMAGED: {}", problems.join(", "))
        } else {
            "ok".to_string()
        };
        let _ = writeln!(
            text,
            "{}: {verdict}; {} valid records{}",
            file.path.display(),
            file.records,
            if file.in_use { " (in use)" } else { "" }
        );
    }
    for path in &report.set_aside {
        let _ = writeln!(text, "{}: set aside earlier as damaged", path.display());
    }
    if report.damage_found {
        let _ = writeln!(
            text,
            "verify {}: DAMAGE FOUND in {damaged} of {} segment files, {} files set aside; \
             the intact records are still sent",
            dir.display(),
            report.files.len(),
            report.set_aside.len()
        );
    } else {
        let _ = writeln!(
            text,
            "verify {}: ok, {} segment files, {records} valid records, no damage",
            dir.display(),
            report.files.len()
        );
    }
    text
}

/// How a replay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayEnd {
    /// Everything this process could take over was published.
    Done,
    /// Stopped by a signal or the timeout with this many records left in the spool.
    Stopped { left: u64 },
}

/// How `spool replay` was asked to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// Stop after this long.
    pub timeout: Option<Duration>,
    /// Send everything to this project instead of the recorded ones.
    pub to_project: Option<String>,
    /// Send everything to this topic instead of the recorded ones.
    pub to_topic: Option<String>,
}

/// `spool replay`: publishes every record no running logger holds, each to its destination,
/// then exits.
pub fn replay(config: &Config, how: &Replay) -> Result<ReplayEnd, SpoolCommandError> {
    let redirect = Redirect {
        project: how.to_project.clone(),
        topic: how.to_topic.clone(),
    };
    // Segments that record no destination go to the configured one, or to the one the
    // redirect names in full.
    let fallback = Destination::from_config(config).or_else(|| {
        let (project, topic) = (redirect.project.clone()?, redirect.topic.clone()?);
        Some(Destination {
            project,
            topic,
            attributes: config.publish.attributes.iter().cloned().collect(),
            attribute_fields: config.publish.attribute_fields.clone(),
            ordering_key_field: config.publish.ordering_key_field.clone(),
        })
    });
    let adopt = Adopt::every(StreamKind::AccessLog, fallback.is_some());
    let mut shutdown = shutdown::listen().map_err(SpoolCommandError::Start)?;
    let dir = config.spool.dir.display();
    let (mut held_elsewhere, mut left) = (0, 0);
    if config.spool.dir.exists() {
        for s in spool::status(&config.spool.dir)?.segments {
            if s.in_use {
                held_elsewhere += s.records;
            } else if !adopt.takes(&s.info) {
                left += s.records;
            }
        }
    }
    let mut spool_reader = spool::open_to_send(config.spool.clone(), adopt)?;
    let total = spool_reader.stats().records;
    let mut also = Vec::new();
    if held_elsewhere > 0 {
        also.push(format!(
            "{held_elsewhere} more are held by a running logger, which sends them"
        ));
    }
    if left > 0 {
        also.push(format!(
            "{left} more are left: segments this version cannot send, or that record no \
             destination while none is configured (--project, --topic)"
        ));
    }
    messages::note(format_args!(
        "replay: {total} records to publish from {dir}{}",
        if also.is_empty() {
            String::new()
        } else {
            format!(" ({})", also.join("; "))
        }
    ));
    let stats = Arc::new(Stats::default());
    let (give_up_tx, give_up_at) = watch::channel(how.timeout.map(|t| Instant::now() + t));
    let runtime = publish::runtime().map_err(SpoolCommandError::Start)?;
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let ctx =
            PublishContext::connect(config, fallback, redirect, Arc::clone(&stats), give_up_at)
                .await?;
        tokio::spawn(async move {
            shutdown.requested().await;
            give_up_tx.send_replace(Some(Instant::now()));
        });
        let progress = io::stderr()
            .is_terminal()
            .then(|| tokio::spawn(draw_progress(Arc::clone(&stats), total, started)));
        let outcome = publish::run(&mut spool_reader, config, ctx).await;
        if let Some(task) = progress {
            task.abort();
            messages::end_progress();
        }
        Ok::<_, SpoolCommandError>(outcome?)
    })?;
    let published = stats.published.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    Ok(match outcome {
        Outcome::AllPublished => {
            messages::note(format_args!(
                "replay: published {published} records in {secs:.1}s; \
                 nothing left for this process in {dir}"
            ));
            ReplayEnd::Done
        }
        Outcome::DeadlinePassed => {
            let left = spool_reader.stats().records;
            messages::note(format_args!(
                "replay: stopped after {secs:.1}s: published {published} \
                 records, {left} left in {dir} for the next run"
            ));
            ReplayEnd::Stopped { left }
        }
    })
}

/// Redraws `[#####-----] published/total  pct  rate/s` on stderr until aborted.
async fn draw_progress(stats: Arc<Stats>, total: u64, started: Instant) {
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tick.tick().await;
        let done = stats.published.load(Ordering::Relaxed);
        messages::progress(progress_line(done, total, started.elapsed()));
    }
}

/// One frame of the progress bar.
fn progress_line(done: u64, total: u64, elapsed: Duration) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let filled = (fraction * BAR_WIDTH as f64).round() as usize;
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    format!(
        "[{}{}] {done}/{total} records {:>3.0}% {rate:.0}/s",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled),
        fraction * 100.0
    )
}

/// Whole seconds from `then_us` to `now_us` (both µs since the epoch), never negative.
fn age_seconds(then_us: i64, now_us: i64) -> Duration {
    Duration::from_secs(u64::try_from((now_us - then_us) / 1_000_000).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{FileCheck, Route, SegmentInfo, SegmentStatus, StreamKind};
    use std::path::PathBuf;

    #[test]
    fn progress_bar_fills_with_the_published_share() {
        let line = progress_line(50, 200, Duration::from_secs(2));
        assert_eq!(
            line,
            "[########----------------------] 50/200 records  25% 25/s"
        );
        assert!(progress_line(0, 0, Duration::ZERO).contains("100%"));
        assert!(
            progress_line(300, 200, Duration::from_secs(1))
                .starts_with(&format!("[{}]", "#".repeat(30)))
        );
    }

    #[test]
    fn status_names_records_bytes_age_and_set_aside_files() {
        let now = clock::now_us();
        let status = SpoolStatus {
            segments: vec![SegmentStatus {
                path: PathBuf::from("/s/a.seg"),
                in_use: true,
                info: SegmentInfo {
                    stream: 1,
                    created_us: 0,
                    kind: StreamKind::AccessLog,
                    format: String::new(),
                    host: String::new(),
                    route: Route::Unrecorded,
                },
                header_ok: true,
                records: 42,
                bytes: 4096,
                oldest_received_at_us: Some(now - 90_000_000),
            }],
            records: 42,
            bytes: 4096,
            oldest_received_at_us: Some(now - 90_000_000),
            set_aside: vec![PathBuf::from("/s/b.seg.damaged")],
        };
        let text = describe_status(Path::new("/s"), &status, 8192, 3);
        assert!(text.contains("records not yet published: 42"), "{text}");
        assert!(
            text.contains("bytes on disk: 4096 (50.0% of spool_max_bytes 8192)"),
            "{text}"
        );
        assert!(text.contains("oldest record: read 1m 30s ago"), "{text}");
        assert!(
            text.contains("segment files: 1 (1 held by a running logger)"),
            "{text}"
        );
        assert!(
            text.contains("files set aside as damaged: 1\n    /s/b.seg.damaged"),
            "{text}"
        );
        assert!(
            text.contains(
                "    not recorded (older version or damaged header): 42 records in 1 segment \
                 files (1 held by a running logger)"
            ),
            "{text}"
        );
        assert!(
            text.contains("records refused by Pub/Sub, set aside: 3 in /s/dead-letters.jsonl"),
            "{text}"
        );
    }

    #[test]
    fn verify_lists_each_problem_and_ends_with_the_verdict() {
        let file = |name: &str, regions: u64, ack: AckCheck| FileCheck {
            path: PathBuf::from(name),
            in_use: false,
            header_ok: true,
            records: 10,
            damaged_regions: regions,
            damaged_bytes: regions * 7,
            torn_tail_bytes: 0,
            ack,
        };
        let report = VerifyReport {
            files: vec![
                file("/s/a.seg", 0, AckCheck::Missing),
                file("/s/b.seg", 2, AckCheck::Damaged),
            ],
            set_aside: Vec::new(),
            damage_found: true,
        };
        let text = describe_verify(Path::new("/s"), &report);
        assert!(text.contains("/s/a.seg: ok; 10 valid records"), "{text}");
        assert!(
            text.contains("/s/b.seg: DAMAGED: 2 damaged regions (14 bytes), damaged ack file"),
            "{text}"
        );
        assert!(
            text.contains("DAMAGE FOUND in 1 of 2 segment files"),
            "{text}"
        );
    }
}
