//! Waiting that a stop request (Ctrl+C, SIGTERM) cuts short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The lab was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Sleeps up to `d`, waking early (with [`Interrupted`]) when `stop` is set.
pub fn sleep(d: Duration, stop: &AtomicBool) -> Result<(), Interrupted> {
    let end = Instant::now() + d;
    loop {
        check(stop)?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(10)));
    }
}

/// [`Interrupted`] when `stop` is set.
pub fn check(stop: &AtomicBool) -> Result<(), Interrupted> {
    if stop.load(Ordering::Relaxed) {
        Err(Interrupted)
    } else {
        Ok(())
    }
}
