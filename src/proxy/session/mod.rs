//! One client connection: two pumps and the state they share.
//!
//! The client pump splits the client's bytes into messages, lets everything
//! that is not a password operation through as one contiguous write, answers
//! StartTLS itself, and stops password operations for a decision. The
//! upstream pump passes the directory's answers back unchanged, and on the
//! way notes the answers to binds (who is bound) and to forwarded password
//! operations (for the audit trail). Both pumps run in the same task; when
//! either side closes, the session ends.
//!
//! When the server stops ([`Shutdown`]), the client pump reads no new
//! request; once the directory has answered everything already forwarded
//! and those answers have reached the client, the client gets a Notice of
//! Disconnection (`unavailable`) and the connection closes.
//!
//! The files, in the order a message meets them:
//!
//! - this file: the `Session` state both pumps share, [`serve`] and how a
//!   session ends, the writes to the client;
//! - `buffers.rs`: the read buffers (none held while a connection is
//!   idle, a few spares per worker thread) and the fast path's reads and
//!   writes;
//! - `client.rs`: the client pump, its fast path for pass-through
//!   requests, its timeouts and back-pressure, and the writing half of the
//!   connection to the directory (opened on first use);
//! - `classify.rs`: what to do with one client message (`Action`):
//!   forward it unread, read it strictly, refuse it, or stop it for a
//!   decision;
//! - `binds.rs`: bind requests (which are allowed, who they name), their
//!   answers, and who is bound once the binds sent so far are answered;
//! - `door.rs`: the LDAP door to the decision core: a password operation
//!   into a [`decision::Request`], a refusal into an LDAP answer;
//! - `starttls.rs`: StartTLS, answered by pwgate, TLS on the client side;
//! - `upstream.rs`: the upstream pump, what it notes of the directory's
//!   answers, and when every answer has reached the client.
//!
//! [`decision::Request`]: crate::decision::Request

mod binds;
mod buffers;
mod classify;
mod client;
mod door;
mod starttls;
mod upstream;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify};
use tokio_rustls::TlsStream;
use tracing::{debug, warn};

use crate::audit::{self, ChangeRecord};
use crate::decision::{self, Actor};
use crate::proxy::reply::{self, ResultCode};
use crate::proxy::shutdown::Shutdown;
use crate::proxy::stream::{self, Stream, WriteSide};
use crate::proxy::{Gate, GateCell};

use buffers::write_all_within;
use classify::Action;
use client::{ClientEnd, Upstream};

/// At most this many answers are awaited for audit or identity per session.
const MAX_TRACKED: usize = 4096;
/// How long answers may still flow after the client half-closed.
const DRAIN_AFTER_CLIENT_EOF: Duration = Duration::from_secs(30);
/// The Notice of Disconnection's text when the server stops.
const SHUTTING_DOWN: &str = "pwgate is shutting down";

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("client connection: {0}")]
    Client(std::io::Error),
    #[error("upstream connection: {0}")]
    Upstream(std::io::Error),
    #[error("TLS handshake with the client: {0}")]
    Handshake(String),
    /// No directory could be reached; the client has been told.
    #[error("no upstream directory")]
    NoDirectory,
}

/// What the pumps note about one connection, behind one lock.
#[derive(Debug)]
struct Tracking {
    /// Message IDs forwarded and not yet answered (nor abandoned).
    outstanding: HashSet<i32>,
    /// Last time a request went up or an operation's answer came back.
    last_activity: Tick,
    bound: Option<Actor>,
    binds: HashMap<i32, Actor>,
    /// Set once a password operation has waited for binds to be answered:
    /// from then on each bind answer signals `bind_answered`.
    bind_awaited: bool,
    changes: HashMap<i32, ChangeRecord>,
    /// Accepted changes to synchronize once the directory says success.
    syncs: HashMap<i32, decision::PendingSync>,
}

/// One client connection: what both pumps share.
struct Session {
    /// The gate this connection started with: its directory and limits.
    gate: Arc<Gate>,
    /// The gate in force now: policy, mode, flavor, certificate.
    cell: Arc<GateCell>,
    /// The gate of `cell` this session loaded last, with its generation;
    /// see [`Session::with_current_gate`].
    current: std::sync::Mutex<(u64, Arc<Gate>)>,
    peer: SocketAddr,
    client_tls: AtomicBool,
    client_writer: Mutex<Option<WriteSide>>,
    tracking: std::sync::Mutex<Tracking>,
    /// Signalled when an answer frees room under the outstanding limit.
    room: Notify,
    /// Signalled when a bind's answer has been seen.
    bind_answered: Notify,
    /// Set while the upstream pump holds answers it has noted (so they are
    /// no longer outstanding) but not yet written to the client.
    answers_unwritten: AtomicBool,
    /// Set once the session waits for every answer to be delivered (it is
    /// stopping): only then is `answers_written` signalled.
    delivery_awaited: AtomicBool,
    /// Signalled each time the upstream pump has written to the client,
    /// once `delivery_awaited` is set.
    answers_written: Notify,
}

