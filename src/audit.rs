//! The audit trail: one structured event per password decision and one per
//! answer of the directory to an accepted change.
//!
//! Events go through `tracing` with the target `pwgate::audit`, so they can
//! be routed and filtered apart from operational logs. They carry who asked,
//! whose password, what kind of change, the verdict and the failed rule ids;
//! never a password, a hash of one, or any part of one.

pub mod report;
pub mod trail;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use tracing::info;

use crate::policy::{ChangeKind, PasswordAttribute, RuleIds};

/// Which enforcement point a password operation came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// The LDAP proxy.
    Ldap,
    /// Samba's `check password script` (`pwgate hook samba`).
    SambaHook,
    /// The decision service's "decide" request from another enforcement point.
    Api,
    /// The LSA password filter on a Windows DC (`windows/filter/`), over
    /// HTTPS.
    WindowsFilter,
}

impl Door {
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Ldap => "ldap",
            Door::SambaHook => "samba_hook",
            Door::Api => "api",
            Door::WindowsFilter => "windows_filter",
        }
    }
}

/// Whether a password is about to be set (a decision), or an enforcement
/// point only asks whether it would pass (a check: nothing changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Decide,
    Check,
}

/// Who sent the request: a TCP peer, or a local process on the decision
/// service's Unix socket (by its credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    Local {
        uid: u32,
        pid: Option<i32>,
    },
    /// An authenticated client of the HTTPS API: `token:<name>` or
    /// `cert:<fingerprint>`, and its address.
    Api {
        client: String,
        addr: SocketAddr,
    },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Local {
                uid,
                pid: Some(pid),
            } => write!(f, "local:uid={uid},pid={pid}"),
            Peer::Local { uid, pid: None } => write!(f, "local:uid={uid}"),
            Peer::Api { client, addr } => write!(f, "{}@{addr}", Clean(client)),
        }
    }
}

impl From<SocketAddr> for Peer {
    fn from(addr: SocketAddr) -> Self {
        Peer::Tcp(addr)
    }
}

/// Shows client-supplied text (DNs, names) with control characters
/// escaped, so a DN with a line break cannot forge an audit line.
pub(crate) struct Clean<'a>(pub(crate) &'a str);

impl std::fmt::Display for Clean<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_escaping(f, self.0, char::is_control, |f, c| {
            write!(f, "\\u{{{:x}}}", c as u32)
        })
    }
}

/// Writes `text` to `out`: each character `special` picks through
/// `escape`, the runs between them whole (one write each, not one per
/// character).
pub(crate) fn write_escaping<W: std::fmt::Write + ?Sized>(
    out: &mut W,
    text: &str,
    special: impl Fn(char) -> bool,
    mut escape: impl FnMut(&mut W, char) -> std::fmt::Result,
) -> std::fmt::Result {
    // Most text is ASCII with nothing to escape: one write, without
    // decoding characters.
    if text
        .bytes()
        .all(|b| b.is_ascii() && !special(char::from(b)))
    {
        return out.write_str(text);
    }
    let mut rest = text;
    while let Some((at, c)) = rest.char_indices().find(|(_, c)| special(*c)) {
        out.write_str(&rest[..at])?;
        escape(out, c)?;
        rest = &rest[at + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// What pwgate did with a password operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Forwarded to the directory.
    Accepted,
    /// Refused by pwgate; the directory never saw it.
    Refused,
    /// Audit mode: the policy would refuse it, but it was forwarded.
    WouldRefuse,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Accepted => "accepted",
            Decision::Refused => "refused",
            Decision::WouldRefuse => "would_refuse",
        }
    }
}

/// The facts of one password operation that the audit trail records.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub door: Door,
    pub purpose: Purpose,
    pub client: Peer,
    /// The bound identity that asked (`anonymous`, a DN, or `sasl:MECH`).
    pub actor: String,
    /// Whose password (a DN, `u:name`, or `unknown`).
    pub target: String,
    pub kind: ChangeKind,
    pub attribute: PasswordAttribute,
    pub msgid: i32,
    /// The policy scope that decided (`default` for the global policy).
    pub scope: String,
    /// The proxy's change this one confirms: the DC checking, through its
    /// hook, a change pwgate forwarded a moment ago (`ldap <client> msgid
    /// <n>`).
    pub confirms: Option<String>,
}

/// Records pwgate's decision. `rules` are rule ids (or a reason id such as
/// `cleartext` for refusals that are not about the password itself).
pub fn decision(record: &ChangeRecord, decision: Decision, rules: &RuleIds) {
    if record.purpose == Purpose::Check {
        info!(
            target: "pwgate::audit",
            event = "password_check",
            door = record.door.as_str(),
            client = %record.client,
            actor = %Clean(&record.actor),
            target_dn = %Clean(&record.target),
            kind = record.kind.as_str(),
            scope = %Clean(&record.scope),
            verdict = decision.as_str(),
            rules = %rules,
            "password check: {}",
            decision.as_str()
        );
        return;
    }
    count(decision, rules.iter());
    info!(
        target: "pwgate::audit",
        event = "password_decision",
        door = record.door.as_str(),
        client = %record.client,
        actor = %Clean(&record.actor),
        target_dn = %Clean(&record.target),
        kind = record.kind.as_str(),
        attribute = record.attribute.as_str(),
        msgid = record.msgid,
        scope = %Clean(&record.scope),
        verdict = decision.as_str(),
        rules = %rules,
        confirms = %Clean(record.confirms.as_deref().unwrap_or("none")),
        "password {} {}",
        record.kind.as_str(),
        decision.as_str()
    );
}

