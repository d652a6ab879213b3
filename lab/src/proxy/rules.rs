//! kube-proxy (iptables mode) in miniature: the nat chains of one Service,
//! rendered as one `iptables-restore --noflush` transaction per endpoint
//! change, as kube-proxy writes them.
//!
//! ```text
//! PREROUTING, OUTPUT -> KUBE-SERVICES      POSTROUTING -> KUBE-POSTROUTING
//! KUBE-SERVICES  -d VIP --dport 80        -> KUBE-SVC-<hash>
//! KUBE-SERVICES  --dst-type LOCAL         -> KUBE-NODEPORTS
//! KUBE-NODEPORTS --dport 30080            -> KUBE-EXT-<hash> -> MARK-MASQ, KUBE-SVC-<hash>
//! KUBE-SVC-<hash> statistic random        -> KUBE-SEP-<hash> (one per endpoint)
//! KUBE-SEP-<hash> -s self -> MARK-MASQ;  DNAT --to-destination ip:port
//! KUBE-POSTROUTING mark 0x4000            -> MASQUERADE --random-fully
//! ```

use std::net::SocketAddrV4;

use super::restore::Canary;

/// The Service the lab emulates.
#[derive(Debug, Clone)]
pub struct Service {
    /// `namespace/name`, hashed into chain names and written in comments.
    pub name: String,
    /// ClusterIP and port.
    pub cluster_ip: SocketAddrV4,
    /// NodePort.
    pub node_port: u16,
    /// The pod CIDR: traffic from outside it to the ClusterIP is masqueraded.
    pub cluster_cidr: String,
}

/// Chain name suffix as kube-proxy builds it: a hash of what the chain is
/// for, 16 characters of base32-like text.
pub fn chain_hash(what: &str) -> String {
    // FNV-1a 64: stable and dependency-free; collisions are irrelevant at
    // the lab's handful of chains.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in what.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    (0..16)
        .map(|i| ALPHABET[((h >> ((i * 4) % 60)) & 31) as usize] as char)
        .collect()
}

impl Service {
    fn svc_chain(&self) -> String {
        format!("KUBE-SVC-{}", chain_hash(&format!("{}:http", self.name)))
    }

    fn ext_chain(&self) -> String {
        format!("KUBE-EXT-{}", chain_hash(&format!("{}:http", self.name)))
    }

    /// The KUBE-SEP chain of one endpoint.
    pub fn sep_chain(&self, ep: SocketAddrV4) -> String {
        format!(
            "KUBE-SEP-{}",
            chain_hash(&format!("{}:http:{ep}", self.name))
        )
    }

    /// The jumps from the built-in chains, installed once when the node
    /// starts (kube-proxy checks and inserts these outside its restore).
    pub fn base_rules(&self) -> String {
        "*nat\n\
         :KUBE-SERVICES - [0:0]\n\
         :KUBE-POSTROUTING - [0:0]\n\
         -A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
         COMMIT\n"
            .to_owned()
    }

