//! The settings as written: in the file (serde) or as flags (clap), all optional, not yet
//! validated, and how layers of them are laid over one another.
//!
//! [`Settings`] is both the clap and the serde definition, so a key and its flag cannot
//! drift apart. Layers are merged as TOML tables, key by key: the built-in defaults, then
//! the file, then the flags; `[attributes]` is merged attribute by attribute, and
//! `[privacy]` ([`PrivacySettings`], whose keys are flags like the others) key by key.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, FromArgMatches};
use serde::{Deserialize, Serialize};

use super::table::{self, Default as TableDefault};

/// The settings of one layer (defaults, file or flags).
#[derive(Debug, Default, Clone, PartialEq, Eq, clap::Args, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[arg(long, global = true, value_name = "FORMAT", help = table::help("format"))]
    pub format: Option<String>,

    #[arg(long, global = true, value_name = "NAME", help = table::help("host"))]
    pub host: Option<String>,

    #[arg(long, global = true, value_name = "SIZE", help = table::help("max_line_bytes"))]
    pub max_line_bytes: Option<Size>,

    #[arg(long, global = true, value_name = "DURATION", help = table::help("read_coalesce"))]
    pub read_coalesce: Option<Dur>,

    #[arg(long, global = true, value_name = "ID", help = table::help("project"))]
    pub project: Option<String>,

    #[arg(long, global = true, value_name = "NAME", help = table::help("topic"))]
    pub topic: Option<String>,

    #[arg(long, global = true, value_name = "DIR", help = table::help("spool_dir"))]
    pub spool_dir: Option<PathBuf>,

    #[arg(long, global = true, value_name = "SIZE", help = table::help("spool_max_bytes"))]
    pub spool_max_bytes: Option<Size>,

    #[arg(long, global = true, value_name = "SIZE", help = table::help("memory_max_bytes"))]
    pub memory_max_bytes: Option<Size>,

    #[arg(long, global = true, value_name = "POLICY", help = table::help("spool_full_policy"))]
    pub spool_full_policy: Option<FullPolicySetting>,

    #[arg(long, global = true, value_name = "WHEN", help = table::help("spool_fsync"))]
    pub spool_fsync: Option<FsyncSetting>,

    #[arg(long, global = true, value_name = "DURATION", help = table::help("spool_fsync_interval"))]
    pub spool_fsync_interval: Option<Dur>,

    #[arg(long, global = true, value_name = "URL", help = table::help("endpoint"))]
    pub endpoint: Option<String>,

    #[arg(long, global = true, value_name = "PATH", help = table::help("credentials_file"))]
    pub credentials_file: Option<PathBuf>,

    #[arg(long, global = true, value_name = "N", help = table::help("batch_max_messages"))]
    pub batch_max_messages: Option<u32>,

    #[arg(long, global = true, value_name = "SIZE", help = table::help("batch_max_bytes"))]
    pub batch_max_bytes: Option<Size>,

    #[arg(long, global = true, value_name = "DURATION", help = table::help("batch_max_delay"))]
    pub batch_max_delay: Option<Dur>,

    #[arg(long, global = true, value_name = "N", help = table::help("max_in_flight"))]
    pub max_in_flight: Option<u32>,

    #[arg(long = "attribute", global = true, value_name = "KEY=VALUE", help = table::help("attributes"))]
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "attributes_from_table",
        serialize_with = "attributes_to_table"
    )]
    pub attributes: Vec<KeyValue>,

    #[arg(long = "attribute-field", global = true, value_name = "FIELD", help = table::help("attribute_fields"))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attribute_fields: Vec<String>,

    #[arg(long, global = true, value_name = "FIELD", help = table::help("ordering_key_field"))]
    pub ordering_key_field: Option<String>,

    #[arg(long, global = true, value_name = "NAME", help = table::help("user"))]
    pub user: Option<String>,

    #[arg(long, global = true, value_name = "NAME", help = table::help("group"))]
    pub group: Option<String>,

    #[arg(long, global = true, value_name = "DURATION", help = table::help("shutdown_timeout"))]
    pub shutdown_timeout: Option<Dur>,

    #[arg(long, global = true, value_name = "DURATION", help = table::help("drain_timeout"))]
    pub drain_timeout: Option<Dur>,

    #[arg(long, global = true, value_name = "DURATION", help = table::help("report_interval"))]
    pub report_interval: Option<Dur>,

    #[arg(
        long,
        global = true,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL",
        help = table::help("verbose")
    )]
    pub verbose: Option<bool>,

    #[arg(long, global = true, value_name = "PATH", help = table::help("status_file"))]
    pub status_file: Option<PathBuf>,

    #[arg(long, global = true, value_name = "IP:PORT", help = table::help("metrics_listen"))]
    pub metrics_listen: Option<SocketAddr>,

    /// The `[privacy]` table.
    #[command(flatten)]
    #[serde(default, skip_serializing_if = "PrivacySettings::is_empty")]
    pub privacy: PrivacySettings,
}

