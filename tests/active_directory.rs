//! Password operations through pwgate in front of a real Samba Active
//! Directory DC (tests/common/samba.rs): pwgate refuses weak `unicodePwd`
//! values with AD's `0000052D:` prefix before they reach the DC, forwards
//! strong ones, and relays the DC's own answers (its policy, history, wrong
//! old password, access rights) verbatim.
//!
//! One DC per test binary, provisioned on first use and shared; each test
//! that changes a password works on users of its own. pwgate (in-process)
//! talks LDAPS to the DC and trusts the test CA, which also issued the DC's
//! certificate. Clients: `ldapmodify`/`ldapsearch` and the `ldap3` crate,
//! over LDAPS and StartTLS to pwgate.
//!
//! As root only (Samba's DC needs it); as another user every test prints a
//! SKIPPED notice and returns. As root without Samba installed, they fail:
//! run scripts/install-deps.sh.

mod common;

use common::pwgate::Pwgate;
use common::samba::{
    self, change_ldif, ldapmodify, reset_ldif, unicode_pwd_b64, SambaDc, ADMIN_DN, ADMIN_PW,
    HELPDESK_DN, HELPDESK_PW, HISTORY_PSO_DN, LOCKOUT_PSO_DN, LOCKOUT_THRESHOLD, STAFF_DN,
    USERS_DN,
};

/// Strong for pwgate's built-in policy and complex for the DC.
const STRONG: &str = "tangerine-Otter-42-lamp";
const STRONG_2: &str = "Kv7#qLp2-Tz9!mWd";
const STRONG_3: &str = "quartz-Pelican-71-ribbon";
const STRONG_4: &str = "maple-Harbor-93-violin";
/// Weak for pwgate (too short, a common password); fine for the DC.
const WEAK_COMMON: &str = "Password1!";

/// The DC, or return from the test (after a loud SKIPPED notice) when not root.
macro_rules! dc_or_skip {
    () => {
        match samba::dc() {
            Some(dc) => dc,
            None => return,
        }
    };
}

/// pwgate in front of the DC over LDAPS, flavor active-directory, with
/// `extra` appended to its configuration file.
fn gate(dc: &SambaDc, extra: &str) -> Pwgate {
    let ca = dc.ca().display().to_string().replace('\\', "\\\\");
    let toml = format!("[upstream]\nflavor = \"active-directory\"\nca = \"{ca}\"\n{extra}");
    Pwgate::start_with(&dc.ldaps_url(), &toml)
}

/// The server's diagnostic message in ldapmodify's output (`additional info: ...`).
fn diagnostic(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix("additional info: "))
        .unwrap_or("")
}

/// pwgate's own refusal: 19, `0000052D: password rejected by policy: ...`
/// naming `[rule]`.
#[track_caller]
fn assert_refused_by_pwgate(result: &(i32, String), rule: &str) {
    let (code, out) = result;
    let text = diagnostic(out);
    assert!(
        *code == 19
            && text.starts_with("0000052D: password rejected by policy: ")
            && text.contains(&format!("[{rule}]")),
        "expected pwgate's refusal 19 `0000052D: password rejected by policy: ... [{rule}]`, got {code}:\n{out}"
    );
}

#[track_caller]
fn assert_success(what: &str, result: &(i32, String)) {
    assert_eq!(result.0, 0, "{what} failed:\n{}", result.1);
}

/// The same request through pwgate and directly on the DC got the same
/// answer, the DC's own: `code` with `text` in it.
#[track_caller]
fn assert_relayed(through: &(i32, String), direct: &(i32, String), code: i32, text: &str) {
    assert!(
        direct.0 == code && diagnostic(&direct.1).contains(text),
        "the DC itself was expected to answer {code} `{text}`, got {}:\n{}",
        direct.0,
        direct.1
    );
    assert_eq!(
        through, direct,
        "pwgate must relay the DC's answer verbatim (left: through pwgate, right: direct)"
    );
}

#[test]
fn the_dc_is_provisioned_as_documented() {
    let dc = dc_or_skip!();
    eprintln!(
        "Samba AD DC on {} ({}): provisioned in {:.1} s, answered {:.1} s after start",
        dc.addr,
        dc.dir.display(),
        dc.provision_time.as_secs_f64(),
        dc.start_time.as_secs_f64()
    );
    assert!(
        dc.is_running(),
        "samba is not running:\n{}",
        dc.log_tail(30)
    );
    for user in samba::SEED_USERS {
        let dn = samba::user_dn(user.name);
        let (code, out) = dc.bind(&dn, user.password);
        assert_eq!(code, 0, "{dn} must bind with its seeded password:\n{out}");
        let (code, out) = dc.read(&dn, &["givenName", "sn", "displayName", "sAMAccountName"]);
        assert_eq!(code, 0, "{out}");
        for line in [
            format!("givenName: {}", user.given_name),
            format!("sn: {}", user.surname),
            format!("displayName: {} {}", user.given_name, user.surname),
            format!("sAMAccountName: {}", user.name),
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "{dn}: no `{line}` in:\n{out}"
            );
        }
    }
    assert!(samba::user_dn("dave").ends_with(STAFF_DN));
    let (code, out) = dc.read(
        samba::BASE_DN,
        &[
            "pwdProperties",
            "minPwdLength",
            "minPwdAge",
            "maxPwdAge",
            "pwdHistoryLength",
            "lockoutThreshold",
        ],
    );
    assert_eq!(code, 0, "{out}");
    for line in [
        "pwdProperties: 1",
        "minPwdLength: 7",
        "minPwdAge: 0",
        // No expiry: AD's "never" is the most negative interval.
        "maxPwdAge: -9223372036854775808",
        "pwdHistoryLength: 0",
        "lockoutThreshold: 0",
    ] {
        assert!(out.lines().any(|l| l == line), "no `{line}` in:\n{out}");
    }
    // Simple binds need TLS on this DC: plain ldap:// is refused (8).
    let out = common::slapd::ldap_tool(
        "ldapsearch",
        &[
            "-x",
            "-H",
            &dc.ldap_url(),
            "-D",
            ADMIN_DN,
            "-w",
            ADMIN_PW,
            "-b",
            "",
            "-s",
            "base",
        ],
    );
    let all = common::tools::all_output(&out);
    assert!(
        all.contains("(8)") && all.contains("Transport encryption required"),
        "{all}"
    );
}

