//! Account lookups over pwgate's own service-account connection, against a
//! real slapd: names only the entry knows, policy scopes by group
//! membership (direct, and nested groups followed by pwgate), protected
//! accounts, and failing closed when the lookup cannot be made.

mod common;

use std::path::Path;
use std::process::Output;

use common::pwgate::Pwgate;
use common::slapd::{
    self, ldap_tool, user_dn, Slapd, ADMINS_GROUP_DN, AUDITORS_GROUP_DN, HELPDESK_DN,
    HELPDESK_GROUP_DN, HELPDESK_PW, LOOP_B_GROUP_DN, OPS_GROUP_DN,
};
use common::tools::{assert_ldap_error, assert_ok, modify_starttls, passwd_starttls};

/// Strong for the default policy, but containing alice's surname, which
/// only her entry's displayName knows.
const WITH_SURNAME: &str = "Liddell-orchard-Harp-velvet-93";
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

/// `[directory]` with `membership = "nested"` and `extra`, plus a scope
/// `strict` (20 characters) for the members of `group`.
fn nested_scope(slapd: &Slapd, dir: &Path, extra: &str, group: &str) -> String {
    format!(
        "{}[[policy.scope]]\nname = \"strict\"\nmember_of = [\"{group}\"]\nmin_length = 20\n",
        directory_section(
            slapd,
            dir,
            &format!("membership = \"nested\"\ncache_secs = 0\n{extra}")
        )
    )
}

/// `uid`'s own change from its seeded password to `new` through `gate`.
fn own_change(gate: &Pwgate, uid: &str, new: &str) -> Output {
    passwd_starttls(
        &gate.ldap_url(),
        &user_dn(uid),
        slapd::user_password(uid),
        new,
        &[],
    )
}

#[test]
fn nested_groups_are_followed_on_openldap() {
    let slapd = Slapd::start();
    slapd.add_nested_groups();
    let dir = tempfile::tempdir().expect("temp dir");

    // Nested: carol -> cn=admins -> cn=ops (member) -> cn=auditors
    // (uniqueMember), three levels up.
    for group in [ADMINS_GROUP_DN, OPS_GROUP_DN, AUDITORS_GROUP_DN] {
        let gate = Pwgate::start_with(
            &slapd.ldap_url(),
            &nested_scope(&slapd, dir.path(), "", group),
        );
        assert_ldap_error(
            &own_change(&gate, "carol", SIXTEEN),
            19,
            "too short (20 characters minimum) [length]",
        );
    }
    assert!(binds(
        &slapd,
        &user_dn("carol"),
        slapd::user_password("carol")
    ));

    // alice's groups form a cycle (loop-a <-> loop-b) and never reach
    // cn=auditors: the walk ends, and the global policy applies to her.
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        &nested_scope(&slapd, dir.path(), "", AUDITORS_GROUP_DN),
    );
    assert_ok(
        "alice's change (her groups loop)",
        &own_change(&gate, "alice", SIXTEEN),
    );
    assert!(binds(&slapd, &user_dn("alice"), SIXTEEN));
    // ...and the cycle's own groups are found through it.
    let gate = Pwgate::start_with(
        &slapd.ldap_url(),
        &format!(
            "{}[[protected]]\ngroup = \"{}\"\nreset_by = []\n",
            nested_scope(&slapd, dir.path(), "", AUDITORS_GROUP_DN),
            LOOP_B_GROUP_DN
        ),
    );
    assert_ldap_error(
        &helpdesk_resets(&gate.ldap_url(), &user_dn("alice"), STRONG),
        50,
        "this account is protected",
    );

    // Direct membership only: carol is in cn=admins, not in cn=ops itself,
    // so an ops scope does not apply to her.
    let direct = Pwgate::start_with(
        &slapd.ldap_url(),
        &format!(
            "{}[[policy.scope]]\nname = \"strict\"\nmember_of = [\"{OPS_GROUP_DN}\"]\nmin_length = 20\n",
            directory_section(&slapd, dir.path(), "membership = \"member\"")
        ),
    );
    assert_ok(
        "carol's change, direct membership",
        &own_change(&direct, "carol", SIXTEEN),
    );
    assert!(binds(&slapd, &user_dn("carol"), SIXTEEN));
}

