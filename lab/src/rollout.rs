//! One lab run: build the cluster, start the old pod and the agent, roll the
//! Deployment as Kubernetes does for maxSurge 1 / maxUnavailable 0, and
//! write the run directory.
//!
//! After the new pod is Ready and its endpoint is in the rules, the old pod
//! is deleted. Two things then race, exactly as in a cluster:
//! - kube-proxy: after the endpoint-propagation delay, one
//!   `iptables-restore --noflush` without the old endpoint (the ground-truth
//!   "rule removed" is right after it commits);
//! - kubelet: preStop (if any), SIGTERM, the grace period, SIGKILL (the
//!   ground-truth "stopped accepting" is when the listener closed).

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use seamless_proto::timeline::{Event, EventKind};
use seamless_proto::{RunInfo, run};
use serde_json::json;

use super::agent::Agent;
use super::backend::{Backend, BackendError, BackendKind};
use super::clock::now_ns;
use super::delay::{Delay, SplitMix64};
use super::netns::{Netns, NetnsError};
use super::proxy::{Canary, ProxyError, restore_at};
use super::record::{Timeline, ground_truth};
use super::scenario::{Access, Network, Scenario};
use super::topology::{self, BACKEND_PORT, Cluster, Node, TopologyError};

/// What a move or restart does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Trigger {
    /// The new pod lands on the other node (the seed's nodeName change).
    Move,
    /// The new pod lands on the same node (a restart annotation). With
    /// hostNetwork the port is taken, so the scheduler picks the other node.
    Restart,
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The matrix cell.
    pub scenario: Scenario,
    /// Move or restart.
    pub trigger: Trigger,
    /// Built-in server or nginx.
    pub backend: BackendKind,
    /// Endpoint-propagation delay for the new pod's endpoint.
    pub add_delay: Delay,
    /// Endpoint-propagation delay for the old pod's removal.
    pub remove_delay: Delay,
    /// preStop sleep (used by the prestop scenarios).
    pub prestop: Duration,
    /// terminationGracePeriodSeconds.
    pub grace: Duration,
    /// Probing before the rollout starts.
    pub warmup: Duration,
    /// Probing after the old pod is gone.
    pub settle: Duration,
    /// Agent probes a second.
    pub rate: f64,
    /// Delete conntrack entries to the removed endpoint after its rule left.
    pub conntrack_cleanup: bool,
    /// This run's seed.
    pub seed: u64,
    /// The run directory (created).
    pub dir: PathBuf,
    /// seamless-agent.
    pub agent_bin: PathBuf,
    /// seamless-lab (for `seamless-lab serve`).
    pub lab_bin: PathBuf,
    /// Running without real root (in a user namespace).
    pub rootless: bool,
    /// Where per-pod private files (nginx) go.
    pub scratch: PathBuf,
}

/// Errors of one run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Building the cluster failed.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A namespace operation failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A rules sync failed.
    #[error("kube-proxy sync on {node} failed")]
    Proxy {
        /// The node.
        node: String,
        /// Why.
        #[source]
        source: ProxyError,
    },
    /// Writing the run directory failed.
    #[error("writing the run directory {dir} failed")]
    Write {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The agent exited on its own before the run ended.
    #[error("seamless-agent exited early ({0}); see its messages above")]
    AgentExited(std::process::ExitStatus),
    /// The lab was interrupted (SIGINT/SIGTERM).
    #[error("interrupted")]
    Interrupted,
}

/// What one run found, for the summary.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run.json written.
    pub info: RunInfo,
}

struct Pod {
    name: String,
    node: Node,
    addr: SocketAddrV4,
    netns: Option<Netns>,
    backend: Backend,
}

/// Sleeps up to `d`, waking early (with Err) when `stop` is set.
fn sleep(d: Duration, stop: &AtomicBool) -> Result<(), RunError> {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(RunError::Interrupted);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(10)));
    }
}

