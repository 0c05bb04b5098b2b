//! The directive table: which `%` letters exist, what each one logs ([`Logged`]) and how its
//! text is read ([`Conv`]).
//!
//! This is the only place that knows mod_log_config's (and mod_logio's, mod_ssl's) letters.

use chrono::format::{Item, StrftimeItems};

/// How the logged text of one directive becomes a value. Its own tag byte (rather than one
/// hidden in a `Vec` of [`TimeItem`]) makes the choice made for every field of every line a
/// single load.
#[derive(Debug, Clone)]
#[repr(u8)]
pub(crate) enum Conv {
    /// Text as written by `ap_escape_logitem`; `-` is null.
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
    /// `%r`: the request line.
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

/// What a directive logs, however it was written (`%s` and `%>s` are both
/// [`Logged::Status`]). Names of headers, variables and cookies are kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Logged {
    /// `%a`
    ClientIp,
    /// `%{c}a`
    PeerIp,
    /// `%A`
    LocalIp,
    /// `%h`
    RemoteHost,
    /// `%{c}h`
    PeerHost,
    /// `%l`
    Ident,
    /// `%u`
    RemoteUser,
    /// The first `%t` item of a format: the line's time, made of all its `%t` items.
    Time,
    /// Any later `%t` item: part of the time the first one gives, no value of its own.
    TimePart,
    /// `%r`
    Request,
    /// `%m`
    Method,
    /// `%H`
    Protocol,
    /// `%U`
    UrlPath,
    /// `%q`
    Query,
    /// `%s`, `%>s`
    Status,
    /// `%<s`
    OriginalStatus,
    /// `%b` (`clf`: `-` for none) and `%B`
    BytesSent { clf: bool },
    /// `%I`
    BytesIn,
    /// `%O`
    BytesOut,
    /// `%S`
    BytesTotal,
    /// `%D`: time taken in microseconds.
    DurationUs,
    /// `%T`, `%{UNIT}T`: time taken, in the unit as written (`s` when none).
    Duration { unit: String },
    /// `%^FB`
    TimeToFirstByte,
    /// `%v`
    Vhost,
    /// `%V`
    ServerName,
    /// `%p`, `%{canonical}p`
    ServerPort,
    /// `%{local}p`
    LocalPort,
    /// `%{remote}p`
    RemotePort,
    /// `%P`, `%{pid}P`
    Pid,
    /// `%{tid}P`, `%{hextid}P` (`hex`)
    Tid { hex: bool },
    /// `%k`
    KeepAliveRequests,
    /// `%L`
    RequestLogId,
    /// `%{c}L`
    ConnectionLogId,
    /// `%f`
    Filename,
    /// `%R`
    Handler,
    /// `%X`
    ConnectionStatus,
    /// `%{NAME}i`, `%{NAME}o`, `%{NAME}C`, ...: a named value of some kind.
    Named { kind: Named, name: String },
}

/// The kinds of named values a directive can log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
    /// `%{NAME}i`
    RequestHeader,
    /// `%{NAME}o`
    ResponseHeader,
    /// `%{NAME}C`
    Cookie,
    /// `%{NAME}e`
    Env,
    /// `%{NAME}n`
    Note,
    /// `%{NAME}^ti`
    RequestTrailer,
    /// `%{NAME}^to`
    ResponseTrailer,
    /// `%{VAR}x` (mod_ssl)
    SslVar,
    /// `%{VAR}c` (mod_ssl)
    SslConnectionVar,
}

/// A status condition: the directive logs `-` unless the status is in `statuses` (or, when
/// `negate`, unless it is not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Condition {
    pub(crate) negate: bool,
    pub(crate) statuses: Vec<u32>,
}

/// One directive of a format: what it logs, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    pub(crate) logged: Logged,
    pub(crate) condition: Option<Condition>,
}

/// What the table says of a directive.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) conv: Conv,
    pub(crate) logged: Logged,
    /// `%{begin:..}t` or `%{end:..}t` (only meaningful for time items).
    pub(crate) end_time: bool,
}

/// A parsed directive as written: `%!200,304<{Referer}i` has `code` `i`, `arg` `Referer`,
/// `want_orig` `Some(true)` and conditions.
#[derive(Debug, Clone)]
pub(crate) struct Written<'a> {
    pub(crate) code: &'a str,
    pub(crate) arg: Option<&'a str>,
    pub(crate) want_orig: Option<bool>,
}

