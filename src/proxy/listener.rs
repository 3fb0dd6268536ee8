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
use std::sync::atomic::{AtomicUsize, Ordering};
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
use crate::proxy::workers::{OpenGuard, Slot, Workers};
use crate::proxy::{session, Gate, GateCell};

/// Listening sockets, bound and ready to serve.
pub struct Server {
    cell: Arc<GateCell>,
    ldap: Option<Listening>,
    ldaps: Option<Listening>,
}

/// The socket listening on one address, with one handle to it per worker
/// thread: each worker accepts on its own handle, registered in its own
/// event loop. A new connection wakes the workers waiting on the socket and
/// the first to call `accept` takes it; the others find nothing (one
/// wasted wake-up each), and a worker that is clearly the busiest passes
/// what it accepted on ([`Slot::choose`]). Measured on connection churn,
/// this costs less than an SO_REUSEPORT group of one socket per worker
/// (BENCHMARKS.md), and it keeps a second pwgate on the same port refused
/// ("address in use") rather than silently given a share of the
/// connections.
struct Listening {
    addr: SocketAddr,
    sockets: Vec<std::net::TcpListener>,
}

/// Connections the kernel queues for pwgate before they are accepted:
/// HAProxy's default, capped by `net.core.somaxconn`. The standard
/// library's 128 would refuse a burst of new connections HAProxy takes.
const LISTEN_BACKLOG: u32 = 4096;

/// Workers that accept on each listening socket (the first ones). Every
/// worker waiting on the socket is woken by a new connection, so on a host
/// with many CPUs the others get their connections handed over by these
/// ([`Slot::choose`]) instead of all waking for each.
const MAX_ACCEPTING_WORKERS: usize = 4;

/// Binds `addr`, with a handle to the socket for each of `workers` worker
/// threads.
fn listen(addr: SocketAddr, workers: usize) -> std::io::Result<Listening> {
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
    let first = socket.listen(LISTEN_BACKLOG)?.into_std()?;
    let addr = first.local_addr()?;
    let mut sockets = Vec::with_capacity(workers.max(1));
    for _ in 1..workers.max(1) {
        sockets.push(first.try_clone()?);
    }
    sockets.push(first);
    Ok(Listening { addr, sockets })
}

impl Server {
    /// Binds the configured addresses (port 0 picks a free port), with a
    /// handle for each accepting worker.
    pub async fn bind(gate: Gate) -> std::io::Result<Server> {
        let workers = Workers::count(gate.config.workers).min(MAX_ACCEPTING_WORKERS);
        let bind = |addr: Option<SocketAddr>| match addr {
            Some(a) => listen(a, workers)
                .map(Some)
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {a}: {e}"))),
            None => Ok(None),
        };
        let ldap = bind(gate.config.listen_ldap)?;
        let ldaps = bind(gate.config.listen_ldaps)?;
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
        self.ldap.as_ref().map(|l| l.addr)
    }

    /// The bound address of the LDAPS listener.
    pub fn ldaps_addr(&self) -> Option<SocketAddr> {
        self.ldaps.as_ref().map(|l| l.addr)
    }