/// A user changes their own password (delete old + add new, bound as
/// themselves) through pwgate at `url`, on a user of their own.
fn user_change_scenario(dc: &SambaDc, gate_url: &str, name: &str) {
    let dn = dc.create_user(name, STRONG, USERS_DN);
    let change = |old: &str, new: &str| ldapmodify(gate_url, &dn, old, &change_ldif(&dn, old, new));

    let refused = change(STRONG, WEAK_COMMON);
    assert_refused_by_pwgate(&refused, "length");
    assert_refused_by_pwgate(&refused, "banned_word");
    // Long and complex enough for the DC, but it holds the account name.
    assert_refused_by_pwgate(
        &change(STRONG, &format!("{name}-Brisk-58-canvas")),
        "account_name",
    );
    assert!(
        dc.binds(&dn, STRONG),
        "the DC must be untouched: old password binds"
    );
    assert!(!dc.binds(&dn, WEAK_COMMON));

    assert_success("a strong change", &change(STRONG, STRONG_2));
    assert!(dc.binds(&dn, STRONG_2), "the new password binds on the DC");
    assert!(!dc.binds(&dn, STRONG), "the old password no longer binds");
}

#[test]
fn user_change_over_ldaps() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    user_change_scenario(dc, &gate.ldaps_url(), "chg-ldaps");
}

#[test]
fn user_change_over_starttls() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    user_change_scenario(dc, &gate.ldap_url(), "chg-starttls");
}

#[test]
fn administrator_reset_over_ldaps_and_starttls() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let dn = dc.create_user("reset-admin", STRONG, USERS_DN);
    for (url, weak, strong) in [
        (gate.ldaps_url(), "Welcome12345", STRONG_2),
        (gate.ldap_url(), WEAK_COMMON, STRONG_3),
    ] {
        let reset = |pw: &str| ldapmodify(&url, ADMIN_DN, ADMIN_PW, &reset_ldif(&dn, pw));
        assert_refused_by_pwgate(&reset(weak), "banned_word");
        assert!(!dc.binds(&dn, weak));
        assert_success("a strong reset by Administrator", &reset(strong));
        assert!(dc.binds(&dn, strong), "the reset password binds ({url})");
    }
    assert!(!dc.binds(&dn, STRONG));
}

#[test]
fn delegated_helpdesk_reset() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let url = gate.ldaps_url();
    // In OU=Staff, where helpdesk holds the Reset Password right.
    let staff = dc.create_user("reset-staff", STRONG, STAFF_DN);
    let reset =
        |dn: &str, pw: &str| ldapmodify(&url, HELPDESK_DN, HELPDESK_PW, &reset_ldif(dn, pw));
    assert_refused_by_pwgate(&reset(&staff, "reset-staff-2024!"), "account_name");
    assert!(dc.binds(&staff, STRONG));
    assert_success("a strong reset by helpdesk", &reset(&staff, STRONG_2));
    assert!(dc.binds(&staff, STRONG_2));

    // Outside the OU the DC refuses helpdesk (50); pwgate relays it verbatim.
    let other = dc.create_user("reset-other", STRONG, USERS_DN);
    let ldif = reset_ldif(&other, STRONG_3);
    let through = ldapmodify(&url, HELPDESK_DN, HELPDESK_PW, &ldif);
    let direct = dc.modify(HELPDESK_DN, HELPDESK_PW, &ldif);
    assert_relayed(&through, &direct, 50, "insufficient access rights");
    assert!(dc.binds(&other, STRONG));
}

#[test]
fn account_creation_is_checked_and_enabling_passes_through() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let url = gate.ldaps_url();
    let add = |name: &str, given: &str, pw: &str| {
        let ldif = format!(
            "dn: CN={name},{USERS_DN}\nchangetype: add\nobjectClass: user\nsAMAccountName: {name}\n\
             givenName: {given}\nsn: Newcomer\ndisplayName: {given} Newcomer\n\
             unicodePwd:: {}\n",
            unicode_pwd_b64(pw)
        );
        ldapmodify(&url, ADMIN_DN, ADMIN_PW, &ldif)
    };
    // Weak: refused, nothing created.
    assert_refused_by_pwgate(&add("new-weak", "Rosalind", WEAK_COMMON), "length");
    // The given name in the Add itself counts as an account name.
    assert_refused_by_pwgate(
        &add("new-weak", "Rosalind", "Rosalind-Garden-58!"),
        "account_name",
    );
    let weak_dn = format!("CN=new-weak,{USERS_DN}");
    assert!(!dc.exists(&weak_dn), "a refused Add must not reach the DC");

    // Strong: created, disabled as AD does for an Add without userAccountControl.
    let dn = format!("CN=new-strong,{USERS_DN}");
    assert_success(
        "Add with a strong password",
        &add("new-strong", "Rosalind", STRONG),
    );
    let (code, out) = dc.read(&dn, &["userAccountControl"]);
    assert!(
        code == 0 && out.contains("userAccountControl: 546"),
        "a new account is disabled (546):\n{out}"
    );
    let (code, out) = dc.bind(&dn, STRONG);
    assert!(
        code == 49 && out.contains("data 533"),
        "a disabled account cannot bind (49, data 533):\n{out}"
    );
    // Enabling it is no password operation: forwarded, the DC's answer relayed.
    let enable = format!(
        "dn: {dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 512\n"
    );
    assert_success(
        "enabling the account through pwgate",
        &ldapmodify(&url, ADMIN_DN, ADMIN_PW, &enable),
    );
    assert!(dc.binds(&dn, STRONG), "the new account binds once enabled");
}

