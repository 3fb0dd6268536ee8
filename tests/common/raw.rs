//! Raw LDAP over plain sockets: a small BER encoder for hand-built requests,
//! a reader that splits responses into LDAPMessages, and bounded-time socket
//! helpers.
//!
//! Only what RFC 4511 section 5.1 allows is produced and accepted: definite
//! lengths, one-byte tags, lengths of at most four bytes. Every read is
//! bounded by [`READ_TIMEOUT`] per call and [`RAW_DEADLINE`] per reader.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::tools::tls_client_config;

/// Upper bound for any single raw exchange (reads time out well before).
pub const RAW_DEADLINE: Duration = Duration::from_secs(10);
/// Read and write timeout of raw sockets.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Simple Paged Results control (RFC 2696).
pub const OID_PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
/// Notice of Disconnection (RFC 4511 section 4.4.1).
pub const OID_NOTICE_OF_DISCONNECTION: &str = "1.3.6.1.4.1.1466.20036";
/// StartTLS extended operation (RFC 4511 section 4.14).
pub const OID_START_TLS: &str = "1.3.6.1.4.1.1466.20037";
/// Password Modify extended operation (RFC 3062).
pub const OID_PASSWORD_MODIFY: &str = "1.3.6.1.4.1.4203.1.11.1";

/// protocolOp tag of BindResponse.
pub const BIND_RESPONSE: u8 = 0x61;
/// protocolOp tag of SearchResultEntry.
pub const SEARCH_RESULT_ENTRY: u8 = 0x64;
/// protocolOp tag of SearchResultDone.
pub const SEARCH_RESULT_DONE: u8 = 0x65;
/// protocolOp tag of SearchResultReference.
pub const SEARCH_RESULT_REFERENCE: u8 = 0x73;
/// protocolOp tag of ExtendedResponse.
pub const EXTENDED_RESPONSE: u8 = 0x78;

/// resultCode protocolError.
pub const PROTOCOL_ERROR: i64 = 2;
/// resultCode authMethodNotSupported.
pub const AUTH_METHOD_NOT_SUPPORTED: i64 = 7;
/// resultCode unavailable.
pub const UNAVAILABLE: i64 = 52;

/// SearchRequest scope baseObject.
pub const SCOPE_BASE: u32 = 0;
/// SearchRequest scope wholeSubtree.
pub const SCOPE_SUBTREE: u32 = 2;

// ---------------------------------------------------------------------------
// Encoder

/// One BER element with a one-byte `tag` and a definite length.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative INTEGER/ENUMERATED (or any tag) in minimal form.
pub fn int(tag: u8, value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
    if bytes[skip] & 0x80 != 0 {
        skip -= 1; // keep a leading zero so the value stays positive
    }
    tlv(tag, &bytes[skip..])
}

/// An OCTET STRING holding `value`.
pub fn octets(value: &str) -> Vec<u8> {
    tlv(0x04, value.as_bytes())
}

/// LDAPMessage ::= SEQUENCE { messageID, protocolOp, controls [0] OPTIONAL }.
pub fn ldap_message(msgid: u32, op: &[u8], controls: &[Vec<u8>]) -> Vec<u8> {
    let mut content = int(0x02, msgid);
    content.extend_from_slice(op);
    if !controls.is_empty() {
        content.extend(tlv(0xa0, &controls.concat()));
    }
    tlv(0x30, &content)
}

/// BindRequest [APPLICATION 0] { version 3, name, simple [0] password }.
pub fn simple_bind(msgid: u32, dn: &str, password: &str) -> Vec<u8> {
    let op = [int(0x02, 3), octets(dn), tlv(0x80, password.as_bytes())].concat();
    ldap_message(msgid, &tlv(0x60, &op), &[])
}

/// BindRequest { version 3, name "", sasl [3] SaslCredentials { mechanism } }.
pub fn sasl_bind(msgid: u32, mechanism: &str) -> Vec<u8> {
    let op = [int(0x02, 3), octets(""), tlv(0xa3, &octets(mechanism))].concat();
    ldap_message(msgid, &tlv(0x60, &op), &[])
}

