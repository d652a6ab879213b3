//! `seamless-lab run`'s options, and the one typed value the sandboxed
//! inner lab gets them as ([`Inner`], JSON on its stdin): every field of
//! [`Opts`] reaches the inner lab as the user gave it, with nothing to
//! re-render by hand.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::kubelet::backend::BackendKind;
use crate::proxy::delay::Delay;
use crate::scenario::{self, Scenario};
use crate::spec::Trigger;

/// Options of `seamless-lab run`.
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
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
    #[arg(long, default_value = "2s", value_parser = seamless_proto::duration::parse)]
    pub prestop: Duration,

    /// terminationGracePeriodSeconds: SIGKILL this long after deletion.
    #[arg(long, default_value = "5s", value_parser = seamless_proto::duration::parse)]
    pub grace: Duration,

    /// Probing before the rollout starts.
    #[arg(long, default_value = "1s", value_parser = seamless_proto::duration::parse)]
    pub warmup: Duration,

    /// Probing after the old pod is gone.
    #[arg(long, default_value = "1s", value_parser = seamless_proto::duration::parse)]
    pub settle: Duration,

    /// Agent probes a second (the resolution: 5000/s is one probe every
    /// 200 us).
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,

    /// The agent's probing modes, comma-separated: `new` (a new connection
    /// a probe, the default) and `reuse` (HTTP/1.1 keep-alive over a pool
    /// of connections): `new,reuse` probes both side by side, each at
    /// --rate (with --proxy real: the agent Job's rate), into one log.
    #[arg(long, value_delimiter = ',', default_value = "new", value_parser = crate::shutdown::parse_agent_mode)]
    pub agent_mode: Vec<String>,

    /// Reuse mode's kept-alive connections [default: the agent's, 8].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub agent_pool: Option<u32>,

    /// Reuse mode without the agent's idle check (`seamless-agent
    /// --no-idle-check`): requests go out on idle connections the server
    /// may have closed, as a client without that check sends them.
    #[arg(long)]
    pub agent_no_idle_check: bool,

    /// How the old pod's server stops: `fast` (kubelet's SIGTERM; nginx
    /// closes every connection at once) or `graceful` (nginx gets SIGQUIT
    /// from the preStop hook, after the scenario's preStop sleep if any:
    /// `nginx -s quit`, waiting until it has exited; it closes its
    /// listener and idle connections and finishes the requests in
    /// flight). `graceful` needs nginx: --proxy real, or --backend nginx.
    #[arg(long, value_enum, default_value = "fast")]
    pub shutdown: crate::shutdown::Shutdown,

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

    /// The data path and the control plane: `real` (the real API server,
    /// controller-manager, scheduler and kube-proxy, our kubelet, the
    /// manifests applied as on a cluster, seamless-controller rolling),
    /// `emulated` (kube-proxy-shaped rules the lab writes, delays drawn
    /// from --remove-delay/--add-delay, the lab's own rollout), or `auto`:
    /// real when the components of --kubernetes-version are built (or
    /// --kubernetes-bin is given), else emulated, saying so.
    #[arg(long, value_enum, default_value = "auto")]
    pub proxy: ProxyKind,

    /// kube-proxy's mode with `--proxy real`.
    #[arg(long, value_enum, default_value = "iptables")]
    pub proxy_mode: crate::cluster::kube_proxy::ProxyMode,

    /// Kubernetes version of the components with `--proxy real`.
    #[arg(long, default_value = crate::cluster::bins::DEFAULT_VERSION.trim())]
    pub kubernetes_version: String,

    /// A directory with the components instead (see `seamless-lab up`).
    #[arg(long)]
    pub kubernetes_bin: Option<PathBuf>,

    /// kube-proxy's minSyncPeriod with `--proxy real` [default:
    /// kube-proxy's own, 1s]: the least time between two syncs of its rules.
    #[arg(long, value_parser = seamless_proto::duration::parse)]
    pub proxy_min_sync_period: Option<Duration>,

    /// kube-controller-manager's `--endpointslice-updates-batch-period`
    /// with `--proxy real` [default: the controller's own, 0].
    #[arg(long, value_parser = seamless_proto::duration::parse)]
    pub endpointslice_updates_batch_period: Option<Duration>,

    /// seamless-controller, which rolls the Deployment with `--proxy real`
    /// [default: next to this executable].
    #[arg(long)]
    pub controller_bin: Option<PathBuf>,

    /// The repository's manifests/ (the workload overlays and the agent
    /// Jobs applied with `--proxy real`).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests"))]
    pub manifests: PathBuf,
}

