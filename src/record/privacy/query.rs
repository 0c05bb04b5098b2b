//! URLs (a request target, a Referer, `%U`, `%q`) with the values of some query parameters
//! replaced by `REDACTED`, or without their query.
//!
//! Works on the text as httpd logged it (escaped): the bytes that delimit a query (`?`,
//! `#`, `&`, `=`) are printable, which httpd never escapes, so no escape sequence is cut.
//! The query is what follows the first `?` up to a `#`; what follows a `#` (a fragment,
//! where some sign-in flows put tokens) is read as parameters too. Parameters are separated
//! by `&`; a parameter's name is compared percent-decoded (`+` is a space) and without
//! regard to ASCII case; a parameter without `=` or with an empty value is left as it is.

use memchr::{memchr, memchr2};

/// What replaces a redacted value.
pub const REDACTED: &[u8] = b"REDACTED";

/// The names of the parameters whose values are redacted, lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Names(Vec<Vec<u8>>);

impl Names {
    pub(super) fn new(names: &[String]) -> Names {
        Names(
            names
                .iter()
                .map(|n| n.to_ascii_lowercase().into_bytes())
                .collect(),
        )
    }

    /// Whether the parameter named `raw` (as written in the URL) is one of these.
    fn matches(&self, raw: &[u8], scratch: &mut Vec<u8>) -> bool {
        let name = if raw.iter().any(|&b| b == b'%' || b == b'+') {
            scratch.clear();
            percent_decode(raw, scratch);
            &scratch[..]
        } else {
            raw
        };
        self.0.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Where the query (or fragment) of `url` starts: at its first `?` or `#`.
#[inline]
pub(super) fn query_start(url: &[u8]) -> Option<usize> {
    memchr2(b'?', b'#', url)
}

/// Appends `url` to `out` with the values of `names` redacted. `scratch` holds a decoded
/// parameter name while it is compared.
pub(super) fn redact(url: &[u8], names: &Names, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    let Some(start) = query_start(url) else {
        out.extend_from_slice(url);
        return;
    };
    out.extend_from_slice(&url[..start]);
    let mut rest = &url[start..];
    // Each round: one delimiter (`?` or `#`), then its parameters.
    while let Some((&delimiter, after)) = rest.split_first() {
        out.push(delimiter);
        let end = if delimiter == b'?' {
            memchr(b'#', after).unwrap_or(after.len())
        } else {
            after.len()
        };
        params(&after[..end], names, out, scratch);
        rest = &after[end..];
    }
}

/// Appends the parameters `query` (without its delimiter), redacted.
fn params(query: &[u8], names: &Names, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    for (i, param) in query.split(|&b| b == b'&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        match memchr(b'=', param) {
            Some(eq) if eq + 1 < param.len() && names.matches(&param[..eq], scratch) => {
                out.extend_from_slice(&param[..=eq]);
                out.extend_from_slice(REDACTED);
            }
            _ => out.extend_from_slice(param),
        }
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
    use super::*;

    fn redacted(url: &str, names: &[&str]) -> String {
        let names = Names::new(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        redact(url.as_bytes(), &names, &mut out, &mut scratch);
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
    fn dropping_takes_query_and_fragment() {
        assert_eq!(dropped("/a?token=x#f"), "/a");
        assert_eq!(dropped("/a#f"), "/a");
        assert_eq!(dropped("/a"), "/a");
        assert_eq!(dropped("?q=1"), "");
        assert_eq!(dropped("https://e.com/s?q=1"), "https://e.com/s");
    }
}
