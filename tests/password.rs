//! Password operations through pwgate, with real clients against a real
//! slapd: weak passwords are refused by pwgate and never reach the directory,
//! strong ones are forwarded and the directory's own answer comes back.

mod common;

use std::process::Output;

use common::pwgate::Pwgate;
use common::slapd::{self, ldap_tool, user_dn, Slapd};
use common::tools::{
    all_output, assert_ldap_error, assert_ok, base64, modify_starttls, passwd_starttls,
    tls_client_config, unicode_pwd, utf16le,
};

const WEAK_BANNED: &str = "P@ssw0rd2024!";
const WEAK_SHORT: &str = "Short-1x";
const STRONG: &str = "tangerine-Otter-42-lamp";
const STRONG_2: &str = "Kv7#qLp2-Tz9!mWd";

/// Can `dn` bind with `password` directly on slapd?
fn binds(slapd: &Slapd, dn: &str, password: &str) -> bool {
    let url = slapd.ldap_url();
    ldap_tool("ldapwhoami", &["-x", "-H", &url, "-D", dn, "-w", password])
        .status
        .success()
}

/// `ldappasswd` to `url` (no StartTLS) bound as `dn` with `password`, setting
/// its own password to `new` without giving the old one.
/// `ldappasswd` without StartTLS: `dn` changes its own password, giving
/// the old one.
fn set_own_password(url: &str, dn: &str, password: &str, new: &str) -> Output {
    ldap_tool(
        "ldappasswd",
        &[
            "-x", "-H", url, "-D", dn, "-w", password, "-a", password, "-s", new,
        ],
    )
}

#[test]
fn weak_password_from_ldappasswd_is_refused_and_slapd_never_sees_it() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let old = slapd::user_password("alice");
    let out = passwd_starttls(&gate.ldap_url(), &user_dn("alice"), old, WEAK_BANNED, &[]);
    assert_ldap_error(
        &out,
        19,
        "password rejected by policy: too close to a common password or a banned word [banned_word]",
    );
    assert!(
        binds(&slapd, &user_dn("alice"), old),
        "old password must still bind"
    );
    assert!(!binds(&slapd, &user_dn("alice"), WEAK_BANNED));
}

#[test]
fn refusal_names_every_failed_rule() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let alice = user_dn("alice");
    let out = passwd_starttls(&gate.ldap_url(), &alice, "Alice-Passw0rd", "Alice-1", &[]);
    assert_ldap_error(
        &out,
        19,
        "password rejected by policy: too short (12 characters minimum) [length]; \
         too close to a common password or a banned word [banned_word]; \
         contains the account name [account_name]",
    );
}

#[test]
fn strong_password_from_ldappasswd_is_accepted_and_binds() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let old = slapd::user_password("alice");
    assert_ok(
        "ldappasswd with a strong password",
        &passwd_starttls(&gate.ldap_url(), &user_dn("alice"), old, STRONG, &[]),
    );
    assert!(binds(&slapd, &user_dn("alice"), STRONG));
    assert!(!binds(&slapd, &user_dn("alice"), old));
}

#[test]
fn directory_refusals_come_back_verbatim() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    // Wrong old password: slapd's own 53, same text as direct.
    let dn = user_dn("alice");
    let args = |url: &str| {
        ldap_tool(
            "ldappasswd",
            &[
                "-x",
                "-ZZ",
                "-H",
                url,
                "-D",
                &dn,
                "-w",
                "Alice-Passw0rd",
                "-a",
                "not-the-password",
                "-s",
                STRONG,
            ],
        )
    };
    let through = args(&gate.ldap_url());
    let direct = args(&slapd.ldap_url());
    assert_ldap_error(&through, 53, "unwilling to verify old password");
    assert_eq!(all_output(&through), all_output(&direct));

    // Insufficient access: carol may not set alice's password (50).
    let ldif =
        format!("dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {STRONG}\n");
    let carol = user_dn("carol");
    let through = modify_starttls(&gate.ldap_url(), &carol, "Carol-Passw0rd", &ldif);
    let direct = modify_starttls(&slapd.ldap_url(), &carol, "Carol-Passw0rd", &ldif);
    assert_ldap_error(&through, 50, "Insufficient access");
    assert_eq!(all_output(&through), all_output(&direct));
    assert!(binds(&slapd, &dn, "Alice-Passw0rd"));
}

