//! Apache `LogFormat` strings: a format compiled once into a plan, and lines matched against
//! it into typed values, one per directive, without regular expressions or per-field
//! allocation. Naming those values and writing them out is `crate::record`'s job; this module
//! knows directives, not columns or JSON.
//!
//! # The plan
//!
//! [`LogFormat::new`] expands a nickname (`common`, `combined`, ...; see [`NICKNAMES`]) and
//! reads the string as mod_log_config does (`compile`): literal text (with `\"`, `\\`, `\n`,
//! `\t`, `\r` escapes and `%%`) alternates with directives (`%h`, `%>s`, `%{Referer}i`,
//! `%400,501{User-Agent}i`, `%^FB`, ...; the table is in `directive`). Each directive becomes
//! a field with
//!
//! - what it logs (`Logged`: `%s` and `%>s` are both the status) and its status condition;
//! - an *extent*: how its end is found in a line. Normally where the next literal begins
//!   (memchr); between `"`s at the first unescaped `"` that begins that literal (memchr2 on
//!   `"` and `\`); the literal that ends the format must end the line; the last field of a
//!   format takes the rest of the line. `%t` is 28 bytes, `%{msec_frac}t`/`%{usec_frac}t` are 3
//!   or 6 digits, strftime `%{...}t` items read as far as their format does. Two directives
//!   with nothing between them are taken when the first is self-delimiting as above, or an
//!   integer (then it reads its digits), or when the text of the second always starts with a
//!   known byte: `%q` (`?`, or nothing at all), `%t` (`[`), a strftime `%{...}t` that starts
//!   with literal text (its first character), none of them with a status condition (which
//!   logs `-` instead). The first then ends at the first such byte, and before `%q` at the
//!   latest where `%q` would end if it logged nothing (`%m %U%q %H`). Any other pair is
//!   refused.
//! - a *conversion*: how its text becomes a `Value`.
//!
//! # Values
//!
//! `Parser::parse` matches a line (`parse`: byte spans) and combines all `%t` items of the
//! format into one `Timestamp` (`time`, which caches the last one); `Parsed::values`
//! (`value`) gives each field's value in format order:
//!
//! - text (`Value::Text`) as httpd's `ap_escape_logitem` wrote it (httpd escapes every text
//!   item, not only `%r`/`%i`/`%o`), with `Escaped::unescape_into` to undo that (`unescape`);
//!   `-` is null, `""` stays `""`, and `%u`'s `""` (httpd's empty user name) is empty text.
//!   `%q` without a query (nothing logged) is null; `%X` keeps its `-` (connection closed).
//! - integers: digits in canonical form as they stand in the line (`Value::Digits`: no sign,
//!   no leading zero, fit an i64) or a computed
//!   `Value::Int` (durations scaled to microseconds, hex thread ids, leading zeros); `-` is
//!   null, anything that is not a number (`abc`, overflow) makes the line a parse error.
//! - `%r`: the request line (`Value::Request`); `split_request` cuts it, unescaped, into
//!   method, target and protocol (`request`).
//! - `%t`: the first `%t` item has the line's `Timestamp` (UTC RFC 3339 text and the offset
//!   it was logged in); later items are parts of it. A time that does not resolve is a parse
//!   error.
//!
//! A line that does not match gives a `LineError` (`Parser::describe` says what did not
//! match, with a 1-based byte column).
//!
//! # Limits
//!
//! A field ends at the *first* occurrence of the literal after it, so that literal must not
//! occur in the field (`%v:%p` cannot carry an IPv6 `%v`; quoted fields are safe, as httpd
//! escapes `"` in them); likewise before a directive taken for its first byte (with `%U%q`, a
//! `?` in the path itself, sent encoded as `%3F` and logged decoded, ends `%U` there). A
//! strftime `%t` without `%z` is read as this machine's local time.

mod compile;
mod directive;
mod parse;
mod request;
mod time;
mod unescape;
mod value;

use thiserror::Error;

pub(crate) use directive::{Directive, Logged, Named};
pub(crate) use parse::LineError;
pub(crate) use request::{RequestParts, split_request};
pub(crate) use time::Timestamp;
pub(crate) use value::{Escaped, Parsed, Parser, Value};

use compile::Plan;

/// A bad `LogFormat` string: what is wrong and the 1-based column of the offending `%` directive.
#[derive(Debug, Error)]
#[error("bad LogFormat at column {column}: {message}")]
pub struct FormatError {
    pub column: usize,
    pub message: String,
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

/// A compiled LogFormat.
#[derive(Debug, Clone)]
pub struct LogFormat {
    source: String,
    plan: Plan,
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

    /// The format's directives in order: one for each value of a parsed line.
    pub(crate) fn directives(&self) -> impl Iterator<Item = &Directive> {
        self.plan.fields.iter().map(|f| &f.directive)
    }
}

#[cfg(test)]
mod tests;
