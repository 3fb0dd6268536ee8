//! pwgate's log never contains a password, in any encoding.
//!
//! The real `pwgate` binary runs as a child process at `--log-level trace`
//! (text, then JSON) in front of a private slapd, its stderr captured to a
//! file. Password operations of every kind go through it over StartTLS:
//! Password Modify (weak and strong), a Modify of `userPassword` by the
//! helpdesk, a Modify of `unicodePwd`, Adds of entries with a password, and
//! simple binds. Afterwards the log is searched, as raw bytes, for every
//! password used (new, old and bind credentials) as plain text, UTF-16LE,
//! base64 of both (the UTF-16LE one in `unicodePwd`'s quoted form too), and
//! hex.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::process::{PwgateProcess, PWGATE, STOP_TIMEOUT};
use common::slapd::{
    ldap_tool, user_dn, user_password, Slapd, ADMIN_DN, ADMIN_PW, HELPDESK_DN, HELPDESK_PW,
    PEOPLE_DN,
};
use common::tools::{
    assert_ldap_error, assert_ok, find, http_get, leaks, modify_starttls, needles, passwd_starttls,
    run_bounded, stdout, two_free_ports, unicode_pwd,
};

// Passwords of the scenario. The weak ones are refused by pwgate's built-in
// policy (banned words), the strong ones accepted (`pwgate check` agrees: see
// `scenario_passwords_are_classified_as_expected`).
const ALICE_WEAK: &str = "Summer2024!!";
const ALICE_STRONG: &str = "Zq8#unique-Strong-Marker-91";
const BOB_WEAK: &str = "Welcome2024!!";
const BOB_STRONG: &str = "Vx3%helpdesk-Strong-Marker-52";
const CAROL_UNICODE_WEAK: &str = "P@ssw0rd-2024";
const CAROL_UNICODE_STRONG: &str = "Kp7&unicode-Strong-Marker-63";
const DAVE_WEAK: &str = "Password2024!";
const ERIN_STRONG: &str = "Jw5*newentry-Strong-Marker-74";

// ---------------------------------------------------------------------------
// The needle search (the encoders are in tests/common/tools.rs)

#[test]
fn needle_search_finds_planted_needles() {
    let secret = "Sample-Planted-Needle-77";
    let prefix = b"2025-01-01T00:00:00Z  INFO pwgate: something happened value=".to_vec();
    let suffix = b" and then more text\n{\"json\":true}\n".to_vec();
    let clean = [prefix.clone(), suffix.clone()].concat();
    assert!(leaks(&clean, &[secret]).is_empty());
    for (label, needle) in needles(secret) {
        let haystack = [prefix.clone(), needle.clone(), suffix.clone()].concat();
        let found = leaks(&haystack, &["unrelated-password", secret]);
        assert!(
            found
                .iter()
                .any(|(l, at)| *l == label && *at == prefix.len()),
            "{label} not found at {}: {found:?}",
            prefix.len()
        );
        // At the very start and the very end too.
        assert!(find(&[needle.clone(), suffix.clone()].concat(), &needle) == Some(0));
        assert!(find(&[prefix.clone(), needle.clone()].concat(), &needle).is_some());
    }
    // Partial needles are not reported.
    let partial = &secret.as_bytes()[..secret.len() - 1];
    assert!(leaks(&[prefix, partial.to_vec(), suffix].concat(), &[secret]).is_empty());
}

#[test]
fn scenario_passwords_are_classified_as_expected() {
    for (password, accepted) in [
        (ALICE_WEAK, false),
        (BOB_WEAK, false),
        (CAROL_UNICODE_WEAK, false),
        (DAVE_WEAK, false),
        (ALICE_STRONG, true),
        (BOB_STRONG, true),
        (CAROL_UNICODE_STRONG, true),
        (ERIN_STRONG, true),
    ] {
        let input = format!("{password}\n");
        let (out, _killed) = run_bounded(
            Command::new(PWGATE).arg("check"),
            Some(input.as_bytes()),
            Duration::from_secs(15),
        )
        .expect("cannot run pwgate check");
        assert_eq!(
            out.status.success(),
            accepted,
            "pwgate check: {}",
            stdout(&out)
        );
    }
}

// ---------------------------------------------------------------------------
// The scenario

fn whoami(url: &str, dn: &str, pw: &str) -> Output {
    ldap_tool("ldapwhoami", &["-x", "-ZZ", "-H", url, "-D", dn, "-w", pw])
}

