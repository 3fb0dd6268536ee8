//! The operator endpoints of the real binary: Prometheus `/metrics`,
//! `/healthz` and `/readyz`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

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
    let upstream_up = format!("pwgate_upstream_up{{upstream=\"{}\"}} 1", slapd.ldap_url());
    for line in [
        "pwgate_password_decisions_total{door=\"ldap\",verdict=\"refused\",rule=\"banned_word\",scope=\"default\"} 1",
        "pwgate_password_decisions_total{door=\"ldap\",verdict=\"accepted\",rule=\"none\",scope=\"default\"} 1",
        "pwgate_forwarded_requests_total{op=\"search\"} 1",
        // The weak change never reached slapd; the strong one did, and
        // slapd's answer is counted.
        "pwgate_directory_answers_total{kind=\"change\",result=\"success\"} 1",
        &upstream_up,
        "pwgate_breached_store_configured 0",
        "pwgate_audit_write_errors_total 0",
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

/// pwgate with its metrics endpoint, in front of a port where no directory
/// listens: the process, the metrics port and the upstream URL.
fn without_directory(dir: &Path) -> (PwgateProcess, u16, String) {
    let (metrics_port, dead) = two_free_ports();
    let listen = format!("127.0.0.1:{metrics_port}");
    let upstream = format!("ldap://127.0.0.1:{dead}");
    let pwgate = PwgateProcess::start(&["--upstream", &upstream, "--metrics-listen", &listen], dir);
    (pwgate, metrics_port, upstream)
}

#[test]
fn readyz_fails_while_no_directory_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pwgate, metrics_port, upstream) = without_directory(dir.path());
    let (status, body) = get(metrics_port, "/readyz");
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
    assert!(body.starts_with("not ready:"), "{body}");
    assert_eq!(get(metrics_port, "/healthz").0, "HTTP/1.1 200 OK");
    // The probe counts as a connection attempt: the directory is down.
    let (_, body) = get(metrics_port, "/metrics");
    let line = format!("pwgate_upstream_up{{upstream=\"{upstream}\"}} 0");
    assert!(
        body.lines().any(|l| l == line),
        "missing `{line}` in:\n{body}"
    );
    drop(pwgate);
}

/// The metric names a text uses: `pwgate_` followed by lower-case letters,
/// digits and underscores.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("pwgate_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        // `pwgate_filter` and the like are not metrics: a metric has a
        // TYPE line, checked below; only names that look like ours count.
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The names `/metrics` declares, with the series names of histograms and
/// summaries (`_bucket`, `_sum`, `_count`).
fn declared(body: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in body.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            names.insert(name.to_owned());
            let parts: &[&str] = match kind {
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["_sum", "_count"],
                _ => &[],
            };
            for suffix in parts {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Every metric the Grafana dashboard and the alerting rules in
/// `monitoring/` name is served by a freshly started pwgate (before any
/// traffic), so a renamed metric cannot silently empty a panel or
/// silence an alert.
#[test]
fn every_metric_of_the_dashboard_and_the_alerts_is_served() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard_text = std::fs::read_to_string(root.join("monitoring/grafana/pwgate.json"))
        .expect("monitoring/grafana/pwgate.json");
    let rules_text = std::fs::read_to_string(root.join("monitoring/prometheus/pwgate-alerts.yml"))
        .expect("monitoring/prometheus/pwgate-alerts.yml");
    // The dashboard is JSON Grafana can import, and every panel queries.
    let dashboard: serde_json::Value =
        serde_json::from_str(&dashboard_text).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut exprs = Vec::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            assert!(
                expr.contains("instance=~\"$instance\""),
                "panel {}: the query ignores the instance selector: {expr}",
                panel["title"]
            );
            exprs.push(expr.to_owned());
        }
    }
    let in_dashboard = metric_names(&exprs.join("\n"));
    // Only the expressions of the rules: their comments and annotations
    // name other things.
    let rule_exprs: String = rules_text
        .split("\n      - alert:")
        .skip(1)
        .map(|rule| {
            let after = rule.split_once("expr:").map_or("", |(_, e)| e);
            after
                .split("\n        for:")
                .next()
                .unwrap_or("")
                .split("\n        labels:")
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n");
    let in_rules = metric_names(&rule_exprs);
    assert!(in_dashboard.len() >= 20, "{in_dashboard:?}");
    assert!(in_rules.len() >= 8, "{in_rules:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let (pwgate, metrics_port, _) = without_directory(dir.path());
    let (status, body) = get(metrics_port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let served = declared(&body);
    for (source, names) in [("dashboard", &in_dashboard), ("alerting rules", &in_rules)] {
        let missing: Vec<&String> = names.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "the {source} use metrics pwgate does not serve: {missing:?}\n{body}"
        );
    }
    drop(pwgate);
}
