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

/// A change seen by one of the watches.
#[derive(Debug)]
pub enum Change {
    /// The Deployment.
    Deployment(watcher::Event<Deployment>),
    /// A ReplicaSet matching the selector.
    ReplicaSet(watcher::Event<ReplicaSet>),
    /// A Pod matching the selector.
    Pod(watcher::Event<Pod>),
    /// An EndpointSlice of a followed Service.
    Slice(watcher::Event<EndpointSlice>),
}

/// A failed watch step (the watcher retries after a backoff).
#[derive(Debug)]
pub struct Failure {
    /// The resource watched, as named in messages.
    pub resource: &'static str,
    /// What went wrong.
    pub error: watcher::Error,
}

/// One item from one of the watches.
pub type Observed = Result<Change, Failure>;

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
            .map(|r| tag(r, Change::Deployment, DEPLOYMENTS))
            .boxed(),
        watcher(
            Api::<ReplicaSet>::namespaced(client.clone(), ns),
            by_selector.clone(),
        )
        .default_backoff()
        .map(|r| tag(r, Change::ReplicaSet, REPLICASETS))
        .boxed(),
        watcher(Api::<Pod>::namespaced(client.clone(), ns), by_selector)
            .default_backoff()
            .map(|r| tag(r, Change::Pod, PODS))
            .boxed(),
    ];
    if let Some(sel) = &t.slice_selector {
        all.push(
            watcher(
                Api::<EndpointSlice>::namespaced(client.clone(), ns),
                watcher::Config::default().labels(sel),
            )
            .default_backoff()
            .map(|r| tag(r, Change::Slice, ENDPOINTSLICES))
            .boxed(),
        );
    }
    stream::select_all(all)
}

fn tag<K>(
    r: watcher::Result<watcher::Event<K>>,
    change: fn(watcher::Event<K>) -> Change,
    resource: &'static str,
) -> Observed {
    r.map(change).map_err(|error| Failure { resource, error })
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