/// SearchRequest [APPLICATION 3] (neverDerefAliases, no limits, typesOnly FALSE).
pub fn search_request(
    msgid: u32,
    base: &str,
    scope: u32,
    filter: &[u8],
    attributes: &[&str],
    controls: &[Vec<u8>],
) -> Vec<u8> {
    let attrs: Vec<u8> = attributes.iter().flat_map(|a| octets(a)).collect();
    let op = [
        octets(base),
        int(0x0a, scope),
        int(0x0a, 0),
        int(0x02, 0),
        int(0x02, 0),
        tlv(0x01, &[0x00]),
        filter.to_vec(),
        tlv(0x30, &attrs),
    ]
    .concat();
    ldap_message(msgid, &tlv(0x63, &op), controls)
}

/// Filter `(attr=*)`: present [7] AttributeDescription.
pub fn present(attr: &str) -> Vec<u8> {
    tlv(0x87, attr.as_bytes())
}

/// Filter `(attr=value)`: equalityMatch [3] AttributeValueAssertion.
pub fn equals(attr: &str, value: &str) -> Vec<u8> {
    tlv(0xa3, &[octets(attr), octets(value)].concat())
}

/// Simple Paged Results control, not critical, with page `size` and an empty cookie.
pub fn paged_results_control(size: u32) -> Vec<u8> {
    let value = tlv(0x30, &[int(0x02, size), octets("")].concat());
    tlv(
        0x30,
        &[octets(OID_PAGED_RESULTS), tlv(0x04, &value)].concat(),
    )
}

/// AbandonRequest [APPLICATION 16] MessageID `of`.
pub fn abandon(msgid: u32, of: u32) -> Vec<u8> {
    let id = int(0x02, of);
    ldap_message(msgid, &tlv(0x50, &id[2..]), &[])
}

/// UnbindRequest [APPLICATION 2] NULL.
pub fn unbind(msgid: u32) -> Vec<u8> {
    ldap_message(msgid, &[0x42, 0x00], &[])
}

/// ExtendedRequest [APPLICATION 23] { requestName [0] `oid`, requestValue [1] OPTIONAL }.
pub fn extended_request(msgid: u32, oid: &str, value: Option<&[u8]>) -> Vec<u8> {
    let mut op = tlv(0x80, oid.as_bytes());
    if let Some(value) = value {
        op.extend(tlv(0x81, value));
    }
    ldap_message(msgid, &tlv(0x77, &op), &[])
}

/// ExtendedRequest [APPLICATION 23] { requestName [0] StartTLS OID }.
pub fn start_tls(msgid: u32) -> Vec<u8> {
    extended_request(msgid, OID_START_TLS, None)
}

// ---------------------------------------------------------------------------
// Reader

/// Splits one element off `buf` as `(tag, content, rest)`; `None` if incomplete.
pub fn split_tlv(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    // Panics on encodings LDAP does not allow (indefinite length, lengths
    // over 4 bytes).
    let (&tag, rest) = buf.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        assert!((1..=4).contains(&n), "bad BER length byte 0x{first:02x}");
        if rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The `(tag, content)` elements of a constructed value.
pub fn children(mut content: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, value, rest) = split_tlv(content).expect("truncated BER element in a response");
        out.push((tag, value));
        content = rest;
    }
    out
}

/// The value of an INTEGER/ENUMERATED element's content.
pub fn int_value(content: &[u8]) -> i64 {
    assert!(!content.is_empty() && content.len() <= 8, "bad INTEGER");
    let first = i64::from(content[0] as i8);
    content[1..]
        .iter()
        .fold(first, |acc, b| (acc << 8) | i64::from(*b))
}

/// Splits a byte stream into complete LDAPMessages plus the incomplete tail.
pub fn split_frames(mut bytes: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut frames = Vec::new();
    while let Some((tag, _, rest)) = split_tlv(bytes) {
        assert_eq!(tag, 0x30, "LDAPMessage is not a SEQUENCE");
        frames.push(&bytes[..bytes.len() - rest.len()]);
        bytes = rest;
    }
    (frames, bytes)
}

