//! Ctrl+C and SIGTERM, counted: the first ends the current step and starts
//! the cleanup, the second abandons the cleanup.

use std::future::Future;

use tokio::sync::watch;

use super::error::{Error, Result};

/// Counts interrupts; clones share the count.
#[derive(Debug, Clone)]
pub struct Interrupts(watch::Receiver<u32>);

/// Raises the count (the signal handler's end, or a test's).
#[derive(Debug)]
pub struct Raiser(watch::Sender<u32>);

impl Raiser {
    /// One more interrupt.
    pub fn raise(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}

impl Interrupts {
    /// A counter nothing raises but the returned [`Raiser`].
    pub fn manual() -> (Raiser, Interrupts) {
        let (tx, rx) = watch::channel(0);
        (Raiser(tx), Interrupts(rx))
    }

    /// A counter raised by SIGINT and SIGTERM (a task of the current
    /// runtime).
    pub fn from_signals() -> Interrupts {
        let (raiser, interrupts) = Interrupts::manual();
        tokio::spawn(async move {
            loop {
                crate::rollout::interrupted().await;
                raiser.raise();
            }
        });
        interrupts
    }

    /// How many so far.
    pub fn count(&self) -> u32 {
        *self.0.borrow()
    }

    /// Resolves once there have been `n` interrupts (never if the raiser is
    /// gone first).
    pub async fn reached(&self, n: u32) {
        let mut rx = self.0.clone();
        if rx.wait_for(|c| *c >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `fut`, or [`Error::Interrupted`] at the first Ctrl+C.
pub(super) async fn interruptible<T>(
    interrupts: &Interrupts,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = fut => r,
        _ = interrupts.reached(1) => Err(Error::Interrupted),
    }
}
