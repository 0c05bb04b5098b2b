//! Apache `LogFormat` strings, compiled once into a plan that splits each line without
//! regular expressions or per-field allocation.
//!
//! # The plan
//!
//! [`LogFormat::new`] expands a nickname (`common`, `combined`, ...; see [`NICKNAMES`]) and
//! reads the string as mod_log_config does (`compile`): literal text (with `\"`, `\\`, `\n`,
//! `\t`, `\r` escapes and `%%`) alternates with directives (`%h`, `%>s`, `%{Referer}i`,
//! `%400,501{User-Agent}i`, `%^FB`, ...; the table is in `directive`). Each directive becomes
//! a field with
//!
//! - an *extent*: how its end is found in a line. Normally where the next literal begins
//!   (memchr); between `"`s at the first unescaped `"` that begins that literal (memchr2 on
//!   `"` and `\`); the literal that ends the format must end the line; the last field of a
//!   format takes the rest of the line. `%t` is 28 bytes, `%{msec_frac}t`/`%{usec_frac}t` are 3
//!   or 6 digits, strftime `%{...}t` items read as far as their format does. Two directives
//!   with nothing between them are refused unless the first is self-delimiting as above or an
//!   integer (then it reads its digits).
//! - a *conversion*: unescaped text (`-` is null; `""` stays `""`), integer (`-` is null,
//!   anything else non-numeric makes the line a parse error), duration scaled to
//!   microseconds, the request line (`%r`), or a time item.
//! - its output column(s), named once at compile time.
//!
//! `parse` matches a line against the plan giving byte spans; `time` combines all `%t` items
//! of a format into one timestamp; `unescape` and `request` do what their names say. The
//! record encoder (`crate::record`) turns spans into JSON.
//!
//! # Column names
//!
//! | directive | key | type |
//! |---|---|---|
//! | `%h` / `%{c}h` | `remote_host` / `peer_host` | STRING |
//! | `%a` / `%{c}a` / `%A` | `client_ip` / `peer_ip` / `local_ip` | STRING |
//! | `%l` / `%u` | `ident` / `remote_user` | STRING |
//! | `%t`, `%{format}t` (all items together) | `timestamp` + `tz_offset` | TIMESTAMP + STRING |
//! | `%r` | `request`, `method`, `path`, `protocol` | STRING |
//! | `%m` / `%H` / `%U` / `%q` | `method` / `protocol` / `url_path` / `query_string` | STRING |
//! | `%>s`, `%s` / `%<s` | `status` / `original_status` | INTEGER |
//! | `%b`, `%B` / `%I` / `%O` / `%S` | `bytes_sent` / `bytes_in` / `bytes_out` / `bytes_total` | INTEGER |
//! | `%D`, `%T`, `%{s}T`, `%{ms}T`, `%{us}T` | `duration_us` | INTEGER |
//! | `%^FB` | `ttfb_us` | INTEGER |
//! | `%v` / `%V` | `vhost` / `server_name` | STRING |
//! | `%p`, `%{canonical}p` / `%{local}p` / `%{remote}p` | `server_port` / `local_port` / `remote_port` | INTEGER |
//! | `%P` / `%{tid}P`, `%{hextid}P` | `pid` / `tid` | INTEGER |
//! | `%k` | `keepalive_requests` | INTEGER |
//! | `%L` / `%{c}L` | `request_log_id` / `connection_log_id` | STRING |
//! | `%f` / `%R` / `%X` | `filename` / `handler` / `connection_status` | STRING |
//! | `%{Referer}i` / `%{User-Agent}i` / other `%{Name}i` | `referer` / `user_agent` / `req_<name>` | STRING |
//! | `%{Name}o` / `%{N}C` / `%{N}e` / `%{N}n` | `resp_<name>` / `cookie_<name>` / `env_<name>` / `note_<name>` | STRING |
//! | `%{N}^ti` / `%{N}^to` | `req_trailer_<name>` / `resp_trailer_<name>` | STRING |
//! | `%{VAR}x`, `%{VAR}c` (mod_ssl) | `ssl_<var>` (no doubled `ssl_`) | STRING |
//!
//! `<name>` is the argument in snake case: ASCII letters and digits lowercased, every run of
//! other characters one `_`, none at either end (`X-Forwarded-For` -> `x_forwarded_for`).
//! When a name is taken, the later directive gets `_2`, `_3`, ... (`%r` then `%m` gives
//! `method` and `method_2`). Modifiers (`<`, `>`, status conditions) do not change names,
//! except that `%<s` is `original_status`. `%X` keeps its `-` (connection closed) as a value.
//!
//! # Values
//!
//! Text fields are unescaped as `ap_escape_logitem` escaped them (httpd escapes every text
//! item, not only `%r`/`%i`/`%o`); `-` is null, `""` stays `""`, and `%u`'s `""` (httpd's
//! empty user name) is `""`. `%q` without a query (nothing logged) is null; `%X` keeps `-`.
//! Integers: `-` is null, anything that is not a number (`abc`, overflow) makes the line a
//! parse error. Text that is not UTF-8 after unescaping gets U+FFFD and the record gets
//! `invalid_utf8: true` and `raw`.
//!
//! # Record keys
//!
//! A record carries `id`, `host`, `received_at`, the format's columns in format order, then
//! `truncated` and `invalid_utf8` (always `true`/`false`) and `raw` (the line, only when
//! `invalid_utf8` is true, else null). A line that does not match carries only `id`, `host`,
//! `received_at`, `raw`, `parse_error` (what did not match, with a 1-based byte column) and,
//! when set, `truncated`. [`LogFormat::columns`] lists all of these.
//!
//! # Limits
//!
//! A field ends at the *first* occurrence of the literal after it, so that literal must not
//! occur in the field (`%v:%p` cannot carry an IPv6 `%v`; quoted fields are safe, as httpd
//! escapes `"` in them). A strftime `%t` without `%z` is read as this machine's local time.

