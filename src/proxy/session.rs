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

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify};
use tokio_rustls::TlsStream;
use tracing::{debug, info, warn};
use zeroize::{Zeroize, Zeroizing};

use crate::audit::{self, ChangeRecord, Door};
use crate::config::Flavor;
use crate::decision::{self, Actor, Binds, Reason, Refusal, TargetRef};
use crate::policy::RuleIds;
use crate::proxy::frame::{self, op, FrameError, Peek};
use crate::proxy::intercept::{
    self, BindMethod, Extended, Inspection, PasswordOperation, Target, Undecodable,
};
use crate::proxy::reply::{self, PpolicyError, ResultCode};
use crate::proxy::request::{self, Operation, Request};
use crate::proxy::shutdown::Shutdown;
use crate::proxy::stream::{self, ReadSide, Stream, WriteSide};
use crate::proxy::upstream::result_code;
use crate::proxy::{Gate, GateCell};

/// Bytes read from a socket at a time (the buffer grows for larger messages).
const READ_CHUNK: usize = 16 * 1024;
/// At most this many answers are awaited for audit or identity per session.
const MAX_TRACKED: usize = 4096;
/// How long answers may still flow after the client half-closed.
const DRAIN_AFTER_CLIENT_EOF: Duration = Duration::from_secs(30);
/// The Notice of Disconnection's text when the server stops.
const SHUTTING_DOWN: &str = "pwgate is shutting down";
/// AD's prefix for password policy refusals (ERROR_PASSWORD_RESTRICTION).
const AD_POLICY_PREFIX: &str = "0000052D: ";
/// The Win32 error AD puts before access refusals (ERROR_ACCESS_DENIED).
const AD_ACCESS_DENIED_PREFIX: &str = "00000005: ";

/// SASL mechanisms that never negotiate a security layer. Others (GSSAPI,
/// GSS-SPNEGO, DIGEST-MD5, NTLM...) may wrap the rest of the stream in a
/// layer pwgate cannot read, so a password change could pass unseen.
const SASL_WITHOUT_LAYER: &[&str] = &["EXTERNAL", "PLAIN", "ANONYMOUS", "CRAM-MD5", "OAUTHBEARER"];

fn sasl_may_negotiate_layer(mechanism: &str) -> bool {
    let m = mechanism.to_ascii_uppercase();
    !(SASL_WITHOUT_LAYER.contains(&m.as_str()) || m.starts_with("SCRAM-"))
}

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

/// The client pump's side of the connection to the directory, opened on
/// first use.
struct Upstream {
    writer: Option<WriteSide>,
    /// Hands the reading half to the upstream pump once connected.
    reader_tx: Option<tokio::sync::oneshot::Sender<ReadSide>>,
}

#[derive(Debug)]
struct Tracking {
    /// Message IDs forwarded and not yet answered (nor abandoned).
    outstanding: HashSet<i32>,
    /// Last time a request went up or an operation's answer came back.
    last_activity: Instant,
    bound: Option<Actor>,
    binds: HashMap<i32, Actor>,
    changes: HashMap<i32, ChangeRecord>,
    /// Accepted changes to synchronize once the directory says success.
    syncs: HashMap<i32, decision::PendingSync>,
}

/// How the client pump ended without an error.
enum ClientEnd {
    /// The client sent end-of-stream; the directory's answers may follow.
    Eof,
    /// pwgate closed the session (protocol error, failed StartTLS...).
    Closed,
    /// The server is stopping: no more requests are read. The connection
    /// to the directory stays open (closing it would make the directory
    /// drop what is in flight) until the answers are delivered.
    ShuttingDown(Upstream),
}

/// What to do with one client message.
enum Action {
    /// Send upstream as part of the pass-through run.
    Forward,
    /// Send upstream on its own, then wipe it (it carries a password).
    ForwardSensitive,
    /// Send pwgate's canonical encoding of the message instead of the
    /// client's bytes, then wipe both.
    ForwardCanonical(Zeroizing<Vec<u8>>),
    /// End the session with a Notice of Disconnection.
    Close { code: ResultCode, why: String },
    /// Answer the client; the directory never sees the message.
    Reply { bytes: Vec<u8>, sensitive: bool },
    /// Answer StartTLS and switch the client side to TLS.
    StartTls { msgid: i32 },
    /// A password operation to decide (which may look the account up),
    /// with its canonical encoding when the client's bytes are not.
    Decide(Box<PasswordOperation>, Option<Zeroizing<Vec<u8>>>),
}

