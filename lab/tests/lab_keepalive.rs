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
    sigterm_ns: i64,
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
        sigterm_ns: truth.sigterm_ns.unwrap(),
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
        let st = lab_common::lab_cmd(out.path(), &["pod-clusterip-prestop"], "500ms")
            .args(["--backend", "nginx", "--rate", "1000"])
            .args(["--agent-mode", "new,reuse", "--agent-pool", "4"])
            .args(["--shutdown", shutdown])
            .status()
            .unwrap();
        assert!(st.success(), "{shutdown}: the lab failed: {st}");
        let s = seen(&run_dir(out.path()), "probe-node-a.log");
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
                assert!(first >= s.sigterm_ns, "{:?} {}", s.conns, s.sigterm_ns);
                assert!(all - s.sigterm_ns < 200_000_000, "{:?}", s.conns);
            }
            _ => {
                // Closed by the quit, before nginx exited and kubelet's
                // SIGTERM followed (seen up to a read of the table late).
                let slack = 20_000_000;
                assert!(
                    all <= s.sigterm_ns + slack,
                    "closed before SIGTERM: {:?} {}",
                    s.conns,
                    s.sigterm_ns
                );
                assert!(s.stopped_ns <= s.sigterm_ns + slack, "the listener too");
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
