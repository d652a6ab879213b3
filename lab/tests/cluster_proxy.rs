//! The real kube-proxy on the real control plane: `seamless-lab up` with
//! three nodes, the seed's workload applied with the built kubectl (node-c
//! cordoned, so the workload pod runs elsewhere), then the Service probed
//! from inside the lab, as on a cluster: its ClusterIP on :80 and its
//! NodePort 30080 on node-c's address and on another node's, each from a
//! pod on node-c and from node-c itself; every probe must answer 200 with
//! `X-Pod-Name` naming the workload pod. Once for iptables mode and once
//! for nftables mode on the default version, and for iptables mode on the
//! seed's v1.26.3 where it is built. The host is unchanged after: its
//! network namespaces, its own iptables and nftables rules, no kube-proxy
//! left running.

mod cluster_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cluster_common::{Up, apply, kubectl, wait_for};

/// The nodes' addresses (lab/src/cluster/network.rs).
const NODE_A: [u8; 4] = [198, 19, 0, 1];
const NODE_C: [u8; 4] = [198, 19, 0, 3];

/// The lab binary cargo built for these tests.
fn lab() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seamless-lab"))
}

/// `seamless-lab up --nodes 3 --proxy-mode MODE` with the components of `bin`.
fn up(dir: &Path, kubectl_bin: &Path, bin: &Path, mode: &str) -> Up {
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(lab())
        .args(["up", "--nodes", "3", "--proxy-mode", mode, "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--kubernetes-bin")
        .arg(bin)
        .arg("--agent-bin")
        .arg(seamless_testkit::workspace_bin("seamless-agent"))
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
    let line = rx.recv_timeout(Duration::from_secs(120));
    let up = Up {
        child,
        kubeconfig: kubeconfig.clone(),
        bin: kubectl_bin.to_path_buf(),
    };
    let line = line.expect("seamless-lab up printed no export line within 120 s");
    assert_eq!(line, format!("export KUBECONFIG={}", kubeconfig.display()));
    up
}

/// PIDs and argv of the processes whose argv matches `f`.
fn pids_where(f: impl Fn(&[String]) -> bool) -> Vec<(i32, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if f(&args) {
            v.push((pid, args.join(" ")));
        }
    }
    v
}

/// The parent of `pid` (0 when it is gone).
fn parent(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // pid (comm) state ppid ...: comm may hold spaces.
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Whether `pid` descends from `ancestor`.
fn descends_from(mut pid: i32, ancestor: i32) -> bool {
    while pid > 1 {
        pid = parent(pid);
        if pid == ancestor {
            return true;
        }
    }
    false
}

/// PIDs of this lab's processes (descendants of `up`, whose argv[0] is
/// `program`): other tests may run labs of their own meanwhile.
fn pids_of(program: &Path, up: &Up) -> Vec<(i32, String)> {
    let root = up.child.id() as i32;
    let found: Vec<(i32, String)> = pids_where(|a| a.first().map(Path::new) == Some(program))
        .into_iter()
        .filter(|(pid, _)| descends_from(*pid, root))
        .collect();
    // A child the program has just forked (to run iptables-restore, say)
    // shows the parent's argv until it execs: it is not another instance.
    let pids: Vec<i32> = found.iter().map(|(p, _)| *p).collect();
    found
        .into_iter()
        .filter(|(pid, _)| !pids.contains(&parent(*pid)))
        .collect()
}

/// The end of each kube-proxy's log inside the lab (for a failure's message).
fn proxy_logs(up: &Up) -> String {
    let root = up.child.id() as i32;
    let Some((inner, _)) = pids_where(|a| a.iter().any(|x| x == "--inside-config"))
        .into_iter()
        .find(|(pid, _)| descends_from(*pid, root))
    else {
        return "(the lab is gone)".into();
    };
    let dir = PathBuf::from(format!("/proc/{inner}/root/run/seamless-lab/up/logs"));
    let mut out = String::new();
    for node in ["node-a", "node-b", "node-c"] {
        let log = dir.join(format!("kube-proxy-{node}.log"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out += &format!(
            "\n--- {}:\n{}",
            log.display(),
            lines[lines.len().saturating_sub(8)..].join("\n")
        );
    }
    out
}

/// Whether process `pid` still runs `program`.
fn still_runs(pid: i32, program: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).next() == Some(program.as_os_str().as_encoded_bytes()))
}

/// A plain `GET /` from inside the network namespace of process `pid`:
/// the status and the `X-Pod-Name` header.
fn get_in(pid: i32, addr: SocketAddr) -> Result<(u16, String), String> {
    std::thread::spawn(move || {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| e.to_string())?;
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
        let mut s =
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        write!(s, "GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no status line: {text:?}"))?;
        let pod = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("x-pod-name")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        Ok((status, pod))
    })
    .join()
    .unwrap()
}

