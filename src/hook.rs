//! `pwgate hook samba`: Samba AD's `check password script`.
//!
//! Samba runs the script for every password set on the DC, whatever the
//! channel (LDAP, Kerberos kpasswd, SAMR, `samba-tool`): the new password
//! on standard input, the account in `SAMBA_CPS_ACCOUNT_NAME`,
//! `SAMBA_CPS_USER_PRINCIPAL_NAME` and `SAMBA_CPS_FULL_NAME`. Exit status 0
//! accepts the password; any other refuses it. The hook asks the running
//! pwgate over its decision service's Unix socket, so the decision, its
//! lookups, scopes and audit trail are the proxy's own.
//!
//! When pwgate cannot be asked (not running, too slow, the socket gone
//! mid-request) or the input cannot be read, `--on-error` decides:
//! `refuse` (the default: fail closed), `allow`, or `evaluate` (decide in
//! this process from the same configuration file; not in pwgate's audit
//! trail). Every outcome but acceptance prints one line on standard error,
//! which Samba logs; none quotes the password.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::service::protocol::MAX_PASSWORD_BYTES;

/// The longest answer read from pwgate.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What to do when pwgate cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    Refuse,
    Allow,
    Evaluate,
}

/// The hook's settings (command-line flags).
#[derive(Debug, Clone)]
pub struct Settings {
    pub socket: PathBuf,
    /// For the whole exchange with pwgate (Samba waits 10 s at most).
    pub timeout: Duration,
    pub on_error: OnError,
    /// The configuration file for `--on-error evaluate`.
    pub config: Option<PathBuf>,
}

/// The account, from Samba's variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    pub name: Option<String>,
    pub upn: Option<String>,
    pub full_name: Option<String>,
}

/// How the hook ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Exit 0.
    Accepted,
    /// The policy refused it: exit 1, with pwgate's message.
    Refused(String),
    /// pwgate could not be asked or the input not read: the fail mode
    /// applies. The text says why.
    Error(String),
    /// pwgate answered that it will not decide this request (this user
    /// may not ask, the request is malformed or too large): refused
    /// whatever the fail mode, since allowing it would let every password
    /// of such accounts through unchecked. Exit 2.
    Rejected(String),
}