/// Serves one accepted client connection until either side closes or
/// `shutdown` fires and what is in flight has been answered.
pub async fn serve(
    cell: Arc<GateCell>,
    tcp: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    shutdown: Shutdown,
) {
    match run(cell, tcp, peer, implicit_tls, shutdown).await {
        Ok(()) => debug!(client = %peer, "session closed"),
        Err(e) => debug!(client = %peer, error = %e, "session ended"),
    }
}

async fn run(
    cell: Arc<GateCell>,
    tcp: TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
    mut shutdown: Shutdown,
) -> Result<(), SessionError> {
    let _ = tcp.set_nodelay(true);
    let generation = cell.generation();
    let gate = cell.load();
    let client = if implicit_tls {
        // A reload may have removed the certificate while the LDAPS
        // listener (kept until restart) still accepts: close cleanly.
        let Some(acceptor) = gate.acceptor.clone() else {
            warn!(client = %peer, "LDAPS connection closed: no certificate configured since the last reload");
            return Ok(());
        };
        // On the heap for the handshake's time only: its state (1.3 KiB)
        // would otherwise be part of the session's future throughout.
        let handshake = tokio::time::timeout(
            gate.config.limits.tls_handshake_timeout,
            Box::pin(acceptor.accept(tcp)),
        )
        .await
        .map_err(|_| SessionError::Handshake("timed out".into()))?
        .map_err(|e| SessionError::Handshake(e.to_string()))?;
        Stream::Tls(Box::new(TlsStream::Server(handshake)))
    } else {
        Stream::Plain(tcp)
    };
    let client_tls = client.is_tls();
    let (client_reader, client_writer) = stream::split(client);
    // The connection to the directory is opened by the client pump when
    // the first request needs it; its reading half then goes to the
    // upstream pump. An idle client holds no directory connection.
    let (reader_tx, reader_rx) = tokio::sync::oneshot::channel();
    let session = Session {
        current: std::sync::Mutex::new((generation, gate.clone())),
        gate,
        cell,
        peer,
        client_tls: AtomicBool::new(client_tls),
        client_writer: Mutex::new(Some(client_writer)),
        tracking: std::sync::Mutex::new(Tracking {
            outstanding: HashSet::new(),
            last_activity: Tick::now(),
            bound: None,
            binds: HashMap::new(),
            bind_awaited: false,
            changes: HashMap::new(),
            syncs: HashMap::new(),
        }),
        room: Notify::new(),
        bind_answered: Notify::new(),
        answers_unwritten: AtomicBool::new(false),
        delivery_awaited: AtomicBool::new(false),
        answers_written: Notify::new(),
    };
    let upstream = Upstream {
        writer: None,
        reader_tx: Some(reader_tx),
    };
    // The pumps are dropped at the end of this block, whichever ended
    // first: one left waiting in a write to the client (a client that
    // stopped reading) holds the writer's lock, which the close below
    // takes.
    let result = {
        let client_pump = session.client_to_upstream(client_reader, upstream, &mut shutdown);
        let upstream_pump = async {
            match reader_rx.await {
                Ok(reader) => session.upstream_to_client(reader).await,
                // The client pump ended without ever needing the directory.
                Err(_) => Ok(()),
            }
        };
        tokio::pin!(client_pump, upstream_pump);
        tokio::select! {
            r = &mut client_pump => match r {
                // The client finished sending (half-close); the directory has
                // been told the same and its remaining answers still go back.
                Ok(ClientEnd::Eof) => tokio::time::timeout(DRAIN_AFTER_CLIENT_EOF, upstream_pump)
                    .await
                    .unwrap_or(Ok(())),
                Ok(ClientEnd::ShuttingDown(upstream)) => {
                    let delivered = tokio::select! {
                        // The directory closed, or the client stopped reading.
                        r = &mut upstream_pump => r,
                        () = session.answers_delivered() => Ok(()),
                    };
                    if delivered.is_ok() {
                        debug!(client = %session.peer, "closing client: pwgate is shutting down");
                        session.disconnect(ResultCode::Unavailable, SHUTTING_DOWN).await;
                    }
                    drop(upstream);
                    delivered
                }
                Ok(ClientEnd::Closed) | Err(SessionError::NoDirectory) => Ok(()),
                Err(e) => Err(e),
            },
            r = &mut upstream_pump => r,
        }
    };
    if let Some(w) = session.client_writer.lock().await.take() {
        w.close(session.gate.config.limits.write_timeout).await;
    }
    result
}

