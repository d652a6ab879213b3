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
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, Patch, PatchParams};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::{mpsc, watch};

use super::api::{delete, fail};
use super::events::Step;
use super::probe::{self, Readiness, Tally};
use super::runtime::{self, ContainerSpec};
use super::spec;
use super::status::{CState, ContainerStatus, PodStatus};
use super::volumes::{mounts_of, volumes};
use super::{NodeCtx, Sandbox};

/// How often the worker looks at its processes.
const TICK: Duration = Duration::from_millis(10);

/// Where a container is in its termination.
#[derive(Debug)]
pub(super) enum Term {
    Alive,
    PreStop { until: Instant, hook: Option<Child> },
    Stopping { kill_at: Instant },
    Killed,
}

pub(super) struct Ctr {
    pub(super) spec: Container,
    pub(super) child: Option<Child>,
    pub(super) readiness: Option<Readiness>,
    pub(super) tally: Tally,
    pub(super) next_probe: Instant,
    pub(super) term: Term,
    pub(super) restart_at: Option<Instant>,
    pub(super) backoff: Duration,
    pub(super) log: PathBuf,
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

pub(super) fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

pub(super) struct Worker {
    pub(super) pod: Pod,
    pub(super) sandbox: Sandbox,
    pub(super) ctrs: Vec<Ctr>,
    pub(super) status: PodStatus,
    pub(super) deleting: Option<Instant>,
    pub(super) dirty: bool,
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
