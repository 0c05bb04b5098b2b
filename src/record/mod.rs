//! One line in, one flat JSON object out.
//!
//! The [`Encoder`] matches a line against its format's plan (`logformat::split`), then writes
//! every column into the record. [`Encoder::value`] hands a column's plain value to the
//! publisher: most values are in the record as they were written (text that needed no JSON
//! escapes, numbers, times); the others (unescaped text, text JSON had to escape) are copied
//! to a reused buffer. Both are [`Buf`]s, whose bytes past the end are kept initialized so
//! that the many short copies (keys, small values) are fixed-size moves rather than `memcpy`
//! calls; the finished record is appended to the caller's buffer in one copy. What repeats
//! from line to line is prepared once: the keys in the forms they are written in (`,"name":"`,
//! `,"name":null`), the text between the id and the format's columns (per `received_at`),
//! the timestamp's JSON (until it changes; lines with the same `%t` text as the last one do
//! not even resolve it). Nothing is allocated per line once the buffers have grown, except for
//! lines that are not UTF-8. Which keys a record carries is documented in [`crate::logformat`]
//! ("Record keys").

use crate::logformat::{
    Conv, LineError, LogFormat, Plan, Resolved, Span, TextsKey, TimeCache, put_digits,
    rfc3339_base, split, split_request, unescape_into,
};

use crate::scan::{Extremes, find2};
use buf::{Buf, Padded};

mod buf;
mod json;

/// Identity of a record: the stream it was read in (random per stream) and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId {
    pub stream: u64,
    pub seq: u64,
}

impl RecordId {
    /// The id text before the seq: the stream in 16 lowercase hex digits, then `-`.
    pub fn prefix(stream: u64) -> [u8; 17] {
        let mut text = [b'-'; 17];
        for (i, d) in text[..16].iter_mut().enumerate() {
            *d = b"0123456789abcdef"[(stream >> (60 - 4 * i) & 0xf) as usize];
        }
        text
    }
}

/// The id as published: `<stream:016x>-<seq>`, e.g. `3b1f6a2c9d0e4f71-0`.
impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let prefix = Self::prefix(self.stream);
        f.write_str(std::str::from_utf8(&prefix).map_err(|_| std::fmt::Error)?)?;
        write!(f, "{}", self.seq)
    }
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

/// The end of a record whose line was UTF-8, by `truncated`.
const TAIL: [&[u8]; 2] = [
    b",\"truncated\":false,\"invalid_utf8\":false,\"raw\":null}",
    b",\"truncated\":true,\"invalid_utf8\":false,\"raw\":null}",
];

/// The end of a record whose line was not UTF-8, up to the `raw` text, by `truncated`.
const TAIL_INVALID: [&[u8]; 2] = [
    b",\"truncated\":false,\"invalid_utf8\":true,\"raw\":",
    b",\"truncated\":true,\"invalid_utf8\":true,\"raw\":",
];

/// One column's key in the forms it is written in.
#[derive(Debug)]
struct Key {
    /// `,"name":"`: the key and the opening quote of a string value.
    open: Padded,
    /// `,"name":`, for numbers.
    plain: Padded,
    /// `,"name":null`.
    null: Padded,
}

impl Key {
    fn new(key: &[u8]) -> Key {
        Key {
            open: Padded::new(&[key, b"\""].concat()),
            plain: Padded::new(key),
            null: Padded::new(&[key, b"null"].concat()),
        }
    }
}

/// Where a column's plain value is, for [`Encoder::value`].
#[derive(Debug, Clone, Copy)]
enum Place {
    /// In the record, as it was written there (it needed no JSON escapes).
    Record(usize, usize),
    /// In the encoder's `values` (unescaped text, text that JSON had to escape, ...).
    Values(usize, usize),
}

impl Place {
    /// The part `start..end` of the value here.
    fn part(self, start: usize, end: usize) -> Place {
        match self {
            Place::Record(s, _) => Place::Record(s + start, s + end),
            Place::Values(s, _) => Place::Values(s + start, s + end),
        }
    }
}

/// The JSON of the last timestamp written: lines of the same second write the same text.
/// Lines whose `%t` texts are those it was last resolved from take it without resolving.
#[derive(Debug, Default)]
struct TimeJson {
    last: Option<Resolved>,
    json: Vec<u8>,
    /// The texts of the `%t` fields that resolved to `last`.
    source: TextsKey,
}

