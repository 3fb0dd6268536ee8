//! Every door through which a password reaches a Samba AD DC runs its
//! smb.conf `check password script`: what each door's client shows when the
//! script refuses, and what the script is given. The ground truth for
//! `pwgate hook samba` (measured on Debian's Samba 4.17.12).
//!
//! The DC of this binary has a recording script ([`RecordingScript`]:
//! refuses passwords containing `Summer`) and SMB/SAMR. Each test creates
//! its own user, so the script's records are told apart by account name.
//!
//! What Samba 4.17 does, as these tests pin it down:
//! - The script runs through `/bin/sh -c`, with the password on stdin in
//!   UTF-8, without a trailing newline, and the process's whole environment
//!   (for the DC: samba's, `LD_PRELOAD` of a SAMR DC included).
//! - `SAMBA_CPS_ACCOUNT_NAME` = sAMAccountName, always set;
//!   `SAMBA_CPS_USER_PRINCIPAL_NAME` = userPrincipalName and
//!   `SAMBA_CPS_FULL_NAME` = displayName, each unset when the account has
//!   none. The same for every door (kpasswd, SAMR, LDAP, samba-tool).
//! - The script replaces Samba's own complexity check (a lower-case-only
//!   password passes when the script says yes); the minimum length is still
//!   checked first, and a too-short password never reaches the script. It
//!   runs only while the domain's complexity setting is on.
//! - It runs before the history check, and for a new account created with
//!   a password (LDAP add) too.
//! - A script that runs past 10 s is killed and the change refused ("the
//!   password doesn't fit due to a miscellaneous restriction").
//! - `samba-tool ... -H sam.ldb` runs the script itself, in its own
//!   process, from the smb.conf it was given (`-s`): not the DC.
//!
//! As root only (Samba's DC needs it); as another user every test prints a
//! SKIPPED notice and returns.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::doors::{
    change_by_kpasswd, change_by_ldap, change_by_smbpasswd, kinit_works, reset_by_ldap,
    reset_by_net_rpc, set_by_samba_tool, DoorResult, RecordingScript, SambaToolVia, ScriptCall,
};
use common::samba::{self, DcOptions, SambaDc, DNS_DOMAIN, USERS_DN};

/// Refused by the recording script only: long and complex enough for the DC.
const WEAK: &str = "Summer2025!";
/// The password each test's user starts with.
const START: &str = "Start-Passw0rd-1!";

/// The DC of this binary and its recording script (written once, first).
fn doors_dc() -> Option<(&'static SambaDc, &'static RecordingScript)> {
    static SCRIPT: OnceLock<RecordingScript> = OnceLock::new();
    let script = SCRIPT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("samba-doors-script");
        RecordingScript::write(&dir, "Summer", "Sleepy")
    });
    let dc = samba::dc_with(DcOptions {
        check_password_script: Some(script.path.clone()),
        samr: true,
    })?;
    Some((dc, script))
}

macro_rules! doors_dc_or_skip {
    () => {
        match doors_dc() {
            Some(dc) => dc,
            None => return,
        }
    };
}

/// A fresh strong password (complex, no `Summer`), different on each call.
fn strong() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("Qv{nanos:08x}-Otter-{}!", N.fetch_add(1, Ordering::Relaxed))
}

/// Creates `name` (UPN `<name>@example.test`, displayName `<Name> Tester`)
/// with [`START`] and returns the number of script calls recorded for it
/// so far (the creation's), so that a test looks at its own calls only.
fn user(dc: &SambaDc, script: &RecordingScript, name: &str) -> usize {
    dc.create_user(name, START, USERS_DN);
    script.calls_for(name).len()
}

fn display_name(name: &str) -> String {
    let mut given = name.to_owned();
    given[..1].make_ascii_uppercase();
    format!("{given} Tester")
}

