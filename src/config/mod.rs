//! Configuration: a TOML file and command-line flags, merged into one validated, immutable
//! [`Config`].
//!
//! Every setting has one name, `snake_case` as a key in the file and `--kebab-case` as a flag
//! ([`Settings`] is both the clap and the serde definition, so the two cannot drift apart).
//! Flags win over the file. The file is `--config PATH`, else
//! `/etc/accesslog-pubsub/config.toml` when it exists. Unknown keys, bad values and bad
//! LogFormat strings are refused with one line that names the key (or flag) and what is wrong.
//!
//! A `Config` is never changed once built: a reload builds a new one and swaps it whole.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::logformat::LogFormat;

/// Where the configuration file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/accesslog-pubsub/config.toml";

/// The settings as written in the file or given as flags, all optional, not yet validated.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Apache LogFormat nickname (common, combined, combinedio, vhost_combined, debian_common,
    /// debian_combined) or a LogFormat string as written in httpd.conf [default: combined]
    #[arg(long, global = true, value_name = "FORMAT")]
    pub format: Option<String>,

    /// The `host` field of every record [default: this machine's hostname]
    #[arg(long, global = true, value_name = "NAME")]
    pub host: Option<String>,

    /// Longer lines are cut to this size and marked `truncated` (e.g. 65536, 64KiB, 1MiB)
    /// [default: 64KiB]
    #[arg(long, global = true, value_name = "SIZE")]
    pub max_line_bytes: Option<Size>,

    /// Google Cloud project of the topic
    #[arg(long, global = true, value_name = "ID")]
    pub project: Option<String>,

    /// Pub/Sub topic to publish to (its short name)
    #[arg(long, global = true, value_name = "NAME")]
    pub topic: Option<String>,

    /// Directory of the disk spool [default: /var/spool/accesslog-pubsub]
    #[arg(long, global = true, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Spool size limit; past it `spool_full_policy` applies [default: 1GiB]
    #[arg(long, global = true, value_name = "SIZE")]
    pub spool_max_bytes: Option<Size>,

    /// When the spool is full: drop_oldest (make room by deleting the oldest records) or
    /// drop_newest (refuse new lines until it is back under 90%) [default: drop_oldest]
    #[arg(long, global = true, value_name = "POLICY")]
    pub spool_full_policy: Option<FullPolicySetting>,

    /// When spooled lines are forced to disk: interval (every spool_fsync_interval), always
    /// (after every read from stdin) or never (left to the kernel) [default: interval]
    #[arg(long, global = true, value_name = "WHEN")]
    pub spool_fsync: Option<FsyncSetting>,

    /// The fsync interval of spool_fsync = "interval" [default: 1s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub spool_fsync_interval: Option<Dur>,

    /// Pub/Sub endpoint; an http:// endpoint is an emulator and gets no credentials
    /// [default: http://$PUBSUB_EMULATOR_HOST when that is set, else Google's]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,

    /// JSON credentials file (service account key, ...)
    /// [default: Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, metadata server]
    #[arg(long, global = true, value_name = "PATH")]
    pub credentials_file: Option<PathBuf>,

    /// Messages per publish request, 1 to 1000 [default: 1000]
    #[arg(long, global = true, value_name = "N")]
    pub batch_max_messages: Option<u32>,

    /// Bytes per publish request, up to 9.5MB [default: 9MB]
    #[arg(long, global = true, value_name = "SIZE")]
    pub batch_max_bytes: Option<Size>,

    /// Longest wait before a partly filled request is sent [default: 50ms]
    #[arg(long, global = true, value_name = "DURATION")]
    pub batch_max_delay: Option<Dur>,

    /// Messages published but not yet acknowledged, at most [default: 4000]
    #[arg(long, global = true, value_name = "N")]
    pub max_in_flight: Option<u32>,

    /// A static message attribute (repeatable); in the file: `[attributes]` env = "prod"
    #[arg(long = "attribute", global = true, value_name = "KEY=VALUE")]
    #[serde(default, deserialize_with = "attribute_table")]
    pub attributes: Vec<KeyValue>,

    /// A record field copied into a message attribute of the same name (repeatable)
    #[arg(long = "attribute-field", global = true, value_name = "FIELD")]
    #[serde(default)]
    pub attribute_fields: Vec<String>,

    /// A record field whose value becomes the message's ordering key
    #[arg(long, global = true, value_name = "FIELD")]
    pub ordering_key_field: Option<String>,

    /// After the input ends, how long to keep publishing what is pending [default: 5s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub shutdown_timeout: Option<Dur>,

    /// After SIGTERM, how long to keep reading until end of input [default: 30s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub drain_timeout: Option<Dur>,

    /// How often to check for trouble and report it on stderr (one line, only when something
    /// is wrong, unless --verbose) [default: 60s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub report_interval: Option<Dur>,

    /// Report every interval even when nothing is wrong
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub verbose: Option<bool>,
}

