//! One experiment from start to end on a given [`kube::Client`]: the checks,
//! then per run: create the agent pods, wait until they probe, estimate
//! their clocks, roll (the rollout's own [`execute`]), stop the agents,
//! fetch and verify their logs through `pods/proxy`, delete the agents.
//! Whatever ends it (an error, Ctrl+C), every pod it created is deleted
//! before it returns, unless `--keep`; a second Ctrl+C abandons the
//! cleanup and names what is left.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use seamless_proto::RunInfo;
use seamless_proto::control::{AgentStatus, ClockOffset, Phase};
use serde_json::json;

use super::control::Endpoint;
use super::error::{Error, Result};
use super::pod::{AgentSpec, EXPERIMENT_LABEL, Placement};
use super::signals::Interrupts;
use crate::rollout::complete::{Progress, progress};
use crate::rollout::error::{Call, Error as RolloutError, is_not_found};
use crate::rollout::{self, Trigger, discover};

/// How the agents reach the Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Access {
    /// The Service's ClusterIP and port (through kube-proxy's rules).
    Clusterip,
    /// The agent's own node's IP and the Service's nodePort.
    Nodeport,
}

/// What one experiment is asked to do.
#[derive(Debug, Clone)]
pub struct Params {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
    /// How each run starts its rollout.
    pub trigger: Trigger,
    /// The Service to probe first, then the others to follow; empty to
    /// discover (then exactly one must select the pods).
    pub services: Vec<String>,
    /// Each rollout's timeout.
    pub timeout: Duration,
    /// Each rollout's settle time.
    pub settle: Duration,
    /// Nodes to put one agent each on; empty: one agent, placed away from
    /// the Deployment's pods when a node allows.
    pub agents: Vec<String>,
    /// How the agents reach the Service.
    pub access: Access,
    /// Probes a second, per agent.
    pub rate: f64,
    /// The agent's image.
    pub image: String,
    /// The agents' control port.
    pub port: u16,
    /// Runs.
    pub repeat: u32,
    /// Pause between runs.
    pub between: Duration,
    /// The experiment's directory: `run-01`, `run-02`, ... inside.
    pub out: PathBuf,
    /// Allow more than one replica.
    pub replicas_ok: bool,
    /// Leave the agent pods behind.
    pub keep: bool,
    /// Print the plan only.
    pub dry_run: bool,
    /// The most to wait for an agent to probe.
    pub ready_timeout: Duration,
    /// Round trips for each clock estimate.
    pub clock_rounds: usize,
    /// The experiment's id: the label value on everything it creates.
    pub id: String,
}

/// One agent of one run, as fetched.
#[derive(Debug, Clone)]
pub struct AgentRecord {
    /// The pod.
    pub pod: String,
    /// Its node.
    pub node: String,
    /// The agent's name in the run directory (`probe-<agent>.log`).
    pub agent: String,
    /// Probes in its log.
    pub probes: u64,
    /// The log's size.
    pub bytes: u64,
    /// Its clock against ours.
    pub clock: ClockOffset,
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The run directory.
    pub dir: PathBuf,
    /// Its agents.
    pub agents: Vec<AgentRecord>,
}

/// What an experiment did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The experiment's id.
    pub id: String,
    /// The runs, in order (none for a dry run).
    pub runs: Vec<RunRecord>,
    /// The probe interval, ns (for the clock flag).
    pub interval_ns: i64,
}

/// What the checks found: enough to plan every run.
#[derive(Debug, Clone)]
struct Plan {
    url: String,
    service: String,
    pod_labels: BTreeMap<String, String>,
}

