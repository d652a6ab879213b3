//! The lab's ground truth in `run.json`: what really happened, to check the
//! analyzer's figures against (`seamless-analyzer check-truth`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A closed interval of wall-clock time, ns since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interval {
    /// Start, ns.
    pub start_ns: i64,
    /// End, ns.
    pub end_ns: i64,
}

/// How the lab learnt the moment the old endpoint's rule commit took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitSeenBy {
    /// The first refused connect through the lab's commit canary rule (the
    /// data path itself).
    Canary,
    /// The kernel's nftables netlink notification.
    Netlink,
    /// iptables-restore seen back reading stdin in /proc.
    Proc,
    /// Nothing better: iptables-restore's exit (~15 ms late).
    Exit,
    /// A method this build does not know (a newer writer).
    #[serde(other)]
    Unknown,
}

impl CommitSeenBy {
    /// The name written in run.json.
    pub fn name(self) -> &'static str {
        match self {
            CommitSeenBy::Canary => "canary",
            CommitSeenBy::Netlink => "netlink",
            CommitSeenBy::Proc => "proc",
            CommitSeenBy::Exit => "exit",
            CommitSeenBy::Unknown => "unknown",
        }
    }
}

/// What the lab knows happened. All times are wall-clock ns (the same
/// kernel's CLOCK_REALTIME as the agent's probes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// When the old backend stopped accepting connections (its listener
    /// closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_backend_stopped_ns: Option<i64>,
    /// When the old backend's rule left the probing node's chains (the
    /// commit took effect, as seen by [`GroundTruth::old_rule_commit_seen_by`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_rule_removed_ns: Option<i64>,
    /// Intervals during which new connections to the service could fail:
    /// `[stopped, removed]` when the backend stopped first, else empty.
    #[serde(default)]
    pub outages: Vec<Interval>,
    /// When the lab wrote the removal's `COMMIT` line: the commit took effect
    /// between this and `old_rule_removed_ns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_rule_commit_written_ns: Option<i64>,
    /// When iptables-restore exited after the removal (later than the
    /// commit, by the time it takes to close its netlink socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_rule_restore_exited_ns: Option<i64>,
    /// How `old_rule_removed_ns` was learnt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_rule_commit_seen_by: Option<CommitSeenBy>,
    /// When kubelet sent SIGTERM to the old pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigterm_ns: Option<i64>,
    /// When the old pod was deleted (its deletionTimestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_terminating_ns: Option<i64>,
    /// What the probing node's conntrack still held for the old backend
    /// when probing stopped (real-component runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack_held: Option<ConntrackHeld>,
    /// When the old backend closed its clients' connections (real-component
    /// runs): its established connections on the serving port, watched
    /// from the deletion until none is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_backend_conns: Option<BackendConns>,
    /// Anything else a writer records; no reader relies on it.
    #[serde(default, flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The probing node's conntrack entries still NATed to the old backend
/// after its rule left the data path.
///
/// A connect that timed out against the dead backend leaves a `SYN_SENT`
/// entry (nf_conntrack_tcp_timeout_syn_sent, 120 s by default); kube-proxy
/// deletes stale conntrack entries for UDP only. A later connect that
/// reuses the same client port to the same Service address matches that
/// entry, takes its NAT and meets the dead backend again, however long ago
/// the rule went: failures after the race's outage. Once the pod's address
/// is gone such a SYN goes nowhere (a connect timeout, or no route to host
/// when the node's neighbour lookup for it fails); a `CLOSE` entry (a
/// refused connect) sends it back to the closed port while the pod lives
/// (a refusal).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConntrackHeld {
    /// When the entries were counted (ns).
    pub counted_ns: i64,
    /// TCP entries whose reply comes from the old backend's address.
    pub entries: u32,
    /// Of those, by conntrack state (`SYN_SENT`, `CLOSE`, ...).
    #[serde(default)]
    pub by_state: BTreeMap<String, u32>,
}

