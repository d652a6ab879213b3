//! The running kube-proxies: one shared identity, one process per node.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{KubeProxyError, METRICS_PORT, ProxyMode, Settings, USER};
use super::{config, last_sync};
use crate::cluster::network::NodeNet;
use crate::cluster::pki::Pki;
use crate::cluster::process::{Component, ProcessError, tail};

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
    /// (its [`LAST_SYNC_METRIC`](super::LAST_SYNC_METRIC) is set), failing
    /// with a proxy's log when it exits or does not sync within `timeout`.
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
