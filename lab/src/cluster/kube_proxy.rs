//! The real kube-proxy, one process per emulated node, inside the node's
//! network namespace (`nsenter --net=/run/netns/<node>`), so the rules it
//! writes (iptables or nftables) are the node's own and nothing reaches the
//! host.
//!
//! Each gets a `KubeProxyConfiguration` file (kubeproxy.config.k8s.io/
//! v1alpha1) with only fields both supported versions (1.26.3 and 1.37.2)
//! know, from `k8s.io/kube-proxy/config/v1alpha1/types.go` of each:
//!
//! - `hostnameOverride` = the node's name (kube-proxy reads its Node object
//!   by that name), `bindAddress` = the node's address (kube-proxy's idea of
//!   its node IP: "the name is a historical artifact, and kube-proxy does not
//!   actually bind any sockets to this IP"), `clusterCIDR` = every pod range
//!   (with the default `detectLocalMode: ClusterCIDR`, traffic from outside
//!   it to a Service is masqueraded);
//! - `metricsBindAddress` and `healthzBindAddress` on the node's address
//!   (ports 10249 and 10256), so `kubeproxy_sync_proxy_rules_last_timestamp_seconds`
//!   can be scraped from the lab's world;
//! - `conntrack`: `maxPerCore: 0` and `min: 0` (leave `nf_conntrack_max` and
//!   the module's `hashsize`, both host-wide, as they are:
//!   `getConntrackMax` returns 0 unless maxPerCore > 0, and `setSysctls`
//!   skips the limit then; pkg/proxy/conntrack/sysctls.go in 1.37,
//!   cmd/kube-proxy/app/server.go `getConntrackMax` in 1.26), and
//!   `tcpEstablishedTimeout`/`tcpCloseWaitTimeout` of `0s` ("Must be greater
//!   than 0 to set"), as kind configures them;
//! - `mode` as asked; `iptables.minSyncPeriod` / `nftables.minSyncPeriod`
//!   only when `--proxy-min-sync-period` is given (the default is 1 s in
//!   both versions), in the section of the mode in use only (1.26 has no
//!   `nftables` section).
//!
//! nftables mode exists from 1.29 (feature gate `NFTablesProxyMode`: alpha
//! in 1.29, beta and on by default in 1.31, GA in 1.33;
//! pkg/features/kube_features.go): asked for with an older kube-proxy it is
//! refused before anything starts; 1.29 and 1.30 get the gate turned on.
//!
//! The node namespace needs `net.bridge.bridge-nf-call-iptables = 1` for a
//! pod to reach, through a Service, another pod on the same bridge (the
//! reply is bridged, not routed, and only br_netfilter shows it to
//! conntrack for the un-DNAT; kube-proxy 1.26 logs "Missing br-netfilter
//! module or unset sysctl br-nf-call-iptables, proxy may not work as
//! intended" otherwise, pkg/proxy/iptables/proxier.go). That sysctl is per
//! network namespace (Linux 5.3 and later); the lab sets it in each node's
//! namespace. Loading the br_netfilter module is host-wide, so the lab never
//! does it: without it, same-node pod-to-Service-to-pod traffic fails, and
//! the lab says so in its log. `route_localnet` (for NodePorts on
//! 127.0.0.1 in iptables mode) is set by the lab and by kube-proxy itself,
//! per namespace.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::network::{CLUSTER_CIDR, NodeNet};
use super::pki::{Pki, PkiError};
use super::process::{Component, ProcessError, tail};

/// The port of kube-proxy's metrics on the node's address.
pub const METRICS_PORT: u16 = 10249;
/// The port of kube-proxy's health check on the node's address.
pub const HEALTHZ_PORT: u16 = 10256;
/// kube-proxy's user: the bootstrap RBAC binding `system:node-proxier`
/// grants it the role of the same name (plugin/pkg/auth/authorizer/rbac/
/// bootstrappolicy/policy.go, `user.KubeProxy`).
pub const USER: &str = "system:kube-proxy";
/// The metric of the last successful rule sync (a gauge in 1.26, a gauge
/// per `ip_family` in 1.37; pkg/proxy/metrics/metrics.go).
pub const LAST_SYNC_METRIC: &str = "kubeproxy_sync_proxy_rules_last_timestamp_seconds";