/// The old backend's established connections on its serving port (the
/// kept-alive connections of clients), from the pod's deletion on: when the
/// server closed them, fast (at SIGTERM) or gracefully (a drain).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendConns {
    /// When the watch started, ns (the old pod's deletion seen by kubelet).
    pub watched_from_ns: i64,
    /// Established connections on the port then.
    pub open_at_start: u32,
    /// Of those, the ones still open 50 ms later: kept-alive connections
    /// (a new connection's probe ends in a few ms). The times below are
    /// theirs.
    #[serde(default)]
    pub kept_alive: u32,
    /// The most seen open at once during the watch.
    pub max_open: u32,
    /// When the first kept-alive connection was gone, ns (none when the
    /// backend closed them all within those 50 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_closed_ns: Option<i64>,
    /// When none of the connections open at the start was left, ns: a
    /// new connection's probe ends within a few ms, so a later time is the
    /// backend's closing of the kept-alive ones, however soon it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_closed_ns: Option<i64>,
    /// How often the table was read, ns.
    pub poll_ns: i64,
}

impl GroundTruth {
    /// The ground truth from the two racing times: an outage when the
    /// backend stopped accepting before its rule left the probing node.
    pub fn from_race(stopped_ns: Option<i64>, removed_ns: Option<i64>) -> GroundTruth {
        let outages = match (stopped_ns, removed_ns) {
            (Some(s), Some(r)) if s < r => vec![Interval {
                start_ns: s,
                end_ns: r,
            }],
            _ => Vec::new(),
        };
        GroundTruth {
            old_backend_stopped_ns: stopped_ns,
            old_rule_removed_ns: removed_ns,
            outages,
            ..Default::default()
        }
    }

    /// The earliest the outage can have ended: the commit took effect
    /// between the lab writing `COMMIT` and seeing it on the data path.
    pub fn earliest_end_ns(&self, end_ns: i64) -> i64 {
        self.old_rule_commit_written_ns
            .unwrap_or(end_ns)
            .min(end_ns)
    }

    /// The earliest a new connection can have been doomed by the close
    /// that starts the outage at `start_ns`: the SIGTERM when it came
    /// first. A server may stop accepting on SIGTERM while its listener
    /// stays open (nginx's workers exit before the master closes the
    /// listening socket): connections the kernel queues meanwhile are reset
    /// at the close, so requests sent from the SIGTERM on fail too.
    pub fn doomed_from_ns(&self, start_ns: i64) -> i64 {
        self.sigterm_ns.unwrap_or(start_ns).min(start_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doomed_from_the_sigterm_when_it_came_first() {
        let mut t = GroundTruth::from_race(Some(100), Some(200));
        assert_eq!(t.doomed_from_ns(100), 100, "no SIGTERM recorded");
        t.sigterm_ns = Some(90);
        assert_eq!(t.doomed_from_ns(100), 90);
        t.sigterm_ns = Some(120);
        assert_eq!(t.doomed_from_ns(100), 100, "a SIGTERM after the close");
    }

    #[test]
    fn outage_only_when_the_backend_stops_first() {
        let t = GroundTruth::from_race(Some(10), Some(20));
        assert_eq!(
            t.outages,
            [Interval {
                start_ns: 10,
                end_ns: 20
            }]
        );
        assert!(
            GroundTruth::from_race(Some(30), Some(20))
                .outages
                .is_empty()
        );
        assert!(GroundTruth::from_race(None, Some(20)).outages.is_empty());
    }

    #[test]
    fn reads_the_committed_shape_and_keeps_unknown_fields() {
        let json = r#"{"old_backend_stopped_ns":1,"old_rule_removed_ns":3,
            "outages":[{"start_ns":1,"end_ns":3}],"old_rule_commit_seen_by":"canary",
            "old_rule_commit_written_ns":2,"old_rule_restore_exited_ns":4,
            "pod_terminating_ns":0,"sigterm_ns":1,"future":true}"#;
        let t: GroundTruth = serde_json::from_str(json).unwrap();
        assert_eq!(t.old_rule_commit_seen_by, Some(CommitSeenBy::Canary));
        assert_eq!(t.old_rule_commit_written_ns, Some(2));
        assert_eq!(t.earliest_end_ns(3), 2);
        assert_eq!(t.extra["future"], serde_json::json!(true));
        let back: serde_json::Value = serde_json::to_value(&t).unwrap();
        let orig: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, orig, "the JSON keeps its shape");
        let odd: GroundTruth =
            serde_json::from_str(r#"{"old_rule_commit_seen_by":"ebpf"}"#).unwrap();
        assert_eq!(odd.old_rule_commit_seen_by, Some(CommitSeenBy::Unknown));
    }
}
