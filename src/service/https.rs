//! The decision service over HTTPS, for remote enforcement points (a DC
//! agent, a self-service portal that shows the failed rule before it
//! submits): `POST /v1/check` and `POST /v1/decide` with the JSON of
//! [`super::protocol`], and `POST /v1/notify`, where the Windows filter
//! reports a change it let through.
//!
//! TLS only. Every request is authenticated: by a client certificate
//! issued by `client_ca`, or by a bearer token from `token_file`; there is
//! no unauthenticated mode. Per client (certificate fingerprint or token
//! name): a rate limit. Per request: a size limit and timeouts.
//!
//! The TLS and HTTP libraries' own buffers are not wiped; pwgate's own
//! copies of the password are.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use sha2::Digest;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::protocol::{self, BadRequest, Op, MAX_REQUEST_BYTES};
use crate::audit::Peer;
use crate::config::{HttpsConfig, Token};
use crate::proxy::GateCell;
use crate::tls::{certificates, private_key, provider};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers, and its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed after this long, idle or not (keep-alive
/// clients reconnect).
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);
/// How long a request waits for a free slot before it is answered `busy`.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// The most clients whose rate is tracked at once.
const MAX_TRACKED_CLIENTS: usize = 10_000;
/// The most connections open at once, authenticated or not; more wait in
/// the kernel's accept queue. Taken before the TLS handshake, so that
/// unauthenticated peers cannot exhaust the control runtime.
const MAX_CONNECTIONS: usize = 256;

/// A bound HTTPS endpoint, ready to serve.
pub struct Endpoint {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    auth: Arc<Auth>,
}

struct Auth {
    /// Client certificates are checked by TLS against `client_ca`.
    certificates: bool,
    tokens: Vec<Token>,
    limiter: RateLimiter,
}

/// Builds the TLS configuration and binds the address.
pub async fn bind(config: &HttpsConfig) -> std::io::Result<Endpoint> {
    let tls = server_config(config).map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot listen on {} (service.https_listen): {e}",
                config.listen
            ),
        )
    })?;
    Ok(Endpoint {
        listener,
        acceptor: TlsAcceptor::from(tls),
        auth: Arc::new(Auth {
            certificates: config.client_ca.is_some(),
            tokens: config.tokens.clone(),
            limiter: RateLimiter::new(config.rate_limit_per_client),
        }),
    })
}

fn server_config(config: &HttpsConfig) -> Result<Arc<ServerConfig>, String> {
    let chain = certificates(&config.certificate).map_err(|e| e.to_string())?;
    let key = private_key(&config.private_key).map_err(|e| e.to_string())?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match &config.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca).map_err(|e| e.to_string())? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            // With tokens too, a client may come without a certificate
            // (and must then bring a token).
            let verifier = if config.tokens.is_empty() {
                verifier.build()
            } else {
                verifier.allow_unauthenticated().build()
            }
            .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut tls = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", config.certificate.display()))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    tls.send_tls13_tickets = 0;
    Ok(Arc::new(tls))
}

impl Endpoint {
    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is dropped.
    pub async fn serve(self, cell: Arc<GateCell>, max_concurrent: usize) {
        cell.serve_decisions();
        let slots = Arc::new(Semaphore::new(max_concurrent));
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(open) = connections.clone().acquire_owned().await else {
                return;
            };
            let (tcp, addr) = match self.listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "decision API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, auth, cell, slots) = (
                self.acceptor.clone(),
                self.auth.clone(),
                cell.clone(),
                slots.clone(),
            );
            tokio::spawn(async move {
                // Held until the connection ends.
                let _open = open;
                let tcp = QuickAck(tcp);
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        debug!(client = %addr, error = %e, "decision API: TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(client = %addr, "decision API: TLS handshake timed out");
                        return;
                    }
                };
                // A verified client certificate names the client by its
                // fingerprint.
                let cert_client = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|cert| {
                        let digest = sha2::Sha256::digest(cert.as_ref());
                        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                        format!("cert:{hex}")
                    });
                let service = hyper::service::service_fn(move |req| {
                    let (auth, cell, slots, cert_client) = (
                        auth.clone(),
                        cell.clone(),
                        slots.clone(),
                        cert_client.clone(),
                    );
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            handle(req, addr, cert_client, &auth, &cell, &slots).await,
                        )
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(tls), service);
                if let Ok(Err(e)) = tokio::time::timeout(MAX_CONNECTION_AGE, conn).await {
                    debug!(client = %addr, error = %e, "decision API: connection ended");
                }
            });
        }
    }
}