/// Reads Samba's variables: a name or a UPN is needed; values that are
/// not UTF-8 are errors.
pub fn account_from_env(
    get: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Account, String> {
    let var = |name: &str| -> Result<Option<String>, String> {
        match get(name) {
            None => Ok(None),
            Some(v) => match v.into_string() {
                Ok(s) if s.trim().is_empty() => Ok(None),
                Ok(s) => Ok(Some(s)),
                Err(_) => Err(format!("{name} is not valid UTF-8")),
            },
        }
    };
    let account = Account {
        name: var("SAMBA_CPS_ACCOUNT_NAME")?,
        upn: var("SAMBA_CPS_USER_PRINCIPAL_NAME")?,
        full_name: var("SAMBA_CPS_FULL_NAME")?,
    };
    if account.name.is_none() && account.upn.is_none() {
        return Err(
            "neither SAMBA_CPS_ACCOUNT_NAME nor SAMBA_CPS_USER_PRINCIPAL_NAME is set \
             (is this run by Samba's check password script?)"
                .into(),
        );
    }
    Ok(account)
}

/// Reads the password from `input`: all of it, at most
/// [`MAX_PASSWORD_BYTES`], UTF-8, not empty. Into a wiped buffer.
pub fn read_password(input: &mut impl Read) -> Result<Zeroizing<String>, String> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_PASSWORD_BYTES + 1));
    input
        .take(MAX_PASSWORD_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    if buf.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password on standard input is longer than {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    if buf.is_empty() {
        return Err("no password on standard input".into());
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| "the password on standard input is not valid UTF-8".to_owned())?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[derive(Serialize)]
struct WireAccount<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_name: Option<&'a str>,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    v: u32,
    op: &'static str,
    door: &'static str,
    account: WireAccount<'a>,
    password: &'a str,
}

/// The request line, in a wiped buffer sized so it never reallocates.
fn request_line(account: &Account, password: &str) -> Zeroizing<Vec<u8>> {
    let names = [&account.name, &account.upn, &account.full_name]
        .iter()
        .map(|n| n.as_deref().map_or(0, str::len))
        .sum::<usize>();
    // JSON escapes at most 6 bytes per byte (\u00XX).
    let mut line = Zeroizing::new(Vec::with_capacity(6 * (password.len() + names) + 256));
    let request = WireRequest {
        v: 1,
        op: "decide",
        door: "samba_hook",
        account: WireAccount {
            name: account.name.as_deref(),
            upn: account.upn.as_deref(),
            full_name: account.full_name.as_deref(),
        },
        password,
    };
    serde_json::to_writer(&mut *line, &request).expect("writing JSON to memory cannot fail");
    line.push(b'\n');
    line
}

/// Reads pwgate's answer line.
fn verdict_of(answer: &[u8]) -> Verdict {
    #[derive(serde::Deserialize)]
    struct Answer {
        verdict: Option<String>,
        message: Option<String>,
        error: Option<String>,
    }
    let Ok(a) = serde_json::from_slice::<Answer>(answer) else {
        return Verdict::Error("pwgate's answer is not JSON".into());
    };
    let clean = |m: Option<String>| crate::audit::Clean(&m.unwrap_or_default()).to_string();
    match (a.verdict.as_deref(), a.error) {
        (Some("accepted" | "would_refuse"), _) => Verdict::Accepted,
        (Some("refused"), _) => Verdict::Refused(clean(a.message)),
        (_, Some(error)) if error == "busy" => Verdict::Error(format!(
            "pwgate did not decide (busy): {}",
            clean(a.message)
        )),
        (_, Some(error)) => Verdict::Rejected(format!(
            "pwgate will not decide this request ({}): {}",
            crate::audit::Clean(&error),
            clean(a.message)
        )),
        _ => Verdict::Error("pwgate's answer has no verdict".into()),
    }
}

/// Asks the running pwgate over its socket, within `timeout` overall.
pub fn ask(socket: &Path, timeout: Duration, account: &Account, password: &str) -> Verdict {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let fail = |what: &str, e: std::io::Error| {
        let why = match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("no answer within {} ms", timeout.as_millis())
            }
            _ => e.to_string(),
        };
        Verdict::Error(format!("{what} {}: {why}", socket.display()))
    };
    let mut stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => return fail("cannot reach pwgate at", e),
    };
    let line = request_line(account, password);
    let sent = stream
        .set_write_timeout(Some(left().max(Duration::from_millis(1))))
        .and_then(|()| stream.write_all(&line));
    drop(line);
    // pwgate may have answered before reading (a user it does not
    // serve): that answer says more than the broken pipe.
    let mut write_error = sent.err();
    let mut answer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = answer.iter().position(|b| *b == b'\n') {
            return verdict_of(&answer[..end]);
        }
        if let Some(e) = write_error.take() {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            match stream.read(&mut chunk) {
                Ok(n) if n > 0 => {
                    answer.extend_from_slice(&chunk[..n]);
                    continue;
                }
                _ => return fail("cannot send the request to pwgate at", e),
            }
        }
        if answer.len() > MAX_ANSWER_BYTES {
            return Verdict::Error("pwgate's answer is too long".into());
        }
        let wait = left();
        if wait.is_zero() {
            return Verdict::Error(format!(
                "no answer from pwgate at {} within {} ms",
                socket.display(),
                timeout.as_millis()
            ));
        }
        if let Err(e) = stream.set_read_timeout(Some(wait)) {
            return fail("cannot wait for pwgate at", e);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Verdict::Error(format!(
                    "pwgate at {} closed the connection without an answer",
                    socket.display()
                ))
            }
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return fail("no answer from pwgate at", e),
        }
    }
}