#[test]
fn the_dcs_policy_refusals_are_relayed_verbatim() {
    let dc = dc_or_skip!();
    let dn = dc.create_user("dc-policy", STRONG, USERS_DN);

    // Complexity: all lower case, long and unpredictable enough for
    // pwgate's built-in policy, so it reaches the DC even in enforce mode.
    let enforce = gate(dc, "");
    let ldif = reset_ldif(&dn, "alllowercaseletters");
    let through = ldapmodify(&enforce.ldaps_url(), ADMIN_DN, ADMIN_PW, &ldif);
    let direct = dc.modify(ADMIN_DN, ADMIN_PW, &ldif);
    assert_relayed(
        &through,
        &direct,
        19,
        "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!",
    );

    // Too short for the DC (and for pwgate): audit mode forwards it, so the
    // DC's own answer comes back, for a user's change and an admin reset.
    let audit = gate(dc, "[policy]\nmode = \"audit\"\n");
    let short = "Ab1!x";
    let ldif = change_ldif(&dn, STRONG, short);
    let through = ldapmodify(&audit.ldaps_url(), &dn, STRONG, &ldif);
    let direct = dc.modify(&dn, STRONG, &ldif);
    let too_short = "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!";
    assert_relayed(&through, &direct, 19, too_short);
    let ldif = reset_ldif(&dn, short);
    let through = ldapmodify(&audit.ldap_url(), ADMIN_DN, ADMIN_PW, &ldif);
    let direct = dc.modify(ADMIN_DN, ADMIN_PW, &ldif);
    assert_relayed(&through, &direct, 19, too_short);
    // The same request in enforce mode is pwgate's own refusal.
    assert_refused_by_pwgate(
        &ldapmodify(&enforce.ldaps_url(), ADMIN_DN, ADMIN_PW, &ldif),
        "length",
    );
    assert!(dc.binds(&dn, STRONG), "nothing changed the password");
}

#[test]
fn password_history_refusal_is_relayed_verbatim() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let url = gate.ldaps_url();
    // A history of 3 for this user only (a PSO), not for the whole domain.
    let dn = dc.create_user("dc-history", STRONG, USERS_DN);
    dc.apply_pso(HISTORY_PSO_DN, &dn);
    assert_success(
        "a first change",
        &ldapmodify(&url, &dn, STRONG, &change_ldif(&dn, STRONG, STRONG_4)),
    );
    // Back to the previous one: strong and unrelated to the current one for
    // pwgate, already used for the DC.
    let ldif = change_ldif(&dn, STRONG_4, STRONG);
    let through = ldapmodify(&url, &dn, STRONG_4, &ldif);
    let direct = dc.modify(&dn, STRONG_4, &ldif);
    assert_relayed(
        &through,
        &direct,
        19,
        "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!",
    );
    assert!(dc.binds(&dn, STRONG_4));
}

#[test]
fn wrong_old_password_is_relayed_verbatim() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let dn = dc.create_user("dc-wrong-old", STRONG, USERS_DN);
    // Bound as the user, but the delete names another old password.
    let ldif = change_ldif(&dn, "Not-the-Passw0rd!", STRONG_2);
    let direct = dc.modify(&dn, STRONG, &ldif);
    for url in [gate.ldaps_url(), gate.ldap_url()] {
        let through = ldapmodify(&url, &dn, STRONG, &ldif);
        assert_relayed(
            &through,
            &direct,
            19,
            "00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!",
        );
    }
    assert!(dc.binds(&dn, STRONG));
}

#[test]
fn user_change_bound_by_upn_or_down_level_name() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let url = gate.ldaps_url();
    // Windows clients bind as user@realm or DOMAIN\user rather than by DN.
    let dn = dc.create_user("upn-bound", STRONG, USERS_DN);
    let upn = format!("upn-bound@{}", samba::DNS_DOMAIN);
    let down_level = format!("{}\\upn-bound", samba::DOMAIN);
    assert_refused_by_pwgate(
        &ldapmodify(
            &url,
            &upn,
            STRONG,
            &change_ldif(&dn, STRONG, "upn-bound-Garden-58!"),
        ),
        "account_name",
    );
    assert!(dc.binds(&dn, STRONG));
    assert_success(
        "a strong change bound by UPN",
        &ldapmodify(&url, &upn, STRONG, &change_ldif(&dn, STRONG, STRONG_2)),
    );
    assert_success(
        "a strong change bound by down-level name",
        &ldapmodify(
            &url,
            &down_level,
            STRONG_2,
            &change_ldif(&dn, STRONG_2, STRONG_3),
        ),
    );
    assert!(dc.binds(&dn, STRONG_3));
}

