//! The pod status our kubelet posts, built as the real kubelet builds it
//! (pkg/kubelet/kubelet_pods.go `generateAPIPodStatus`, conditions from
//! pkg/kubelet/status/generate.go): phase, pod and host IPs, start time,
//! one status per container matched to its spec by name, and the
//! conditions PodReadyToStartContainers, Initialized, ContainersReady and
//! Ready, each with a `lastTransitionTime` that moves only when its status
//! changes (Deployment availability and minReadySeconds read it). The patch
//! carries the pod's UID, so it cannot land on a namesake pod (kubernetes
//! PR 86320; status_manager.go).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// A container's state.
#[derive(Debug, Clone, PartialEq)]
pub enum CState {
    /// Not started (reason and message, e.g. ErrImagePull).
    Waiting {
        /// Why.
        reason: String,
        /// What to do.
        message: String,
    },
    /// Running since.
    Running {
        /// Start time.
        started: DateTime<Utc>,
    },
    /// Exited.
    Terminated {
        /// Exit code (128+signal when killed).
        exit_code: i32,
        /// Completed, Error, ...
        reason: String,
        /// Its last log lines when it failed (FallbackToLogsOnError).
        message: String,
        /// Start time.
        started: DateTime<Utc>,
        /// End time.
        finished: DateTime<Utc>,
    },
}

/// One container's status.
#[derive(Debug, Clone)]
pub struct ContainerStatus {
    /// Its name (the spec's).
    pub name: String,
    /// Its image (the spec's).
    pub image: String,
    /// `seamless-lab://<pid>` once started.
    pub id: Option<String>,
    /// State.
    pub state: CState,
    /// Readiness (probe result; false unless running).
    pub ready: bool,
    /// Restarts.
    pub restart_count: i32,
}

/// Pod phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not all containers started.
    Pending,
    /// Containers started.
    Running,
    /// All exited 0, none to restart.
    Succeeded,
    /// All exited, one or more with an error, none to restart.
    Failed,
}

/// Everything the kubelet reports for one pod.
#[derive(Debug, Clone)]
pub struct PodStatus {
    /// The pod's UID (the patch's precondition).
    pub uid: String,
    /// Phase.
    pub phase: Phase,
    /// The node's address.
    pub host_ip: String,
    /// The pod's address, once its sandbox exists.
    pub pod_ip: Option<String>,
    /// When the kubelet accepted the pod.
    pub start_time: Option<DateTime<Utc>>,
    /// Containers, in spec order.
    pub containers: Vec<ContainerStatus>,
    /// Condition type -> (status, lastTransitionTime).
    conditions: BTreeMap<&'static str, (bool, DateTime<Utc>)>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl PodStatus {
    /// A pod just accepted.
    pub fn new(
        uid: &str,
        host_ip: &str,
        containers: Vec<ContainerStatus>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut s = PodStatus {
            uid: uid.into(),
            phase: Phase::Pending,
            host_ip: host_ip.into(),
            pod_ip: None,
            start_time: Some(now),
            containers,
            conditions: BTreeMap::new(),
        };
        s.recompute(now);
        s
    }

    /// Sets a condition; its transition time moves only on a change.
    fn set(&mut self, ty: &'static str, status: bool, now: DateTime<Utc>) {
        match self.conditions.get(ty) {
            Some((old, _)) if *old == status => {}
            _ => {
                self.conditions.insert(ty, (status, now));
            }
        }
    }

    /// A condition's status and transition time.
    pub fn condition(&self, ty: &str) -> Option<(bool, DateTime<Utc>)> {
        self.conditions.get(ty).copied()
    }

    /// Re-derives the conditions and phase from the containers
    /// (generate.go: ContainersReady when every container is ready, Ready
    /// the same without readiness gates; a terminated container is never
    /// ready). `sandbox` is whether the pod's network exists.
    pub fn recompute(&mut self, now: DateTime<Utc>) {
        for c in &mut self.containers {
            if !matches!(c.state, CState::Running { .. }) {
                c.ready = false;
            }
        }
        let all_ready = !self.containers.is_empty() && self.containers.iter().all(|c| c.ready);
        self.set("PodReadyToStartContainers", self.pod_ip.is_some(), now);
        self.set("Initialized", true, now);
        self.set("ContainersReady", all_ready, now);
        self.set("Ready", all_ready, now);
        let started = self
            .containers
            .iter()
            .all(|c| !matches!(c.state, CState::Waiting { .. }));
        let done: Vec<i32> = self
            .containers
            .iter()
            .filter_map(|c| match c.state {
                CState::Terminated { exit_code, .. } => Some(exit_code),
                _ => None,
            })
            .collect();
        if self.phase == Phase::Succeeded || self.phase == Phase::Failed {
            return;
        }
        self.phase = if started {
            Phase::Running
        } else {
            Phase::Pending
        };
        let _ = done;
    }

