//! `experiment` against a mocked API server (tower-test): the requests in
//! their order, the refusals that change nothing, the cleanup on every
//! failure path (an agent that cannot start, RBAC refusals, Ctrl+C, a
//! second Ctrl+C), and every request it makes allowed by the Role of
//! `manifests/rbac/`, which grants exactly the verbs used.

#[path = "fixtures/rollout/fake_api.rs"]
mod fake_api;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_api::{Fake, Seen, status};
use http::{Method, StatusCode};
use seamless_controller::experiment::{
    Access, Error, Interrupts, Outcome, Params, execute, signals::Raiser,
};
use seamless_controller::rollout::Trigger;
use serde_json::{Value, json};

const AGENT: &str = "seamless-agent-t1-r01-0";
const AGENT_PATH: &str = "/api/v1/namespaces/demo/pods/seamless-agent-t1-r01-0";

fn params(out: PathBuf) -> Params {
    Params {
        namespace: "demo".into(),
        deployment: "web".into(),
        trigger: Trigger::MoveToNode("node-b".into()),
        services: vec!["web".into()],
        timeout: Duration::from_secs(10),
        settle: Duration::from_millis(100),
        agents: Vec::new(),
        per_node: false,
        control: None,
        access: Access::Clusterip,
        rate: 1000.0,
        image: "seamless-agent:test".into(),
        port: 9090,
        repeat: 1,
        between: Duration::ZERO,
        out,
        replicas_ok: false,
        keep: false,
        dry_run: false,
        ready_timeout: Duration::from_secs(5),
        clock_rounds: 4,
        id: "t1".into(),
    }
}

struct Ran {
    result: Result<Outcome, Error>,
    fake: Fake,
    _dir: tempfile::TempDir,
}

impl Ran {
    fn labels(&self) -> Vec<String> {
        self.fake.requests().iter().map(Seen::label).collect()
    }
    fn err(&self) -> &Error {
        self.result.as_ref().expect_err("the experiment fails")
    }
}

/// Runs against the fixture after `setup`; `during` gets the raiser of
/// Ctrl+C and the fake while the experiment runs.
async fn run<F, Fut>(setup: impl FnOnce(&Fake), p: impl FnOnce(&mut Params), during: F) -> Ran
where
    F: FnOnce(Raiser, Fake) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let fake = Fake::with_fixture();
    setup(&fake);
    let (client, server) = fake.client();
    let dir = tempfile::tempdir().unwrap();
    let mut params = params(dir.path().join("exp"));
    p(&mut params);
    let (raiser, interrupts) = Interrupts::manual();
    let player = tokio::spawn(during(raiser, fake.clone()));
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        execute(client, &params, interrupts),
    )
    .await
    .expect("the experiment ends by itself");
    player.abort();
    tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("server ends")
        .unwrap();
    assert!(
        fake.unexpected().is_empty(),
        "requests the fake does not serve: {:?}",
        fake.unexpected()
    );
    rbac_allows_every_request(&fake.requests());
    Ran {
        result,
        fake,
        _dir: dir,
    }
}

fn nothing(_: &Fake) {}
fn same(_: &mut Params) {}
async fn idle(_: Raiser, _: Fake) {}

fn forbidden(verb: &str, resource: &str, name: &str) -> (StatusCode, Value) {
    forbidden_in("", verb, resource, name)
}

/// The API server's 403, for a resource of API group `group`.
fn forbidden_in(group: &str, verb: &str, resource: &str, name: &str) -> (StatusCode, Value) {
    (
        StatusCode::FORBIDDEN,
        status(
            403,
            "Forbidden",
            &format!(
                "{resource} \"{name}\" is forbidden: User \"system:serviceaccount:demo:seamless-controller\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"demo\""
            ),
            json!({"name": name, "group": group, "kind": resource}),
        ),
    )
}

/// The agent pod as the API server shows it once its container waits on
/// `reason`, or once Ready.
fn agent_status(fake: &Fake, state: Value, ready: bool) {
    fake.modify("pods", AGENT, |pod| {
        pod["spec"]["nodeName"] = json!("node-b");
        pod["status"] = json!({
            "phase": if ready { "Running" } else { "Pending" },
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"name": "agent", "image": "seamless-agent:test", "imageID": "",
                "ready": ready, "restartCount": 0, "state": state}],
        });
    });
}

