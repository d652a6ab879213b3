//! The conntrack cleanup after the old endpoint's removal (lab-only; real
//! kube-proxy cleans conntrack for UDP only).

use std::net::SocketAddrV4;
use std::process::Command;

/// Deletes the conntrack entries of connections `ep` reset (marked by
/// [`super::Service::mark_rules`]): refused connects whose CLOSE entry
/// would otherwise keep steering a reused client port to the dead pod for
/// ~10 s. Only those few: deleting every CLOSE entry (thousands, one per
/// finished probe) takes tens of ms, during which a reused tuple's new,
/// live entry can be deleted instead. Returns how many went; a failure to
/// run `conntrack` is logged and counts 0.
pub fn delete_reset(ep: SocketAddrV4) -> usize {
    let out = Command::new("conntrack")
        .args(["-D", "-p", "tcp", "--mark", "1/1", "--reply-src"])
        .arg(ep.ip().to_string())
        .args(["--reply-port-src", &ep.port().to_string()])
        .output();
    match out {
        Ok(o) => deleted_count(&String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            tracing::warn!("conntrack: {e}");
            0
        }
    }
}

/// `conntrack -D` says `... N flow entries have been deleted.`
fn deleted_count(text: &str) -> usize {
    text.split_whitespace()
        .zip(text.split_whitespace().skip(1))
        .find(|(_, w)| w.starts_with("flow"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_what_conntrack_reports() {
        let t = "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n";
        assert_eq!(super::deleted_count(t), 3);
        assert_eq!(super::deleted_count("nothing"), 0);
    }
}
