//! The checks before a run: the Deployment exists and can be rolled, the
//! trigger fits it, the cluster version, the Services to follow. Nothing
//! here changes the cluster or writes the run directory.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::Selector;
use kube::{Api, Client};
use seamless_proto::RunInfo;

use super::discover;
use super::error::{Call, Error, Result, is_not_found};
use super::params::Params;
use super::runinfo::deployment_extra;
use super::watch::DEPLOYMENTS;

/// What the checks before the run found.
pub struct Prepared {
    /// The Deployment as it was before the patch.
    pub before: Deployment,
    /// Its pod selector.
    pub selector: Selector,
    /// The Services to follow.
    pub services: Vec<String>,
    /// run.json so far.
    pub info: RunInfo,
}

/// Reads the Deployment, validates the trigger, reads the cluster version
/// and finds the Services: everything that needs no run directory.
pub async fn prepare(
    client: &Client,
    api: &Api<Deployment>,
    p: &Params,
    started_ns: i64,
) -> Result<Prepared> {
    let ns = p.namespace.as_str();
    let before = get_deployment(client, api, ns, &p.deployment).await?;
    if before.spec.as_ref().and_then(|s| s.paused) == Some(true) {
        return Err(Error::Paused {
            name: p.deployment.clone(),
        });
    }
    // Validate the trigger before touching anything.
    let first_plan = p.trigger.plan(&before, chrono::Utc::now())?;
    let spec = before.spec.clone().unwrap_or_default();
    let pod_labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selector = Selector::try_from(spec.selector.clone()).map_err(|e| {
        Error::Invalid(format!(
            "deployment {:?} has an unusable selector: {e}",
            p.deployment
        ))
    })?;
    if selector.selects_all() {
        return Err(Error::Invalid(format!(
            "deployment {:?} has an empty selector",
            p.deployment
        )));
    }
    let cluster_version = match client.apiserver_version().await {
        Ok(info) => info.git_version,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the cluster version");
            "unknown".to_owned()
        }
    };
    let services = discover::services(client, ns, &pod_labels, &p.services).await?;
    if services.is_empty() {
        tracing::warn!(
            "no Service selects the pods of deployment {:?}: no endpoint events",
            p.deployment
        );
    }

    let mut info = RunInfo {
        source: Some("cluster".into()),
        trigger: Some(first_plan.description),
        clock: Some(
            "ts_ns: CLOCK_REALTIME of the controller's host when it received each API object, not the API server's time"
                .into(),
        ),
        started_ns: Some(started_ns),
        extra: deployment_extra(&before, None),
        ..Default::default()
    };
    info.versions.insert("kubernetes".into(), cluster_version);
    info.versions.insert(
        "seamless-controller".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    info.extra
        .insert("services".into(), serde_json::json!(services));

    Ok(Prepared {
        before,
        selector,
        services,
        info,
    })
}

async fn get_deployment(
    client: &Client,
    api: &Api<Deployment>,
    ns: &str,
    name: &str,
) -> Result<Deployment> {
    match api.get(name).await {
        Ok(d) => Ok(d),
        Err(e) if is_not_found(&e) => {
            // A missing namespace also answers 404 for the Deployment: tell
            // the two apart when we may read the namespace.
            let namespaces: Api<Namespace> = Api::all(client.clone());
            match namespaces.get(ns).await {
                Err(e) if is_not_found(&e) => Err(Error::NamespaceNotFound {
                    namespace: ns.to_owned(),
                }),
                _ => Err(Error::DeploymentNotFound {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                }),
            }
        }
        Err(e) => Err(Call {
            verb: "get",
            resource: DEPLOYMENTS,
            name: Some(name),
            namespace: ns,
        }
        .error(e)),
    }
}
