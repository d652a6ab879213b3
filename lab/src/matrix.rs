//! The inner lab, PID 1 of the sandbox: the matrix of scenarios and
//! repeats, one [`crate::run::run_one`] each, and the summary.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use crate::host::sandbox;
use crate::opts::Inner;
use crate::proxy::delay::SplitMix64;
use crate::{run, summary};

/// PID 1 of the sandbox: reads its configuration from stdin and runs the
/// matrix. Returns the exit code (0 all runs done, 1 a run failed, 130
/// interrupted).
pub fn inside() -> anyhow::Result<i32> {
    let Inner { opts, rootless } = serde_json::from_reader(std::io::stdin().lock())
        .context("reading the inner lab's configuration from stdin (seamless-lab inside is started by seamless-lab run)")?;
    let stop = Arc::new(AtomicBool::new(false));
    // As PID 1, signals without a handler are ignored: these handlers are
    // what makes Ctrl+C stop the lab.
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    sandbox::prepare_inside().map_err(|e| anyhow::anyhow!("preparing the sandbox: {e}"))?;
    let scenarios = opts.scenarios()?;
    let seed = opts.seed.unwrap_or(0);
    let agent_bin = opts
        .agent_bin
        .clone()
        .context("agent_bin is set by the outer lab")?;
    let lab_bin = opts
        .lab_bin
        .clone()
        .context("lab_bin is set by the outer lab")?;
    if opts.proxy == crate::opts::ProxyKind::Real {
        return crate::real::matrix(&opts, agent_bin, lab_bin, &stop);
    }
    let scratch = PathBuf::from("/run/seamless-lab");
    let mut summary = summary::Summary::open(&opts.out)?;
    let mut failed = 0;
    let mut n = 0u64;
    let mut progress =
        crate::progress::Progress::new(u64::from(opts.repeat) * scenarios.len() as u64);
    for repeat in 1..=opts.repeat {
        for sc in &scenarios {
            n += 1;
            if stop.load(Ordering::Relaxed) {
                return Ok(130);
            }
            let dir = run::run_dir(&opts.out, sc, repeat);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("replacing {}", dir.display()))?;
            }
            let spec = run::RunSpec {
                scenario: *sc,
                trigger: opts.trigger,
                backend: opts.backend,
                add_delay: opts.add_delay,
                remove_delay: opts.remove_delay,
                prestop: opts.prestop,
                grace: opts.grace,
                warmup: opts.warmup,
                settle: opts.settle,
                rate: opts.rate,
                agent_modes: opts.agent_mode.clone(),
                agent_pool: opts.agent_pool,
                agent_no_idle_check: opts.agent_no_idle_check,
                shutdown: opts.shutdown,
                conntrack_cleanup: opts.conntrack_cleanup,
                seed: SplitMix64::new(seed ^ n.wrapping_mul(0x9E37_79B9)).next_u64(),
                dir: dir.clone(),
                agent_bin: agent_bin.clone(),
                lab_bin: lab_bin.clone(),
                rootless,
                scratch: scratch.clone(),
            };
            match run::run_one(&spec, &stop) {
                Ok(r) => {
                    let line = summary.record(&dir, &r.info)?;
                    progress.run_done(&line, false);
                }
                Err(run::RunError::Interrupted) => {
                    progress.say(&format!("lab: interrupted during {}", dir.display()));
                    return Ok(130);
                }
                Err(e) => {
                    failed += 1;
                    progress.run_done(
                        &format!("lab: {} failed: {:#}", dir.display(), anyhow::Error::new(e)),
                        true,
                    );
                }
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
