//! What the probing node's conntrack still holds for the old backend once
//! kube-proxy has taken it out of the rules ([`ConntrackHeld`]: why a
//! connect can meet a dead pod long after its rule went).

use std::collections::BTreeMap;
use std::process::Command;

use seamless_proto::run::ConntrackHeld;

use crate::host::netns::Netns;

/// Counts, in `node`'s namespace, the TCP entries whose reply comes from
/// `ip` (`conntrack -L -p tcp --reply-src IP`), by state. `None`, logged,
/// when conntrack cannot be run there.
pub fn held(node: &Netns, ip: &str, now_ns: i64) -> Option<ConntrackHeld> {
    let ip = ip.to_owned();
    let out = node.run(move || {
        Command::new("conntrack")
            .args(["-L", "-p", "tcp", "--reply-src", &ip])
            .output()
    });
    match out {
        Ok(Ok(o)) if o.status.success() => Some(parse(&String::from_utf8_lossy(&o.stdout), now_ns)),
        Ok(Ok(o)) => {
            tracing::warn!(
                "conntrack -L in {}: {}",
                node.name,
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Ok(Err(e)) => {
            tracing::warn!("conntrack: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("conntrack in {}: {e}", node.name);
            None
        }
    }
}

/// `conntrack -L` lines: `tcp 6 117 SYN_SENT src=... dst=... ...`; the
/// state is the fourth word (entries without one, such as a fresh UNREPLIED
/// entry of another protocol, count under `-`).
fn parse(text: &str, counted_ns: i64) -> ConntrackHeld {
    let mut by_state = BTreeMap::new();
    let mut entries = 0;
    for line in text.lines().filter(|l| l.starts_with("tcp")) {
        entries += 1;
        let state = line
            .split_whitespace()
            .nth(3)
            .filter(|w| !w.contains('='))
            .unwrap_or("-");
        *by_state.entry(state.to_owned()).or_insert(0) += 1;
    }
    ConntrackHeld {
        counted_ns,
        entries,
        by_state,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_entries_by_state() {
        let t = "tcp      6 117 SYN_SENT src=198.18.3.2 dst=198.19.100.54 sport=40000 dport=80 [UNREPLIED] src=198.18.1.10 dst=198.18.3.2 sport=80 dport=40000 mark=0 use=1\n\
                 tcp      6 118 SYN_SENT src=198.18.3.2 dst=198.19.100.54 sport=40002 dport=80 [UNREPLIED] src=198.18.1.10 dst=198.18.3.2 sport=80 dport=40002 mark=0 use=1\n\
                 tcp      6 8 CLOSE src=198.18.3.2 dst=198.19.100.54 sport=40004 dport=80 src=198.18.1.10 dst=198.18.3.2 sport=80 dport=40004 mark=0 use=1\n";
        let h = super::parse(t, 7);
        assert_eq!(h.entries, 3);
        assert_eq!(h.by_state["SYN_SENT"], 2);
        assert_eq!(h.by_state["CLOSE"], 1);
        assert_eq!(h.counted_ns, 7);
        assert_eq!(super::parse("", 0).entries, 0);
    }
}
