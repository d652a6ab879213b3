//! Each trigger sends exactly one PATCH with the strategic merge patch
//! content type and the expected body; Ctrl+C afterwards ends the run with
//! exit code 130 and a timeline that still says what happened.

#[path = "fixtures/rollout/fake_api.rs"]
mod fake_api;

use std::time::Duration;

use clap::Parser;
use fake_api::{Fake, Seen, read_events, wait_events};
use seamless_controller::rollout::error::EXIT_INTERRUPTED;
use seamless_controller::rollout::{Error, Params, Trigger, execute};
use seamless_controller::{Command, Opts};
use seamless_proto::RunInfo;
use serde_json::{Value, json};

fn rollout_opts(args: &[&str]) -> seamless_controller::rollout::Opts {
    let mut full = vec![
        "seamless-controller",
        "rollout",
        "-n",
        "demo",
        "web",
        "--out",
        "unused",
    ];
    full.extend_from_slice(args);
    match Opts::try_parse_from(full).unwrap().command {
        Command::Rollout(o) => o,
        other => panic!("not rollout: {other:?}"),
    }
}

/// Runs a rollout with this trigger against the fixture, interrupts it
/// once the patch is acknowledged, and returns the PATCH request.
async fn patch_for(trigger: Trigger) -> Seen {
    let fake = Fake::with_fixture();
    let (client, server) = fake.client();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let params = Params {
        namespace: "demo".into(),
        deployment: "web".into(),
        trigger,
        services: Vec::new(),
        timeout: Duration::from_secs(30),
        settle: Duration::from_secs(1),
        out: out.clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        execute(client, &params, async {
            let _ = stopped.await;
        })
        .await
    });
    let timeline = out.join("timeline.jsonl");
    wait_events(&timeline, 2).await;
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("run stops on interrupt")
        .unwrap();
    let err = result.expect_err("an interrupted run is an error");
    assert!(matches!(err, Error::Interrupted));
    assert_eq!(err.exit_code(), EXIT_INTERRUPTED);
    let kinds: Vec<&str> = read_events(&timeline)
        .iter()
        .map(|e| e.kind.name())
        .collect();
    assert_eq!(kinds, ["patch_sent", "patch_acknowledged", "run_end"]);
    let info = RunInfo::read(&out).unwrap();
    assert_eq!(info.exit_code, Some(130));
    assert_eq!(info.outcome.as_deref(), Some("interrupted"));

    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("server ends")
        .unwrap();
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());
    let patches: Vec<Seen> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == http::Method::PATCH)
        .collect();
    assert_eq!(patches.len(), 1, "exactly one PATCH");
    let p = patches.into_iter().next().unwrap();
    assert_eq!(p.path, "/apis/apps/v1/namespaces/demo/deployments/web");
    assert_eq!(
        p.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(
        p.query,
        [("fieldManager".to_owned(), "seamless-controller".to_owned())]
    );
    p
}

#[tokio::test]
async fn move_to_node_patches_node_name() {
    let o = rollout_opts(&["--move-to-node", "node-c"]);
    let p = patch_for(o.trigger().unwrap()).await;
    assert_eq!(
        p.body,
        Some(json!({"spec": {"template": {"spec": {"nodeName": "node-c"}}}}))
    );
}

#[tokio::test]
async fn alternate_nodes_moves_away_from_the_current_node() {
    // The fixture's template is pinned to node-a.
    let o = rollout_opts(&["--alternate-nodes", "node-b,node-a"]);
    let p = patch_for(o.trigger().unwrap()).await;
    assert_eq!(
        p.body,
        Some(json!({"spec": {"template": {"spec": {"nodeName": "node-b"}}}}))
    );
    let o = rollout_opts(&["--alternate-nodes", "node-a,node-b"]);
    let p = patch_for(o.trigger().unwrap()).await;
    assert_eq!(
        p.body,
        Some(json!({"spec": {"template": {"spec": {"nodeName": "node-b"}}}}))
    );
}

#[tokio::test]
async fn restart_sets_restarted_at_to_now() {
    let before = chrono::Utc::now();
    let o = rollout_opts(&["--restart"]);
    let p = patch_for(o.trigger().unwrap()).await;
    let body = p.body.unwrap();
    let annotations = body["spec"]["template"]["metadata"]["annotations"]
        .as_object()
        .unwrap();
    assert_eq!(annotations.len(), 1);
    let at = annotations["kubectl.kubernetes.io/restartedAt"]
        .as_str()
        .unwrap();
    assert!(
        at.ends_with('Z') && at.len() == "2026-11-27T05:43:26Z".len(),
        "{at}"
    );
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    let after = chrono::Utc::now();
    assert!(at.timestamp() >= before.timestamp() && at.timestamp() <= after.timestamp());
    assert_eq!(body.as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn image_patches_the_named_container() {
    let o = rollout_opts(&["--image", "nginx=nginx:1.27.3"]);
    let p = patch_for(o.trigger().unwrap()).await;
    assert_eq!(
        p.body,
        Some(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27.3"}]}}}})
        )
    );
}

#[tokio::test]
async fn patch_file_is_sent_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prestop.yaml");
    std::fs::write(
        &file,
        "spec:\n  template:\n    spec:\n      containers:\n        - name: nginx\n          lifecycle:\n            preStop:\n              exec:\n                command: [\"/bin/sh\", \"-c\", \"sleep 10\"]\n",
    )
    .unwrap();
    let o = rollout_opts(&["--patch", file.to_str().unwrap()]);
    let p = patch_for(o.trigger().unwrap()).await;
    let expected: Value = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 10"]}}}}
    ]}}}});
    assert_eq!(p.body, Some(expected));
}

#[test]
fn exactly_one_trigger_is_required() {
    let parse = |args: &[&str]| {
        let mut full = vec!["seamless-controller", "rollout", "web", "--out", "r"];
        full.extend_from_slice(args);
        Opts::try_parse_from(full)
    };
    assert!(parse(&[]).is_err(), "no trigger");
    assert!(
        parse(&["--restart", "--move-to-node", "b"]).is_err(),
        "two triggers"
    );
    assert!(parse(&["--image", "nginx"]).is_err(), "image without =");
    assert!(
        parse(&["--restart", "--timeout", "soon"]).is_err(),
        "bad duration"
    );
    let o = rollout_opts(&["--alternate-nodes", "a"]);
    let err = o.trigger().unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string(),
        "invalid input: --alternate-nodes takes two different nodes A,B, got \"a\""
    );
    let o = rollout_opts(&[
        "--restart",
        "--timeout",
        "90s",
        "--settle",
        "500ms",
        "--service",
        "web",
        "--context",
        "kind-lab",
    ]);
    assert_eq!(o.timeout, Duration::from_secs(90));
    assert_eq!(o.settle, Duration::from_millis(500));
    assert_eq!(o.service, ["web"]);
    assert_eq!(o.context.as_deref(), Some("kind-lab"));
    assert_eq!(o.namespace.as_deref(), Some("demo"));
}
