//! Our kubelet on bad input and at the edges of the grace budget, on the
//! real control plane: an image the lab cannot run, a field it does not
//! implement, a hostNetwork port already taken, a process that ignores
//! SIGTERM. Each gives a clear status (and nothing is left after); the CLI
//! names a missing component and the fix.

mod cluster_common;

use std::time::Duration;

use cluster_common::{Up, apply, events, kubectl, up, wait_for};

/// The first container's state of pod `name` in `default`, as JSON, once
/// it has the key `key` (waiting, terminated).
fn state(up: &Up, name: &str, key: &str) -> serde_json::Value {
    wait_for(
        &format!("pod {name} {key}"),
        Duration::from_secs(30),
        || {
            let out = kubectl(
                &up.bin,
                up,
                &[
                    "get",
                    "pod",
                    name,
                    "-o",
                    "jsonpath={.status.containerStatuses[0].state}",
                ],
            );
            let v: serde_json::Value = serde_json::from_str(&out).ok()?;
            v.get(key).cloned()
        },
    )
}

fn pod(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  nodeName: node-a\n  restartPolicy: Never\n{spec}"
    )
}

#[test]
fn bad_pods_get_clear_statuses_and_sigkill_ends_the_grace_budget() {
    let Some(bin) = seamless_testkit::components_or_skip("the kubelet edge test") else {
        return;
    };
    let _one = cluster_common::one_lab();
    let netns_before = cluster_common::host_netns();
    let dir = tempfile::tempdir().unwrap();
    let up = up(dir.path(), &bin, 1);

    // An image the lab cannot run: waiting, ErrImagePull, the table named.
    apply(
        &up,
        &pod("redis", "  containers: [{name: c, image: \"redis:7\"}]\n"),
    );
    let s = state(&up, "redis", "waiting");
    assert_eq!(s["reason"], "ErrImagePull", "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("cannot run image \"redis:7\""),
        "{s}"
    );

    // A field our kubelet does not implement: named, never ignored.
    apply(
        &up,
        &pod(
            "live",
            "  containers: [{name: c, image: busybox, command: [sleep, \"60\"], \
             livenessProbe: {exec: {command: [\"true\"]}}}]\n",
        ),
    );
    let s = state(&up, "live", "waiting");
    assert_eq!(s["reason"], "CreateContainerConfigError", "{s}");
    assert!(
        s["message"].as_str().unwrap().contains("livenessProbe"),
        "{s}"
    );

    // Two hostNetwork pods on one port (nodeName set, so no scheduler stops
    // it): the second exits, and its status carries its own words.
    let server = |n: &str| {
        pod(
            n,
            "  hostNetwork: true\n  containers: [{name: c, image: busybox, \
             command: [python3, -m, http.server, \"18080\", --bind, 198.19.0.1]}]\n",
        )
    };
    apply(&up, &server("first"));
    wait_for("first serving", Duration::from_secs(30), || {
        let ready = kubectl(
            &up.bin,
            &up,
            &["get", "pod", "first", "-o", "jsonpath={.status.phase}"],
        );
        (ready == "Running").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    apply(&up, &server("second"));
    let s = state(&up, "second", "terminated");
    assert_ne!(s["exitCode"], 0, "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("Address already in use"),
        "{s}"
    );

    // A process that ignores SIGTERM: SIGKILL when the 3 s budget is spent.
    apply(
        &up,
        &pod(
            "stubborn",
            "  terminationGracePeriodSeconds: 3\n  containers: [{name: c, image: busybox, \
             command: [sh, -c, \"trap '' TERM; while true; do sleep 0.1; done\"]}]\n",
        ),
    );
    wait_for("stubborn running", Duration::from_secs(30), || {
        let p = kubectl(
            &up.bin,
            &up,
            &["get", "pod", "stubborn", "-o", "jsonpath={.status.phase}"],
        );
        (p == "Running").then_some(())
    });
    kubectl(
        &up.bin,
        &up,
        &["delete", "pod", "stubborn", "--wait=true", "--timeout=30s"],
    );
    let evs = events(dir.path());
    let t = |step: &str| {
        evs.iter()
            .find(|e| e["pod"] == "default/stubborn" && e["step"] == step)
            .unwrap_or_else(|| panic!("no {step}: {evs:?}"))["t_ns"]
            .as_i64()
            .unwrap()
    };
    let (seen, term, kill, exited, deleted) = (
        t("deletion_seen"),
        t("sigterm"),
        t("sigkill"),
        t("container_exited"),
        t("pod_deleted"),
    );
    assert!(seen <= term && term < kill && kill <= exited && exited <= deleted);
    let budget_ms = (kill - seen) / 1_000_000;
    assert!(
        (2_950..3_500).contains(&budget_ms),
        "SIGKILL {budget_ms} ms after deletion"
    );
    let exit = evs
        .iter()
        .find(|e| e["pod"] == "default/stubborn" && e["step"] == "container_exited")
        .unwrap();
    assert_eq!(exit["detail"], "exit 137");

    drop(up);
    assert_eq!(
        netns_before,
        cluster_common::host_netns(),
        "no namespace left on the host"
    );
}

#[test]
fn a_missing_component_is_named_with_the_fix() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_seamless-lab"))
        .args(["up", "--kubernetes-version", "v9.9.9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("etcd is not in"), "{err}");
    assert!(err.contains("bash lab/kubernetes/build.sh v9.9.9"), "{err}");
    assert!(err.contains("--kubernetes-bin"), "{err}");
}

/// The PIDs under `root` (by /proc/*/stat parent links).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent = std::collections::HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent.insert(pid, ppid);
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

#[test]
fn sigkill_of_up_leaves_no_process_and_no_namespace() {
    let Some(bin) = seamless_testkit::components_or_skip("the up SIGKILL test") else {
        return;
    };
    let _one = cluster_common::one_lab();
    let netns_before = cluster_common::host_netns();
    let dir = tempfile::tempdir().unwrap();
    let mut up = up(dir.path(), &bin, 2);
    // The lab's own processes: the outer one, unshare, the inner lab, the
    // components, the kubelets' pods.
    let ours = descendants(up.child.id());
    assert!(ours.len() >= 7, "the lab's processes: {ours:?}");
    up.child.kill().unwrap();
    up.child.wait().unwrap();
    wait_for("the lab's processes to go", Duration::from_secs(10), || {
        ours.iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
            .then_some(())
    });
    assert_eq!(
        netns_before,
        cluster_common::host_netns(),
        "no namespace left on the host"
    );
}
