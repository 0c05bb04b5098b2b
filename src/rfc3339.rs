//! RFC 3339 text for UTC instants, written digit by digit: the `%t` timestamps of
//! `logformat` and the `received_at` of `record` (`2000-10-10T20:55:36.123456Z`).

use chrono::{DateTime, Datelike, Timelike};

/// `2000-10-10T20:55:36` for a Unix time; `None` outside years 1..=9999.
pub(crate) fn base(secs: i64) -> Option<[u8; 19]> {
    let dt = DateTime::from_timestamp(secs, 0)?;
    let year = dt.year();
    if !(1..=9999).contains(&year) {
        return None;
    }
    let mut b = *b"0000-00-00T00:00:00";
    put_digits(&mut b[0..4], year as u32);
    put_digits(&mut b[5..7], dt.month());
    put_digits(&mut b[8..10], dt.day());
    put_digits(&mut b[11..13], dt.hour());
    put_digits(&mut b[14..16], dt.minute());
    put_digits(&mut b[17..19], dt.second());
    Some(b)
}

/// `2000-10-10T20:55:36.123456Z` for microseconds since the Unix epoch; `None` outside
/// years 1..=9999.
pub(crate) fn micros(us: i64) -> Option<[u8; 27]> {
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    text[..19].copy_from_slice(&base(us.div_euclid(1_000_000))?);
    put_digits(&mut text[20..26], us.rem_euclid(1_000_000) as u32);
    Some(text)
}

/// Writes `v` zero-padded into all of `dst` (the digits that do not fit are dropped).
pub(crate) fn put_digits(dst: &mut [u8], mut v: u32) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        assert_eq!(&base(971_211_336).unwrap(), b"2000-10-10T20:55:36");
        assert_eq!(
            &micros(1_793_531_702_123_456).unwrap(),
            b"2026-11-01T11:15:02.123456Z"
        );
        assert_eq!(&micros(-1).unwrap(), b"1969-12-31T23:59:59.999999Z");
        assert_eq!(base(-62_135_596_801), None);
        assert_eq!(base(253_402_300_800), None);
        assert!(base(253_402_300_799).is_some());
    }
}
