//! Shared helpers of the lab tests: prerequisites, the binaries, one lab at
//! a time.

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// The controller binary cargo built for these tests.
pub fn controller() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seamless-controller"))
}

/// seamless-agent next to the controller, built when missing.
pub fn agent() -> PathBuf {
    let ctl = controller();
    let dir = ctl.parent().expect("binary has a directory");
    let agent = dir.join("seamless-agent");
    if !agent.is_file() {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-p", "seamless-agent"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        // CARGO_TARGET_DIR, when set, is inherited: the agent lands beside
        // the controller.
        let st = cmd.status().expect("running cargo build -p seamless-agent");
        assert!(st.success(), "building seamless-agent failed");
    }
    assert!(agent.is_file(), "no seamless-agent at {}", agent.display());
    agent
}

/// Why the lab cannot run here, if it cannot (then the test says so and
/// passes: CI runs as root with iptables installed, where it must run).
pub fn cannot_run() -> Option<String> {
    if !nix_is_root() {
        return Some("not root".into());
    }
    for tool in [
        "unshare",
        "ip",
        "iptables-restore",
        "conntrack",
        "nft",
        "iptables-save",
    ] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|d| d.join(tool).is_file());
        if !found {
            return Some(format!("{tool} missing"));
        }
    }
    None
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

static ONE_LAB: Mutex<()> = Mutex::new(());

/// Serialises the lab runs of one test binary: 2 cores do not take two
/// labs at 5000 probes/s without distorting both.
pub fn one_lab() -> MutexGuard<'static, ()> {
    ONE_LAB.lock().unwrap_or_else(|p| p.into_inner())
}

/// `seamless-controller lab` with short settings, into `out`.
pub fn lab_cmd(out: &Path, scenarios: &[&str], warmup: &str) -> Command {
    let mut cmd = Command::new(controller());
    cmd.args(lab_args(out, scenarios, warmup, &agent()))
        .env("RUST_LOG", "warn");
    cmd
}

/// The arguments of `seamless-controller lab` with short settings, into
/// `out`, probing with `agent`.
pub fn lab_args(out: &Path, scenarios: &[&str], warmup: &str, agent: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["lab".into()];
    for s in scenarios {
        args.extend(["--scenario".into(), (*s).into()]);
    }
    args.extend(["--out".into(), out.into()]);
    for a in [
        "--warmup",
        warmup,
        "--settle",
        "400ms",
        "--prestop",
        "600ms",
        "--seed",
        "42",
    ] {
        args.push(a.into());
    }
    args.extend(["--agent-bin".into(), agent.into()]);
    args
}
