//! Cluster DNS: the real CoreDNS (built from source beside the other
//! components), with kubeadm's Corefile for its `kubernetes` plugin, so
//! `web.seamless-demo.svc` resolves in pods as on a cluster. It runs as a
//! component of the control plane, on the control plane's address, port 53
//! (kubelet's `--cluster-dns` points the pods' resolv.conf at it), reading
//! Services and EndpointSlices through its own kubeconfig instead of a pod's
//! service-account token (our kubelet mounts none). Without a coredns
//! binary (e.g. `--kubernetes-bin` with the release binaries only) the lab
//! runs without cluster DNS and says so.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use super::network::CONTROL_PLANE_IP;
use super::process::{Component, ProcessError};

/// The address pods resolve names at.
pub const DNS_IP: Ipv4Addr = CONTROL_PLANE_IP;

/// kubeadm's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go),
/// less `forward` (nothing upstream is reachable from the lab) and with
/// the kubeconfig the plugin reads the API through.
pub fn corefile(kubeconfig: &Path) -> String {
    format!(
        ".:53 {{\n    errors\n    health {{\n        lameduck 5s\n    }}\n    ready 127.0.0.1:8181\n\
         \x20   kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        kubeconfig {}\n\
         \x20       pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 30\n    }}\n\
         \x20   cache 30\n    loop\n    reload\n    loadbalance\n}}\n",
        kubeconfig.display()
    )
}

/// Starts CoreDNS on [`DNS_IP`]:53 with its Corefile in `dir`.
pub fn start(
    coredns: &Path,
    kubeconfig: &Path,
    dir: &Path,
    log_dir: &Path,
) -> Result<Component, ProcessError> {
    let conf = dir.join("Corefile");
    std::fs::write(&conf, corefile(kubeconfig)).map_err(|e| ProcessError::Log(conf.clone(), e))?;
    let mut cmd = Command::new(coredns);
    cmd.arg("-conf")
        .arg(&conf)
        .arg("-dns.port")
        .arg("53")
        .current_dir(dir);
    // CoreDNS binds every address by default; in the world's namespace
    // that is the control plane's bridge and loopback only.
    Component::start("coredns", cmd, log_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corefile_reads_the_api_through_the_kubeconfig() {
        let c = corefile(Path::new("/run/x/dns.kubeconfig"));
        assert!(
            c.contains("kubernetes cluster.local in-addr.arpa ip6.arpa {"),
            "{c}"
        );
        assert!(c.contains("kubeconfig /run/x/dns.kubeconfig\n"), "{c}");
        assert!(!c.contains("forward"), "{c}");
    }
}
