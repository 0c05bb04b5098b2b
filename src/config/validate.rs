//! The merged settings -> a validated [`Config`]'s areas: ranges, names, Pub/Sub's limits,
//! the record fields the format really has (less those privacy drops), and the privacy
//! policy with its key.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::key_file;
use super::settings::{
    self, ClientIpSetting, FsyncSetting, FullPolicySetting, KeyValue, Layer, PrivacySettings,
    QuerySetting, RawSetting, RemoteUserSetting, Settings,
};
use super::{ConfigError, Endpoint, Input, Privileges, Publish, Report, Shutdown};
use crate::logformat::LogFormat;
use crate::record::{self, ClientIp, Prefixes, Privacy, Query, Raw, RemoteUser};
use crate::spool::{FsyncPolicy, FullPolicy, SpoolOptions};

/// Longest accepted `read_coalesce`.
const READ_COALESCE_MAX: Duration = Duration::from_millis(50);
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
pub(crate) const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;

/// Where a setting came from, to name it in an error: the flag when it was given as one (or
/// when there is no file), else the file and the key.
pub(super) struct Origin<'a> {
    pub file: Option<&'a Path>,
    pub flags: &'a Layer,
}

impl Origin<'_> {
    fn of(&self, key: &str) -> String {
        let privacy = settings::is_privacy_key(key);
        let flagged = if privacy {
            (self.flags.get("privacy"))
                .and_then(toml::Value::as_table)
                .is_some_and(|table| table.contains_key(key))
        } else {
            self.flags.contains_key(key)
        };
        match self.file {
            Some(path) if !flagged => {
                let table = if privacy { "[privacy] " } else { "" };
                format!("config {}: {table}{key}", path.display())
            }
            _ => settings::flag(key),
        }
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.of(key),
            message: message.into(),
        }
    }

    /// The value of a setting that has a default.
    fn given<T>(&self, key: &str, value: Option<T>) -> Result<T, ConfigError> {
        value.ok_or_else(|| self.invalid(key, "has no value"))
    }
}

/// A [`super::Config`]'s areas.
pub(super) struct Areas {
    pub input: Input,
    pub publish: Publish,
    pub spool: SpoolOptions,
    pub privileges: Privileges,
    pub shutdown: Shutdown,
    pub report: Report,
    pub privacy: Arc<Privacy>,
}

