//! End to end: the lab's whole scenario matrix on short runs, analysed, with
//! every downtime bound checked against the lab's ground truth.
//!
//! Needs root, iptables and iproute2 (CI has them); elsewhere it says why and
//! passes, except under `CI=true`, where it must run.

use std::path::PathBuf;
use std::process::Command;

use seamless_analyzer::truth::render;
use seamless_analyzer::{AnalyzeOptions, check_truth};
use seamless_testkit::workspace_bin;

/// One lab at a time: 2 cores do not take two at once without distorting
/// both.
static ONE_LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_lab() -> std::sync::MutexGuard<'static, ()> {
    ONE_LAB.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn analyzer_bounds_contain_the_labs_ground_truth() {
    if seamless_testkit::skip_lab("the lab ground-truth test") {
        return;
    }
    let _one = one_lab();
    let lab = workspace_bin("seamless-lab");
    let agent = workspace_bin("seamless-agent");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(&lab)
        .args([
            "run", "--proxy", "emulated", "--all", "--repeat", "1", "--seed", "42", "--rate",
            "2000",
        ])
        .args([
            "--warmup",
            "300ms",
            "--settle",
            "300ms",
            "--prestop",
            "500ms",
            "--grace",
            "2s",
        ])
        .arg("--out")
        .arg(out.path())
        .arg("--agent-bin")
        .arg(&agent)
        .status()
        .expect("running the lab");
    assert!(status.success(), "the lab failed: {status}");

    // The default merging: a partial outage is one window without flags.
    let opts = AnalyzeOptions::default();
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).into_iter().flatten())
        .map(|r| r.unwrap().path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 8, "one run per scenario: {runs:?}");
    // The one ground-truth check (seamless_analyzer::truth), on a fresh
    // analysis of every run.
    let checks: Vec<_> = runs
        .iter()
        .map(|run| {
            check_truth(run, &opts, true).unwrap_or_else(|e| panic!("{}: {e}", run.display()))
        })
        .collect();
    let text = render(&checks);
    eprint!("{text}");
    assert!(checks.iter().all(|c| c.ok()), "{text}");
}

