//! `accesslog-pubsub check`: is everything in place for the piped logger? One line per
//! check on stdout, `OK`, `WARN` or `FAIL`, and what to fix:
//!
//! - the configuration (it loaded, or the command would not have started) and its format;
//! - what the privacy settings do, and whether a reload after the drop of privileges can
//!   read the key file again;
//! - with `--sample FILE`, the share of a real log's lines the format parses, and the first
//!   few that it does not, explained;
//! - as root, the configuration and credentials files only root can write;
//! - the `user`/`group` account;
//! - the spool directory: there, owned and moded right (looked at, never changed);
//! - the credentials: found and loadable;
//! - the topic: exists and is reachable (`GetTopic`, a short timeout, nothing published).
//!
//! Exit 0 with no `FAIL`, 1 otherwise (2, as for every command, when the configuration is
//! refused; its one line says why).

use std::fmt::{self, Write as _};
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::options::RequestOptionsBuilder;
use google_cloud_gax::retry_policy::{Aip194Strict, RetryPolicyExt};
use google_cloud_pubsub::client::TopicAdmin;

use crate::clock;
use crate::config::{Config, Endpoint};
use crate::ownership::{self, SpoolDirState};
use crate::privileges::{self, Account};
use crate::publish::connect;
use crate::reader::LineReader;
use crate::record::{Encoder, LineMeta, RecordId};
use crate::startup;

/// How long one attempt at the topic may take, and how many are made.
const TOPIC_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
const TOPIC_ATTEMPTS: u32 = 2;
/// Lines of the sample that did not match, shown with the reason.
const SAMPLE_FAILURES_SHOWN: usize = 3;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One check's line: verdict, what was checked, what was found (and what to fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub verdict: Verdict,
    pub what: &'static str,
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Ok => "OK",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        write!(f, "{verdict:<4}  {}: {}", self.what, self.text)
    }
}

fn finding(verdict: Verdict, what: &'static str, text: impl fmt::Display) -> Finding {
    Finding {
        verdict,
        what,
        text: text.to_string(),
    }
}

/// `check`, to stdout.
pub fn execute(config: &Config, sample: Option<&Path>) -> Result<ExitCode, super::Error> {
    let findings = run(config, sample);
    let mut text = String::new();
    for f in &findings {
        let _ = writeln!(text, "{f}");
    }
    super::write_out("check", &mut std::io::stdout().lock(), &text)?;
    let failed = findings.iter().any(|f| f.verdict == Verdict::Fail);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every check, in the order of the module doc.
pub fn run(config: &Config, sample: Option<&Path>) -> Vec<Finding> {
    let mut findings = vec![configuration(config), format(config)];
    if let Some(path) = sample {
        findings.extend(sample_lines(config, path));
    }
    if privileges::is_root() {
        findings.push(match startup::check_trusted_files(config) {
            Ok(()) => finding(
                Verdict::Ok,
                "files",
                "the configuration and credentials files are root's alone",
            ),
            Err(e) => finding(Verdict::Fail, "files", e),
        });
    }
    let (account_finding, account) = account(config);
    findings.push(account_finding);
    findings.push(privacy(config, account.as_ref()));
    findings.push(spool_dir(config, account.as_ref()));
    let runtime = match crate::startup::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            findings.push(finding(
                Verdict::Fail,
                "credentials",
                format_args!("cannot start: {e}"),
            ));
            return findings;
        }
    };
    let loaded = {
        let _inside = runtime.enter();
        connect::credentials(config)
    };
    let credentials = match loaded {
        Ok(credentials) => {
            findings.push(finding(
                Verdict::Ok,
                "credentials",
                credentials_source(config),
            ));
            Some(credentials)
        }
        Err(e) => {
            findings.push(finding(Verdict::Fail, "credentials", e));
            None
        }
    };
    findings.push(topic(config, &runtime, credentials));
    findings
}

fn configuration(config: &Config) -> Finding {
    let text = match &config.file {
        Some(path) => format!("{} and the flags are valid", path.display()),
        None => "no file; the defaults and the flags are valid".to_string(),
    };
    finding(Verdict::Ok, "configuration", text)
}

