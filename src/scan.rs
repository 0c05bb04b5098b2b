//! A one-pass summary of a line: whether it is ASCII and whether it holds control characters,
//! which decide how much checking and escaping its fields need.

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn extremes(s in proptest::collection::vec(any::<u8>(), 0..80)) {
            let e = Extremes::of(&s);
            prop_assert_eq!(e.ascii(), s.is_ascii());
            prop_assert_eq!(e.control(), s.iter().any(|&b| b < 0x20));
        }
    }
}