impl Settings {
    /// Every setting given in `flags` replaces the one in `self`.
    fn overlay(self, flags: &Settings) -> Settings {
        Settings {
            format: flags.format.clone().or(self.format),
            host: flags.host.clone().or(self.host),
            max_line_bytes: flags.max_line_bytes.or(self.max_line_bytes),
            project: flags.project.clone().or(self.project),
            topic: flags.topic.clone().or(self.topic),
            spool_dir: flags.spool_dir.clone().or(self.spool_dir),
            spool_max_bytes: flags.spool_max_bytes.or(self.spool_max_bytes),
            spool_full_policy: flags.spool_full_policy.or(self.spool_full_policy),
            spool_fsync: flags.spool_fsync.or(self.spool_fsync),
            spool_fsync_interval: flags.spool_fsync_interval.or(self.spool_fsync_interval),
            endpoint: flags.endpoint.clone().or(self.endpoint),
            credentials_file: flags.credentials_file.clone().or(self.credentials_file),
            batch_max_messages: flags.batch_max_messages.or(self.batch_max_messages),
            batch_max_bytes: flags.batch_max_bytes.or(self.batch_max_bytes),
            batch_max_delay: flags.batch_max_delay.or(self.batch_max_delay),
            max_in_flight: flags.max_in_flight.or(self.max_in_flight),
            attributes: merge_attributes(self.attributes, &flags.attributes),
            attribute_fields: if flags.attribute_fields.is_empty() {
                self.attribute_fields
            } else {
                flags.attribute_fields.clone()
            },
            ordering_key_field: flags.ordering_key_field.clone().or(self.ordering_key_field),
            shutdown_timeout: flags.shutdown_timeout.or(self.shutdown_timeout),
            drain_timeout: flags.drain_timeout.or(self.drain_timeout),
            report_interval: flags.report_interval.or(self.report_interval),
            verbose: flags.verbose.or(self.verbose),
        }
    }
}

/// The validated configuration every part of the program reads.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the settings came from, if any.
    pub file: Option<PathBuf>,
    pub format: LogFormat,
    pub host: String,
    pub max_line_bytes: usize,
    pub project: Option<String>,
    pub topic: Option<String>,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub spool_full_policy: FullPolicySetting,
    pub spool_fsync: FsyncSetting,
    pub spool_fsync_interval: Duration,
    pub endpoint: Endpoint,
    pub credentials_file: Option<PathBuf>,
    pub batch_max_messages: u32,
    pub batch_max_bytes: u32,
    pub batch_max_delay: Duration,
    pub max_in_flight: usize,
    /// Static attributes, sorted by key.
    pub attributes: Vec<(String, String)>,
    pub attribute_fields: Vec<String>,
    pub ordering_key_field: Option<String>,
    pub shutdown_timeout: Duration,
    pub drain_timeout: Duration,
    pub report_interval: Duration,
    pub verbose: bool,
}

