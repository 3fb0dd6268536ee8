//! What to do with one client message: requests that cannot set a password
//! pass unread; Bind, Modify, Add, ModifyDN and Extended requests are read
//! strictly (and refused when that fails), then forwarded in their
//! canonical encoding, answered by pwgate (StartTLS, refusals) or stopped
//! for a decision; any other protocolOp ends the session.

use tracing::{info, warn};
use zeroize::Zeroizing;

use super::Session;
use crate::audit;
use crate::policy::RuleIds;
use crate::proxy::frame::{op, Peek};
use crate::proxy::intercept::{self, Extended, Inspection, PasswordOperation, Undecodable};
use crate::proxy::reply::{self, ResultCode};
use crate::proxy::request::{self, Operation};

/// What to do with one client message.
pub(super) enum Action {
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

impl Session {
    /// What to do with one client message. Requests that cannot set a
    /// password pass unread; Bind, Modify, Add, ModifyDN and Extended
    /// requests are read strictly, refused when that fails, and forwarded
    /// in their canonical encoding; any other protocolOp ends the session.
    pub(super) fn classify(&self, frame: &[u8], peek: Peek) -> Action {
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
        self.cell.metrics().decision(
            audit::Door::Ldap.as_str(),
            "refused",
            &RuleIds::one(rule),
            "default",
        );
        Action::Reply {
            bytes: reply::result_message(u.msgid, u.response_op, code, &text, None, &[]),
            sensitive: true,
        }
    }
}
