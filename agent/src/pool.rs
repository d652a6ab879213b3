//! Reuse mode: a pool of HTTP/1.1 keep-alive connections per worker thread;
//! each probe is one request on a pooled connection.
//!
//! A probe takes a slot (waiting when every slot is busy: the wait shows as
//! schedule lag), uses the slot's connection, or opens one when the slot has
//! none, and gives the slot back. A connection that fails a probe is closed
//! (abortively) and the slot left empty: the failure is that probe's outcome,
//! counted once, and the slot's next probe opens a replacement
//! ([`ConnState::AfterFailure`]). A connection the server closes cleanly
//! (`Connection: close`, HTTP/1.0 without keep-alive) is replaced the same
//! way without a failure ([`ConnState::AfterClose`]).
//!
//! Before reusing a connection idle for [`IDLE_CHECK_NS`] or more, the probe
//! looks at it with one non-blocking read, as a careful client does: a FIN
//! (the server's idle timeout, a graceful drain) or a reset found there
//! costs no request, so the probe opens a replacement and records why
//! ([`ConnState::AfterClose`], [`ConnState::AfterIdleError`]). A close that
//! races the request (sent, then the FIN or RST) is a failure of the probe:
//! the race real clients lose. `--no-idle-check` skips the look, as a
//! client without it does: a request on a connection the server closed
//! while it was idle then fails.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use seamless_proto::{ConnState, ConnUse, Outcome};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::clock::mono_ns;
use crate::probe::{ProbeConfig, ProbeResult, Progress, close, connect, exchange_within};

/// A connection idle this long is checked before it carries a request.
pub(crate) const IDLE_CHECK_NS: u64 = 1_000_000;

/// An open pooled connection.
struct Conn {
    stream: TcpStream,
    id: u64,
    /// CLOCK_MONOTONIC when its connect started.
    opened_mono: u64,
    /// CLOCK_MONOTONIC when its last response ended.
    idle_since_mono: u64,
    requests: u32,
}

/// A pool slot: a connection, or none and why.
enum Slot {
    Open(Conn),
    Empty(ConnState),
}

/// One worker thread's pool for one mode.
pub(crate) struct Pool {
    free: RefCell<VecDeque<Slot>>,
    returned: Notify,
    next_id: Cell<u64>,
    id_stride: u64,
}

impl Pool {
    /// A pool of `slots` slots. Connection ids are `first_id`, `first_id +
    /// id_stride`, ...: each thread its own residue, so ids are unique in the
    /// log without shared state.
    pub(crate) fn new(slots: u32, first_id: u64, id_stride: u64) -> Pool {
        Pool {
            free: RefCell::new((0..slots).map(|_| Slot::Empty(ConnState::Opened)).collect()),
            returned: Notify::new(),
            next_id: Cell::new(first_id),
            id_stride: id_stride.max(1),
        }
    }

    async fn acquire(&self) -> Slot {
        loop {
            if let Some(s) = self.free.borrow_mut().pop_front() {
                return s;
            }
            self.returned.notified().await;
        }
    }

    fn release(&self, slot: Slot) {
        self.free.borrow_mut().push_back(slot);
        self.returned.notify_one();
    }

    fn new_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + self.id_stride);
        id
    }

    /// Closes every idle connection (at the end of the run).
    pub(crate) fn close_all(&self) {
        for slot in self.free.borrow_mut().drain(..) {
            if let Slot::Open(c) = slot {
                close(c.stream, false);
            }
        }
    }

    /// Runs one reused-mode probe.
    pub(crate) async fn probe(
        &self,
        cfg: &ProbeConfig,
        anchor_mono_ns: u64,
        intended_ns: u64,
    ) -> ProbeResult {
        let slot = self.acquire().await;
        let mut p = Progress::new(mono_ns());
        let (conn, state) = match slot {
            Slot::Open(c) if !cfg.idle_check => (Some(c), ConnState::Reused),
            Slot::Open(c) => match idle_check(c, p.start_mono) {
                Ok(c) => (Some(c), ConnState::Reused),
                Err(why) => (None, why),
            },
            Slot::Empty(why) => (None, why),
        };
        let (mut conn, state) = match conn {
            Some(c) => (c, state),
            None => {
                let id = self.new_id();
                let opened = p.start_mono;
                let used = ConnUse {
                    id,
                    age_ns: 0,
                    requests: 0,
                    state,
                };
                match connect(cfg, &mut p).await {
                    Ok(stream) => (
                        Conn {
                            stream,
                            id,
                            opened_mono: opened,
                            idle_since_mono: opened,
                            requests: 0,
                        },
                        state,
                    ),
                    Err(outcome) => {
                        self.release(Slot::Empty(if outcome.is_local() {
                            state
                        } else {
                            ConnState::AfterFailure
                        }));
                        let mut r = p.finish(anchor_mono_ns, intended_ns, cfg.mode, outcome);
                        r.probe.conn = Some(used);
                        return r;
                    }
                }
            }
        };
        let used = ConnUse {
            id: conn.id,
            age_ns: if state == ConnState::Reused {
                p.start_mono.saturating_sub(conn.opened_mono)
            } else {
                0
            },
            requests: conn.requests,
            state,
        };
        let x = exchange_within(cfg, &mut conn.stream, &mut p).await;
        conn.requests = conn.requests.saturating_add(1);
        conn.idle_since_mono = mono_ns();
        let next = if x.reusable {
            Slot::Open(conn)
        } else {
            close(conn.stream, x.saw_eof);
            if matches!(x.outcome, Outcome::Ok | Outcome::UnexpectedStatus) {
                Slot::Empty(ConnState::AfterClose)
            } else {
                Slot::Empty(ConnState::AfterFailure)
            }
        };
        self.release(next);
        let mut r = p.finish(anchor_mono_ns, intended_ns, cfg.mode, x.outcome);
        r.probe.conn = Some(used);
        r
    }
}

/// Looks at a connection idle for a while: `Ok` when it can carry a request,
/// else why it was closed (after closing it).
fn idle_check(c: Conn, now_mono: u64) -> Result<Conn, ConnState> {
    if now_mono.saturating_sub(c.idle_since_mono) < IDLE_CHECK_NS {
        return Ok(c);
    }
    let mut byte = [0u8; 1];
    match c.stream.try_read(&mut byte) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(c),
        Ok(0) => {
            close(c.stream, true);
            Err(ConnState::AfterClose)
        }
        // Unsolicited bytes (e.g. a 408 before a close) or an error (reset).
        Ok(_) | Err(_) => {
            close(c.stream, false);
            Err(ConnState::AfterIdleError)
        }
    }
}
