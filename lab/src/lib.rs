//! `seamless-lab`: the seed's experiment on one Linux machine,
//! with ground truth.
//!
//! An emulated two-node cluster in network namespaces (pods on a bridge or
//! on the node's network), kube-proxy-shaped iptables nat chains for a
//! ClusterIP and a NodePort, backends (the built-in server or nginx), and a
//! rolling update in which kube-proxy's endpoint removal races kubelet's
//! termination. seamless-agent probes the Service from node-a; each run
//! writes a run directory with the probe log, timeline.jsonl and run.json
//! carrying the ground truth. Everything lives in a private PID, mount and
//! network namespace that dies with the lab (see [`sandbox`]).
//!
//! Modules: [`scenario`] (the matrix), [`delay`] (propagation delays),
//! [`topology`] and [`netns`] (namespaces, links, addresses), [`proxy`]
//! (kube-proxy rules), [`backend`] and [`serve`] (the pods' servers),
//! [`rollout`] (one run, kubelet included), [`agent`], [`record`] (the run
//! directory), [`summary`] (what each run saw), [`sandbox`] (isolation).

pub mod agent;
pub mod backend;
pub mod clock;
pub mod delay;
pub mod netns;
pub mod proxy;
pub mod record;
pub mod rollout;
pub mod sandbox;
pub mod scenario;
pub mod serve;
pub mod summary;
pub mod telemetry;
pub mod topology;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use backend::BackendKind;
use delay::Delay;
use rollout::Trigger;
use scenario::Scenario;

/// Command-line options of `seamless-lab`.
#[derive(Debug, clap::Parser)]
#[command(name = "seamless-lab", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the experiment's scenarios on an emulated cluster (network
    /// namespaces and kube-proxy-style rules) on this machine.
    Run(Opts),
    /// Internal: the built-in backend the lab's pods run.
    #[command(hide = true)]
    Serve(serve::ServeOpts),
}

/// Runs a parsed command line; returns the process exit code.
pub async fn main(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run(o) => run(o).await,
        Command::Serve(s) => serve::serve(s).await,
    }
}

/// Options of `seamless-lab run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// Scenario to run, NETWORK-ACCESS-TERMINATION with NETWORK pod|host,
    /// ACCESS clusterip|nodeport, TERMINATION no-prestop|prestop (e.g.
    /// pod-clusterip-no-prestop). Repeatable.
    #[arg(long, value_parser = parse_scenario)]
    pub scenario: Vec<Scenario>,

    /// Run the whole matrix (8 scenarios).
    #[arg(long, conflicts_with = "scenario")]
    pub all: bool,

    /// Runs per scenario.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=999))]
    pub repeat: u32,

    /// Where the run directories go: OUT/<scenario>/run-NN, plus
    /// OUT/lab-summary.jsonl (one line per run).
    #[arg(long, default_value = "lab-runs")]
    pub out: PathBuf,

    /// What the rollout does: move the pod to the other node (the seed) or
    /// restart it on the same node.
    #[arg(long, value_enum, default_value = "move")]
    pub trigger: Trigger,

    /// The pods' server: builtin (nothing to install) or nginx.
    #[arg(long, value_enum, default_value = "builtin")]
    pub backend: BackendKind,

    /// Endpoint-propagation delay from the old pod's deletion until
    /// kube-proxy's rules commit on the node: a duration (50ms) or a uniform
    /// range (20ms..150ms). The race lives here: kube-proxy syncs in batches
    /// (min-sync-period), so removal lags the API by tens to hundreds of ms.
    #[arg(long, default_value = "20ms..150ms")]
    pub remove_delay: Delay,

    /// Endpoint-propagation delay from the new pod's readiness until its
    /// endpoint is in the rules.
    #[arg(long, default_value = "20ms..150ms")]
    pub add_delay: Delay,

    /// preStop sleep of the prestop scenarios.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub prestop: Duration,

    /// terminationGracePeriodSeconds: SIGKILL this long after deletion.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub grace: Duration,

    /// Probing before the rollout starts.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Probing after the old pod is gone.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub settle: Duration,

    /// Agent probes a second (the resolution: 5000/s is one probe every
    /// 200 us).
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,

    /// Delete, right after the old endpoint's rule leaves, the conntrack
    /// entries of connections the old backend reset (a lab-only mangle rule
    /// marks them). A connection reset at the close (queued in the accept
    /// queue) leaves a CLOSE entry for ~10 s still NATed to the old pod; a
    /// new SYN reusing that client port reopens it and meets the dead pod
    /// again, long after the rule is gone. kube-proxy cleans conntrack only
    /// for UDP, so this is real; on by default so the only failures are the
    /// race the ground truth describes. `--conntrack-cleanup false` shows
    /// the late failures too.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub conntrack_cleanup: bool,

    /// Seed of the delays and names [default: from the clock; recorded in
    /// every run.json].
    #[arg(long)]
    pub seed: Option<u64>,

    /// seamless-agent [default: next to this executable, then PATH].
    #[arg(long)]
    pub agent_bin: Option<PathBuf>,

    /// seamless-lab to re-execute inside the namespaces
    /// [default: this executable].
    #[arg(long)]
    pub lab_bin: Option<PathBuf>,

    /// Internal: already inside the lab's namespaces.
    #[arg(long, hide = true)]
    pub inside: bool,

    /// Internal: set by the outer process when it runs without real root.
    #[arg(long, hide = true)]
    pub rootless: bool,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    s.parse()
        .map_err(|e: scenario::UnknownScenario| e.to_string())
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use forms like 500ms, 2s)"))
}

