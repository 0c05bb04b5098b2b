//! The wall clock, read in one place: microseconds since the Unix epoch, as records
//! (`received_at`) and the spool store them.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in microseconds since the Unix epoch; 0 for a clock set before 1970.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
