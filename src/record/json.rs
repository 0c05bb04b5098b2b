//! JSON string escaping, byte for byte what serde_json writes.

use super::buf::Buf;

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
pub(super) fn write_str(out: &mut Buf, s: &[u8]) {
    out.push(b'"');
    write_rest(out, s);
}

/// [`write_str`] after the opening quote has been written. True when `s` needed no
/// escapes.
pub(super) fn write_rest(out: &mut Buf, s: &[u8]) -> bool {
    write::<false>(out, s).unwrap_or(false)
}

/// [`write_rest`], unless `s` holds a `\`: then `None`, with part of it written.
pub(super) fn write_plain(out: &mut Buf, s: &[u8]) -> Option<bool> {
    write::<true>(out, s)
}

#[inline]
fn write<const STOP_AT_BACKSLASH: bool>(out: &mut Buf, s: &[u8]) -> Option<bool> {
    let mut verbatim = true;
    let mut i = copy_plain(out, s, 0);
    while let Some(&b) = s.get(i) {
        if STOP_AT_BACKSLASH && b == b'\\' {
            return None;
        }
        verbatim = false;
        escape(out, b);
        i = copy_plain(out, s, i + 1);
    }
    out.push(b'"');
    Some(verbatim)
}

/// Copies `s[i..]` up to the first byte that needs escaping, whose index it returns
/// (`s.len()` if none). Eight bytes at a time are copied, then checked by word arithmetic
/// and kept up to the first such byte; the last few are taken from the word that ends
/// `s`, shifted.
#[inline]
fn copy_plain(out: &mut Buf, s: &[u8], mut i: usize) -> usize {
    while let Some(w) = s.get(i..i + 8).and_then(|w| w.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*w);
        out.stage(w);
        let mask = specials(w);
        if mask != 0 {
            // The lowest flagged byte is exact (false flags only follow a true one).
            let k = mask.trailing_zeros() as usize / 8;
            out.advance(k);
            return i + k;
        }
        out.advance(8);
        i += 8;
    }
    let rest = s.len() - i;
    if rest == 0 {
        return i;
    }
    if let Some(last) = s.last_chunk::<8>() {
        let w = u64::from_le_bytes(*last) >> (8 * (8 - rest));
        out.stage(w);
        let mask = specials(w) & ((1 << (8 * rest)) - 1);
        let k = if mask == 0 {
            rest
        } else {
            mask.trailing_zeros() as usize / 8
        };
        out.advance(k);
        return i + k;
    }
    let k = s[i..]
        .iter()
        .position(|&b| ESCAPE[b as usize] != 0)
        .unwrap_or(rest);
    out.put(&s[i..i + k]);
    i + k
}

/// The high bit of each byte of `w` that is < 0x20, `"` or `\` (and maybe of bytes above
/// the lowest such byte).
#[inline]
fn specials(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
}

/// Appends the escape sequence of `b`, which needs one.
fn escape(out: &mut Buf, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPE[b as usize] {
        b'u' => out.put(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
        ]),
        e => out.put(&[b'\\', e]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::buf::Buf;
    use proptest::prelude::*;

    fn written(s: &str) -> Vec<u8> {
        let mut out = Buf::default();
        super::write_str(&mut out, s.as_bytes());
        out.as_slice().to_vec()
    }

    proptest! {
        #[test]
        fn same_as_serde_json(s in any::<String>()) {
            prop_assert_eq!(written(&s), serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn same_as_serde_json_for_control_chars(s in "[\\x00-\\x7f\"\\\\]{0,40}") {
            prop_assert_eq!(written(&s), serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn plain_stops_at_a_backslash(s in "[a-z\"\\\\\\x00-\\x1f]{0,40}") {
            let mut out = Buf::default();
            let plain = super::write_plain(&mut out, s.as_bytes());
            prop_assert_eq!(plain.is_none(), s.contains('\\'));
            if let Some(verbatim) = plain {
                prop_assert_eq!(verbatim, serde_json::to_string(&s).unwrap().len() == s.len() + 2);
                prop_assert_eq!(out.as_slice(), &serde_json::to_vec(&s).unwrap()[1..]);
            }
        }
    }
}
