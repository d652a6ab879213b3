//! Where the real Kubernetes components come from: `--kubernetes-bin DIR`
//! (for instance the official release binaries, unpacked), else what
//! `lab/kubernetes/build.sh` built into `target/kubernetes/<version>/bin/`.

use std::path::{Path, PathBuf};

/// The programs a cluster needs, in start order.
pub const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// The Kubernetes version the lab builds and runs by default: the newest
/// release line that builds with the Go here (see lab/kubernetes/README.md).
pub const DEFAULT_VERSION: &str = include_str!("../../kubernetes/DEFAULT_VERSION");

/// A missing component.
#[derive(Debug, thiserror::Error)]
pub enum BinsError {
    /// A program is not in the directory.
    #[error(
        "{program} is not in {dir}: build the components with \
         `bash lab/kubernetes/build.sh {version}`, or pass --kubernetes-bin DIR \
         (a directory holding etcd, kube-apiserver, kube-controller-manager, \
         kube-scheduler, e.g. the official release binaries)"
    )]
    Missing {
        /// The program.
        program: String,
        /// Where it was looked for.
        dir: PathBuf,
        /// The version asked for.
        version: String,
    },
}

/// The directory holding the components.
#[derive(Debug, Clone)]
pub struct Bins {
    /// The directory.
    pub dir: PathBuf,
}

impl Bins {
    /// Finds the components: `explicit` if given, else
    /// `<workspace>/target/kubernetes/<version>/bin` relative to `exe`
    /// (the lab binary sits in `target/<profile>/`), else the current
    /// directory's `target/kubernetes/<version>/bin`.
    pub fn find(
        explicit: Option<&Path>,
        version: &str,
        exe: Option<&Path>,
    ) -> Result<Bins, BinsError> {
        let version = normalize(version);
        let dir = match explicit {
            Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()),
            None => {
                let rel = Path::new("kubernetes").join(&version).join("bin");
                exe.and_then(Path::parent)
                    .and_then(Path::parent)
                    .map(|target| target.join(&rel))
                    .filter(|d| d.is_dir())
                    .unwrap_or_else(|| Path::new("target").join(&rel))
            }
        };
        for program in COMPONENTS {
            if !dir.join(program).is_file() {
                return Err(BinsError::Missing {
                    program: program.into(),
                    dir,
                    version,
                });
            }
        }
        Ok(Bins {
            dir: std::path::absolute(&dir).unwrap_or(dir),
        })
    }

    /// The path of one component.
    pub fn path(&self, program: &str) -> PathBuf {
        self.dir.join(program)
    }
}

/// `1.37.2` and `v1.37.2` name the same version.
pub fn normalize(version: &str) -> String {
    format!("v{}", version.trim().trim_start_matches('v'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_component_names_itself_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("etcd"), "").unwrap();
        let err = Bins::find(Some(dir.path()), "1.37.2", None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("kube-apiserver is not in"), "{msg}");
        assert!(msg.contains("build.sh v1.37.2"), "{msg}");
    }

    #[test]
    fn versions_are_normalized() {
        assert_eq!(normalize("1.26.3"), "v1.26.3");
        assert_eq!(normalize("v1.26.3\n"), "v1.26.3");
        assert_eq!(normalize(DEFAULT_VERSION), DEFAULT_VERSION.trim());
    }
}