/// The `[privacy]` table: what of a record is changed or left out before it is sent.
#[derive(Debug, Default, Clone, PartialEq, Eq, clap::Args, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySettings {
    #[arg(long, global = true, value_name = "WHAT", help = table::help("client_ip"))]
    pub client_ip: Option<ClientIpSetting>,

    #[arg(
        long = "client-ip-header",
        global = true,
        value_name = "NAME",
        value_delimiter = ',',
        help = table::help("client_ip_headers")
    )]
    pub client_ip_headers: Option<Vec<String>>,

    #[arg(long, global = true, value_name = "BITS", help = table::help("ipv4_prefix"))]
    pub ipv4_prefix: Option<u8>,

    #[arg(long, global = true, value_name = "BITS", help = table::help("ipv6_prefix"))]
    pub ipv6_prefix: Option<u8>,

    #[arg(long, global = true, value_name = "PATH", help = table::help("hash_key_file"))]
    pub hash_key_file: Option<PathBuf>,

    #[arg(long, global = true, value_name = "WHAT", help = table::help("remote_user"))]
    pub remote_user: Option<RemoteUserSetting>,

    #[arg(long = "redact-query-param", global = true, value_name = "NAME", help = table::help("redact_query_params"))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redact_query_params: Vec<String>,

    #[arg(long, global = true, value_name = "WHAT", help = table::help("query"))]
    pub query: Option<QuerySetting>,

    #[arg(long = "drop-field", global = true, value_name = "FIELD", help = table::help("drop_fields"))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_fields: Vec<String>,

    #[arg(long, global = true, value_name = "WHAT", help = table::help("raw"))]
    pub raw: Option<RawSetting>,
}

impl PrivacySettings {
    fn is_empty(&self) -> bool {
        self == &PrivacySettings::default()
    }
}

/// `client_ip`: what becomes of client addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ClientIpSetting {
    Keep,
    Truncate,
    Hash,
    Drop,
}

/// `remote_user`: what becomes of `%u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum RemoteUserSetting {
    Keep,
    Hash,
    Drop,
}

/// `query`: what becomes of the query of URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum QuerySetting {
    Keep,
    Redact,
    Drop,
}

/// `raw`: whether records carry the line they could not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum RawSetting {
    Keep,
    Drop,
}

/// The settings as a table of the keys they set.
pub(super) type Layer = toml::Table;

impl Settings {
    /// The built-in defaults: every `TableDefault::Value` of the table, parsed as its flag
    /// would be.
    pub fn defaults() -> Result<Settings, String> {
        let command = Settings::augment_args(clap::Command::new("defaults"));
        let mut args = vec!["defaults".to_string()];
        for setting in table::SETTINGS {
            if let TableDefault::Value(value) = setting.default {
                args.push(format!("--{}={value}", flag_of(&command, setting.key)));
            }
        }
        let matches = command
            .try_get_matches_from(args)
            .map_err(|e| e.to_string())?;
        Settings::from_arg_matches(&matches).map_err(|e| e.to_string())
    }

    /// The keys these settings set, with their values.
    pub(super) fn layer(&self) -> Result<Layer, String> {
        Layer::try_from(self).map_err(|e| e.to_string())
    }

