//! Reused connections in the lab: the agent probes new and kept-alive
//! connections side by side (`--agent-mode new,reuse`), and the old pod's
//! nginx stops fast (kubelet's SIGTERM) or gracefully (SIGQUIT from the
//! preStop hook, waited for). The ground truth records when the backend
//! closed its clients' connections; the probe log must agree with it.
//!
//! Needs root, the lab's tools and nginx (CI has them); the real-component
//! test needs the components built (lab/kubernetes/build.sh). Elsewhere
//! they say why and pass, except under `CI=true`, where they must run.

mod lab_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use seamless_proto::run::BackendConns;
use seamless_proto::timeline::{EventKind, read_jsonl};
use seamless_proto::{ConnState, Mode, ProbeLog, RunInfo};

/// The one run directory under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .flat_map(|s| std::fs::read_dir(s.path()).into_iter().flatten().flatten())
        .map(|r| r.path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.remove(0)
}

/// What a run says about the old pod's connections.
struct Seen {
    conns: BackendConns,
    /// None when nginx had exited before the hook returned: kubelet had
    /// no process to signal.
    sigterm_ns: Option<i64>,
    prestop_ns: Option<i64>,
    stopped_ns: i64,
    log: ProbeLog,
}

fn seen(dir: &Path, log: &str) -> Seen {
    let info = RunInfo::read(dir).unwrap();
    let truth = info.ground_truth.unwrap();
    let f = std::io::BufReader::new(std::fs::File::open(dir.join("timeline.jsonl")).unwrap());
    let events = read_jsonl(f).unwrap();
    let deletion = events
        .iter()
        .find(|e| e.kind == EventKind::PodTerminating)
        .map(|e| e.ts_ns)
        .unwrap();
    let prestop_ns = events
        .iter()
        .find(|e| e.kind == EventKind::PreStopStarted && e.ts_ns >= deletion - 5_000_000_000)
        .map(|e| e.ts_ns);
    Seen {
        conns: truth
            .old_backend_conns
            .expect("the old backend's connections"),
        sigterm_ns: truth.sigterm_ns,
        prestop_ns,
        stopped_ns: truth.old_backend_stopped_ns.unwrap(),
        log: ProbeLog::read_path(&dir.join(log)).unwrap(),
    }
}

impl Seen {
    /// Reuse-mode probes that found their connection closed by the server
    /// (`after_close`, `after_idle_error`) at or after `from_ns`.
    fn closes_found_after(&self, from_ns: i64) -> usize {
        self.log
            .probes
            .iter()
            .filter(|p| p.mode == Mode::Reuse)
            .filter(|p| self.log.header.wall_ns(p.start_ns) >= from_ns)
            .filter(|p| {
                p.conn.is_some_and(|c| {
                    matches!(c.state, ConnState::AfterClose | ConnState::AfterIdleError)
                })
            })
            .count()
    }

    fn failed(&self, mode: Mode) -> usize {
        self.log
            .probes
            .iter()
            .filter(|p| p.mode == mode && p.outcome.is_failure())
            .count()
    }

    fn probes(&self, mode: Mode) -> usize {
        self.log.probes.iter().filter(|p| p.mode == mode).count()
    }
}

