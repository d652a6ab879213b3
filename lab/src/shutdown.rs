//! How the old pod's server stops (`seamless-lab run --shutdown`), and the
//! agent's probing modes (`--agent-mode`).
//!
//! nginx has two ways to stop (nginx.org/en/docs/control.html): on SIGTERM
//! (or SIGINT) a *fast shutdown*, every connection closed at once, idle
//! kept-alive ones and requests in flight alike; on SIGQUIT a *graceful
//! shutdown*: it closes its listeners and its idle connections, finishes
//! the requests in flight, then exits. Kubernetes sends SIGTERM; a pod
//! gets the graceful one from a preStop hook that runs `nginx -s quit` and
//! waits for nginx to exit (kubelet sends SIGTERM when the hook returns, to
//! a server already gone; the hook's time counts against the grace
//! period).

use serde::{Deserialize, Serialize};

/// The old pod's shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shutdown {
    /// The server gets kubelet's SIGTERM (nginx: fast shutdown).
    #[default]
    Fast,
    /// nginx gets SIGQUIT from the preStop hook (after the scenario's
    /// preStop sleep, if any) and the hook waits until it has exited.
    Graceful,
}

impl Shutdown {
    /// The name in run.json and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Shutdown::Fast => "fast",
            Shutdown::Graceful => "graceful",
        }
    }
}

/// The graceful preStop hook's command: the scenario's sleep first (none
/// without preStop), then `nginx -s quit` (SIGQUIT to the master named by
/// the pid file of the container's nginx.conf), then a wait until the
/// master has exited (it removes its pid file), every 50 ms.
pub fn graceful_prestop(sleep_s: u64) -> Vec<String> {
    let sleep = if sleep_s > 0 {
        format!("sleep {sleep_s}; ")
    } else {
        String::new()
    };
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!(
            "{sleep}nginx -s quit; \
             while kill -0 \"$(cat /run/nginx.pid 2>/dev/null)\" 2>/dev/null; do sleep 0.05; done"
        ),
    ]
}

/// Parses `--agent-mode`'s value: `new` or `reuse` (the lab's backends
/// have no slow path for `slow`).
pub fn parse_agent_mode(s: &str) -> Result<String, String> {
    match seamless_proto::Mode::from_name(s) {
        Some(seamless_proto::Mode::New | seamless_proto::Mode::Reuse) => Ok(s.to_owned()),
        Some(seamless_proto::Mode::Slow) => Err(
            "the lab probes modes new and reuse; slow needs a delaying route its nginx has not"
                .into(),
        ),
        None => Err(format!("unknown mode {s:?}: new or reuse")),
    }
}

/// The agent's flags for `modes`, `pool` and `no_idle_check`: nothing for
/// the default (`new` alone), else `--mode M,..`, `--pool N` when given and
/// `--no-idle-check` when asked.
pub fn agent_args(modes: &[String], pool: Option<u32>, no_idle_check: bool) -> Vec<String> {
    let mut v = Vec::new();
    if modes.len() != 1 || modes[0] != "new" {
        v.push("--mode".into());
        v.push(modes.join(","));
    }
    if let Some(p) = pool {
        v.push("--pool".into());
        v.push(p.to_string());
    }
    if no_idle_check {
        v.push("--no-idle-check".into());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graceful_hook_sleeps_first_then_quits_and_waits() {
        let c = graceful_prestop(10);
        assert_eq!(c[..2], ["/bin/sh", "-c"]);
        assert!(c[2].starts_with("sleep 10; nginx -s quit; while kill -0"));
        assert!(graceful_prestop(0)[2].starts_with("nginx -s quit;"));
    }

    #[test]
    fn modes_new_and_reuse_pass_slow_and_unknown_ones_do_not() {
        assert_eq!(parse_agent_mode("reuse").as_deref(), Ok("reuse"));
        assert!(parse_agent_mode("slow").unwrap_err().contains("slow"));
        assert!(
            parse_agent_mode("old")
                .unwrap_err()
                .contains("new or reuse")
        );
        assert!(agent_args(&["new".into()], None, false).is_empty());
        assert_eq!(
            agent_args(&["new".into(), "reuse".into()], Some(4), true),
            ["--mode", "new,reuse", "--pool", "4", "--no-idle-check"]
        );
    }
}
