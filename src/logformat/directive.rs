//! The directive table: which `%` letters exist, and for each the output column(s) it
//! becomes (name, BigQuery type, description) and how its text is turned into a value.
//!
//! This is the only place that knows mod_log_config's (and mod_logio's, mod_ssl's) letters.

use chrono::format::{Item, StrftimeItems};

use super::ColumnType;
use super::names::snake;

/// How the logged text of one directive becomes a value. Its own tag byte (rather than one
/// hidden in a `Vec` of [`TimeItem`]) makes the choice made for every field of every line a
/// single load.
#[derive(Debug, Clone)]
#[repr(u8)]
pub(crate) enum Conv {
    /// Text as written by `ap_escape_logitem`: unescaped; `-` is null.
    Text,
    /// `%u`: like [`Conv::Text`], but Apache writes an empty user name as `""`.
    User,
    /// `%q`: `?query` or nothing; nothing is null.
    Query,
    /// `%X`: one of `X`, `+`, `-`, all of them values (`-` = connection closed).
    Verbatim,
    /// A decimal integer multiplied by the factor (durations to microseconds); `-` is null.
    Int(i64),
    /// `%{hextid}P`: a hexadecimal thread id; `-` is null.
    HexInt,
    /// `%r`: the request line, plus its method, target and protocol.
    Request,
    /// One `%t` item; all of them together make one timestamp.
    Time(TimeItem),
}

/// What one `%t` item writes.
#[derive(Debug, Clone)]
pub(crate) enum TimeItem {
    /// `%t`: `[10/Oct/2000:13:55:36 -0700]`.
    Clf,
    /// `%{format}t` with a strftime format.
    Strftime(Vec<Item<'static>>),
    /// `%{sec}t`, `%{msec}t`, `%{usec}t`: time since the epoch in that unit.
    Epoch(Unit),
    /// `%{msec_frac}t`, `%{usec_frac}t`: the sub-second part, 3 or 6 digits.
    Frac(Unit),
}

/// Sub-second resolution of a `%t` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Unit {
    Sec,
    Msec,
    Usec,
}

impl Unit {
    /// How many of this unit make one second.
    pub(crate) fn per_second(self) -> i64 {
        match self {
            Unit::Sec => 1,
            Unit::Msec => 1_000,
            Unit::Usec => 1_000_000,
        }
    }

    /// Digits of the fraction this unit gives.
    pub(crate) fn digits(self) -> usize {
        match self {
            Unit::Sec => 0,
            Unit::Msec => 3,
            Unit::Usec => 6,
        }
    }
}

/// One column a directive produces, before duplicate names are numbered.
#[derive(Debug, Clone)]
pub(crate) struct ColumnSpec {
    pub(crate) name: String,
    pub(crate) kind: ColumnType,
    pub(crate) description: String,
}

/// What a directive is: its conversion and its columns.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) conv: Conv,
    /// `%{begin:..}t` or `%{end:..}t` (only meaningful for time items).
    pub(crate) end_time: bool,
    pub(crate) columns: Vec<ColumnSpec>,
}

/// A parsed directive as written: `%!200,304<{Referer}i` has `code` `i`, `arg` `Referer`,
/// `want_orig` `Some(true)` and conditions.
#[derive(Debug, Clone)]
pub(crate) struct Written<'a> {
    pub(crate) code: &'a str,
    pub(crate) arg: Option<&'a str>,
    pub(crate) want_orig: Option<bool>,
    pub(crate) negate: bool,
    pub(crate) statuses: &'a [u32],
}