/// A reset of the bound user's own password ([self_reset]) is refused
/// whether the user bound by DN, by UPN or by down-level name (without a
/// lookup, the name part is compared with the target's RDN value), though
/// the DC would apply it for an account allowed to reset its own password.
#[test]
fn self_reset_is_refused_whatever_the_bind_name() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let url = gate.ldaps_url();
    // A domain admin of its own: allowed by the DC to reset its own password.
    let dn = dc.create_user("self-admin", STRONG, USERS_DN);
    let (code, out) = dc.modify(
        ADMIN_DN,
        ADMIN_PW,
        &format!(
            "dn: CN=Domain Admins,{USERS_DN}\nchangetype: modify\nadd: member\nmember: {dn}\n-\n"
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert_refused_by_pwgate(
        &ldapmodify(&url, &dn, STRONG, &reset_ldif(&dn, STRONG_2)),
        "self_reset",
    );
    for actor in [
        format!("self-admin@{}", samba::DNS_DOMAIN),
        format!("{}\\self-admin", samba::DOMAIN),
    ] {
        let result = ldapmodify(&url, &actor, STRONG, &reset_ldif(&dn, STRONG_2));
        let reset_happened = dc.binds(&dn, STRONG_2);
        assert_refused_by_pwgate(&result, "self_reset");
        assert!(
            !reset_happened,
            "bound as {actor}, the reset reached the DC"
        );
    }
}

#[test]
fn insufficient_rights_are_relayed_verbatim() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let url = gate.ldaps_url();
    let dn = dc.create_user("dc-rights", STRONG, USERS_DN);
    let bob = samba::user_dn("bob");
    let bob_pw = samba::user_password("bob");
    // Bob resets another user's password: the DC says 50.
    let ldif = reset_ldif(&dn, STRONG_2);
    let through = ldapmodify(&url, &bob, bob_pw, &ldif);
    let direct = dc.modify(&bob, bob_pw, &ldif);
    assert_relayed(
        &through,
        &direct,
        50,
        "error in module acl: insufficient access rights during LDB_MODIFY (50)",
    );
    assert!(dc.binds(&dn, STRONG));

    // A user resetting their own password without the old one: the DC
    // would answer 50 too, but pwgate refuses it first (19, [self_reset]).
    let ldif = reset_ldif(&dn, STRONG_2);
    let direct = dc.modify(&dn, STRONG, &ldif);
    assert_eq!(direct.0, 50, "{}", direct.1);
    assert_refused_by_pwgate(&ldapmodify(&url, &dn, STRONG, &ldif), "self_reset");
    assert!(dc.binds(&dn, STRONG));
}

#[test]
fn unquoted_unicode_pwd_is_refused_by_pwgate_as_the_dc_would() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let dn = dc.create_user("dc-unquoted", STRONG, USERS_DN);
    // UTF-16LE without the double quotes.
    let ldif = format!(
        "dn: {dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {}\n-\n",
        common::tools::base64(&common::tools::utf16le(STRONG_2))
    );
    let direct = dc.modify(ADMIN_DN, ADMIN_PW, &ldif);
    assert!(
        direct.0 == 53
            && diagnostic(&direct.1).starts_with(
                "00002035: setup_io: it's not allowed to set the NT hash password directly"
            ),
        "the DC's own answer: {}:\n{}",
        direct.0,
        direct.1
    );
    // pwgate cannot check it, so it refuses it itself, with the same code
    // (53) but its own text; the DC never sees it.
    let (code, out) = ldapmodify(&gate.ldaps_url(), ADMIN_DN, ADMIN_PW, &ldif);
    assert!(
        code == 53
            && diagnostic(&out).contains("pwgate cannot check this password operation")
            && diagnostic(&out).contains("UTF-16LE encoding of the password in double quotes"),
        "{code}:\n{out}"
    );
    assert!(dc.binds(&dn, STRONG));
}

#[test]
fn unlocking_without_a_reset_passes_through() {
    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let url = gate.ldaps_url();
    let dn = dc.create_user("dc-locked", STRONG, USERS_DN);
    dc.apply_pso(LOCKOUT_PSO_DN, &dn);
    let bind_through = |pw: &str| samba::bind_at(&url, &dn, pw);
    // Bad passwords through pwgate: the DC's 49 (data 52e) comes back, and
    // counts: the account locks.
    for _ in 0..LOCKOUT_THRESHOLD {
        let (code, out) = bind_through("Wrong-Passw0rd!");
        assert!(code == 49 && out.contains("data 52e"), "{code}:\n{out}");
    }
    let (code, out) = bind_through(STRONG);
    assert!(
        code == 49 && out.contains("data 775"),
        "the account is locked now (49, data 775), got {code}:\n{out}"
    );
    assert_eq!(
        (code, out),
        dc.bind(&dn, STRONG),
        "bind answers relayed verbatim"
    );

    // Administrator unlocks it (lockoutTime 0) without touching the password.
    let unlock = format!("dn: {dn}\nchangetype: modify\nreplace: lockoutTime\nlockoutTime: 0\n-\n");
    let through = ldapmodify(&url, ADMIN_DN, ADMIN_PW, &unlock);
    assert_success("unlocking through pwgate", &through);
    assert_eq!(
        through,
        dc.modify(ADMIN_DN, ADMIN_PW, &unlock),
        "the DC's answer to the same request, direct"
    );
    assert!(dc.binds(&dn, STRONG), "the old password binds again");
    assert_eq!(bind_through(STRONG).0, 0, "and through pwgate");
}

/// The same checks with the `ldap3` crate as client.
mod ldap3_client {
    use super::*;
    use common::tools::tls_client_config;
    use ldap3::{LdapConnAsync, LdapConnSettings, LdapResult, Mod};
    use std::collections::HashSet;
    use std::time::Duration;

    async fn connect(url: &str, starttls: bool) -> ldap3::Ldap {
        let settings = LdapConnSettings::new()
            .set_starttls(starttls)
            .set_config(tls_client_config())
            .set_conn_timeout(Duration::from_secs(10));
        let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
            .await
            .unwrap_or_else(|e| panic!("ldap3 connects to {url}: {e}"));
        ldap3::drive!(conn);
        ldap
    }

    async fn change(ldap: &mut ldap3::Ldap, dn: &str, old: &str, new: &str) -> LdapResult {
        let modify = ldap.modify(
            dn,
            vec![
                Mod::Delete(
                    b"unicodePwd".to_vec(),
                    HashSet::from([samba::unicode_pwd_bytes(old)]),
                ),
                Mod::Add(
                    b"unicodePwd".to_vec(),
                    HashSet::from([samba::unicode_pwd_bytes(new)]),
                ),
            ],
        );
        tokio::time::timeout(Duration::from_secs(30), modify)
            .await
            .expect("an answer within 30 s")
            .expect("the modify is answered")
    }