fn format(config: &Config) -> Finding {
    let format = &config.input.format;
    let columns = crate::record::columns(format, &config.privacy);
    finding(
        Verdict::Ok,
        "format",
        format_args!(
            "{:?} compiles: {} fields ({})",
            format.source(),
            columns.len(),
            columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// What the `[privacy]` table does; a WARN when the logger will drop privileges and then
/// could not read the key file at a reload.
fn privacy(config: &Config, account: Option<&Account>) -> Finding {
    const WHAT: &str = "privacy";
    let privacy = &config.privacy;
    if privacy.is_off() {
        return finding(
            Verdict::Ok,
            WHAT,
            "off: records carry every field as logged (README \"Privacy\")",
        );
    }
    // The settings' values as written in the file: `Hash` -> `hash`.
    let value = |v: &dyn fmt::Debug| format!("{v:?}").to_lowercase();
    let mut text = format!(
        "client_ip {}, remote_user {}, query {}",
        value(&privacy.client_ip),
        value(&privacy.remote_user),
        value(&privacy.query)
    );
    if !privacy.redact_query_params.is_empty() {
        let _ = write!(text, " ({})", privacy.redact_query_params.join(", "));
    }
    if !privacy.drop_fields.is_empty() {
        let _ = write!(text, ", drop_fields {}", privacy.drop_fields.join(", "));
    }
    let _ = write!(text, ", raw {}", value(&privacy.raw));
    let Some(path) = &privacy.key_file else {
        return finding(Verdict::Ok, WHAT, text);
    };
    let _ = write!(text, "; key from {}", path.display());
    let owner = fs::metadata(path).map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    match (account.filter(|_| privileges::is_root()), owner) {
        (Some(account), Ok(owner)) if owner != account.uid => finding(
            Verdict::Warn,
            WHAT,
            format_args!(
                "{text}, owned by {}: a reload after the drop to {} cannot read it \
                 (chown {} {})",
                ownership::user_label(owner),
                account.user,
                account.user,
                path.display()
            ),
        ),
        _ => finding(Verdict::Ok, WHAT, text),
    }
}

/// The share of `path`'s lines the format parses, and the first few it does not.
fn sample_lines(config: &Config, path: &Path) -> Vec<Finding> {
    const WHAT: &str = "sample";
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            return vec![finding(
                Verdict::Fail,
                WHAT,
                format_args!("{}: {e}", path.display()),
            )];
        }
    };
    let mut encoder = Encoder::new(config.input.format.clone(), &config.input.host);
    let mut reader = LineReader::new(file, config.input.max_line_bytes);
    let (mut lines, mut matched) = (0u64, 0u64);
    let mut failures = Vec::new();
    let mut out = Vec::new();
    loop {
        let chunk = match reader.next_chunk() {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                return vec![finding(
                    Verdict::Fail,
                    WHAT,
                    format_args!("{}: {e}", path.display()),
                )];
            }
        };
        for line in chunk.lines() {
            lines += 1;
            let meta = LineMeta {
                id: RecordId {
                    stream: 0,
                    seq: lines,
                },
                received_at_us: clock::now_us(),
                truncated: line.truncated,
            };
            out.clear();
            if encoder.encode(line.bytes, &meta, &mut out) {
                matched += 1;
            } else if failures.len() < SAMPLE_FAILURES_SHOWN {
                failures.push((lines, parse_error_of(&out)));
            }
        }
    }
    let share = if lines == 0 {
        0.0
    } else {
        matched as f64 * 100.0 / lines as f64
    };
    let verdict = match (lines, matched) {
        (0, _) | (_, 0) => Verdict::Fail,
        (l, m) if m == l => Verdict::Ok,
        _ => Verdict::Warn,
    };
    let fix = match verdict {
        Verdict::Ok => "",
        _ => {
            " (lines that do not match are still delivered, with `raw` and `parse_error`; \
               set `format` to the LogFormat of this log)"
        }
    };
    let mut findings = vec![finding(
        verdict,
        WHAT,
        format_args!(
            "{matched} of {lines} lines of {} match the format ({share:.1}%){fix}",
            path.display()
        ),
    )];
    for (number, why) in failures {
        findings.push(finding(verdict, WHAT, format_args!("line {number}: {why}")));
    }
    findings
}

/// The `parse_error` of a record the encoder wrote for a line that did not match.
fn parse_error_of(record: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(record)
        .ok()
        .and_then(|r| r["parse_error"].as_str().map(str::to_string))
        .unwrap_or_else(|| "does not match the format".to_string())
}

fn account(config: &Config) -> (Finding, Option<Account>) {
    const WHAT: &str = "user";
    match privileges::resolve(&config.privileges) {
        Ok(Some(account)) => (
            finding(
                Verdict::Ok,
                WHAT,
                format_args!("started as root, the logger runs as {account}"),
            ),
            Some(account),
        ),
        Ok(None) if privileges::is_root() => (
            finding(
                Verdict::Warn,
                WHAT,
                "not set: a logger started as root stays root (set user = \"accesslog-pubsub\")",
            ),
            None,
        ),
        Ok(None) => (
            finding(
                Verdict::Ok,
                WHAT,
                format_args!(
                    "not set: the logger runs as whoever starts it ({})",
                    ownership::user_label(privileges::euid())
                ),
            ),
            None,
        ),
        Err(e) => (finding(Verdict::Fail, WHAT, e), None),
    }
}

