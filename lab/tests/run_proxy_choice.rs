//! Which data path `seamless-lab run` takes: `--proxy real` without the
//! components is an error naming the version and how to build it; `auto`
//! (the default) falls back to the emulated lab and says so; a knob of a
//! real component is refused where no real component runs.

mod lab_common;

use std::process::{Command, Output};

fn run(args: &[&str]) -> (Output, String) {
    let out = Command::new(lab_common::lab())
        .arg("run")
        .args(args)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

#[test]
fn real_without_the_version_built_is_refused_naming_it() {
    if seamless_testkit::skip_lab("the --proxy real refusal test") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (o, err) = run(&[
        "--proxy",
        "real",
        "--kubernetes-version",
        "v1.9.99",
        "--scenario",
        "pod-clusterip-no-prestop",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--proxy real")
            && err.contains("v1.9.99")
            && err.contains("lab/kubernetes/build.sh v1.9.99"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "nothing ran"
    );
}

#[test]
fn auto_falls_back_to_the_emulated_lab_and_says_so() {
    if seamless_testkit::skip_lab("the --proxy auto fallback test") {
        return;
    }
    let _one = lab_common::one_lab();
    let out = tempfile::tempdir().unwrap();
    let mut args = lab_common::lab_args(
        out.path(),
        &["pod-clusterip-prestop"],
        "300ms",
        &lab_common::agent(),
    );
    // lab_args chooses `--proxy emulated`; take the default instead.
    let at = args.iter().position(|a| a == "--proxy").unwrap();
    args.drain(at..at + 2);
    let o = Command::new(lab_common::lab())
        .args(&args)
        .args(["--kubernetes-version", "v1.9.99"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("using the EMULATED proxy") && err.contains("v1.9.99"),
        "{err}"
    );
    let info =
        seamless_proto::RunInfo::read(&out.path().join("pod-clusterip-prestop/run-01")).unwrap();
    assert_eq!(info.source.as_deref(), Some("lab"));
}

#[test]
fn a_real_knob_without_real_components_is_refused() {
    if seamless_testkit::skip_lab("the real-knob refusal test") {
        return;
    }
    let (o, err) = run(&[
        "--proxy",
        "emulated",
        "--proxy-min-sync-period",
        "0s",
        "--scenario",
        "pod-clusterip-no-prestop",
    ]);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--proxy-min-sync-period") && err.contains("--proxy real"),
        "{err}"
    );
    let (o, err) = run(&["--proxy", "kernel", "--all"]);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("possible values: auto, emulated, real"),
        "{err}"
    );
}
