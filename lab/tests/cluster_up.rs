//! End to end on the real components: `seamless-lab up` with two nodes,
//! the seed's workload applied with the built kubectl exactly as on a
//! cluster, `seamless-controller rollout --move-to-node` against it, the
//! recorded timeline checked against what the API server holds and against
//! `kubectl rollout status`, then a pod with preStop deleted and our
//! kubelet's steps checked against the grace budget. Nothing is left after.

mod cluster_common;

use std::path::Path;
use std::process::Command;

use cluster_common::{events, kubectl, up};

#[test]
fn a_real_control_plane_rolls_the_seeds_workload() {
    let Some(bin) = seamless_testkit::components_or_skip("the real-cluster test") else {
        return;
    };
    let _one = cluster_common::one_lab();
    let netns_before = cluster_common::host_netns();
    let dir = tempfile::tempdir().unwrap();
    let up = up(dir.path(), &bin, 2);

    // Both nodes registered and Ready, as `kubectl get nodes` shows them.
    let nodes = kubectl(&bin, &up, &["get", "nodes", "-o", "name"]);
    assert_eq!(
        nodes.split_whitespace().collect::<Vec<_>>(),
        ["node/node-a", "node/node-b"]
    );
    let ready = kubectl(
        &bin,
        &up,
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
        ],
    );
    assert_eq!(ready.trim(), "True True");

    // The workload, applied as a user applies it.
    let overlay = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests/workload/overlays/pod-prestop-sleep");
    kubectl(&bin, &up, &["apply", "-k", overlay.to_str().unwrap()]);
    kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=90s",
        ],
    );
    let ip = kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "get",
            "pods",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ],
    );
    assert!(ip.starts_with("198.18."), "pod IP {ip:?}");
    let slice = kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "get",
            "endpointslices",
            "-o",
            "jsonpath={.items[0].endpoints[0].addresses[0]} {.items[0].endpoints[0].conditions.ready}",
        ],
    );
    assert_eq!(slice.trim(), format!("{} true", ip.trim()));
    let node = kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "get",
            "pods",
            "-o",
            "jsonpath={.items[0].spec.nodeName}",
        ],
    );
    let other = if node.trim() == "node-a" {
        "node-b"
    } else {
        "node-a"
    };

    // The real rollout code, with a user's options.
    let run = dir.path().join("run");
    let st = Command::new(seamless_testkit::workspace_bin("seamless-controller"))
        .env("KUBECONFIG", &up.kubeconfig)
        .args([
            "rollout",
            "-n",
            "seamless-demo",
            "web",
            "--move-to-node",
            other,
            "--settle",
            "1s",
            "--out",
        ])
        .arg(&run)
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(st.success(), "seamless-controller rollout: {st}");
    kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=5s",
        ],
    );
    let timeline = std::fs::read_to_string(run.join("timeline.jsonl")).unwrap();
    let pods = kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].metadata.name} {.items[*].spec.nodeName}",
        ],
    );
    let mut it = pods.split_whitespace();
    let (new_pod, new_node) = (
        it.next().unwrap().to_string(),
        it.next().unwrap().to_string(),
    );
    assert_eq!(new_node, other, "the new pod runs where it was moved");
    assert!(
        timeline.contains(&new_pod),
        "the timeline names the new pod {new_pod}"
    );
    let rs = kubectl(
        &bin,
        &up,
        &["-n", "seamless-demo", "get", "rs", "-o", "name"],
    );
    assert_eq!(rs.lines().count(), 2, "old and new ReplicaSets: {rs}");
    let replicas = kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "get",
            "rs",
            "-o",
            "jsonpath={.items[*].status.replicas}",
        ],
    );
    let mut replicas: Vec<&str> = replicas.split_whitespace().collect();
    replicas.sort();
    assert_eq!(replicas, ["0", "1"], "the old ReplicaSet scaled to 0");
    // The slice holds the new pod alone, ready; the timeline saw the old
    // endpoint leave and the new one arrive.
    let new_ip = kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "get",
            "pod",
            &new_pod,
            "-o",
            "jsonpath={.status.podIP}",
        ],
    );
    let slice = kubectl(
        &bin,
        &up,
        &[
            "-n",
            "seamless-demo",
            "get",
            "endpointslices",
            "-o",
            "jsonpath={.items[0].endpoints[*].addresses[0]} {.items[0].endpoints[*].conditions.ready}",
        ],
    );
    assert_eq!(slice.trim(), format!("{new_ip} true"));
    let kinds: Vec<serde_json::Value> = timeline
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let has = |kind: &str, pod: &str| {
        kinds
            .iter()
            .any(|e| e["kind"] == kind && (e["pod"] == pod || e["object"]["name"] == pod))
    };
    let old_pod = ip_pod_name(&kinds, ip.trim());
    assert!(has("endpoint_added", &new_pod), "{timeline}");
    assert!(has("endpoint_removed", &old_pod), "{timeline}");
    assert!(has("pod_deleted", &old_pod), "{timeline}");

    // Our kubelet's deletion sequence: preStop sleep 10 s within the
    // grace budget of 30 s, then SIGTERM; nginx exits on it.
    let evs = events(dir.path());
    let old: Vec<&serde_json::Value> = evs
        .iter()
        .filter(|e| e["step"] == "deletion_seen")
        .collect();
    assert_eq!(old.len(), 1, "one deletion: {evs:?}");
    let pod = old[0]["pod"].as_str().unwrap().to_string();
    let t = |step: &str| {
        evs.iter()
            .find(|e| e["pod"] == pod && e["step"] == step)
            .unwrap_or_else(|| panic!("no {step} for {pod}: {evs:?}"))["t_ns"]
            .as_i64()
            .unwrap()
    };
    let (seen, pre, term, exit, deleted) = (
        t("deletion_seen"),
        t("pre_stop_started"),
        t("sigterm"),
        t("container_exited"),
        t("pod_deleted"),
    );
    assert!(seen <= pre && pre <= term && term <= exit && exit <= deleted);
    // nginx closes its listener on SIGTERM, measured from the pod's side.
    let closed = t("listener_closed");
    assert!(
        term <= closed && closed <= exit + 5_000_000,
        "listener closed at {closed}, SIGTERM {term}, exit {exit}"
    );
    let sleep_ms = (term - pre) / 1_000_000;
    assert!(
        (9_900..11_000).contains(&sleep_ms),
        "preStop sleep took {sleep_ms} ms"
    );
    assert!(
        evs.iter()
            .all(|e| e["pod"] != pod || e["step"] != "sigkill"),
        "nginx exits on SIGTERM"
    );

    drop(up);
    assert_eq!(
        netns_before,
        cluster_common::host_netns(),
        "no namespace left on the host"
    );
    assert!(
        !dir.path().join("kubeconfig").exists(),
        "the kubeconfig is removed"
    );
}

/// The pod the timeline recorded at this address.
fn ip_pod_name(events: &[serde_json::Value], ip: &str) -> String {
    events
        .iter()
        .find(|e| e["address"] == ip && e["object"]["kind"] == "Pod")
        .and_then(|e| e["object"]["name"].as_str())
        .unwrap_or_else(|| panic!("no pod at {ip} in the timeline"))
        .to_string()
}
