//! Talking to an agent's control endpoint (`seamless_proto::control`)
//! through the API server's `pods/proxy` subresource: `GET
//! /api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH`, RBAC verb `get` on
//! `pods/proxy`. The API server connects to the pod's IP itself (not
//! through the kubelet), so this works wherever the API server reaches pod
//! IPs, with no exec, no logs API and no port-forward.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kube::Client;
use kube::core::Status;
use seamless_proto::clock::now_ns;
use seamless_proto::control::{AgentStatus, ClockOffset, ClockSample, TimeReply, fnv1a64};
use seamless_proto::log::LogReader;

use super::error::{Error, Result};
use crate::rollout::error::Call;

/// The resource named in a forbidden message.
pub const PODS_PROXY: &str = "pods/proxy";

/// One agent pod's control endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The control port.
    pub port: u16,
}

/// What the endpoint answered, when the API server did not refuse.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Endpoint {
    fn path(&self, path: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/pods/{}:{}/proxy{path}",
            self.namespace, self.pod, self.port
        )
    }

    fn agent_error(&self, reason: String) -> Error {
        Error::Agent {
            pod: self.pod.clone(),
            reason,
        }
    }

    /// GET through the proxy. An API server refusal (a `Status` object:
    /// 403, 404 for a pod that is gone, 503 when it cannot reach the pod)
    /// is an error; the agent's own answers come back with their code.
    async fn get(&self, client: &Client, path: &str) -> Result<Answer> {
        let req = Request::get(self.path(path))
            .body(kube::client::Body::empty())
            .map_err(|e| self.agent_error(format!("bad request for {path}: {e}")))?;
        let call = Call {
            verb: "get",
            resource: PODS_PROXY,
            name: Some(&self.pod),
            namespace: &self.namespace,
        };
        let res = client
            .send(req)
            .await
            .map_err(|e| Error::from(call.error(e)))?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::from(call.error(kube::Error::Service(Box::new(e)))))?
            .to_bytes();
        if !status.is_success()
            && let Ok(s) = serde_json::from_slice::<Status>(&body)
            && !s.message.is_empty()
        {
            return Err(call
                .error(kube::Error::Api(s.with_code(status.as_u16()).boxed()))
                .into());
        }
        Ok(Answer { status, body })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        client: &Client,
        path: &str,
    ) -> Result<(StatusCode, T)> {
        let a = self.get(client, path).await?;
        let value = serde_json::from_slice(&a.body).map_err(|e| {
            self.agent_error(format!(
                "GET {path} answered {} with {:?}, not its JSON: {e}",
                a.status,
                String::from_utf8_lossy(&a.body[..a.body.len().min(200)])
            ))
        })?;
        Ok((a.status, value))
    }

    /// `GET /status`.
    pub async fn status(&self, client: &Client) -> Result<AgentStatus> {
        Ok(self.json(client, "/status").await?.1)
    }

    /// `GET /stop`: asks the agent to stop probing cleanly.
    pub async fn stop(&self, client: &Client) -> Result<AgentStatus> {
        Ok(self.json(client, "/stop").await?.1)
    }

    /// Cristian's method over `rounds` round trips of `GET /time`.
    pub async fn clock(&self, client: &Client, rounds: usize) -> Result<ClockOffset> {
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let sent_ns = now_ns();
            let (_, t): (_, TimeReply) = self.json(client, "/time").await?;
            let received_ns = now_ns();
            samples.push(ClockSample {
                sent_ns,
                remote_ns: t.now_ns,
                received_ns,
            });
        }
        ClockOffset::estimate(&samples).ok_or_else(|| {
            self.agent_error("no usable clock sample (the local clock went back)".into())
        })
    }

    /// `GET /log`, verified against the agent's status: the same length and
    /// checksum, it reads back whole (no torn tail), it has the end marker,
    /// and its probes are the count the agent's summary gave.
    pub async fn fetch_log(&self, client: &Client, done: &AgentStatus) -> Result<Fetched> {
        let a = self.get(client, "/log").await?;
        if a.status != StatusCode::OK {
            return Err(self.agent_error(format!(
                "GET /log answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body).trim()
            )));
        }
        let probes = verify(&a.body, done).map_err(|reason| Error::Verify {
            pod: self.pod.clone(),
            reason,
        })?;
        Ok(Fetched {
            bytes: a.body,
            probes,
        })
    }
}

