//! `seamless-lab run --proxy real`: the seed's matrix on the real
//! components. One cluster (three nodes: the workload moves between node-a
//! and node-b, the agent probes from node-c) serves every run of the
//! matrix; each run is [`run::run_one`].
//!
//! Modules: [`run`] (one run), [`rules`] (when kube-proxy took the old
//! endpoint out), [`conntrack`] (what the node still steers to it),
//! [`kubectl`], [`manifests`] (the lab's changes to what it applies).

pub mod conntrack;
pub mod kubectl;
pub mod manifests;
pub mod rules;
pub mod run;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use crate::cluster::{self, UpOpts, bins::Bins};
use crate::node::events::KubeletEvent;
use crate::opts::Opts;
use crate::summary;

/// Runs the matrix of `opts` on a cluster of real components; the exit
/// code (0 all runs done, 1 a run failed, 130 interrupted).
pub fn matrix(
    opts: &Opts,
    agent_bin: PathBuf,
    lab_bin: PathBuf,
    stop: &AtomicBool,
) -> anyhow::Result<i32> {
    let scenarios = opts.scenarios()?;
    let bins = Bins::find(
        opts.kubernetes_bin.as_deref(),
        &opts.kubernetes_version,
        Some(&lab_bin),
    )?;
    let kubectl_bin = bins.path("kubectl");
    if !kubectl_bin.is_file() {
        anyhow::bail!(
            "no kubectl in {}: the real-component runs apply the manifests with it",
            bins.dir.display()
        );
    }
    let controller = match &opts.controller_bin {
        Some(p) => p.clone(),
        None => lab_bin.with_file_name("seamless-controller"),
    };
    if !controller.is_file() {
        anyhow::bail!(
            "no seamless-controller at {} (build it: cargo build -p seamless-controller, or pass --controller-bin)",
            controller.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let events: Arc<Mutex<Vec<KubeletEvent>>> = Arc::default();
    let sink_events = Arc::clone(&events);
    let sink: crate::node::events::Sink = Arc::new(move |ev| {
        if let Ok(mut v) = sink_events.lock() {
            v.push(ev);
        }
    });
    let state = PathBuf::from("/run/seamless-lab/up");
    std::fs::create_dir_all(&state)?;
    let inner = cluster::Inner {
        opts: UpOpts {
            nodes: 3,
            kubernetes_version: opts.kubernetes_version.clone(),
            kubernetes_bin: None,
            port: 0,
            kubeconfig: PathBuf::new(),
            agent_bin: Some(agent_bin.clone()),
            events: None,
            timeout: Duration::from_secs(60),
            proxy_mode: opts.proxy_mode,
            proxy_min_sync_period: opts.proxy_min_sync_period,
            endpointslice_updates_batch_period: opts.endpointslice_updates_batch_period,
            inside_config: None,
        },
        bins: bins.dir.clone(),
        agent: agent_bin,
    };
    let running = rt
        .block_on(cluster::start(&state, &inner, Some(sink)))
        .context("starting the cluster")?;
    let version = rt
        .block_on(running.admin.apiserver_version())
        .map(|v| v.git_version)
        .unwrap_or_default();
    let agent_ns = running
        .nodes
        .iter()
        .find(|n| n.net.name == run::AGENT_NODE)
        .map(|n| n.net.ns.clone())
        .context("node-c is missing")?;
    let ctx = run::Ctx {
        kubectl: kubectl::Kubectl {
            bin: kubectl_bin,
            kubeconfig: running.admin_kubeconfig.clone(),
        },
        controller,
        manifests: opts.manifests.clone(),
        pods_dir: state.join("pods"),
        agent_ns,
        mode: opts.proxy_mode,
        min_sync_period: opts.proxy_min_sync_period,
        slice_batch: opts.endpointslice_updates_batch_period,
        events,
        version,
        agent_flags: crate::shutdown::agent_args(
            &opts.agent_mode,
            opts.agent_pool,
            opts.agent_no_idle_check,
        ),
        agent_modes: opts.agent_mode.clone(),
        shutdown: opts.shutdown,
    };
    eprintln!(
        "lab: real components {} (kube-proxy {}), {} scenario(s) x {}",
        ctx.version,
        ctx.mode.as_str(),
        scenarios.len(),
        opts.repeat
    );
    let mut summary = summary::Summary::open(&opts.out)?;
    let mut failed = 0;
    let _guard = rt.enter();
    let runs = order(&scenarios, opts.repeat, run::has_sleep_action(&ctx.version));
    let mut progress = crate::progress::Progress::new(runs.len() as u64);
    for (sc, repeat) in runs {
        if stop.load(Ordering::Relaxed) {
            running.stop();
            return Ok(130);
        }
        let dir = crate::run::run_dir(&opts.out, sc, repeat);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("replacing {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir.parent().unwrap_or(&opts.out))?;
        match run::run_one(&ctx, sc, opts.warmup, opts.settle, &dir) {
            Ok(info) => progress.run_done(&summary.record(&dir, &info)?, false),
            Err(e) => {
                failed += 1;
                progress.run_done(&format!("lab: {} failed: {e:#}", dir.display()), true);
            }
        }
    }
    running.stop();
    Ok(if failed > 0 { 1 } else { 0 })
}

/// The runs in the order they go: the scenarios that share a workload
/// overlay one after the other, all their repeats, so the Deployment's
/// template changes (itself a rollout, a slow one from a `sleep 10` preStop)
/// once per overlay rather than at almost every run.
fn order(
    scenarios: &[crate::scenario::Scenario],
    repeat: u32,
    sleep_action: bool,
) -> Vec<(&crate::scenario::Scenario, u32)> {
    let mut overlays: Vec<&str> = Vec::new();
    for sc in scenarios {
        let o = run::overlay(sc, sleep_action);
        if !overlays.contains(&o) {
            overlays.push(o);
        }
    }
    let mut runs = Vec::new();
    for o in overlays {
        for r in 1..=repeat {
            runs.extend(
                scenarios
                    .iter()
                    .filter(|s| run::overlay(s, sleep_action) == o)
                    .map(|s| (s, r)),
            );
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;

    #[test]
    fn runs_go_overlay_by_overlay() {
        let all = Scenario::all();
        let runs = super::order(&all, 2, true);
        assert_eq!(runs.len(), 16);
        let overlays: Vec<&str> = runs
            .iter()
            .map(|(s, _)| super::run::overlay(s, true))
            .collect();
        let changes = overlays.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(changes, 3, "{overlays:?}");
        let mut seen: Vec<(String, u32)> = runs.iter().map(|(s, r)| (s.to_string(), *r)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 16, "every scenario and repeat once");
    }

    #[test]
    fn the_sleep_action_from_1_30_the_seeds_exec_before() {
        use super::run::{has_sleep_action, overlay};
        assert!(has_sleep_action("v1.37.2") && has_sleep_action("v1.30.0"));
        assert!(!has_sleep_action("v1.26.3") && !has_sleep_action("v1.29.9"));
        assert!(!has_sleep_action(""));
        let sc: Scenario = "host-clusterip-prestop".parse().unwrap();
        assert_eq!(overlay(&sc, true), "hostnet-prestop-sleep");
        assert_eq!(overlay(&sc, false), "hostnet-prestop-exec");
        let sc: Scenario = "pod-nodeport-no-prestop".parse().unwrap();
        assert_eq!(overlay(&sc, false), "pod-no-prestop");
    }
}