#[test]
fn admin_reset_of_user_password_is_checked() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let bob = user_dn("bob");
    let reset = |pw: &str| {
        let ldif =
            format!("dn: {bob}\nchangetype: modify\nreplace: userPassword\nuserPassword: {pw}\n");
        modify_starttls(
            &gate.ldap_url(),
            slapd::HELPDESK_DN,
            slapd::HELPDESK_PW,
            &ldif,
        )
    };
    assert_ldap_error(&reset("Welcome12345"), 19, "[banned_word]");
    assert!(binds(&slapd, &bob, "Bob-Passw0rd"));
    assert_ok("helpdesk reset to a strong password", &reset(STRONG_2));
    assert!(binds(&slapd, &bob, STRONG_2));
}

#[test]
fn user_change_with_delete_and_add_is_checked() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let bob = user_dn("bob");
    let change = |old: &str, new: &str| {
        let ldif = format!(
            "dn: {bob}\nchangetype: modify\ndelete: userPassword\nuserPassword: {old}\n-\nadd: userPassword\nuserPassword: {new}\n-\n"
        );
        modify_starttls(&gate.ldap_url(), &bob, old, &ldif)
    };
    assert_ldap_error(
        &change("Bob-Passw0rd", "Bob-is-my-name-2024"),
        19,
        "[account_name]",
    );
    assert!(binds(&slapd, &bob, "Bob-Passw0rd"));
    assert_ok(
        "delete and add of a strong password",
        &change("Bob-Passw0rd", STRONG),
    );
    assert!(binds(&slapd, &bob, STRONG));
}

#[test]
fn account_creation_with_a_weak_password_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let dave = user_dn("dave");
    let add = |pw: &str| {
        let ldif = format!(
            "dn: {dave}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: dave\ncn: Dave Example\nsn: Example\nuserPassword: {pw}\n"
        );
        modify_starttls(&gate.ldap_url(), slapd::ADMIN_DN, slapd::ADMIN_PW, &ldif)
    };
    // `dave` comes from the entry itself (uid, RDN), `example` from cn/sn.
    assert_ldap_error(&add("dave-likes-long-walks"), 19, "[account_name]");
    let exists = |dn: &str| {
        ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-H",
                &slapd.ldap_url(),
                "-b",
                dn,
                "-s",
                "base",
                "dn",
            ],
        )
        .status
        .success()
    };
    assert!(!exists(&dave), "refused entry must not be created");
    assert_ok("add with a strong password", &add(STRONG));
    assert!(exists(&dave));
    assert!(binds(&slapd, &dave, STRONG));
}

#[test]
fn password_change_on_plain_ldap_is_refused_with_confidentiality_required() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let dn = user_dn("alice");
    let out = set_own_password(&gate.ldap_url(), &dn, "Alice-Passw0rd", STRONG);
    assert_ldap_error(&out, 13, "require an encrypted connection");
    assert!(binds(&slapd, &dn, "Alice-Passw0rd"));
}

#[test]
fn cleartext_password_changes_can_be_allowed_explicitly() {
    let slapd = Slapd::start();
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        "[listen]\nallow_cleartext_password_changes = true\nallow_cleartext_binds = true\n",
    );
    let dn = user_dn("alice");
    let plain = |new: &str| set_own_password(&gate.ldap_url(), &dn, "Alice-Passw0rd", new);
    assert_ldap_error(&plain(WEAK_BANNED), 19, "[banned_word]");
    assert_ok("strong password over plain LDAP", &plain(STRONG));
}

