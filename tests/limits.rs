//! Limits and failure handling, seen from raw sockets on 127.0.0.1.
//!
//! Each test starts its own pwgate (in-process, or the real binary where the
//! process itself is under test) in front of its own slapd, or of a fake
//! directory in a thread where slapd cannot show the behaviour (never
//! answering, dying mid-operation), and talks LDAP over plain `TcpStream`s
//! with the encoder and reader of tests/common/raw.rs, every read bounded by
//! a timeout. Covered: the idle and slow-message timeouts,
//! back-pressure at the outstanding-request limit, the connection limit, the
//! message size limit, refusal of SASL binds that may negotiate a security
//! layer, a directory that dies in the middle of a password change, upstream
//! failover, and the core-dump limit of the running process.

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::process::PwgateProcess;
use common::pwgate::Pwgate;
use common::raw::{
    abandon, addr_of, assert_notice_then_eof, by_msgid, bystander, connect, extended_request, int,
    ldap_message, octets, present, sasl_bind, search_request, split_frames, split_tlv, tlv,
    FrameReader, Response, AUTH_METHOD_NOT_SUPPORTED, BIND_RESPONSE, EXTENDED_RESPONSE,
    OID_NOTICE_OF_DISCONNECTION, OID_PASSWORD_MODIFY, PROTOCOL_ERROR, SCOPE_BASE,
    SEARCH_RESULT_DONE, SEARCH_RESULT_ENTRY, UNAVAILABLE,
};
use common::slapd::{self, Slapd};
use common::tools::Background;

// ---------------------------------------------------------------------------
// Helpers

/// Base search of the root DSE for `namingContexts`.
fn root_dse_search(msgid: u32) -> Vec<u8> {
    search_request(
        msgid,
        "",
        SCOPE_BASE,
        &present("objectClass"),
        &["namingContexts"],
        &[],
    )
}

/// Base search of alice's entry for `cn` and `mail`.
fn alice_search(msgid: u32) -> Vec<u8> {
    search_request(
        msgid,
        &slapd::user_dn("alice"),
        SCOPE_BASE,
        &present("objectClass"),
        &["cn", "mail"],
        &[],
    )
}

/// Sends a root DSE search (`msgid`) on `stream` and checks its answer: one
/// entry naming the suffix and a successful SearchResultDone, nothing else.
fn assert_search_answered(stream: &mut TcpStream, reader: &mut FrameReader<TcpStream>, msgid: u32) {
    stream
        .write_all(&root_dse_search(msgid))
        .expect("write search");
    let frames = reader.until(i64::from(msgid), SEARCH_RESULT_DONE);
    let ops: Vec<u8> = frames.iter().map(|f| Response::parse(f).op).collect();
    assert_eq!(
        ops,
        [SEARCH_RESULT_ENTRY, SEARCH_RESULT_DONE],
        "answers to search {msgid}: {frames:02x?}"
    );
    assert_eq!(Response::parse(&frames[1]).result_code(), 0);
    assert!(
        String::from_utf8_lossy(&frames[0]).contains(slapd::BASE_DN),
        "namingContexts missing"
    );
}

/// A new client of `addr` binds anonymously and searches the root DSE.
fn assert_new_client_is_served(addr: SocketAddr) {
    let (mut stream, mut reader) = bystander(addr);
    assert_search_answered(&mut stream, &mut reader, 2);
}

/// Connects to `addr`, searches the root DSE (msgid 1) and reads until its
/// SearchResultDone; `Err` describes a Notice of Disconnection, end of
/// stream or reset instead. Bounded by the socket timeouts.
fn try_search(addr: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set read timeout");
    stream
        .write_all(&root_dse_search(1))
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => return Err("end of stream".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
        for frame in split_frames(&buf).0 {
            let r = Response::parse(frame);
            if r.msgid == 0 {
                return Err(format!("notice: {}", r.diagnostic()));
            }
            if r.msgid == 1 && r.op == SEARCH_RESULT_DONE {
                assert_eq!(r.result_code(), 0, "root DSE search");
                return Ok(());
            }
        }
    }
}

