//! The checks before any run (the Deployment as it is now, the Service to
//! probe) and the plan they give.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::{Api, Client};

use super::error::{Error, Result};
use super::params::{Params, Role, Via};
use super::pod::EXPERIMENT_LABEL;
use crate::rollout::complete::{Progress, progress};
use crate::rollout::discover;
use crate::rollout::error::{Call, Error as RolloutError, is_not_found};

/// What the checks found: enough to plan every run.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// What every agent probes, a container each: the rolled Service by
    /// each way asked, then the control's.
    pub(super) targets: Vec<Target>,
    pub(super) service: String,
    pub(super) pod_labels: BTreeMap<String, String>,
}

pub(super) fn print_plan(p: &Params, plan: &Plan) {
    let agents = if p.per_node {
        "one agent on every node the DaemonSet controller places one on".to_owned()
    } else if p.agents.is_empty() {
        "one agent, on a node without a pod of the deployment when there is one".to_owned()
    } else {
        format!("one agent on each of {}", p.agents.join(", "))
    };
    let probing = plan
        .targets
        .iter()
        .map(|t| {
            format!(
                "{} ({} {}, {})",
                t.url,
                t.role.name(),
                t.service,
                t.via.name()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "experiment {id}: {n} run(s) of deployment {ns}/{d} ({trigger:?}), {between:?} apart\n  \
         agents: {agents}, image {image}, {rate}/s a probe container, probing {probing}\n  \
         output: {out}/run-NN; everything created is labelled {EXPERIMENT_LABEL}={id} and {fate}",
        id = p.id,
        n = p.repeat,
        ns = p.namespace,
        d = p.deployment,
        trigger = p.trigger,
        between = p.between,
        image = p.image,
        rate = p.rate,
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

/// One thing every agent probes.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) role: Role,
    pub(super) service: String,
    pub(super) via: Via,
    /// The URL; `$(HOST_IP)` expands to the agent's node IP.
    pub(super) url: String,
}

impl Target {
    /// The name of its container and the suffix of its agent's name, when
    /// an agent probes more than one thing: `clusterip`, `nodeport`,
    /// `control-clusterip`, ...
    pub(super) fn suffix(&self) -> String {
        match self.role {
            Role::Rolled => self.via.name().to_owned(),
            Role::Control => format!("control-{}", self.via.name()),
        }
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

/// The Service to probe (found as the rollout finds it), the control
/// Service if any, and the URL of each way to reach them.
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
    let mut targets = Vec::new();
    let svc = get_service(client, p, &name).await?;
    for &via in p.access.vias() {
        targets.push(Target {
            role: Role::Rolled,
            service: name.clone(),
            via,
            url: url(&name, &svc, via)?,
        });
    }
    if let Some(control) = &p.control {
        let svc = get_service(client, p, control).await?;
        let selector = svc
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .unwrap_or_default();
        if control == &name || (!selector.is_empty() && selects(&selector, pod_labels)) {
            return Err(Error::Service(format!(
                "--control {control:?} selects the pods of deployment {:?}, so it rolls with it: a control must be a Service the rollout does not touch",
                p.deployment
            )));
        }
        for &via in p.access.vias() {
            targets.push(Target {
                role: Role::Control,
                service: control.clone(),
                via,
                url: url(control, &svc, via)?,
            });
        }
    }
    Ok(Plan {
        targets,
        service: name,
        pod_labels: pod_labels.clone(),
    })
}

/// Whether a Service's selector selects pods with these labels.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

async fn get_service(client: &Client, p: &Params, name: &str) -> Result<Service> {
    let api: Api<Service> = Api::namespaced(client.clone(), &p.namespace);
    api.get(name).await.map_err(|e| {
        if is_not_found(&e) {
            RolloutError::ServiceNotFound {
                namespace: p.namespace.clone(),
                name: name.to_owned(),
            }
            .into()
        } else {
            Call {
                verb: "get",
                resource: "services",
                name: Some(name),
                namespace: &p.namespace,
            }
            .error(e)
            .into()
        }
    })
}

/// The URL an agent probes to reach Service `name` that way.
fn url(name: &str, svc: &Service, via: Via) -> Result<String> {
    let spec = svc.spec.clone().unwrap_or_default();
    let port = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| Error::Service(format!("service {name:?} has no port")))?;
    match via {
        Via::Clusterip => {
            let ip = spec.cluster_ip.unwrap_or_default();
            if ip.is_empty() || ip == "None" {
                return Err(Error::Service(format!(
                    "service {name:?} has no ClusterIP (headless): use --access nodeport or another Service"
                )));
            }
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip
            };
            Ok(format!("http://{host}:{}/", port.port))
        }
        Via::Nodeport => {
            let node_port = port.node_port.ok_or_else(|| {
                Error::Service(format!(
                    "service {name:?} has no nodePort (type {}): use --access clusterip",
                    spec.type_.as_deref().unwrap_or("ClusterIP")
                ))
            })?;
            // The agent's own node IP, from the downward API.
            Ok(format!("http://$(HOST_IP):{node_port}/"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_selector_selects_pods_that_carry_all_its_labels() {
        let pod = labels(&[("app", "web"), ("tier", "front")]);
        assert!(selects(&labels(&[("app", "web")]), &pod));
        assert!(!selects(&labels(&[("app", "control")]), &pod));
        assert!(!selects(&labels(&[("app", "web"), ("x", "y")]), &pod));
    }

    #[test]
    fn urls_by_way_of_reaching() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
                     "ports": [{"port": 80, "nodePort": 30080}]}
        }))
        .unwrap();
        assert_eq!(
            url("web", &svc, Via::Clusterip).unwrap(),
            "http://10.96.0.10:80/"
        );
        assert_eq!(
            url("web", &svc, Via::Nodeport).unwrap(),
            "http://$(HOST_IP):30080/"
        );
        let headless: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
        }))
        .unwrap();
        let e = url("h", &headless, Via::Clusterip).unwrap_err().to_string();
        assert!(e.contains("headless"), "{e}");
        let e = url("h", &headless, Via::Nodeport).unwrap_err().to_string();
        assert!(e.contains("no nodePort"), "{e}");
    }
}