/// A new experiment id: UTC time and a few hex digits, valid as a label
/// value and inside a pod name.
pub fn new_id() -> String {
    let now = chrono::Utc::now();
    let salt = (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%d-%H%M%S"))
}

/// The directory of run `i` (from 1).
pub fn run_dir(out: &Path, i: u32) -> PathBuf {
    out.join(format!("run-{i:02}"))
}

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
            let pod = spec.pod();
            println!("{}", serde_json::to_string_pretty(&pod).unwrap_or_default());
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
        namespace: p.namespace.clone(),
        created: Vec::new(),
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

/// `fut`, or [`Error::Interrupted`] at the first Ctrl+C.
async fn interruptible<T>(
    interrupts: &Interrupts,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::select! {
        r = fut => r,
        _ = interrupts.reached(1) => Err(Error::Interrupted),
    }
}

fn print_plan(p: &Params, plan: &Plan) {
    let agents = if p.agents.is_empty() {
        "one agent, on a node without a pod of the deployment when there is one".to_owned()
    } else {
        format!("one agent on each of {}", p.agents.join(", "))
    };
    eprintln!(
        "experiment {id}: {n} run(s) of deployment {ns}/{d} ({trigger:?}), {between:?} apart\n  \
         agents: {agents}, image {image}, {rate}/s each, probing {url} (service {svc})\n  \
         output: {out}/run-NN; every pod created is labelled {EXPERIMENT_LABEL}={id} and {fate}",
        id = p.id,
        n = p.repeat,
        ns = p.namespace,
        d = p.deployment,
        trigger = p.trigger,
        between = p.between,
        image = p.image,
        rate = p.rate,
        url = plan.url,
        svc = plan.service,
        out = p.out.display(),
        fate = if p.keep {
            "kept (--keep)"
        } else {
            "deleted at the end, on error and on Ctrl+C"
        },
    );
    if p.dry_run {
        eprintln!("dry run: nothing created; the agent pod(s) of run 1 follow on stdout");
    }
}

/// The refusals, read from the Deployment as it is now: paused, rolling,
/// more than one replica without `--replicas-ok`. Returns the pod
/// template's labels.
async fn check_deployment(client: &Client, p: &Params) -> Result<BTreeMap<String, String>> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), &p.namespace);
    let d = api.get(&p.deployment).await.map_err(|e| {
        if is_not_found(&e) {
            RolloutError::DeploymentNotFound {
                namespace: p.namespace.clone(),
                name: p.deployment.clone(),
            }
        } else {
            Call {
                verb: "get",
                resource: "deployments.apps",
                name: Some(&p.deployment),
                namespace: &p.namespace,
            }
            .error(e)
        }
    })?;
    let spec = d.spec.clone().unwrap_or_default();
    if spec.paused == Some(true) {
        return Err(RolloutError::Paused {
            name: p.deployment.clone(),
        }
        .into());
    }
    match progress(&d, 0) {
        Progress::Complete => {}
        Progress::Waiting(why) => {
            return Err(Error::AlreadyRolling {
                name: p.deployment.clone(),
                why,
            });
        }
        Progress::DeadlineExceeded => {
            return Err(Error::AlreadyRolling {
                name: p.deployment.clone(),
                why: "its last rollout exceeded its progress deadline".into(),
            });
        }
    }
    // The API server defaults spec.replicas to 1.
    let replicas = spec.replicas.unwrap_or(1);
    if replicas > 1 && !p.replicas_ok {
        return Err(Error::Replicas {
            name: p.deployment.clone(),
            replicas,
        });
    }
    Ok(spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default())
}

/// The Service to probe (found as the rollout finds it) and the URL.
async fn find_target(
    client: &Client,
    p: &Params,
    pod_labels: &BTreeMap<String, String>,
) -> Result<Plan> {
    let names = discover::services(client, &p.namespace, pod_labels, &p.services).await?;
    let name = match (p.services.first(), names.as_slice()) {
        (Some(first), _) => first.clone(),
        (None, [one]) => one.clone(),
        (None, []) => {
            return Err(Error::Service(format!(
                "no Service in namespace {:?} selects the pods of deployment {:?}: nothing to probe",
                p.namespace, p.deployment
            )));
        }
        (None, many) => {
            return Err(Error::Service(format!(
                "several Services select the pods of deployment {:?} ({}): name the one to probe with --service",
                p.deployment,
                many.join(", ")
            )));
        }
    };
    let api: Api<Service> = Api::namespaced(client.clone(), &p.namespace);
    let svc = api.get(&name).await.map_err(|e| {
        Call {
            verb: "get",
            resource: "services",
            name: Some(&name),
            namespace: &p.namespace,
        }
        .error(e)
    })?;
    let spec = svc.spec.unwrap_or_default();
    let port = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .next()
        .ok_or_else(|| Error::Service(format!("service {name:?} has no port")))?;
    let url = match p.access {
        Access::Clusterip => {
            let ip = spec.cluster_ip.unwrap_or_default();
            if ip.is_empty() || ip == "None" {
                return Err(Error::Service(format!(
                    "service {name:?} has no ClusterIP (headless): use --access nodeport or another --service"
                )));
            }
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip
            };
            format!("http://{host}:{}/", port.port)
        }
        Access::Nodeport => {
            let node_port = port.node_port.ok_or_else(|| {
                Error::Service(format!(
                    "service {name:?} has no nodePort (type {}): use --access clusterip",
                    spec.type_.as_deref().unwrap_or("ClusterIP")
                ))
            })?;
            // The agent's own node IP, from the downward API.
            format!("http://$(HOST_IP):{node_port}/")
        }
    };
    Ok(Plan {
        url,
        service: name,
        pod_labels: pod_labels.clone(),
    })
}

