//! The real control plane: etcd, kube-apiserver, kube-controller-manager
//! and kube-scheduler, each a process of its own in the lab's world, as
//! envtest and kwokctl run them.
//!
//! - etcd keeps its data in the world's private /run (a tmpfs) and never
//!   fsyncs: a lab cluster lives for minutes.
//! - kube-apiserver: TLS with the lab's own CA, `Node,RBAC` authorization
//!   and the NodeRestriction admission plugin (so our kubelet acts with
//!   exactly a node's rights), a service-account signing key. The
//!   ServiceAccount admission plugin is off (as in envtest): it would add a
//!   projected token volume to every pod, which our kubelet does not mount.
//! - kube-controller-manager runs only the controllers a rollout (and the
//!   experiment's agents) touch
//!   (names from cmd/kube-controller-manager/names), and the node-lifecycle
//!   controller: the API server's TaintNodesByCondition admission gives
//!   every new Node the `node.kubernetes.io/not-ready:NoSchedule` taint,
//!   and that controller is what lifts it once the node is Ready. Our
//!   kubelets renew their Leases every 10 s, well inside its 50 s grace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::bins::Bins;
use super::network::{API_PORT, CONTROL_PLANE_IP, FIRST_SERVICE_IP, SERVICE_CIDR};
use super::pki::{Pki, PkiError};
use super::process::{Component, ProcessError};

/// The controllers the lab's controller-manager runs, by the short names
/// every version takes (1.26 knows only these; 1.28 and later keep them as
/// aliases of `deployment-controller`, ...). `daemonset` places the agents
/// of `seamless-controller experiment --agents-per-node`.
pub const CONTROLLERS: &str = "deployment,replicaset,endpointslice,garbagecollector,\
namespace,serviceaccount,serviceaccount-token,root-ca-cert-publisher,job,daemonset,\
nodelifecycle";

/// Starting the control plane failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// Certificates.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A component.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A directory.
    #[error("creating {0}")]
    Dir(PathBuf, #[source] std::io::Error),
    /// The API server did not become ready.
    #[error("kube-apiserver was not ready within {0:?}; the end of its log ({1}):\n{2}")]
    NotReady(Duration, PathBuf, String),
}

/// The running control plane.
#[derive(Debug)]
pub struct ControlPlane {
    /// The admin kubeconfig (system:masters), server on the node network.
    pub admin_kubeconfig: PathBuf,
    /// The PKI, for more identities (nodes, kube-proxy).
    pub pki: Pki,
    /// The API server's URL on the node network.
    pub server: String,
    /// Components, in start order (dropped in reverse).
    components: Vec<Component>,
    /// Where their logs are.
    pub log_dir: PathBuf,
}

