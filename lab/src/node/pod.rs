//! One pod's life on our kubelet, from admission to the deletion of its
//! object. The termination follows the real kubelet step for step:
//!
//! 1. On `deletionTimestamp` (pkg/kubelet/pod_workers.go, `SyncTerminatingPod`
//!    in kubelet.go) readiness probing goes on; the Ready condition is not
//!    flipped at once: the EndpointSlice controller already marks the
//!    endpoint terminating.
//! 2. Per container, in parallel (kuberuntime_container.go `killContainer`):
//!    the preStop hook (exec or sleep) within the grace budget
//!    (`deletionGracePeriodSeconds`, else `terminationGracePeriodSeconds`),
//!    then SIGTERM with what is left of it, at least 2 s
//!    (`minimumGracePeriodInSeconds`), then SIGKILL.
//! 3. A container that exits is not ready (status/generate.go).
//! 4. The terminal status is posted (phase from kubelet_pods.go `getPhase`).
//! 5. The pod object is deleted with grace 0 and a UID precondition
//!    (status/status_manager.go `syncPod` -> `canBeDeleted`).

use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};

use super::events::Step;
use super::probe::{self, Readiness, Tally};
use super::runtime::{self, ContainerSpec};
use super::spec;
use super::status::{CState, ContainerStatus, PodStatus};
use super::{NodeCtx, Sandbox};

/// Kubelet's floor for the SIGTERM phase (kuberuntime_container.go).
const MIN_GRACE: Duration = Duration::from_secs(2);
/// How often the worker looks at its processes.
const TICK: Duration = Duration::from_millis(10);

/// Where a container is in its termination.
#[derive(Debug)]
enum Term {
    Alive,
    PreStop { until: Instant, hook: Option<Child> },
    Stopping { kill_at: Instant },
    Killed,
}

struct Ctr {
    spec: Container,
    child: Option<Child>,
    readiness: Option<Readiness>,
    tally: Tally,
    next_probe: Instant,
    term: Term,
    restart_at: Option<Instant>,
    backoff: Duration,
    log: PathBuf,
}

