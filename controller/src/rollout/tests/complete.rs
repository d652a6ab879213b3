//! The completion predicate on inline Deployment statuses: kubectl's
//! `rollout status` rules, and a status that lags the patch.

use crate::rollout::complete::{Progress, progress};
use k8s_openapi::api::apps::v1::Deployment;

fn deployment(generation: i64, spec_replicas: i32, status: &str) -> Deployment {
    let yaml = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  generation: {generation}
spec:
  replicas: {spec_replicas}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: nginx
          image: nginx:1.17.1
status:
{status}"
    );
    serde_saphyr::from_str(&yaml).unwrap()
}

const DONE: &str = "  observedGeneration: 2
  replicas: 1
  updatedReplicas: 1
  readyReplicas: 1
  availableReplicas: 1
  conditions:
    - type: Available
      status: \"True\"
      reason: MinimumReplicasAvailable
    - type: Progressing
      status: \"True\"
      reason: NewReplicaSetAvailable
";

#[test]
fn complete_when_all_updated_available_and_no_old_replicas() {
    assert_eq!(progress(&deployment(2, 1, DONE), 2), Progress::Complete);
}

#[test]
fn a_status_from_before_the_patch_is_not_complete() {
    // Read right after the patch: generation 2, the controller still
    // reports generation 1's finished rollout.
    let lagging = DONE.replace("observedGeneration: 2", "observedGeneration: 1");
    assert_eq!(
        progress(&deployment(2, 1, &lagging), 2),
        Progress::Waiting("Waiting for deployment spec update to be observed...".into())
    );
    // An event from before the patch (generation 1, complete in itself)
    // delivered after it.
    let old = DONE.replace("observedGeneration: 2", "observedGeneration: 1");
    assert_eq!(
        progress(&deployment(1, 1, &old), 2),
        Progress::Waiting("Waiting for generation 2 of deployment \"web\" (seen 1)".into())
    );
    // kubectl alone (no patch generation) would call that complete.
    assert_eq!(progress(&deployment(1, 1, &old), 0), Progress::Complete);
}

#[test]
fn waits_for_updated_replicas() {
    let s = DONE.replace("updatedReplicas: 1", "updatedReplicas: 0");
    assert_eq!(
        progress(&deployment(2, 1, &s), 2),
        Progress::Waiting("Waiting for deployment \"web\" rollout to finish: 0 out of 1 new replicas have been updated...".into())
    );
}

#[test]
fn waits_for_old_replicas_to_terminate() {
    // maxSurge 1: the new pod is up, the old one still counted.
    let s = DONE.replace(
        "replicas: 1\n  updatedReplicas",
        "replicas: 2\n  updatedReplicas",
    );
    assert_eq!(
        progress(&deployment(2, 1, &s), 2),
        Progress::Waiting("Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...".into())
    );
}

#[test]
fn waits_for_availability() {
    let s = DONE.replace("availableReplicas: 1", "availableReplicas: 0");
    assert_eq!(
        progress(&deployment(2, 1, &s), 2),
        Progress::Waiting("Waiting for deployment \"web\" rollout to finish: 0 of 1 updated replicas are available...".into())
    );
    // A missing availableReplicas (no pod available yet) counts as 0.
    let s = DONE.replace("  availableReplicas: 1\n", "");
    assert!(matches!(
        progress(&deployment(2, 1, &s), 2),
        Progress::Waiting(_)
    ));
}

#[test]
fn progress_deadline_exceeded_only_once_observed() {
    let s = "  observedGeneration: 2
  replicas: 2
  updatedReplicas: 1
  availableReplicas: 1
  conditions:
    - type: Progressing
      status: \"False\"
      reason: ProgressDeadlineExceeded
      message: ReplicaSet \"web-7b9f8c6d5\" has timed out progressing.
";
    assert_eq!(
        progress(&deployment(2, 1, s), 2),
        Progress::DeadlineExceeded
    );
    // The condition of an older generation does not count (as kubectl).
    let older = s.replace("observedGeneration: 2", "observedGeneration: 1");
    assert!(matches!(
        progress(&deployment(2, 1, &older), 2),
        Progress::Waiting(_)
    ));
}

#[test]
fn scaled_to_zero_is_complete() {
    let s = "  observedGeneration: 3\n  conditions: []\n";
    assert_eq!(progress(&deployment(3, 0, s), 3), Progress::Complete);
}