/// A client's TCP stream that acknowledges what it reads at once.
///
/// Clients that write a request's headers and its body apart (Windows'
/// WinHTTP does: `WinHttpSendRequest`, then `WinHttpWriteData`; Wine's
/// sends even its optional data apart) hold the body back until the
/// headers are acknowledged (Nagle's algorithm), and Linux, once a
/// connection looks interactive, delays that acknowledgement by up to
/// 40 ms. `TCP_QUICKACK` after each read sends it now; it is not sticky,
/// so it is set again on every read.
struct QuickAck(tokio::net::TcpStream);

impl QuickAck {
    fn ack_now(&self) {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on the stream's own descriptor with a valid
        // pointer and length; a failure only loses the optimization.
        unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.ack_now();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

type Answer = Response<Full<Bytes>>;

fn json(status: StatusCode, body: String) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, error: &'static str, message: &str) -> Answer {
    json(
        status,
        protocol::error(&BadRequest {
            error,
            message: message.to_owned(),
        }),
    )
}

/// Compares in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// The client's name, from its certificate or its bearer token.
    fn client(&self, cert_client: Option<String>, req: &Request<Incoming>) -> Option<String> {
        if let (true, Some(c)) = (self.certificates, cert_client) {
            return Some(c);
        }
        let header = req.headers().get(AUTHORIZATION)?.as_bytes();
        let given = header
            .strip_prefix(b"Bearer ")
            .or_else(|| header.strip_prefix(b"bearer "))?;
        // Every token is compared, so the time does not say which matched.
        let mut found = None;
        for t in &self.tokens {
            if same(t.secret.as_bytes(), given) {
                found = Some(format!("token:{}", t.name));
            }
        }
        found
    }
}

/// How long the body of an unauthenticated request may take to arrive,
/// to be thrown away.
const DISCARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads what is left of a refused request's body and wipes it unread (at
/// most `MAX_REQUEST_BYTES`, for at most `within`). Before an answer that
/// closes the connection: closing a socket with bytes still unread makes
/// the kernel send a reset, and a client that has not read the answer yet
/// then loses it (the filter saw "connection reset" instead of the 401
/// when its body, sent apart from the headers, came in late). Before one
/// that keeps it: the next request starts after this one's body.
async fn discard_body(body: Incoming, within: Duration) {
    let _ = tokio::time::timeout(within, each_piece(body, |_| {})).await;
}

/// A request's body (at most `MAX_REQUEST_BYTES`), in a buffer that is
/// wiped when dropped and grown by hand, so that no copy of the password
/// it carries is left behind by a reallocation.
async fn read_wiped(
    body: Incoming,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Box<dyn std::error::Error + Send + Sync>> {
    let mut out = zeroize::Zeroizing::new(Vec::new());
    each_piece(body, |data| push_wiping(&mut out, data)).await?;
    Ok(out)
}

/// Hands each piece of a body (at most `MAX_REQUEST_BYTES` in all) to
/// `take`, then wipes it when hyper does not share it (hyper's own read
/// buffer and rustls' are not reached from here). Errs when the body is
/// larger, or the connection fails.
async fn each_piece(
    body: Incoming,
    mut take: impl FnMut(&[u8]),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut body = Limited::new(body, MAX_REQUEST_BYTES);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            take(&data);
            if let Ok(mut data) = data.try_into_mut() {
                zeroize::Zeroize::zeroize(&mut data[..]);
            }
        }
    }
    Ok(())
}

/// Appends `data`, moving to a larger wiped buffer (the old one is wiped
/// as it is dropped) instead of letting the vector reallocate.
fn push_wiping(out: &mut zeroize::Zeroizing<Vec<u8>>, data: &[u8]) {
    let needed = out.len() + data.len();
    if needed > out.capacity() {
        let mut bigger =
            zeroize::Zeroizing::new(Vec::with_capacity(needed.max(2 * out.capacity())));
        bigger.extend_from_slice(out);
        *out = bigger;
    }
    out.extend_from_slice(data);
}

