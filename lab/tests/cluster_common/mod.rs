//! Shared helpers of the real-component tests: the built components, a
//! running `seamless-lab up` (ended by SIGINT when dropped), kubectl.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../lab_common/mod.rs"]
mod lab_common;

pub use lab_common::one_lab;

pub struct Up {
    pub child: Child,
    pub kubeconfig: PathBuf,
    pub bin: PathBuf,
}

impl Drop for Up {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(20);
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

pub fn up(dir: &Path, bin: &Path, nodes: u8) -> Up {
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(lab_common::lab())
        .args(["up", "--nodes", &nodes.to_string(), "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--kubernetes-bin")
        .arg(bin)
        .arg("--agent-bin")
        .arg(lab_common::agent())
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
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("seamless-lab up printed no export line within 120 s");
    assert_eq!(line, format!("export KUBECONFIG={}", kubeconfig.display()));
    Up {
        child,
        kubeconfig,
        bin: bin.to_path_buf(),
    }
}

pub fn kubectl(bin: &Path, up: &Up, args: &[&str]) -> String {
    let out = Command::new(bin.join("kubectl"))
        .env("KUBECONFIG", &up.kubeconfig)
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

pub fn events(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The host's network namespaces, to compare before and after.
pub fn host_netns() -> Vec<u8> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap()
        .stdout
}

/// Applies a manifest given as YAML text.
pub fn apply(up: &Up, yaml: &str) {
    use std::io::Write;
    let mut child = Command::new(up.bin.join("kubectl"))
        .env("KUBECONFIG", &up.kubeconfig)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "kubectl apply of {yaml}");
}

/// Polls until `f` gives a value, or fails the test after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
