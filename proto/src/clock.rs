//! Wall-clock time as every part of seamless records it.

use std::time::{SystemTime, UNIX_EPOCH};

/// CLOCK_REALTIME now, ns since the Unix epoch.
///
/// A clock before 1970 reads as 0 and one past 2262 (beyond `i64` ns) as
/// `i64::MAX`: both are impossible on a machine fit to run an experiment,
/// and neither panics.
pub fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2020() {
        assert!(super::now_ns() > 1_577_836_800_000_000_000);
    }
}
