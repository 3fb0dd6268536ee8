//! Password synchronization between two real slapd instances: the primary
//! (`dc=example,dc=com`, behind pwgate) and a target (`dc=example,dc=org`)
//! that receives every change the primary accepted through pwgate.
//!
//! pwgate runs as the real binary so that its audit trail can be read.

mod common;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::process::PwgateProcess;
use common::slapd::{self, ldap_tool, user_dn, Slapd, ADMINS_GROUP_DN, ADMIN_PW, HELPDESK_PW};
use common::tools::{assert_ldap_error, assert_ok, passwd_starttls};

const TARGET_SUFFIX: &str = "dc=example,dc=org";
const STRONG: &str = "tangerine-Otter-42-lamp";
const STRONG_2: &str = "Kv7#qLp2-Tz9!mWd-x";
const WEAK: &str = "P@ssw0rd2024!";
/// How long a sync may take in these tests (it normally takes milliseconds).
const SYNC_WAIT: Duration = Duration::from_secs(20);

fn target_dn(uid: &str) -> String {
    format!("uid={uid},ou=people,{TARGET_SUFFIX}")
}

fn binds(url: &str, dn: &str, password: &str) -> bool {
    ldap_tool("ldapwhoami", &["-x", "-H", url, "-D", dn, "-w", password])
        .status
        .success()
}

