//! Hand-built write requests and an LDAP client connection that never
//! panics on what the other side does, for tests that send requests
//! ordinary clients never send (tests/strict_reading.rs,
//! tests/differential.rs).
//!
//! The builders produce well-formed requests (minimal definite lengths, as
//! [`super::raw::tlv`]). To bend one, parse it into a [`Node`] tree, change
//! a tag, a length form ([`Len`]: non-minimal long forms as Windows clients
//! send them, `80 LL` as Samba reads it, indefinite, off by one) or the
//! elements, and encode it again; the rest stays well-formed.
//!
//! [`Conn`] is a connection over plain TCP, LDAPS or StartTLS to
//! 127.0.0.0/8. Every read waits at most [`Conn::timeout`] per request, and
//! whatever comes back (an answer, a Notice of Disconnection, end of
//! stream, garbage, nothing) is reported as a [`Reply`] instead of a panic,
//! so a fuzzer can go on and reconnect.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::raw::{int, octets, tlv, TlsStream};
use super::tools::tls_client_config;

/// Default bound on the wait for one answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on connecting (TCP) and on the TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest message accepted from the other side.
const MAX_FRAME: usize = 1 << 20;

/// ModifyRequest change operations (RFC 4511 section 4.6).
pub const MOD_ADD: u32 = 0;
pub const MOD_DELETE: u32 = 1;
pub const MOD_REPLACE: u32 = 2;

/// protocolOp tags of the requests and answers used here.
pub const MODIFY_REQUEST: u8 = 0x66;
pub const MODIFY_RESPONSE: u8 = 0x67;
pub const ADD_REQUEST: u8 = 0x68;
pub const ADD_RESPONSE: u8 = 0x69;
pub const DEL_REQUEST: u8 = 0x4a;
pub const EXTENDED_REQUEST: u8 = 0x77;

/// Security Descriptor Flags control (AD, `LDAP_SERVER_SD_FLAGS_OID`).
pub const OID_SD_FLAGS: &str = "1.2.840.113556.1.4.801";
/// The weak password of these tests: pwgate refuses it on every path
/// (too short for its 12 characters, a common password), while slapd's
/// ppolicy (8 characters) and the DC's policy (7, complex) would take it.
pub const WEAK: &str = "Password1!";

// ---------------------------------------------------------------------------
// Builders

/// PartialAttribute ::= SEQUENCE { type AttributeDescription, vals SET OF value }.
pub fn attribute(description: &[u8], values: &[&[u8]]) -> Vec<u8> {
    let vals: Vec<u8> = values.iter().flat_map(|v| tlv(0x04, v)).collect();
    tlv(0x30, &[tlv(0x04, description), tlv(0x31, &vals)].concat())
}

/// One change of a ModifyRequest: SEQUENCE { operation ENUMERATED, modification }.
pub fn change(operation: u32, description: &[u8], values: &[&[u8]]) -> Vec<u8> {
    tlv(
        0x30,
        &[int(0x0a, operation), attribute(description, values)].concat(),
    )
}

/// ModifyRequest [APPLICATION 6] { object, changes SEQUENCE OF change } in an LDAPMessage.
pub fn modify_request(msgid: u32, dn: &str, changes: &[Vec<u8>], controls: &[Vec<u8>]) -> Vec<u8> {
    let op = tlv(
        MODIFY_REQUEST,
        &[octets(dn), tlv(0x30, &changes.concat())].concat(),
    );
    super::raw::ldap_message(msgid, &op, controls)
}

/// AddRequest [APPLICATION 8] { entry, attributes SEQUENCE OF attribute } in an LDAPMessage.
pub fn add_request(msgid: u32, dn: &str, attributes: &[Vec<u8>], controls: &[Vec<u8>]) -> Vec<u8> {
    let op = tlv(
        ADD_REQUEST,
        &[octets(dn), tlv(0x30, &attributes.concat())].concat(),
    );
    super::raw::ldap_message(msgid, &op, controls)
}

