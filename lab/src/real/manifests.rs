//! The manifests a run applies, as kustomize renders the repository's
//! files, with the lab's two changes where the run asks for them: the agent
//! Job's probing modes (`--agent-mode`, `--agent-pool`: flags added to the
//! agent container's args before its `--out`), and the graceful shutdown
//! (`--shutdown graceful`: the web container's preStop hook becomes an
//! `exec` that sleeps the scenario's preStop time, then runs `nginx -s
//! quit` and waits for nginx to exit, [`crate::shutdown::graceful_prestop`]).

use serde::Deserialize;
use serde_yaml::Value;

/// A rendered manifest the lab cannot change as asked.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// It is not YAML.
    #[error("the rendered manifests do not parse: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// What was to change is not there.
    #[error("the rendered manifests have no {0}")]
    Missing(&'static str),
}

fn docs(yaml: &str) -> Result<Vec<Value>, ManifestError> {
    let mut out = Vec::new();
    for d in serde_yaml::Deserializer::from_str(yaml) {
        let v = Value::deserialize(d)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn render(docs: &[Value]) -> Result<String, ManifestError> {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(d)?);
    }
    Ok(out)
}

/// The containers of the first object of `kind` (its pod template's).
fn containers<'a>(docs: &'a mut [Value], kind: &str) -> Option<&'a mut Vec<Value>> {
    docs.iter_mut()
        .find(|d| d["kind"].as_str() == Some(kind))?
        .get_mut("spec")?
        .get_mut("template")?
        .get_mut("spec")?
        .get_mut("containers")?
        .as_sequence_mut()
}

/// The agent Job with `flags` inserted into the `agent` container's args
/// before `--out` (unchanged when `flags` is empty).
pub fn agent_job(yaml: &str, flags: &[String]) -> Result<String, ManifestError> {
    if flags.is_empty() {
        return Ok(yaml.to_owned());
    }
    let mut docs = docs(yaml)?;
    let ctrs = containers(&mut docs, "Job").ok_or(ManifestError::Missing("Job"))?;
    let args = ctrs
        .iter_mut()
        .find(|c| c["name"].as_str() == Some("agent"))
        .and_then(|c| c.get_mut("args")?.as_sequence_mut())
        .ok_or(ManifestError::Missing("agent container with args"))?;
    let at = args
        .iter()
        .position(|a| a.as_str() == Some("--out"))
        .ok_or(ManifestError::Missing("--out in the agent's args"))?;
    for (k, f) in flags.iter().enumerate() {
        args.insert(at + k, Value::String(f.clone()));
    }
    render(&docs)
}

