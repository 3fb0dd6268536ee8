//! The LSA password filter for Windows DCs (`windows/filter/`), under
//! Wine: `filter_test.exe` loads the DLL as LSASS would and calls its
//! exports, the DLL asks a real pwgate over HTTPS (its decision API on
//! 127.0.0.1, a bearer token, the server certificate pinned), and pwgate's
//! audit trail, the DLL's events (Wine's `ReportEventW` traces) and its
//! verdicts are checked. pwgate stopped, a server that never answers and
//! a wrong certificate end in the fail mode or a refusal; odd and long
//! input is refused or decided, never a crash. No password appears in any
//! output.
//!
//! What this cannot show: LSASS itself, a real DC's calls, Windows' own
//! WinHTTP and Schannel (Wine's are used), the Event Viewer.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::https::{free_addr, identity};
use common::process::PwgateProcess;
use common::slapd::test_certs;
use common::tools::Background;
use common::wine::{Run, Value, Wine};
use sha2::Digest;

const STRONG: &str = "tangerine-Otter-42-lamp";
const STRONG2: &str = "violet-Heron-77-kettle";
const WEAK: &str = "Summer2025!";
const NAMED: &str = "alice-tangerine-Otter-42-lamp";
/// What filter_test passes to PasswordChangeNotify as NewPassword.
const NOTIFY_MARKER: &str = "NEVER-SENT-notify-password-4242";
const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0-dc1";

