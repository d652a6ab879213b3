//! One run: agents up, clocks, the rollout, agents stopped, logs fetched
//! and written, the run's `run.json` completed.

use std::path::Path;

use kube::Client;
use seamless_proto::RunInfo;
use serde_json::json;

use super::agents::{agent_specs, probes, stop, wait_daemonset, wait_probing};
use super::cleanup::Cleanup;
use super::control::Endpoint;
use super::error::{Error, Result};
use super::params::{AgentRecord, Params, RunRecord, run_dir};
use super::plan::Plan;
use super::pod::Placement;
use super::signals::{Interrupts, interruptible};
use crate::rollout;

/// One run: agents up, clocks, the rollout, agents stopped, logs fetched.
pub(super) async fn run_once(
    client: &Client,
    p: &Params,
    plan: &Plan,
    i: u32,
    interrupts: &Interrupts,
    cleanup: &mut Cleanup,
) -> Result<RunRecord> {
    let dir = run_dir(&p.out, i);
    tracing::info!(run = i, of = p.repeat, dir = %dir.display(), "run starts");
    let specs = agent_specs(p, plan, i);
    let mut pods = Vec::new();
    for spec in &specs {
        if spec.placement == Placement::EveryNode {
            interruptible(interrupts, cleanup.create_daemonset(spec.daemonset())).await?;
        } else {
            interruptible(interrupts, cleanup.create(spec.pod())).await?;
        }
    }
    for spec in &specs {
        if spec.placement == Placement::EveryNode {
            pods.extend(interruptible(interrupts, wait_daemonset(client, p, &spec.name, i)).await?);
        } else {
            let node = interruptible(interrupts, wait_probing(client, p, &spec.name)).await?;
            pods.push((spec.name.clone(), node));
        }
    }
    // Every pod probes every target, a container each.
    let probes = probes(p, plan);
    let mut endpoints = Vec::new();
    for (pod, node) in &pods {
        for (probe, target) in probes.iter().zip(&plan.targets) {
            endpoints.push((
                Endpoint {
                    namespace: p.namespace.clone(),
                    pod: pod.clone(),
                    port: probe.port,
                },
                node.clone(),
                probe.container.clone(),
                target.clone(),
            ));
        }
    }
    let mut clocks = Vec::new();
    for (ep, node, _, _) in &endpoints {
        let c = interruptible(interrupts, ep.clock(client, p.clock_rounds)).await?;
        tracing::info!(pod = %ep.pod, %node, offset_ns = c.offset_ns, uncertainty_ns = c.uncertainty_ns, "clock");
        clocks.push(c);
    }

    // The rollout records its own run_end on Ctrl+C: it gets the interrupt
    // itself rather than being dropped.
    let params = rollout::Params {
        namespace: p.namespace.clone(),
        deployment: p.deployment.clone(),
        trigger: p.trigger.clone(),
        services: p.services.clone(),
        timeout: p.timeout,
        settle: p.settle,
        out: dir.clone(),
    };
    let summary = rollout::execute(client.clone(), &params, interrupts.reached(1)).await?;
    tracing::info!(events = summary.events, "rollout recorded");

    let mut agents = Vec::new();
    for ((ep, node, container, target), clock) in endpoints.iter().zip(clocks) {
        let done = interruptible(interrupts, stop(client, ep)).await?;
        let fetched = interruptible(interrupts, ep.fetch_log(client, &done)).await?;
        let agent = seamless_proto::run::agent_of(&done.log)
            .filter(|a| !a.contains('/') && !a.is_empty())
            .ok_or_else(|| Error::Agent {
                pod: ep.pod.clone(),
                reason: format!("its log is named {:?}, not probe-<agent>.log", done.log),
            })?
            .to_owned();
        let path = dir.join(seamless_proto::run::probe_log_name(&agent));
        write_new(&path, &fetched.bytes)?;
        tracing::info!(pod = %ep.pod, log = %path.display(), probes = fetched.probes, bytes = fetched.bytes.len(), "log fetched and verified");
        agents.push(AgentRecord {
            pod: ep.pod.clone(),
            node: node.clone(),
            agent,
            container: container.clone(),
            service: target.service.clone(),
            role: target.role,
            via: target.via,
            probes: fetched.probes,
            bytes: fetched.bytes.len() as u64,
            clock,
        });
    }
    let run = RunRecord { dir, agents };
    record_info(p, plan, i, &run)?;
    Ok(run)
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Adds the experiment's part to the run's `run.json`.
fn record_info(p: &Params, plan: &Plan, i: u32, run: &RunRecord) -> Result<()> {
    let io = |source| Error::Io {
        path: run.dir.join(seamless_proto::run::RUN_INFO),
        source,
    };
    let mut info = RunInfo::read(&run.dir).map_err(io)?;
    info.target = plan.targets.first().map(|t| t.url.clone());
    let interval_ns = (1e9 / p.rate) as i64;
    let agents: Vec<_> = run
        .agents
        .iter()
        .map(|a| {
            json!({
                "agent": a.agent, "pod": a.pod, "node": a.node,
                "container": a.container, "service": a.service,
                "role": a.role.name(), "access": a.via.name(),
                "probes": a.probes, "log_bytes": a.bytes,
                "clock_offset_ns": a.clock.offset_ns,
                "clock_uncertainty_ns": a.clock.uncertainty_ns,
                "clock_round_trip_ns": a.clock.round_trip_ns,
                "clock_samples": a.clock.samples,
                // Cristian's bound against the probe interval.
                "clock_uncertain": a.clock.uncertainty_ns > interval_ns,
            })
        })
        .collect();
    info.extra.insert(
        "experiment".into(),
        json!({
            "id": p.id, "run": i, "runs": p.repeat, "service": plan.service,
            "control": p.control, "access": p.access.name(),
            "agents_per_node": p.per_node,
            "rate_per_agent": p.rate, "image": p.image,
        }),
    );
    info.extra.insert("agents".into(), json!(agents));
    info.clock = Some(format!(
        "{}; agents' clocks: estimated against the controller's by Cristian's method over pods/proxy (agents[].clock_offset_ns is added to an agent's times, within ± clock_uncertainty_ns).",
        info.clock.unwrap_or_default()
    ));
    info.write(&run.dir).map_err(io)
}
