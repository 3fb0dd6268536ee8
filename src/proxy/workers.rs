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
//! Each worker also accepts connections itself, on its own handle to the
//! listening socket ([`crate::proxy::listener`]), and keeps the connection
//! it accepts unless it already serves clearly more than the least busy
//! worker ([`Slot::choose`]): then the connection goes to that one. The
//! kernel wakes every worker waiting on the socket and the first to call
//! `accept` wins, so a burst of new connections can land mostly on one
//! worker; handing over the excess keeps long-lived connections spread,
//! while under churn most connections stay where they were accepted and
//! cost no hand-off.
//!
//! The metrics endpoint, sync workers and other control-plane tasks stay
//! on the runtime that called [`Workers::start`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// One worker thread: a slot to place connections in, and what ends it.
struct Worker {
    slot: Slot,
    /// Dropped (or sent) to end the worker's event loop.
    _stop: oneshot::Sender<()>,
}

/// A worker as the acceptors see it: a handle to spawn on, and how many
/// connections it serves.
#[derive(Clone)]
pub struct Slot {
    pub handle: Handle,
    open: Arc<AtomicUsize>,
}

/// Counts a connection as open on its worker until dropped.
pub struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Slot {
    /// Where a connection accepted by worker `local` runs: `local`, unless
    /// it serves more than the least busy worker by over a quarter (and at
    /// least 2), which then takes it. Counts it as open there.
    pub fn choose(slots: &[Slot], local: usize) -> (usize, OpenGuard) {
        let open = |i: usize| slots[i].open.load(Ordering::Relaxed);
        let mine = open(local);
        let (least, fewest) = (0..slots.len())
            .map(|i| (i, open(i)))
            .min_by_key(|(_, n)| *n)
            .unwrap_or((local, mine));
        let chosen = if mine > fewest + (fewest / 4).max(2) {
            least
        } else {
            local
        };
        slots[chosen].open.fetch_add(1, Ordering::Relaxed);
        (chosen, OpenGuard(slots[chosen].open.clone()))
    }
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
                slot: Slot {
                    handle,
                    open: Arc::default(),
                },
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
                slot: Slot {
                    handle: Handle::current(),
                    open: Arc::default(),
                },
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

    /// Each worker's slot, in order.
    pub fn slots(&self) -> Vec<Slot> {
        self.workers.iter().map(|w| w.slot.clone()).collect()
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
    fn a_worker_keeps_what_it_accepts_until_it_is_clearly_busier() {
        let workers = Workers::start(2).expect("threads");
        let slots = workers.slots();
        let open = |i: usize| slots[i].open.load(Ordering::Relaxed);
        // Worker 0 wins every accept: it keeps 3, then the next goes to 1.
        let mut held = Vec::new();
        for expected in [0, 0, 0, 1, 0, 1, 0, 1] {
            let (chosen, guard) = Slot::choose(&slots, 0);
            assert_eq!(chosen, expected, "open: {} {}", open(0), open(1));
            held.push(guard);
        }
        assert_eq!((open(0), open(1)), (5, 3));
        // A burst of 64 accepted by one worker ends up spread.
        for _ in 0..56 {
            held.push(Slot::choose(&slots, 0).1);
        }
        let (a, b) = (open(0), open(1));
        assert_eq!(a + b, 64);
        assert!(a <= b + b / 4 + 2 + 1, "{a} against {b}");
        // Closed connections are counted out.
        held.clear();
        assert_eq!((open(0), open(1)), (0, 0));
    }

    #[test]
    fn work_runs_on_the_worker_threads() {
        let workers = Workers::start(2).expect("threads");
        let (tx, rx) = std::sync::mpsc::channel();
        for slot in workers.slots() {
            let tx = tx.clone();
            slot.handle.spawn(async move {
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
