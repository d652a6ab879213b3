//! `run.json` for a cluster run: the trigger, the cluster version, the
//! Deployment's strategy and its pods' termination settings.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

/// What decides how the old pods die: the grace period and each
/// container's preStop hook, from the pod template.
pub fn termination(d: &Deployment) -> Value {
    let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    let containers: Vec<Value> = spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "preStop": c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()),
            })
        })
        .collect();
    json!({
        // The API server defaults it to 30 when absent.
        "terminationGracePeriodSeconds": spec.and_then(|s| s.termination_grace_period_seconds).unwrap_or(30),
        "hostNetwork": spec.and_then(|s| s.host_network).unwrap_or(false),
        "containers": containers,
    })
}

/// The Deployment's rollout settings and termination settings, for
/// `RunInfo::extra`. `after` is the Deployment as patched: its termination
/// settings are recorded too when the patch changed them.
pub fn deployment_extra(
    before: &Deployment,
    after: Option<&Deployment>,
) -> BTreeMap<String, Value> {
    let spec = before.spec.as_ref();
    let mut extra = BTreeMap::new();
    extra.insert(
        "namespace".into(),
        json!(before.metadata.namespace.as_deref().unwrap_or_default()),
    );
    extra.insert(
        "deployment".into(),
        json!(before.metadata.name.as_deref().unwrap_or_default()),
    );
    extra.insert(
        "strategy".into(),
        json!(spec.and_then(|s| s.strategy.as_ref())),
    );
    extra.insert("replicas".into(), json!(spec.and_then(|s| s.replicas)));
    extra.insert(
        "minReadySeconds".into(),
        json!(spec.and_then(|s| s.min_ready_seconds).unwrap_or(0)),
    );
    extra.insert(
        "progressDeadlineSeconds".into(),
        json!(spec.and_then(|s| s.progress_deadline_seconds)),
    );
    let old = termination(before);
    if let Some(after) = after {
        let new = termination(after);
        if new != old {
            extra.insert("termination_new_pods".into(), new);
        }
    }
    extra.insert("termination".into(), old);
    extra
}