/// The preStop sleep a container's hook has: the `sleep` action's seconds,
/// or an `exec` whose last word is `sleep N`; 0 without a hook.
fn prestop_sleep(c: &Value) -> u64 {
    let pre = &c["lifecycle"]["preStop"];
    if let Some(s) = pre["sleep"]["seconds"].as_u64() {
        return s;
    }
    pre["exec"]["command"]
        .as_sequence()
        .and_then(|cmd| cmd.last()?.as_str())
        .and_then(|s| s.trim().strip_prefix("sleep "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The workload with the graceful shutdown: the Deployment's nginx
/// container's preStop becomes the graceful hook after the sleep the
/// rendered hook had. Returns the manifests and that sleep.
pub fn graceful_workload(yaml: &str) -> Result<(String, u64), ManifestError> {
    let mut docs = docs(yaml)?;
    let ctrs = containers(&mut docs, "Deployment").ok_or(ManifestError::Missing("Deployment"))?;
    let c = ctrs
        .iter_mut()
        .find(|c| {
            c["image"].as_str().is_some_and(|i| {
                crate::node::runtime::resolve(i) == Ok(crate::node::runtime::Program::Nginx)
            })
        })
        .ok_or(ManifestError::Missing("nginx container in the Deployment"))?;
    let sleep = prestop_sleep(c);
    let cmd: Vec<Value> = crate::shutdown::graceful_prestop(sleep)
        .into_iter()
        .map(Value::String)
        .collect();
    let mut exec = serde_yaml::Mapping::new();
    exec.insert("command".into(), Value::Sequence(cmd));
    let mut pre = serde_yaml::Mapping::new();
    pre.insert("exec".into(), Value::Mapping(exec));
    let mut lifecycle = serde_yaml::Mapping::new();
    lifecycle.insert("preStop".into(), Value::Mapping(pre));
    let m = c
        .as_mapping_mut()
        .ok_or(ManifestError::Missing("nginx container mapping"))?;
    m.insert("lifecycle".into(), Value::Mapping(lifecycle));
    Ok((render(&docs)?, sleep))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kubectl kustomize's rendering of the repository's files, with the
    /// kubectl built here (`None`, said, when it is not; under `CI=true`
    /// it must be).
    fn rendered(dir: &str) -> Option<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let version = crate::cluster::bins::normalize(crate::cluster::bins::DEFAULT_VERSION.trim());
        let kubectl = root
            .join("target/kubernetes")
            .join(version)
            .join("bin/kubectl");
        if !kubectl.is_file() {
            assert!(
                std::env::var_os("CI").is_none(),
                "no {}: build it with lab/kubernetes/build.sh",
                kubectl.display()
            );
            eprintln!("skipping: no {} to render the manifests", kubectl.display());
            return None;
        }
        let out = std::process::Command::new(kubectl)
            .arg("kustomize")
            .arg(root.join("manifests").join(dir))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8(out.stdout).unwrap())
    }

    #[test]
    fn the_agent_job_gets_the_modes_before_its_out() {
        let Some(yaml) = rendered("agent/job-clusterip") else {
            return;
        };
        let flags: Vec<String> = ["--mode", "new,reuse", "--pool", "4"]
            .map(String::from)
            .into();
        let out = agent_job(&yaml, &flags).unwrap();
        let mut d = docs(&out).unwrap();
        let args: Vec<&str> = containers(&mut d, "Job").unwrap()[0]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let at = args.iter().position(|a| *a == "--mode").unwrap();
        assert_eq!(
            args[at..at + 5],
            ["--mode", "new,reuse", "--pool", "4", "--out"]
        );
        assert_eq!(agent_job(&yaml, &[]).unwrap(), yaml, "no flags: unchanged");
    }

    #[test]
    fn the_graceful_hook_keeps_the_scenarios_sleep_of_either_form() {
        for (overlay, sleep) in [
            ("workload/overlays/pod-prestop-sleep", 10),
            ("workload/overlays/hostnet-prestop-exec", 10),
            ("workload/overlays/pod-no-prestop", 0),
        ] {
            let Some(yaml) = rendered(overlay) else {
                return;
            };
            let (out, s) = graceful_workload(&yaml).unwrap();
            assert_eq!(s, sleep, "{overlay}");
            let mut d = docs(&out).unwrap();
            let c = &containers(&mut d, "Deployment").unwrap()[0];
            let cmd: Vec<&str> = c["lifecycle"]["preStop"]["exec"]["command"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(cmd, crate::shutdown::graceful_prestop(sleep), "{overlay}");
            assert!(
                c["lifecycle"]["preStop"]["sleep"].is_null(),
                "one handler only"
            );
        }
    }

    #[test]
    fn manifests_without_what_is_to_change_are_an_error() {
        let e = graceful_workload("kind: Service\nmetadata: {name: web}\n").unwrap_err();
        assert!(e.to_string().contains("Deployment"), "{e}");
        let e = agent_job(
            "kind: Job\nspec: {template: {spec: {containers: [{name: agent, args: [probe]}]}}}\n",
            &["--mode".into()],
        )
        .unwrap_err();
        assert!(e.to_string().contains("--out"), "{e}");
        assert!(agent_job(": :\n  - [", &["x".into()]).is_err());
    }
}
