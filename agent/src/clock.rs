//! Clocks: CLOCK_MONOTONIC for every measurement, CLOCK_REALTIME only for the
//! anchor that maps monotonic times onto the wall clock.

use rustix::time::{ClockId, Timespec, clock_gettime};

fn ns(t: Timespec) -> i128 {
    i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
}

/// CLOCK_MONOTONIC now, ns.
pub fn mono_ns() -> u64 {
    u64::try_from(ns(clock_gettime(ClockId::Monotonic))).unwrap_or(0)
}

/// CLOCK_REALTIME now, ns since the Unix epoch.
pub fn wall_ns() -> i64 {
    i64::try_from(ns(clock_gettime(ClockId::Realtime))).unwrap_or(i64::MAX)
}

/// A wall-clock / monotonic pair taken at (nearly) the same moment.
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    /// CLOCK_REALTIME, ns.
    pub wall_ns: i64,
    /// CLOCK_MONOTONIC, ns.
    pub mono_ns: u64,
}

impl Anchor {
    /// Takes the pair, reading the monotonic clock on both sides of the wall
    /// clock and keeping the tightest of a few tries, so the pair is off by
    /// at most a few tens of ns.
    pub fn now() -> Anchor {
        let mut best: Option<(u64, Anchor)> = None;
        for _ in 0..5 {
            let before = mono_ns();
            let wall = wall_ns();
            let after = mono_ns();
            let width = after - before;
            let anchor = Anchor {
                wall_ns: wall,
                mono_ns: before + width / 2,
            };
            if best.is_none_or(|(w, _)| width < w) {
                best = Some((width, anchor));
            }
        }
        best.map(|(_, a)| a).unwrap_or(Anchor {
            wall_ns: wall_ns(),
            mono_ns: mono_ns(),
        })
    }

    /// Monotonic ns since the anchor.
    pub fn elapsed_ns(&self) -> u64 {
        mono_ns().saturating_sub(self.mono_ns)
    }
}
