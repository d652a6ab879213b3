//! The agent pod: the spec of `manifests/agent/job-clusterip/job.yaml`
//! (image, resources, the restricted security context, an emptyDir for the
//! log, `NODE_NAME`/`POD_NAME` from the downward API) as one bare pod, with
//! the control endpoint instead of the keeper container: the agent itself
//! serves its finished log until the pod is deleted.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
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
    /// On every node the DaemonSet controller places a pod on
    /// ([`AgentSpec::daemonset`]).
    EveryNode,
}

/// One probing container of an agent pod: the agent binary probing one
/// URL, with its own log and its own control port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The container's name.
    pub container: String,
    /// The URL to probe; `$(HOST_IP)` expands to the node's IP.
    pub url: String,
    /// Its control endpoint's port.
    pub port: u16,
    /// Its log's agent name, after `$(NODE_NAME)`: empty for
    /// `probe-<node>.log`, `.nodeport` for `probe-<node>.nodeport.log`.
    pub suffix: String,
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
    /// Its probing containers: one, or one per target.
    pub probes: Vec<Probe>,
    /// Probes a second, per container.
    pub rate: f64,
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

/// The control port's name: `control`, or `control-PORT` when the pod has
/// several (names are unique in a pod, 15 characters at most).
fn port_name(port: u16, containers: u64) -> String {
    if containers == 1 {
        "control".into()
    } else {
        format!("control-{port}")
    }
}

/// A duration as the agent's flag takes it, whole seconds.
fn secs(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

impl AgentSpec {
    /// One probing container. Its share of the pod's requests is even, so
    /// that a pod of several asks for what the pod of one does (half a
    /// core, 64 MiB); each keeps its own limits.
    fn container(&self, p: &Probe) -> Value {
        let n = self.probes.len().max(1) as u64;
        json!({
            "name": p.container,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "args": [
                "probe", p.url,
                "--rate", self.rate.to_string(),
                "--duration", secs(self.max_duration),
                "--threads", "1",
                "--backend-header", "X-Pod-Name",
                "--out", format!("{DATA_DIR}/probe-$(NODE_NAME){}.log", p.suffix),
                "--serve", format!("0.0.0.0:{}", p.port),
            ],
            "env": [
                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}
            ],
            "ports": [{"name": port_name(p.port, n), "containerPort": p.port, "protocol": "TCP"}],
            // Ready once the log holds a probe.
            "readinessProbe": {
                "httpGet": {"path": "/ready", "port": p.port},
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
                "requests": {"cpu": format!("{}m", (500 / n).max(50)), "memory": format!("{}Mi", (64 / n).max(16))},
                "limits": {"cpu": "1", "memory": "128Mi"}
            },
            "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}]
        })
    }

    /// The DaemonSet of [`Placement::EveryNode`]: the pod's template, one
    /// pod a node as the DaemonSet controller places them (its own
    /// tolerations included), never replaced while the run lasts
    /// (`OnDelete`). Its pods must restart on failure (a DaemonSet allows
    /// only `Always`); [`crate::experiment`] fails the run on the first
    /// restart instead, since a restarted agent lost its session.
    pub fn daemonset(&self) -> DaemonSet {
        let mut pod = serde_json::to_value(self.pod()).unwrap_or_default();
        pod["spec"]["restartPolicy"] = json!("Always");
        if let Some(m) = pod["metadata"].as_object_mut() {
            m.remove("name");
        }
        let labels = labels(&self.experiment, self.run);
        let ds = json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {
                "selector": {"matchLabels": {EXPERIMENT_LABEL: self.experiment, RUN_LABEL: self.run.to_string()}},
                "updateStrategy": {"type": "OnDelete"},
                "template": pod,
            }
        });
        // The JSON above is a valid DaemonSet by construction.
        serde_json::from_value(ds).unwrap_or_default()
    }

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
            "containers": self.probes.iter().map(|p| self.container(p)).collect::<Vec<_>>(),
            "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "512Mi"}}]
        });
        match &self.placement {
            Placement::Node(node) => spec["nodeName"] = json!(node),
            Placement::EveryNode => {}
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
            probes: vec![Probe {
                container: "agent".into(),
                url: "http://10.96.0.10:80/".into(),
                port: 9090,
                suffix: String::new(),
            }],
            rate: 2000.0,
            max_duration: std::time::Duration::from_secs(900),
        }
    }

    #[test]
    fn several_probes_are_containers_of_one_pod() {
        let mut a = spec(Placement::Node("node-b".into()));
        a.probes.push(Probe {
            container: "control-clusterip".into(),
            url: "http://10.96.0.11:80/".into(),
            port: 9091,
            suffix: ".control-clusterip".into(),
        });
        let s = a.pod().spec.unwrap();
        assert_eq!(s.containers.len(), 2);
        let c = &s.containers[1];
        assert_eq!(c.name, "control-clusterip");
        let args = c.args.clone().unwrap();
        assert_eq!(args[1], "http://10.96.0.11:80/");
        assert!(
            args.windows(2)
                .any(|w| w == ["--out", "/tmp/probe-$(NODE_NAME).control-clusterip.log"])
        );
        assert!(args.windows(2).any(|w| w == ["--serve", "0.0.0.0:9091"]));
        let ports: Vec<_> = s
            .containers
            .iter()
            .map(|c| c.ports.clone().unwrap()[0].name.clone().unwrap())
            .collect();
        assert_eq!(ports, ["control-9090", "control-9091"]);
        // The pod asks for what a pod of one container does.
        let cpu = |c: &k8s_openapi::api::core::v1::Container| {
            c.resources.clone().unwrap().requests.unwrap()["cpu"]
                .0
                .clone()
        };
        assert_eq!(cpu(&s.containers[0]), "250m");
        assert_eq!(cpu(&s.containers[1]), "250m");
    }

    #[test]
    fn every_node_is_a_daemonset_of_the_same_pod() {
        let a = spec(Placement::EveryNode);
        let ds = a.daemonset();
        assert_eq!(ds.metadata.name.as_deref(), Some("seamless-agent-x-r01-0"));
        assert_eq!(ds.metadata.labels.clone().unwrap()[EXPERIMENT_LABEL], "x");
        let spec = ds.spec.unwrap();
        let selector = spec.selector.match_labels.unwrap();
        assert_eq!(selector[EXPERIMENT_LABEL], "x");
        assert_eq!(selector[RUN_LABEL], "1");
        let template = spec.template;
        let t_labels = template.metadata.clone().unwrap().labels.unwrap();
        assert!(selector.iter().all(|(k, v)| t_labels.get(k) == Some(v)));
        assert!(template.metadata.unwrap().name.is_none());
        let pod = template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
        assert!(pod.node_name.is_none() && pod.affinity.is_none());
        assert_eq!(
            pod.containers[0].args,
            a.pod().spec.unwrap().containers[0].args
        );
        assert_eq!(
            spec.update_strategy.unwrap().type_.as_deref(),
            Some("OnDelete")
        );
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
        assert!(
            args.windows(2)
                .any(|w| w == ["--out", "/tmp/probe-$(NODE_NAME).log"])
        );
        assert_eq!(c.ports.clone().unwrap()[0].name.as_deref(), Some("control"));
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