/// Polls (bounded) until `dn` binds with `password` on `url`.
fn eventually_binds(url: &str, dn: &str, password: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if binds(url, dn, password) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A `[[sync]]` section for `target`, bound as `bind_dn` (password in a
/// file under `dir`), with `extra` keys.
fn sync_section(target: &Slapd, dir: &Path, bind_dn: &str, password: &str, extra: &str) -> String {
    let secret = dir.join(format!(
        "sync-{}.secret",
        target.ldaps_url().replace([':', '/', '.'], "")
    ));
    std::fs::write(&secret, password).expect("write the secret file");
    format!(
        "[[sync]]\nname = \"linux\"\nurls = [\"{url}\"]\nca = \"{ca}\"\nbind_dn = \"{bind_dn}\"\n\
         bind_password_file = \"{secret}\"\ndn_template = \"uid={{uid}},ou=people,{TARGET_SUFFIX}\"\n\
         method = \"password_modify\"\ntimeout_secs = 2\n{extra}\n",
        url = target.ldaps_url(),
        ca = target.ca().display(),
        secret = secret.display(),
    )
}

/// pwgate in front of `primary` with `config` as its file.
fn start_pwgate(primary: &Slapd, dir: &Path, config: &str) -> PwgateProcess {
    let path = dir.join("pwgate.toml");
    std::fs::write(&path, config).expect("write the config");
    PwgateProcess::start(
        &[
            "--upstream",
            &primary.ldap_url(),
            "--config",
            path.to_str().expect("UTF-8 path"),
            "--log-format",
            "json",
        ],
        dir,
    )
}

/// alice changes her seeded password to `new` through `gate` (StartTLS).
fn alice_changes_to(gate: &PwgateProcess, new: &str) -> std::process::Output {
    passwd_starttls(
        &gate.ldap_url(),
        &user_dn("alice"),
        slapd::user_password("alice"),
        new,
        &[],
    )
}

/// The primary, a target that is already stopped, the temp dir and pwgate
/// syncing to that target with `extra` keys in its `[[sync]]` section.
fn start_with_stopped_target(extra: &str) -> (Slapd, Slapd, tempfile::TempDir, PwgateProcess) {
    let primary = Slapd::start();
    let mut target = Slapd::start_with_suffix(TARGET_SUFFIX);
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = start_pwgate(
        &primary,
        dir.path(),
        &sync_section(&target, dir.path(), &target_admin(), ADMIN_PW, extra),
    );
    target.stop_server();
    (primary, target, dir, gate)
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn target_admin() -> String {
    format!("cn=admin,{TARGET_SUFFIX}")
}

#[test]
fn accepted_changes_reach_the_target_and_refused_ones_never_do() {
    let primary = Slapd::start();
    let target = Slapd::start_with_suffix(TARGET_SUFFIX);
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = start_pwgate(
        &primary,
        dir.path(),
        &sync_section(&target, dir.path(), &target_admin(), ADMIN_PW, ""),
    );
    let url = gate.ldap_url();
    let tgt = target.ldap_url();

    // A strong change: accepted by the primary, then the target.
    let alice_old = slapd::user_password("alice");
    assert_ok(
        "strong change",
        &passwd_starttls(&url, &user_dn("alice"), alice_old, STRONG, &[]),
    );
    assert!(
        eventually_binds(&tgt, &target_dn("alice"), STRONG, SYNC_WAIT),
        "the new password never reached the target; pwgate log:\n{}",
        gate.log_text()
    );
    assert!(gate.wait_for_log("\"outcome\":\"synced\"", 1, SYNC_WAIT));

    // A weak change: refused by pwgate; a wrong old password: refused by
    // the primary. Neither may reach the target.
    let bob_old = slapd::user_password("bob");
    assert_ldap_error(
        &passwd_starttls(&url, &user_dn("bob"), bob_old, WEAK, &[]),
        19,
        "[banned_word]",
    );
    let wrong_old = ldap_tool(
        "ldappasswd",
        &[
            "-x",
            "-ZZ",
            "-H",
            &url,
            "-D",
            &user_dn("carol"),
            "-w",
            slapd::user_password("carol"),
            "-a",
            "not-the-old-one",
            "-s",
            STRONG_2,
        ],
    );
    assert_ldap_error(&wrong_old, 53, "");
    // One worker per target handles changes in order: once this later
    // change has arrived, the earlier ones would have too.
    assert_ok(
        "a later strong change",
        &passwd_starttls(&url, &user_dn("alice"), STRONG, STRONG_2, &[]),
    );
    assert!(eventually_binds(
        &tgt,
        &target_dn("alice"),
        STRONG_2,
        SYNC_WAIT
    ));
    assert!(
        binds(&tgt, &target_dn("bob"), bob_old),
        "bob's target password changed"
    );
    assert!(!binds(&tgt, &target_dn("bob"), WEAK));
    assert!(binds(
        &tgt,
        &target_dn("carol"),
        slapd::user_password("carol")
    ));
    assert!(!binds(&tgt, &target_dn("carol"), STRONG_2));
    let log = gate.log_text();
    assert_eq!(log.matches("\"outcome\":\"synced\"").count(), 2, "{log}");
    for secret in [STRONG, STRONG_2, ADMIN_PW] {
        assert!(!log.contains(secret), "a password is in the log");
    }
}

#[test]
fn a_stopped_target_gets_the_change_when_it_comes_back() {
    let (primary, mut target, _dir, gate) = start_with_stopped_target("retry_for_secs = 120");

    let started = Instant::now();
    assert_ok(
        "change while the target is down",
        &alice_changes_to(&gate, STRONG),
    );
    let answered_in = started.elapsed();
    // The client's answer does not wait for the target (generous bound:
    // ldappasswd itself, StartTLS and the primary take most of it).
    assert!(
        answered_in < Duration::from_secs(3),
        "the change took {answered_in:?}"
    );
    assert!(binds(&primary.ldap_url(), &user_dn("alice"), STRONG));
    assert!(
        gate.wait_for_log("\"outcome\":\"retried\"", 1, SYNC_WAIT),
        "{}",
        gate.log_text()
    );

    target.restart();
    assert!(
        eventually_binds(
            &target.ldap_url(),
            &target_dn("alice"),
            STRONG,
            Duration::from_secs(70)
        ),
        "the change never arrived after the target came back; log:\n{}",
        gate.log_text()
    );
}

#[test]
fn a_target_that_never_comes_back_is_audited_as_failed() {
    let (_primary, _target, _dir, gate) = start_with_stopped_target("retry_for_secs = 2");
    assert_ok(
        "change while the target is down",
        &alice_changes_to(&gate, STRONG),
    );
    assert!(
        gate.wait_for_log("gave up after", 1, SYNC_WAIT),
        "no failure audited; log:\n{}",
        gate.log_text()
    );
    let log = gate.log_text();
    assert!(log.contains("\"outcome\":\"failed\""), "{log}");
    assert!(
        log.contains(&user_dn("alice")),
        "the audit names the account: {log}"
    );
}

#[test]
fn a_refusal_by_the_target_is_final() {
    let primary = Slapd::start();
    let target = Slapd::start_with_suffix(TARGET_SUFFIX);
    let dir = tempfile::tempdir().expect("temp dir");
    // bob on the target may not set alice's password: result 50.
    let gate = start_pwgate(
        &primary,
        dir.path(),
        &sync_section(
            &target,
            dir.path(),
            &target_dn("bob"),
            slapd::user_password("bob"),
            "retry_for_secs = 60",
        ),
    );
    assert_ok("strong change", &alice_changes_to(&gate, STRONG));
    assert!(
        gate.wait_for_log("\"outcome\":\"failed\"", 1, SYNC_WAIT),
        "{}",
        gate.log_text()
    );
    let log = gate.log_text();
    assert!(log.contains("\"result_code\":\"50\""), "{log}");
    assert!(
        !log.contains("\"outcome\":\"retried\""),
        "a refusal must not be retried: {log}"
    );
    assert!(binds(
        &target.ldap_url(),
        &target_dn("alice"),
        slapd::user_password("alice")
    ));
}

#[test]
fn accounts_outside_the_scope_are_not_synchronized() {
    let primary = Slapd::start();
    let target = Slapd::start_with_suffix(TARGET_SUFFIX);
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("lookup.secret");
    std::fs::write(&secret, HELPDESK_PW).expect("write the secret file");
    // Only members of cn=admins (carol) are synchronized.
    let config = format!(
        "[directory]\nurls = [\"{url}\"]\nca = \"{ca}\"\nbind_dn = \"{helpdesk}\"\nbind_password_file = \"{secret}\"\n\n{sync}",
        url = primary.ldaps_url(),
        ca = primary.ca().display(),
        helpdesk = slapd::HELPDESK_DN,
        secret = secret.display(),
        sync = sync_section(
            &target,
            dir.path(),
            &target_admin(),
            ADMIN_PW,
            &format!("member_of = [\"{ADMINS_GROUP_DN}\"]\ndn_suffix = [\"ou=people,dc=example,dc=com\"]"),
        ),
    );
    let gate = start_pwgate(&primary, dir.path(), &config);
    let url = gate.ldap_url();
    assert_ok(
        "alice (not in admins)",
        &passwd_starttls(
            &url,
            &user_dn("alice"),
            slapd::user_password("alice"),
            STRONG,
            &[],
        ),
    );
    assert_ok(
        "carol (in admins)",
        &passwd_starttls(
            &url,
            &user_dn("carol"),
            slapd::user_password("carol"),
            STRONG,
            &[],
        ),
    );
    assert!(eventually_binds(
        &target.ldap_url(),
        &target_dn("carol"),
        STRONG,
        SYNC_WAIT
    ));
    assert!(binds(
        &target.ldap_url(),
        &target_dn("alice"),
        slapd::user_password("alice")
    ));
    assert_eq!(
        gate.log_text()
            .matches("\"event\":\"password_sync\"")
            .count(),
        1
    );
}

#[test]
fn changes_still_queued_at_shutdown_are_audited_as_abandoned() {
    let (_primary, _target, _dir, mut gate) =
        start_with_stopped_target("retry_for_secs = 600\ndrain_secs = 1");
    assert_ok(
        "change while the target is down",
        &alice_changes_to(&gate, STRONG),
    );
    assert!(gate.wait_for_log("\"outcome\":\"retried\"", 1, SYNC_WAIT));
    let status = gate.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "pwgate exit: {status:?}"
    );
    let log = gate.log_text();
    assert!(log.contains("\"outcome\":\"abandoned\""), "{log}");
    assert!(!log.contains(STRONG));
}

/// A target that takes the connection and never answers (a DC that hangs
/// in the middle of the TLS handshake): a real slapd cannot be made to do
/// this on cue. Holds up to four connections, for at most `life`.
fn hanging_target(life: Duration) -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let (accepted, seen) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let deadline = Instant::now() + life;
        let mut held = Vec::new();
        while Instant::now() < deadline && held.len() < 4 {
            match listener.accept() {
                Ok((stream, _)) => {
                    held.push(stream);
                    let _ = accepted.send(());
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
        thread::sleep(deadline.saturating_duration_since(Instant::now()));
    });
    (port, seen)
}

#[test]
fn a_change_in_flight_when_the_drain_ends_is_audited_as_abandoned() {
    let primary = Slapd::start();
    let target = Slapd::start_with_suffix(TARGET_SUFFIX);
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, seen) = hanging_target(Duration::from_secs(30));
    // The attempt waits up to 10 s for the target; the drain only 1 s.
    let section = sync_section(
        &target,
        dir.path(),
        &target_admin(),
        ADMIN_PW,
        "drain_secs = 1",
    )
    .replace(&target.ldaps_url(), &format!("ldaps://127.0.0.1:{port}"))
    .replace("timeout_secs = 2", "timeout_secs = 10");
    let mut gate = start_pwgate(&primary, dir.path(), &section);
    assert_ok(
        "change while the target hangs",
        &alice_changes_to(&gate, STRONG),
    );
    // The worker has connected: the change is in flight, no longer queued.
    seen.recv_timeout(SYNC_WAIT)
        .expect("the sync worker connects to the target");
    let status = gate.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "pwgate exit: {status:?}"
    );
    let log = gate.log_text();
    let abandoned: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("\"event\":\"password_sync\"") && l.contains("\"outcome\":\"abandoned\"")
        })
        .collect();
    assert_eq!(abandoned.len(), 1, "{log}");
    assert!(abandoned[0].contains("during an attempt"), "{log}");
    assert!(!log.contains(STRONG));
}