/// A reading of the clock that the idle timeout counts on, taken at every
/// request and answer: the kernel's coarse monotonic clock, a value it
/// updates at each tick (a few milliseconds), which costs a fraction of a
/// precise reading. The idle timeout is counted in seconds.
#[derive(Debug, Clone, Copy)]
struct Tick(Duration);

impl Tick {
    fn now() -> Tick {
        #[cfg(target_os = "linux")]
        {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid timespec to write to; the clock id
            // is a constant Linux has had since 2.6.32.
            if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } == 0 {
                let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
                let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
                return Tick(Duration::new(secs, nanos));
            }
        }
        Tick(process_epoch().elapsed())
    }

    /// Time since this reading (zero if the clock seems to go back).
    fn elapsed(self) -> Duration {
        Tick::now().0.saturating_sub(self.0)
    }
}

/// The start of the fallback clock where the coarse one is not available.
fn process_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Drop for Session {
    fn drop(&mut self) {
        self.report_unanswered();
    }
}

impl Session {
    async fn write_client(&self, bytes: &[u8]) -> Result<(), SessionError> {
        let mut guard = self.client_writer.lock().await;
        let writer = guard
            .as_mut()
            .ok_or_else(|| SessionError::Client(std::io::ErrorKind::NotConnected.into()))?;
        let timeout = self.gate.config.limits.write_timeout;
        match write_all_within(writer, bytes, timeout).await {
            Some(r) => r.map_err(SessionError::Client),
            None => Err(SessionError::Client(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("client did not read its answers for {timeout:?}"),
            ))),
        }
    }

    /// Tells the client why it is disconnected (RFC 4511 section 4.4.1).
    async fn disconnect(&self, code: ResultCode, why: &str) {
        let notice = reply::notice_of_disconnection(code, why);
        let _ = self.write_client(&notice).await;
    }

    /// Runs `f` with the gate in force now. The session keeps the gate it
    /// loaded last and loads again only after a reload, so a bind reads
    /// its configuration without touching what every other session's
    /// thread writes (the cell's lock and the gate's reference count).
    fn with_current_gate<R>(&self, f: impl FnOnce(&Gate) -> R) -> R {
        let generation = self.cell.generation();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.0 != generation {
            *current = (generation, self.cell.load());
        }
        f(&current.1)
    }

    fn lock_tracking(&self) -> std::sync::MutexGuard<'_, Tracking> {
        // A panic while holding this lock cannot leave it inconsistent in a
        // way that matters more than ending the session would.
        self.tracking.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outstanding(&self) -> usize {
        self.lock_tracking().outstanding.len()
    }

    fn last_activity(&self) -> Tick {
        self.lock_tracking().last_activity
    }

    /// Password operations that never got an answer: outcome unknown.
    /// Runs when the session is dropped, so a session aborted at the end of
    /// the shutdown grace period still audits them.
    fn report_unanswered(&self) {
        let (changes, syncs) = {
            let mut t = self.lock_tracking();
            (std::mem::take(&mut t.changes), std::mem::take(&mut t.syncs))
        };
        // Outcome unknown: never synchronized (the passwords are wiped here).
        drop(syncs);
        for record in changes.values() {
            audit::outcome(record, None);
            self.cell
                .metrics()
                .directory_answer(record.kind.as_str(), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns, without calling it.
    fn output_size<F, Fut>(_: F) -> usize
    where
        F: FnOnce(Arc<GateCell>, TcpStream, SocketAddr, bool, Shutdown) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// A session's future is allocated and copied when the connection is
    /// accepted, and held whole as long as the connection is open, idle or
    /// not. The rare and large states (a password decision with its
    /// directory lookups, the connect to the directory, StartTLS, the TLS
    /// handshake) are on the heap for their own time only; held inline
    /// they made it 10,616 bytes, and an idle connection 9.7 KB of RSS
    /// (3.2 KB with them boxed; BENCHMARKS.md, "Many connections and
    /// memory"). The bound leaves room for compilers that lay the states
    /// out differently, not for any of them to come back inline.
    #[test]
    fn a_session_future_stays_small() {
        let size = output_size(serve);
        assert!(size <= 5 * 1024, "a session's future is {size} bytes");
    }
}
