//! What our kubelet accepts of a pod spec, and what it makes of it. A field
//! it does not implement fails the pod with a message naming the field
//! (`CreateContainerConfigError`), never silently ignored, except where the
//! field cannot change what a probe sees (resources, imagePullPolicy,
//! securityContext: listed in [`IGNORED`]).

use k8s_openapi::api::core::v1::{Container, Pod};

/// Fields accepted and not acted on, as the README documents.
pub const IGNORED: &str = "resources, imagePullPolicy, securityContext, \
terminationMessagePath, serviceAccountName, tolerations, affinity, dnsPolicy";

/// Why a pod cannot run here.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("seamless-lab's kubelet does not support {0}")]
pub struct Unsupported(pub String);

/// Checks the pod for fields the kubelet does not implement.
pub fn check(pod: &Pod) -> Result<(), Unsupported> {
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| Unsupported("a pod without a spec".into()))?;
    let no = |what: &str| Err(Unsupported(what.into()));
    if spec.init_containers.as_ref().is_some_and(|v| !v.is_empty()) {
        return no("initContainers");
    }
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        return no("ephemeralContainers");
    }
    if spec.host_pid == Some(true) || spec.host_ipc == Some(true) {
        return no("hostPID/hostIPC");
    }
    for v in spec.volumes.iter().flatten() {
        if v.empty_dir.is_none() && v.config_map.is_none() {
            return no(&format!(
                "volume {:?}: only emptyDir and configMap volumes",
                v.name
            ));
        }
    }
    for c in &spec.containers {
        check_container(c)?;
    }
    Ok(())
}

fn check_container(c: &Container) -> Result<(), Unsupported> {
    let no = |what: &str| Err(Unsupported(format!("container {:?}: {what}", c.name)));
    if c.liveness_probe.is_some() {
        return no("livenessProbe");
    }
    if c.startup_probe.is_some() {
        return no("startupProbe");
    }
    if let Some(p) = &c.readiness_probe
        && p.http_get.is_none()
    {
        return no("readinessProbe other than httpGet");
    }
    if c.env_from.as_ref().is_some_and(|v| !v.is_empty()) {
        return no("envFrom");
    }
    for e in c.env.iter().flatten() {
        if let Some(from) = &e.value_from
            && from.field_ref.is_none()
        {
            return no(&format!("env {:?}: valueFrom other than fieldRef", e.name));
        }
    }
    if let Some(l) = &c.lifecycle {
        if l.post_start.is_some() {
            return no("lifecycle.postStart");
        }
        if let Some(h) = &l.pre_stop
            && h.exec.is_none()
            && h.sleep.is_none()
        {
            return no("lifecycle.preStop other than exec or sleep");
        }
    }
    if c.working_dir.is_some() {
        return no("workingDir");
    }
    Ok(())
}

/// The value of a downward-API `fieldRef` (pkg/fieldpath: the fields a
/// container env may name).
pub fn field_ref(pod: &Pod, path: &str, pod_ip: &str, host_ip: &str) -> Option<String> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    Some(match path {
        "metadata.name" => m.name.clone()?,
        "metadata.namespace" => m.namespace.clone()?,
        "metadata.uid" => m.uid.clone()?,
        "spec.nodeName" => spec?.node_name.clone()?,
        "spec.serviceAccountName" => spec?.service_account_name.clone().unwrap_or_default(),
        "status.podIP" | "status.podIPs" => pod_ip.into(),
        "status.hostIP" | "status.hostIPs" => host_ip.into(),
        p => {
            let key = p
                .strip_prefix("metadata.labels['")
                .or_else(|| p.strip_prefix("metadata.annotations['"))?
                .strip_suffix("']")?;
            let map = if p.starts_with("metadata.labels") {
                m.labels.as_ref()
            } else {
                m.annotations.as_ref()
            };
            map?.get(key)?.clone()
        }
    })
}

/// A container's environment, `$(VAR)` references expanded against the
/// variables before it (as kubelet's expansion does).
pub fn env(pod: &Pod, c: &Container, pod_ip: &str, host_ip: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in c.env.iter().flatten() {
        let value = match &e.value_from {
            Some(from) => from
                .field_ref
                .as_ref()
                .and_then(|f| field_ref(pod, &f.field_path, pod_ip, host_ip))
                .unwrap_or_default(),
            None => expand(e.value.as_deref().unwrap_or(""), &out),
        };
        out.push((e.name.clone(), value));
    }
    out
}

/// `$(NAME)` expansion; `$$` escapes, unknown names stay as written.
pub fn expand(s: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).unwrap()
    }

    const BASE: &str = "
metadata: {name: web-1, namespace: demo, uid: u-1, labels: {app: web}}
spec:
  nodeName: node-a
  containers:
  - name: c
    image: nginx
    env:
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}
    - {name: GREETING, value: \"on $(POD) at $(IP), $$(POD) $(NOPE)\"}
";

    #[test]
    fn env_with_the_downward_api_and_expansion() {
        let p = pod(BASE);
        check(&p).unwrap();
        let env = env(
            &p,
            &p.spec.as_ref().unwrap().containers[0],
            "198.18.1.10",
            "198.19.0.1",
        );
        let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("POD"), "web-1");
        assert_eq!(get("IP"), "198.18.1.10");
        assert_eq!(get("APP"), "web");
        assert_eq!(get("GREETING"), "on web-1 at 198.18.1.10, $(POD) $(NOPE)");
    }

    #[test]
    fn unsupported_fields_are_named() {
        let p = pod(&format!(
            "{BASE}    livenessProbe: {{httpGet: {{path: /, port: 80}}}}\n"
        ));
        assert_eq!(
            check(&p).unwrap_err().to_string(),
            "seamless-lab's kubelet does not support container \"c\": livenessProbe"
        );
        let p = pod(&format!(
            "{BASE}  volumes:\n  - {{name: s, secret: {{secretName: x}}}}\n"
        ));
        assert!(check(&p).unwrap_err().to_string().contains("volume \"s\""));
    }
}
