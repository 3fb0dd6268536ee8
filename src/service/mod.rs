//! The decision service: the decision core offered to other enforcement
//! points, so a password set through a door that is not the LDAP proxy
//! (Samba's check password script, through `pwgate hook samba`) meets
//! the same policy, lookups, scopes and audit trail.
//!
//! It listens on a Unix socket (`[service] socket`), guarded by the
//! socket file's mode and by the peer's credentials (`allowed_uids`). One
//! request per line, one answer per line, in the JSON of [`protocol`].

pub mod https;
pub mod protocol;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use crate::audit::Peer;
use crate::config::ServiceConfig;
use crate::decision::{self, Context};
use crate::proxy::GateCell;
use protocol::{BadRequest, MAX_REQUEST_BYTES};

/// How long a connection may take to send a whole request, and how long
/// it may stay idle between requests.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for a free slot before it is answered `busy`.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers one request: the decision core's answer, or why it cannot be
/// served.
pub async fn answer(cell: &GateCell, body: &[u8], client: Peer) -> String {
    let parsed = match protocol::parse(body, client.clone()) {
        Ok(p) => p,
        Err(bad) => {
            info!(client = %client, error = bad.error, reason = %bad.message, "decision service: request refused");
            return protocol::error(&bad);
        }
    };
    decide(cell, parsed.request).await
}

/// The decision core's answer to a request read from the socket or HTTPS,
/// with the gate in force.
pub(crate) async fn decide(cell: &GateCell, request: decision::Request) -> String {
    let gate = cell.load();
    let ctx = Context {
        config: &gate.config,
        accounts: gate.directory.as_deref(),
        // The enforcement point sets the password after this answer;
        // pwgate never learns whether it did, so nothing is synced.
        sync: None,
        metrics: cell.metrics(),
        recent: Some(cell.serve_decisions()),
    };
    let outcome = decision::decide(&ctx, request).await;
    protocol::answer(&outcome)
}

/// Records a change an enforcement point reports as made, with the
/// decision of that door it confirms (taken: it confirms one change).
pub(crate) fn notified(cell: &GateCell, client: Peer, notice: protocol::Notice) -> String {
    let key = decision::recent::notice_key(&decision::recent::key("name", &notice.name));
    crate::audit::changed(&crate::audit::ChangeNotice {
        door: notice.door,
        client,
        target: format!("name:{}", notice.name),
        rid: notice.rid,
        confirms: cell.serve_decisions().take(&[key]),
    });
    protocol::recorded()
}

/// Binds the socket: a stale socket file left by a pwgate that is gone is
/// replaced; a live one, or a file that is not a socket, is an error.
pub async fn bind(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let err = |what: String| std::io::Error::other(format!("{}: {what}", path.display()));
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(err(
                    "another process is serving this socket (is pwgate already running?)".into(),
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| err(format!("cannot remove the stale socket: {e}")))?;
        }
        Ok(_) => {
            return Err(err(
                "exists and is not a socket; pwgate will not replace it".into(),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e.to_string())),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(err(format!(
                "the directory {} does not exist (the systemd unit's RuntimeDirectory creates it)",
                dir.display()
            )));
        }
    }
    let listener = UnixListener::bind(path).map_err(|e| err(format!("cannot listen: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| err(format!("cannot set its mode: {e}")))?;
    Ok(listener)
}

/// Removes the socket file at shutdown (when it is still a socket).
pub fn remove_socket(path: &Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}

/// Serves the socket until the task is dropped.
pub async fn serve(listener: UnixListener, cell: Arc<GateCell>, config: ServiceConfig) {
    cell.serve_decisions();
    let allowed = Arc::new(config.allowed());
    let slots = Arc::new(Semaphore::new(config.max_concurrent));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!(error = %e, "decision service: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (cell, allowed, slots) = (cell.clone(), allowed.clone(), slots.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &cell, &allowed, &slots).await {
                debug!(error = %e, "decision service: connection ended");
            }
        });
    }
}

async fn connection(
    mut stream: UnixStream,
    cell: &GateCell,
    allowed: &[u32],
    slots: &Semaphore,
) -> std::io::Result<()> {
    let cred = stream.peer_cred()?;
    let peer = Peer::Local {
        uid: cred.uid(),
        pid: cred.pid(),
    };
    if !allowed.contains(&cred.uid()) {
        warn!(client = %peer, "decision service: user not in service.allowed_uids; connection refused");
        let bad = BadRequest {
            error: "forbidden",
            message: "this user may not ask pwgate (service.allowed_uids)".into(),
        };
        stream
            .write_all(format!("{}\n", protocol::error(&bad)).as_bytes())
            .await?;
        return Ok(());
    }
    // Requests carry passwords: read into a wiped buffer, never a
    // BufReader's.
    let mut buf = Zeroizing::new(Vec::with_capacity(4096));
    loop {
        let line = match read_line(&mut stream, &mut buf).await? {
            Line::Request(n) => n,
            Line::Eof => return Ok(()),
            Line::TooLong => {
                let bad = BadRequest {
                    error: "too_large",
                    message: format!("a request may be at most {MAX_REQUEST_BYTES} bytes"),
                };
                stream
                    .write_all(format!("{}\n", protocol::error(&bad)).as_bytes())
                    .await?;
                return Ok(());
            }
        };
        let reply = match tokio::time::timeout(QUEUE_TIMEOUT, slots.acquire()).await {
            Ok(Ok(_permit)) => answer(cell, &buf[..line], peer.clone()).await,
            _ => protocol::error(&BadRequest {
                error: "busy",
                message: "pwgate is answering as many requests as it may; try again".into(),
            }),
        };
        // Wipe this request, then move what follows it to the front (the
        // whole capacity is wiped when the buffer is dropped).
        zeroize::Zeroize::zeroize(&mut buf[..=line]);
        buf.drain(..=line);
        stream.write_all(format!("{reply}\n").as_bytes()).await?;
    }
}

enum Line {
    /// A request ends at this index (its newline).
    Request(usize),
    Eof,
    TooLong,
}

/// Reads until `buf` holds a newline, within [`READ_TIMEOUT`].
async fn read_line(stream: &mut UnixStream, buf: &mut Zeroizing<Vec<u8>>) -> std::io::Result<Line> {
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    loop {
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            return Ok(Line::Request(i));
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Ok(Line::TooLong);
        }
        // Never let the buffer reallocate: a reallocation would leave a
        // copy of the password behind.
        if buf.capacity() - buf.len() < 1024 {
            let mut bigger = Zeroizing::new(Vec::with_capacity(buf.capacity() * 2 + 1024));
            bigger.extend_from_slice(buf);
            *buf = bigger;
        }
        let n = match tokio::time::timeout_at(deadline, stream.read_buf(&mut **buf)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no whole request in time",
                ))
            }
        };
        if n == 0 {
            return Ok(Line::Eof);
        }
    }
}
