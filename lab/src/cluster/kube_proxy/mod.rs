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
//!
//! Modules: `preflight` (the binary, its version, the host's tools),
//! `config` (the `KubeProxyConfiguration` of a node), `proxies` (the
//! processes, one per node), `metrics` (the last sync, from `/metrics`).

mod config;
mod metrics;
mod preflight;
mod proxies;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::pki::PkiError;
use super::process::ProcessError;

pub use config::config;
pub use metrics::{last_sync, parse_last_sync, scrape};
pub use preflight::{Settings, Version, preflight};
pub use proxies::{KubeProxies, KubeProxy};

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