/// Waits until the fake holds the agent pod.
async fn agent_created(fake: &Fake) {
    for _ in 0..500 {
        if fake
            .objects("pods")
            .iter()
            .any(|p| p["metadata"]["name"] == AGENT)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the agent pod was never created");
}

const PREFLIGHT: [&str; 3] = [
    "GET /apis/apps/v1/namespaces/demo/deployments/web",
    "GET /api/v1/namespaces/demo/services/web",
    "GET /api/v1/namespaces/demo/services/web",
];

/// The only writes: one object created in `collection`, then `object`
/// deleted.
fn created_then_deleted(fake: &Fake, collection: &str, object: &str) {
    assert_eq!(
        writes(fake),
        [format!("POST {collection}"), format!("DELETE {object}")]
    );
}

fn writes(fake: &Fake) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| r.method != Method::GET)
        .map(Seen::label)
        .collect()
}

#[tokio::test]
async fn a_dry_run_reads_and_creates_nothing() {
    let r = run(nothing, |p| p.dry_run = true, idle).await;
    let outcome = r.result.as_ref().expect("a dry run succeeds");
    assert!(outcome.runs.is_empty());
    assert_eq!(r.labels(), PREFLIGHT);
}

#[tokio::test]
async fn refusals_change_nothing() {
    // Paused.
    let r = run(
        |f| f.modify("deployments", "web", |d| d["spec"]["paused"] = json!(true)),
        same,
        idle,
    )
    .await;
    assert_eq!(
        r.err().to_string(),
        "deployment \"web\" is paused: resume it first (kubectl rollout resume)"
    );
    assert_eq!(r.err().exit_code(), 2);
    assert_eq!(r.labels(), PREFLIGHT[..1]);

    // Rolling: a generation the controller has not observed yet.
    let r = run(
        |f| {
            f.modify("deployments", "web", |d| {
                d["metadata"]["generation"] = json!(2)
            })
        },
        same,
        idle,
    )
    .await;
    let msg = r.err().to_string();
    assert!(
        msg.starts_with("deployment \"web\" is rolling already (Waiting for deployment spec update to be observed...)"),
        "{msg}"
    );
    assert_eq!(r.err().exit_code(), 2);
    assert_eq!(r.labels(), PREFLIGHT[..1]);

    // Two replicas, without and with --replicas-ok.
    let two = |f: &Fake| {
        f.modify("deployments", "web", |d| {
            d["spec"]["replicas"] = json!(2);
            for k in [
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
            ] {
                d["status"][k] = json!(2);
            }
        })
    };
    let r = run(two, same, idle).await;
    assert_eq!(
        r.err().to_string(),
        "deployment \"web\" has 2 replicas: the experiment is meant for one (the seed's); pass --replicas-ok to measure it anyway"
    );
    assert_eq!(r.labels(), PREFLIGHT[..1]);
    let r = run(
        two,
        |p| {
            p.replicas_ok = true;
            p.dry_run = true;
        },
        idle,
    )
    .await;
    assert!(r.result.is_ok(), "{:?}", r.result.err());
}

#[tokio::test]
async fn no_service_to_probe_is_refused() {
    // The fixture has one Service selecting the pods (web) and one not
    // (db): found as the rollout finds it.
    let r = run(
        nothing,
        |p| {
            p.services.clear();
            p.dry_run = true;
        },
        idle,
    )
    .await;
    assert!(r.result.is_ok(), "{:?}", r.result.err());
    assert_eq!(
        r.labels(),
        [
            "GET /apis/apps/v1/namespaces/demo/deployments/web",
            "GET /api/v1/namespaces/demo/services",
            "GET /api/v1/namespaces/demo/services/web",
        ]
    );
    let r = run(
        |f| f.set_objects("services", vec![]),
        |p| p.services.clear(),
        idle,
    )
    .await;
    assert_eq!(
        r.err().to_string(),
        "no Service in namespace \"demo\" selects the pods of deployment \"web\": nothing to probe"
    );
    assert_eq!(r.err().exit_code(), 2);
    assert!(writes(&r.fake).is_empty());
}

