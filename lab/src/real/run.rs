//! One run of the seed's experiment on the real components, as a user runs
//! it on a cluster: the scenario's overlay from `manifests/workload/`
//! applied with kubectl, the agent Job from `manifests/agent/` on node-c
//! (which holds no workload pod, so every probe crosses its kube-proxy's
//! rules), `seamless-controller rollout --move-to-node` between node-a and
//! node-b, then the agent stopped by deleting its Job and its log taken
//! from the pod's emptyDir. The ground truth comes from our kubelet (when
//! the old pod's listener closed) and from node-c's kernel (when kube-proxy
//! took the old endpoint out of the rules, [`super::rules`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use seamless_proto::run::{CommitSeenBy, GroundTruth, RunInfo};
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

use super::kubectl::Kubectl;
use super::manifests;
use super::rules::{self, Removal};
use crate::cluster::kube_proxy::{ProxyMode, Version};
use crate::host::netns::Netns;
use crate::node::events::{KubeletEvent, Step};
use crate::scenario::{Access, Network, Scenario, Termination};
use crate::shutdown::Shutdown;

/// The workload's namespace and Deployment (manifests/workload/base).
pub const NS: &str = "seamless-demo";
const DEPLOYMENT: &str = "web";
/// The node the agent runs on.
pub const AGENT_NODE: &str = "node-c";
/// The nodes the workload moves between.
pub const WORK_NODES: [&str; 2] = ["node-a", "node-b"];

/// What every run of a matrix shares.
pub struct Ctx {
    /// kubectl as the admin.
    pub kubectl: Kubectl,
    /// seamless-controller.
    pub controller: PathBuf,
    /// The repository's manifests/.
    pub manifests: PathBuf,
    /// Pods' directories (our kubelets').
    pub pods_dir: PathBuf,
    /// node-c's namespace.
    pub agent_ns: Netns,
    /// kube-proxy's mode.
    pub mode: ProxyMode,
    /// kube-proxy's minSyncPeriod, when set (else kube-proxy's 1 s).
    pub min_sync_period: Option<Duration>,
    /// The EndpointSlice controller's batch period, when set (else 0).
    pub slice_batch: Option<Duration>,
    /// Every kubelet step so far.
    pub events: Arc<Mutex<Vec<KubeletEvent>>>,
    /// The API server's version.
    pub version: String,
    /// The agent's `--mode`/`--pool` flags (none for new connections alone).
    pub agent_flags: Vec<String>,
    /// The agent's modes, for run.json.
    pub agent_modes: Vec<String>,
    /// How the old pod's nginx stops.
    pub shutdown: crate::shutdown::Shutdown,
}

impl Ctx {
    /// What sets these runs apart from another matrix's, for `compare
    /// --group-by lab.group`: the version, the mode, and the knobs set
    /// (the agent's modes and the shutdown when not the defaults).
    pub fn group(&self) -> String {
        let mut g = format!("{} {}", self.version, self.mode.as_str());
        if let Some(d) = self.min_sync_period {
            g += &format!(" minSyncPeriod={}", humantime::format_duration(d));
        }
        if let Some(d) = self.slice_batch {
            g += &format!(" sliceBatch={}", humantime::format_duration(d));
        }
        if self.agent_modes != ["new"] {
            g += &format!(" modes={}", self.agent_modes.join(","));
        }
        if self.agent_flags.iter().any(|f| f == "--no-idle-check") {
            g += " no-idle-check";
        }
        if self.shutdown != Shutdown::Fast {
            g += &format!(" shutdown={}", self.shutdown.as_str());
        }
        g
    }
}

