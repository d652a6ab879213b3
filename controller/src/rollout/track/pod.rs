//! Pods: created, scheduled, container started, ready, terminating,
//! container terminated, not ready, deleted.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

use super::{Snapshot, event, object_ref};

/// A container's lifecycle as far as the timeline cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSnap {
    /// `state.running.startedAt`, when running.
    pub started_at: Option<String>,
    /// `state.terminated`: (finishedAt, exit code, reason).
    pub terminated: Option<(String, i32, Option<String>)>,
}

/// The tracked fields of a Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSnap {
    /// Reference (name, uid, resourceVersion).
    pub object: ObjectRef,
    /// spec.nodeName.
    pub node: Option<String>,
    /// status.podIP.
    pub ip: Option<String>,
    /// The Ready condition is True.
    pub ready: bool,
    /// metadata.deletionTimestamp (RFC 3339).
    pub deletion: Option<String>,
    /// metadata.deletionGracePeriodSeconds.
    pub grace_period_s: Option<i64>,
    /// Containers by name.
    pub containers: BTreeMap<String, ContainerSnap>,
}

impl PodSnap {
    /// Reduces a Pod.
    pub fn of(pod: &Pod) -> Option<PodSnap> {
        pod.metadata.uid.as_ref()?;
        let status = pod.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let mut containers = BTreeMap::new();
        for cs in status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
        {
            let state = cs.state.as_ref();
            containers.insert(
                cs.name.clone(),
                ContainerSnap {
                    started_at: state
                        .and_then(|s| s.running.as_ref())
                        .and_then(|r| r.started_at.as_ref())
                        .map(|t| t.0.to_string()),
                    terminated: state.and_then(|s| s.terminated.as_ref()).map(|t| {
                        (
                            t.finished_at
                                .as_ref()
                                .map(|f| f.0.to_string())
                                .unwrap_or_default(),
                            t.exit_code,
                            t.reason.clone(),
                        )
                    }),
                },
            );
        }
        Some(PodSnap {
            object: object_ref("Pod", &pod.metadata),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            ip: status.and_then(|s| s.pod_ip.clone()),
            ready,
            deletion: pod
                .metadata
                .deletion_timestamp
                .as_ref()
                .map(|t| t.0.to_string()),
            grace_period_s: pod.metadata.deletion_grace_period_seconds,
            containers,
        })
    }

    fn event(&self, kind: EventKind) -> Event {
        let mut e = event(kind, self.object.clone());
        e.node = self.node.clone();
        e.address = self.ip.clone();
        e
    }
}

impl Snapshot for PodSnap {
    fn uid(&self) -> &str {
        self.object.uid.as_deref().unwrap_or_default()
    }

    fn resource_version(&self) -> &str {
        self.object.resource_version.as_deref().unwrap_or_default()
    }

    fn diff(prev: Option<&Self>, cur: &Self) -> Vec<Event> {
        let mut out = Vec::new();
        if prev.is_none() {
            out.push(cur.event(EventKind::PodCreated));
        }
        if prev.and_then(|p| p.node.as_ref()).is_none() && cur.node.is_some() {
            out.push(cur.event(EventKind::PodScheduled));
        }
        let before = |name: &str| prev.and_then(|p| p.containers.get(name));
        for (name, c) in &cur.containers {
            if c.started_at.is_some()
                && before(name).and_then(|b| b.started_at.as_ref()) != c.started_at.as_ref()
            {
                out.push(
                    cur.event(EventKind::ContainerStarted)
                        .with_detail(format!("container {name}")),
                );
            }
        }
        let was_ready = prev.is_some_and(|p| p.ready);
        if cur.ready && !was_ready {
            out.push(cur.event(EventKind::PodReady));
        }
        if prev.and_then(|p| p.deletion.as_ref()).is_none()
            && let Some(at) = &cur.deletion
        {
            let mut e = cur
                .event(EventKind::PodTerminating)
                .with_detail(format!("deletionTimestamp {at}"));
            e.grace_period_s = cur.grace_period_s;
            out.push(e);
        }
        for (name, c) in &cur.containers {
            if let Some((finished, code, reason)) = &c.terminated
                && before(name)
                    .and_then(|b| b.terminated.as_ref())
                    .map(|t| &t.0)
                    != Some(finished)
            {
                let mut e = cur
                    .event(EventKind::ContainerTerminated)
                    .with_detail(format!("container {name}"));
                e.exit_code = Some(*code);
                e.reason = reason.clone();
                out.push(e);
            }
        }
        if was_ready && !cur.ready {
            out.push(cur.event(EventKind::PodNotReady));
        }
        out
    }

    fn deleted(last: &Self) -> Vec<Event> {
        vec![last.event(EventKind::PodDeleted)]
    }
}
