//! `accesslog-pubsub spool status`: what the spool holds, per destination. It reads
//! headers, ack files and the ends of segment files only: cheap, and safe while loggers run.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::clock;
use crate::config::Config;
use crate::spool::{self, DEAD_LETTERS_FILE, SpoolError, SpoolStatus};

/// `spool status`, to stdout.
pub fn execute(config: &Config) -> Result<ExitCode, super::Error> {
    status(config, &mut io::stdout().lock()).map(|()| ExitCode::SUCCESS)
}

/// `spool status`: prints what the spool holds. A directory that does not exist yet holds
/// nothing.
fn status(config: &Config, out: &mut impl Write) -> Result<(), super::Error> {
    let dir = &config.spool.dir;
    let text = if dir.exists() {
        let dead_letters = count_lines(&dir.join(DEAD_LETTERS_FILE))
            .map_err(|e| SpoolError::io(&dir.join(DEAD_LETTERS_FILE), "cannot read", e))
            .map_err(super::spool_failure)?;
        describe_status(
            dir,
            &spool::status(dir).map_err(super::spool_failure)?,
            config.spool.max_bytes,
            dead_letters,
        )
    } else {
        format!(
            "spool {}: does not exist yet; nothing spooled\n",
            dir.display()
        )
    };
    super::write_out("spool", out, &text)
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

/// Whole seconds from `then_us` to `now_us` (both µs since the epoch), never negative.
fn age_seconds(then_us: i64, now_us: i64) -> Duration {
    Duration::from_secs(u64::try_from((now_us - then_us) / 1_000_000).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{Route, SegmentInfo, SegmentStatus, StreamKind};
    use std::path::PathBuf;

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
}
