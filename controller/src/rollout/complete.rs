//! When is the rollout complete? kubectl's `rollout status` rules, plus one
//! guard against stale objects.
//!
//! kubectl (`pkg/polymorphichelpers/rollout_status.go`) waits until the
//! controller has observed the current spec (`status.observedGeneration >=
//! metadata.generation`), fails when the Progressing condition's reason is
//! `ProgressDeadlineExceeded`, and then requires `updatedReplicas >=
//! spec.replicas`, no old replicas (`status.replicas <= updatedReplicas`) and
//! `availableReplicas >= updatedReplicas`. We add: the object must be at
//! least the generation our patch produced, so a Deployment event from
//! before the patch, delivered after it, never reads as complete.

use k8s_openapi::api::apps::v1::Deployment;

/// The reason the deployment controller puts on the Progressing condition
/// when progressDeadlineSeconds ran out.
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not done; the text says what it waits for (kubectl's wording).
    Waiting(String),
    /// Done: every replica updated and available, no old replicas.
    Complete,
    /// The Progressing condition reports ProgressDeadlineExceeded.
    DeadlineExceeded,
}

/// Evaluates a Deployment; `min_generation` is the generation the patch
/// produced (0 to accept any).
pub fn progress(d: &Deployment, min_generation: i64) -> Progress {
    let name = d.metadata.name.as_deref().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    if generation < min_generation {
        return Progress::Waiting(format!(
            "Waiting for generation {min_generation} of deployment {name:?} (seen {generation})"
        ));
    }
    let status = d.status.clone().unwrap_or_default();
    if generation > status.observed_generation.unwrap_or(0) {
        return Progress::Waiting("Waiting for deployment spec update to be observed...".into());
    }
    let timed_out = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing")
        .is_some_and(|c| c.reason.as_deref() == Some(TIMED_OUT_REASON));
    if timed_out {
        return Progress::DeadlineExceeded;
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if let Some(desired) = d.spec.as_ref().and_then(|s| s.replicas)
        && updated < desired
    {
        return Progress::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {desired} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return Progress::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return Progress::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Progress::Complete
}