fn suffix(rng: &mut SplitMix64) -> String {
    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut v = rng.next_u64();
    (0..5)
        .map(|_| {
            let c = A[(v % A.len() as u64) as usize] as char;
            v /= A.len() as u64;
            c
        })
        .collect()
}

/// Runs one scenario into `spec.dir`.
pub fn run_one(spec: &RunSpec, stop: &Arc<AtomicBool>) -> Result<RunResult, RunError> {
    let wr = |source| RunError::Write {
        dir: spec.dir.clone(),
        source,
    };
    std::fs::create_dir_all(&spec.dir).map_err(wr)?;
    let mut rng = SplitMix64::new(spec.seed);
    let rs_hash = suffix(&mut rng).replace(|c: char| c.is_ascii_digit(), "d");
    let old_name = format!("web-{rs_hash}-{}", suffix(&mut rng));
    let new_name = format!("web-{}-{}", suffix(&mut rng), suffix(&mut rng));
    let add_delay = spec.add_delay.draw(&mut rng);
    let remove_delay = spec.remove_delay.draw(&mut rng);

    let cluster = Cluster::create()?;
    let mut pod_namespaces = Vec::new();
    let result: Result<RunResult, RunError> = (|| {
        let started_ns = now_ns();
        let tl = Timeline::create(&spec.dir).map_err(wr)?;
        let probing = cluster.nodes[0].clone();
        let other = cluster.nodes[1].clone();
        let svc = topology::service();
        // The commit canary lives on the probing node until the removal.
        let canary = Canary {
            from: SocketAddrV4::new(probing.ip, topology::CANARY_PORT),
            to: SocketAddrV4::new(probing.ip, topology::CANARY_PORT + 1),
        };
        let sync =
            |node: &Node, eps: &[SocketAddrV4], stale: &[SocketAddrV4], at: Option<Instant>| {
                let c = (node.name == probing.name).then_some(canary);
                let rules = svc.sync_rules_with(eps, stale, c);
                node.ns
                    .run(|| restore_at(&rules, at, None))?
                    .map_err(|source| RunError::Proxy {
                        node: node.name.clone(),
                        source,
                    })
            };

        // The old pod, on the probing node, before the run starts.
        let mut old = start_pod(spec, &cluster.nodes[0], &old_name, 0, &mut pod_namespaces)?;
        old.backend
            .wait_ready(&old.node.ns, Duration::from_secs(5))?;
        for n in &cluster.nodes {
            sync(n, &[old.addr], &[], None)?;
        }

        let url = match spec.scenario.access {
            Access::ClusterIp => format!("http://{}/", topology::CLUSTER_IP),
            Access::NodePort => format!("http://{}:{}/", probing.ip, topology::NODE_PORT),
        };
        let log = spec.dir.join(run::probe_log_name(&probing.name));
        let mut agent = Agent::start(
            &probing.ns,
            &spec.agent_bin,
            &url,
            spec.rate,
            &log,
            &probing.name,
        )?;
        sleep(spec.warmup, stop)?;
        if let Some(s) = agent.exited() {
            return Err(RunError::AgentExited(s));
        }

        // The rollout.
        let target_node = match (spec.trigger, spec.scenario.network) {
            (Trigger::Restart, Network::Pod) => &cluster.nodes[0],
            _ => &cluster.nodes[1],
        };
        let trigger_text = match spec.trigger {
            Trigger::Move => format!("move-to-node {}", target_node.name),
            Trigger::Restart => "restart".to_owned(),
        };
        let patch_ns = now_ns();
        tl.emit(
            Event::new(patch_ns, EventKind::PatchSent)
                .with_object(seamless_proto::ObjectRef::new("Deployment", "web"))
                .with_detail(trigger_text.clone()),
        );
        tl.pod(EventKind::PodCreated, &new_name, &target_node.name);
        let mut new = start_pod(spec, target_node, &new_name, 1, &mut pod_namespaces)?;
        tl.pod(EventKind::ContainerStarted, &new_name, &target_node.name);
        new.backend
            .wait_ready(&target_node.ns, Duration::from_secs(5))?;
        let ready_ns = tl.pod(EventKind::PodReady, &new_name, &target_node.name);
        tl.endpoint(
            ready_ns,
            EventKind::EndpointAdded,
            &new_name,
            &new.addr.to_string(),
            Some(&target_node.name),
        );
        let ready_at = Instant::now();
        if stop.load(Ordering::Relaxed) {
            return Err(RunError::Interrupted);
        }
        let added = sync(
            &probing,
            &[old.addr, new.addr],
            &[],
            Some(ready_at + add_delay),
        )?;
        sync(&other, &[old.addr, new.addr], &[], None)?;
        let mut e = Event::new(added.committed_ns, EventKind::ProxyRulesSynced)
            .with_node(&probing.name)
            .with_detail(format!("endpoint {} added", new.addr));
        e.pod = Some(new_name.clone());
        e.address = Some(new.addr.to_string());
        tl.emit(e);

        // The old pod is deleted: kube-proxy and kubelet race.
        let grace_s = spec.grace.as_secs() as i64;
        let term_ns = now_ns();
        let mut e = Event::new(term_ns, EventKind::PodTerminating)
            .with_object(seamless_proto::ObjectRef::new("Pod", &old_name))
            .with_node(&old.node.name);
        e.grace_period_s = Some(grace_s);
        tl.emit(e);
        tl.emit(
            Event::new(now_ns(), EventKind::RolloutComplete)
                .with_object(seamless_proto::ObjectRef::new("Deployment", "web")),
        );
        tl.endpoint(
            term_ns,
            EventKind::EndpointRemoved,
            &old_name,
            &old.addr.to_string(),
            Some(&old.node.name),
        );
        let term_at = Instant::now();
        let proxy = {
            let (tl, probing, other) = (tl.clone(), probing.clone(), other.clone());
            let (old_addr, new_addr, old_name) = (old.addr, new.addr, old_name.clone());
            let svc = svc.clone();
            let cleanup = spec.conntrack_cleanup;
            std::thread::spawn(move || -> Result<_, RunError> {
                let rules = svc.sync_rules(&[new_addr], &[old_addr]);
                let at = Some(term_at + remove_delay);
                let removed = probing
                    .ns
                    .run(|| restore_at(&rules, at, Some(canary)))?
                    .map_err(|source| RunError::Proxy {
                        node: probing.name.clone(),
                        source,
                    })?;
                let mut e = Event::new(removed.committed_ns, EventKind::ProxyRulesSynced)
                    .with_node(&probing.name)
                    .with_detail(format!("endpoint {old_addr} removed"));
                e.pod = Some(old_name);
                e.address = Some(old_addr.to_string());
                tl.emit(e);
                let mut flushed = 0;
                if cleanup {
                    flushed = probing.ns.run(|| conntrack_delete(old_addr))?;
                }
                other
                    .ns
                    .run(|| restore_at(&rules, None, None))?
                    .map_err(|source| RunError::Proxy {
                        node: other.name.clone(),
                        source,
                    })?;
                Ok((removed, flushed))
            })
        };

        let kubelet = terminate(spec, &mut old, &tl, stop);
        let (removed, flushed) = proxy
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        let term = kubelet?;
        if let Some(ns) = old.netns.take() {
            drop(old.backend);
            let _ = ns.delete();
        } else {
            drop(old.backend);
        }
        tl.pod(EventKind::PodDeleted, &old_name, &old.node.name);
        tl.emit(Event::new(now_ns(), EventKind::OldPodsGone));

        let settle_res = sleep(spec.settle, stop);
        let agent_status = agent.stop(Duration::from_secs(10));
        let ended_ns = now_ns();
        tl.emit(Event::new(ended_ns, EventKind::RunEnd));

        let mut truth = ground_truth(term.stopped_ns, Some(removed.committed_ns));
        truth.extra.insert(
            "old_rule_commit_written_ns".into(),
            json!(removed.started_ns),
        );
        truth.extra.insert(
            "old_rule_restore_exited_ns".into(),
            json!(removed.exited_ns),
        );
        truth
            .extra
            .insert("old_rule_commit_seen_by".into(), json!(removed.method));
        truth
            .extra
            .insert("sigterm_ns".into(), json!(term.sigterm_ns));
        truth
            .extra
            .insert("pod_terminating_ns".into(), json!(term_ns));
        let mut info = RunInfo {
            scenario: Some(spec.scenario.to_string()),
            source: Some("lab".into()),
            target: Some(url.clone()),
            trigger: Some(trigger_text),
            clock: Some(
                "one machine: agent, lab and backends all use CLOCK_REALTIME of the same kernel"
                    .into(),
            ),
            started_ns: Some(started_ns),
            ended_ns: Some(ended_ns),
            ground_truth: Some(truth),
            ..Default::default()
        };
        info.versions
            .insert("seamless-lab".into(), env!("CARGO_PKG_VERSION").into());
        info.extra.insert(
            "lab".into(),
            json!({
                "seed": spec.seed,
                "network": format!("{:?}", spec.scenario.network).to_lowercase(),
                "access": format!("{:?}", spec.scenario.access).to_lowercase(),
                "prestop_s": if spec.scenario.has_prestop() { Some(spec.prestop.as_secs_f64()) } else { None },
                "grace_period_s": spec.grace.as_secs_f64(),
                "backend": format!("{:?}", spec.backend).to_lowercase(),
                "add_delay": spec.add_delay.to_string(),
                "remove_delay": spec.remove_delay.to_string(),
                "add_delay_drawn_ms": add_delay.as_secs_f64() * 1e3,
                "remove_delay_drawn_ms": remove_delay.as_secs_f64() * 1e3,
                "remove_delay_actual_ms": (removed.committed_ns - term_ns) as f64 / 1e6,
                "conntrack_cleanup": spec.conntrack_cleanup,
                "conntrack_entries_deleted": flushed,
                "rate": spec.rate,
                "old_pod": { "name": old_name, "node": old.node.name, "address": old.addr.to_string() },
                "new_pod": { "name": new_name, "node": new.node.name, "address": new.addr.to_string() },
                "old_exit": term.exit,
                "sigkill": term.sigkill_ns.is_some(),
                "agent_exit": agent_status.and_then(|s| s.code()),
                "rootless": spec.rootless,
                "interrupted": settle_res.is_err(),
            }),
        );
        info.extra.insert(
            "strategy".into(),
            json!({"type": "RollingUpdate", "maxSurge": 1, "maxUnavailable": 0}),
        );
        info.write(&spec.dir).map_err(wr)?;
        if let Some(ns) = new.netns.take() {
            pod_namespaces.push(ns);
        }
        drop(new);
        settle_res?;
        Ok(RunResult { info })
    })();
    cluster.destroy(&pod_namespaces);
    result
}