/// Decides in this process from the configuration file, as pwgate would
/// (its lookups too, when it has a `[directory]`). Not written to
/// pwgate's audit trail.
pub fn evaluate(config: &Path, account: &Account, password: &str) -> Verdict {
    use crate::decision::{self, Context, Peer};

    let mut config = match crate::config::Config::load_for_check(Some(config), true) {
        Ok(c) => c,
        Err(e) => return Verdict::Error(format!("cannot evaluate in the hook: {e}")),
    };
    crate::proxy::attach_breached_store(&mut config);
    let directory = match &config.directory {
        Some(d) => match crate::directory::Directory::new(d.clone()) {
            Ok(d) => Some(d),
            Err(e) => {
                return Verdict::Error(format!("cannot evaluate in the hook: [directory]: {e}"))
            }
        },
        None => None,
    };
    // The very request pwgate would get, read by the service's own
    // protocol: the account and its names are taken as pwgate takes them.
    // SAFETY: getuid has no preconditions and cannot fail.
    let peer = Peer::Local {
        uid: unsafe { libc::getuid() },
        pid: i32::try_from(std::process::id()).ok(),
    };
    let request = match crate::service::protocol::parse(&request_line(account, password), peer) {
        Ok(parsed) => parsed.request,
        Err(bad) => {
            return Verdict::Rejected(format!("cannot evaluate in the hook: {}", bad.message))
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return Verdict::Error(format!("cannot evaluate in the hook: {e}")),
    };
    let metrics = crate::metrics::Metrics::default();
    let outcome = runtime.block_on(async {
        let ctx = Context {
            config: &config,
            accounts: directory.as_ref(),
            sync: None,
            metrics: &metrics,
            recent: None,
        };
        let outcome = decision::decide(&ctx, request).await;
        if let Some(d) = &directory {
            d.close().await;
        }
        outcome
    });
    match outcome.refusal {
        None => Verdict::Accepted,
        Some(r) => Verdict::Refused(r.message),
    }
}

/// The whole hook: the verdict, and the line for standard error (None
/// when accepted).
pub fn run(
    settings: &Settings,
    account: Result<Account, String>,
    input: &mut impl Read,
) -> (Verdict, Option<String>) {
    run_with(settings, account, input, evaluate)
}

/// [`run`], with `--on-error evaluate` done by `evaluate`. The lean
/// `pwgate-samba-hook` binary passes one that never loads the policy, so
/// that none of it is linked in: that binary starts in a third of the
/// time.
pub fn run_with(
    settings: &Settings,
    account: Result<Account, String>,
    input: &mut impl Read,
    evaluate: impl FnOnce(&Path, &Account, &str) -> Verdict,
) -> (Verdict, Option<String>) {
    let read = account.and_then(|a| read_password(input).map(|p| (a, p)));
    let verdict = match &read {
        Err(e) => Verdict::Error(e.clone()),
        Ok((account, password)) => ask(&settings.socket, settings.timeout, account, password),
    };
    match (verdict, settings.on_error, &read) {
        (Verdict::Accepted, ..) => (Verdict::Accepted, None),
        (Verdict::Rejected(e), ..) => {
            let line = format!("pwgate: error: {e}; password refused");
            (Verdict::Rejected(e), Some(line))
        }
        (Verdict::Refused(m), ..) => {
            let line = format!("pwgate: password refused: {m}");
            (Verdict::Refused(m), Some(line))
        }
        (Verdict::Error(e), OnError::Allow, _) => {
            let line = format!("pwgate: warning: {e}; password accepted (--on-error allow)");
            (Verdict::Accepted, Some(line))
        }
        (Verdict::Error(e), OnError::Evaluate, Ok((account, password))) => {
            let Some(config) = &settings.config else {
                let line = format!(
                    "pwgate: error: {e}; --on-error evaluate needs --config; password refused"
                );
                return (Verdict::Error(e), Some(line));
            };
            match evaluate(config, account, password) {
                Verdict::Accepted => (
                    Verdict::Accepted,
                    Some(format!(
                        "pwgate: warning: {e}; decided in the hook: accepted"
                    )),
                ),
                Verdict::Refused(m) => {
                    let line = format!("pwgate: password refused: {m} (decided in the hook: {e})");
                    (Verdict::Refused(m), Some(line))
                }
                Verdict::Error(e2) | Verdict::Rejected(e2) => {
                    let line = format!("pwgate: error: {e}; {e2}; password refused");
                    (Verdict::Error(e2), Some(line))
                }
            }
        }
        (Verdict::Error(e), ..) => {
            let line = format!("pwgate: error: {e}; password refused");
            (Verdict::Error(e), Some(line))
        }
    }
}

/// The exit status for a verdict: 0 accepted, 1 refused by the policy, 2
/// pwgate could not be asked, would not decide, or the input was bad.
pub fn exit_status(verdict: &Verdict) -> u8 {
    match verdict {
        Verdict::Accepted => 0,
        Verdict::Refused(_) => 1,
        Verdict::Error(_) | Verdict::Rejected(_) => 2,
    }
}
