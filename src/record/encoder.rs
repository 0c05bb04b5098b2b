//! The [`Encoder`]: a line and what the reader knows of it in, its record out; and
//! [`Encoder::value`], a column's plain value for the publisher.

use std::sync::Arc;

use super::buf::{Buf, Padded};
use super::json;
use super::layout::{Fixed, HEAD, Key, Layout, RawColumn};
use super::privacy::{Privacy, REDACTED, Rule, Transform};
use super::{LineMeta, RecordId};
use crate::logformat::{Escaped, LineError, LogFormat, Parsed, Parser, Timestamp, Value};
use crate::logformat::{RequestParts, split_request};
use crate::rfc3339;
use crate::scan::{Extremes, find2};

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

/// A number in decimal that is cheap to count up by one, as line numbers do (cheaper than
/// formatting each line's number afresh, by about nine instructions a line).
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
            let mut buf = itoa::Buffer::new();
            let text = buf.format(v).as_bytes();
            self.start = self.digits.len() - text.len();
            self.digits[self.start..].copy_from_slice(text);
        }
        self.value = Some(v);
        &self.digits[self.start..]
    }
}

/// The parts of every record that do not come from its line, written once per encoder: the
/// fixed keys with what follows them.
#[derive(Debug)]
struct Frame {
    /// `{"id":"`, before the stream id.
    id: Box<[u8]>,
    /// `","host":"...","received_at":`: what follows the id's digits.
    after_id: Box<[u8]>,
    /// The end of a record whose line was UTF-8, by `truncated`:
    /// `,"truncated":false,"invalid_utf8":false,"raw":null}`.
    tail: [Padded<64>; 2],
    /// The end of a record whose line was not UTF-8, up to the `raw` text (or to the end when
    /// there is no `raw`), by `truncated`.
    tail_invalid: [Box<[u8]>; 2],
    /// `,"raw":` (or `,"raw_hash":`, or nothing).
    raw: Padded,
    /// What `raw` holds.
    raw_column: RawColumn,
    /// `,"parse_error":`
    parse_error: Padded,
    /// `,"truncated":true}`: the end of a parse-error record of a cut line.
    truncated_end: Padded,
}

impl Frame {
    fn new(host: &str, raw_column: RawColumn) -> Frame {
        let mut host_json = Buf::default();
        json::write_str(&mut host_json, host.as_bytes());
        let key = Fixed::key;
        let raw_key = raw_column.key();
        let end = |truncated: bool, invalid: bool| -> Vec<u8> {
            let mut end = [
                &key(Fixed::Truncated)[..],
                if truncated { b"true" } else { b"false" },
                &key(Fixed::InvalidUtf8),
                if invalid { b"true" } else { b"false" },
            ]
            .concat();
            match &raw_key {
                Some(raw) => {
                    end.extend_from_slice(raw);
                    if !invalid {
                        end.extend_from_slice(b"null}");
                    }
                }
                None => end.push(b'}'),
            }
            end
        };
        Frame {
            id: format!("{{\"{}\":\"", Fixed::Id.name())
                .into_bytes()
                .into_boxed_slice(),
            after_id: [
                &b"\""[..],
                &key(Fixed::Host),
                host_json.as_slice(),
                &key(Fixed::ReceivedAt),
            ]
            .concat()
            .into_boxed_slice(),
            tail: [end(false, false), end(true, false)].map(|t| Padded::new(&t)),
            tail_invalid: [end(false, true), end(true, true)].map(Vec::into_boxed_slice),
            raw: Padded::new(raw_key.as_deref().unwrap_or_default()),
            raw_column,
            parse_error: Padded::new(&key(Fixed::ParseError)),
            truncated_end: Padded::new(&[&key(Fixed::Truncated)[..], b"true}"].concat()),
        }
    }
}

/// What follows the id for one `received_at`: `","host":"...","received_at":"...Z"` (or
/// `null` outside years 1 to 9999), and where the time's text is in it.
#[derive(Debug)]
struct AfterId {
    received_at_us: i64,
    json: Vec<u8>,
    time: Option<(usize, usize)>,
}

