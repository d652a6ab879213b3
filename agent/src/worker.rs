//! Worker threads: each runs a single-threaded tokio runtime and its share of
//! every mode's schedule, and hands finished probes to the recorder in
//! batches.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use seamless_proto::Mode;
use tokio::task::LocalSet;

use crate::backoff::{Backoff, say_once};
use crate::clock::{Anchor, mono_ns};
use crate::pool::Pool;
use crate::probe::{ProbeConfig, ProbeResult, probe};
use crate::stopping::StopFlag;
use crate::timer::PreciseTimer;

/// How often a worker hands its finished probes to the recorder.
const HANDOFF_EVERY: Duration = Duration::from_millis(25);
/// The longest a worker sleeps before looking at the stop flag again.
const MAX_NAP_NS: u64 = 50_000_000;

/// One mode's schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// Open loop: probe `k` is intended at `first_ns + k * interval_ns`.
    Rate { first_ns: u64, interval_ns: f64 },
    /// Closed loop with this many probes in flight in all.
    Concurrency { workers: u32 },
}

/// One mode of the run, as the workers share it.
pub(crate) struct ModeRun {
    pub(crate) cfg: ProbeConfig,
    pub(crate) plan: Plan,
    /// Worker threads taking part (the first `threads`).
    pub(crate) threads: u32,
    /// Reuse mode: connections in all (split over the threads).
    pub(crate) pool: u32,
    /// Closed loop: probes claimed so far, against `count`.
    pub(crate) claimed: AtomicU64,
    /// Open loop: slots skipped while backing off on local errors.
    pub(crate) skipped: AtomicU64,
}

/// What the workers share.
pub(crate) struct Shared {
    pub(crate) anchor: Anchor,
    pub(crate) modes: Vec<ModeRun>,
    /// Stop scheduling at this offset from the anchor.
    pub(crate) deadline_ns: Option<u64>,
    /// Stop after this many probes in each mode.
    pub(crate) count: Option<u64>,
    pub(crate) stop: StopFlag,
    /// Set once the backoff on local errors was said on stderr.
    pub(crate) backoff_said: AtomicBool,
}

impl Shared {
    fn past_deadline(&self, offset_ns: u64) -> bool {
        self.deadline_ns.is_some_and(|d| offset_ns >= d)
    }

    fn stopping(&self) -> bool {
        self.stop.is_set() || self.past_deadline(self.anchor.elapsed_ns())
    }
}

/// `total` split over `parts`: part `index`'s share.
fn share(total: u32, parts: u32, index: u32) -> u32 {
    total / parts + u32::from(index < total % parts)
}

/// Per-thread state shared by that thread's tasks.
struct Local {
    shared: Arc<Shared>,
    done: RefCell<Vec<ProbeResult>>,
    in_flight: Cell<usize>,
    /// Per mode: the reuse mode's pool on this thread.
    pools: Vec<Option<Pool>>,
    /// Per mode: the open loop's backoff on local errors.
    backoffs: Vec<Backoff>,
}

impl Local {
    /// Runs one probe of mode `m`; returns its outcome.
    async fn run_one(&self, m: usize, intended_ns: Option<u64>) -> seamless_proto::Outcome {
        self.in_flight.set(self.in_flight.get() + 1);
        let shared = &self.shared;
        let cfg = &shared.modes[m].cfg;
        let intended = intended_ns.unwrap_or_else(|| shared.anchor.elapsed_ns());
        let result = match &self.pools[m] {
            Some(pool) => pool.probe(cfg, shared.anchor.mono_ns, intended).await,
            None => probe(cfg, shared.anchor.mono_ns, intended).await,
        };
        let outcome = result.probe.outcome;
        self.done.borrow_mut().push(result);
        self.in_flight.set(self.in_flight.get() - 1);
        outcome
    }

    fn hand_off(&self, tx: &Sender<Vec<ProbeResult>>) {
        let batch = std::mem::take(&mut *self.done.borrow_mut());
        if !batch.is_empty() {
            // The recorder only goes away after every worker has finished.
            let _ = tx.send(batch);
        }
    }
}