/// Writes `request` on a new connection to `addr` and returns the frames up
/// to the answer of `msgid` with `op`.
fn exchange(addr: SocketAddr, request: &[u8], msgid: i64, op: u8) -> Vec<Vec<u8>> {
    let mut stream = connect(addr);
    stream.write_all(request).expect("write request");
    FrameReader::new(stream).until(msgid, op)
}

/// A private directory for one pwgate's files, removed when dropped.
fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pwgate-limits-")
        .tempdir()
        .expect("temp dir")
}

/// A port on 127.0.0.1 where nothing listens (bound once, then released).
fn closed_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

// ---------------------------------------------------------------------------
// Idle and slow-message timeouts

#[test]
fn idle_connection_is_closed_with_a_notice() {
    let server = Slapd::start();
    let gate = Pwgate::start_with(&server.ldap_url(), "[limits]\nidle_timeout_secs = 1\n");
    let started = Instant::now();
    let stream = connect(gate.ldap_addr);
    let why = assert_notice_then_eof(stream, UNAVAILABLE);
    let took = started.elapsed();
    assert!(why.contains("idle"), "diagnostic: {why}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
}

/// On one connection to a pwgate whose idle timeout is 1 s, runs
/// `exchange` (msgid 1, 2, ...) every 400 ms for 2.5 s, and checks that at
/// least 5 ran and nothing came after the last answer. A notice would
/// come before an answer (or instead of it, with EOF): either fails the
/// exchange's check of the answer.
fn busy_past_the_idle_timeout(exchange: impl Fn(&mut TcpStream, &mut FrameReader<TcpStream>, u32)) {
    let server = Slapd::start();
    let gate = Pwgate::start_with(&server.ldap_url(), "[limits]\nidle_timeout_secs = 1\n");
    let mut stream = connect(gate.ldap_addr);
    let mut reader = FrameReader::new(stream.try_clone().expect("clone socket"));
    let started = Instant::now();
    let mut msgid = 1;
    while started.elapsed() < Duration::from_millis(2500) {
        exchange(&mut stream, &mut reader, msgid);
        msgid += 1;
        thread::sleep(Duration::from_millis(400));
    }
    assert!(msgid >= 6, "only {} exchanges", msgid - 1);
    assert!(
        reader.buf.is_empty(),
        "unexpected bytes: {:02x?}",
        reader.buf
    );
}

#[test]
fn active_connection_is_not_closed_as_idle() {
    busy_past_the_idle_timeout(assert_search_answered);
}

#[test]
fn a_client_pwgate_answers_itself_is_not_idle() {
    // Password changes on plain LDAP are refused by pwgate (13) and never
    // reach the directory: the answers are pwgate's own, and they count
    // as activity as the directory's do.
    busy_past_the_idle_timeout(|stream, reader, msgid| {
        stream
            .write_all(&password_modify(msgid))
            .expect("write the change");
        let frames = reader.until(i64::from(msgid), EXTENDED_RESPONSE);
        let answer = Response::parse(frames.last().expect("an answer"));
        assert_eq!(
            (answer.msgid, answer.result_code()),
            (i64::from(msgid), 13),
            "{frames:02x?}"
        );
    });
}

#[test]
fn slow_message_is_cut_off() {
    let server = Slapd::start();
    let gate = Pwgate::start_with(
        &server.ldap_url(),
        "[limits]\nmessage_timeout_secs = 1\nidle_timeout_secs = 0\n",
    );
    let request = root_dse_search(1);
    let mut stream = connect(gate.ldap_addr);
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("set read timeout");
    let started = Instant::now();
    stream.write_all(&request[..3]).expect("write 3 bytes");
    // One more byte every 300 ms, read in between; stop sending once pwgate
    // has said something (or closed).
    let mut sent = 3;
    let mut first = Vec::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no notice within 3 s after {sent} bytes"
        );
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk) {
            Ok(n) => {
                first.extend_from_slice(&chunk[..n]);
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read failed after {sent} bytes: {e}"),
        }
        assert!(sent < request.len(), "the whole request went out");
        stream
            .write_all(&request[sent..sent + 1])
            .expect("write one byte");
        sent += 1;
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set read timeout");
    let mut reader = FrameReader::new(stream);
    reader.buf = first;
    let frames = reader.until_eof();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    assert_eq!(frames.len(), 1, "expected one notice, got {frames:02x?}");
    let notice = Response::parse(&frames[0]);
    assert_eq!(notice.msgid, 0);
    assert_eq!(
        notice.response_name().as_deref(),
        Some(OID_NOTICE_OF_DISCONNECTION)
    );
    assert_eq!(notice.result_code(), PROTOCOL_ERROR);
    assert!(
        notice.diagnostic().contains("not complete"),
        "diagnostic: {}",
        notice.diagnostic()
    );
    assert!(sent < request.len(), "the request was complete");
    assert_new_client_is_served(gate.ldap_addr);
}