/// Where Pub/Sub is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Google's own endpoint, with real credentials.
    Google,
    /// An emulator (`http://`): plaintext, no credentials.
    Emulator(String),
    /// Another `https://` endpoint (private or regional), with real credentials.
    Custom(String),
}

impl Endpoint {
    fn resolve(setting: Option<&str>, emulator_host: Option<&str>) -> Result<Endpoint, String> {
        match (setting, emulator_host) {
            (Some(url), _) if url.starts_with("http://") => Ok(Endpoint::Emulator(url.to_string())),
            (Some(url), _) if url.starts_with("https://") => Ok(Endpoint::Custom(url.to_string())),
            (Some(url), _) => Err(format!(
                "{url:?} is not a URL (write http://HOST:PORT for an emulator, https://HOST for Google)"
            )),
            (None, Some(host)) if !host.is_empty() => {
                Ok(Endpoint::Emulator(format!("http://{host}")))
            }
            (None, _) => Ok(Endpoint::Google),
        }
    }
}

/// Why the configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: line {line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Smallest and largest accepted `max_line_bytes`.
const LINE_BYTES_RANGE: (u64, u64) = (256, 1 << 20);
/// Smallest and largest accepted `batch_max_bytes`: Pub/Sub takes 10 MB per request, and the
/// request framing needs some of that.
const BATCH_BYTES_RANGE: (u64, u64) = (1000, 9_500_000);
/// The spool needs room for a few segments of whole lines.
const MIN_SPOOL_BYTES: u64 = 1 << 20;
/// Pub/Sub's limits on message attributes.
const MAX_ATTRIBUTES: usize = 100;
const MAX_ATTRIBUTE_KEY_BYTES: usize = 256;
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;