/// Runs worker `index` of `threads` to completion on the current thread.
pub(crate) fn run_worker(
    index: u32,
    threads: u32,
    shared: Arc<Shared>,
    tx: Sender<Vec<ProbeResult>>,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local_set = LocalSet::new();
    local_set.block_on(&rt, async move {
        let pools = shared
            .modes
            .iter()
            .map(|m| {
                (m.cfg.mode == Mode::Reuse && index < m.threads).then(|| {
                    Pool::new(
                        share(m.pool, m.threads, index),
                        u64::from(index) + 1,
                        u64::from(threads),
                    )
                })
            })
            .collect();
        let local = Rc::new(Local {
            backoffs: shared.modes.iter().map(|_| Backoff::default()).collect(),
            shared,
            done: RefCell::new(Vec::new()),
            in_flight: Cell::new(0),
            pools,
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
        let mut schedules = Vec::new();
        for (m, mode) in local.shared.modes.iter().enumerate() {
            if index >= mode.threads {
                continue;
            }
            let local = local.clone();
            let plan = mode.plan;
            let mode_threads = mode.threads;
            schedules.push(tokio::task::spawn_local(async move {
                match plan {
                    Plan::Rate {
                        first_ns,
                        interval_ns,
                    } => schedule_rate(&local, m, index, mode_threads, first_ns, interval_ns).await,
                    Plan::Concurrency { workers } => {
                        schedule_closed(&local, m, share(workers, mode_threads, index)).await;
                        Ok(())
                    }
                }
            }));
        }
        let mut scheduled = Ok(());
        for s in schedules {
            match s.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => scheduled = Err(e),
                Err(e) => scheduled = Err(std::io::Error::other(e.to_string())),
            }
        }
        while local.in_flight.get() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for pool in local.pools.iter().flatten() {
            pool.close_all();
        }
        finished.set(true);
        let _ = handoff.await;
        local.hand_off(&tx);
        scheduled
    })
}

async fn schedule_rate(
    local: &Rc<Local>,
    m: usize,
    index: u32,
    threads: u32,
    first_ns: u64,
    interval_ns: f64,
) -> std::io::Result<()> {
    let shared = &local.shared;
    let mode = &shared.modes[m];
    let backoff = &local.backoffs[m];
    let timer = PreciseTimer::new()?;
    let mut k = u64::from(index);
    let stride = u64::from(threads);
    loop {
        if shared.stop.is_set() || shared.count.is_some_and(|c| k >= c) {
            return Ok(());
        }
        let intended = first_ns + (k as f64 * interval_ns) as u64;
        if shared.past_deadline(intended) {
            return Ok(());
        }
        if intended < backoff.until_mono().saturating_sub(shared.anchor.mono_ns) {
            // Meant to start while backing off on a local error: skipped.
            mode.skipped.fetch_add(1, Ordering::Relaxed);
            k += stride;
            continue;
        }
        let now = shared.anchor.elapsed_ns();
        if intended > now {
            let wake = intended.min(now + MAX_NAP_NS);
            timer.sleep_until(shared.anchor.mono_ns + wake).await?;
            continue;
        }
        let task_local = local.clone();
        tokio::task::spawn_local(async move {
            let outcome = task_local.run_one(m, Some(intended)).await;
            let shared = &task_local.shared;
            if task_local.backoffs[m].note(outcome, mono_ns()) {
                say_once(&shared.backoff_said, outcome);
            }
        });
        k += stride;
        // Let the probes just started make progress before the next one.
        tokio::task::yield_now().await;
    }
}

async fn schedule_closed(local: &Rc<Local>, m: usize, mine: u32) {
    let mut loops = Vec::new();
    for _ in 0..mine {
        let local = local.clone();
        loops.push(tokio::task::spawn_local(async move {
            let shared = &local.shared;
            let backoff = Backoff::default();
            loop {
                if shared.stopping() {
                    break;
                }
                if let Some(c) = shared.count
                    && shared.modes[m].claimed.fetch_add(1, Ordering::Relaxed) >= c
                {
                    break;
                }
                let outcome = local.run_one(m, None).await;
                if backoff.note(outcome, mono_ns()) {
                    say_once(&shared.backoff_said, outcome);
                    // Wait, looking at the stop flag now and then.
                    while !shared.stopping() {
                        let left = backoff.until_mono().saturating_sub(mono_ns());
                        if left == 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_nanos(left.min(MAX_NAP_NS))).await;
                    }
                }
            }
        }));
    }
    for l in loops {
        let _ = l.await;
    }
}