/// The overlay of a scenario (the seed's preStop is `sleep 10`): with
/// `sleep_action`, the native `preStop.sleep` (beta and on by default since
/// 1.30, GA in 1.34); without, the seed's own `exec` of `sleep 10`, which
/// every version has (a 1.26 API server refuses the sleep action as an
/// unknown field).
pub fn overlay(sc: &Scenario, sleep_action: bool) -> &'static str {
    match (sc.network, sc.termination, sleep_action) {
        (Network::Pod, Termination::NoPreStop, _) => "pod-no-prestop",
        (Network::Pod, Termination::PreStop, true) => "pod-prestop-sleep",
        (Network::Pod, Termination::PreStop, false) => "pod-prestop-exec",
        (Network::Host, Termination::NoPreStop, _) => "hostnet-no-prestop",
        (Network::Host, Termination::PreStop, true) => "hostnet-prestop-sleep",
        (Network::Host, Termination::PreStop, false) => "hostnet-prestop-exec",
    }
}

/// Whether an API server of `version` (`v1.26.3`) takes the preStop sleep
/// action by default (1.30 and later).
pub fn has_sleep_action(version: &str) -> bool {
    Version::parse(version).is_some_and(|v| v.at_least(1, 30))
}

/// The agent Job of a scenario, and its name.
fn agent_job(sc: &Scenario) -> (&'static str, &'static str) {
    match sc.access {
        Access::ClusterIp => ("job-clusterip", "seamless-agent-clusterip"),
        Access::NodePort => ("job-nodeport", "seamless-agent-nodeport"),
    }
}