/// Which data path a run uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    /// Real when the components are there, else emulated.
    Auto,
    /// The lab's own rules and rollout.
    Emulated,
    /// The real components.
    Real,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    s.parse()
        .map_err(|e: scenario::UnknownScenario| e.to_string())
}

impl Opts {
    /// Flags that only make sense together: `--agent-pool` and
    /// `--agent-no-idle-check` need reuse mode.
    pub fn check_agent(&self) -> anyhow::Result<()> {
        let reuse = self.agent_mode.iter().any(|m| m == "reuse");
        if !reuse && (self.agent_pool.is_some() || self.agent_no_idle_check) {
            bail!(
                "--agent-pool and --agent-no-idle-check are reuse mode's: add --agent-mode new,reuse (or reuse)"
            );
        }
        Ok(())
    }

    /// The scenarios asked for.
    pub fn scenarios(&self) -> anyhow::Result<Vec<Scenario>> {
        if self.all {
            Ok(Scenario::all())
        } else if self.scenario.is_empty() {
            bail!("say which scenarios to run: --scenario NAME (repeatable) or --all")
        } else {
            Ok(self.scenario.clone())
        }
    }
}

/// What the outer lab hands the inner one: the user's options, resolved
/// (absolute `out`, `agent_bin` and `lab_bin`; the seed drawn), and whether
/// it runs without real root.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Inner {
    /// The options, resolved.
    pub opts: Opts,
    /// Running without real root (in a user namespace).
    pub rootless: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        opts: Opts,
    }

    #[test]
    fn every_option_survives_the_trip_into_the_sandbox() {
        let cli = Cli::parse_from([
            "lab",
            "--scenario",
            "host-nodeport-prestop",
            "--repeat",
            "3",
            "--out",
            "/tmp/x",
            "--trigger",
            "restart",
            "--backend",
            "nginx",
            "--remove-delay",
            "50ms",
            "--add-delay",
            "10ms..20ms",
            "--prestop",
            "750ms",
            "--grace",
            "3s",
            "--warmup",
            "200ms",
            "--settle",
            "2s",
            "--rate",
            "1234.5",
            "--conntrack-cleanup",
            "false",
            "--seed",
            "7",
            "--agent-bin",
            "/a",
            "--lab-bin",
            "/l",
            "--agent-mode",
            "new,reuse",
            "--agent-pool",
            "4",
            "--agent-no-idle-check",
            "--shutdown",
            "graceful",
        ]);
        let inner = Inner {
            opts: cli.opts,
            rootless: true,
        };
        let json = serde_json::to_string(&inner).unwrap();
        let back: Inner = serde_json::from_str(&json).unwrap();
        // Debug shows every field: a new one that does not survive fails here.
        assert_eq!(format!("{back:?}"), format!("{inner:?}"));
        assert_eq!(back.opts.remove_delay, "50ms".parse().unwrap());
        assert_eq!(back.opts.trigger, Trigger::Restart);
        assert!(!back.opts.conntrack_cleanup);
        assert_eq!(back.opts.agent_mode, ["new", "reuse"]);
        assert_eq!(back.opts.shutdown, crate::shutdown::Shutdown::Graceful);
    }

    #[test]
    fn a_slow_or_unknown_agent_mode_is_a_usage_error() {
        for bad in ["new,slow", "bogus"] {
            let e = Cli::try_parse_from(["lab", "--all", "--agent-mode", bad]).unwrap_err();
            assert!(
                e.to_string().contains("new or reuse") || e.to_string().contains("slow"),
                "{e}"
            );
        }
        let lone = Cli::try_parse_from(["lab", "--all", "--agent-pool", "4"]).unwrap();
        assert!(
            lone.opts
                .check_agent()
                .unwrap_err()
                .to_string()
                .contains("--agent-mode")
        );
        let ok = Cli::try_parse_from(["lab", "--all"]).unwrap();
        ok.opts.check_agent().unwrap();
        assert_eq!(ok.opts.agent_mode, ["new"]);
        assert_eq!(ok.opts.shutdown, crate::shutdown::Shutdown::Fast);
    }
}
