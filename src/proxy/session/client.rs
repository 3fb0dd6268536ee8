//! The client pump: reads the client's bytes, splits them into messages,
//! sends runs of pass-through messages to the directory in one write, and
//! handles the others as [`classify`](super::classify) says. It owns the
//! writing half of the connection to the directory, opened when the first
//! request needs it. Its timeouts (idle, slow message), the limit on
//! outstanding requests (back-pressure: nothing more is read meanwhile)
//! and the shutdown signal all act where it waits for client bytes.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::time::Sleep;
use tracing::{debug, info, warn};
use zeroize::Zeroize;

use super::buffers::{fill, poll_fill, release_if_empty, try_write, write_all_within, WipedOnDrop};
use super::{Action, Session, SessionError, Tick};
use crate::proxy::frame::{self, op, FrameError, Peek};
use crate::proxy::reply::ResultCode;
use crate::proxy::shutdown::Shutdown;
use crate::proxy::stream::{self, ReadSide, WriteSide};

/// The client pump's side of the connection to the directory, opened on
/// first use.
pub(super) struct Upstream {
    pub(super) writer: Option<WriteSide>,
    /// Hands the reading half to the upstream pump once connected.
    pub(super) reader_tx: Option<tokio::sync::oneshot::Sender<ReadSide>>,
}

