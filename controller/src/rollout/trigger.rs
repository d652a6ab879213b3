//! What starts the rollout: a strategic merge patch of the Deployment's pod
//! template, built from the command line, and sending it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::error::{Call, Error, Result};

/// The field manager named in our patches, so `managedFields` shows who
/// changed the template.
pub const FIELD_MANAGER: &str = "seamless-controller";

/// The annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// One way of changing the pod template.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Set `spec.template.spec.nodeName` (the seed experiment's trigger).
    MoveToNode(String),
    /// Set `nodeName` to whichever of the two nodes it is not on now (the
    /// first one when it is on neither).
    AlternateNodes(String, String),
    /// Set the restartedAt annotation to now, as `kubectl rollout restart`.
    Restart,
    /// Set container images: (container, image) pairs.
    Image(Vec<(String, String)>),
    /// A strategic merge patch read from a file.
    PatchFile {
        /// Where it came from.
        path: PathBuf,
        /// Its content.
        body: Value,
    },
}

/// A patch ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The strategic merge patch body.
    pub body: Value,
    /// What it does, for run.json and the timeline, e.g. `move-to-node node-b`.
    pub description: String,
}

/// Parses `CONTAINER=IMAGE`.
pub fn parse_image(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((c, i)) if !c.is_empty() && !i.is_empty() => Ok((c.to_owned(), i.to_owned())),
        _ => Err(format!("expected CONTAINER=IMAGE, got {s:?}")),
    }
}

/// Reads a strategic merge patch from a JSON or YAML file; it must be a
/// mapping.
pub fn read_patch_file(path: &Path) -> Result<Value> {
    let bad = |reason: String| Error::PatchFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let value: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(json_err) => serde_saphyr::from_str(&text).map_err(|yaml_err| {
            bad(format!(
                "neither JSON ({json_err}) nor YAML ({})",
                yaml_err.to_string().lines().next().unwrap_or_default()
            ))
        })?,
    };
    match &value {
        Value::Object(m) if !m.is_empty() => Ok(value),
        Value::Object(_) => Err(bad("the patch is empty".into())),
        _ => Err(bad("a strategic merge patch must be a mapping".into())),
    }
}

impl Trigger {
    /// Builds the patch for this Deployment as it is now; `now` is the time
    /// written by [`Trigger::Restart`].
    pub fn plan(&self, deployment: &Deployment, now: DateTime<Utc>) -> Result<Plan> {
        let template = deployment.spec.as_ref().map(|s| &s.template);
        let pod_spec = template.and_then(|t| t.spec.as_ref());
        match self {
            Trigger::MoveToNode(node) => Ok(Plan {
                body: node_patch(node),
                description: format!("move-to-node {node}"),
            }),
            Trigger::AlternateNodes(a, b) => {
                let current = pod_spec.and_then(|s| s.node_name.as_deref());
                let target = if current == Some(a.as_str()) { b } else { a };
                Ok(Plan {
                    body: node_patch(target),
                    description: format!(
                        "move-to-node {target} (alternating {a},{b}; was {})",
                        current.unwrap_or("unset")
                    ),
                })
            }
            Trigger::Restart => {
                let at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
                Ok(Plan {
                    body: json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}),
                    description: format!("restart {RESTARTED_AT}={at}"),
                })
            }
            Trigger::Image(pairs) => {
                let names = |list: Option<&Vec<k8s_openapi::api::core::v1::Container>>| {
                    list.map(|l| l.iter().map(|c| c.name.clone()).collect::<Vec<_>>())
                        .unwrap_or_default()
                };
                let containers = names(pod_spec.map(|s| &s.containers));
                let inits = names(pod_spec.and_then(|s| s.init_containers.as_ref()));
                let mut main = Vec::new();
                let mut init = Vec::new();
                for (c, image) in pairs {
                    let entry = json!({"name": c, "image": image});
                    if containers.contains(c) {
                        main.push(entry);
                    } else if inits.contains(c) {
                        init.push(entry);
                    } else {
                        return Err(Error::Invalid(format!(
                            "deployment {:?} has no container {c:?} (containers: {})",
                            deployment.metadata.name.as_deref().unwrap_or_default(),
                            containers.join(", ")
                        )));
                    }
                }
                let mut spec = serde_json::Map::new();
                if !main.is_empty() {
                    spec.insert("containers".into(), Value::Array(main));
                }
                if !init.is_empty() {
                    spec.insert("initContainers".into(), Value::Array(init));
                }
                let description = pairs
                    .iter()
                    .map(|(c, i)| format!("{c}={i}"))
                    .collect::<Vec<_>>()
                    .join(",");
                Ok(Plan {
                    body: json!({"spec": {"template": {"spec": spec}}}),
                    description: format!("image {description}"),
                })
            }
            Trigger::PatchFile { path, body } => Ok(Plan {
                body: body.clone(),
                description: format!("patch {}", path.display()),
            }),
        }
    }
}