/// The calls of `name` after the first `skip`, checked to be exactly
/// `expected` (refused?, stdin length) with the variables a user made by
/// [`user`] has, run by `runner` (`Some(dc address)` or `None`).
#[track_caller]
fn assert_calls(
    script: &RecordingScript,
    name: &str,
    skip: usize,
    runner: Option<&SambaDc>,
    expected: &[(bool, usize)],
) {
    let calls: Vec<ScriptCall> = script.calls_for(name).into_iter().skip(skip).collect();
    let got: Vec<(bool, usize)> = calls.iter().map(|c| (c.refused, c.stdin_bytes)).collect();
    assert_eq!(
        got, expected,
        "script calls for {name} (refused, stdin bytes): {calls:#?}"
    );
    for call in &calls {
        assert_eq!(
            call.user_principal_name.as_deref(),
            Some(format!("{name}@{DNS_DOMAIN}").as_str()),
            "{call:?}"
        );
        assert_eq!(
            call.full_name.as_deref(),
            Some(display_name(name).as_str()),
            "{call:?}"
        );
        assert_eq!(
            call.cps_vars,
            [
                "SAMBA_CPS_ACCOUNT_NAME",
                "SAMBA_CPS_FULL_NAME",
                "SAMBA_CPS_USER_PRINCIPAL_NAME"
            ],
            "{call:?}"
        );
        assert_eq!(
            call.run_by_dc,
            runner.map(|dc| dc.addr.to_string()),
            "who ran the script: {call:?}"
        );
    }
}

#[track_caller]
fn refused(result: DoorResult) -> common::doors::ClientRun {
    match result {
        Err(run) => run,
        Ok(run) => panic!(
            "{} accepted a password the script refuses:\n{}",
            run.program, run.output
        ),
    }
}

#[track_caller]
fn accepted(result: DoorResult) -> common::doors::ClientRun {
    match result {
        Ok(run) => run,
        Err(run) => panic!(
            "{} refused a password the script accepts ({}):\n{}",
            run.program, run.code, run.output
        ),
    }
}

#[test]
fn kpasswd_runs_the_script_and_shows_its_refusal() {
    let (dc, script) = doors_dc_or_skip!();
    let name = "door-kpasswd";
    let skip = user(dc, script, name);

    let run = refused(change_by_kpasswd(dc, name, START, WEAK));
    // MIT kpasswd: exit 2, the KDC's text for Samba's "not complex".
    assert_eq!(run.code, 2, "{}", run.output);
    assert!(
        run.output
            .contains("Password change rejected: Password does not meet complexity requirements"),
        "{}",
        run.output
    );
    assert!(kinit_works(dc, name, START), "the old password still works");
    assert!(!kinit_works(dc, name, WEAK));

    let new = strong();
    let run = accepted(change_by_kpasswd(dc, name, START, &new));
    assert!(run.output.contains("Password changed."), "{}", run.output);
    assert!(kinit_works(dc, name, &new));
    assert!(!kinit_works(dc, name, START));

    // kpasswd passes all three variables, like every other door.
    assert_calls(
        script,
        name,
        skip,
        Some(dc),
        &[(true, WEAK.len()), (false, new.len())],
    );
}

#[test]
fn smbpasswd_runs_the_script_and_shows_its_refusal() {
    let (dc, script) = doors_dc_or_skip!();
    let name = "door-smbpasswd";
    let skip = user(dc, script, name);
    let dn = format!("CN={name},{USERS_DN}");

    let run = refused(change_by_smbpasswd(dc, name, START, WEAK));
    assert_eq!(run.code, 1, "{}", run.output);
    // NT_STATUS_PASSWORD_RESTRICTION, in smbpasswd's words (sic: no space
    // before "with").
    assert!(
        run.output
            .contains("rejected to change the passwordwith error: When trying to update a password, this status indicates that some password update rule has been violated."),
        "{}",
        run.output
    );
    assert!(dc.binds(&dn, START), "the old password still works");

    let new = strong();
    let run = accepted(change_by_smbpasswd(dc, name, START, &new));
    assert!(
        run.output
            .contains(&format!("Password changed for user {name} on {}.", dc.addr)),
        "{}",
        run.output
    );
    assert!(dc.binds(&dn, &new));
    assert!(!dc.binds(&dn, START));

    assert_calls(
        script,
        name,
        skip,
        Some(dc),
        &[(true, WEAK.len()), (false, new.len())],
    );
}