/// How kube-proxy programs the node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// iptables rules (kube-proxy's default on Linux).
    #[default]
    Iptables,
    /// nftables rules (kube-proxy 1.29 and later).
    Nftables,
    /// No kube-proxy: Services have no data path.
    None,
}

impl ProxyMode {
    /// The name kube-proxy's `mode` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
            ProxyMode::None => "none",
        }
    }

    /// The host programs kube-proxy runs in this mode, with their Debian
    /// package: iptables mode execs iptables, iptables-save and
    /// iptables-restore (k8s.io/kubernetes/pkg/util/iptables); nftables mode
    /// execs nft (sigs.k8s.io/knftables).
    pub fn tools(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ProxyMode::Iptables => &[
                ("iptables", "iptables"),
                ("iptables-save", "iptables"),
                ("iptables-restore", "iptables"),
            ],
            ProxyMode::Nftables => &[("nft", "nftables")],
            ProxyMode::None => &[],
        }
    }
}

impl std::fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// kube-proxy could not be set up or started.
#[derive(Debug, thiserror::Error)]
pub enum KubeProxyError {
    /// The binary is not there.
    #[error(
        "kube-proxy is not in {0}: build it with `bash lab/kubernetes/build.sh VERSION`, \
         put it in the --kubernetes-bin directory, or pass --proxy-mode none"
    )]
    Missing(PathBuf),
    /// `kube-proxy --version` failed or said something unexpected.
    #[error("`{program} --version` {detail}")]
    Version {
        /// The binary.
        program: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// nftables mode with a kube-proxy older than 1.29.
    #[error(
        "--proxy-mode nftables needs kube-proxy 1.29 or later (nftables mode is alpha in 1.29, \
         GA in 1.33), but {program} is {version}: use --proxy-mode iptables, or a newer \
         --kubernetes-version"
    )]
    NoNftables {
        /// The binary.
        program: PathBuf,
        /// Its version.
        version: String,
    },
    /// A program the mode needs is not installed.
    #[error("--proxy-mode {mode} needs {program} (Debian package {package})")]
    Tool {
        /// The mode.
        mode: ProxyMode,
        /// The program.
        program: &'static str,
        /// Its package.
        package: &'static str,
    },
    /// Writing its configuration failed.
    #[error("writing {0}")]
    Write(PathBuf, #[source] std::io::Error),
    /// Its identity.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Its process.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// Setting a sysctl in the node's namespace failed.
    #[error(transparent)]
    Netns(#[from] crate::host::netns::NetnsError),
    /// It runs but never synced its rules.
    #[error(
        "kube-proxy of {node} did not sync its rules within {timeout:?} \
         (no {LAST_SYNC_METRIC} on {metrics}); the end of its log ({log}):\n{tail}"
    )]
    NotSynced {
        /// The node.
        node: String,
        /// How long it was given.
        timeout: Duration,
        /// Its metrics address.
        metrics: SocketAddr,
        /// Its log.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },
}

