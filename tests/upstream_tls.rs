//! The connection from pwgate to the directory: LDAPS, StartTLS, CA
//! verification (never skipped) and failover over several URLs.

mod common;

use std::process::Output;

use common::pwgate::Pwgate;
use common::slapd::{ldap_tool, test_certs, user_dn, Slapd};
use common::tools::{all_output, assert_ok, search_alice};

#[track_caller]
fn assert_finds_alice(out: &Output) {
    assert!(
        out.status.success() && all_output(out).contains("mail: alice@example.com"),
        "{}",
        all_output(out)
    );
}

fn toml_path(p: &std::path::Path) -> String {
    p.display().to_string().replace('\\', "\\\\")
}

/// A password change over the given pwgate, accepted by slapd.
fn strong_change_works(gate: &Pwgate, slapd: &Slapd) {
    let dn = user_dn("bob");
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
            "Bob-Passw0rd",
            "-a",
            "Bob-Passw0rd",
            "-s",
            "tangerine-Otter-42-lamp",
        ],
    );
    assert_ok("ldappasswd through pwgate", &out);
    let check = ldap_tool(
        "ldapwhoami",
        &[
            "-x",
            "-H",
            &slapd.ldap_url(),
            "-D",
            &dn,
            "-w",
            "tangerine-Otter-42-lamp",
        ],
    );
    assert_ok("ldapwhoami with the new password", &check);
}

#[test]
fn ldaps_upstream_verified_against_the_ca() {
    let slapd = Slapd::start();
    let toml = format!("[upstream]\nca = \"{}\"\n", toml_path(&test_certs().ca));
    let gate = Pwgate::start_with(&slapd.ldaps_url(), &toml);
    assert_finds_alice(&search_alice(&gate.ldap_url()));
    strong_change_works(&gate, &slapd);
}

#[test]
fn starttls_upstream_verified_against_the_ca() {
    let slapd = Slapd::start();
    let toml = format!(
        "[upstream]\nca = \"{}\"\nstarttls = true\n",
        toml_path(&test_certs().ca)
    );
    let gate = Pwgate::start_with(&slapd.ldap_url(), &toml);
    assert_finds_alice(&search_alice(&gate.ldap_url()));
    strong_change_works(&gate, &slapd);
}

#[test]
fn upstream_certificate_from_another_ca_is_refused() {
    let slapd = Slapd::start();
    let other = tempfile::tempdir().expect("temp dir");
    let status =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/certs/generate.sh"))
            .arg(other.path())
            .output()
            .expect("certs/generate.sh runs");
    assert_ok("certs/generate.sh", &status);
    let toml = format!(
        "[upstream]\nca = \"{}\"\n",
        toml_path(&other.path().join("ca.crt"))
    );
    let gate = Pwgate::start_with(&slapd.ldaps_url(), &toml);
    let out = search_alice(&gate.ldap_url());
    assert!(
        !out.status.success(),
        "must not reach a directory with an untrusted certificate: {}",
        all_output(&out)
    );
    assert!(!all_output(&out).contains("alice@example.com"));
}

#[test]
fn failover_to_the_next_url_when_the_first_is_down() {
    let slapd = Slapd::start();
    // A port nothing listens on (held, so nothing else takes it).
    let dead = common::tools::RefusedPort::new();
    let toml = format!(
        "[upstream]\nurls = [\"ldap://{}\", \"{}\"]\n",
        dead.addr,
        slapd.ldap_url()
    );
    let gate = Pwgate::start_with("", &toml);
    assert_finds_alice(&search_alice(&gate.ldap_url()));
}
