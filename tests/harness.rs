//! Self-test of the test harness (tests/common): the private slapd, its seed
//! data, TLS with the test CA, and the ldap-utils runner.

mod common;

use common::slapd::{self, ldap_tool, ldap_tool_stdin, Slapd};
use common::tools::{
    assert_ldap_error, assert_ok, base64, hex, search_alice, stdout, unicode_pwd, utf16le,
};

#[test]
fn test_certs_are_generated() {
    let certs = slapd::test_certs();
    for path in [
        &certs.ca,
        &certs.server_cert,
        &certs.server_key,
        &certs.client_cert,
        &certs.client_key,
    ] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    let out = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&certs.ca)
        .arg(&certs.server_cert)
        .arg(&certs.client_cert)
        .output()
        .expect("cannot run openssl");
    assert!(out.status.success(), "openssl verify: {}", stdout(&out));
    // Same set for the whole process.
    assert!(std::ptr::eq(certs, slapd::test_certs()));
}

#[test]
fn slapd_starts_and_serves_root_dse() {
    let server = Slapd::start();
    assert_ne!(server.port, server.tls_port);
    let out = assert_ok(
        "rootDSE search",
        &ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-H",
                &server.ldap_url(),
                "-b",
                "",
                "-s",
                "base",
                "namingContexts",
            ],
        ),
    );
    assert!(out.contains("namingContexts: dc=example,dc=com"), "{out}");
}

#[test]
fn search_over_ldap_ldaps_and_starttls_finds_alice() {
    let server = Slapd::start();
    let expected_dn = format!("dn: {}", slapd::user_dn("alice"));
    for url in [server.ldap_url(), server.ldaps_url()] {
        let out = assert_ok(&format!("ldapsearch {url}"), &search_alice(&url));
        assert!(out.contains(&expected_dn), "{url}: {out}");
        assert!(
            out.contains("cn: Alice") && out.contains("mail: alice@example.com"),
            "{url}: {out}"
        );
    }
    // StartTLS on the plain port (-ZZ: fail unless TLS is established).
    let out = assert_ok(
        "ldapsearch -ZZ",
        &ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-ZZ",
                "-LLL",
                "-H",
                &server.ldap_url(),
                "-b",
                slapd::BASE_DN,
                "(uid=alice)",
                "dn",
            ],
        ),
    );
    assert!(out.contains(&expected_dn), "{out}");
    assert_eq!(server.ca(), slapd::test_certs().ca.as_path());
}

#[test]
fn ldaps_rejects_an_untrusted_server_certificate() {
    let server = Slapd::start();
    // The ldap-utils runner trusts only the test CA; the system CA bundle must fail.
    let out = std::process::Command::new("ldapsearch")
        .args([
            "-x",
            "-o",
            "nettimeout=10",
            "-H",
            &server.ldaps_url(),
            "-b",
            "",
            "-s",
            "base",
        ])
        .env("LDAPTLS_CACERT", "/etc/ssl/certs/ca-certificates.crt")
        .env("LDAPTLS_REQCERT", "demand")
        .output()
        .expect("cannot run ldapsearch");
    assert!(
        !out.status.success(),
        "ldaps with the wrong CA unexpectedly worked"
    );
}

#[test]
fn paged_search_returns_all_bulk_entries() {
    let server = Slapd::start();
    let out = assert_ok(
        "paged ldapsearch",
        &ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-H",
                &server.ldap_url(),
                "-E",
                "pr=5/noprompt",
                "-b",
                slapd::BULK_DN,
                "(objectClass=inetOrgPerson)",
                "description",
            ],
        ),
    );
    let entries = out
        .lines()
        .filter(|l| l.starts_with("dn: uid=bulk"))
        .count();
    assert_eq!(entries, slapd::BULK_ENTRIES, "{out}");
    assert!(out.contains("description: bulk entry 24"), "{out}");
    // The server really paged: one "pagedresults: cookie=..." line per page.
    let pages = out
        .lines()
        .filter(|l| l.starts_with("pagedresults:"))
        .count();
    assert!(pages >= 5, "expected >= 5 pages, got {pages}:\n{out}");
}