/// A Kubernetes version, as `kube-proxy --version` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// As printed, e.g. `v1.37.2`.
    pub text: String,
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl Version {
    /// Parses `Kubernetes v1.37.2` (or `v1.37.2`, `v1.30.0-alpha.1`).
    pub fn parse(out: &str) -> Option<Version> {
        let text = out.split_whitespace().find(|w| w.starts_with('v'))?;
        let mut it = text.trim_start_matches('v').split(['.', '-', '+']);
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(Version {
            text: text.to_string(),
            major,
            minor,
        })
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

/// What every node's kube-proxy is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The mode (never [`ProxyMode::None`] here).
    pub mode: ProxyMode,
    /// `minSyncPeriod`, when not kube-proxy's default.
    pub min_sync_period: Option<Duration>,
    /// The binary.
    pub program: PathBuf,
    /// Its version.
    pub version: Version,
}

/// Checks, before anything starts, that `mode` can run with the kube-proxy
/// of `bins_dir`: the binary is there, its version has the mode, the host
/// has the mode's tools. `None` for [`ProxyMode::None`].
pub fn preflight(
    bins_dir: &Path,
    mode: ProxyMode,
    min_sync_period: Option<Duration>,
) -> Result<Option<Settings>, KubeProxyError> {
    if mode == ProxyMode::None {
        return Ok(None);
    }
    let program = bins_dir.join("kube-proxy");
    if !program.is_file() {
        return Err(KubeProxyError::Missing(bins_dir.to_path_buf()));
    }
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|e| KubeProxyError::Version {
            program: program.clone(),
            detail: format!("could not run: {e}"),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = Version::parse(&text)
        .filter(|_| out.status.success())
        .ok_or_else(|| KubeProxyError::Version {
            program: program.clone(),
            detail: format!(
                "gave {} and {:?}",
                out.status,
                format!("{}{}", text, String::from_utf8_lossy(&out.stderr)).trim()
            ),
        })?;
    if mode == ProxyMode::Nftables && !version.at_least(1, 29) {
        return Err(KubeProxyError::NoNftables {
            program,
            version: version.text,
        });
    }
    for &(tool, package) in mode.tools() {
        if crate::host::sandbox::require(&[(tool, package)]).is_err() {
            return Err(KubeProxyError::Tool {
                mode,
                program: tool,
                package,
            });
        }
    }
    Ok(Some(Settings {
        mode,
        min_sync_period,
        program,
        version,
    }))
}

/// The `KubeProxyConfiguration` of one node (JSON, which kube-proxy's
/// decoder reads as YAML).
pub fn config(settings: &Settings, node: &NodeNet, kubeconfig: &Path) -> serde_json::Value {
    let ip = node.ip;
    let mut cfg = serde_json::json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig.display().to_string()},
        "hostnameOverride": node.name,
        "bindAddress": ip.to_string(),
        "metricsBindAddress": format!("{ip}:{METRICS_PORT}"),
        "healthzBindAddress": format!("{ip}:{HEALTHZ_PORT}"),
        "clusterCIDR": CLUSTER_CIDR,
        "mode": settings.mode.as_str(),
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    });
    if let Some(p) = settings.min_sync_period {
        let section = settings.mode.as_str();
        cfg[section] = serde_json::json!({"minSyncPeriod": format!("{}ms", p.as_millis())});
    }
    if settings.mode == ProxyMode::Nftables && !settings.version.at_least(1, 31) {
        cfg["featureGates"] = serde_json::json!({"NFTablesProxyMode": true});
    }
    cfg
}

/// One node's running kube-proxy.
#[derive(Debug)]
pub struct KubeProxy {
    /// The node.
    pub node: String,
    /// Its metrics (`/metrics`) on the node's address.
    pub metrics: SocketAddr,
    /// Its process.
    pub process: Component,
}

/// The kube-proxies of a cluster: one shared identity, one process per
/// node. Dropping it stops them (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub struct KubeProxies {
    settings: Option<Settings>,
    kubeconfig: PathBuf,
    dir: PathBuf,
    log_dir: PathBuf,
    /// The running ones, in start order.
    pub proxies: Vec<KubeProxy>,
}

impl KubeProxies {
    /// Makes kube-proxy's identity (`system:kube-proxy`) and kubeconfig in
    /// the PKI directory against `server`; configurations go to `dir`,
    /// logs to `log_dir`. With `settings` None (no kube-proxy) it starts
    /// nothing.
    pub fn new(
        settings: Option<Settings>,
        pki: &Pki,
        server: &str,
        dir: &Path,
        log_dir: &Path,
    ) -> Result<KubeProxies, KubeProxyError> {
        let kubeconfig = if settings.is_some() {
            std::fs::create_dir_all(dir).map_err(|e| KubeProxyError::Write(dir.into(), e))?;
            let pair = pki.client(USER, &[])?;
            pki.kubeconfig("kube-proxy.kubeconfig", server, &pair)?
        } else {
            PathBuf::new()
        };
        Ok(KubeProxies {
            settings,
            kubeconfig,
            dir: dir.into(),
            log_dir: log_dir.into(),
            proxies: Vec::new(),
        })
    }

    /// The mode in use.
    pub fn mode(&self) -> ProxyMode {
        self.settings.as_ref().map_or(ProxyMode::None, |s| s.mode)
    }