/// Looks a directive up. The error is the message for a `FormatError`.
pub(crate) fn lookup(d: &Written<'_>, text: &str) -> Result<Spec, String> {
    let arg = d.arg.unwrap_or("");
    let mut end_time = false;
    let named = |kind| -> Result<(Conv, Logged), String> {
        if !arg.bytes().any(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("directive %{} needs a {{NAME}} argument", d.code));
        }
        Ok((
            Conv::Text,
            Logged::Named {
                kind,
                name: arg.to_owned(),
            },
        ))
    };
    let text_item = |logged| Ok((Conv::Text, logged));
    let int_item = |logged| Ok((Conv::Int(1), logged));
    let (conv, logged) = match d.code {
        "a" if arg == "c" => text_item(Logged::PeerIp),
        "a" => text_item(Logged::ClientIp),
        "A" => text_item(Logged::LocalIp),
        "b" => int_item(Logged::BytesSent { clf: true }),
        "B" => int_item(Logged::BytesSent { clf: false }),
        "C" => named(Named::Cookie),
        "D" => int_item(Logged::DurationUs),
        "e" => named(Named::Env),
        "f" => text_item(Logged::Filename),
        "h" if arg == "c" => text_item(Logged::PeerHost),
        "h" => text_item(Logged::RemoteHost),
        "H" => text_item(Logged::Protocol),
        "i" => named(Named::RequestHeader),
        "k" => int_item(Logged::KeepAliveRequests),
        "l" => text_item(Logged::Ident),
        "L" if arg == "c" => text_item(Logged::ConnectionLogId),
        "L" => text_item(Logged::RequestLogId),
        "m" => text_item(Logged::Method),
        "n" => named(Named::Note),
        "o" => named(Named::ResponseHeader),
        "p" => match arg.to_ascii_lowercase().as_str() {
            "" | "canonical" => int_item(Logged::ServerPort),
            "local" => int_item(Logged::LocalPort),
            "remote" => int_item(Logged::RemotePort),
            _ => Err(format!("%{{{arg}}}p: expected canonical, local or remote")),
        },
        "P" => match arg.to_ascii_lowercase().as_str() {
            "" | "pid" => int_item(Logged::Pid),
            "tid" => int_item(Logged::Tid { hex: false }),
            "hextid" => Ok((Conv::HexInt, Logged::Tid { hex: true })),
            _ => Err(format!("%{{{arg}}}P: expected pid, tid or hextid")),
        },
        "q" => Ok((Conv::Query, Logged::Query)),
        "r" => Ok((Conv::Request, Logged::Request)),
        "R" => text_item(Logged::Handler),
        "s" if d.want_orig == Some(true) => int_item(Logged::OriginalStatus),
        "s" => int_item(Logged::Status),
        "t" => time_item(arg).map(|(item, end)| {
            end_time = end;
            (Conv::Time(item), Logged::Time)
        }),
        "T" => {
            let factor = match arg.to_ascii_lowercase().as_str() {
                "" | "s" => Ok(1_000_000),
                "ms" => Ok(1_000),
                "us" => Ok(1),
                _ => Err(format!("%{{{arg}}}T: expected s, ms or us")),
            }?;
            let unit = if arg.is_empty() { "s" } else { arg };
            Ok((
                Conv::Int(factor),
                Logged::Duration {
                    unit: unit.to_owned(),
                },
            ))
        }
        "u" => Ok((Conv::User, Logged::RemoteUser)),
        "U" => text_item(Logged::UrlPath),
        "v" => text_item(Logged::Vhost),
        "V" => text_item(Logged::ServerName),
        "X" => Ok((Conv::Verbatim, Logged::ConnectionStatus)),
        "I" => int_item(Logged::BytesIn),
        "O" => int_item(Logged::BytesOut),
        "S" => int_item(Logged::BytesTotal),
        "^FB" => int_item(Logged::TimeToFirstByte),
        "^ti" => named(Named::RequestTrailer),
        "^to" => named(Named::ResponseTrailer),
        "x" => named(Named::SslVar),
        "c" => named(Named::SslConnectionVar),
        _ => Err(format!("unknown directive {text}")),
    }?;
    Ok(Spec {
        conv,
        logged,
        end_time,
    })
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
