//! One lab run, the sequence only: the actors are [`crate::host`] (the
//! cluster's network), [`crate::kubelet`] (pods), [`crate::proxy`]
//! (kube-proxy) and [`crate::agent`]; the run directory goes through
//! proto's [`RunDir`]; `run.json` is assembled in [`crate::runinfo`].
//!
//! The rollout is Kubernetes' for maxSurge 1 / maxUnavailable 0: the new pod
//! starts, is Ready, its endpoint is added; then the old pod is deleted and
//! two things race, exactly as in a cluster: kube-proxy removes the old
//! endpoint after the propagation delay, while kubelet runs preStop,
//! SIGTERM, the grace period, SIGKILL.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use seamless_proto::clock::now_ns;
use seamless_proto::timeline::{Event, EventKind, ObjectRef};
use seamless_proto::{RunDir, RunInfo};

use crate::agent::Agent;
use crate::host::topology::Cluster;
use crate::pause::{check, sleep};
use crate::proxy::KubeProxy;
use crate::record::LabTimeline;
use crate::runinfo::{self, Plan, Seen};
pub use crate::spec::{RunError, RunResult, RunSpec, Trigger, run_dir};

/// Runs one scenario into `spec.dir`.
pub fn run_one(spec: &RunSpec, stop: &AtomicBool) -> Result<RunResult, RunError> {
    let plan = Plan::draw(spec);
    let (dir, tl) = RunDir::create(&spec.dir)?;
    let tl = LabTimeline::new(tl);
    let started_ns = now_ns();
    // Dropped last: the pods' namespaces go before the nodes'.
    let cluster = Cluster::create()?;
    let proxy = KubeProxy::start(&cluster, spec.conntrack_cleanup)?;
    let kubelet = spec.kubelet();
    let [probing, _] = &cluster.nodes;

    // The old pod, on the probing node, before the run starts.
    let mut old = kubelet.start_pod(probing, &plan.old_name, 0)?;
    kubelet.wait_ready(&mut old)?;
    proxy.sync_all(&[old.addr])?;
    let url = spec.url(probing);
    let mut agent = Agent::start(
        &probing.ns,
        &spec.agent_bin,
        &url,
        spec.rate,
        &crate::shutdown::agent_args(&spec.agent_modes, spec.agent_pool, spec.agent_no_idle_check),
        &dir.probe_log(&probing.name),
        &probing.name,
    )?;
    sleep(spec.warmup, stop)?;
    if let Some(s) = agent.exited() {
        return Err(RunError::AgentExited(s, agent.said()));
    }

    // The rollout: the new pod, Ready, its endpoint added after the delay.
    let target = spec.target_node(&cluster);
    let trigger = spec.trigger_text(target);
    tl.deployment(EventKind::PatchSent, Some(trigger.clone()))?;
    let (new, ready_ns) = kubelet.create(&tl, target, &plan.new_name, 1)?;
    tl.endpoint(
        ready_ns,
        EventKind::EndpointAdded,
        &new.name,
        &new.addr.to_string(),
        Some(&target.name),
    )?;
    let ready_at = Instant::now();
    check(stop)?;
    let added = proxy.add(&[old.addr, new.addr], ready_at + plan.add_delay)?;
    tl.rules_synced(
        added.committed_ns,
        &probing.name,
        &new.name,
        &new.addr.to_string(),
        "added",
    )?;

    // The old pod is deleted: kube-proxy and kubelet race.
    let term_ns = old_pod_deleted(&tl, &old, spec.grace)?;
    let removal = {
        let (tl, node, pod, addr) = (tl.clone(), probing.name.clone(), old.name.clone(), old.addr);
        proxy.remove(
            new.addr,
            old.addr,
            Instant::now() + plan.remove_delay,
            move |a| tl.rules_synced(a.committed_ns, &node, &pod, &addr.to_string(), "removed"),
        )
    };
    let term = kubelet.terminate(&mut old, &tl, stop);
    let removed = removal
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
    let term = term?;
    let (old_node, old_addr) = (old.node.name.clone(), old.addr);
    drop(old);
    tl.pod(EventKind::PodDeleted, &plan.old_name, &old_node)?;
    tl.emit(Event::new(now_ns(), EventKind::OldPodsGone))?;

    // Settle, stop the agent, write run.json.
    let settled = sleep(spec.settle, stop);
    let agent_status = agent.stop(Duration::from_secs(10));
    let ended_ns = now_ns();
    tl.emit(Event::new(ended_ns, EventKind::RunEnd))?;
    let seen = Seen {
        url,
        trigger,
        started_ns,
        ended_ns,
        term_ns,
        term,
        removed,
        old_node: &old_node,
        old_addr,
        new: &new,
        agent_status,
        interrupted: settled.is_err(),
    };
    let info: RunInfo = runinfo::lab_info(spec, &plan, &seen);
    dir.write_info(&info)?;
    settled?;
    Ok(RunResult { info })
}

/// The old pod's deletion as the API shows it: pod_terminating, the
/// rollout complete, its endpoint removed from the slice. Returns its time.
fn old_pod_deleted(
    tl: &LabTimeline,
    old: &crate::kubelet::Pod,
    grace: Duration,
) -> Result<i64, RunError> {
    let term_ns = now_ns();
    let mut e = Event::new(term_ns, EventKind::PodTerminating)
        .with_object(ObjectRef::new("Pod", &old.name))
        .with_node(&old.node.name);
    e.grace_period_s = Some(grace.as_secs() as i64);
    tl.emit(e)?;
    tl.deployment(EventKind::RolloutComplete, None)?;
    tl.endpoint(
        term_ns,
        EventKind::EndpointRemoved,
        &old.name,
        &old.addr.to_string(),
        Some(&old.node.name),
    )?;
    Ok(term_ns)
}