/// Runs one pod until its object is gone; `rx` carries its latest object
/// (closed when the API no longer has it).
pub async fn run(ctx: Arc<NodeCtx>, mut rx: watch::Receiver<Pod>) {
    let pod = rx.borrow().clone();
    let mut w = match Worker::admit(&ctx, &pod).await {
        Ok(w) => w,
        Err(msg) => {
            ctx.event(&pod, Step::PodFailed, "", &msg);
            tracing::error!("{}: {msg}", key(&pod));
            fail(&ctx, &pod, &msg).await;
            // Nothing runs; the pod is finished once it is deleted.
            while rx.changed().await.is_ok() {
                let p = rx.borrow().clone();
                if p.metadata.deletion_timestamp.is_some() {
                    delete(&ctx, &p).await;
                    return;
                }
            }
            return;
        }
    };
    w.post(&ctx).await;
    let (ptx, mut prx) = mpsc::unbounded_channel::<(usize, bool)>();
    let mut gone = false;
    loop {
        tokio::select! {
            r = rx.changed(), if !gone => { if r.is_err() { gone = true; } }
            Some((i, ok)) = prx.recv() => { w.probed(&ctx, i, ok); }
            _ = tokio::time::sleep(TICK) => {}
        }
        let pod = rx.borrow().clone();
        if (pod.metadata.deletion_timestamp.is_some() || gone) && w.deleting.is_none() {
            w.begin_termination(&ctx, &pod, gone);
        }
        w.poll(&ctx);
        w.probe_due(&ctx, &ptx);
        if w.deleting.is_some() && w.all_exited() {
            w.status.finish(Utc::now());
            w.post(&ctx).await;
            ctx.event(&w.pod, Step::TerminalStatusPosted, "", "");
            if !gone {
                delete(&ctx, &w.pod).await;
            }
            w.sandbox.destroy(&ctx);
            return;
        }
        if w.dirty {
            w.post(&ctx).await;
        }
    }
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

struct Worker {
    pod: Pod,
    sandbox: Sandbox,
    ctrs: Vec<Ctr>,
    status: PodStatus,
    deleting: Option<Instant>,
    dirty: bool,
}

impl Worker {
    /// Admission: checks, the sandbox, volumes, then every container.
    async fn admit(ctx: &NodeCtx, pod: &Pod) -> Result<Worker, String> {
        spec::check(pod).map_err(|e| e.to_string())?;
        let pspec = pod.spec.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let host_network = pspec.host_network == Some(true);
        let sandbox = Sandbox::create(ctx, &uid, host_network).map_err(|e| format!("{e:#}"))?;
        let pod_ip = sandbox.ip.to_string();
        let host_ip = ctx.net.ip.to_string();
        let now = Utc::now();
        let mut status = PodStatus::new(
            &uid,
            &host_ip,
            pspec
                .containers
                .iter()
                .map(|c| ContainerStatus {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    id: None,
                    state: CState::Waiting {
                        reason: "ContainerCreating".into(),
                        message: String::new(),
                    },
                    ready: false,
                    restart_count: 0,
                })
                .collect(),
            now,
        );
        status.pod_ip = Some(pod_ip.clone());
        ctx.event(pod, Step::SandboxCreated, "", &pod_ip);
        let volumes = volumes(ctx, pod, &sandbox.dir)
            .await
            .inspect_err(|_| sandbox.destroy(ctx))?;
        let mut w = Worker {
            pod: pod.clone(),
            sandbox,
            ctrs: Vec::new(),
            status,
            deleting: None,
            dirty: true,
        };
        for c in &pspec.containers {
            let readiness = probe::readiness(c, w.sandbox.ip).unwrap_or(None);
            let mounts = c
                .volume_mounts
                .iter()
                .flatten()
                .filter_map(|m| {
                    volumes
                        .iter()
                        .find(|(n, _)| *n == m.name)
                        .map(|(_, d)| (d.clone(), m.mount_path.clone()))
                })
                .collect();
            let delay = readiness
                .as_ref()
                .map_or(Duration::ZERO, |r| r.initial_delay);
            w.ctrs.push(Ctr {
                log: w.sandbox.dir.join(format!("{}.log", c.name)),
                spec: c.clone(),
                child: None,
                readiness,
                tally: Tally::default(),
                next_probe: Instant::now() + delay,
                term: Term::Alive,
                restart_at: None,
                backoff: Duration::from_secs(10),
            });
            let i = w.ctrs.len() - 1;
            w.ctrs[i].spec.volume_mounts = None;
            w.start(ctx, i, mounts, &host_ip);
        }
        Ok(w)
    }

    /// Starts container `i`; an image the lab cannot run leaves it waiting
    /// with the reason, as a failed pull does.
    fn start(&mut self, ctx: &NodeCtx, i: usize, mounts: Vec<(PathBuf, String)>, host_ip: &str) {
        let c = &self.ctrs[i].spec;
        let image = c.image.clone().unwrap_or_default();
        let program = match runtime::resolve(&image) {
            Ok(p) => p,
            Err(e) => {
                self.waiting(ctx, i, "ErrImagePull", &e.to_string());
                return;
            }
        };
        let env = spec::env(&self.pod, c, &self.sandbox.ip.to_string(), host_ip);
        let spec = ContainerSpec {
            program,
            // $(VAR) in command and args expands against the container's
            // environment (kubelet's kubecontainer.ExpandContainerCommandAndArgs).
            command: c
                .command
                .iter()
                .flatten()
                .map(|a| spec::expand(a, &env))
                .collect(),
            args: c
                .args
                .iter()
                .flatten()
                .map(|a| spec::expand(a, &env))
                .collect(),
            env,
            mounts,
            hostname: if self.sandbox.host_network {
                ctx.net.name.clone()
            } else {
                self.pod.metadata.name.clone().unwrap_or_default()
            },
            netns: self.sandbox.ns.name.clone(),
            dir: self.sandbox.dir.join(&c.name),
            log: self.ctrs[i].log.clone(),
            resolv_conf: super::dns::resolv_conf(&self.pod, ctx.dns),
            hosts: (!self.sandbox.host_network).then(|| {
                super::dns::hosts(
                    &self.sandbox.ip.to_string(),
                    &self.pod.metadata.name.clone().unwrap_or_default(),
                )
            }),
        };
        match runtime::start(&spec, &ctx.agent_bin) {
            Ok(child) => {
                let name = c.name.clone();
                let pid = child.id();
                self.ctrs[i].child = Some(child);
                let st = &mut self.status.containers[i];
                st.id = Some(format!("seamless-lab://{pid}"));
                st.state = CState::Running {
                    started: Utc::now(),
                };
                st.ready = self.ctrs[i].readiness.is_none();
                self.status.recompute(Utc::now());
                self.dirty = true;
                ctx.event(
                    &self.pod,
                    Step::ContainerStarted,
                    &name,
                    &format!("pid {pid}"),
                );
            }
            Err(e) => {
                let msg = format!("{e:#}");
                self.waiting(ctx, i, "CreateContainerError", &msg);
            }
        }
    }

    fn waiting(&mut self, ctx: &NodeCtx, i: usize, reason: &str, message: &str) {
        let name = self.ctrs[i].spec.name.clone();
        tracing::error!("{} container {name}: {reason}: {message}", key(&self.pod));
        ctx.event(&self.pod, Step::PodFailed, &name, message);
        self.status.containers[i].state = CState::Waiting {
            reason: reason.into(),
            message: message.into(),
        };
        self.status.recompute(Utc::now());
        self.dirty = true;
    }

    /// A probe's result.
    fn probed(&mut self, ctx: &NodeCtx, i: usize, ok: bool) {
        let Some(r) = self.ctrs[i].readiness.clone() else {
            return;
        };
        if self.ctrs[i].child.is_none() {
            return;
        }
        let ready = self.status.containers[i].ready;
        if let Some(now_ready) = self.ctrs[i].tally.record(ok, &r, ready) {
            self.status.containers[i].ready = now_ready;
            self.status.recompute(Utc::now());
            self.dirty = true;
            let step = if now_ready {
                Step::ContainerReady
            } else {
                Step::ContainerNotReady
            };
            let name = self.ctrs[i].spec.name.clone();
            ctx.event(&self.pod, step, &name, "");
        }
    }

    /// Starts the probes that are due, each on a thread in the node's
    /// namespace; results come back through `tx`.
    fn probe_due(&mut self, ctx: &NodeCtx, tx: &mpsc::UnboundedSender<(usize, bool)>) {
        let now = Instant::now();
        for (i, c) in self.ctrs.iter_mut().enumerate() {
            let Some(r) = c.readiness.clone() else {
                continue;
            };
            if c.child.is_none() || now < c.next_probe {
                continue;
            }
            c.next_probe = now + r.period;
            let (tx, ns, agent) = (tx.clone(), ctx.net.ns.clone(), ctx.probe_agent.clone());
            tokio::task::spawn_blocking(move || {
                let _ = tx.send((i, probe::http_get(&ns, &r, &agent)));
            });
        }
    }

    /// Notices exits, runs the termination's deadlines, restarts.
    fn poll(&mut self, ctx: &NodeCtx) {
        let now = Instant::now();
        for i in 0..self.ctrs.len() {
            // preStop done, or out of budget: SIGTERM with what is left.
            if let Term::PreStop { until, hook } = &mut self.ctrs[i].term {
                let done = hook
                    .as_mut()
                    .is_none_or(|h| matches!(h.try_wait(), Ok(Some(_))));
                if (hook.is_some() && done) || now >= *until {
                    if let Some(mut h) = hook.take() {
                        let _ = h.kill();
                        let _ = h.wait();
                    }
                    let name = self.ctrs[i].spec.name.clone();
                    ctx.event(&self.pod, Step::PreStopEnded, &name, "");
                    let start = self.deleting.unwrap_or(now);
                    self.sigterm(ctx, i, start);
                }
            }
            if let Term::Stopping { kill_at } = self.ctrs[i].term
                && now >= kill_at
            {
                if let Some(child) = &self.ctrs[i].child {
                    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                    let name = self.ctrs[i].spec.name.clone();
                    ctx.event(&self.pod, Step::Sigkill, &name, "");
                }
                self.ctrs[i].term = Term::Killed;
            }
            self.reap(ctx, i);
            if let Some(at) = self.ctrs[i].restart_at
                && now >= at
                && self.deleting.is_none()
            {
                self.ctrs[i].restart_at = None;
                self.status.containers[i].restart_count += 1;
                let host_ip = ctx.net.ip.to_string();
                // Volumes stay bound: the mounts were recorded at admission.
                let mounts = mounts_of(&self.pod, &self.ctrs[i].spec.name, &self.sandbox.dir);
                self.start(ctx, i, mounts, &host_ip);
            }
        }
    }

    /// Collects an exited process.
    fn reap(&mut self, ctx: &NodeCtx, i: usize) {
        let Some(child) = self.ctrs[i].child.as_mut() else {
            return;
        };
        let Ok(Some(st)) = child.try_wait() else {
            return;
        };
        // The container ends with its main process: whatever it left in its
        // group goes too (a runtime kills the container's cgroup).
        let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        use std::os::unix::process::ExitStatusExt;
        let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(9));
        self.ctrs[i].child = None;
        let name = self.ctrs[i].spec.name.clone();
        let started = match self.status.containers[i].state {
            CState::Running { started } => started,
            _ => Utc::now(),
        };
        // FallbackToLogsOnError: a failed container's status says why.
        let message = if code != 0 && self.deleting.is_none() {
            crate::cluster::process::tail(&self.ctrs[i].log, 5)
        } else {
            String::new()
        };
        if !message.is_empty() {
            eprintln!(
                "{} container {name} exited {code}: {message}",
                key(&self.pod)
            );
        }
        self.status.containers[i].state = CState::Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message,
            started,
            finished: Utc::now(),
        };
        self.status.recompute(Utc::now());
        self.dirty = true;
        ctx.event(
            &self.pod,
            Step::ContainerExited,
            &name,
            &format!("exit {code}"),
        );
        let policy = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        let restart = policy == "Always" || (policy == "OnFailure" && code != 0);
        if self.deleting.is_none() {
            if restart {
                // CrashLoopBackOff: 10 s, doubling to 5 min.
                let b = self.ctrs[i].backoff;
                self.ctrs[i].restart_at = Some(Instant::now() + b);
                self.ctrs[i].backoff = (b * 2).min(Duration::from_secs(300));
            } else if self.all_exited() {
                self.status.finish(Utc::now());
            }
        }
    }

    fn all_exited(&self) -> bool {
        self.ctrs.iter().all(|c| c.child.is_none())
    }

    /// The deletion: preStop or SIGTERM for every container at once.
    fn begin_termination(&mut self, ctx: &NodeCtx, pod: &Pod, gone: bool) {
        self.pod = pod.clone();
        let now = Instant::now();
        self.deleting = Some(now);
        let grace = grace_period(pod, gone);
        ctx.event(
            pod,
            Step::DeletionSeen,
            "",
            &format!("grace {}s", grace.as_secs()),
        );
        for i in 0..self.ctrs.len() {
            self.ctrs[i].restart_at = None;
            let Some(child) = &self.ctrs[i].child else {
                continue;
            };
            let pre = self.ctrs[i]
                .spec
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.clone());
            let name = self.ctrs[i].spec.name.clone();
            match pre {
                Some(h) if !gone => {
                    ctx.event(pod, Step::PreStopStarted, &name, "");
                    let (until, hook) = match (h.exec, h.sleep) {
                        (Some(e), _) => {
                            let cmd = e.command.unwrap_or_default();
                            let hook = runtime::exec_in(child.id(), &cmd).spawn().ok();
                            (now + grace, hook)
                        }
                        (None, Some(s)) => {
                            let d = Duration::from_secs(s.seconds.max(0) as u64);
                            (now + d.min(grace), None)
                        }
                        _ => (now, None),
                    };
                    self.ctrs[i].term = Term::PreStop { until, hook };
                }
                _ => self.sigterm(ctx, i, now),
            }
        }
    }

    /// SIGTERM; SIGKILL once the rest of the budget (>= 2 s) is spent.
    fn sigterm(&mut self, ctx: &NodeCtx, i: usize, deleted_at: Instant) {
        let left = sigterm_budget(grace_period(&self.pod, false), deleted_at.elapsed());
        if let Some(child) = &self.ctrs[i].child {
            let port = self.ctrs[i]
                .spec
                .ports
                .iter()
                .flatten()
                .find(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
                .map(|p| p.container_port as u16);
            if let Some(port) = port {
                self.watch_listener(ctx, i, port);
            }
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let name = self.ctrs[i].spec.name.clone();
            let detail = format!("kill in {}ms", left.as_millis());
            ctx.event(&self.pod, Step::Sigterm, &name, &detail);
        }
        self.ctrs[i].term = Term::Stopping {
            kill_at: Instant::now() + left,
        };
    }

    /// Times the close of container `i`'s listener: from the pod's network
    /// namespace, a connect to its address every 100 us until one is
    /// refused (for at most the grace budget plus a second), reported as
    /// [`Step::ListenerClosed`] with the refused attempt's start.
    fn watch_listener(&self, ctx: &NodeCtx, i: usize, port: u16) {
        let addr = std::net::SocketAddr::from((self.sandbox.ip, port));
        let until = Instant::now() + grace_period(&self.pod, false) + Duration::from_secs(1);
        let (sink, pod, node) = (ctx.sink.clone(), self.pod.clone(), ctx.net.name.clone());
        let container = self.ctrs[i].spec.name.clone();
        let _ = self.sandbox.ns.spawn_thread(move || {
            while Instant::now() < until {
                let at = seamless_proto::clock::now_ns();
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        sink(super::events::KubeletEvent {
                            t_ns: at,
                            node,
                            pod: key(&pod),
                            step: Step::ListenerClosed,
                            container,
                            detail: format!("{addr} refused"),
                        });
                        return;
                    }
                    _ => std::thread::sleep(Duration::from_micros(100)),
                }
            }
        });
    }

    /// Posts the status (strategic merge, UID precondition); a failure is
    /// retried on the next change.
    async fn post(&mut self, ctx: &NodeCtx) {
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        match api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Strategic(self.status.patch()),
            )
            .await
        {
            Ok(_) => self.dirty = false,
            Err(e) => tracing::warn!("posting the status of {ns}/{name}: {e}"),
        }
    }
}