/// Checks every setting; the first one refused is the error.
pub(super) fn validate(s: Settings, at: &Origin<'_>) -> Result<Areas, ConfigError> {
    let format_spec = at.given("format", s.format)?;
    let format = LogFormat::new(&format_spec).map_err(|e| at.invalid("format", e.to_string()))?;

    let host = match s.host {
        Some(host) if host.trim().is_empty() => return Err(at.invalid("host", "must not be empty")),
        Some(host) => host,
        None => gethostname::gethostname().to_string_lossy().into_owned(),
    };

    let max_line_bytes = at.given("max_line_bytes", s.max_line_bytes)?.0;
    if !(LINE_BYTES_RANGE.0..=LINE_BYTES_RANGE.1).contains(&max_line_bytes) {
        return Err(at.invalid(
            "max_line_bytes",
            format!(
                "{max_line_bytes} is out of range ({} to {} bytes)",
                LINE_BYTES_RANGE.0, LINE_BYTES_RANGE.1
            ),
        ));
    }

    for (key, value) in [("project", &s.project), ("topic", &s.topic)] {
        if let Some(value) = value {
            check_resource_name(value).map_err(|message| at.invalid(key, message))?;
        }
    }

    let spool_max_bytes = at.given("spool_max_bytes", s.spool_max_bytes)?.0;
    if spool_max_bytes < MIN_SPOOL_BYTES {
        return Err(at.invalid(
            "spool_max_bytes",
            format!("{spool_max_bytes} is too small (at least {MIN_SPOOL_BYTES} bytes)"),
        ));
    }

    let endpoint = resolve_endpoint(
        s.endpoint.as_deref(),
        std::env::var("PUBSUB_EMULATOR_HOST").ok().as_deref(),
    )
    .map_err(|message| at.invalid("endpoint", message))?;

    let batch_max_messages = at.given("batch_max_messages", s.batch_max_messages)?;
    if !(1..=1000).contains(&batch_max_messages) {
        return Err(at.invalid(
            "batch_max_messages",
            format!(
                "{batch_max_messages} is out of range (1 to 1000, Pub/Sub's limit per request)"
            ),
        ));
    }
    let batch_max_bytes = at.given("batch_max_bytes", s.batch_max_bytes)?.0;
    if !(BATCH_BYTES_RANGE.0..=BATCH_BYTES_RANGE.1).contains(&batch_max_bytes) {
        return Err(at.invalid(
            "batch_max_bytes",
            format!(
                "{batch_max_bytes} is out of range ({} to {} bytes; Pub/Sub takes 10MB per request)",
                BATCH_BYTES_RANGE.0, BATCH_BYTES_RANGE.1
            ),
        ));
    }
    let max_in_flight = at.given("max_in_flight", s.max_in_flight)?;
    if max_in_flight < batch_max_messages {
        return Err(at.invalid(
            "max_in_flight",
            format!("{max_in_flight} is less than batch_max_messages ({batch_max_messages})"),
        ));
    }

    let privacy = check_privacy(s.privacy, &format, at)?;
    let columns: Vec<String> = (record::columns(&format, &privacy).into_iter())
        .map(|c| c.name)
        .collect();
    let attributes = check_attributes(&s.attributes, &s.attribute_fields, &columns)
        .map_err(|(key, message)| at.invalid(key, message))?;
    if let Some(field) = &s.ordering_key_field
        && !columns.contains(field)
    {
        return Err(at.invalid("ordering_key_field", unknown_field(field, &columns)));
    }

    let fsync = match at.given("spool_fsync", s.spool_fsync)? {
        FsyncSetting::Interval => {
            FsyncPolicy::Interval(at.given("spool_fsync_interval", s.spool_fsync_interval)?.0)
        }
        FsyncSetting::Always => FsyncPolicy::Always,
        FsyncSetting::Never => FsyncPolicy::Never,
    };
    let full_policy = match at.given("spool_full_policy", s.spool_full_policy)? {
        FullPolicySetting::DropOldest => FullPolicy::DropOldest,
        FullPolicySetting::DropNewest => FullPolicy::DropNewest,
    };
    let spool_dir = at.given("spool_dir", s.spool_dir)?;
    if let Some(path) = &s.status_file
        && path.file_name().is_none()
    {
        return Err(at.invalid(
            "status_file",
            format!("{} does not name a file", path.display()),
        ));
    }
    let metrics_listen = s.metrics_listen;
    if let Some(addr) = metrics_listen
        && !addr.ip().is_loopback()
    {
        return Err(at.invalid(
            "metrics_listen",
            format!(
                "{addr} is not a loopback address: the endpoint has no authentication, so it \
                 listens on 127.0.0.1 or [::1] only (scrape it from this host, or through a \
                 proxy that adds TLS and authentication)"
            ),
        ));
    }
    let read_coalesce = duration(at, "read_coalesce", s.read_coalesce)?;
    if read_coalesce > READ_COALESCE_MAX {
        return Err(at.invalid(
            "read_coalesce",
            format!(
                "{} is too long (at most {}: while it waits, Apache's lines wait in the pipe)",
                humantime::format_duration(read_coalesce),
                humantime::format_duration(READ_COALESCE_MAX)
            ),
        ));
    }
    let privileges = check_privileges(s.user, s.group).map_err(|(key, m)| at.invalid(key, m))?;

    Ok(Areas {
        input: Input {
            format,
            host,
            max_line_bytes: max_line_bytes as usize,
            read_coalesce,
        },
        publish: Publish {
            project: s.project,
            topic: s.topic,
            endpoint,
            credentials_file: s.credentials_file,
            batch_max_messages,
            batch_max_bytes: batch_max_bytes as u32,
            batch_max_delay: at.given("batch_max_delay", s.batch_max_delay)?.0,
            max_in_flight: max_in_flight as usize,
            attributes,
            attribute_fields: s.attribute_fields,
            ordering_key_field: s.ordering_key_field,
        },
        spool: SpoolOptions {
            max_bytes: spool_max_bytes,
            memory_max_bytes: at.given("memory_max_bytes", s.memory_max_bytes)?.0,
            full_policy,
            fsync,
            ..SpoolOptions::new(spool_dir)
        },
        privileges,
        shutdown: Shutdown {
            drain_timeout: duration(at, "drain_timeout", s.drain_timeout)?,
            timeout: duration(at, "shutdown_timeout", s.shutdown_timeout)?,
        },
        report: Report {
            interval: duration(at, "report_interval", s.report_interval)?,
            verbose: at.given("verbose", s.verbose)?,
            status_file: s.status_file,
            metrics_listen,
        },
        privacy: Arc::new(privacy),
    })
}

