//! One probing session: validate the options, open the log, start the
//! recorder and the workers, stop cleanly, summarize.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, bail};
use seamless_proto::log::{Header, LogWriter};
use seamless_proto::{Schedule, run::probe_log_name};

use crate::ProbeOpts;
use crate::clock::Anchor;
use crate::limits;
use crate::probe::ProbeConfig;
use crate::recorder;
use crate::stopping::StopFlag;
use crate::summary::LogStats;
use crate::target::Target;
use crate::worker::{Plan, Shared, run_worker};

/// The open-loop rate when neither `--rate` nor `--concurrency` is given.
pub const DEFAULT_RATE: f64 = 1000.0;
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
    let schedule = match (opts.rate, opts.concurrency) {
        (Some(r), _) if !(r.is_finite() && r > 0.0 && r <= 10_000_000.0) => {
            bail!("--rate must be a number of probes a second in (0, 10000000], got {r}")
        }
        (_, Some(0)) => bail!("--concurrency must be at least 1"),
        (Some(r), _) => Schedule::Rate { per_sec: r },
        (None, Some(c)) => Schedule::Concurrency { workers: c },
        (None, None) => Schedule::Rate {
            per_sec: DEFAULT_RATE,
        },
    };
    if opts.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    if opts.count == Some(0) {
        bail!("--count must be at least 1");
    }
    let threads = match opts.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    };
    let threads = match schedule {
        Schedule::Concurrency { workers } => threads.min(workers),
        Schedule::Rate { .. } => threads,
    };
    let target = Target::parse(&opts.url)?;

    let fd_limit = limits::raise_fd_limit();
    let (rate, conc) = match schedule {
        Schedule::Rate { per_sec } => (Some(per_sec), None),
        Schedule::Concurrency { workers } => (None, Some(workers)),
    };
    for w in limits::warnings(
        rate,
        conc,
        opts.timeout,
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
    let header = Header {
        agent_version: env!("CARGO_PKG_VERSION").into(),
        target_url: target.url.clone(),
        target_addr: target.addr.to_string(),
        schedule: schedule.clone(),
        threads,
        timeout_ns: opts.timeout.as_nanos().min(u128::from(u64::MAX)) as u64,
        expect_status: opts.expect_status,
        backend_header: opts.backend_header.clone(),
        host,
        node,
        pod,
        wall_anchor_ns: anchor.wall_ns,
        mono_anchor_ns: anchor.mono_ns,
    };
    let writer = LogWriter::new(file, &header)
        .with_context(|| format!("cannot write the probe log header to {}", out.display()))?;

    let plan = match schedule {
        Schedule::Rate { per_sec } => Plan::Rate {
            first_ns: anchor.elapsed_ns() + START_DELAY_NS,
            interval_ns: 1e9 / per_sec,
        },
        Schedule::Concurrency { workers } => Plan::Concurrency { workers },
    };
    let shared = Arc::new(Shared {
        cfg: ProbeConfig {
            addr: target.addr,
            request: target.request(),
            timeout: opts.timeout,
            expect_status: opts.expect_status,
            backend_header: opts.backend_header.clone(),
            max_header_bytes: opts.max_header_bytes,
            max_body_bytes: opts.max_body_bytes,
        },
        anchor,
        plan,
        threads,
        deadline_ns: opts
            .duration
            .map(|d| START_DELAY_NS + d.as_nanos().min(u128::from(u64::MAX / 2)) as u64),
        count: opts.count,
        claimed: AtomicU64::new(0),
        stop: stop.clone(),
    });
    tracing::info!(
        target = %target.addr, url = %target.url, ?schedule, threads, log = %out.display(),
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
            .spawn(move || run_worker(i, shared, tx));
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
    let mut summary = tally.summary(rate, elapsed);
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
