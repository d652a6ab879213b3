//! The logging setup as a binary sees it: `RUST_LOG` read at init, a bad
//! value warned about and the default used. Each case runs this test binary
//! again as a child (so the child's environment and global subscriber are
//! its own) and reads the child's stderr.
#![cfg(feature = "logging")]

use std::process::Command;

const CHILD: &str = "SEAMLESS_LOGGING_TEST_CHILD";

/// In the child: install the logging and log one line at each level.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    seamless_proto::logging::init();
    tracing::error!(target: "seamless_lab", "lab error");
    tracing::info!(target: "seamless_lab", "lab info");
    tracing::debug!(target: "seamless_lab", "lab debug");
    tracing::info!(target: "kube", "kube info");
    tracing::debug!(target: "kube", "kube debug");
    tracing::info!(target: "other", "other info");
}

fn stderr_with(rust_log: Option<&str>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env_remove("RUST_LOG");
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "the child failed: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn default_is_info() {
    let err = stderr_with(None);
    assert!(
        err.contains("lab info") && err.contains("other info"),
        "{err}"
    );
    assert!(!err.contains("debug"), "{err}");
}

#[test]
fn target_lists_filter_by_target() {
    let err = stderr_with(Some("seamless_lab=debug,kube=info"));
    assert!(
        err.contains("lab debug") && err.contains("kube info"),
        "{err}"
    );
    assert!(!err.contains("kube debug"), "{err}");
    assert!(!err.contains("other info"), "{err}");
}

#[test]
fn a_bad_filter_warns_and_logs_at_info() {
    let err = stderr_with(Some("seamless_lab=loud"));
    assert!(
        err.contains("RUST_LOG=\"seamless_lab=loud\" is not a log filter"),
        "{err}"
    );
    assert!(
        err.contains("lab info") && err.contains("other info"),
        "{err}"
    );
    assert!(!err.contains("lab debug"), "{err}");
}

#[test]
fn no_colour_codes_into_a_pipe_or_file() {
    let err = stderr_with(None);
    assert!(err.contains("lab info"), "{err}");
    assert!(!err.contains('\x1b'), "ANSI codes in a pipe: {err:?}");
}