/// Reads the file (if any), lays the flags over it and validates the result.
pub fn load(config_path: Option<&Path>, flags: &Settings) -> Result<Config, ConfigError> {
    let default = Path::new(DEFAULT_CONFIG_PATH);
    let file = match config_path {
        Some(path) => Some(path.to_path_buf()),
        None if default.exists() => Some(default.to_path_buf()),
        None => None,
    };
    let from_file = match &file {
        Some(path) => read_file(path)?,
        None => Settings::default(),
    };
    let settings = from_file.overlay(flags);
    let origin = |key: &str, flag_given: bool| -> String {
        match (&file, flag_given) {
            (Some(path), false) => format!("config {}: {key}", path.display()),
            _ => format!("--{}", key.replace('_', "-")),
        }
    };
    let invalid = |key: &str, flag_given: bool, message: String| ConfigError::Invalid {
        origin: origin(key, flag_given),
        message,
    };

    let format_spec = settings.format.as_deref().unwrap_or("combined");
    let format = LogFormat::new(format_spec).map_err(|e| ConfigError::Invalid {
        origin: origin("format", flags.format.is_some()),
        message: e.to_string(),
    })?;

    let host = match settings.host {
        Some(host) if host.trim().is_empty() => {
            return Err(ConfigError::Invalid {
                origin: origin("host", flags.host.is_some()),
                message: "must not be empty".into(),
            });
        }
        Some(host) => host,
        None => gethostname::gethostname().to_string_lossy().into_owned(),
    };

    let max_line_bytes = settings.max_line_bytes.map_or(64 * 1024, |s| s.0);
    if !(LINE_BYTES_RANGE.0..=LINE_BYTES_RANGE.1).contains(&max_line_bytes) {
        return Err(ConfigError::Invalid {
            origin: origin("max_line_bytes", flags.max_line_bytes.is_some()),
            message: format!(
                "{max_line_bytes} is out of range ({} to {} bytes)",
                LINE_BYTES_RANGE.0, LINE_BYTES_RANGE.1
            ),
        });
    }

    for (key, value, flag_given) in [
        ("project", &settings.project, flags.project.is_some()),
        ("topic", &settings.topic, flags.topic.is_some()),
    ] {
        if let Some(value) = value {
            check_resource_name(value).map_err(|message| ConfigError::Invalid {
                origin: origin(key, flag_given),
                message,
            })?;
        }
    }

    let spool_max_bytes = settings.spool_max_bytes.map_or(1 << 30, |s| s.0);
    if spool_max_bytes < MIN_SPOOL_BYTES {
        return Err(invalid(
            "spool_max_bytes",
            flags.spool_max_bytes.is_some(),
            format!("{spool_max_bytes} is too small (at least {MIN_SPOOL_BYTES} bytes)"),
        ));
    }

    let endpoint = Endpoint::resolve(
        settings.endpoint.as_deref(),
        std::env::var("PUBSUB_EMULATOR_HOST").ok().as_deref(),
    )
    .map_err(|message| invalid("endpoint", flags.endpoint.is_some(), message))?;

    let batch_max_messages = settings.batch_max_messages.unwrap_or(1000);
    if !(1..=1000).contains(&batch_max_messages) {
        return Err(invalid(
            "batch_max_messages",
            flags.batch_max_messages.is_some(),
            format!(
                "{batch_max_messages} is out of range (1 to 1000, Pub/Sub's limit per request)"
            ),
        ));
    }
    let batch_max_bytes = settings.batch_max_bytes.map_or(9_000_000, |s| s.0);
    if !(BATCH_BYTES_RANGE.0..=BATCH_BYTES_RANGE.1).contains(&batch_max_bytes) {
        return Err(invalid(
            "batch_max_bytes",
            flags.batch_max_bytes.is_some(),
            format!(
                "{batch_max_bytes} is out of range ({} to {} bytes; Pub/Sub takes 10MB per request)",
                BATCH_BYTES_RANGE.0, BATCH_BYTES_RANGE.1
            ),
        ));
    }
    let max_in_flight = settings.max_in_flight.unwrap_or(4000);
    if max_in_flight < batch_max_messages {
        return Err(invalid(
            "max_in_flight",
            flags.max_in_flight.is_some(),
            format!("{max_in_flight} is less than batch_max_messages ({batch_max_messages})"),
        ));
    }

    let attributes = check_attributes(&settings.attributes, &settings.attribute_fields, &format)
        .map_err(|(key, message)| invalid(key, false, message))?;
    if let Some(field) = &settings.ordering_key_field
        && !format.columns().iter().any(|c| &c.name == field)
    {
        return Err(invalid(
            "ordering_key_field",
            flags.ordering_key_field.is_some(),
            unknown_field(field, &format),
        ));
    }

    Ok(Config {
        file,
        format,
        host,
        max_line_bytes: max_line_bytes as usize,
        project: settings.project,
        topic: settings.topic,
        spool_dir: settings
            .spool_dir
            .unwrap_or_else(|| PathBuf::from("/var/spool/accesslog-pubsub")),
        spool_max_bytes,
        spool_full_policy: settings
            .spool_full_policy
            .unwrap_or(FullPolicySetting::DropOldest),
        spool_fsync: settings.spool_fsync.unwrap_or(FsyncSetting::Interval),
        spool_fsync_interval: settings
            .spool_fsync_interval
            .map_or(Duration::from_secs(1), |d| d.0),
        endpoint,
        credentials_file: settings.credentials_file,
        batch_max_messages,
        batch_max_bytes: batch_max_bytes as u32,
        batch_max_delay: settings
            .batch_max_delay
            .map_or(Duration::from_millis(50), |d| d.0),
        max_in_flight: max_in_flight as usize,
        attributes,
        attribute_fields: settings.attribute_fields,
        ordering_key_field: settings.ordering_key_field,
        shutdown_timeout: settings
            .shutdown_timeout
            .map_or(Duration::from_secs(5), |d| d.0),
        drain_timeout: settings
            .drain_timeout
            .map_or(Duration::from_secs(30), |d| d.0),
        report_interval: settings
            .report_interval
            .map_or(Duration::from_secs(60), |d| d.0),
        verbose: settings.verbose.unwrap_or(false),
    })
}

