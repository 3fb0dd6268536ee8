//! The upstream pump: passes the directory's answers back to the client
//! unchanged, in runs of whole messages, and notes the answers that end an
//! operation on the way: the request is no longer outstanding (room under
//! the limit), a bind's answer sets who is bound, a password operation's
//! result goes to the audit trail (and a success to sync). At shutdown it
//! also tells the session when every answer has reached the client.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tracing::warn;

use super::{fill, release_if_empty, Session, SessionError};
use crate::audit;
use crate::proxy::frame::{self, op, Peek};
use crate::proxy::reply::ResultCode;
use crate::proxy::stream::ReadSide;
use crate::proxy::upstream::result_code;

impl Session {
    pub(super) async fn upstream_to_client(
        &self,
        mut reader: ReadSide,
    ) -> Result<(), SessionError> {
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