/// A log fetched and verified.
#[derive(Debug)]
pub struct Fetched {
    /// The log, byte for byte.
    pub bytes: Bytes,
    /// Its probes.
    pub probes: u64,
}

/// Checks fetched bytes against the agent's final status; returns the
/// probe count.
pub fn verify(bytes: &[u8], done: &AgentStatus) -> std::result::Result<u64, String> {
    if bytes.len() as u64 != done.log_bytes {
        return Err(format!(
            "{} bytes fetched, the agent's log has {}",
            bytes.len(),
            done.log_bytes
        ));
    }
    let fnv = format!("{:016x}", fnv1a64(bytes));
    if done.log_fnv1a64.as_deref() != Some(fnv.as_str()) {
        return Err(format!(
            "checksum {fnv}, the agent's is {}",
            done.log_fnv1a64.as_deref().unwrap_or("missing")
        ));
    }
    let log = LogReader::new(bytes)
        .and_then(|r| r.read_all())
        .map_err(|e| format!("it does not read back: {e}"))?;
    if let Some(t) = log.torn {
        return Err(format!(
            "it is cut at byte {} ({} bytes lost)",
            t.offset, t.bytes_lost
        ));
    }
    let read = log.probes.len() as u64;
    match log.end_count {
        None => Err("it has no end marker: the agent did not stop cleanly".into()),
        Some(end) if end != read => Err(format!(
            "its end marker counts {end} probes, it holds {read}"
        )),
        Some(_) if read != done.probes => Err(format!(
            "it holds {read} probes, the agent's summary says {}",
            done.probes
        )),
        Some(_) => Ok(read),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seamless_proto::control::Phase;

    /// A real agent's log (proto's golden sample), with its probe count.
    fn log() -> (Vec<u8>, u64) {
        let bytes = include_bytes!("../../../proto/tests/data/golden-v1.log").to_vec();
        let read = LogReader::new(&bytes[..]).unwrap().read_all().unwrap();
        assert_eq!(read.end_count, Some(read.probes.len() as u64));
        let n = read.probes.len() as u64;
        (bytes, n)
    }

    fn done(bytes: &[u8], probes: u64) -> AgentStatus {
        AgentStatus {
            phase: Phase::Done,
            log: "probe-node-a.log".into(),
            probes,
            log_bytes: bytes.len() as u64,
            log_fnv1a64: Some(format!("{:016x}", fnv1a64(bytes))),
            exit_code: Some(0),
            error: None,
            now_ns: 0,
        }
    }

    #[test]
    fn a_whole_log_verifies() {
        let (bytes, n) = log();
        assert_eq!(verify(&bytes, &done(&bytes, n)), Ok(n));
    }

    #[test]
    fn every_difference_is_named() {
        let (bytes, n) = log();
        let status = done(&bytes, n);
        let e = verify(&bytes[..bytes.len() - 3], &status).unwrap_err();
        assert!(e.contains("bytes fetched"), "{e}");
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let e = verify(&flipped, &status).unwrap_err();
        assert!(e.starts_with("checksum"), "{e}");
        let e = verify(&bytes, &done(&bytes, n - 1)).unwrap_err();
        assert!(e.contains(&format!("summary says {}", n - 1)), "{e}");
        // Cut inside the last frame, with a status that agrees: torn.
        let cut = &bytes[..bytes.len() - 2];
        let e = verify(cut, &done(cut, n)).unwrap_err();
        assert!(e.contains("cut at byte"), "{e}");
    }
}
