//! One probing session: validate the options, open the log, start the
//! recorder and the workers, stop cleanly, summarize.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use seamless_proto::log::{Header, LogWriter};
use seamless_proto::{Mode, ModeSpec, Schedule, run::probe_log_name};

use crate::ProbeOpts;
use crate::clock::Anchor;
use crate::limits;
use crate::modes;
use crate::probe::ProbeConfig;
use crate::recorder;
use crate::stopping::StopFlag;
use crate::summary::LogStats;
use crate::target::{Target, check_path};
use crate::worker::{ModeRun, Plan, Shared, run_worker};

/// The open-loop rate when neither `--rate` nor `--concurrency` is given.
pub const DEFAULT_RATE: f64 = modes::DEFAULT_RATE;
/// Workers start probing this long after the anchor, so every thread's
/// share of the schedule lines up from the first probe.
const START_DELAY_NS: u64 = 2_000_000;

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn open_log(path: &Path, force: bool) -> anyhow::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    o.open(path).with_context(|| {
        if path.exists() && !force {
            format!(
                "{} already exists: not overwriting recorded probes (use --force, or another --out)",
                path.display()
            )
        } else {
            format!("cannot create the probe log {}", path.display())
        }
    })
}

/// Runs `probe` until done or stopped; returns the exit code (0 on a clean
/// stop, whatever the service did).
pub fn run_probe(opts: ProbeOpts, stop: &StopFlag) -> anyhow::Result<i32> {
    let plans = modes::plan(
        &opts.mode,
        opts.rate.as_ref(),
        opts.concurrency.as_ref(),
        opts.pool,
    )?;
    if opts.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    if opts.slow_timeout.is_zero() {
        bail!("--slow-timeout must be more than 0");
    }
    if opts.count == Some(0) {
        bail!("--count must be at least 1");
    }
    let has_slow = opts.mode.contains(&Mode::Slow);
    match (&opts.slow, has_slow) {
        (None, true) => {
            bail!(
                "--mode slow needs --slow PATH: an endpoint that answers after a delay, e.g. --slow '/sleep?ms=2000'"
            )
        }
        (Some(_), false) => bail!("--slow gives the slow mode's path: add slow to --mode"),
        _ => {}
    }
    if let Some(p) = &opts.path {
        check_path("--path", p)?;
    }
    if let Some(p) = &opts.slow {
        check_path("--slow", p)?;
    }
    let threads = match opts.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    };
    // A mode uses at most as many threads as it has loops or connections.
    let cap = |p: &modes::ModePlan| {
        let loops = match p.schedule {
            Schedule::Concurrency { workers } => workers,
            Schedule::Rate { .. } => u32::MAX,
        };
        if p.mode == Mode::Reuse {
            loops.min(p.pool)
        } else {
            loops
        }
    };
    let threads = plans.iter().map(cap).max().unwrap_or(1).min(threads);
    let target = Target::parse(&opts.url)?;

    let fd_limit = limits::raise_fd_limit();
    let mut in_flight = 0u64;
    let mut new_conn_rate = 0.0;
    for p in &plans {
        let timeout = opts.timeout
            + if p.mode == Mode::Slow {
                opts.slow_timeout
            } else {
                opts.timeout
            };
        in_flight += match (p.mode, &p.schedule) {
            (Mode::Reuse, _) => u64::from(p.pool),
            (_, Schedule::Concurrency { workers }) => u64::from(*workers),
            (_, Schedule::Rate { per_sec }) => (per_sec * timeout.as_secs_f64()).ceil() as u64,
        };
        if let (Mode::New | Mode::Slow, Schedule::Rate { per_sec }) = (p.mode, &p.schedule) {
            new_conn_rate += per_sec;
        }
    }
    for w in limits::warnings(
        in_flight,
        (new_conn_rate > 0.0).then_some(new_conn_rate),
        target.addr,
        fd_limit,
        limits::ephemeral_ports(),
    ) {
        tracing::warn!("{w}");
    }

    let host = host_name();
    let node = env_nonempty("NODE_NAME");
    let pod = env_nonempty("POD_NAME");
    let out: PathBuf = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(probe_log_name(node.as_deref().unwrap_or(&host))));
    let file = open_log(&out, opts.force)?;
    let anchor = Anchor::now();
    let ns = |d: Duration| d.as_nanos().min(u128::from(u64::MAX)) as u64;
    let path_of = |mode: Mode| match mode {
        Mode::Slow => opts.slow.clone().unwrap_or_default(),
        _ => opts.path.clone().unwrap_or_else(|| target.path.clone()),
    };
    let response_timeout = |mode: Mode| match mode {
        Mode::Slow => opts.slow_timeout,
        _ => opts.timeout,
    };
    let specs: Vec<ModeSpec> = plans
        .iter()
        .map(|p| ModeSpec {
            mode: p.mode,
            schedule: p.schedule.clone(),
            path: path_of(p.mode),
            pool: p.pool,
            timeout_ns: ns(response_timeout(p.mode)),
        })
        .collect();
    let header = Header {
        agent_version: env!("CARGO_PKG_VERSION").into(),
        target_url: target.url.clone(),
        target_addr: target.addr.to_string(),
        schedule: plans[0].schedule.clone(),
        threads,
        timeout_ns: ns(opts.timeout),
        expect_status: opts.expect_status,
        backend_header: opts.backend_header.clone(),
        host,
        node,
        pod,
        wall_anchor_ns: anchor.wall_ns,
        mono_anchor_ns: anchor.mono_ns,
        modes: specs.clone(),
    };
    let writer = LogWriter::new(file, &header)
        .with_context(|| format!("cannot write the probe log header to {}", out.display()))?;

    let first_ns = anchor.elapsed_ns() + START_DELAY_NS;
    let mode_runs = specs
        .iter()
        .zip(&plans)
        .map(|(spec, p)| ModeRun {
            cfg: ProbeConfig {
                mode: p.mode,
                addr: target.addr,
                request: target.request(&spec.path, p.mode == Mode::Reuse),
                timeout: opts.timeout,
                response_timeout: response_timeout(p.mode),
                expect_status: opts.expect_status,
                backend_header: opts.backend_header.clone(),
                max_header_bytes: opts.max_header_bytes,
                max_body_bytes: opts.max_body_bytes,
                idle_check: !opts.no_idle_check,
            },
            plan: match p.schedule {
                Schedule::Rate { per_sec } => Plan::Rate {
                    first_ns,
                    interval_ns: 1e9 / per_sec,
                },
                Schedule::Concurrency { workers } => Plan::Concurrency { workers },
            },
            threads: cap(p).min(threads),
            pool: p.pool,
            claimed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        })
        .collect();
    let shared = Arc::new(Shared {
        anchor,
        modes: mode_runs,
        deadline_ns: opts
            .duration
            .map(|d| START_DELAY_NS + d.as_nanos().min(u128::from(u64::MAX / 2)) as u64),
        count: opts.count,
        stop: stop.clone(),
        backoff_said: AtomicBool::new(false),
    });
    let modes_desc: Vec<String> = plans
        .iter()
        .map(|p| match (p.mode, &p.schedule) {
            (Mode::Reuse, s) => format!("reuse {s:?} pool {}", p.pool),
            (m, s) => format!("{m} {s:?}"),
        })
        .collect();
    tracing::info!(
        target = %target.addr, url = %target.url, modes = ?modes_desc, threads, log = %out.display(),
        "probing"
    );

    let (tx, rx) = std::sync::mpsc::channel();
    let recorder = std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || recorder::run(rx, writer))
        .context("cannot start the recorder thread")?;
    let mut workers = Vec::new();
    for i in 0..threads {
        let (shared, tx) = (shared.clone(), tx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("probe-{i}"))
            .spawn(move || run_worker(i, threads, shared, tx));
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                stop.set();
                tracing::error!("cannot start worker thread {i}: {e}");
            }
        }
    }
    drop(tx);
    let mut worker_error = None;
    for w in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => worker_error = Some(anyhow::Error::new(e).context("a worker failed")),
            Err(_) => worker_error = Some(anyhow::anyhow!("a worker thread panicked")),
        }
    }
    let elapsed = anchor.elapsed_ns();
    let (tally, file) = match recorder.join() {
        Ok(r) => r.with_context(|| format!("probe log {}", out.display()))?,
        Err(_) => bail!(
            "the recorder thread panicked; {} holds the probes flushed before",
            out.display()
        ),
    };
    file.sync_all()
        .with_context(|| format!("cannot sync {}", out.display()))?;
    let rate_of = |p: &modes::ModePlan| match p.schedule {
        Schedule::Rate { per_sec } => Some(per_sec),
        Schedule::Concurrency { .. } => None,
    };
    let rates: Vec<f64> = plans.iter().filter_map(rate_of).collect();
    let total_rate = (rates.len() == plans.len()).then(|| rates.iter().sum());
    let mut summary = tally.summary(total_rate, elapsed);
    let mut skipped_all = 0;
    for (p, run) in plans.iter().zip(&shared.modes) {
        let skipped = run.skipped.load(Ordering::Relaxed);
        skipped_all += skipped;
        if plans.len() > 1 || skipped > 0 || p.mode != Mode::New {
            let mut s = tally.mode(p.mode).summary(rate_of(p), elapsed);
            s.skipped_local_backoff = skipped;
            summary.by_mode.insert(p.mode.name().to_owned(), s);
        }
    }
    summary.skipped_local_backoff = skipped_all;
    summary.log = Some(LogStats {
        path: out.display().to_string(),
        bytes: file.metadata().map(|m| m.len()).unwrap_or(0),
        probes: tally.probes(),
    });
    eprintln!("{}", summary.to_text());
    if opts.json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &summary)?;
        writeln!(stdout)?;
    }
    if let Some(e) = worker_error {
        return Err(e);
    }
    Ok(0)
}
