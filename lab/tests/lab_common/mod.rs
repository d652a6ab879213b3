//! Shared helpers of the lab tests: the binaries, one lab at a time, the
//! lab's arguments (the prerequisites are seamless-testkit's).

#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// The lab binary cargo built for these tests.
pub fn lab() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seamless-lab"))
}

/// seamless-agent next to the lab, built when missing.
pub fn agent() -> PathBuf {
    seamless_testkit::workspace_bin("seamless-agent")
}

static ONE_LAB: Mutex<()> = Mutex::new(());

/// Serialises the lab runs of one test binary: 2 cores do not take two
/// labs at 5000 probes/s without distorting both.
pub fn one_lab() -> MutexGuard<'static, ()> {
    ONE_LAB.lock().unwrap_or_else(|p| p.into_inner())
}

/// `seamless-lab run` with short settings, into `out`.
pub fn lab_cmd(out: &Path, scenarios: &[&str], warmup: &str) -> Command {
    let mut cmd = Command::new(lab());
    cmd.args(lab_args(out, scenarios, warmup, &agent()))
        .env("RUST_LOG", "warn");
    cmd
}

/// The arguments of `seamless-lab run` with short settings, into
/// `out`, probing with `agent`.
pub fn lab_args(out: &Path, scenarios: &[&str], warmup: &str, agent: &Path) -> Vec<OsString> {
    // The emulated data path, chosen: with the components built `auto`
    // would take the real one.
    let mut args: Vec<OsString> = vec!["run".into(), "--proxy".into(), "emulated".into()];
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
