//! The host is unchanged after the lab, whether it exits normally, on
//! SIGINT (Ctrl+C) or on SIGKILL: links, named namespaces, iptables and
//! nftables rules, and no process left.

mod lab_common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

fn snapshot() -> String {
    seamless_testkit::host_network()
}

/// Processes whose command line mentions `marker` (the run's unique --out).
fn leftovers(marker: &Path) -> Vec<String> {
    let marker = marker.to_string_lossy().into_owned();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(&marker) {
                v.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    v
}

fn assert_clean(before: &str, out: &Path, how: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = snapshot();
        let procs = leftovers(out);
        if now == before && procs.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            assert!(procs.is_empty(), "after {how}: processes left: {procs:?}");
            assert_eq!(before, now, "after {how}: the host changed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(out: &Path) -> std::process::Child {
    let mut cmd = lab_common::lab_cmd(out, &["pod-clusterip-no-prestop"], "3s");
    cmd.stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().unwrap()
}

#[test]
fn host_unchanged_after_exit_sigint_and_sigkill() {
    if seamless_testkit::skip_lab("the lab cleanup test") {
        return;
    }
    let _one = lab_common::one_lab();
    let before = snapshot();

    // 1. A normal run.
    let out = tempfile::tempdir().unwrap();
    let st = lab_common::lab_cmd(out.path(), &["host-nodeport-no-prestop"], "400ms")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "lab exited with {st}");
    assert_clean(&before, out.path(), "a normal exit");

    // 2. Ctrl+C: SIGINT to the whole foreground process group, mid-run
    //    (inside the 3 s warm-up, with everything up and probing).
    let out = tempfile::tempdir().unwrap();
    let mut child = start(out.path());
    std::thread::sleep(Duration::from_millis(1500));
    killpg(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130), "exit after SIGINT: {st}");
    // What the agent had recorded is kept, with its end marker.
    let log = out
        .path()
        .join("pod-clusterip-no-prestop/run-01/probe-node-a.log");
    let read = seamless_proto::ProbeLog::read_path(&log).expect("probe log after SIGINT");
    assert!(!read.probes.is_empty());
    assert_clean(&before, out.path(), "SIGINT");

    // 3. SIGKILL of the lab process alone, mid-run.
    let out = tempfile::tempdir().unwrap();
    let mut child = start(out.path());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !leftovers(out.path()).is_empty(),
        "the lab should be running"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    let _ = child.wait();
    assert_clean(&before, out.path(), "SIGKILL");
}