/// Pub/Sub's attribute limits, checked for the static attributes and the copied fields.
fn check_attributes(
    statics: &[KeyValue],
    fields: &[String],
    format: &LogFormat,
) -> Result<Vec<(String, String)>, (&'static str, String)> {
    let mut attributes: Vec<(String, String)> = statics
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    attributes.sort();
    attributes.dedup_by(|a, b| a.0 == b.0);
    for (key, value) in &attributes {
        check_attribute_key(key).map_err(|m| ("attributes", m))?;
        if value.len() > MAX_ATTRIBUTE_VALUE_BYTES {
            return Err((
                "attributes",
                format!(
                    "value of {key:?} is over {MAX_ATTRIBUTE_VALUE_BYTES} bytes (Pub/Sub's limit)"
                ),
            ));
        }
    }
    let columns = format.columns();
    for field in fields {
        check_attribute_key(field).map_err(|m| ("attribute_fields", m))?;
        if !columns.iter().any(|c| &c.name == field) {
            return Err(("attribute_fields", unknown_field(field, format)));
        }
        if attributes.iter().any(|(k, _)| k == field) {
            return Err((
                "attribute_fields",
                format!("{field:?} is also a static attribute; keep one of them"),
            ));
        }
    }
    if attributes.len() + fields.len() > MAX_ATTRIBUTES {
        return Err((
            "attributes",
            format!("more than {MAX_ATTRIBUTES} attributes (Pub/Sub's limit per message)"),
        ));
    }
    Ok(attributes)
}

fn check_attribute_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY_BYTES {
        Err(format!(
            "attribute key {key:?} must be 1 to {MAX_ATTRIBUTE_KEY_BYTES} bytes"
        ))
    } else if key.starts_with("goog") {
        Err(format!(
            "attribute key {key:?}: keys starting with \"goog\" are reserved by Pub/Sub"
        ))
    } else {
        Ok(())
    }
}

fn unknown_field(field: &str, format: &LogFormat) -> String {
    let names: Vec<String> = format.columns().into_iter().map(|c| c.name).collect();
    format!(
        "{field:?} is not a field of this format's records (they have: {})",
        names.join(", ")
    )
}

/// Parses the TOML file; errors name the line and, for bad values, the key.
fn read_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        let offset = e.span().map_or(0, |span| span.start);
        let line = text[..offset.min(text.len())].matches('\n').count() + 1;
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            message: e.message().trim().replace('\n', " "),
        }
    })
}

/// Project ids and topic names: what Pub/Sub accepts, checked before anything is sent.
fn check_resource_name(value: &str) -> Result<(), String> {
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c));
    if value.is_empty() {
        Err("must not be empty".into())
    } else if !ok_chars || value.contains('/') {
        Err(format!(
            "{value:?} is not a valid name (give the short name: letters, digits, - _ . ~ + %)"
        ))
    } else {
        Ok(())
    }
}

/// A size in bytes, written as a number (`65536`) or with a unit (`64KiB`, `1 MiB`, `10MB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let number: u64 = digits
            .parse()
            .map_err(|_| format!("invalid size {s:?} (write e.g. 65536, 64KiB or 1GiB)"))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            "t" | "tb" => 1_000_000_000_000,
            "tib" => 1 << 40,
            other => return Err(format!("invalid size {s:?}: unknown unit {other:?}")),
        };
        number
            .checked_mul(multiplier)
            .map(Size)
            .ok_or_else(|| format!("invalid size {s:?}: too large"))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Size(n)),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// `spool_full_policy`: what to do when the spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum FullPolicySetting {
    DropOldest,
    DropNewest,
}

/// `spool_fsync`: when spooled lines are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum FsyncSetting {
    Interval,
    Always,
    Never,
}

