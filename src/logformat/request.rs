//! Splitting a request line (`%r`, already unescaped) into method, target and protocol.
//!
//! Well-formed is `METHOD SP TARGET SP HTTP/d[.d]` with METHOD an HTTP token starting with a
//! letter (so `- - HTTP/1.0` is not a request); the target may
//! itself contain spaces (older httpd logged such requests). `GET /path` (HTTP/0.9 style,
//! target starting with `/`) gives method and target without protocol. Anything else (`-`,
//! `""`, TLS handshakes, `open 1.2.3.4 80`, `<SCRIPT>...`) gives none of the three.

use memchr::memrchr;

/// Byte ranges of the parts within the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestParts {
    pub(crate) method: (usize, usize),
    pub(crate) target: (usize, usize),
    pub(crate) protocol: Option<(usize, usize)>,
}

/// Length of ` HTTP/d.d`, the usual end of a request line.
const SP_PROTOCOL: usize = 9;

/// Splits `line`; `None` when it is not a request line.
pub(crate) fn split_request(line: &[u8]) -> Option<RequestParts> {
    // The method ends at its first byte that is not a token character, which must be a space.
    let sp = line.iter().position(|&b| !is_tchar(b))?;
    if line[sp] != b' ' || !line[0].is_ascii_alphabetic() {
        return None;
    }
    let rest = sp + 1;
    let with_protocol = |last: usize| RequestParts {
        method: (0, sp),
        target: (rest, last),
        protocol: Some((last + 1, line.len())),
    };
    // The usual ` HTTP/d.d` end holds the last space, which then need not be searched for.
    if let Some(at) = line.len().checked_sub(SP_PROTOCOL)
        && at > rest
        && line[at] == b' '
        && is_protocol(&line[at + 1..])
    {
        return Some(with_protocol(at));
    }
    let last = rest + memrchr(b' ', &line[rest..]).unwrap_or(line.len() - rest);
    if last < line.len() {
        if last == rest || !is_protocol(&line[last + 1..]) {
            return None;
        }
        return Some(with_protocol(last));
    }
    (line.get(rest) == Some(&b'/')).then_some(RequestParts {
        method: (0, sp),
        target: (rest, line.len()),
        protocol: None,
    })
}

/// An RFC 9110 token character.
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// [`is_tchar`] for every byte, looked up rather than computed: methods are checked byte by
/// byte on every line.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < others.len() {
        t[others[i] as usize] = true;
        i += 1;
    }
    t
};

/// `HTTP/1.1`, `HTTP/2`, `HTTP/2.0`.
fn is_protocol(p: &[u8]) -> bool {
    let Some(v) = p.strip_prefix(b"HTTP/") else {
        return false;
    };
    match v {
        [d] => d.is_ascii_digit(),
        [d, b'.', e] => d.is_ascii_digit() && e.is_ascii_digit(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(line: &str) -> Option<(&str, &str, Option<&str>)> {
        let p = split_request(line.as_bytes())?;
        let s = |r: (usize, usize)| &line[r.0..r.1];
        Some((s(p.method), s(p.target), p.protocol.map(s)))
    }

    #[test]
    fn well_formed() {
        assert_eq!(
            parts("GET /a?b=c HTTP/1.1"),
            Some(("GET", "/a?b=c", Some("HTTP/1.1")))
        );
        assert_eq!(
            parts("OPTIONS * HTTP/1.0"),
            Some(("OPTIONS", "*", Some("HTTP/1.0")))
        );
        assert_eq!(
            parts("CONNECT example.com:443 HTTP/2"),
            Some(("CONNECT", "example.com:443", Some("HTTP/2")))
        );
        assert_eq!(
            parts("GET /a b HTTP/1.0"),
            Some(("GET", "/a b", Some("HTTP/1.0")))
        );
        assert_eq!(parts("GET /"), Some(("GET", "/", None)));
    }

    #[test]
    fn garbage() {
        for line in [
            "-",
            "",
            "\u{16}\u{3}\u{1}",
            "<SCRIPT>x</SCRIPT> / HTTP/1.1",
            "open 192.0.2.1 80",
            "192.0.2.1 80",
            "GET  HTTP/1.1",
            "GET / HTTP/x",
            " / HTTP/1.1",
            "GET ",
            "- - HTTP/1.0",
        ] {
            assert_eq!(parts(line), None, "{line:?}");
        }
    }
}