/// DelRequest [APPLICATION 10] LDAPDN in an LDAPMessage.
pub fn delete_request(msgid: u32, dn: &str) -> Vec<u8> {
    super::raw::ldap_message(msgid, &tlv(DEL_REQUEST, dn.as_bytes()), &[])
}

/// Control ::= SEQUENCE { controlType, criticality BOOLEAN DEFAULT FALSE,
/// controlValue OCTET STRING OPTIONAL }; `criticality` is the BOOLEAN's
/// content byte when present (0xff for TRUE, or an odd non-zero byte).
pub fn control(oid: &str, criticality: Option<u8>, value: Option<&[u8]>) -> Vec<u8> {
    let mut content = octets(oid);
    if let Some(c) = criticality {
        content.extend(tlv(0x01, &[c]));
    }
    if let Some(v) = value {
        content.extend(tlv(0x04, v));
    }
    tlv(0x30, &content)
}

/// PasswdModifyRequestValue (RFC 3062) made of `(tag, value)` fields as
/// given: normally 0x80 userIdentity, 0x81 oldPasswd, 0x82 newPasswd.
pub fn passwd_modify_value(fields: &[(u8, &[u8])]) -> Vec<u8> {
    let content: Vec<u8> = fields.iter().flat_map(|(t, v)| tlv(*t, v)).collect();
    tlv(0x30, &content)
}

/// AD's `unicodePwd` value: UTF-16LE of the password in double quotes.
pub fn unicode_pwd_value(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

// ---------------------------------------------------------------------------
// Reading answers without trusting them

/// The header of the element at the start of `buf`: `(tag, header length,
/// content length)`; `None` when more bytes are needed, `Err` when the
/// bytes are not an element this reader accepts.
fn header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>, String> {
    let (Some(&tag), Some(&first)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((tag, 2, usize::from(first))));
    }
    let n = usize::from(first & 0x7f);
    if !(1..=4).contains(&n) {
        return Err(format!("length byte 0x{first:02x}"));
    }
    let Some(bytes) = buf.get(2..2 + n) else {
        return Ok(None);
    };
    let len = bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
    Ok(Some((tag, 2 + n, len)))
}

/// The `(tag, content)` elements of `content`, or `None` if it is not a
/// sequence of complete elements.
pub fn elements(mut content: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, h, len) = header(content).ok()??;
        let element = content.get(h..h + len)?;
        out.push((tag, element));
        content = &content[h + len..];
    }
    Some(out)
}

fn integer(content: &[u8]) -> Option<i64> {
    if content.is_empty() || content.len() > 8 {
        return None;
    }
    let first = i64::from(content[0] as i8);
    Some(
        content[1..]
            .iter()
            .fold(first, |a, b| (a << 8) | i64::from(*b)),
    )
}

/// One LDAPResult-shaped response, leniently decoded.
#[derive(Debug, Clone)]
pub struct Answer {
    pub msgid: i64,
    /// protocolOp tag.
    pub op: u8,
    pub code: i64,
    pub diagnostic: String,
    /// responseName of an ExtendedResponse.
    pub response_name: Option<String>,
    /// The whole message.
    pub raw: Vec<u8>,
}

impl Answer {
    fn parse(frame: &[u8]) -> Option<Answer> {
        let outer = elements(frame)?;
        let [(0x30, message)] = outer.as_slice() else {
            return None;
        };
        let fields = elements(message)?;
        let (0x02, id) = *fields.first()? else {
            return None;
        };
        let (op, content) = *fields.get(1)?;
        let result = elements(content)?;
        let (0x0a, code) = *result.first()? else {
            return None;
        };
        Some(Answer {
            msgid: integer(id)?,
            op,
            code: integer(code)?,
            diagnostic: result
                .get(2)
                .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
                .unwrap_or_default(),
            response_name: result
                .iter()
                .find(|(t, _)| *t == 0x8a)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned()),
            raw: frame.to_vec(),
        })
    }

    /// Whether pwgate wrote this refusal itself: its protocolError,
    /// constraintViolation or unwillingToPerform, with its wording
    /// (`pwgate ...`, or its policy's `password rejected by policy: ...`).
    pub fn refused_by_pwgate(&self) -> bool {
        matches!(self.code, 2 | 19 | 53)
            && (self.diagnostic.contains("pwgate")
                || self.diagnostic.contains("password rejected by policy"))
    }
}

