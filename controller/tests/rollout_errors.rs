//! Failures give the documented messages and exit codes: not found,
//! forbidden (naming the verb and resource), progress deadline, timeout, a
//! patch that changes nothing, an unknown container. Nothing is patched
//! when a check before the patch fails; once the run directory exists, the
//! timeline ends with `run_end` saying why.

#[path = "fixtures/rollout/fake_api.rs"]
mod fake_api;

use std::path::PathBuf;
use std::time::Duration;

use fake_api::{Fake, Seen, read_events, status, wait_events};
use http::{Method, StatusCode};
use seamless_controller::rollout::{Error, Params, Trigger, execute};
use seamless_proto::RunInfo;
use serde_json::{Value, json};

struct Outcome {
    err: Error,
    fake: Fake,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Outcome {
    /// The kinds of the events in the run's timeline, in order.
    fn kinds(&self) -> Vec<&'static str> {
        read_events(&self.out.join("timeline.jsonl"))
            .iter()
            .map(|e| e.kind.name())
            .collect()
    }
}

/// A run of deployment demo/web with `trigger`, every Service, a 10 s
/// timeout; tests change a field with struct update syntax.
fn params(out: PathBuf, trigger: Trigger) -> Params {
    Params {
        namespace: "demo".into(),
        deployment: "web".into(),
        trigger,
        services: Vec::new(),
        timeout: Duration::from_secs(10),
        settle: Duration::from_millis(100),
        out,
    }
}

/// Runs against the fake after `setup`, while `during` plays the API
/// server's part after the patch; expects an error.
async fn fails<F, Fut>(
    setup: impl FnOnce(&Fake),
    p: impl FnOnce(PathBuf) -> Params,
    during: F,
) -> Outcome
where
    F: FnOnce(Fake, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let fake = Fake::with_fixture();
    setup(&fake);
    let (client, server) = fake.client();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let params = p(out.clone());
    let player = tokio::spawn(during(fake.clone(), out.clone()));
    let result = tokio::time::timeout(
        Duration::from_secs(15),
        execute(client, &params, std::future::pending()),
    )
    .await
    .expect("the run ends by itself");
    player.abort();
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("server ends")
        .unwrap();
    Outcome {
        err: result.expect_err("the run fails"),
        fake,
        out,
        _dir: dir,
    }
}

fn nothing(_: &Fake) {}
async fn idle(_: Fake, _: PathBuf) {}
fn move_to_b(out: PathBuf) -> Params {
    params(out, Trigger::MoveToNode("node-b".into()))
}

fn forbidden(verb: &str, resource: &str, group: &str, name: Option<&str>) -> (StatusCode, Value) {
    let what = match name {
        Some(n) => format!("{resource}{group} \"{n}\""),
        None => format!("{resource}{group}"),
    };
    let group_name = group.trim_start_matches('.');
    let message = format!(
        "{what} is forbidden: User \"system:serviceaccount:demo:prober\" cannot {verb} resource \"{resource}\" in API group \"{group_name}\" in the namespace \"demo\""
    );
    (
        StatusCode::FORBIDDEN,
        status(
            403,
            "Forbidden",
            &message,
            json!({"name": name.unwrap_or(""), "group": group_name, "kind": resource}),
        ),
    )
}

fn patched(fake: &Fake) -> bool {
    fake.requests().iter().any(|r| r.method == Method::PATCH)
}

#[tokio::test]
async fn deployment_not_found() {
    let o = fails(|f| f.set_objects("deployments", vec![]), move_to_b, idle).await;
    assert_eq!(
        o.err.to_string(),
        "deployment \"web\" not found in namespace \"demo\""
    );
    assert_eq!(o.err.exit_code(), 3);
    assert!(
        !o.out.exists(),
        "no run directory for a run that never started"
    );
    let paths: Vec<String> = o.fake.requests().iter().map(Seen::label).collect();
    assert_eq!(
        paths,
        [
            "GET /apis/apps/v1/namespaces/demo/deployments/web",
            "GET /api/v1/namespaces/demo"
        ]
    );
}

#[tokio::test]
async fn namespace_not_found() {
    let o = fails(
        |f| {
            f.set_objects("deployments", vec![]);
            f.on(|r| {
                (r.path == "/api/v1/namespaces/demo").then(|| {
                    (
                        StatusCode::NOT_FOUND,
                        status(
                            404,
                            "NotFound",
                            "namespaces \"demo\" not found",
                            json!({"name": "demo", "kind": "namespaces"}),
                        ),
                    )
                })
            });
        },
        move_to_b,
        idle,
    )
    .await;
    assert_eq!(o.err.to_string(), "namespace \"demo\" not found");
    assert_eq!(o.err.exit_code(), 3);
}

#[tokio::test]
async fn service_not_found() {
    let o = fails(
        nothing,
        |out| Params {
            services: vec!["nope".into()],
            ..params(out, Trigger::Restart)
        },
        idle,
    )
    .await;
    assert_eq!(
        o.err.to_string(),
        "service \"nope\" not found in namespace \"demo\""
    );
    assert_eq!(o.err.exit_code(), 3);
    assert!(!patched(&o.fake));
}

#[tokio::test]
async fn forbidden_get_names_verb_and_resource() {
    let o = fails(
        |f| {
            f.on(|r| {
                (r.method == Method::GET
                    && r.path == "/apis/apps/v1/namespaces/demo/deployments/web")
                    .then(|| forbidden("get", "deployments", ".apps", Some("web")))
            })
        },
        move_to_b,
        idle,
    )
    .await;
    assert_eq!(
        o.err.to_string(),
        "forbidden: cannot get deployments.apps \"web\" in namespace \"demo\": deployments.apps \"web\" is forbidden: \
         User \"system:serviceaccount:demo:prober\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"demo\""
    );
    assert_eq!(o.err.exit_code(), 4);
}

