//! The agent pod: the spec of `manifests/agent/job-clusterip/job.yaml`
//! (image, resources, the restricted security context, an emptyDir for the
//! log, `NODE_NAME`/`POD_NAME` from the downward API) as one bare pod, with
//! the control endpoint instead of the keeper container: the agent itself
//! serves its finished log until the pod is deleted.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// The label every object the experiment creates carries, valued with the
/// experiment's id.
pub const EXPERIMENT_LABEL: &str = "seamless-rollout.github.io/experiment";
/// The label with the run's number inside the experiment.
pub const RUN_LABEL: &str = "seamless-rollout.github.io/run";
/// The agent's default image.
pub const DEFAULT_IMAGE: &str = "seamless-agent:0.1.0";
/// Where the emptyDir is mounted in the agent container.
pub const DATA_DIR: &str = "/tmp";

/// Where an agent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// On this node (`spec.nodeName`).
    Node(String),
    /// Wherever the scheduler prefers, away from the pods with these labels
    /// (the Deployment's) when a node allows.
    AwayFrom(BTreeMap<String, String>),
}

/// What one agent pod is made of.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Pod name.
    pub name: String,
    /// The experiment's id (the label's value).
    pub experiment: String,
    /// The run's number, from 1.
    pub run: u32,
    /// Where it runs.
    pub placement: Placement,
    /// The agent's image.
    pub image: String,
    /// The URL to probe; `$(HOST_IP)` expands to the node's IP.
    pub url: String,
    /// Probes a second.
    pub rate: f64,
    /// The control endpoint's port.
    pub port: u16,
    /// The agent stops by itself after this long if nobody stops it (a
    /// controller that died without cleaning up).
    pub max_duration: std::time::Duration,
}

/// The labels of an agent pod.
pub fn labels(experiment: &str, run: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "seamless-agent".into()),
        ("app.kubernetes.io/part-of".into(), "seamless".into()),
        (
            "app.kubernetes.io/managed-by".into(),
            "seamless-controller".into(),
        ),
        (EXPERIMENT_LABEL.into(), experiment.into()),
        (RUN_LABEL.into(), run.to_string()),
    ])
}

/// A duration as the agent's flag takes it, whole seconds.
fn secs(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

impl AgentSpec {
    /// The pod to create.
    pub fn pod(&self) -> Pod {
        let mut spec = json!({
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 10,
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "fsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"}
            },
            "containers": [{
                "name": "agent",
                "image": self.image,
                "imagePullPolicy": "IfNotPresent",
                "args": [
                    "probe", self.url,
                    "--rate", self.rate.to_string(),
                    "--duration", secs(self.max_duration),
                    "--threads", "1",
                    "--backend-header", "X-Pod-Name",
                    "--out", format!("{DATA_DIR}/probe-$(NODE_NAME).log"),
                    "--serve", format!("0.0.0.0:{}", self.port),
                ],
                "env": [
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}
                ],
                "ports": [{"name": "control", "containerPort": self.port, "protocol": "TCP"}],
                // Ready once the log holds a probe.
                "readinessProbe": {
                    "httpGet": {"path": "/ready", "port": self.port},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                    "timeoutSeconds": 1
                },
                "securityContext": {
                    "runAsNonRoot": true,
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]}
                },
                "resources": {
                    "requests": {"cpu": "500m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "128Mi"}
                },
                "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}]
            }],
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "512Mi"}}]
        });
        match &self.placement {
            Placement::Node(node) => spec["nodeName"] = json!(node),
            Placement::AwayFrom(labels) => {
                spec["affinity"] = json!({"podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": labels},
                            "topologyKey": "kubernetes.io/hostname"
                        }
                    }]
                }});
            }
        }
        let pod: Value = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "labels": labels(&self.experiment, self.run),
            },
            "spec": spec,
        });
        // The JSON above is a valid Pod by construction.
        serde_json::from_value(pod).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(placement: Placement) -> AgentSpec {
        AgentSpec {
            name: "seamless-agent-x-r01-0".into(),
            experiment: "x".into(),
            run: 1,
            placement,
            image: DEFAULT_IMAGE.into(),
            url: "http://10.96.0.10:80/".into(),
            rate: 2000.0,
            port: 9090,
            max_duration: std::time::Duration::from_secs(900),
        }
    }

    #[test]
    fn the_pod_is_labelled_and_restricted() {
        let pod = spec(Placement::Node("node-b".into())).pod();
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[EXPERIMENT_LABEL], "x");
        assert_eq!(labels[RUN_LABEL], "1");
        let s = pod.spec.unwrap();
        assert_eq!(s.node_name.as_deref(), Some("node-b"));
        assert!(s.affinity.is_none());
        assert_eq!(s.automount_service_account_token, Some(false));
        let c = &s.containers[0];
        let args = c.args.clone().unwrap();
        assert_eq!(args[..2], ["probe", "http://10.96.0.10:80/"]);
        assert!(args.windows(2).any(|w| w == ["--serve", "0.0.0.0:9090"]));
        assert!(args.windows(2).any(|w| w == ["--duration", "900s"]));
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            c.readiness_probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .path
                .as_deref(),
            Some("/ready")
        );
    }

    #[test]
    fn away_from_the_deployment() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let pod = spec(Placement::AwayFrom(labels)).pod();
        let s = pod.spec.unwrap();
        assert!(s.node_name.is_none());
        let anti = s.affinity.unwrap().pod_anti_affinity.unwrap();
        let term = &anti
            .preferred_during_scheduling_ignored_during_execution
            .unwrap()[0];
        assert_eq!(
            term.pod_affinity_term.topology_key,
            "kubernetes.io/hostname"
        );
    }
}