fn agent_specs(p: &Params, plan: &Plan, run: u32) -> Vec<AgentSpec> {
    let placements: Vec<Placement> = if p.agents.is_empty() {
        vec![Placement::AwayFrom(plan.pod_labels.clone())]
    } else {
        p.agents.iter().cloned().map(Placement::Node).collect()
    };
    placements
        .into_iter()
        .enumerate()
        .map(|(k, placement)| AgentSpec {
            name: format!("seamless-agent-{}-r{run:02}-{k}", p.id),
            experiment: p.id.clone(),
            run,
            placement,
            image: p.image.clone(),
            url: plan.url.clone(),
            rate: p.rate,
            port: p.port,
            // Nobody left to stop it: it stops itself well after any run.
            max_duration: p.timeout + p.settle + p.ready_timeout + Duration::from_secs(300),
        })
        .collect()
}

/// One run: agents up, clocks, the rollout, agents stopped, logs fetched.
async fn run_once(
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
    for spec in &specs {
        interruptible(interrupts, cleanup.create(spec.pod())).await?;
    }
    let mut endpoints = Vec::new();
    for spec in &specs {
        let node = interruptible(interrupts, wait_probing(client, p, &spec.name)).await?;
        endpoints.push((
            Endpoint {
                namespace: p.namespace.clone(),
                pod: spec.name.clone(),
                port: p.port,
            },
            node,
        ));
    }
    let mut clocks = Vec::new();
    for (ep, node) in &endpoints {
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
    for ((ep, node), clock) in endpoints.iter().zip(clocks) {
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
    info.target = Some(plan.url.clone());
    let interval_ns = (1e9 / p.rate) as i64;
    let agents: Vec<_> = run
        .agents
        .iter()
        .map(|a| {
            json!({
                "agent": a.agent, "pod": a.pod, "node": a.node,
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
            "access": format!("{:?}", p.access).to_lowercase(),
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

/// Polls the pod until it is Ready (its log holds a probe), failing fast on
/// a status that will not get there. Returns its node.
async fn wait_probing(client: &Client, p: &Params, name: &str) -> Result<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &p.namespace);
    let deadline = tokio::time::Instant::now() + p.ready_timeout;
    let not_ready = |reason: String| Error::AgentNotReady {
        pod: name.to_owned(),
        reason,
    };
    loop {
        let pod = api.get(name).await.map_err(|e| {
            Call {
                verb: "get",
                resource: "pods",
                name: Some(name),
                namespace: &p.namespace,
            }
            .error(e)
        })?;
        let status = pod.status.clone().unwrap_or_default();
        let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
        if phase == "Failed" || phase == "Succeeded" {
            return Err(not_ready(format!(
                "the pod is {phase}: {}",
                container_says(&pod).unwrap_or_else(|| "no container status".into())
            )));
        }
        for cs in status.container_statuses.iter().flatten() {
            if let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) {
                let reason = w.reason.as_deref().unwrap_or_default();
                if matches!(
                    reason,
                    "ErrImagePull"
                        | "ImagePullBackOff"
                        | "InvalidImageName"
                        | "ErrImageNeverPull"
                        | "CreateContainerConfigError"
                        | "CreateContainerError"
                ) {
                    return Err(not_ready(format!(
                        "{reason}: {}",
                        w.message.as_deref().unwrap_or_default()
                    )));
                }
            }
        }
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if ready {
            let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
            tracing::info!(pod = name, %node, "agent probing");
            return Ok(node);
        }
        if tokio::time::Instant::now() >= deadline {
            let why = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.status != "True")
                .map(|c| {
                    format!(
                        "{} {}: {}",
                        c.type_,
                        c.reason.as_deref().unwrap_or("False"),
                        c.message.as_deref().unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| format!("phase {phase}"));
            return Err(not_ready(format!(
                "not ready after {:?} ({why})",
                p.ready_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn container_says(pod: &Pod) -> Option<String> {
    let cs = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    let t = cs.state.as_ref()?.terminated.as_ref()?;
    Some(format!(
        "exit code {}{}",
        t.exit_code,
        t.message
            .as_deref()
            .map(|m| format!(", {}", m.trim()))
            .unwrap_or_default()
    ))
}

/// Asks the agent to stop and waits until its log is complete.
async fn stop(client: &Client, ep: &Endpoint) -> Result<AgentStatus> {
    let mut status = ep.stop(client).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match status.phase {
            Phase::Done => return Ok(status),
            Phase::Failed => {
                return Err(Error::Agent {
                    pod: ep.pod.clone(),
                    reason: format!(
                        "the probe session failed: {}",
                        status.error.unwrap_or_default()
                    ),
                });
            }
            Phase::Starting | Phase::Probing => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Agent {
                pod: ep.pod.clone(),
                reason: "still not done 30s after GET /stop".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = ep.status(client).await?;
    }
}

/// The pods created and not yet deleted.
struct Cleanup {
    pods: Api<Pod>,
    namespace: String,
    created: Vec<String>,
    keep: bool,
}

impl Cleanup {
    /// Creates a pod; it is remembered before the request, so an
    /// interrupted create is cleaned up too (a 404 on delete is fine).
    async fn create(&mut self, pod: Pod) -> Result<()> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.created.push(name.clone());
        self.pods
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|e| {
                Call {
                    verb: "create",
                    resource: "pods",
                    name: Some(&name),
                    namespace: &self.namespace,
                }
                .error(e)
            })?;
        tracing::info!(pod = %name, "agent pod created");
        Ok(())
    }

    /// Deletes every pod created and waits until they are gone. With
    /// `--keep`, names them and leaves them. A second Ctrl+C leaves at once,
    /// naming what is left.
    async fn delete_all(&mut self, interrupts: &Interrupts) -> Result<()> {
        if self.created.is_empty() {
            return Ok(());
        }
        if self.keep {
            eprintln!(
                "--keep: leaving pod(s) {} in namespace {:?} (kubectl delete pod -n {} -l {EXPERIMENT_LABEL})",
                self.created.join(", "),
                self.namespace,
                self.namespace
            );
            self.created.clear();
            return Ok(());
        }
        let work = self.delete_and_wait();
        tokio::select! {
            r = work => r,
            _ = interrupts.reached(2) => {
                eprintln!(
                    "second interrupt: leaving without cleaning up; left in namespace {:?}: pod(s) {}",
                    self.namespace,
                    self.created.join(", ")
                );
                Err(Error::Interrupted)
            }
        }
    }

    async fn delete_and_wait(&mut self) -> Result<()> {
        let dp = DeleteParams::default();
        let mut first_error = None;
        for name in self.created.clone() {
            match self.pods.delete(&name, &dp).await {
                Ok(_) => tracing::info!(pod = %name, "agent pod deleted"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    let err = Call {
                        verb: "delete",
                        resource: "pods",
                        name: Some(&name),
                        namespace: &self.namespace,
                    }
                    .error(e);
                    eprintln!("cannot delete agent pod {name:?}: {err}");
                    first_error.get_or_insert(err);
                }
            }
        }
        if let Some(e) = first_error {
            eprintln!(
                "left in namespace {:?}: pod(s) {}",
                self.namespace,
                self.created.join(", ")
            );
            return Err(e.into());
        }
        // Gone from the API: the next run, and the caller, see a clean
        // namespace.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while let Some(name) = self.created.first().cloned() {
            match self.pods.get_opt(&name).await {
                Ok(None) => {
                    self.created.remove(0);
                }
                Ok(Some(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(Some(_)) => {
                    eprintln!("agent pod {name:?} still terminating after 60s");
                    self.created.remove(0);
                }
                Err(e) => {
                    return Err(Call {
                        verb: "get",
                        resource: "pods",
                        name: Some(&name),
                        namespace: &self.namespace,
                    }
                    .error(e)
                    .into());
                }
            }
        }
        Ok(())
    }
}
