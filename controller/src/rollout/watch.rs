//! The watches: the Deployment itself, its ReplicaSets and Pods (by its
//! label selector) and the followed Services' EndpointSlices, merged into
//! one stream. Each is a `kube::runtime::watcher` with the default backoff,
//! so a lost connection is retried and followed by a re-list.

use futures::stream::{BoxStream, SelectAll};
use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use super::error::{Call, Error};

/// One item from one of the watches.
#[derive(Debug)]
pub enum Observed {
    /// The Deployment.
    Deployment(watcher::Result<watcher::Event<Deployment>>),
    /// A ReplicaSet matching the selector.
    ReplicaSet(watcher::Result<watcher::Event<ReplicaSet>>),
    /// A Pod matching the selector.
    Pod(watcher::Result<watcher::Event<Pod>>),
    /// An EndpointSlice of a followed Service.
    Slice(watcher::Result<watcher::Event<EndpointSlice>>),
}

/// The resource names used in messages.
pub const DEPLOYMENTS: &str = "deployments.apps";
/// See [`DEPLOYMENTS`].
pub const REPLICASETS: &str = "replicasets.apps";
/// See [`DEPLOYMENTS`].
pub const PODS: &str = "pods";
/// See [`DEPLOYMENTS`].
pub const ENDPOINTSLICES: &str = "endpointslices.discovery.k8s.io";

/// What to watch.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
    /// The Deployment's label selector, as a string.
    pub pod_selector: String,
    /// The EndpointSlice label selector, or `None` to skip slices.
    pub slice_selector: Option<String>,
}

/// Starts every watch and merges them.
pub fn start(client: &Client, t: &Targets) -> SelectAll<BoxStream<'static, Observed>> {
    let ns = t.namespace.as_str();
    let by_name = watcher::Config::default().fields(&format!("metadata.name={}", t.deployment));
    let by_selector = watcher::Config::default().labels(&t.pod_selector);
    let mut all: Vec<BoxStream<'static, Observed>> = vec![
        watcher(Api::<Deployment>::namespaced(client.clone(), ns), by_name)
            .default_backoff()
            .map(Observed::Deployment)
            .boxed(),
        watcher(
            Api::<ReplicaSet>::namespaced(client.clone(), ns),
            by_selector.clone(),
        )
        .default_backoff()
        .map(Observed::ReplicaSet)
        .boxed(),
        watcher(Api::<Pod>::namespaced(client.clone(), ns), by_selector)
            .default_backoff()
            .map(Observed::Pod)
            .boxed(),
    ];
    if let Some(sel) = &t.slice_selector {
        all.push(
            watcher(
                Api::<EndpointSlice>::namespaced(client.clone(), ns),
                watcher::Config::default().labels(sel),
            )
            .default_backoff()
            .map(Observed::Slice)
            .boxed(),
        );
    }
    stream::select_all(all)
}

impl Observed {
    /// The resource this item came from.
    pub fn resource(&self) -> &'static str {
        match self {
            Observed::Deployment(_) => DEPLOYMENTS,
            Observed::ReplicaSet(_) => REPLICASETS,
            Observed::Pod(_) => PODS,
            Observed::Slice(_) => ENDPOINTSLICES,
        }
    }

    /// The watcher error this item carries, if it is one.
    pub fn error(&self) -> Option<&watcher::Error> {
        match self {
            Observed::Deployment(Err(e))
            | Observed::ReplicaSet(Err(e))
            | Observed::Pod(Err(e))
            | Observed::Slice(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// Turns a watcher error into an [`Error`], naming the verb (list or watch)
/// and the resource.
pub fn classify(resource: &'static str, namespace: &str, err: watcher::Error) -> Error {
    let call = |verb| Call {
        verb,
        resource,
        name: None,
        namespace,
    };
    match err {
        watcher::Error::InitialListFailed(e) => call("list").error(e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            call("watch").error(e)
        }
        watcher::Error::WatchError(status) => call("watch").error(kube::Error::Api(status)),
        other @ watcher::Error::NoResourceVersion => Error::Watch {
            resource,
            source: other,
        },
    }
}
