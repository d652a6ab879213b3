//! Before anything starts: the kube-proxy binary, its version, and the
//! host programs its mode needs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{KubeProxyError, ProxyMode};

/// A Kubernetes version, as `kube-proxy --version` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// As printed, e.g. `v1.37.2`.
    pub text: String,
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
}

impl Version {
    /// Parses `Kubernetes v1.37.2` (or `v1.37.2`, `v1.30.0-alpha.1`).
    pub fn parse(out: &str) -> Option<Version> {
        let text = out.split_whitespace().find(|w| w.starts_with('v'))?;
        let mut it = text.trim_start_matches('v').split(['.', '-', '+']);
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some(Version {
            text: text.to_string(),
            major,
            minor,
        })
    }

    /// Whether it is `major.minor` or later.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

/// What every node's kube-proxy is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The mode (never [`ProxyMode::None`] here).
    pub mode: ProxyMode,
    /// `minSyncPeriod`, when not kube-proxy's default.
    pub min_sync_period: Option<Duration>,
    /// The binary.
    pub program: PathBuf,
    /// Its version.
    pub version: Version,
}

/// Checks, before anything starts, that `mode` can run with the kube-proxy
/// of `bins_dir`: the binary is there, its version has the mode, the host
/// has the mode's tools. `None` for [`ProxyMode::None`].
pub fn preflight(
    bins_dir: &Path,
    mode: ProxyMode,
    min_sync_period: Option<Duration>,
) -> Result<Option<Settings>, KubeProxyError> {
    if mode == ProxyMode::None {
        return Ok(None);
    }
    let program = bins_dir.join("kube-proxy");
    if !program.is_file() {
        return Err(KubeProxyError::Missing(bins_dir.to_path_buf()));
    }
    let out = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|e| KubeProxyError::Version {
            program: program.clone(),
            detail: format!("could not run: {e}"),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = Version::parse(&text)
        .filter(|_| out.status.success())
        .ok_or_else(|| KubeProxyError::Version {
            program: program.clone(),
            detail: format!(
                "gave {} and {:?}",
                out.status,
                format!("{}{}", text, String::from_utf8_lossy(&out.stderr)).trim()
            ),
        })?;
    if mode == ProxyMode::Nftables && !version.at_least(1, 29) {
        return Err(KubeProxyError::NoNftables {
            program,
            version: version.text,
        });
    }
    for &(tool, package) in mode.tools() {
        if crate::host::sandbox::require(&[(tool, package)]).is_err() {
            return Err(KubeProxyError::Tool {
                mode,
                program: tool,
                package,
            });
        }
    }
    if min_sync_period == Some(Duration::ZERO) {
        // pkg/proxy/apis/config/v1alpha1/defaults.go (1.26 and 1.37 alike):
        // `if obj.IPTables.MinSyncPeriod.Duration == 0` (and NFTables) sets
        // 1 s. Passed on as given, as a cluster's configuration would be.
        tracing::warn!(
            "minSyncPeriod 0s: kube-proxy reads a zero minSyncPeriod as unset and uses its \
             default, 1s (its config defaulting); the smallest real setting is 1ns"
        );
    }
    Ok(Some(Settings {
        mode,
        min_sync_period,
        program,
        version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_kube_proxy_prints_them() {
        let v = Version::parse("Kubernetes v1.37.2\n").unwrap();
        assert_eq!((v.major, v.minor, v.text.as_str()), (1, 37, "v1.37.2"));
        let v = Version::parse("Kubernetes v1.30.0-alpha.1").unwrap();
        assert_eq!((v.major, v.minor), (1, 30));
        assert!(Version::parse("Kubernetes").is_none());
    }

    #[test]
    fn nftables_needs_1_29() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("kube-proxy");
        std::fs::write(&bin, "#!/bin/sh\necho Kubernetes v1.26.3\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = preflight(dir.path(), ProxyMode::Nftables, None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("1.29 or later") && msg.contains("v1.26.3"),
            "{msg}"
        );
        assert!(
            preflight(dir.path(), ProxyMode::None, None)
                .unwrap()
                .is_none()
        );
        let empty = tempfile::tempdir().unwrap();
        let err = preflight(empty.path(), ProxyMode::Iptables, None).unwrap_err();
        assert!(err.to_string().contains("--proxy-mode none"), "{err}");
    }
}