mod compile;
mod directive;
mod names;
mod parse;
mod request;
mod time;
mod unescape;

use thiserror::Error;

pub(crate) use compile::Plan;
pub(crate) use directive::Conv;
pub(crate) use parse::{LineError, Span, split};
pub(crate) use request::split_request;
pub(crate) use time::{Resolved, TextsKey, TimeCache, put_digits, rfc3339_base};
pub(crate) use unescape::unescape_into;

/// A bad `LogFormat` string: what is wrong and the 1-based column of the offending `%` directive.
#[derive(Debug, Error)]
#[error("bad LogFormat at column {column}: {message}")]
pub struct FormatError {
    pub column: usize,
    pub message: String,
}

/// The BigQuery type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Integer,
    Timestamp,
    Boolean,
}

impl ColumnType {
    /// The BigQuery type name.
    pub fn bigquery_name(self) -> &'static str {
        match self {
            ColumnType::String => "STRING",
            ColumnType::Integer => "INTEGER",
            ColumnType::Timestamp => "TIMESTAMP",
            ColumnType::Boolean => "BOOLEAN",
        }
    }
}

/// One key a record can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: ColumnType,
    pub description: String,
}

/// Apache's (and Debian's) format nicknames and what they stand for.
pub const NICKNAMES: &[(&str, &str)] = &[
    ("common", r#"%h %l %u %t "%r" %>s %b"#),
    (
        "combined",
        r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#,
    ),
    (
        "combinedio",
        r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %I %O"#,
    ),
    (
        "vhost_combined",
        r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#,
    ),
    ("debian_common", r#"%h %l %u %t "%r" %>s %O"#),
    (
        "debian_combined",
        r#"%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#,
    ),
    ("referer", "%{Referer}i -> %U"),
    ("agent", "%{User-Agent}i"),
];

/// Keys every record starts with.
pub(crate) const META_BEFORE: &[(&str, ColumnType, &str)] = &[
    (
        "id",
        ColumnType::String,
        "Record id: stream id (16 hex digits), dash, line number in the stream",
    ),
    ("host", ColumnType::String, "Host the line was read on"),
    (
        "received_at",
        ColumnType::Timestamp,
        "When the line was read, UTC",
    ),
];

/// Keys every record ends with (`parse_error` only in parse-error records).
pub(crate) const META_AFTER: &[(&str, ColumnType, &str)] = &[
    (
        "truncated",
        ColumnType::Boolean,
        "The line was longer than the maximum and was cut",
    ),
    (
        "invalid_utf8",
        ColumnType::Boolean,
        "The line or an unescaped field was not UTF-8; such values hold U+FFFD",
    ),
    (
        "raw",
        ColumnType::String,
        "The whole line (lossy UTF-8), when it did not parse or was not UTF-8",
    ),
    (
        "parse_error",
        ColumnType::String,
        "Why the line did not match the format, with its byte column",
    ),
];

/// A compiled LogFormat.
#[derive(Debug, Clone)]
pub struct LogFormat {
    source: String,
    pub(crate) plan: Plan,
}

impl LogFormat {
    /// Compiles an Apache nickname (`common`, `combined`, ...) or a LogFormat string.
    pub fn new(spec: &str) -> Result<LogFormat, FormatError> {
        let source = NICKNAMES
            .iter()
            .find(|(name, _)| *name == spec)
            .map_or(spec, |(_, format)| format);
        if source.is_empty() {
            return Err(FormatError {
                column: 1,
                message: "empty format".to_owned(),
            });
        }
        Ok(LogFormat {
            source: source.to_owned(),
            plan: compile::compile(source)?,
        })
    }

    /// The LogFormat string after nickname expansion.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every key a record of this format can carry, in output order.
    pub fn columns(&self) -> Vec<Column> {
        let meta = |m: &[(&str, ColumnType, &str)]| -> Vec<Column> {
            m.iter()
                .map(|&(name, kind, description)| Column {
                    name: name.to_owned(),
                    kind,
                    description: description.to_owned(),
                })
                .collect()
        };
        let mut columns = meta(META_BEFORE);
        columns.extend(self.plan.columns.iter().cloned());
        columns.extend(meta(META_AFTER));
        columns
    }
}

#[cfg(test)]
mod tests;
