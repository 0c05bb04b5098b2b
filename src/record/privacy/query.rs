//! URLs (a request target, a Referer, `%U`, `%q`) with the values of some query parameters
//! replaced by `REDACTED`, or without their query.
//!
//! Works on the text as httpd logged it (escaped): the bytes that delimit a query (`?`,
//! `#`, `&`, `=`) are printable, which httpd never escapes, so no escape sequence is cut.
//! The query is what follows the first `?` up to a `#`; what follows a `#` (a fragment,
//! where some sign-in flows put tokens) is read as parameters too. Parameters are separated
//! by `&`; a parameter's name is compared percent-decoded (`+` is a space) and without
//! regard to ASCII case; a parameter without `=` or with an empty value is left as it is.
//!
//! [`redactions`] finds where the values to redact are without a branch per byte: a query of
//! up to 64 bytes is read sixteen bytes at a time into one bit per byte for each of `#`, `=`
//! and `&` ([`Marks`], with [`Bytes16`]'s SSE2 compares; always two or four chunks, whatever
//! the length in between, as branches on the length mispredict), and parameters are found
//! from those bits, a name first told apart by its last byte; a longer query is read from
//! one `=` to the next, reading back to the parameter's start only as far as the longest
//! name could be written. The query's start is searched for with [`crate::scan::find2`]
//! (memchr's SSE2 searcher, inlined: a call to the top-level `memchr` cost a tenth of
//! `bench/privacy.sh`), in a URL under 16 bytes with one [`Bytes16`] (where memchr loops
//! over the bytes); the bytes of a query past 64 bytes with `memchr` (long enough for its
//! calls to pay). Only the names of parameters are looked at byte by byte; the encoder
//! writes the URL with the values replaced straight into the record, without a copy in
//! between.

use crate::scan::Bytes16;

/// What replaces a redacted value.
pub const REDACTED: &[u8] = b"REDACTED";

/// The names of the parameters whose values are redacted, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Names {
    names: Vec<Vec<u8>>,
    /// The most bytes a name can take in a URL: every byte of the longest one as `%XX`.
    longest: usize,
    /// `ends[b]`: some name ends with byte `b` (in either case, for a letter); an empty name
    /// is said to end with every byte.
    ends: [bool; 256],
}

impl Names {
    pub(super) fn new(names: &[String]) -> Names {
        let names: Vec<Vec<u8>> = (names.iter())
            .map(|n| n.to_ascii_lowercase().into_bytes())
            .collect();
        let longest = 3 * names.iter().map(Vec::len).max().unwrap_or(0);
        let mut ends = [false; 256];
        for name in &names {
            match name.last() {
                Some(&last) => {
                    ends[usize::from(last)] = true;
                    ends[usize::from(last.to_ascii_uppercase())] = true;
                }
                None => ends = [true; 256],
            }
        }
        Names {
            names,
            longest,
            ends,
        }
    }

    /// Whether the parameter named `raw` (as written in the URL) is one of these. Most are
    /// told apart by the last byte of their decoded name alone, without decoding them.
    #[inline]
    fn matches(&self, raw: &[u8], scratch: &mut Vec<u8>) -> bool {
        match decoded_last(raw) {
            Some(last) if !self.ends[usize::from(last)] => false,
            _ => self.matches_decoded(raw, scratch),
        }
    }

