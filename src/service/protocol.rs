//! The decision service's protocol, version 1: one JSON object per
//! request and one per answer. On the Unix socket each is one line.
//!
//! A request:
//!
//! ```json
//! {"v": 1, "op": "decide", "door": "samba_hook",
//!  "account": {"name": "alice", "upn": "alice@example.test", "full_name": "Alice Smith"},
//!  "password": "..."}
//! ```
//!
//! - `v`: 1.
//! - `op`: `check` (would this password pass for this account? nothing is
//!   about to change) or `decide` (an enforcement point is about to set
//!   it).
//! - `door`: for `decide`, where it came from: `samba_hook` or `api`.
//! - `account`: whose password, at least one of `dn`, `upn`, `name`
//!   (`sAMAccountName` or `uid`); `full_name` counts as a name too. With a
//!   DN, that DN is the account; else the UPN or name is found in the
//!   directory, when pwgate has one.
//! - `password`: the new password. `old_password`: the old one, when the
//!   enforcement point knows it. `kind`: `change`, `reset` or `set` (the
//!   default: not known which). `actor`: who sets it (a DN or bind name),
//!   when known.
//!
//! An answer:
//!
//! ```json
//! {"v": 1, "verdict": "refused", "rules": ["banned_word"],
//!  "message": "password rejected by policy: ... [banned_word]",
//!  "scope": "default", "account": "CN=alice,CN=Users,DC=example,DC=test"}
//! ```
//!
//! `verdict` is `accepted`, `refused` or `would_refuse` (the scope is in
//! audit mode: let it through). A request that cannot be read gets
//! `{"v": 1, "error": "bad_request", "message": "..."}`; `error` is
//! `bad_request`, `too_large` or `busy`. No answer quotes a password.
//!
//! A notice (HTTPS only, `POST /v1/notify`): the Windows filter's
//! `PasswordChangeNotify` says a password was changed, after its decision:
//!
//! ```json
//! {"v": 1, "door": "windows_filter", "account": {"name": "alice"}, "rid": 1104}
//! ```
//!
//! answered `{"v": 1, "recorded": true}`. It carries no password.

use std::borrow::Cow;

use serde::Deserialize;

use crate::audit::{Door, Peer, Purpose};
use crate::decision::{Actor, Binds, NewPassword, Outcome, Request, TargetRef};
use crate::policy::{ChangeKind, PasswordAttribute};
use crate::secret::Password;

/// The longest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// The longest password accepted, in bytes (AD allows 256 UTF-16 units).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Check,
    Decide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireDoor {
    SambaHook,
    Api,
    WindowsFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireKind {
    Change,
    Reset,
    Set,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAccount<'a> {
    #[serde(borrow)]
    dn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    upn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    full_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest<'a> {
    v: u32,
    op: Option<Op>,
    door: Option<WireDoor>,
    account: WireAccount<'a>,
    #[serde(borrow)]
    password: Cow<'a, str>,
    #[serde(borrow)]
    old_password: Option<Cow<'a, str>>,
    kind: Option<WireKind>,
    #[serde(borrow)]
    actor: Option<Cow<'a, str>>,
}

/// A request read from the wire, ready for the decision core.
#[derive(Debug)]
pub struct Parsed {
    pub op: Op,
    pub request: Request,
}

/// Why a request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// `bad_request`, `too_large` or `busy`.
    pub error: &'static str,
    /// What is wrong, in words; never a password.
    pub message: String,
}

impl BadRequest {
    fn bad(message: impl Into<String>) -> Self {
        BadRequest {
            error: "bad_request",
            message: message.into(),
        }
    }
}

/// Why a body cannot be read, without what was there. serde_json's own
/// text may quote a value (`invalid type: string "..."`), and its column
/// could say where a password ends: say only what kind of error it is.
fn unreadable(e: &serde_json::Error, what: &str, fields: &str) -> BadRequest {
    let why = match e.classify() {
        serde_json::error::Category::Io => "cannot be read".to_owned(),
        serde_json::error::Category::Syntax => "is not JSON".to_owned(),
        serde_json::error::Category::Eof => "ends early".to_owned(),
        serde_json::error::Category::Data => {
            format!("does not have the fields of version 1 ({fields}) with their types")
        }
    };
    BadRequest::bad(format!("not a version 1 {what}: it {why}"))
}

/// A password from the request, without a copy left behind: a borrowed
/// value is copied once into the wiped buffer, an unescaped one moved.
fn password(value: Cow<'_, str>) -> Password {
    match value {
        Cow::Borrowed(s) => Password::new(s.to_owned()),
        Cow::Owned(s) => Password::new(s),
    }
}

