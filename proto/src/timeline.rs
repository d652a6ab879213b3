//! The rollout timeline: `timeline.jsonl`, one [`Event`] a line.
//!
//! Written by `seamless-controller rollout` from the Kubernetes API and by the
//! lab from what it does; read by the analyzer, which draws the events on the
//! same wall-clock axis as the probes. Every field but `ts_ns` and `kind` is
//! optional and omitted when empty, so lines stay short and readable:
//!
//! ```
//! use seamless_proto::timeline::{Event, EventKind, ObjectRef};
//! let e = Event::new(1_795_000_000_123_456_789, EventKind::PodReady)
//!     .with_object(ObjectRef::new("Pod", "web-7d4b9-x2x4q"))
//!     .with_node("node-b");
//! let line = serde_json::to_string(&e).unwrap();
//! assert_eq!(
//!     line,
//!     r#"{"ts_ns":1795000000123456789,"kind":"pod_ready","object":{"kind":"Pod","name":"web-7d4b9-x2x4q"},"node":"node-b"}"#
//! );
//! ```

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

/// What happened. Serialized in snake_case; kinds this build does not know
/// read back as [`EventKind::Other`], so newer writers do not break older
/// readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The rollout's patch was sent.
    PatchSent,
    /// The API server accepted the patch (`generation` set).
    PatchAcknowledged,
    /// A ReplicaSet appeared (`replicas`).
    ReplicaSetCreated,
    /// A ReplicaSet's desired replicas changed (`replicas`).
    ReplicaSetScaled,
    /// A Pod object was created.
    PodCreated,
    /// A Pod was bound to a node (`node`).
    PodScheduled,
    /// A Pod's container started running.
    ContainerStarted,
    /// A Pod became Ready.
    PodReady,
    /// A Pod stopped being Ready (while running, or as a terminating pod's
    /// containers exit).
    PodNotReady,
    /// A Pod got its deletionTimestamp (`grace_period_s`).
    PodTerminating,
    /// The preStop hook started (lab only: the API does not expose it).
    PreStopStarted,
    /// SIGTERM was sent to the container's process (lab only).
    SigtermSent,
    /// SIGKILL was sent after the grace period (lab only).
    SigkillSent,
    /// A Pod's container terminated (`exit_code`, `reason`).
    ContainerTerminated,
    /// A Pod object was deleted from the API.
    PodDeleted,
    /// An endpoint (`address`) appeared in an EndpointSlice.
    EndpointAdded,
    /// An endpoint's `ready`, `serving` or `terminating` condition changed.
    EndpointChanged,
    /// An endpoint left its EndpointSlice.
    EndpointRemoved,
    /// The proxy's rules changed on a node (lab: the iptables commit).
    ProxyRulesSynced,
    /// The Deployment's rollout is complete, by kubectl's `rollout status` rules.
    RolloutComplete,
    /// The old pods are gone from the API and from every EndpointSlice.
    OldPodsGone,
    /// The run ended (after the settle time).
    RunEnd,
    /// A kind this build does not know.
    #[serde(other)]
    Other,
}

impl EventKind {
    /// The snake_case name, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::PatchSent => "patch_sent",
            EventKind::PatchAcknowledged => "patch_acknowledged",
            EventKind::ReplicaSetCreated => "replica_set_created",
            EventKind::ReplicaSetScaled => "replica_set_scaled",
            EventKind::PodCreated => "pod_created",
            EventKind::PodScheduled => "pod_scheduled",
            EventKind::ContainerStarted => "container_started",
            EventKind::PodReady => "pod_ready",
            EventKind::PodNotReady => "pod_not_ready",
            EventKind::PodTerminating => "pod_terminating",
            EventKind::PreStopStarted => "pre_stop_started",
            EventKind::SigtermSent => "sigterm_sent",
            EventKind::SigkillSent => "sigkill_sent",
            EventKind::ContainerTerminated => "container_terminated",
            EventKind::PodDeleted => "pod_deleted",
            EventKind::EndpointAdded => "endpoint_added",
            EventKind::EndpointChanged => "endpoint_changed",
            EventKind::EndpointRemoved => "endpoint_removed",
            EventKind::ProxyRulesSynced => "proxy_rules_synced",
            EventKind::RolloutComplete => "rollout_complete",
            EventKind::OldPodsGone => "old_pods_gone",
            EventKind::RunEnd => "run_end",
            EventKind::Other => "other",
        }
    }

    /// Where the rollout starts: the first of these events opens the span the
    /// analyzer shades.
    pub fn starts_rollout(self) -> bool {
        matches!(self, EventKind::PatchSent)
    }

    /// Where the rollout ends: the last of these closes the span.
    pub fn ends_rollout(self) -> bool {
        matches!(self, EventKind::RolloutComplete | EventKind::OldPodsGone)
    }
}