#[test]
fn ldaps_listener_checks_password_changes() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let dn = user_dn("carol");
    let over_ldaps = |new: &str| set_own_password(&gate.ldaps_url(), &dn, "Carol-Passw0rd", new);
    assert_ldap_error(&over_ldaps(WEAK_SHORT), 19, "[length]");
    assert_ok("strong password over LDAPS", &over_ldaps(STRONG));
    assert!(binds(&slapd, &dn, STRONG));
}

#[test]
fn ppolicy_response_control_is_returned_when_requested() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let (alice, old) = (user_dn("alice"), "Alice-Passw0rd");
    let out = passwd_starttls(
        &gate.ldap_url(),
        &alice,
        old,
        WEAK_SHORT,
        &["-e", "ppolicy"],
    );
    assert_ldap_error(
        &out,
        19,
        "ppolicy: error=6 (Password is too short for policy)",
    );
    let out = passwd_starttls(
        &gate.ldap_url(),
        &alice,
        old,
        WEAK_BANNED,
        &["-e", "ppolicy"],
    );
    assert_ldap_error(&out, 19, "ppolicy: error=5 (Password fails quality checks)");
    // Without the request control, no response control.
    let out = passwd_starttls(&gate.ldap_url(), &alice, old, WEAK_SHORT, &[]);
    assert!(
        !all_output(&out).contains("ppolicy:"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn unicode_pwd_is_decoded_and_active_directory_refusals_carry_0000052d() {
    let slapd = Slapd::start();
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        "[upstream]\nflavor = \"active-directory\"\n",
    );
    let alice = user_dn("alice");
    let admin_reset = |value_b64: &str| {
        let ldif = format!(
            "dn: {alice}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {value_b64}\n"
        );
        modify_starttls(&gate.ldap_url(), slapd::ADMIN_DN, slapd::ADMIN_PW, &ldif)
    };
    let out = admin_reset(&unicode_pwd("Summer2025!!"));
    assert_ldap_error(&out, 19, "0000052D: password rejected by policy: too close to a common password or a banned word [banned_word]");
    // A strong value is forwarded: slapd, which has no unicodePwd, answers
    // with its own error, relayed as is.
    let out = admin_reset(&unicode_pwd(STRONG));
    assert_ldap_error(&out, 17, "unicodePwd: attribute type undefined");
    // A user change (delete old + add new) is recognised too.
    let ldif = format!(
        "dn: {alice}\nchangetype: modify\ndelete: unicodePwd\nunicodePwd:: {}\n-\nadd: unicodePwd\nunicodePwd:: {}\n-\n",
        unicode_pwd("Alice-Passw0rd"),
        unicode_pwd("Alice-2024-Spring")
    );
    let out = modify_starttls(&gate.ldap_url(), &alice, "Alice-Passw0rd", &ldif);
    assert_ldap_error(&out, 19, "0000052D: password rejected by policy:");
    assert!(all_output(&out).contains("[account_name]"));
}

#[test]
fn unquoted_unicode_pwd_is_refused_not_forwarded() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let ldif = format!(
        "dn: {}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {}\n",
        user_dn("alice"),
        base64(&utf16le(STRONG))
    );
    let out = modify_starttls(&gate.ldap_url(), slapd::ADMIN_DN, slapd::ADMIN_PW, &ldif);
    assert_ldap_error(
        &out,
        53,
        "UTF-16LE encoding of the password in double quotes",
    );
}

#[test]
fn prehashed_user_password_is_refused_by_default() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let ldif = format!(
        "dn: {}\nchangetype: modify\nreplace: userPassword\nuserPassword: {{SSHA}}c2VjcmV0c2FsdHNhbHQ=\n",
        user_dn("bob")
    );
    let out = modify_starttls(
        &gate.ldap_url(),
        slapd::HELPDESK_DN,
        slapd::HELPDESK_PW,
        &ldif,
    );
    assert_ldap_error(&out, 19, "already hashed and cannot be checked [prehashed]");
    assert!(binds(&slapd, &user_dn("bob"), "Bob-Passw0rd"));
}

