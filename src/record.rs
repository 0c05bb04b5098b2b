//! One line in, one flat JSON object out.
//!
//! The [`Encoder`] matches a line against its format's plan (`logformat::split`), then writes
//! every column: the plain value goes into a reused buffer (so [`Encoder::value`] can hand it
//! to the publisher) and, JSON-escaped, into the output. Nothing is allocated per line once
//! the buffers have grown, except for lines that are not UTF-8. Which keys a record carries is
//! documented in [`crate::logformat`] ("Record keys").

use crate::logformat::{
    Conv, LineError, LogFormat, Plan, Span, TimeCache, put_digits, rfc3339_base, split,
    split_request, unescape_into,
};

/// Identity of a record: the stream it was read in (random per stream) and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId {
    pub stream: u64,
    pub seq: u64,
}

/// What the reader knows about a line besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct LineMeta {
    pub id: RecordId,
    /// When the line was read, microseconds since the Unix epoch.
    pub received_at_us: i64,
    /// The line was longer than the maximum and was cut.
    pub truncated: bool,
}

/// Columns before the format's own: `id`, `host`, `received_at`.
const HEAD: usize = 3;

/// Turns lines into JSON records for one format and host.
#[derive(Debug)]
pub struct Encoder {
    format: LogFormat,
    host: String,
    /// `,"host":"..."`, escaped once.
    host_json: Vec<u8>,
    /// Names of all columns, for [`Encoder::column_index`].
    names: Vec<String>,
    spans: Vec<Span>,
    time: TimeCache,
    /// The last stream id and its 16 hex digits.
    stream: Option<(u64, [u8; 16])>,
    received: Option<(i64, [u8; 19])>,
    /// The last line, then values that differ from its bytes (unescaped text, numbers, ...).
    values: Vec<u8>,
    /// `truncated` and `invalid_utf8` of the last record (`None`: not in it).
    flags: [Option<bool>; 2],
    ranges: Vec<Option<(usize, usize)>>,
    message: String,
}

impl Encoder {
    pub fn new(format: LogFormat, host: &str) -> Encoder {
        let mut host_json = b",\"host\":".to_vec();
        json::write_str(&mut host_json, host.as_bytes());
        let names = format.columns().into_iter().map(|c| c.name).collect();
        Encoder {
            format,
            host: host.to_owned(),
            host_json,
            names,
            spans: Vec::new(),
            time: TimeCache::default(),
            stream: None,
            received: None,
            values: Vec::new(),
            flags: [None; 2],
            ranges: Vec::new(),
            message: String::new(),
        }
    }

    /// Appends one JSON object (no newline) for `line` to `out`. Returns false for a parse error.
    pub fn encode(&mut self, line: &[u8], meta: &LineMeta, out: &mut Vec<u8>) -> bool {
        // The line's own bytes serve as the values of fields that need no change.
        self.values.clear();
        self.values.extend_from_slice(line);
        self.ranges.clear();
        self.ranges.resize(self.names.len(), None);
        self.write_head(meta, out);
        let head_end = out.len();
        let values_end = self.values.len();

        let text = std::str::from_utf8(line).ok();
        let plan = &self.format.plan;
        let result = split(plan, line, text, &mut self.spans).and_then(|()| {
            let mut sink = Sink {
                out,
                values: &mut self.values,
                ranges: &mut self.ranges,
                line_utf8: text.is_some(),
                invalid_utf8: text.is_none(),
            };
            sink.fields(plan, &mut self.time, line, &self.spans)?;
            sink.tail(line, meta.truncated);
            Ok(sink.invalid_utf8)
        });
        match result {
            Ok(invalid_utf8) => {
                self.flags = [Some(meta.truncated), Some(invalid_utf8)];
                true
            }
            Err(e) => {
                out.truncate(head_end);
                self.values.truncate(values_end);
                self.ranges[HEAD..].fill(None);
                self.message.clear();
                e.render(plan, &mut self.message);
                self.write_error(line, out);
                self.flags = [meta.truncated.then_some(true), None];
                if meta.truncated {
                    out.pop();
                    out.extend_from_slice(b",\"truncated\":true}");
                }
                false
            }
        }
    }

