//! `pwgate check` with account lookups, run as the real binary against a
//! real slapd: the account is read through the proxy's own lookup code, its
//! names and groups count, the proxy's own choice of scope is made and
//! printed, and a lookup that cannot be made is a clear error (exit 3)
//! unless `on_error = "allow"`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::slapd::{user_dn, Slapd, ADMINS_GROUP_DN, AUDITORS_GROUP_DN, HELPDESK_DN, HELPDESK_PW};
use common::tools::{all_output, describe, run_bounded, stderr, stdout, two_free_ports};

const PWGATE: &str = env!("CARGO_BIN_EXE_pwgate");
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Strong for the default policy, but containing alice's surname, which
/// only her entry's displayName knows.
const WITH_SURNAME: &str = "Liddell-orchard-Harp-velvet-93";
/// 16 characters: enough for the default policy, not for a 20-character scope.
const SIXTEEN: &str = "Kv7#qLp2-Tz9!mWd";

/// A config file in `dir`: `[directory]` reading `slapd` over LDAPS as the
/// helpdesk account (password in a file), with `directory_extra`, then
/// `rest` (scopes). Returns its path.
fn config(slapd: &Slapd, dir: &Path, directory_extra: &str, rest: &str) -> PathBuf {
    let secret = dir.join("lookup.secret");
    std::fs::write(&secret, format!("{HELPDESK_PW}\n")).expect("write the secret file");
    let text = format!(
        "[directory]\nurls = [\"{url}\"]\nca = \"{ca}\"\nbind_dn = \"{HELPDESK_DN}\"\n\
         bind_password_file = \"{secret}\"\ntimeout_secs = 2\n{directory_extra}\n\n{rest}",
        url = slapd.ldaps_url(),
        ca = slapd.ca().display(),
        secret = secret.display(),
    );
    let path = dir.join("pwgate.toml");
    std::fs::write(&path, text).expect("write the config file");
    path
}

/// `[[policy.scope]]` `name` with 20 characters for the members of `group`.
fn group_scope(name: &str, group: &str) -> String {
    format!("[[policy.scope]]\nname = \"{name}\"\nmember_of = [\"{group}\"]\nmin_length = 20\n")
}

/// `pwgate check --config FILE <args>` with `password` on stdin; asserts the
/// exit status, no panic, and that the password and the lookup account's
/// password are never printed. Returns the output.
#[track_caller]
fn check(file: &Path, args: &[&str], password: &str, code: i32) -> Output {
    let mut all_args = vec!["check", "--config", file.to_str().expect("UTF-8 path")];
    all_args.extend_from_slice(args);
    let (out, killed) = run_bounded(
        Command::new(PWGATE).args(&all_args).env_remove("RUST_LOG"),
        Some(format!("{password}\n").as_bytes()),
        RUN_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("cannot run {PWGATE}: {e}"));
    assert!(!killed, "pwgate {all_args:?} still running (killed)");
    let text = all_output(&out);
    assert!(
        !text.contains("panicked"),
        "pwgate {all_args:?} panicked:\n{text}"
    );
    assert!(
        !text.contains(password) && !text.contains(HELPDESK_PW),
        "pwgate {all_args:?} printed a password:\n{text}"
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "pwgate {all_args:?}: expected exit {code}, got {}",
        describe(&out)
    );
    out
}

/// The last line of stdout: the scope that decided.
fn scope_line(out: &Output) -> String {
    stdout(out).lines().last().unwrap_or("").to_owned()
}