fn spool_dir(config: &Config, account: Option<&Account>) -> Finding {
    const WHAT: &str = "spool";
    let dir = &config.spool.dir;
    let runs_as = account.filter(|_| privileges::is_root()).map_or_else(
        || ownership::user_label(privileges::euid()),
        |a| a.user.clone(),
    );
    match ownership::inspect_spool_dir(dir, account) {
        Ok(None) => finding(
            Verdict::Warn,
            WHAT,
            format_args!(
                "{} does not exist yet; the logger creates it (0700, owned by {runs_as})",
                dir.display()
            ),
        ),
        Ok(Some(state)) => spool_dir_state(dir, &state, &runs_as),
        Err(e) => finding(Verdict::Fail, WHAT, e),
    }
}

fn spool_dir_state(dir: &Path, state: &SpoolDirState, runs_as: &str) -> Finding {
    const WHAT: &str = "spool";
    let owner = ownership::user_label(state.owner);
    if state.open_to_others() {
        return finding(
            Verdict::Warn,
            WHAT,
            format_args!(
                "{}: mode {:04o} lets others read the logs; the logger narrows it to 0700 \
                 (or: chmod 700 {})",
                dir.display(),
                state.mode,
                dir.display()
            ),
        );
    }
    if owner != runs_as {
        return finding(
            Verdict::Ok,
            WHAT,
            format_args!(
                "{}: owned by {owner}, mode {:04o}; the logger hands it to {runs_as} at start",
                dir.display(),
                state.mode
            ),
        );
    }
    finding(
        Verdict::Ok,
        WHAT,
        format_args!(
            "{}: owned by {owner}, mode {:04o}",
            dir.display(),
            state.mode
        ),
    )
}

fn credentials_source(config: &Config) -> String {
    match (&config.publish.endpoint, &config.publish.credentials_file) {
        (Endpoint::Emulator(url), _) => format!("none needed for the emulator at {url}"),
        (_, Some(path)) => format!("{} loads", path.display()),
        (_, None) => "Application Default Credentials load (GOOGLE_APPLICATION_CREDENTIALS, \
                      gcloud's file or the metadata server)"
            .to_string(),
    }
}

/// `GetTopic` on the configured topic with a short timeout; nothing is published.
fn topic(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    credentials: Option<google_cloud_auth::credentials::Credentials>,
) -> Finding {
    const WHAT: &str = "topic";
    let path = match connect::destination(config) {
        Ok(destination) => destination.topic_path(),
        Err(e) => return finding(Verdict::Fail, WHAT, e),
    };
    let Some(credentials) = credentials else {
        return finding(
            Verdict::Fail,
            WHAT,
            format_args!("{path}: not tried without credentials"),
        );
    };
    let result = runtime.block_on(async {
        let mut builder = TopicAdmin::builder().with_credentials(credentials);
        if let Endpoint::Emulator(url) | Endpoint::Custom(url) = &config.publish.endpoint {
            builder = builder.with_endpoint(url);
        }
        let admin = builder
            .build()
            .await
            .map_err(|e| (Verdict::Fail, format!("cannot create the client: {e}")))?;
        admin
            .get_topic()
            .set_topic(&path)
            .with_attempt_timeout(TOPIC_ATTEMPT_TIMEOUT)
            .with_retry_policy(Aip194Strict.with_attempt_limit(TOPIC_ATTEMPTS))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match e.status().map(|s| s.code) {
                Some(Code::NotFound) => (
                    Verdict::Fail,
                    format!(
                        "{path} does not exist: create it (gcloud pubsub topics create {} \
                     --project {}) or fix `project`/`topic`",
                        config.publish.topic.as_deref().unwrap_or_default(),
                        config.publish.project.as_deref().unwrap_or_default()
                    ),
                ),
                Some(Code::PermissionDenied) => (
                    Verdict::Warn,
                    format!(
                        "{path}: cannot be looked up: permission denied; publishing needs \
                     roles/pubsub.publisher, this check also roles/pubsub.viewer ({e})"
                    ),
                ),
                _ => (Verdict::Fail, format!("{path}: not reachable: {e}")),
            })
    });
    match result {
        Ok(()) => finding(
            Verdict::Ok,
            WHAT,
            format_args!("{path} exists and is reachable"),
        ),
        Err((verdict, text)) => finding(verdict, WHAT, text),
    }
}
