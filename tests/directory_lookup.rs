//! Account lookups over pwgate's own service-account connection, against a
//! real slapd: names only the entry knows, policy scopes by group
//! membership, protected accounts, and failing closed when the lookup
//! cannot be made.

mod common;

use std::path::Path;
use std::process::Output;

use common::pwgate::Pwgate;
use common::slapd::{
    self, ldap_tool, user_dn, Slapd, ADMINS_GROUP_DN, HELPDESK_DN, HELPDESK_GROUP_DN, HELPDESK_PW,
};
use common::tools::{assert_ldap_error, assert_ok, modify_starttls, passwd_starttls};

/// Strong for the default policy, but containing alice's surname, which
/// only her entry's displayName knows.
const WITH_SURNAME: &str = "Liddell-orchard-Harp-93";
/// 16 characters: enough for the default policy, not for a 20-character scope.
const SIXTEEN: &str = "Kv7#qLp2-Tz9!mWd";
const STRONG: &str = "tangerine-Otter-42-lamp";

/// Can `dn` bind with `password` directly on slapd?
fn binds(slapd: &Slapd, dn: &str, password: &str) -> bool {
    ldap_tool(
        "ldapwhoami",
        &["-x", "-H", &slapd.ldap_url(), "-D", dn, "-w", password],
    )
    .status
    .success()
}

/// A `[directory]` section that reads the directory over LDAPS as the
/// helpdesk account, its password in a file under `dir`.
fn directory_section(slapd: &Slapd, dir: &Path, extra: &str) -> String {
    let secret = dir.join("lookup.secret");
    std::fs::write(&secret, format!("{HELPDESK_PW}\n")).expect("write the secret file");
    format!(
        "[directory]\nurls = [\"{url}\"]\nca = \"{ca}\"\nbind_dn = \"{HELPDESK_DN}\"\n\
         bind_password_file = \"{secret}\"\n{extra}\n",
        url = slapd.ldaps_url(),
        ca = slapd.ca().display(),
        secret = secret.display(),
    )
}

/// The helpdesk account resets `target`'s password over StartTLS.
fn helpdesk_resets(url: &str, target: &str, new: &str) -> Output {
    let ldif =
        format!("dn: {target}\nchangetype: modify\nreplace: userPassword\nuserPassword: {new}\n");
    modify_starttls(url, HELPDESK_DN, HELPDESK_PW, &ldif)
}

#[test]
fn names_known_only_to_the_directory_are_refused() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let alice = user_dn("alice");
    let old = slapd::user_password("alice");

    let with_lookup = Pwgate::start_with(
        &slapd.ldap_url(),
        &directory_section(&slapd, dir.path(), ""),
    );
    let out = passwd_starttls(&with_lookup.ldap_url(), &alice, old, WITH_SURNAME, &[]);
    assert_ldap_error(&out, 19, "contains the account name [account_name]");
    assert!(
        binds(&slapd, &alice, old),
        "the refused change must not reach slapd"
    );

    // Without the lookup pwgate cannot know the surname: the same change passes.
    let without = Pwgate::start(&slapd.ldap_url());
    assert_ok(
        "the same change without lookups",
        &passwd_starttls(&without.ldap_url(), &alice, old, WITH_SURNAME, &[]),
    );
    assert!(binds(&slapd, &alice, WITH_SURNAME));
}

#[test]
fn a_group_scope_applies_to_its_members_only() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = format!(
        "{}[[policy.scope]]\nname = \"admins\"\nmember_of = [\"{ADMINS_GROUP_DN}\"]\nmin_length = 20\n",
        directory_section(&slapd, dir.path(), "")
    );
    let gate = Pwgate::start_with(&slapd.ldap_url(), &toml);

    // carol is in cn=admins: 16 characters are too few for her scope.
    let carol = user_dn("carol");
    let out = passwd_starttls(
        &gate.ldap_url(),
        &carol,
        slapd::user_password("carol"),
        SIXTEEN,
        &[],
    );
    assert_ldap_error(&out, 19, "too short (20 characters minimum) [length]");

    // alice is not: the global policy applies and slapd takes the change.
    let alice = user_dn("alice");
    assert_ok(
        "alice's change under the global policy",
        &passwd_starttls(
            &gate.ldap_url(),
            &alice,
            slapd::user_password("alice"),
            SIXTEEN,
            &[],
        ),
    );
    assert!(binds(&slapd, &alice, SIXTEEN));
}