#[test]
fn the_group_scope_of_the_looked_up_account_decides() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = config(
        &slapd,
        dir.path(),
        "",
        &group_scope("admins", ADMINS_GROUP_DN),
    );
    let carol = user_dn("carol");

    // carol is in cn=admins: 16 characters are too few in her scope.
    let out = check(&file, &["--user", &carol], SIXTEEN, 1);
    assert!(
        stdout(&out).starts_with("line 1: refused [length] ")
            && stdout(&out).contains("20 characters minimum"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        scope_line(&out),
        format!("scope admins (mode enforce); account {carol}, looked up in the directory")
    );
    // The same by bind name, found under the directory's naming context.
    let out = check(&file, &["--user", "carol"], SIXTEEN, 1);
    assert_eq!(
        scope_line(&out),
        format!("scope admins (mode enforce); account {carol}, looked up in the directory")
    );
    // And in JSON.
    let out = check(&file, &["--user", "carol", "--json"], SIXTEEN, 1);
    assert!(
        stdout(&out).trim_end().ends_with(&format!(
            "\"scope\":\"admins\",\"mode\":\"enforce\",\"account\":\"{carol}\",\"lookup\":\"done\"}}}}"
        )),
        "{}",
        stdout(&out)
    );

    // alice is not: the global policy.
    let alice = user_dn("alice");
    let out = check(&file, &["--user", &alice], SIXTEEN, 0);
    assert_eq!(
        scope_line(&out),
        format!("scope default (mode enforce); account {alice}, looked up in the directory")
    );
    // Without the lookup no group scope can apply: today's offline check.
    let out = check(&file, &["--user", &carol, "--no-lookup"], SIXTEEN, 0);
    assert_eq!(
        scope_line(&out),
        format!("scope default (mode enforce); account {carol}, not looked up")
    );
}

#[test]
fn names_only_the_entry_knows_are_refused() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = config(&slapd, dir.path(), "", "");
    let alice = user_dn("alice");
    // displayName `Alice Liddell`: only the entry says so.
    for user in [alice.as_str(), "alice", "alice@example.com"] {
        let out = check(&file, &["--user", user], WITH_SURNAME, 1);
        assert!(
            stdout(&out).starts_with("line 1: refused [account_name] "),
            "{user}: {}",
            describe(&out)
        );
    }
    let out = check(&file, &["--user", &alice, "--no-lookup"], WITH_SURNAME, 0);
    assert_eq!(stdout(&out).lines().next(), Some("line 1: accepted"));
}