#[tokio::test]
async fn forbidden_list_pods_stops_before_the_patch() {
    let o = fails(
        |f| {
            f.on(|r| {
                (r.method == Method::GET && r.path == "/api/v1/namespaces/demo/pods")
                    .then(|| forbidden("list", "pods", "", None))
            })
        },
        move_to_b,
        idle,
    )
    .await;
    assert!(
        o.err
            .to_string()
            .starts_with("forbidden: cannot list pods in namespace \"demo\": pods is forbidden"),
        "{}",
        o.err
    );
    assert_eq!(o.err.exit_code(), 4);
    assert!(
        !patched(&o.fake),
        "nothing is changed when the watches cannot start"
    );
    assert_eq!(o.kinds(), ["run_end"]);
    assert_eq!(RunInfo::read(&o.out).unwrap().exit_code, Some(4));
}

#[tokio::test]
async fn forbidden_patch_names_verb_and_resource() {
    let o = fails(
        |f| {
            f.on(|r| {
                (r.method == Method::PATCH)
                    .then(|| forbidden("patch", "deployments", ".apps", Some("web")))
            })
        },
        move_to_b,
        idle,
    )
    .await;
    assert!(
        o.err.to_string().starts_with(
            "forbidden: cannot patch deployments.apps \"web\" in namespace \"demo\": "
        ),
        "{}",
        o.err
    );
    assert!(
        o.err
            .to_string()
            .contains("cannot patch resource \"deployments\"")
    );
    assert_eq!(o.err.exit_code(), 4);
    let events = read_events(&o.out.join("timeline.jsonl"));
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["patch_sent", "run_end"]);
    assert_eq!(
        events[1].detail.as_deref(),
        Some(o.err.to_string().as_str())
    );
}

#[tokio::test]
async fn unknown_container_is_refused_before_anything_changes() {
    let o = fails(
        nothing,
        |out| params(out, Trigger::Image(vec![("app".into(), "app:2".into())])),
        idle,
    )
    .await;
    assert_eq!(
        o.err.to_string(),
        "invalid input: deployment \"web\" has no container \"app\" (containers: nginx)"
    );
    assert_eq!(o.err.exit_code(), 2);
    assert!(!patched(&o.fake));
    assert!(!o.out.exists());
}

#[tokio::test]
async fn a_patch_that_changes_nothing_is_reported() {
    // The API server answers a no-op patch with the object unchanged.
    let o = fails(
        |f| {
            let unchanged: Value = serde_json::from_str::<Value>(&fake_api::fixture(
                "initial.json",
            ))
            .unwrap()["deployments"][0]
                .clone();
            f.on(move |r| (r.method == Method::PATCH).then(|| (StatusCode::OK, unchanged.clone())))
        },
        |out| params(out, Trigger::MoveToNode("node-a".into())),
        idle,
    )
    .await;
    assert_eq!(
        o.err.to_string(),
        "the patch did not change deployment \"web\" (generation stayed 1): nothing to roll out"
    );
    assert_eq!(o.err.exit_code(), 2);
}

#[tokio::test]
async fn progress_deadline_exceeded() {
    let o = fails(nothing, move_to_b, |fake, out| async move {
        wait_events(&out.join("timeline.jsonl"), 2).await;
        let mut d: Value = serde_json::from_str(&fake_api::fixture("patched-deployment.json")).unwrap();
        d["metadata"]["resourceVersion"] = json!("5300");
        d["status"] = json!({
            "observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "readyReplicas": 1,
            "availableReplicas": 1, "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.",
                 "lastUpdateTime": "2026-11-20T09:00:06Z", "lastTransitionTime": "2026-11-20T09:00:06Z"},
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "ReplicaSet \"web-7b9f8c6d5\" has timed out progressing.",
                 "lastUpdateTime": "2026-11-27T06:10:10Z", "lastTransitionTime": "2026-11-27T06:10:10Z"}
            ]
        });
        fake.push("deployments", "MODIFIED", &d).await;
    })
    .await;
    assert_eq!(
        o.err.to_string(),
        "deployment \"web\" exceeded its progress deadline"
    );
    assert_eq!(o.err.exit_code(), 5);
    assert_eq!(o.kinds(), ["patch_sent", "patch_acknowledged", "run_end"]);
    let info = RunInfo::read(&o.out).unwrap();
    assert_eq!(info.exit_code, Some(5));
    assert!(info.ended_ns.is_some());
}

#[tokio::test]
async fn timeout_keeps_the_timeline() {
    let o = fails(
        nothing,
        |out| Params {
            timeout: Duration::from_millis(1500),
            ..move_to_b(out)
        },
        idle,
    )
    .await;
    assert_eq!(
        o.err.to_string(),
        "timed out after 1.5s waiting for the rollout: Waiting for deployment spec update to be observed..."
    );
    assert_eq!(o.err.exit_code(), 6);
    assert_eq!(o.kinds(), ["patch_sent", "patch_acknowledged", "run_end"]);
}

#[tokio::test]
async fn an_existing_timeline_is_never_overwritten() {
    let o = fails(
        nothing,
        |out| {
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(
                out.join("timeline.jsonl"),
                "{\"ts_ns\":1,\"kind\":\"run_end\"}\n",
            )
            .unwrap();
            move_to_b(out)
        },
        idle,
    )
    .await;
    assert!(
        o.err
            .to_string()
            .ends_with("timeline.jsonl already exists: use a new run directory"),
        "{}",
        o.err
    );
    assert_eq!(o.err.exit_code(), 2);
    assert_eq!(read_events(&o.out.join("timeline.jsonl")).len(), 1);
    assert!(!patched(&o.fake));
}
