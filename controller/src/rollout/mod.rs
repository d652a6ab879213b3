//! `seamless-controller rollout`: triggers a rolling update of a Deployment
//! through the Kubernetes API and records what races during it (pods,
//! endpoints, termination) in `RUN_DIR/timeline.jsonl`, with `run.json`.
//!
//! - `trigger`: the strategic merge patch for each trigger, and sending it;
//! - `watch` and `track`: the watches, and turning object states into
//!   timeline events without duplicates;
//! - `complete`: kubectl's `rollout status` completion rules;
//! - `discover`: the Services whose EndpointSlices to follow;
//! - `params`: what one rollout is asked to do;
//! - `preflight`: the checks before anything changes;
//! - `session`: one run from start to end, on a given `kube::Client`;
//! - [`error`]: what can fail, and the exit codes.
//!
//! The public API is [`Opts`] and [`run`] (the command), [`client`],
//! [`execute`] with [`Params`] and a [`Trigger`] (one rollout on a given
//! client), [`Summary`] and [`Error`]; the modules are the implementation.

pub(crate) mod complete;
pub(crate) mod discover;
pub mod error;
mod params;
mod preflight;
mod record;
mod runinfo;
mod session;
mod track;
mod trigger;
mod watch;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use kube::config::KubeConfigOptions;

pub use error::Error;
pub use params::Params;
pub use session::{Summary, execute};
pub use trigger::Trigger;

/// Options of `rollout`.
#[derive(Debug, Clone, clap::Args)]
pub struct Opts {
    /// The Deployment to roll.
    pub deployment: String,
    /// Namespace [default: the kubeconfig context's, else `default`].
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// kubeconfig context to use [default: the current context]. Without a
    /// kubeconfig, the in-cluster service account is used.
    #[arg(long)]
    pub context: Option<String>,
    /// What starts the rollout.
    #[command(flatten)]
    pub triggers: TriggerOpts,
    /// Service whose EndpointSlices to follow (repeatable) [default: every
    /// Service in the namespace whose selector matches the pod template].
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,
    /// The most to wait, from the start until the old pods are gone.
    #[arg(long, default_value = "10m", value_parser = seamless_proto::duration::parse)]
    pub timeout: Duration,
    /// How long to keep recording after the old pods are gone.
    #[arg(long, default_value = "5s", value_parser = seamless_proto::duration::parse)]
    pub settle: Duration,
    /// The run directory (created if needed; must not hold a timeline yet).
    #[arg(long, value_name = "RUN_DIR")]
    pub out: PathBuf,
}

/// The trigger flags, exactly one of them (shared by `rollout` and
/// `experiment`).
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("trigger")
        .required(true)
        .args(["move_to_node", "alternate_nodes", "restart", "image", "patch"])
))]
pub struct TriggerOpts {
    /// Trigger: move the pods to NODE (sets spec.template.spec.nodeName).
    #[arg(long, value_name = "NODE")]
    pub move_to_node: Option<String>,
    /// Trigger: move the pods to whichever of the two nodes they are not
    /// pinned to now (the first if neither), so repeated runs always move.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub alternate_nodes: Option<Vec<String>>,
    /// Trigger: set the kubectl.kubernetes.io/restartedAt annotation, as
    /// `kubectl rollout restart`.
    #[arg(long)]
    pub restart: bool,
    /// Trigger: set a container's image (repeatable).
    #[arg(long, value_name = "CONTAINER=IMAGE", value_parser = trigger::parse_image)]
    pub image: Vec<(String, String)>,
    /// Trigger: apply a strategic merge patch read from a YAML or JSON file.
    #[arg(long, value_name = "FILE")]
    pub patch: Option<PathBuf>,
}

impl Opts {
    /// The trigger the flags ask for.
    pub fn trigger(&self) -> Result<Trigger, Error> {
        self.triggers.trigger()
    }
}

impl TriggerOpts {
    /// The trigger the flags ask for.
    pub fn trigger(&self) -> Result<Trigger, Error> {
        if let Some(node) = &self.move_to_node {
            return Ok(Trigger::MoveToNode(node.clone()));
        }
        if let Some(nodes) = &self.alternate_nodes {
            return match nodes.as_slice() {
                [a, b] if !a.is_empty() && !b.is_empty() && a != b => {
                    Ok(Trigger::AlternateNodes(a.clone(), b.clone()))
                }
                _ => Err(Error::Invalid(format!(
                    "--alternate-nodes takes two different nodes A,B, got {:?}",
                    nodes.join(",")
                ))),
            };
        }
        if self.restart {
            return Ok(Trigger::Restart);
        }
        if !self.image.is_empty() {
            return Ok(Trigger::Image(self.image.clone()));
        }
        if let Some(path) = &self.patch {
            return Ok(Trigger::PatchFile {
                path: path.clone(),
                body: trigger::read_patch_file(path)?,
            });
        }
        Err(Error::Invalid("no trigger given".into()))
    }
}

/// Builds a client from KUBECONFIG, ~/.kube/config or the in-cluster
/// service account (with `--context` when given); returns it with the
/// namespace to use.
pub async fn client(opts: &Opts) -> Result<(kube::Client, String), Error> {
    client_for(opts.context.as_deref(), opts.namespace.as_deref()).await
}

/// [`client`] from a context and a namespace, either absent.
pub async fn client_for(
    context: Option<&str>,
    namespace: Option<&str>,
) -> Result<(kube::Client, String), Error> {
    let config = match context {
        Some(ctx) => kube::Config::from_kubeconfig(&KubeConfigOptions {
            context: Some(ctx.to_owned()),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Config(Box::new(e)))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Config(Box::new(e)))?,
    };
    let namespace = namespace
        .map(str::to_owned)
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).map_err(|e| Error::Config(Box::new(e)))?;
    Ok((client, namespace))
}

/// Resolves Ctrl+C or SIGTERM.
pub(crate) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `rollout`; returns the exit code (see [`error`]). Errors are
/// printed on stderr.
pub async fn run(opts: Opts) -> anyhow::Result<i32> {
    let prepared = async {
        let trigger = opts.trigger()?;
        let (client, namespace) = client(&opts).await?;
        Ok::<_, Error>((
            client,
            Params {
                namespace,
                deployment: opts.deployment.clone(),
                trigger,
                services: opts.service.clone(),
                timeout: opts.timeout,
                settle: opts.settle,
                out: opts.out.clone(),
            },
        ))
    }
    .await;
    let result = match prepared {
        Ok((client, params)) => execute(client, &params, interrupted()).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(summary) => {
            eprintln!(
                "rollout complete: {} events in {} (services: {})",
                summary.events,
                summary.timeline.display(),
                if summary.services.is_empty() {
                    "none".to_owned()
                } else {
                    summary.services.join(", ")
                }
            );
            Ok(error::EXIT_OK)
        }
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            eprintln!("error: {msg}");
            Ok(e.exit_code())
        }
    }
}