/// The emulated lab with nginx: the pool's connections are open to the old
/// pod at its deletion; a fast shutdown closes them at SIGTERM, a graceful
/// one at the hook's quit, before kubelet's SIGTERM; the agent finds them
/// closed and reconnects, and every probe of both modes is in the log.
#[test]
fn emulated_nginx_closes_kept_alive_connections_at_sigterm_or_at_the_hooks_quit() {
    if seamless_testkit::skip_lab("the emulated keep-alive test") {
        return;
    }
    if Command::new("nginx").arg("-v").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI installs nginx-light");
        eprintln!("skipping: no nginx");
        return;
    }
    let _one = lab_common::one_lab();
    for shutdown in ["fast", "graceful"] {
        let out = tempfile::tempdir().unwrap();
        // The emulated kubelet always signals (its nginx is a child it
        // waits for, then SIGTERMs as the hook returns).
        let st = lab_common::lab_cmd(out.path(), &["pod-clusterip-prestop"], "500ms")
            .args(["--backend", "nginx", "--rate", "1000"])
            .args(["--agent-mode", "new,reuse", "--agent-pool", "4"])
            .args(["--shutdown", shutdown])
            .status()
            .unwrap();
        assert!(st.success(), "{shutdown}: the lab failed: {st}");
        let s = seen(&run_dir(out.path()), "probe-node-a.log");
        let sigterm_ns = s.sigterm_ns.expect("kubelet's SIGTERM");
        assert!(
            s.probes(Mode::New) > 500 && s.probes(Mode::Reuse) > 500,
            "{shutdown}"
        );
        assert_eq!(
            s.failed(Mode::New),
            0,
            "{shutdown}: preStop, no new connection fails"
        );
        // The pool's connections at the deletion (a new-mode probe's may
        // be open then too, but not 50 ms later).
        assert!(
            (1..=4).contains(&s.conns.kept_alive) && s.conns.open_at_start >= s.conns.kept_alive,
            "{shutdown}: {:?}",
            s.conns
        );
        let first = s.conns.first_closed_ns.unwrap();
        let all = s.conns.all_closed_ns.unwrap();
        assert!(first <= all, "{:?}", s.conns);
        let hook = s.prestop_ns.expect("the preStop hook's start");
        // Both close after the preStop sleep (600 ms), within 200 ms of
        // the signal that closes them.
        assert!(first >= hook + 600_000_000, "{shutdown}: {:?}", s.conns);
        match shutdown {
            "fast" => {
                assert!(first >= sigterm_ns, "{:?} {sigterm_ns}", s.conns);
                assert!(all - sigterm_ns < 200_000_000, "{:?}", s.conns);
            }
            _ => {
                // Closed by the quit, before nginx exited and kubelet's
                // SIGTERM followed (seen up to a read of the table late).
                let slack = 20_000_000;
                assert!(
                    all <= sigterm_ns + slack,
                    "closed before SIGTERM: {:?} {sigterm_ns}",
                    s.conns
                );
                assert!(s.stopped_ns <= sigterm_ns + slack, "the listener too");
                assert!(all - hook < 800_000_000, "{:?}", s.conns);
            }
        }
        // The agent saw each close: a replacement after it, or the failed
        // request of a close that raced it; none lost. (From the hook's
        // sleep's end: the agent can find a FIN before the next read of
        // the table, 1 ms apart on an idle machine.)
        let found = s.closes_found_after(hook + 600_000_000);
        let broke = s.failed(Mode::Reuse);
        assert!(
            found + broke >= s.conns.kept_alive as usize,
            "{shutdown}: {found} closes found, {broke} broke, of {:?}",
            s.conns
        );
        assert_eq!(s.log.end_count, Some(s.log.probes.len() as u64));
    }
}

