//! The agents of a run: their pod specs, waiting until they probe,
//! stopping them.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use seamless_proto::control::{AgentStatus, Phase};

use super::control::Endpoint;
use super::error::{Error, Result};
use super::params::Params;
use super::plan::Plan;
use super::pod::{AgentSpec, EXPERIMENT_LABEL, Placement, Probe, RUN_LABEL};
use crate::rollout::error::Call;

pub(super) fn agent_specs(p: &Params, plan: &Plan, run: u32) -> Vec<AgentSpec> {
    let placements: Vec<Placement> = if p.per_node {
        vec![Placement::EveryNode]
    } else if p.agents.is_empty() {
        vec![Placement::AwayFrom(plan.pod_labels.clone())]
    } else {
        p.agents.iter().cloned().map(Placement::Node).collect()
    };
    let probes = probes(p, plan);
    placements
        .into_iter()
        .enumerate()
        .map(|(k, placement)| AgentSpec {
            name: match placement {
                Placement::EveryNode => format!("seamless-agent-{}-r{run:02}", p.id),
                _ => format!("seamless-agent-{}-r{run:02}-{k}", p.id),
            },
            experiment: p.id.clone(),
            run,
            placement,
            image: p.image.clone(),
            probes: probes.clone(),
            rate: p.rate,
            // Nobody left to stop it: it stops itself well after any run.
            max_duration: p.timeout + p.settle + p.ready_timeout + Duration::from_secs(300),
        })
        .collect()
}

/// A container per target; one target keeps the plain names (`agent`,
/// `probe-<node>.log`, the port as given), several are named by what they
/// probe, on consecutive ports.
pub(super) fn probes(p: &Params, plan: &Plan) -> Vec<Probe> {
    let one = plan.targets.len() == 1;
    plan.targets
        .iter()
        .enumerate()
        .map(|(k, t)| Probe {
            container: if one { "agent".into() } else { t.suffix() },
            url: t.url.clone(),
            port: p.port.saturating_add(k as u16),
            suffix: if one {
                String::new()
            } else {
                format!(".{}", t.suffix())
            },
        })
        .collect()
}

/// What a pod's status says about getting to probing: its node once
/// Ready, `None` while it may still get there, an error when it will not.
fn probing(pod: &Pod, name: &str) -> Result<Option<String>> {
    let not_ready = |reason: String| Error::AgentNotReady {
        pod: name.to_owned(),
        reason,
    };
    let status = pod.status.clone().unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
    if phase == "Failed" || phase == "Succeeded" {
        return Err(not_ready(format!(
            "the pod is {phase}: {}",
            container_says(pod).unwrap_or_else(|| "no container status".into())
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
                    | "CrashLoopBackOff"
            ) {
                return Err(not_ready(format!(
                    "container {}: {reason}: {}",
                    cs.name,
                    w.message.as_deref().unwrap_or_default()
                )));
            }
        }
        // A DaemonSet's pod restarts a failed agent: that session is lost.
        if cs.restart_count > 0 {
            let last = cs
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| {
                    format!(
                        ", last exit code {}{}",
                        t.exit_code,
                        t.message
                            .as_deref()
                            .map(|m| format!(": {}", m.trim()))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            return Err(not_ready(format!(
                "container {} restarted {} time(s){last}",
                cs.name, cs.restart_count
            )));
        }
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    Ok(ready.then(|| {
        pod.spec
            .clone()
            .and_then(|s| s.node_name)
            .unwrap_or_default()
    }))
}

/// Why a pod is not Ready yet, from its conditions.
fn pending(pod: &Pod) -> String {
    let status = pod.status.clone().unwrap_or_default();
    status
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
        .unwrap_or_else(|| format!("phase {}", status.phase.as_deref().unwrap_or("Pending")))
}

/// Polls the pod until it is Ready (its log holds a probe), failing fast on
/// a status that will not get there. Returns its node.
pub(super) async fn wait_probing(client: &Client, p: &Params, name: &str) -> Result<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &p.namespace);
    let deadline = tokio::time::Instant::now() + p.ready_timeout;
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
        if let Some(node) = probing(&pod, name)? {
            tracing::info!(pod = name, %node, "agent probing");
            return Ok(node);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::AgentNotReady {
                pod: name.to_owned(),
                reason: format!("not ready after {:?} ({})", p.ready_timeout, pending(&pod)),
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls the DaemonSet `name` of run `run` until its controller has placed
/// its pods and every one is Ready; fails fast as [`wait_probing`] does.
/// Returns each pod and its node, by node.
pub(super) async fn wait_daemonset(
    client: &Client,
    p: &Params,
    name: &str,
    run: u32,
) -> Result<Vec<(String, String)>> {
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), &p.namespace);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &p.namespace);
    let selector = format!("{EXPERIMENT_LABEL}={},{RUN_LABEL}={run}", p.id);
    let deadline = tokio::time::Instant::now() + p.ready_timeout;
    loop {
        let ds = sets.get(name).await.map_err(|e| {
            Call {
                verb: "get",
                resource: "daemonsets.apps",
                name: Some(name),
                namespace: &p.namespace,
            }
            .error(e)
        })?;
        let generation = ds.metadata.generation.unwrap_or(1);
        let status = ds.status.clone().unwrap_or_default();
        // The controller has seen this DaemonSet and counted its nodes.
        let counted = status.observed_generation.unwrap_or(0) >= generation;
        let desired = status.desired_number_scheduled;
        if counted && desired == 0 {
            return Err(Error::AgentNotReady {
                pod: name.to_owned(),
                reason: "the DaemonSet controller places its pod on no node (every node tainted or unschedulable for it?)".into(),
            });
        }
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| {
                Call {
                    verb: "list",
                    resource: "pods",
                    name: None,
                    namespace: &p.namespace,
                }
                .error(e)
            })?;
        let mut ready = Vec::new();
        let mut waiting = None;
        for pod in &list.items {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            match probing(pod, &pod_name)? {
                Some(node) => ready.push((pod_name, node)),
                None => waiting = waiting.or_else(|| Some(format!("{pod_name}: {}", pending(pod)))),
            }
        }
        if counted && ready.len() == desired as usize && list.items.len() == ready.len() {
            ready.sort_by(|a, b| a.1.cmp(&b.1));
            for (pod, node) in &ready {
                tracing::info!(%pod, %node, "agent probing");
            }
            return Ok(ready);
        }
        if tokio::time::Instant::now() >= deadline {
            if !counted {
                return Err(Error::AgentNotReady {
                    pod: name.to_owned(),
                    reason: format!(
                        "no DaemonSet controller has taken up the DaemonSet after {:?} (does the cluster's kube-controller-manager run the daemonset controller?)",
                        p.ready_timeout
                    ),
                });
            }
            return Err(Error::AgentNotReady {
                pod: name.to_owned(),
                reason: format!(
                    "{} of {desired} pod(s) of the DaemonSet ready after {:?}{}",
                    ready.len(),
                    p.ready_timeout,
                    waiting.map(|w| format!(" ({w})")).unwrap_or_default()
                ),
            });
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
