//! Worker threads: each runs a single-threaded tokio runtime and its share of
//! the schedule, and hands finished probes to the recorder in batches.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use tokio::task::LocalSet;

use crate::clock::Anchor;
use crate::probe::{ProbeConfig, ProbeResult, probe};
use crate::stopping::StopFlag;
use crate::timer::PreciseTimer;

/// How often a worker hands its finished probes to the recorder.
const HANDOFF_EVERY: Duration = Duration::from_millis(25);
/// The longest a rate worker sleeps before looking at the stop flag again.
const MAX_NAP_NS: u64 = 50_000_000;

/// The whole run's schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// Open loop: probe `k` is intended at `first_ns + k * interval_ns`.
    Rate { first_ns: u64, interval_ns: f64 },
    /// Closed loop with this many probes in flight in all.
    Concurrency { workers: u32 },
}

/// What the workers share.
pub(crate) struct Shared {
    pub(crate) cfg: ProbeConfig,
    pub(crate) anchor: Anchor,
    pub(crate) plan: Plan,
    pub(crate) threads: u32,
    /// Stop scheduling at this offset from the anchor.
    pub(crate) deadline_ns: Option<u64>,
    /// Stop after this many probes in all.
    pub(crate) count: Option<u64>,
    /// Closed loop: probes claimed so far, against `count`.
    pub(crate) claimed: AtomicU64,
    pub(crate) stop: StopFlag,
}

impl Shared {
    fn past_deadline(&self, offset_ns: u64) -> bool {
        self.deadline_ns.is_some_and(|d| offset_ns >= d)
    }
}

/// Per-thread state shared by that thread's tasks.
struct Local {
    shared: Arc<Shared>,
    done: RefCell<Vec<ProbeResult>>,
    in_flight: Cell<usize>,
}

impl Local {
    async fn run_one(&self, intended_ns: Option<u64>) {
        self.in_flight.set(self.in_flight.get() + 1);
        let intended = intended_ns.unwrap_or_else(|| self.shared.anchor.elapsed_ns());
        let result = probe(&self.shared.cfg, self.shared.anchor.mono_ns, intended).await;
        self.done.borrow_mut().push(result);
        self.in_flight.set(self.in_flight.get() - 1);
    }

    fn hand_off(&self, tx: &Sender<Vec<ProbeResult>>) {
        let batch = std::mem::take(&mut *self.done.borrow_mut());
        if !batch.is_empty() {
            // The recorder only goes away after every worker has finished.
            let _ = tx.send(batch);
        }
    }
}

/// Runs worker `index` to completion on the current thread.
pub(crate) fn run_worker(
    index: u32,
    shared: Arc<Shared>,
    tx: Sender<Vec<ProbeResult>>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local_set = LocalSet::new();
    local_set.block_on(&rt, async move {
        let local = Rc::new(Local {
            shared,
            done: RefCell::new(Vec::new()),
            in_flight: Cell::new(0),
        });
        let finished = Rc::new(Cell::new(false));
        let handoff = {
            let (local, finished, tx) = (local.clone(), finished.clone(), tx.clone());
            tokio::task::spawn_local(async move {
                while !finished.get() {
                    tokio::time::sleep(HANDOFF_EVERY).await;
                    local.hand_off(&tx);
                }
            })
        };
        let scheduled = match local.shared.plan {
            Plan::Rate {
                first_ns,
                interval_ns,
            } => schedule_rate(&local, index, first_ns, interval_ns).await,
            Plan::Concurrency { workers } => {
                schedule_closed(&local, index, workers).await;
                Ok(())
            }
        };
        while local.in_flight.get() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        finished.set(true);
        let _ = handoff.await;
        local.hand_off(&tx);
        scheduled
    })
}

async fn schedule_rate(
    local: &Rc<Local>,
    index: u32,
    first_ns: u64,
    interval_ns: f64,
) -> std::io::Result<()> {
    let shared = &local.shared;
    let timer = PreciseTimer::new()?;
    let mut k = u64::from(index);
    loop {
        if shared.stop.is_set() || shared.count.is_some_and(|c| k >= c) {
            return Ok(());
        }
        let intended = first_ns + (k as f64 * interval_ns) as u64;
        if shared.past_deadline(intended) {
            return Ok(());
        }
        let now = shared.anchor.elapsed_ns();
        if intended > now {
            let wake = intended.min(now + MAX_NAP_NS);
            timer.sleep_until(shared.anchor.mono_ns + wake).await?;
            continue;
        }
        let task_local = local.clone();
        tokio::task::spawn_local(async move { task_local.run_one(Some(intended)).await });
        k += u64::from(shared.threads);
        // Let the probes just started make progress before the next one.
        tokio::task::yield_now().await;
    }
}

async fn schedule_closed(local: &Rc<Local>, index: u32, workers: u32) {
    let threads = local.shared.threads;
    let mine = workers / threads + u32::from(index < workers % threads);
    let mut loops = Vec::new();
    for _ in 0..mine {
        let local = local.clone();
        loops.push(tokio::task::spawn_local(async move {
            let shared = &local.shared;
            loop {
                if shared.stop.is_set() || shared.past_deadline(shared.anchor.elapsed_ns()) {
                    break;
                }
                if let Some(c) = shared.count
                    && shared.claimed.fetch_add(1, Ordering::Relaxed) >= c
                {
                    break;
                }
                local.run_one(None).await;
            }
        }));
    }
    for l in loops {
        let _ = l.await;
    }
}
