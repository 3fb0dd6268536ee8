//! The audit file of the real binary: JSON lines with a hash chain that
//! `pwgate audit verify` checks, a summary at shutdown, no passwords.

mod common;

use std::process::Command;

use common::process::{PwgateProcess, PWGATE};
use common::slapd::{self, user_dn, Slapd};
use common::tools::{assert_ldap_error, assert_ok, passwd_starttls};

const STRONG: &str = "tangerine-Otter-42-lamp";
const WEAK: &str = "P@ssw0rd2024!";

fn verify(files: &[&std::path::Path]) -> (i32, String) {
    let out = Command::new(PWGATE)
        .args(["audit", "verify"])
        .args(files)
        .output()
        .expect("run pwgate audit verify");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `pwgate audit report --json` on `files`: exit status and the figures.
fn report_json(files: &[&std::path::Path]) -> (i32, serde_json::Value, String) {
    let out = Command::new(PWGATE)
        .args(["audit", "report", "--json"])
        .args(files)
        .output()
        .expect("run pwgate audit report");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let figures = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), figures, stderr)
}

#[test]
fn decisions_are_chained_in_the_audit_file_and_tampering_is_found() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let audit = dir.path().join("audit.jsonl");
    // A stand-in for /dev/log.
    let syslog_path = dir.path().join("log");
    let syslog =
        std::os::unix::net::UnixDatagram::bind(&syslog_path).expect("bind a syslog socket");
    syslog.set_nonblocking(true).expect("non-blocking");
    let config = dir.path().join("pwgate.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\nfile = \"{}\"\nchain = true\nsummary_interval_secs = 3600\nsyslog = \"{}\"\n",
            audit.display(),
            syslog_path.display()
        ),
    )
    .expect("write config");
    // The log level does not matter for the audit file.
    let mut gate = PwgateProcess::start(
        &[
            "--upstream",
            &slapd.ldap_url(),
            "--config",
            config.to_str().expect("UTF-8"),
            "--log-level",
            "info",
        ],
        dir.path(),
    );
    let alice = user_dn("alice");
    let old = slapd::user_password("alice");
    assert_ldap_error(
        &passwd_starttls(&gate.ldap_url(), &alice, old, WEAK, &[]),
        19,
        "[banned_word]",
    );
    assert_ok(
        "strong change",
        &passwd_starttls(&gate.ldap_url(), &alice, old, STRONG, &[]),
    );
    assert!(gate.stop().is_some_and(|s| s.success()));

    let text = std::fs::read_to_string(&audit).expect("read the audit file");
    let lines: Vec<&str> = text.lines().collect();
    // refused decision, accepted decision, the directory's result, summary.
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].contains("\"event\":\"password_decision\"")
            && lines[0].contains("\"verdict\":\"refused\""),
        "{text}"
    );
    assert!(lines[0].contains("\"rules\":\"banned_word\""), "{text}");
    assert!(
        lines[2].contains("\"event\":\"password_result\"")
            && lines[2].contains("\"result_code\":\"0\""),
        "{text}"
    );
    assert!(lines[3].contains("\"event\":\"audit_summary\""), "{text}");
    assert!(lines[3].contains("would have refused 0 of 2"), "{text}");
    assert!(lines[3].contains("top rules: banned_word:1"), "{text}");
    for secret in [WEAK, STRONG, old] {
        assert!(!text.contains(secret), "a password is in the audit file");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&audit)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the audit file is readable by others: {mode:o}"
        );
    }

    // The same records reached syslog, as RFC 5424 messages.
    let mut buf = vec![0u8; 65536];
    let mut messages = Vec::new();
    while let Ok(n) = syslog.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert!(
        messages
            .iter()
            .all(|m| m.starts_with("<86>1 ") && m.contains(" pwgate ")),
        "{messages:?}"
    );
    assert!(messages[0].ends_with(lines[0]), "{messages:?}");

    let (code, out) = verify(&[&audit]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact: 4 records, from the start of the chain"),
        "{out}"
    );

    // The report counts what this trail holds.
    let (code, f, err) = report_json(&[&audit]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(f["records"], 4, "{f}");
    assert_eq!(f["chain"]["intact"], true, "{f}");
    assert_eq!(f["chain"]["chained_records"], 4, "{f}");
    assert_eq!(f["decisions"]["accepted"], 1, "{f}");
    assert_eq!(f["decisions"]["refused"], 1, "{f}");
    assert_eq!(f["decisions"]["would_refuse"], 0, "{f}");
    assert_eq!(f["refused_by_rule"]["banned_word"], 1, "{f}");
    assert_eq!(f["by_door"]["ldap"]["refused"], 1, "{f}");
    assert_eq!(f["by_scope"]["default"]["accepted"], 1, "{f}");
    assert_eq!(f["directory_answers"]["success"], 1, "{f}");
    assert_eq!(f["would_refuse_share"], 0.0, "{f}");
    let today = lines[0]
        .split("\"ts\":\"")
        .nth(1)
        .and_then(|t| t.get(..10))
        .expect("a ts");
    assert_eq!(f["by_day"][today]["refused"], 1, "{f}");
    // The page: one file, nothing fetched, the figures in it.
    let page_path = dir.path().join("report.html");
    let out = Command::new(PWGATE)
        .args(["audit", "report", "-o"])
        .arg(&page_path)
        .arg(&audit)
        .output()
        .expect("run pwgate audit report -o");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&page_path).expect("the report");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("Hash chain intact"), "{page}");
    assert!(page.contains(">banned_word<"), "{page}");
    assert!(
        !page.contains("https://") && !page.contains(" src="),
        "not self-contained"
    );
    for secret in [WEAK, STRONG, old, "alice"] {
        assert!(!page.contains(secret), "{secret} is in the report");
    }

    // Someone turns the refusal into an acceptance.
    std::fs::write(
        &audit,
        text.replacen("\"verdict\":\"refused\"", "\"verdict\":\"accepted\"", 1),
    )
    .expect("tamper");
    let (code, out) = verify(&[&audit]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("audit.jsonl:1: the record was changed"),
        "{out}"
    );
    // The report says where, leaves that record out and counts the rest.
    let (code, f, err) = report_json(&[&audit]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("NOT intact"), "{err}");
    assert_eq!(f["chain"]["intact"], false, "{f}");
    assert!(
        f["problems"][0]["at"]
            .as_str()
            .is_some_and(|a| a.ends_with("audit.jsonl:1"))
            && f["problems"][0]["what"]
                .as_str()
                .is_some_and(|w| w.starts_with("changed")),
        "{f}"
    );
    assert_eq!(
        f["decisions"]["accepted"], 1,
        "the changed record is not counted: {f}"
    );
    assert_eq!(f["decisions"]["refused"], 0, "{f}");
    assert_eq!(f["records"], 3, "{f}");
    // A trail cut off mid-record (a full disk): the cut record is named.
    let cut = &text[..text.len() - 20];
    std::fs::write(&audit, cut).expect("truncate");
    let (code, f, _) = report_json(&[&audit]);
    assert_eq!(code, 1);
    assert!(
        f["problems"][0]["what"]
            .as_str()
            .is_some_and(|w| w.starts_with("truncated"))
            && f["problems"][0]["at"]
                .as_str()
                .is_some_and(|a| a.ends_with("audit.jsonl:4")),
        "{f}"
    );
    assert_eq!(f["decisions"]["refused"], 1, "{f}");
    assert_eq!(f["decisions"]["accepted"], 1, "{f}");

    // Someone deletes the refusal.
    std::fs::write(&audit, lines[1..].join("\n")).expect("tamper");
    let (code, out) = verify(&[&audit]);
    assert_eq!(code, 0, "a chain may start mid-way (rotation): {out}");
    assert!(
        out.contains("continuing from"),
        "a deleted head shows as a continuation: {out}"
    );
    std::fs::write(&audit, [lines[0], lines[2], lines[3]].join("\n")).expect("tamper");
    let (code, out) = verify(&[&audit]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("audit.jsonl:2: the chain is broken"), "{out}");
}