/// What came back for one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The answer with the request's message ID.
    Answer(Answer),
    /// The other side closed the connection, after a Notice of
    /// Disconnection (message ID 0) or without one.
    Closed(Option<Answer>),
    /// Bytes that are not an LDAPMessage this reader can decode.
    Garbage(Vec<u8>),
    /// Nothing within the timeout.
    Timeout,
}

impl Reply {
    /// The answer's result code, if there is an answer.
    pub fn code(&self) -> Option<i64> {
        match self {
            Reply::Answer(a) => Some(a.code),
            _ => None,
        }
    }

    /// Whether pwgate refused the request itself (see [`Answer::refused_by_pwgate`]).
    pub fn refused_by_pwgate(&self) -> bool {
        matches!(self, Reply::Answer(a) if a.refused_by_pwgate())
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Reply::Answer(a) => format!("result {} `{}`", a.code, a.diagnostic),
            Reply::Closed(Some(n)) => format!(
                "Notice of Disconnection {} `{}`, then closed",
                n.code, n.diagnostic
            ),
            Reply::Closed(None) => "connection closed without an answer".to_owned(),
            Reply::Garbage(b) => format!("undecodable answer {}", super::tools::hex(b)),
            Reply::Timeout => "no answer in time".to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------
// Connections

enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &s.sock,
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// How to reach the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain LDAP (slapd only: pwgate refuses password changes there).
    Plain,
    /// TLS from the first byte.
    Ldaps,
    /// Plain LDAP, then StartTLS (message ID 1).
    StartTls,
}

/// One LDAP connection; see the module documentation.
pub struct Conn {
    io: Transport,
    buf: Vec<u8>,
    next_msgid: u32,
    /// The longest wait for one answer.
    pub timeout: Duration,
}

fn tcp(addr: SocketAddr) -> Result<TcpStream, String> {
    assert!(
        addr.ip().is_loopback(),
        "tests only talk to 127.0.0.0/8, not {addr}"
    );
    let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(CONNECT_TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(CONNECT_TIMEOUT)))
        .and_then(|()| s.set_nodelay(true))
        .map_err(|e| format!("socket options: {e}"))?;
    Ok(s)
}

impl Conn {
    /// Connects to `addr` as `security` says.
    pub fn open(addr: SocketAddr, security: Security) -> Result<Conn, String> {
        let stream = tcp(addr)?;
        let mut conn = Conn {
            io: Transport::Plain(stream),
            buf: Vec::new(),
            next_msgid: 1,
            timeout: ANSWER_TIMEOUT,
        };
        match security {
            Security::Plain => {}
            Security::Ldaps => conn.upgrade()?,
            Security::StartTls => {
                let id = conn.msgid();
                match conn.call(&super::raw::start_tls(id), id) {
                    Reply::Answer(a) if a.code == 0 => {}
                    other => return Err(format!("StartTLS: {}", other.describe())),
                }
                if !conn.buf.is_empty() {
                    return Err("bytes after the StartTLS answer".into());
                }
                conn.upgrade()?;
            }
        }
        Ok(conn)
    }

    /// Connects as `security` says and binds as `dn` with `password`.
    pub fn bound(
        addr: SocketAddr,
        security: Security,
        dn: &str,
        password: &str,
    ) -> Result<Conn, String> {
        let mut conn = Conn::open(addr, security)?;
        match conn.bind(dn, password) {
            Reply::Answer(a) if a.code == 0 => Ok(conn),
            other => Err(format!("bind as {dn}: {}", other.describe())),
        }
    }