/// What is left of the grace budget for SIGTERM after the preStop hook
/// took `spent`: the rest, but never under 2 s (kuberuntime_container.go
/// `killContainer`: `gracePeriod -= preStop duration`, then
/// `if gracePeriod < minimumGracePeriodInSeconds { gracePeriod = 2 }`).
pub fn sigterm_budget(grace: Duration, spent: Duration) -> Duration {
    grace.saturating_sub(spent).max(MIN_GRACE)
}

/// The grace budget: deletionGracePeriodSeconds, else the spec's, else 30.
fn grace_period(pod: &Pod, gone: bool) -> Duration {
    if gone {
        return MIN_GRACE;
    }
    let s = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref()?.termination_grace_period_seconds)
        .unwrap_or(30);
    Duration::from_secs(s.max(0) as u64)
}

/// The volumes' directories: emptyDir made empty, configMap keys written
/// as files (all keys, or `items`).
async fn volumes(
    ctx: &NodeCtx,
    pod: &Pod,
    dir: &std::path::Path,
) -> Result<Vec<(String, PathBuf)>, String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let mut out = Vec::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let vdir = dir.join("volumes").join(&v.name);
        std::fs::create_dir_all(&vdir).map_err(|e| format!("creating {}: {e}", vdir.display()))?;
        if let Some(cm) = &v.config_map {
            let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
            // Retried as kubelet's volume manager retries a mount: the Node
            // authorizer learns of a pod's ConfigMaps from its own watch,
            // so a kubelet that asks at once may be refused ("no
            // relationship found") for a moment.
            let mut wait = Duration::from_millis(50);
            let give_up = Instant::now() + Duration::from_secs(120);
            let obj = loop {
                match api.get(&cm.name).await {
                    Ok(obj) => break obj,
                    Err(e) if Instant::now() < give_up => {
                        tracing::debug!("configMap {:?}: {e}; retrying in {wait:?}", cm.name);
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(2));
                    }
                    Err(e) => {
                        return Err(format!(
                            "configMap {:?} of volume {:?}: {e}",
                            cm.name, v.name
                        ));
                    }
                }
            };
            let data = obj.data.unwrap_or_default();
            let items: Vec<(String, String)> = match &cm.items {
                Some(items) => items
                    .iter()
                    .map(|k| (k.key.clone(), k.path.clone()))
                    .collect(),
                None => data.keys().map(|k| (k.clone(), k.clone())).collect(),
            };
            for (k, path) in items {
                let text = data.get(&k).cloned().unwrap_or_default();
                let p = vdir.join(&path);
                if let Some(parent) = p.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))?;
            }
        }
        out.push((v.name.clone(), vdir));
    }
    Ok(out)
}