#[test]
fn a_protected_account_is_reset_only_by_the_allowed_groups() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let carol = user_dn("carol");

    // Only admins may reset admins: the helpdesk may not.
    let only_admins = Pwgate::start_with(
        &slapd.ldap_url(),
        &format!(
            "{}[[protected]]\ngroup = \"{ADMINS_GROUP_DN}\"\nreset_by = [\"{ADMINS_GROUP_DN}\"]\n",
            directory_section(&slapd, dir.path(), "")
        ),
    );
    let out = helpdesk_resets(&only_admins.ldap_url(), &carol, STRONG);
    assert_ldap_error(
        &out,
        50,
        "this account is protected: your account may not reset its password [protected_account]",
    );
    assert!(binds(&slapd, &carol, slapd::user_password("carol")));
    // Accounts outside the protected group are reset as usual.
    assert_ok(
        "helpdesk resets alice",
        &helpdesk_resets(&only_admins.ldap_url(), &user_dn("alice"), STRONG),
    );
    assert!(binds(&slapd, &user_dn("alice"), STRONG));

    // With the helpdesk team allowed, the same reset goes through.
    let helpdesk_allowed = Pwgate::start_with(
        &slapd.ldap_url(),
        &format!(
            "{}[[protected]]\ngroup = \"{ADMINS_GROUP_DN}\"\nreset_by = [\"{HELPDESK_GROUP_DN}\"]\n",
            directory_section(&slapd, dir.path(), "")
        ),
    );
    assert_ok(
        "helpdesk resets carol when allowed",
        &helpdesk_resets(&helpdesk_allowed.ldap_url(), &carol, STRONG),
    );
    assert!(binds(&slapd, &carol, STRONG));
}

#[test]
fn a_failed_lookup_refuses_the_change_unless_configured_otherwise() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // Nothing listens on this port: the lookup cannot connect.
    let (dead, _) = common::tools::two_free_ports();
    let secret = dir.path().join("lookup.secret");
    std::fs::write(&secret, HELPDESK_PW).expect("write the secret file");
    let section = |extra: &str| {
        format!(
            "[directory]\nurls = [\"ldaps://127.0.0.1:{dead}\"]\nca = \"{ca}\"\nbind_dn = \"{HELPDESK_DN}\"\n\
             bind_password_file = \"{secret}\"\ntimeout_secs = 2\n{extra}\n",
            ca = slapd.ca().display(),
            secret = secret.display(),
        )
    };
    let alice = user_dn("alice");
    let old = slapd::user_password("alice");

    let closed = Pwgate::start_with(&slapd.ldap_url(), &section(""));
    let out = passwd_starttls(&closed.ldap_url(), &alice, old, STRONG, &[]);
    assert_ldap_error(
        &out,
        52,
        "cannot look the account up to check this password",
    );
    assert!(binds(&slapd, &alice, old));
    // Other traffic does not need the lookup.
    assert_ok(
        "search through pwgate",
        &common::tools::search_alice(&closed.ldap_url()),
    );

    let open = Pwgate::start_with(&slapd.ldap_url(), &section("on_error = \"allow\""));
    assert_ok(
        "the change with on_error = allow",
        &passwd_starttls(&open.ldap_url(), &alice, old, STRONG, &[]),
    );
    assert!(binds(&slapd, &alice, STRONG));
}

#[test]
fn an_account_the_lookup_cannot_find_gets_no_such_object() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        &directory_section(&slapd, dir.path(), ""),
    );
    let out = helpdesk_resets(&gate.ldap_url(), &user_dn("nobody"), STRONG);
    assert_ldap_error(&out, 32, "no such account");
}