    /// Starts the kube-proxy of `node` (whose Node object must exist:
    /// kube-proxy reads it at start) in the node's namespace, with its log
    /// in `<log_dir>/kube-proxy-<node>.log`.
    pub fn start(&mut self, node: &NodeNet) -> Result<(), KubeProxyError> {
        let Some(settings) = &self.settings else {
            return Ok(());
        };
        prepare_node(node)?;
        let path = self.dir.join(format!("{}.yaml", node.name));
        let text = serde_json::to_string_pretty(&config(settings, node, &self.kubeconfig))
            .expect("a JSON value serializes");
        std::fs::write(&path, text).map_err(|e| KubeProxyError::Write(path.clone(), e))?;
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", node.name))
            .arg("--")
            .arg(&settings.program)
            .arg(format!("--config={}", path.display()))
            // V(2) logs each sync ("SyncProxyRules complete" with its
            // elapsed time) and the endpoint changes it saw.
            .arg("--v=2");
        let process = Component::start(&format!("kube-proxy-{}", node.name), cmd, &self.log_dir)?;
        tracing::debug!(
            "kube-proxy {} ({}) of {} started, pid {}",
            settings.version.text,
            settings.mode,
            node.name,
            process.pid()
        );
        self.proxies.push(KubeProxy {
            node: node.name.clone(),
            metrics: SocketAddr::from((node.ip, METRICS_PORT)),
            process,
        });
        Ok(())
    }