async fn handle(
    req: Request<Incoming>,
    addr: SocketAddr,
    cert_client: Option<String>,
    auth: &Auth,
    cell: &GateCell,
    slots: &Semaphore,
) -> Answer {
    // None: a notice (`/v1/notify`).
    let op = match req.uri().path() {
        "/v1/check" => Some(Op::Check),
        "/v1/decide" => Some(Op::Decide),
        "/v1/notify" => None,
        _ => {
            // Read (and wiped: it may hold a password) so that the
            // connection stays usable; hyper closes one whose body is left
            // unread, under a client already sending its next request.
            discard_body(req.into_body(), DISCARD_TIMEOUT).await;
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                "the API has /v1/check, /v1/decide and /v1/notify",
            );
        }
    };
    if req.method() != Method::POST {
        discard_body(req.into_body(), DISCARD_TIMEOUT).await;
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "use POST",
        );
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let Some(client) = auth.client(cert_client, &req) else {
        info!(client = %addr, "decision API: request without valid credentials refused");
        discard_body(req.into_body(), DISCARD_TIMEOUT).await;
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "present a client certificate or an Authorization: Bearer token",
        );
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        // An unauthenticated peer does not keep the connection.
        r.headers_mut()
            .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    };
    if !auth.limiter.allow(&client) {
        // Read the (bounded) body, so the connection stays usable.
        discard_body(req.into_body(), READ_TIMEOUT).await;
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this client; slow down",
        );
    }
    let json_body = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_body {
        discard_body(req.into_body(), READ_TIMEOUT).await;
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "send Content-Type: application/json",
        );
    }
    let body = match tokio::time::timeout(READ_TIMEOUT, read_wiped(req.into_body())).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                &format!("a request may be at most {MAX_REQUEST_BYTES} bytes"),
            )
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "bad_request",
                "the body came too slowly",
            )
        }
    };
    let peer = Peer::Api { client, addr };
    let Some(op) = op else {
        return match protocol::parse_notice(&body) {
            Ok(notice) => json(StatusCode::OK, super::notified(cell, peer, notice)),
            Err(bad) => {
                info!(client = %peer, error = bad.error, reason = %bad.message, "decision API: notice refused");
                json(StatusCode::BAD_REQUEST, protocol::error(&bad))
            }
        };
    };
    let parsed = match protocol::parse_as(&body, peer.clone(), Some(op)) {
        Ok(p) => p,
        Err(bad) => {
            info!(client = %peer, error = bad.error, reason = %bad.message, "decision API: request refused");
            return json(StatusCode::BAD_REQUEST, protocol::error(&bad));
        }
    };
    drop(body);
    let Ok(Ok(_permit)) = tokio::time::timeout(QUEUE_TIMEOUT, slots.acquire()).await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "pwgate is answering as many requests as it may; try again",
        );
    };
    json(StatusCode::OK, super::decide(cell, parsed.request).await)
}

/// A token bucket per client: `rate` requests per second, bursts of up to
/// `rate`.
struct RateLimiter {
    rate: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    fn new(rate: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn allow(&self, client: &str) -> bool {
        self.allow_at(client, Instant::now())
    }

    fn allow_at(&self, client: &str, now: Instant) -> bool {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() >= MAX_TRACKED_CLIENTS && !b.contains_key(client) {
            // Full buckets say nothing: forget the clients that are.
            let rate = self.rate;
            b.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < rate
            });
            if b.len() >= MAX_TRACKED_CLIENTS {
                // Still full: the client seen longest ago goes.
                if let Some(oldest) = b
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                {
                    b.remove(&oldest);
                }
            }
        }
        let (tokens, at) = b.entry(client.to_owned()).or_insert((self.rate, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_gathered_whole_in_buffers_grown_by_hand() {
        let mut out = zeroize::Zeroizing::new(Vec::new());
        let mut expected = Vec::new();
        for piece in [
            &b"{\"v\":1,"[..],
            b"",
            b"\"password\":\"",
            &[b'x'; 5000],
            b"\"}",
        ] {
            push_wiping(&mut out, piece);
            expected.extend_from_slice(piece);
            assert_eq!(&out[..], &expected[..]);
            assert!(out.capacity() >= out.len());
        }
    }

    #[test]
    fn the_rate_limit_allows_bursts_then_the_rate() {
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        let allowed = (0..20).filter(|_| l.allow_at("a", t0)).count();
        assert_eq!(allowed, 10);
        assert!(l.allow_at("b", t0), "clients are limited apart");
        assert!(!l.allow_at("a", t0 + Duration::from_millis(50)));
        assert!(l.allow_at("a", t0 + Duration::from_millis(150)));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
