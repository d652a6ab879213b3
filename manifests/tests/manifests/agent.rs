//! The agent's checks: pod security, the probe container, its arguments.

use std::collections::BTreeMap;

use clap::Parser;
use seamless_agent::{Command as AgentCommand, ProbeOpts};
use serde_json::{Value, json};

use super::render::{expect, kind};

/// The agent kustomizations.
pub const AGENTS: [&str; 3] = [
    "agent/job-clusterip",
    "agent/job-nodeport",
    "agent/daemonset",
];

/// The one Job or DaemonSet of an agent kustomization.
pub fn agent_workload(objs: &[Value]) -> &Value {
    let found: Vec<&Value> = objs
        .iter()
        .filter(|o| matches!(kind(o), "Job" | "DaemonSet"))
        .collect();
    assert_eq!(found.len(), 1, "one Job or DaemonSet");
    found[0]
}

/// Its pod template.
pub fn agent_pod(objs: &[Value]) -> &Value {
    &agent_workload(objs)["spec"]["template"]["spec"]
}

/// Init containers and containers.
pub fn all_containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod[*k].as_array())
        .flatten()
        .collect()
}

/// The "restricted" Pod Security Standard plus requests and limits.
pub fn security_problems(pod: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let psc = &pod["securityContext"];
    expect(
        &mut p,
        psc["runAsNonRoot"] == json!(true),
        "pod runAsNonRoot",
    );
    expect(
        &mut p,
        psc["runAsUser"].as_u64().is_some_and(|u| u != 0),
        "pod runAsUser non-zero",
    );
    expect(
        &mut p,
        psc["seccompProfile"]["type"] == json!("RuntimeDefault"),
        "pod seccomp RuntimeDefault",
    );
    expect(
        &mut p,
        pod["automountServiceAccountToken"] == json!(false),
        "no API token in the agent's pod",
    );
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        expect(&mut p, pod.get(key).is_none(), format!("no {key}"));
    }
    let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
    expect(
        &mut p,
        volumes.iter().all(|v| v.get("emptyDir").is_some()),
        "only emptyDir volumes",
    );
    let containers = all_containers(pod);
    expect(&mut p, !containers.is_empty(), "containers");
    for c in containers {
        let n = c["name"].as_str().unwrap_or("?");
        let sc = &c["securityContext"];
        expect(
            &mut p,
            sc["allowPrivilegeEscalation"] == json!(false),
            format!("{n}: allowPrivilegeEscalation false"),
        );
        expect(
            &mut p,
            sc["readOnlyRootFilesystem"] == json!(true),
            format!("{n}: readOnlyRootFilesystem"),
        );
        expect(
            &mut p,
            sc["capabilities"] == json!({"drop": ["ALL"]}),
            format!("{n}: capabilities drop ALL, add none"),
        );
        expect(
            &mut p,
            sc.get("privileged").is_none_or(|v| v == &json!(false)),
            format!("{n}: not privileged"),
        );
        expect(
            &mut p,
            sc.get("runAsUser").is_none_or(|u| u != &json!(0)),
            format!("{n}: not root"),
        );
        for class in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                expect(
                    &mut p,
                    c["resources"][class][res].is_string(),
                    format!("{n}: resources.{class}.{res}"),
                );
            }
        }
    }
    p
}

/// The container running `seamless-agent probe`.
pub fn probe_container(pod: &Value) -> &Value {
    all_containers(pod)
        .into_iter()
        .find(|c| c["args"][0] == json!("probe"))
        .expect("a container running `seamless-agent probe`")
}

/// The downward-API field of an env variable.
pub fn env_field(c: &Value, var: &str) -> Option<String> {
    c["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == json!(var))?
        .pointer("/valueFrom/fieldRef/fieldPath")?
        .as_str()
        .map(str::to_string)
}

/// Expands `$(VAR)` as kubelet does: only variables the container defines;
/// anything else stays as written.
pub fn expand(arg: &str, defined: &BTreeMap<&str, &str>) -> String {
    let mut out = arg.to_string();
    for (var, value) in defined {
        out = out.replace(&format!("$({var})"), value);
    }
    out
}

/// The container's args, with its downward-API variables filled in with
/// sample values, parsed by the agent's own command line.
pub fn parse_probe(c: &Value, args: &[&str]) -> Result<ProbeOpts, String> {
    let samples = BTreeMap::from([
        ("NODE_NAME", "node-a"),
        ("POD_NAME", "seamless-agent-x7k2p"),
        ("NODE_IP", "198.18.0.10"),
    ]);
    let defined: BTreeMap<&str, &str> = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .map(|n| (n, samples.get(n).copied().unwrap_or("value")))
        .collect();
    let argv: Vec<String> = std::iter::once("seamless-agent".to_string())
        .chain(args.iter().map(|a| expand(a, &defined)))
        .collect();
    if let Some(left) = argv.iter().find(|a| a.contains("$(")) {
        return Err(format!(
            "{left}: refers to a variable the container does not define"
        ));
    }
    match seamless_agent::Opts::try_parse_from(&argv)
        .map_err(|e| e.to_string())?
        .command
    {
        AgentCommand::Probe(p) => Ok(p),
        other => Err(format!("not a probe: {other:?}")),
    }
}
