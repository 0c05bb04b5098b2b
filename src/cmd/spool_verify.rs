//! `accesslog-pubsub spool verify`: reads every byte of the spool and checks every
//! checksum; safe while loggers run (a live segment's last record being written is not
//! counted as damage). Exit 1 on damage.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;
use crate::spool::{self, AckCheck, VerifyReport};

/// `spool verify`, to stdout: exit 1 on damage.
pub fn execute(config: &Config) -> Result<ExitCode, super::Error> {
    if verify(config, &mut io::stdout().lock())? {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// `spool verify`: checks every checksum; `Ok(true)` when nothing is damaged.
fn verify(config: &Config, out: &mut impl Write) -> Result<bool, super::Error> {
    let dir = &config.spool.dir;
    if !dir.exists() {
        let text = format!(
            "spool {}: does not exist yet; nothing to verify\n",
            dir.display()
        );
        return super::write_out("spool", out, &text).map(|()| true);
    }
    let report = spool::verify(dir).map_err(super::spool_failure)?;
    super::write_out("spool", out, &describe_verify(dir, &report))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::FileCheck;
    use std::path::PathBuf;

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