    /// TLS on the current socket, handshake done now (bounded by the socket timeouts).
    fn upgrade(&mut self) -> Result<(), String> {
        let Transport::Plain(s) = &self.io else {
            return Err("TLS is already on".into());
        };
        let s = s.try_clone().map_err(|e| format!("clone socket: {e}"))?;
        let ip = s
            .peer_addr()
            .map_err(|e| format!("peer address: {e}"))?
            .ip();
        let name = rustls::pki_types::ServerName::IpAddress(ip.into());
        let client = rustls::ClientConnection::new(tls_client_config(), name)
            .map_err(|e| format!("TLS client: {e}"))?;
        let mut tls = rustls::StreamOwned::new(client, s);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| format!("TLS handshake: {e}"))?;
        }
        self.io = Transport::Tls(Box::new(tls));
        Ok(())
    }

    /// A fresh message ID (never 0).
    pub fn msgid(&mut self) -> u32 {
        let id = self.next_msgid;
        self.next_msgid = if id >= 0x7fff_0000 { 1 } else { id + 1 };
        id
    }

    /// A simple bind; the answer.
    pub fn bind(&mut self, dn: &str, password: &str) -> Reply {
        let id = self.msgid();
        self.call(&super::raw::simple_bind(id, dn, password), id)
    }

    /// Whether a simple bind as `dn` with `password` succeeds on this connection.
    pub fn binds(&mut self, dn: &str, password: &str) -> Result<bool, String> {
        match self.bind(dn, password) {
            Reply::Answer(a) if a.code == 0 => Ok(true),
            Reply::Answer(a) if a.code == 49 => Ok(false),
            other => Err(format!("bind as {dn}: {}", other.describe())),
        }
    }

    /// Sends `message` and waits for the answer with message ID `msgid`
    /// (other messages are skipped), for at most [`Conn::timeout`].
    pub fn call(&mut self, message: &[u8], msgid: u32) -> Reply {
        if self.send(message).is_err() {
            return Reply::Closed(None);
        }
        self.answer(msgid)
    }

    /// Whether the connection is no longer fit for a request: the peer
    /// closed it, or sent something unasked (a Notice of Disconnection, an
    /// answer to an earlier request) that would be read as the next answer.
    /// Does not wait.
    pub fn is_stale(&mut self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        if self.io.tcp().set_nonblocking(true).is_err() {
            return true;
        }
        // Through TLS: records that carry no data (session tickets) are
        // consumed and leave the connection fit.
        let mut chunk = [0u8; 4096];
        let stale = match self.io.read(&mut chunk) {
            Ok(0) => true,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) => e.kind() != ErrorKind::WouldBlock,
        };
        stale || self.io.tcp().set_nonblocking(false).is_err()
    }

    /// Writes raw bytes; `Err` when the connection is gone.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.io
            .write_all(bytes)
            .and_then(|()| self.io.flush())
            .map_err(|e| format!("write: {e}"))
    }

    /// Waits for the answer to `msgid` (see [`Conn::call`]).
    pub fn answer(&mut self, msgid: u32) -> Reply {
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.frame(deadline) {
                Ok(Some(frame)) => match Answer::parse(&frame) {
                    Some(a) if a.msgid == i64::from(msgid) => return Reply::Answer(a),
                    Some(a) if a.msgid == 0 => {
                        // A Notice of Disconnection: the server closes next.
                        return Reply::Closed(Some(a));
                    }
                    // Entries, references, answers to earlier requests.
                    Some(_) => {}
                    // Search entries and references carry no LDAPResult.
                    None if matches!(frame_op(&frame), Some(0x64 | 0x73 | 0x79)) => {}
                    None if frame_msgid(&frame) == Some(i64::from(msgid)) => {
                        return Reply::Garbage(frame)
                    }
                    None => {}
                },
                Ok(None) => return Reply::Closed(None),
                Err(FrameError::Timeout) => return Reply::Timeout,
                Err(FrameError::Garbage(bytes)) => return Reply::Garbage(bytes),
            }
        }
    }

    /// The next complete message; `Ok(None)` at end of stream.
    fn frame(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, FrameError> {
        loop {
            match header(&self.buf) {
                Ok(Some((_, h, len))) if h + len > MAX_FRAME => {
                    return Err(FrameError::Garbage(self.buf.clone()))
                }
                Ok(Some((_, h, len))) if self.buf.len() >= h + len => {
                    return Ok(Some(self.buf.drain(..h + len).collect()));
                }
                Ok(_) => {}
                Err(_) => return Err(FrameError::Garbage(std::mem::take(&mut self.buf))),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(FrameError::Timeout);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            let _ = self.io.tcp().set_read_timeout(Some(wait));
            let mut chunk = [0u8; 16 * 1024];
            match self.io.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Reset, TLS alert, close_notify missing: the peer is gone.
                Err(_) => return Ok(None),
            }
        }
    }
}