    /// The lab's own instrumentation (not kube-proxy's): marks the conntrack
    /// entry of every connection a backend answered with RST (a refused
    /// connect, or a reset at the kill), so the optional conntrack cleanup
    /// deletes exactly those and nothing else.
    pub fn mark_rules() -> &'static str {
        "*mangle\n\
         -A INPUT -p tcp -m tcp --tcp-flags RST RST -m conntrack --ctdir REPLY \
         -m comment --comment \"seamless lab: reset by a backend\" \
         -j CONNMARK --set-xmark 0x1/0x1\n\
         COMMIT\n"
    }

    /// One sync: every kube-proxy chain re-declared (which flushes it) and
    /// refilled for `endpoints`; the KUBE-SEP chains of `stale` endpoints
    /// deleted, all in one transaction.
    pub fn sync_rules(&self, endpoints: &[SocketAddrV4], stale: &[SocketAddrV4]) -> String {
        self.sync_rules_with(endpoints, stale, None)
    }

    /// [`Service::sync_rules`], plus the lab's commit canary when given.
    pub fn sync_rules_with(
        &self,
        endpoints: &[SocketAddrV4],
        stale: &[SocketAddrV4],
        canary: Option<Canary>,
    ) -> String {
        let svc = self.svc_chain();
        let ext = self.ext_chain();
        let vip = self.cluster_ip;
        let name = &self.name;
        let mut s = String::from("*nat\n");
        for chain in [
            "KUBE-SERVICES",
            "KUBE-NODEPORTS",
            "KUBE-POSTROUTING",
            "KUBE-MARK-MASQ",
            &svc,
            &ext,
        ] {
            s += &format!(":{chain} - [0:0]\n");
        }
        for ep in endpoints.iter().chain(stale) {
            s += &format!(":{} - [0:0]\n", self.sep_chain(*ep));
        }
        s += "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n";
        s += "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n";
        s += "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n";
        s += "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n";
        s += &format!(
            "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"{name}:http cluster IP\" -m tcp --dport {} -j {svc}\n",
            vip.ip(),
            vip.port()
        );
        if let Some(c) = canary {
            s += &format!(
                "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"seamless lab: commit canary\" -m tcp --dport {} -j DNAT --to-destination {}\n",
                c.from.ip(),
                c.from.port(),
                c.to
            );
        }
        s += "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n";
        s += &format!(
            "-A KUBE-NODEPORTS -p tcp -m comment --comment \"{name}:http\" -m tcp --dport {} -j {ext}\n",
            self.node_port
        );
        s += &format!(
            "-A {ext} -m comment --comment \"masquerade traffic for {name}:http external destinations\" -j KUBE-MARK-MASQ\n"
        );
        s += &format!("-A {ext} -j {svc}\n");
        s += &format!(
            "-A {svc} ! -s {} -d {}/32 -p tcp -m comment --comment \"{name}:http cluster IP\" -m tcp --dport {} -j KUBE-MARK-MASQ\n",
            self.cluster_cidr,
            vip.ip(),
            vip.port()
        );
        let n = endpoints.len();
        for (i, ep) in endpoints.iter().enumerate() {
            let sep = self.sep_chain(*ep);
            let remaining = n - i;
            if remaining > 1 {
                s += &format!(
                    "-A {svc} -m comment --comment \"{name}:http -> {ep}\" -m statistic --mode random --probability {:.10} -j {sep}\n",
                    1.0 / remaining as f64
                );
            } else {
                s += &format!("-A {svc} -m comment --comment \"{name}:http -> {ep}\" -j {sep}\n");
            }
        }
        for ep in endpoints {
            let sep = self.sep_chain(*ep);
            s += &format!(
                "-A {sep} -s {}/32 -m comment --comment \"{name}:http\" -j KUBE-MARK-MASQ\n",
                ep.ip()
            );
            s += &format!(
                "-A {sep} -p tcp -m comment --comment \"{name}:http\" -m tcp -j DNAT --to-destination {ep}\n"
            );
        }
        for ep in stale {
            s += &format!("-X {}\n", self.sep_chain(*ep));
        }
        s += "COMMIT\n";
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Service {
        Service {
            name: "lab/web".into(),
            cluster_ip: "198.19.100.10:80".parse().unwrap(),
            node_port: 30080,
            cluster_cidr: "198.18.0.0/16".into(),
        }
    }

    #[test]
    fn two_endpoints_split_by_probability_and_stale_chain_deleted() {
        let s = svc();
        let a: SocketAddrV4 = "198.18.1.10:8080".parse().unwrap();
        let b: SocketAddrV4 = "198.18.2.10:8080".parse().unwrap();
        let old: SocketAddrV4 = "198.18.1.11:8080".parse().unwrap();
        let r = s.sync_rules(&[a, b], &[old]);
        assert!(r.starts_with("*nat\n") && r.ends_with("COMMIT\n"));
        assert!(r.contains("--probability 0.5000000000 -j KUBE-SEP-"));
        assert!(r.contains(&format!("-j DNAT --to-destination {a}")));
        assert!(r.contains(&format!("-j DNAT --to-destination {b}")));
        // The stale chain is declared (flushed) and then deleted.
        let stale = s.sep_chain(old);
        let decl = r.find(&format!(":{stale} ")).unwrap();
        let del = r.find(&format!("-X {stale}\n")).unwrap();
        assert!(decl < del);
        assert!(!r.contains(&format!("--to-destination {old}")));
        assert!(r.contains("MASQUERADE --random-fully"));
        assert!(r.contains("--dport 30080"));
    }

    #[test]
    fn hashes_are_stable_and_distinct() {
        let s = svc();
        let a: SocketAddrV4 = "198.18.1.10:8080".parse().unwrap();
        let b: SocketAddrV4 = "198.18.2.10:8080".parse().unwrap();
        assert_eq!(s.sep_chain(a), s.sep_chain(a));
        assert_ne!(s.sep_chain(a), s.sep_chain(b));
        // iptables chain names are limited to 28 characters.
        assert!(s.sep_chain(a).len() <= 28);
    }
}
