//! Every password path of a Samba AD DC meets pwgate's policy: the DC's
//! `check password script` is `pwgate-samba-hook` (the lean form of
//! `pwgate hook samba`, as the README's smb.conf line), which asks a running
//! pwgate (its directory: the same DC) over the decision service socket.
//!
//! For each door — Kerberos `kpasswd`, SAMR `smbpasswd -r`, `samba-tool
//! user setpassword` on the DC, an LDAP change sent straight to the DC, and
//! the same change through pwgate's proxy — a weak AD-complex password
//! (`Summer2025!`) is refused and the old password still works, a strong
//! one is accepted and works, and the audit trail names the same rules for
//! every door. The DC's check of a change the proxy forwarded is recorded
//! as confirming it.
//!
//! As root only (Samba's DC needs it).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::doors::{
    change_by_kpasswd, change_by_ldap, change_by_smbpasswd, kinit_works, set_by_samba_tool,
    DoorResult, SambaToolVia,
};
use common::process::PwgateProcess;
use common::samba::{self, change_ldif, DcOptions, SambaDc, ADMIN_DN, ADMIN_PW, USERS_DN};

/// Complex enough for the DC (it checks the length first), refused by
/// pwgate's policy.
const WEAK: &str = "Summer2025!";
/// What each door's user starts with: pwgate accepts it (creating the user
/// over LDAP runs the hook too).
const START: &str = "Kiwi-Lantern-73-Orbit!";
const STRONG: &str = "Marigold-Quartz-58-Ferry!";

/// The directory of the hook's socket, fixed before the DC starts (its
/// smb.conf names the hook).
fn hook_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("samba-hook")
}

/// The DC of this binary, its check password script a wrapper that runs
/// `pwgate-samba-hook` with this binary's socket (Samba runs the line with
/// `/bin/sh -c`, as it would run `pwgate-samba-hook --socket ...` itself).
fn hook_dc() -> Option<&'static SambaDc> {
    let dir = hook_dir();
    std::fs::create_dir_all(&dir).expect("create the hook dir");
    let script = dir.join("check-password.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' --socket '{}'\n",
            env!("CARGO_BIN_EXE_pwgate-samba-hook"),
            dir.join("decide.sock").display()
        ),
    )
    .expect("write the hook script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    samba::dc_with(DcOptions {
        check_password_script: Some(script),
        samr: true,
    })
}

fn start_gate(dc: &SambaDc, dir: &std::path::Path) -> PwgateProcess {
    let secret = dir.join("lookup.secret");
    std::fs::write(&secret, ADMIN_PW).unwrap();
    let config = dir.join("pwgate.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurls = [\"{url}\"]\nca = \"{ca}\"\nflavor = \"active-directory\"\n\n\
             [directory]\nbind_dn = \"{ADMIN_DN}\"\nbind_password_file = \"{secret}\"\n\n\
             [service]\nsocket = \"{socket}\"\n",
            url = dc.ldaps_url(),
            ca = dc.ca().display(),
            secret = secret.display(),
            socket = hook_dir().join("decide.sock").display(),
        ),
    )
    .unwrap();
    PwgateProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "--log-level",
            "info",
        ],
        dir,
    )
}

#[track_caller]
fn refused(door: &str, result: DoorResult) {
    if let Ok(run) = result {
        panic!("{door} accepted a weak password:\n{}", run.output);
    }
}

#[track_caller]
fn accepted(door: &str, result: DoorResult) {
    if let Err(run) = result {
        panic!(
            "{door} refused a strong password ({}):\n{}",
            run.code, run.output
        );
    }
}

/// pwgate's password_decision events for `dn`: by DN (the proxy), or by
/// the UPN Samba gives the hook (without scopes the hook's account is not
/// looked up: nothing but its names would come of it).
fn decisions(gate: &PwgateProcess, dn: &str) -> Vec<serde_json::Value> {
    let cn = dn
        .strip_prefix("CN=")
        .and_then(|r| r.split(',').next())
        .unwrap_or_default();
    let by_name = format!("name:{cn}@{}", samba::DNS_DOMAIN);
    gate.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "password_decision")
        .filter(|v| {
            v["target_dn"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(dn) || t.eq_ignore_ascii_case(&by_name))
        })
        .collect()
}

