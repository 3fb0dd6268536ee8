//! The network side: listeners, sessions, framing, interception, TLS.
//!
//! [`Gate`] holds what every session shares (the configuration, the TLS
//! acceptor and the way to reach the directory); [`listener::Server`] accepts
//! connections and hands each one to [`session::serve`]. A [`GateCell`]
//! holds the current gate: a reload (SIGHUP) swaps it whole, so every
//! decision sees either the old or the new configuration, never a mix.

pub mod frame;
pub mod intercept;
pub mod listener;
pub mod reply;
pub mod session;
pub mod stream;
pub mod tls;
pub mod upstream;

use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::metrics::Metrics;
use upstream::Upstream;

/// What all sessions of one server share. Immutable once built.
pub struct Gate {
    pub config: Config,
    /// Present when pwgate has a certificate (LDAPS and StartTLS).
    pub acceptor: Option<TlsAcceptor>,
    pub upstream: Upstream,
}

impl Gate {
    /// Loads certificates and builds the TLS configurations.
    pub fn new(config: Config) -> Result<Self, tls::TlsError> {
        let acceptor = match &config.tls {
            Some(files) => Some(TlsAcceptor::from(tls::server_config(
                &files.certificate,
                &files.private_key,
            )?)),
            None => None,
        };
        let upstream = Upstream::new(&config.upstream)?;
        Ok(Gate {
            config,
            acceptor,
            upstream,
        })
    }
}

/// The gate currently in force, swapped atomically on reload.
///
/// Sessions keep the gate they started with for their connection (the
/// directory they talk to, their limits) and load the current one for each
/// decision (policy, mode, flavor) and for StartTLS (certificate), so a new
/// policy or certificate applies to open connections at once.
pub struct GateCell {
    gate: RwLock<Arc<Gate>>,
    /// Counters that outlive reloads.
    metrics: Arc<Metrics>,
}

impl GateCell {
    pub fn new(gate: Gate) -> Self {
        GateCell {
            gate: RwLock::new(Arc::new(gate)),
            metrics: Arc::new(Metrics::default()),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn load(&self) -> Arc<Gate> {
        self.gate.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn store(&self, gate: Gate) {
        *self.gate.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(gate);
    }
}