/// The text of a command's stdout (it must succeed).
fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the host's own network looks like: its links, namespaces,
/// iptables rules and nftables ruleset (the testkit's one snapshot).
fn host_state() -> String {
    seamless_testkit::host_network()
}

fn the_service_answers_everywhere(mode: &str, bin: &Path, kubectl_bin: &Path, client_sleep: &str) {
    let _one = cluster_common::one_lab();
    let kube_proxy = bin.join("kube-proxy");
    let before = host_state();
    let dir = tempfile::tempdir().unwrap();
    let up = up(dir.path(), kubectl_bin, bin, mode);
    let k = |args: &[&str]| kubectl(kubectl_bin, &up, args);

    // One kube-proxy per node, each in its node's namespace, with its node.
    let proxies = pids_of(&kube_proxy, &up);
    assert_eq!(
        proxies.len(),
        3,
        "one kube-proxy per node: {proxies:?}{}",
        proxy_logs(&up)
    );
    let node_c = proxies
        .iter()
        .find(|(_, cmd)| cmd.contains("/node-c.yaml"))
        .expect("node-c's kube-proxy")
        .0;
    let own_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        std::fs::read_link(format!("/proc/{node_c}/ns/net")).unwrap(),
        own_ns,
        "kube-proxy runs in the node's namespace"
    );

    // The workload, away from node-c.
    k(&["cordon", "node-c"]);
    let overlay =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/workload/overlays/pod-no-prestop");
    k(&["apply", "-k", overlay.to_str().unwrap()]);
    k(&[
        "-n",
        "seamless-demo",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=90s",
    ]);
    let pod = k(&[
        "-n",
        "seamless-demo",
        "get",
        "pods",
        "-o",
        "jsonpath={.items[0].metadata.name} {.items[0].spec.nodeName}",
    ]);
    let (pod, pod_node) = pod.trim().split_once(' ').unwrap();
    let pod = pod.to_string();
    assert_ne!(pod_node, "node-c");
    let cluster_ip = k(&[
        "-n",
        "seamless-demo",
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let cluster_ip: std::net::Ipv4Addr = cluster_ip.trim().parse().unwrap();
    assert!(
        cluster_ip.octets()[..3] == [198, 19, 100],
        "ClusterIP {cluster_ip}"
    );

    // A client pod on node-c: busybox maps to the host's `sleep`, found
    // by its unique argument.
    apply(
        &up,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: client, namespace: default}}\n\
             spec:\n  nodeName: node-c\n  containers:\n  - name: c\n    image: busybox\n    \
             command: [sleep, \"{client_sleep}\"]\n"
        ),
    );
    let client = wait_for("the client pod's process", Duration::from_secs(30), || {
        pids_where(|a| a.len() == 2 && a[0] == "sleep" && a[1] == client_sleep)
            .into_iter()
            .map(|(pid, _)| pid)
            .find(|pid| descends_from(*pid, up.child.id() as i32))
    });
    assert_ne!(
        std::fs::read_link(format!("/proc/{client}/ns/net")).unwrap(),
        std::fs::read_link(format!("/proc/{node_c}/ns/net")).unwrap(),
        "the client pod has a namespace of its own"
    );

    let targets = [
        ("ClusterIP", SocketAddr::from((cluster_ip, 80))),
        ("NodePort on node-c", SocketAddr::from((NODE_C, 30080))),
        ("NodePort on node-a", SocketAddr::from((NODE_A, 30080))),
    ];
    // The first probe waits for kube-proxy to program the endpoint (its
    // sync follows the EndpointSlice, at most minSyncPeriod later).
    let started = Instant::now();
    for (from, pid) in [("a pod on node-c", client), ("node-c", node_c)] {
        for (what, addr) in targets {
            let deadline = Instant::now() + Duration::from_secs(20);
            let got = loop {
                let last = match get_in(pid, addr) {
                    Ok(r) if r.0 == 200 => break r,
                    Ok(r) => format!("{r:?}"),
                    Err(e) => e,
                };
                assert!(
                    Instant::now() < deadline,
                    "{mode}: {what} ({addr}) from {from}: no 200 within 20 s, last {last}{}",
                    proxy_logs(&up)
                );
                std::thread::sleep(Duration::from_millis(200));
            };
            assert_eq!(got.1, pod, "{what} from {from} reached {got:?}");
        }
    }
    eprintln!(
        "{mode}: every path answered, the first {:.1} s after the rollout",
        started.elapsed().as_secs_f64()
    );

    // The rules are the node's own, in the mode asked for.
    let rules = match mode {
        "nftables" => output(Command::new("nsenter").args([
            "-t",
            &node_c.to_string(),
            "-n",
            "nft",
            "list",
            "table",
            "ip",
            "kube-proxy",
        ])),
        _ => output(Command::new("nsenter").args([
            "-t",
            &node_c.to_string(),
            "-n",
            "iptables-save",
            "-t",
            "nat",
        ])),
    };
    assert!(
        rules.contains(&cluster_ip.to_string()) && rules.contains("30080"),
        "{mode} rules on node-c: {rules}"
    );
    // Its metrics on the node's address: the last sync, for the run's
    // ground truth later.
    let metrics = std::thread::spawn(move || {
        let ns = std::fs::File::open(format!("/proc/{node_c}/ns/net")).unwrap();
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let mut s = TcpStream::connect(SocketAddr::from((NODE_C, 10249))).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    })
    .join()
    .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("kubeproxy_sync_proxy_rules_last_timestamp_seconds")),
        "no sync metric in node-c's kube-proxy metrics"
    );

    drop(up);
    let left: Vec<_> = proxies
        .iter()
        .filter(|(pid, _)| still_runs(*pid, &kube_proxy))
        .collect();
    assert!(left.is_empty(), "kube-proxy left running: {left:?}");
    assert_eq!(
        before,
        host_state(),
        "no namespace, link, iptables or nftables rule left on the host"
    );
    assert!(!dir.path().join("kubeconfig").exists());
}

