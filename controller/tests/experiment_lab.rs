//! `experiment` end to end in the lab's real control plane (`seamless-lab
//! up`: kube-apiserver, controller-manager, scheduler, kube-proxy, our
//! kubelet running the agent binary for `seamless-agent*` images), as the
//! least-privilege service account of `manifests/rbac/`: `--repeat 2`
//! against `manifests/workload/overlays/pod-no-prestop`, logs fetched
//! through the API server's pod proxy, reports and the comparison written,
//! nothing left in the namespace; then the gate's exit code.
//!
//! Skips, like the lab's tests, when not root or the lab's tools or the
//! built components are missing; fails instead under `CI`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "seamless-demo";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `seamless-lab up`, ended by SIGINT when dropped.
struct Up {
    child: Child,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up(dir: &Path, bin: &Path, kubeconfig: &Path) -> Up {
    let lab = seamless_testkit::workspace_bin("seamless-lab");
    let agent = seamless_testkit::workspace_bin("seamless-agent");
    let mut child = Command::new(lab)
        .args(["up", "--nodes", "2", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--kubernetes-bin")
        .arg(bin)
        .arg("--agent-bin")
        .arg(agent)
        .arg("--events")
        .arg(dir.join("events.jsonl"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting seamless-lab up");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let up = Up { child };
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("seamless-lab up printed no export line within 120 s");
    assert_eq!(line, format!("export KUBECONFIG={}", kubeconfig.display()));
    up
}

fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(bin.join("kubectl"))
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .expect("running kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A kubeconfig for the controller's service account (manifests/rbac),
/// with a short-lived token.
fn service_account_kubeconfig(bin: &Path, admin: &Path, dir: &Path) -> PathBuf {
    let rbac = root().join("manifests/rbac");
    kubectl(bin, admin, &["apply", "-k", rbac.to_str().unwrap()]);
    let token = kubectl(
        bin,
        admin,
        &[
            "-n",
            NS,
            "create",
            "token",
            "seamless-controller",
            "--duration=1h",
        ],
    );
    let cluster = kubectl(
        bin,
        admin,
        &["config", "view", "-o", "jsonpath={.clusters[0].name}"],
    );
    let sa = dir.join("sa.kubeconfig");
    std::fs::copy(admin, &sa).unwrap();
    kubectl(
        bin,
        &sa,
        &[
            "config",
            "set-credentials",
            "seamless-controller",
            &format!("--token={}", token.trim()),
        ],
    );
    kubectl(
        bin,
        &sa,
        &[
            "config",
            "set-context",
            "seamless",
            "--user=seamless-controller",
            &format!("--cluster={}", cluster.trim()),
            &format!("--namespace={NS}"),
        ],
    );
    kubectl(bin, &sa, &["config", "use-context", "seamless"]);
    sa
}

fn experiment(kubeconfig: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let analyzer = seamless_testkit::workspace_bin("seamless-analyzer");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seamless-controller"));
    cmd.args([
        "experiment",
        "-n",
        NS,
        "web",
        "--alternate-nodes",
        "node-a,node-b",
    ])
    .args([
        "--between",
        "1s",
        "--settle",
        "2s",
        "--rate",
        "500",
        "--timeout",
        "2m",
    ])
    .arg("--out")
    .arg(out)
    .arg("--analyzer")
    .arg(&analyzer)
    .args(extra)
    .env("KUBECONFIG", kubeconfig)
    .env("RUST_LOG", "info");
    let o = cmd
        .output()
        .expect("running seamless-controller experiment");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.code().unwrap_or(-1), stderr)
}

fn agent_pods(bin: &Path, kubeconfig: &Path) -> String {
    kubectl(
        bin,
        kubeconfig,
        &[
            "-n",
            NS,
            "get",
            "pods",
            "-l",
            "seamless-rollout.github.io/experiment",
            "-o",
            "name",
        ],
    )
}

#[test]
fn experiment_repeats_in_the_real_control_plane_and_leaves_nothing() {
    let Some(bin) =
        seamless_testkit::components_or_skip("experiment_repeats_in_the_real_control_plane")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("kubeconfig");
    let _up = up(dir.path(), &bin, &admin);

    let overlay = root().join("manifests/workload/overlays/pod-no-prestop");
    kubectl(&bin, &admin, &["apply", "-k", overlay.to_str().unwrap()]);
    kubectl(
        &bin,
        &admin,
        &[
            "-n",
            NS,
            "rollout",
            "status",
            "deploy/web",
            "--timeout=120s",
        ],
    );
    let sa = service_account_kubeconfig(&bin, &admin, dir.path());

    // Two runs, as the service account of manifests/rbac.
    let out = dir.path().join("exp");
    let (code, stderr) = experiment(&sa, &out, &["--repeat", "2"]);
    assert_eq!(code, 0, "experiment failed:\n{stderr}");
    for run in ["run-01", "run-02"] {
        let run = out.join(run);
        let logs = seamless_proto::run::probe_logs(&run).unwrap();
        assert_eq!(logs.len(), 1, "one agent's log in {}", run.display());
        let log = seamless_proto::log::LogReader::new(std::fs::File::open(&logs[0]).unwrap())
            .unwrap()
            .read_all()
            .unwrap();
        assert!(log.torn.is_none());
        assert_eq!(log.end_count, Some(log.probes.len() as u64));
        assert!(log.probes.len() > 500, "{} probes", log.probes.len());
        let info = seamless_proto::RunInfo::read(&run).unwrap();
        assert_eq!(info.outcome.as_deref(), Some("complete"));
        let agents = info.extra["agents"].as_array().unwrap();
        assert_eq!(agents[0]["probes"], log.probes.len() as u64);
        assert!(agents[0]["clock_uncertainty_ns"].as_i64().unwrap() > 0);
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
        assert_eq!(
            report["merged"]["totals"]["probes"],
            log.probes.len() as u64
        );
    }
    assert!(out.join("compare.json").is_file());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("experiment.json")).unwrap()).unwrap();
    assert_eq!(summary["runs"].as_array().unwrap().len(), 2);
    assert_eq!(summary["gate_passed"], true);
    assert_eq!(
        agent_pods(&bin, &admin),
        "",
        "nothing left in the namespace"
    );

    // The gate: without a preStop hook the old pod's endpoint outlives it,
    // so probes fail and --max-failed 0 is exceeded (exit 7).
    let out = dir.path().join("gated");
    let (code, stderr) = experiment(&sa, &out, &["--max-failed", "0"]);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("experiment.json")).unwrap()).unwrap();
    let failed = summary["runs"][0]["failed"].as_u64().unwrap();
    if failed > 0 {
        assert_eq!(code, 7, "the gate's exit code:\n{stderr}");
        assert_eq!(summary["gate_passed"], false);
    } else {
        // A lucky run without a failure passes the gate.
        assert_eq!(code, 0, "{stderr}");
    }
    assert_eq!(
        agent_pods(&bin, &admin),
        "",
        "nothing left in the namespace"
    );

    per_node_both_ways_and_a_control(&bin, &admin, &sa, dir.path());
}

/// `--agents-per-node --access both --control control`: a DaemonSet's pod
/// on each node, four probing containers in each (web and the control,
/// each by ClusterIP and by nodePort); the control's agents apart in the
/// report; the DaemonSet and its pods gone at the end.
fn per_node_both_ways_and_a_control(bin: &Path, admin: &Path, sa: &Path, dir: &Path) {
    let overlay = root().join("manifests/workload/overlays/pod-no-prestop-with-control");
    kubectl(bin, admin, &["apply", "-k", overlay.to_str().unwrap()]);
    for d in ["deploy/web", "deploy/control"] {
        kubectl(
            bin,
            admin,
            &["-n", NS, "rollout", "status", d, "--timeout=120s"],
        );
    }
    let out = dir.join("per-node");
    let (code, stderr) = experiment(
        sa,
        &out,
        &[
            "--agents-per-node",
            "--access",
            "both",
            "--control",
            "control",
        ],
    );
    assert_eq!(code, 0, "experiment failed:\n{stderr}");
    let run = out.join("run-01");
    let mut agents: Vec<String> = seamless_proto::run::probe_logs(&run)
        .unwrap()
        .iter()
        .map(|p| {
            seamless_proto::run::agent_of(p.file_name().unwrap().to_str().unwrap())
                .unwrap()
                .to_owned()
        })
        .collect();
    agents.sort();
    let mut want = Vec::new();
    for node in ["node-a", "node-b"] {
        for t in [
            "clusterip",
            "control-clusterip",
            "control-nodeport",
            "nodeport",
        ] {
            want.push(format!("{node}.{t}"));
        }
    }
    assert_eq!(agents, want, "a pod on each node, a log per target");
    let info = seamless_proto::RunInfo::read(&run).unwrap();
    let recorded = info.extra["agents"].as_array().unwrap();
    assert_eq!(recorded.len(), 8);
    for a in recorded {
        let name = a["agent"].as_str().unwrap();
        let control = name.contains(".control-");
        assert_eq!(a["role"], if control { "control" } else { "rolled" }, "{a}");
        assert_eq!(a["service"], if control { "control" } else { "web" }, "{a}");
        assert!(a["probes"].as_u64().unwrap() > 100, "{a}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    let mut control: Vec<&str> = report["control"]["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    control.sort();
    let want_control: Vec<&String> = want.iter().filter(|a| a.contains(".control-")).collect();
    assert_eq!(control, want_control);
    // The merged view is the rolled Service's alone.
    let rolled_probes: u64 = recorded
        .iter()
        .filter(|a| a["role"] == "rolled")
        .map(|a| a["probes"].as_u64().unwrap())
        .sum();
    assert_eq!(report["merged"]["totals"]["probes"], rolled_probes);
    assert!(report["control"]["net"]["lower_ns"].as_i64().unwrap() >= 0);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("experiment.json")).unwrap()).unwrap();
    assert_eq!(
        summary["runs"][0]["control"]["failed"],
        report["control"]["failed"]
    );
    assert_eq!(agent_pods(bin, admin), "", "no pod left in the namespace");
    let sets = kubectl(
        bin,
        admin,
        &[
            "-n",
            NS,
            "get",
            "daemonsets",
            "-l",
            "seamless-rollout.github.io/experiment",
            "-o",
            "name",
        ],
    );
    assert_eq!(sets, "", "no DaemonSet left");
}