/// One real-component run of `pod-clusterip-prestop` (the seed's `sleep
/// 10`) with `extra` flags; its run directory's findings.
fn real_run(out: &Path, extra: &[&str]) -> Seen {
    let st = Command::new(lab_common::lab())
        .args([
            "run",
            "--proxy",
            "real",
            "--scenario",
            "pod-clusterip-prestop",
        ])
        .args(["--warmup", "500ms", "--settle", "500ms"])
        .args(["--agent-mode", "new,reuse", "--agent-pool", "32"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .arg("--agent-bin")
        .arg(lab_common::agent())
        .arg("--controller-bin")
        .arg(seamless_testkit::workspace_bin("seamless-controller"))
        .env("RUST_LOG", "warn")
        .status()
        .unwrap();
    assert!(st.success(), "{extra:?}: the lab failed: {st}");
    seen(&run_dir(out), "probe-node-c.log")
}

/// The case on the real components: with the `sleep 10` preStop,
/// kube-proxy has long dropped the old pod when its nginx stops, and no
/// new connection meets it (but through the conntrack tail of the close);
/// the kept-alive connections still do. A fast
/// shutdown closes them at SIGTERM, and a client that sends on idle
/// connections without looking loses one request on each; a graceful one
/// closes them at the hook's quit, 10 s in, before SIGTERM, and a careful
/// client (the agent's idle check) loses at most the few that raced it.
#[test]
fn real_components_kept_alive_connections_meet_the_shutdown_new_ones_do_not() {
    if seamless_testkit::components_or_skip("the real-component keep-alive test").is_none() {
        return;
    }
    let _one = lab_common::one_lab();
    let host_before = seamless_testkit::host_network();
    let out = tempfile::tempdir().unwrap();

    let fast = real_run(
        &out.path().join("fast"),
        &["--shutdown", "fast", "--agent-no-idle-check"],
    );
    let graceful = real_run(&out.path().join("graceful"), &["--shutdown", "graceful"]);
    for (name, s) in [("fast", &fast), ("graceful", &graceful)] {
        // New connections: none fails before the old pod closed its
        // connections (kube-proxy had dropped it 9 s before). After, a
        // few can: the conntrack tail, a new SYN reusing the client port of
        // a connection the close left in conntrack, NATed to the old pod.
        let closed = s.conns.all_closed_ns.unwrap();
        let early: Vec<_> = s
            .log
            .probes
            .iter()
            .filter(|p| p.mode == Mode::New && p.outcome.is_failure())
            .filter(|p| s.log.header.wall_ns(p.start_ns) < closed - 5_000_000)
            .collect();
        assert!(
            early.is_empty(),
            "{name}: new connections failed before the close: {early:?}"
        );
        assert!(
            s.conns.kept_alive >= 24,
            "{name}: the pool's 32 connections were on the old pod at its deletion: {:?}",
            s.conns
        );
        let hook = s.prestop_ns.expect("the preStop hook's start");
        let all = s.conns.all_closed_ns.unwrap();
        assert!(
            all >= hook + 10_000_000_000,
            "{name}: closed after the sleep: {:?}",
            s.conns
        );
    }
    // Fast: closed at SIGTERM; the unchecked client's next request on
    // each fails.
    let all = fast.conns.all_closed_ns.unwrap();
    let sigterm = fast.sigterm_ns.expect("fast: kubelet's SIGTERM");
    assert!(
        (sigterm..sigterm + 500_000_000).contains(&all),
        "{:?} {sigterm}",
        fast.conns
    );
    let broke: Vec<i64> = fast
        .log
        .probes
        .iter()
        .filter(|p| p.mode == Mode::Reuse && p.outcome.is_failure())
        .filter(|p| p.conn.is_some_and(|c| c.state == ConnState::Reused))
        .map(|p| fast.log.header.wall_ns(p.start_ns))
        .collect();
    assert!(
        broke.len() * 2 >= fast.conns.kept_alive as usize,
        "fast, no idle check: {} broke of {:?}",
        broke.len(),
        fast.conns
    );
    assert!(
        broke
            .iter()
            .all(|&t| t >= sigterm - 50_000_000 && t <= all + 1_000_000_000),
        "every break at the close"
    );
    // Graceful: closed by the quit, before any SIGTERM (none when nginx
    // was gone before the hook returned); listener too; the careful client
    // found the closes.
    let g_all = graceful.conns.all_closed_ns.unwrap();
    if let Some(t) = graceful.sigterm_ns {
        assert!(g_all <= t + 20_000_000, "{:?} {t}", graceful.conns);
        assert!(graceful.stopped_ns <= t + 20_000_000);
    }
    assert!(
        graceful.stopped_ns <= g_all + 20_000_000,
        "the listener closed with them"
    );
    let found = graceful.closes_found_after(graceful.prestop_ns.unwrap() + 9_000_000_000);
    assert!(
        graceful.failed(Mode::Reuse) * 4 <= graceful.conns.kept_alive as usize
            && found + graceful.failed(Mode::Reuse) >= graceful.conns.kept_alive as usize,
        "graceful, careful: {} failed, {found} closes found, of {:?}",
        graceful.failed(Mode::Reuse),
        graceful.conns
    );
    assert_eq!(
        seamless_testkit::host_network(),
        host_before,
        "the host's network is as before"
    );
}
