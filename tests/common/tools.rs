//! Small helpers shared by the integration tests: the output of a finished
//! program and assertions on it, ldap-utils shortcuts, child processes with
//! bounded waits, and the encodings used for LDIF values.
//!
//! Their self-tests (the encoders' known vectors) are in tests/harness.rs,
//! so that they run once, not once per test binary.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::slapd::{ldap_tool, ldap_tool_stdin, test_certs, PEOPLE_DN};

// ---------------------------------------------------------------------------
// The output of a finished program

/// The program's stdout, decoded lossily.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The program's stderr, decoded lossily.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout followed by stderr, as on a terminal.
pub fn all_output(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// Exit status, stdout and stderr, labelled, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

/// Asserts that the program (`what`, for the message) exited 0; returns its stdout.
#[track_caller]
pub fn assert_ok(what: &str, out: &Output) -> String {
    assert!(out.status.success(), "{what} failed: {}", describe(out));
    stdout(out)
}

/// Asserts an ldap-utils tool failed, printing LDAP result `(rc)` and `text` (`""`: any).
#[track_caller]
pub fn assert_ldap_error(out: &Output, rc: u32, text: &str) {
    let all = all_output(out);
    assert!(
        !out.status.success() && all.contains(&format!("({rc})")) && all.contains(text),
        "expected LDAP error {rc} with `{text}`, got {}: {all}",
        out.status
    );
}

// ---------------------------------------------------------------------------
// ldap-utils shortcuts

/// Anonymous `ldapsearch -x -LLL` at `url` of alice's `cn` and `mail` under `ou=people`.
pub fn search_alice(url: &str) -> Output {
    ldap_tool(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            url,
            "-b",
            PEOPLE_DN,
            "(uid=alice)",
            "cn",
            "mail",
        ],
    )
}

/// `ldappasswd -x -ZZ` bound as `dn`: its own password from `old` to `new`, plus `extra`.
pub fn passwd_starttls(url: &str, dn: &str, old: &str, new: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "-x", "-ZZ", "-H", url, "-D", dn, "-w", old, "-a", old, "-s", new,
    ];
    args.extend_from_slice(extra);
    ldap_tool("ldappasswd", &args)
}

/// `ldapmodify -x -ZZ` bound as `bind_dn`, with `ldif` on stdin.
pub fn modify_starttls(url: &str, bind_dn: &str, bind_pw: &str, ldif: &str) -> Output {
    ldap_tool_stdin(
        "ldapmodify",
        &["-x", "-ZZ", "-H", url, "-D", bind_dn, "-w", bind_pw],
        ldif,
    )
}