    /// The index of column `name` in [`LogFormat::columns`], for [`Encoder::value`].
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The last encoded line's value of a column as plain text (`"200"` for a status); `None`
    /// when it was null or absent.
    pub fn value(&self, index: usize) -> Option<&str> {
        let flag = |f: Option<bool>| f.map(|b| if b { "true" } else { "false" });
        match index.checked_sub(self.names.len() - 4) {
            _ if index == 1 => Some(&self.host),
            Some(0) => flag(self.flags[0]),
            Some(1) => flag(self.flags[1]),
            _ => {
                let (start, end) = (*self.ranges.get(index)?)?;
                std::str::from_utf8(&self.values[start..end]).ok()
            }
        }
    }

    /// The format this encoder was made for.
    pub fn format(&self) -> &LogFormat {
        &self.format
    }

    /// `{"id":...,"host":...,"received_at":...`
    fn write_head(&mut self, meta: &LineMeta, out: &mut Vec<u8>) {
        let start = self.values.len();
        let hex = match self.stream {
            Some((stream, hex)) if stream == meta.id.stream => hex,
            _ => {
                let mut hex = [0u8; 16];
                for (i, d) in hex.iter_mut().enumerate() {
                    *d = b"0123456789abcdef"[(meta.id.stream >> (60 - 4 * i) & 0xf) as usize];
                }
                self.stream = Some((meta.id.stream, hex));
                hex
            }
        };
        self.values.extend_from_slice(&hex);
        self.values.push(b'-');
        write_uint(&mut self.values, meta.id.seq);
        self.ranges[0] = Some((start, self.values.len()));
        out.extend_from_slice(b"{\"id\":\"");
        out.extend_from_slice(&self.values[start..]);
        out.push(b'"');

        out.extend_from_slice(&self.host_json);

        out.extend_from_slice(b",\"received_at\":");
        let secs = meta.received_at_us.div_euclid(1_000_000);
        let base = match self.received {
            Some((s, base)) if s == secs => Some(base),
            _ => {
                let base = rfc3339_base(secs);
                self.received = base.map(|b| (secs, b));
                base
            }
        };
        match base {
            Some(base) => {
                let start = self.values.len();
                self.values.extend_from_slice(&base);
                let mut frac = *b".000000Z";
                put_digits(
                    &mut frac[1..7],
                    meta.received_at_us.rem_euclid(1_000_000) as u32,
                );
                self.values.extend_from_slice(&frac);
                self.ranges[2] = Some((start, self.values.len()));
                out.push(b'"');
                out.extend_from_slice(&self.values[start..]);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
    }

    /// The rest of a parse-error record: `raw` and `parse_error`.
    fn write_error(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let columns = self.names.len();
        let start = self.values.len();
        self.values
            .extend_from_slice(String::from_utf8_lossy(line).as_bytes());
        self.ranges[columns - 2] = Some((start, self.values.len()));
        out.extend_from_slice(b",\"raw\":");
        json::write_str(out, &self.values[start..]);

        let start = self.values.len();
        self.values.extend_from_slice(self.message.as_bytes());
        self.ranges[columns - 1] = Some((start, self.values.len()));
        out.extend_from_slice(b",\"parse_error\":");
        json::write_str(out, &self.values[start..]);
        out.push(b'}');
    }
}

/// Where one record's values go while it is written.
struct Sink<'a> {
    out: &'a mut Vec<u8>,
    values: &'a mut Vec<u8>,
    ranges: &'a mut [Option<(usize, usize)>],
    /// The whole line is UTF-8, so every field is unless `\xhh` escapes say otherwise.
    line_utf8: bool,
    invalid_utf8: bool,
}

impl Sink<'_> {
    /// Writes the format's columns.
    fn fields(
        &mut self,
        plan: &Plan,
        time: &mut TimeCache,
        line: &[u8],
        spans: &[Span],
    ) -> Result<(), LineError> {
        let resolved = if plan.time_fields.is_empty() {
            None
        } else {
            Some(
                time.resolve(plan, line, spans)
                    .map_err(|f| LineError::Field {
                        field: f,
                        at: spans[f].start,
                        what: "bad time",
                    })?,
            )
        };
        let mut col = HEAD;
        for (f, field) in plan.fields.iter().enumerate() {
            let span = spans[f];
            let raw = &line[span.start..span.end];
            let keys = &field.keys;
            let bad = |what| LineError::Field {
                field: f,
                at: span.start,
                what,
            };
            match &field.conv {
                Conv::Text if raw == b"-" => self.null(&keys[0]),
                Conv::Text | Conv::Verbatim => self.text(col, &keys[0], line, span),
                Conv::User if raw == b"\"\"" => {
                    self.ranges[col] = Some((span.start, span.start));
                    self.out.extend_from_slice(&keys[0]);
                    self.out.extend_from_slice(b"\"\"");
                }
                Conv::User if raw == b"-" => self.null(&keys[0]),
                Conv::User => self.text(col, &keys[0], line, span),
                Conv::Query if raw.is_empty() || raw == b"-" => self.null(&keys[0]),
                Conv::Query => self.text(col, &keys[0], line, span),
                Conv::Int(_) | Conv::HexInt if raw == b"-" => self.null(&keys[0]),
                Conv::Int(1) if is_plain_number(raw) => {
                    self.ranges[col] = Some((span.start, span.end));
                    self.out.extend_from_slice(&keys[0]);
                    self.out.extend_from_slice(raw);
                }
                Conv::Int(factor) => {
                    let v = parse_int(raw, 10)
                        .ok_or_else(|| bad("expected a number"))?
                        .checked_mul(*factor)
                        .ok_or_else(|| bad("number too large"))?;
                    self.int(col, &keys[0], v);
                }
                Conv::HexInt => {
                    let digits = raw.strip_prefix(b"0x").unwrap_or(raw);
                    let v = parse_int(digits, 16).ok_or_else(|| bad("expected a hex number"))?;
                    self.int(col, &keys[0], v);
                }
                Conv::Request => self.request(col, keys, line, span),
                Conv::Time(_) => {
                    if let (Some(r), [ts, tz]) = (&resolved, keys.as_slice()) {
                        self.ascii(col, ts, r.timestamp());
                        match r.tz_offset() {
                            Some(t) => self.ascii(col + 1, tz, t),
                            None => self.null(tz),
                        }
                    }
                }
            }
            col += keys.len();
        }
        Ok(())
    }

