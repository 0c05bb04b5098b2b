//! Configuration: a TOML file and command-line flags, validated into one immutable
//! [`Config`], split by area.
//!
//! - `table`: every setting's key, default and help, each written once.
//! - `settings`: the settings as written (file: serde, flags: clap), all optional, and how
//!   layers of them merge: the defaults, then the file, then the flags.
//! - `validate`: the merged settings -> [`Config`], refusing bad values with one line that
//!   names the key (or flag) and what is wrong.
//!
//! Every setting has one name, `snake_case` as a key in the file and `--kebab-case` as a
//! flag. Flags win over the file. The file is `--config PATH`, else
//! `/etc/accesslog-pubsub/config.toml` when it exists.
//!
//! A `Config` is never changed once built. It keeps where it came from ([`Sources`]: the
//! `--config` path and the parsed flags), so [`Config::reload`] can read the file again and
//! lay the same flags over it, building a new `Config` to be swapped in whole.

mod key_file;
mod settings;
mod table;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::destination::Destination;
use crate::logformat::LogFormat;
use crate::record::Privacy;
use crate::spool::{SpoolOptions, StreamContext, StreamKind};
pub use settings::{Dur, Settings};
pub(crate) use validate::MAX_ATTRIBUTE_VALUE_BYTES;

/// Where the configuration file is looked for when `--config` is not given.
pub(crate) const DEFAULT_CONFIG_PATH: &str = "/etc/accesslog-pubsub/config.toml";

/// Where a configuration comes from: the `--config` path, if given, and the flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub config_path: Option<PathBuf>,
    pub flags: Settings,
}

/// The validated configuration every part of the program reads, by area.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file the settings came from, if any.
    pub file: Option<PathBuf>,
    pub input: Input,
    pub publish: Publish,
    pub spool: SpoolOptions,
    pub privileges: Privileges,
    pub shutdown: Shutdown,
    pub report: Report,
    /// What records carry of a line: the `[privacy]` table, with its key.
    pub privacy: Arc<Privacy>,
    /// What this configuration was loaded from, for [`Config::reload`].
    sources: Arc<Sources>,
}

/// What is read, and how it is parsed.
#[derive(Debug, Clone)]
pub struct Input {
    pub format: LogFormat,
    /// The `host` field of every record.
    pub host: String,
    pub max_line_bytes: usize,
    /// After a read that emptied the pipe, how long to wait before the next one.
    pub read_coalesce: Duration,
}

/// Where records go, and how they are batched.
#[derive(Debug, Clone)]
pub struct Publish {
    pub project: Option<String>,
    pub topic: Option<String>,
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
}

/// Who the program runs as once what needs root is done (see `crate::privileges`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    /// The user to become when started as root.
    pub user: Option<String>,
    /// The group to become; `None`: the user's own.
    pub group: Option<String>,
}

/// How the piped logger ends.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// After SIGTERM, how long to keep reading until end of input.
    pub drain_timeout: Duration,
    /// After the input ended, how long to keep publishing what is pending.
    pub timeout: Duration,
}

/// What is said on stderr and how often, and where else the counters are shown.
#[derive(Debug, Clone)]
pub struct Report {
    pub interval: Duration,
    /// Report every interval even when nothing is wrong.
    pub verbose: bool,
    /// The JSON status file, if any.
    pub status_file: Option<PathBuf>,
    /// Where the Prometheus endpoint listens, if anywhere: a loopback address.
    pub metrics_listen: Option<SocketAddr>,
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

/// The spool directory to use when the configuration cannot be loaded: the flag's, else
/// the file's when that much of it can be read, else the default.
pub fn spool_dir_of(sources: &Sources) -> PathBuf {
    if let Some(dir) = &sources.flags.spool_dir {
        return dir.clone();
    }
    let default = Path::new(DEFAULT_CONFIG_PATH);
    let file = sources
        .config_path
        .as_deref()
        .or_else(|| default.exists().then_some(default));
    let from_file = file
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| table.get("spool_dir")?.as_str().map(PathBuf::from));
    // The built-in defaults always parse (a test says so).
    from_file
        .or_else(|| Settings::defaults().ok()?.spool_dir)
        .unwrap_or_default()
}

/// Reads the file (if any), lays the flags over it and validates the result.
pub fn load(sources: Sources) -> Result<Config, ConfigError> {
    load_from(Arc::new(sources))
}

impl Config {
    /// The destination this configuration names; `None` without a project and a topic.
    pub(crate) fn destination(&self) -> Option<Destination> {
        let publish = &self.publish;
        Some(Destination {
            project: publish.project.clone()?,
            topic: publish.topic.clone()?,
            attributes: publish.attributes.iter().cloned().collect(),
            attribute_fields: publish.attribute_fields.clone(),
            ordering_key_field: publish.ordering_key_field.clone(),
        })
    }

    /// What the spool records about the lines read under this configuration: how to parse
    /// them later, and where to send them.
    pub(crate) fn stream_context(&self) -> StreamContext {
        StreamContext {
            kind: StreamKind::AccessLog,
            format: self.input.format.source().to_string(),
            host: self.input.host.clone(),
            destination: self.destination(),
        }
    }

    /// A new configuration from the same sources: the file read again, the same flags laid
    /// over it. `self` is left as it was; the caller swaps the new one in whole.
    pub fn reload(&self) -> Result<Config, ConfigError> {
        load_from(Arc::clone(&self.sources))
    }
}

fn load_from(sources: Arc<Sources>) -> Result<Config, ConfigError> {
    let default = Path::new(DEFAULT_CONFIG_PATH);
    let file = match &sources.config_path {
        Some(path) => Some(path.clone()),
        None if default.exists() => Some(default.to_path_buf()),
        None => None,
    };
    let from_file = match &file {
        Some(path) => read_file(path)?,
        None => Settings::default(),
    };
    let internal = |message: String| ConfigError::Invalid {
        origin: "built-in settings".into(),
        message,
    };
    let defaults = Settings::defaults()
        .and_then(|d| d.layer())
        .map_err(internal)?;
    let from_file = from_file.layer().map_err(internal)?;
    let flags = sources.flags.layer().map_err(internal)?;
    let settings = Settings::merge(&[&defaults, &from_file, &flags]).map_err(internal)?;
    let origin = validate::Origin {
        file: file.as_deref(),
        flags: &flags,
    };
    let parts = validate::validate(settings, &origin)?;
    Ok(Config {
        file,
        input: parts.input,
        publish: parts.publish,
        spool: parts.spool,
        privileges: parts.privileges,
        shutdown: parts.shutdown,
        report: parts.report,
        privacy: parts.privacy,
        sources,
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

#[cfg(test)]
mod tests;