    async fn bind(url: &str, starttls: bool, dn: &str, pw: &str) -> LdapResult {
        let mut ldap = connect(url, starttls).await;
        let result = tokio::time::timeout(Duration::from_secs(30), ldap.simple_bind(dn, pw))
            .await
            .expect("an answer within 30 s")
            .expect("the bind is answered");
        let _ = ldap.unbind().await;
        result
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn user_change_through_ldap3_over_ldaps_and_starttls() {
        let dc = dc_or_skip!();
        let gate = gate(dc, "");
        let dn = dc.create_user("ldap3-chg", STRONG, USERS_DN);
        let mut ldap = connect(&gate.ldaps_url(), false).await;
        let bound = ldap.simple_bind(&dn, STRONG).await.expect("bind answer");
        assert_eq!(bound.rc, 0, "bind through pwgate: {bound:?}");

        let weak = change(&mut ldap, &dn, STRONG, "ldap3-chg-Brisk-58!").await;
        assert_eq!(weak.rc, 19, "{weak:?}");
        assert!(
            weak.text
                .starts_with("0000052D: password rejected by policy: ")
                && weak.text.contains("[account_name]"),
            "{weak:?}"
        );
        // The DC's own refusal through ldap3: the same text as direct.
        let wrong = change(&mut ldap, &dn, "Not-the-Passw0rd!", STRONG_2).await;
        assert_eq!(wrong.rc, 19, "{wrong:?}");
        let direct = dc.modify(
            &dn,
            STRONG,
            &change_ldif(&dn, "Not-the-Passw0rd!", STRONG_2),
        );
        assert_eq!(
            wrong.text,
            diagnostic(&direct.1),
            "{wrong:?} / {}",
            direct.1
        );
        assert!(wrong.text.starts_with("00000056: "), "{wrong:?}");

        let strong = change(&mut ldap, &dn, STRONG, STRONG_2).await;
        assert_eq!(strong.rc, 0, "{strong:?}");
        let _ = ldap.unbind().await;
        assert!(dc.binds(&dn, STRONG_2));

        // The new password binds through pwgate, over LDAPS and StartTLS;
        // the old one gets the DC's 49.
        assert_eq!(bind(&gate.ldaps_url(), false, &dn, STRONG_2).await.rc, 0);
        assert_eq!(bind(&gate.ldap_url(), true, &dn, STRONG_2).await.rc, 0);
        let old = bind(&gate.ldap_url(), true, &dn, STRONG).await;
        assert!(old.rc == 49 && old.text.contains("data 52e"), "{old:?}");

        // A change over StartTLS through ldap3 as well.
        let mut ldap = connect(&gate.ldap_url(), true).await;
        let bound = ldap.simple_bind(&dn, STRONG_2).await.expect("bind answer");
        assert_eq!(bound.rc, 0, "{bound:?}");
        let weak = change(&mut ldap, &dn, STRONG_2, WEAK_COMMON).await;
        assert!(weak.rc == 19 && weak.text.contains("[length]"), "{weak:?}");
        let strong = change(&mut ldap, &dn, STRONG_2, STRONG_3).await;
        assert_eq!(strong.rc, 0, "{strong:?}");
        let _ = ldap.unbind().await;
        assert!(dc.binds(&dn, STRONG_3));
    }
}

// ---------------------------------------------------------------------------
// Lookups over a service account: names, scopes, protected accounts.

/// A `[directory]` section: pwgate reads the DC over LDAPS as the helpdesk
/// account (an ordinary domain user may read names and memberships).
fn lookup_section() -> String {
    let secret =
        std::env::temp_dir().join(format!("pwgate-ad-lookup-{}.secret", std::process::id()));
    std::fs::write(&secret, HELPDESK_PW).expect("write the lookup secret");
    format!(
        "[directory]\nbind_dn = \"{HELPDESK_DN}\"\nbind_password_file = \"{}\"\ncache_secs = 0\n",
        secret.display()
    )
}

/// Makes `member` a member of `group` (both DNs), as Administrator.
fn add_member(dc: &SambaDc, group: &str, member: &str) {
    let (code, out) = dc.modify(
        ADMIN_DN,
        ADMIN_PW,
        &format!("dn: {group}\nchangetype: modify\nadd: member\nmember: {member}\n-\n"),
    );
    assert_eq!(code, 0, "adding {member} to {group}:\n{out}");
}

/// A new global group `name` under CN=Users.
fn create_group(dc: &SambaDc, name: &str) -> String {
    let dn = format!("CN={name},{USERS_DN}");
    let (code, out) = dc.modify(
        ADMIN_DN,
        ADMIN_PW,
        &format!("dn: {dn}\nchangetype: add\nobjectClass: group\nsAMAccountName: {name}\n"),
    );
    assert_eq!(code, 0, "creating {dn}:\n{out}");
    dn
}

const DOMAIN_ADMINS: &str = "CN=Domain Admins,CN=Users,DC=example,DC=test";

#[test]
fn names_from_the_directory_are_refused() {
    let dc = dc_or_skip!();
    // sn is "Tester": only the entry knows it, the DN says CN=ctx-user.
    let dn = dc.create_user("ctx-user", STRONG, USERS_DN);
    let with_surname = "Tester-orchard-Harp-velvet-93";
    let with_lookup = gate(dc, &lookup_section());
    let change = |url: &str| ldapmodify(url, &dn, STRONG, &change_ldif(&dn, STRONG, with_surname));
    assert_refused_by_pwgate(&change(&with_lookup.ldaps_url()), "account_name");
    assert!(dc.binds(&dn, STRONG), "the refused change reached the DC");
    // Without the lookup the surname is unknown and the change goes through.
    let without = gate(dc, "");
    assert_success(
        "the same change without lookups",
        &change(&without.ldaps_url()),
    );
    assert!(dc.binds(&dn, with_surname));
}

#[test]
fn domain_admins_and_ou_scopes_apply_through_nested_groups() {
    let dc = dc_or_skip!();
    // nested-da is in Tier0-Scope, which is in Domain Admins.
    let tier0 = create_group(dc, "Tier0-Scope");
    add_member(dc, DOMAIN_ADMINS, &tier0);
    let nested = dc.create_user("nested-da", STRONG, USERS_DN);
    add_member(dc, &tier0, &nested);
    let plain = dc.create_user("plain-user", STRONG, USERS_DN);
    let staff = dc.create_user("staff-scope", STRONG, STAFF_DN);
    let gate = gate(
        dc,
        &format!(
            "{}[[policy.scope]]\nname = \"domain-admins\"\nmember_of = [\"{DOMAIN_ADMINS}\"]\nmin_length = 20\n\
             [[policy.scope]]\nname = \"staff\"\ndn_suffix = [\"{STAFF_DN}\"]\nmin_length = 18\n",
            lookup_section()
        ),
    );
    let url = gate.ldaps_url();
    // 16 characters: too short for both scopes, enough for everyone else.
    let reset = |dn: &str| ldapmodify(&url, ADMIN_DN, ADMIN_PW, &reset_ldif(dn, STRONG_2));
    let out = reset(&nested);
    assert_refused_by_pwgate(&out, "length");
    assert!(
        diagnostic(&out.1).contains("20 characters minimum"),
        "{}",
        out.1
    );
    let out = reset(&staff);
    assert_refused_by_pwgate(&out, "length");
    assert!(
        diagnostic(&out.1).contains("18 characters minimum"),
        "{}",
        out.1
    );
    assert_success("reset outside both scopes", &reset(&plain));
    assert!(dc.binds(&plain, STRONG_2));
    assert!(dc.binds(&nested, STRONG) && dc.binds(&staff, STRONG));
}

#[test]
fn pwgate_check_looks_accounts_up_on_the_dc() {
    let dc = dc_or_skip!();
    // check-da is in Tier0-Check, which is in Domain Admins.
    let tier0 = create_group(dc, "Tier0-Check");
    add_member(dc, DOMAIN_ADMINS, &tier0);
    let admin = dc.create_user("check-da", STRONG, USERS_DN);
    add_member(dc, &tier0, &admin);
    let plain = dc.create_user("check-plain", STRONG, USERS_DN);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("pwgate.toml");
    std::fs::write(
        &file,
        format!(
            "[upstream]\nflavor = \"active-directory\"\nurls = [\"{url}\"]\nca = \"{ca}\"\n{lookup}\n\
             [[policy.scope]]\nname = \"domain-admins\"\nmember_of = [\"{DOMAIN_ADMINS}\"]\nmin_length = 20\n\n\
             [[policy.scope]]\nname = \"example-test\"\ndomain = [\"{domain}\"]\nmin_length = 14\n",
            url = dc.ldaps_url(),
            ca = dc.ca().display(),
            lookup = lookup_section(),
            domain = samba::DNS_DOMAIN,
        ),
    )
    .expect("write the config");
    // `pwgate check --config FILE --user USER` on `password`: (exit code, stdout).
    let check = |user: &str, password: &str| {
        let (out, killed) = common::tools::run_bounded(
            std::process::Command::new(env!("CARGO_BIN_EXE_pwgate"))
                .args(["check", "--config"])
                .arg(&file)
                .args(["--user", user]),
            Some(format!("{password}\n").as_bytes()),
            std::time::Duration::from_secs(30),
        )
        .expect("run pwgate check");
        let text = common::tools::all_output(&out);
        assert!(
            !killed && !text.contains(password) && !text.contains(HELPDESK_PW),
            "{text}"
        );
        (out.status.code(), common::tools::stdout(&out))
    };
    // Found by UPN (under the DC's defaultNamingContext), a Domain Admin
    // through a nested group, as the DC's in-chain rule says.
    let (code, out) = check(&format!("check-da@{}", samba::DNS_DOMAIN), STRONG_2);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("20 characters minimum"), "{out}");
    assert_eq!(
        out.lines().last(),
        Some(
            format!(
                "scope domain-admins (mode enforce); account {admin}, looked up in the directory"
            )
            .as_str()
        ),
        "{out}"
    );
    // By down-level name: not an admin, so the scope of the domain.
    let (code, out) = check(&format!("{}\\check-plain", samba::DOMAIN), "Kv7#qLp2-Tz9!");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("14 characters minimum"), "{out}");
    assert_eq!(
        out.lines().last(),
        Some(
            format!(
                "scope example-test (mode enforce); account {plain}, looked up in the directory"
            )
            .as_str()
        ),
        "{out}"
    );
    // sn Tester: a name only the entry knows.
    let (code, out) = check(&plain, "Tester-orchard-Harp-velvet-93");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("line 1: refused [account_name]"), "{out}");
    let (code, out) = check(&plain, STRONG_2);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn domain_admins_are_reset_only_by_domain_admins() {
    let dc = dc_or_skip!();
    let tier0 = create_group(dc, "Tier0-Protected");
    add_member(dc, DOMAIN_ADMINS, &tier0);
    let admin = dc.create_user("protected-da", STRONG, USERS_DN);
    add_member(dc, &tier0, &admin);
    let gate = gate(
        dc,
        &format!(
            "{}[[protected]]\ngroup = \"{DOMAIN_ADMINS}\"\nreset_by = [\"{DOMAIN_ADMINS}\"]\n",
            lookup_section()
        ),
    );
    let url = gate.ldaps_url();
    // The helpdesk (not a domain admin), bound by DN or by UPN: refused
    // by pwgate with an access error a reset tool can show as is.
    for actor in [
        HELPDESK_DN.to_owned(),
        format!("helpdesk@{}", samba::DNS_DOMAIN),
    ] {
        let (code, out) = ldapmodify(&url, &actor, HELPDESK_PW, &reset_ldif(&admin, STRONG_2));
        assert_eq!(code, 50, "{actor}: {out}");
        assert_eq!(
            diagnostic(&out),
            "00000005: password rejected by policy: this account is protected: your account may not reset its password [protected_account]",
            "{out}"
        );
    }
    assert!(dc.binds(&admin, STRONG));
    // Administrator is a domain admin: the reset goes to the DC.
    assert_success(
        "Administrator resets a domain admin",
        &ldapmodify(&url, ADMIN_DN, ADMIN_PW, &reset_ldif(&admin, STRONG_2)),
    );
    assert!(dc.binds(&admin, STRONG_2));
    // The domain admin resetting its own password is refused (self_reset).
    assert_refused_by_pwgate(
        &ldapmodify(&url, &admin, STRONG_2, &reset_ldif(&admin, STRONG_3)),
        "self_reset",
    );
}

