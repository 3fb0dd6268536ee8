//! `samba-tool`, the tool Samba administrators use for account changes,
//! through pwgate's LDAPS listener in front of a real Samba AD DC
//! (tests/common/samba.rs), with pwgate's default TLS settings.
//!
//! samba-tool's TLS is Samba's own (tstream_tls over GnuTLS), not
//! libldap's. Samba 4.17's waits forever for an answer that is already in
//! its socket when TLS 1.3 session tickets arrive ahead of it, and rustls
//! sends two after every handshake unless told otherwise; pwgate sends none
//! by default (`[listen] tls13_session_tickets`, issue 24). So every run is
//! bounded: a hang fails the test instead of stalling the suite.
//!
//! The client is limited to TLS 1.3 (its `tls priority`), so the test cannot
//! pass by falling back to TLS 1.2, which never had the problem.
//!
//! As root only (Samba's DC needs it); as another user every test prints a
//! SKIPPED notice and returns.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pwgate::Pwgate;
use common::samba::{self, SambaDc, ADMIN_DN, ADMIN_PW, USERS_DN};
use common::tools::{all_output, run_bounded};

/// Strong for pwgate's built-in policy and complex for the DC.
const STRONG: &str = "tangerine-Otter-42-lamp";
const STRONG_2: &str = "Kv7#qLp2-Tz9!mWd";
/// Weak for pwgate (too short, a common password); fine for the DC.
const WEAK: &str = "Password1!";

/// Far above a normal run (under 2 s each), far below "hangs forever".
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

macro_rules! dc_or_skip {
    () => {
        match samba::dc() {
            Some(dc) => dc,
            None => return,
        }
    };
}

/// pwgate in front of the DC over LDAPS, flavor active-directory, with no
/// TLS setting of its own: the defaults are what is tested.
fn gate(dc: &SambaDc) -> Pwgate {
    let ca = dc.ca().display().to_string().replace('\\', "\\\\");
    let toml = format!("[upstream]\nflavor = \"active-directory\"\nca = \"{ca}\"\n");
    Pwgate::start_with(&dc.ldaps_url(), &toml)
}

/// A client smb.conf of its own for `name`, in a fresh directory: trusts
/// the test CA (which issued pwgate's certificate), TLS 1.3 only, every
/// path samba-tool may write inside the directory.
///
/// `tls verify peer = ca_only`: samba-tool is pointed at 127.0.0.1, and
/// Samba checks names only for host names ("no hostname available for
/// verify_peer[ca_and_name]"); its default, as_strict_as_possible, also
/// wants a CRL file.
fn client_conf(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("samba-tool-client-{name}"));
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    for sub in ["private", "lock", "state", "cache"] {
        fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let d = dir.display();
    let ca = common::slapd::test_certs().ca.display().to_string();
    let conf = format!(
        "[global]\n\
         \tworkgroup = {}\n\
         \trealm = {}\n\
         \ttls cafile = {ca}\n\
         \ttls verify peer = ca_only\n\
         \ttls priority = NORMAL:-VERS-ALL:+VERS-TLS1.3\n\
         \tprivate dir = {d}/private\n\
         \tlock directory = {d}/lock\n\
         \tstate directory = {d}/state\n\
         \tcache directory = {d}/cache\n\
         \tlog file = {d}/log.%m\n",
        samba::DOMAIN,
        samba::REALM,
    );
    let path = dir.join("smb.conf");
    fs::write(&path, conf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// `samba-tool <args> -H <url>` as Administrator by simple bind, with the
/// client configuration `conf`: `(exited 0, stdout and stderr)`. Fails the
/// test when it does not finish within [`RUN_TIMEOUT`].
fn samba_tool(conf: &Path, url: &str, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(samba::samba_tool_program());
    cmd.args(args)
        .arg(format!("--configfile={}", conf.display()))
        .args(["-H", url])
        .arg(format!("--simple-bind-dn={ADMIN_DN}"))
        .arg(format!("--password={ADMIN_PW}"))
        .arg("--use-kerberos=off");
    let t0 = Instant::now();
    let (out, killed) =
        run_bounded(&mut cmd, None, RUN_TIMEOUT).expect("samba-tool runs (installed with the DC)");
    let all = all_output(&out);
    assert!(
        !killed,
        "samba-tool {args:?} -H {url} hung: killed after {} s (issue 24: TLS 1.3 \
         session tickets from pwgate?). Its output:\n{all}",
        RUN_TIMEOUT.as_secs()
    );
    eprintln!(
        "samba-tool {} ({url}): {} in {:.2} s",
        args[..2].join(" "),
        out.status,
        t0.elapsed().as_secs_f64()
    );
    (out.status.success(), all)
}

/// samba-tool failed and shows pwgate's refusal: 19 with `0000052D:` and
/// the rule.
#[track_caller]
fn assert_refused_by_pwgate((ok, out): &(bool, String), rule: &str) {
    assert!(
        !ok && out.contains("LDAP error 19")
            && out.contains("0000052D: password rejected by policy: ")
            && out.contains(&format!("[{rule}]")),
        "expected samba-tool to fail with pwgate's 19 `0000052D: password rejected by \
         policy: ... [{rule}]`, got:\n{out}"
    );
}

#[test]
fn samba_tool_user_setpassword_through_ldaps() {
    let dc = dc_or_skip!();
    let gate = gate(dc);
    let conf = client_conf("setpassword");
    let name = "st-setpw";
    let dn = dc.create_user(name, STRONG, USERS_DN);
    let setpassword = |pw: &str| {
        samba_tool(
            &conf,
            &gate.ldaps_url(),
            &["user", "setpassword", name, &format!("--newpassword={pw}")],
        )
    };

    let refused = setpassword(WEAK);
    assert_refused_by_pwgate(&refused, "length");
    assert_refused_by_pwgate(&refused, "banned_word");
    assert!(dc.binds(&dn, STRONG), "the DC must be untouched");
    assert!(!dc.binds(&dn, WEAK));

    let (ok, out) = setpassword(STRONG_2);
    assert!(
        ok && out.contains("Changed password OK"),
        "a strong password through pwgate:\n{out}"
    );
    assert!(dc.binds(&dn, STRONG_2), "the new password binds on the DC");
    assert!(!dc.binds(&dn, STRONG), "the old password no longer binds");
}

#[test]
fn samba_tool_user_add_through_ldaps() {
    let dc = dc_or_skip!();
    let gate = gate(dc);
    let conf = client_conf("add");
    let add = |name: &str, pw: &str| {
        samba_tool(
            &conf,
            &gate.ldaps_url(),
            &[
                "user",
                "add",
                name,
                pw,
                "--use-username-as-cn",
                "--surname=Tester",
            ],
        )
    };

    // samba-tool adds the account without a password (pwgate forwards
    // that), sets the password with a replace of unicodePwd (pwgate
    // refuses it) and, having no transaction over LDAP, deletes the
    // half-made account again.
    let weak_dn = format!("CN=st-add-weak,{USERS_DN}");
    assert_refused_by_pwgate(&add("st-add-weak", WEAK), "length");
    assert!(
        !dc.exists(&weak_dn),
        "samba-tool removes the account whose password was refused"
    );

    let (ok, out) = add("st-add-strong", STRONG);
    assert!(
        ok && out.contains("User 'st-add-strong' added successfully"),
        "a new user with a strong password through pwgate:\n{out}"
    );
    let dn = format!("CN=st-add-strong,{USERS_DN}");
    assert!(dc.exists(&dn), "the new account is on the DC");
    assert!(
        dc.binds(&dn, STRONG),
        "the new account binds with its password on the DC"
    );
}