/// The response bytes of each message ID, concatenated in arrival order.
pub fn by_msgid(bytes: &[u8]) -> BTreeMap<i64, Vec<u8>> {
    let (frames, tail) = split_frames(bytes);
    assert!(
        tail.is_empty(),
        "incomplete message at the end: {tail:02x?}"
    );
    let mut out: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    for frame in frames {
        out.entry(Response::parse(frame).msgid)
            .or_default()
            .extend_from_slice(frame);
    }
    out
}

/// The protocolOp tags of the messages in `bytes`, in order.
pub fn ops_of(bytes: &[u8]) -> Vec<u8> {
    split_frames(bytes)
        .0
        .into_iter()
        .map(|f| Response::parse(f).op)
        .collect()
}

/// One decoded response header: message ID, protocolOp tag and content.
pub struct Response<'a> {
    /// messageID.
    pub msgid: i64,
    /// protocolOp tag.
    pub op: u8,
    /// protocolOp content.
    pub op_content: &'a [u8],
    /// The controls [0] element's content, if any.
    pub controls: Option<&'a [u8]>,
}

impl<'a> Response<'a> {
    /// Parses one complete LDAPMessage; panics on anything else.
    pub fn parse(frame: &'a [u8]) -> Response<'a> {
        let (_, content, rest) = split_tlv(frame).expect("a complete frame");
        assert!(rest.is_empty(), "trailing bytes after a frame");
        let fields = children(content);
        assert!(fields.len() >= 2, "LDAPMessage without protocolOp");
        assert_eq!(fields[0].0, 0x02, "messageID is not an INTEGER");
        Response {
            msgid: int_value(fields[0].1),
            op: fields[1].0,
            op_content: fields[1].1,
            controls: fields.get(2).filter(|(t, _)| *t == 0xa0).map(|(_, c)| *c),
        }
    }

    /// resultCode of an LDAPResult-shaped response.
    pub fn result_code(&self) -> i64 {
        let fields = children(self.op_content);
        assert_eq!(fields[0].0, 0x0a, "resultCode is not ENUMERATED");
        int_value(fields[0].1)
    }

    /// diagnosticMessage of an LDAPResult-shaped response.
    pub fn diagnostic(&self) -> String {
        let fields = children(self.op_content);
        assert!(fields.len() >= 3, "LDAPResult without diagnosticMessage");
        String::from_utf8_lossy(fields[2].1).into_owned()
    }

    /// responseName [10] of an ExtendedResponse.
    pub fn response_name(&self) -> Option<String> {
        children(self.op_content)
            .into_iter()
            .find(|(t, _)| *t == 0x8a)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// The OIDs of the response's controls, in order.
    pub fn control_oids(&self) -> Vec<String> {
        let Some(controls) = self.controls else {
            return Vec::new();
        };
        children(controls)
            .into_iter()
            .map(|(_, control)| {
                let fields = children(control);
                String::from_utf8_lossy(fields[0].1).into_owned()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Connections

/// A TCP connection to `addr` with [`READ_TIMEOUT`] on reads and writes and TCP_NODELAY.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("set read timeout");
    stream
        .set_write_timeout(Some(READ_TIMEOUT))
        .expect("set write timeout");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    stream
}

/// The socket address of an `ldap://host:port` URL with a literal IP.
pub fn addr_of(url: &str) -> SocketAddr {
    let hostport = url
        .split("://")
        .nth(1)
        .unwrap_or_else(|| panic!("not a URL: {url}"));
    hostport
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// Reads LDAPMessages from any byte stream, bounded by a deadline.
pub struct FrameReader<R> {
    /// The stream read from (writable too, when `R` is).
    pub reader: R,
    /// Bytes read and not yet returned as a message.
    pub buf: Vec<u8>,
    deadline: Instant,
    /// Every byte read, in order.
    pub raw: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    /// A reader of `reader` that gives up [`RAW_DEADLINE`] from now.
    pub fn new(reader: R) -> Self {
        FrameReader {
            reader,
            buf: Vec::new(),
            deadline: Instant::now() + RAW_DEADLINE,
            raw: Vec::new(),
        }
    }

    /// Reads more bytes; `false` at end of stream. Panics on timeout.
    pub fn fill(&mut self) -> bool {
        assert!(
            Instant::now() < self.deadline,
            "no complete answer within {RAW_DEADLINE:?}"
        );
        let mut chunk = [0u8; 16 * 1024];
        match self.reader.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                self.raw.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "read timed out after {READ_TIMEOUT:?}; have {:02x?}",
                    self.buf
                )
            }
            Err(e) => panic!("read failed: {e}; have {:02x?}", self.buf),
        }
    }

    /// The next complete message, or `None` at a clean end of stream.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some((_, _, rest)) = split_tlv(&self.buf) {
                let len = self.buf.len() - rest.len();
                return Some(self.buf.drain(..len).collect());
            }
            if !self.fill() {
                assert!(
                    self.buf.is_empty(),
                    "stream ended inside a message: {:02x?}",
                    self.buf
                );
                return None;
            }
        }
    }

