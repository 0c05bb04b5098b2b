//! A small memo of the last transforms of short values: the same client address (or user)
//! is on many lines in a row, and its pseudonym or truncation is looked up rather than made
//! again.
//!
//! Direct-mapped: each value has one slot, chosen by a hash of its bytes (of an address,
//! read as three words, without a loop); a value in a taken slot replaces the one there. 256 slots hold the clients of a few dozen visits under way
//! at once with few collisions (about 28 KiB). Values and results longer than
//! [`MAX`] bytes are not kept.

/// The slots.
const SLOTS: usize = 256;
/// The longest value or result kept: an IPv6 address with a port in brackets is at most 53.
const MAX: usize = 54;
/// A result that is no value (null).
const NULL: u8 = u8::MAX;

#[derive(Clone, Copy)]
struct Slot {
    /// Length of `value`; 0 for an empty slot (empty values are not kept).
    value_len: u8,
    value: [u8; MAX],
    /// Length of `result`, or [`NULL`].
    result_len: u8,
    result: [u8; MAX],
}

const EMPTY: Slot = Slot {
    value_len: 0,
    value: [0; MAX],
    result_len: NULL,
    result: [0; MAX],
};

/// Remembered results by value.
pub(super) struct Memo {
    slots: Box<[Slot; SLOTS]>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

impl Default for Memo {
    fn default() -> Memo {
        Memo {
            slots: Box::new([EMPTY; SLOTS]),
        }
    }
}

impl Memo {
    /// The remembered result of `value`: `Some(None)` for null, `None` when not known.
    #[inline]
    pub(super) fn get(&self, value: &[u8]) -> Option<Option<&[u8]>> {
        self.find(value).map(|i| self.result(i))
    }

    /// The slot that remembers `value`, if one does (for [`Memo::result`]).
    #[inline(always)]
    pub(super) fn find(&self, value: &[u8]) -> Option<usize> {
        let i = slot_of(value)?;
        let slot = &self.slots[i];
        (usize::from(slot.value_len) == value.len() && same(&slot.value[..value.len()], value))
            .then_some(i)
    }

    /// The result remembered in slot `i` (`None`: null).
    #[inline]
    pub(super) fn result(&self, i: usize) -> Option<&[u8]> {
        let slot = &self.slots[i];
        (slot.result_len != NULL).then(|| &slot.result[..usize::from(slot.result_len)])
    }

    /// Remembers that `value` gives `result` (`None`: null).
    #[inline]
    pub(super) fn put(&mut self, value: &[u8], result: Option<&[u8]>) {
        let Some(i) = slot_of(value) else { return };
        if result.is_some_and(|r| r.len() > MAX) {
            return;
        }
        let slot = &mut self.slots[i];
        slot.value[..value.len()].copy_from_slice(value);
        slot.value_len = value.len() as u8;
        match result {
            Some(r) => {
                slot.result[..r.len()].copy_from_slice(r);
                slot.result_len = r.len() as u8;
            }
            None => slot.result_len = NULL,
        }
    }
}

/// Three words that hold every byte of a value of 8 to 24 bytes (an IPv4 address, most IPv6
/// ones): its first, middle and last eight, which overlap; read without a loop or a call.
#[inline(always)]
fn words(value: &[u8]) -> Option<[u64; 3]> {
    let n = value.len();
    if !(8..=24).contains(&n) {
        return None;
    }
    let word = |at: usize| {
        value[at..]
            .first_chunk::<8>()
            .map(|w| u64::from_le_bytes(*w))
    };
    Some([word(0)?, word(n / 2 - 4)?, word(n - 8)?])
}

/// Whether `a` and `b`, as long as each other, are the same.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    match (words(a), words(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// The slot of `value`; `None` when it is empty or too long to keep.
#[inline]
fn slot_of(value: &[u8]) -> Option<usize> {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    if value.is_empty() || value.len() > MAX {
        return None;
    }
    let mut h = value.len() as u64;
    if let Some([first, middle, last]) = words(value) {
        h ^= first ^ middle.rotate_left(21) ^ last.rotate_left(42);
    } else {
        for chunk in value.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(word))
                .wrapping_mul(K)
                .rotate_left(29);
        }
    }
    Some((h.wrapping_mul(K) >> 56) as usize % SLOTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_results_and_nulls_and_forgets_what_is_replaced() {
        let mut memo = Memo::default();
        assert_eq!(memo.get(b"1.2.3.4"), None);
        memo.put(b"1.2.3.4", Some(b"1.2.3.0"));
        memo.put(b"host.example", None);
        assert_eq!(memo.get(b"1.2.3.4"), Some(Some(&b"1.2.3.0"[..])));
        assert_eq!(memo.get(b"host.example"), Some(None));
        assert_eq!(memo.get(b"1.2.3.5"), None);
        // Many values: each one read back is its own result, never another's.
        for i in 0..1000u32 {
            let value = format!("10.0.{}.{}", i / 256, i % 256);
            memo.put(value.as_bytes(), Some(format!("r{i}").as_bytes()));
        }
        for i in 0..1000u32 {
            let value = format!("10.0.{}.{}", i / 256, i % 256);
            if let Some(result) = memo.get(value.as_bytes()) {
                assert_eq!(result, Some(format!("r{i}").as_bytes()));
            }
        }
        let long = [b'a'; MAX + 1];
        memo.put(&long, Some(b"x"));
        assert_eq!(memo.get(&long), None);
        memo.put(b"", Some(b"x"));
        assert_eq!(memo.get(b""), None);
    }
}