fn start_pod(
    spec: &RunSpec,
    node: &Node,
    name: &str,
    n: u8,
    namespaces: &mut Vec<Netns>,
) -> Result<Pod, RunError> {
    let (netns, addr, ns) = match spec.scenario.network {
        Network::Pod => {
            let ip = node.pod_ip(n);
            let ns = topology::create_pod_netns(node, name, &format!("veth{n}"), ip)?;
            namespaces.push(ns.clone());
            (Some(ns.clone()), SocketAddrV4::new(ip, BACKEND_PORT), ns)
        }
        Network::Host => (
            None,
            SocketAddrV4::new(node.ip, BACKEND_PORT),
            node.ns.clone(),
        ),
    };
    let listen_any = spec.scenario.network == Network::Host;
    let backend = match spec.backend {
        BackendKind::Builtin => Backend::builtin(&ns, &spec.lab_bin, name, addr, listen_any)?,
        BackendKind::Nginx => Backend::nginx(
            &ns,
            &spec.scratch.join(name),
            name,
            addr,
            listen_any,
            spec.rootless,
        )?,
    };
    Ok(Pod {
        name: name.into(),
        node: node.clone(),
        addr,
        netns,
        backend,
    })
}

struct Terminated {
    sigterm_ns: i64,
    stopped_ns: Option<i64>,
    sigkill_ns: Option<i64>,
    exit: Option<i32>,
}