    /// Serves until `shutdown` completes, then stops accepting, tells every
    /// session to finish what is in flight and close, and waits up to
    /// `grace` for them before aborting the rest (None: the
    /// `shutdown_grace_secs` of the configuration in force then, reloads
    /// included).
    ///
    /// Every worker thread accepts on the listening sockets itself (each
    /// holds its own handle to the same socket) and runs the connections it
    /// accepted: a new connection costs no hand-off between threads, and
    /// whichever worker the kernel wakes first takes it.
    ///
    /// Errs, at once, when no worker can listen.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
        grace: Option<Duration>,
    ) -> Result<(), String> {
        let gate = self.cell.load();
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
        let shared = Arc::new(Accepting {
            cell: self.cell.clone(),
            limit: Arc::new(Semaphore::new(gate.config.limits.max_connections)),
            stopping: ShutdownSignal::new(),
            grace,
            peak_open: AtomicUsize::new(0),
        });
        // One acceptor per handle; with fewer workers than handles (threads
        // could not be started), the workers take several each.
        let sockets = |l: Option<Listening>| l.map(|l| l.sockets).unwrap_or_default();
        let mut ldap = sockets(self.ldap).into_iter();
        let mut ldaps = sockets(self.ldaps).into_iter();
        let slots = workers.slots();
        let mut acceptors = Vec::new();
        let mut registering = Vec::new();
        let mut closing = Vec::new();
        for i in 0.. {
            let listeners = (ldap.next(), ldaps.next());
            if listeners.0.is_none() && listeners.1.is_none() {
                break;
            }
            let stop = shared.stopping.subscribe();
            let local = i % slots.len();
            let (done, registered) = tokio::sync::oneshot::channel();
            let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
            acceptors.push(slots[local].handle.spawn(accept_on_worker(
                shared.clone(),
                listeners,
                (slots.clone(), local),
                stop,
                (done, closed_tx),
            )));
            registering.push(registered);
            closing.push(closed_rx);
        }
        // Ready only once some worker listens.
        let mut listening = 0;
        for r in registering {
            listening += usize::from(r.await.unwrap_or(false));
        }
        if listening == 0 {
            shared.stopping.trigger();
            for acceptor in acceptors {
                let _ = acceptor.await;
            }
            return Err("no worker could register the listening sockets".into());
        }
        info!(upstream = %gate.upstream.names().join(","), mode = ?gate.config.mode, workers = workers.len(), "pwgate ready");
        crate::notify::ready();
        tokio::pin!(shutdown);
        let mut trim = tokio::time::interval(TRIM_CHECK);
        trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = trim.tick() => {
                    // The most connections open since memory was last given
                    // back, as the workers saw them when they accepted.
                    let open = self.cell.metrics().connections_open.load(Ordering::Relaxed) as usize;
                    let peak = shared.peak_open.load(Ordering::Relaxed);
                    if peak.saturating_sub(open) >= TRIM_AFTER_CLOSED {
                        release_freed_memory();
                        shared.peak_open.store(open, Ordering::Relaxed);
                    }
                }
            }
        }
        crate::notify::stopping();
        // Each worker closes its listeners, waits for its sessions for the
        // grace period and aborts those still open. The socket listens as
        // long as one worker holds a handle to it: "no longer accepting"
        // is said once every one has closed its own (or ended).
        shared.stopping.trigger();
        for closed in closing {
            let _ = closed.await;
        }
        info!(
            open = self.cell.metrics().connections_open.load(Ordering::Relaxed),
            grace_secs = shared.grace().as_secs_f64(),
            "shutting down: no longer accepting; open sessions finish what is in flight"
        );
        let (mut aborted, mut waited) = (0, Duration::ZERO);
        for acceptor in acceptors {
            if let Ok((n, grace)) = acceptor.await {
                aborted += n;
                waited = waited.max(grace);
            }
        }
        if aborted > 0 {
            warn!(
                aborted,
                grace_secs = waited.as_secs_f64(),
                "grace period over; aborted the sessions still open"
            );
        }
        info!("all sessions closed");
        drop(workers);
        // Sessions are done: no more changes can be queued for sync.
        if let Some(sync) = self.cell.sync() {
            sync.drain().await;
        }
        Ok(())
    }
}

/// What the workers' acceptors share.
struct Accepting {
    cell: Arc<GateCell>,
    /// `max_connections`, across all workers.
    limit: Arc<Semaphore>,
    stopping: ShutdownSignal,
    grace: Option<Duration>,
    /// The most connections open since memory was last given back.
    peak_open: AtomicUsize,
}

impl Accepting {
    /// How long sessions may finish after the stop: the one `run` was
    /// given, or the configuration's in force now (reloads included).
    fn grace(&self) -> Duration {
        self.grace
            .unwrap_or_else(|| self.cell.load().config.limits.shutdown_grace)
    }
}