enum FrameError {
    Timeout,
    Garbage(Vec<u8>),
}

/// The protocolOp tag of a frame.
fn frame_op(frame: &[u8]) -> Option<u8> {
    let outer = elements(frame)?;
    let fields = elements(outer.first()?.1)?;
    Some(fields.get(1)?.0)
}

/// The message ID of a frame whose protocolOp cannot be decoded.
fn frame_msgid(frame: &[u8]) -> Option<i64> {
    let outer = elements(frame)?;
    let (_, message) = outer.first()?;
    let (h_tag, h, len) = header(message).ok()??;
    if h_tag != 0x02 {
        return None;
    }
    integer(message.get(h..h + len)?)
}

// ---------------------------------------------------------------------------
// A BER tree, to bend one element of a well-formed request

/// How an element's length is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// The shortest definite form (what DER and the builders write).
    Minimal,
    /// Long form with this many length bytes (1 to 4), even when shorter
    /// would do: harmless, BER allows it.
    Long(u8),
    /// `0x80` (the indefinite form, which LDAP forbids) followed by one
    /// byte holding the real length: Samba's reader takes `80 LL` as a
    /// length of LL, other readers as indefinite or zero.
    Samba80,
    /// Real indefinite form: `0x80`, the content, end-of-contents `00 00`.
    Indefinite,
    /// A bare `0x80` then the content, without end-of-contents.
    Bare80,
    /// The minimal form of the real length plus this (off by one, ...).
    Delta(i8),
}

/// An element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Primitive bytes.
    Prim(Vec<u8>),
    /// The elements of a constructed value.
    Cons(Vec<Node>),
    /// A primitive (OCTET STRING) whose bytes are themselves BER elements,
    /// such as an extended request's value or a control's value.
    Wrapped(Vec<Node>),
}

