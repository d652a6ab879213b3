//! The user's process: checks the host, resolves the options, starts the
//! sandbox ([`crate::host::sandbox`]) with the inner lab's configuration on
//! its stdin, and supervises it (forwarding Ctrl+C/SIGTERM).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use seamless_proto::clock::now_ns;

use crate::agent;
use crate::cluster::bins::Bins;
use crate::host::sandbox;
use crate::kubelet::backend::BackendKind;
use crate::opts::{Inner, Opts, ProxyKind};

/// `--proxy auto` made definite: real when the components of the version
/// and seamless-controller are there (and the lab runs as root), else
/// emulated, saying why and how to get the real ones. `--proxy real`
/// without them is an error naming what is missing.
fn resolve_proxy(
    opts: &Opts,
    lab_bin: &std::path::Path,
    rootless: bool,
) -> anyhow::Result<ProxyKind> {
    let real_only = [
        (
            "--proxy-min-sync-period",
            opts.proxy_min_sync_period.is_some(),
        ),
        (
            "--endpointslice-updates-batch-period",
            opts.endpointslice_updates_batch_period.is_some(),
        ),
    ];
    // The emulated lab's built-in server speaks HTTP/1.0 and has no
    // graceful stop: --shutdown graceful needs nginx.
    let graceful_builtin = opts.shutdown == crate::shutdown::Shutdown::Graceful
        && opts.backend == BackendKind::Builtin;
    if opts.proxy == ProxyKind::Emulated {
        if let Some((flag, _)) = real_only.iter().find(|(_, set)| *set) {
            bail!("{flag} sets a real component: it needs --proxy real (or auto)");
        }
        if graceful_builtin {
            bail!(
                "--shutdown graceful stops nginx with SIGQUIT: with --proxy emulated it needs --backend nginx"
            );
        }
        return Ok(ProxyKind::Emulated);
    }
    let missing = match Bins::find(
        opts.kubernetes_bin.as_deref(),
        &opts.kubernetes_version,
        Some(lab_bin),
    ) {
        Err(e) => Some(format!(
            "{e} (build them: bash lab/kubernetes/build.sh {})",
            opts.kubernetes_version
        )),
        Ok(_) if rootless => Some("the real components need root".into()),
        Ok(_) => {
            let controller = opts
                .controller_bin
                .clone()
                .unwrap_or_else(|| lab_bin.with_file_name("seamless-controller"));
            (!controller.is_file()).then(|| {
                format!(
                    "no seamless-controller at {} (cargo build -p seamless-controller, or --controller-bin)",
                    controller.display()
                )
            })
        }
    };
    match (opts.proxy, missing) {
        (_, None) => Ok(ProxyKind::Real),
        (ProxyKind::Real, Some(why)) => bail!("--proxy real: {why}"),
        (_, Some(why)) => {
            if let Some((flag, _)) = real_only.iter().find(|(_, set)| *set) {
                bail!("{flag} sets a real component, which cannot run: {why}");
            }
            if graceful_builtin {
                bail!(
                    "--shutdown graceful stops nginx with SIGQUIT, and the real components cannot run ({why}): \
                     pass --backend nginx for the emulated lab"
                );
            }
            eprintln!(
                "lab: using the EMULATED proxy and rollout (kube-proxy-shaped rules, drawn delays), \
                 not the real components: {why}. Pass --proxy emulated to choose it, or --proxy real to insist."
            );
            Ok(ProxyKind::Emulated)
        }
    }
}

/// The user's process: checks, then supervises the sandbox.
pub async fn outer(opts: Opts) -> anyhow::Result<i32> {
    let scenarios = opts.scenarios()?;
    opts.check_agent()?;
    // The host's prerequisites are listed once, in lab/prerequisites.txt
    // (program, Debian package, when it is needed).
    let mut needs: Vec<(&'static str, &'static str)> = Vec::new();
    for line in include_str!("../prerequisites.txt").lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut cols = line.split_whitespace();
        let (Some(program), Some(package), Some(when)) = (cols.next(), cols.next(), cols.next())
        else {
            continue;
        };
        let alternative = match when {
            "always" => None,
            "conntrack-cleanup" if opts.conntrack_cleanup => Some("pass --conntrack-cleanup false"),
            "nginx-backend" if opts.backend == BackendKind::Nginx => Some("use --backend builtin"),
            _ => continue,
        };
        let package: &'static str = match alternative {
            None => package,
            // Once a run, for the error message: leaking it costs nothing.
            Some(alt) => Box::leak(format!("{package} (or {alt})").into_boxed_str()),
        };
        needs.push((program, package));
    }
    sandbox::require(&needs)?;
    let rootless = !sandbox::is_root();
    sandbox::check_namespaces(rootless)?;
    let exe = std::env::current_exe().ok();
    let controller = match &opts.lab_bin {
        Some(p) => std::path::absolute(p)?,
        None => exe
            .clone()
            .context("cannot find this executable; pass --lab-bin")?,
    };
    let agent = agent::find_agent(opts.agent_bin.as_deref(), exe.as_deref())?;
    let proxy = resolve_proxy(&opts, &controller, rootless)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let out = std::path::absolute(&opts.out)?;
    if out.starts_with("/run") {
        bail!("--out must not be under /run: the lab mounts a private /run");
    }
    let seed = opts.seed.unwrap_or_else(|| now_ns() as u64);
    tracing::info!(
        "lab: {} scenario(s) x {} into {} (seed {seed}{})",
        scenarios.len(),
        opts.repeat,
        out.display(),
        if rootless { ", rootless" } else { "" }
    );
    let manifests = std::path::absolute(&opts.manifests)?;
    let controller_bin = match &opts.controller_bin {
        Some(p) => Some(std::path::absolute(p)?),
        None => None,
    };
    let inner = Inner {
        opts: Opts {
            out,
            manifests,
            controller_bin,
            seed: Some(seed),
            agent_bin: Some(agent),
            lab_bin: Some(controller.clone()),
            proxy,
            ..opts
        },
        rootless,
    };
    let config = serde_json::to_vec(&inner)?;

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    // Spawned here, on the calling (main) thread, which outlives the
    // sandbox: PR_SET_PDEATHSIG fires when the spawning thread exits.
    let mut world =
        sandbox::spawn_world_with(rootless, &controller, &["inside".into()], Some(&config))?;
    let mut forwarded = false;
    let mut forwarded_at = std::time::Instant::now();
    loop {
        if let Some(status) = world.try_wait()? {
            use std::os::unix::process::ExitStatusExt;
            return Ok(status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(9)));
        }
        if stop.load(Ordering::Relaxed) && !forwarded {
            if let Some(pid) = sandbox::inner_pid(world.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGINT,
                );
            }
            forwarded = true;
            forwarded_at = std::time::Instant::now();
        }
        if forwarded && forwarded_at.elapsed() > Duration::from_secs(15) {
            tracing::warn!("the lab did not stop within 15 s of the signal; killing it");
            let _ = world.kill();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
