//! A sleep with nanosecond resolution for the open-loop schedule.
//!
//! tokio's timer wheel ticks in milliseconds, which would bunch a 5,000/s
//! schedule into groups of five. A timerfd armed at an absolute
//! CLOCK_MONOTONIC time and polled through tokio's reactor wakes the worker
//! at the intended instant, without spinning.

use std::io;
use std::os::fd::OwnedFd;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::clock::mono_ns;

/// Registers the timerfd with the reactor for readability.
#[allow(unsafe_code)]
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: tokio requires the raw fd to be open and to keep referring to
    // the same file description for as long as the AsyncFd lives, and
    // `as_raw_fd` to always return it. The AsyncFd takes ownership of the
    // OwnedFd, which closes the fd only when dropped (with the AsyncFd, after
    // deregistration), and OwnedFd::as_raw_fd returns the fd it was built
    // from, unchanged, every time.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

/// A one-shot timer on CLOCK_MONOTONIC.
pub(crate) struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
}

impl PreciseTimer {
    /// Creates the timerfd and registers it with the current runtime.
    pub(crate) fn new() -> io::Result<PreciseTimer> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(PreciseTimer { fd: register(fd)? })
    }

    /// Sleeps until CLOCK_MONOTONIC reaches `deadline_mono_ns`.
    pub(crate) async fn sleep_until(&self, deadline_mono_ns: u64) -> io::Result<()> {
        if deadline_mono_ns <= mono_ns() {
            return Ok(());
        }
        let value = Timespec {
            tv_sec: (deadline_mono_ns / 1_000_000_000) as i64,
            tv_nsec: (deadline_mono_ns % 1_000_000_000) as i64,
        };
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::ABSTIME, &spec)?;
        loop {
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match guard.try_io(|fd| {
                rustix::io::read(fd.get_ref(), &mut expirations).map_err(io::Error::from)
            }) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}
