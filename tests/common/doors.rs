//! The doors through which a new password reaches a Samba AD DC, each
//! driven by its real client, and a recording `check password script`.
//!
//! Every door ends in Samba's `samdb_check_password`, which runs the smb.conf
//! `check password script` (see [`super::samba::DcOptions`]); these helpers
//! let a test push the same password through each door and see what the
//! client says. Each returns a [`DoorResult`]: `Ok` when the client exited
//! 0, `Err` otherwise, with the exit code, the client's output and the time
//! it took. Every client is bounded by [`DOOR_TIMEOUT`] (Samba gives the
//! script 10 s); a client still running then is killed and the test fails.
//!
//! | door | client | who changes | needs |
//! | --- | --- | --- | --- |
//! | [`change_by_kpasswd`] | MIT `kpasswd` (Kerberos change, port 464) | the user | - |
//! | [`change_by_smbpasswd`] | `smbpasswd -r` (SAMR over SMB) | the user | [`DcOptions::samr`] |
//! | [`reset_by_net_rpc`] | `net rpc password` (SAMR over SMB) | Administrator | [`DcOptions::samr`] |
//! | [`set_by_samba_tool`] | `samba-tool user setpassword` | Administrator / root | - |
//! | [`change_by_ldap`] | `ldapmodify` (unicodePwd delete + add, LDAPS) | the user | - |
//! | [`reset_by_ldap`] | `ldapmodify` (unicodePwd replace, LDAPS) | Administrator | - |
//!
//! MIT kinit and kpasswd read passwords from stdin when it is not a
//! terminal, and `smbpasswd -s` does too: no pty is needed. Passwords given
//! on a command line (`samba-tool --newpassword`, `net rpc password`) are
//! visible in `ps` on the test machine; that is fine for test passwords only.
//!
//! [`DcOptions::samr`]: super::samba::DcOptions::samr

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::samba::{
    change_ldif, reset_ldif, samba_tool_program, SambaDc, ADMIN_DN, ADMIN_PW, DC_MARKER_ENV, REALM,
};
use super::tools::{all_output, run_bounded};

/// How long a door's client may run: Samba waits up to 10 s for the
/// script, and a client may retry once.
pub const DOOR_TIMEOUT: Duration = Duration::from_secs(30);

/// What a door's client did.
#[derive(Debug, Clone)]
pub struct ClientRun {
    /// The program, for messages.
    pub program: &'static str,
    /// Its exit code (-1 when killed by a signal).
    pub code: i32,
    /// Its stdout followed by its stderr.
    pub output: String,
    pub elapsed: Duration,
}

/// `Ok` when the client exited 0.
pub type DoorResult = Result<ClientRun, ClientRun>;

fn finish(program: &'static str, out: &Output, elapsed: Duration) -> DoorResult {
    let run = ClientRun {
        program,
        code: out.status.code().unwrap_or(-1),
        output: all_output(out),
        elapsed,
    };
    eprintln!(
        "door {program}: exit {} in {:.2} s",
        run.code,
        elapsed.as_secs_f64()
    );
    if run.code == 0 {
        Ok(run)
    } else {
        Err(run)
    }
}

/// Runs `cmd` bounded by [`DOOR_TIMEOUT`]; panics when it had to be killed.
fn run_client(program: &'static str, cmd: &mut Command, input: Option<&[u8]>) -> DoorResult {
    let t0 = Instant::now();
    let (out, killed) = run_bounded(cmd, input, DOOR_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/install-deps.sh): {e}"));
    assert!(
        !killed,
        "{program} hung: killed after {} s. Its output:\n{}",
        DOOR_TIMEOUT.as_secs(),
        all_output(&out)
    );
    finish(program, &out, t0.elapsed())
}

/// A Kerberos client command with the DC's client krb5.conf and a memory
/// credential cache (nothing is written to disk, nothing is reused).
fn krb5_command(dc: &SambaDc, program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("KRB5_CONFIG", dc.client_krb5_conf())
        .env("KRB5CCNAME", "MEMORY:pwgate-doors")
        .env_remove("KRB5_KTNAME");
    cmd
}

