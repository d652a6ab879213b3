//! kubelet, played by the lab: it starts a pod (its network and its
//! container, [`backend`]: the built-in server [`serve`] or nginx), waits
//! for its readiness check, and terminates it as kubelet does: preStop,
//! SIGTERM, the grace period, SIGKILL, recording each step on the timeline.

pub mod backend;
pub mod serve;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use seamless_proto::clock::now_ns;
use seamless_proto::run::RunDirError;
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

use crate::host::netns::{NetnsError, OwnedNetns};
use crate::host::topology::{self, BACKEND_PORT, Node};
use crate::pause::{self, Interrupted};
use crate::record::LabTimeline;
use crate::scenario::Network;
use backend::{Backend, BackendError, BackendKind};

/// How long a new container has to answer its readiness check.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of kubelet's part.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// A namespace operation failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Recording on the timeline failed.
    #[error(transparent)]
    Timeline(#[from] RunDirError),
    /// The lab was asked to stop.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// A running pod. Its container goes before its network (field order).
#[derive(Debug)]
pub struct Pod {
    /// Its name.
    pub name: String,
    /// The node it runs on.
    pub node: Node,
    /// Where its backend listens.
    pub addr: SocketAddrV4,
    /// Its container.
    pub backend: Backend,
    /// Its own network namespace (none with hostNetwork), removed when the
    /// pod is dropped, after its container.
    _netns: Option<OwnedNetns>,
}

/// What terminating a pod did.
#[derive(Debug, Clone)]
pub struct Terminated {
    /// When SIGTERM was sent.
    pub sigterm_ns: i64,
    /// When the listener closed (ground truth), or SIGKILL if never seen.
    pub stopped_ns: Option<i64>,
    /// When SIGKILL was sent, if it was.
    pub sigkill_ns: Option<i64>,
    /// The container's exit code (128 + signal when killed).
    pub exit: Option<i32>,
    /// Its client connections and listener, watched from the deletion.
    pub conns: Option<crate::host::conns::Watched>,
}

/// kubelet's settings for a run's pods.
#[derive(Debug, Clone)]
pub struct Kubelet {
    /// Pods on a bridge or on the node's network.
    pub network: Network,
    /// The container's server.
    pub backend: BackendKind,
    /// seamless-lab, for `seamless-lab serve`.
    pub lab_bin: PathBuf,
    /// Where per-pod private files (nginx) go.
    pub scratch: PathBuf,
    /// Running without real root.
    pub rootless: bool,
    /// The preStop sleep, if the pod has one.
    pub prestop: Option<Duration>,
    /// terminationGracePeriodSeconds.
    pub grace: Duration,
    /// How the server stops: kubelet's SIGTERM, or SIGQUIT from the
    /// preStop hook (after its sleep), waited for.
    pub shutdown: crate::shutdown::Shutdown,
}

impl Kubelet {
    /// Starts the `n`-th pod of the run on `node` and waits until it is ready.
    pub fn start_pod(&self, node: &Node, name: &str, n: u8) -> Result<Pod, KubeletError> {
        let (netns, addr) = match self.network {
            Network::Pod => {
                let ip = node.pod_ip(n);
                let ns = topology::create_pod_netns(node, name, &format!("veth{n}"), ip)?;
                (Some(ns), SocketAddrV4::new(ip, BACKEND_PORT))
            }
            Network::Host => (None, SocketAddrV4::new(node.ip, BACKEND_PORT)),
        };
        let ns = netns
            .as_ref()
            .map_or_else(|| node.ns.clone(), |ns| ns.handle());
        let listen_any = self.network == Network::Host;
        let backend = match self.backend {
            BackendKind::Builtin => Backend::builtin(&ns, &self.lab_bin, name, addr, listen_any)?,
            BackendKind::Nginx => Backend::nginx(
                &ns,
                &self.scratch.join(name),
                name,
                addr,
                listen_any,
                self.rootless,
            )?,
        };
        Ok(Pod {
            name: name.into(),
            node: node.clone(),
            addr,
            backend,
            _netns: netns,
        })
    }

    /// The readiness check, from the node as kubelet does (GET /).
    pub fn wait_ready(&self, pod: &mut Pod) -> Result<(), KubeletError> {
        Ok(pod.backend.wait_ready(&pod.node.ns, READY_TIMEOUT)?)
    }

    /// Creates, starts and readies a pod, recording pod_created,
    /// container_started and pod_ready; returns it with its ready time.
    pub fn create(
        &self,
        tl: &LabTimeline,
        node: &Node,
        name: &str,
        n: u8,
    ) -> Result<(Pod, i64), KubeletError> {
        tl.pod(EventKind::PodCreated, name, &node.name)?;
        let mut pod = self.start_pod(node, name, n)?;
        tl.pod(EventKind::ContainerStarted, name, &node.name)?;
        self.wait_ready(&mut pod)?;
        let ready_ns = tl.pod(EventKind::PodReady, name, &node.name)?;
        Ok((pod, ready_ns))
    }

    /// kubelet's part of a deletion: preStop, SIGTERM, the grace period,
    /// SIGKILL.
    pub fn terminate(
        &self,
        pod: &mut Pod,
        tl: &LabTimeline,
        stop: &AtomicBool,
    ) -> Result<Terminated, KubeletError> {
        let node = pod.node.name.clone();
        let began = Instant::now();
        let conns = crate::host::conns::watch(
            &pod.backend.ns,
            pod.addr.port(),
            self.grace + Duration::from_secs(1),
        );
        let graceful = self.shutdown == crate::shutdown::Shutdown::Graceful;
        if self.prestop.is_some() || graceful {
            let mut hook: Vec<String> = self
                .prestop
                .map(|p| format!("sleep {}", humantime::format_duration(p)))
                .into_iter()
                .collect();
            if graceful {
                hook.push("nginx -s quit, waited for".into());
            }
            tl.pod_at(
                now_ns(),
                EventKind::PreStopStarted,
                &pod.name,
                &node,
                Some(hook.join("; ")),
            )?;
        }
        if let Some(prestop) = self.prestop {
            pause::sleep(prestop, stop)?;
        }
        // The graceful hook's quit; kubelet's SIGTERM follows once the hook
        // returned (nginx gone) or the grace period is spent.
        let quit = graceful.then(|| {
            let q = pod.backend.quit();
            let _ = pod
                .backend
                .wait_exit(self.grace.saturating_sub(began.elapsed()));
            q
        });
        let (sigterm_ns, term_watch) = pod.backend.sigterm();
        let watch = match quit {
            Some((_, w)) => w,
            None => term_watch,
        };
        tl.pod_at(sigterm_ns, EventKind::SigtermSent, &pod.name, &node, None)?;
        let remaining = self.grace.saturating_sub(began.elapsed());
        let mut status = pod.backend.wait_exit(remaining);
        let mut sigkill_ns = None;
        if status.is_none() {
            let ts = pod.backend.sigkill();
            tl.pod_at(ts, EventKind::SigkillSent, &pod.name, &node, None)?;
            sigkill_ns = Some(ts);
            status = pod.backend.wait_exit(Duration::from_secs(5));
        }
        let stopped_ns = watch.get(Duration::from_millis(500)).or(sigkill_ns);
        let exit = status.and_then(|s| {
            use std::os::unix::process::ExitStatusExt;
            s.code().or(s.signal().map(|sig| 128 + sig))
        });
        let mut e = Event::new(now_ns(), EventKind::ContainerTerminated)
            .with_object(ObjectRef::new("Pod", &pod.name))
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
        tl.emit(e)?;
        Ok(Terminated {
            sigterm_ns,
            stopped_ns,
            sigkill_ns,
            exit,
            conns: conns.join().ok().and_then(Result::ok).flatten(),
        })
    }
}