#[test]
fn net_rpc_password_runs_the_script_and_shows_its_refusal() {
    let (dc, script) = doors_dc_or_skip!();
    let name = "door-netrpc";
    let skip = user(dc, script, name);
    let dn = format!("CN={name},{USERS_DN}");

    let run = refused(reset_by_net_rpc(dc, name, WEAK));
    assert_eq!(run.code, 255, "{}", run.output);
    assert!(
        run.output.contains(&format!(
            "Failed to set password for '{name}' with error: Unable to update the password. \
             The value provided for the new password does not meet the length, complexity, \
             or history requirements of the domain."
        )),
        "{}",
        run.output
    );
    assert!(dc.binds(&dn, START), "the old password still works");

    let new = strong();
    accepted(reset_by_net_rpc(dc, name, &new));
    assert!(dc.binds(&dn, &new));

    assert_calls(
        script,
        name,
        skip,
        Some(dc),
        &[(true, WEAK.len()), (false, new.len())],
    );
}

#[test]
fn samba_tool_setpassword_runs_the_script_on_every_path() {
    let (dc, script) = doors_dc_or_skip!();
    for (name, via, runner) in [
        // On sam.ldb, samba-tool runs the script itself (the DC's smb.conf
        // given with -s names it): run_by_dc is unset.
        ("door-st-ldb", SambaToolVia::SamLdb, None),
        ("door-st-sasl", SambaToolVia::LdapSasl, Some(dc)),
        ("door-st-ldaps", SambaToolVia::LdapsSimpleBind, Some(dc)),
    ] {
        let skip = user(dc, script, name);
        let dn = format!("CN={name},{USERS_DN}");

        let run = refused(set_by_samba_tool(dc, name, WEAK, via));
        assert_eq!(run.code, 255, "{via:?}: {}", run.output);
        assert!(
            run.output.contains(&format!(
                "ERROR: Failed to set password for user '{name}': (19, '"
            )) && run.output.contains(
                "0000052D: Constraint violation - check_password_restrictions: \
                 the password does not meet the complexity criteria!"
            ),
            "{via:?}: {}",
            run.output
        );
        // (On sam.ldb, Samba's own "check_password_complexity: check
        // password script said new password is not good enough!" goes to
        // samba-tool's stderr only at log level 1 and above.)
        assert!(
            dc.binds(&dn, START),
            "{via:?}: the old password still works"
        );

        let new = strong();
        let run = accepted(set_by_samba_tool(dc, name, &new, via));
        assert!(run.output.contains("Changed password OK"), "{}", run.output);
        assert!(dc.binds(&dn, &new), "{via:?}");

        assert_calls(
            script,
            name,
            skip,
            runner,
            &[(true, WEAK.len()), (false, new.len())],
        );
    }
}

#[test]
fn ldap_change_and_reset_run_the_script() {
    let (dc, script) = doors_dc_or_skip!();
    const REFUSED: &str = "0000052D: Constraint violation - check_password_restrictions: \
                           the password does not meet the complexity criteria!";

    let name = "door-ldap-user";
    let skip = user(dc, script, name);
    let dn = format!("CN={name},{USERS_DN}");
    let run = refused(change_by_ldap(dc, &dn, START, WEAK));
    assert_eq!(run.code, 19, "{}", run.output);
    assert!(run.output.contains(REFUSED), "{}", run.output);
    assert!(dc.binds(&dn, START), "the old password still works");
    let new = strong();
    accepted(change_by_ldap(dc, &dn, START, &new));
    assert!(dc.binds(&dn, &new));
    assert!(!dc.binds(&dn, START));
    assert_calls(
        script,
        name,
        skip,
        Some(dc),
        &[(true, WEAK.len()), (false, new.len())],
    );

    let name = "door-ldap-admin";
    let skip = user(dc, script, name);
    let dn = format!("CN={name},{USERS_DN}");
    let run = refused(reset_by_ldap(dc, &dn, WEAK));
    assert_eq!(run.code, 19, "{}", run.output);
    assert!(run.output.contains(REFUSED), "{}", run.output);
    assert!(dc.binds(&dn, START), "the old password still works");
    // The password arrives in UTF-8: stdin's length is its UTF-8 length.
    let new = format!("{}-Grüße-Äpfel", strong());
    accepted(reset_by_ldap(dc, &dn, &new));
    assert!(dc.binds(&dn, &new));
    assert_calls(
        script,
        name,
        skip,
        Some(dc),
        &[(true, WEAK.len()), (false, new.len())],
    );
    assert_ne!(new.len(), new.chars().count(), "the test needs non-ASCII");
}