#[test]
fn self_reset_by_upn_is_found_through_the_lookup() {
    let dc = dc_or_skip!();
    // CN and sAMAccountName differ: only the entry ties the UPN to the DN.
    let dn = format!("CN=Self Resetter,{USERS_DN}");
    let (code, out) = dc.modify(
        ADMIN_DN,
        ADMIN_PW,
        &format!(
            "dn: {dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: sresetter\n\
             userPrincipalName: sresetter@{}\nunicodePwd:: {}\nuserAccountControl: 512\n",
            samba::DNS_DOMAIN,
            unicode_pwd_b64(STRONG)
        ),
    );
    assert_eq!(code, 0, "{out}");
    add_member(dc, DOMAIN_ADMINS, &dn);
    let gate = gate(dc, &lookup_section());
    for actor in [
        format!("sresetter@{}", samba::DNS_DOMAIN),
        format!("{}\\sresetter", samba::DOMAIN),
    ] {
        assert_refused_by_pwgate(
            &ldapmodify(
                &gate.ldaps_url(),
                &actor,
                STRONG,
                &reset_ldif(&dn, STRONG_2),
            ),
            "self_reset",
        );
    }
    assert!(dc.binds(&dn, STRONG));
}

/// The real binary's audit trail records both refusals of privileged
/// resets, with the rule that refused them.
#[test]
fn refused_privileged_resets_are_audited() {
    let dc = dc_or_skip!();
    let admin = dc.create_user("audited-da", STRONG, USERS_DN);
    add_member(dc, DOMAIN_ADMINS, &admin);
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("pwgate.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nflavor = \"active-directory\"\nca = \"{}\"\n{}\
             [[protected]]\ngroup = \"{DOMAIN_ADMINS}\"\nreset_by = [\"{DOMAIN_ADMINS}\"]\n\
             [audit]\nfile = \"{}\"\n",
            dc.ca().display(),
            lookup_section(),
            audit.display()
        ),
    )
    .expect("write the config");
    let mut gate = common::process::PwgateProcess::start(
        &[
            "--upstream",
            &dc.ldaps_url(),
            "--config",
            config.to_str().expect("UTF-8 path"),
        ],
        dir.path(),
    );
    let url = gate.ldaps_url();
    let (code, out) = ldapmodify(
        &url,
        HELPDESK_DN,
        HELPDESK_PW,
        &reset_ldif(&admin, STRONG_2),
    );
    assert_eq!(code, 50, "{out}");
    assert_refused_by_pwgate(
        &ldapmodify(&url, &admin, STRONG, &reset_ldif(&admin, STRONG_2)),
        "self_reset",
    );
    assert!(gate.stop().is_some_and(|s| s.success()));
    let text = std::fs::read_to_string(&audit).expect("read the audit file");
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("\"event\":\"password_decision\"") && l.contains("\"verdict\":\"refused\"")
        })
        .collect();
    assert_eq!(refusals.len(), 2, "{text}");
    assert!(
        refusals[0].contains("\"rules\":\"protected_account\"")
            && refusals[0].contains(HELPDESK_DN),
        "{text}"
    );
    assert!(refusals[1].contains("\"rules\":\"self_reset\""), "{text}");
    for secret in [STRONG, STRONG_2, HELPDESK_PW] {
        assert!(!text.contains(secret), "a password is in the audit file");
    }
    assert!(dc.binds(&admin, STRONG));
}

