//! `run.json` of a lab run: what was drawn ([`Plan`]), what happened
//! ([`Seen`]), and the ground truth.

use std::process::ExitStatus;
use std::time::Duration;

use seamless_proto::{GroundTruth, RunInfo};
use serde_json::json;

use crate::kubelet::{Pod, Terminated};
use crate::proxy::Removed;
use crate::proxy::delay::SplitMix64;
use crate::spec::RunSpec;

/// What a run draws from its seed: pod names and the two delays.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The old pod's name.
    pub old_name: String,
    /// The new pod's name.
    pub new_name: String,
    /// The new endpoint's propagation delay.
    pub add_delay: Duration,
    /// The old endpoint's removal delay.
    pub remove_delay: Duration,
}

fn suffix(rng: &mut SplitMix64) -> String {
    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut v = rng.next_u64();
    (0..5)
        .map(|_| {
            let c = A[(v % A.len() as u64) as usize] as char;
            v /= A.len() as u64;
            c
        })
        .collect()
}

impl Plan {
    /// Draws the plan from `spec.seed`, in a fixed order (so a recorded seed
    /// replays it).
    pub fn draw(spec: &RunSpec) -> Plan {
        let mut rng = SplitMix64::new(spec.seed);
        let rs_hash = suffix(&mut rng).replace(|c: char| c.is_ascii_digit(), "d");
        let old_name = format!("web-{rs_hash}-{}", suffix(&mut rng));
        let new_name = format!("web-{}-{}", suffix(&mut rng), suffix(&mut rng));
        let add_delay = spec.add_delay.draw(&mut rng);
        let remove_delay = spec.remove_delay.draw(&mut rng);
        Plan {
            old_name,
            new_name,
            add_delay,
            remove_delay,
        }
    }
}

/// What a run saw, for run.json.
#[derive(Debug)]
pub struct Seen<'a> {
    /// What the agent probed.
    pub url: String,
    /// The trigger's text.
    pub trigger: String,
    /// Start and end of the run, wall-clock ns.
    pub started_ns: i64,
    /// End of the run.
    pub ended_ns: i64,
    /// When the old pod was deleted.
    pub term_ns: i64,
    /// kubelet's termination of the old pod.
    pub term: Terminated,
    /// kube-proxy's removal of its endpoint.
    pub removed: Removed,
    /// The old pod's node.
    pub old_node: &'a str,
    /// The old pod's address.
    pub old_addr: std::net::SocketAddrV4,
    /// The new pod.
    pub new: &'a Pod,
    /// The agent's exit, when it exited by itself.
    pub agent_status: Option<ExitStatus>,
    /// Interrupted while settling.
    pub interrupted: bool,
}

/// The lab's run.json.
pub fn lab_info(spec: &RunSpec, plan: &Plan, seen: &Seen<'_>) -> RunInfo {
    let applied = seen.removed.applied;
    let mut truth = GroundTruth::from_race(seen.term.stopped_ns, Some(applied.committed_ns));
    truth.old_rule_commit_written_ns = Some(applied.started_ns);
    truth.old_rule_restore_exited_ns = Some(applied.exited_ns);
    truth.old_rule_commit_seen_by = Some(applied.method);
    truth.sigterm_ns = Some(seen.term.sigterm_ns);
    truth.pod_terminating_ns = Some(seen.term_ns);
    truth.old_backend_conns = seen.term.conns.as_ref().map(|w| w.conns.clone());
    let mut info = RunInfo {
        scenario: Some(spec.scenario.to_string()),
        source: Some("lab".into()),
        target: Some(seen.url.clone()),
        trigger: Some(seen.trigger.clone()),
        clock: Some(
            "one machine: agent, lab and backends all use CLOCK_REALTIME of the same kernel".into(),
        ),
        started_ns: Some(seen.started_ns),
        ended_ns: Some(seen.ended_ns),
        ground_truth: Some(truth),
        ..Default::default()
    };
    info.versions
        .insert("seamless-lab".into(), env!("CARGO_PKG_VERSION").into());
    let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
    let new = seen.new;
    info.extra.insert(
        "lab".into(),
        json!({
            "seed": spec.seed,
            "network": lower(&spec.scenario.network),
            "access": lower(&spec.scenario.access),
            "prestop_s": spec.scenario.has_prestop().then_some(spec.prestop.as_secs_f64()),
            "grace_period_s": spec.grace.as_secs_f64(),
            "backend": lower(&spec.backend),
            "add_delay": spec.add_delay.to_string(),
            "remove_delay": spec.remove_delay.to_string(),
            "add_delay_drawn_ms": plan.add_delay.as_secs_f64() * 1e3,
            "remove_delay_drawn_ms": plan.remove_delay.as_secs_f64() * 1e3,
            "remove_delay_actual_ms": (applied.committed_ns - seen.term_ns) as f64 / 1e6,
            "conntrack_cleanup": spec.conntrack_cleanup,
            "conntrack_entries_deleted": seen.removed.conntrack_deleted,
            "rate": spec.rate,
            "agent_modes": spec.agent_modes,
            "agent_flags": crate::shutdown::agent_args(&spec.agent_modes, spec.agent_pool, spec.agent_no_idle_check),
            "shutdown": spec.shutdown.as_str(),
            "old_pod": { "name": plan.old_name, "node": seen.old_node, "address": seen.old_addr.to_string() },
            "new_pod": { "name": new.name, "node": new.node.name, "address": new.addr.to_string() },
            "old_exit": seen.term.exit,
            "sigkill": seen.term.sigkill_ns.is_some(),
            "agent_exit": seen.agent_status.and_then(|s| s.code()),
            "rootless": spec.rootless,
            "interrupted": seen.interrupted,
        }),
    );
    info.extra.insert(
        "strategy".into(),
        json!({"type": "RollingUpdate", "maxSurge": 1, "maxUnavailable": 0}),
    );
    info
}