/// The components of `version`, or None to skip.
fn components(version: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/kubernetes")
        .join(version)
        .join("bin");
    dir.join("kube-proxy").is_file().then_some(dir)
}

#[test]
fn iptables_mode_serves_clusterip_and_nodeport() {
    let Some(bin) = seamless_testkit::components_or_skip("the kube-proxy iptables test") else {
        return;
    };
    the_service_answers_everywhere("iptables", &bin, &bin, "86391");
}

#[test]
fn nftables_mode_serves_clusterip_and_nodeport() {
    let Some(bin) = seamless_testkit::components_or_skip("the kube-proxy nftables test") else {
        return;
    };
    the_service_answers_everywhere("nftables", &bin, &bin, "86392");
}

/// The seed's version, where `bash lab/kubernetes/build.sh v1.26.3` built
/// it (CI builds only the default version).
#[test]
fn the_seeds_version_serves_in_iptables_mode() {
    let Some(kubectl_bin) = seamless_testkit::components_or_skip("the kube-proxy v1.26.3 test")
    else {
        return;
    };
    let Some(bin) = components("v1.26.3") else {
        eprintln!("skipping: v1.26.3 not built (bash lab/kubernetes/build.sh v1.26.3)");
        return;
    };
    the_service_answers_everywhere("iptables", &bin, &kubectl_bin, "86393");
}

/// nftables mode with a kube-proxy before 1.29 is refused before anything
/// starts, naming the version; an unknown mode is a usage error.
#[test]
fn a_mode_the_version_lacks_is_refused_up_front() {
    let Some(bin) = components("v1.26.3") else {
        eprintln!("skipping: v1.26.3 not built");
        return;
    };
    let out = Command::new(lab())
        .args(["up", "--proxy-mode", "nftables", "--kubernetes-bin"])
        .arg(&bin)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("needs kube-proxy 1.29 or later") && err.contains("v1.26.3"),
        "{err}"
    );
    let out = Command::new(lab())
        .args(["up", "--proxy-mode", "ipvs"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("possible values: iptables, nftables, none")
    );
}

/// A kube-proxy that fails to start ends `up` with its log, not a
/// timeout, and leaves nothing behind.
#[test]
fn a_failing_kube_proxy_shows_its_log() {
    let Some(bin) = seamless_testkit::components_or_skip("the failing kube-proxy test") else {
        return;
    };
    let _one = cluster_common::one_lab();
    let before = host_state();
    let fake = tempfile::tempdir().unwrap();
    for c in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        std::os::unix::fs::symlink(bin.join(c), fake.path().join(c)).unwrap();
    }
    let kube_proxy = fake.path().join("kube-proxy");
    std::fs::write(
        &kube_proxy,
        "#!/bin/sh\ncase \"$1\" in --version) echo Kubernetes v1.37.2;;\n\
         *) echo 'F1201 the fake kube-proxy refuses' \"$1\" >&2; exit 1;; esac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&kube_proxy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(lab())
        .args(["up", "--nodes", "1", "--kubernetes-bin"])
        .arg(fake.path())
        .arg("--kubeconfig")
        .arg(fake.path().join("kubeconfig"))
        .arg("--agent-bin")
        .arg(seamless_testkit::workspace_bin("seamless-agent"))
        .env("RUST_LOG", "error")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("kube-proxy-node-a exited")
            && err.contains("F1201 the fake kube-proxy refuses --config="),
        "{err}"
    );
    assert_eq!(before, host_state(), "the host is unchanged");
}
