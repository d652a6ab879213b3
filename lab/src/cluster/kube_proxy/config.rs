//! The `KubeProxyConfiguration` of one node.

use std::path::Path;

use super::{HEALTHZ_PORT, METRICS_PORT, ProxyMode, Settings};
use crate::cluster::network::{CLUSTER_CIDR, NodeNet};

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
        // A Go duration, to the nanosecond.
        cfg[section] = serde_json::json!({"minSyncPeriod": format!("{}ns", p.as_nanos())});
    }
    if settings.mode == ProxyMode::Nftables && !settings.version.at_least(1, 31) {
        cfg["featureGates"] = serde_json::json!({"NFTablesProxyMode": true});
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kube_proxy::Version;
    use std::net::Ipv4Addr;
    use std::time::Duration;

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
        assert_eq!(cfg["nftables"]["minSyncPeriod"], "1500000000ns");
        assert!(cfg.get("iptables").is_none());
        assert!(cfg.get("featureGates").is_none(), "GA in 1.33");
        let cfg = config(
            &settings(ProxyMode::Nftables, "v1.29.4"),
            &node(),
            Path::new("/k"),
        );
        assert_eq!(cfg["featureGates"]["NFTablesProxyMode"], true);
    }
}
