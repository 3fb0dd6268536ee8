//! Graceful shutdown, seen from raw sockets on 127.0.0.1.
//!
//! With the real binary and SIGTERM, in front of a private slapd:
//! - idle clients (one that never sent anything, one bound over plain LDAP,
//!   one bound over LDAPS) each get a Notice of Disconnection
//!   (`unavailable`, "pwgate is shutting down") and then end of stream;
//! - a search and a password change in flight when SIGTERM arrives get
//!   their answers (and the change its audit record) before the notice,
//!   while new connections are already refused.
//!
//! To hold a request in flight with a real server, slapd is paused
//! (SIGSTOP) once pwgate has forwarded the requests (its metrics say so) and
//! resumed (SIGCONT) after the SIGTERM: the requests wait in slapd's socket
//! buffer, exactly as a slow answer would.
//!
//! In-process, with a short grace period: a session whose answer does not
//! come within it is aborted, its client sees the connection end, the open
//! connections gauge returns to 0, and the password change it had forwarded
//! is audited with an unknown outcome.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use common::process::PwgateProcess;
use common::pwgate::Pwgate;
use common::raw::{
    assert_notice_then_eof, bystander, connect, extended_request, present, search_request,
    simple_bind, tls_wrap, FrameReader, Response, BIND_RESPONSE, EXTENDED_RESPONSE,
    OID_NOTICE_OF_DISCONNECTION, OID_PASSWORD_MODIFY, SCOPE_SUBTREE, SEARCH_RESULT_DONE,
    SEARCH_RESULT_ENTRY, UNAVAILABLE,
};
use common::slapd::{user_dn, user_password, Slapd, BULK_DN, BULK_ENTRIES};
use common::tools::{http_get, two_free_ports};
use common::wire::passwd_modify_value;

/// The Notice of Disconnection's text on shutdown.
const SHUTTING_DOWN: &str = "pwgate is shutting down";
/// A password slapd's and pwgate's default policies accept.
const STRONG: &str = "tangerine-Otter-42-lamp";
/// Bound on waits for pwgate's log, its metrics and its exit.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Helpers

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pwgate-shutdown-")
        .tempdir()
        .expect("cannot create a temp dir")
}

/// Sends `signal` (`-TERM`, `-STOP`, `-CONT`) to `pid` with `kill`.
#[track_caller]
fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

/// slapd stopped (SIGSTOP) until resumed or dropped (SIGCONT), so a failing
/// test does not leave it stopped.
struct Paused<'a> {
    slapd: &'a Slapd,
    resumed: bool,
}

impl<'a> Paused<'a> {
    fn new(slapd: &'a Slapd) -> Paused<'a> {
        kill("-STOP", slapd.pid());
        // kill(2) returns before the signal has stopped every thread: a
        // thread already running may still answer a request sent now.
        // Wait (bounded) until all of slapd's threads are stopped (`T`).
        let pid = slapd.pid();
        wait_until("slapd stopped", || all_threads_stopped(pid));
        Paused {
            slapd,
            resumed: false,
        }
    }

    fn resume(&mut self) {
        if !self.resumed {
            self.resumed = true;
            kill("-CONT", self.slapd.pid());
        }
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.resume();
    }
}

/// Whether every thread of `pid` is in the stopped state (`T`), as
/// /proc/PID/task/*/stat says.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            return false;
        };
        // `pid (comm) S ...`: the state follows the last `)`.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if state != Some('T') {
            return false;
        }
        any = true;
    }
    any
}

/// Polls `check` every 20 ms until it is true; panics after [`WAIT`].
#[track_caller]
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// A Password Modify request (RFC 3062) changing alice's password to `new`.
fn alice_password_modify(msgid: u32, new: &str) -> Vec<u8> {
    let alice = user_dn("alice");
    let value = passwd_modify_value(&[
        (0x80, alice.as_bytes()),
        (0x81, user_password("alice").as_bytes()),
        (0x82, new.as_bytes()),
    ]);
    extended_request(msgid, OID_PASSWORD_MODIFY, Some(&value))
}

