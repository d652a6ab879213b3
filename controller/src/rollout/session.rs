//! One rollout from start to end: check the Deployment, find the Services,
//! start the watches and wait for their first lists (the baseline), send the
//! patch, record what happens until the rollout is complete and the old pods
//! are gone, then a settle tail. Takes a [`kube::Client`], so tests drive it
//! against a mock API server.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::watcher;
use kube::{Api, Client};
use seamless_proto::RunInfo;
use seamless_proto::timeline::{Event, EventKind};
use tokio::time::Instant;

use super::complete::{Progress, progress};
use super::discover;
use super::error::{Error, Result};
use super::params::Params;
use super::preflight::{Prepared, prepare};
use super::record::{Recorder, now_ns};
use super::runinfo::deployment_extra;
use super::track::pod::PodSnap;
use super::track::replicaset::ReplicaSetSnap;
use super::track::slice::SliceSnap;
use super::track::{Tracker, event, object_ref};
use super::trigger;
use super::watch::{self, Change, Targets};

/// What a finished rollout left behind.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Events written to the timeline.
    pub events: usize,
    /// The timeline's path.
    pub timeline: PathBuf,
    /// The Services followed.
    pub services: Vec<String>,
}

/// Runs one rollout. `shutdown` resolving (Ctrl+C) ends it with
/// [`Error::Interrupted`]. Once the run directory exists, every ending
/// writes a `run_end` event and `run.json` before returning.
pub async fn execute(
    client: Client,
    p: &Params,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary> {
    let started = Instant::now();
    let started_ns = now_ns();
    let deadline = started + p.timeout;
    let ns = p.namespace.as_str();
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);

    let Prepared {
        before,
        selector,
        services,
        info,
    } = tokio::time::timeout_at(deadline, prepare(&client, &api, p, started_ns))
        .await
        .map_err(|_| Error::Timeout(p.timeout, "the API server to answer".into()))??;

    let recorder = Recorder::create(&p.out)?;
    write_info(&info, p)?;
    let mut run = Run {
        p,
        recorder,
        info,
        deployment: None,
        deployment_synced: false,
        replicasets: Tracker::default(),
        pods: Tracker::default(),
        slices: Tracker::default(),
        baseline_pods: BTreeSet::new(),
        min_generation: 0,
        complete: false,
        old_gone: false,
        waiting_for: "the watches' first lists".into(),
    };
    let targets = Targets {
        namespace: p.namespace.clone(),
        deployment: p.deployment.clone(),
        pod_selector: selector.to_string(),
        slice_selector: (!services.is_empty()).then(|| discover::slice_selector(&services)),
    };
    let uid = before.metadata.uid.clone().unwrap_or_default();
    let result = run
        .drive(&client, &api, &targets, &uid, deadline, shutdown)
        .await;
    let ended = run.finish(&result);
    match (result, ended) {
        (Ok(()), Ok(())) => Ok(Summary {
            events: run.recorder.written(),
            timeline: run.recorder.path().to_owned(),
            services,
        }),
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
    }
}

fn write_info(info: &RunInfo, p: &Params) -> Result<()> {
    info.write(&p.out).map_err(|source| Error::Io {
        path: p.out.join(seamless_proto::run::RUN_INFO),
        source,
    })
}

/// The state of a run once the run directory exists.
struct Run<'a> {
    p: &'a Params,
    recorder: Recorder,
    info: RunInfo,
    deployment: Option<Deployment>,
    deployment_synced: bool,
    replicasets: Tracker<ReplicaSetSnap>,
    pods: Tracker<PodSnap>,
    slices: Tracker<SliceSnap>,
    /// Pods that existed before the patch: the old pods.
    baseline_pods: BTreeSet<String>,
    /// The generation the patch produced.
    min_generation: i64,
    complete: bool,
    old_gone: bool,
    /// What we wait for, for the timeout message.
    waiting_for: String,
}

