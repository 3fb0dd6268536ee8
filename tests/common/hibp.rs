//! A local stand-in for the Pwned Passwords range API, for
//! `pwgate store update`: HTTPS with the test certificates on 127.0.0.1,
//! `GET /range/ABCDE[?mode=ntlm]` answered with `SUFFIX:COUNT` lines and
//! CRLF, padding entries with count 0 when asked (`Add-Padding: true`), an
//! ETag per range and 304 to a matching `If-None-Match`, as the service
//! answers. The data is made up and deterministic: a range's entries
//! depend on its prefix and its version, which a test can bump to change
//! the range between runs. Faults can be queued per range: 503, 429 with
//! Retry-After, an answer cut short, a dropped connection, a slow answer,
//! a body that is not the format, or a 404 that stops the run.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::slapd::test_certs;

/// One thing going wrong with the next answer for a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 Service Unavailable.
    Unavailable,
    /// 429 with `Retry-After: N` seconds.
    TooMany(u64),
    /// The headers promise more body than is sent; the connection closes.
    CutShort,
    /// The connection closes without an answer.
    Dropped,
    /// The answer comes after this long.
    Slow(Duration),
    /// The body comes in four parts, this long apart.
    SlowBody(Duration),
    /// 200 with a body that is not `SUFFIX:COUNT` lines.
    Garbage,
    /// 404: the run must stop.
    NotFound,
}

#[derive(Debug, Default)]
pub struct ApiState {
    versions: Mutex<HashMap<u32, u32>>,
    faults: Mutex<HashMap<u32, VecDeque<Fault>>>,
    /// Requests per range (every attempt).
    pub requests: Mutex<HashMap<u32, u32>>,
    pub answered_200: AtomicU64,
    pub answered_304: AtomicU64,
    pub faults_served: AtomicU64,
    pub padded: AtomicU64,
}

pub struct RangeApi {
    pub addr: SocketAddr,
    pub state: Arc<ApiState>,
    _runtime: tokio::runtime::Runtime,
}

/// The hash kinds of the API (`?mode=ntlm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sha1,
    Ntlm,
}

impl Mode {
    fn suffix_len(self) -> usize {
        match self {
            Mode::Sha1 => 35,
            Mode::Ntlm => 27,
        }
    }
}

/// The entries of range `prefix` at `version`: (full hash in hex, count).
pub fn entries(prefix: u32, version: u32, mode: Mode) -> Vec<(String, u64)> {
    let n = 2 + (prefix.wrapping_mul(7).wrapping_add(version) % 4) as usize;
    (0..n)
        .map(|i| {
            let digest = Sha1::digest(format!("{prefix}-{i}-{version}").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
            let suffix = &hex[..mode.suffix_len()];
            let count = 1 + u64::from(prefix.wrapping_add(i as u32) % 50);
            (format!("{prefix:05X}{suffix}"), count)
        })
        .collect()
}

fn etag(prefix: u32, version: u32) -> String {
    format!("\"{prefix:05X}-v{version}\"")
}

impl ApiState {
    pub fn version(&self, prefix: u32) -> u32 {
        *self.versions.lock().unwrap().get(&prefix).unwrap_or(&0)
    }

    /// Changes range `prefix`: other entries, another ETag.
    pub fn bump(&self, prefix: u32) {
        *self.versions.lock().unwrap().entry(prefix).or_insert(0) += 1;
    }

    pub fn queue(&self, prefix: u32, faults: &[Fault]) {
        self.faults
            .lock()
            .unwrap()
            .entry(prefix)
            .or_default()
            .extend(faults.iter().copied());
    }

    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }

    pub fn total_requests(&self) -> u64 {
        self.requests
            .lock()
            .unwrap()
            .values()
            .map(|n| u64::from(*n))
            .sum()
    }

    /// Every full hash of the ranges `prefixes`, as they are now.
    pub fn hashes(
        &self,
        prefixes: impl Iterator<Item = u32>,
        mode: Mode,
    ) -> BTreeSet<(String, u64)> {
        prefixes
            .flat_map(|p| entries(p, self.version(p), mode))
            .collect()
    }
}