#[test]
fn audit_mode_forwards_weak_passwords() {
    let slapd = Slapd::start();
    let gate = Pwgate::start_with(&slapd.ldap_url(), "[policy]\nmode = \"audit\"\n");
    // Weak for pwgate, long enough for slapd's own policy (8).
    let alice = user_dn("alice");
    assert_ok(
        "ldappasswd in audit mode",
        &passwd_starttls(&gate.ldap_url(), &alice, "Alice-Passw0rd", WEAK_BANNED, &[]),
    );
    assert!(binds(&slapd, &alice, WEAK_BANNED));
}

#[test]
fn configured_policy_applies() {
    let slapd = Slapd::start();
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        "[policy]\nmin_length = 20\nbanned_words = [\"tangerine\"]\n",
    );
    let alice = user_dn("alice");
    let change = |new: &str| passwd_starttls(&gate.ldap_url(), &alice, "Alice-Passw0rd", new, &[]);
    assert_ldap_error(
        &change(STRONG_2),
        19,
        "too short (20 characters minimum) [length]",
    );
    // The organisation's word, repeated and decorated: refused.
    assert_ldap_error(&change("T@ngerine-Tangerine-2024!"), 19, "[banned_word]");
    // The word inside a long passphrase scores enough: accepted.
    assert_ok(
        "a long passphrase with the word",
        &change("tangerine-Otter-42-lamp-shade"),
    );
}

/// The same checks with the `ldap3` crate as client, over StartTLS.
mod ldap3_client {
    use super::*;
    use ldap3::exop::PasswordModify;
    use ldap3::{LdapConnAsync, LdapConnSettings, Mod};
    use std::collections::HashSet;

    async fn connect(url: &str) -> ldap3::Ldap {
        let settings = LdapConnSettings::new()
            .set_starttls(true)
            .set_config(tls_client_config())
            .set_conn_timeout(std::time::Duration::from_secs(10));
        let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
            .await
            .expect("ldap3 connects through pwgate with StartTLS");
        ldap3::drive!(conn);
        ldap
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_modify_and_modify_through_ldap3() {
        let slapd = Slapd::start();
        let gate = Pwgate::start(&slapd.ldap_url());
        let dn = user_dn("alice");
        let mut ldap = connect(&gate.ldap_url()).await;
        ldap.simple_bind(&dn, "Alice-Passw0rd")
            .await
            .expect("bind")
            .success()
            .expect("bind succeeds");

        let weak = ldap
            .extended(PasswordModify {
                user_id: Some(&dn),
                old_pass: Some("Alice-Passw0rd"),
                new_pass: Some("Winter2024!!"),
            })
            .await
            .expect("answer");
        assert_eq!(weak.1.rc, 19, "{:?}", weak.1);
        assert!(weak.1.text.contains("[banned_word]"), "{}", weak.1.text);

        let weak = ldap
            .modify(
                &dn,
                vec![Mod::Replace(
                    "userPassword",
                    HashSet::from(["alice-2024-garden"]),
                )],
            )
            .await
            .expect("answer");
        assert_eq!(weak.rc, 19);
        assert!(weak.text.contains("[account_name]"), "{}", weak.text);

        let strong = ldap
            .extended(PasswordModify {
                user_id: Some(&dn),
                old_pass: Some("Alice-Passw0rd"),
                new_pass: Some(STRONG),
            })
            .await
            .expect("answer");
        assert_eq!(strong.1.rc, 0, "{:?}", strong.1);
        ldap.unbind().await.expect("unbind");

        let mut again = connect(&gate.ldap_url()).await;
        let bind = again.simple_bind(&dn, STRONG).await.expect("bind answer");
        assert_eq!(bind.rc, 0, "the new password binds through pwgate");
        let _ = again.unbind().await;
    }
}

#[test]
fn a_change_too_close_to_the_old_password_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let alice = user_dn("alice");
    let url = gate.ldap_url();
    assert_ok(
        "first change",
        &passwd_starttls(&url, &alice, "Alice-Passw0rd", "Zq8#unique-Str9", &[]),
    );
    // Only the digits differ (a bumped counter): refused, the DC untouched.
    let out = passwd_starttls(&url, &alice, "Zq8#unique-Str9", "Zq8#unique-Str7", &[]);
    assert_ldap_error(&out, 19, "[similar_to_old]");
    // The old password reversed: refused.
    let out = passwd_starttls(&url, &alice, "Zq8#unique-Str9", "9rtS-euqinu#8qZ", &[]);
    assert_ldap_error(&out, 19, "is the old password reversed [similar_to_old]");
    // Something else entirely: accepted.
    assert_ok(
        "unrelated change",
        &passwd_starttls(&url, &alice, "Zq8#unique-Str9", STRONG, &[]),
    );
}