    /// The settings `layers` give, each laid over the ones before it.
    pub(super) fn merge(layers: &[&Layer]) -> Result<Settings, String> {
        let mut merged = Layer::new();
        for layer in layers {
            for (key, value) in layer.iter() {
                match (merged.get_mut(key), value) {
                    (Some(toml::Value::Table(under)), toml::Value::Table(over)) => {
                        under.extend(over.clone());
                    }
                    _ => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        merged
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }
}

/// The flag of `key` without its dashes (`attributes` is `attribute`).
pub(super) fn flag_of(command: &clap::Command, key: &str) -> String {
    command
        .get_arguments()
        .find(|arg| arg.get_id() == key)
        .and_then(|arg| arg.get_long())
        .map_or_else(|| key.replace('_', "-"), str::to_string)
}

/// Whether `key` is in the file's `[privacy]` table.
pub(super) fn is_privacy_key(key: &str) -> bool {
    PrivacySettings::augment_args(clap::Command::new("privacy"))
        .get_arguments()
        .any(|arg| arg.get_id() == key)
}

/// The flag of `key`, as the user types it: `--max-line-bytes`.
pub(super) fn flag(key: &str) -> String {
    let command = Settings::augment_args(clap::Command::new("flags"));
    format!("--{}", flag_of(&command, key))
}

/// A size in bytes, written as a number (`65536`) or with a unit (`64KiB`, `1 MiB`, `10MB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

/// Sizes above this are refused (TOML integers are signed 64-bit).
const MAX_SIZE: u64 = i64::MAX as u64;

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        let s = s.trim();
        let size = s
            .parse::<bytesize::ByteSize>()
            .map_err(|_| format!("invalid size {s:?} (write e.g. 65536, 64KiB or 1GiB)"))?;
        if size.0 > MAX_SIZE {
            return Err(format!("invalid size {s:?}: too large"));
        }
        Ok(Size(size.0))
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
            Raw::Number(n) if n <= MAX_SIZE => Ok(Size(n)),
            Raw::Number(n) => Err(serde::de::Error::custom(format!(
                "invalid size {n}: too large"
            ))),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// `spool_full_policy`: what to do when the spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum FullPolicySetting {
    DropOldest,
    DropNewest,
}

/// `spool_fsync`: when spooled lines are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
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

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(self.0))
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
fn attributes_from_table<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<KeyValue>, D::Error> {
    let table = std::collections::BTreeMap::<String, String>::deserialize(d)?;
    Ok(table
        .into_iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect())
}

/// Key-value pairs as an `[attributes]` table; of a key given twice the last value counts.
fn attributes_to_table<S: serde::Serializer>(
    attributes: &[KeyValue],
    s: S,
) -> Result<S::Ok, S::Error> {
    let table: std::collections::BTreeMap<&str, &str> = attributes
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect();
    table.serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers(under: &Settings, over: &Settings) -> Settings {
        let (under, over) = (under.layer().unwrap(), over.layer().unwrap());
        Settings::merge(&[&under, &over]).unwrap()
    }

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!("65536".parse::<Size>(), Ok(Size(65536)));
        assert_eq!("64KiB".parse::<Size>(), Ok(Size(65536)));
        assert_eq!("1 GiB".parse::<Size>(), Ok(Size(1 << 30)));
        assert_eq!("10MB".parse::<Size>(), Ok(Size(10_000_000)));
        assert_eq!("9MB".parse::<Size>(), Ok(Size(9_000_000)));
        assert_eq!("1.5KiB".parse::<Size>(), Ok(Size(1536)));
        assert!("12 parsecs".parse::<Size>().is_err());
        assert!("".parse::<Size>().is_err());
        assert!("-5".parse::<Size>().is_err());
        assert!("99999999999TiB".parse::<Size>().is_err());
        let file: Settings = toml::from_str("max_line_bytes = 4096\nspool_max_bytes = \"2 GiB\"")
            .expect("TOML integers and texts are sizes");
        assert_eq!(file.max_line_bytes, Some(Size(4096)));
        assert_eq!(file.spool_max_bytes, Some(Size(2 << 30)));
    }

    #[test]
    fn durations_parse() {
        assert_eq!("50ms".parse::<Dur>(), Ok(Dur(Duration::from_millis(50))));
        assert_eq!("2m".parse::<Dur>(), Ok(Dur(Duration::from_secs(120))));
        assert!("soon".parse::<Dur>().is_err());
    }

    #[test]
    fn the_defaults_are_the_tables() {
        let defaults = Settings::defaults().expect("every default of the table parses");
        assert_eq!(defaults.max_line_bytes, Some(Size(64 << 10)));
        assert_eq!(defaults.batch_max_messages, Some(1000));
        assert_eq!(defaults.verbose, Some(false));
        assert_eq!(defaults.host, None, "computed at start");
        assert_eq!(defaults.project, None);
    }

    #[test]
    fn a_layer_replaces_what_it_sets_and_keeps_the_rest() {
        let under = Settings {
            topic: Some("a".into()),
            batch_max_delay: Some(Dur(Duration::from_millis(1500))),
            attribute_fields: vec!["vhost".into()],
            ..Settings::default()
        };
        let over = Settings {
            project: Some("p".into()),
            topic: Some("b".into()),
            ..Settings::default()
        };
        let merged = layers(&under, &over);
        assert_eq!(merged.project.as_deref(), Some("p"));
        assert_eq!(merged.topic.as_deref(), Some("b"));
        assert_eq!(merged.batch_max_delay, under.batch_max_delay);
        assert_eq!(merged.attribute_fields, ["vhost"]);
    }

    #[test]
    fn flag_attributes_replace_file_attributes_key_by_key() {
        let kv = |s: &str| s.parse::<KeyValue>().expect("valid KEY=VALUE");
        let file = Settings {
            attributes: vec![kv("env=prod"), kv("dc=eu")],
            ..Settings::default()
        };
        let flags = Settings {
            attributes: vec![kv("env=test")],
            ..Settings::default()
        };
        assert_eq!(
            layers(&file, &flags).attributes,
            vec![kv("dc=eu"), kv("env=test")]
        );
        assert!("novalue".parse::<KeyValue>().is_err());
    }

    #[test]
    fn flags_are_named_as_typed() {
        assert_eq!(flag("max_line_bytes"), "--max-line-bytes");
        assert_eq!(flag("attributes"), "--attribute");
        assert_eq!(flag("attribute_fields"), "--attribute-field");
    }
}