    /// `truncated`, `invalid_utf8`, `raw` and the closing brace.
    fn tail(&mut self, line: &[u8], truncated: bool) {
        let col = self.ranges.len() - 4;
        self.out.extend_from_slice(if truncated {
            b",\"truncated\":true"
        } else {
            b",\"truncated\":false"
        });
        self.out.extend_from_slice(if self.invalid_utf8 {
            b",\"invalid_utf8\":true"
        } else {
            b",\"invalid_utf8\":false"
        });
        if self.invalid_utf8 {
            let start = self.values.len();
            self.values
                .extend_from_slice(String::from_utf8_lossy(line).as_bytes());
            self.ranges[col + 2] = Some((start, self.values.len()));
            self.out.extend_from_slice(b",\"raw\":");
            json::write_str(self.out, &self.values[start..]);
        } else {
            self.out.extend_from_slice(b",\"raw\":null");
        }
        self.out.push(b'}');
    }

    fn null(&mut self, key: &[u8]) {
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(b"null");
    }

    /// The text of the field at `span`, unescaped and made UTF-8, as a JSON string.
    fn text(&mut self, col: usize, key: &[u8], line: &[u8], span: Span) {
        self.text_range(col, key, line, span);
    }

    /// [`Sink::text`], returning where the value is in the values: the line's own bytes
    /// when they are the value (the usual case, found while writing them), else a changed
    /// copy after them.
    fn text_range(&mut self, col: usize, key: &[u8], line: &[u8], span: Span) -> (usize, usize) {
        let raw = &line[span.start..span.end];
        self.out.extend_from_slice(key);
        let mark = self.out.len();
        if (self.line_utf8 || std::str::from_utf8(raw).is_ok()) && json::write_plain(self.out, raw)
        {
            self.ranges[col] = Some((span.start, span.end));
            return (span.start, span.end);
        }
        self.out.truncate(mark);
        let start = self.values.len();
        if unescape_into(raw, self.values) || !self.line_utf8 {
            self.make_utf8(start);
        }
        let range = (start, self.values.len());
        self.ranges[col] = Some(range);
        json::write_str(self.out, &self.values[start..]);
        range
    }

