//! The steps our kubelet takes, stamped on the probes' clock
//! (CLOCK_REALTIME ns), for the run's timeline and ground truth.

use seamless_proto::timeline::{Event, EventKind, ObjectRef};
use serde::Serialize;

/// One step.
#[derive(Debug, Clone, Serialize)]
pub struct KubeletEvent {
    /// When, ns since the Unix epoch (CLOCK_REALTIME, as the agent's).
    pub t_ns: i64,
    /// The node.
    pub node: String,
    /// namespace/name of the pod.
    pub pod: String,
    /// The step.
    pub step: Step,
    /// The container, where the step is one container's.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub container: String,
    /// Anything else worth saying (exit code, error).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The pod's sandbox (network, volumes) is made.
    SandboxCreated,
    /// A container's process started.
    ContainerStarted,
    /// A container's readiness probe turned it ready.
    ContainerReady,
    /// ... or not ready.
    ContainerNotReady,
    /// The pod's deletionTimestamp was seen.
    DeletionSeen,
    /// The preStop hook started.
    PreStopStarted,
    /// The preStop hook ended (or its budget ran out).
    PreStopEnded,
    /// SIGTERM sent.
    Sigterm,
    /// The container's listener refused a connect after SIGTERM (measured:
    /// a connect every 100 us from the pod's namespace to its first TCP
    /// container port, as the emulated lab measures nginx).
    ListenerClosed,
    /// The container's client connections and listener, watched from the
    /// deletion until none is left (for the ground truth): `detail` is the
    /// record as JSON ([`crate::host::conns::Watched`]'s
    /// [`BackendConns`](seamless_proto::run::BackendConns) with
    /// `listener_gone_ns`).
    BackendConns,
    /// SIGKILL sent (the grace period ran out).
    Sigkill,
    /// A container's process exited.
    ContainerExited,
    /// The pod could not start (unsupported field, image, error).
    PodFailed,
    /// The terminal status was posted.
    TerminalStatusPosted,
    /// The pod object was deleted (grace 0, UID precondition).
    PodDeleted,
}

/// Where the steps go.
pub type Sink = std::sync::Arc<dyn Fn(KubeletEvent) + Send + Sync>;

impl KubeletEvent {
    /// A [`Step::BackendConns`] event's record: the connections, and when
    /// the listener went; `None` for another step or a detail that does not
    /// parse.
    pub fn backend_conns(&self) -> Option<(seamless_proto::run::BackendConns, Option<i64>)> {
        if self.step != Step::BackendConns {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&self.detail).ok()?;
        let gone = v
            .get("listener_gone_ns")
            .and_then(serde_json::Value::as_i64);
        Some((serde_json::from_value(v).ok()?, gone))
    }

    /// The step as a run timeline's event, for the kinds the timeline has
    /// (the analyzer draws them beside the probes); None for the kubelet's
    /// own bookkeeping (sandbox, readiness flips the API shows anyway).
    pub fn timeline_event(&self) -> Option<Event> {
        let kind = match self.step {
            Step::ContainerStarted => EventKind::ContainerStarted,
            Step::PreStopStarted => EventKind::PreStopStarted,
            Step::Sigterm => EventKind::SigtermSent,
            Step::Sigkill => EventKind::SigkillSent,
            Step::ContainerExited => EventKind::ContainerTerminated,
            Step::PodDeleted => EventKind::PodDeleted,
            _ => return None,
        };
        let (ns, name) = self.pod.split_once('/').unwrap_or(("", &self.pod));
        let mut obj = ObjectRef::new("Pod", name);
        if !ns.is_empty() {
            obj.namespace = Some(ns.into());
        }
        let mut detail = format!("kubelet {}", self.node);
        if !self.container.is_empty() {
            detail.push_str(&format!(", container {}", self.container));
        }
        if !self.detail.is_empty() {
            detail.push_str(&format!(": {}", self.detail));
        }
        Some(
            Event::new(self.t_ns, kind)
                .with_object(obj)
                .with_node(&self.node)
                .with_detail(detail),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_steps_land_on_the_timelines_kinds() {
        let ev = KubeletEvent {
            t_ns: 42,
            node: "node-a".into(),
            pod: "seamless-demo/web-1".into(),
            step: Step::Sigterm,
            container: "nginx".into(),
            detail: "kill in 2000ms".into(),
        };
        let line = serde_json::to_string(&ev.timeline_event().unwrap()).unwrap();
        assert_eq!(
            line,
            r#"{"ts_ns":42,"kind":"sigterm_sent","object":{"kind":"Pod","namespace":"seamless-demo","name":"web-1"},"node":"node-a","detail":"kubelet node-a, container nginx: kill in 2000ms"}"#
        );
        let ready = KubeletEvent {
            step: Step::ContainerReady,
            ..ev
        };
        assert!(ready.timeline_event().is_none());
    }
}
