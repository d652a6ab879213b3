//! The lab's events on the run's timeline, written through proto's
//! [`seamless_proto::run::Timeline`] (the writer the controller uses too):
//! every line flushed at once, every write error returned to the caller,
//! which fails the run rather than leave a silent gap.

use seamless_proto::clock::now_ns;
use seamless_proto::run::{RunDirError, Timeline};
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

/// The timeline of one run, shared between the kubelet and kube-proxy
/// threads.
#[derive(Debug, Clone)]
pub struct LabTimeline {
    out: Timeline,
}

impl LabTimeline {
    /// Wraps a run's timeline.
    pub fn new(out: Timeline) -> LabTimeline {
        LabTimeline { out }
    }

    /// Records an event.
    pub fn emit(&self, event: Event) -> Result<(), RunDirError> {
        self.out.append(&event)
    }

    /// Records a pod event now; returns its time.
    pub fn pod(&self, kind: EventKind, pod: &str, node: &str) -> Result<i64, RunDirError> {
        let ts = now_ns();
        self.pod_at(ts, kind, pod, node, None)?;
        Ok(ts)
    }

    /// Records a pod event at `ts` with an optional detail.
    pub fn pod_at(
        &self,
        ts: i64,
        kind: EventKind,
        pod: &str,
        node: &str,
        detail: Option<String>,
    ) -> Result<(), RunDirError> {
        let mut e = Event::new(ts, kind)
            .with_object(ObjectRef::new("Pod", pod))
            .with_node(node);
        e.detail = detail;
        self.emit(e)
    }

    /// Records an endpoint event.
    pub fn endpoint(
        &self,
        ts: i64,
        kind: EventKind,
        pod: &str,
        address: &str,
        node: Option<&str>,
    ) -> Result<(), RunDirError> {
        let mut e = Event::new(ts, kind).with_object(ObjectRef::new("EndpointSlice", "web"));
        e.pod = Some(pod.into());
        e.address = Some(address.into());
        e.node = node.map(Into::into);
        self.emit(e)
    }

    /// Records kube-proxy's commit of an endpoint change on `node`.
    pub fn rules_synced(
        &self,
        ts: i64,
        node: &str,
        pod: &str,
        address: &str,
        what: &str,
    ) -> Result<(), RunDirError> {
        let mut e = Event::new(ts, EventKind::ProxyRulesSynced)
            .with_node(node)
            .with_detail(format!("endpoint {address} {what}"));
        e.pod = Some(pod.into());
        e.address = Some(address.into());
        self.emit(e)
    }

    /// Records a Deployment event now.
    pub fn deployment(&self, kind: EventKind, detail: Option<String>) -> Result<i64, RunDirError> {
        let ts = now_ns();
        let mut e = Event::new(ts, kind).with_object(ObjectRef::new("Deployment", "web"));
        e.detail = detail;
        self.emit(e)?;
        Ok(ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seamless_proto::RunDir;

    #[test]
    fn timeline_lines_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (_, tl) = RunDir::create(dir.path()).unwrap();
        let tl = LabTimeline::new(tl);
        tl.pod(EventKind::PodCreated, "web-2", "node-b").unwrap();
        tl.endpoint(
            5,
            EventKind::EndpointAdded,
            "web-2",
            "198.18.2.10:8080",
            None,
        )
        .unwrap();
        let f = std::fs::File::open(dir.path().join(seamless_proto::run::TIMELINE)).unwrap();
        let events = seamless_proto::timeline::read_jsonl(std::io::BufReader::new(f)).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].address.as_deref(), Some("198.18.2.10:8080"));
    }
}
