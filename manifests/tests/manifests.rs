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

#[path = "manifests/agent.rs"]
mod agent;
#[path = "manifests/nginx.rs"]
mod nginx;
#[path = "manifests/render.rs"]
mod render;
#[path = "manifests/workload.rs"]
mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde_json::{Value, json};

use agent::*;
use nginx::start_nginx;
use render::*;
use workload::*;

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
        assert!(
            matches!(probe.rate, Some(seamless_agent::modes::PerMode::All(r)) if r > 0.0),
            "{rel}: open loop"
        );
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
        // create, get, delete: `experiment`'s agent pods.
        ("", "pods", &["list", "watch", "create", "get", "delete"]),
        // `experiment` reaches its agents through the pod proxy, GET only.
        ("", "pods/proxy", &["get"]),
        // `experiment --agents-per-node`: the agents' DaemonSet.
        ("apps", "daemonsets", &["create", "get", "delete"]),
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
