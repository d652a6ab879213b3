//! The trackers on their own: the baseline is silent, repeats are dropped
//! by (uid, resourceVersion) and by state, and a re-list after a lost watch
//! reports what vanished meanwhile as deleted, exactly once.

use crate::rollout::track::Tracker;
use crate::rollout::track::pod::PodSnap;
use crate::rollout::track::slice::SliceSnap;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event as W;
use serde_json::Value;

fn initial(resource: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&super::fake_api::fixture("initial.json")).unwrap();
    v[resource].as_array().unwrap().clone()
}

/// The n-th object of a resource in the rollout script.
fn scripted(resource: &str, n: usize) -> Value {
    super::fake_api::fixture("one-replica-rollout.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|s| s["resource"] == resource && s["type"] != "ERROR" && s["type"] != "DROP")
        .nth(n)
        .unwrap()["object"]
        .clone()
}

fn kinds(events: &[seamless_proto::timeline::Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

#[test]
fn pods_baseline_repeats_and_relist() {
    let old: Pod = serde_json::from_value(initial("pods")[0].clone()).unwrap();
    let mut t: Tracker<PodSnap> = Tracker::default();
    assert!(t.handle(W::Init, PodSnap::of).is_empty());
    assert!(
        t.handle(W::InitApply(old.clone()), PodSnap::of).is_empty(),
        "baseline is silent"
    );
    assert!(!t.synced());
    assert!(t.handle(W::InitDone, PodSnap::of).is_empty());
    assert!(t.synced());

    // The same object again, and a new resourceVersion without a tracked
    // change: nothing.
    assert!(t.handle(W::Apply(old.clone()), PodSnap::of).is_empty());
    let mut touched = old.clone();
    touched.metadata.resource_version = Some("5150".into());
    touched.metadata.annotations = Some([("note".to_owned(), "x".to_owned())].into());
    assert!(t.handle(W::Apply(touched), PodSnap::of).is_empty());

    // The new pod appears and becomes ready.
    let created: Pod = serde_json::from_value(scripted("pods", 0)).unwrap();
    assert_eq!(
        kinds(&t.handle(W::Apply(created), PodSnap::of)),
        ["pod_created", "pod_scheduled"]
    );
    let ready: Pod = serde_json::from_value(scripted("pods", 3)).unwrap();
    assert_eq!(
        kinds(&t.handle(W::Apply(ready.clone()), PodSnap::of)),
        ["container_started", "pod_ready"]
    );

    // Watch lost; meanwhile the old pod was deleted. The re-list has only
    // the new pod, unchanged: one pod_deleted for the old one, nothing else.
    assert!(t.handle(W::Init, PodSnap::of).is_empty());
    assert!(
        t.handle(W::InitApply(ready.clone()), PodSnap::of)
            .is_empty()
    );
    let done = t.handle(W::InitDone, PodSnap::of);
    assert_eq!(kinds(&done), ["pod_deleted"]);
    assert_eq!(
        done[0].object.as_ref().unwrap().name,
        "web-6d4cf56db6-2xk9p"
    );
    assert_eq!(t.objects().len(), 1);

    // Another re-list of the same state: nothing.
    t.handle(W::Init, PodSnap::of);
    assert!(t.handle(W::InitApply(ready), PodSnap::of).is_empty());
    assert!(t.handle(W::InitDone, PodSnap::of).is_empty());
}

#[test]
fn a_deleted_slice_removes_its_endpoints() {
    let slice: EndpointSlice = serde_json::from_value(scripted("endpointslices", 0)).unwrap();
    let mut t: Tracker<SliceSnap> = Tracker::default();
    t.handle(W::Init, SliceSnap::of);
    t.handle(W::InitApply(slice.clone()), SliceSnap::of);
    t.handle(W::InitDone, SliceSnap::of);
    let gone = t.handle(W::Delete(slice), SliceSnap::of);
    assert_eq!(kinds(&gone), ["endpoint_removed", "endpoint_removed"]);
    let pods: Vec<_> = gone.iter().map(|e| e.pod.clone().unwrap()).collect();
    assert_eq!(pods, ["web-6d4cf56db6-2xk9p", "web-7b9f8c6d5-q8zvn"]);
    assert!(t.objects().is_empty());
}
