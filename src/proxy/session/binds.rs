//! Bind tracking: which bind requests pass (no cleartext password on a
//! plain connection, no SASL mechanism that may hide the stream behind a
//! security layer), the identity each one asks for, the directory's answer
//! that makes it the bound identity, and who is bound once every bind sent
//! so far has been answered (RFC 4511 4.2.1: a request pipelined behind a
//! bind is processed with the identity the bind established).

use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::info;

use super::{Action, Session, Tracking, MAX_TRACKED};
use crate::audit;
use crate::decision::{Actor, Binds};
use crate::proxy::frame::op;
use crate::proxy::intercept::{self, BindMethod};
use crate::proxy::reply::{self, ResultCode};
use crate::proxy::request::Request;

/// SASL mechanisms that never negotiate a security layer. Others (GSSAPI,
/// GSS-SPNEGO, DIGEST-MD5, NTLM...) may wrap the rest of the stream in a
/// layer pwgate cannot read, so a password change could pass unseen.
const SASL_WITHOUT_LAYER: &[&str] = &["EXTERNAL", "PLAIN", "ANONYMOUS", "CRAM-MD5", "OAUTHBEARER"];

fn sasl_may_negotiate_layer(mechanism: &str) -> bool {
    let m = mechanism.to_ascii_uppercase();
    !(SASL_WITHOUT_LAYER.contains(&m.as_str()) || m.starts_with("SCRAM-"))
}

impl Session {
    pub(super) fn on_bind(&self, request: &Request<'_>) -> Action {
        let msgid = request.msgid;
        let Some((name, method)) = intercept::inspect_bind(request) else {
            unreachable!("classify passes only binds here");
        };
        let (allow_cleartext_binds, allow_sasl_security_layers) = self.with_current_gate(|g| {
            (
                g.config.allow_cleartext_binds,
                g.config.allow_sasl_security_layers,
            )
        });
        let refuse = |code: ResultCode, text: &str| Action::Reply {
            bytes: reply::result_message(msgid, op::BIND_RESPONSE, code, text, None, &[]),
            sensitive: true,
        };
        let identity = match method {
            BindMethod::Simple { with_password }
                if with_password
                    && !self.client_tls.load(Ordering::Relaxed)
                    && !allow_cleartext_binds =>
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
                if sasl_may_negotiate_layer(&mechanism) && !allow_sasl_security_layers {
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
            BindMethod::Other if !allow_sasl_security_layers => {
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

    /// Notes the directory's answer to bind `msgid` (with `code`): it
    /// sets who is bound, and wakes a decision waiting for the binds.
    pub(super) fn note_bind_answer(&self, t: &mut Tracking, msgid: i32, code: Option<i64>) {
        // A later bind abandons earlier ones the server may never
        // answer: forget them (and stop waiting for them).
        let stale: Vec<i32> = t.binds.keys().copied().filter(|id| *id < msgid).collect();
        for id in stale {
            t.binds.remove(&id);
            t.outstanding.remove(&id);
        }
        if let Some(identity) = t.binds.remove(&msgid) {
            // Anything but success (including saslBindInProgress,
            // whose next step is a new request) leaves the
            // connection anonymous.
            t.bound = Some(if code == Some(0) {
                identity
            } else {
                Actor::Anonymous
            });
        }
        if t.bind_awaited {
            self.bind_answered.notify_waiters();
        }
    }

    pub(super) fn actor(&self) -> String {
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
    pub(super) async fn identity_after_binds(&self) -> (Actor, Binds) {
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
                let mut t = self.lock_tracking();
                // Under the lock the answers are noted under: an answer
                // noted after this signals `bind_answered`.
                t.bind_awaited = true;
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