#[test]
fn subtree_search_returns_a_referral() {
    let server = Slapd::start();
    let out = assert_ok(
        "subtree ldapsearch",
        &ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-H",
                &server.ldap_url(),
                "-b",
                slapd::BASE_DN,
                "(objectClass=*)",
                "dn",
            ],
        ),
    );
    assert!(
        out.contains(&format!("ref: {}", slapd::REFERRAL_URL)),
        "{out}"
    );
    assert!(out.contains("# numReferences: 1"), "{out}");
}

#[test]
fn user_changes_own_password_and_ppolicy_applies() {
    let server = Slapd::start();
    let url = server.ldap_url();
    let alice = slapd::user_dn("alice");
    let old = slapd::user_password("alice");
    let new = "Alice-N3w-Passw0rd";

    // Too short: rejected by ppolicy (rc 19; ldappasswd itself exits 1).
    let out = ldap_tool(
        "ldappasswd",
        &[
            "-x", "-H", &url, "-D", &alice, "-w", old, "-a", old, "-s", "short",
        ],
    );
    assert_ldap_error(&out, 19, "");

    assert_ok(
        "ldappasswd as alice",
        &ldap_tool(
            "ldappasswd",
            &[
                "-x", "-H", &url, "-D", &alice, "-w", old, "-a", old, "-s", new,
            ],
        ),
    );
    let who = assert_ok(
        "whoami with new password",
        &ldap_tool("ldapwhoami", &["-x", "-H", &url, "-D", &alice, "-w", new]),
    );
    assert_eq!(who.trim(), format!("dn:{alice}"));
    let out = ldap_tool("ldapwhoami", &["-x", "-H", &url, "-D", &alice, "-w", old]);
    assert_eq!(out.status.code(), Some(49), "old password still works");
}

#[test]
fn helpdesk_and_admin_reset_passwords() {
    let server = Slapd::start();
    let url = server.ldaps_url();
    let bob = Slapd::user_dn("bob");
    let reset = |binddn: &str, pw: &str, newpw: &str| {
        ldap_tool(
            "ldappasswd",
            &["-x", "-H", &url, "-D", binddn, "-w", pw, "-s", newpw, &bob],
        )
    };
    // helpdesk is subject to ppolicy, the rootdn is not.
    assert_ldap_error(
        &reset(Slapd::HELPDESK_DN, Slapd::HELPDESK_PW, "short"),
        19,
        "",
    );
    assert_ok(
        "helpdesk reset",
        &reset(Slapd::HELPDESK_DN, Slapd::HELPDESK_PW, "Bob-Reset-Passw0rd"),
    );
    assert_ok(
        "admin reset",
        &reset(Slapd::ADMIN_DN, Slapd::ADMIN_PW, "short"),
    );
    assert_ok(
        "whoami as bob",
        &ldap_tool("ldapwhoami", &["-x", "-H", &url, "-D", &bob, "-w", "short"]),
    );
    // carol cannot touch bob's password.
    let carol = slapd::user_dn("carol");
    let out = reset(&carol, slapd::user_password("carol"), "Carol-Was-Here-1");
    assert_ldap_error(&out, 50, "");
}