#[tokio::test]
async fn an_agent_that_cannot_start_is_deleted() {
    let r = run(nothing, same, |_, fake| async move {
        agent_created(&fake).await;
        agent_status(
            &fake,
            json!({"waiting": {"reason": "ErrImagePull", "message": "pull access denied for seamless-agent"}}),
            false,
        );
    })
    .await;
    assert_eq!(
        r.err().to_string(),
        format!(
            "agent pod \"{AGENT}\" did not start probing: container agent: ErrImagePull: pull access denied for seamless-agent"
        )
    );
    assert_eq!(r.err().exit_code(), 1);
    let labels = r.labels();
    assert_eq!(labels[..3], PREFLIGHT);
    assert_eq!(labels[3], "POST /api/v1/namespaces/demo/pods");
    assert!(
        labels[4..]
            .iter()
            .take_while(|l| **l == format!("GET {AGENT_PATH}"))
            .count()
            >= 1
    );
    created_then_deleted(&r.fake, "/api/v1/namespaces/demo/pods", AGENT_PATH);
    assert_eq!(
        labels.last().unwrap(),
        &format!("GET {AGENT_PATH}"),
        "waits until it is gone"
    );
    assert!(
        r.fake
            .objects("pods")
            .iter()
            .all(|p| p["metadata"]["name"] != AGENT)
    );

    // What was created: labelled with the experiment, restricted.
    let post = r
        .fake
        .requests()
        .into_iter()
        .find(|s| s.method == Method::POST)
        .unwrap();
    let pod = post.body.unwrap();
    assert_eq!(
        pod["metadata"]["labels"]["seamless-rollout.github.io/experiment"],
        "t1"
    );
    assert_eq!(pod["spec"]["containers"][0]["image"], "seamless-agent:test");
    assert_eq!(
        pod["spec"]["containers"][0]["args"][1],
        "http://10.96.120.15:80/"
    );
    assert_eq!(
        pod["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            [0]["podAffinityTerm"]["labelSelector"]["matchLabels"]["app"],
        "web"
    );
}

#[tokio::test]
async fn a_forbidden_create_names_the_verb_and_cleans_up() {
    let r = run(
        |f| {
            f.on(|s| {
                (s.method == Method::POST && s.path == "/api/v1/namespaces/demo/pods")
                    .then(|| forbidden("create", "pods", ""))
            })
        },
        same,
        idle,
    )
    .await;
    let msg = r.err().to_string();
    assert!(
        msg.starts_with(&format!(
            "forbidden: cannot create pods \"{AGENT}\" in namespace \"demo\""
        )),
        "{msg}"
    );
    assert_eq!(r.err().exit_code(), 4);
    // The create may have happened before the answer was lost: deleted
    // anyway (a 404 is fine).
    created_then_deleted(&r.fake, "/api/v1/namespaces/demo/pods", AGENT_PATH);
}

#[tokio::test]
async fn a_forbidden_pod_proxy_names_the_verb_and_cleans_up() {
    let r = run(
        |f| {
            f.on(|s| {
                s.path
                    .starts_with(&format!("{AGENT_PATH}:9090/proxy/"))
                    .then(|| forbidden("get", "pods/proxy", AGENT))
            })
        },
        same,
        |_, fake| async move {
            agent_created(&fake).await;
            agent_status(
                &fake,
                json!({"running": {"startedAt": "2026-12-01T10:00:00Z"}}),
                true,
            );
        },
    )
    .await;
    let msg = r.err().to_string();
    assert!(
        msg.starts_with(&format!(
            "forbidden: cannot get pods/proxy \"{AGENT}\" in namespace \"demo\""
        )),
        "{msg}"
    );
    assert_eq!(r.err().exit_code(), 4);
    let labels = r.labels();
    let proxy = labels
        .iter()
        .position(|l| l.contains(":9090/proxy/"))
        .expect("a proxy request");
    assert_eq!(labels[proxy], format!("GET {AGENT_PATH}:9090/proxy/time"));
    created_then_deleted(&r.fake, "/api/v1/namespaces/demo/pods", AGENT_PATH);
}

#[tokio::test]
async fn ctrl_c_while_waiting_cleans_up() {
    let r = run(nothing, same, |raiser, fake| async move {
        agent_created(&fake).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        raiser.raise();
    })
    .await;
    assert!(matches!(r.err(), Error::Interrupted));
    assert_eq!(r.err().exit_code(), 130);
    created_then_deleted(&r.fake, "/api/v1/namespaces/demo/pods", AGENT_PATH);
    assert!(
        r.fake
            .objects("pods")
            .iter()
            .all(|p| p["metadata"]["name"] != AGENT)
    );
}

#[tokio::test]
async fn a_second_ctrl_c_leaves_at_once() {
    let r = run(
        |f| {
            // The pod never goes away: its deletion is acknowledged only
            // (it stays in the store, so the cleanup waits for it).
            f.on(move |s| {
                (s.method == Method::DELETE && s.path == AGENT_PATH).then(|| {
                    (
                        StatusCode::OK,
                        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": AGENT}}),
                    )
                })
            })
        },
        same,
        |raiser, fake| async move {
            agent_created(&fake).await;
            raiser.raise();
            for _ in 0..500 {
                if fake.requests().iter().any(|s| s.method == Method::DELETE) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            raiser.raise();
        },
    )
    .await;
    assert!(matches!(r.err(), Error::Interrupted));
    assert!(
        r.fake
            .objects("pods")
            .iter()
            .any(|p| p["metadata"]["name"] == AGENT),
        "left behind, as the message says"
    );
}

#[tokio::test]
async fn keep_leaves_the_agents() {
    let r = run(
        nothing,
        |p| p.keep = true,
        |_, fake| async move {
            agent_created(&fake).await;
            agent_status(
                &fake,
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
                false,
            );
            fake.modify("pods", AGENT, |p| p["status"]["phase"] = json!("Failed"));
        },
    )
    .await;
    assert!(
        r.err()
            .to_string()
            .contains("the pod is Failed: exit code 1"),
        "{}",
        r.err()
    );
    assert_eq!(writes(&r.fake), ["POST /api/v1/namespaces/demo/pods"]);
}

#[tokio::test]
async fn an_existing_run_directory_is_refused_before_anything_is_created() {
    let r = run(
        nothing,
        |p| {
            let run = p.out.join("run-01");
            std::fs::create_dir_all(&run).unwrap();
            std::fs::write(run.join("timeline.jsonl"), "").unwrap();
        },
        idle,
    )
    .await;
    assert_eq!(r.err().exit_code(), 2);
    assert!(writes(&r.fake).is_empty());
}

// ---- what the agents probe, and where -----------------------------------

/// Gives Service `name` a nodePort.
fn node_port(fake: &Fake, name: &str, port: u16) {
    fake.modify("services", name, |s| {
        s["spec"]["type"] = json!("NodePort");
        s["spec"]["ports"][0]["nodePort"] = json!(port);
    });
}

#[tokio::test]
async fn both_accesses_and_a_control_are_containers_of_each_agent() {
    let setup = |fake: &Fake| {
        node_port(fake, "web", 30080);
        node_port(fake, "db", 30432);
    };
    let r = run(
        setup,
        |p| {
            p.access = Access::Both;
            p.control = Some("db".into());
        },
        |_, fake| async move {
            agent_created(&fake).await;
            agent_status(
                &fake,
                json!({"waiting": {"reason": "ErrImagePull", "message": "denied"}}),
                false,
            );
        },
    )
    .await;
    assert!(r.err().to_string().contains("ErrImagePull"), "{}", r.err());
    // The control Service is read once, after the rolled one.
    assert_eq!(
        r.labels()[..4],
        [
            PREFLIGHT[0],
            PREFLIGHT[1],
            PREFLIGHT[2],
            "GET /api/v1/namespaces/demo/services/db"
        ]
    );
    let post = r
        .fake
        .requests()
        .into_iter()
        .find(|s| s.method == Method::POST)
        .unwrap();
    let pod = post.body.unwrap();
    let containers = pod["spec"]["containers"].as_array().unwrap();
    let got: Vec<(String, String, String, String)> = containers
        .iter()
        .map(|c| {
            let args: Vec<String> = c["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            let after = |flag: &str| {
                let i = args.iter().position(|a| a == flag).unwrap();
                args[i + 1].clone()
            };
            (
                c["name"].as_str().unwrap().to_owned(),
                args[1].clone(),
                after("--out"),
                after("--serve"),
            )
        })
        .collect();
    let row = |n: &str, u: &str, o: &str, s: &str| (n.into(), u.into(), o.into(), s.into());
    assert_eq!(
        got,
        [
            row(
                "clusterip",
                "http://10.96.120.15:80/",
                "/tmp/probe-$(NODE_NAME).clusterip.log",
                "0.0.0.0:9090"
            ),
            row(
                "nodeport",
                "http://$(HOST_IP):30080/",
                "/tmp/probe-$(NODE_NAME).nodeport.log",
                "0.0.0.0:9091"
            ),
            row(
                "control-clusterip",
                "http://10.96.7.7:5432/",
                "/tmp/probe-$(NODE_NAME).control-clusterip.log",
                "0.0.0.0:9092"
            ),
            row(
                "control-nodeport",
                "http://$(HOST_IP):30432/",
                "/tmp/probe-$(NODE_NAME).control-nodeport.log",
                "0.0.0.0:9093"
            ),
        ]
    );
    created_then_deleted(&r.fake, "/api/v1/namespaces/demo/pods", AGENT_PATH);
}

#[tokio::test]
async fn a_control_that_rolls_with_the_deployment_is_refused() {
    // A second Service over the same pods rolls with them.
    let twin = |fake: &Fake| {
        let mut web = fake
            .objects("services")
            .into_iter()
            .find(|s| s["metadata"]["name"] == "web")
            .unwrap();
        web["metadata"]["name"] = json!("web-twin");
        let mut all = fake.objects("services");
        all.push(web);
        fake.set_objects("services", all);
    };
    for control in ["web", "web-twin"] {
        let r = run(twin, |p| p.control = Some(control.into()), idle).await;
        let msg = r.err().to_string();
        assert!(
            msg.contains(&format!(
                "--control \"{control}\" selects the pods of deployment \"web\""
            )),
            "{msg}"
        );
        assert_eq!(r.err().exit_code(), 2);
        assert!(writes(&r.fake).is_empty());
    }
    let r = run(nothing, |p| p.control = Some("nope".into()), idle).await;
    assert_eq!(r.err().exit_code(), 3, "{}", r.err());
    assert!(writes(&r.fake).is_empty());
}

const SET: &str = "seamless-agent-t1-r01";
const SET_PATH: &str = "/apis/apps/v1/namespaces/demo/daemonsets/seamless-agent-t1-r01";

/// A pod of the agents' DaemonSet on `node`, as its controller and the
/// kubelet would show it.
fn set_pod(node: &str, state: Value, ready: bool, restarts: u32) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{SET}-{node}"), "namespace": "demo", "resourceVersion": "950",
            "labels": {"seamless-rollout.github.io/experiment": "t1", "seamless-rollout.github.io/run": "1"}},
        "spec": {"nodeName": node, "containers": [{"name": "agent", "image": "seamless-agent:test"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [{"name": "agent", "image": "seamless-agent:test", "imageID": "",
                "ready": ready, "restartCount": restarts, "state": state,
                "lastState": if restarts > 0 { json!({"terminated": {"exitCode": 2, "message": "probe log exists"}}) } else { json!({}) }}],
        }
    })
}