/// Reads one request from the Unix socket: `op` says what it asks.
pub fn parse(body: &[u8], client: Peer) -> Result<Parsed, BadRequest> {
    parse_as(body, client, None)
}

/// Reads one request; `path_op` is what the HTTPS path asks (`/v1/check`,
/// `/v1/decide`), which an `op` in the body must not contradict.
pub fn parse_as(body: &[u8], client: Peer, path_op: Option<Op>) -> Result<Parsed, BadRequest> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(BadRequest {
            error: "too_large",
            message: format!("a request may be at most {MAX_REQUEST_BYTES} bytes"),
        });
    }
    let wire: WireRequest<'_> = serde_json::from_slice(body).map_err(|e| {
        unreadable(
            &e,
            "request",
            "v, op, door, account, password, old_password, kind, actor",
        )
    })?;
    // Into wiped buffers before anything else can return.
    let new = password(wire.password);
    let old = wire.old_password.map(password);
    let op = match (wire.op, path_op) {
        (Some(a), Some(b)) if a != b => {
            return Err(BadRequest::bad("the body's op does not match the path"))
        }
        (Some(op), _) | (None, Some(op)) => op,
        (None, None) => return Err(BadRequest::bad("the request has no op (check or decide)")),
    };
    if wire.v != 1 {
        return Err(BadRequest::bad(format!(
            "version {} is not served; this pwgate speaks version 1",
            wire.v
        )));
    }
    if new.expose().is_empty() {
        return Err(BadRequest::bad("the password is empty"));
    }
    if new.expose().len() > MAX_PASSWORD_BYTES {
        return Err(BadRequest::bad(format!(
            "the password is longer than {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if new.expose().contains('\0') {
        return Err(BadRequest::bad("the password contains a NUL character"));
    }
    let door = match (op, wire.door) {
        (Op::Check, _) | (Op::Decide, Some(WireDoor::Api)) => Door::Api,
        // Only a local hook speaks for Samba: over HTTPS it could claim
        // to confirm the proxy's changes.
        (Op::Decide, Some(WireDoor::SambaHook)) if path_op.is_some() => {
            return Err(BadRequest::bad(
                "door samba_hook is served on the Unix socket only",
            ))
        }
        (Op::Decide, Some(WireDoor::SambaHook)) => Door::SambaHook,
        // The Windows filter asks from another machine: HTTPS only.
        (Op::Decide, Some(WireDoor::WindowsFilter)) if path_op.is_none() => {
            return Err(BadRequest::bad(
                "door windows_filter is served over HTTPS only",
            ))
        }
        (Op::Decide, Some(WireDoor::WindowsFilter)) => Door::WindowsFilter,
        (Op::Decide, None) => return Err(BadRequest::bad("a decide request names its door")),
    };
    let a = wire.account;
    let given = |v: &Option<Cow<'_, str>>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (dn, upn, name, full_name) = (
        given(&a.dn),
        given(&a.upn),
        given(&a.name),
        given(&a.full_name),
    );
    for value in [&dn, &upn, &name, &full_name].into_iter().flatten() {
        if value.chars().any(char::is_control) {
            return Err(BadRequest::bad(
                "an account field contains a control character",
            ));
        }
    }
    let target = match (&dn, &upn, &name) {
        (Some(dn), _, _) => TargetRef::Dn(dn.clone()),
        (None, Some(upn), _) => TargetRef::Name(upn.clone()),
        (None, None, Some(name)) => TargetRef::Name(name.clone()),
        (None, None, None) => {
            return Err(BadRequest::bad("the account has none of dn, upn and name"))
        }
    };
    // The names the request gives count, besides the one it is found by.
    let mut request_names: Vec<String> = Vec::new();
    for n in [&upn, &name, &full_name].into_iter().flatten() {
        if !matches!(&target, TargetRef::Name(t) if t == n) {
            request_names.push(n.clone());
        }
    }
    let kind = match wire.kind.unwrap_or(WireKind::Set) {
        WireKind::Change => ChangeKind::Change,
        WireKind::Reset => ChangeKind::Reset,
        WireKind::Set => ChangeKind::Set,
    };
    let actor = match wire.actor.as_deref().map(str::trim) {
        None | Some("") => Actor::Unknown,
        Some(a) => Actor::Named(a.to_owned()),
    };
    Ok(Parsed {
        op,
        request: Request {
            door,
            purpose: match op {
                Op::Check => Purpose::Check,
                Op::Decide => Purpose::Decide,
            },
            client,
            actor,
            binds: Binds::None,
            target,
            request_names,
            search_bases: Vec::new(),
            account_keys: [&upn, &name].into_iter().flatten().cloned().collect(),
            kind,
            attribute: PasswordAttribute::Service,
            msgid: 0,
            new_passwords: vec![NewPassword::Clear(new)],
            old_password: old,
            // A local socket, or TLS.
            encrypted: true,
        },
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireNoticeAccount<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireNotice<'a> {
    v: u32,
    door: WireDoor,
    #[serde(borrow)]
    account: WireNoticeAccount<'a>,
    rid: u32,
}

/// A change an enforcement point reports as made (`POST /v1/notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub door: Door,
    /// The account name, as the DC gives it (sAMAccountName).
    pub name: String,
    pub rid: u32,
}

/// Reads one notice. Only the Windows filter sends them.
pub fn parse_notice(body: &[u8]) -> Result<Notice, BadRequest> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(BadRequest {
            error: "too_large",
            message: format!("a request may be at most {MAX_REQUEST_BYTES} bytes"),
        });
    }
    let wire: WireNotice<'_> = serde_json::from_slice(body)
        .map_err(|e| unreadable(&e, "notice", "v, door, account with name, rid"))?;
    if wire.v != 1 {
        return Err(BadRequest::bad(format!(
            "version {} is not served; this pwgate speaks version 1",
            wire.v
        )));
    }
    if wire.door != WireDoor::WindowsFilter {
        return Err(BadRequest::bad("only door windows_filter sends notices"));
    }
    let name = wire.account.name.trim();
    if name.is_empty() {
        return Err(BadRequest::bad("the account has no name"));
    }
    if name.chars().any(char::is_control) {
        return Err(BadRequest::bad(
            "an account field contains a control character",
        ));
    }
    Ok(Notice {
        door: Door::WindowsFilter,
        name: name.to_owned(),
        rid: wire.rid,
    })
}