/// 25 resets in one connection: all reach the target; at trace level the
/// log holds no form of any password; prints the client's time with and
/// without sync and the sync throughput (a measurement, not an assertion).
#[test]
fn a_burst_of_changes_is_synced_without_a_password_in_the_trace_log() {
    let primary = Slapd::start();
    let target = Slapd::start_with_suffix(TARGET_SUFFIX);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut section = sync_section(
        &target,
        dir.path(),
        &target_admin(),
        ADMIN_PW,
        "method_placeholder",
    );
    section = section
        .replace("method = \"password_modify\"\n", "")
        .replace("method_placeholder", "method = \"user_password\"")
        .replace("ou=people,dc=example,dc=org", "ou=bulk,dc=example,dc=org");
    let path = dir.path().join("pwgate.toml");
    std::fs::write(&path, &section).expect("write the config");
    let args = |config: &str| -> Vec<String> {
        vec![
            "--upstream".into(),
            primary.ldap_url(),
            "--config".into(),
            config.into(),
            "--log-format".into(),
            "json".into(),
            "--log-level".into(),
            "trace".into(),
        ]
    };
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").expect("write the config");
    let with_sync = args(path.to_str().expect("UTF-8"));
    let without_sync = args(empty.to_str().expect("UTF-8"));
    let gate = PwgateProcess::start(&refs(&with_sync), dir.path());
    let plain = PwgateProcess::start(&refs(&without_sync), dir.path());

    let passwords: Vec<String> = (0..25)
        .map(|n| format!("Kv7#qLp2-Tz9!mWd-{n:02}"))
        .collect();
    let burst = |url: &str, round: &str| {
        let mut ldif = String::new();
        for (n, pw) in passwords.iter().enumerate() {
            ldif.push_str(&format!(
                "dn: uid=bulk{n:02},ou=bulk,dc=example,dc=com\nchangetype: modify\nreplace: userPassword\nuserPassword: {pw}{round}\n-\n\n"
            ));
        }
        let started = Instant::now();
        let out = common::tools::modify_starttls(url, slapd::ADMIN_DN, ADMIN_PW, &ldif);
        assert!(out.status.success(), "{}", common::tools::describe(&out));
        started.elapsed()
    };
    let without = burst(&plain.ldap_url(), "b");
    let started = Instant::now();
    let with = burst(&gate.ldap_url(), "");
    assert!(
        gate.wait_for_log("\"outcome\":\"synced\"", 25, SYNC_WAIT),
        "not all 25 changes were synced; log:\n{}",
        gate.log_text()
    );
    let all_synced = started.elapsed();
    eprintln!(
        "25 resets on one connection: client {:.1} ms with sync, {:.1} ms without; \
         all 25 on the target after {:.1} ms ({:.0} changes/s to one target)",
        with.as_secs_f64() * 1000.0,
        without.as_secs_f64() * 1000.0,
        all_synced.as_secs_f64() * 1000.0,
        25.0 / all_synced.as_secs_f64()
    );
    let bulk = |n: usize| format!("uid=bulk{n:02},ou=bulk,{TARGET_SUFFIX}");
    assert!(binds(&target.ldap_url(), &bulk(7), &passwords[7]));
    assert!(binds(&target.ldap_url(), &bulk(24), &passwords[24]));
    let log = gate.log_bytes();
    let mut secrets: Vec<&str> = passwords.iter().map(String::as_str).collect();
    secrets.push(ADMIN_PW);
    let found = common::tools::leaks(&log, &secrets);
    assert!(found.is_empty(), "passwords in the trace log: {found:?}");
    assert!(
        gate.log_text().contains("\"level\":\"TRACE\"") || gate.log_text().contains("DEBUG"),
        "the log is not verbose"
    );
}
