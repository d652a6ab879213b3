//! What our kubelet tells the API server about a pod beyond its status
//! patches: a pod that cannot start, and the deletion of a finished pod's
//! object (grace 0, UID precondition: status/status_manager.go).

use chrono::Utc;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};

use super::NodeCtx;
use super::events::Step;
use super::pod::key;
use super::status::{CState, ContainerStatus, PodStatus};

/// A pod that cannot start: every container waiting with the reason.
pub(super) async fn fail(ctx: &NodeCtx, pod: &Pod, msg: &str) {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let containers = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            id: None,
            state: CState::Waiting {
                reason: "CreateContainerConfigError".into(),
                message: msg.into(),
            },
            ready: false,
            restart_count: 0,
        })
        .collect();
    let status = PodStatus::new(&uid, &ctx.net.ip.to_string(), containers, Utc::now());
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let name = pod.metadata.name.clone().unwrap_or_default();
    if let Err(e) = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(status.patch()),
        )
        .await
    {
        tracing::warn!("posting the status of {}: {e}", key(pod));
    }
}

/// Deletes the pod object: grace 0, UID precondition.
pub(super) async fn delete(ctx: &NodeCtx, pod: &Pod) {
    let api: Api<Pod> = Api::namespaced(
        ctx.client.clone(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let dp = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    match api.delete(&name, &dp).await {
        Ok(_) => ctx.event(pod, Step::PodDeleted, "", ""),
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => tracing::warn!("deleting {}: {e}", key(pod)),
    }
}
