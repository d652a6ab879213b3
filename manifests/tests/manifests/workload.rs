//! The workload's checks: what every scenario shares, and each scenario's
//! network and termination.

use serde_json::{Value, json};

use super::render::{expect, find, name, one};

/// The namespace of everything.
pub const NS: &str = "seamless-demo";
/// The seed's nginx.
pub const NGINX_IMAGE: &str = "nginx:1.17.1";
/// The preStop delay, both forms.
pub const PRESTOP_SECONDS: u64 = 10;

/// The seed's scenario matrix: network x termination.
pub const NETS: [Net; 2] = [Net::Pod, Net::HostNetwork];
/// The terminations.
pub const TERMS: [Term; 3] = [Term::None, Term::ExecSleep, Term::SleepAction];

/// Pod network or hostNetwork.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Net {
    Pod,
    HostNetwork,
}

/// No preStop, the seed's exec sleep, the native sleep action.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Term {
    None,
    ExecSleep,
    SleepAction,
}

/// The overlay directory of a scenario.
pub fn overlay(net: Net, term: Term) -> String {
    let net = match net {
        Net::Pod => "pod",
        Net::HostNetwork => "hostnet",
    };
    let term = match term {
        Term::None => "no-prestop",
        Term::ExecSleep => "prestop-exec",
        Term::SleepAction => "prestop-sleep",
    };
    format!("workload/overlays/{net}-{term}")
}

/// The header nginx adds, from the active (non-comment) lines of its config:
/// `(header name, value)`.
pub fn nginx_added_header(conf: &str) -> Option<(String, String)> {
    conf.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find_map(|l| {
            let rest = l.strip_prefix("add_header ")?;
            let mut parts = rest.split_whitespace();
            let header = parts.next()?.to_string();
            let value = parts.next()?.trim_end_matches(';').to_string();
            Some((header, value))
        })
}

/// What every scenario shares: the seed's strategy, one nginx, the Service,
/// the config that names the pod.
pub fn common_workload_problems(objs: &[Value]) -> Vec<String> {
    let mut p = Vec::new();
    let dep = one(objs, "Deployment");
    let spec = &dep["spec"];
    expect(&mut p, spec["replicas"] == json!(1), "replicas must be 1");
    expect(
        &mut p,
        spec["strategy"]
            == json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
        format!(
            "strategy must be RollingUpdate maxSurge 1 maxUnavailable 0, is {}",
            spec["strategy"]
        ),
    );
    let pod = &spec["template"]["spec"];
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    expect(&mut p, containers.len() == 1, "one container");
    let c = &pod["containers"][0];
    expect(
        &mut p,
        c["image"] == json!(NGINX_IMAGE),
        format!("image must be {NGINX_IMAGE}, is {}", c["image"]),
    );
    expect(
        &mut p,
        c["readinessProbe"]["httpGet"]["path"] == json!("/"),
        "readiness probe: HTTP GET /",
    );
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    expect(
        &mut p,
        grace > PRESTOP_SECONDS,
        "the grace period must outlast the preStop delay",
    );

    // The config map that the pod mounts as nginx's conf.d.
    let mount = c["volumeMounts"]
        .as_array()
        .and_then(|ms| {
            ms.iter()
                .find(|m| m["mountPath"] == json!("/etc/nginx/conf.d"))
        })
        .and_then(|m| m["name"].as_str());
    let cm_name = pod["volumes"].as_array().and_then(|vs| {
        vs.iter()
            .find(|v| v["name"].as_str() == mount && mount.is_some())
            .and_then(|v| v["configMap"]["name"].as_str())
    });
    let cm = find(objs, "ConfigMap")
        .into_iter()
        .find(|cm| Some(name(cm)) == cm_name);
    match cm.and_then(|cm| cm["data"]["default.conf"].as_str()) {
        None => p.push("no ConfigMap with default.conf mounted at /etc/nginx/conf.d".into()),
        Some(conf) => expect(
            &mut p,
            nginx_added_header(conf) == Some(("X-Pod-Name".into(), "$hostname".into()))
                && conf.contains("add_header X-Pod-Name $hostname always;"),
            "nginx must add `X-Pod-Name $hostname` to every response (always)",
        ),
    }

    // The Service: ClusterIP port 80 and NodePort 30080 onto the pod.
    let svc = one(objs, "Service");
    expect(
        &mut p,
        svc["spec"]["type"] == json!("NodePort"),
        "Service type NodePort",
    );
    let port = &svc["spec"]["ports"][0];
    expect(
        &mut p,
        port["port"] == json!(80) && port["nodePort"] == json!(30080),
        "Service ports 80 / nodePort 30080",
    );
    let labels = &spec["template"]["metadata"]["labels"];
    let selects = svc["spec"]["selector"]
        .as_object()
        .is_some_and(|sel| !sel.is_empty() && sel.iter().all(|(k, v)| labels[k] == *v));
    expect(&mut p, selects, "the Service selects the Deployment's pods");
    p
}

/// The network half of a scenario.
pub fn net_problems(objs: &[Value], net: Net) -> Vec<String> {
    let mut p = Vec::new();
    let pod = &one(objs, "Deployment")["spec"]["template"]["spec"];
    let ns = one(objs, "Namespace");
    let enforce = &ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"];
    match net {
        Net::Pod => {
            expect(
                &mut p,
                pod.get("hostNetwork").is_none_or(|h| h == &json!(false)),
                "pod network: no hostNetwork",
            );
            expect(
                &mut p,
                pod.get("dnsPolicy").is_none(),
                "pod network: default dnsPolicy",
            );
            expect(
                &mut p,
                enforce == &json!("baseline"),
                "pod network: namespace enforces baseline",
            );
        }
        Net::HostNetwork => {
            expect(
                &mut p,
                pod["hostNetwork"] == json!(true),
                "hostNetwork: true",
            );
            expect(
                &mut p,
                pod["dnsPolicy"] == json!("ClusterFirstWithHostNet"),
                "hostNetwork needs dnsPolicy ClusterFirstWithHostNet",
            );
            expect(
                &mut p,
                enforce == &json!("privileged"),
                "hostNetwork: namespace must allow it (privileged)",
            );
        }
    }
    p
}

/// The termination half of a scenario.
pub fn term_problems(objs: &[Value], term: Term) -> Vec<String> {
    let mut p = Vec::new();
    let c = &one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let pre_stop = c.pointer("/lifecycle/preStop");
    match term {
        Term::None => expect(&mut p, pre_stop.is_none(), "no preStop hook"),
        Term::ExecSleep => expect(
            &mut p,
            pre_stop == Some(&json!({"exec": {"command": ["/bin/sh", "-c", "sleep 10"]}})),
            format!("preStop must be the seed's exec sleep 10, is {pre_stop:?}"),
        ),
        Term::SleepAction => expect(
            &mut p,
            pre_stop == Some(&json!({"sleep": {"seconds": PRESTOP_SECONDS}})),
            format!("preStop must be the native sleep action of 10 s, is {pre_stop:?}"),
        ),
    }
    p
}