/// `kinit <user>@REALM` with `password` on stdin: whether the KDC accepts
/// the password (the check that the old or new one works).
pub fn kinit(dc: &SambaDc, user: &str, password: &str) -> DoorResult {
    let mut cmd = krb5_command(dc, "kinit");
    cmd.arg(format!("{user}@{REALM}"));
    run_client("kinit", &mut cmd, Some(format!("{password}\n").as_bytes()))
}

/// Whether `user` can get a Kerberos ticket with `password`.
pub fn kinit_works(dc: &SambaDc, user: &str, password: &str) -> bool {
    kinit(dc, user, password).is_ok()
}

/// `kpasswd <user>@REALM`: the user's own change over the kpasswd protocol
/// (port 464, served by the DC's kdc service). stdin: old, new, new again.
/// On refusal MIT kpasswd exits 2 with `Password change rejected: <text>`
/// (the text is the KDC's, from the reason Samba gives).
pub fn change_by_kpasswd(dc: &SambaDc, user: &str, old: &str, new: &str) -> DoorResult {
    let mut cmd = krb5_command(dc, "kpasswd");
    cmd.arg(format!("{user}@{REALM}"));
    let input = format!("{old}\n{new}\n{new}\n");
    run_client("kpasswd", &mut cmd, Some(input.as_bytes()))
}

/// `smbpasswd -r <addr> -U <user> -s`: the user's own change over SAMR
/// (ncacn_np on SMB 445, smbd handing the pipe to the DC's rpc service).
/// stdin: old, new, new again. Needs a DC with `DcOptions::samr`.
pub fn change_by_smbpasswd(dc: &SambaDc, user: &str, old: &str, new: &str) -> DoorResult {
    let mut cmd = Command::new("smbpasswd");
    cmd.arg("-c")
        .arg(dc.client_smb_conf())
        .args(["-s", "-r", &dc.addr.to_string(), "-U", user]);
    let input = format!("{old}\n{new}\n{new}\n");
    run_client("smbpasswd", &mut cmd, Some(input.as_bytes()))
}

/// `net rpc password <user> <new> -U Administrator -S <addr>`: an admin
/// reset over SAMR (SetUserInfo). Needs a DC with `DcOptions::samr`.
pub fn reset_by_net_rpc(dc: &SambaDc, user: &str, new: &str) -> DoorResult {
    let mut cmd = Command::new("net");
    cmd.args(["rpc", "password", user, new])
        .arg("-U")
        .arg(format!("Administrator%{ADMIN_PW}"))
        .args(["-S", &dc.addr.to_string()])
        .arg("-s")
        .arg(dc.client_smb_conf());
    run_client("net rpc password", &mut cmd, None)
}

/// How `samba-tool user setpassword` reaches the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SambaToolVia {
    /// `-H <dir>/private/sam.ldb -s <dir>/etc/smb.conf`, as root on the DC:
    /// the password module runs inside samba-tool, so the check password
    /// script is the one in the smb.conf given to samba-tool, run by
    /// samba-tool, not by the DC.
    SamLdb,
    /// `-H ldap://<addr> -U Administrator%...` (NTLMSSP with sign and seal,
    /// so the stream is opaque to a proxy): the DC runs the script.
    LdapSasl,
    /// `-H ldaps://<addr>` with a simple bind as Administrator.
    LdapsSimpleBind,
}