    /// Waits until every started kube-proxy has synced its rules once
    /// (its [`LAST_SYNC_METRIC`] is set), failing with a proxy's log when it
    /// exits or does not sync within `timeout`.
    pub async fn wait_synced(&mut self, timeout: Duration) -> Result<(), KubeProxyError> {
        let start = Instant::now();
        let mut pending: Vec<usize> = (0..self.proxies.len()).collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for i in pending {
                let p = &mut self.proxies[i];
                p.process.check()?;
                if last_sync(p.metrics).await.is_none() {
                    still.push(i);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if start.elapsed() > timeout {
                let p = &self.proxies[pending[0]];
                return Err(KubeProxyError::NotSynced {
                    node: p.node.clone(),
                    timeout,
                    metrics: p.metrics,
                    log: p.process.log.clone(),
                    tail: tail(&p.process.log, 15),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Ok while every kube-proxy runs; the exit and log of one that died.
    pub fn check(&mut self) -> Result<(), ProcessError> {
        for p in &mut self.proxies {
            p.process.check()?;
        }
        Ok(())
    }

    /// Removes the kube-proxies that have exited, returning each one's
    /// exit and the end of its log.
    pub fn reap_dead(&mut self) -> Vec<ProcessError> {
        let mut dead = Vec::new();
        self.proxies.retain_mut(|p| match p.process.check() {
            Ok(()) => true,
            Err(e) => {
                dead.push(e);
                false
            }
        });
        dead
    }

    /// Stops them, newest first.
    pub fn stop(&mut self) {
        while let Some(mut p) = self.proxies.pop() {
            p.process.stop(Duration::from_secs(2));
        }
    }
}

impl Drop for KubeProxies {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The node namespace's sysctls kube-proxy expects:
/// `net.bridge.bridge-nf-call-iptables = 1` where br_netfilter is loaded
/// (see the module's docs), a warning where it is not.
fn prepare_node(node: &NodeNet) -> Result<(), KubeProxyError> {
    let present = node
        .ns
        .run(|| Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables").exists())?;
    if present {
        node.ns
            .sysctls(&[("net.bridge.bridge-nf-call-iptables", "1")])?;
    } else {
        tracing::warn!(
            "the br_netfilter module is not loaded (a host-wide setting the lab leaves alone): \
             on {}, a pod reaching another pod of the same node through a Service will fail \
             (`modprobe br_netfilter` fixes it)",
            node.name
        );
    }
    Ok(())
}

/// The time of kube-proxy's last successful sync (seconds since the
/// epoch) from its metrics at `addr`, or None before the first (or when it
/// does not answer). In 1.37 the newest over the IP families.
pub async fn last_sync(addr: SocketAddr) -> Option<f64> {
    let text = scrape(addr, "/metrics").await?;
    parse_last_sync(&text)
}

/// [`LAST_SYNC_METRIC`] from a Prometheus text page: the largest value
/// above 0, if any.
pub fn parse_last_sync(text: &str) -> Option<f64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(LAST_SYNC_METRIC)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .reduce(f64::max)
}

/// GET `path` over plain HTTP/1.0 from the lab's world; the body of a 200.
pub async fn scrape(addr: SocketAddr, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.")
            .then(|| head.split_whitespace().nth(1) == Some("200"))
            .filter(|ok| *ok)
            .map(|_| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(2), fut)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn node() -> NodeNet {
        NodeNet {
            name: "node-c".into(),
            ns: crate::host::netns::Netns {
                name: "node-c".into(),
            },
            ip: Ipv4Addr::new(198, 19, 0, 3),
            index: 2,
        }
    }

    fn settings(mode: ProxyMode, version: &str) -> Settings {
        Settings {
            mode,
            min_sync_period: None,
            program: "kube-proxy".into(),
            version: Version::parse(version).unwrap(),
        }
    }

    #[test]
    fn versions_parse_as_kube_proxy_prints_them() {
        let v = Version::parse("Kubernetes v1.37.2\n").unwrap();
        assert_eq!((v.major, v.minor, v.text.as_str()), (1, 37, "v1.37.2"));
        let v = Version::parse("Kubernetes v1.30.0-alpha.1").unwrap();
        assert_eq!((v.major, v.minor), (1, 30));
        assert!(Version::parse("Kubernetes").is_none());
    }

    #[test]
    fn the_configuration_has_the_node_and_leaves_host_wide_settings_alone() {
        let cfg = config(
            &settings(ProxyMode::Iptables, "v1.26.3"),
            &node(),
            Path::new("/k"),
        );
        assert_eq!(cfg["kind"], "KubeProxyConfiguration");
        assert_eq!(cfg["apiVersion"], "kubeproxy.config.k8s.io/v1alpha1");
        assert_eq!(cfg["hostnameOverride"], "node-c");
        assert_eq!(cfg["bindAddress"], "198.19.0.3");
        assert_eq!(cfg["metricsBindAddress"], "198.19.0.3:10249");
        assert_eq!(cfg["healthzBindAddress"], "198.19.0.3:10256");
        assert_eq!(cfg["clusterCIDR"], "198.18.0.0/16");
        assert_eq!(cfg["clientConnection"]["kubeconfig"], "/k");
        assert_eq!(cfg["mode"], "iptables");
        assert_eq!(cfg["conntrack"]["maxPerCore"], 0);
        assert_eq!(cfg["conntrack"]["tcpEstablishedTimeout"], "0s");
        assert_eq!(cfg["conntrack"]["tcpCloseWaitTimeout"], "0s");
        // minSyncPeriod stays kube-proxy's default; no section 1.26 lacks.
        assert!(cfg.get("iptables").is_none() && cfg.get("nftables").is_none());
        assert!(cfg.get("featureGates").is_none());
    }

    #[test]
    fn min_sync_period_goes_to_the_section_of_the_mode() {
        let mut s = settings(ProxyMode::Nftables, "v1.37.2");
        s.min_sync_period = Some(Duration::from_millis(1500));
        let cfg = config(&s, &node(), Path::new("/k"));
        assert_eq!(cfg["nftables"]["minSyncPeriod"], "1500ms");
        assert!(cfg.get("iptables").is_none());
        assert!(cfg.get("featureGates").is_none(), "GA in 1.33");
        let cfg = config(
            &settings(ProxyMode::Nftables, "v1.29.4"),
            &node(),
            Path::new("/k"),
        );
        assert_eq!(cfg["featureGates"]["NFTablesProxyMode"], true);
    }

    #[test]
    fn nftables_needs_1_29() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kube-proxy");
        std::fs::write(&bin, "#!/bin/sh\necho Kubernetes v1.26.3\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = preflight(dir.path(), ProxyMode::Nftables, None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("1.29 or later") && msg.contains("v1.26.3"),
            "{msg}"
        );
        assert!(
            preflight(dir.path(), ProxyMode::None, None)
                .unwrap()
                .is_none()
        );
        let empty = tempfile::tempdir().unwrap();
        let err = preflight(empty.path(), ProxyMode::Iptables, None).unwrap_err();
        assert!(err.to_string().contains("--proxy-mode none"), "{err}");
    }

    #[test]
    fn the_last_sync_is_read_from_both_versions_metrics() {
        let v126 = "# HELP x\nkubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7e+09\n\
                    kubeproxy_sync_proxy_rules_last_timestamp_seconds_x 5\n";
        assert_eq!(parse_last_sync(v126), Some(1.7e9));
        let v137 = "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1.8e+09\n\
                    kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"} 1.9e+09\n";
        assert_eq!(parse_last_sync(v137), Some(1.9e9));
        assert_eq!(
            parse_last_sync("kubeproxy_sync_proxy_rules_last_timestamp_seconds 0\n"),
            None
        );
    }
}