struct Session {
    /// The gate this connection started with: its directory and limits.
    gate: Arc<Gate>,
    /// The gate in force now: policy, mode, flavor, certificate.
    cell: Arc<GateCell>,
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
    /// Signalled each time the upstream pump has written to the client.
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
    let gate = cell.load();
    let client = if implicit_tls {
        // A reload may have removed the certificate while the LDAPS
        // listener (kept until restart) still accepts: close cleanly.
        let Some(acceptor) = gate.acceptor.clone() else {
            warn!(client = %peer, "LDAPS connection closed: no certificate configured since the last reload");
            return Ok(());
        };
        let handshake = tokio::time::timeout(
            gate.config.limits.tls_handshake_timeout,
            acceptor.accept(tcp),
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
        gate,
        cell,
        peer,
        client_tls: AtomicBool::new(client_tls),
        client_writer: Mutex::new(Some(client_writer)),
        tracking: std::sync::Mutex::new(Tracking {
            outstanding: HashSet::new(),
            last_activity: Instant::now(),
            bound: None,
            binds: HashMap::new(),
            changes: HashMap::new(),
            syncs: HashMap::new(),
        }),
        room: Notify::new(),
        bind_answered: Notify::new(),
        answers_unwritten: AtomicBool::new(false),
        answers_written: Notify::new(),
    };
    let upstream = Upstream {
        writer: None,
        reader_tx: Some(reader_tx),
    };
    let client_pump = session.client_to_upstream(client_reader, upstream, &mut shutdown);
    let upstream_pump = async {
        match reader_rx.await {
            Ok(reader) => session.upstream_to_client(reader).await,
            // The client pump ended without ever needing the directory.
            Err(_) => Ok(()),
        }
    };
    tokio::pin!(client_pump, upstream_pump);
    let result = tokio::select! {
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
    };
    if let Some(mut w) = session.client_writer.lock().await.take() {
        let _ = w.shutdown().await;
    }
    result
}

/// Reads more bytes into `buf`; `Ok(false)` at end of stream.
///
/// An empty `buf` holds no memory (see [`release_if_empty`]): the read
/// buffer is taken only once the connection has something to read, so an
/// idle connection costs no read buffers.
async fn fill(reader: &mut ReadSide, buf: &mut BytesMut) -> std::io::Result<bool> {
    if buf.capacity() == 0 {
        reader.readable().await?;
    }
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    Ok(reader.read_buf(buf).await? > 0)
}

/// Gives back the memory of a buffer with nothing left in it, before the
/// pump waits for more: between requests a connection keeps no buffer.
fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = BytesMut::new();
    }
}

/// Reads more client bytes, unless the server stops first (`None`).
async fn fill_unless_stopping(
    reader: &mut ReadSide,
    buf: &mut BytesMut,
    shutdown: &mut Shutdown,
) -> Option<std::io::Result<bool>> {
    tokio::select! {
        biased;
        () = shutdown.recv() => None,
        r = fill(reader, buf) => Some(r),
    }
}

/// What waiting for client bytes gave.
enum Read {
    Data,
    Eof,
    TimedOut(String),
    /// The server is stopping; what was read of an unfinished message is
    /// dropped.
    ShuttingDown,
}

fn read_result(filled: Option<std::io::Result<bool>>) -> Result<Read, SessionError> {
    Ok(match filled {
        None => Read::ShuttingDown,
        Some(Ok(true)) => Read::Data,
        Some(Ok(false)) => Read::Eof,
        Some(Err(e)) => return Err(SessionError::Client(e)),
    })
}