/// `samba-tool user setpassword <user> --newpassword=<new>` (an admin
/// reset) via `via`. On refusal it exits 255 with `ERROR: Failed to set
/// password for user '<user>': (19, '...0000052D: Constraint violation -
/// check_password_restrictions: ...')`.
pub fn set_by_samba_tool(dc: &SambaDc, user: &str, new: &str, via: SambaToolVia) -> DoorResult {
    let mut cmd = Command::new(samba_tool_program());
    cmd.args(["user", "setpassword", user])
        .arg(format!("--newpassword={new}"))
        .env("KRB5_CONFIG", dc.client_krb5_conf())
        .current_dir(&dc.dir);
    match via {
        SambaToolVia::SamLdb => {
            cmd.arg("-s").arg(dc.smb_conf()).arg("-H").arg(dc.sam_ldb());
        }
        SambaToolVia::LdapSasl => {
            cmd.arg(format!("--configfile={}", dc.client_smb_conf().display()))
                .args(["-H", &format!("ldap://{}", dc.addr)])
                .arg("-U")
                .arg(format!("Administrator%{ADMIN_PW}"))
                .arg("--use-kerberos=off");
        }
        SambaToolVia::LdapsSimpleBind => {
            cmd.arg(format!("--configfile={}", dc.client_smb_conf().display()))
                .args(["-H", &dc.ldaps_url()])
                .arg(format!("--simple-bind-dn={ADMIN_DN}"))
                .arg(format!("--password={ADMIN_PW}"))
                .arg("--use-kerberos=off");
        }
    }
    run_client("samba-tool user setpassword", &mut cmd, None)
}

fn ldapmodify_door(
    program: &'static str,
    dc: &SambaDc,
    bind_dn: &str,
    bind_pw: &str,
    ldif: &str,
) -> DoorResult {
    let t0 = Instant::now();
    let (code, output) = dc.modify(bind_dn, bind_pw, ldif);
    let elapsed = t0.elapsed();
    assert!(
        !output.contains("killed after"),
        "{program} hung:\n{output}"
    );
    eprintln!(
        "door {program}: exit {code} in {:.2} s",
        elapsed.as_secs_f64()
    );
    let run = ClientRun {
        program,
        code,
        output,
        elapsed,
    };
    if code == 0 {
        Ok(run)
    } else {
        Err(run)
    }
}

/// The user's own change over LDAPS: bound as `dn`, one Modify deleting the
/// old `unicodePwd` and adding the new one. ldapmodify exits with the LDAP
/// result code (19 and `0000052D: ...` on refusal).
pub fn change_by_ldap(dc: &SambaDc, dn: &str, old: &str, new: &str) -> DoorResult {
    ldapmodify_door(
        "ldapmodify (user change)",
        dc,
        dn,
        old,
        &change_ldif(dn, old, new),
    )
}

/// An admin reset over LDAPS: bound as Administrator, replace `unicodePwd`.
pub fn reset_by_ldap(dc: &SambaDc, dn: &str, new: &str) -> DoorResult {
    ldapmodify_door(
        "ldapmodify (admin reset)",
        dc,
        ADMIN_DN,
        ADMIN_PW,
        &reset_ldif(dn, new),
    )
}

// ---------------------------------------------------------------------------
// A recording check password script

/// A `check password script` for tests: records, one line per call, which
/// `SAMBA_CPS_*` variables it got and their values, the length in bytes of
/// its stdin (never the password itself) and who ran it; refuses (exit 1)
/// a password containing its word, accepts (exit 0) any other.
#[derive(Debug)]
pub struct RecordingScript {
    /// The script, for [`super::samba::DcOptions::check_password_script`].
    pub path: PathBuf,
    /// Where it appends its records.
    pub log: PathBuf,
}

/// One call of a [`RecordingScript`]. A variable that was not set is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCall {
    pub account_name: Option<String>,
    pub user_principal_name: Option<String>,
    pub full_name: Option<String>,
    /// Every `SAMBA_CPS_*` variable name that was set, sorted.
    pub cps_vars: Vec<String>,
    /// The length of stdin in bytes.
    pub stdin_bytes: usize,
    /// The address of the DC whose process ran the script, or `None` when
    /// something else ran it (samba-tool on sam.ldb).
    pub run_by_dc: Option<String>,
    /// Whether the script refused the password.
    pub refused: bool,
}