/// The seed's race on the real components (API server, controller-manager,
/// scheduler, kube-proxy in iptables mode, our kubelet, the manifests
/// applied as on a cluster): without preStop the old pod's listener closes
/// before node-c's kube-proxy takes it out of the rules, and every failure
/// lies in that measured outage, inside the analyzer's bounds; with the
/// seed's `sleep 10` preStop nothing fails.
#[test]
fn real_components_no_prestop_fails_inside_the_truth_prestop_never() {
    if seamless_testkit::components_or_skip("the real-component ground-truth test").is_none() {
        return;
    }
    let _one = one_lab();
    let host_before = seamless_testkit::host_network();
    let lab = workspace_bin("seamless-lab");
    let agent = workspace_bin("seamless-agent");
    let controller = workspace_bin("seamless-controller");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(&lab)
        .args([
            "run",
            "--proxy",
            "real",
            "--scenario",
            "pod-clusterip-no-prestop",
        ])
        .args([
            "--scenario",
            "pod-clusterip-prestop",
            "--warmup",
            "500ms",
            "--settle",
            "500ms",
        ])
        .arg("--out")
        .arg(out.path())
        .arg("--agent-bin")
        .arg(&agent)
        .arg("--controller-bin")
        .arg(&controller)
        .env("RUST_LOG", "warn")
        .status()
        .expect("running the lab");
    assert!(status.success(), "the lab failed: {status}");
    // The default merging: a partial outage is one window without flags.
    let opts = AnalyzeOptions::default();
    // With preStop: the one ground-truth check (no outage, no failure).
    let prestop = out.path().join("pod-clusterip-prestop/run-01");
    let info = seamless_proto::run::RunInfo::read(&prestop).unwrap();
    assert!(
        info.ground_truth
            .expect("a ground truth")
            .outages
            .is_empty()
    );
    let check = check_truth(&prestop, &opts, true).unwrap();
    eprint!("{}", render(std::slice::from_ref(&check)));
    assert!(check.ok(), "{}", render(&[check]));

    // Without: the listener closes first, and the first window is that
    // race, its bounds around the measured outage. What fails after the
    // rules dropped the old endpoint are connect timeouts (or no route to
    // the dead pod's address) only: a SYN from
    // a source port whose conntrack entry is still NATed to the old pod
    // (kube-proxy clears conntrack for UDP, not TCP), which real clusters
    // show too; they are reported apart in the README.
    let run = out.path().join("pod-clusterip-no-prestop/run-01");
    let truth = seamless_proto::run::RunInfo::read(&run)
        .unwrap()
        .ground_truth
        .expect("a ground truth");
    let [outage] = truth.outages[..] else {
        panic!("the listener closes before the rules drop it: {truth:?}");
    };
    let report = seamless_analyzer::analyze(&run, &opts).unwrap();
    let s = &report.merged;
    assert!(s.totals.failed > 0, "the race fails probes");
    let slack = 5_000_000;
    // A request queued in the old pod's accept queue fails (reset) when the
    // listener closes, however long it waited: the outage reaches back by
    // the slowest response of the rollout (as the ground-truth check has it).
    let queued = s
        .latency
        .iter()
        .find(|l| l.phase == "during")
        .map_or(0, |l| l.max_ns)
        .max(slack);
    // The analyzer's first window holds the race, and its upper bound
    // covers the measured outage.
    let w = s.windows.first().expect("a window");
    let (Some(before), Some(after)) = (w.last_ok_before_ns, w.first_ok_after_ns) else {
        panic!("the race's window is bounded: {w:?}");
    };
    // A partial window's edges may hide behind a run of successes by
    // chance, as far as its edge uncertainty.
    let e = w.edge_uncertainty_ns;
    assert!(before - e <= outage.start_ns + slack, "{w:?} vs {outage:?}");
    assert!(
        after + e + slack >= truth.earliest_end_ns(outage.end_ns),
        "{w:?} vs {outage:?}"
    );
    // Probe by probe: nothing fails before the SIGTERM (nginx's worker stops
    // accepting then, the master closes the listener a few ms later); after
    // the rules dropped the old endpoint only what conntrack entries to the
    // dead pod explain does.
    let doomed = truth.doomed_from_ns(outage.start_ns);
    let log = seamless_proto::ProbeLog::read_path(&run.join("probe-node-c.log")).unwrap();
    let (mut inside, mut late) = (0, 0);
    for p in log.probes.iter().filter(|p| p.outcome.is_failure()) {
        let t = log.header.wall_ns(p.start_ns);
        // A probe that started before fails only if it was still in flight
        // then (queued in the accept queue, reset at the close).
        assert!(
            t >= doomed - queued || t + p.total_ns as i64 >= doomed - slack,
            "a failure {} ms before the SIGTERM, over before it: {p:?}",
            (doomed - t) / 1_000_000
        );
        if t <= outage.end_ns + slack {
            inside += 1;
        } else {
            late += 1;
            assert!(
                ["connect_timeout", "unreachable"].contains(&p.outcome.name()),
                "after the removal: {p:?}"
            );
        }
    }
    eprintln!(
        "no-prestop: {inside} failures inside the measured outage, {late} conntrack-held after it"
    );
    assert!(inside > 0);
    // The one ground-truth check passes too: the race's window holds the
    // outage, and what comes after is the conntrack tail the lab measured.
    let check = check_truth(&run, &opts, true).unwrap();
    eprint!("{}", render(std::slice::from_ref(&check)));
    assert!(check.ok(), "{}", render(&[check]));
    if late > 0 {
        assert!(
            check.tail.failed > 0,
            "the late timeouts are the tail: {check:?}"
        );
    }
    assert_eq!(
        host_before,
        seamless_testkit::host_network(),
        "the host is unchanged"
    );
}