/// Runs every kind of password operation through pwgate; returns every
/// password that went over the wire.
fn password_operations(url: &str) -> Vec<&'static str> {
    let alice = user_dn("alice");
    let alice_old = user_password("alice");

    // Password Modify extended operation, user changes their own.
    let out = passwd_starttls(url, &alice, alice_old, ALICE_WEAK, &[]);
    assert_ldap_error(&out, 19, "");
    let out = passwd_starttls(url, &alice, alice_old, ALICE_STRONG, &[]);
    assert_ok("ldappasswd strong", &out);

    // Simple binds through pwgate: the new password works, the old does not.
    assert_ok(
        "bind with the new password",
        &whoami(url, &alice, ALICE_STRONG),
    );
    assert_ldap_error(&whoami(url, &alice, alice_old), 49, "");

    // Modify of userPassword by the helpdesk (a reset).
    let bob = user_dn("bob");
    let replace = |pw: &str| {
        format!("dn: {bob}\nchangetype: modify\nreplace: userPassword\nuserPassword: {pw}\n-\n")
    };
    let out = modify_starttls(url, HELPDESK_DN, HELPDESK_PW, &replace(BOB_WEAK));
    assert_ldap_error(&out, 19, "");
    let out = modify_starttls(url, HELPDESK_DN, HELPDESK_PW, &replace(BOB_STRONG));
    assert_ok("helpdesk modify strong", &out);
    assert_ok("bob binds", &whoami(url, &bob, BOB_STRONG));

    // Modify of unicodePwd (Active Directory style: base64 of the UTF-16LE
    // encoding of the quoted password). slapd has no such attribute: pwgate
    // refuses the weak one itself, the strong one reaches slapd, which answers
    // undefinedAttributeType (17).
    let carol = user_dn("carol");
    let unicode = |pw: &str| {
        format!(
            "dn: {carol}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {}\n-\n",
            unicode_pwd(pw)
        )
    };
    let out = modify_starttls(url, HELPDESK_DN, HELPDESK_PW, &unicode(CAROL_UNICODE_WEAK));
    assert_ldap_error(&out, 19, "");
    let out = modify_starttls(
        url,
        HELPDESK_DN,
        HELPDESK_PW,
        &unicode(CAROL_UNICODE_STRONG),
    );
    assert_ldap_error(&out, 17, "");

    // Adds of new entries carrying a password (as the rootdn: only it may add).
    let add = |uid: &str, pw: &str| {
        format!(
            "dn: uid={uid},{PEOPLE_DN}\nchangetype: add\nobjectClass: inetOrgPerson\n\
             uid: {uid}\ncn: Test {uid}\nsn: {uid}\nuserPassword: {pw}\n"
        )
    };
    let out = modify_starttls(url, ADMIN_DN, ADMIN_PW, &add("dave", DAVE_WEAK));
    assert_ldap_error(&out, 19, "");
    let out = modify_starttls(url, ADMIN_DN, ADMIN_PW, &add("erin", ERIN_STRONG));
    assert_ok("add with a strong password", &out);
    assert_ok(
        "erin binds",
        &whoami(url, &format!("uid=erin,{PEOPLE_DN}"), ERIN_STRONG),
    );

    vec![
        alice_old,
        ALICE_WEAK,
        ALICE_STRONG,
        BOB_WEAK,
        BOB_STRONG,
        CAROL_UNICODE_WEAK,
        CAROL_UNICODE_STRONG,
        DAVE_WEAK,
        ERIN_STRONG,
        HELPDESK_PW,
        ADMIN_PW,
    ]
}

/// A `verdict` field with `value`, in the text or the JSON format.
fn has_verdict(log: &str, value: &str) -> bool {
    [
        format!("verdict=\"{value}\""),
        format!("verdict={value}"),
        format!("\"verdict\":\"{value}\""),
    ]
    .iter()
    .any(|p| log.contains(p.as_str()))
}

fn no_secrets_in_log(log_format: Option<&str>) {
    let slapd = Slapd::start();
    let dir = tempfile::Builder::new()
        .prefix("pwgate-log-")
        .tempdir()
        .expect("cannot create a temp dir");
    let upstream = slapd.ldap_url();
    let (metrics_port, _) = two_free_ports();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let mut args = vec![
        "--upstream",
        &upstream,
        "--log-level",
        "trace",
        "--metrics-listen",
        &metrics_listen,
    ];
    if let Some(format) = log_format {
        args.extend(["--log-format", format]);
    }
    let mut pwgate = PwgateProcess::start(&args, dir.path());
    let passwords = password_operations(&pwgate.ldap_url());
    // The metrics must not carry a password either.
    let (status_line, metrics) = http_get(metrics_port, "/metrics");
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    assert!(
        metrics.contains("pwgate_password_decisions_total"),
        "{metrics}"
    );
    let in_metrics = leaks(metrics.as_bytes(), &passwords);
    assert!(in_metrics.is_empty(), "secrets in /metrics: {in_metrics:?}");
    let status = pwgate.stop();
    assert!(
        status.is_some(),
        "pwgate did not stop within {} s of SIGTERM",
        STOP_TIMEOUT.as_secs()
    );

    let bytes = pwgate.log_bytes();
    let log = String::from_utf8_lossy(&bytes).into_owned();
    let lines = log.lines().count();
    // Non-trivial: the audit trail and the debug/trace chatter were captured.
    assert!(
        log.contains("password_decision") && log.contains("password_result"),
        "no audit events in the log"
    );
    assert!(
        has_verdict(&log, "refused") && has_verdict(&log, "accepted"),
        "the log lacks verdict refused/accepted"
    );
    let decisions = log.matches("password_decision").count();
    assert!(
        decisions >= 8,
        "expected >= 8 password decisions, got {decisions}"
    );
    assert!(log.contains("StartTLS established"), "debug events missing");
    assert!(lines >= 30, "only {lines} log lines");
    if log_format == Some("json") {
        let json_lines = log.lines().filter(|l| l.starts_with('{')).count();
        assert_eq!(json_lines, lines, "not all lines are JSON");
    }

    let found = leaks(&bytes, &passwords);
    let context: Vec<String> = found
        .iter()
        .map(|(label, at)| {
            let line_start = bytes[..*at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let line_end = bytes[*at..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| at + i);
            format!(
                "{label} at byte {at}, in line: {}",
                String::from_utf8_lossy(&bytes[line_start..line_end])
            )
        })
        .collect();
    assert!(
        found.is_empty(),
        "secrets in pwgate's log:\n{}",
        context.join("\n")
    );
}

#[test]
fn no_secrets_in_text_log_at_trace_level() {
    no_secrets_in_log(None);
}

#[test]
fn no_secrets_in_json_log_at_trace_level() {
    no_secrets_in_log(Some("json"));
}