/// The real binary in front of `slapd`, with its audit events as JSON
/// lines in its log.
fn json_logging_gate(slapd: &Slapd, dir: &std::path::Path) -> PwgateProcess {
    PwgateProcess::start(
        &[
            "--upstream",
            &slapd.ldap_url(),
            "--log-level",
            "info",
            "--log-format",
            "json",
        ],
        dir,
    )
}

/// A simple bind and a password change sent in one write over LDAPS,
/// without waiting for the bind's answer (as asynchronous clients do):
/// pwgate holds the change until the bind is answered, then decides with
/// the identity the bind established, and refuses when the bind failed.
#[test]
fn a_change_pipelined_behind_its_bind_is_decided_for_the_bound_identity() {
    use common::raw::{ldap_message, octets, tlv};

    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = json_logging_gate(&slapd, dir.path());
    let partial =
        |attr: &str, value: &str| tlv(0x30, &[octets(attr), tlv(0x31, &octets(value))].concat());
    let modify = |msgid: u32, dn: &str, changes: &[(u32, &str)]| {
        let list: Vec<u8> = changes
            .iter()
            .flat_map(|(op, value)| {
                tlv(
                    0x30,
                    &[common::raw::int(0x0a, *op), partial("userPassword", value)].concat(),
                )
            })
            .collect();
        ldap_message(
            msgid,
            &tlv(0x66, &[octets(dn), tlv(0x30, &list)].concat()),
            &[],
        )
    };
    // Sends a bind and a change in one write; the change's result code.
    let pipelined = |bind_dn: &str, bind_pw: &str, change: Vec<u8>| {
        common::raw::pipelined_behind_bind(gate.ldaps_addr(), bind_dn, bind_pw, &change)
    };
    let alice = user_dn("alice");
    let bob = user_dn("bob");
    let helpdesk = slapd::HELPDESK_DN;
    // The user's own change: judged as alice, accepted, applied.
    let (code, text) = pipelined(
        &alice,
        slapd::user_password("alice"),
        modify(
            2,
            &alice,
            &[(1, slapd::user_password("alice")), (0, STRONG)],
        ),
    );
    assert_eq!(code, 0, "{text}");
    // A helpdesk reset with a weak password: refused by the policy.
    let (code, text) = pipelined(helpdesk, slapd::HELPDESK_PW, modify(2, &bob, &[(2, WEAK)]));
    assert_eq!(code, 19, "{text}");
    // ... and with a strong one: applied.
    let (code, text) = pipelined(
        helpdesk,
        slapd::HELPDESK_PW,
        modify(2, &bob, &[(2, STRONG)]),
    );
    assert_eq!(code, 0, "{text}");
    // A failed bind: the change is refused, not judged as anonymous.
    let (code, text) = pipelined(
        helpdesk,
        "not-the-password",
        modify(2, &bob, &[(2, STRONG)]),
    );
    assert_eq!(code, 53, "{text}");
    assert!(text.contains("bind"), "{text}");

    let direct = |dn: &str, pw: &str| {
        common::slapd::ldap_tool(
            "ldapwhoami",
            &["-x", "-H", &slapd.ldap_url(), "-D", dn, "-w", pw],
        )
        .status
        .success()
    };
    assert!(direct(&alice, STRONG), "alice's change landed");
    assert!(direct(&bob, STRONG), "bob's reset landed");
    assert!(gate.wait_for_log("bind_failed", 1, std::time::Duration::from_secs(5)));
    let log = gate.log_text();
    let decisions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"password_decision\""))
        .collect();
    assert_eq!(decisions.len(), 4, "{log}");
    assert!(
        decisions[0].contains(&format!("\"actor\":\"{alice}\"")),
        "{}",
        decisions[0]
    );
    assert!(
        decisions[0].contains("\"verdict\":\"accepted\""),
        "{}",
        decisions[0]
    );
    for d in &decisions[1..3] {
        assert!(d.contains(&format!("\"actor\":\"{helpdesk}\"")), "{d}");
    }
    assert!(
        decisions[1].contains("\"verdict\":\"refused\""),
        "{}",
        decisions[1]
    );
    assert!(
        decisions[3].contains("\"rules\":\"bind_failed\""),
        "{}",
        decisions[3]
    );
}

