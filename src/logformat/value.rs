//! A line's fields as typed values: [`Parser`] matches a line against its format's plan and
//! resolves its time; [`Parsed::values`] then reads each field as what its directive logs.
//!
//! Nothing is copied: text values are the line's own bytes, still escaped the way httpd
//! wrote them ([`Escaped`]); integers whose digits are a number as they stand stay digits.

use super::LogFormat;
use super::compile::{Field, Plan};
use super::directive::Conv;
use super::parse::{LineError, Span, split};
use super::time::{TimeCache, Timestamp};
use super::unescape::unescape_into;

/// Matches lines of one format, keeping what lines share: the spans buffer and the time
/// cache (the last `%t` texts and the time they gave).
#[derive(Debug)]
pub(crate) struct Parser {
    format: LogFormat,
    spans: Vec<Span>,
    time: TimeCache,
}

/// One line matched against its format.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    plan: &'a Plan,
    line: &'a [u8],
    spans: &'a [Span],
    time: Option<&'a Timestamp>,
}

/// The value of one field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// `-`, or what the directive logs for "none" (`%q` without a query).
    Null,
    /// Text, as httpd escaped it.
    Text(Escaped<'a>),
    /// An integer whose digits are in canonical form as they stand: no sign, no leading
    /// zero, fits an i64.
    Digits(&'a [u8]),
    /// Any other integer (scaled durations, hex thread ids, leading zeros, signs).
    Int(i64),
    /// `%r`: the request line, as httpd escaped it; [`super::split_request`] splits it once
    /// unescaped.
    Request(Escaped<'a>),
    /// The line's time, made of all its `%t` items (the value of the first of them).
    Time(&'a Timestamp),
    /// A later `%t` item, whose text is part of the [`Value::Time`] of the first.
    TimePart,
}

/// Text as httpd's `ap_escape_logitem` wrote it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Escaped<'a> {
    /// The bytes as logged.
    pub(crate) raw: &'a [u8],
    /// `raw` is known to hold no `"` and no `\` (the search for the field's end looked), so
    /// it is its own unescaped text.
    pub(crate) clean: bool,
}

impl Escaped<'_> {
    /// Appends the text unescaped to `dst`. True when a `\xhh` gave a byte >= 0x80, i.e.
    /// when the result may not be UTF-8 even though `raw` is.
    pub(crate) fn unescape_into(&self, dst: &mut Vec<u8>) -> bool {
        unescape_into(self.raw, dst)
    }
}

impl Parser {
    pub(crate) fn new(format: LogFormat) -> Parser {
        Parser {
            format,
            spans: Vec::new(),
            time: TimeCache::default(),
        }
    }

    /// Matches `line` and resolves its time.
    pub(crate) fn parse<'a>(&'a mut self, line: &'a [u8]) -> Result<Parsed<'a>, LineError> {
        let plan = &self.format.plan;
        split(plan, line, &mut self.spans)?;
        let time = if plan.time_fields.is_empty() {
            None
        } else {
            let spans = &self.spans;
            let t = self
                .time
                .resolve(plan, line, spans)
                .map_err(|f| LineError::Field {
                    field: f,
                    at: spans[f].start,
                    what: "bad time",
                })?;
            Some(t)
        };
        Ok(Parsed {
            plan,
            line,
            spans: &self.spans,
            time,
        })
    }

    /// What `e`, an error of a line of this format, says: a short message with a 1-based
    /// byte column.
    pub(crate) fn describe(&self, e: &LineError, out: &mut String) {
        e.render(&self.format.plan, out);
    }
}

/// The values of a parsed line's fields, in format order.
#[derive(Debug)]
pub(crate) struct Values<'p, 'a> {
    parsed: &'p Parsed<'a>,
    fields: std::iter::Zip<std::slice::Iter<'p, Field>, std::slice::Iter<'p, Span>>,
    next: usize,
}

impl<'p> Iterator for Values<'p, '_> {
    type Item = Result<Value<'p>, LineError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let (field, span) = self.fields.next()?;
        let f = self.next;
        self.next += 1;
        Some(self.parsed.value(f, field, *span))
    }
}

impl<'a> Parsed<'a> {
    /// The value of each field in format order; an error (and nothing more) for a field
    /// whose text is not what its directive logs.
    #[inline]
    pub(crate) fn values(&self) -> Values<'_, 'a> {
        Values {
            parsed: self,
            fields: self.plan.fields.iter().zip(self.spans),
            next: 0,
        }
    }

    #[inline(always)]
    fn value(&self, f: usize, field: &Field, span: Span) -> Result<Value<'_>, LineError> {
        let raw = &self.line[span.start..span.end];
        let text = Escaped {
            raw,
            clean: span.clean,
        };
        let bad = |what| LineError::Field {
            field: f,
            at: span.start,
            what,
        };
        Ok(match &field.conv {
            Conv::Text if raw == b"-" => Value::Null,
            Conv::Text | Conv::Verbatim => Value::Text(text),
            Conv::User if raw == b"\"\"" => Value::Text(Escaped {
                raw: b"",
                clean: true,
            }),
            Conv::User if raw == b"-" => Value::Null,
            Conv::User => Value::Text(text),
            Conv::Query if raw.is_empty() || raw == b"-" => Value::Null,
            Conv::Query => Value::Text(text),
            Conv::Int(_) | Conv::HexInt if raw == b"-" => Value::Null,
            Conv::Int(1) if is_plain_number(raw) => Value::Digits(raw),
            Conv::Int(factor) => Value::Int(
                parse_int(raw, 10)
                    .ok_or_else(|| bad("expected a number"))?
                    .checked_mul(*factor)
                    .ok_or_else(|| bad("number too large"))?,
            ),
            Conv::HexInt => {
                let digits = raw.strip_prefix(b"0x").unwrap_or(raw);
                Value::Int(parse_int(digits, 16).ok_or_else(|| bad("expected a hex number"))?)
            }
            Conv::Request if raw == b"-" => Value::Null,
            Conv::Request => Value::Request(text),
            Conv::Time(_) => match &self.time {
                Some(t) if self.plan.time_fields.first() == Some(&f) => Value::Time(t),
                _ => Value::TimePart,
            },
        })
    }
}

/// Digits in canonical form: no sign, no leading zero, fit an i64.
#[inline]
fn is_plain_number(text: &[u8]) -> bool {
    matches!(text, [b'0'] | [b'1'..=b'9', ..])
        && text.len() <= 18
        && text.iter().all(u8::is_ascii_digit)
}

/// A decimal (radix 10) or hexadecimal (16) integer with an optional `-`; `None` when it is
/// anything else or does not fit an i64.
fn parse_int(text: &[u8], radix: u32) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = (b as char).to_digit(radix)?;
        v = v.checked_mul(i64::from(radix))?.checked_add(i64::from(d))?;
    }
    Some(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int(b"200", 10), Some(200));
        assert_eq!(parse_int(b"007", 10), Some(7));
        assert_eq!(parse_int(b"-5", 10), Some(-5));
        assert_eq!(parse_int(b"7f", 16), Some(127));
        assert_eq!(parse_int(b"abc", 10), None);
        assert_eq!(parse_int(b"", 10), None);
        assert_eq!(parse_int(b"-", 10), None);
        assert_eq!(parse_int(b"99999999999999999999", 10), None);
        assert!(is_plain_number(b"0") && is_plain_number(b"123456789012345678"));
        for not_plain in [&b"007"[..], b"-1", b"", b"1234567890123456789", b"1a"] {
            assert!(!is_plain_number(not_plain), "{not_plain:?}");
        }
    }
}
