//! The upstream pump: passes the directory's answers back to the client
//! unchanged, in runs of whole messages, and notes the answers that end an
//! operation on the way: the request is no longer outstanding (room under
//! the limit), a bind's answer sets who is bound, a password operation's
//! result goes to the audit trail (and a success to sync). At shutdown it
//! also tells the session when every answer has reached the client.

use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tracing::warn;
use zeroize::Zeroize;

use super::buffers::{poll_fill, release_if_empty, try_write, WipedOnDrop};
use super::{Session, SessionError, Tick};
use crate::audit;
use crate::proxy::frame::{self, op, FrameError, Peek};
use crate::proxy::reply::ResultCode;
use crate::proxy::stream::ReadSide;
use crate::proxy::upstream::result_code;

/// Where relaying the directory's answers stopped.
enum Relay {
    /// `buf[..run]` holds whole answers, already noted, that the client's
    /// socket did not take at once (or, with `wipe`, that are wiped once
    /// written: an extended response, which may carry a password the
    /// directory generated).
    Write {
        run: usize,
        wipe: bool,
    },
    /// `buf[..run]` holds whole answers, already noted; what follows is not
    /// an LDAPMessage.
    Malformed {
        run: usize,
        error: FrameError,
    },
    Eof,
    Upstream(std::io::Error),
    Client(std::io::Error),
}

impl Session {
    pub(super) async fn upstream_to_client(
        &self,
        mut reader: ReadSide,
    ) -> Result<(), SessionError> {
        let limit = self.gate.config.limits.max_message_bytes;
        let mut buf = WipedOnDrop::default();
        loop {
            let relayed = poll_fn(|cx| self.poll_relay(cx, &mut reader, &mut buf, limit)).await;
            match relayed {
                Relay::Write { run, wipe } => {
                    let written = self.write_client(&buf[..run]).await;
                    if wipe {
                        buf[..run].zeroize();
                    }
                    written?;
                    buf.advance(run);
                    self.answers_out();
                }
                Relay::Malformed { run, error } => {
                    self.write_client(&buf[..run]).await?;
                    warn!(client = %self.peer, error = %error, "disconnecting client: malformed message from the directory");
                    self.disconnect(
                        ResultCode::Other,
                        &format!("pwgate: directory sent {error}"),
                    )
                    .await;
                    return Ok(());
                }
                Relay::Eof => return Ok(()),
                Relay::Upstream(e) => return Err(SessionError::Upstream(e)),
                Relay::Client(e) => return Err(SessionError::Client(e)),
            }
        }
    }

    /// Reads the directory's answers and writes every run of whole answers
    /// to the client, for as long as both sockets keep up without waiting;
    /// what has to wait (a client that does not read, the writer taken by
    /// the client pump) goes back to `upstream_to_client`.
    fn poll_relay(
        &self,
        cx: &mut Context<'_>,
        reader: &mut ReadSide,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Poll<Relay> {
        loop {
            if !buf.is_empty() {
                // Answers noted below stop being outstanding before they
                // are written: until then, a shutdown must not close the
                // client.
                self.answers_unwritten.store(true, Ordering::SeqCst);
                let mut run = 0;
                let mut wipe = false;
                loop {
                    match frame::frame_len(&buf[run..], limit) {
                        Ok(Some(len)) => {
                            let frame = &buf[run..run + len];
                            if let Ok(peek) = frame::peek(frame) {
                                self.observe_response(frame, peek);
                                // RFC 3062: the answer to a Password Modify
                                // without a new password carries the one
                                // the directory generated.
                                wipe |= peek.op == op::EXTENDED_RESPONSE;
                            }
                            run += len;
                        }
                        Ok(None) => break,
                        // After an extended response, the answers before
                        // go out and are wiped first (below); the next pass
                        // meets this error again with nothing before it.
                        Err(_) if wipe => break,
                        Err(error) => return Poll::Ready(Relay::Malformed { run, error }),
                    }
                }
                if run > 0 {
                    // Rare answers, written and wiped by the loop.
                    if wipe {
                        return Poll::Ready(Relay::Write { run, wipe });
                    }
                    let Ok(mut writer) = self.client_writer.try_lock() else {
                        return Poll::Ready(Relay::Write { run, wipe });
                    };
                    let Some(writer) = writer.as_mut() else {
                        return Poll::Ready(Relay::Write { run, wipe });
                    };
                    match try_write(cx, writer, &buf[..run]) {
                        Some(Ok(n)) if n == run => buf.advance(n),
                        Some(Ok(n)) => {
                            buf.advance(n);
                            return Poll::Ready(Relay::Write { run: run - n, wipe });
                        }
                        Some(Err(e)) => return Poll::Ready(Relay::Client(e)),
                        None => return Poll::Ready(Relay::Write { run, wipe }),
                    }
                }
                self.answers_out();
                release_if_empty(buf);
            }
            match poll_fill(cx, reader, buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => return Poll::Ready(Relay::Eof),
                Poll::Ready(Err(e)) => return Poll::Ready(Relay::Upstream(e)),
            }
        }
    }

    /// Every answer noted so far has been written to the client.
    fn answers_out(&self) {
        self.answers_unwritten.store(false, Ordering::SeqCst);
        // Only a stopping session waits for this (`answers_delivered`);
        // see there why this order cannot miss it.
        if self.delivery_awaited.load(Ordering::SeqCst) {
            self.answers_written.notify_waiters();
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
            t.last_activity = Tick::now();
            match peek.op {
                op::BIND_RESPONSE => {
                    self.note_bind_answer(&mut t, peek.msgid, result_code(frame));
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
            self.cell
                .metrics()
                .directory_answer(record.kind.as_str(), code);
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

    /// Until every request forwarded to the directory has been answered
    /// and the answers have been written to the client.
    pub(super) async fn answers_delivered(&self) {
        // Set before the state is read: the upstream pump clears
        // `answers_unwritten` and then reads this, so it either sees it and
        // notifies, or cleared the flag before the check below reads it.
        self.delivery_awaited.store(true, Ordering::SeqCst);
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
}
