//! The threads that serve client connections.
//!
//! Each worker is an OS thread running its own single-threaded tokio event
//! loop, and a connection stays on the worker it was given for its whole
//! life: its reads, writes, timers and policy decisions never leave that
//! thread. This is the shape of HAProxy's and most fast proxies' threads.
//! Compared with one work-stealing runtime for all connections, a forwarded
//! message costs no cross-thread wake-up (a futex call and a context switch)
//! and no task migration; the price is that one busy connection cannot be
//! moved to an idle thread, so new connections go to the worker with the
//! fewest open ones.
//!
//! The listener, the metrics endpoint, sync workers and other control-plane
//! tasks stay on the runtime that called [`Workers::start`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// One worker thread: a handle to spawn on and its open connections.
struct Worker {
    handle: Handle,
    open: Arc<AtomicUsize>,
    /// Dropped (or sent) to end the worker's event loop.
    _stop: oneshot::Sender<()>,
}

/// The connection-serving threads of one server.
pub struct Workers {
    workers: Vec<Worker>,
    next: AtomicUsize,
}

/// Where a new connection runs, and the count to decrement when it ends.
pub struct Placement {
    pub handle: Handle,
    pub open: OpenGuard,
}

/// Counts a connection as open on its worker until dropped.
pub struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// Starts `count` worker threads (0: one per CPU the process may use).
    pub fn start(count: usize) -> std::io::Result<Workers> {
        let count = if count == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            count
        };
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let (stop, stopped) = oneshot::channel::<()>();
            let (ready, handle) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name(format!("pwgate-worker-{i}"))
                .spawn(move || {
                    // The runtime is built and dropped on this thread: it
                    // runs the connections spawned on its handle until the
                    // server lets go of the worker, and dropping it then
                    // ends whatever is left.
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    if ready.send(Ok(runtime.handle().clone())).is_ok() {
                        runtime.block_on(async {
                            let _ = stopped.await;
                        });
                    }
                })?;
            let handle = handle
                .recv()
                .map_err(|_| std::io::Error::other("a worker thread ended while starting"))??;
            workers.push(Worker {
                handle,
                open: Arc::new(AtomicUsize::new(0)),
                _stop: stop,
            });
        }
        Ok(Workers {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// One worker that is the runtime of the caller (no thread of its own):
    /// the fallback when threads cannot be started.
    pub fn current() -> Workers {
        let (stop, _) = oneshot::channel::<()>();
        Workers {
            workers: vec![Worker {
                handle: Handle::current(),
                open: Arc::new(AtomicUsize::new(0)),
                _stop: stop,
            }],
            next: AtomicUsize::new(0),
        }
    }

    /// How many worker threads there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Always false: there is at least one worker.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The worker for a new connection: the one with the fewest open
    /// connections, taking turns among equals.
    pub fn place(&self) -> Placement {
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let worker = (0..n)
            .map(|i| &self.workers[(start + i) % n])
            .min_by_key(|w| w.open.load(Ordering::Relaxed))
            .expect("at least one worker");
        worker.open.fetch_add(1, Ordering::Relaxed);
        Placement {
            handle: worker.handle.clone(),
            open: OpenGuard(worker.open.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_busy_worker() {
        let workers = Workers::start(2).expect("threads");
        assert_eq!(workers.len(), 2);
        let a = workers.place();
        let b = workers.place();
        // One each, whatever the turn.
        assert_eq!(
            workers
                .workers
                .iter()
                .map(|w| w.open.load(Ordering::Relaxed))
                .collect::<Vec<_>>(),
            vec![1, 1]
        );
        drop(a);
        let c = workers.place();
        assert_eq!(
            workers
                .workers
                .iter()
                .map(|w| w.open.load(Ordering::Relaxed))
                .sum::<usize>(),
            2
        );
        drop((b, c));
        assert!(workers
            .workers
            .iter()
            .all(|w| w.open.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn work_runs_on_the_worker_threads() {
        let workers = Workers::start(1).expect("threads");
        let placement = workers.place();
        let (tx, rx) = std::sync::mpsc::channel();
        placement.handle.spawn(async move {
            let name = std::thread::current().name().map(str::to_owned);
            let _ = tx.send(name);
        });
        let name = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the worker runs it");
        assert_eq!(name.as_deref(), Some("pwgate-worker-0"));
    }

    #[test]
    fn zero_means_one_per_cpu() {
        let workers = Workers::start(0).expect("threads");
        assert_eq!(
            workers.len(),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        assert!(!workers.is_empty());
    }
}
