//! A 1-replica rollout (maxSurge 1, maxUnavailable 0) moved between two
//! nodes, played as the API server's watch events, must give the expected
//! timeline in order, survive a lost pod watch (410 Gone, re-list) and a
//! dropped EndpointSlice watch without duplicates, and leave a complete
//! run.json.

#[path = "fixtures/rollout/fake_api.rs"]
mod fake_api;

use std::time::Duration;

use fake_api::{Fake, fixture, read_events, wait_events};
use seamless_controller::rollout::{Params, Trigger, execute};
use seamless_proto::RunInfo;
use seamless_proto::timeline::EventKind;
use serde_json::{Value, json};

fn params(out: std::path::PathBuf) -> Params {
    Params {
        namespace: "demo".into(),
        deployment: "web".into(),
        trigger: Trigger::AlternateNodes("node-a".into(), "node-b".into()),
        services: Vec::new(),
        timeout: Duration::from_secs(30),
        settle: Duration::from_millis(200),
        out,
    }
}

#[tokio::test]
async fn one_replica_rollout_gives_the_expected_timeline_in_order() {
    let fake = Fake::with_fixture();
    let (client, server) = fake.client();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let p = params(out.clone());
    let run = tokio::spawn(async move { execute(client, &p, std::future::pending()).await });

    let timeline = out.join("timeline.jsonl");
    let mut expected: Vec<String> = vec!["patch_sent".into(), "patch_acknowledged".into()];
    wait_events(&timeline, expected.len()).await;
    for line in fixture("one-replica-rollout.jsonl").lines() {
        let step: Value = serde_json::from_str(line).unwrap();
        let (resource, kind) = (
            step["resource"].as_str().unwrap(),
            step["type"].as_str().unwrap(),
        );
        if kind == "DROP" {
            // The connection goes away without an error: the watcher
            // watches again from the last resourceVersion it saw.
            fake.drop_watches(resource);
        } else {
            fake.push(resource, kind, &step["object"]).await;
        }
        let expect = step["expect"].as_array().unwrap();
        expected.extend(expect.iter().map(|k| k.as_str().unwrap().to_owned()));
        if expect.is_empty() {
            // Nothing to wait for: give the controller a moment so the
            // steps stay in order across the separate watch streams.
            tokio::time::sleep(Duration::from_millis(30)).await;
        } else {
            wait_events(&timeline, expected.len()).await;
        }
    }
    let summary = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the run ends after the settle time")
        .unwrap()
        .expect("the rollout succeeds");
    expected.push("run_end".into());

    let events = read_events(&timeline);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, expected);
    assert_eq!(summary.events, events.len());
    assert_eq!(summary.services, ["web"]);
    assert!(
        events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "timestamps never go back"
    );

    let find = |kind: EventKind, n: usize| events.iter().filter(|e| e.kind == kind).nth(n).unwrap();
    let ack = find(EventKind::PatchAcknowledged, 0);
    assert_eq!(ack.generation, Some(2));
    let dep = ack.object.as_ref().unwrap();
    assert_eq!(
        (dep.kind.as_str(), dep.name.as_str(), dep.uid.as_deref()),
        (
            "Deployment",
            "web",
            Some("3c0f6f2e-8a0b-4d7e-9d3a-52b1c1e0a001")
        )
    );
    assert_eq!(
        find(EventKind::PatchSent, 0).detail.as_deref(),
        Some("move-to-node node-b (alternating node-a,node-b; was node-a)")
    );
    let rs = find(EventKind::ReplicaSetCreated, 0);
    assert_eq!(
        (rs.object.as_ref().unwrap().name.as_str(), rs.replicas),
        ("web-7b9f8c6d5", Some(1))
    );
    let scaled = find(EventKind::ReplicaSetScaled, 0);
    assert_eq!(
        (
            scaled.object.as_ref().unwrap().name.as_str(),
            scaled.replicas
        ),
        ("web-6d4cf56db6", Some(0))
    );
    let sched = find(EventKind::PodScheduled, 0);
    assert_eq!(
        (
            sched.object.as_ref().unwrap().name.as_str(),
            sched.node.as_deref()
        ),
        ("web-7b9f8c6d5-q8zvn", Some("node-b"))
    );
    assert_eq!(
        find(EventKind::PodCreated, 0)
            .object
            .as_ref()
            .unwrap()
            .resource_version
            .as_deref(),
        Some("5213")
    );
    assert_eq!(
        find(EventKind::ContainerStarted, 0).address.as_deref(),
        Some("10.244.2.7")
    );
    let term = find(EventKind::PodTerminating, 0);
    assert_eq!(term.object.as_ref().unwrap().name, "web-6d4cf56db6-2xk9p");
    assert_eq!(term.grace_period_s, Some(30));
    assert_eq!(
        term.detail.as_deref(),
        Some("deletionTimestamp 2026-11-27T06:00:42Z")
    );
    let exited = find(EventKind::ContainerTerminated, 0);
    assert_eq!(
        (exited.exit_code, exited.reason.as_deref()),
        (Some(0), Some("Completed"))
    );
    let added = find(EventKind::EndpointAdded, 0);
    assert_eq!(
        (
            added.pod.as_deref(),
            added.address.as_deref(),
            added.ready,
            added.serving,
            added.terminating
        ),
        (
            Some("web-7b9f8c6d5-q8zvn"),
            Some("10.244.2.7"),
            Some(false),
            Some(false),
            Some(false)
        )
    );
    assert_eq!(added.object.as_ref().unwrap().name, "web-7kqfx");
    assert_eq!(added.detail.as_deref(), Some("service web"));
    let old_terminating = find(EventKind::EndpointChanged, 1);
    assert_eq!(
        (
            old_terminating.pod.as_deref(),
            old_terminating.ready,
            old_terminating.serving,
            old_terminating.terminating
        ),
        (
            Some("web-6d4cf56db6-2xk9p"),
            Some(false),
            Some(true),
            Some(true)
        )
    );
    let removed = find(EventKind::EndpointRemoved, 0);
    assert_eq!(
        (removed.pod.as_deref(), removed.address.as_deref()),
        (Some("web-6d4cf56db6-2xk9p"), Some("10.244.1.5"))
    );
    assert_eq!(find(EventKind::RolloutComplete, 0).generation, Some(2));
    assert_eq!(
        find(EventKind::RunEnd, 0).detail.as_deref(),
        Some("complete")
    );

    // run.json
    let info = RunInfo::read(&out).unwrap();
    assert_eq!(info.source.as_deref(), Some("cluster"));
    assert_eq!(
        info.trigger.as_deref(),
        Some("move-to-node node-b (alternating node-a,node-b; was node-a)")
    );
    assert_eq!(info.versions["kubernetes"], "v1.34.2");
    assert_eq!(
        info.extra["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    );
    assert_eq!(
        info.extra["termination"],
        json!({"terminationGracePeriodSeconds": 30, "hostNetwork": false, "containers": [{"name": "nginx", "preStop": null}]})
    );
    assert_eq!(info.extra["services"], json!(["web"]));
    assert_eq!(info.exit_code, Some(0));
    assert!(
        info.started_ns.unwrap() <= events[0].ts_ns
            && events.last().unwrap().ts_ns <= info.ended_ns.unwrap()
    );

    // The requests: the baseline lists before the one patch, the pod list
    // again after the 410, the right selectors.
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("server ends with the client")
        .unwrap();
    assert!(
        fake.unexpected().is_empty(),
        "unexpected requests: {:?}",
        fake.unexpected()
    );
    let reqs = fake.requests();
    let patches: Vec<usize> = reqs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == http::Method::PATCH)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(patches.len(), 1);
    let patch = &reqs[patches[0]];
    assert_eq!(patch.path, "/apis/apps/v1/namespaces/demo/deployments/web");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(patch.param("fieldManager"), Some("seamless-controller"));
    assert_eq!(
        patch.body,
        Some(json!({"spec": {"template": {"spec": {"nodeName": "node-b"}}}}))
    );
    let lists = |path: &str| -> Vec<usize> {
        reqs.iter()
            .enumerate()
            .filter(|(_, r)| r.method == http::Method::GET && r.path == path && !r.is_watch())
            .map(|(i, _)| i)
            .collect()
    };
    for (path, selector) in [
        (
            "/apis/apps/v1/namespaces/demo/deployments",
            ("fieldSelector", "metadata.name=web"),
        ),
        (
            "/apis/apps/v1/namespaces/demo/replicasets",
            ("labelSelector", "app=web"),
        ),
        ("/api/v1/namespaces/demo/pods", ("labelSelector", "app=web")),
        (
            "/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices",
            ("labelSelector", "kubernetes.io/service-name=web"),
        ),
    ] {
        let l = lists(path);
        assert!(
            !l.is_empty() && l[0] < patches[0],
            "{path} listed before the patch"
        );
        assert_eq!(reqs[l[0]].param(selector.0), Some(selector.1), "{path}");
        let watches: Vec<_> = reqs
            .iter()
            .filter(|r| r.path == path && r.is_watch())
            .collect();
        assert!(!watches.is_empty(), "{path} watched");
        assert!(
            watches
                .iter()
                .all(|w| w.param(selector.0) == Some(selector.1))
        );
    }
    let slice_watches: Vec<_> = reqs
        .iter()
        .filter(|r| {
            r.path == "/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices" && r.is_watch()
        })
        .collect();
    assert_eq!(
        slice_watches.len(),
        2,
        "one watch, and one after the dropped connection"
    );
    assert_eq!(slice_watches[0].param("resourceVersion"), Some("5103"));
    assert_eq!(slice_watches[1].param("resourceVersion"), Some("5219"));
    assert_eq!(
        lists("/api/v1/namespaces/demo/pods").len(),
        2,
        "pods re-listed once after 410 Gone"
    );
}
