//! The agents of a run: their pod specs, waiting until they probe,
//! stopping them.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use seamless_proto::control::{AgentStatus, Phase};

use super::control::Endpoint;
use super::error::{Error, Result};
use super::params::Params;
use super::plan::Plan;
use super::pod::{AgentSpec, Placement};
use crate::rollout::error::Call;

pub(super) fn agent_specs(p: &Params, plan: &Plan, run: u32) -> Vec<AgentSpec> {
    let placements: Vec<Placement> = if p.agents.is_empty() {
        vec![Placement::AwayFrom(plan.pod_labels.clone())]
    } else {
        p.agents.iter().cloned().map(Placement::Node).collect()
    };
    placements
        .into_iter()
        .enumerate()
        .map(|(k, placement)| AgentSpec {
            name: format!("seamless-agent-{}-r{run:02}-{k}", p.id),
            experiment: p.id.clone(),
            run,
            placement,
            image: p.image.clone(),
            url: plan.url.clone(),
            rate: p.rate,
            port: p.port,
            // Nobody left to stop it: it stops itself well after any run.
            max_duration: p.timeout + p.settle + p.ready_timeout + Duration::from_secs(300),
        })
        .collect()
}

/// Polls the pod until it is Ready (its log holds a probe), failing fast on
/// a status that will not get there. Returns its node.
pub(super) async fn wait_probing(client: &Client, p: &Params, name: &str) -> Result<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &p.namespace);
    let deadline = tokio::time::Instant::now() + p.ready_timeout;
    let not_ready = |reason: String| Error::AgentNotReady {
        pod: name.to_owned(),
        reason,
    };
    loop {
        let pod = api.get(name).await.map_err(|e| {
            Call {
                verb: "get",
                resource: "pods",
                name: Some(name),
                namespace: &p.namespace,
            }
            .error(e)
        })?;
        let status = pod.status.clone().unwrap_or_default();
        let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
        if phase == "Failed" || phase == "Succeeded" {
            return Err(not_ready(format!(
                "the pod is {phase}: {}",
                container_says(&pod).unwrap_or_else(|| "no container status".into())
            )));
        }
        for cs in status.container_statuses.iter().flatten() {
            if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.as_deref().unwrap_or_default();
                if matches!(
                    reason,
                    "ErrImagePull"
                        | "ImagePullBackOff"
                        | "InvalidImageName"
                        | "ErrImageNeverPull"
                        | "CreateContainerConfigError"
                        | "CreateContainerError"
                ) {
                    return Err(not_ready(format!(
                        "{reason}: {}",
                        w.message.as_deref().unwrap_or_default()
                    )));
                }
            }
        }
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
            tracing::info!(pod = name, %node, "agent probing");
            return Ok(node);
        }
        if tokio::time::Instant::now() >= deadline {
            let why = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.status != "True")
                .map(|c| {
                    format!(
                        "{} {}: {}",
                        c.type_,
                        c.reason.as_deref().unwrap_or("False"),
                        c.message.as_deref().unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| format!("phase {phase}"));
            return Err(not_ready(format!(
                "not ready after {:?} ({why})",
                p.ready_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn container_says(pod: &Pod) -> Option<String> {
    let cs = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    let t = cs.state.as_ref()?.terminated.as_ref()?;
    Some(format!(
        "exit code {}{}",
        t.exit_code,
        t.message
            .as_deref()
            .map(|m| format!(", {}", m.trim()))
            .unwrap_or_default()
    ))
}

/// Asks the agent to stop and waits until its log is complete.
pub(super) async fn stop(client: &Client, ep: &Endpoint) -> Result<AgentStatus> {
    let mut status = ep.stop(client).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match status.phase {
            Phase::Done => return Ok(status),
            Phase::Failed => {
                return Err(Error::Agent {
                    pod: ep.pod.clone(),
                    reason: format!(
                        "the probe session failed: {}",
                        status.error.unwrap_or_default()
                    ),
                });
            }
            Phase::Starting | Phase::Probing => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Agent {
                pod: ep.pod.clone(),
                reason: "still not done 30s after GET /stop".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = ep.status(client).await?;
    }
}
