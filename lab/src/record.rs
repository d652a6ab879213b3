//! Writing the run directory: timeline.jsonl as events happen (flushed each
//! time, shared by the lab's threads) and run.json with the ground truth.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use seamless_proto::run::Interval;
use seamless_proto::timeline::{Event, EventKind, ObjectRef, TimelineWriter};
use seamless_proto::{GroundTruth, run};

use super::clock::now_ns;

/// The timeline of one run, shared between the kubelet and kube-proxy
/// threads.
#[derive(Clone)]
pub struct Timeline {
    out: Arc<Mutex<TimelineWriter<File>>>,
}

impl Timeline {
    /// Creates `timeline.jsonl` in `dir`.
    pub fn create(dir: &Path) -> std::io::Result<Timeline> {
        let f = File::create(dir.join(run::TIMELINE))?;
        Ok(Timeline {
            out: Arc::new(Mutex::new(TimelineWriter::new(f))),
        })
    }

    /// Records an event; a write error is logged, never fatal (the run's
    /// probes matter more than one timeline line).
    pub fn emit(&self, event: Event) {
        let mut w = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = w.write(&event) {
            tracing::warn!("timeline write failed: {e}");
        }
    }

    /// Records a pod event now.
    pub fn pod(&self, kind: EventKind, pod: &str, node: &str) -> i64 {
        let ts = now_ns();
        self.pod_at(ts, kind, pod, node, None);
        ts
    }

    /// Records a pod event at `ts` with an optional detail.
    pub fn pod_at(&self, ts: i64, kind: EventKind, pod: &str, node: &str, detail: Option<String>) {
        let mut e = Event::new(ts, kind)
            .with_object(ObjectRef::new("Pod", pod))
            .with_node(node);
        e.detail = detail;
        self.emit(e);
    }

    /// Records an endpoint event.
    pub fn endpoint(&self, ts: i64, kind: EventKind, pod: &str, address: &str, node: Option<&str>) {
        let mut e = Event::new(ts, kind).with_object(ObjectRef::new("EndpointSlice", "web"));
        e.pod = Some(pod.into());
        e.address = Some(address.into());
        e.node = node.map(Into::into);
        self.emit(e);
    }
}

/// The ground truth from the two racing times: an outage when the backend
/// stopped accepting before its rule left the probing node.
pub fn ground_truth(stopped_ns: Option<i64>, removed_ns: Option<i64>) -> GroundTruth {
    let outages = match (stopped_ns, removed_ns) {
        (Some(s), Some(r)) if s < r => vec![Interval {
            start_ns: s,
            end_ns: r,
        }],
        _ => Vec::new(),
    };
    GroundTruth {
        old_backend_stopped_ns: stopped_ns,
        old_rule_removed_ns: removed_ns,
        outages,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_only_when_the_backend_stops_first() {
        assert_eq!(ground_truth(Some(10), Some(20)).outages.len(), 1);
        assert_eq!(ground_truth(Some(10), Some(20)).outages[0].end_ns, 20);
        assert!(ground_truth(Some(30), Some(20)).outages.is_empty());
        assert!(ground_truth(None, Some(20)).outages.is_empty());
    }

    #[test]
    fn timeline_lines_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline::create(dir.path()).unwrap();
        tl.pod(EventKind::PodCreated, "web-2", "node-b");
        tl.endpoint(
            5,
            EventKind::EndpointAdded,
            "web-2",
            "198.18.2.10:8080",
            None,
        );
        let f = std::io::BufReader::new(File::open(dir.path().join(run::TIMELINE)).unwrap());
        let events = seamless_proto::timeline::read_jsonl(f).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].address.as_deref(), Some("198.18.2.10:8080"));
    }
}