impl Opts {
    fn scenarios(&self) -> anyhow::Result<Vec<Scenario>> {
        if self.all {
            Ok(Scenario::all())
        } else if self.scenario.is_empty() {
            bail!("say which scenarios to run: --scenario NAME (repeatable) or --all")
        } else {
            Ok(self.scenario.clone())
        }
    }

    /// The arguments that re-create these options inside the sandbox.
    fn inner_args(
        &self,
        seed: u64,
        agent: &std::path::Path,
        controller: &std::path::Path,
        out: &std::path::Path,
        rootless: bool,
    ) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["run".into(), "--inside".into()];
        let mut kv = |k: &str, v: String| {
            a.push(k.into());
            a.push(v.into());
        };
        for s in &self.scenario {
            kv("--scenario", s.to_string());
        }
        kv("--repeat", self.repeat.to_string());
        kv("--out", out.display().to_string());
        kv("--trigger", format!("{:?}", self.trigger).to_lowercase());
        kv("--backend", format!("{:?}", self.backend).to_lowercase());
        kv("--remove-delay", self.remove_delay.to_string());
        kv("--add-delay", self.add_delay.to_string());
        kv(
            "--prestop",
            humantime::format_duration(self.prestop).to_string(),
        );
        kv(
            "--grace",
            humantime::format_duration(self.grace).to_string(),
        );
        kv(
            "--warmup",
            humantime::format_duration(self.warmup).to_string(),
        );
        kv(
            "--settle",
            humantime::format_duration(self.settle).to_string(),
        );
        kv("--rate", self.rate.to_string());
        kv("--conntrack-cleanup", self.conntrack_cleanup.to_string());
        kv("--seed", seed.to_string());
        kv("--agent-bin", agent.display().to_string());
        kv("--lab-bin", controller.display().to_string());
        if self.all {
            a.push("--all".into());
        }
        if rootless {
            a.push("--rootless".into());
        }
        a
    }
}

/// Runs `seamless-lab run`; returns the exit code (0 all runs done, 1 a run failed,
/// 130 interrupted).
pub async fn run(opts: Opts) -> anyhow::Result<i32> {
    if opts.inside {
        return tokio::task::spawn_blocking(move || inside(opts))
            .await
            .context("the lab's thread panicked")?;
    }
    outer(opts).await
}

