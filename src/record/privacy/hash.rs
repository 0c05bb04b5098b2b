//! Keyed pseudonyms: HMAC-SHA256 of a value under the site's key, written as the first 16
//! bytes of the MAC in base64url without padding (22 characters).
//!
//! The same value and key give the same pseudonym on every host and in every process, so
//! distinct counts and joins still work on the pseudonyms; another key gives unrelated ones.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The length of a pseudonym in characters.
pub const PSEUDONYM_LEN: usize = 22;
/// The fewest bytes a key may have.
pub const MIN_KEY_BYTES: usize = 16;
/// Bytes of the MAC a pseudonym keeps.
const KEPT_BYTES: usize = 16;

/// A key refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key has {0} bytes, fewer than {MIN_KEY_BYTES}")]
    Short(usize),
}

/// The site's key, ready to make pseudonyms (the HMAC state after the key, so each
/// pseudonym costs two SHA-256 blocks for a short value).
#[derive(Clone)]
pub struct HashKey {
    mac: Hmac<Sha256>,
}

impl HashKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(key: &[u8]) -> Result<HashKey, KeyError> {
        match key.len() {
            0 => return Err(KeyError::Empty),
            n if n < MIN_KEY_BYTES => return Err(KeyError::Short(n)),
            _ => {}
        }
        // HMAC takes keys of any length.
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| KeyError::Short(key.len()))?;
        Ok(HashKey { mac })
    }

    /// The pseudonym of `value`.
    pub fn pseudonym(&self, value: &[u8]) -> [u8; PSEUDONYM_LEN] {
        let mac = self.mac.clone().chain_update(value).finalize().into_bytes();
        let mut kept = [0u8; KEPT_BYTES];
        kept.copy_from_slice(&mac[..KEPT_BYTES]);
        base64url(&kept)
    }
}

/// Keys are never printed, not even in debug output.
impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(..)")
    }
}

/// 16 bytes in base64url (RFC 4648 section 5) without padding.
fn base64url(bytes: &[u8; KEPT_BYTES]) -> [u8; PSEUDONYM_LEN] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = [0u8; PSEUDONYM_LEN];
    let bits = u128::from_be_bytes(*bytes);
    // 21 full characters of 6 bits, then the last 2 bits padded with zeros to 6.
    for (i, c) in out.iter_mut().enumerate().take(PSEUDONYM_LEN - 1) {
        *c = ALPHABET[(bits >> (122 - 6 * i) & 0x3f) as usize];
    }
    out[PSEUDONYM_LEN - 1] = ALPHABET[((bits & 0x3) << 4) as usize];
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn base64url_is_rfc_4648_without_padding() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for bytes in [[0u8; 16], [0xff; 16], *b"\xfb\xef\xbe0123456789abc"] {
            assert_eq!(
                base64url(&bytes).to_vec(),
                engine.encode(bytes).into_bytes()
            );
        }
    }

    #[test]
    fn pseudonyms_are_hmac_sha256_cut_to_16_bytes() {
        // Checked against an independent implementation:
        // python3 -c 'import hmac; print(hmac.new(KEY, b"1.2.3.4", "sha256").digest()[:16])'
        let key = HashKey::new(KEY).unwrap();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let expected = engine.encode(
            [
                0x72, 0xce, 0xb8, 0x3c, 0x11, 0xa9, 0x82, 0x10, 0x8c, 0xf5, 0xef, 0xfa, 0x99, 0xb6,
                0xe1, 0xa9,
            ]
            .as_slice(),
        );
        assert_eq!(
            String::from_utf8(key.pseudonym(b"1.2.3.4").to_vec()).unwrap(),
            expected
        );
    }

    #[test]
    fn same_value_same_key_same_pseudonym_another_key_another() {
        let a = HashKey::new(KEY).unwrap();
        let again = HashKey::new(KEY).unwrap();
        let b = HashKey::new(b"another key of 32 bytes, really!").unwrap();
        assert_eq!(a.pseudonym(b"alice"), again.pseudonym(b"alice"));
        assert_ne!(a.pseudonym(b"alice"), a.pseudonym(b"bob"));
        assert_ne!(a.pseudonym(b"alice"), b.pseudonym(b"alice"));
    }

    #[test]
    fn short_and_empty_keys_are_refused_and_never_printed() {
        assert_eq!(HashKey::new(b"").unwrap_err(), KeyError::Empty);
        assert_eq!(HashKey::new(b"short").unwrap_err(), KeyError::Short(5));
        assert_eq!(format!("{:?}", HashKey::new(KEY).unwrap()), "HashKey(..)");
    }
}
