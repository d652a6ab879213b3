//! The container "runtime": images map to local programs through one
//! explicit table, and a container is a process in the pod's network
//! namespace with a mount and UTS namespace of its own (its volumes bound
//! at their mount paths, the pod's name as hostname).
//!
//! | image | program |
//! |---|---|
//! | `nginx`, `nginx:*`, `*/nginx:*` | the system nginx (Debian's nginx-light), with the image's stock `nginx.conf` rebuilt (conf.d included, logs to stderr) and the host's /usr/share/nginx/html |
//! | `seamless-agent*`, `*/seamless-agent*` | our agent (`--agent-bin`), the image's entrypoint |
//! | `busybox*`, `*/busybox*` | the container's `command`/`args` as given, from the host's PATH |
//!
//! Anything else is refused with a message in the container's status
//! (`ErrImagePull`), never run silently as something else. Containers share
//! the world's PID namespace (they are not PID 1 of their own).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// What an image runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// The system nginx.
    Nginx,
    /// seamless-agent.
    Agent,
    /// The command as given (busybox's tools from the host).
    Command,
}

/// An image the lab cannot run.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "seamless-lab cannot run image {0:?}: it maps nginx:* to the system nginx, \
     seamless-agent* to its agent and busybox* to the command as given"
)]
pub struct UnsupportedImage(pub String);

/// The program of an image (registry and tag ignored).
pub fn resolve(image: &str) -> Result<Program, UnsupportedImage> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    let repo = last.split(':').next().unwrap_or(last);
    match repo {
        "nginx" => Ok(Program::Nginx),
        r if r.starts_with("seamless-agent") => Ok(Program::Agent),
        r if r.starts_with("busybox") => Ok(Program::Command),
        _ => Err(UnsupportedImage(image.into())),
    }
}

/// What the runtime needs to start one container.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// The program.
    pub program: Program,
    /// `command` (overrides the entrypoint).
    pub command: Vec<String>,
    /// `args`.
    pub args: Vec<String>,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// (host directory, mount path) binds.
    pub mounts: Vec<(PathBuf, String)>,
    /// The pod's hostname.
    pub hostname: String,
    /// The network namespace (`/run/netns/NAME`), or None for the world's.
    pub netns: String,
    /// The container's own directory (for generated files).
    pub dir: PathBuf,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    /// /etc/resolv.conf, when the pod's DNS policy gives it one.
    pub resolv_conf: Option<String>,
    /// /etc/hosts, kubelet-managed (pod network only).
    pub hosts: Option<String>,
}

/// Starting a container failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A file could not be written.
    #[error("preparing {0}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The process could not start.
    #[error("starting the container's process failed")]
    Spawn(#[source] std::io::Error),
    /// The image's entrypoint is missing.
    #[error("{0}")]
    Missing(String),
}

/// The nginx.conf of the official image, rebuilt for a process outside an
/// image: workers 1, pid in the container's private /run, errors to stderr,
/// access log off (the probes would write thousands of lines a second).
fn nginx_conf() -> String {
    "worker_processes 1;\nerror_log stderr notice;\npid /run/nginx.pid;\n\
     events { worker_connections 4096; }\n\
     http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n\
     \x20 access_log off;\n  sendfile on;\n  keepalive_timeout 65;\n\
     \x20 include /etc/nginx/conf.d/*.conf;\n}\n"
        .into()
}

/// Where a `seamless-agent*` container finds the agent: bound there from
/// `--agent-bin` (the container's private /run), so it runs wherever the
/// binary lives on the host, /tmp included.
pub const AGENT_PATH: &str = "/run/seamless-agent";

/// Single-quotes for sh.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The argv the container runs, after the program table.
pub fn argv(spec: &ContainerSpec) -> Result<Vec<String>, RuntimeError> {
    let mut v: Vec<String> = match spec.program {
        Program::Nginx if spec.command.is_empty() => {
            vec!["nginx".into(), "-g".into(), "daemon off;".into()]
        }
        Program::Agent if spec.command.is_empty() => vec![AGENT_PATH.into()],
        Program::Agent => {
            let mut c = spec.command.clone();
            if c[0].ends_with("seamless-agent") {
                c[0] = AGENT_PATH.into();
            }
            c
        }
        Program::Command if spec.command.is_empty() && spec.args.is_empty() => {
            return Err(RuntimeError::Missing(
                "a busybox container needs a command: the lab runs it from the host".into(),
            ));
        }
        _ => spec.command.clone(),
    };
    v.extend(spec.args.iter().cloned());
    Ok(v)
}

