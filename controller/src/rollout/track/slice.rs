//! EndpointSlices of the followed Services: endpoint added, its
//! ready/serving/terminating conditions changed, removed.

use std::collections::BTreeMap;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

use super::{Snapshot, event, object_ref};
use crate::rollout::discover::SERVICE_NAME_LABEL;

/// One endpoint of a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSnap {
    /// The first address.
    pub address: Option<String>,
    /// targetRef name (the pod).
    pub pod: Option<String>,
    /// targetRef uid.
    pub pod_uid: Option<String>,
    /// nodeName.
    pub node: Option<String>,
    /// conditions.ready (absent means true).
    pub ready: bool,
    /// conditions.serving (absent means as ready).
    pub serving: bool,
    /// conditions.terminating (absent means false).
    pub terminating: bool,
}

/// The tracked fields of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceSnap {
    /// Reference (name, uid, resourceVersion).
    pub object: ObjectRef,
    /// The Service it belongs to.
    pub service: Option<String>,
    /// Endpoints keyed by the target pod's uid, else by address.
    pub endpoints: BTreeMap<String, EndpointSnap>,
}

impl SliceSnap {
    /// Reduces an EndpointSlice.
    pub fn of(slice: &EndpointSlice) -> Option<SliceSnap> {
        slice.metadata.uid.as_ref()?;
        let mut endpoints = BTreeMap::new();
        for ep in &slice.endpoints {
            let cond = ep.conditions.as_ref();
            let ready = cond.and_then(|c| c.ready).unwrap_or(true);
            let snap = EndpointSnap {
                address: ep.addresses.first().cloned(),
                pod: ep.target_ref.as_ref().and_then(|t| t.name.clone()),
                pod_uid: ep.target_ref.as_ref().and_then(|t| t.uid.clone()),
                node: ep.node_name.clone(),
                ready,
                serving: cond.and_then(|c| c.serving).unwrap_or(ready),
                terminating: cond.and_then(|c| c.terminating).unwrap_or(false),
            };
            let key = snap
                .pod_uid
                .clone()
                .unwrap_or_else(|| ep.addresses.join(","));
            endpoints.insert(key, snap);
        }
        Some(SliceSnap {
            object: object_ref("EndpointSlice", &slice.metadata),
            service: slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL).cloned()),
            endpoints,
        })
    }

    fn event(&self, kind: EventKind, ep: &EndpointSnap) -> Event {
        let mut e = event(kind, self.object.clone());
        e.pod = ep.pod.clone();
        e.address = ep.address.clone();
        e.node = ep.node.clone();
        e.ready = Some(ep.ready);
        e.serving = Some(ep.serving);
        e.terminating = Some(ep.terminating);
        if let Some(s) = &self.service {
            e.detail = Some(format!("service {s}"));
        }
        e
    }
}

impl Snapshot for SliceSnap {
    fn uid(&self) -> &str {
        self.object.uid.as_deref().unwrap_or_default()
    }

    fn resource_version(&self) -> &str {
        self.object.resource_version.as_deref().unwrap_or_default()
    }

    fn diff(prev: Option<&Self>, cur: &Self) -> Vec<Event> {
        let empty = BTreeMap::new();
        let before = prev.map(|p| &p.endpoints).unwrap_or(&empty);
        let mut out = Vec::new();
        for (key, ep) in &cur.endpoints {
            match before.get(key) {
                None => out.push(cur.event(EventKind::EndpointAdded, ep)),
                Some(b)
                    if (b.ready, b.serving, b.terminating)
                        != (ep.ready, ep.serving, ep.terminating) =>
                {
                    out.push(cur.event(EventKind::EndpointChanged, ep))
                }
                Some(_) => {}
            }
        }
        for (key, ep) in before {
            if !cur.endpoints.contains_key(key) {
                out.push(cur.event(EventKind::EndpointRemoved, ep));
            }
        }
        out
    }

    fn deleted(last: &Self) -> Vec<Event> {
        last.endpoints
            .values()
            .map(|ep| last.event(EventKind::EndpointRemoved, ep))
            .collect()
    }
}