#[test]
fn ldapmodify_from_stdin_and_cn_config_access() {
    let server = Slapd::start();
    let url = server.ldap_url();
    let ldif = format!(
        "dn: {}\nchangetype: modify\nreplace: mail\nmail: carol@example.org\n",
        slapd::user_dn("carol")
    );
    assert_ok(
        "ldapmodify as admin",
        &ldap_tool_stdin(
            "ldapmodify",
            &[
                "-x",
                "-H",
                &url,
                "-D",
                slapd::ADMIN_DN,
                "-w",
                slapd::ADMIN_PW,
            ],
            &ldif,
        ),
    );
    let out = assert_ok(
        "search carol",
        &ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-H",
                &url,
                "-b",
                slapd::PEOPLE_DN,
                "(uid=carol)",
                "mail",
            ],
        ),
    );
    assert!(out.contains("mail: carol@example.org"), "{out}");
    // cn=config is reachable and has the ppolicy overlay.
    let out = assert_ok(
        "cn=config search",
        &ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-H",
                &url,
                "-D",
                slapd::CONFIG_ADMIN_DN,
                "-w",
                slapd::ADMIN_PW,
                "-b",
                "cn=config",
                "(olcOverlay=*)",
                "olcPPolicyHashCleartext",
            ],
        ),
    );
    assert!(out.contains("olcPPolicyHashCleartext: TRUE"), "{out}");
}

#[test]
fn two_instances_run_at_once_and_stop_on_drop() {
    let a = Slapd::start();
    let b = Slapd::start();
    let ports = [a.port, a.tls_port, b.port, b.tls_port];
    for (i, p) in ports.iter().enumerate() {
        assert!(
            !ports[i + 1..].contains(p),
            "port {p} used twice: {ports:?}"
        );
    }
    // A change in one is not seen by the other.
    let ldif = format!("dn: {}\nchangetype: delete\n", slapd::user_dn("carol"));
    assert_ok(
        "delete carol in a",
        &ldap_tool_stdin(
            "ldapmodify",
            &[
                "-x",
                "-H",
                &a.ldap_url(),
                "-D",
                slapd::ADMIN_DN,
                "-w",
                slapd::ADMIN_PW,
            ],
            &ldif,
        ),
    );
    let count = |server: &Slapd| {
        let out = assert_ok(
            "search carol",
            &ldap_tool(
                "ldapsearch",
                &[
                    "-x",
                    "-LLL",
                    "-H",
                    &server.ldaps_url(),
                    "-b",
                    slapd::PEOPLE_DN,
                    "(uid=carol)",
                    "dn",
                ],
            ),
        );
        out.lines().filter(|l| l.starts_with("dn: ")).count()
    };
    assert_eq!(count(&a), 0);
    assert_eq!(count(&b), 1);

    let (url, dir) = (a.ldap_url(), a.dir().to_path_buf());
    drop(a);
    assert!(!dir.exists(), "temp dir {} left behind", dir.display());
    let out = ldap_tool(
        "ldapsearch",
        &[
            "-x",
            "-o",
            "nettimeout=2",
            "-H",
            &url,
            "-b",
            "",
            "-s",
            "base",
        ],
    );
    assert!(!out.status.success(), "slapd still answers after drop");
    assert_eq!(count(&b), 1);
}

#[test]
fn start_is_quick() {
    let _warm = Slapd::start(); // certificates and password hashes are made once per process
    let t = std::time::Instant::now();
    let server = Slapd::start();
    let elapsed = t.elapsed();
    eprintln!(
        "Slapd::start took {elapsed:?} (ports {}/{})",
        server.port, server.tls_port
    );
    assert!(
        elapsed < std::time::Duration::from_secs(5),
        "Slapd::start took {elapsed:?}"
    );
}

// ---------------------------------------------------------------------------
// The encoders of tests/common/tools.rs

#[test]
fn base64_helper_matches_a_known_value() {
    // `ldapmodify` decodes these values, so a wrong encoder would make the
    // unicodePwd tests (tests/password.rs) test nothing.
    assert_eq!(base64(b"\"Pw\""), "IlB3Ig==");
    assert_eq!(unicode_pwd("a"), "IgBhACIA");
}

#[test]
fn base64_encoder_matches_rfc4648_vectors() {
    for (input, expected) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), expected, "base64({input:?})");
    }
    // The unicodePwd value of `"newPassword"` as Microsoft documents it.
    assert_eq!(
        base64(&utf16le("\"newPassword\"")),
        "IgBuAGUAdwBQAGEAcwBzAHcAbwByAGQAIgA="
    );
    assert_eq!(hex(b"Az\x00\xff"), "417a00ff");
}