    /// Reads messages until the one answering `msgid` with `op` arrives.
    pub fn until(&mut self, msgid: i64, op: u8) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        loop {
            let frame = self
                .next_frame()
                .unwrap_or_else(|| panic!("connection closed before msgid {msgid} op {op:#x}"));
            let r = Response::parse(&frame);
            let done = r.msgid == msgid && r.op == op;
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    /// Reads until the peer closes; returns the messages read meanwhile.
    pub fn until_eof(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame() {
            frames.push(frame);
        }
        frames
    }
}

/// A rustls client stream over a TCP socket.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Wraps a connected socket in TLS to 127.0.0.1, trusting the test CA (handshake on first use).
pub fn tls_wrap(tcp: TcpStream) -> TlsStream {
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("an IP server name");
    let conn = rustls::ClientConnection::new(tls_client_config(), name).expect("TLS client");
    rustls::StreamOwned::new(conn, tcp)
}

/// Reads `stream` to EOF (within 5 s): one Notice of Disconnection with `code`; its diagnostic.
pub fn assert_notice_then_eof(stream: TcpStream, code: i64) -> String {
    let started = Instant::now();
    let mut reader = FrameReader::new(stream);
    let frames = reader.until_eof();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closing took {:?}",
        started.elapsed()
    );
    assert_eq!(frames.len(), 1, "expected one notice, got {frames:02x?}");
    let notice = Response::parse(&frames[0]);
    assert_eq!(notice.msgid, 0, "a notice has message ID 0");
    assert_eq!(notice.op, EXTENDED_RESPONSE);
    assert_eq!(
        notice.response_name().as_deref(),
        Some(OID_NOTICE_OF_DISCONNECTION)
    );
    assert_eq!(notice.result_code(), code);
    notice.diagnostic()
}

/// Sends a simple bind (msgid 1) and `request` (msgid 2) in one write over
/// LDAPS to `addr`, without waiting for the bind's answer, as asynchronous
/// clients do; the result code and diagnostic of the answer to msgid 2.
pub fn pipelined_behind_bind(
    addr: SocketAddr,
    bind_dn: &str,
    bind_pw: &str,
    request: &[u8],
) -> (i64, String) {
    let mut batch = simple_bind(1, bind_dn, bind_pw);
    batch.extend_from_slice(request);
    let mut stream = tls_wrap(connect(addr));
    stream
        .write_all(&batch)
        .expect("send bind and change together");
    let mut reader = FrameReader::new(stream);
    loop {
        let frame = reader.next_frame().expect("an answer for each request");
        let response = Response::parse(&frame);
        if response.msgid == 2 {
            return (response.result_code(), response.diagnostic());
        }
    }
}

/// A connection to `addr`, bound anonymously (msgid 1) and answered with success.
pub fn bystander(addr: SocketAddr) -> (TcpStream, FrameReader<TcpStream>) {
    let mut stream = connect(addr);
    stream
        .write_all(&simple_bind(1, "", ""))
        .expect("bystander bind");
    let mut reader = FrameReader::new(stream.try_clone().expect("clone socket"));
    let frames = reader.until(1, BIND_RESPONSE);
    assert_eq!(Response::parse(&frames[0]).result_code(), 0);
    (stream, reader)
}