impl ControlPlane {
    /// Makes the certificates under `state/pki`, starts the components with
    /// their logs in `state/logs` and data in `state/etcd`, and waits until
    /// the API server answers `/readyz` (up to `timeout`); the
    /// controller-manager batches EndpointSlice updates by `slice_batch`
    /// when given.
    pub fn start(
        bins: &Bins,
        state: &Path,
        timeout: Duration,
        slice_batch: Option<Duration>,
    ) -> Result<ControlPlane, ControlPlaneError> {
        let log_dir = state.join("logs");
        for d in [&log_dir, &state.join("etcd")] {
            std::fs::create_dir_all(d).map_err(|e| ControlPlaneError::Dir(d.clone(), e))?;
        }
        let pki = Pki::create(&state.join("pki"))?;
        pki.serving(
            &[
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "localhost",
            ],
            &[CONTROL_PLANE_IP, FIRST_SERVICE_IP, Ipv4Addr::LOCALHOST],
        )?;
        let (sa_key, sa_pub) = pki.service_account_key()?;
        let server = format!("https://{CONTROL_PLANE_IP}:{API_PORT}");
        let admin = pki.client("seamless-lab-admin", &["system:masters"])?;
        let admin_kubeconfig = pki.kubeconfig("admin.kubeconfig", &server, &admin)?;
        let kcm = pki.client("system:kube-controller-manager", &[])?;
        let kcm_kubeconfig = pki.kubeconfig("kcm.kubeconfig", &server, &kcm)?;
        let sched = pki.client("system:kube-scheduler", &[])?;
        let sched_kubeconfig = pki.kubeconfig("scheduler.kubeconfig", &server, &sched)?;
        let p = |f: &str| pki.path(f).display().to_string();

        let mut components = Vec::new();
        let mut etcd = Command::new(bins.path("etcd"));
        etcd.arg(format!("--data-dir={}", state.join("etcd").display()))
            .args([
                "--listen-client-urls=http://127.0.0.1:2379",
                "--advertise-client-urls=http://127.0.0.1:2379",
                "--listen-peer-urls=http://127.0.0.1:2380",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]);
        components.push(Component::start("etcd", etcd, &log_dir)?);

        let mut api = Command::new(bins.path("kube-apiserver"));
        api.args([
            "--etcd-servers=http://127.0.0.1:2379".to_string(),
            "--bind-address=0.0.0.0".into(),
            format!("--advertise-address={CONTROL_PLANE_IP}"),
            format!("--secure-port={API_PORT}"),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", sa_pub.display()),
            format!("--service-account-signing-key-file={}", sa_key.display()),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--authorization-mode=Node,RBAC".into(),
            "--enable-admission-plugins=NodeRestriction".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
        ]);
        components.push(Component::start("kube-apiserver", api, &log_dir)?);
        let mut cp = ControlPlane {
            admin_kubeconfig,
            pki,
            server,
            components,
            log_dir: log_dir.clone(),
        };
        cp.wait_ready(timeout)?;

        let mut kcm_cmd = Command::new(bins.path("kube-controller-manager"));
        let kc = kcm_kubeconfig.display().to_string();
        kcm_cmd.args([
            format!("--kubeconfig={kc}"),
            format!("--authentication-kubeconfig={kc}"),
            format!("--authorization-kubeconfig={kc}"),
            "--leader-elect=false".into(),
            format!("--controllers={CONTROLLERS}"),
            format!("--service-account-private-key-file={}", sa_key.display()),
            format!("--root-ca-file={}", cp.pki.path("ca.crt").display()),
            // As kubeadm: each controller acts as its own service account,
            // with the bootstrap RBAC role of that controller.
            "--use-service-account-credentials=true".into(),
            "--bind-address=127.0.0.1".into(),
            "--profiling=false".into(),
        ]);
        if let Some(b) = slice_batch {
            // A Go duration: whole milliseconds say it exactly.
            kcm_cmd.arg(format!(
                "--endpointslice-updates-batch-period={}ms",
                b.as_millis()
            ));
        }
        cp.components.push(Component::start(
            "kube-controller-manager",
            kcm_cmd,
            &log_dir,
        )?);
        let mut sched_cmd = Command::new(bins.path("kube-scheduler"));
        let sc = sched_kubeconfig.display().to_string();
        sched_cmd.args([
            format!("--kubeconfig={sc}"),
            format!("--authentication-kubeconfig={sc}"),
            format!("--authorization-kubeconfig={sc}"),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            "--profiling=false".into(),
        ]);
        cp.components
            .push(Component::start("kube-scheduler", sched_cmd, &log_dir)?);
        Ok(cp)
    }

    /// Polls `/readyz` with a plain TLS-less TCP check first, then through
    /// the admin client, until ready or `timeout`.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), ControlPlaneError> {
        let start = Instant::now();
        let addr = std::net::SocketAddr::from((CONTROL_PLANE_IP, API_PORT));
        loop {
            for c in &mut self.components {
                c.check()?;
            }
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && readyz(&self.admin_kubeconfig)
            {
                return Ok(());
            }
            if start.elapsed() > timeout {
                let api = &self.components[1];
                return Err(ControlPlaneError::NotReady(
                    timeout,
                    api.log.clone(),
                    super::process::tail(&api.log, 15),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Adds a component the control plane owns from now on (stopped with
    /// it, newest first).
    pub fn adopt(&mut self, c: Component) {
        self.components.push(c);
    }

    /// Ok while every component runs.
    pub fn check(&mut self) -> Result<(), ProcessError> {
        for c in &mut self.components {
            c.check()?;
        }
        Ok(())
    }

    /// Stops the components, newest first.
    pub fn stop(&mut self) {
        while let Some(mut c) = self.components.pop() {
            c.stop(Duration::from_secs(3));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /readyz` as the admin, on a throwaway runtime (the control plane
/// starts from a plain thread), with the client's own logging silenced: a
/// starting API server answers 500 until its post-start hooks are done,
/// which is what is being waited for, not an error.
fn readyz(kubeconfig: &Path) -> bool {
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        readyz_quiet(kubeconfig)
    })
}

fn readyz_quiet(kubeconfig: &Path) -> bool {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return false;
    };
    rt.block_on(async {
        let Ok(client) = super::client::from_kubeconfig(kubeconfig).await else {
            return false;
        };
        let req = http::Request::get("/readyz").body(Vec::new());
        match req {
            Ok(r) => client.request_text(r).await.is_ok_and(|t| t.trim() == "ok"),
            Err(_) => false,
        }
    })
}
