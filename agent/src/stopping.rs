//! Stopping a run: a flag that SIGINT, SIGTERM or a caller sets, and that
//! the session and its workers read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

/// Set when the run must stop scheduling: by SIGINT/SIGTERM or by a caller.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag nothing sets but [`StopFlag::set`].
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// A flag set by SIGINT and SIGTERM.
    pub fn from_signals() -> anyhow::Result<StopFlag> {
        let flag = StopFlag::new();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, flag.0.clone())
                .context("cannot install the SIGINT/SIGTERM handler")?;
        }
        Ok(flag)
    }

    /// Asks the run to stop.
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