/// A request refused by the strict reading is audited with what was read
/// of it: the operation, its target, the password attribute it named and
/// why; and the directory never sees it.
#[test]
fn a_malformed_password_request_is_audited_truthfully() {
    use common::raw::{
        connect, ldap_message, octets, simple_bind, tls_wrap, tlv, FrameReader, Response,
    };
    use std::io::Write;

    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = json_logging_gate(&slapd, dir.path());
    let bob = user_dn("bob");
    // replace: "userPassword\0x" = weak; slapd's schema code would not see
    // the NUL the way pwgate's comparison does.
    let attr = tlv(
        0x30,
        &[tlv(0x04, b"userPassword\0x"), tlv(0x31, &octets(WEAK))].concat(),
    );
    let change = tlv(0x30, &[common::raw::int(0x0a, 2), attr].concat());
    let modify = ldap_message(
        2,
        &tlv(0x66, &[octets(&bob), tlv(0x30, &change)].concat()),
        &[],
    );
    let mut stream = tls_wrap(connect(gate.ldaps_addr()));
    stream
        .write_all(&simple_bind(1, slapd::HELPDESK_DN, slapd::HELPDESK_PW))
        .expect("send the bind");
    let mut reader = FrameReader::new(stream);
    let bound = reader
        .until(1, common::raw::BIND_RESPONSE)
        .pop()
        .expect("bound");
    assert_eq!(Response::parse(&bound).result_code(), 0);
    reader.reader.write_all(&modify).expect("send the modify");
    let answer = loop {
        let frame = reader.next_frame().expect("answers");
        let r = Response::parse(&frame);
        if r.msgid == 2 {
            break (r.result_code(), r.diagnostic());
        }
    };
    assert_eq!(answer.0, 2, "{}", answer.1);
    assert!(
        answer.1.contains("malformed request refused"),
        "{}",
        answer.1
    );
    assert!(gate.wait_for_log("request_refused", 1, std::time::Duration::from_secs(5)));
    let log = gate.log_text();
    let event = log
        .lines()
        .find(|l| l.contains("\"request_refused\""))
        .expect("an audit event");
    for field in [
        "\"operation\":\"modify\"".to_owned(),
        format!("\"target_dn\":\"{bob}\""),
        "\"attribute\":\"userPassword\"".to_owned(),
        "\"verdict\":\"refused\"".to_owned(),
        "\"rules\":\"malformed\"".to_owned(),
        format!("\"actor\":\"{}\"", slapd::HELPDESK_DN),
    ] {
        assert!(event.contains(&field), "{field} missing in {event}");
    }
    assert!(!log.contains(WEAK), "the password is not logged");
    let still = common::slapd::ldap_tool(
        "ldapwhoami",
        &[
            "-x",
            "-H",
            &slapd.ldap_url(),
            "-D",
            &bob,
            "-w",
            slapd::user_password("bob"),
        ],
    );
    assert!(still.status.success(), "bob's password is unchanged");
}