// ---------------------------------------------------------------------------
// Outstanding requests

/// 30 base searches, msgids 1..=30, alternating the root DSE and alice.
fn thirty_searches() -> Vec<u8> {
    (1..=30)
        .flat_map(|id| {
            if id % 2 == 0 {
                root_dse_search(id)
            } else {
                alice_search(id)
            }
        })
        .collect()
}

/// Writes [`thirty_searches`] at once and reads until every SearchResultDone
/// has arrived; returns every byte read.
fn thirty_searches_exchange(addr: SocketAddr) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(&thirty_searches()).expect("write batch");
    let mut reader = FrameReader::new(stream);
    let mut pending: Vec<i64> = (1..=30).collect();
    while !pending.is_empty() {
        let frame = reader
            .next_frame()
            .unwrap_or_else(|| panic!("{addr} closed while waiting for {pending:?}"));
        let r = Response::parse(&frame);
        if r.op == SEARCH_RESULT_DONE {
            assert_eq!(r.result_code(), 0, "result of msgid {}", r.msgid);
            pending.retain(|id| *id != r.msgid);
        }
    }
    reader.raw
}

#[test]
fn outstanding_limit_applies_back_pressure_without_losing_answers() {
    let server = Slapd::start();
    let gate = Pwgate::start_with(
        &server.ldap_url(),
        "[limits]\nmax_outstanding_per_connection = 2\n",
    );
    let direct = by_msgid(&thirty_searches_exchange(addr_of(&server.ldap_url())));
    let via = by_msgid(&thirty_searches_exchange(gate.ldap_addr));
    assert_eq!(direct.len(), 30, "direct answers");
    assert_eq!(
        via.keys().collect::<Vec<_>>(),
        direct.keys().collect::<Vec<_>>()
    );
    for (msgid, expected) in &direct {
        assert_eq!(&via[msgid], expected, "answers to msgid {msgid} differ");
        let ops: Vec<u8> = split_frames(expected)
            .0
            .iter()
            .map(|f| Response::parse(f).op)
            .collect();
        assert_eq!(
            ops,
            [SEARCH_RESULT_ENTRY, SEARCH_RESULT_DONE],
            "msgid {msgid}"
        );
    }
}

/// A fake directory that answers every SearchRequest with a successful
/// SearchResultDone, except those with message ID 1, which it never answers.
/// It reports the `(msgid, op)` of every message it receives, and closes its
/// connections when dropped.
struct StubbornDirectory {
    addr: SocketAddr,
    seen: mpsc::Receiver<(i64, u8)>,
    _worker: Background<()>,
}