impl TimeJson {
    /// The `%t` texts of the line whose fields are at `spans`.
    fn texts<'a>(
        plan: &'a Plan,
        line: &'a [u8],
        spans: &'a [Span],
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        plan.time_fields
            .iter()
            .map(move |&f| &line[spans[f].start..spans[f].end])
    }

    /// `last`, if the line's `%t` texts are the ones it was resolved from.
    fn known(&self, plan: &Plan, line: &[u8], spans: &[Span]) -> Option<Resolved> {
        let last = self.last?;
        self.source
            .is(Self::texts(plan, line, spans))
            .then_some(last)
    }

    /// Notes that the line's `%t` texts resolved to `r`; true when that is `last`, whose
    /// JSON can then be written again. Otherwise `last` is forgotten until
    /// [`Sink::time`] writes the JSON of `r`.
    fn resolved_from(&mut self, plan: &Plan, line: &[u8], spans: &[Span], r: &Resolved) -> bool {
        self.source.set(Self::texts(plan, line, spans));
        let current = self.last.as_ref() == Some(r);
        if !current {
            self.last = None;
        }
        current
    }
}

/// A number in decimal that is cheap to count up by one, as line numbers do.
#[derive(Debug, Default)]
struct Counter {
    value: Option<u64>,
    /// The digits are `digits[start..]`.
    digits: [u8; 21],
    start: usize,
}

impl Counter {
    /// The digits of `v`.
    fn set(&mut self, v: u64) -> &[u8] {
        if self.value.and_then(|last| last.checked_add(1)) == Some(v) {
            let mut i = self.digits.len();
            loop {
                i -= 1;
                if self.digits[i] != b'9' {
                    self.digits[i] += 1;
                    break;
                }
                self.digits[i] = b'0';
                if i == self.start {
                    // 99 -> 100; there is room, as a u64 has at most 20 digits.
                    self.start -= 1;
                    self.digits[self.start] = b'1';
                    break;
                }
            }
        } else {
            let len = decimal(&mut self.digits, v, false).len();
            self.start = self.digits.len() - len;
        }
        self.value = Some(v);
        &self.digits[self.start..]
    }
}

/// `","host":"...","received_at":"...Z"` for one `received_at`, and where the time's text is
/// in it (`None`: null, outside years 1 to 9999).
#[derive(Debug)]
struct AfterId {
    received_at_us: i64,
    json: Vec<u8>,
    time: Option<(usize, usize)>,
}

impl AfterId {
    /// `after_id` is `","host":"...","received_at":"`.
    fn new(after_id: &[u8], received_at_us: i64) -> AfterId {
        let secs = received_at_us.div_euclid(1_000_000);
        let mut json = after_id.to_vec();
        let time = match rfc3339_base(secs) {
            Some(base) => {
                let mut text = *b"0000-00-00T00:00:00.000000Z";
                text[..19].copy_from_slice(&base);
                put_digits(
                    &mut text[20..26],
                    received_at_us.rem_euclid(1_000_000) as u32,
                );
                let start = json.len();
                json.extend_from_slice(&text);
                json.push(b'"');
                Some((start, start + text.len()))
            }
            None => {
                json.pop();
                json.extend_from_slice(b"null");
                None
            }
        };
        AfterId {
            received_at_us,
            json,
            time,
        }
    }
}

/// Turns lines into JSON records for one format and host.
#[derive(Debug)]
pub struct Encoder {
    format: LogFormat,
    host: String,
    /// `","host":"...","received_at":"`, escaped once: what follows the id's digits.
    after_id: Box<[u8]>,
    /// Names of all columns, for [`Encoder::column_index`].
    names: Vec<String>,
    /// The keys of each field of the plan.
    keys: Vec<Vec<Key>>,
    spans: Vec<Span>,
    time: TimeCache,
    time_json: TimeJson,
    /// The last stream id and `{"id":"`, its 16 hex digits and `-`.
    stream: Option<(u64, [u8; 24])>,
    /// The last line number, in decimal.
    seq: Counter,
    /// What follows the id for the last `received_at` (the lines of one read share it).
    after_id_json: Option<AfterId>,
    /// The record being written, which holds most values as they are.
    record: Buf,
    /// Values that the record does not hold as they are.
    values: Buf,
    /// Where the value of each column of the last record is (`None`: null or absent). Every
    /// record sets all of them.
    places: Vec<Option<Place>>,
    /// `truncated` and `invalid_utf8` of the last record (`None`: not in it).
    flags: [Option<bool>; 2],
    message: String,
    /// A field's text while it is unescaped.
    unescaped: Vec<u8>,
}

