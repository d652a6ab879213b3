//! ReplicaSets of the Deployment: created, scaled.

use k8s_openapi::api::apps::v1::ReplicaSet;
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

use super::{Snapshot, event, object_ref};

/// The tracked fields of a ReplicaSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetSnap {
    /// Reference (name, uid, resourceVersion).
    pub object: ObjectRef,
    /// spec.replicas.
    pub replicas: i32,
    /// The pod-template-hash label.
    pub template_hash: Option<String>,
}

impl ReplicaSetSnap {
    /// Reduces a ReplicaSet owned by the Deployment with this uid; others
    /// give `None`.
    pub fn of(rs: &ReplicaSet, owner_uid: &str) -> Option<ReplicaSetSnap> {
        rs.metadata.uid.as_ref()?;
        let owned = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == owner_uid);
        if !owned {
            return None;
        }
        Some(ReplicaSetSnap {
            object: object_ref("ReplicaSet", &rs.metadata),
            replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            template_hash: rs
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("pod-template-hash").cloned()),
        })
    }

    fn event(&self, kind: EventKind) -> Event {
        let mut e = event(kind, self.object.clone());
        e.replicas = Some(self.replicas);
        if let Some(h) = &self.template_hash {
            e.detail = Some(format!("pod-template-hash {h}"));
        }
        e
    }
}

impl Snapshot for ReplicaSetSnap {
    fn uid(&self) -> &str {
        self.object.uid.as_deref().unwrap_or_default()
    }

    fn resource_version(&self) -> &str {
        self.object.resource_version.as_deref().unwrap_or_default()
    }

    fn diff(prev: Option<&Self>, cur: &Self) -> Vec<Event> {
        match prev {
            None => vec![cur.event(EventKind::ReplicaSetCreated)],
            Some(p) if p.replicas != cur.replicas => vec![cur.event(EventKind::ReplicaSetScaled)],
            Some(_) => Vec::new(),
        }
    }

    fn deleted(_last: &Self) -> Vec<Event> {
        Vec::new()
    }
}