#[test]
fn every_door_of_the_dc_meets_the_same_policy() {
    let Some(dc) = hook_dc() else { return };
    let dir = tempfile::tempdir().unwrap();
    let gate = start_gate(dc, dir.path());
    let binds = |dn: &str, pw: &str| dc.binds(dn, pw);

    // Kerberos kpasswd: the user's own change at a workstation.
    let kpasswd = dc.create_user("hook-kpasswd", START, USERS_DN);
    refused(
        "kpasswd",
        change_by_kpasswd(dc, "hook-kpasswd", START, WEAK),
    );
    assert!(
        kinit_works(dc, "hook-kpasswd", START),
        "the old password still works"
    );
    accepted(
        "kpasswd",
        change_by_kpasswd(dc, "hook-kpasswd", START, STRONG),
    );
    assert!(kinit_works(dc, "hook-kpasswd", STRONG));

    // SAMR: smbpasswd -r.
    let smb = dc.create_user("hook-smbpasswd", START, USERS_DN);
    refused(
        "smbpasswd",
        change_by_smbpasswd(dc, "hook-smbpasswd", START, WEAK),
    );
    assert!(binds(&smb, START), "the old password still works");
    accepted(
        "smbpasswd",
        change_by_smbpasswd(dc, "hook-smbpasswd", START, STRONG),
    );
    assert!(binds(&smb, STRONG));

    // samba-tool user setpassword, run on the DC (on its sam.ldb).
    let tool = dc.create_user("hook-sambatool", START, USERS_DN);
    refused(
        "samba-tool",
        set_by_samba_tool(dc, "hook-sambatool", WEAK, SambaToolVia::SamLdb),
    );
    assert!(binds(&tool, START), "the old password still works");
    accepted(
        "samba-tool",
        set_by_samba_tool(dc, "hook-sambatool", STRONG, SambaToolVia::SamLdb),
    );
    assert!(binds(&tool, STRONG));

    // LDAP straight to the DC, around the proxy.
    let direct = dc.create_user("hook-direct", START, USERS_DN);
    refused("LDAP to the DC", change_by_ldap(dc, &direct, START, WEAK));
    assert!(binds(&direct, START), "the old password still works");
    accepted("LDAP to the DC", change_by_ldap(dc, &direct, START, STRONG));
    assert!(binds(&direct, STRONG));

    // The same change through pwgate: the proxy refuses the weak one
    // itself; the strong one is checked again by the DC's hook.
    let proxied = dc.create_user("hook-proxied", START, USERS_DN);
    let (code, out) = samba::ldapmodify(
        &gate.ldaps_url(),
        &proxied,
        START,
        &change_ldif(&proxied, START, WEAK),
    );
    assert_eq!(code, 19, "{out}");
    assert!(binds(&proxied, START), "the old password still works");
    let (code, out) = samba::ldapmodify(
        &gate.ldaps_url(),
        &proxied,
        START,
        &change_ldif(&proxied, START, STRONG),
    );
    assert_eq!(code, 0, "{out}");
    assert!(binds(&proxied, STRONG));

    // The audit trail: the same rules refused the weak password at every
    // door; the hook's check of the proxied change confirms it.
    assert!(gate.wait_for_log("\"verdict\":\"refused\"", 5, Duration::from_secs(10)));
    let mut weak_rules = Vec::new();
    for (dn, door) in [
        (&kpasswd, "samba_hook"),
        (&smb, "samba_hook"),
        (&tool, "samba_hook"),
        (&direct, "samba_hook"),
        (&proxied, "ldap"),
    ] {
        let events = decisions(&gate, dn);
        let weak: Vec<_> = events
            .iter()
            .filter(|e| e["verdict"] == "refused")
            .collect();
        assert_eq!(weak.len(), 1, "{dn}: {events:#?}");
        assert_eq!(weak[0]["door"], door, "{dn}: {:#?}", weak[0]);
        weak_rules.push(weak[0]["rules"].as_str().unwrap_or_default().to_owned());
        assert!(
            events.iter().any(|e| e["verdict"] == "accepted"),
            "{dn}: {events:#?}"
        );
    }
    assert!(weak_rules[0].contains("banned_word"), "{weak_rules:?}");
    assert!(
        weak_rules.iter().all(|r| *r == weak_rules[0]),
        "{weak_rules:?}"
    );
    let proxied_events = decisions(&gate, &proxied);
    // The hook ran twice for this account: when it was created (straight
    // to the DC) and for the change the proxy forwarded, which it confirms.
    let hook_checks: Vec<_> = proxied_events
        .iter()
        .filter(|e| e["door"] == "samba_hook")
        .collect();
    assert_eq!(hook_checks.len(), 2, "{proxied_events:#?}");
    assert_eq!(hook_checks[0]["confirms"], "none", "{:#?}", hook_checks[0]);
    assert_eq!(hook_checks[1]["verdict"], "accepted");
    assert!(
        hook_checks[1]["confirms"]
            .as_str()
            .is_some_and(|c| c.starts_with("ldap 127.0.0.1:")),
        "{:#?}",
        hook_checks[1]
    );
    let log = gate.log_text();
    for secret in [WEAK, START, STRONG] {
        assert!(!log.contains(secret), "pwgate's log holds a password");
    }
}
