//! The host side of `seamless-lab up`: checks the host, starts the lab's
//! world with the inner lab, writes the user's kubeconfig and forwards the
//! API server once the inner lab is ready, forwards Ctrl+C, and removes
//! the kubeconfig when the world ends.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::bins::Bins;
use super::{Inner, STATE, UpOpts, forward, kube_proxy, network};

/// Supervises the world from the host; returns the inner lab's exit code.
pub(super) async fn outer(opts: UpOpts) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().ok();
    let bins = Bins::find(
        opts.kubernetes_bin.as_deref(),
        &opts.kubernetes_version,
        exe.as_deref(),
    )?;
    // Before anything starts: kube-proxy there, its version has the mode.
    kube_proxy::preflight(&bins.dir, opts.proxy_mode, opts.proxy_min_sync_period)?;
    crate::host::sandbox::require(&[
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("ip", "iproute2"),
    ])?;
    if !crate::host::sandbox::is_root() {
        bail!("seamless-lab up needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)");
    }
    crate::host::sandbox::check_namespaces(false)?;
    let agent = crate::agent::find_agent(opts.agent_bin.as_deref(), exe.as_deref())?;
    let lab = exe.context("cannot find this executable")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .with_context(|| format!("listening on 127.0.0.1:{}", opts.port))?;
    let port = listener.local_addr()?.port();
    let mut listener = Some(listener);
    let mut opts = opts;
    if let Some(e) = &opts.events {
        opts.events = Some(std::path::absolute(e)?);
    }
    let inner = Inner {
        opts: opts.clone(),
        bins: bins.dir.clone(),
        agent,
    };
    let args: Vec<std::ffi::OsString> = vec![
        "up".into(),
        "--inside-config".into(),
        serde_json::to_string(&inner)?.into(),
    ];
    let started = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let mut world = crate::host::sandbox::spawn_world(false, &lab, &args)?;
    let kubeconfig = std::path::absolute(&opts.kubeconfig)?;
    let mut announced = false;
    let mut forwarded: Option<Instant> = None;
    loop {
        if let Some(status) = world.try_wait()? {
            let _ = std::fs::remove_file(&kubeconfig);
            use std::os::unix::process::ExitStatusExt;
            return Ok(status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(9)));
        }
        let inner_pid = crate::host::sandbox::inner_pid(world.id());
        if !announced && let Some(pid) = inner_pid {
            let root = PathBuf::from(format!("/proc/{pid}/root{STATE}"));
            if root.join("ready").is_file() {
                let admin = std::fs::read_to_string(root.join("pki/admin.kubeconfig"))?;
                let server = format!(
                    "https://{}:{}",
                    network::CONTROL_PLANE_IP,
                    network::API_PORT
                );
                let text = admin.replace(&server, &format!("https://127.0.0.1:{port}"));
                write_private(&kubeconfig, &text)?;
                if let Some(l) = listener.take() {
                    tokio::spawn(forward::tcp_to_unix(l, root.join("api.sock")));
                }
                eprintln!(
                    "seamless-lab: {} node(s) Ready in {:.1} s (kube-proxy: {}); the API server is on \
                     127.0.0.1:{port}; component logs in {}/logs (inside the lab); Ctrl+C ends the cluster",
                    opts.nodes,
                    started.elapsed().as_secs_f64(),
                    opts.proxy_mode,
                    STATE
                );
                println!("export KUBECONFIG={}", kubeconfig.display());
                std::io::stdout().flush()?;
                announced = true;
            }
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) && forwarded.is_none() {
            if let Some(pid) = inner_pid {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            forwarded = Some(Instant::now());
        }
        if forwarded.is_some_and(|t| t.elapsed() > Duration::from_secs(15)) {
            tracing::warn!("the lab did not stop within 15 s of the signal; killing it");
            let _ = world.kill();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes a file only its owner reads (it holds the admin's key).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}