impl StubbornDirectory {
    fn start() -> StubbornDirectory {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind fake directory");
        let addr = listener.local_addr().expect("fake directory address");
        listener.set_nonblocking(true).expect("nonblocking accept");
        let (tx, seen) = mpsc::channel();
        let worker = Background::spawn(move |stopped| {
            let mut handlers = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => {
                        let (tx, stopped) = (tx.clone(), stopped.clone());
                        handlers.push(thread::spawn(move || {
                            serve_stubbornly(socket, &tx, &stopped)
                        }));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            for h in handlers {
                let _ = h.join();
            }
        });
        StubbornDirectory {
            addr,
            seen,
            _worker: worker,
        }
    }

    /// The next message the directory received, within `timeout`.
    fn next(&self, timeout: Duration) -> Option<(i64, u8)> {
        self.seen.recv_timeout(timeout).ok()
    }
}

/// One connection of [`StubbornDirectory`], until `stop` or end of stream.
fn serve_stubbornly(mut socket: TcpStream, seen: &mpsc::Sender<(i64, u8)>, stop: &AtomicBool) {
    socket.set_nonblocking(false).expect("blocking socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("set read timeout");
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        let (frames, tail) = split_frames(&buf);
        let mut answers = Vec::new();
        for frame in &frames {
            let r = Response::parse(frame);
            let _ = seen.send((r.msgid, r.op));
            if r.op == SEARCH_REQUEST && r.msgid != 1 {
                let done = [int(0x0a, 0), octets(""), octets("")].concat();
                let id = u32::try_from(r.msgid).expect("a small message ID");
                answers.extend(ldap_message(id, &tlv(SEARCH_RESULT_DONE, &done), &[]));
            }
        }
        buf = tail.to_vec();
        if socket.write_all(&answers).is_err() {
            return;
        }
    }
}

const SEARCH_REQUEST: u8 = 0x63;
const ABANDON_REQUEST: u8 = 0x50;

#[test]
fn abandon_frees_an_outstanding_slot() {
    // With slapd, which answers at once: abandons of unknown message IDs,
    // mixed with searches at a limit of one, neither block nor lose anything.
    let server = Slapd::start();
    let gate = Pwgate::start_with(
        &server.ldap_url(),
        "[limits]\nmax_outstanding_per_connection = 1\n",
    );
    let batch = [
        root_dse_search(1),
        abandon(2, 99),
        alice_search(3),
        root_dse_search(4),
        abandon(5, 77),
        abandon(6, 4),
        alice_search(7),
        root_dse_search(8),
    ]
    .concat();
    let started = Instant::now();
    let mut stream = connect(gate.ldap_addr);
    stream.write_all(&batch).expect("write batch");
    let mut reader = FrameReader::new(stream.try_clone().expect("clone socket"));
    // msgid 4 may or may not be answered (abandoned right after it was sent).
    let mut pending = vec![1, 3, 7, 8];
    while !pending.is_empty() {
        let frame = reader
            .next_frame()
            .unwrap_or_else(|| panic!("closed while waiting for {pending:?}"));
        let r = Response::parse(&frame);
        assert_ne!(r.msgid, 0, "notice: {}", r.diagnostic());
        if r.op == SEARCH_RESULT_DONE {
            assert_eq!(r.result_code(), 0, "result of msgid {}", r.msgid);
            pending.retain(|id| *id != r.msgid);
        }
    }
    assert_search_answered(&mut stream, &mut reader, 9);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // With a directory that never answers msgid 1, the slot it holds is seen:
    // a second search waits behind it...
    let directory = StubbornDirectory::start();
    let stubborn = Pwgate::start_with(
        &format!("ldap://{}", directory.addr),
        "[limits]\nmax_outstanding_per_connection = 1\n",
    );
    let wait = Duration::from_secs(5);
    let mut held = connect(stubborn.ldap_addr);
    held.write_all(&[root_dse_search(1), root_dse_search(2)].concat())
        .expect("write two searches");
    assert_eq!(directory.next(wait), Some((1, SEARCH_REQUEST)));
    assert_eq!(
        directory.next(Duration::from_millis(500)),
        None,
        "the second search was not held back"
    );
    // ...while an abandon of msgid 1 frees the slot for the next one.
    let mut freed = connect(stubborn.ldap_addr);
    freed
        .write_all(&[root_dse_search(1), abandon(2, 1), root_dse_search(3)].concat())
        .expect("write search, abandon, search");
    assert_eq!(directory.next(wait), Some((1, SEARCH_REQUEST)));
    assert_eq!(directory.next(wait), Some((2, ABANDON_REQUEST)));
    assert_eq!(directory.next(wait), Some((3, SEARCH_REQUEST)));
    let frames =
        FrameReader::new(freed.try_clone().expect("clone socket")).until(3, SEARCH_RESULT_DONE);
    assert_eq!(frames.len(), 1, "{frames:02x?}");
    assert_eq!(Response::parse(&frames[0]).result_code(), 0);
    // Closing the directory's side ends the held session before pwgate stops.
    drop(directory);
}

// ---------------------------------------------------------------------------
// Connection and message size limits

#[test]
fn connection_limit_refuses_extra_clients_with_a_notice() {
    let server = Slapd::start();
    let gate = Pwgate::start_with(&server.ldap_url(), "[limits]\nmax_connections = 2\n");
    let first = bystander(gate.ldap_addr);
    let (mut second, mut second_reader) = bystander(gate.ldap_addr);

    let third = connect(gate.ldap_addr);
    let why = assert_notice_then_eof(third, UNAVAILABLE);
    assert!(why.contains("too many connections"), "diagnostic: {why}");

    // The first client leaves; its slot is free once pwgate has seen it go.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut attempts = Vec::new();
    loop {
        match try_search(gate.ldap_addr) {
            Ok(()) => break,
            Err(why) => attempts.push(why),
        }
        assert!(
            Instant::now() < deadline,
            "no free slot within 5 s: {attempts:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // The second client was never disturbed.
    assert_search_answered(&mut second, &mut second_reader, 2);
}

/// ModifyRequest of `dn`: replace `description` with `value`.
fn modify_description(msgid: u32, dn: &str, value: &str) -> Vec<u8> {
    let attribute = tlv(
        0x30,
        &[octets("description"), tlv(0x31, &octets(value))].concat(),
    );
    let change = tlv(0x30, &[int(0x0a, 2), attribute].concat());
    let op = [octets(dn), tlv(0x30, &change)].concat();
    ldap_message(msgid, &tlv(0x66, &op), &[])
}

#[test]
fn oversized_message_is_refused_before_it_is_buffered() {
    let server = Slapd::start();
    let gate = Pwgate::start_with(&server.ldap_url(), "[limits]\nmax_message_bytes = 4096\n");
    let request = modify_description(1, &slapd::user_dn("carol"), &"x".repeat(10_000));
    assert!(request.len() > 10_000);
    assert!(split_tlv(&request).is_some_and(|(_, _, rest)| rest.is_empty()));
    let mut stream = connect(gate.ldap_addr);
    // The header (30 82 27 xx) and a few bytes of the message ID and op.
    stream.write_all(&request[..12]).expect("write header");
    let why = assert_notice_then_eof(stream, PROTOCOL_ERROR);
    assert!(why.contains("4096"), "diagnostic: {why}");
    assert_new_client_is_served(gate.ldap_addr);
}

// ---------------------------------------------------------------------------
// SASL

/// Masks the value of `nonce="..."` in a DIGEST-MD5 challenge.
fn mask_nonce(frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    let key = b"nonce=\"";
    if let Some(at) = out.windows(key.len()).position(|w| w == key) {
        let start = at + key.len();
        let end = out[start..]
            .iter()
            .position(|b| *b == b'"')
            .map_or(out.len(), |i| start + i);
        out[start..end].fill(b'N');
    }
    out
}

/// The answer to `sasl_bind(1, mechanism)` on a new connection to `addr`.
fn sasl_answer(addr: SocketAddr, mechanism: &str) -> Vec<u8> {
    let frames = exchange(addr, &sasl_bind(1, mechanism), 1, BIND_RESPONSE);
    assert_eq!(frames.len(), 1, "{mechanism}: {frames:02x?}");
    frames.into_iter().next().expect("one frame")
}

#[test]
fn sasl_bind_that_may_negotiate_a_layer_is_refused() {
    let server = Slapd::start();
    let direct = addr_of(&server.ldap_url());
    let gate = Pwgate::start(&server.ldap_url());
    for mechanism in ["GSSAPI", "DIGEST-MD5"] {
        let mut stream = connect(gate.ldap_addr);
        stream
            .write_all(&sasl_bind(1, mechanism))
            .expect("write bind");
        let mut reader = FrameReader::new(stream.try_clone().expect("clone socket"));
        let frames = reader.until(1, BIND_RESPONSE);
        assert_eq!(frames.len(), 1, "{mechanism}: {frames:02x?}");
        let r = Response::parse(&frames[0]);
        assert_eq!(r.result_code(), AUTH_METHOD_NOT_SUPPORTED, "{mechanism}");
        assert!(
            r.diagnostic().contains("pwgate"),
            "{mechanism}: {}",
            r.diagnostic()
        );
        // The connection stays usable.
        assert_search_answered(&mut stream, &mut reader, 2);
    }
    // EXTERNAL cannot negotiate a layer: slapd answers, as it does directly.
    let via = sasl_answer(gate.ldap_addr, "EXTERNAL");
    assert_eq!(via, sasl_answer(direct, "EXTERNAL"), "EXTERNAL");
    assert!(
        !Response::parse(&via).diagnostic().contains("pwgate"),
        "EXTERNAL answered by pwgate"
    );

    // Allowed by configuration: DIGEST-MD5 reaches slapd (whose challenge
    // carries a fresh nonce each time).
    let open = Pwgate::start_with(
        &server.ldap_url(),
        "[listen]\nallow_sasl_security_layers = true\n",
    );
    let via = sasl_answer(open.ldap_addr, "DIGEST-MD5");
    let plain = sasl_answer(direct, "DIGEST-MD5");
    assert_eq!(mask_nonce(&via), mask_nonce(&plain), "DIGEST-MD5");
    assert!(
        !Response::parse(&via).diagnostic().contains("pwgate"),
        "DIGEST-MD5 answered by pwgate"
    );
}

// ---------------------------------------------------------------------------
// A directory that dies mid-operation (the real binary)

/// A fake directory: accepts connections one at a time until one of them
/// brings a complete LDAP message, then closes that socket without
/// answering and returns the message. Connections that end before a whole
/// message (pwgate's readiness probe opens one) are skipped.
fn directory_that_dies() -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind fake directory");
    let addr = listener.local_addr().expect("fake directory address");
    listener.set_nonblocking(true).expect("nonblocking accept");
    let thread = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut socket = match listener.accept() {
                Ok((socket, _)) => socket,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no message within 20 s");
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(e) => panic!("accept: {e}"),
            };
            socket.set_nonblocking(false).expect("blocking socket");
            socket
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("set read timeout");
            let mut buf = Vec::new();
            let complete = loop {
                if let Some((_, _, rest)) = split_tlv(&buf) {
                    let len = buf.len() - rest.len();
                    buf.truncate(len);
                    break true;
                }
                let mut chunk = [0u8; 4096];
                match socket.read(&mut chunk) {
                    Ok(0) => break false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("fake directory read: {e}"),
                }
            };
            if complete {
                let _ = socket.shutdown(Shutdown::Both);
                return buf;
            }
        }
    });
    (addr, thread)
}