/// Plays the DaemonSet controller: once the set exists, two pods, one
/// restarted; once the set is deleted, its pods go (the garbage
/// collector).
async fn place_two_one_restarted(_: Raiser, fake: Fake) {
    loop {
        if !fake.objects("daemonsets").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.modify("daemonsets", SET, |ds| {
        ds["metadata"]["generation"] = json!(1);
        ds["status"] = json!({"observedGeneration": 1, "desiredNumberScheduled": 2,
            "currentNumberScheduled": 2, "numberMisscheduled": 0, "numberReady": 1});
    });
    let mut pods = fake.objects("pods");
    pods.push(set_pod("node-a", json!({"running": {}}), true, 0));
    pods.push(set_pod("node-b", json!({"running": {}}), false, 1));
    fake.set_objects("pods", pods);
    loop {
        if fake.objects("daemonsets").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = fake
        .objects("pods")
        .into_iter()
        .filter(|p| p["metadata"]["labels"]["seamless-rollout.github.io/experiment"] != "t1")
        .collect();
    fake.set_objects("pods", left);
}

#[tokio::test]
async fn agents_per_node_are_a_daemonset_whose_pods_go_with_it() {
    let r = run(nothing, |p| p.per_node = true, place_two_one_restarted).await;
    assert_eq!(
        r.err().to_string(),
        format!(
            "agent pod \"{SET}-node-b\" did not start probing: container agent restarted 1 time(s), last exit code 2: probe log exists"
        )
    );
    assert_eq!(r.err().exit_code(), 1);
    created_then_deleted(
        &r.fake,
        "/apis/apps/v1/namespaces/demo/daemonsets",
        SET_PATH,
    );
    let requests = r.fake.requests();
    let post = requests.iter().find(|s| s.method == Method::POST).unwrap();
    let ds = post.body.clone().unwrap();
    assert_eq!(ds["kind"], "DaemonSet");
    assert_eq!(
        ds["spec"]["selector"]["matchLabels"],
        json!({"seamless-rollout.github.io/experiment": "t1", "seamless-rollout.github.io/run": "1"})
    );
    assert_eq!(ds["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert!(ds["spec"]["template"]["spec"]["nodeName"].is_null());
    // Its pods are found by its labels, and deleted with it: the deletion
    // cascades, and the experiment waits until no pod of it is left.
    let lists: Vec<_> = requests
        .iter()
        .filter(|s| s.method == Method::GET && s.path == "/api/v1/namespaces/demo/pods")
        .collect();
    assert!(lists.iter().all(|s| {
        s.param("labelSelector")
            .is_some_and(|l| l.starts_with("seamless-rollout.github.io/experiment=t1"))
    }));
    let delete = requests
        .iter()
        .find(|s| s.method == Method::DELETE)
        .unwrap();
    assert_eq!(
        delete.body.as_ref().unwrap()["propagationPolicy"],
        "Background"
    );
    let after: Vec<_> = requests
        .iter()
        .skip_while(|s| s.method != Method::DELETE)
        .filter(|s| s.path == "/api/v1/namespaces/demo/pods")
        .collect();
    assert!(after.len() >= 2, "polls until the pods are gone");
    assert!(
        r.fake
            .objects("pods")
            .iter()
            .all(|p| p["metadata"]["labels"]["seamless-rollout.github.io/experiment"] != "t1")
    );
}

#[tokio::test]
async fn a_daemonset_placed_nowhere_is_an_error() {
    let r = run(
        nothing,
        |p| p.per_node = true,
        |_, fake| async move {
            while fake.objects("daemonsets").is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            fake.modify("daemonsets", SET, |ds| {
                ds["metadata"]["generation"] = json!(1);
                ds["status"] = json!({"observedGeneration": 1, "desiredNumberScheduled": 0,
                    "currentNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0});
            });
        },
    )
    .await;
    assert!(
        r.err().to_string().contains("places its pod on no node"),
        "{}",
        r.err()
    );
    assert_eq!(writes(&r.fake)[1], format!("DELETE {SET_PATH}"));
}

#[tokio::test]
async fn a_daemonset_no_controller_takes_up_is_named_as_such() {
    // No status ever: no DaemonSet controller runs (the lab's first
    // controller-manager did not run one).
    let r = run(nothing, |p| p.per_node = true, idle).await;
    let msg = r.err().to_string();
    assert!(
        msg.contains("no DaemonSet controller has taken up the DaemonSet after 5s"),
        "{msg}"
    );
    created_then_deleted(
        &r.fake,
        "/apis/apps/v1/namespaces/demo/daemonsets",
        SET_PATH,
    );
}

#[tokio::test]
async fn a_forbidden_daemonset_names_the_verb() {
    let r = run(
        |fake| {
            fake.on(|s| {
                (s.method == Method::POST && s.path.ends_with("/daemonsets"))
                    .then(|| forbidden_in("apps", "create", "daemonsets", ""))
            })
        },
        |p| p.per_node = true,
        idle,
    )
    .await;
    let msg = r.err().to_string();
    assert!(
        msg.contains("cannot create daemonsets.apps \"seamless-agent-t1-r01\""),
        "{msg}"
    );
    assert_eq!(r.err().exit_code(), 4);
}

// ---- RBAC ------------------------------------------------------------

/// (apiGroup, resource) -> verbs, from manifests/rbac/role.yaml.
fn role() -> BTreeMap<(String, String), BTreeSet<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/rbac/role.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let role: Value = serde_saphyr::from_str(&text).unwrap();
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role["rules"].as_array().unwrap() {
        for g in rule["apiGroups"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                let verbs = out
                    .entry((g.as_str().unwrap().into(), r.as_str().unwrap().into()))
                    .or_default();
                for v in rule["verbs"].as_array().unwrap() {
                    verbs.insert(v.as_str().unwrap().into());
                }
            }
        }
    }
    out
}

/// The (group, resource, verb) the API server authorizes a request as;
/// None for non-resource URLs (/version) and the namespace read the
/// rollout makes only to tell a missing namespace from a missing
/// Deployment.
fn authorized_as(s: &Seen) -> Option<(String, String, String)> {
    let segs: Vec<&str> = s.path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segs.first() {
        Some(&"api") => ("", &segs[2..]),
        Some(&"apis") => (segs[1], &segs[3..]),
        _ => return None,
    };
    let rest = rest.strip_prefix(&["namespaces"][..])?;
    let (resource, name, sub) = match rest {
        [_ns] => return None,
        [_ns, res] => (*res, None, None),
        [_ns, res, name] => (*res, Some(*name), None),
        [_ns, res, name, sub, ..] => (*res, Some(*name), Some(*sub)),
        _ => return None,
    };
    let verb = match (&s.method, name) {
        (&Method::GET, None) if s.is_watch() => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        (m, _) => panic!("unexpected method {m}"),
    };
    let resource = match sub {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_owned(),
    };
    Some((group.into(), resource, verb.into()))
}

fn rbac_allows_every_request(requests: &[Seen]) {
    let role = role();
    for s in requests {
        if let Some((g, r, v)) = authorized_as(s) {
            assert!(
                role.get(&(g.clone(), r.clone()))
                    .is_some_and(|verbs| verbs.contains(&v)),
                "the Role does not allow {v} on {r} (group {g:?}): {}",
                s.label()
            );
        }
    }
}

#[test]
fn the_role_grants_exactly_what_the_experiment_and_the_rollout_use() {
    let role = role();
    let verbs = |g: &str, r: &str| -> Vec<String> {
        role.get(&(g.into(), r.into()))
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default()
    };
    // The agent pods: created, read until ready, deleted; the rollout's
    // list and watch.
    assert_eq!(
        verbs("", "pods"),
        ["create", "delete", "get", "list", "watch"]
    );
    // The agents' control endpoint: GET only, so no create.
    assert_eq!(verbs("", "pods/proxy"), ["get"]);
    // Nothing to read logs or run commands in pods.
    assert!(verbs("", "pods/log").is_empty());
    assert!(verbs("", "pods/exec").is_empty());
    assert_eq!(verbs("", "services"), ["get", "list"]);
    // --agents-per-node: the agents' DaemonSet, created, read until its
    // pods are placed, deleted; nothing cluster-wide (no nodes).
    assert_eq!(verbs("apps", "daemonsets"), ["create", "delete", "get"]);
    assert!(verbs("", "nodes").is_empty());
}

#[test]
fn requests_map_to_their_verbs() {
    let seen = |method: Method, path: &str, watch: bool| Seen {
        method,
        path: path.into(),
        query: if watch {
            vec![("watch".into(), "true".into())]
        } else {
            Vec::new()
        },
        content_type: None,
        body: None,
    };
    let a = |m, p, w| authorized_as(&seen(m, p, w)).unwrap();
    assert_eq!(
        a(
            Method::GET,
            "/api/v1/namespaces/demo/pods/x:9090/proxy/log",
            false
        ),
        ("".into(), "pods/proxy".into(), "get".into())
    );
    assert_eq!(
        a(
            Method::GET,
            "/apis/apps/v1/namespaces/demo/deployments",
            true
        ),
        ("apps".into(), "deployments".into(), "watch".into())
    );
    assert_eq!(
        a(Method::DELETE, "/api/v1/namespaces/demo/pods/x", false),
        ("".into(), "pods".into(), "delete".into())
    );
}