/// A subtree search under [`BULK_DN`] for its `uid=bulkNN` entries.
fn bulk_search(msgid: u32) -> Vec<u8> {
    search_request(
        msgid,
        BULK_DN,
        SCOPE_SUBTREE,
        &present("uid"),
        &["uid"],
        &[],
    )
}

/// A plain connection bound as alice (msgid 1, answered with success).
fn bound_as_alice(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = connect(addr);
    stream
        .write_all(&simple_bind(1, &user_dn("alice"), user_password("alice")))
        .expect("write bind");
    let mut reader = FrameReader::new(stream.try_clone().expect("clone socket"));
    let frames = reader.until(1, BIND_RESPONSE);
    assert_eq!(Response::parse(&frames[0]).result_code(), 0, "alice binds");
    stream
}

/// Asserts `frame` is a Notice of Disconnection for the shutdown.
#[track_caller]
fn assert_shutdown_notice(frame: &[u8]) {
    let notice = Response::parse(frame);
    assert_eq!(notice.msgid, 0, "a notice has message ID 0");
    assert_eq!(notice.op, EXTENDED_RESPONSE);
    assert_eq!(
        notice.response_name().as_deref(),
        Some(OID_NOTICE_OF_DISCONNECTION)
    );
    assert_eq!(notice.result_code(), UNAVAILABLE);
    assert_eq!(notice.diagnostic(), SHUTTING_DOWN);
}

// ---------------------------------------------------------------------------
// The real binary, SIGTERM

#[test]
fn idle_clients_get_a_notice_of_disconnection_on_sigterm() {
    let slapd = Slapd::start();
    let dir = temp_dir();
    let (metrics_port, _) = two_free_ports();
    let listen = format!("127.0.0.1:{metrics_port}");
    let mut pwgate = PwgateProcess::start(
        &["--upstream", &slapd.ldap_url(), "--metrics-listen", &listen],
        dir.path(),
    );
    // Never sent anything (and holds no directory connection).
    let silent = connect(pwgate.addr());
    // Bound anonymously over plain LDAP and over LDAPS.
    let (bound, _) = bystander(pwgate.addr());
    let mut ldaps = FrameReader::new(tls_wrap(connect(pwgate.ldaps_addr())));
    ldaps
        .reader
        .write_all(&simple_bind(1, "", ""))
        .expect("LDAPS bind");
    let answer = ldaps.until(1, BIND_RESPONSE);
    assert_eq!(Response::parse(&answer[0]).result_code(), 0);
    // All three are sessions (the silent one accepted, not in the backlog).
    wait_until("three open connections", || {
        has_line(
            &http_get(metrics_port, "/metrics").1,
            "pwgate_connections_open 3",
        )
    });

    kill("-TERM", pwgate.pid());
    assert_eq!(assert_notice_then_eof(silent, UNAVAILABLE), SHUTTING_DOWN);
    assert_eq!(assert_notice_then_eof(bound, UNAVAILABLE), SHUTTING_DOWN);
    let frames = ldaps.until_eof();
    assert_eq!(frames.len(), 1, "expected one notice, got {frames:02x?}");
    assert_shutdown_notice(&frames[0]);

    let status = pwgate.stop().expect("pwgate exits after SIGTERM");
    assert!(status.success(), "{status}");
    let log = pwgate.log_text();
    assert!(log.contains("all sessions closed"), "{log}");
    assert!(
        !log.contains("grace period over"),
        "idle sessions closed themselves, none was aborted:\n{log}"
    );
}

