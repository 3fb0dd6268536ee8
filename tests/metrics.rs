//! The operator endpoints of the real binary: Prometheus `/metrics`,
//! `/healthz` and `/readyz`.

mod common;

use common::process::PwgateProcess;
use common::slapd::{user_dn, Slapd};
use common::tools::{
    assert_ldap_error, assert_ok, http_get as get, passwd_starttls, search_alice, two_free_ports,
};

#[test]
fn metrics_count_connections_requests_and_decisions() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (metrics_port, _) = two_free_ports();
    let listen = format!("127.0.0.1:{metrics_port}");
    let pwgate = PwgateProcess::start(
        &["--upstream", &slapd.ldap_url(), "--metrics-listen", &listen],
        dir.path(),
    );
    assert_ok("search", &search_alice(&pwgate.ldap_url()));
    let alice = user_dn("alice");
    let weak = passwd_starttls(
        &pwgate.ldap_url(),
        &alice,
        "Alice-Passw0rd",
        "Summer2025!!",
        &[],
    );
    assert_ldap_error(&weak, 19, "[banned_word]");
    assert_ok(
        "strong change",
        &passwd_starttls(
            &pwgate.ldap_url(),
            &alice,
            "Alice-Passw0rd",
            "tangerine-Otter-42-lamp",
            &[],
        ),
    );

    let (status, body) = get(metrics_port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    for line in [
        "pwgate_password_decisions_total{door=\"ldap\",verdict=\"refused\",rule=\"banned_word\",scope=\"default\"} 1",
        "pwgate_password_decisions_total{door=\"ldap\",verdict=\"accepted\",rule=\"none\",scope=\"default\"} 1",
        "pwgate_forwarded_requests_total{op=\"search\"} 1",
    ] {
        assert!(body.lines().any(|l| l == line), "missing `{line}` in:\n{body}");
    }
    let total = body
        .lines()
        .find_map(|l| l.strip_prefix("pwgate_connections_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("connections counter");
    assert!(total >= 3, "{body}");
    // No label carries a DN or a user name.
    assert!(
        !body.contains("alice") && !body.contains("dc=example"),
        "{body}"
    );

    assert_eq!(get(metrics_port, "/healthz").0, "HTTP/1.1 200 OK");
    assert_eq!(get(metrics_port, "/readyz").0, "HTTP/1.1 200 OK");
    assert_eq!(get(metrics_port, "/nope").0, "HTTP/1.1 404 Not Found");
}

#[test]
fn readyz_fails_while_no_directory_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (metrics_port, dead) = two_free_ports();
    let listen = format!("127.0.0.1:{metrics_port}");
    let upstream = format!("ldap://127.0.0.1:{dead}");
    let pwgate = PwgateProcess::start(
        &["--upstream", &upstream, "--metrics-listen", &listen],
        dir.path(),
    );
    let (status, body) = get(metrics_port, "/readyz");
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
    assert!(body.starts_with("not ready:"), "{body}");
    assert_eq!(get(metrics_port, "/healthz").0, "HTTP/1.1 200 OK");
    drop(pwgate);
}
