//! A small memo of the last transforms of short values: the same client address (or user)
//! is on many lines in a row, and its pseudonym or truncation is looked up rather than made
//! again.
//!
//! Two-way set-associative: a hash of a value's bytes (of an address, read as three words,
//! without a loop) chooses its set of two slots; a new value takes the first slot and moves
//! the one there to the second, so the older of the two is the one forgotten. 256 sets
//! (about 56 KiB) hold the clients of a few dozen visits under way at once. With one slot
//! per value, two clients of one slot put each other out: 32 concurrent visits missed on
//! 14% of their lines, against 8.8% with two (8.3% are a client's first); each miss is an
//! address parse and, with `hash`, an HMAC. Values and results longer than [`MAX`] bytes
//! are not kept.

/// The sets, of two slots each.
const SETS: usize = 256;
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
    /// Set `s` is `slots[2 * s]` (its newest value) and `slots[2 * s + 1]`.
    slots: Box<[Slot; 2 * SETS]>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

impl Default for Memo {
    fn default() -> Memo {
        Memo {
            slots: Box::new([EMPTY; 2 * SETS]),
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
        let first = 2 * set_of(value)?;
        let holds = |i: usize| {
            let slot = &self.slots[i];
            usize::from(slot.value_len) == value.len() && same(&slot.value[..value.len()], value)
        };
        if holds(first) {
            return Some(first);
        }
        holds(first + 1).then_some(first + 1)
    }

    /// The result remembered in slot `i` (`None`: null).
    #[inline]
    pub(super) fn result(&self, i: usize) -> Option<&[u8]> {
        let slot = &self.slots[i];
        (slot.result_len != NULL).then(|| &slot.result[..usize::from(slot.result_len)])
    }

    /// Remembers that `value` (not remembered yet) gives `result` (`None`: null), in the
    /// first slot of its set; the value there moves to the second, whose value is forgotten.
    #[inline]
    pub(super) fn put(&mut self, value: &[u8], result: Option<&[u8]>) {
        let Some(set) = set_of(value) else { return };
        if result.is_some_and(|r| r.len() > MAX) {
            return;
        }
        let first = 2 * set;
        self.slots[first + 1] = self.slots[first];
        let slot = &mut self.slots[first];
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

/// Whether `a` and `b`, as long as each other, are the same. Words are compared in
/// registers: compared as arrays, they were stored and read back as one vector, which the
/// processor cannot forward from the two stores (a stall on every look-up).
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    match (words(a), words(b)) {
        (Some([a0, a1, a2]), Some([b0, b1, b2])) => (a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2) == 0,
        _ => a == b,
    }
}

/// The set of `value`; `None` when it is empty or too long to keep.
#[inline]
fn set_of(value: &[u8]) -> Option<usize> {
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
    Some((h.wrapping_mul(K) >> 56) as usize % SETS)
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

    #[test]
    fn a_set_keeps_its_two_newest_values() {
        // Three addresses of one set.
        let set = set_of(b"10.0.0.0");
        let same_set: Vec<String> = (0..100_000u32)
            .map(|i| format!("10.{}.{}.{}", i >> 16, i >> 8 & 0xff, i & 0xff))
            .filter(|v| set_of(v.as_bytes()) == set)
            .take(3)
            .collect();
        let [a, b, c] = [0, 1, 2].map(|i| same_set[i].as_bytes());
        let mut memo = Memo::default();
        memo.put(a, Some(b"A"));
        memo.put(b, None);
        assert_eq!(memo.get(a), Some(Some(&b"A"[..])));
        assert_eq!(memo.get(b), Some(None));
        memo.put(c, Some(b"C"));
        assert_eq!(memo.get(a), None);
        assert_eq!(memo.get(b), Some(None));
        assert_eq!(memo.get(c), Some(Some(&b"C"[..])));
    }
}
