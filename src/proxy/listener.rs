//! Accepting connections: the plain listener (with StartTLS when a
//! certificate is set), the LDAPS listener, the connection limit, and the
//! graceful shutdown.
//!
//! On shutdown the listeners close (new connections are refused) and every
//! session is told through its [`Shutdown`](crate::proxy::shutdown::Shutdown):
//! it reads no new request, finishes what is in flight, sends a Notice of
//! Disconnection and closes. Sessions still running after the grace period
//! are aborted; what they hold (a place under the connection limit, on a
//! worker, in the open connections gauge) is released by drop guards, so an
//! aborted session gives it back as a finished one does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::metrics::OpenConnection;
use crate::proxy::reply::{self, ResultCode};
use crate::proxy::shutdown::ShutdownSignal;
use crate::proxy::workers::{OpenGuard, Workers};
use crate::proxy::{session, Gate, GateCell};

/// Listening sockets, bound and ready to serve.
pub struct Server {
    cell: Arc<GateCell>,
    ldap: Option<TcpListener>,
    ldaps: Option<TcpListener>,
}

/// Connections the kernel queues for pwgate before they are accepted:
/// HAProxy's default, capped by `net.core.somaxconn`. The standard
/// library's 128 would refuse a burst of new connections HAProxy takes.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As the standard library does: a restarted pwgate can listen again
    // while connections of the previous one are in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