impl Encoder {
    pub fn new(format: LogFormat, host: &str) -> Encoder {
        let mut host_json = Buf::default();
        json::write_str(&mut host_json, host.as_bytes());
        let after_id = [
            b"\",\"host\":",
            host_json.as_slice(),
            b",\"received_at\":\"",
        ]
        .concat()
        .into_boxed_slice();
        let names: Vec<String> = format.columns().into_iter().map(|c| c.name).collect();
        let columns = names.len();
        let keys = format
            .plan
            .fields
            .iter()
            .map(|f| f.keys.iter().map(|k| Key::new(k)).collect())
            .collect();
        Encoder {
            format,
            host: host.to_owned(),
            after_id,
            names,
            keys,
            spans: Vec::new(),
            time: TimeCache::default(),
            time_json: TimeJson::default(),
            stream: None,
            seq: Counter::default(),
            after_id_json: None,
            record: Buf::default(),
            values: Buf::default(),
            places: vec![None; columns],
            flags: [None; 2],
            message: String::new(),
            unescaped: Vec::new(),
        }
    }

    /// Appends one JSON object (no newline) for `line` to `out`. Returns false for a parse error.
    pub fn encode(&mut self, line: &[u8], meta: &LineMeta, out: &mut Vec<u8>) -> bool {
        self.record.clear();
        self.values.clear();
        // Every column's place is set below, so `places` is not cleared.
        self.write_head(meta);
        let head_end = self.record.len();

        // Most lines are ASCII, which is much quicker to check than UTF-8.
        let extremes = Extremes::of(line);
        let line_utf8 = extremes.ascii() || std::str::from_utf8(line).is_ok();
        let plan = &self.format.plan;
        let result = split(plan, line, &mut self.spans).and_then(|()| {
            let mut sink = Sink {
                out: &mut self.record,
                values: &mut self.values,
                places: &mut self.places,
                time_json: &mut self.time_json,
                unescaped: &mut self.unescaped,
                line_utf8,
                line_control: extremes.control(),
                invalid_utf8: !line_utf8,
            };
            sink.fields(plan, &self.keys, &mut self.time, line, &self.spans)?;
            sink.tail(line, meta.truncated);
            Ok(sink.invalid_utf8)
        });
        let parsed = match result {
            Ok(invalid_utf8) => {
                self.flags = [Some(meta.truncated), Some(invalid_utf8)];
                true
            }
            Err(e) => {
                self.record.truncate(head_end);
                self.values.clear();
                self.places[HEAD..].fill(None);
                self.message.clear();
                e.render(plan, &mut self.message);
                self.write_error(line);
                self.flags = [meta.truncated.then_some(true), None];
                if meta.truncated {
                    self.record.truncate(self.record.len() - 1);
                    self.record.put(b",\"truncated\":true}");
                }
                false
            }
        };
        out.extend_from_slice(self.record.as_slice());
        parsed
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
                let bytes = match (*self.places.get(index)?)? {
                    Place::Record(start, end) => &self.record.as_slice()[start..end],
                    Place::Values(start, end) => &self.values.as_slice()[start..end],
                };
                std::str::from_utf8(bytes).ok()
            }
        }
    }

    /// The format this encoder was made for.
    pub fn format(&self) -> &LogFormat {
        &self.format
    }

    /// `{"id":...,"host":...,"received_at":...`
    fn write_head(&mut self, meta: &LineMeta) {
        let prefix = match self.stream {
            Some((stream, prefix)) if stream == meta.id.stream => prefix,
            _ => {
                let mut prefix = *b"{\"id\":\"0000000000000000-";
                prefix[7..].copy_from_slice(&RecordId::prefix(meta.id.stream));
                self.stream = Some((meta.id.stream, prefix));
                prefix
            }
        };
        self.record.put(&prefix);
        self.record.put(self.seq.set(meta.id.seq));
        self.places[0] = Some(Place::Record(7, self.record.len()));

        let after = match &self.after_id_json {
            Some(a) if a.received_at_us == meta.received_at_us => a,
            _ => self
                .after_id_json
                .insert(AfterId::new(&self.after_id, meta.received_at_us)),
        };
        let start = self.record.len();
        self.record.put(&after.json);
        self.places[2] = after.time.map(|(s, e)| Place::Record(start + s, start + e));
    }

    /// The rest of a parse-error record: `raw` and `parse_error`.
    fn write_error(&mut self, line: &[u8]) {
        let columns = self.names.len();
        let start = self.values.len();
        self.values.put(String::from_utf8_lossy(line).as_bytes());
        self.places[columns - 2] = Some(Place::Values(start, self.values.len()));
        self.record.put(b",\"raw\":");
        json::write_str(&mut self.record, &self.values.as_slice()[start..]);

        let start = self.values.len();
        self.values.put(self.message.as_bytes());
        self.places[columns - 1] = Some(Place::Values(start, self.values.len()));
        self.record.put(b",\"parse_error\":");
        json::write_str(&mut self.record, &self.values.as_slice()[start..]);
        self.record.push(b'}');
    }
}