impl AfterId {
    fn new(after_id: &[u8], received_at_us: i64) -> AfterId {
        let mut json = after_id.to_vec();
        let time = match rfc3339::micros(received_at_us) {
            Some(text) => {
                json.push(b'"');
                let start = json.len();
                json.extend_from_slice(&text);
                json.push(b'"');
                Some((start, start + text.len()))
            }
            None => {
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

/// Turns lines into JSON records for one format and host, with a privacy policy.
#[derive(Debug)]
pub struct Encoder {
    parser: Parser,
    layout: Layout,
    /// The privacy policy's transform of this format's fields, if it changes any.
    transform: Option<Transform>,
    host: String,
    frame: Frame,
    /// The last stream id and `{"id":"`, its 16 hex digits and `-`.
    stream: Option<(u64, Padded)>,
    /// The last line number, in decimal.
    seq: Counter,
    /// What follows the id for the last `received_at` (the lines of one read share it).
    after_id: Option<AfterId>,
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
    /// Records as the line gives them (no privacy policy).
    pub fn new(format: LogFormat, host: &str) -> Encoder {
        Encoder::with_privacy(format, host, &Arc::new(Privacy::default()))
    }

    /// Records shaped by `privacy`.
    pub fn with_privacy(format: LogFormat, host: &str, privacy: &Arc<Privacy>) -> Encoder {
        let layout = Layout::new(&format, privacy);
        let columns = layout.slots();
        let frame = Frame::new(host, layout.raw.clone());
        let dropped = |f: usize| !privacy.drop_fields.is_empty() && layout.fields[f].is_empty();
        Encoder {
            transform: Transform::new(privacy, &format, dropped),
            parser: Parser::new(format),
            layout,
            host: host.to_owned(),
            frame,
            stream: None,
            seq: Counter::default(),
            after_id: None,
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
        let result = self.parser.parse(line).and_then(|parsed| {
            let mut sink = Sink {
                out: &mut self.record,
                values: &mut self.values,
                places: &mut self.places,
                unescaped: &mut self.unescaped,
                line_utf8,
                line_control: extremes.control(),
                invalid_utf8: !line_utf8,
            };
            match &mut self.transform {
                None => sink.fields(&self.layout, &parsed)?,
                Some(transform) => sink.private_fields(&self.layout, &parsed, transform)?,
            }
            sink.tail(&self.layout, &self.frame, line, meta.truncated);
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
                self.write_error(line, &e);
                self.flags = [meta.truncated.then_some(true), None];
                if meta.truncated {
                    self.record.truncate(self.record.len() - 1);
                    self.record.put_padded(&self.frame.truncated_end);
                }
                false
            }
        };
        out.extend_from_slice(self.record.as_slice());
        parsed
    }

    /// The index of column `name` among the record's columns ([`super::columns`]), for
    /// [`Encoder::value`].
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.layout.index(name)
    }

    /// The last encoded line's value of a column as plain text (`"200"` for a status); `None`
    /// when it was null or absent.
    pub fn value(&self, index: usize) -> Option<&str> {
        let flag = |f: Option<bool>| f.map(|b| if b { "true" } else { "false" });
        let at = |key| self.layout.at(key);
        if index == at(Fixed::Host) {
            return Some(&self.host);
        }
        if index == at(Fixed::Truncated) {
            return flag(self.flags[0]);
        }
        if index == at(Fixed::InvalidUtf8) {
            return flag(self.flags[1]);
        }
        let bytes = match (*self.places.get(index)?)? {
            Place::Record(start, end) => &self.record.as_slice()[start..end],
            Place::Values(start, end) => &self.values.as_slice()[start..end],
        };
        std::str::from_utf8(bytes).ok()
    }

    /// `{"id":...,"host":...,"received_at":...`
    fn write_head(&mut self, meta: &LineMeta) {
        if matches!(&self.stream, Some((stream, _)) if *stream != meta.id.stream) {
            self.stream = None;
        }
        let frame = &self.frame;
        let (_, id) = self
            .stream
            .get_or_insert_with(|| (meta.id.stream, frame.id_prefix(meta.id)));
        self.record.put_padded(id);
        self.record.put(self.seq.set(meta.id.seq));
        self.places[self.layout.at(Fixed::Id)] =
            Some(Place::Record(self.frame.id.len(), self.record.len()));

        let after = match &self.after_id {
            Some(a) if a.received_at_us == meta.received_at_us => a,
            _ => self
                .after_id
                .insert(AfterId::new(&self.frame.after_id, meta.received_at_us)),
        };
        let start = self.record.len();
        self.record.put(&after.json);
        self.places[self.layout.at(Fixed::ReceivedAt)] =
            after.time.map(|(s, e)| Place::Record(start + s, start + e));
    }

    /// The rest of a parse-error record: `raw` and `parse_error`.
    fn write_error(&mut self, line: &[u8], e: &LineError) {
        let raw = self.layout.at(Fixed::Raw);
        self.places[raw] = self.frame.raw_value(line, &mut self.values);
        if let Some(Place::Values(start, end)) = self.places[raw] {
            self.record.put_padded(&self.frame.raw);
            json::write_str(&mut self.record, &self.values.as_slice()[start..end]);
        }

        self.message.clear();
        self.parser.describe(e, &mut self.message);
        let start = self.values.len();
        self.values.put(self.message.as_bytes());
        self.places[self.layout.at(Fixed::ParseError)] =
            Some(Place::Values(start, self.values.len()));
        self.record.put_padded(&self.frame.parse_error);
        json::write_str(&mut self.record, &self.values.as_slice()[start..]);
        self.record.push(b'}');
    }
}

impl Frame {
    /// Appends what `raw` holds for `line` to `values`, and says where it is; `None` when
    /// the record has no `raw`.
    fn raw_value(&self, line: &[u8], values: &mut Buf) -> Option<Place> {
        let start = values.len();
        match &self.raw_column {
            RawColumn::Line => values.put(String::from_utf8_lossy(line).as_bytes()),
            RawColumn::Hash(key) => values.put(&key.pseudonym(line)),
            RawColumn::Omitted => return None,
        }
        Some(Place::Values(start, values.len()))
    }

    /// `{"id":"`, the 16 hex digits of the stream id and `-`.
    fn id_prefix(&self, id: RecordId) -> Padded {
        Padded::new(&[&self.id[..], &RecordId::prefix(id.stream)].concat())
    }
}

/// Where one record's values go while it is written.
struct Sink<'a> {
    out: &'a mut Buf,
    values: &'a mut Buf,
    places: &'a mut [Option<Place>],
    unescaped: &'a mut Vec<u8>,
    /// The whole line is UTF-8, so every field is unless `\xhh` escapes say otherwise.
    line_utf8: bool,
    /// The line holds a control character (< 0x20).
    line_control: bool,
    invalid_utf8: bool,
}

impl Sink<'_> {
    /// Writes the format's columns: each field's value under its keys.
    fn fields(&mut self, layout: &Layout, parsed: &Parsed<'_>) -> Result<(), LineError> {
        let mut col = HEAD;
        let mut values = parsed.values();
        for keys in &layout.fields {
            let Some(value) = values.next() else { break };
            self.field(col, keys, value?);
            col += keys.len();
        }
        Ok(())
    }

    /// [`Sink::fields`] with the values of the fields `transform` changes transformed
    /// first; a dropped field has no keys and is left out.
    #[inline(never)]
    fn private_fields(
        &mut self,
        layout: &Layout,
        parsed: &Parsed<'_>,
        transform: &mut Transform,
    ) -> Result<(), LineError> {
        let mut col = HEAD;
        let mut values = parsed.values();
        for (f, keys) in layout.fields.iter().enumerate() {
            let Some(value) = values.next() else { break };
            let value = value?;
            if transform.changes(f) {
                self.changed(col, keys, value, f, transform);
            } else {
                self.field(col, keys, value);
            }
            col += keys.len();
        }
        Ok(())
    }

    /// Writes field `f`'s value as `transform` makes it (nothing for a dropped field). Out
    /// of line, so that the loop of [`Sink::private_fields`] holds a single copy of
    /// [`Sink::field`].
    #[inline(never)]
    fn changed(
        &mut self,
        col: usize,
        keys: &[Key],
        value: Value<'_>,
        f: usize,
        transform: &mut Transform,
    ) {
        match transform.rule(f) {
            _ if keys.is_empty() => {}
            Rule::Url => self.url(col, keys, value, f, transform),
            _ => self.field(col, keys, transform.apply(f, value)),
        }
    }

    /// A [`Rule::Url`] field: when it is written as it was logged (the usual case), with
    /// the values to redact replaced as it is written, and a request split only once; else
    /// through [`Transform::apply`].
    #[inline]
    fn url(
        &mut self,
        col: usize,
        keys: &[Key],
        value: Value<'_>,
        f: usize,
        transform: &mut Transform,
    ) {
        let (Value::Text(text) | Value::Request(text)) = value else {
            return self.field(col, keys, value);
        };
        let raw = text.raw;
        // As in `text_place`: the text is written as it is; so is any part of it.
        let as_is = self.line_utf8
            && !self.line_control
            && (text.clean || find2(b'"', b'\\', raw).is_none());
        let request = matches!(value, Value::Request(_));
        // A request that is not one is a URL as a whole, and may be one once redacted.
        let parts = if request { split_request(raw) } else { None };
        let (s, e) = parts.map_or((0, raw.len()), |p| p.target);
        let redactions = match (as_is && (parts.is_some() || !request))
            .then(|| transform.redactions(&raw[s..e]))
            .flatten()
        {
            Some(r) => r,
            None => return self.field(col, keys, transform.apply(f, value)),
        };
        let key = &keys[0];
        self.out.put_padded(&key.open);
        let start = self.out.len();
        // Where the target ends in what is written.
        let target_end;
        if redactions.is_empty() {
            self.out.put_quoted(raw);
            target_end = e;
        } else {
            // Up to each value, then `REDACTED` in its place; after the last one, the rest.
            let mut copied = 0;
            for &(value_start, value_end) in redactions {
                self.out.put(&raw[copied..s + value_start]);
                self.out.put(REDACTED);
                copied = s + value_end;
            }
            target_end = self.out.len() - start + (e - copied);
            self.out.put_quoted(&raw[copied..]);
        }
        let place = Place::Record(start, self.out.len() - 1);
        self.places[col] = Some(place);
        if let Some(p) = parts {
            // Redaction changes only the target, never its spaces or what follows it, so
            // the redacted request splits there too.
            let parts = RequestParts {
                method: p.method,
                target: (s, target_end),
                protocol: p
                    .protocol
                    .map(|(ps, pe)| (ps - e + target_end, pe - e + target_end)),
            };
            self.request_parts(col, keys, place, Some(parts));
        }
    }

    /// Writes one field's value under its keys, and notes where it is for
    /// [`Encoder::value`]. Every value of a record passes here (but a URL that
    /// [`Sink::url`] redacts as it writes it, noting its place the same way), and what the
    /// publisher derives from a record (attributes, ordering key) is read from what was
    /// written here: a per-field transform belongs just before it.
    #[inline(always)]
    fn field(&mut self, col: usize, keys: &[Key], value: Value<'_>) {
        match value {
            Value::Null => match keys {
                [key] => self.null(col, key),
                _ => {
                    for (i, key) in keys.iter().enumerate() {
                        self.null(col + i, key);
                    }
                }
            },
            Value::Text(text) => {
                self.text_place(col, &keys[0], text);
            }
            Value::Digits(digits) => self.number(col, &keys[0], digits),
            Value::Int(v) => self.number(col, &keys[0], itoa::Buffer::new().format(v).as_bytes()),
            Value::Request(text) => self.request(col, keys, text),
            Value::Time(t) => {
                if let [utc, offset] = keys {
                    self.time(col, utc, offset, t);
                }
            }
            Value::TimePart => {}
        }
    }

    /// `truncated`, `invalid_utf8`, `raw` and the closing brace.
    fn tail(&mut self, layout: &Layout, frame: &Frame, line: &[u8], truncated: bool) {
        self.places[layout.at(Fixed::ParseError)] = None;
        let raw = layout.at(Fixed::Raw);
        if !self.invalid_utf8 {
            self.places[raw] = None;
            self.out.put_padded(&frame.tail[usize::from(truncated)]);
            return;
        }
        self.out.put(&frame.tail_invalid[usize::from(truncated)]);
        self.places[raw] = frame.raw_value(line, self.values);
        // Without `raw`, `tail_invalid` ended the record.
        if let Some(Place::Values(start, end)) = self.places[raw] {
            json::write_str(self.out, &self.values.as_slice()[start..end]);
            self.out.push(b'}');
        }
    }

    #[inline]
    fn null(&mut self, col: usize, key: &Key) {
        self.places[col] = None;
        self.out.put_padded(&key.null);
    }

    /// The text of a field, unescaped and made UTF-8, as a JSON string; returns where the
    /// value is: in the record when the field's bytes are the value and needed no JSON
    /// escapes (the usual case), else in the values.
    #[inline(always)]
    fn text_place(&mut self, col: usize, key: &Key, text: Escaped<'_>) -> Place {
        self.out.put_padded(&key.open);
        let start = self.out.len();
        let raw = text.raw;
        // Without control characters only `"` and `\` can need escaping, and a search for
        // those two is quicker than the general escaping loop.
        if self.line_utf8 && !self.line_control && (text.clean || find2(b'"', b'\\', raw).is_none())
        {
            self.out.put_quoted(raw);
            let place = Place::Record(start, start + raw.len());
            self.places[col] = Some(place);
            return place;
        }
        let place = self.escaped_text(text, start);
        self.places[col] = Some(place);
        place
    }

    /// [`Sink::text_place`] for text that may need escapes, unescaping or UTF-8 repair,
    /// written from `start` in the record (just after the key).
    #[inline(never)]
    fn escaped_text(&mut self, text: Escaped<'_>, start: usize) -> Place {
        let raw = text.raw;
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
        if text.unescape_into(self.unescaped) || !self.line_utf8 {
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
    fn request(&mut self, col: usize, keys: &[Key], text: Escaped<'_>) {
        let place = self.text_place(col, &keys[0], text);
        let parts = split_request(self.bytes(place));
        self.request_parts(col, keys, place, parts);
    }

    /// The parts of the request line at `place` (`None`: it is not one) under `keys[1..]`.
    #[inline(always)]
    fn request_parts(
        &mut self,
        col: usize,
        keys: &[Key],
        place: Place,
        parts: Option<RequestParts>,
    ) {
        let parts = match parts {
            Some(p) => [Some(p.method), Some(p.target), p.protocol]
                .map(|r| r.map(|(s, e)| place.part(s, e))),
            None => [None; 3],
        };
        for (i, (part, key)) in parts.into_iter().zip(&keys[1..]).enumerate() {
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
    #[inline(always)]
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

    /// The line's time: its UTC text and the offset it was logged in.
    fn time(&mut self, col: usize, utc: &Key, offset: &Key, t: &Timestamp) {
        self.out.put_padded(&utc.open);
        let start = self.out.len();
        self.out.put_quoted(t.utc());
        self.places[col] = Some(Place::Record(start, start + t.utc().len()));
        self.places[col + 1] = match t.offset() {
            Some(o) => {
                self.out.put_padded(&offset.open);
                let start = self.out.len();
                self.out.put_quoted(o);
                Some(Place::Record(start, start + o.len()))
            }
            None => {
                self.out.put_padded(&offset.null);
                None
            }
        };
    }
}

/// Whether the decimal integer `digits` (an optional `-`, then digits) is within ±2^53, the
/// integers a JSON number carries exactly.
fn exact_in_json(digits: &[u8]) -> bool {
    const MAX_EXACT: i64 = 1 << 53;
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
        .is_some_and(|v| (-MAX_EXACT..=MAX_EXACT).contains(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_in_json_up_to_2_to_the_53() {
        assert!(exact_in_json(b"9007199254740992"));
        assert!(exact_in_json(b"-9007199254740992"));
        assert!(!exact_in_json(b"9007199254740993"));
        assert!(!exact_in_json(b"9223372036854775807"));
    }

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
}
