//! Test support shared by the workspace's crates (a dev-dependency only).
//!
//! The lab's end-to-end tests live in three crates (the lab's, the
//! analyzer's ground-truth check and the controller's experiment); each
//! needs to know whether the lab can run here, where the workspace's
//! binaries are and whether the Kubernetes components are built.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The lab's prerequisites, listed once for the lab, CI and the main job.
const PREREQUISITES: &str = include_str!("../../lab/prerequisites.txt");

/// The programs a lab test needs on the host: from `lab/prerequisites.txt`,
/// every one but those of an option the tests check apart (`nginx-backend`).
pub fn lab_tools() -> Vec<&'static str> {
    PREREQUISITES
        .lines()
        .filter_map(|line| {
            let mut cols = line.split('#').next()?.split_whitespace();
            let (program, _package, when) = (cols.next()?, cols.next()?, cols.next()?);
            (when != "nginx-backend").then_some(program)
        })
        .collect()
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Why the lab cannot run here, if it cannot: not root, or a tool missing.
pub fn lab_cannot_run() -> Option<String> {
    if !is_root() {
        return Some("not root".into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    lab_tools().into_iter().find_map(|tool| {
        let found = std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|d| d.join(tool).is_file());
        (!found).then(|| format!("{tool} is missing"))
    })
}

/// True when a lab test should skip: it then says why on stderr. Where `CI`
/// is set the lab must run (`.ci/run` installs what it needs and runs as
/// root), so there a missing prerequisite fails the test instead.
pub fn skip_lab(test: &str) -> bool {
    let Some(why) = lab_cannot_run() else {
        return false;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: the lab must run in CI, but cannot: {why}"
    );
    eprintln!("skipping {test}: the lab cannot run here: {why}");
    true
}

/// The Kubernetes components `lab/kubernetes/build.sh` built for the lab's
/// default version (`target/kubernetes/<version>/bin`), if they are.
pub fn kube_bin() -> Option<PathBuf> {
    let version = include_str!("../../lab/kubernetes/DEFAULT_VERSION").trim();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/kubernetes")
        .join(version)
        .join("bin");
    (dir.join("kube-apiserver").is_file() && dir.join("kubectl").is_file())
        .then(|| dir.canonicalize().expect("the components directory"))
}

/// The components, or None when a real-component test should skip: the
/// lab cannot run here ([`skip_lab`]), or they are not built (which fails
/// the test under `CI`, where `.ci/run` builds them first).
pub fn components_or_skip(test: &str) -> Option<PathBuf> {
    if skip_lab(test) {
        return None;
    }
    let bin = kube_bin();
    if bin.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: CI must build the components first (bash lab/kubernetes/build.sh)"
        );
        eprintln!("skipping {test}: no components built (bash lab/kubernetes/build.sh)");
    }
    bin
}

/// A binary of the workspace (`seamless-agent`, `seamless-lab`),
/// beside the running test's `deps/` directory, built first when missing
/// (as after `cargo test -p` of another crate).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary sits in target/<profile>/deps/");
    let bin = dir.join(name);
    if !bin.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", name]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        // CARGO_TARGET_DIR, when set, is inherited: the binary lands here.
        let st = cmd.status().expect("running cargo build");
        assert!(st.success(), "building {name} failed");
    }
    assert!(bin.is_file(), "no {name} at {}", bin.display());
    bin
}

/// The host's own network, as text to compare before and after a lab:
/// its links, namespaces, iptables rules (without iptables-save's time
/// stamps) and nftables ruleset.
pub fn host_network() -> String {
    let mut s = String::new();
    for args in [
        &["ip", "-o", "link"][..],
        &["ip", "netns", "list"],
        &["iptables-save"],
        &["nft", "list", "ruleset"],
    ] {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", args[0]));
        s += &format!("== {}\n", args.join(" "));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if !line.starts_with("# Generated") && !line.starts_with("# Completed") {
                s += line;
                s += "\n";
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn lab_tools_come_from_the_prerequisites() {
        let tools = super::lab_tools();
        for tool in [
            "unshare",
            "ip",
            "iptables-restore",
            "iptables-save",
            "conntrack",
            "nft",
        ] {
            assert!(tools.contains(&tool), "{tool} missing from {tools:?}");
        }
        assert!(!tools.contains(&"nginx"));
    }
}