#[test]
fn nested_groups_and_domains_pick_the_scope_as_in_the_proxy() {
    let slapd = Slapd::start();
    slapd.add_nested_groups();
    let dir = tempfile::tempdir().expect("temp dir");
    // carol -> cn=admins -> cn=ops -> cn=auditors (a uniqueMember).
    let file = config(
        &slapd,
        dir.path(),
        "membership = \"nested\"",
        &format!(
            "[[policy.scope]]\nname = \"example-com\"\ndomain = [\"example.com\"]\nmin_length = 14\n\n\
             [[policy.scope]]\nname = \"example-org\"\ndomain = [\"example.org\"]\nmin_length = 30\n\n{}",
            group_scope("auditors", AUDITORS_GROUP_DN)
        ),
    );
    let out = check(&file, &["--user", "carol"], SIXTEEN, 1);
    assert!(
        stdout(&out).contains("20 characters minimum"),
        "{}",
        describe(&out)
    );
    assert!(
        scope_line(&out).starts_with("scope auditors "),
        "{}",
        describe(&out)
    );
    // bob is in no group: the scope of his domain (dc=example,dc=com).
    let out = check(&file, &["--user", "bob"], SIXTEEN, 0);
    assert!(
        scope_line(&out).starts_with("scope example-com "),
        "{}",
        describe(&out)
    );
    let out = check(&file, &["--user", "bob"], "Kv7#qLp2-Tz9!", 1);
    assert!(
        stdout(&out).contains("14 characters minimum"),
        "{}",
        describe(&out)
    );

    // Nesting deeper than allowed: the lookup fails, closed.
    let shallow = config(
        &slapd,
        dir.path(),
        "membership = \"nested\"\nmax_nesting_depth = 2",
        &group_scope("auditors", AUDITORS_GROUP_DN),
    );
    let out = check(&shallow, &["--user", "carol"], SIXTEEN, 3);
    assert!(
        stderr(&out).contains("directory.max_nesting_depth = 2") && stdout(&out).is_empty(),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_lookup_that_fails_is_an_error_unless_the_config_allows_it() {
    let mut slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let carol = user_dn("carol");
    let closed = config(
        &slapd,
        dir.path(),
        "",
        &group_scope("admins", ADMINS_GROUP_DN),
    );

    // No such entry: an error, whatever on_error says.
    let nobody = user_dn("nobody");
    let out = check(&closed, &["--user", &nobody], SIXTEEN, 3);
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "pwgate: error: {nobody}: no such account in the directory (or the lookup account cannot read it)"
        )
    );
    let out = check(&closed, &["--user", "nobody"], SIXTEEN, 3);
    assert!(
        stderr(&out).contains("no single account has this name under dc=example,dc=com"),
        "{}",
        describe(&out)
    );

    // The directory is down: one clear line, exit 3, no verdict.
    slapd.stop_server();
    let out = check(&closed, &["--user", &carol], SIXTEEN, 3);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "pwgate: error: {carol}: cannot look the account up: "
        )) && err.contains(&slapd.ldaps_url())
            && err.lines().count() == 1,
        "{}",
        describe(&out)
    );
    assert!(stdout(&out).is_empty(), "{}", describe(&out));
    let out = check(&closed, &["--user", "carol"], SIXTEEN, 3);
    assert!(
        stderr(&out).contains("cannot look the account up"),
        "{}",
        describe(&out)
    );

    // on_error = "allow": decided without the lookup, and said so.
    let dir2 = tempfile::tempdir().expect("temp dir");
    let open = config(
        &slapd,
        dir2.path(),
        "on_error = \"allow\"",
        &group_scope("admins", ADMINS_GROUP_DN),
    );
    let out = check(&open, &["--user", &carol], SIXTEEN, 0);
    assert!(
        stderr(&out).contains("deciding without it (directory.on_error = \"allow\")"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        scope_line(&out),
        format!(
            "scope default (mode enforce); account {carol}, lookup failed: decided without it (directory.on_error = \"allow\")"
        )
    );
    // --no-lookup never connects.
    let out = check(&closed, &["--user", &carol, "--no-lookup"], SIXTEEN, 0);
    assert!(stderr(&out).is_empty(), "{}", describe(&out));

    // Nothing listens on this port at all.
    let (dead, _) = two_free_ports();
    let dir3 = tempfile::tempdir().expect("temp dir");
    let file = dir3.path().join("dead.toml");
    std::fs::write(dir3.path().join("lookup.secret"), HELPDESK_PW).expect("write secret");
    std::fs::write(
        &file,
        format!(
            "[directory]\nurls = [\"ldaps://127.0.0.1:{dead}\"]\nca = \"{}\"\nbind_dn = \"{HELPDESK_DN}\"\n\
             bind_password_file = \"lookup.secret\"\ntimeout_secs = 1\n",
            slapd.ca().display()
        ),
    )
    .expect("write config");
    let out = check(&file, &["--user", &carol], SIXTEEN, 3);
    assert!(
        stderr(&out).contains(&format!("ldaps://127.0.0.1:{dead}")),
        "{}",
        describe(&out)
    );
}

#[test]
fn without_urls_of_its_own_the_lookup_uses_the_upstream() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("lookup.secret");
    std::fs::write(&secret, HELPDESK_PW).expect("write secret");
    let directory = format!(
        "[directory]\nbind_dn = \"{HELPDESK_DN}\"\nbind_password_file = \"{}\"\n\n{}",
        secret.display(),
        group_scope("admins", ADMINS_GROUP_DN)
    );
    let file = dir.path().join("upstream.toml");
    std::fs::write(
        &file,
        format!(
            "[upstream]\nurls = [\"{}\"]\nca = \"{}\"\n\n{directory}",
            slapd.ldaps_url(),
            slapd.ca().display()
        ),
    )
    .expect("write config");
    let out = check(&file, &["--user", "carol"], SIXTEEN, 1);
    assert!(
        scope_line(&out).starts_with("scope admins "),
        "{}",
        describe(&out)
    );

    // Neither [directory] nor [upstream] names a server: a config error.
    let none = dir.path().join("none.toml");
    std::fs::write(&none, &directory).expect("write config");
    let out = check(&none, &["--user", "carol"], SIXTEEN, 2);
    assert!(
        stderr(&out).contains("account lookups need a directory"),
        "{}",
        describe(&out)
    );
}