/// A rustls client configuration that trusts only the test CA.
pub fn tls_client_config() -> Arc<rustls::ClientConfig> {
    let ca = &test_certs().ca;
    let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert.expect("test CA is valid PEM"))
            .expect("test CA is a valid certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

// ---------------------------------------------------------------------------
// Child processes

/// Runs `cmd` (stdin: `input` or closed), capturing its output: `(output, killed at timeout)`.
pub fn run_bounded(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<(Output, bool)> {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let writer = input.map(|data| {
        let mut stdin = child.stdin.take().expect("child stdin was piped");
        let data = data.to_vec();
        thread::spawn(move || {
            // A program that exits early closes the pipe; that is not our error.
            let _ = stdin.write_all(&data);
        })
    });
    let stdout_reader = spawn_reader(child.stdout.take().expect("child stdout was piped"));
    let stderr_reader = spawn_reader(child.stderr.take().expect("child stderr was piped"));

    let (status, killed) = match wait_bounded(&mut child, timeout) {
        Some(status) => (status, false),
        None => {
            let _ = child.kill();
            let status = child
                .wait()
                .unwrap_or_else(|e| panic!("cannot wait for child process {}: {e}", child.id()));
            (status, true)
        }
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let output = Output {
        status,
        stdout: stdout_reader.join().expect("stdout reader thread panicked"),
        stderr: stderr_reader.join().expect("stderr reader thread panicked"),
    };
    Ok((output, killed))
}

/// A thread that reads `pipe` to its end.
fn spawn_reader<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Polls `child` until it exits (`Some(status)`) or `timeout` passes (`None`).
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => {}
            Err(e) => panic!("cannot wait for child process {}: {e}", child.id()),
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// SIGTERM, `timeout` to exit, then SIGKILL; reaps `child`. `None` if it had to be killed.
pub fn terminate(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    // The child is not reaped until we wait for it, so its pid cannot have
    // been reused by another process.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Some(status) = wait_bounded(child, timeout) {
        return Some(status);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Two distinct free loopback ports (both held while picking, then released).
pub fn two_free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind 127.0.0.1:0");
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| {
        l.local_addr()
            .expect("listener has no local address")
            .port()
    };
    (port(&a), port(&b))
}

// ---------------------------------------------------------------------------
// Encodings

/// Standard base64 with padding (RFC 4648).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `text` encoded as UTF-16LE.
pub fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// base64 of AD's `unicodePwd` form: UTF-16LE of the password in double quotes.
pub fn unicode_pwd(password: &str) -> String {
    base64(&utf16le(&format!("\"{password}\"")))
}

/// Lower-case hex of `data`.
pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET path` from 127.0.0.1:`port` over HTTP/1.1: (status line, body).
pub fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").expect("send the request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

// ---------------------------------------------------------------------------
// Searching logs for passwords in every encoding

/// Every form of `password` that must not appear in a log, with a label.
pub fn needles(password: &str) -> Vec<(String, Vec<u8>)> {
    let plain = password.as_bytes();
    let wide = utf16le(password);
    let quoted_wide = utf16le(&format!("\"{password}\""));
    let mut forms = vec![
        ("plain text".to_owned(), plain.to_vec()),
        ("UTF-16LE".to_owned(), wide.clone()),
        ("quoted UTF-16LE".to_owned(), quoted_wide.clone()),
        ("base64".to_owned(), base64(plain).into_bytes()),
        (
            "base64 without padding".to_owned(),
            base64(plain).trim_end_matches('=').as_bytes().to_vec(),
        ),
        ("base64 of UTF-16LE".to_owned(), base64(&wide).into_bytes()),
        (
            "base64 of quoted UTF-16LE".to_owned(),
            base64(&quoted_wide).into_bytes(),
        ),
        ("hex".to_owned(), hex(plain).into_bytes()),
        ("HEX".to_owned(), hex(plain).to_uppercase().into_bytes()),
        ("hex of UTF-16LE".to_owned(), hex(&wide).into_bytes()),
    ];
    for (label, bytes) in &mut forms {
        *label = format!("{label} of {password:?}");
        assert!(!bytes.is_empty());
    }
    forms
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every form of every password found in `haystack`: `(label, offset)`.
pub fn leaks(haystack: &[u8], passwords: &[&str]) -> Vec<(String, usize)> {
    passwords
        .iter()
        .flat_map(|p| needles(p))
        .filter_map(|(label, needle)| find(haystack, &needle).map(|at| (label, at)))
        .collect()
}

/// A thread that works until told to stop (a test's fake server), joined
/// when stopped or dropped. `work` gets the flag it must watch.
pub struct Background<T> {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<T>>,
}

impl<T: Send + 'static> Background<T> {
    pub fn spawn(
        work: impl FnOnce(Arc<std::sync::atomic::AtomicBool>) -> T + Send + 'static,
    ) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        Background {
            stop,
            thread: Some(thread::spawn(move || work(flag))),
        }
    }

    /// Stops it and waits for it: what it returned.
    pub fn stop(mut self) -> T {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let thread = self.thread.take().expect("not stopped yet");
        thread.join().expect("the background thread panicked")
    }
}

impl<T> Drop for Background<T> {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port on 127.0.0.1 that refuses connections while this lives: bound
/// and never listening, so that no other test can take it meanwhile (a
/// port bound and released, as a "dead" address, can be picked again at
/// once by a test running beside it, a slapd for one).
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    pub addr: std::net::SocketAddr,
}

impl RefusedPort {
    pub fn new() -> RefusedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind((Ipv4Addr::LOCALHOST, 0).into())
            .expect("bind a port on 127.0.0.1");
        let addr = socket.local_addr().expect("its address");
        RefusedPort {
            _socket: socket,
            addr,
        }
    }
}