/// Looks a directive up. The error is the message for a `FormatError`.
pub(crate) fn lookup(d: &Written<'_>, text: &str) -> Result<Spec, String> {
    let arg = d.arg.unwrap_or("");
    let mut end_time = false;
    let (conv, columns) = match d.code {
        "a" if arg == "c" => text_col("peer_ip", "IP address of the TCP peer (%{c}a)"),
        "a" => text_col("client_ip", "Client IP address of the request (%a)"),
        "A" => text_col("local_ip", "Local IP address of the server (%A)"),
        "b" => int_col("bytes_sent", "Response bytes sent, headers excluded (%b)"),
        "B" => int_col("bytes_sent", "Response bytes sent, headers excluded (%B)"),
        "C" => var_col(d, "cookie_", "Value of cookie", arg)?,
        "D" => int_col(
            "duration_us",
            "Time taken to serve the request, microseconds (%D)",
        ),
        "e" => var_col(d, "env_", "Environment variable", arg)?,
        "f" => text_col("filename", "File name served (%f)"),
        "h" if arg == "c" => text_col("peer_host", "Remote host of the TCP peer (%{c}h)"),
        "h" => text_col("remote_host", "Remote host name or IP address (%h)"),
        "H" => text_col("protocol", "Request protocol (%H)"),
        "i" => header_col(d, arg)?,
        "k" => int_col(
            "keepalive_requests",
            "Keep-alive requests handled on this connection before this one (%k)",
        ),
        "l" => text_col("ident", "Remote logname from identd (%l)"),
        "L" if arg == "c" => text_col(
            "connection_log_id",
            "Error log id of the connection (%{c}L)",
        ),
        "L" => text_col("request_log_id", "Error log id of the request (%L)"),
        "m" => text_col("method", "Request method (%m)"),
        "n" => var_col(d, "note_", "Note", arg)?,
        "o" => var_col(d, "resp_", "Response header", arg)?,
        "p" => port_col(arg)?,
        "P" => pid_col(arg)?,
        "q" => (
            Conv::Query,
            vec![col(
                "query_string",
                ColumnType::String,
                "Query string with its leading ? (%q)",
            )],
        ),
        "r" => request_cols(),
        "R" => text_col("handler", "Handler that generated the response (%R)"),
        "s" if d.want_orig == Some(true) => int_col(
            "original_status",
            "Status of the original request, before internal redirects (%<s)",
        ),
        "s" => int_col("status", "Final HTTP status (%>s)"),
        "t" => {
            let (item, end) = time_item(arg)?;
            end_time = end;
            (Conv::Time(item), time_cols())
        }
        "T" => duration_col(arg)?,
        "u" => (
            Conv::User,
            vec![col(
                "remote_user",
                ColumnType::String,
                "Authenticated user (%u)",
            )],
        ),
        "U" => text_col("url_path", "URL path requested, without query string (%U)"),
        "v" => text_col("vhost", "Canonical ServerName of the virtual host (%v)"),
        "V" => text_col("server_name", "Server name per UseCanonicalName (%V)"),
        "X" => (
            Conv::Verbatim,
            vec![col(
                "connection_status",
                ColumnType::String,
                "Connection status after the response: X aborted, + keep-alive, - closed (%X)",
            )],
        ),
        "I" => int_col(
            "bytes_in",
            "Bytes received, headers and request included (%I)",
        ),
        "O" => int_col("bytes_out", "Bytes sent, headers included (%O)"),
        "S" => int_col("bytes_total", "Bytes received and sent (%S)"),
        "^FB" => int_col(
            "ttfb_us",
            "Microseconds from request to first response byte (%^FB)",
        ),
        "^ti" => var_col(d, "req_trailer_", "Request trailer", arg)?,
        "^to" => var_col(d, "resp_trailer_", "Response trailer", arg)?,
        "x" | "c" => ssl_col(d, arg)?,
        _ => return Err(format!("unknown directive {text}")),
    };
    let mut columns = columns;
    if !d.statuses.is_empty() {
        let list = d
            .statuses
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let when = if d.negate { "except for" } else { "only for" };
        for c in &mut columns {
            c.description = format!("{}; logged {when} status {list}", c.description);
        }
    }
    Ok(Spec {
        conv,
        end_time,
        columns,
    })
}

type Found = (Conv, Vec<ColumnSpec>);

fn col(name: &str, kind: ColumnType, description: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.to_owned(),
        kind,
        description: description.to_owned(),
    }
}

fn text_col(name: &str, description: &str) -> Found {
    (Conv::Text, vec![col(name, ColumnType::String, description)])
}

fn int_col(name: &str, description: &str) -> Found {
    (
        Conv::Int(1),
        vec![col(name, ColumnType::Integer, description)],
    )
}

/// The argument of a `%{VAR}x`-style directive, refused when missing.
fn required_arg<'a>(d: &Written<'a>) -> Result<&'a str, String> {
    match d.arg {
        Some(a) if !snake(a).is_empty() => Ok(a),
        _ => Err(format!("directive %{} needs a {{NAME}} argument", d.code)),
    }
}

fn var_col(d: &Written<'_>, prefix: &str, what: &str, arg: &str) -> Result<Found, String> {
    required_arg(d)?;
    let name = format!("{prefix}{}", snake(arg));
    let description = format!("{what} {arg} (%{{{arg}}}{})", d.code);
    Ok((
        Conv::Text,
        vec![col(&name, ColumnType::String, &description)],
    ))
}

