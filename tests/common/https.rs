//! A small HTTPS/1.1 client for the decision API's tests: keep-alive
//! requests over one rustls connection that trusts the test CA, with the
//! test client certificate or without.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::slapd::test_certs;

/// A free port on 127.0.0.1 (bound and released: a race with other
/// processes is possible, and harmless in tests that then fail loudly).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A certificate chain and its private key, read from PEM files (the
/// test certificates).
pub fn identity(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let read = |path: &std::path::Path| {
        std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let chain = rustls_pemfile::certs(&mut read(cert).as_slice())
        .map(|c| c.expect("PEM"))
        .collect();
    let key = rustls_pemfile::private_key(&mut read(key).as_slice())
        .expect("PEM")
        .expect("a key");
    (chain, key)
}

fn config(client_cert: bool) -> Arc<rustls::ClientConfig> {
    let certs = test_certs();
    let pem = std::fs::read(&certs.ca).expect("the test CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("PEM")).expect("a CA certificate");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots);
    let config = if client_cert {
        let (chain, key) = identity(&certs.client_cert, &certs.client_key);
        builder
            .with_client_auth_cert(chain, key)
            .expect("client certificate")
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

/// One keep-alive connection to the API.
pub struct Api {
    tls: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
}

impl Api {
    pub fn connect(addr: SocketAddr, client_cert: bool) -> io::Result<Api> {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("an IP name");
        let conn =
            rustls::ClientConnection::new(config(client_cert), name).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Handshake now, so a refused certificate shows here.
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(Api {
            tls: BufReader::new(tls),
        })
    }

    /// Sends a request and reads the answer: (status, body).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> io::Result<(u16, String)> {
        self.request_paced(method, path, headers, body, Duration::ZERO)
    }

    /// [`Api::request`], the body sent `pause` after the headers (as a
    /// client that writes them apart, on a busy machine).
    pub fn request_paced(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
        pause: Duration,
    ) -> io::Result<(u16, String)> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let s = self.tls.get_mut();
        s.write_all(head.as_bytes())?;
        if !pause.is_zero() {
            s.flush()?;
            std::thread::sleep(pause);
        }
        s.write_all(body.as_bytes())?;
        s.flush()?;
        let mut status = String::new();
        if self.tls.read_line(&mut status)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {status:?}")))?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.tls.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        self.tls.read_exact(&mut body)?;
        Ok((code, String::from_utf8_lossy(&body).into_owned()))
    }

    /// `POST path` with a JSON body and these headers.
    pub fn post(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> io::Result<(u16, String)> {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, body)
    }
}