impl Run<'_> {
    async fn drive(
        &mut self,
        client: &Client,
        api: &Api<Deployment>,
        targets: &Targets,
        uid: &str,
        deadline: Instant,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        let mut streams = watch::start(client, targets);
        let with_slices = targets.slice_selector.is_some();

        // Baseline: every watch has listed once. Errors now are fatal, and
        // nothing has been changed yet.
        while !self.synced(with_slices) {
            let obs = tokio::select! {
                _ = &mut shutdown => return Err(Error::Interrupted),
                _ = tokio::time::sleep_until(deadline) => return Err(self.timeout()),
                obs = streams.next() => obs,
            };
            let Some(obs) = obs else { break };
            let change =
                obs.map_err(|f| watch::classify(f.resource, &self.p.namespace, f.error))?;
            self.observe(change, uid)?;
        }
        let current = self
            .deployment
            .clone()
            .ok_or_else(|| Error::DeploymentNotFound {
                namespace: self.p.namespace.clone(),
                name: self.p.deployment.clone(),
            })?;
        self.baseline_pods = self.pods.objects().keys().cloned().collect();
        tracing::info!(
            pods = self.baseline_pods.len(),
            replicasets = self.replicasets.objects().len(),
            slices = self.slices.objects().len(),
            "baseline listed; sending the patch"
        );

        // The patch.
        let plan = self.p.trigger.plan(&current, chrono::Utc::now())?;
        self.info.trigger = Some(plan.description.clone());
        let mut sent = event(
            EventKind::PatchSent,
            object_ref("Deployment", &current.metadata),
        );
        sent.generation = current.metadata.generation;
        sent.detail = Some(plan.description.clone());
        self.recorder.record(vec![sent])?;
        let patched = trigger::send(api, &self.p.deployment, &self.p.namespace, &plan).await?;
        let generation = patched.metadata.generation.unwrap_or(0);
        let mut ack = event(
            EventKind::PatchAcknowledged,
            object_ref("Deployment", &patched.metadata),
        );
        ack.generation = Some(generation);
        self.recorder.record(vec![ack])?;
        tracing::info!(generation, trigger = %plan.description, "patch acknowledged");
        self.info
            .extra
            .extend(deployment_extra(&current, Some(&patched)));
        if generation <= current.metadata.generation.unwrap_or(0) {
            return Err(Error::NoChange {
                name: self.p.deployment.clone(),
                generation,
            });
        }
        self.min_generation = generation;
        self.waiting_for = "Waiting for deployment spec update to be observed...".into();

        // Until the old pods are gone, then the settle tail.
        let mut settle_end: Option<Instant> = None;
        loop {
            let obs = tokio::select! {
                _ = &mut shutdown => return Err(Error::Interrupted),
                _ = tokio::time::sleep_until(deadline), if settle_end.is_none() => return Err(self.timeout()),
                _ = tokio::time::sleep_until(settle_end.unwrap_or(deadline)), if settle_end.is_some() => return Ok(()),
                obs = streams.next() => obs,
            };
            let Some(obs) = obs else {
                return Err(Error::WatchesEnded);
            };
            match obs {
                Ok(change) => self.observe(change, uid)?,
                Err(f) => {
                    tracing::warn!(resource = f.resource, error = %f.error, "watch failed; retrying with backoff");
                    continue;
                }
            }
            if self.complete && !self.old_gone && self.old_pods_gone() {
                self.old_gone = true;
                let mut e = Event::new(0, EventKind::OldPodsGone);
                e.detail = Some(format!("{} old pods", self.baseline_pods.len()));
                self.recorder.record(vec![e])?;
                settle_end = Some(Instant::now() + self.p.settle);
                tracing::info!(settle = ?self.p.settle, "old pods gone; settling");
            }
        }
    }

    fn synced(&self, with_slices: bool) -> bool {
        self.deployment_synced
            && self.replicasets.synced()
            && self.pods.synced()
            && (!with_slices || self.slices.synced())
    }

    /// Feeds one watch item (not an error) to its tracker and records what
    /// it caused.
    fn observe(&mut self, change: Change, uid: &str) -> Result<()> {
        let events = match change {
            Change::Deployment(ev) => return self.observe_deployment(ev),
            Change::ReplicaSet(ev) => self
                .replicasets
                .handle(ev, |rs| ReplicaSetSnap::of(rs, uid)),
            Change::Pod(ev) => self.pods.handle(ev, PodSnap::of),
            Change::Slice(ev) => self.slices.handle(ev, SliceSnap::of),
        };
        self.recorder.record(events)
    }

    fn observe_deployment(&mut self, ev: watcher::Event<Deployment>) -> Result<()> {
        match ev {
            watcher::Event::Init => {}
            watcher::Event::InitDone => self.deployment_synced = true,
            watcher::Event::Apply(d) | watcher::Event::InitApply(d) => {
                if self.min_generation > 0 && !self.complete {
                    match progress(&d, self.min_generation) {
                        Progress::Complete => {
                            self.complete = true;
                            self.waiting_for =
                                "the old pods to leave the API and the EndpointSlices".into();
                            let mut e = event(
                                EventKind::RolloutComplete,
                                object_ref("Deployment", &d.metadata),
                            );
                            e.generation = d.metadata.generation;
                            e.replicas = d.status.as_ref().and_then(|s| s.updated_replicas);
                            self.recorder.record(vec![e])?;
                            tracing::info!("rollout complete; waiting for the old pods to go");
                        }
                        Progress::DeadlineExceeded => {
                            return Err(Error::DeadlineExceeded {
                                name: self.p.deployment.clone(),
                            });
                        }
                        Progress::Waiting(why) => self.waiting_for = why,
                    }
                }
                self.deployment = Some(d);
            }
            watcher::Event::Delete(_) => {
                return Err(Error::DeploymentDeleted {
                    name: self.p.deployment.clone(),
                });
            }
        }
        Ok(())
    }

    /// No old pod left in the API, nor as an endpoint of any slice.
    fn old_pods_gone(&self) -> bool {
        let in_api = self
            .baseline_pods
            .iter()
            .any(|uid| self.pods.objects().contains_key(uid));
        let in_slices = self.slices.objects().values().any(|s| {
            s.endpoints.values().any(|ep| {
                ep.pod_uid
                    .as_ref()
                    .is_some_and(|u| self.baseline_pods.contains(u))
            })
        });
        !in_api && !in_slices
    }

    fn timeout(&self) -> Error {
        Error::Timeout(self.p.timeout, self.waiting_for.clone())
    }

    /// Writes `run_end` and the final `run.json`.
    fn finish(&mut self, result: &Result<()>) -> Result<()> {
        let (outcome, code) = match result {
            Ok(()) => ("complete".to_owned(), 0),
            Err(e) => (e.to_string(), e.exit_code()),
        };
        let mut end = Event::new(0, EventKind::RunEnd);
        end.detail = Some(outcome.clone());
        let recorded = self.recorder.record(vec![end]);
        self.info.ended_ns = Some(now_ns());
        self.info.outcome = Some(outcome);
        self.info.exit_code = Some(code);
        let written = write_info(&self.info, self.p);
        recorded.and(written)
    }
}