/// Where one record's values go while it is written.
struct Sink<'a> {
    out: &'a mut Buf,
    values: &'a mut Buf,
    places: &'a mut [Option<Place>],
    time_json: &'a mut TimeJson,
    unescaped: &'a mut Vec<u8>,
    /// The whole line is UTF-8, so every field is unless `\xhh` escapes say otherwise.
    line_utf8: bool,
    /// The line holds a control character (< 0x20).
    line_control: bool,
    invalid_utf8: bool,
}

impl Sink<'_> {
    /// Writes the format's columns.
    fn fields(
        &mut self,
        plan: &Plan,
        keys: &[Vec<Key>],
        time: &mut TimeCache,
        line: &[u8],
        spans: &[Span],
    ) -> Result<(), LineError> {
        let resolved = if plan.time_fields.is_empty() {
            None
        } else {
            Some(self.resolve_time(plan, time, line, spans)?)
        };
        let mut col = HEAD;
        for (f, ((field, keys), &span)) in plan.fields.iter().zip(keys).zip(spans).enumerate() {
            let raw = &line[span.start..span.end];
            let bad = |what| LineError::Field {
                field: f,
                at: span.start,
                what,
            };
            match &field.conv {
                Conv::Text if raw == b"-" => self.null(col, &keys[0]),
                Conv::Text | Conv::Verbatim => self.text(col, &keys[0], raw, span.clean),
                Conv::User if raw == b"\"\"" => {
                    self.out.put_padded(&keys[0].open);
                    let at = self.out.len();
                    self.out.push(b'"');
                    self.places[col] = Some(Place::Record(at, at));
                }
                Conv::User if raw == b"-" => self.null(col, &keys[0]),
                Conv::User => self.text(col, &keys[0], raw, span.clean),
                Conv::Query if raw.is_empty() || raw == b"-" => self.null(col, &keys[0]),
                Conv::Query => self.text(col, &keys[0], raw, span.clean),
                Conv::Int(_) | Conv::HexInt if raw == b"-" => self.null(col, &keys[0]),
                Conv::Int(1) if is_plain_number(raw) => self.number(col, &keys[0], raw),
                Conv::Int(factor) => {
                    let v = parse_int(raw, 10)
                        .ok_or_else(|| bad("expected a number"))?
                        .checked_mul(*factor)
                        .ok_or_else(|| bad("number too large"))?;
                    let mut digits = [0u8; 21];
                    self.number(col, &keys[0], decimal(&mut digits, v.unsigned_abs(), v < 0));
                }
                Conv::HexInt => {
                    let digits = raw.strip_prefix(b"0x").unwrap_or(raw);
                    let v = parse_int(digits, 16).ok_or_else(|| bad("expected a hex number"))?;
                    let mut digits = [0u8; 21];
                    self.number(col, &keys[0], decimal(&mut digits, v.unsigned_abs(), v < 0));
                }
                Conv::Request => self.request(col, keys, raw, span.clean),
                Conv::Time(_) => {
                    if let (Some((r, current)), [ts, tz]) = (&resolved, keys.as_slice()) {
                        self.time(col, ts, tz, r, *current);
                    }
                }
            }
            col += keys.len();
        }
        Ok(())
    }

    /// The line's timestamp, and whether its JSON is the one the last line wrote.
    fn resolve_time(
        &mut self,
        plan: &Plan,
        time: &mut TimeCache,
        line: &[u8],
        spans: &[Span],
    ) -> Result<(Resolved, bool), LineError> {
        if let Some(r) = self.time_json.known(plan, line, spans) {
            return Ok((r, true));
        }
        let r = time
            .resolve(plan, line, spans)
            .map_err(|f| LineError::Field {
                field: f,
                at: spans[f].start,
                what: "bad time",
            })?;
        let current = self.time_json.resolved_from(plan, line, spans, &r);
        Ok((r, current))
    }

    /// `truncated`, `invalid_utf8`, `raw` and the closing brace.
    fn tail(&mut self, line: &[u8], truncated: bool) {
        let col = self.places.len() - 4;
        self.places[col + 3] = None;
        if !self.invalid_utf8 {
            self.places[col + 2] = None;
            self.out.put(TAIL[usize::from(truncated)]);
            return;
        }
        self.out.put(TAIL_INVALID[usize::from(truncated)]);
        let start = self.values.len();
        self.values.put(String::from_utf8_lossy(line).as_bytes());
        self.places[col + 2] = Some(Place::Values(start, self.values.len()));
        json::write_str(self.out, &self.values.as_slice()[start..]);
        self.out.push(b'}');
    }

    #[inline]
    fn null(&mut self, col: usize, key: &Key) {
        self.places[col] = None;
        self.out.put_padded(&key.null);
    }

    /// The text `raw` of a field, unescaped and made UTF-8, as a JSON string. `clean`: it
    /// is known to hold no `"` or `\`.
    fn text(&mut self, col: usize, key: &Key, raw: &[u8], clean: bool) {
        self.text_place(col, key, raw, clean);
    }

    /// [`Sink::text`], returning where the value is: in the record when the field's bytes
    /// are the value and needed no JSON escapes (the usual case), else in the values.
    #[inline(always)]
    fn text_place(&mut self, col: usize, key: &Key, raw: &[u8], clean: bool) -> Place {
        self.out.put_padded(&key.open);
        let start = self.out.len();
        // Without control characters only `"` and `\` can need escaping, and a search for
        // those two is quicker than the general escaping loop.
        if self.line_utf8 && !self.line_control && (clean || find2(b'"', b'\\', raw).is_none()) {
            self.out.put_quoted(raw);
            let place = Place::Record(start, start + raw.len());
            self.places[col] = Some(place);
            return place;
        }
        let place = self.escaped_text(raw, start);
        self.places[col] = Some(place);
        place
    }

    /// [`Sink::text_place`] for text that may need escapes, unescaping or UTF-8 repair,
    /// written from `start` in the record (just after the key).
    #[inline(never)]
    fn escaped_text(&mut self, raw: &[u8], start: usize) -> Place {
        if self.line_utf8 || std::str::from_utf8(raw).is_ok() {
            match json::write_plain(self.out, raw) {
                Some(true) => return Place::Record(start, start + raw.len()),
                Some(false) => {
                    let at = self.values.len();
                    self.values.put(raw);
                    return Place::Values(at, self.values.len());
                }
                None => self.out.truncate(start),
            }
        }
        self.unescaped.clear();
        if unescape_into(raw, self.unescaped) || !self.line_utf8 {
            self.make_utf8();
        }
        let at = self.values.len();
        self.values.put(self.unescaped);
        json::write_rest(self.out, self.unescaped);
        Place::Values(at, self.values.len())
    }

    /// Replaces what is not UTF-8 in the unescaped text by U+FFFD, noting that it happened.
    fn make_utf8(&mut self) {
        if std::str::from_utf8(self.unescaped).is_err() {
            *self.unescaped = String::from_utf8_lossy(self.unescaped)
                .into_owned()
                .into_bytes();
            self.invalid_utf8 = true;
        }
    }

    fn bytes(&self, place: Place) -> &[u8] {
        match place {
            Place::Record(start, end) => &self.out.as_slice()[start..end],
            Place::Values(start, end) => &self.values.as_slice()[start..end],
        }
    }

    /// `%r`: the request line and, when it is one, its parts.
    fn request(&mut self, col: usize, keys: &[Key], raw: &[u8], clean: bool) {
        let parts = if raw == b"-" {
            self.null(col, &keys[0]);
            [None; 3]
        } else {
            let place = self.text_place(col, &keys[0], raw, clean);
            match split_request(self.bytes(place)) {
                Some(p) => [Some(p.method), Some(p.target), p.protocol]
                    .map(|r| r.map(|(s, e)| place.part(s, e))),
                None => [None; 3],
            }
        };
        for (i, part) in parts.into_iter().enumerate() {
            let key = &keys[1 + i];
            self.places[col + 1 + i] = part;
            match part {
                // A part of a request that needed no escapes needs none either.
                Some(Place::Record(start, end)) => {
                    self.out.put_padded(&key.open);
                    self.out.repeat_quoted(start, end);
                }
                Some(Place::Values(start, end)) => {
                    self.out.put_padded(&key.open);
                    json::write_rest(self.out, &self.values.as_slice()[start..end]);
                }
                None => self.out.put_padded(&key.null),
            }
        }
    }

    /// An integer, as the JSON number `digits`; past ±2^53, where JSON readers (BigQuery's
    /// among them) lose digits of a number, as a JSON string of the digits, which BigQuery
    /// reads into an INTEGER column.
    #[inline]
    fn number(&mut self, col: usize, key: &Key, digits: &[u8]) {
        let start;
        if digits.len() >= 16 && !exact_in_json(digits) {
            self.out.put_padded(&key.open);
            start = self.out.len();
            self.out.put_quoted(digits);
        } else {
            self.out.put_padded(&key.plain);
            start = self.out.len();
            self.out.put(digits);
        }
        self.places[col] = Some(Place::Record(start, start + digits.len()));
    }

    /// `timestamp` and `tz_offset`, as the last line wrote them if they are the same
    /// (`current`).
    fn time(&mut self, col: usize, ts: &Key, tz: &Key, r: &Resolved, current: bool) {
        let start = self.out.len();
        if current {
            self.out.put(&self.time_json.json);
        } else {
            self.out.put_padded(&ts.open);
            self.out.put_quoted(r.timestamp());
            match r.tz_offset() {
                Some(t) => {
                    self.out.put_padded(&tz.open);
                    self.out.put_quoted(t);
                }
                None => self.out.put_padded(&tz.null),
            }
            self.time_json.json.clear();
            self.time_json
                .json
                .extend_from_slice(&self.out.as_slice()[start..]);
            self.time_json.last = Some(*r);
        }
        let ts_start = start + ts.open.len();
        let ts_end = ts_start + r.timestamp().len();
        self.places[col] = Some(Place::Record(ts_start, ts_end));
        self.places[col + 1] = r.tz_offset().map(|t| {
            let tz_start = ts_end + 1 + tz.open.len();
            Place::Record(tz_start, tz_start + t.len())
        });
    }
}

