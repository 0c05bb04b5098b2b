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
    })
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn resource_names_are_checked() {
        assert!(check_resource_name("my-project").is_ok());
        assert!(check_resource_name("projects/p/topics/t").is_err());
        assert!(check_resource_name("").is_err());
    }
}
