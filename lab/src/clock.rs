//! Wall-clock time as the rest of seamless records it.

use std::time::{SystemTime, UNIX_EPOCH};

/// CLOCK_REALTIME now, ns since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