/// The `[privacy]` table -> the policy, with its key read from `hash_key_file`.
fn check_privacy(
    p: PrivacySettings,
    format: &LogFormat,
    at: &Origin<'_>,
) -> Result<Privacy, ConfigError> {
    let client_ip = match at.given("client_ip", p.client_ip)? {
        ClientIpSetting::Keep => ClientIp::Keep,
        ClientIpSetting::Truncate => ClientIp::Truncate,
        ClientIpSetting::Hash => ClientIp::Hash,
        ClientIpSetting::Drop => ClientIp::Drop,
    };
    let remote_user = match at.given("remote_user", p.remote_user)? {
        RemoteUserSetting::Keep => RemoteUser::Keep,
        RemoteUserSetting::Hash => RemoteUser::Hash,
        RemoteUserSetting::Drop => RemoteUser::Drop,
    };
    let prefixes = Prefixes {
        v4: at.given("ipv4_prefix", p.ipv4_prefix)?,
        v6: at.given("ipv6_prefix", p.ipv6_prefix)?,
    };
    for (key, bits, max) in [
        ("ipv4_prefix", prefixes.v4, 32),
        ("ipv6_prefix", prefixes.v6, 128),
    ] {
        if bits > max {
            return Err(at.invalid(key, format!("{bits} is out of range (0 to {max} bits)")));
        }
    }
    let client_ip_headers = at.given("client_ip_headers", p.client_ip_headers)?;
    for (key, names) in [
        ("client_ip_headers", &client_ip_headers),
        ("redact_query_params", &p.redact_query_params),
    ] {
        if names.iter().any(|n| n.trim().is_empty()) {
            return Err(at.invalid(key, "a name is empty"));
        }
    }
    let key = match &p.hash_key_file {
        Some(path) => Some(key_file::read(path).map_err(|m| at.invalid("hash_key_file", m))?),
        None => None,
    };
    if key.is_none() {
        let hashed = [
            ("client_ip", client_ip == ClientIp::Hash),
            ("remote_user", remote_user == RemoteUser::Hash),
        ];
        if let Some((name, _)) = hashed.iter().find(|(_, hashed)| *hashed) {
            return Err(at.invalid(
                name,
                "hash needs hash_key_file, the key the pseudonyms are made with",
            ));
        }
    }
    let listed = !p.redact_query_params.is_empty();
    let query = match (p.query, listed) {
        (None | Some(QuerySetting::Redact), true) => Query::Redact,
        (None | Some(QuerySetting::Keep), false) => Query::Keep,
        (Some(QuerySetting::Drop), _) => Query::Drop,
        (Some(QuerySetting::Redact), false) => {
            return Err(at.invalid(
                "query",
                "redact needs redact_query_params, the parameters whose values are redacted",
            ));
        }
        (Some(QuerySetting::Keep), true) => {
            return Err(at.invalid(
                "redact_query_params",
                "query = \"keep\" redacts nothing: set query = \"redact\" or leave query out",
            ));
        }
    };
    for name in &p.drop_fields {
        record::check_drop_field(format, name).map_err(|m| at.invalid("drop_fields", m))?;
    }
    let mut privacy = Privacy {
        client_ip,
        prefixes,
        client_ip_headers,
        remote_user,
        redact_query_params: p.redact_query_params,
        query,
        drop_fields: p.drop_fields,
        raw: Raw::Keep,
        key,
        key_file: p.hash_key_file,
    };
    privacy.raw = match p.raw {
        Some(RawSetting::Keep) => Raw::Keep,
        Some(RawSetting::Drop) => Raw::Drop,
        None if privacy.is_off() => Raw::Keep,
        None => Raw::Drop,
    };
    Ok(privacy)
}

