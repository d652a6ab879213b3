//! The files the kubelet writes into every container: /etc/resolv.conf
//! after the pod's DNS policy (pkg/kubelet/network/dns/dns.go
//! `GetPodDNS`: ClusterFirst gives the cluster's nameserver, its search
//! path and `ndots:5`; hostNetwork pods under ClusterFirst, and Default,
//! keep the node's) and the kubelet-managed /etc/hosts
//! (pkg/kubelet/kubelet_pods.go `managedHostsFileContent`).

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;

/// The cluster's domain (kubelet's --cluster-domain).
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The pod's resolv.conf, or None to keep the node's.
pub fn resolv_conf(pod: &Pod, dns: Option<Ipv4Addr>) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_net = spec.host_network == Some(true);
    let cluster = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_net,
        _ => false,
    };
    let dns = dns.filter(|_| cluster)?;
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    Some(format!(
        "search {ns}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n\
         nameserver {dns}\noptions ndots:5\n"
    ))
}

/// The kubelet-managed /etc/hosts of a pod on the pod network.
pub fn hosts(pod_ip: &str, hostname: &str) -> String {
    format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n\
         {pod_ip}\t{hostname}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(policy: Option<&str>, host_net: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "seamless-demo"},
            "spec": {"containers": [], "dnsPolicy": policy, "hostNetwork": host_net}
        }))
        .unwrap()
    }

    #[test]
    fn cluster_first_gives_the_clusters_search_path() {
        let dns = Some(Ipv4Addr::new(198, 19, 0, 254));
        assert_eq!(
            resolv_conf(&pod(None, false), dns).unwrap(),
            "search seamless-demo.svc.cluster.local svc.cluster.local cluster.local\n\
             nameserver 198.19.0.254\noptions ndots:5\n"
        );
        assert!(
            resolv_conf(&pod(Some("ClusterFirst"), true), dns).is_none(),
            "hostNetwork keeps the node's"
        );
        assert!(resolv_conf(&pod(Some("ClusterFirstWithHostNet"), true), dns).is_some());
        assert!(resolv_conf(&pod(Some("Default"), false), dns).is_none());
        assert!(
            resolv_conf(&pod(None, false), None).is_none(),
            "no cluster DNS: the node's"
        );
    }
}