/// The Kubernetes object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind: `Deployment`, `ReplicaSet`, `Pod`, `EndpointSlice`.
    pub kind: String,
    /// Namespace, when not implied by the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name.
    pub name: String,
    /// metadata.uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// metadata.resourceVersion of the object as seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

impl ObjectRef {
    /// A reference by kind and name only.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> ObjectRef {
        ObjectRef {
            kind: kind.into(),
            namespace: None,
            name: name.into(),
            uid: None,
            resource_version: None,
        }
    }
}

/// One timeline event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Local wall clock (CLOCK_REALTIME) when the writer saw it, ns since the
    /// Unix epoch.
    pub ts_ns: i64,
    /// What happened.
    pub kind: EventKind,
    /// The object it happened to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    /// Node of the pod, or where it was scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The pod that owns an endpoint, for endpoint events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Endpoint or pod IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Deployment metadata.generation (patch acknowledged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Desired replicas (ReplicaSet events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Endpoint condition `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Endpoint condition `serving`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    /// Endpoint condition `terminating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
    /// Grace period of a terminating pod, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_s: Option<i64>,
    /// Exit code of a terminated container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Reason, e.g. a container's termination reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Free text for a person reading the timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    /// An event with only a time and a kind.
    pub fn new(ts_ns: i64, kind: EventKind) -> Event {
        Event {
            ts_ns,
            kind,
            object: None,
            node: None,
            pod: None,
            address: None,
            generation: None,
            replicas: None,
            ready: None,
            serving: None,
            terminating: None,
            grace_period_s: None,
            exit_code: None,
            reason: None,
            detail: None,
        }
    }

    /// Sets the object.
    pub fn with_object(mut self, object: ObjectRef) -> Event {
        self.object = Some(object);
        self
    }

    /// Sets the node.
    pub fn with_node(mut self, node: impl Into<String>) -> Event {
        self.node = Some(node.into());
        self
    }

    /// Sets the detail text.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }

    /// A short label for plots: the kind and the object's name.
    pub fn label(&self) -> String {
        match &self.object {
            Some(o) => format!("{} {}", self.kind.name(), o.name),
            None => self.kind.name().to_owned(),
        }
    }
}

/// Errors reading a timeline.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// Reading or writing failed.
    #[error("timeline I/O failed")]
    Io(#[from] io::Error),
    /// A line is not a valid event.
    #[error("timeline line {line} is not a valid event")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// Appends events to a JSONL writer, one line each, flushed after every
/// event so a crash loses nothing already seen.
pub struct TimelineWriter<W: Write> {
    out: W,
}

impl<W: Write> TimelineWriter<W> {
    /// Wraps a writer.
    pub fn new(out: W) -> Self {
        TimelineWriter { out }
    }

    /// Writes one event as one line, and flushes.
    pub fn write(&mut self, event: &Event) -> Result<(), TimelineError> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        self.out.flush()?;
        Ok(())
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Reads every event of a JSONL timeline; blank lines are skipped. A last
/// line cut short (no newline, invalid JSON) is dropped, as a torn write.
pub fn read_jsonl<R: BufRead>(r: R) -> Result<Vec<Event>, TimelineError> {
    let mut events = Vec::new();
    let mut lines = r.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(e) => events.push(e),
            Err(e) if lines.peek().is_none() && e.is_eof() => break,
            Err(source) => {
                return Err(TimelineError::Parse {
                    line: i + 1,
                    source,
                });
            }
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_kind() {
        let mut e = Event::new(42, EventKind::EndpointChanged);
        e.ready = Some(false);
        e.terminating = Some(true);
        e.address = Some("198.18.0.10".into());
        let mut w = TimelineWriter::new(Vec::new());
        w.write(&e).unwrap();
        w.write(&Event::new(43, EventKind::RunEnd)).unwrap();
        let mut bytes = w.into_inner();
        bytes.extend_from_slice(b"\n{\"ts_ns\":44,\"kind\":\"from_the_future\"}\n");
        let back = read_jsonl(&bytes[..]).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], e);
        assert_eq!(back[2].kind, EventKind::Other);
    }

    #[test]
    fn torn_last_line_is_dropped_but_bad_middle_line_is_an_error() {
        let torn = b"{\"ts_ns\":1,\"kind\":\"pod_ready\"}\n{\"ts_ns\":2,\"ki";
        assert_eq!(read_jsonl(&torn[..]).unwrap().len(), 1);
        let bad = b"{\"ts_ns\":1,\"kind\":\"pod_ready\"}\nnot json\n{\"ts_ns\":2,\"kind\":\"pod_ready\"}\n";
        match read_jsonl(&bad[..]) {
            Err(TimelineError::Parse { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn names_match_serde() {
        for kind in [
            EventKind::PatchSent,
            EventKind::EndpointRemoved,
            EventKind::PreStopStarted,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
    }
}