    /// Replaces what is not UTF-8 in `values[start..]` by U+FFFD, noting that it happened.
    fn make_utf8(&mut self, start: usize) {
        if std::str::from_utf8(&self.values[start..]).is_err() {
            let fixed = String::from_utf8_lossy(&self.values[start..]).into_owned();
            self.values.truncate(start);
            self.values.extend_from_slice(fixed.as_bytes());
            self.invalid_utf8 = true;
        }
    }

    /// `%r`: the request line and, when it is one, its parts.
    fn request(&mut self, col: usize, keys: &[Box<[u8]>], line: &[u8], span: Span) {
        let parts = if &line[span.start..span.end] == b"-" {
            self.null(&keys[0]);
            [None; 3]
        } else {
            let (start, end) = self.text_range(col, &keys[0], line, span);
            match split_request(&self.values[start..end]) {
                Some(p) => [Some(p.method), Some(p.target), p.protocol]
                    .map(|r| r.map(|(s, e)| (start + s, start + e))),
                None => [None; 3],
            }
        };
        for (i, part) in parts.into_iter().enumerate() {
            let key = &keys[1 + i];
            match part {
                Some((s, e)) => {
                    self.ranges[col + 1 + i] = Some((s, e));
                    self.out.extend_from_slice(key);
                    json::write_str(self.out, &self.values[s..e]);
                }
                None => self.null(key),
            }
        }
    }

    fn int(&mut self, col: usize, key: &[u8], v: i64) {
        let start = self.values.len();
        write_int(self.values, v);
        self.ranges[col] = Some((start, self.values.len()));
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(&self.values[start..]);
    }

    /// A string value that needs no escaping (timestamps, offsets).
    fn ascii(&mut self, col: usize, key: &[u8], text: &[u8]) {
        let start = self.values.len();
        self.values.extend_from_slice(text);
        self.ranges[col] = Some((start, self.values.len()));
        self.out.extend_from_slice(key);
        self.out.push(b'"');
        self.out.extend_from_slice(text);
        self.out.push(b'"');
    }
}

/// Digits that are already a JSON integer as they are: no sign, no leading zero, fit an i64.
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

/// Appends `v` in decimal.
fn write_int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_uint(out, v.unsigned_abs());
}

