//! The built kubectl, as a user runs it against the lab's cluster.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// kubectl failed.
#[derive(Debug, thiserror::Error)]
pub enum KubectlError {
    /// It could not start.
    #[error("running {0} failed")]
    Spawn(PathBuf, #[source] std::io::Error),
    /// It said no.
    #[error("kubectl {args} failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// A wait ran out.
    #[error("{0}: not within {1:?}")]
    Timeout(String, Duration),
}

/// kubectl with the lab's admin kubeconfig.
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// The program.
    pub bin: PathBuf,
    /// The kubeconfig.
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    /// Runs `kubectl ARGS` (with `stdin` when given); its stdout.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, KubectlError> {
        let mut child = Command::new(&self.bin)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| KubectlError::Spawn(self.bin.clone(), e))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(text.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| KubectlError::Spawn(self.bin.clone(), e))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(KubectlError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// `kubectl apply -k DIR`.
    pub fn apply_k(&self, dir: &Path) -> Result<(), KubectlError> {
        self.run(&["apply", "-k", &dir.display().to_string()], None)
            .map(|_| ())
    }

    /// `kubectl kustomize DIR`, the rendered YAML.
    pub fn kustomize(&self, dir: &Path) -> Result<String, KubectlError> {
        self.run(&["kustomize", &dir.display().to_string()], None)
    }

    /// `kubectl apply -f -` of `yaml`.
    pub fn apply(&self, yaml: &str) -> Result<(), KubectlError> {
        self.run(&["apply", "-f", "-"], Some(yaml)).map(|_| ())
    }

    /// A jsonpath query.
    pub fn get(&self, ns: &str, what: &[&str], jsonpath: &str) -> Result<String, KubectlError> {
        let jp = format!("jsonpath={jsonpath}");
        let mut args = vec!["-n", ns, "get"];
        args.extend_from_slice(what);
        args.extend(["-o", &jp]);
        self.run(&args, None)
    }

    /// Polls `f` every 100 ms until it gives a value.
    pub fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Kubectl) -> Option<T>,
    ) -> Result<T, KubectlError> {
        let start = Instant::now();
        loop {
            if let Some(v) = f(self) {
                return Ok(v);
            }
            if start.elapsed() > timeout {
                return Err(KubectlError::Timeout(what.into(), timeout));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