/// Digits that are already a JSON integer as they are: no sign, no leading zero, fit an i64.
#[inline]
fn is_plain_number(text: &[u8]) -> bool {
    matches!(text, [b'0'] | [b'1'..=b'9', ..])
        && text.len() <= 18
        && text.iter().all(u8::is_ascii_digit)
}

/// Whether the decimal integer `digits` (an optional `-`, then digits) is within ±2^53, the
/// integers a JSON number carries exactly.
fn exact_in_json(digits: &[u8]) -> bool {
    const MAX_EXACT: i64 = 1 << 53;
    parse_int(digits, 10).is_some_and(|v| (-MAX_EXACT..=MAX_EXACT).contains(&v))
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

/// `v` (negative when `negative`) in decimal, written at the end of `buf`.
fn decimal(buf: &mut [u8; 21], mut v: u64, negative: bool) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_counts_up_and_jumps() {
        let mut c = Counter::default();
        for v in [
            0,
            1,
            2,
            9,
            10,
            11,
            99,
            100,
            101,
            5,
            6,
            999,
            1000,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(c.set(v), v.to_string().as_bytes());
        }
        for v in 0..2000 {
            assert_eq!(c.set(v), v.to_string().as_bytes());
        }
    }

    /// Every column's value for the publisher is what the record says, line after line (so
    /// nothing is left over from the line before).
    #[test]
    fn values_match_the_record() {
        let cases: [(&str, &[u8], &[u8]); 4] = [
            (
                "combined",
                include_bytes!("../../tests/golden/combined.log"),
                b"1.2.3.4 - \"\" [01/Nov/2026:09:15:02 +0100] \"-\" 408 - \"-\" \"-\"\n\
                  ::1 - bob [01/Nov/2026:09:15:02 +0100] \"GET /a\tb HTTP/1.1\" 200 - \"\xc3\xa9\" \"a\\x07\"\n\
                  ::1 - - [01/Nov/2026:09:15:03 +0100] \"\\x16\\x03\" 400 0 \"\\\"q\\\"\" \"\xff\"\n",
            ),
            (
                include_str!("../../tests/golden/detailed.format"),
                include_bytes!("../../tests/golden/detailed.log"),
                b"",
            ),
            (
                include_str!("../../tests/golden/ssl_request.format"),
                include_bytes!("../../tests/golden/ssl_request.log"),
                b"",
            ),
            (
                "vhost_combined",
                include_bytes!("../../tests/golden/vhost_combined.log"),
                b"1.2.3.4:80 \t \"a\tb\" - [01/Nov/2026:09:15:02 +0100] \"GET /\\\"x\\\" HTTP/1.1\" 200 1 \"\xff\" \"\\xe4\"\n",
            ),
        ];
        for (format, log, more) in cases {
            let mut encoder = Encoder::new(LogFormat::new(format.trim_end()).unwrap(), "web-1");
            let lines = log
                .split(|&b| b == b'\n')
                .chain(more.split(|&b| b == b'\n'));
            for (seq, line) in lines.filter(|l| !l.is_empty()).enumerate() {
                let meta = LineMeta {
                    id: RecordId {
                        stream: 7,
                        seq: seq as u64,
                    },
                    received_at_us: 1_790_000_000_000_000 + (seq as i64 / 3),
                    truncated: seq % 5 == 4,
                };
                let mut out = b"before".to_vec();
                encoder.encode(line, &meta, &mut out);
                let record: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&out[6..]).unwrap();
                for (i, name) in encoder.names.iter().enumerate() {
                    let want = match record.get(name) {
                        None | Some(serde_json::Value::Null) => None,
                        Some(serde_json::Value::String(s)) => Some(s.clone()),
                        Some(v) => Some(v.to_string()),
                    };
                    let line = String::from_utf8_lossy(line);
                    assert_eq!(
                        encoder.value(i).map(str::to_owned),
                        want,
                        "{name} of {line}"
                    );
                }
            }
        }
    }

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
        let mut buf = [0u8; 21];
        assert_eq!(
            decimal(&mut buf, i64::MIN.unsigned_abs(), true),
            i64::MIN.to_string().as_bytes()
        );
        assert_eq!(
            decimal(&mut buf, u64::MAX, false),
            u64::MAX.to_string().as_bytes()
        );
        assert_eq!(decimal(&mut buf, 0, false), b"0");
        assert!(exact_in_json(b"9007199254740992"));
        assert!(exact_in_json(b"-9007199254740992"));
        assert!(!exact_in_json(b"9007199254740993"));
        assert!(!exact_in_json(b"9223372036854775807"));
    }

    #[test]
    fn integers_past_2_to_the_53_are_json_strings() {
        let format = LogFormat::new("%B %I %>s").unwrap();
        let mut encoder = Encoder::new(format, "h");
        let meta = LineMeta {
            id: RecordId { stream: 1, seq: 0 },
            received_at_us: 0,
            truncated: false,
        };
        let mut out = Vec::new();
        encoder.encode(b"9007199254740993 9007199254740992 200", &meta, &mut out);
        let record: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(record["bytes_sent"], "9007199254740993");
        assert_eq!(record["bytes_in"], 9_007_199_254_740_992_u64);
        assert_eq!(record["status"], 200);
    }
}