/// The user's process: checks, then supervises the sandbox.
async fn outer(opts: Opts) -> anyhow::Result<i32> {
    let scenarios = opts.scenarios()?;
    // The host's prerequisites are listed once, in lab/prerequisites.txt
    // (program, Debian package, when it is needed).
    let mut needs: Vec<(&'static str, &'static str)> = Vec::new();
    for line in include_str!("../prerequisites.txt").lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut cols = line.split_whitespace();
        let (Some(program), Some(package), Some(when)) = (cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        let alternative = match when {
            "always" => None,
            "conntrack-cleanup" if opts.conntrack_cleanup => Some("pass --conntrack-cleanup false"),
            "nginx-backend" if opts.backend == BackendKind::Nginx => Some("use --backend builtin"),
            _ => continue,
        };
        let package: &'static str = match alternative {
            None => package,
            // Once a run, for the error message: leaking it costs nothing.
            Some(alt) => Box::leak(format!("{package} (or {alt})").into_boxed_str()),
        };
        needs.push((program, package));
    }
    sandbox::require(&needs)?;
    let rootless = !sandbox::is_root();
    sandbox::check_namespaces(rootless)?;
    let exe = std::env::current_exe().ok();
    let controller = match &opts.lab_bin {
        Some(p) => std::path::absolute(p)?,
        None => exe
            .clone()
            .context("cannot find this executable; pass --lab-bin")?,
    };
    let agent = agent::find_agent(opts.agent_bin.as_deref(), exe.as_deref())?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let out = std::path::absolute(&opts.out)?;
    if out.starts_with("/run") {
        bail!("--out must not be under /run: the lab mounts a private /run");
    }
    let seed = opts.seed.unwrap_or_else(|| clock::now_ns() as u64);
    tracing::info!(
        "lab: {} scenario(s) x {} into {} (seed {seed}{})",
        scenarios.len(),
        opts.repeat,
        out.display(),
        if rootless { ", rootless" } else { "" }
    );
    let args = opts.inner_args(seed, &agent, &controller, &out, rootless);

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    // Spawned here, on the calling (main) thread, which outlives the
    // sandbox: PR_SET_PDEATHSIG fires when the spawning thread exits.
    let mut world = sandbox::spawn_world(rootless, &controller, &args)?;
    let mut forwarded = false;
    let mut forwarded_at = std::time::Instant::now();
    loop {
        if let Some(status) = world.try_wait()? {
            use std::os::unix::process::ExitStatusExt;
            return Ok(status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(9)));
        }
        if stop.load(Ordering::Relaxed) && !forwarded {
            if let Some(pid) = sandbox::inner_pid(world.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGINT,
                );
            }
            forwarded = true;
            forwarded_at = std::time::Instant::now();
        }
        if forwarded && forwarded_at.elapsed() > Duration::from_secs(15) {
            tracing::warn!("the lab did not stop within 15 s of the signal; killing it");
            let _ = world.kill();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PID 1 of the sandbox: runs the matrix.
fn inside(opts: Opts) -> anyhow::Result<i32> {
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
        .context("--agent-bin is set by the outer lab")?;
    let lab_bin = opts
        .lab_bin
        .clone()
        .context("--lab-bin is set by the outer lab")?;
    let scratch = PathBuf::from("/run/seamless-lab");
    let mut summary = summary::Summary::open(&opts.out)?;
    let mut failed = 0;
    let mut n = 0u64;
    for repeat in 1..=opts.repeat {
        for sc in &scenarios {
            n += 1;
            if stop.load(Ordering::Relaxed) {
                return Ok(130);
            }
            let dir = rollout::run_dir(&opts.out, sc, repeat);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("replacing {}", dir.display()))?;
            }
            let spec = rollout::RunSpec {
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
                conntrack_cleanup: opts.conntrack_cleanup,
                seed: delay::SplitMix64::new(seed ^ n.wrapping_mul(0x9E37_79B9)).next_u64(),
                dir: dir.clone(),
                agent_bin: agent_bin.clone(),
                lab_bin: lab_bin.clone(),
                rootless: opts.rootless,
                scratch: scratch.clone(),
            };
            match rollout::run_one(&spec, &stop) {
                Ok(r) => {
                    let line = summary.record(&dir, &r.info)?;
                    eprintln!("{line}");
                }
                Err(rollout::RunError::Interrupted) => {
                    eprintln!("lab: interrupted during {}", dir.display());
                    return Ok(130);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("lab: {} failed: {:#}", dir.display(), anyhow::Error::new(e));
                }
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