/// A request refused before any policy decision: it failed pwgate's
/// strict reading, or it is a password operation pwgate cannot check.
#[derive(Debug, Clone)]
pub struct RefusedRequest<'a> {
    pub client: SocketAddr,
    pub actor: String,
    /// `bind`, `modify`, `add`, `modify_dn` or `extended`.
    pub operation: &'static str,
    /// The DN the request named, when it was read.
    pub target: Option<&'a str>,
    /// The password attribute (or `passwordModify`) it named, if any.
    pub attribute: Option<&'a str>,
    pub msgid: i32,
    /// `malformed` (not read) or `undecodable` (read, cannot be checked).
    pub rule: &'static str,
    /// Why, in words; it never quotes a value.
    pub reason: &'a str,
}

/// Records a request refused before a policy decision, with what is known
/// of it: the operation, its target if it was read, the password attribute
/// it named (or `none`), and why.
pub fn refused_request(r: &RefusedRequest<'_>) {
    count(Decision::Refused, [r.rule].into_iter());
    info!(
        target: "pwgate::audit",
        event = "request_refused",
        client = %r.client,
        actor = %Clean(&r.actor),
        operation = r.operation,
        target_dn = %Clean(r.target.unwrap_or("unknown")),
        attribute = %Clean(r.attribute.unwrap_or("none")),
        msgid = r.msgid,
        verdict = Decision::Refused.as_str(),
        rules = r.rule,
        reason = %Clean(r.reason),
        "{} request refused: {}",
        r.operation,
        Clean(r.reason)
    );
}

/// A change an enforcement point reports as made (the Windows filter's
/// `PasswordChangeNotify`), after pwgate decided on it.
#[derive(Debug, Clone)]
pub struct ChangeNotice {
    pub door: Door,
    pub client: Peer,
    /// Whose password (`name:` and the account name).
    pub target: String,
    /// The account's relative ID, as the DC gives it.
    pub rid: u32,
    /// The decision of this door this change confirms (`windows_filter
    /// <client> <kind>`), if one was made in the last
    /// [`crate::decision::recent::WINDOW`].
    pub confirms: Option<String>,
}

/// Records that a password was changed (a `password_changed` event).
pub fn changed(n: &ChangeNotice) {
    info!(
        target: "pwgate::audit",
        event = "password_changed",
        door = n.door.as_str(),
        client = %n.client,
        target_dn = %Clean(&n.target),
        rid = n.rid,
        confirms = %Clean(n.confirms.as_deref().unwrap_or("none")),
        "password changed, reported by {}",
        n.door.as_str()
    );
}

/// Records the directory's answer to a forwarded password operation.
pub fn outcome(record: &ChangeRecord, result_code: Option<i64>) {
    let code = result_code.map_or_else(|| "unknown".to_owned(), |c| c.to_string());
    info!(
        target: "pwgate::audit",
        event = "password_result",
        door = record.door.as_str(),
        client = %record.client,
        actor = %Clean(&record.actor),
        target_dn = %Clean(&record.target),
        kind = record.kind.as_str(),
        attribute = record.attribute.as_str(),
        msgid = record.msgid,
        result_code = %code,
        "directory answered password {} with result code {}",
        record.kind.as_str(),
        code
    );
}

/// Decisions since the last summary.
#[derive(Debug, Default)]
struct Tally {
    by_decision: BTreeMap<&'static str, u64>,
    by_rule: BTreeMap<String, u64>,
}

static TALLY: Mutex<Option<Tally>> = Mutex::new(None);

fn count<'r>(decision: Decision, rules: impl Iterator<Item = &'r str>) {
    let mut guard = TALLY.lock().unwrap_or_else(|p| p.into_inner());
    let tally = guard.get_or_insert_with(Tally::default);
    *tally.by_decision.entry(decision.as_str()).or_default() += 1;
    if decision != Decision::Accepted {
        for rule in rules.filter(|r| !r.is_empty()) {
            *tally.by_rule.entry(rule.to_owned()).or_default() += 1;
        }
    }
}

/// Writes an `audit_summary` event for the decisions since the last one
/// (nothing when there were none): how many changes, how many refused or
/// would have been refused (audit mode), and the five rules that refused
/// most. Returns the text, for tests.
pub fn summary(period: &str) -> Option<String> {
    let tally = TALLY.lock().unwrap_or_else(|p| p.into_inner()).take()?;
    let n = |k: &str| tally.by_decision.get(k).copied().unwrap_or(0);
    let total: u64 = tally.by_decision.values().sum();
    let mut rules: Vec<(&String, &u64)> = tally.by_rule.iter().collect();
    rules.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let top: Vec<String> = rules
        .iter()
        .take(5)
        .map(|(r, c)| format!("{r}:{c}"))
        .collect();
    let text = format!(
        "in the last {period}: {total} password changes, {} accepted, {} refused, would have refused {} of {total} (audit mode); top rules: {}",
        n("accepted"),
        n("refused"),
        n("would_refuse"),
        if top.is_empty() { "none".to_owned() } else { top.join(", ") }
    );
    info!(
        target: "pwgate::audit",
        event = "audit_summary",
        period = period,
        changes = total,
        accepted = n("accepted"),
        refused = n("refused"),
        would_refuse = n("would_refuse"),
        top_rules = %top.join(","),
        "{text}"
    );
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::Clean;

    #[test]
    fn control_characters_in_client_text_are_escaped() {
        assert_eq!(
            Clean("uid=x\nverdict=accepted").to_string(),
            "uid=x\\u{a}verdict=accepted"
        );
        assert_eq!(Clean("cn=Zoë").to_string(), "cn=Zoë");
        assert_eq!(
            Clean("\u{85}a\tb\u{7f}").to_string(),
            "\\u{85}a\\u{9}b\\u{7f}"
        );
        assert_eq!(Clean("").to_string(), "");
    }
}
