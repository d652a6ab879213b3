//! A real nginx on 127.0.0.1 with the ConfigMap's server block.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A stock nginx started on 127.0.0.1 with the ConfigMap's server block;
/// stopped (by its PID) when dropped.
pub struct Nginx {
    child: std::process::Child,
}

impl Drop for Nginx {
    /// SIGTERM to the master, which stops its workers and exits; SIGKILL
    /// only if it has not within 5 s. (A SIGKILLed master leaves its workers
    /// running, orphaned.)
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..500 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Starts nginx serving `default_conf` from `dir`; returns it and its port.
pub fn start_nginx(nginx: &Path, default_conf: &str, dir: &Path) -> (Nginx, u16) {
    use std::os::unix::fs::PermissionsExt;
    // nginx's workers may run as another user: let them read the files.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let html = dir.join("html");
    std::fs::create_dir(&html).unwrap();
    std::fs::write(html.join("index.html"), "<p>seamless</p>\n").unwrap();
    let port = free_port();
    assert!(default_conf.contains("listen       80;"), "{default_conf}");
    assert!(default_conf.contains("root   /usr/share/nginx/html;"));
    let server = default_conf
        .replace("listen       80;", &format!("listen 127.0.0.1:{port};"))
        .replace("/usr/share/nginx/html", html.to_str().unwrap());
    std::fs::write(dir.join("default.conf"), server).unwrap();
    let d = dir.display();
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/tmp-body;\n\
         proxy_temp_path {d}/tmp-proxy;\n  fastcgi_temp_path {d}/tmp-fcgi;\n\
         uwsgi_temp_path {d}/tmp-uwsgi;\n  scgi_temp_path {d}/tmp-scgi;\n\
         include {d}/default.conf;\n}}\n"
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", nginx.display()));
    let nginx_guard = Nginx { child };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not listen on 127.0.0.1:{port}: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (nginx_guard, port)
}