/// One worker's acceptor: accepts on its handles to the listening sockets
/// and runs each connection on this worker (`slots[local]`) or, when this
/// one is clearly the busiest, on the least busy ([`Slot::choose`]), until
/// the server stops; then waits for the sessions it started for the grace
/// period. Returns how many it had to abort, and the grace period it gave
/// them.
async fn accept_on_worker(
    shared: Arc<Accepting>,
    (ldap, ldaps): (Option<std::net::TcpListener>, Option<std::net::TcpListener>),
    (slots, local): (Vec<Slot>, usize),
    stop: crate::proxy::shutdown::Shutdown,
    (registered, closed): (
        tokio::sync::oneshot::Sender<bool>,
        tokio::sync::oneshot::Sender<()>,
    ),
) -> (usize, Duration) {
    // Registered here, the sockets wake this worker's event loop.
    let register = |l: Option<std::net::TcpListener>| l.map(TcpListener::from_std).transpose();
    let (ldap, ldaps) = match (register(ldap), register(ldaps)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            warn!(error = %e, "a worker cannot register the listening sockets; it accepts no connection");
            let _ = registered.send(false);
            return (0, Duration::ZERO);
        }
    };
    let mut sessions = JoinSet::new();
    let _ = registered.send(true);
    loop {
        // Checked here as well as waited on below: the select picks at
        // random among ready branches, so that neither listener can
        // starve the other, and a stop is seen before the next accept.
        if stop.is_shutdown() {
            break;
        }
        let accepted = tokio::select! {
            () = stop.recv() => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
            r = accept(ldap.as_ref()) => r.map(|(s, a)| (s, a, false)),
            r = accept(ldaps.as_ref()) => r.map(|(s, a)| (s, a, true)),
        };
        let (tcp, peer, implicit_tls) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some((tcp, limit, gauge)) = admit(&shared, tcp, peer, implicit_tls).await else {
            continue;
        };
        let (worker, open) = Slot::choose(&slots, local);
        let admitted = Admitted {
            _limit: limit,
            _worker: open,
            _gauge: gauge,
        };
        let (cell, shutdown) = (shared.cell.clone(), shared.stopping.subscribe());
        let serve = move |tcp| async move {
            // Dropped with this future, whether it ends or is aborted.
            let _admitted = admitted;
            session::serve(cell, tcp, peer, implicit_tls, shutdown).await
        };
        if worker == local {
            sessions.spawn(serve(tcp));
            continue;
        }
        // To the other worker's event loop: out of this one's first.
        let tcp = match tcp.into_std() {
            Ok(s) => s,
            Err(e) => {
                warn!(client = %peer, error = %e, "cannot hand the connection to a worker");
                continue;
            }
        };
        sessions.spawn_on(
            async move {
                match tokio::net::TcpStream::from_std(tcp) {
                    Ok(tcp) => serve(tcp).await,
                    Err(e) => {
                        warn!(client = %peer, error = %e, "cannot register the connection")
                    }
                }
            },
            &slots[worker].handle,
        );
    }
    drop((ldap, ldaps));
    let _ = closed.send(());
    let grace = shared.grace();
    let drained = tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_ok() {
        return (0, grace);
    }
    // Only those still running: finished ones not yet reaped are not.
    while sessions.try_join_next().is_some() {}
    let aborted = sessions.len();
    sessions.shutdown().await;
    (aborted, grace)
}

/// Counts a new connection and takes its place under the connection limit
/// and in the open connections gauge; a connection over the limit is told
/// so and closed.
async fn admit(
    shared: &Accepting,
    mut tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    implicit_tls: bool,
) -> Option<(tokio::net::TcpStream, OwnedSemaphorePermit, OpenConnection)> {
    let metrics = shared.cell.metrics();
    metrics.connections_total.fetch_add(1, Ordering::Relaxed);
    let Ok(permit) = shared.limit.clone().try_acquire_owned() else {
        metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
        warn!(client = %peer, "connection limit reached; refusing client");
        let notice =
            reply::notice_of_disconnection(ResultCode::Unavailable, "pwgate: too many connections");
        // Best effort, without waiting on a slow client.
        if !implicit_tls {
            let _ = tokio::time::timeout(Duration::from_millis(100), tcp.write_all(&notice)).await;
        }
        return None;
    };
    let gauge = shared.cell.shared_metrics().open_connection();
    let open = metrics.connections_open.load(Ordering::Relaxed) as usize;
    // Read first: the shared high point is written only when it moves.
    if open > shared.peak_open.load(Ordering::Relaxed) {
        shared.peak_open.fetch_max(open, Ordering::Relaxed);
    }
    Some((tcp, permit, gauge))
}

/// What an admitted connection holds until its session ends (or is
/// aborted): its place under the connection limit, on its worker and in
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
