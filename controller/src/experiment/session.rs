//! One experiment from start to end on a given [`kube::Client`]: the checks,
//! then per run: create the agent pods, wait until they probe, estimate
//! their clocks, roll (the rollout's own [`execute`]), stop the agents,
//! fetch and verify their logs through `pods/proxy`, delete the agents.
//! Whatever ends it (an error, Ctrl+C), every pod it created is deleted
//! before it returns, unless `--keep`; a second Ctrl+C abandons the
//! cleanup and names what is left.

use kube::{Api, Client};

use super::agents::agent_specs;
use super::cleanup::Cleanup;
use super::error::Result;
use super::params::{Outcome, Params, run_dir};
use super::plan::{check_deployment, find_target, print_plan};
use super::pod::Placement;
use super::run::run_once;
use super::signals::{Interrupts, interruptible};
use crate::rollout::error::Error as RolloutError;

/// Runs the experiment. `interrupts` counts Ctrl+C: the first ends the
/// current step (a rollout records its `run_end`) and cleans up; the
/// second abandons the cleanup.
pub async fn execute(client: Client, p: &Params, interrupts: Interrupts) -> Result<Outcome> {
    let interval_ns = (1e9 / p.rate) as i64;
    let check = interruptible(&interrupts, check_deployment(&client, p)).await?;
    let plan = interruptible(&interrupts, find_target(&client, p, &check)).await?;
    print_plan(p, &plan);
    if p.dry_run {
        for spec in agent_specs(p, &plan, 1) {
            let object = if spec.placement == Placement::EveryNode {
                serde_json::to_string_pretty(&spec.daemonset())
            } else {
                serde_json::to_string_pretty(&spec.pod())
            };
            println!("{}", object.unwrap_or_default());
        }
        return Ok(Outcome {
            id: p.id.clone(),
            runs: Vec::new(),
            interval_ns,
        });
    }
    for i in 1..=p.repeat {
        let timeline = run_dir(&p.out, i).join(seamless_proto::run::TIMELINE);
        if timeline.exists() {
            return Err(RolloutError::TimelineExists(timeline).into());
        }
    }
    let mut cleanup = Cleanup {
        pods: Api::namespaced(client.clone(), &p.namespace),
        sets: Api::namespaced(client.clone(), &p.namespace),
        namespace: p.namespace.clone(),
        id: p.id.clone(),
        created: Vec::new(),
        created_sets: Vec::new(),
        keep: p.keep,
    };
    let mut runs = Vec::new();
    let mut result = Ok(());
    for i in 1..=p.repeat {
        if i > 1 {
            let checked = async {
                tokio::time::sleep(p.between).await;
                check_deployment(&client, p).await
            };
            if let Err(e) = interruptible(&interrupts, checked).await {
                result = Err(e);
                break;
            }
        }
        match run_once(&client, p, &plan, i, &interrupts, &mut cleanup).await {
            Ok(run) => runs.push(run),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        // This run's agents go before the next run's start.
        if let Err(e) = cleanup.delete_all(&interrupts).await {
            result = Err(e);
            break;
        }
    }
    let cleaned = cleanup.delete_all(&interrupts).await;
    result?;
    cleaned?;
    Ok(Outcome {
        id: p.id.clone(),
        runs,
        interval_ns,
    })
}