const NEW_PASSWORD: &str = "tangerine-Otter-42-lamp";

/// Password Modify (RFC 3062) of alice's password, msgid 1, no old password.
fn password_modify(msgid: u32) -> Vec<u8> {
    let value = tlv(
        0x30,
        &[
            tlv(0x80, slapd::user_dn("alice").as_bytes()),
            tlv(0x82, NEW_PASSWORD.as_bytes()),
        ]
        .concat(),
    );
    extended_request(msgid, OID_PASSWORD_MODIFY, Some(&value))
}

/// The JSON log lines that contain every one of `parts`.
fn lines_with<'a>(log: &'a str, parts: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect()
}

#[test]
fn directory_dying_mid_password_change_closes_the_client_and_audits_unknown() {
    let dir = temp_dir();
    let (fake, fake_thread) = directory_that_dies();
    let upstream = format!("ldap://{fake}");
    let mut pwgate = PwgateProcess::start(
        &[
            "--upstream",
            &upstream,
            "--allow-cleartext-password-changes",
            "--log-format",
            "json",
            "--log-level",
            "trace",
        ],
        dir.path(),
    );

    let request = password_modify(1);
    let started = Instant::now();
    let mut stream = connect(pwgate.addr());
    stream.write_all(&request).expect("write Password Modify");
    let frames = FrameReader::new(stream).until_eof();
    let took = started.elapsed();
    assert!(frames.is_empty(), "expected no answer, got {frames:02x?}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    let received = fake_thread.join().expect("fake directory thread");
    assert_eq!(received, request, "the directory got the request unchanged");

    assert!(pwgate.stop().is_some(), "pwgate did not stop on SIGTERM");
    let log = pwgate.log_text();
    let decisions = lines_with(
        &log,
        &[
            "\"event\":\"password_decision\"",
            "\"verdict\":\"accepted\"",
            "\"msgid\":1",
        ],
    );
    assert_eq!(decisions.len(), 1, "password_decision events:\n{log}");
    let results = lines_with(
        &log,
        &[
            "\"event\":\"password_result\"",
            "\"result_code\":\"unknown\"",
            "\"msgid\":1",
        ],
    );
    assert_eq!(results.len(), 1, "password_result events:\n{log}");
    assert!(
        results[0].contains(&slapd::user_dn("alice")),
        "{}",
        results[0]
    );
    assert!(!log.contains(NEW_PASSWORD), "the password is in the log");
}

// ---------------------------------------------------------------------------
// Upstream failover

/// Forwards every connection accepted on `listener` to `target`, counting them.
struct Forwarder {
    accepted: Arc<AtomicUsize>,
    _worker: Background<()>,
}

impl Forwarder {
    fn start(listener: TcpListener, target: SocketAddr) -> Forwarder {
        let accepted = Arc::new(AtomicUsize::new(0));
        listener.set_nonblocking(true).expect("nonblocking accept");
        let count = accepted.clone();
        let worker = Background::spawn(move |stopped| {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        count.fetch_add(1, Ordering::SeqCst);
                        let server = connect(target);
                        client.set_nonblocking(false).expect("blocking socket");
                        for (from, to) in [
                            (client.try_clone(), server.try_clone()),
                            (server.try_clone(), client.try_clone()),
                        ] {
                            let (mut from, mut to) = (from.expect("clone"), to.expect("clone"));
                            from.set_read_timeout(Some(Duration::from_secs(10)))
                                .expect("set read timeout");
                            thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(Shutdown::Write);
                            });
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        Forwarder {
            accepted,
            _worker: worker,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[test]
fn dead_upstream_is_skipped_quickly_and_retried_later() {
    let server = Slapd::start();
    let refused = common::tools::RefusedPort::new();
    let dead = refused.addr.port();
    let gate = Pwgate::start_with(
        "",
        &format!(
            "[upstream]\nurls = [\"ldap://127.0.0.1:{dead}\", \"{}\"]\nretry_after_secs = 1\n",
            server.ldap_url()
        ),
    );
    // The first URL refuses: the client is served by the second at once.
    let started = Instant::now();
    try_search(gate.ldap_addr).expect("search with the first URL dead");
    let failed_at = Instant::now();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );

    // The first URL comes back (a forwarder to slapd on its port)...
    drop(refused);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, dead))
        .unwrap_or_else(|e| panic!("port {dead} was taken meanwhile: {e}"));
    let revived = Forwarder::start(listener, addr_of(&server.ldap_url()));
    // ...but within retry_after it is tried last, so it gets no client.
    try_search(gate.ldap_addr).expect("search while the first URL is tried last");
    if failed_at.elapsed() < Duration::from_millis(800) {
        assert_eq!(revived.accepted(), 0, "a URL that failed was tried first");
    }
    // After retry_after it is first again.
    let wait = (failed_at + Duration::from_millis(1100)).saturating_duration_since(Instant::now());
    thread::sleep(wait);
    try_search(gate.ldap_addr).expect("search after retry_after");
    assert_eq!(revived.accepted(), 1, "the revived URL was not retried");
}

// ---------------------------------------------------------------------------
// Process hardening

/// The soft and hard "Max core file size" in the text of a `/proc/<pid>/limits`.
#[cfg(target_os = "linux")]
fn core_limits(limits: &str) -> (String, String) {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core line in:\n{limits}"));
    let fields: Vec<&str> = line["Max core file size".len()..]
        .split_whitespace()
        .collect();
    (fields[0].to_owned(), fields[1].to_owned())
}

#[cfg(target_os = "linux")]
#[test]
fn process_forbids_core_dumps() {
    // pwgate is started with the soft limit raised to the hard one, so both
    // are non-zero when it starts (unless the hard limit is 0 already).
    let out = Command::new("sh")
        .args([
            "-c",
            "ulimit -S -c \"$(ulimit -H -c)\" && exec cat /proc/self/limits",
        ])
        .output()
        .expect("run sh");
    let before = core_limits(&String::from_utf8_lossy(&out.stdout));
    assert!(
        before.1 == "0" || before.0 != "0",
        "the soft core limit was not raised: {before:?}"
    );

    let dir = temp_dir();
    let pwgate = PwgateProcess::start_with_core_soft_limit_raised(
        &["--upstream", &format!("ldap://127.0.0.1:{}", closed_port())],
        dir.path(),
    );
    let pid = pwgate.pid();
    let limits = fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/limits: {e}"));
    let (soft, hard) = core_limits(&limits);
    assert_eq!(
        (soft.as_str(), hard.as_str()),
        ("0", "0"),
        "pwgate's core limits (it started with {before:?})"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn the_listen_queue_is_as_long_as_haproxy_s() {
    let dir = temp_dir();
    let pwgate = PwgateProcess::start(
        &["--upstream", &format!("ldap://127.0.0.1:{}", closed_port())],
        dir.path(),
    );
    let port = pwgate
        .ldap_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
        .expect("a port in pwgate's URL");
    let somaxconn: u32 = fs::read_to_string("/proc/sys/net/core/somaxconn")
        .expect("somaxconn")
        .trim()
        .parse()
        .expect("a number");
    // /proc/net/tcp does not show the backlog; ss does (Send-Q of a
    // listening socket).
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("run ss");
    let listing = String::from_utf8_lossy(&out.stdout);
    let backlog: u32 = listing
        .split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no listening socket on port {port} in: {listing}"));
    assert_eq!(backlog, somaxconn.min(4096), "{listing}");
}

#[test]
fn connections_handed_to_workers_that_do_not_accept_are_served() {
    // Eight workers, of which the first four accept: the busiest of
    // those hands new connections to the idle ones, on other threads.
    let server = Slapd::start();
    let dir = temp_dir();
    let pwgate = PwgateProcess::start(
        &["--upstream", &server.ldap_url(), "--workers", "8"],
        dir.path(),
    );
    let mut clients: Vec<_> = (0..24).map(|_| bystander(pwgate.addr())).collect();
    for (stream, reader) in &mut clients {
        assert_search_answered(stream, reader, 2);
    }
    // Every connection still works once all are open.
    for (stream, reader) in &mut clients {
        assert_search_answered(stream, reader, 3);
    }
}
