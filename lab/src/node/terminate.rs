//! The deletion of a pod, in the real kubelet's order (see [`super::pod`]):
//! preStop within the grace budget, SIGTERM with what is left of it (at
//! least 2 s), SIGKILL when it is spent; and the listener's close after
//! SIGTERM, and the container's client connections from the deletion on,
//! measured for the ground truth.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::NodeCtx;
use super::events::Step;
use super::pod::{Term, Worker, key};
use super::runtime;

/// Kubelet's floor for the SIGTERM phase (kuberuntime_container.go).
pub(super) const MIN_GRACE: Duration = Duration::from_secs(2);

impl Worker {
    /// The deletion: preStop or SIGTERM for every container at once.
    pub(super) fn begin_termination(&mut self, ctx: &NodeCtx, pod: &Pod, gone: bool) {
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
            if self.ctrs[i].child.is_none() {
                continue;
            }
            if let Some(port) = tcp_port(&self.ctrs[i].spec) {
                self.watch_conns(ctx, i, port, grace + Duration::from_secs(1));
            }
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
    pub(super) fn sigterm(&mut self, ctx: &NodeCtx, i: usize, deleted_at: Instant) {
        let left = sigterm_budget(grace_period(&self.pod, false), deleted_at.elapsed());
        if let Some(child) = &self.ctrs[i].child {
            if let Some(port) = tcp_port(&self.ctrs[i].spec) {
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

    /// Watches container `i`'s client connections on `port` and its
    /// listener from now (the deletion) until none is left or `budget` is
    /// spent ([`crate::host::conns`]), reported as [`Step::BackendConns`]
    /// with the record as JSON: when the server closed its kept-alive
    /// connections, at SIGTERM (fast) or as it drains (graceful).
    fn watch_conns(&self, ctx: &NodeCtx, i: usize, port: u16, budget: Duration) {
        let (sink, pod, node) = (ctx.sink.clone(), self.pod.clone(), ctx.net.name.clone());
        let container = self.ctrs[i].spec.name.clone();
        let _ = self.sandbox.ns.spawn_thread(move || {
            let Some(w) = crate::host::conns::watch_here(port, budget) else {
                return;
            };
            let mut detail = serde_json::to_value(&w.conns).unwrap_or_default();
            detail["listener_gone_ns"] = serde_json::json!(w.listener_gone_ns);
            sink(super::events::KubeletEvent {
                t_ns: seamless_proto::clock::now_ns(),
                node,
                pod: key(&pod),
                step: Step::BackendConns,
                container,
                detail: detail.to_string(),
            });
        });
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
}

/// A container's first TCP port.
fn tcp_port(c: &k8s_openapi::api::core::v1::Container) -> Option<u16> {
    c.ports
        .iter()
        .flatten()
        .find(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .map(|p| p.container_port as u16)
}

/// What is left of the grace budget for SIGTERM after the preStop hook
/// took `spent`: the rest, but never under 2 s (kuberuntime_container.go
/// `killContainer`: `gracePeriod -= preStop duration`, then
/// `if gracePeriod < minimumGracePeriodInSeconds { gracePeriod = 2 }`).
pub fn sigterm_budget(grace: Duration, spent: Duration) -> Duration {
    grace.saturating_sub(spent).max(MIN_GRACE)
}

/// The grace budget: deletionGracePeriodSeconds, else the spec's, else 30.
pub(super) fn grace_period(pod: &Pod, gone: bool) -> Duration {
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