    /// [`Names::matches`], comparing the whole decoded name.
    #[inline(never)]
    fn matches_decoded(&self, raw: &[u8], scratch: &mut Vec<u8>) -> bool {
        let name = if raw.iter().any(|&b| b == b'%' || b == b'+') {
            scratch.clear();
            percent_decode(raw, scratch);
            &scratch[..]
        } else {
            raw
        };
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The last byte of `raw` percent-decoded (as [`percent_decode`] decodes it), without
/// decoding it: a `%` three bytes from the end always starts an escape, as a `%` is never
/// the hex digit of an earlier one. `None` for an empty `raw`.
#[inline(always)]
fn decoded_last(raw: &[u8]) -> Option<u8> {
    if let [.., b'%', h, l] = raw
        && let (Some(h), Some(l)) = (hex(Some(h)), hex(Some(l)))
    {
        return Some(h << 4 | l);
    }
    raw.last().map(|&b| if b == b'+' { b' ' } else { b })
}

/// Where the query (or fragment) of `url` starts: at its first `?` or `#`.
#[inline]
pub(super) fn query_start(url: &[u8]) -> Option<usize> {
    if url.len() < 16 {
        let bytes = short_bytes(url);
        let bits = unfold(url.len(), bytes.mask(b'?') | bytes.mask(b'#'));
        return (bits != 0).then(|| bits.trailing_zeros() as usize);
    }
    crate::scan::find2(b'?', b'#', url)
}

/// Sets `values` to where the values of `names` are in `url`, whose query starts at `query`
/// (its `?` or `#`): ranges of `url`, in order; empty when it has none.
pub(super) fn redactions(
    url: &[u8],
    query: usize,
    names: &Names,
    scratch: &mut Vec<u8>,
    values: &mut Vec<(usize, usize)>,
) {
    values.clear();
    let Some(marks) = Marks::of(&url[query..]) else {
        return long_redactions(url, query, names, scratch, values);
    };
    let n = url.len() - query;
    // Positions from here on are from `query`.
    let fragment = if url[query] == b'#' {
        0
    } else {
        (marks.hash & !1).trailing_zeros()
    };
    // Where parameters end: the query's start, the fragment's, and `&`.
    let mut ends = 1 | marks.amp;
    if fragment < 64 {
        ends |= 1 << fragment;
    }
    let mut eqs = marks.eq;
    while eqs != 0 {
        let eq = eqs.trailing_zeros();
        let before = (1u64 << eq) - 1;
        // `ends` has bit 0 and `eq` is past it.
        let start = 64 - (ends & before).leading_zeros();
        let after = ends & !before & !(1 << eq);
        let end = if after == 0 {
            n
        } else {
            after.trailing_zeros() as usize
        };
        // The first `=` of a parameter is the one looked at: the others are in its value.
        eqs &= if end < 64 { u64::MAX << end } else { 0 };
        let (start, eq) = (start as usize, eq as usize);
        if eq - start > names.longest
            || end == eq + 1
            || !names.matches(&url[query + start..query + eq], scratch)
        {
            continue;
        }
        values.push((query + eq + 1, query + end));
    }
}

/// Bit `i` of each: byte `i` of a text of at most 64 bytes is `#`, `=` or `&`.
struct Marks {
    hash: u64,
    eq: u64,
    amp: u64,
}

impl Marks {
    /// The marks of `text`; `None` when it is longer than 64 bytes.
    #[inline]
    fn of(text: &[u8]) -> Option<Marks> {
        let n = text.len();
        if n > 64 {
            return None;
        }
        if n < 16 {
            let bytes = short_bytes(text);
            return Some(Marks {
                hash: unfold(n, bytes.mask(b'#')),
                eq: unfold(n, bytes.mask(b'=')),
                amp: unfold(n, bytes.mask(b'&')),
            });
        }
        let mut marks = Marks {
            hash: 0,
            eq: 0,
            amp: 0,
        };
        // A fixed number of chunks (two up to 32 bytes, else four), without a branch on the
        // length in between: the last ones start `n - 16` bytes in, overlapping the ones
        // before, which only sets the same bits again. The loop that stopped at the text's
        // own end mispredicted its exit on most URLs.
        let mut add = |i: usize| {
            let at = (16 * i).min(n - 16);
            if let Some(chunk) = text[at..].first_chunk::<16>() {
                let bytes = Bytes16::new(chunk);
                marks.hash |= bytes.mask(b'#') << at;
                marks.eq |= bytes.mask(b'=') << at;
                marks.amp |= bytes.mask(b'&') << at;
            }
        };
        if n <= 32 {
            (0..2).for_each(&mut add);
        } else {
            (0..4).for_each(&mut add);
        }
        Some(marks)
    }
}

/// A text under 16 bytes as sixteen, read without a loop: its first eight bytes, then its
/// last eight (which overlap them); under eight bytes, the text, then zeros (which are none
/// of the bytes looked for). [`unfold`] makes a mask of these a mask of the text.
#[inline(always)]
fn short_bytes(text: &[u8]) -> Bytes16 {
    let n = text.len();
    if let (Some(first), Some(last)) = (text.first_chunk::<8>(), text.last_chunk::<8>()) {
        return Bytes16::from_words(u64::from_le_bytes(*first), u64::from_le_bytes(*last));
    }
    // Two overlapping halves (or the first, middle and last byte).
    let word = match (text.first_chunk::<4>(), text.last_chunk::<4>()) {
        (Some(first), Some(last)) => {
            u64::from(u32::from_le_bytes(*first))
                | u64::from(u32::from_le_bytes(*last)) << (8 * (n - 4))
        }
        _ if n == 0 => 0,
        _ => [0, n / 2, n - 1]
            .into_iter()
            .fold(0, |w, i| w | u64::from(text[i]) << (8 * i)),
    };
    Bytes16::from_words(word, 0)
}

/// A mask of [`short_bytes`] of a text of `n` bytes as a mask of the text: bits 8 to 15
/// stand for its last eight bytes.
#[inline(always)]
fn unfold(n: usize, bits: u64) -> u64 {
    (bits & 0xff) | (bits >> 8) << n.saturating_sub(8)
}

/// [`redactions`] for a query longer than [`Marks`] covers: from one `=` to the next.
fn long_redactions(
    url: &[u8],
    query: usize,
    names: &Names,
    scratch: &mut Vec<u8>,
    values: &mut Vec<(usize, usize)>,
) {
    let fragment = if url[query] == b'#' {
        query
    } else {
        memchr::memchr(b'#', &url[query + 1..]).map_or(url.len(), |i| query + 1 + i)
    };
    // Where the next `=` is looked for: after the last one, or after a value to redact.
    let mut next = query + 1;
    while let Some(eq) = memchr::memchr(b'=', &url[next..]).map(|i| next + i) {
        next = eq + 1;
        let Some(start) = name_start(url, [query, fragment], eq, names.longest) else {
            continue;
        };
        if !names.matches(&url[start..eq], scratch) {
            continue;
        }
        let section_end = if eq < fragment { fragment } else { url.len() };
        let end =
            memchr::memchr(b'&', &url[eq + 1..section_end]).map_or(section_end, |i| eq + 1 + i);
        if end == eq + 1 {
            continue;
        }
        values.push((eq + 1, end));
        next = end;
    }
}

/// Gives `url` with its `values` (from [`redactions`]) replaced by [`REDACTED`] to `put`,
/// piece by piece.
#[inline(always)]
pub(super) fn write_redacted(url: &[u8], values: &[(usize, usize)], mut put: impl FnMut(&[u8])) {
    let mut copied = 0;
    for &(start, end) in values {
        put(&url[copied..start]);
        put(REDACTED);
        copied = end;
    }
    put(&url[copied..]);
}

/// Appends `url` to `out` with the values of `names` redacted, as the encoder writes it;
/// false (and nothing appended) when there is nothing to redact. For the tests, which check
/// [`redactions`] and [`write_redacted`] together through it.
#[cfg(test)]
pub(super) fn redact(url: &[u8], names: &Names, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> bool {
    let mut values = Vec::new();
    if let Some(query) = query_start(url) {
        redactions(url, query, names, scratch, &mut values);
    }
    if values.is_empty() {
        return false;
    }
    write_redacted(url, &values, |piece| out.extend_from_slice(piece));
    true
}

/// Where the name of the parameter whose `=` is at `eq` starts: just after the `&`, or the
/// query's `?`/`#` or the fragment's `#` (`starts`), before it. `None` when that `=` is not
/// the first of its parameter (it is in a value) or the name is longer than `longest`.
#[inline]
fn name_start(url: &[u8], starts: [usize; 2], eq: usize, longest: usize) -> Option<usize> {
    let mut i = eq;
    loop {
        if starts.iter().any(|&s| i == s + 1) || url[i - 1] == b'&' {
            return Some(i);
        }
        if url[i - 1] == b'=' || eq - i >= longest {
            return None;
        }
        i -= 1;
    }
}

/// Appends `url` without its query and fragment.
pub(super) fn drop_query(url: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&url[..query_start(url).unwrap_or(url.len())]);
}

/// Appends `raw` with its `%XX` escapes decoded and `+` as a space; a `%` not followed by
/// two hex digits stays as it is.
fn percent_decode(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'%' => match (hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
}

fn hex(b: Option<&u8>) -> Option<u8> {
    (*b? as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The rules of the module's header read literally, parameter by parameter: what
    /// [`redact`] must give.
    fn reference(url: &[u8], names: &Names) -> Vec<u8> {
        let mut scratch = Vec::new();
        let Some(start) = query_start(url) else {
            return url.to_vec();
        };
        let mut out = url[..start].to_vec();
        let mut rest = &url[start..];
        while let Some((&delimiter, after)) = rest.split_first() {
            out.push(delimiter);
            let end = match delimiter {
                b'?' => after.iter().position(|&b| b == b'#').unwrap_or(after.len()),
                _ => after.len(),
            };
            for (i, param) in after[..end].split(|&b| b == b'&').enumerate() {
                if i > 0 {
                    out.push(b'&');
                }
                match param.iter().position(|&b| b == b'=') {
                    Some(eq)
                        if eq + 1 < param.len() && names.matches(&param[..eq], &mut scratch) =>
                    {
                        out.extend_from_slice(&param[..=eq]);
                        out.extend_from_slice(REDACTED);
                    }
                    _ => out.extend_from_slice(param),
                }
            }
            rest = &after[end..];
        }
        out
    }

    proptest! {
        #[test]
        fn redact_does_what_the_rules_say(
            url in proptest::collection::vec(
                prop_oneof![
                    Just(b'?'), Just(b'#'), Just(b'&'), Just(b'='), Just(b'%'), Just(b'+'),
                    Just(b'a'), Just(b'T'), Just(b'k'), Just(b'3'), Just(b'D'), Just(b'/'),
                    Just(b'2'), Just(b'B'),
                ],
                0..100,
            ),
        ) {
            let names = Names::new(&["tk".to_string(), "a+".to_string(), "k=".to_string()]);
            let (mut out, mut scratch) = (Vec::new(), Vec::new());
            let want = reference(&url, &names);
            if redact(&url, &names, &mut out, &mut scratch) {
                prop_assert_eq!(&out, &want);
                prop_assert_ne!(&out, &url);
            } else {
                prop_assert!(out.is_empty());
                prop_assert_eq!(&url, &want);
            }
        }
    }

    proptest! {
        #[test]
        fn decoded_last_is_the_last_byte_decoded(
            raw in proptest::collection::vec(
                prop_oneof![
                    Just(b'%'), Just(b'+'), Just(b'2'), Just(b'B'), Just(b'f'), Just(b'z'),
                    Just(b'a'),
                ],
                0..8,
            ),
        ) {
            let mut decoded = Vec::new();
            percent_decode(&raw, &mut decoded);
            prop_assert_eq!(decoded_last(&raw), decoded.last().copied());
        }
    }

    fn redacted(url: &str, names: &[&str]) -> String {
        let names = Names::new(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        if !redact(url.as_bytes(), &names, &mut out, &mut scratch) {
            assert!(out.is_empty());
            return url.to_owned();
        }
        assert_ne!(out, url.as_bytes(), "said it redacted {url}");
        String::from_utf8(out).unwrap()
    }

    fn dropped(url: &str) -> String {
        let mut out = Vec::new();
        drop_query(url.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn listed_values_are_redacted_others_kept() {
        let names = ["token", "session"];
        assert_eq!(
            redacted("/a?token=s3cr3t&page=2", &names),
            "/a?token=REDACTED&page=2"
        );
        assert_eq!(redacted("/a?page=2", &names), "/a?page=2");
        assert_eq!(redacted("/a", &names), "/a");
        assert_eq!(redacted("?session=x", &names), "?session=REDACTED");
        assert_eq!(
            redacted("https://example.com/p?q=shoes&token=abc", &names),
            "https://example.com/p?q=shoes&token=REDACTED"
        );
    }

    #[test]
    fn names_are_case_insensitive_and_percent_decoded() {
        let names = ["token", "user name"];
        assert_eq!(redacted("/?TOKEN=a", &names), "/?TOKEN=REDACTED");
        assert_eq!(redacted("/?%74oken=a", &names), "/?%74oken=REDACTED");
        assert_eq!(redacted("/?%54OKEN=a", &names), "/?%54OKEN=REDACTED");
        assert_eq!(redacted("/?user+name=bob", &names), "/?user+name=REDACTED");
        assert_eq!(
            redacted("/?user%20name=bob", &names),
            "/?user%20name=REDACTED"
        );
        assert_eq!(
            redacted("/?tokens=a&xtoken=b", &names),
            "/?tokens=a&xtoken=b"
        );
        assert_eq!(redacted("/?%zztoken=a", &names), "/?%zztoken=a");
    }

    #[test]
    fn repeated_empty_valueless_and_odd_parameters() {
        let names = ["token"];
        assert_eq!(
            redacted("/?token=a&token=b&x=1&token=c", &names),
            "/?token=REDACTED&token=REDACTED&x=1&token=REDACTED"
        );
        assert_eq!(redacted("/?token=&x=1", &names), "/?token=&x=1");
        assert_eq!(redacted("/?token&x=1", &names), "/?token&x=1");
        assert_eq!(redacted("/?token==a=b", &names), "/?token=REDACTED");
        assert_eq!(redacted("/?&&token=a&", &names), "/?&&token=REDACTED&");
        assert_eq!(redacted("/?", &names), "/?");
        assert_eq!(redacted("/?a=1?token=b", &names), "/?a=1?token=b");
        assert_eq!(
            redacted("/?token=%26%3D&x=1", &names),
            "/?token=REDACTED&x=1"
        );
    }

    #[test]
    fn fragments_end_the_query_and_are_redacted_too() {
        let names = ["token", "access_token"];
        assert_eq!(redacted("/p?token=a#top", &names), "/p?token=REDACTED#top");
        assert_eq!(
            redacted("/cb#access_token=xyz&state=1", &names),
            "/cb#access_token=REDACTED&state=1"
        );
        assert_eq!(
            redacted("/cb?x=1#access_token=xyz?token=q", &names),
            "/cb?x=1#access_token=REDACTED"
        );
    }

    #[test]
    fn the_query_starts_at_the_first_question_mark_or_hash() {
        for len in 0..40 {
            for at in 0..len {
                for mark in [b'?', b'#'] {
                    let mut url = vec![b'a'; len];
                    url[at] = mark;
                    if at + 1 < len {
                        url[at + 1] = b'?';
                    }
                    assert_eq!(
                        query_start(&url),
                        Some(at),
                        "{:?}",
                        String::from_utf8_lossy(&url)
                    );
                }
            }
            assert_eq!(query_start(&vec![b'/'; len]), None);
            // Bytes next to `?` and `#` in value (`>`, `"`, `$`, 0xbf) are not them.
            assert_eq!(query_start(&vec![0xbf; len]), None);
            assert_eq!(query_start(&b">\"$@".repeat(len)), None);
        }
    }

    #[test]
    fn dropping_takes_query_and_fragment() {
        assert_eq!(dropped("/a?token=x#f"), "/a");
        assert_eq!(dropped("/a#f"), "/a");
        assert_eq!(dropped("/a"), "/a");
        assert_eq!(dropped("?q=1"), "");
        assert_eq!(dropped("https://e.com/s?q=1"), "https://e.com/s");
    }
}