/// kubelet's part: preStop, SIGTERM, grace period, SIGKILL.
fn terminate(
    spec: &RunSpec,
    pod: &mut Pod,
    tl: &Timeline,
    stop: &AtomicBool,
) -> Result<Terminated, RunError> {
    let node = pod.node.name.clone();
    let began = Instant::now();
    if spec.scenario.has_prestop() {
        tl.pod_at(
            now_ns(),
            EventKind::PreStopStarted,
            &pod.name,
            &node,
            Some(format!(
                "sleep {}",
                humantime::format_duration(spec.prestop)
            )),
        );
        sleep(spec.prestop, stop)?;
    }
    let (sigterm_ns, watch) = pod.backend.sigterm();
    tl.pod_at(sigterm_ns, EventKind::SigtermSent, &pod.name, &node, None);
    let remaining = spec.grace.saturating_sub(began.elapsed());
    let mut status = pod.backend.wait_exit(remaining);
    let mut sigkill_ns = None;
    if status.is_none() {
        let ts = pod.backend.sigkill();
        tl.pod_at(ts, EventKind::SigkillSent, &pod.name, &node, None);
        sigkill_ns = Some(ts);
        status = pod.backend.wait_exit(Duration::from_secs(5));
    }
    let stopped_ns = watch.get(Duration::from_millis(500)).or(sigkill_ns);
    let exit = status.and_then(|s| {
        use std::os::unix::process::ExitStatusExt;
        s.code().or(s.signal().map(|sig| 128 + sig))
    });
    let mut e = Event::new(now_ns(), EventKind::ContainerTerminated)
        .with_object(seamless_proto::ObjectRef::new("Pod", &pod.name))
        .with_node(&node);
    e.exit_code = exit;
    e.reason = Some(
        if sigkill_ns.is_some() {
            "Killed"
        } else {
            "Completed"
        }
        .into(),
    );
    tl.emit(e);
    Ok(Terminated {
        sigterm_ns,
        stopped_ns,
        sigkill_ns,
        exit,
    })
}

/// Deletes the conntrack entries of connections `ep` reset (marked by
/// [`super::proxy::Service::mark_rules`]): refused connects whose CLOSE
/// entry would otherwise keep steering a reused client port to the dead pod
/// for ~10 s. Only those few: deleting every CLOSE entry (thousands, one per
/// finished probe) takes tens of ms, during which a reused tuple's new,
/// live entry can be deleted instead. Returns how many went.
fn conntrack_delete(ep: SocketAddrV4) -> usize {
    let out = Command::new("conntrack")
        .args(["-D", "-p", "tcp", "--mark", "1/1", "--reply-src"])
        .arg(ep.ip().to_string())
        .args(["--reply-port-src", &ep.port().to_string()])
        .output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stderr);
            text.split_whitespace()
                .zip(text.split_whitespace().skip(1))
                .find(|(_, w)| w.starts_with("flow"))
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or(0)
        }
        Err(e) => {
            tracing::warn!("conntrack: {e}");
            0
        }
    }
}

/// The run directory of one scenario and repeat: `OUT/<scenario>/run-NN`.
pub fn run_dir(out: &Path, scenario: &Scenario, repeat: u32) -> PathBuf {
    out.join(scenario.to_string())
        .join(format!("run-{repeat:02}"))
}