/// The SHA-256 of a PEM certificate's DER, in hex.
fn pin_of(pem: &Path) -> String {
    let pem = std::fs::read(pem).expect("read the certificate");
    let der = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .expect("a certificate")
        .expect("PEM");
    sha2::Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn server_pin() -> String {
    pin_of(&test_certs().server_cert)
}

/// A pwgate with the HTTPS decision API, a token for `dc1` and an audit file.
struct Gate {
    dir: tempfile::TempDir,
    process: PwgateProcess,
    addr: SocketAddr,
}

impl Gate {
    fn start() -> Gate {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = free_addr();
        let tokens = dir.path().join("api.tokens");
        std::fs::write(&tokens, format!("dc1:{SECRET}\n")).expect("write the tokens");
        let config = dir.path().join("pwgate.toml");
        std::fs::write(
            &config,
            format!(
                "[upstream]\nurls = [\"ldap://127.0.0.1:9\"]\n\n\
                 [service]\nhttps_listen = \"{addr}\"\ntoken_file = \"{}\"\n\n\
                 [audit]\nfile = \"{}\"\n",
                tokens.display(),
                dir.path().join("audit.jsonl").display()
            ),
        )
        .expect("write the config");
        let process = PwgateProcess::start(
            &[
                "--config",
                config.to_str().expect("UTF-8 path"),
                "--log-format",
                "json",
                "--log-level",
                "debug",
            ],
            dir.path(),
        );
        Gate { dir, process, addr }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn audit_text(&self) -> String {
        std::fs::read_to_string(self.audit_path()).unwrap_or_default()
    }

    /// The audit records of `event`.
    fn records(&self, event: &str) -> Vec<serde_json::Value> {
        self.audit_text()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON record"))
            .filter(|r| r["event"] == event)
            .collect()
    }

    /// The decisions about account `name`.
    fn decisions_of(&self, name: &str) -> Vec<serde_json::Value> {
        let target = format!("name:{name}");
        self.records("password_decision")
            .into_iter()
            .filter(|r| r["target_dn"] == target.as_str())
            .collect()
    }
}

/// The filter's registry values for `url`, pinned to pwgate's certificate,
/// plus `extra`.
fn configure(wine: &Wine, url: &str, extra: &[(&str, Value<'_>)]) {
    let pin = server_pin();
    let mut values = vec![
        ("Url", Value::Sz(url)),
        ("Token", Value::Sz(SECRET)),
        ("PinnedSha256", Value::Sz(&pin)),
    ];
    for (name, value) in extra {
        values.retain(|(n, _)| n != name);
        values.push((
            name,
            match value {
                Value::Sz(s) => Value::Sz(s),
                Value::Dword(n) => Value::Dword(*n),
            },
        ));
    }
    wine.configure(&values);
}

fn filter(wine: &Wine, account: &str, full_name: &str, password: &str, kind: &str) -> Run {
    wine.run(&["filter", account, full_name, password, kind])
}

#[track_caller]
fn assert_verdict(run: &Run, accepted: bool) {
    let (word, code) = if accepted {
        ("accepted", 0)
    } else {
        ("refused", 1)
    };
    assert!(
        run.code() == code && run.stdout.starts_with(word),
        "expected {word}: {}",
        run.describe()
    );
}

/// The one event of a run that mentions `needle`.
#[track_caller]
fn event_with(run: &Run, needle: &str) -> String {
    let events = run.events();
    events
        .iter()
        .find(|e| e.contains(needle))
        .cloned()
        .unwrap_or_else(|| panic!("no event with {needle:?} in {events:?}: {}", run.describe()))
}

/// No password (in any of the forms a leak could take) in `text`.
#[track_caller]
fn assert_no_password(what: &str, text: &str) {
    for secret in [
        STRONG,
        STRONG2,
        WEAK,
        NAMED,
        NOTIFY_MARKER,
        "Tangerine-Otter-42-",
    ] {
        assert!(!text.contains(secret), "{what} holds a password: {text}");
        let utf16: String = secret.chars().flat_map(|c| [c, '\0']).collect();
        assert!(!text.contains(&utf16), "{what} holds a password (UTF-16)");
    }
}

#[test]
fn the_filter_asks_pwgate_and_the_audit_trail_tells_the_change() {
    let wine = Wine::get();
    let _serial = wine.lock();
    let gate = Gate::start();
    configure(wine, &gate.url(), &[]);
    let mut runs = Vec::new();

    let run = wine.run(&["init"]);
    assert!(
        run.code() == 0 && run.stdout == "init TRUE",
        "{}",
        run.describe()
    );
    event_with(&run, "pwgate filter loaded");
    runs.push(run);

    // A user's change (SetOperation FALSE) to a weak password.
    let run = filter(wine, "alice", "Alice Liddell", WEAK, "change");
    assert_verdict(&run, false);
    let event = event_with(&run, "refused by pwgate's policy");
    assert!(
        event.contains("\\\"alice\\\"") && event.contains("change"),
        "{event}"
    );
    runs.push(run);
    // The names the DC gives count.
    let run = filter(wine, "alice", "Alice Liddell", NAMED, "reset");
    assert_verdict(&run, false);
    runs.push(run);
    // An administrator's reset (SetOperation TRUE) to a strong one.
    let run = filter(wine, "alice", "Alice Liddell", STRONG, "reset");
    assert_verdict(&run, true);
    assert!(run.events().is_empty(), "{:?}", run.events());
    runs.push(run);
    // No full name (a NULL Buffer), a user's change.
    let run = filter(wine, "bob", "-", STRONG2, "change");
    assert_verdict(&run, true);
    runs.push(run);

    // An account name that would rewrite the event's text (a right-to-left
    // override, a zero-width space, a line separator, an insertion "%1"):
    // shown with '?' for each (Wine's trace writes other non-ASCII
    // characters as \XXXX).
    let run = filter(
        wine,
        "ev%1\u{202e}gnp\u{200b}x\u{2028}y\u{feff}",
        "-",
        WEAK,
        "change",
    );
    assert_verdict(&run, false);
    let event = event_with(&run, "refused");
    assert!(event.contains("\\\"ev?1?gnp?x?y?\\\""), "{event}");
    runs.push(run);

    // The DC reports the changes it made.
    for (user, rid) in [("alice", "1104"), ("carol", "1200")] {
        let run = wine.run(&["notify", user, rid]);
        assert!(
            run.code() == 0 && run.stdout == "notify status=0x00000000",
            "{}",
            run.describe()
        );
        assert!(run.events().is_empty(), "{:?}", run.events());
        runs.push(run);
    }

    assert!(
        gate.process
            .wait_for_log("password_changed", 2, Duration::from_secs(5)),
        "{}",
        gate.process.log_text()
    );
    let alice = gate.decisions_of("alice");
    let summary: Vec<(&str, &str)> = alice
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("change", "refused"),
            ("reset", "refused"),
            ("reset", "accepted")
        ],
        "{alice:?}"
    );
    let rules = |r: &serde_json::Value| r["rules"].as_str().unwrap_or("").to_owned();
    assert!(rules(&alice[0]).contains("banned_word"), "{}", alice[0]);
    assert!(rules(&alice[1]).contains("account_name"), "{}", alice[1]);
    for r in &alice {
        assert_eq!(r["door"], "windows_filter", "{r}");
        assert_eq!(r["actor"], "unknown", "{r}");
        assert!(
            r["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("token:dc1@127.0.0.1:")),
            "{r}"
        );
    }
    let bob = gate.decisions_of("bob");
    assert!(
        bob.len() == 1 && bob[0]["kind"] == "change" && bob[0]["verdict"] == "accepted",
        "{bob:?}"
    );

    let changed = gate.records("password_changed");
    assert_eq!(changed.len(), 2, "{changed:?}");
    let accepted_client = alice[2]["client"].as_str().unwrap();
    assert_eq!(changed[0]["door"], "windows_filter");
    assert_eq!(changed[0]["target_dn"], "name:alice");
    assert_eq!(changed[0]["rid"], 1104);
    assert_eq!(
        changed[0]["confirms"],
        format!("windows_filter {accepted_client} reset").as_str(),
        "{}",
        changed[0]
    );
    // A change pwgate did not decide (another filter let it through, or
    // it is older than 30 s): reported, confirming nothing.
    assert_eq!(changed[1]["target_dn"], "name:carol");
    assert_eq!(changed[1]["confirms"], "none");

    for run in &runs {
        assert_no_password(
            "the filter's output",
            &format!("{}{}", run.stdout, run.stderr),
        );
    }
    assert_no_password("the audit trail", &gate.audit_text());
    let log = gate.process.log_text();
    assert_no_password("pwgate's log", &log);
    assert!(!log.contains(SECRET), "pwgate's log holds the token");
}

#[test]
fn pwgate_stopped_refuses_unless_the_fail_mode_allows() {
    let wine = Wine::get();
    let _serial = wine.lock();
    // Nothing listens there.
    let url = format!("https://{}", free_addr());
    configure(wine, &url, &[]);
    let run = filter(wine, "alice", "Alice Liddell", STRONG, "change");
    assert_verdict(&run, false);
    let event = event_with(&run, "could not be reached");
    assert!(event.contains("refused"), "{event}");
    assert_no_password("the filter's output", &run.stderr);

    configure(wine, &url, &[("FailMode", Value::Sz("allow"))]);
    let run = filter(wine, "alice", "Alice Liddell", WEAK, "change");
    assert_verdict(&run, true);
    event_with(&run, "ACCEPTED UNCHECKED (FailMode allow)");
    assert_no_password("the filter's output", &run.stderr);

    // A FailMode that is neither: refuse, and say so.
    configure(wine, &url, &[("FailMode", Value::Sz("alow"))]);
    let run = filter(wine, "alice", "Alice Liddell", STRONG, "change");
    assert_verdict(&run, false);
    event_with(&run, "FailMode in HKLM");

    // A URL with a user and password: refused, and the event does not
    // show them.
    let with_user = format!("https://dcfilter:hunter2-Url-secret@{}", free_addr());
    configure(wine, &with_user, &[("FailMode", Value::Sz("allow"))]);
    let run = filter(wine, "alice", "Alice Liddell", STRONG, "change");
    assert_verdict(&run, false);
    event_with(&run, "Url is not an https:// URL");
    assert!(
        !run.stderr.contains("hunter2-Url-secret") && !run.stderr.contains("dcfilter"),
        "the URL's credentials are in the output: {}",
        run.describe()
    );
}

/// A 127.0.0.1 listener that accepts connections and never answers, until
/// dropped (a real pwgate cannot be made slow on purpose).
struct Silent {
    addr: SocketAddr,
    worker: Background<usize>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let worker = Background::spawn(move |flag| {
            let mut held: Vec<TcpStream> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((s, _)) if held.len() < 64 => held.push(s),
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
                // Read (and drop) whatever comes, never answer.
                for s in &mut held {
                    let _ = s.set_nonblocking(true);
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                }
            }
            held.len()
        });
        Silent { addr, worker }
    }

    /// Stops it; how many connections it took.
    fn stop(self) -> usize {
        self.worker.stop()
    }
}

#[test]
fn a_server_that_never_answers_is_given_up_after_the_timeout() {
    let wine = Wine::get();
    let _serial = wine.lock();
    let silent = Silent::start();
    let url = format!("https://{}", silent.addr);
    for (fail_mode, accepted) in [("refuse", false), ("allow", true)] {
        configure(
            wine,
            &url,
            &[
                ("TimeoutMs", Value::Dword(1000)),
                ("FailMode", Value::Sz(fail_mode)),
            ],
        );
        let run = filter(wine, "alice", "Alice Liddell", STRONG, "change");
        assert_verdict(&run, accepted);
        // Not much less than 1 s; well under the 2 s default, which an
        // ignored TimeoutMs would give.
        let ms = run.elapsed_ms();
        assert!(
            (950..1800).contains(&ms),
            "TimeoutMs 1000, the call took {ms} ms: {}",
            run.describe()
        );
        event_with(
            &run,
            if accepted {
                "ACCEPTED UNCHECKED"
            } else {
                "did not answer in time"
            },
        );
        assert_no_password("the filter's output", &run.stderr);
    }
    // The default, 2 s, when TimeoutMs is not set (not 1 s, not 5 s), and
    // when it is not a REG_DWORD (said in an event).
    for timeout in [None, Some(Value::Sz("1000"))] {
        let noted = timeout.is_some();
        match timeout {
            Some(t) => configure(wine, &url, &[("TimeoutMs", t)]),
            None => configure(wine, &url, &[]),
        }
        let run = filter(wine, "alice", "Alice Liddell", STRONG, "change");
        assert_verdict(&run, false);
        let ms = run.elapsed_ms();
        assert!(
            (1950..4000).contains(&ms),
            "the default took {ms} ms: {}",
            run.describe()
        );
        let events = run.events();
        assert_eq!(
            events
                .iter()
                .any(|e| e.contains("TimeoutMs in HKLM") && e.contains("not a REG_DWORD")),
            noted,
            "{events:?}"
        );
    }
    assert!(silent.stop() >= 4, "the filter did not connect");
}

/// A TLS server on 127.0.0.1 with pwgate's test certificate that answers
/// every POST with the answer set in `answer` (and a GET, the pinned
/// mode's first request, with 404), until dropped: the answers a real
/// pwgate does not give.
struct Fake {
    addr: SocketAddr,
    answer: Arc<Mutex<(u16, String)>>,
    posts: Arc<AtomicUsize>,
    _worker: Background<()>,
}

impl Fake {
    fn start() -> Fake {
        let certs = test_certs();
        let (chain, key) = identity(&certs.server_cert, &certs.server_key);
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the server certificate"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let answer = Arc::new(Mutex::new((200, String::new())));
        let posts = Arc::new(AtomicUsize::new(0));
        let (a, n) = (answer.clone(), posts.clone());
        let worker = Background::spawn(move |flag| {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (config, a, n) = (config.clone(), a.clone(), n.clone());
                        std::thread::spawn(move || Fake::serve(tcp, config, &a, &n));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Fake {
            addr,
            answer,
            posts,
            _worker: worker,
        }
    }

    /// One connection: requests answered until it ends (keep-alive).
    fn serve(
        tcp: TcpStream,
        config: Arc<rustls::ServerConfig>,
        answer: &Mutex<(u16, String)>,
        posts: &AtomicUsize,
    ) {
        let _ = tcp.set_nonblocking(false);
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(conn) = rustls::ServerConnection::new(config) else {
            return;
        };
        let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
        loop {
            let mut line = String::new();
            if tls.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let post = line.starts_with("POST ");
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if tls.read_line(&mut header).unwrap_or(0) == 0 {
                    return;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; length.min(1 << 16)];
            if tls.read_exact(&mut body).is_err() {
                return;
            }
            let (status, text) = if post {
                posts.fetch_add(1, Ordering::Relaxed);
                answer.lock().unwrap_or_else(|p| p.into_inner()).clone()
            } else {
                (404, String::new())
            };
            let reply = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{text}",
                text.len()
            );
            let stream = tls.get_mut();
            if stream.write_all(reply.as_bytes()).is_err() || stream.flush().is_err() {
                return;
            }
        }
    }

    fn answer(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap_or_else(|p| p.into_inner()) = (status, body.to_owned());
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

#[test]
fn only_a_version_1_verdict_is_an_answer_and_only_busy_statuses_take_the_fail_mode() {
    let wine = Wine::get();
    let _serial = wine.lock();
    let fake = Fake::start();
    let allow = ("FailMode", Value::Sz("allow"));
    configure(wine, &fake.url(), &[allow]);
    let mut asked = 0;
    let mut call = |fake: &Fake| {
        let run = filter(wine, "alice", "-", STRONG, "change");
        asked += 1;
        assert_eq!(
            fake.posts.load(Ordering::Relaxed),
            asked,
            "{}",
            run.describe()
        );
        run
    };

    // The answer pwgate gives: accepted (so that the refusals below are
    // the answers', not the fake's).
    fake.answer(200, r#"{"v":1,"verdict":"accepted","rules":[]}"#);
    let run = call(&fake);
    assert_verdict(&run, true);
    assert!(run.events().is_empty(), "{:?}", run.events());

    // No version, another one, or two: not a version 1 verdict, refused
    // even under FailMode allow.
    for body in [
        r#"{"verdict":"accepted"}"#,
        r#"{"v":2,"verdict":"accepted"}"#,
        r#"{"v":"1","verdict":"accepted"}"#,
        r#"{"v":1,"verdict":"accepted","v":1}"#,
    ] {
        fake.answer(200, body);
        let run = call(&fake);
        assert_verdict(&run, false);
        event_with(&run, "is not a version 1 verdict");
    }

    // An answer over the filter's 8 KiB: refused (not "did not answer in
    // time"), whatever the last error was before.
    let big = format!(
        r#"{{"v":1,"verdict":"accepted","pad":"{}"}}"#,
        "x".repeat(9000)
    );
    fake.answer(200, &big);
    let run = call(&fake);
    assert_verdict(&run, false);
    let event = event_with(&run, "the request to pwgate failed");
    assert!(event.contains("(122)"), "{event}");

    // Busy: the fail mode; another status: refused.
    for status in [429, 502, 503, 504] {
        fake.answer(status, r#"{"v":1,"error":"busy","message":"try again"}"#);
        let run = call(&fake);
        assert_verdict(&run, true);
        let event = event_with(&run, "ACCEPTED UNCHECKED (FailMode allow)");
        assert!(
            event.contains(&format!("pwgate is busy (HTTP status) ({status})")),
            "{event}"
        );
    }
    fake.answer(500, r#"{"v":1,"error":"internal","message":"no"}"#);
    let run = call(&fake);
    assert_verdict(&run, false);
    event_with(&run, "pwgate answered HTTP 500");
    configure(wine, &fake.url(), &[]);
    fake.answer(503, r#"{"v":1,"error":"busy","message":"try again"}"#);
    let run = call(&fake);
    assert_verdict(&run, false);
    event_with(&run, "refused: pwgate is busy (HTTP status) (503)");
    assert_no_password("the filter's output", &run.stderr);
}

/// The test CA in the Local Machine "Root" store of the test's Wine prefix
/// (never the host's) while it lives.
struct TrustedCa<'a> {
    wine: &'a Wine,
    der: PathBuf,
}

impl<'a> TrustedCa<'a> {
    /// The test CA's DER in `dir`, not trusted (a run that was killed may
    /// have left it in the prefix's store).
    fn untrusted(wine: &'a Wine, dir: &Path) -> TrustedCa<'a> {
        let pem = std::fs::read(&test_certs().ca).expect("read the test CA");
        let der = rustls_pemfile::certs(&mut pem.as_slice())
            .next()
            .expect("a certificate")
            .expect("PEM");
        let path = dir.join("ca.der");
        std::fs::write(&path, der.as_ref()).expect("write the CA's DER");
        let ca = TrustedCa { wine, der: path };
        ca.store("untrust");
        ca
    }

    fn store(&self, what: &str) {
        let der = self.der.to_str().expect("UTF-8 path");
        let run = self.wine.run(&[what, der]);
        assert!(
            run.code() == 0 && run.stdout == format!("{what} ok"),
            "{}",
            run.describe()
        );
    }
}

impl Drop for TrustedCa<'_> {
    fn drop(&mut self) {
        self.store("untrust");
    }
}

#[test]
fn a_wrong_certificate_or_token_is_refused_whatever_the_fail_mode() {
    let wine = Wine::get();
    let _serial = wine.lock();
    let gate = Gate::start();
    let ca = TrustedCa::untrusted(wine, gate.dir.path());
    let allow = ("FailMode", Value::Sz("allow"));

    // Pinned to another certificate: the password (and the token) never
    // leave.
    let other = pin_of(&test_certs().client_cert);
    configure(
        wine,
        &gate.url(),
        &[("PinnedSha256", Value::Sz(&other)), allow],
    );
    let run = filter(wine, "mallory", "-", STRONG, "reset");
    assert_verdict(&run, false);
    let event = event_with(&run, "is not the one PinnedSha256 names");
    assert!(event.contains("the password was not sent"), "{event}");
    assert_no_password("the filter's output", &run.stderr);

    // Pinned and accepted, then (in the same process: its WinHTTP pool
    // kept) the pin deleted: the system store, which does not trust the
    // test CA, is the rule, and the pooled connection, opened under the
    // pin, does not carry the password.
    configure(wine, &gate.url(), &[]);
    let run = wine.run(&["twice", "trudy", STRONG]);
    assert!(
        run.code() == 0 && run.stdout == "first accepted\nsecond refused",
        "{}",
        run.describe()
    );
    // 12045 (ERROR_WINHTTP_SECURE_INVALID_CA) is the filter's own check's
    // (chain_trusted): Wine handed the second call the pooled connection
    // (a new handshake would fail in WinHTTP, with 12157).
    let event = event_with(&run, "certificate is not trusted");
    assert!(event.contains("(12045)"), "{event}");
    assert_no_password("the filter's output", &run.stderr);
    assert_eq!(gate.decisions_of("trudy").len(), 1, "{}", gate.audit_text());

    // No pin: the system store, which does not trust the test CA.
    let url = gate.url();
    let values = [
        ("Url", Value::Sz(&url)),
        ("Token", Value::Sz(SECRET)),
        ("FailMode", Value::Sz("allow")),
    ];
    wine.configure(&values);
    let run = filter(wine, "mallory", "-", STRONG, "reset");
    assert_verdict(&run, false);
    event_with(&run, "certificate is not trusted");
    assert_no_password("the filter's output", &run.stderr);

    // A pin that is not one.
    configure(wine, &gate.url(), &[("PinnedSha256", Value::Sz("abc123"))]);
    let run = filter(wine, "mallory", "-", STRONG, "reset");
    assert_verdict(&run, false);
    event_with(&run, "PinnedSha256 is not 64 hex digits");

    // The right certificate, a token pwgate does not know: 401.
    let wrong = "ffffffffffffffffffffffffffffffff-dc1";
    configure(
        wine,
        &gate.url(),
        &[
            ("Token", Value::Sz(wrong)),
            ("FailMode", Value::Sz("allow")),
        ],
    );
    let run = filter(wine, "mallory", "-", STRONG, "reset");
    assert_verdict(&run, false);
    event_with(&run, "pwgate answered HTTP 401");

    // pwgate decided nothing of it but trudy's first: with a wrong
    // certificate nothing was sent; with a wrong token it refused to read
    // on.
    assert_eq!(
        gate.records("password_decision").len(),
        1,
        "{}",
        gate.audit_text()
    );
    let log = gate.process.log_text();
    assert!(
        log.contains("request without valid credentials refused"),
        "{log}"
    );
    assert_no_password("pwgate's log", &log);

    // The test CA trusted (the prefix's Local Machine root store), no pin:
    // WinHTTP's own check and the filter's pass, pwgate decides. By the
    // name "localhost": Wine matches a host name to the certificate's DNS
    // names only, not to its IP addresses (Windows does both).
    ca.store("trust");
    let url = format!("https://localhost:{}", gate.addr.port());
    wine.configure(&[("Url", Value::Sz(&url)), ("Token", Value::Sz(SECRET))]);
    let run = filter(wine, "victor", "-", STRONG, "reset");
    assert_verdict(&run, true);
    assert!(run.events().is_empty(), "{:?}", run.events());
    let run = filter(wine, "victor", "-", WEAK, "reset");
    assert_verdict(&run, false);
    event_with(&run, "refused by pwgate's policy");
    let victor = gate.decisions_of("victor");
    assert_eq!(victor.len(), 2, "{victor:?}");
    drop(ca);
}

#[test]
fn odd_and_long_input_is_refused_or_decided_never_a_crash() {
    let wine = Wine::get();
    let _serial = wine.lock();
    let gate = Gate::start();
    configure(wine, &gate.url(), &[]);
    let run = wine.run(&["odd"]);
    assert_eq!(run.code(), 0, "{}", run.describe());
    let outcome = |case: &str| -> &str {
        run.stdout
            .lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(case)).then(|| w.next().unwrap_or(""))
            })
            .unwrap_or_else(|| panic!("no case {case}: {}", run.describe()))
    };
    // Refused by the DLL, never sent.
    let not_sent = [
        ("null-password", "odd-null-password"),
        ("null-buffer-with-length", "odd-null-buffer-with-length"),
        ("null-pointers", ""),
        ("empty-account", "odd-empty-account"),
        ("odd-length", "odd-length"),
        ("high-surrogate", "odd-high-surrogate"),
        ("low-surrogate", "odd-low-surrogate"),
        ("embedded-nul", "odd-embedded-nul"),
        ("surrogate-in-name", "odd-surrogate-name"),
        ("long-password", "odd-long-password"),
        ("long-account", ""),
        ("long-full-name", "odd-long-full-name"),
        ("over-ascii", "odd-over-ascii"),
        ("over-euro", "odd-over-euro"),
    ];
    for (case, _) in &not_sent {
        assert_eq!(outcome(case), "refused", "{case}: {}", run.describe());
    }
    for needle in [
        "the password cannot be sent (it is empty",
        "the password cannot be sent (its length is an odd number of bytes",
        "the password cannot be sent (it is not valid UTF-16",
        "the password cannot be sent (it contains a NUL character",
        "the password cannot be sent (it is too long",
        "the account name cannot be sent (it is too long",
        "the account name cannot be sent (it is empty",
        "the full name cannot be sent (it is too long",
    ] {
        event_with(&run, needle);
    }
    // At the limit: sent and decided by pwgate (whatever its verdict).
    for account in ["odd-max-ascii", "odd-max-euro"] {
        assert_eq!(
            gate.decisions_of(account).len(),
            1,
            "{account}: {}",
            gate.audit_text()
        );
    }
    // Escaped correctly: pwgate read the password and accepted it.
    assert_eq!(outcome("escape"), "accepted", "{}", run.describe());
    assert_eq!(gate.decisions_of("odd-escape")[0]["verdict"], "accepted");
    // A control character in the full name: pwgate answers 400.
    assert_eq!(outcome("control-full-name"), "refused");
    event_with(&run, "pwgate answered HTTP 400");
    // UTF-8 on the wire.
    assert_eq!(outcome("non-ascii-account"), "accepted");
    assert_eq!(
        gate.decisions_of("odd-zöë").len(),
        1,
        "{}",
        gate.audit_text()
    );

    let decided = gate.records("password_decision");
    for (case, account) in &not_sent {
        assert!(
            !decided.iter().any(|r| !account.is_empty()
                && r["target_dn"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("name:{account}")))),
            "{case} reached pwgate"
        );
    }
    assert_eq!(decided.len(), 4, "{decided:?}");
    assert_no_password("the filter's output", &run.stderr);
    assert_no_password("the audit trail", &gate.audit_text());
}