/// A container's (volume directory, mount path) pairs.
fn mounts_of(pod: &Pod, container: &str, dir: &std::path::Path) -> Vec<(PathBuf, String)> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| c.name == container)
        .flat_map(|c| c.volume_mounts.iter().flatten())
        .map(|m| (dir.join("volumes").join(&m.name), m.mount_path.clone()))
        .collect()
}

/// A pod that cannot start: every container waiting with the reason.
async fn fail(ctx: &NodeCtx, pod: &Pod, msg: &str) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let containers = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            id: None,
            state: CState::Waiting {
                reason: "CreateContainerConfigError".into(),
                message: msg.into(),
            },
            ready: false,
            restart_count: 0,
        })
        .collect();
    let status = PodStatus::new(&uid, &ctx.net.ip.to_string(), containers, Utc::now());
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let name = pod.metadata.name.clone().unwrap_or_default();
    if let Err(e) = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(status.patch()),
        )
        .await
    {
        tracing::warn!("posting the status of {}: {e}", key(pod));
    }
}

/// Deletes the pod object: grace 0, UID precondition.
async fn delete(ctx: &NodeCtx, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    match api.delete(&name, &dp).await {
        Ok(_) => ctx.event(pod, Step::PodDeleted, "", ""),
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => tracing::warn!("deleting {}: {e}", key(pod)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigterm_gets_what_the_prestop_hook_left_but_at_least_two_seconds() {
        let s = Duration::from_secs;
        assert_eq!(sigterm_budget(s(30), s(10)), s(20));
        assert_eq!(sigterm_budget(s(30), Duration::ZERO), s(30));
        assert_eq!(sigterm_budget(s(5), s(10)), s(2), "a hook over budget");
        assert_eq!(
            sigterm_budget(s(1), Duration::ZERO),
            s(2),
            "grace under the floor"
        );
    }

    #[test]
    fn the_budget_is_the_deletions_then_the_specs_then_30s() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "terminationGracePeriodSeconds": 7}
        }))
        .unwrap();
        assert_eq!(grace_period(&pod, false), Duration::from_secs(7));
        pod.metadata.deletion_grace_period_seconds = Some(3);
        assert_eq!(grace_period(&pod, false), Duration::from_secs(3));
        assert_eq!(
            grace_period(&pod, true),
            MIN_GRACE,
            "force-deleted: gone from the API"
        );
        pod.metadata.deletion_grace_period_seconds = None;
        pod.spec.as_mut().unwrap().termination_grace_period_seconds = None;
        assert_eq!(grace_period(&pod, false), Duration::from_secs(30));
    }
}