/// How the client pump ended without an error.
pub(super) enum ClientEnd {
    /// The client sent end-of-stream; the directory's answers may follow.
    Eof,
    /// pwgate closed the session (protocol error, failed StartTLS...).
    Closed,
    /// The server is stopping: no more requests are read. The connection
    /// to the directory stays open (closing it would make the directory
    /// drop what is in flight) until the answers are delivered.
    ShuttingDown(Upstream),
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

/// What the fast path ([`Session::fill_forwarding`]) leaves to the
/// pump's loop, at the start of `buf`, in this order.
#[derive(Default)]
struct Carried {
    /// The unsent rest of a request that carries a password, partly sent
    /// already: the first `sensitive` bytes, wiped once sent.
    sensitive: usize,
    /// Requests to forward as they are, tracked already, not yet sent: the
    /// next `run` bytes.
    run: usize,
    /// What to do with the request after them, decided already.
    action: Option<Action>,
}

/// Sends `buf[..run]` as far as the socket takes it now, and drops what
/// went; `true` when all of it went. An error is met again, and reported,
/// by the pump's own write.
fn send_now(
    cx: &mut Context<'_>,
    writer: &mut WriteSide,
    buf: &mut BytesMut,
    run: &mut usize,
) -> bool {
    if *run == 0 {
        return true;
    }
    if let Some(Ok(n)) = try_write(cx, writer, &buf[..*run]) {
        buf.advance(n);
        *run -= n;
    }
    *run == 0
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
            // On the heap, once per connection: the connect's state
            // (failover, TLS) would otherwise be part of every session's
            // future for its whole life.
            let connected = Box::pin(
                self.gate
                    .upstream
                    .connect(|url, outcome| metrics.upstream_connect(url, outcome)),
            )
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
        match write_all_within(writer, bytes, UPSTREAM_WRITE_TIMEOUT).await {
            Some(r) => r.map_err(SessionError::Upstream),
            None => Err(SessionError::Upstream(std::io::Error::new(
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

    pub(super) async fn client_to_upstream(
        &self,
        mut reader: ReadSide,
        mut upstream: Upstream,
        shutdown: &mut Shutdown,
    ) -> Result<ClientEnd, SessionError> {
        let limits = &self.gate.config.limits;
        let mut buf = WipedOnDrop::default();
        // When the first byte of the unfinished message at the end of `buf`
        // arrived: the whole message must follow within message_timeout.
        let mut partial_since: Option<Instant> = None;
        // Set for the idle timeout after the session's last activity; see
        // `read_more`.
        let idle_timer = limits
            .idle_timeout
            .map(|idle| tokio::time::sleep(idle.saturating_sub(self.last_activity().elapsed())));
        let mut idle_timer = std::pin::pin!(idle_timer);
        let mut carried = Carried::default();
        loop {
            if carried.sensitive > 0 {
                let mut rest = WipedOnDrop(buf.split_to(std::mem::take(&mut carried.sensitive)));
                let sent = self.write_upstream(&mut upstream, &rest).await;
                rest.zeroize();
                sent?;
            }
            // `run` is the length of the pass-through prefix of `buf`,
            // which starts with what the fast path left to send.
            let mut run = std::mem::take(&mut carried.run);
            let mut completed_any = false;
            loop {
                // A request the fast path has decided on is handled, as
                // one whose handling had begun.
                if carried.action.is_none() && shutdown.is_shutdown() {
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
                if carried.action.is_none()
                    && op::expects_response(peek.op)
                    && self.outstanding() >= limits.max_outstanding_per_connection
                {
                    // Back-pressure: send what is ready, read nothing more
                    // from this client until the directory answers.
                    self.flush(&mut upstream, &mut buf, &mut run).await?;
                    self.wait_for_room(shutdown).await;
                    continue;
                }
                let mut action = match carried.action.take() {
                    Some(action) => action,
                    None => self.classify(&buf[run..run + len], peek),
                };
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
                let mut message = WipedOnDrop(buf.split_to(len));
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
                        // An answer of pwgate's own is activity as much
                        // as the directory's (the idle timeout).
                        self.lock_tracking().last_activity = Tick::now();
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
                        reader = Box::pin(self.start_tls(reader, msgid)).await?;
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
                .read_more(
                    &mut reader,
                    &mut buf,
                    partial_since,
                    idle_timer.as_mut().as_pin_mut(),
                    shutdown,
                    (&mut upstream, &mut carried),
                )
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
    ///
    /// The idle timer is the session's own and lives as long as the
    /// session: it is set for the idle timeout after the activity last seen
    /// and, when it fires early because there was activity since, set again
    /// from that activity. A read costs no timer of its own.
    async fn read_more(
        &self,
        reader: &mut ReadSide,
        buf: &mut BytesMut,
        partial_since: Option<Instant>,
        idle_timer: Option<Pin<&mut Sleep>>,
        shutdown: &mut Shutdown,
        (up, carried): (&mut Upstream, &mut Carried),
    ) -> Result<Read, SessionError> {
        let limits = &self.gate.config.limits;
        if let Some(since) = partial_since {
            let deadline = since + limits.message_timeout;
            let filled = fill_unless_stopping(reader, buf, shutdown);
            return match tokio::time::timeout_at(deadline.into(), filled).await {
                Ok(r) => read_result(r),
                Err(_) => Ok(Read::TimedOut(format!(
                    "message not complete within {} s",
                    limits.message_timeout.as_secs()
                ))),
            };
        }
        let (Some(mut timer), Some(idle)) = (idle_timer, limits.idle_timeout) else {
            return tokio::select! {
                biased;
                () = shutdown.recv() => Ok(Read::ShuttingDown),
                r = self.fill_forwarding(reader, buf, up, carried, shutdown) => read_result(Some(r)),
            };
        };
        loop {
            tokio::select! {
                biased;
                () = shutdown.recv() => return Ok(Read::ShuttingDown),
                r = self.fill_forwarding(reader, buf, up, carried, shutdown) => return read_result(Some(r)),
                () = timer.as_mut() => {}
            }
            // Idle only when no answer is pending and none came within the
            // timeout; otherwise wait on.
            let left = if self.outstanding() > 0 {
                self.lock_tracking().last_activity = Tick::now();
                idle
            } else {
                idle.saturating_sub(self.last_activity().elapsed())
            };
            if left.is_zero() {
                return Ok(Read::TimedOut(format!("idle for {} s", idle.as_secs())));
            }
            timer.as_mut().reset((Instant::now() + left).into());
        }
    }

    /// Reads client bytes into the empty `buf` and, while the connection
    /// to the directory is open, handles the requests they complete
    /// straight from the read, for as long as they go out at once: the
    /// fast path. It returns when something is left for the pump's loop
    /// (see [`Carried`]): a request to answer, refuse or decide, an
    /// unfinished one, one over the outstanding limit, a stop, or bytes
    /// the directory's socket did not take at once. `Ok(false)` at end of
    /// stream.
    async fn fill_forwarding(
        &self,
        reader: &mut ReadSide,
        buf: &mut BytesMut,
        up: &mut Upstream,
        carried: &mut Carried,
        shutdown: &Shutdown,
    ) -> std::io::Result<bool> {
        let Some(writer) = up.writer.as_mut() else {
            return fill(reader, buf).await;
        };
        std::future::poll_fn(|cx| loop {
            match ready!(poll_fill(cx, reader, buf)) {
                Ok(true) => {}
                other => return Poll::Ready(other),
            }
            let left = self.forward_ready(cx, writer, buf, carried, shutdown);
            if left || !buf.is_empty() || shutdown.is_shutdown() {
                return Poll::Ready(Ok(true));
            }
        })
        .await
    }

    /// The fast path's work on the complete requests at the start of
    /// `buf`: those to forward as they are go out in one write, one that
    /// carries a password on its own and is wiped once sent. `true` when
    /// something is left in `carried`.
    fn forward_ready(
        &self,
        cx: &mut Context<'_>,
        writer: &mut WriteSide,
        buf: &mut BytesMut,
        carried: &mut Carried,
        shutdown: &Shutdown,
    ) -> bool {
        let limits = &self.gate.config.limits;
        let mut run = 0;
        while let Ok(Some(len)) = frame::frame_len(&buf[run..], limits.max_message_bytes) {
            // As the pump's loop: nothing more is handled once stopping.
            if shutdown.is_shutdown() {
                break;
            }
            let frame = &buf[run..run + len];
            let Ok(peek) = frame::peek(frame) else { break };
            if op::expects_response(peek.op)
                && self.outstanding() >= limits.max_outstanding_per_connection
            {
                break;
            }
            match self.classify(frame, peek) {
                Action::Forward => {
                    self.track_forwarded(frame, peek);
                    run += len;
                }
                Action::ForwardSensitive => {
                    // What came before goes out first.
                    if !send_now(cx, writer, buf, &mut run) {
                        carried.run = run;
                        carried.action = Some(Action::ForwardSensitive);
                        return true;
                    }
                    match try_write(cx, writer, &buf[..len]) {
                        Some(Ok(n)) if n > 0 => {
                            self.track_forwarded(&buf[..len], peek);
                            buf[..n].zeroize();
                            buf.advance(n);
                            if n < len {
                                carried.sensitive = len - n;
                                return true;
                            }
                        }
                        // An error is met again, and reported, by the
                        // pump's own write.
                        _ => {
                            carried.action = Some(Action::ForwardSensitive);
                            return true;
                        }
                    }
                }
                action => {
                    carried.run = run;
                    carried.action = Some(action);
                    return true;
                }
            }
        }
        if !send_now(cx, writer, buf, &mut run) {
            carried.run = run;
            return true;
        }
        false
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

    /// Notes a request sent to the directory: its answer is now awaited, or
    /// (Abandon) the abandoned one no longer is.
    fn track_forwarded(&self, frame: &[u8], peek: Peek) {
        self.cell.metrics().forwarded(peek.op);
        let mut t = self.lock_tracking();
        t.last_activity = Tick::now();
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
}