/// Starts the container: `nsenter --net` into the pod's namespace,
/// `unshare --mount --uts`, then a shell that makes a private /run, binds
/// the volumes (and nginx's files), sets the hostname and execs the
/// program, so the child's PID is the program's.
pub fn start(spec: &ContainerSpec, agent_bin: &Path) -> Result<Child, RuntimeError> {
    let argv = argv(spec)?;
    let root = spec.dir.join("root");
    std::fs::create_dir_all(&root).map_err(|e| RuntimeError::Io(root.clone(), e))?;
    let mut binds = spec.mounts.clone();
    if spec.program == Program::Agent {
        binds.push((agent_bin.to_path_buf(), AGENT_PATH.into()));
    }
    let mut file = |name: &str, text: &str, at: &str| -> Result<(), RuntimeError> {
        let p = spec.dir.join(name);
        std::fs::write(&p, text).map_err(|e| RuntimeError::Io(p.clone(), e))?;
        binds.push((p, at.into()));
        Ok(())
    };
    if spec.program == Program::Nginx {
        file("nginx.conf", &nginx_conf(), "/etc/nginx/nginx.conf")?;
    }
    if let Some(text) = &spec.resolv_conf {
        file("resolv.conf", text, "/etc/resolv.conf")?;
    }
    if let Some(text) = &spec.hosts {
        file("hosts", text, "/etc/hosts")?;
    }
    let script = root_script(&root, &binds, &spec.hostname)?;
    let log =
        std::fs::File::create(&spec.log).map_err(|e| RuntimeError::Io(spec.log.clone(), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| RuntimeError::Io(spec.log.clone(), e))?;
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/run/netns/{}", spec.netns))
        .args([
            "--",
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
        ])
        .args(["--", "sh", "-c", &script, "container"])
        .args(&argv)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOSTNAME", &spec.hostname)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // A process group of its own: the container is the group, so SIGKILL
    // and the teardown after its main process exits reach every process
    // it started (nginx's workers), as a runtime's cgroup kill does.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().map_err(RuntimeError::Spawn)
}

/// The shell that builds the container's root and execs its program: a
/// tmpfs root holding a recursive bind of every top-level directory of the
/// host (symlinks such as /bin -> usr/bin copied as links), the world's
/// /proc, /sys and /dev, a private /run and /tmp, then the volumes at their
/// mount paths, then `chroot`. All of it in the container's own mount
/// namespace (`unshare --mount --propagation private`): the host sees none
/// of it. A mount path under a missing top-level directory (/data) is made
/// in the tmpfs root; one that would have to be created inside a host
/// directory is refused: the lab never writes outside its own directories.
fn root_script(
    root: &Path,
    binds: &[(PathBuf, String)],
    hostname: &str,
) -> Result<String, RuntimeError> {
    let r = q(&root.display().to_string());
    let mut s = format!(
        "set -e; R={r}; mount -t tmpfs -o mode=0755 tmpfs \"$R\"; \
         for d in /*; do n=${{d#/}}; case \"$n\" in proc|sys|dev|run|tmp) continue;; esac; \
         if [ -L \"$d\" ]; then cp -P \"$d\" \"$R/$n\"; \
         elif [ -d \"$d\" ]; then mkdir \"$R/$n\"; mount --rbind \"$d\" \"$R/$n\"; fi; done; \
         mkdir \"$R/proc\" \"$R/sys\" \"$R/dev\" \"$R/run\" \"$R/tmp\"; \
         mount --rbind /proc \"$R/proc\"; mount --rbind /sys \"$R/sys\"; \
         mount --rbind /dev \"$R/dev\"; mount -t tmpfs tmpfs \"$R/run\"; \
         mount -t tmpfs -o mode=1777 tmpfs \"$R/tmp\"; "
    );
    for (src, dst) in binds {
        let target = Path::new(dst);
        if !target.is_absolute() {
            return Err(RuntimeError::Missing(format!(
                "the mount path {dst} is not absolute"
            )));
        }
        if !target.exists() {
            let top = target.components().nth(1).map(|c| Path::new("/").join(c));
            // /run and /tmp are the container's own tmpfs: made there.
            let private = top
                .as_deref()
                .is_some_and(|t| t == Path::new("/run") || t == Path::new("/tmp"));
            if !private && top.as_deref().is_some_and(Path::exists) {
                return Err(RuntimeError::Missing(format!(
                    "the mount path {dst} does not exist on this machine, and seamless-lab \
                     creates nothing inside the host's directories"
                )));
            }
        }
        let (src_q, dst_q) = (q(&src.display().to_string()), q(dst));
        let mk = if src.is_dir() {
            format!("mkdir -p \"$R\"{dst_q}")
        } else {
            format!(
                "mkdir -p \"$(dirname \"$R\"{dst_q})\"; [ -e \"$R\"{dst_q} ] || : > \"$R\"{dst_q}"
            )
        };
        s.push_str(&format!(
            "[ -e \"$R\"{dst_q} ] || {{ {mk}; }}; mount --bind {src_q} \"$R\"{dst_q}; "
        ));
    }
    s.push_str(&format!(
        "hostname {}; exec chroot \"$R\" \"$@\"",
        q(hostname)
    ));
    Ok(s)
}

/// Runs `command` inside a running container's namespaces (an exec
/// preStop hook): `nsenter --target PID --net --mount --uts`.
pub fn exec_in(pid: u32, command: &[String]) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--target={pid}"))
        .args(["--net", "--mount", "--uts", "--root", "--wd", "--"])
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_table() {
        assert_eq!(resolve("nginx:1.17.1"), Ok(Program::Nginx));
        assert_eq!(resolve("docker.io/library/nginx"), Ok(Program::Nginx));
        assert_eq!(
            resolve("ghcr.io/seamless-rollout/seamless-agent:0.1.0"),
            Ok(Program::Agent)
        );
        assert_eq!(resolve("busybox:1.36"), Ok(Program::Command));
        let e = resolve("redis:7").unwrap_err();
        assert!(e.to_string().contains("\"redis:7\""), "{e}");
        assert!(resolve("nginx-ingress:1").is_err());
    }

    #[test]
    fn quoting_survives_the_shell() {
        let out = Command::new("sh")
            .args(["-c", &format!("printf %s {}", q("it's $HOME"))])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $HOME");
    }
}
