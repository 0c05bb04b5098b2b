//! Undoing httpd's `ap_escape_logitem`: `\"`, `\\`, `\xhh` and the C escapes `\b \n \r \t \v`
//! (plus `\a \f`, which other writers of this format use). Unknown escapes stay as written.

use memchr::memchr;

/// Appends `src` unescaped to `dst`. Returns true when a `\xhh` produced a byte >= 0x80,
/// i.e. when the result may not be UTF-8 even though `src` is.
pub(crate) fn unescape_into(src: &[u8], dst: &mut Vec<u8>) -> bool {
    let mut high = false;
    let mut rest = src;
    while let Some(i) = memchr(b'\\', rest) {
        dst.extend_from_slice(&rest[..i]);
        let (byte, used) = match rest.get(i + 1) {
            Some(b'"') => (b'"', 2),
            Some(b'\\') => (b'\\', 2),
            Some(b'n') => (b'\n', 2),
            Some(b't') => (b'\t', 2),
            Some(b'r') => (b'\r', 2),
            Some(b'v') => (0x0b, 2),
            Some(b'f') => (0x0c, 2),
            Some(b'b') => (0x08, 2),
            Some(b'a') => (0x07, 2),
            Some(b'x') => match (hex(rest.get(i + 2)), hex(rest.get(i + 3))) {
                (Some(h), Some(l)) => (h << 4 | l, 4),
                _ => (b'\\', 1),
            },
            _ => (b'\\', 1),
        };
        high |= byte >= 0x80;
        dst.push(byte);
        rest = &rest[i + used..];
    }
    dst.extend_from_slice(rest);
    high
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match *b? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        c @ b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(s: &[u8]) -> (Vec<u8>, bool) {
        let mut v = Vec::new();
        let high = unescape_into(s, &mut v);
        (v, high)
    }

    #[test]
    fn apache_escapes_are_undone() {
        assert_eq!(un(br#"a \"q\" \\ b"#), (br#"a "q" \ b"#.to_vec(), false));
        assert_eq!(
            un(br"\n\t\r\v\f\b\a"),
            (b"\n\t\r\x0b\x0c\x08\x07".to_vec(), false)
        );
        assert_eq!(un(br"\x16\x03\x01"), (b"\x16\x03\x01".to_vec(), false));
        assert_eq!(un(br"\xe4\xE5"), (b"\xe4\xe5".to_vec(), true));
    }

    #[test]
    fn unknown_or_cut_escapes_stay() {
        assert_eq!(un(br"\q\x4"), (br"\q\x4".to_vec(), false));
        assert_eq!(un(br"end\"), (br"end\".to_vec(), false));
        assert_eq!(un(br"\xzz"), (br"\xzz".to_vec(), false));
    }
}