/// Password sync into Active Directory: a change accepted by an OpenLDAP
/// primary through pwgate is written to the DC as a `unicodePwd` replace.
#[test]
fn a_change_on_openldap_is_synchronized_to_the_dc() {
    use common::slapd::{self, Slapd};
    let dc = dc_or_skip!();
    let target = dc.create_user("sync-user", STRONG, USERS_DN);
    let primary = Slapd::start();
    let source = format!("uid=sync-user,{}", slapd::PEOPLE_DN);
    let add = slapd::ldap_tool_stdin(
        "ldapadd",
        &["-x", "-H", &primary.ldap_url(), "-D", slapd::ADMIN_DN, "-w", slapd::ADMIN_PW],
        &format!(
            "dn: {source}\nobjectClass: inetOrgPerson\nuid: sync-user\ncn: Sync User\nsn: User\nuserPassword: {STRONG}\n"
        ),
    );
    assert!(add.status.success(), "{}", common::tools::describe(&add));
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("dc-admin.secret");
    std::fs::write(&secret, ADMIN_PW).expect("write the secret");
    let gate = Pwgate::start_with(
        &primary.ldap_url(),
        &format!(
            "[[sync]]\nname = \"ad\"\nurls = [\"{url}\"]\nca = \"{ca}\"\nbind_dn = \"{ADMIN_DN}\"\n\
             bind_password_file = \"{secret}\"\ndn_template = \"CN={{uid}},{USERS_DN}\"\nmethod = \"unicode_pwd\"\n",
            url = dc.ldaps_url(),
            ca = dc.ca().display(),
            secret = secret.display(),
        ),
    );
    let out = common::tools::passwd_starttls(&gate.ldap_url(), &source, STRONG, STRONG_3, &[]);
    assert!(out.status.success(), "{}", common::tools::describe(&out));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !dc.binds(&target, STRONG_3) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new password never reached the DC"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!dc.binds(&target, STRONG));
}