impl Server {
    /// Binds the configured addresses (port 0 picks a free port).
    pub async fn bind(gate: Gate) -> std::io::Result<Server> {
        let bind = |addr: Option<SocketAddr>| async move {
            match addr {
                Some(a) => listen(a).map(Some).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot listen on {a}: {e}"))
                }),
                None => Ok(None),
            }
        };
        let ldap = bind(gate.config.listen_ldap).await?;
        let ldaps = bind(gate.config.listen_ldaps).await?;
        Ok(Server {
            cell: Arc::new(GateCell::new(gate)),
            ldap,
            ldaps,
        })
    }

    /// The cell holding the current gate; storing a new gate reconfigures
    /// the running server (listen addresses and the connection limit are
    /// kept until restart).
    pub fn gate_cell(&self) -> Arc<GateCell> {
        self.cell.clone()
    }

    /// The bound address of the plain LDAP listener.
    pub fn ldap_addr(&self) -> Option<SocketAddr> {
        self.ldap.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound address of the LDAPS listener.
    pub fn ldaps_addr(&self) -> Option<SocketAddr> {
        self.ldaps.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting, tells every
    /// session to finish what is in flight and close, and waits up to
    /// `grace` for them before aborting the rest (None: the
    /// `shutdown_grace_secs` of the configuration in force then, reloads
    /// included).
    pub async fn run(self, shutdown: impl Future<Output = ()>, grace: Option<Duration>) {
        let gate = self.cell.load();
        let limit = Arc::new(Semaphore::new(gate.config.limits.max_connections));
        let mut sessions = JoinSet::new();
        let stopping = ShutdownSignal::new();
        let workers = match Workers::start(gate.config.workers) {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "cannot start worker threads; serving from the main runtime");
                // Still serve: one worker on this runtime is better than none.
                Workers::current()
            }
        };
        let starttls = gate.acceptor.is_some();
        if let Some(a) = self.ldap_addr() {
            info!(listen = %a, starttls, "listening for LDAP");
        }
        if let Some(a) = self.ldaps_addr() {
            info!(listen = %a, "listening for LDAPS");
        }
        let urls: Vec<String> = gate.upstream.urls().iter().map(|u| u.to_string()).collect();
        info!(upstream = %urls.join(","), mode = ?gate.config.mode, workers = workers.len(), "pwgate ready");
        crate::notify::ready();
        tokio::pin!(shutdown);
        // Most connections open since memory was last given back.
        let mut peak_open = 0usize;
        let mut trim = tokio::time::interval(TRIM_CHECK);
        trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let accepted = tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
                _ = trim.tick() => {
                    let open = self.cell.metrics().connections_open.load(Ordering::Relaxed) as usize;
                    if peak_open.saturating_sub(open) >= TRIM_AFTER_CLOSED {
                        release_freed_memory();
                        peak_open = open;
                    }
                    continue;
                }
                r = accept(self.ldap.as_ref()) => r.map(|(s, a)| (s, a, false)),
                r = accept(self.ldaps.as_ref()) => r.map(|(s, a)| (s, a, true)),
            };
            let (mut tcp, peer, implicit_tls) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = self.cell.metrics();
            metrics.connections_total.fetch_add(1, Ordering::Relaxed);
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                warn!(client = %peer, "connection limit reached; refusing client");
                let notice = reply::notice_of_disconnection(
                    ResultCode::Unavailable,
                    "pwgate: too many connections",
                );
                // Best effort, without waiting on a slow client.
                if !implicit_tls {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(100), tcp.write_all(&notice))
                            .await;
                }
                continue;
            };
            let gauge = self.cell.shared_metrics().open_connection();
            let open = metrics.connections_open.load(Ordering::Relaxed);
            peak_open = peak_open.max(open as usize);
            // The socket moves to the worker's own event loop: registered
            // there, its readiness wakes that thread and no other.
            let tcp = match tcp.into_std() {
                Ok(s) => s,
                Err(e) => {
                    warn!(client = %peer, error = %e, "cannot hand the connection to a worker");
                    continue;
                }
            };
            let placement = workers.place();
            let admitted = Admitted {
                _limit: permit,
                _worker: placement.open,
                _gauge: gauge,
            };
            let cell = self.cell.clone();
            let shutdown = stopping.subscribe();
            sessions.spawn_on(
                async move {
                    // Dropped with this future, whether it ends or is aborted.
                    let _admitted = admitted;
                    match tokio::net::TcpStream::from_std(tcp) {
                        Ok(tcp) => session::serve(cell, tcp, peer, implicit_tls, shutdown).await,
                        Err(e) => {
                            warn!(client = %peer, error = %e, "cannot register the connection")
                        }
                    }
                },
                &placement.handle,
            );
        }
        drop(self.ldap);
        drop(self.ldaps);
        crate::notify::stopping();
        stopping.trigger();
        let grace = grace.unwrap_or_else(|| self.cell.load().config.limits.shutdown_grace);
        info!(
            open = sessions.len(),
            grace_secs = grace.as_secs_f64(),
            "shutting down: no longer accepting; open sessions finish what is in flight"
        );
        let drained = tokio::time::timeout(grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                open = sessions.len(),
                grace_secs = grace.as_secs_f64(),
                "grace period over; aborting the sessions still open"
            );
            sessions.shutdown().await;
        }
        info!("all sessions closed");
        // Sessions are done: no more changes can be queued for sync.
        if let Some(sync) = self.cell.sync() {
            sync.drain().await;
        }
    }
}

/// What an admitted connection holds until its session ends (or is
/// aborted): its place under the connection limit, on its worker, and in
/// the open connections gauge.
struct Admitted {
    _limit: OwnedSemaphorePermit,
    _worker: OpenGuard,
    _gauge: OpenConnection,
}

/// How often the listener checks whether a burst of connections is over.
const TRIM_CHECK: Duration = Duration::from_secs(5);
/// Connections that must have closed since the high point before the
/// memory they freed is given back to the system.
const TRIM_AFTER_CLOSED: usize = 256;

/// Gives the memory freed by closed sessions back to the system. glibc's
/// allocator keeps freed memory in its per-thread arenas, so after a burst
/// of connections the process would otherwise keep its peak size.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free pages of the allocator's
        // own arenas to the kernel; it touches no memory in use.
        unsafe {
            libc::malloc_trim(0);
        }
        tracing::debug!("freed memory given back after a burst of connections");
    }
}

async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}
