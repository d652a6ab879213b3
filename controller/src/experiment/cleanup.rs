//! The pods and DaemonSets an experiment created, deleted whatever ends it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};

use super::error::{Error, Result};
use super::pod::EXPERIMENT_LABEL;
use super::signals::Interrupts;
use crate::rollout::error::{Call, is_not_found};

/// The pods and DaemonSets created and not yet deleted.
pub(super) struct Cleanup {
    pub(super) pods: Api<Pod>,
    pub(super) sets: Api<DaemonSet>,
    pub(super) namespace: String,
    /// The experiment's id: the pods of its DaemonSets carry it.
    pub(super) id: String,
    pub(super) created: Vec<String>,
    pub(super) created_sets: Vec<String>,
    pub(super) keep: bool,
}

impl Cleanup {
    /// Creates a pod; it is remembered before the request, so an
    /// interrupted create is cleaned up too (a 404 on delete is fine).
    pub(super) async fn create(&mut self, pod: Pod) -> Result<()> {
        create_remembered(&self.pods, &mut self.created, "pods", &self.namespace, &pod).await
    }

    /// Creates a DaemonSet, remembered before the request as pods are.
    pub(super) async fn create_daemonset(&mut self, ds: DaemonSet) -> Result<()> {
        create_remembered(
            &self.sets,
            &mut self.created_sets,
            "daemonsets.apps",
            &self.namespace,
            &ds,
        )
        .await
    }

    /// What is left, for the messages.
    fn left(&self) -> String {
        let mut parts = Vec::new();
        if !self.created_sets.is_empty() {
            parts.push(format!(
                "daemonset(s) {} (and their pods)",
                self.created_sets.join(", ")
            ));
        }
        if !self.created.is_empty() {
            parts.push(format!("pod(s) {}", self.created.join(", ")));
        }
        parts.join(", ")
    }

    /// Deletes every pod created and waits until they are gone. With
    /// `--keep`, names them and leaves them. A second Ctrl+C leaves at once,
    /// naming what is left.
    pub(super) async fn delete_all(&mut self, interrupts: &Interrupts) -> Result<()> {
        if self.created.is_empty() && self.created_sets.is_empty() {
            return Ok(());
        }
        if self.keep {
            eprintln!(
                "--keep: leaving {} in namespace {:?} (kubectl delete daemonset,pod -n {} -l {EXPERIMENT_LABEL}={})",
                self.left(),
                self.namespace,
                self.namespace,
                self.id
            );
            self.created.clear();
            self.created_sets.clear();
            return Ok(());
        }
        let work = self.delete_and_wait();
        tokio::select! {
            r = work => r,
            _ = interrupts.reached(2) => {
                eprintln!(
                    "second interrupt: leaving without cleaning up; left in namespace {:?}: {}",
                    self.namespace,
                    self.left()
                );
                Err(Error::Interrupted)
            }
        }
    }

    async fn delete_and_wait(&mut self) -> Result<()> {
        let dp = DeleteParams::default();
        let mut first_error = None;
        // A DaemonSet's pods go with it (the garbage collector deletes
        // them); waited for below, by the experiment's label.
        let cascade = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        let mut sets_deleted = Vec::new();
        for name in self.created_sets.clone() {
            match self.sets.delete(&name, &cascade).await {
                Ok(_) => {
                    tracing::info!(daemonset = %name, "agent DaemonSet deleted");
                    sets_deleted.push(name);
                }
                Err(e) if is_not_found(&e) => sets_deleted.push(name),
                Err(e) => {
                    let err = Call {
                        verb: "delete",
                        resource: "daemonsets.apps",
                        name: Some(&name),
                        namespace: &self.namespace,
                    }
                    .error(e);
                    eprintln!("cannot delete agent DaemonSet {name:?}: {err}");
                    first_error.get_or_insert(err);
                }
            }
        }
        self.created_sets.retain(|n| !sets_deleted.contains(n));
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
            eprintln!("left in namespace {:?}: {}", self.namespace, self.left());
            return Err(e.into());
        }
        if !sets_deleted.is_empty() {
            self.wait_set_pods_gone().await?;
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

    /// Waits until no pod of the experiment's DaemonSets is left.
    async fn wait_set_pods_gone(&self) -> Result<()> {
        let lp = ListParams::default().labels(&format!("{EXPERIMENT_LABEL}={}", self.id));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let list = self.pods.list(&lp).await.map_err(|e| {
                Call {
                    verb: "list",
                    resource: "pods",
                    name: None,
                    namespace: &self.namespace,
                }
                .error(e)
            })?;
            // Pods created one by one are waited for by name.
            let left: Vec<String> = list
                .items
                .iter()
                .filter_map(|p| p.metadata.name.clone())
                .filter(|n| !self.created.contains(n))
                .collect();
            if left.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                eprintln!(
                    "agent pod(s) {} still terminating 60s after their DaemonSet's deletion",
                    left.join(", ")
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Creates `object` through `api`, its name pushed onto `created` first.
async fn create_remembered<K>(
    api: &Api<K>,
    created: &mut Vec<String>,
    resource: &'static str,
    namespace: &str,
    object: &K,
) -> Result<()>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let name = object.meta().name.clone().unwrap_or_default();
    created.push(name.clone());
    api.create(&PostParams::default(), object)
        .await
        .map_err(|e| {
            Call {
                verb: "create",
                resource,
                name: Some(&name),
                namespace,
            }
            .error(e)
        })?;
    tracing::info!(%resource, %name, "agent object created");
    Ok(())
}