/// The single pod of the Deployment once it is alone and ready: (name,
/// uid, node, IP).
fn settled_pod(k: &Kubectl) -> Result<(String, String, String, String), anyhow::Error> {
    let sel = "app.kubernetes.io/name=web";
    k.wait("the workload to settle on one ready pod", Duration::from_secs(120), |k| {
        let out = k
            .get(
                NS,
                &["pods", "-l", sel],
                "{range .items[*]}{.metadata.name} {.metadata.uid} {.spec.nodeName} {.status.podIP} {.metadata.deletionTimestamp} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            )
            .ok()?;
        let pods: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
        match &pods[..] {
            [p] if p.len() == 5 && p[4] == "True" => {
                Some((p[0].into(), p[1].into(), p[2].into(), p[3].into()))
            }
            _ => None,
        }
    })
    .map_err(Into::into)
}

/// `seamless-controller rollout --move-to-node NODE` into `out`.
fn rollout(ctx: &Ctx, node: &str, settle: Duration, out: &Path) -> anyhow::Result<()> {
    let st = Command::new(&ctx.controller)
        .env("KUBECONFIG", &ctx.kubectl.kubeconfig)
        .env("RUST_LOG", "warn")
        .args([
            "rollout",
            "-n",
            NS,
            DEPLOYMENT,
            "--move-to-node",
            node,
            "--settle",
        ])
        .arg(humantime::format_duration(settle).to_string())
        .arg("--out")
        .arg(out)
        .output()
        .with_context(|| format!("running {}", ctx.controller.display()))?;
    // Its one line a run ("rollout complete: ...") is the timeline's; its
    // stderr is kept for when it fails.
    if !st.status.success() {
        bail!(
            "seamless-controller rollout --move-to-node {node} exited {}: {}",
            st.status,
            String::from_utf8_lossy(&st.stderr).trim()
        );
    }
    Ok(())
}

/// One run into `dir`; its run.json holds the ground truth.
pub fn run_one(
    ctx: &Ctx,
    sc: &Scenario,
    warmup: Duration,
    settle: Duration,
    dir: &Path,
) -> anyhow::Result<RunInfo> {
    let k = &ctx.kubectl;
    // The workload as the scenario has it, alone on node-a or node-b.
    let overlay = overlay(sc, has_sleep_action(&ctx.version));
    let overlay_dir = ctx.manifests.join("workload/overlays").join(overlay);
    match ctx.shutdown {
        Shutdown::Fast => k.apply_k(&overlay_dir)?,
        Shutdown::Graceful => {
            let (yaml, _) = manifests::graceful_workload(&k.kustomize(&overlay_dir)?)?;
            k.apply(&yaml)?;
        }
    }
    let (mut pod, _, mut node, _) = settled_pod(k)?;
    if !WORK_NODES.contains(&node.as_str()) {
        let scratch = tempdir(dir, "placement")?;
        rollout(ctx, WORK_NODES[0], Duration::ZERO, &scratch)?;
        let _ = std::fs::remove_dir_all(&scratch);
        (pod, _, node, _) = settled_pod(k)?;
    }
    let (_, _, _, ip) = settled_pod(k)?;
    let target = if node == WORK_NODES[0] {
        WORK_NODES[1]
    } else {
        WORK_NODES[0]
    };
    let port = 80;
    // Probing starts once node-c's kube-proxy sends the Service to this pod
    // alone: an earlier start would measure the previous placement's race.
    if !rules::wait_routed_alone(&ctx.agent_ns, ctx.mode, &ip, port, Duration::from_secs(30)) {
        bail!("node-c's kube-proxy did not route the Service to {ip}:{port} alone within 30 s");
    }

    // The agent, as the user applies it.
    let (job_dir, job) = agent_job(sc);
    let yaml = manifests::agent_job(
        &k.kustomize(&ctx.manifests.join("agent").join(job_dir))?,
        &ctx.agent_flags,
    )?
    .replace("AGENT_NODE", AGENT_NODE);
    k.apply(&yaml)?;
    let agent_uid = k.wait("the agent to run", Duration::from_secs(60), |k| {
        let out = k
            .get(
                NS,
                &["pods", "-l", &format!("job-name={job}")],
                "{.items[0].metadata.uid} {.items[0].status.phase}",
            )
            .ok()?;
        let mut it = out.split_whitespace();
        let (uid, phase) = (it.next()?, it.next()?);
        (phase == "Running").then(|| uid.to_string())
    })?;
    let data = ctx.pods_dir.join(&agent_uid).join("volumes/data");
    let log = k.wait("the agent's log", Duration::from_secs(30), |_| {
        std::fs::read_dir(&data)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "log"))
    })?;
    std::thread::sleep(warmup);

    // The race: the old endpoint's removal on node-c against the listener.
    let watch = rules::watch(
        &ctx.agent_ns,
        ctx.mode,
        ip.clone(),
        port,
        Duration::from_secs(90),
    );
    let first_event = ctx.events.lock().map(|e| e.len()).unwrap_or(0);
    rollout(ctx, target, settle, dir)?;
    // kube-proxy may take the old endpoint out after the rollout is over
    // (its sync waits at least minSyncPeriod after the last): probing goes
    // on until node-c's rules have dropped it, and `settle` more.
    let removal = watch.get(Duration::from_secs(60));
    std::thread::sleep(settle);
    let held = super::conntrack::held(&ctx.agent_ns, &ip, seamless_proto::clock::now_ns());

    // Stop the agent as a user would, and keep its log.
    k.run(
        &[
            "-n",
            NS,
            "delete",
            "job",
            job,
            "--cascade=foreground",
            "--wait=true",
            "--timeout=60s",
        ],
        None,
    )?;
    let dest = dir.join(seamless_proto::run::probe_log_name(AGENT_NODE));
    std::fs::copy(&log, &dest)
        .with_context(|| format!("copying {} to {}", log.display(), dest.display()))?;

    // Ground truth and the kubelet's and kube-proxy's steps in the timeline.
    let evs: Vec<KubeletEvent> = ctx
        .events
        .lock()
        .map(|e| e[first_event.min(e.len())..].to_vec())
        .unwrap_or_default();
    let old = format!("{NS}/{pod}");
    let step = |s: Step| {
        evs.iter()
            .find(|e| e.pod == old && e.step == s)
            .map(|e| e.t_ns)
    };
    // The removal is bracketed by the commits around it: the outage ends
    // at the latest, the earliest bounds it (as the emulated lab's COMMIT
    // write does).
    let (earliest, removed_ns) = match removal {
        Some(Removal::Between(a, b)) => (Some(a), Some(b)),
        _ => (None, None),
    };
    // The old pod's connections, watched from its deletion; a graceful
    // hook closes the listener before SIGTERM, where the listener watch
    // (from SIGTERM) would see it late: the earlier of the two.
    let conns = evs
        .iter()
        .filter(|e| e.pod == old)
        .find_map(KubeletEvent::backend_conns);
    let listener_gone = conns.as_ref().and_then(|c| c.1);
    let stopped = match (step(Step::ListenerClosed), listener_gone) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut truth = GroundTruth::from_race(stopped, removed_ns);
    truth.old_backend_conns = conns.map(|c| c.0);
    truth.old_rule_commit_written_ns = earliest;
    truth.old_rule_commit_seen_by = removed_ns.map(|_| CommitSeenBy::Netlink);
    truth.sigterm_ns = step(Step::Sigterm);
    truth.pod_terminating_ns = step(Step::DeletionSeen);
    truth.conntrack_held = held;
    let mut extra: Vec<Event> = evs
        .iter()
        .filter_map(KubeletEvent::timeline_event)
        .collect();
    if let Some(t) = removed_ns {
        extra.push(
            Event::new(t, EventKind::ProxyRulesSynced)
                .with_object(ObjectRef::new("Pod", pod.clone()))
                .with_node(AGENT_NODE)
                .with_detail(format!(
                    "kube-proxy ({}) took {ip}:{port} out of the Service's rules",
                    ctx.mode.as_str()
                )),
        );
    }
    merge_timeline(&dir.join("timeline.jsonl"), extra)?;

    let mut info = RunInfo::read(dir).context("the controller's run.json")?;
    info.scenario = Some(sc.to_string());
    info.source = Some("lab".into());
    info.ground_truth = Some(truth);
    info.versions
        .insert("kubernetes".into(), ctx.version.clone());
    info.versions
        .insert("seamless-lab".into(), env!("CARGO_PKG_VERSION").into());
    info.extra.insert(
        "lab".into(),
        serde_json::json!({
            "proxy": "real",
            "proxy_mode": ctx.mode.as_str(),
            "group": ctx.group(),
            "overlay": overlay,
            "shutdown": ctx.shutdown.as_str(),
            "agent_modes": ctx.agent_modes,
            "agent_flags": ctx.agent_flags,
            "proxy_min_sync_period": match ctx.min_sync_period {
                None => "1s (default)".to_string(),
                Some(Duration::ZERO) => "0s (kube-proxy reads it as unset: 1s)".to_string(),
                Some(d) => humantime::format_duration(d).to_string(),
            },
            "endpointslice_updates_batch_period": ctx.slice_batch
                .map_or("0s (default)".to_string(), |d| humantime::format_duration(d).to_string()),
            "network": format!("{:?}", sc.network).to_lowercase(),
            "access": format!("{:?}", sc.access).to_lowercase(),
            "termination": format!("{:?}", sc.termination).to_lowercase(),
            "old_pod": pod,
            "old_pod_ip": ip,
            "from_node": node,
            "to_node": target,
            "agent_node": AGENT_NODE,
            "rule_removal": match removal {
                Some(Removal::Between(..)) => "seen",
                Some(Removal::NotThere) => "not in the rules at the start",
                None => "not seen",
            },
        }),
    );
    info.write(dir).context("writing run.json")?;
    Ok(info)
}

/// Adds `extra` to the controller's timeline, in time order.
fn merge_timeline(path: &Path, extra: Vec<Event>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut events: Vec<Event> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    events.extend(extra);
    events.sort_by_key(|e| e.ts_ns);
    let mut out = String::new();
    for e in &events {
        out.push_str(&serde_json::to_string(e)?);
        out.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, out)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn tempdir(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let p = dir.with_file_name(format!(
        ".{}-{name}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("run")
    ));
    let _ = std::fs::remove_dir_all(&p);
    Ok(p)
}