/// A duration written like `50ms`, `5s`, `2m` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;

    fn from_str(s: &str) -> Result<Dur, String> {
        humantime::parse_duration(s.trim())
            .map(Dur)
            .map_err(|e| format!("invalid duration {s:?} ({e}; write e.g. 50ms, 5s or 2m)"))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// `KEY=VALUE`, as given to `--attribute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl FromStr for KeyValue {
    type Err = String;

    fn from_str(s: &str) -> Result<KeyValue, String> {
        match s.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(KeyValue {
                key: key.to_string(),
                value: value.to_string(),
            }),
            _ => Err(format!("{s:?} is not KEY=VALUE")),
        }
    }
}

/// The file's `[attributes]` table as key-value pairs.
fn attribute_table<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<KeyValue>, D::Error> {
    let table = std::collections::BTreeMap::<String, String>::deserialize(d)?;
    Ok(table
        .into_iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect())
}

/// The file's attributes with the flags' laid over them, key by key.
fn merge_attributes(mut file: Vec<KeyValue>, flags: &[KeyValue]) -> Vec<KeyValue> {
    file.retain(|kv| !flags.iter().any(|f| f.key == kv.key));
    file.extend(flags.iter().cloned());
    file
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    const EXAMPLE: &str = include_str!("../packaging/config.toml");

    #[test]
    fn the_shipped_example_config_is_valid_and_names_every_setting() {
        let parsed: Result<Settings, _> = toml::from_str(EXAMPLE);
        assert!(parsed.is_ok(), "{parsed:?}");
        let command = crate::cli::Cli::command();
        for arg in command.get_arguments() {
            let Some(flag) = arg.get_long() else { continue };
            let key = match flag {
                "config" | "help" | "version" => continue,
                "attribute" => "[attributes]".to_string(),
                "attribute-field" => "attribute_fields".to_string(),
                other => other.replace('-', "_"),
            };
            assert!(
                EXAMPLE.contains(&key),
                "packaging/config.toml does not mention {key}"
            );
        }
    }

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!("65536".parse::<Size>(), Ok(Size(65536)));
        assert_eq!("64KiB".parse::<Size>(), Ok(Size(65536)));
        assert_eq!("1 GiB".parse::<Size>(), Ok(Size(1 << 30)));
        assert_eq!("10MB".parse::<Size>(), Ok(Size(10_000_000)));
        assert!("12 parsecs".parse::<Size>().is_err());
        assert!("".parse::<Size>().is_err());
        assert!("99999999999TiB".parse::<Size>().is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!("50ms".parse::<Dur>(), Ok(Dur(Duration::from_millis(50))));
        assert_eq!("2m".parse::<Dur>(), Ok(Dur(Duration::from_secs(120))));
        assert!("soon".parse::<Dur>().is_err());
    }

    #[test]
    fn endpoint_setting_wins_over_emulator_variable() {
        assert_eq!(Endpoint::resolve(None, None), Ok(Endpoint::Google));
        assert_eq!(
            Endpoint::resolve(None, Some("127.0.0.1:8085")),
            Ok(Endpoint::Emulator("http://127.0.0.1:8085".into()))
        );
        assert_eq!(
            Endpoint::resolve(Some("https://pubsub.example"), Some("127.0.0.1:8085")),
            Ok(Endpoint::Custom("https://pubsub.example".into()))
        );
        assert!(Endpoint::resolve(Some("localhost:8085"), None).is_err());
    }

    #[test]
    fn flag_attributes_replace_file_attributes_key_by_key() {
        let kv = |s: &str| s.parse::<KeyValue>().expect("valid KEY=VALUE");
        let merged = merge_attributes(vec![kv("env=prod"), kv("dc=eu")], &[kv("env=test")]);
        assert_eq!(merged, vec![kv("dc=eu"), kv("env=test")]);
        assert!("novalue".parse::<KeyValue>().is_err());
    }

    #[test]
    fn resource_names_are_checked() {
        assert!(check_resource_name("my-project").is_ok());
        assert!(check_resource_name("projects/p/topics/t").is_err());
        assert!(check_resource_name("").is_err());
    }
}
