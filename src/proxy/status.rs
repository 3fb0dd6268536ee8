//! The operators' HTTP endpoints: `/metrics` (the counters of
//! [`crate::metrics`]), `/healthz` and `/readyz` for load balancers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::proxy::GateCell;

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the
/// process ends. `/readyz` is 200 when a directory accepts a connection now.
/// A background probe of every upstream URL is running.
static PROBING: AtomicBool = AtomicBool::new(false);

pub async fn serve(listener: TcpListener, cell: Arc<GateCell>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let cell = cell.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, cell).await {
                debug!(client = %peer, error = %e, "metrics request failed");
            }
        });
    }
}

async fn answer(mut stream: TcpStream, cell: Arc<GateCell>) -> std::io::Result<()> {
    // Read the request head, bounded in size and time.
    let mut head = Vec::with_capacity(512);
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
    if read.is_err() {
        return Ok(());
    }
    let line =
        String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or(&[])).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4",
            cell.metrics().render(),
        ),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/readyz") => {
            let gate = cell.load();
            // The answer: whether a directory takes a connection now (the
            // first that does, as a client's connection would). Then, in
            // the background and one probe at a time, every URL, each
            // counted like a client's attempt: so /readyz probes keep
            // pwgate_upstream_up current for the backups too, while no
            // client connects, without a dead backup slowing the answer.
            if !PROBING.swap(true, Ordering::AcqRel) {
                let (gate, metrics) = (gate.clone(), cell.shared_metrics());
                tokio::spawn(async move {
                    let _ = gate
                        .upstream
                        .probe_all(|url, outcome| metrics.upstream_connect(url, outcome))
                        .await;
                    PROBING.store(false, Ordering::Release);
                });
            }
            let metrics = cell.metrics();
            match gate
                .upstream
                .connect(|url, outcome| metrics.upstream_connect(url, outcome))
                .await
            {
                Ok(_) => ("200 OK", "text/plain", "ready\n".to_owned()),
                Err(e) => (
                    "503 Service Unavailable",
                    "text/plain",
                    format!("not ready: {e}\n"),
                ),
            }
        }
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Binds the metrics listener (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen for metrics on {addr}: {e}"),
        )
    })
}
