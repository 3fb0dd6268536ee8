//! The signal that tells sessions the server is stopping.
//!
//! The listener owns a [`ShutdownSignal`] and hands every session a
//! [`Shutdown`] cut from it. A session selects on [`Shutdown::recv`] beside
//! each wait for a new client request: once it fires, the session reads no
//! more requests, lets the answers to what it already forwarded flow back,
//! sends a Notice of Disconnection and closes. It promises what
//! mini-redis's `Shutdown` does: a session started after the signal (or one
//! that checks late) still sees it, and a dropped signal counts as a stop.
//!
//! It is built for a check made on every client message and a wait beside
//! every read. The signal is one flag that nothing writes until the stop,
//! and each session has a waker slot of its own, handed to the signal once
//! when the session starts. Checking reads the flag; waiting puts the
//! task's waker in the session's own slot. Neither takes a lock nor writes
//! memory that another session or worker thread uses. (A `watch` channel,
//! used before, locked a waiter list shared by every session at each wait.)
//!
//! Knowing when every session is done, and aborting those still running
//! after the grace period, stays with the listener's `JoinSet`; whatever a
//! session must release (its place in the connection gauge) is released by
//! drop guards, so an aborted session releases it too.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;

use futures::task::AtomicWaker;

/// What the signal and its sessions share.
#[derive(Debug, Default)]
struct Shared {
    stopping: AtomicBool,
    /// One waker slot per session.
    sessions: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    slots: Vec<Weak<AtomicWaker>>,
    /// The length at which the slots of ended sessions are swept out.
    sweep_at: usize,
}

/// The sending side, kept by the listener. Dropping it stops every
/// session, as [`trigger`](ShutdownSignal::trigger) does.
#[derive(Debug)]
pub struct ShutdownSignal {
    shared: Arc<Shared>,
}

/// One session's view of the signal.
#[derive(Debug)]
pub struct Shutdown {
    shared: Arc<Shared>,
    waker: Arc<AtomicWaker>,
}

/// Slots kept before the first sweep.
const FIRST_SWEEP: usize = 64;

impl ShutdownSignal {
    pub fn new() -> ShutdownSignal {
        ShutdownSignal {
            shared: Arc::default(),
        }
    }

    /// A receiver for one more session.
    pub fn subscribe(&self) -> Shutdown {
        let waker = Arc::new(AtomicWaker::new());
        let mut s = lock(&self.shared.sessions);
        if s.slots.len() >= s.sweep_at {
            // The list is swept each time it has doubled since the last
            // sweep: it holds at most about twice the sessions alive, for
            // a constant cost per subscription on average.
            s.slots.retain(|w| w.strong_count() > 0);
            s.sweep_at = (s.slots.len() * 2).max(FIRST_SWEEP);
        }
        s.slots.push(Arc::downgrade(&waker));
        drop(s);
        Shutdown {
            shared: self.shared.clone(),
            waker,
        }
    }

    /// Tells every session, present and future, to stop. Idempotent.
    pub fn trigger(&self) {
        // The flag is set before any waker is taken, and a session puts
        // its waker in place before it reads the flag (`Shutdown::recv`):
        // it either sees the flag or is woken.
        self.shared.stopping.store(true, Ordering::SeqCst);
        let alive: Vec<_> = lock(&self.shared.sessions)
            .slots
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for waker in alive {
            waker.wake();
        }
    }
}

impl Drop for ShutdownSignal {
    fn drop(&mut self) {
        // The listener is gone, which is a stop as well.
        self.trigger();
    }
}

impl Default for ShutdownSignal {
    fn default() -> Self {
        ShutdownSignal::new()
    }
}

impl Shutdown {
    /// Whether the server is stopping (or the listener is gone).
    pub fn is_shutdown(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Completes once the server is stopping (at once if it already is).
    /// Cancel-safe: meant to be one branch of a `select!`.
    pub async fn recv(&self) {
        poll_fn(|cx| {
            if self.is_shutdown() {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.is_shutdown() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

fn lock(m: &Mutex<Slots>) -> std::sync::MutexGuard<'_, Slots> {
    // The slots stay usable whatever panicked while holding the lock.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_session_sees_the_signal_even_if_it_subscribed_after_it() {
        let signal = ShutdownSignal::new();
        let early = signal.subscribe();
        assert!(!early.is_shutdown());
        let waiting = tokio::spawn(async move {
            early.recv().await;
            early.is_shutdown()
        });
        signal.trigger();
        let seen = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the early session is woken")
            .expect("no panic");
        assert!(seen);
        let late = signal.subscribe();
        assert!(late.is_shutdown());
        tokio::time::timeout(Duration::from_secs(5), late.recv())
            .await
            .expect("a late session's recv completes at once");
    }

    #[tokio::test]
    async fn a_dropped_signal_counts_as_a_stop() {
        let signal = ShutdownSignal::new();
        let session = signal.subscribe();
        drop(signal);
        assert!(session.is_shutdown());
        tokio::time::timeout(Duration::from_secs(5), session.recv())
            .await
            .expect("recv completes once the listener is gone");
    }

    #[test]
    fn the_slots_of_ended_sessions_do_not_pile_up() {
        let signal = ShutdownSignal::new();
        let kept: Vec<_> = (0..10).map(|_| signal.subscribe()).collect();
        for _ in 0..10_000 {
            drop(signal.subscribe());
        }
        let held = lock(&signal.shared.sessions).slots.len();
        assert!(held <= 2 * FIRST_SWEEP, "{held} slots held for 10 sessions");
        assert!(kept.iter().all(|s| !s.is_shutdown()));
        signal.trigger();
        assert!(kept.iter().all(Shutdown::is_shutdown));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_waiting_session_is_woken() {
        let signal = ShutdownSignal::new();
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let s = signal.subscribe();
            waiting.spawn(async move { s.recv().await });
        }
        tokio::task::yield_now().await;
        signal.trigger();
        let all = async { while waiting.join_next().await.is_some() {} };
        tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .expect("every session is woken");
    }
}