/// How long the directory may take to accept what pwgate sends it.
const UPSTREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The LDAP answer to a refusal: its result code, its text (with AD's
/// Win32 error prefix when the directory is AD) and, for a policy refusal
/// when the client asked for it, the password policy control.
fn ldap_refusal(
    flavor: Flavor,
    refusal: Refusal,
    ppolicy_requested: bool,
) -> (ResultCode, String, Vec<Vec<u8>>) {
    let code = match refusal.reason {
        Reason::Cleartext => ResultCode::ConfidentialityRequired,
        Reason::UnknownTarget | Reason::BindFailed | Reason::BindInProgress => {
            ResultCode::UnwillingToPerform
        }
        Reason::NoSuchAccount => ResultCode::NoSuchObject,
        Reason::LookupFailed => ResultCode::Unavailable,
        Reason::Policy {
            about_actor: true, ..
        } => ResultCode::InsufficientAccessRights,
        Reason::Policy { .. } => ResultCode::ConstraintViolation,
    };
    let Reason::Policy {
        about_actor,
        too_short,
    } = refusal.reason
    else {
        return (code, refusal.message, Vec::new());
    };
    let text = match (flavor, about_actor) {
        (Flavor::ActiveDirectory, false) => format!("{AD_POLICY_PREFIX}{}", refusal.message),
        (Flavor::ActiveDirectory, true) => format!("{AD_ACCESS_DENIED_PREFIX}{}", refusal.message),
        (Flavor::Openldap, _) => refusal.message,
    };
    let mut controls = Vec::new();
    if ppolicy_requested {
        controls.push(reply::ppolicy_control(if too_short {
            PpolicyError::PasswordTooShort
        } else {
            PpolicyError::InsufficientPasswordQuality
        }));
    }
    (code, text, controls)
}

impl Drop for Session {
    fn drop(&mut self) {
        self.report_unanswered();
    }
}

impl Upstream {
    /// What the session keeps of the connection to the directory once it
    /// reads no more requests: the writer, so the directory finishes what
    /// is in flight; the upstream pump is told that no connection will
    /// come if none was opened.
    fn stopping(mut self) -> Upstream {
        self.reader_tx = None;
        self
    }
}

impl Session {
    /// The writing half of the connection to the directory, connecting
    /// first if this is the first request that needs it. When no directory
    /// can be reached the client gets a Notice of Disconnection.
    async fn upstream<'u>(&self, up: &'u mut Upstream) -> Result<&'u mut WriteSide, SessionError> {
        if up.writer.is_none() {
            let metrics = self.cell.metrics();
            let connected = self
                .gate
                .upstream
                .connect(|url, outcome| metrics.upstream_connect(&url.to_string(), outcome))
                .await;
            let stream = match connected {
                Ok((stream, url)) => {
                    debug!(client = %self.peer, upstream = %url, "upstream connected");
                    stream
                }
                Err(e) => {
                    warn!(client = %self.peer, error = %e, "closing client: no upstream directory");
                    self.disconnect(
                        ResultCode::Unavailable,
                        "pwgate: the directory is not reachable",
                    )
                    .await;
                    return Err(SessionError::NoDirectory);
                }
            };
            let (reader, writer) = stream::split(stream);
            if let Some(tx) = up.reader_tx.take() {
                // The upstream pump is gone only when the session ends.
                let _ = tx.send(reader);
            }
            up.writer = Some(writer);
        }
        Ok(up.writer.as_mut().expect("connected above"))
    }

    /// Writes to the directory, bounded in time so a stuck directory
    /// cannot hold a session forever.
    async fn write_upstream(&self, up: &mut Upstream, bytes: &[u8]) -> Result<(), SessionError> {
        let writer = self.upstream(up).await?;
        match tokio::time::timeout(UPSTREAM_WRITE_TIMEOUT, writer.write_all(bytes)).await {
            Ok(r) => r.map_err(SessionError::Upstream),
            Err(_) => Err(SessionError::Upstream(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the directory did not take the request in time",
            ))),
        }
    }

    /// Sends the pass-through prefix `buf[..run]` upstream and drops it.
    async fn flush(
        &self,
        up: &mut Upstream,
        buf: &mut BytesMut,
        run: &mut usize,
    ) -> Result<(), SessionError> {
        if *run > 0 {
            self.write_upstream(up, &buf[..*run]).await?;
            buf.advance(*run);
            *run = 0;
        }
        Ok(())
    }

    async fn write_client(&self, bytes: &[u8]) -> Result<(), SessionError> {
        let mut guard = self.client_writer.lock().await;
        let writer = guard
            .as_mut()
            .ok_or_else(|| SessionError::Client(std::io::ErrorKind::NotConnected.into()))?;
        let timeout = self.gate.config.limits.write_timeout;
        match tokio::time::timeout(timeout, writer.write_all(bytes)).await {
            Ok(r) => r.map_err(SessionError::Client),
            Err(_) => Err(SessionError::Client(std::io::Error::new(
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

    fn lock_tracking(&self) -> std::sync::MutexGuard<'_, Tracking> {
        // A panic while holding this lock cannot leave it inconsistent in a
        // way that matters more than ending the session would.
        self.tracking.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn client_to_upstream(
        &self,
        mut reader: ReadSide,
        mut upstream: Upstream,
        shutdown: &mut Shutdown,
    ) -> Result<ClientEnd, SessionError> {
        let limits = &self.gate.config.limits;
        let mut buf = BytesMut::new();
        // When the first byte of the unfinished message at the end of `buf`
        // arrived: the whole message must follow within message_timeout.
        let mut partial_since: Option<Instant> = None;
        loop {
            // `run` is the length of the pass-through prefix of `buf`.
            let mut run = 0;
            let mut completed_any = false;
            loop {
                if shutdown.is_shutdown() {
                    // Messages read but not yet handled are dropped: they
                    // are not in flight, and they may carry a password.
                    self.flush(&mut upstream, &mut buf, &mut run).await?;
                    buf.zeroize();
                    return Ok(ClientEnd::ShuttingDown(upstream.stopping()));
                }
                let len = match frame::frame_len(&buf[run..], limits.max_message_bytes) {
                    Ok(Some(len)) => len,
                    Ok(None) => break,
                    Err(e) => {
                        self.flush(&mut upstream, &mut buf, &mut run).await?;
                        return self.protocol_error(e).await;
                    }
                };
                completed_any = true;
                let peek = match frame::peek(&buf[run..run + len]) {
                    Ok(p) => p,
                    Err(e) => {
                        self.flush(&mut upstream, &mut buf, &mut run).await?;
                        return self.protocol_error(FrameError::Ber(e)).await;
                    }
                };
                if op::expects_response(peek.op)
                    && self.outstanding() >= limits.max_outstanding_per_connection
                {
                    // Back-pressure: send what is ready, read nothing more
                    // from this client until the directory answers.
                    self.flush(&mut upstream, &mut buf, &mut run).await?;
                    self.wait_for_room(shutdown).await;
                    continue;
                }
                let mut action = self.classify(&buf[run..run + len], peek);
                if let Action::Decide(operation, canonical) = action {
                    // What came before goes out before any lookup.
                    self.flush(&mut upstream, &mut buf, &mut run).await?;
                    action = match (self.decide(*operation).await, canonical) {
                        (Action::ForwardSensitive, Some(bytes)) => Action::ForwardCanonical(bytes),
                        (action, _) => action,
                    };
                }
                let frame = &buf[run..run + len];
                if matches!(
                    action,
                    Action::Forward | Action::ForwardSensitive | Action::ForwardCanonical(_)
                ) {
                    self.track_forwarded(frame, peek);
                }
                if let Action::Forward = action {
                    run += len;
                    continue;
                }
                self.flush(&mut upstream, &mut buf, &mut run).await?;
                let mut message = buf.split_to(len);
                let sent = match action {
                    Action::Forward | Action::Decide(..) => unreachable!("handled above"),
                    Action::ForwardSensitive => {
                        let r = self.write_upstream(&mut upstream, &message).await;
                        message.zeroize();
                        r
                    }
                    Action::ForwardCanonical(bytes) => {
                        message.zeroize();
                        self.write_upstream(&mut upstream, &bytes).await
                    }
                    Action::Close { code, why } => {
                        message.zeroize();
                        buf.zeroize();
                        self.disconnect(code, &why).await;
                        return Ok(ClientEnd::Closed);
                    }
                    Action::Reply { bytes, sensitive } => {
                        if sensitive {
                            message.zeroize();
                        }
                        self.write_client(&bytes).await
                    }
                    Action::StartTls { msgid } => {
                        if !buf.is_empty() {
                            // RFC 4511 4.14.1: nothing may follow StartTLS
                            // before its response.
                            self.disconnect(ResultCode::ProtocolError, "data sent after StartTLS")
                                .await;
                            return Ok(ClientEnd::Closed);
                        }
                        reader = self.start_tls(reader, msgid).await?;
                        Ok(())
                    }
                };
                sent?;
            }
            self.flush(&mut upstream, &mut buf, &mut run).await?;
            release_if_empty(&mut buf);
            if completed_any || buf.is_empty() {
                partial_since = None;
            }
            if !buf.is_empty() {
                partial_since.get_or_insert_with(Instant::now);
            }
            match self
                .read_more(&mut reader, &mut buf, partial_since, shutdown)
                .await?
            {
                Read::Data => {}
                Read::ShuttingDown => {
                    buf.zeroize();
                    return Ok(ClientEnd::ShuttingDown(upstream.stopping()));
                }
                Read::Eof => {
                    if !buf.is_empty() {
                        debug!(client = %self.peer, bytes = buf.len(), "client closed inside a message");
                        // The partial message may be part of a password operation.
                        buf.zeroize();
                    }
                    if let Some(w) = upstream.writer.as_mut() {
                        let _ = w.shutdown().await;
                    }
                    return Ok(ClientEnd::Eof);
                }
                Read::TimedOut(why) => {
                    buf.zeroize();
                    info!(client = %self.peer, reason = why, "disconnecting client");
                    let code = if partial_since.is_some() {
                        ResultCode::ProtocolError
                    } else {
                        ResultCode::Unavailable
                    };
                    self.disconnect(code, &format!("pwgate: {why}")).await;
                    return Ok(ClientEnd::Closed);
                }
            }
        }
    }

    /// Waits for client bytes, within the idle timeout (nothing
    /// outstanding, nothing arriving) or the slow-message timeout (a message
    /// started at `partial_since` is still incomplete).
    async fn read_more(
        &self,
        reader: &mut ReadSide,
        buf: &mut BytesMut,
        partial_since: Option<Instant>,
        shutdown: &mut Shutdown,
    ) -> Result<Read, SessionError> {
        let limits = &self.gate.config.limits;
        loop {
            let deadline = match partial_since {
                Some(since) => Some(since + limits.message_timeout),
                None => limits.idle_timeout.map(|idle| self.last_activity() + idle),
            };
            let Some(deadline) = deadline else {
                return read_result(fill_unless_stopping(reader, buf, shutdown).await);
            };
            let filled = fill_unless_stopping(reader, buf, shutdown);
            match tokio::time::timeout_at(deadline.into(), filled).await {
                Ok(r) => return read_result(r),
                Err(_) if partial_since.is_some() => {
                    return Ok(Read::TimedOut(format!(
                        "message not complete within {} s",
                        limits.message_timeout.as_secs()
                    )))
                }
                Err(_) => {
                    // Idle only when no answer is pending and none came
                    // within the timeout; otherwise wait on.
                    let busy = self.outstanding() > 0;
                    let recent = limits
                        .idle_timeout
                        .is_some_and(|idle| self.last_activity() + idle > Instant::now());
                    if !busy && !recent {
                        return Ok(Read::TimedOut(format!(
                            "idle for {} s",
                            limits.idle_timeout.map_or(0, |d| d.as_secs())
                        )));
                    }
                    if busy {
                        self.lock_tracking().last_activity = Instant::now();
                    }
                }
            }
        }
    }

    fn outstanding(&self) -> usize {
        self.lock_tracking().outstanding.len()
    }

    fn last_activity(&self) -> Instant {
        self.lock_tracking().last_activity
    }

    /// Until an answer frees room under the outstanding limit, or the
    /// server stops.
    async fn wait_for_room(&self, shutdown: &mut Shutdown) {
        let max = self.gate.config.limits.max_outstanding_per_connection;
        while self.outstanding() >= max {
            tokio::select! {
                () = self.room.notified() => {}
                () = shutdown.recv() => return,
            }
        }
    }

    /// Until every request forwarded to the directory has been answered
    /// and the answers have been written to the client.
    async fn answers_delivered(&self) {
        loop {
            let written = self.answers_written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            if self.outstanding() == 0 && !self.answers_unwritten.load(Ordering::SeqCst) {
                return;
            }
            written.await;
        }
    }

    /// Notes a request sent to the directory: its answer is now awaited, or
    /// (Abandon) the abandoned one no longer is.
    fn track_forwarded(&self, frame: &[u8], peek: Peek) {
        self.cell.metrics().forwarded(peek.op);
        let mut t = self.lock_tracking();
        t.last_activity = Instant::now();
        if peek.op == op::ABANDON_REQUEST {
            if let Some(id) = frame::abandoned_msgid(frame) {
                t.outstanding.remove(&id);
                self.room.notify_one();
            }
        } else if op::expects_response(peek.op) {
            t.outstanding.insert(peek.msgid);
        }
    }

    async fn protocol_error(&self, e: FrameError) -> Result<ClientEnd, SessionError> {
        warn!(client = %self.peer, error = %e, "disconnecting client: malformed LDAP message");
        self.disconnect(ResultCode::ProtocolError, &format!("pwgate: {e}"))
            .await;
        Ok(ClientEnd::Closed)
    }

    async fn upstream_to_client(&self, mut reader: ReadSide) -> Result<(), SessionError> {
        let limit = self.gate.config.limits.max_message_bytes;
        let mut buf = BytesMut::new();
        loop {
            let mut run = 0;
            // Answers noted below stop being outstanding before they are
            // written: until then, a shutdown must not close the client.
            self.answers_unwritten.store(true, Ordering::SeqCst);
            loop {
                match frame::frame_len(&buf[run..], limit) {
                    Ok(Some(len)) => {
                        let frame = &buf[run..run + len];
                        if let Ok(peek) = frame::peek(frame) {
                            self.observe_response(frame, peek);
                        }
                        run += len;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        self.write_client(&buf[..run]).await?;
                        warn!(client = %self.peer, error = %e, "disconnecting client: malformed message from the directory");
                        self.disconnect(ResultCode::Other, &format!("pwgate: directory sent {e}"))
                            .await;
                        return Ok(());
                    }
                }
            }
            if run > 0 {
                self.write_client(&buf[..run]).await?;
                buf.advance(run);
            }
            self.answers_unwritten.store(false, Ordering::SeqCst);
            self.answers_written.notify_waiters();
            release_if_empty(&mut buf);
            if !fill(&mut reader, &mut buf)
                .await
                .map_err(SessionError::Upstream)?
            {
                return Ok(());
            }
        }
    }

    /// Notes answers that end an operation: the request is no longer
    /// outstanding, a bind sets who is bound, a password operation's result
    /// goes to the audit trail.
    fn observe_response(&self, frame: &[u8], peek: Peek) {
        if !op::ends_operation(peek.op) || peek.msgid == 0 {
            return;
        }
        let max = self.gate.config.limits.max_outstanding_per_connection;
        let mut sync = None;
        let record = {
            let mut t = self.lock_tracking();
            let was_full = t.outstanding.len() >= max;
            if t.outstanding.remove(&peek.msgid) && was_full {
                self.room.notify_one();
            }
            t.last_activity = Instant::now();
            match peek.op {
                op::BIND_RESPONSE => {
                    // A later bind abandons earlier ones the server may never
                    // answer: forget them (and stop waiting for them).
                    let stale: Vec<i32> = t
                        .binds
                        .keys()
                        .copied()
                        .filter(|id| *id < peek.msgid)
                        .collect();
                    for id in stale {
                        t.binds.remove(&id);
                        t.outstanding.remove(&id);
                    }
                    if let Some(identity) = t.binds.remove(&peek.msgid) {
                        // Anything but success (including saslBindInProgress,
                        // whose next step is a new request) leaves the
                        // connection anonymous.
                        t.bound = Some(if result_code(frame) == Some(0) {
                            identity
                        } else {
                            Actor::Anonymous
                        });
                    }
                    self.bind_answered.notify_waiters();
                    None
                }
                op::MODIFY_RESPONSE | op::ADD_RESPONSE | op::EXTENDED_RESPONSE => {
                    sync = t.syncs.remove(&peek.msgid);
                    t.changes.remove(&peek.msgid)
                }
                _ => None,
            }
        };
        if let Some(record) = record {
            let code = result_code(frame);
            audit::outcome(&record, code);
            // Only a success of this very message is synchronized.
            if let (Some(pending), Some(0), Some(service)) = (sync, code, self.cell.sync()) {
                for index in pending.targets {
                    service.enqueue(
                        index,
                        crate::sync::Job {
                            source_dn: pending.source_dn.clone(),
                            attributes: pending.attributes.clone(),
                            password: pending.password.clone(),
                            accepted_at: Instant::now(),
                        },
                    );
                }
            }
        }
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
        }
    }

    /// What to do with one client message. Requests that cannot set a
    /// password pass unread; Bind, Modify, Add, ModifyDN and Extended
    /// requests are read strictly, refused when that fails, and forwarded
    /// in their canonical encoding; any other protocolOp ends the session.
    fn classify(&self, frame: &[u8], peek: Peek) -> Action {
        if op::passes_unread(peek.op) {
            return Action::Forward;
        }
        if !op::read_strictly(peek.op) {
            warn!(client = %self.peer, op = peek.op, "disconnecting client: unknown protocolOp");
            return Action::Close {
                code: ResultCode::ProtocolError,
                why: format!(
                    "pwgate: protocolOp 0x{:02x} is not a request pwgate relays",
                    peek.op
                ),
            };
        }
        let request = match request::parse(frame) {
            Ok(r) => r,
            Err(m) => return self.refuse(intercept::malformed(peek.msgid, peek.op, m)),
        };
        // What the directory gets when the client's bytes are not already
        // the canonical form of what was read.
        let canonical = (!request.is_canonical()).then(|| request.canonical());
        let action = match &request.operation {
            Operation::Bind { .. } => self.on_bind(&request),
            Operation::Modify { .. } | Operation::Add { .. } => {
                self.on_inspection(intercept::inspect_modify_or_add(&request))
            }
            Operation::ModifyDn { .. } => {
                self.on_inspection(intercept::inspect_modify_dn(&request))
            }
            Operation::Extended { .. } => match intercept::inspect_extended(&request) {
                Extended::StartTls => Action::StartTls { msgid: peek.msgid },
                Extended::Password(inspection) => self.on_inspection(inspection),
                Extended::Other => Action::Forward,
            },
        };
        match (action, canonical) {
            (Action::Forward | Action::ForwardSensitive, Some(bytes)) => {
                Action::ForwardCanonical(bytes)
            }
            (Action::Decide(operation, _), canonical) => Action::Decide(operation, canonical),
            (action, _) => action,
        }
    }

    fn on_bind(&self, request: &Request<'_>) -> Action {
        let msgid = request.msgid;
        let Some((name, method)) = intercept::inspect_bind(request) else {
            unreachable!("classify passes only binds here");
        };
        let config = &self.cell.load().config;
        let refuse = |code: ResultCode, text: &str| Action::Reply {
            bytes: reply::result_message(msgid, op::BIND_RESPONSE, code, text, None, &[]),
            sensitive: true,
        };
        let identity = match method {
            BindMethod::Simple { with_password }
                if with_password
                    && !self.client_tls.load(Ordering::Relaxed)
                    && !config.allow_cleartext_binds =>
            {
                info!(client = %self.peer, "refused simple bind with a password on an unencrypted connection");
                return refuse(
                    ResultCode::ConfidentialityRequired,
                    "pwgate: simple binds with a password require an encrypted connection \
                     (LDAPS or StartTLS first)",
                );
            }
            BindMethod::Simple { .. } if name.is_empty() => Actor::Anonymous,
            BindMethod::Simple { .. } => Actor::Named(name),
            BindMethod::Sasl { mechanism } => {
                if sasl_may_negotiate_layer(&mechanism) && !config.allow_sasl_security_layers {
                    info!(client = %self.peer, mechanism = %audit::Clean(&mechanism), "refused SASL bind that may negotiate a security layer");
                    return refuse(
                        ResultCode::AuthMethodNotSupported,
                        &format!(
                            "pwgate: SASL mechanism {} is not allowed through this proxy \
                             (it may negotiate a security layer that hides password changes); \
                             use a simple bind over TLS, or SASL EXTERNAL/PLAIN",
                            audit::Clean(&mechanism)
                        ),
                    );
                }
                Actor::Sasl(mechanism)
            }
            // AD's Sicily (NTLM) binds may sign and seal the rest of the
            // stream, as a SASL layer would.
            BindMethod::Other if !config.allow_sasl_security_layers => {
                info!(client = %self.peer, "refused bind with an authentication choice other than simple and SASL");
                return refuse(
                    ResultCode::AuthMethodNotSupported,
                    "pwgate: only simple and SASL binds are allowed through this proxy",
                );
            }
            BindMethod::Other => Actor::Anonymous,
        };
        let mut t = self.lock_tracking();
        // A bind in progress leaves the connection anonymous (RFC 4511 4.2.1).
        t.bound = Some(Actor::Anonymous);
        if t.binds.len() < MAX_TRACKED {
            t.binds.insert(msgid, identity);
        }
        // Bind requests carry credentials: wipe them once forwarded.
        Action::ForwardSensitive
    }

    fn on_inspection(&self, inspection: Inspection) -> Action {
        match inspection {
            Inspection::NotPassword => Action::Forward,
            Inspection::Undecodable(u) => self.refuse(u),
            Inspection::Password(operation) => Action::Decide(operation, None),
        }
    }

    /// Refuses a request that failed the strict reading (protocolError) or
    /// a password operation pwgate cannot check (unwillingToPerform), and
    /// audits it with what is known of it.
    fn refuse(&self, u: Undecodable) -> Action {
        let (code, rule, text) = if u.malformed {
            (
                ResultCode::ProtocolError,
                "malformed",
                format!("pwgate: malformed request refused: {}", u.reason),
            )
        } else {
            (
                ResultCode::UnwillingToPerform,
                "undecodable",
                format!("pwgate cannot check this password operation: {}", u.reason),
            )
        };
        info!(client = %self.peer, msgid = u.msgid, reason = %audit::Clean(&u.reason), "request refused");
        audit::refused_request(&audit::RefusedRequest {
            client: self.peer,
            actor: self.actor(),
            operation: op::name(u.request_op),
            target: u.target.as_deref(),
            attribute: u.attribute.as_deref(),
            msgid: u.msgid,
            rule,
            reason: &u.reason,
        });
        self.cell
            .metrics()
            .decision("refused", &RuleIds::one(rule), "default");
        Action::Reply {
            bytes: reply::result_message(u.msgid, u.response_op, code, &text, None, &[]),
            sensitive: true,
        }
    }

    fn actor(&self) -> String {
        self.lock_tracking()
            .bound
            .as_ref()
            .unwrap_or(&Actor::Anonymous)
            .describe()
    }

    /// Who is bound once every bind sent before this point has been
    /// answered (waiting at most `message_timeout`), and how the last of
    /// those binds ended. The client pump waits here, so nothing more is
    /// read from the client meanwhile: back-pressure, not buffering.
    async fn identity_after_binds(&self) -> (Actor, Binds) {
        let asked = {
            let t = self.lock_tracking();
            t.binds
                .iter()
                .max_by_key(|(id, _)| **id)
                .map(|(_, i)| i.clone())
        };
        let Some(asked) = asked else {
            let t = self.lock_tracking();
            return (t.bound.clone().unwrap_or(Actor::Anonymous), Binds::None);
        };
        let deadline = Instant::now() + self.gate.config.limits.message_timeout;
        loop {
            let answered = self.bind_answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            {
                let t = self.lock_tracking();
                if t.binds.is_empty() {
                    let bound = t.bound.clone().unwrap_or(Actor::Anonymous);
                    let outcome = if bound == asked {
                        Binds::Succeeded
                    } else {
                        Binds::Failed
                    };
                    return (bound, outcome);
                }
            }
            if tokio::time::timeout_at(deadline.into(), answered)
                .await
                .is_err()
            {
                return (Actor::Anonymous, Binds::Unanswered);
            }
        }
    }

    /// The policy decision for one password operation, by the decision
    /// core; this translates its refusal into an LDAP answer.
    async fn decide(&self, operation: PasswordOperation) -> Action {
        let gate = self.cell.load();
        let config = &gate.config;
        // RFC 4511 4.2.1: a request sent while a bind is in progress is
        // processed once the bind is done, with the identity it
        // established; so is a change pipelined behind its bind here.
        let (bound, binds) = self.identity_after_binds().await;
        let target = match (&operation.target, &bound) {
            (Target::Dn(dn), _) => TargetRef::Dn(dn.clone()),
            (Target::BoundIdentity, Actor::Named(dn)) => TargetRef::Dn(dn.clone()),
            (Target::BoundIdentity, _) => TargetRef::Unreadable("unknown".to_owned()),
            (Target::AuthzId(user), _) => TargetRef::Unreadable(format!("u:{user}")),
        };
        let PasswordOperation {
            msgid,
            response_op,
            kind,
            attribute,
            new_passwords,
            old_password,
            request_names,
            ppolicy_requested,
            ..
        } = operation;
        let request = decision::Request {
            door: Door::Ldap,
            purpose: decision::Purpose::Decide,
            client: self.peer.into(),
            actor: bound,
            binds,
            target,
            request_names,
            search_bases: Vec::new(),
            kind,
            attribute,
            msgid,
            new_passwords,
            old_password,
            encrypted: self.client_tls.load(Ordering::Relaxed),
        };
        let ctx = decision::Context {
            config,
            accounts: gate.directory.as_deref(),
            sync: self.cell.sync().map(|s| &**s),
            metrics: self.cell.metrics(),
            recent: Some(self.cell.recent()),
        };
        let outcome = decision::decide(&ctx, request).await;
        if let Some(refusal) = outcome.refusal {
            let (code, text, controls) =
                ldap_refusal(config.upstream.flavor, refusal, ppolicy_requested);
            return Action::Reply {
                bytes: reply::result_message(msgid, response_op, code, &text, None, &controls),
                sensitive: true,
            };
        }
        let mut t = self.lock_tracking();
        if t.changes.len() < MAX_TRACKED {
            if let Some(pending) = outcome.sync {
                t.syncs.insert(msgid, pending);
            }
            t.changes.insert(msgid, outcome.record);
        }
        Action::ForwardSensitive
    }

    /// Answers StartTLS and, on success, returns the reader of the TLS stream.
    async fn start_tls(&self, reader: ReadSide, msgid: i32) -> Result<ReadSide, SessionError> {
        let mut guard = self.client_writer.lock().await;
        let Some(mut writer) = guard.take() else {
            return Err(SessionError::Client(
                std::io::ErrorKind::NotConnected.into(),
            ));
        };
        let gate = self.cell.load();
        let refusal = match (&gate.acceptor, self.client_tls.load(Ordering::Relaxed)) {
            (_, true) => Some((ResultCode::OperationsError, "TLS is already established")),
            (None, false) => Some((
                ResultCode::Unavailable,
                "pwgate has no certificate configured for StartTLS",
            )),
            (Some(_), false) => None,
        };
        if let Some((code, text)) = refusal {
            let r = writer
                .write_all(&reply::start_tls_response(msgid, code, text))
                .await;
            *guard = Some(writer);
            r.map_err(SessionError::Client)?;
            return Ok(reader);
        }
        writer
            .write_all(&reply::start_tls_response(msgid, ResultCode::Success, ""))
            .await
            .map_err(SessionError::Client)?;
        writer.flush().await.map_err(SessionError::Client)?;
        let Some(Stream::Plain(tcp)) = stream::unsplit(reader, writer) else {
            unreachable!("checked that the client side is not TLS yet");
        };
        let acceptor = gate.acceptor.clone().expect("checked above");
        let tls = tokio::time::timeout(
            self.gate.config.limits.tls_handshake_timeout,
            acceptor.accept(tcp),
        )
        .await
        .map_err(|_| SessionError::Handshake("timed out".into()))?
        .map_err(|e| SessionError::Handshake(e.to_string()))?;
        let (reader, writer) = stream::split(Stream::Tls(Box::new(TlsStream::Server(tls))));
        *guard = Some(writer);
        self.client_tls.store(true, Ordering::Relaxed);
        debug!(client = %self.peer, "StartTLS established");
        Ok(reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_mechanisms_with_possible_layers_are_recognised() {
        for m in ["GSSAPI", "GSS-SPNEGO", "DIGEST-MD5", "NTLM", "gssapi"] {
            assert!(sasl_may_negotiate_layer(m), "{m}");
        }
        for m in ["EXTERNAL", "PLAIN", "SCRAM-SHA-256", "external"] {
            assert!(!sasl_may_negotiate_layer(m), "{m}");
        }
    }
}