#[test]
fn resetting_your_own_password_without_the_old_one_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let dn = user_dn("alice");
    // ldappasswd without -a: a reset of the bound user's own password.
    let reset = |url: &str| {
        ldap_tool(
            "ldappasswd",
            &[
                "-x",
                "-ZZ",
                "-H",
                url,
                "-D",
                &dn,
                "-w",
                "Alice-Passw0rd",
                "-s",
                STRONG,
            ],
        )
    };
    assert_ldap_error(&reset(&gate.ldap_url()), 19, "[self_reset]");
    assert!(binds(&slapd, &dn, "Alice-Passw0rd"));
    // The rule can be turned off.
    let lenient = Pwgate::start_with(&slapd.ldap_url(), "[policy]\nrefuse_self_reset = false\n");
    assert_ok("self reset allowed by config", &reset(&lenient.ldap_url()));
    assert!(binds(&slapd, &dn, STRONG));
}

#[test]
fn a_scope_applies_a_stricter_policy_under_its_dn_suffix() {
    let slapd = Slapd::start();
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        "[[policy.scope]]\nname = \"people\"\ndn_suffix = [\"OU=People, DC=example, DC=com\"]\nmin_length = 20\n",
    );
    let url = gate.ldap_url();
    // Alice is under ou=people: 20 characters needed.
    let out = passwd_starttls(&url, &user_dn("alice"), "Alice-Passw0rd", STRONG_2, &[]);
    assert_ldap_error(&out, 19, "too short (20 characters minimum) [length]");
    // An entry elsewhere gets the global policy (12).
    let ldif = format!(
        "dn: uid=erin,{}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: erin\ncn: Erin\nsn: Erin\nuserPassword: {STRONG_2}\n",
        slapd::BASE_DN
    );
    assert_ok(
        "add outside the scope",
        &modify_starttls(&url, slapd::ADMIN_DN, slapd::ADMIN_PW, &ldif),
    );
}

#[test]
fn a_domain_scope_applies_to_the_accounts_of_its_domain() {
    let slapd = Slapd::start();
    // example.com is dc=example,dc=com: every account of this directory.
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        "[[policy.scope]]\nname = \"example-org\"\ndomain = [\"example.org\"]\nmin_length = 30\n\
         [[policy.scope]]\nname = \"example-com\"\ndomain = [\"Example.COM\"]\nmin_length = 20\n",
    );
    let out = passwd_starttls(
        &gate.ldap_url(),
        &user_dn("alice"),
        "Alice-Passw0rd",
        STRONG_2,
        &[],
    );
    assert_ldap_error(&out, 19, "too short (20 characters minimum) [length]");
    assert!(binds(&slapd, &user_dn("alice"), "Alice-Passw0rd"));
}

/// Builds a SHA-1 store from a wordlist in `dir`; returns its path.
fn breached_store(dir: &std::path::Path, words: &[&str]) -> std::path::PathBuf {
    use pwgate::breached::{build, BuildOptions, HashKind, InputFormat};
    let list = dir.join("words.txt");
    std::fs::write(&list, words.join("\n")).expect("write wordlist");
    let store = dir.join("breached.store");
    let options = BuildOptions {
        kind: HashKind::Sha1,
        input_format: InputFormat::Plain,
        ..BuildOptions::default()
    };
    build(&[list], &store, &options).expect("build the store");
    store
}