#[test]
fn nesting_beyond_the_bounds_fails_closed() {
    let slapd = Slapd::start();
    slapd.add_nested_groups();
    let dir = tempfile::tempdir().expect("temp dir");

    // cn=ops is two levels above carol: one level is not enough to tell,
    // so the lookup fails and the change is refused (52), not decided
    // under the wrong policy.
    let shallow = Pwgate::start_with(
        &slapd.ldap_url(),
        &nested_scope(&slapd, dir.path(), "max_nesting_depth = 1", OPS_GROUP_DN),
    );
    assert_ldap_error(
        &own_change(&shallow, "carol", STRONG),
        52,
        "cannot look the account up",
    );
    assert!(binds(
        &slapd,
        &user_dn("carol"),
        slapd::user_password("carol")
    ));
    // bob is in no group at all: nothing is deeper than one level.
    assert_ok("bob's change", &own_change(&shallow, "bob", STRONG));
    // With two levels, cn=ops is found.
    let deep_enough = Pwgate::start_with(
        &slapd.ldap_url(),
        &nested_scope(&slapd, dir.path(), "max_nesting_depth = 2", OPS_GROUP_DN),
    );
    assert_ldap_error(
        &own_change(&deep_enough, "carol", SIXTEEN),
        19,
        "too short (20 characters minimum) [length]",
    );

    // At most one group: carol's second (cn=ops) is one too many.
    let few = Pwgate::start_with(
        &slapd.ldap_url(),
        &nested_scope(&slapd, dir.path(), "max_groups = 1", OPS_GROUP_DN),
    );
    assert_ldap_error(
        &own_change(&few, "carol", STRONG),
        52,
        "cannot look the account up",
    );
    // The walk stops once the wanted group is found: cn=admins is carol's
    // first group, within the bound.
    let found_first = Pwgate::start_with(
        &slapd.ldap_url(),
        &nested_scope(&slapd, dir.path(), "max_groups = 1", ADMINS_GROUP_DN),
    );
    assert_ldap_error(
        &own_change(&found_first, "carol", SIXTEEN),
        19,
        "too short (20 characters minimum) [length]",
    );
    assert!(binds(
        &slapd,
        &user_dn("carol"),
        slapd::user_password("carol")
    ));
}

/// The lookup service of a config with `[directory]` `extra`, asked about
/// `uid`'s membership of `groups` directly (no proxy).
fn look_up(
    slapd: &Slapd,
    dir: &Path,
    extra: &str,
    uid: &str,
    groups: &[&str],
) -> Result<pwgate::directory::Account, pwgate::directory::LookupError> {
    let toml = directory_section(slapd, dir, extra);
    let path = Path::new("lookup.toml");
    let file = pwgate::config::FileConfig::parse(&toml, path).expect("test config parses");
    let overrides = pwgate::config::Overrides {
        upstream: vec![slapd.ldap_url()],
        ..Default::default()
    };
    let config = pwgate::config::Config::from_parts(file, &toml, Some(path), &overrides)
        .expect("test config is valid");
    let directory = pwgate::directory::Directory::new(config.directory.expect("[directory]"))
        .expect("lookup TLS setup");
    let groups: Vec<pwgate::directory::Group> = groups
        .iter()
        .map(|g| pwgate::directory::Group::new(g))
        .collect();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(directory.account(&user_dn(uid), &groups))
}

#[test]
fn the_nesting_walk_answers_every_group_and_says_why_it_stops() {
    let slapd = Slapd::start();
    slapd.add_nested_groups();
    let dir = tempfile::tempdir().expect("temp dir");
    let nested = "membership = \"nested\"";
    let all = [
        ADMINS_GROUP_DN,
        OPS_GROUP_DN,
        AUDITORS_GROUP_DN,
        HELPDESK_GROUP_DN,
        LOOP_B_GROUP_DN,
    ];
    let member_of = |account: &pwgate::directory::Account| -> Vec<bool> {
        all.iter()
            .map(|g| account.member_of(&pwgate::directory::Group::new(g)))
            .collect()
    };
    let carol = look_up(&slapd, dir.path(), nested, "carol", &all).expect("carol's lookup");
    assert_eq!(member_of(&carol), [true, true, true, false, false]);
    let alice = look_up(&slapd, dir.path(), nested, "alice", &all).expect("alice's lookup");
    assert_eq!(member_of(&alice), [false, false, false, false, true]);
    let bob = look_up(&slapd, dir.path(), nested, "bob", &all).expect("bob's lookup");
    assert_eq!(member_of(&bob), [false; 5]);

    let why = |extra: &str, uid: &str, groups: &[&str]| match look_up(
        &slapd,
        dir.path(),
        &format!("{nested}\n{extra}"),
        uid,
        groups,
    ) {
        Err(pwgate::directory::LookupError::Failed(e)) => e,
        other => panic!("{extra} {uid}: expected a failed lookup, got {other:?}"),
    };
    let e = why("max_nesting_depth = 2", "carol", &[AUDITORS_GROUP_DN]);
    assert!(
        e.contains("nest deeper than directory.max_nesting_depth = 2"),
        "{e}"
    );
    let e = why("max_nesting_depth = 1", "alice", &[AUDITORS_GROUP_DN]);
    assert!(
        e.contains("deeper than directory.max_nesting_depth = 1"),
        "{e}"
    );
    let e = why("max_groups = 2", "carol", &[AUDITORS_GROUP_DN]);
    assert!(
        e.contains("in more groups than directory.max_groups = 2"),
        "{e}"
    );
    let e = why(
        "group_search_base = \"ou=nowhere,dc=example,dc=com\"",
        "carol",
        &[OPS_GROUP_DN],
    );
    assert!(
        e.contains("searching groups under ou=nowhere") && e.contains("32"),
        "{e}"
    );
    // Within the bounds exactly: three levels, three groups.
    let carol = look_up(
        &slapd,
        dir.path(),
        &format!("{nested}\nmax_nesting_depth = 3\nmax_groups = 3"),
        "carol",
        &[AUDITORS_GROUP_DN],
    )
    .expect("carol within the bounds");
    assert!(carol.member_of(&pwgate::directory::Group::new(AUDITORS_GROUP_DN)));
}