/// The shortest definite-form length field for `n` content bytes.
pub fn minimal_length(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let mut out = vec![0x80 | (bytes.len() - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// One element: tag (one byte), length form and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub tag: u8,
    pub len: Len,
    pub body: Body,
}

impl Node {
    pub fn prim(tag: u8, data: &[u8]) -> Node {
        Node {
            tag,
            len: Len::Minimal,
            body: Body::Prim(data.to_vec()),
        }
    }

    pub fn cons(tag: u8, children: Vec<Node>) -> Node {
        Node {
            tag,
            len: Len::Minimal,
            body: Body::Cons(children),
        }
    }

    /// Parses exactly one element (constructed tags recursively). `None`
    /// for anything but complete definite-length elements.
    pub fn parse(bytes: &[u8]) -> Option<Node> {
        let nodes = Node::parse_all(bytes, 0)?;
        match <[Node; 1]>::try_from(nodes) {
            Ok([node]) => Some(node),
            Err(_) => None,
        }
    }

    fn parse_all(mut bytes: &[u8], depth: usize) -> Option<Vec<Node>> {
        if depth > 32 {
            return None;
        }
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (tag, h, len) = header(bytes).ok()??;
            let content = bytes.get(h..h + len)?;
            let body = if tag & 0x20 != 0 {
                Body::Cons(Node::parse_all(content, depth + 1)?)
            } else {
                Body::Prim(content.to_vec())
            };
            out.push(Node {
                tag,
                len: Len::Minimal,
                body,
            });
            bytes = &bytes[h + len..];
        }
        Some(out)
    }

    /// An LDAPMessage, with the values known to hold BER (an extended
    /// request's requestValue, control values) opened as [`Body::Wrapped`].
    pub fn parse_message(bytes: &[u8]) -> Option<Node> {
        let mut message = Node::parse(bytes)?;
        message.open_wrapped(None);
        Some(message)
    }

    fn open_wrapped(&mut self, parent: Option<u8>) {
        let tag = self.tag;
        if let Body::Prim(data) = &self.body {
            let holds_ber = matches!(
                (parent, tag),
                (Some(EXTENDED_REQUEST), 0x81) | (Some(0x30), 0x04)
            ) && data.first().is_some_and(|t| *t == 0x30);
            if holds_ber {
                if let Some(children) = Node::parse_all(data, 0) {
                    self.body = Body::Wrapped(children);
                }
            }
            return;
        }
        if let Body::Cons(children) = &mut self.body {
            for child in children {
                child.open_wrapped(Some(tag));
            }
        }
    }

    /// The content bytes as they will be written.
    pub fn content(&self) -> Vec<u8> {
        match &self.body {
            Body::Prim(d) => d.clone(),
            Body::Cons(c) | Body::Wrapped(c) => c.iter().flat_map(Node::encode).collect(),
        }
    }

    /// The element's bytes, lengths written as [`Node::len`] says.
    pub fn encode(&self) -> Vec<u8> {
        let content = self.content();
        let n = content.len();
        let mut out = vec![self.tag];
        let minimal = |out: &mut Vec<u8>, n: usize| out.extend(minimal_length(n));
        match self.len {
            Len::Minimal => minimal(&mut out, n),
            Len::Long(k) if (1..=4).contains(&k) && (k == 4 || n < 1 << (8 * u32::from(k))) => {
                out.push(0x80 | k);
                out.extend_from_slice(&(n as u32).to_be_bytes()[4 - usize::from(k)..]);
            }
            Len::Long(_) => minimal(&mut out, n),
            Len::Samba80 if n < 256 => out.extend_from_slice(&[0x80, n as u8]),
            Len::Samba80 => minimal(&mut out, n),
            Len::Indefinite => {
                out.push(0x80);
                out.extend_from_slice(&content);
                out.extend_from_slice(&[0, 0]);
                return out;
            }
            Len::Bare80 => out.push(0x80),
            Len::Delta(d) => minimal(&mut out, n.saturating_add_signed(isize::from(d))),
        }
        out.extend_from_slice(&content);
        out
    }

    /// The children of a constructed or wrapped element.
    pub fn children(&self) -> Option<&Vec<Node>> {
        match &self.body {
            Body::Cons(c) | Body::Wrapped(c) => Some(c),
            Body::Prim(_) => None,
        }
    }

    pub fn children_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.body {
            Body::Cons(c) | Body::Wrapped(c) => Some(c),
            Body::Prim(_) => None,
        }
    }

    /// The element at `path` (child indexes from this one).
    pub fn at(&self, path: &[usize]) -> Option<&Node> {
        match path.split_first() {
            None => Some(self),
            Some((i, rest)) => self.children()?.get(*i)?.at(rest),
        }
    }

    pub fn at_mut(&mut self, path: &[usize]) -> Option<&mut Node> {
        match path.split_first() {
            None => Some(self),
            Some((i, rest)) => self.children_mut()?.get_mut(*i)?.at_mut(rest),
        }
    }

    /// The paths of every element below this one, in document order.
    pub fn paths(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if let Some(children) = self.children() {
            for (i, child) in children.iter().enumerate() {
                at.push(i);
                out.push(at.clone());
                child.collect_paths(at, out);
                at.pop();
            }
        }
    }

    /// Sets the length form of this element and of every constructed or
    /// wrapped element below it.
    pub fn set_constructed_lengths(&mut self, len: Len) {
        if let Some(children) = self.children_mut() {
            for child in children.iter_mut() {
                child.set_constructed_lengths(len);
            }
            self.len = len;
        }
    }
}