#[test]
fn requests_in_flight_at_sigterm_are_answered_before_the_notice() {
    let slapd = Slapd::start();
    let dir = temp_dir();
    let (metrics_port, _) = two_free_ports();
    let listen = format!("127.0.0.1:{metrics_port}");
    let mut pwgate = PwgateProcess::start(
        &[
            "--upstream",
            &slapd.ldap_url(),
            "--allow-cleartext-binds",
            "--allow-cleartext-password-changes",
            "--metrics-listen",
            &listen,
            "--log-format",
            "json",
        ],
        dir.path(),
    );
    let mut stream = bound_as_alice(pwgate.addr());

    // slapd stops answering; the search and the change reach its socket.
    let mut paused = Paused::new(&slapd);
    stream
        .write_all(&[bulk_search(2), alice_password_modify(3, STRONG)].concat())
        .expect("write the search and the change");
    wait_until("both requests forwarded", || {
        let metrics = http_get(metrics_port, "/metrics").1;
        has_line(&metrics, "pwgate_forwarded_requests_total{op=\"search\"} 1")
            && has_line(
                &metrics,
                "pwgate_forwarded_requests_total{op=\"extended\"} 1",
            )
    });

    kill("-TERM", pwgate.pid());
    assert!(
        pwgate.wait_for_log("no longer accepting", 1, WAIT),
        "no shutdown message:\n{}",
        pwgate.log_text()
    );
    // New connections are refused, on both listeners...
    for addr in [pwgate.addr(), pwgate.ldaps_addr()] {
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
            "{addr} still accepts after SIGTERM"
        );
    }
    // ...while the answers to what was in flight still come back, then
    // the notice, then the end of the connection.
    paused.resume();
    let frames = FrameReader::new(stream).until_eof();
    let responses: Vec<Response> = frames.iter().map(|f| Response::parse(f)).collect();
    let last = frames.last().expect("some answers");
    assert_shutdown_notice(last);
    let answers = &responses[..responses.len() - 1];
    let entries = answers
        .iter()
        .filter(|r| r.msgid == 2 && r.op == SEARCH_RESULT_ENTRY)
        .count();
    assert_eq!(entries, BULK_ENTRIES, "{frames:02x?}");
    let done: Vec<&Response> = answers
        .iter()
        .filter(|r| r.msgid == 2 && r.op == SEARCH_RESULT_DONE)
        .collect();
    assert_eq!(done.len(), 1, "{frames:02x?}");
    assert_eq!(done[0].result_code(), 0);
    let changed: Vec<&Response> = answers
        .iter()
        .filter(|r| r.msgid == 3 && r.op == EXTENDED_RESPONSE)
        .collect();
    assert_eq!(changed.len(), 1, "{frames:02x?}");
    assert_eq!(changed[0].result_code(), 0, "{}", changed[0].diagnostic());
    assert_eq!(
        answers.len(),
        BULK_ENTRIES + 2,
        "nothing but the answers and the notice: {frames:02x?}"
    );

    let status = pwgate.stop().expect("pwgate exits after SIGTERM");
    assert!(status.success(), "{status}");
    let log = pwgate.log_text();
    let results: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("\"event\":\"password_result\"")
                && l.contains("\"msgid\":3")
                && l.contains("\"result_code\":\"0\"")
        })
        .collect();
    assert_eq!(results.len(), 1, "the change's outcome is audited:\n{log}");
    assert!(!log.contains("grace period over"), "{log}");
    assert!(!log.contains(STRONG), "the password is in the log");
}

// ---------------------------------------------------------------------------
// In-process, beyond the grace period

/// pwgate's events, captured by a global subscriber: sessions run on
/// pwgate's own worker threads, so a thread-local one would miss them.
static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_events() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| Capture)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
}

