//! The LDAP door to the decision core: a password operation read from the
//! client becomes a [`decision::Request`] (with who is bound once its binds
//! are answered), and [`decision::decide`]'s refusal becomes an LDAP
//! answer: a result code, a text (with AD's Win32 error prefix when the
//! directory is AD) and the password policy control when asked for. An
//! accepted change is remembered so that the directory's answer is
//! audited (and synchronized, on success).

use std::sync::atomic::Ordering;

use super::{Action, Session, MAX_TRACKED};
use crate::audit::Door;
use crate::config::Flavor;
use crate::decision::{self, Actor, Reason, Refusal, TargetRef};
use crate::proxy::intercept::{PasswordOperation, Target};
use crate::proxy::reply::{self, PpolicyError, ResultCode};

/// AD's prefix for password policy refusals (ERROR_PASSWORD_RESTRICTION).
const AD_POLICY_PREFIX: &str = "0000052D: ";
/// The Win32 error AD puts before access refusals (ERROR_ACCESS_DENIED).
const AD_ACCESS_DENIED_PREFIX: &str = "00000005: ";

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

impl Session {
    /// The policy decision for one password operation, by the decision
    /// core; this translates its refusal into an LDAP answer.
    pub(super) async fn decide(&self, operation: PasswordOperation) -> Action {
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
            account_keys: Vec::new(),
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
            recent: self.cell.recent(),
        };
        // On the heap: the decision's state (6.5 KiB, with its directory
        // lookups) would otherwise be part of every session's future,
        // copied when the session starts and held while it is idle.
        let outcome = Box::pin(decision::decide(&ctx, request)).await;
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
}
