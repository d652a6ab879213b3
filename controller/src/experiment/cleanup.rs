//! The pods an experiment created, deleted whatever ends it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

use super::error::{Error, Result};
use super::pod::EXPERIMENT_LABEL;
use super::signals::Interrupts;
use crate::rollout::error::{Call, is_not_found};

/// The pods created and not yet deleted.
pub(super) struct Cleanup {
    pub(super) pods: Api<Pod>,
    pub(super) namespace: String,
    pub(super) created: Vec<String>,
    pub(super) keep: bool,
}

impl Cleanup {
    /// Creates a pod; it is remembered before the request, so an
    /// interrupted create is cleaned up too (a 404 on delete is fine).
    pub(super) async fn create(&mut self, pod: Pod) -> Result<()> {
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
    pub(super) async fn delete_all(&mut self, interrupts: &Interrupts) -> Result<()> {
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