fn captured() -> String {
    String::from_utf8_lossy(&CAPTURED.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

#[test]
fn sessions_busy_after_the_grace_period_are_aborted_and_leave_the_gauge() {
    capture_events();
    let slapd = Slapd::start();
    let toml = "[listen]\nallow_cleartext_binds = true\nallow_cleartext_password_changes = true\n";
    let grace = Duration::from_millis(500);
    let mut pwgate =
        Pwgate::start_config_with_grace(Pwgate::config(&slapd.ldap_url(), toml), grace);
    let cell = pwgate.cell.clone();
    let open = || cell.metrics().connections_open.load(Ordering::Relaxed);
    let idle = connect(pwgate.ldap_addr);
    let mut busy = bound_as_alice(pwgate.ldap_addr);
    wait_until("two open connections", || open() == 2);

    // slapd never answers within the grace period.
    let _paused = Paused::new(&slapd);
    busy.write_all(&[bulk_search(2), alice_password_modify(3, STRONG)].concat())
        .expect("write the search and the change");
    wait_until("both requests forwarded", || {
        let metrics = cell.metrics().render();
        has_line(&metrics, "pwgate_forwarded_requests_total{op=\"search\"} 1")
            && has_line(
                &metrics,
                "pwgate_forwarded_requests_total{op=\"extended\"} 1",
            )
    });

    let started = Instant::now();
    assert!(
        pwgate.stop(grace + WAIT),
        "the server did not return after its grace period"
    );
    assert!(
        started.elapsed() >= grace,
        "returned before the grace period"
    );
    assert_eq!(open(), 0, "aborted sessions are no longer counted");
    assert!(has_line(
        &cell.metrics().render(),
        "pwgate_connections_open 0"
    ));
    // The idle session closed itself with a notice; the busy one was
    // aborted: its connection ends with neither answers nor notice.
    assert_eq!(assert_notice_then_eof(idle, UNAVAILABLE), SHUTTING_DOWN);
    let frames = FrameReader::new(busy).until_eof();
    assert!(frames.is_empty(), "an aborted session sent {frames:02x?}");
    // The change it had forwarded is audited, with an unknown outcome.
    let events = captured();
    let results: Vec<&str> = events
        .lines()
        .filter(|l| {
            l.contains("\"event\":\"password_result\"")
                && l.contains("\"msgid\":3")
                && l.contains("\"result_code\":\"unknown\"")
        })
        .collect();
    assert_eq!(results.len(), 1, "events:\n{events}");
    assert!(events.contains("grace period over"), "{events}");
}

#[test]
fn the_binary_s_grace_period_comes_from_the_configuration() {
    let slapd = Slapd::start();
    let dir = temp_dir();
    let (metrics_port, _) = two_free_ports();
    let config = dir.path().join("pwgate.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurls = [\"{}\"]\n\n[limits]\nshutdown_grace_secs = 1\n\n\
             [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n",
            slapd.ldap_url()
        ),
    )
    .expect("write the config");
    let mut pwgate = PwgateProcess::start(
        &[
            "--config",
            config.to_str().expect("UTF-8 path"),
            "--log-format",
            "json",
        ],
        dir.path(),
    );
    let mut stream = connect(pwgate.addr());
    // slapd stops answering; the search waits in its socket.
    let mut paused = Paused::new(&slapd);
    stream.write_all(&bulk_search(2)).expect("write the search");
    wait_until("the search forwarded", || {
        has_line(
            &http_get(metrics_port, "/metrics").1,
            "pwgate_forwarded_requests_total{op=\"search\"} 1",
        )
    });
    kill("-TERM", pwgate.pid());
    assert!(
        pwgate.wait_for_log("grace period over", 1, WAIT),
        "the session was not cut off after the configured 1 s:\n{}",
        pwgate.log_text()
    );
    paused.resume();
    let status = pwgate.stop().expect("pwgate exits after SIGTERM");
    assert!(status.success(), "{status}");
    let log = pwgate.log_text();
    let over: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("grace period over"))
        .collect();
    assert_eq!(over.len(), 1, "{log}");
    assert!(over[0].contains("\"grace_secs\":1.0"), "{}", over[0]);
}