/// Password sync from Active Directory: a user's own change on the DC,
/// through pwgate over LDAPS, reaches the OpenLDAP directory; the account
/// is found there by its sAMAccountName, read by the lookup account.
#[test]
fn a_change_on_the_dc_is_synchronized_to_openldap() {
    use common::slapd::{self, Slapd};
    let dc = dc_or_skip!();
    // CN differs from sAMAccountName: only the lookup knows the latter.
    let source = format!("CN=AD Source,{USERS_DN}");
    let (code, out) = dc.modify(
        ADMIN_DN,
        ADMIN_PW,
        &format!(
            "dn: {source}\nchangetype: add\nobjectClass: user\nsAMAccountName: ad-source\n\
             unicodePwd:: {}\nuserAccountControl: 512\n",
            unicode_pwd_b64(STRONG)
        ),
    );
    assert_eq!(code, 0, "{out}");
    let target = Slapd::start();
    let target_dn = format!("uid=ad-source,{}", slapd::PEOPLE_DN);
    let add = slapd::ldap_tool_stdin(
        "ldapadd",
        &["-x", "-H", &target.ldap_url(), "-D", slapd::ADMIN_DN, "-w", slapd::ADMIN_PW],
        &format!(
            "dn: {target_dn}\nobjectClass: inetOrgPerson\nuid: ad-source\ncn: AD Source\nsn: Source\nuserPassword: {STRONG}\n"
        ),
    );
    assert!(add.status.success(), "{}", common::tools::describe(&add));
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("ldap-admin.secret");
    std::fs::write(&secret, slapd::ADMIN_PW).expect("write the secret");
    let gate = gate(
        dc,
        &format!(
            "{}[[sync]]\nname = \"linux\"\nurls = [\"{url}\"]\nca = \"{ca}\"\nbind_dn = \"{admin}\"\n\
             bind_password_file = \"{secret}\"\ndn_template = \"uid={{sAMAccountName}},{people}\"\n\
             method = \"password_modify\"\n",
            lookup_section(),
            url = target.ldaps_url(),
            ca = target.ca().display(),
            admin = slapd::ADMIN_DN,
            secret = secret.display(),
            people = slapd::PEOPLE_DN,
        ),
    );
    assert_success(
        "the user's change on the DC",
        &ldapmodify(
            &gate.ldaps_url(),
            &source,
            STRONG,
            &change_ldif(&source, STRONG, STRONG_4),
        ),
    );
    assert!(dc.binds(&source, STRONG_4));
    let binds = |pw: &str| {
        slapd::ldap_tool(
            "ldapwhoami",
            &["-x", "-H", &target.ldap_url(), "-D", &target_dn, "-w", pw],
        )
        .status
        .success()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !binds(STRONG_4) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new password never reached OpenLDAP"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!binds(STRONG));
}

/// A bind and a `unicodePwd` change sent in one write over LDAPS, without
/// waiting for the bind's answer: pwgate holds the change until the bind is
/// answered and decides it for the identity the bind established. A
/// user's own change (delete old + add new) and an Administrator reset,
/// weak and strong; a failed bind refuses the change.
#[test]
fn a_change_pipelined_behind_its_bind_is_decided_for_the_bound_identity() {
    use common::raw::{ldap_message, octets, tlv};

    let dc = dc_or_skip!();
    let gate = gate(dc, "");
    let user = dc.create_user("pipelined", STRONG, USERS_DN);
    let modify = |changes: &[(u32, &str)]| {
        let list: Vec<u8> = changes
            .iter()
            .flat_map(|(op, password)| {
                let attr = tlv(
                    0x30,
                    &[
                        octets("unicodePwd"),
                        tlv(0x31, &tlv(0x04, &samba::unicode_pwd_bytes(password))),
                    ]
                    .concat(),
                );
                tlv(0x30, &[common::raw::int(0x0a, *op), attr].concat())
            })
            .collect();
        ldap_message(
            2,
            &tlv(0x66, &[octets(&user), tlv(0x30, &list)].concat()),
            &[],
        )
    };
    let pipelined = |bind_dn: &str, bind_pw: &str, change: Vec<u8>| {
        common::raw::pipelined_behind_bind(gate.ldaps_addr, bind_dn, bind_pw, &change)
    };
    // The user's own change, weak: refused by pwgate's policy.
    let (code, text) = pipelined(&user, STRONG, modify(&[(1, STRONG), (0, WEAK_COMMON)]));
    assert_eq!(code, 19, "{text}");
    assert!(text.starts_with("0000052D: "), "{text}");
    // ... strong: applied by the DC.
    let (code, text) = pipelined(&user, STRONG, modify(&[(1, STRONG), (0, STRONG_2)]));
    assert_eq!(code, 0, "{text}");
    assert!(dc.binds(&user, STRONG_2), "the user's change landed");
    // An Administrator reset, weak then strong.
    let (code, text) = pipelined(ADMIN_DN, ADMIN_PW, modify(&[(2, WEAK_COMMON)]));
    assert_eq!(code, 19, "{text}");
    let (code, text) = pipelined(ADMIN_DN, ADMIN_PW, modify(&[(2, STRONG_3)]));
    assert_eq!(code, 0, "{text}");
    assert!(dc.binds(&user, STRONG_3), "the reset landed");
    // A failed bind: refused, not judged as anonymous.
    let (code, text) = pipelined(ADMIN_DN, "not-the-password", modify(&[(2, STRONG_4)]));
    assert_eq!(code, 53, "{text}");
    assert!(dc.binds(&user, STRONG_3), "nothing changed");
    assert!(!dc.binds(&user, WEAK_COMMON));
}
