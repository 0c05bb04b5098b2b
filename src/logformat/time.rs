//! Time: the `%t` items of a line combined into one UTC timestamp plus the offset it was
//! logged in, RFC 3339 output, and a cache of the last result (lines within one second
//! carry the same `%t` text; for the default `%t`, a new second of the same minute only
//! changes the cached seconds).
//!
//! All items of a format go through one `chrono::format::Parsed`: the default `%t`
//! (`[10/Oct/2000:13:55:36 -0700]`, read by fixed positions), strftime items (parsed by
//! chrono), `sec`/`msec`/`usec` (time since the epoch) and `msec_frac`/`usec_frac` (the
//! sub-second part, kept out of the cache key). Without a `%z` the time is local time.

use chrono::format::{Parsed, parse};
use chrono::{DateTime, FixedOffset, Local, TimeZone};

use super::compile::Plan;
use super::directive::{Conv, TimeItem, Unit};
use super::parse::Span;
use crate::rfc3339::{self, put_digits};

/// Length of the default `%t` text.
pub(crate) const CLF_LEN: usize = 28;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The time of a line, as text: `2000-10-10T20:55:36[.123]Z` and `-07:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    text: [u8; 27],
    len: usize,
    tz: Option<[u8; 6]>,
}

impl Timestamp {
    /// The instant in RFC 3339, UTC.
    pub(crate) fn utc(&self) -> &[u8] {
        &self.text[..self.len]
    }

    /// The UTC offset it was logged in as `+hh:mm`; `None` when the format has none (epoch
    /// times).
    pub(crate) fn offset(&self) -> Option<&[u8]> {
        self.tz.as_ref().map(|t| &t[..])
    }
}

/// An instant as found in a line.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    secs: i64,
    micros: u32,
    offset: Option<i32>,
}

/// What the cache keeps for the last key.
#[derive(Debug, Clone, Copy)]
struct Cached {
    base: [u8; 19],
    micros: u32,
    tz: Option<[u8; 6]>,
}

/// The `%t` texts of a line, kept to recognize the next line with the same ones: each text
/// after its length, so that texts of other lengths never compare equal.
#[derive(Debug, Default)]
struct TextsKey(Vec<u8>);

impl TextsKey {
    /// Whether `texts` are the ones last [`TextsKey::set`].
    fn is<'a>(&self, texts: impl IntoIterator<Item = &'a [u8]>) -> bool {
        let mut key = self.0.as_slice();
        texts
            .into_iter()
            .all(|text| match key.split_first_chunk::<4>() {
                Some((len, rest))
                    if u32::from_le_bytes(*len) as usize == text.len()
                        && rest.starts_with(text) =>
                {
                    key = &rest[text.len()..];
                    true
                }
                _ => false,
            })
            && key.is_empty()
    }

    fn set<'a>(&mut self, texts: impl IntoIterator<Item = &'a [u8]>) {
        self.0.clear();
        for text in texts {
            self.0.extend_from_slice(&(text.len() as u32).to_le_bytes());
            self.0.extend_from_slice(text);
        }
    }

    /// The one text, when the key holds exactly one.
    fn single_mut(&mut self) -> Option<&mut [u8]> {
        let (len, text) = self.0.split_first_chunk_mut::<4>()?;
        (u32::from_le_bytes(*len) as usize == text.len()).then_some(text)
    }
}

/// Resolves the `%t` items of lines, remembering the last answer.
#[derive(Debug, Default)]
pub(crate) struct TimeCache {
    /// The texts of the non-fraction `%t` items that gave `last`.
    key: TextsKey,
    last: Option<Cached>,
    /// The last timestamp resolved, which a line with the same single `%t` text takes as is.
    answer: Option<Timestamp>,
}

impl TimeCache {
    /// The timestamp of the line whose fields are at `spans`. `Err` holds the index of the
    /// field to blame.
    pub(crate) fn resolve(
        &mut self,
        plan: &Plan,
        line: &[u8],
        spans: &[Span],
    ) -> Result<&Timestamp, usize> {
        self.update(plan, line, spans)?;
        self.answer.as_ref().ok_or(plan.time_fields[0])
    }

    /// Makes `answer` the timestamp of the line.
    fn update(&mut self, plan: &Plan, line: &[u8], spans: &[Span]) -> Result<(), usize> {
        let text = |f: usize| &line[spans[f].start..spans[f].end];
        if let [f] = plan.time_fields[..]
            && let Conv::Time(TimeItem::Clf) = plan.fields[f].conv
        {
            let t = text(f);
            if self.answer.is_some() && self.key.single_mut().is_some_and(|k| *k == *t) {
                return Ok(());
            }
            if let Some(cached) = self.next_second(t) {
                self.answer = Some(finish(&cached, cached.micros, plan.time_digits));
                return Ok(());
            }
        }
        self.answer = None;
        let mut frac = None;
        for &f in &plan.time_fields {
            if let Conv::Time(TimeItem::Frac(unit)) = &plan.fields[f].conv {
                frac = Some(frac_micros(text(f), *unit).ok_or(f)?);
            }
        }
        let cached = match self.last {
            Some(c) if self.key.is(key_texts(plan, line, spans)) => c,
            _ => self.refresh(plan, line, spans)?,
        };
        self.answer = Some(finish(
            &cached,
            frac.unwrap_or(cached.micros),
            plan.time_digits,
        ));
        Ok(())
    }

    /// The cached time moved to the seconds of the default `%t` text `t` when only they differ
    /// from the cached text: a busy log changes minutes rarely and seconds all the time. An
    /// offset is whole minutes, so the seconds are the same in UTC.
    fn next_second(&mut self, t: &[u8]) -> Option<Cached> {
        let cached = self.last.as_mut()?;
        let key = self.key.single_mut()?;
        if t.len() != CLF_LEN
            || key.len() != CLF_LEN
            || t[..19] != key[..19]
            || t[21..] != key[21..]
        {
            return None;
        }
        let secs = [t[19], t[20]];
        if !matches!(secs, [b'0'..=b'5', b'0'..=b'9']) {
            return None;
        }
        key[19..21].copy_from_slice(&secs);
        cached.base[17..19].copy_from_slice(&secs);
        Some(*cached)
    }

    /// Resolves the time of a line the cache does not know and remembers it.
    fn refresh(&mut self, plan: &Plan, line: &[u8], spans: &[Span]) -> Result<Cached, usize> {
        let first = plan.time_fields[0];
        self.last = None;
        self.key.set(key_texts(plan, line, spans));
        let items = plan
            .time_fields
            .iter()
            .filter_map(|&f| match &plan.fields[f].conv {
                Conv::Time(item) => Some((item, &line[spans[f].start..spans[f].end])),
                _ => None,
            });
        let stamp = stamp(items).ok_or(first)?;
        let c = Cached {
            base: rfc3339::base(stamp.secs).ok_or(first)?,
            micros: stamp.micros,
            tz: stamp.offset.map(offset_text),
        };
        self.last = Some(c);
        Ok(c)
    }
}

/// The texts of the `%t` items that are not fractions (those are applied to the cached
/// second, not part of it).
fn key_texts<'a>(
    plan: &'a Plan,
    line: &'a [u8],
    spans: &'a [Span],
) -> impl Iterator<Item = &'a [u8]> {
    plan.time_fields
        .iter()
        .filter(|&&f| !matches!(plan.fields[f].conv, Conv::Time(TimeItem::Frac(_))))
        .map(move |&f| &line[spans[f].start..spans[f].end])
}

/// Appends the fraction (`digits` of 0, 3, 6) and `Z` to the cached base.
fn finish(c: &Cached, micros: u32, digits: usize) -> Timestamp {
    let mut text = [0u8; 27];
    text[..19].copy_from_slice(&c.base);
    let mut len = 19;
    if digits > 0 {
        text[len] = b'.';
        len += 1;
        let mut v = micros / 10u32.pow(6 - digits as u32);
        for i in (0..digits).rev() {
            text[len + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        len += digits;
    }
    text[len] = b'Z';
    Timestamp {
        text,
        len: len + 1,
        tz: c.tz,
    }
}

/// Combines the texts of the `%t` items into one instant.
fn stamp<'a>(items: impl Iterator<Item = (&'a TimeItem, &'a [u8])>) -> Option<Stamp> {
    let mut parsed = Parsed::new();
    let mut epoch = None;
    let mut frac = None;
    for (item, text) in items {
        match item {
            TimeItem::Clf => clf_into(text, &mut parsed)?,
            TimeItem::Strftime(f) => {
                parse(&mut parsed, std::str::from_utf8(text).ok()?, f.iter()).ok()?
            }
            TimeItem::Epoch(unit) => {
                let v: i64 = std::str::from_utf8(text).ok()?.parse().ok()?;
                let per = unit.per_second();
                let micros = v.rem_euclid(per) * (1_000_000 / per);
                epoch = Some((v.div_euclid(per), micros as u32));
            }
            TimeItem::Frac(unit) => frac = Some(frac_micros(text, *unit)?),
        }
    }
    let (secs, micros, offset) = match epoch {
        Some((secs, micros)) => (secs, micros, parsed.offset),
        None if parsed.offset.is_some() => {
            let dt = parsed.to_datetime().ok()?;
            (dt.timestamp(), 0, Some(dt.offset().local_minus_utc()))
        }
        None => {
            let naive = parsed.to_naive_datetime_with_offset(0).ok()?;
            let local = Local.from_local_datetime(&naive).earliest()?;
            (local.timestamp(), 0, Some(local.offset().local_minus_utc()))
        }
    };
    Some(Stamp {
        secs,
        micros: frac.unwrap_or(micros),
        offset,
    })
}

/// Reads `[dd/Mon/yyyy:HH:MM:SS +hhmm]` into `parsed`; chrono checks the ranges.
fn clf_into(t: &[u8], parsed: &mut Parsed) -> Option<()> {
    if t.len() != CLF_LEN
        || t[0] != b'['
        || t[3] != b'/'
        || t[7] != b'/'
        || t[12] != b':'
        || t[15] != b':'
        || t[18] != b':'
        || t[21] != b' '
        || t[27] != b']'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        t[r].iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let month = MONTHS.iter().position(|m| &t[4..7] == *m)? as i64 + 1;
    let (oh, om) = (num(23..25)?, num(25..27)?);
    if om >= 60 {
        return None;
    }
    let offset = (oh * 3600 + om * 60)
        * match t[22] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
    parsed.set_year(num(8..12)?).ok()?;
    parsed.set_month(month).ok()?;
    parsed.set_day(num(1..3)?).ok()?;
    parsed.set_hour(num(13..15)?).ok()?;
    parsed.set_minute(num(16..18)?).ok()?;
    parsed.set_second(num(19..21)?).ok()?;
    parsed.set_offset(offset).ok()
}

/// `123` of `%{msec_frac}t` -> 123000 microseconds.
fn frac_micros(text: &[u8], unit: Unit) -> Option<u32> {
    if text.len() != unit.digits() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = text
        .iter()
        .fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'));
    Some(v * (1_000_000 / unit.per_second() as u32))
}

/// `-25200` -> `-07:00`.
fn offset_text(secs: i32) -> [u8; 6] {
    let mut t = *b"+00:00";
    if secs < 0 {
        t[0] = b'-';
    }
    let a = secs.unsigned_abs() / 60;
    put_digits(&mut t[1..3], a / 60 % 100);
    put_digits(&mut t[4..6], a % 60);
    t
}

/// Checks at compile time that the `%t` items of a format make a full date and time, by
/// writing a sample time with them and reading it back.
pub(crate) fn check_items(items: &[TimeItem]) -> Result<(), String> {
    let sample: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2001-02-03T04:05:06.789012+05:30")
            .map_err(|e| e.to_string())?;
    let texts: Vec<String> = items
        .iter()
        .map(|item| match item {
            TimeItem::Clf => sample.format("[%d/%b/%Y:%H:%M:%S %z]").to_string(),
            TimeItem::Strftime(f) => sample.format_with_items(f.iter()).to_string(),
            TimeItem::Epoch(unit) => {
                (sample.timestamp_micros() / (1_000_000 / unit.per_second())).to_string()
            }
            TimeItem::Frac(unit) => {
                let micros = sample.timestamp_subsec_micros();
                format!(
                    "{:0w$}",
                    micros / (1_000_000 / unit.per_second() as u32),
                    w = unit.digits()
                )
            }
        })
        .collect();
    stamp(items.iter().zip(texts.iter().map(|t| t.as_bytes())))
        .map(|_| ())
        .ok_or_else(|| "the %t directives do not give a full date and time".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clf(text: &str) -> Option<(String, String)> {
        let s = stamp(std::iter::once((&TimeItem::Clf, text.as_bytes())))?;
        let c = Cached {
            base: rfc3339::base(s.secs)?,
            micros: s.micros,
            tz: s.offset.map(offset_text),
        };
        let r = finish(&c, c.micros, 0);
        Some((
            String::from_utf8(r.utc().to_vec()).ok()?,
            String::from_utf8(r.offset()?.to_vec()).ok()?,
        ))
    }

    /// Resolving line after line through one cache gives what a fresh cache gives.
    #[test]
    fn cache_agrees_with_a_fresh_resolve() {
        let format = crate::logformat::LogFormat::new("%t").unwrap();
        let plan = &format.plan;
        let resolve = |cache: &mut TimeCache, line: &str| {
            let mut spans = Vec::new();
            super::super::parse::split(plan, line.as_bytes(), &mut spans).ok()?;
            cache.resolve(plan, line.as_bytes(), &spans).ok().copied()
        };
        let mut cache = TimeCache::default();
        for line in [
            "[10/Oct/2000:13:55:36 -0700]",
            "[10/Oct/2000:13:55:36 -0700]",
            "[10/Oct/2000:13:55:37 -0700]",
            "[10/Oct/2000:13:55:59 -0700]",
            "[10/Oct/2000:13:56:00 -0700]",
            "[10/Oct/2000:13:56:60 -0700]",
            "[10/Oct/2000:13:56:6x -0700]",
            "[10/Oct/2000:13:56:07 -0700]",
            "[10/Oct/2000:13:56:08 +0530]",
            "[31/Dec/1999:23:59:58 -0000]",
            "[31/Dec/1999:23:59:59 -0000]",
            "[01/Jan/2000:00:00:00 -0000]",
        ] {
            assert_eq!(
                resolve(&mut cache, line),
                resolve(&mut TimeCache::default(), line),
                "{line}"
            );
        }
    }

    #[test]
    fn clf_converts_to_utc() {
        assert_eq!(
            clf("[10/Oct/2000:13:55:36 -0700]"),
            Some(("2000-10-10T20:55:36Z".into(), "-07:00".into()))
        );
        assert_eq!(
            clf("[01/Jan/2019:02:00:00 +0330]"),
            Some(("2018-12-31T22:30:00Z".into(), "+03:30".into()))
        );
        assert_eq!(
            clf("[31/Dec/2019:22:00:00 -0500]"),
            Some(("2020-01-01T03:00:00Z".into(), "-05:00".into()))
        );
    }

    #[test]
    fn clf_refuses_bad_values() {
        for bad in [
            "[32/Oct/2000:13:55:36 -0700]",
            "[29/Feb/2001:13:55:36 -0700]",
            "[10/Foo/2000:13:55:36 -0700]",
            "[10/oct/2000:13:55:36 -0700]",
            "[10/Oct/2000:24:55:36 -0700]",
            "[10/Oct/2000:13:60:36 -0700]",
            "[10/Oct/2000:13:55:61 -0700]",
            "[10/Oct/2000:13:55:36 *0700]",
            "[10/Oct/2000:13:55:36 -0790]",
            "[10/Oct/2000 13:55:36 -0700]",
            "[1/Oct/2000:13:55:36 -0700]",
        ] {
            assert_eq!(clf(bad), None, "{bad}");
        }
    }

    #[test]
    fn fraction_digits() {
        let c = Cached {
            base: *b"2000-10-10T20:55:36",
            micros: 0,
            tz: None,
        };
        assert_eq!(finish(&c, 123_456, 3).utc(), b"2000-10-10T20:55:36.123Z");
        assert_eq!(finish(&c, 4_056, 6).utc(), b"2000-10-10T20:55:36.004056Z");
        assert_eq!(finish(&c, 4_056, 0).utc(), b"2000-10-10T20:55:36Z");
    }

    #[test]
    fn offsets() {
        assert_eq!(&offset_text(0), b"+00:00");
        assert_eq!(&offset_text(-12_600), b"-03:30");
        assert_eq!(&offset_text(50_400), b"+14:00");
    }

    #[test]
    fn incomplete_time_formats_are_refused() {
        let time_only = TimeItem::Strftime(
            chrono::format::StrftimeItems::new("%H:%M:%S")
                .parse_to_owned()
                .unwrap(),
        );
        assert!(check_items(&[time_only]).is_err());
        assert!(check_items(&[TimeItem::Clf]).is_ok());
        assert!(check_items(&[TimeItem::Epoch(Unit::Msec)]).is_ok());
    }
}
