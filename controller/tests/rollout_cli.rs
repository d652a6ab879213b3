//! The real binary against an HTTP server on 127.0.0.1: the kubeconfig
//! (KUBECONFIG, --context, the context's namespace, -n), the bearer token,
//! the error message on stderr and the exit code.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Serves canned answers; records "METHOD PATH AUTHORIZATION" per request.
fn serve(answer: fn(&str) -> (u16, String)) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("authorization:") {
                    auth = v.trim().to_owned();
                }
            }
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let path = target.split('?').next().unwrap_or("");
            log.lock().unwrap().push(format!("{method} {path} {auth}"));
            let (code, body) = answer(path);
            let _ = write!(
                conn,
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

fn kubeconfig(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1
kind: Config
current-context: other
clusters:
  - name: lab
    cluster:
      server: http://127.0.0.1:{port}
  - name: elsewhere
    cluster:
      server: http://127.0.0.1:9
contexts:
  - name: lab
    context: {{cluster: lab, user: prober, namespace: demo}}
  - name: other
    context: {{cluster: elsewhere, user: prober}}
users:
  - name: prober
    user: {{token: s3cr3t-token}}
"
        ),
    )
    .unwrap();
    path
}

fn status(code: u16, reason: &str, message: &str) -> (u16, String) {
    let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": message, "reason": reason, "code": code});
    (code, body.to_string())
}

fn answer(path: &str) -> (u16, String) {
    match path {
        "/apis/apps/v1/namespaces/ghost/deployments/web" => {
            status(404, "NotFound", "deployments.apps \"web\" not found")
        }
        "/api/v1/namespaces/ghost" => status(404, "NotFound", "namespaces \"ghost\" not found"),
        "/apis/apps/v1/namespaces/demo/deployments/web" => status(
            403,
            "Forbidden",
            "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:demo:prober\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"demo\"",
        ),
        _ => status(404, "NotFound", "not served here"),
    }
}

fn run(kubeconfig: &std::path::Path, out: &std::path::Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_seamless-controller"))
        .arg("rollout")
        .args(args)
        .arg("--out")
        .arg(out)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn namespace_not_found_exits_3() {
    let (port, seen) = serve(answer);
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), port);
    let (code, stderr) = run(
        &config,
        &dir.path().join("run"),
        &["web", "--context", "lab", "-n", "ghost", "--restart"],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("error: namespace \"ghost\" not found"),
        "{stderr}"
    );
    assert!(!dir.path().join("run").exists());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "GET /apis/apps/v1/namespaces/ghost/deployments/web bearer s3cr3t-token",
            "GET /api/v1/namespaces/ghost bearer s3cr3t-token"
        ]
    );
}

#[test]
fn forbidden_exits_4_naming_verb_and_resource_in_the_contexts_namespace() {
    let (port, _) = serve(answer);
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), port);
    let (code, stderr) = run(
        &config,
        &dir.path().join("run"),
        &["web", "--context", "lab", "--move-to-node", "node-b"],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("error: forbidden: cannot get deployments.apps \"web\" in namespace \"demo\": deployments.apps \"web\" is forbidden"),
        "{stderr}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), 9);
    let (code, stderr) = run(&config, &dir.path().join("run"), &["web"]);
    assert_eq!(code, 2, "no trigger: {stderr}");
    let (code, stderr) = run(
        &config,
        &dir.path().join("run"),
        &["web", "--patch", "/nonexistent/patch.yaml"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("error: cannot use patch file /nonexistent/patch.yaml"),
        "{stderr}"
    );
}