/// The answer to a notice that was recorded.
pub fn recorded() -> String {
    "{\"v\":1,\"recorded\":true}".to_owned()
}

/// A JSON string literal.
fn json(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// The answer to a request the core decided.
pub fn answer(outcome: &Outcome) -> String {
    let rules: Vec<String> = outcome.rules.iter().map(json).collect();
    let message = match (&outcome.refusal, &outcome.explanation) {
        (Some(r), _) => json(&r.message),
        (None, Some(e)) => json(e),
        (None, None) => "null".to_owned(),
    };
    let account = if outcome.record.target.contains('=') {
        json(&outcome.record.target)
    } else {
        "null".to_owned()
    };
    format!(
        "{{\"v\":1,\"verdict\":\"{}\",\"rules\":[{}],\"message\":{},\"scope\":{},\"account\":{}}}",
        outcome.decision.as_str(),
        rules.join(","),
        message,
        json(&outcome.record.scope),
        account
    )
}

/// The answer to a request that could not be served.
pub fn error(bad: &BadRequest) -> String {
    format!(
        "{{\"v\":1,\"error\":\"{}\",\"message\":{}}}",
        bad.error,
        json(&bad.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Peer = Peer::Local { uid: 0, pid: None };

    fn parse_str(s: &str) -> Result<Parsed, BadRequest> {
        parse(s.as_bytes(), PEER)
    }

    #[test]
    fn a_samba_hook_request_names_the_account_by_upn_first() {
        let p = parse_str(
            r#"{"v":1,"op":"decide","door":"samba_hook","account":{"name":"alice","upn":"alice@example.test","full_name":"Alice Smith"},"password":"tangerine-Otter-42"}"#,
        )
        .expect("valid");
        assert_eq!(p.op, Op::Decide);
        assert_eq!(p.request.door, Door::SambaHook);
        assert_eq!(
            p.request.target,
            TargetRef::Name("alice@example.test".into())
        );
        assert_eq!(p.request.request_names, ["alice", "Alice Smith"]);
        assert_eq!(p.request.kind, ChangeKind::Set);
        assert_eq!(p.request.actor, Actor::Unknown);
    }

    #[test]
    fn the_windows_filter_asks_over_https_only() {
        let body = r#"{"v":1,"door":"windows_filter","account":{"name":"alice","full_name":"Alice Smith"},"password":"tangerine-Otter-42","kind":"reset"}"#;
        let e =
            parse_str(&body.replace("\"v\":1,", "\"v\":1,\"op\":\"decide\",")).expect_err("socket");
        assert!(e.message.contains("HTTPS only"), "{}", e.message);
        let p = parse_as(body.as_bytes(), PEER, Some(Op::Decide)).expect("HTTPS");
        assert_eq!(p.request.door, Door::WindowsFilter);
        assert_eq!(p.request.target, TargetRef::Name("alice".into()));
        assert_eq!(p.request.kind, ChangeKind::Reset);
        assert_eq!(p.request.account_keys, ["alice"]);
        // A check names no door.
        let p = parse_as(body.as_bytes(), PEER, Some(Op::Check)).expect("check");
        assert_eq!(p.request.door, Door::Api);
    }

    #[test]
    fn notices_come_from_the_windows_filter_and_carry_no_password() {
        let n = parse_notice(
            br#"{"v":1,"door":"windows_filter","account":{"name":" alice "},"rid":1104}"#,
        )
        .expect("valid");
        assert_eq!(
            n,
            Notice {
                door: Door::WindowsFilter,
                name: "alice".into(),
                rid: 1104
            }
        );
        for (body, why) in [
            (
                r#"{"v":1,"door":"windows_filter","account":{"name":"a"},"rid":1,"password":"Secret-9"}"#,
                "fields of version 1",
            ),
            (
                r#"{"v":1,"door":"windows_filter","account":{"name":"a","upn":"a@x"},"rid":1}"#,
                "fields of version 1",
            ),
            (
                r#"{"v":1,"door":"windows_filter","account":{"name":"a"}}"#,
                "fields of version 1",
            ),
            (
                r#"{"v":1,"door":"windows_filter","account":{"name":"a"},"rid":-1}"#,
                "fields of version 1",
            ),
            (
                r#"{"v":1,"door":"api","account":{"name":"a"},"rid":1}"#,
                "only door windows_filter",
            ),
            (
                r#"{"v":2,"door":"windows_filter","account":{"name":"a"},"rid":1}"#,
                "version 2",
            ),
            (
                r#"{"v":1,"door":"windows_filter","account":{"name":" "},"rid":1}"#,
                "no name",
            ),
            (
                r#"{"v":1,"door":"windows_filter","account":{"name":"a\nb"},"rid":1}"#,
                "control",
            ),
            ("{", "not a version 1 notice"),
        ] {
            let e = parse_notice(body.as_bytes()).expect_err(body);
            assert!(e.message.contains(why), "{body}: {}", e.message);
            assert!(!e.message.contains("Secret"), "{}", e.message);
        }
        assert_eq!(recorded(), r#"{"v":1,"recorded":true}"#);
    }

    #[test]
    fn bad_requests_say_why_without_the_password() {
        for (body, why) in [
            ("not json", "not a version 1 request"),
            (
                r#"{"v":2,"op":"check","account":{"name":"a"},"password":"Secret-9"}"#,
                "version 2",
            ),
            (
                r#"{"v":1,"op":"check","account":{},"password":"Secret-9"}"#,
                "none of dn",
            ),
            (
                r#"{"v":1,"op":"check","account":{"name":"a"},"password":""}"#,
                "empty",
            ),
            (
                r#"{"v":1,"op":"decide","account":{"name":"a"},"password":"Secret-9"}"#,
                "door",
            ),
            (
                r#"{"v":1,"op":"check","account":{"name":"a"},"password":"Secret-9","x":1}"#,
                "fields of version 1",
            ),
            (
                r#"{"v":1,"op":"Secret-9","account":{"name":"a"},"password":"x"}"#,
                "fields of version 1",
            ),
            (
                r#"{"v":1,"op":"check","account":{"name":" "},"password":"Secret-9"}"#,
                "none of dn",
            ),
            (
                r#"{"v":1,"op":"check","account":{"name":"a\u0001b"},"password":"Secret-9"}"#,
                "control",
            ),
            (
                r#"{"v":1,"op":"check","account":{"name":"a"},"password":"Sec\u0000ret-9"}"#,
                "NUL",
            ),
            (
                r#"{"v":1,"op":"check","account":{"name":"a"},"password":7}"#,
                "not a version 1 request",
            ),
        ] {
            let e = parse_str(body).expect_err(body);
            assert!(e.message.contains(why), "{body}: {}", e.message);
            assert!(
                !e.message.contains("Secret-9") && !e.message.contains("Sec"),
                "{}",
                e.message
            );
            assert!(!error(&e).contains("Secret"), "{}", error(&e));
        }
        let long = format!(
            r#"{{"v":1,"op":"check","account":{{"name":"a"}},"password":"{}"}}"#,
            "x".repeat(MAX_PASSWORD_BYTES + 1)
        );
        assert!(parse_str(&long).unwrap_err().message.contains("longer"));
        let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(parse(&huge, PEER).unwrap_err().error, "too_large");
    }
}