impl RangeApi {
    pub fn start() -> RangeApi {
        let certs = test_certs();
        let config = pwgate::tls::server_config(&certs.server_cert, &certs.server_key, 0)
            .expect("the test server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(ApiState::default());
        let shared = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = shared.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { answer(&state, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        RangeApi {
            addr,
            state,
            _runtime: runtime,
        }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

fn text(status: u16, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(full(body.to_owned()))
        .expect("a response")
}

async fn answer(state: &ApiState, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let path = req.uri().path().to_owned();
    let mode = match req.uri().query() {
        None => Mode::Sha1,
        Some("mode=ntlm") => Mode::Ntlm,
        Some(_) => return Ok(text(400, "bad query")),
    };
    let Some(hex) = path.strip_prefix("/range/") else {
        return Ok(text(404, "not found"));
    };
    let prefix = match (hex.len(), u32::from_str_radix(hex, 16)) {
        (5, Ok(p)) => p,
        _ => return Ok(text(400, "The hash prefix was not in a valid format")),
    };
    *state.requests.lock().unwrap().entry(prefix).or_insert(0) += 1;
    let fault = state
        .faults
        .lock()
        .unwrap()
        .get_mut(&prefix)
        .and_then(VecDeque::pop_front);
    if fault.is_some() {
        state.faults_served.fetch_add(1, Ordering::Relaxed);
    }
    let version = state.version(prefix);
    let tag = etag(prefix, version);
    let mut body = String::new();
    for (hash, count) in entries(prefix, version, mode) {
        body.push_str(&hash[5..]);
        body.push(':');
        body.push_str(&count.to_string());
        body.push_str("\r\n");
    }
    if req
        .headers()
        .get("add-padding")
        .is_some_and(|v| v == "true")
    {
        state.padded.fetch_add(1, Ordering::Relaxed);
        for i in 0..3 {
            let digest = Sha1::digest(format!("padding-{prefix}-{i}").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
            body.push_str(&hex[..mode.suffix_len()]);
            body.push_str(":0\r\n");
        }
    }
    match fault {
        Some(Fault::Unavailable) => return Ok(text(503, "busy")),
        Some(Fault::TooMany(secs)) => {
            return Ok(Response::builder()
                .status(429)
                .header("retry-after", secs.to_string())
                .body(full(Bytes::from_static(b"Rate limit exceeded")))
                .expect("a response"))
        }
        Some(Fault::Dropped) => return Err(Dropped),
        Some(Fault::NotFound) => return Ok(text(404, "not found")),
        Some(Fault::Garbage) => return Ok(text(200, "<html><body>Service busy</body></html>")),
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::SlowBody(pause)) => {
            state.answered_200.fetch_add(1, Ordering::Relaxed);
            let bytes = Bytes::from(body);
            let len = bytes.len();
            let parts: Vec<Bytes> = (0..4)
                .map(|i| bytes.slice(len * i / 4..len * (i + 1) / 4))
                .collect();
            let stream = futures::stream::unfold(parts.into_iter(), move |mut rest| async move {
                let part = rest.next()?;
                tokio::time::sleep(pause).await;
                Some((Ok::<_, std::io::Error>(Frame::data(part)), rest))
            });
            return Ok(Response::builder()
                .status(200)
                .header("etag", tag)
                .header("content-length", len.to_string())
                .body(StreamBody::new(stream).boxed())
                .expect("a response"));
        }
        Some(Fault::CutShort) => {
            // More promised than sent: the client must see the answer as
            // cut short, not as a range with fewer entries.
            // A stream (no size of its own), so the promised length stands.
            let half = Bytes::from(body[..body.len() / 2].to_owned());
            let once =
                futures::stream::once(async move { Ok::<_, std::io::Error>(Frame::data(half)) });
            return Ok(Response::builder()
                .status(200)
                .header("content-length", (body.len() + 100).to_string())
                .body(StreamBody::new(once).boxed())
                .expect("a response"));
        }
        None => {}
    }
    if req
        .headers()
        .get("if-none-match")
        .is_some_and(|v| v.as_bytes() == tag.as_bytes())
    {
        state.answered_304.fetch_add(1, Ordering::Relaxed);
        return Ok(Response::builder()
            .status(304)
            .header("etag", tag)
            .body(full(Bytes::new()))
            .expect("a response"));
    }
    state.answered_200.fetch_add(1, Ordering::Relaxed);
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .header("etag", tag)
        .body(full(body))
        .expect("a response"))
}

/// A plain HTTP proxy that only does CONNECT to 127.0.0.1, counting the
/// tunnels it opened.
pub struct ConnectProxy {
    pub addr: SocketAddr,
    pub tunnels: Arc<AtomicU64>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let tunnels = Arc::new(AtomicU64::new(0));
        let count = tunnels.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().expect("clone"));
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let mut client = client;
                    let target = first.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let allowed = first.starts_with("CONNECT ") && target.starts_with("127.0.0.1:");
                    let upstream = allowed
                        .then(|| std::net::TcpStream::connect(&target).ok())
                        .flatten();
                    let Some(upstream) = upstream else {
                        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
                        return;
                    };
                    count.fetch_add(1, Ordering::Relaxed);
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let (mut c2, mut u2) = (
                        client.try_clone().expect("clone"),
                        upstream.try_clone().expect("clone"),
                    );
                    let mut up = upstream;
                    let t = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut reader, &mut up);
                        let _ = up.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut u2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                    let _ = t.join();
                });
            }
        });
        ConnectProxy { addr, tunnels }
    }
}