fn header_col(d: &Written<'_>, arg: &str) -> Result<Found, String> {
    required_arg(d)?;
    let description = format!("Request header {arg} (%{{{arg}}}i)");
    let name = if arg.eq_ignore_ascii_case("Referer") {
        "referer".to_owned()
    } else if arg.eq_ignore_ascii_case("User-Agent") {
        "user_agent".to_owned()
    } else {
        format!("req_{}", snake(arg))
    };
    Ok((
        Conv::Text,
        vec![col(&name, ColumnType::String, &description)],
    ))
}

fn ssl_col(d: &Written<'_>, arg: &str) -> Result<Found, String> {
    required_arg(d)?;
    let s = snake(arg);
    let name = if s.starts_with("ssl_") {
        s
    } else {
        format!("ssl_{s}")
    };
    let description = format!("mod_ssl variable {arg} (%{{{arg}}}{})", d.code);
    Ok((
        Conv::Text,
        vec![col(&name, ColumnType::String, &description)],
    ))
}

fn port_col(arg: &str) -> Result<Found, String> {
    let (name, description) = match arg.to_ascii_lowercase().as_str() {
        "" | "canonical" => ("server_port", "Canonical port of the server (%p)"),
        "local" => ("local_port", "Local port of the connection (%{local}p)"),
        "remote" => ("remote_port", "Remote port of the client (%{remote}p)"),
        _ => return Err(format!("%{{{arg}}}p: expected canonical, local or remote")),
    };
    Ok(int_col(name, description))
}

fn pid_col(arg: &str) -> Result<Found, String> {
    match arg.to_ascii_lowercase().as_str() {
        "" | "pid" => Ok(int_col("pid", "Process id of the child (%P)")),
        "tid" => Ok(int_col("tid", "Thread id of the child (%{tid}P)")),
        "hextid" => Ok((
            Conv::HexInt,
            vec![col(
                "tid",
                ColumnType::Integer,
                "Thread id of the child, logged in hex (%{hextid}P)",
            )],
        )),
        _ => Err(format!("%{{{arg}}}P: expected pid, tid or hextid")),
    }
}

fn duration_col(arg: &str) -> Result<Found, String> {
    let factor = match arg.to_ascii_lowercase().as_str() {
        "" | "s" => 1_000_000,
        "ms" => 1_000,
        "us" => 1,
        _ => return Err(format!("%{{{arg}}}T: expected s, ms or us")),
    };
    let description = format!(
        "Time taken to serve the request, microseconds (%{{{}}}T)",
        if arg.is_empty() { "s" } else { arg }
    );
    Ok((
        Conv::Int(factor),
        vec![col("duration_us", ColumnType::Integer, &description)],
    ))
}

fn request_cols() -> Found {
    (
        Conv::Request,
        vec![
            col(
                "request",
                ColumnType::String,
                "First line of the request, unescaped (%r)",
            ),
            col(
                "method",
                ColumnType::String,
                "Method from the request line (%r)",
            ),
            col(
                "path",
                ColumnType::String,
                "Request target from the request line as sent, query included (%r)",
            ),
            col(
                "protocol",
                ColumnType::String,
                "Protocol from the request line (%r)",
            ),
        ],
    )
}

fn time_cols() -> Vec<ColumnSpec> {
    vec![
        col(
            "timestamp",
            ColumnType::Timestamp,
            "Time of the request, UTC (%t)",
        ),
        col(
            "tz_offset",
            ColumnType::String,
            "UTC offset the time was logged in, e.g. -07:00 (%t)",
        ),
    ]
}

/// Parses the argument of `%{...}t` as mod_log_config does; returns the item and whether
/// it is an `end:` item.
fn time_item(arg: &str) -> Result<(TimeItem, bool), String> {
    let (rest, end) = if let Some(r) = arg.strip_prefix("begin") {
        (r, false)
    } else if let Some(r) = arg.strip_prefix("end") {
        (r, true)
    } else {
        (arg, false)
    };
    // `begin`/`end` only count as prefixes when alone or followed by `:`.
    let (fmt, end) = match rest.strip_prefix(':') {
        Some(f) => (f, end),
        None if rest.is_empty() => ("", end),
        None => (arg, false),
    };
    let item = match fmt {
        "" => TimeItem::Clf,
        "sec" => TimeItem::Epoch(Unit::Sec),
        "msec" => TimeItem::Epoch(Unit::Msec),
        "usec" => TimeItem::Epoch(Unit::Usec),
        "msec_frac" => TimeItem::Frac(Unit::Msec),
        "usec_frac" => TimeItem::Frac(Unit::Usec),
        f => TimeItem::Strftime(
            StrftimeItems::new(f)
                .parse_to_owned()
                .map_err(|_| format!("bad strftime format in %{{{arg}}}t"))?,
        ),
    };
    Ok((item, end))
}