fn node_patch(node: &str) -> Value {
    json!({"spec": {"template": {"spec": {"nodeName": node}}}})
}

/// Sends the patch (content type `application/strategic-merge-patch+json`)
/// and returns the Deployment as the API server stored it.
pub async fn send(
    api: &Api<Deployment>,
    name: &str,
    namespace: &str,
    plan: &Plan,
) -> Result<Deployment> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Strategic(&plan.body))
        .await
        .map_err(|e| {
            if super::error::is_not_found(&e) {
                Error::DeploymentNotFound {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                }
            } else {
                Call {
                    verb: "patch",
                    resource: "deployments.apps",
                    name: Some(name),
                    namespace,
                }
                .error(e)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(node: Option<&str>) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "nodeName": node,
                        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                        "containers": [{"name": "nginx", "image": "nginx:1.17.1"}]
                    }
                }
            }
        }))
        .unwrap()
    }

    #[test]
    fn alternate_nodes_switches_on_the_current_value() {
        let t = Trigger::AlternateNodes("node-a".into(), "node-b".into());
        let now = Utc::now();
        let to = |d: &Deployment| {
            t.plan(d, now).unwrap().body["spec"]["template"]["spec"]["nodeName"].clone()
        };
        assert_eq!(to(&deployment(Some("node-a"))), "node-b");
        assert_eq!(to(&deployment(Some("node-b"))), "node-a");
        assert_eq!(to(&deployment(None)), "node-a");
        assert_eq!(to(&deployment(Some("node-c"))), "node-a");
    }

    #[test]
    fn restart_writes_rfc3339_utc() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T05:43:26.123Z")
            .unwrap()
            .to_utc();
        let plan = Trigger::Restart.plan(&deployment(None), now).unwrap();
        assert_eq!(
            plan.body,
            json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-11-27T05:43:26Z"}}}}})
        );
    }

    #[test]
    fn image_targets_containers_and_init_containers_and_rejects_unknown() {
        let d = deployment(None);
        let t = Trigger::Image(vec![
            ("nginx".into(), "nginx:1.27".into()),
            ("init".into(), "busybox:1.37".into()),
        ]);
        assert_eq!(
            t.plan(&d, Utc::now()).unwrap().body,
            json!({"spec": {"template": {"spec": {
                "containers": [{"name": "nginx", "image": "nginx:1.27"}],
                "initContainers": [{"name": "init", "image": "busybox:1.37"}]
            }}}})
        );
        let err = Trigger::Image(vec![("app".into(), "x:1".into())])
            .plan(&d, Utc::now())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: deployment \"web\" has no container \"app\" (containers: nginx)"
        );
        assert_eq!(err.exit_code(), super::super::error::EXIT_INVALID);
    }

    #[test]
    fn image_flag_parsing() {
        assert_eq!(
            parse_image("nginx=nginx:1.27").unwrap(),
            ("nginx".into(), "nginx:1.27".into())
        );
        assert!(parse_image("nginx").is_err());
        assert!(parse_image("=x").is_err());
        assert!(parse_image("x=").is_err());
    }

    #[test]
    fn patch_files_in_json_and_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("p.yaml");
        std::fs::write(
            &yaml,
            "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 45\n",
        )
        .unwrap();
        assert_eq!(
            read_patch_file(&yaml).unwrap(),
            json!({"spec": {"template": {"spec": {"terminationGracePeriodSeconds": 45}}}})
        );
        let js = dir.path().join("p.json");
        std::fs::write(&js, r#"{"spec":{"paused":false}}"#).unwrap();
        assert_eq!(
            read_patch_file(&js).unwrap(),
            json!({"spec": {"paused": false}})
        );
        let list = dir.path().join("l.yaml");
        std::fs::write(&list, "- a\n- b\n").unwrap();
        let err = read_patch_file(&list).unwrap_err();
        assert!(err.to_string().contains("must be a mapping"), "{err}");
        let err = read_patch_file(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot use patch file"),
            "{err}"
        );
    }
}
