//! Byte scans over the short fields of a line: searches for two or three bytes, a one-pass
//! summary (ASCII? control characters?) that decides how much checking and escaping the
//! fields of a line need, and where sixteen bytes hold a given byte.
//!
//! The searches are memchr's. Its top-level `memchr2`/`memchr3` pick AVX2 at run time through
//! a function pointer, which pays off on long haystacks; a log field is a few to a few dozen
//! bytes, where that call costs more than the search. On x86_64 these use memchr's SSE2
//! searchers (SSE2 is part of x86_64), which inline into the caller. [`Bytes16`] is SSE2 on
//! x86_64 too (one compare and one `pmovmskb` per byte asked for; LLVM makes neither out of
//! a byte loop), and a loop elsewhere.

#[cfg(target_arch = "x86_64")]
use memchr::arch::x86_64::sse2::memchr::{Three, Two};

/// The first `b1` or `b2` in `hay`.
#[inline]
pub(crate) fn find2(b1: u8, b2: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(searcher) = Two::new(b1, b2) {
        return searcher.find(hay);
    }
    memchr::memchr2(b1, b2, hay)
}

/// The first `b1`, `b2` or `b3` in `hay`.
#[inline]
pub(crate) fn find3(b1: u8, b2: u8, b3: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(searcher) = Three::new(b1, b2, b3) {
        return searcher.find(hay);
    }
    memchr::memchr3(b1, b2, b3, hay)
}

/// The smallest and largest byte of a line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extremes {
    min: u8,
    max: u8,
}

impl Extremes {
    pub(crate) fn of(s: &[u8]) -> Extremes {
        let Some(last) = s.last_chunk::<16>() else {
            return Extremes {
                min: s.iter().copied().fold(u8::MAX, u8::min),
                max: s.iter().copied().fold(0, u8::max),
            };
        };
        // Sixteen lanes, so that this compiles to vector min/max instructions. The last
        // sixteen bytes stand for the rest (some are looked at twice, which changes nothing).
        let (mut min, mut max) = ([u8::MAX; 16], [0u8; 16]);
        for chunk in s.as_chunks::<16>().0.iter().chain([last]) {
            for i in 0..16 {
                min[i] = min[i].min(chunk[i]);
                max[i] = max[i].max(chunk[i]);
            }
        }
        Extremes {
            min: min.into_iter().fold(u8::MAX, u8::min),
            max: max.into_iter().fold(0, u8::max),
        }
    }

    /// No byte is >= 0x80.
    pub(crate) fn ascii(self) -> bool {
        self.max < 0x80
    }

    /// Some byte is < 0x20 (a control character, which JSON must escape).
    pub(crate) fn control(self) -> bool {
        self.min < 0x20
    }
}

/// Sixteen bytes, asked where they hold a given byte.
#[derive(Clone, Copy)]
pub(crate) struct Bytes16(
    #[cfg(target_arch = "x86_64")] std::arch::x86_64::__m128i,
    #[cfg(not(target_arch = "x86_64"))] [u8; 16],
);

#[cfg(target_arch = "x86_64")]
impl Bytes16 {
    #[inline(always)]
    pub(crate) fn new(bytes: &[u8; 16]) -> Bytes16 {
        use std::arch::x86_64::_mm_loadu_si128;
        // SAFETY: SSE2 is part of x86_64, and the load reads the sixteen bytes of `bytes`,
        // which need no alignment.
        Bytes16(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) })
    }

    /// Bytes 0 to 7 from `low` and 8 to 15 from `high`, each little-endian.
    #[inline(always)]
    pub(crate) fn from_words(low: u64, high: u64) -> Bytes16 {
        use std::arch::x86_64::_mm_set_epi64x;
        // SAFETY: SSE2 is part of x86_64; this only moves two integers into a register.
        Bytes16(unsafe { _mm_set_epi64x(high as i64, low as i64) })
    }

    /// Bit `i` set for each byte `i` that is `b`.
    #[inline(always)]
    pub(crate) fn mask(self, b: u8) -> u64 {
        use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set1_epi8};
        // SAFETY: SSE2 is part of x86_64; these compare registers and read no memory.
        let bits = unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(self.0, _mm_set1_epi8(b as i8))) };
        u64::from(bits as u16)
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Bytes16 {
    #[inline(always)]
    pub(crate) fn new(bytes: &[u8; 16]) -> Bytes16 {
        Bytes16(*bytes)
    }

    /// Bytes 0 to 7 from `low` and 8 to 15 from `high`, each little-endian.
    #[inline(always)]
    pub(crate) fn from_words(low: u64, high: u64) -> Bytes16 {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&low.to_le_bytes());
        bytes[8..].copy_from_slice(&high.to_le_bytes());
        Bytes16(bytes)
    }

    /// Bit `i` set for each byte `i` that is `b`.
    #[inline(always)]
    pub(crate) fn mask(self, b: u8) -> u64 {
        (self.0.iter().enumerate()).fold(0, |m, (i, &c)| m | u64::from(c == b) << i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn find3_is_position(hay in proptest::collection::vec(0u8..8, 0..80), b1 in 0u8..8, b2 in 0u8..8, b3 in 0u8..8) {
            prop_assert_eq!(find3(b1, b2, b3, &hay), hay.iter().position(|&c| c == b1 || c == b2 || c == b3));
        }

        #[test]
        fn find2_is_position(hay in proptest::collection::vec(0u8..6, 0..80), b1 in 0u8..6, b2 in 0u8..6) {
            prop_assert_eq!(find2(b1, b2, &hay), hay.iter().position(|&c| c == b1 || c == b2));
        }

        #[test]
        fn bytes16_masks_are_positions(bytes in proptest::array::uniform16(0u8..4), b in 0u8..4) {
            let expected = (0..16).filter(|&i| bytes[i] == b).fold(0u64, |m, i| m | 1 << i);
            prop_assert_eq!(Bytes16::new(&bytes).mask(b), expected);
            let low = u64::from_le_bytes(bytes[..8].try_into().unwrap());
            let high = u64::from_le_bytes(bytes[8..].try_into().unwrap());
            prop_assert_eq!(Bytes16::from_words(low, high).mask(b), expected);
        }

        #[test]
        fn extremes(s in proptest::collection::vec(any::<u8>(), 0..80)) {
            let e = Extremes::of(&s);
            prop_assert_eq!(e.ascii(), s.is_ascii());
            prop_assert_eq!(e.control(), s.iter().any(|&b| b < 0x20));
        }
    }
}