/// Appends `v` in decimal.
fn write_uint(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// JSON string escaping, byte for byte what serde_json writes.
mod json {
    /// For each byte: 0 = copy, `u` = `\u00XX`, else the letter after `\`.
    static ESCAPE: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 0x20 {
            t[i] = b'u';
            i += 1;
        }
        t[0x08] = b'b';
        t[0x09] = b't';
        t[0x0a] = b'n';
        t[0x0c] = b'f';
        t[0x0d] = b'r';
        t[b'"' as usize] = b'"';
        t[b'\\' as usize] = b'\\';
        t
    };

    /// Appends `s` (which must be UTF-8) as a quoted JSON string.
    pub(super) fn write_str(out: &mut Vec<u8>, s: &[u8]) {
        write::<false>(out, s);
    }

    /// [`write_str`], unless `s` holds a `\`: then false, with part of it written.
    pub(super) fn write_plain(out: &mut Vec<u8>, s: &[u8]) -> bool {
        write::<true>(out, s)
    }

    /// Eight bytes at a time are checked for anything to escape (a byte < 0x20, `"` or `\`)
    /// by word arithmetic.
    #[inline]
    fn write<const STOP_AT_BACKSLASH: bool>(out: &mut Vec<u8>, s: &[u8]) -> bool {
        out.reserve(s.len() + 2);
        out.push(b'"');
        let mut start = 0;
        let mut i = 0;
        while i < s.len() {
            if let Some(word) = s.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
                let mask = specials(u64::from_le_bytes(word));
                if mask == 0 {
                    i += 8;
                    continue;
                }
                // The lowest flagged byte is exact (false flags only follow a true one).
                i += mask.trailing_zeros() as usize / 8;
            }
            if ESCAPE[s[i] as usize] == 0 {
                i += 1;
                continue;
            }
            if STOP_AT_BACKSLASH && s[i] == b'\\' {
                return false;
            }
            out.extend_from_slice(&s[start..i]);
            escape(out, s[i]);
            i += 1;
            start = i;
        }
        out.extend_from_slice(&s[start..]);
        out.push(b'"');
        true
    }

    /// The high bit of each byte of `w` that is < 0x20, `"` or `\` (and maybe of bytes above
    /// the lowest such byte).
    fn specials(w: u64) -> u64 {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
    }

    /// Appends the escape sequence of `b`, which needs one.
    fn escape(out: &mut Vec<u8>, b: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match ESCAPE[b as usize] {
            b'u' => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
            e => {
                out.push(b'\\');
                out.push(e);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn same_as_serde_json(s in any::<String>()) {
                let mut out = Vec::new();
                super::write_str(&mut out, s.as_bytes());
                prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
            }

            #[test]
            fn same_as_serde_json_for_control_chars(s in "[\\x00-\\x7f\"\\\\]{0,40}") {
                let mut out = Vec::new();
                super::write_str(&mut out, s.as_bytes());
                prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
            }
        }
    }
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
        let mut out = Vec::new();
        write_int(&mut out, i64::MIN);
        assert_eq!(out, i64::MIN.to_string().as_bytes());
    }
}

#[cfg(test)]
mod bench {
    use super::*;

    /// ns per `combined` line, in release:
    /// `cargo test --release --lib -- --ignored bench_encode --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn bench_encode() {
        let mut lines = Vec::new();
        for i in 0..1000u32 {
            lines.push(format!(
                "203.0.113.{} - - [{:02}/Nov/2026:10:{:02}:{:02} -0700] \"GET /shop/products/{}/details?ref=homepage&utm_source=newsletter HTTP/1.1\" 200 {} \"https://www.example.com/shop/category/{}\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\"",
                i % 250,
                1 + i / 500,
                i / 600 % 60,
                i / 10 % 60,
                i * 7,
                1000 + i * 13,
                i % 17
            ));
        }
        let mut encoder = Encoder::new(LogFormat::new("combined").unwrap(), "web-1.example.com");
        let mut out = Vec::with_capacity(1 << 20);
        let (rounds, per_round) = (10, 100_000);
        let mut best = f64::MAX;
        let (mut bytes_in, mut bytes_out) = (0, 0);
        for round in 0..rounds {
            let start = std::time::Instant::now();
            for i in round * per_round..(round + 1) * per_round {
                let line = lines[i % lines.len()].as_bytes();
                let meta = LineMeta {
                    id: RecordId {
                        stream: 0x1234,
                        seq: i as u64,
                    },
                    received_at_us: 1_790_000_000_000_000 + i as i64 * 3,
                    truncated: false,
                };
                out.clear();
                assert!(encoder.encode(line, &meta, &mut out));
                bytes_in += line.len();
                bytes_out += out.len();
            }
            best = best.min(start.elapsed().as_nanos() as f64 / per_round as f64);
        }
        let n = rounds * per_round;
        println!(
            "bench_encode: {best:.0} ns/line (best of {rounds} rounds; {:.2} M lines/s), {} bytes in, {} bytes out per line",
            1000.0 / best,
            bytes_in / n,
            bytes_out / n
        );
    }
}
