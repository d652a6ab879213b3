//! The checks before any run (the Deployment as it is now, the Service to
//! probe) and the plan they give.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::{Api, Client};

use super::error::{Error, Result};
use super::params::{Access, Params};
use super::pod::EXPERIMENT_LABEL;
use crate::rollout::complete::{Progress, progress};
use crate::rollout::discover;
use crate::rollout::error::{Call, Error as RolloutError, is_not_found};

/// What the checks found: enough to plan every run.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) url: String,
    pub(super) service: String,
    pub(super) pod_labels: BTreeMap<String, String>,
}

pub(super) fn print_plan(p: &Params, plan: &Plan) {
    let agents = if p.agents.is_empty() {
        "one agent, on a node without a pod of the deployment when there is one".to_owned()
    } else {
        format!("one agent on each of {}", p.agents.join(", "))
    };
    eprintln!(
        "experiment {id}: {n} run(s) of deployment {ns}/{d} ({trigger:?}), {between:?} apart\n  \
         agents: {agents}, image {image}, {rate}/s each, probing {url} (service {svc})\n  \
         output: {out}/run-NN; every pod created is labelled {EXPERIMENT_LABEL}={id} and {fate}",
        id = p.id,
        n = p.repeat,
        ns = p.namespace,
        d = p.deployment,
        trigger = p.trigger,
        between = p.between,
        image = p.image,
        rate = p.rate,
        url = plan.url,
        svc = plan.service,
        out = p.out.display(),
        fate = if p.keep {
            "kept (--keep)"
        } else {
            "deleted at the end, on error and on Ctrl+C"
        },
    );
    if p.dry_run {
        eprintln!("dry run: nothing created; the agent pod(s) of run 1 follow on stdout");
    }
}

/// The refusals, read from the Deployment as it is now: paused, rolling,
/// more than one replica without `--replicas-ok`. Returns the pod
/// template's labels.
pub(super) async fn check_deployment(
    client: &Client,
    p: &Params,
) -> Result<BTreeMap<String, String>> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), &p.namespace);
    let d = api.get(&p.deployment).await.map_err(|e| {
        if is_not_found(&e) {
            RolloutError::DeploymentNotFound {
                namespace: p.namespace.clone(),
                name: p.deployment.clone(),
            }
        } else {
            Call {
                verb: "get",
                resource: "deployments.apps",
                name: Some(&p.deployment),
                namespace: &p.namespace,
            }
            .error(e)
        }
    })?;
    let spec = d.spec.clone().unwrap_or_default();
    if spec.paused == Some(true) {
        return Err(RolloutError::Paused {
            name: p.deployment.clone(),
        }
        .into());
    }
    match progress(&d, 0) {
        Progress::Complete => {}
        Progress::Waiting(why) => {
            return Err(Error::AlreadyRolling {
                name: p.deployment.clone(),
                why,
            });
        }
        Progress::DeadlineExceeded => {
            return Err(Error::AlreadyRolling {
                name: p.deployment.clone(),
                why: "its last rollout exceeded its progress deadline".into(),
            });
        }
    }
    // The API server defaults spec.replicas to 1.
    let replicas = spec.replicas.unwrap_or(1);
    if replicas > 1 && !p.replicas_ok {
        return Err(Error::Replicas {
            name: p.deployment.clone(),
            replicas,
        });
    }
    Ok(spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default())
}

/// The Service to probe (found as the rollout finds it) and the URL.
pub(super) async fn find_target(
    client: &Client,
    p: &Params,
    pod_labels: &BTreeMap<String, String>,
) -> Result<Plan> {
    let names = discover::services(client, &p.namespace, pod_labels, &p.services).await?;
    let name = match (p.services.first(), names.as_slice()) {
        (Some(first), _) => first.clone(),
        (None, [one]) => one.clone(),
        (None, []) => {
            return Err(Error::Service(format!(
                "no Service in namespace {:?} selects the pods of deployment {:?}: nothing to probe",
                p.namespace, p.deployment
            )));
        }
        (None, many) => {
            return Err(Error::Service(format!(
                "several Services select the pods of deployment {:?} ({}): name the one to probe with --service",
                p.deployment,
                many.join(", ")
            )));
        }
    };
    let api: Api<Service> = Api::namespaced(client.clone(), &p.namespace);
    let svc = api.get(&name).await.map_err(|e| {
        Call {
            verb: "get",
            resource: "services",
            name: Some(&name),
            namespace: &p.namespace,
        }
        .error(e)
    })?;
    let spec = svc.spec.unwrap_or_default();
    let port = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| Error::Service(format!("service {name:?} has no port")))?;
    let url = match p.access {
        Access::Clusterip => {
            let ip = spec.cluster_ip.unwrap_or_default();
            if ip.is_empty() || ip == "None" {
                return Err(Error::Service(format!(
                    "service {name:?} has no ClusterIP (headless): use --access nodeport or another --service"
                )));
            }
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip
            };
            format!("http://{host}:{}/", port.port)
        }
        Access::Nodeport => {
            let node_port = port.node_port.ok_or_else(|| {
                Error::Service(format!(
                    "service {name:?} has no nodePort (type {}): use --access clusterip",
                    spec.type_.as_deref().unwrap_or("ClusterIP")
                ))
            })?;
            // The agent's own node IP, from the downward API.
            format!("http://$(HOST_IP):{node_port}/")
        }
    };
    Ok(Plan {
        url,
        service: name,
        pod_labels: pod_labels.clone(),
    })
}