    /// Marks the pod terminal (kubelet_pods.go getPhase: every container
    /// exited and none will restart).
    pub fn finish(&mut self, now: DateTime<Utc>) {
        self.recompute(now);
        let failed = self
            .containers
            .iter()
            .any(|c| !matches!(c.state, CState::Terminated { exit_code: 0, .. }));
        self.phase = if failed {
            Phase::Failed
        } else {
            Phase::Succeeded
        };
    }

    /// The strategic-merge patch of the status subresource.
    pub fn patch(&self) -> Value {
        let conditions: Vec<Value> = self
            .conditions
            .iter()
            .map(|(ty, (st, t))| {
                json!({"type": ty, "status": if *st {"True"} else {"False"},
                       "lastProbeTime": null, "lastTransitionTime": ts(*t)})
            })
            .collect();
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|c| {
                let state = match &c.state {
                    CState::Waiting { reason, message } => {
                        json!({"waiting": {"reason": reason, "message": message}})
                    }
                    CState::Running { started } => json!({"running": {"startedAt": ts(*started)}}),
                    CState::Terminated {
                        exit_code,
                        reason,
                        message,
                        started,
                        finished,
                    } => {
                        let mut t = json!({"exitCode": exit_code, "reason": reason,
                            "startedAt": ts(*started), "finishedAt": ts(*finished)});
                        if !message.is_empty() {
                            t["message"] = json!(message);
                        }
                        if let Some(id) = &c.id {
                            t["containerID"] = json!(id);
                        }
                        json!({"terminated": t})
                    }
                };
                let mut v = json!({
                    "name": c.name, "image": c.image, "imageID": "",
                    "ready": c.ready, "restartCount": c.restart_count,
                    "started": matches!(c.state, CState::Running { .. }),
                    "state": state,
                });
                if let Some(id) = &c.id {
                    v["containerID"] = json!(id);
                }
                v
            })
            .collect();
        let phase = match self.phase {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        };
        let mut status = json!({
            "phase": phase,
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "conditions": conditions,
            "containerStatuses": containers,
        });
        if let Some(ip) = &self.pod_ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        if let Some(t) = self.start_time {
            status["startTime"] = json!(ts(t));
        }
        json!({"metadata": {"uid": self.uid}, "status": status})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn one(state: CState) -> Vec<ContainerStatus> {
        vec![ContainerStatus {
            name: "nginx".into(),
            image: "nginx:1.17.1".into(),
            id: Some("seamless-lab://42".into()),
            state,
            ready: false,
            restart_count: 0,
        }]
    }

    #[test]
    fn ready_moves_its_transition_time_only_on_a_change() {
        let mut s = PodStatus::new(
            "u1",
            "198.19.0.1",
            one(CState::Running { started: t(0) }),
            t(0),
        );
        s.pod_ip = Some("198.18.1.10".into());
        s.recompute(t(0));
        assert_eq!(s.phase, Phase::Running);
        assert_eq!(s.condition("Ready"), Some((false, t(0))));
        s.containers[0].ready = true;
        s.recompute(t(3));
        assert_eq!(s.condition("Ready"), Some((true, t(3))));
        assert_eq!(s.condition("ContainersReady"), Some((true, t(3))));
        s.recompute(t(9));
        assert_eq!(
            s.condition("Ready"),
            Some((true, t(3))),
            "no change, no new time"
        );
        assert_eq!(s.condition("Initialized"), Some((true, t(0))));
    }

    #[test]
    fn an_exited_container_is_not_ready_and_the_patch_carries_the_uid() {
        let mut s = PodStatus::new(
            "u2",
            "198.19.0.1",
            one(CState::Running { started: t(0) }),
            t(0),
        );
        s.containers[0].ready = true;
        s.recompute(t(1));
        s.containers[0].state = CState::Terminated {
            exit_code: 137,
            reason: "Error".into(),
            message: String::new(),
            started: t(0),
            finished: t(5),
        };
        s.finish(t(5));
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(s.condition("Ready"), Some((false, t(5))));
        let p = s.patch();
        assert_eq!(p["metadata"]["uid"], "u2");
        assert_eq!(p["status"]["phase"], "Failed");
        let st = &p["status"]["containerStatuses"][0];
        assert_eq!(st["ready"], false);
        assert_eq!(st["state"]["terminated"]["exitCode"], 137);
        assert_eq!(
            st["state"]["terminated"]["finishedAt"],
            "2027-01-15T08:00:05Z"
        );
    }

    #[test]
    fn an_image_that_cannot_run_keeps_the_pod_pending_with_the_reason() {
        let s = PodStatus::new(
            "u3",
            "198.19.0.1",
            one(CState::Waiting {
                reason: "ErrImagePull".into(),
                message: "no".into(),
            }),
            t(0),
        );
        assert_eq!(s.phase, Phase::Pending);
        let p = s.patch();
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ErrImagePull"
        );
    }
}
