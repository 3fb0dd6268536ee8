//! The threads that serve client connections.
//!
//! Each worker is an OS thread running its own single-threaded tokio event
//! loop, and a connection stays on the worker it was given for its whole
//! life: its reads, writes, timers and policy decisions never leave that
//! thread. This is the shape of HAProxy's and most fast proxies' threads.
//! Compared with one work-stealing runtime for all connections, a forwarded
//! message costs no cross-thread wake-up (a futex call and a context switch)
//! and no task migration; the price is that one busy connection cannot be
//! moved to an idle thread.
//!
//! Each worker also accepts connections itself, on a listening socket of
//! its own ([`crate::proxy::listener`]): a new connection costs no
//! hand-off from an accepting thread.
//!
//! The metrics endpoint, sync workers and other control-plane tasks stay
//! on the runtime that called [`Workers::start`].

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// One worker thread: a handle to spawn on.
struct Worker {
    handle: Handle,
    /// Dropped (or sent) to end the worker's event loop.
    _stop: oneshot::Sender<()>,
}

/// The connection-serving threads of one server.
pub struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// How many threads [`Workers::start`] starts for the configured
    /// `count` (0: one per CPU the process may use).
    pub fn count(count: usize) -> usize {
        if count == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            count
        }
    }

    /// Starts `count` worker threads (0: one per CPU the process may use).
    pub fn start(count: usize) -> std::io::Result<Workers> {
        let count = Workers::count(count);
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
                            tokio::select! {
                                _ = stopped => {}
                                () = keep_a_timer_due() => {}
                            }
                        });
                    }
                })?;
            let handle = handle
                .recv()
                .map_err(|_| std::io::Error::other("a worker thread ended while starting"))??;
            workers.push(Worker {
                handle,
                _stop: stop,
            });
        }
        Ok(Workers { workers })
    }

    /// One worker that is the runtime of the caller (no thread of its own):
    /// the fallback when threads cannot be started.
    pub fn current() -> Workers {
        let (stop, _) = oneshot::channel::<()>();
        Workers {
            workers: vec![Worker {
                handle: Handle::current(),
                _stop: stop,
            }],
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

    /// A handle to each worker's event loop, to spawn on.
    pub fn handles(&self) -> impl Iterator<Item = &Handle> {
        self.workers.iter().map(|w| &w.handle)
    }
}

/// How often a worker's event loop wakes when nothing else is due.
const KEEPER_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps a timer due within [`KEEPER_TICK`] on the worker's event loop.
///
/// tokio's timer driver writes to its wake-up eventfd (a system call, and
/// one more turn of the event loop) whenever a timer is set to expire
/// before the earliest one it already waits for, even when the timer is
/// set from the event loop's own thread, which needs no waking. A session
/// sets such timers on every new connection: the connect timeout (at least
/// 1 s) and the wait for the directory after the client's end (30 s). With
/// this timer always due sooner, none of them is the earliest, and the
/// worker pays one wake-up a second instead of two per connection.
async fn keep_a_timer_due() {
    let mut tick = tokio::time::interval(KEEPER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_worker_threads() {
        let workers = Workers::start(2).expect("threads");
        let (tx, rx) = std::sync::mpsc::channel();
        for handle in workers.handles() {
            let tx = tx.clone();
            handle.spawn(async move {
                let name = std::thread::current().name().map(str::to_owned);
                let _ = tx.send(name);
            });
        }
        let mut names: Vec<_> = (0..2)
            .map(|_| {
                rx.recv_timeout(std::time::Duration::from_secs(5))
                    .expect("the worker runs it")
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                Some("pwgate-worker-0".into()),
                Some("pwgate-worker-1".into())
            ]
        );
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
