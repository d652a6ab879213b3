//! Backing off on local errors.
//!
//! A local error (no file descriptor, no ephemeral port, no buffer) is the
//! prober's own trouble and usually lasts: retried at once, a closed-loop
//! worker spins, writing hundreds of thousands of identical records a
//! second. After one, the worker waits before its next attempt: 1 ms, then
//! twice as long after each further local error, up to 1 s; any other
//! outcome ends the backoff. The open loop skips the slots its schedule
//! meant to start during the wait (counted in the summary as
//! `skipped_local_backoff`, never written as probes). The first backoff of a
//! run is said once on stderr.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use seamless_proto::Outcome;

/// The first wait after a local error, ns.
pub(crate) const FIRST_NS: u64 = 1_000_000;
/// The longest wait, ns.
pub(crate) const MAX_NS: u64 = 1_000_000_000;

/// The wait after a local error, doubling while they last.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    delay_ns: Cell<u64>,
    /// Monotonic ns until which no new attempt starts.
    until_mono: Cell<u64>,
}

impl Backoff {
    /// Notes a probe's outcome, which ended at `now_mono`: a local error
    /// starts or lengthens the wait (once per wait: the probes of a burst
    /// count as one), anything else ends it. Returns whether a wait began.
    pub(crate) fn note(&self, outcome: Outcome, now_mono: u64) -> bool {
        if !outcome.is_local() {
            self.delay_ns.set(0);
            return false;
        }
        if now_mono < self.until_mono.get() {
            return false;
        }
        let delay = match self.delay_ns.get() {
            0 => FIRST_NS,
            d => (d * 2).min(MAX_NS),
        };
        self.delay_ns.set(delay);
        self.until_mono.set(now_mono + delay);
        true
    }

    /// Monotonic ns until which attempts wait (in the past when none).
    pub(crate) fn until_mono(&self) -> u64 {
        self.until_mono.get()
    }
}

/// Says, once per run, that the prober is backing off on a local error.
pub(crate) fn say_once(said: &AtomicBool, outcome: Outcome) {
    if said.swap(true, Ordering::Relaxed) {
        return;
    }
    let cause = match outcome {
        Outcome::LocalFdExhausted => {
            "the agent is out of file descriptors (raise `ulimit -n`, or lower --concurrency/--rate/--timeout)"
        }
        Outcome::LocalPortExhausted => {
            "no local port or address is free (widen net.ipv4.ip_local_port_range, or lower the rate)"
        }
        Outcome::LocalNoBuffers => "the kernel is out of buffers or memory",
        _ => "a local error of the agent's own (a firewall on this host?)",
    };
    tracing::warn!(
        "local error {outcome}: {cause}; backing off (1 ms, doubling up to 1 s, until a probe gets through) so the log is not flooded; these are never counted as downtime (said once)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_once_per_wait_and_resets() {
        let b = Backoff::default();
        assert!(b.note(Outcome::LocalFdExhausted, 0));
        assert_eq!(b.until_mono(), FIRST_NS);
        assert!(!b.note(Outcome::LocalFdExhausted, 10), "same burst");
        assert!(b.note(Outcome::LocalFdExhausted, FIRST_NS));
        assert_eq!(b.until_mono(), FIRST_NS + 2 * FIRST_NS);
        for i in 0..40 {
            b.note(Outcome::LocalFdExhausted, 10 * MAX_NS * (i + 1));
        }
        assert_eq!(b.until_mono() - 400 * MAX_NS, MAX_NS);
        assert!(!b.note(Outcome::Ok, 500 * MAX_NS));
        assert!(b.note(Outcome::LocalPortExhausted, 500 * MAX_NS));
        assert_eq!(b.until_mono(), 500 * MAX_NS + FIRST_NS);
    }
}