const SCRIPT: &str = r#"#!/bin/sh
# pwgate test: record a check password call, never the password.
# Refuses a password containing @WORD@ (exit 1), sleeps 12 s (longer than
# Samba waits) for one containing @SLEEP@, accepts others (exit 0).
pw=$(cat; printf x)
pw=${pw%x}
bytes=$(printf '%s' "$pw" | wc -c)
tab=$(printf '\t')
line="call"
[ -n "${SAMBA_CPS_ACCOUNT_NAME+set}" ] && line="$line${tab}account_name=$SAMBA_CPS_ACCOUNT_NAME"
[ -n "${SAMBA_CPS_USER_PRINCIPAL_NAME+set}" ] && line="$line${tab}user_principal_name=$SAMBA_CPS_USER_PRINCIPAL_NAME"
[ -n "${SAMBA_CPS_FULL_NAME+set}" ] && line="$line${tab}full_name=$SAMBA_CPS_FULL_NAME"
vars=$(env | sed -n 's/^\(SAMBA_CPS_[A-Za-z0-9_]*\)=.*/\1/p' | sort | tr '\n' ',')
line="$line${tab}cps_vars=${vars%,}${tab}stdin_bytes=$bytes${tab}run_by_dc=${@MARKER@:-}"
case "$pw" in
  *@WORD@*) verdict=refused ;;
  *) verdict=accepted ;;
esac
printf '%s\n' "$line${tab}verdict=$verdict" >>'@LOG@'
case "$pw" in *@SLEEP@*) sleep 12 ;; esac
[ "$verdict" = accepted ]
"#;

impl RecordingScript {
    /// Writes the script into `dir` (created, emptied): refuses passwords
    /// containing `refuse_word`, stalls past Samba's 10 s on those containing
    /// `sleep_word` (both alphanumeric).
    pub fn write(dir: &Path, refuse_word: &str, sleep_word: &str) -> RecordingScript {
        for word in [refuse_word, sleep_word] {
            assert!(
                !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric()),
                "{word:?}: the script's words must be alphanumeric"
            );
        }
        if dir.exists() {
            fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join("check-password.sh");
        let log = dir.join("calls.log");
        let text = SCRIPT
            .replace("@WORD@", refuse_word)
            .replace("@SLEEP@", sleep_word)
            .replace("@MARKER@", DC_MARKER_ENV)
            .replace("@LOG@", &log.display().to_string());
        fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        fs::write(&log, "").unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        RecordingScript { path, log }
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<ScriptCall> {
        let text =
            fs::read_to_string(&self.log).unwrap_or_else(|e| panic!("{}: {e}", self.log.display()));
        text.lines().filter_map(parse_call).collect()
    }

    /// The calls for the account `name` (SAMBA_CPS_ACCOUNT_NAME), oldest first.
    pub fn calls_for(&self, name: &str) -> Vec<ScriptCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.account_name.as_deref() == Some(name))
            .collect()
    }
}

fn parse_call(line: &str) -> Option<ScriptCall> {
    let mut fields = line.split('\t');
    if fields.next() != Some("call") {
        return None;
    }
    let mut call = ScriptCall {
        account_name: None,
        user_principal_name: None,
        full_name: None,
        cps_vars: Vec::new(),
        stdin_bytes: 0,
        run_by_dc: None,
        refused: false,
    };
    for field in fields {
        let (key, value) = field.split_once('=')?;
        match key {
            "account_name" => call.account_name = Some(value.to_owned()),
            "user_principal_name" => call.user_principal_name = Some(value.to_owned()),
            "full_name" => call.full_name = Some(value.to_owned()),
            "cps_vars" => {
                call.cps_vars = value
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "stdin_bytes" => call.stdin_bytes = value.trim().parse().ok()?,
            "run_by_dc" => call.run_by_dc = (!value.is_empty()).then(|| value.to_owned()),
            "verdict" => call.refused = value == "refused",
            _ => {}
        }
    }
    Some(call)
}
