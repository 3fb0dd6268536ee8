//! The signal that tells sessions the server is stopping.
//!
//! The listener owns a [`ShutdownSignal`] and hands every session a
//! [`Shutdown`] cut from it. A session selects on [`Shutdown::recv`] beside
//! each wait for a new client request: once it fires, the session reads no
//! more requests, lets the answers to what it already forwarded flow back,
//! sends a Notice of Disconnection and closes. This is mini-redis's
//! `Shutdown`, on a `watch` channel so that a session started after the
//! signal (or one that checks late) still sees it.
//!
//! Knowing when every session is done, and aborting those still running
//! after the grace period, stays with the listener's `JoinSet`; whatever a
//! session must release (its place in the connection gauge) is released by
//! drop guards, so an aborted session releases it too.

use tokio::sync::watch;

/// The sending side, kept by the listener.
#[derive(Debug)]
pub struct ShutdownSignal {
    tx: watch::Sender<bool>,
}

/// One session's view of the signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl ShutdownSignal {
    pub fn new() -> ShutdownSignal {
        ShutdownSignal {
            tx: watch::Sender::new(false),
        }
    }

    /// A receiver for one more session.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }

    /// Tells every session, present and future, to stop. Idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
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
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Completes once the server is stopping (at once if it already is).
    /// Cancel-safe: meant to be one branch of a `select!`.
    pub async fn recv(&mut self) {
        // An error means the listener is gone, which is a stop as well.
        let _ = self.rx.wait_for(|stopping| *stopping).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_session_sees_the_signal_even_if_it_subscribed_after_it() {
        let signal = ShutdownSignal::new();
        let mut early = signal.subscribe();
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
        let mut late = signal.subscribe();
        assert!(late.is_shutdown());
        tokio::time::timeout(Duration::from_secs(5), late.recv())
            .await
            .expect("a late session's recv completes at once");
    }

    #[tokio::test]
    async fn a_dropped_signal_counts_as_a_stop() {
        let signal = ShutdownSignal::new();
        let mut session = signal.subscribe();
        drop(signal);
        assert!(session.is_shutdown());
        tokio::time::timeout(Duration::from_secs(5), session.recv())
            .await
            .expect("recv completes once the listener is gone");
    }
}