#[test]
fn a_password_in_the_breached_store_is_refused_and_a_missing_store_fails_closed() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let breached = "Correct-Horse-Battery-9";
    let store = breached_store(dir.path(), &[breached, "another-leaked-one"]);
    let toml = |path: &std::path::Path, extra: &str| {
        format!("[policy]\nbreached_store = \"{}\"\n{extra}", path.display())
    };
    let gate = Pwgate::start_with(&slapd.ldap_url(), &toml(&store, ""));
    let alice = user_dn("alice");
    let out = passwd_starttls(&gate.ldap_url(), &alice, "Alice-Passw0rd", breached, &[]);
    assert_ldap_error(
        &out,
        19,
        "appears in a list of breached passwords [breached]",
    );
    assert!(binds(&slapd, &alice, "Alice-Passw0rd"));
    drop(gate);

    // A store that cannot be opened: password changes are refused...
    let missing = dir.path().join("missing.store");
    let gate = Pwgate::start_with(&slapd.ldap_url(), &toml(&missing, ""));
    let out = passwd_starttls(&gate.ldap_url(), &alice, "Alice-Passw0rd", STRONG, &[]);
    assert_ldap_error(
        &out,
        19,
        "cannot be checked against the breached-password list",
    );
    // ...while other traffic flows.
    assert_ok(
        "search with a missing store",
        &common::tools::search_alice(&gate.ldap_url()),
    );
    drop(gate);

    // Unless the configuration says to let them through.
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        &toml(&missing, "on_store_error = \"allow\"\n"),
    );
    assert_ok(
        "change with on_store_error = allow",
        &passwd_starttls(&gate.ldap_url(), &alice, "Alice-Passw0rd", STRONG, &[]),
    );
}

/// Alice, bound with her own password, sets `new` (giving her old one) on
/// the account named `target`, over StartTLS.
fn alice_sets_password_of(url: &str, new: &str, target: &str) -> Output {
    let alice = user_dn("alice");
    ldap_tool(
        "ldappasswd",
        &[
            "-x",
            "-ZZ",
            "-H",
            url,
            "-D",
            &alice,
            "-w",
            "Alice-Passw0rd",
            "-a",
            "Alice-Passw0rd",
            "-s",
            new,
            target,
        ],
    )
}

#[test]
fn other_spellings_of_the_target_dn_get_the_same_checks() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let alice = user_dn("alice");
    // `\61` is `a`: the account-name rule still sees `alice`.
    let escaped = "uid=\\61lice,ou=people,dc=example,dc=com";
    let out = alice_sets_password_of(&gate.ldap_url(), "alice-Brisk-58-canvas", escaped);
    assert_ldap_error(&out, 19, "[account_name]");
    // A target pwgate cannot read (AD's extended form): refused.
    let out = alice_sets_password_of(&gate.ldap_url(), STRONG, "<SID=S-1-5-21-1-2-3-1104>");
    assert_ldap_error(&out, 53, "cannot tell whose password this is");
    assert!(binds(&slapd, &alice, "Alice-Passw0rd"));
}

#[test]
fn a_password_in_a_new_rdn_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let out = ldap_tool(
        "ldapmodrdn",
        &[
            "-x",
            "-ZZ",
            "-H",
            &gate.ldap_url(),
            "-D",
            slapd::ADMIN_DN,
            "-w",
            slapd::ADMIN_PW,
            &user_dn("bob"),
            "uid=bob+userPassword=weak",
        ],
    );
    assert_ldap_error(&out, 53, "a password attribute in an RDN cannot be checked");
    let ldif = format!(
        "dn: uid=carol2+2.5.4.35=weak,{}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: carol2\ncn: C\nsn: C\n",
        slapd::PEOPLE_DN
    );
    let out = modify_starttls(&gate.ldap_url(), slapd::ADMIN_DN, slapd::ADMIN_PW, &ldif);
    assert_ldap_error(&out, 53, "a password attribute in an RDN cannot be checked");
}