#[test]
fn account_creation_runs_the_script_and_unset_names_are_not_passed() {
    let (dc, script) = doors_dc_or_skip!();
    let name = "door-bare";
    let dn = format!("CN=Door Bare,{USERS_DN}");
    let add = |password: &str| {
        let ldif = format!(
            "dn: {dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: {name}\n\
             unicodePwd:: {}\nuserAccountControl: 512\n",
            samba::unicode_pwd_b64(password)
        );
        dc.modify(samba::ADMIN_DN, samba::ADMIN_PW, &ldif)
    };
    // Refused by the script: the account is not created.
    let (code, out) = add(WEAK);
    assert_eq!(code, 19, "{out}");
    assert!(!dc.exists(&dn));
    let (code, out) = add(START);
    assert_eq!(code, 0, "{out}");
    assert!(dc.binds(&dn, START));

    // No userPrincipalName, no displayName: only the account name is set
    // (Samba does not make up a UPN from the realm).
    let calls = script.calls_for(name);
    let expected = |refused: bool, bytes: usize| ScriptCall {
        account_name: Some(name.to_owned()),
        user_principal_name: None,
        full_name: None,
        cps_vars: vec!["SAMBA_CPS_ACCOUNT_NAME".to_owned()],
        stdin_bytes: bytes,
        run_by_dc: Some(dc.addr.to_string()),
        refused,
    };
    assert_eq!(
        calls,
        [expected(true, WEAK.len()), expected(false, START.len())]
    );
}

#[test]
fn the_script_replaces_samba_complexity_but_not_the_minimum_length() {
    let (dc, script) = doors_dc_or_skip!();
    let name = "door-rules";
    let skip = user(dc, script, name);
    let dn = format!("CN={name},{USERS_DN}");

    // Lower case only: Samba's own complexity check would refuse it; with a
    // script, the script's word is final.
    let simple = format!(
        "onlylowercase{}",
        strong().to_lowercase().replace(['-', '!'], "")
    );
    accepted(reset_by_ldap(dc, &dn, &simple));
    assert!(dc.binds(&dn, &simple));

    // Shorter than the domain's 7: refused before the script is asked.
    let run = refused(reset_by_ldap(dc, &dn, "Ab1!x"));
    assert!(
        run.output
            .contains("the password is too short. It should be equal or longer than 7 characters!"),
        "{}",
        run.output
    );
    assert_calls(script, name, skip, Some(dc), &[(false, simple.len())]);
}

#[test]
fn a_script_slower_than_10_seconds_is_killed_and_the_change_refused() {
    let (dc, script) = doors_dc_or_skip!();
    let name = "door-slow";
    let skip = user(dc, script, name);

    // kpasswd: the kdc service waits for the script, not an LDAP worker
    // other tests need meanwhile.
    let run = refused(change_by_kpasswd(dc, name, START, "Sleepy-Passw0rd-1"));
    assert!(
        run.elapsed >= Duration::from_secs(9) && run.elapsed < Duration::from_secs(20),
        "Samba waits 10 s for the script: {:?}",
        run.elapsed
    );
    // Samba's "miscellaneous restriction", in the KDC's words.
    assert_eq!(run.code, 2, "{}", run.output);
    assert!(
        run.output.contains(
            "Password change rejected: Password change rejected, password changes may not be \
             permitted on this account, or the minimum password age may not have elapsed."
        ),
        "{}",
        run.output
    );
    assert!(kinit_works(dc, name, START), "the old password still works");
    assert_eq!(script.calls_for(name).len(), skip + 1);
}