fn duration(
    at: &Origin<'_>,
    key: &str,
    value: Option<settings::Dur>,
) -> Result<Duration, ConfigError> {
    at.given(key, value).map(|d| d.0)
}

/// The endpoint setting wins over `PUBSUB_EMULATOR_HOST`.
fn resolve_endpoint(
    setting: Option<&str>,
    emulator_host: Option<&str>,
) -> Result<Endpoint, String> {
    match (setting, emulator_host) {
        (Some(url), _) if url.starts_with("http://") => Ok(Endpoint::Emulator(url.to_string())),
        (Some(url), _) if url.starts_with("https://") => Ok(Endpoint::Custom(url.to_string())),
        (Some(url), _) => Err(format!(
            "{url:?} is not a URL (write http://HOST:PORT for an emulator, https://HOST for Google)"
        )),
        (None, Some(host)) if !host.is_empty() => Ok(Endpoint::Emulator(format!("http://{host}"))),
        (None, _) => Ok(Endpoint::Google),
    }
}

/// Pub/Sub's attribute limits, checked for the static attributes and the copied fields
/// (which must be among the records' `columns`).
fn check_attributes(
    statics: &[KeyValue],
    fields: &[String],
    columns: &[String],
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
    for field in fields {
        check_attribute_key(field).map_err(|m| ("attribute_fields", m))?;
        if !columns.contains(field) {
            return Err(("attribute_fields", unknown_field(field, columns)));
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

fn unknown_field(field: &str, columns: &[String]) -> String {
    format!(
        "{field:?} is not a field of this format's records (they have: {})",
        columns.join(", ")
    )
}

/// `user` and `group` are names (resolved when the program starts, `crate::privileges`);
/// a group alone says nothing about whom to run as.
fn check_privileges(
    user: Option<String>,
    group: Option<String>,
) -> Result<Privileges, (&'static str, String)> {
    for (key, name) in [("user", &user), ("group", &group)] {
        if let Some(name) = name
            && (name.is_empty() || name.contains(['\0', ':', '/']) || name.trim() != name)
        {
            return Err((key, format!("{name:?} is not a user or group name")));
        }
    }
    if group.is_some() && user.is_none() {
        return Err(("group", "needs `user` too (the user to run as)".into()));
    }
    Ok(Privileges { user, group })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_setting_wins_over_emulator_variable() {
        assert_eq!(resolve_endpoint(None, None), Ok(Endpoint::Google));
        assert_eq!(
            resolve_endpoint(None, Some("127.0.0.1:8085")),
            Ok(Endpoint::Emulator("http://127.0.0.1:8085".into()))
        );
        assert_eq!(
            resolve_endpoint(Some("https://pubsub.example"), Some("127.0.0.1:8085")),
            Ok(Endpoint::Custom("https://pubsub.example".into()))
        );
        assert!(resolve_endpoint(Some("localhost:8085"), None).is_err());
    }

    #[test]
    fn resource_names_are_checked() {
        assert!(check_resource_name("my-project").is_ok());
        assert!(check_resource_name("projects/p/topics/t").is_err());
        assert!(check_resource_name("").is_err());
    }
}