#[test]
fn a_password_change_pipelined_behind_a_bind_is_never_accepted() {
    use common::raw::{
        addr_of, connect, extended_request, simple_bind, tlv, FrameReader, Response,
    };
    use std::io::Write;
    let slapd = Slapd::start();
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        "[listen]\nallow_cleartext_password_changes = true\nallow_cleartext_binds = true\n",
    );
    let alice = user_dn("alice");
    // Bind as alice and, in the same write, reset alice's password without
    // the old one: judged as anonymous, it would escape the self-reset rule.
    let value = tlv(
        0x30,
        &[tlv(0x80, alice.as_bytes()), tlv(0x82, STRONG.as_bytes())].concat(),
    );
    let mut batch = simple_bind(1, &alice, "Alice-Passw0rd");
    batch.extend(extended_request(2, "1.3.6.1.4.1.4203.1.11.1", Some(&value)));
    let mut stream = connect(addr_of(&gate.ldap_url()));
    stream.write_all(&batch).expect("send");
    let mut reader = FrameReader::new(stream);
    let mut code_of_change = None;
    while code_of_change.is_none() {
        let frame = reader.next_frame().expect("an answer for each request");
        let response = Response::parse(&frame);
        if response.msgid == 2 {
            code_of_change = Some(response.result_code());
        }
    }
    let code = code_of_change.expect("answered");
    assert!(
        code == 53 || code == 19,
        "the change got result code {code}"
    );
    assert!(
        binds(&slapd, &alice, "Alice-Passw0rd"),
        "the password must not change"
    );
}

#[test]
fn a_quoted_rdn_cannot_hide_a_password_attribute() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let out = ldap_tool(
        "ldapmodrdn",
        &[
            "-x",
            "-ZZ",
            "-H",
            &gate.ldap_url(),
            "-D",
            slapd::ADMIN_DN,
            "-w",
            slapd::ADMIN_PW,
            &user_dn("bob"),
            "cn=\"x,y\"+userPassword=weak",
        ],
    );
    assert_ldap_error(&out, 53, "a password attribute in an RDN cannot be checked");
    assert!(binds(&slapd, &user_dn("bob"), "Bob-Passw0rd"));
}

#[test]
fn another_spelling_of_a_scoped_dn_still_gets_the_scope() {
    let slapd = Slapd::start();
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        "[[policy.scope]]\nname = \"people\"\ndn_suffix = [\"ou=people,dc=example,dc=com\"]\nmin_length = 20\n",
    );
    let alice = user_dn("alice");
    for target in [
        "userid=alice,organizationalUnitName=People,domainComponent=example,dc=com",
        "uid=alice,ou=Peop\\6ce,dc=example,dc=com",
        "uid=alice,ou=\u{ff30}eople,dc=example,dc=com",
    ] {
        let out = alice_sets_password_of(&gate.ldap_url(), STRONG_2, target);
        assert_ldap_error(&out, 19, "too short (20 characters minimum) [length]");
    }
    // With scopes, a target using attribute types pwgate cannot compare is
    // refused rather than placed in the default scope.
    let out = alice_sets_password_of(
        &gate.ldap_url(),
        STRONG,
        "employeeNumber=7,ou=people,dc=example,dc=com",
    );
    assert_ldap_error(&out, 53, "cannot tell whose password this is");
    assert!(binds(&slapd, &alice, "Alice-Passw0rd"));
}

#[test]
fn a_password_the_directory_generates_reaches_the_client_whole() {
    // RFC 3062 without a new password: slapd generates one and returns it
    // in its answer, which pwgate relays (and then wipes from its buffer).
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let dn = user_dn("alice");
    let old = slapd::user_password("alice");
    let out = ldap_tool(
        "ldappasswd",
        &[
            "-x",
            "-ZZ",
            "-H",
            &gate.ldap_url(),
            "-D",
            &dn,
            "-w",
            old,
            "-a",
            old,
        ],
    );
    assert_ok("ldappasswd without a new password", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("New password: "))
        .unwrap_or_else(|| panic!("no generated password in: {stdout}"));
    assert!(
        binds(&slapd, &dn, generated),
        "the password slapd generated binds"
    );
    assert!(!binds(&slapd, &dn, old));
}
