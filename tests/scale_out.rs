//! Two pwgate instances behind HAProxy in TCP mode, with health checks on
//! `/readyz`: one is killed in the middle of a run of password changes.
//! Every change a client saw succeed is in the directory, and clients go on
//! through the other instance.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::process::PwgateProcess;
use common::slapd::{ldap_tool, user_dn, Slapd};
use common::tools::{describe, terminate};

const PASSWORDS: [&str; 2] = ["tangerine-Otter-42-lamp", "Kv7#qLp2-Tz9!mWd-x"];
const CHANGES: usize = 30;
const KILL_AFTER: usize = 10;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        terminate(&mut self.0, Duration::from_secs(5));
    }
}

fn start_haproxy(dir: &Path, port: u16, backends: &[(u16, u16)]) -> Haproxy {
    let mut servers = String::new();
    for (i, (ldap, metrics)) in backends.iter().enumerate() {
        servers.push_str(&format!(
            "  server pwgate{i} 127.0.0.1:{ldap} check port {metrics} inter 100ms fall 1 rise 2\n"
        ));
    }
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 256\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  retries 2\n  option redispatch 1\n\
             frontend ldap\n  bind 127.0.0.1:{port}\n  default_backend pwgates\n\
             backend pwgates\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n{servers}"
        ),
    )
    .expect("write haproxy.cfg");
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run haproxy (run scripts/install-deps.sh): {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "haproxy did not listen on {port}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    Haproxy(child)
}

fn binds(slapd: &Slapd, dn: &str, password: &str) -> bool {
    ldap_tool(
        "ldapwhoami",
        &["-x", "-H", &slapd.ldap_url(), "-D", dn, "-w", password],
    )
    .status
    .success()
}

#[test]
fn killing_one_instance_behind_haproxy_loses_no_accepted_change() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let start = |name: &str| {
        let metrics = free_port();
        let d = dir.path().join(name);
        std::fs::create_dir(&d).expect("dir");
        let p = PwgateProcess::start(
            &[
                "--upstream",
                &slapd.ldap_url(),
                "--metrics-listen",
                &format!("127.0.0.1:{metrics}"),
            ],
            &d,
        );
        (p, metrics)
    };
    let (mut a, a_metrics) = start("a");
    let (b, b_metrics) = start("b");
    let port = free_port();
    let _haproxy = start_haproxy(
        dir.path(),
        port,
        &[(a.addr().port(), a_metrics), (b.addr().port(), b_metrics)],
    );
    // Both healthy before the run (rise 2 at 100 ms).
    thread::sleep(Duration::from_millis(400));

    let url = format!("ldap://127.0.0.1:{port}");
    let alice = user_dn("alice");
    let mut current = common::slapd::user_password("alice").to_owned();
    let (mut ok, mut failed) = (0, 0);
    let mut failed_after_recovery = Vec::new();
    let mut killed_at = None;
    for i in 0..CHANGES {
        if i == KILL_AFTER {
            a.kill();
            killed_at = Some(Instant::now());
        }
        let new = PASSWORDS[i % 2];
        let new = if new == current {
            PASSWORDS[(i + 1) % 2]
        } else {
            new
        };
        // Each ldappasswd is a new connection, as a portal would open.
        let out = ldap_tool(
            "ldappasswd",
            &[
                "-x", "-ZZ", "-H", &url, "-D", &alice, "-w", &current, "-a", &current, "-s", new,
            ],
        );
        if out.status.success() {
            ok += 1;
            // Acknowledged means in the directory, whichever instance served it.
            assert!(
                binds(&slapd, &alice, new),
                "change {i} was acknowledged but is not in slapd"
            );
            current = new.to_owned();
        } else {
            failed += 1;
            // A connection cut mid-operation: the outcome is unknown to the
            // client; the directory has one of the two passwords.
            if binds(&slapd, &alice, new) {
                current = new.to_owned();
            }
            assert!(
                binds(&slapd, &alice, &current),
                "neither password binds after change {i}"
            );
            if killed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2)) {
                failed_after_recovery.push(describe(&out));
            }
        }
    }
    eprintln!("{ok} of {CHANGES} changes acknowledged, {failed} failed around the kill");
    assert!(
        ok >= CHANGES - 3,
        "{ok} of {CHANGES} changes succeeded ({failed} failed)"
    );
    assert!(
        failed_after_recovery.is_empty(),
        "changes failed long after the kill, HAProxy should route to the survivor: {failed_after_recovery:?}"
    );
    // Both instances served changes (round robin), the survivor all after the kill.
    assert!(
        a.log_text().contains("\"password_decision\"")
            || a.log_text().contains("event=\"password_decision\"")
    );
    assert!(b.log_text().contains("password_decision"));
}
