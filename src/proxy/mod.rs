//! The network side: listeners, sessions, framing, interception, TLS.
//!
//! [`Gate`] holds what every session shares (the configuration, the TLS
//! acceptor and the way to reach the directory); [`listener::Server`] has
//! every worker thread accept connections and run each in
//! [`session::serve`], with a
//! [`shutdown::Shutdown`] that tells it when the server stops. A
//! [`GateCell`] holds the current gate: a reload (SIGHUP) swaps it whole, so
//! every decision sees either the old or the new configuration, never a mix.

pub mod frame;
pub mod intercept;
pub mod listener;
pub mod reply;
pub mod request;
pub mod session;
pub mod shutdown;
pub mod status;
pub mod stream;
/// The rustls configurations, client and server side, live in [`crate::tls`]
/// (below the proxy, for [`crate::ldapclient`] too); `proxy::tls` names them
/// as before.
pub use crate::tls;
pub mod upstream;
pub mod workers;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;

use crate::breached::BreachedStore;
use crate::config::Config;
use crate::directory::Directory;
use crate::metrics::Metrics;
use crate::policy::rules::breached::BreachedCorpus;
use crate::secret::Password;
use crate::sync::SyncService;
use upstream::Upstream;

/// What all sessions of one server share. Immutable once built.
pub struct Gate {
    pub config: Config,
    /// Present when pwgate has a certificate (LDAPS and StartTLS).
    pub acceptor: Option<TlsAcceptor>,
    pub upstream: Upstream,
    /// Account lookups, when `[directory]` is configured.
    pub directory: Option<Arc<Directory>>,
}

impl Gate {
    /// Loads certificates and builds the TLS configurations.
    pub fn new(config: Config) -> Result<Self, tls::TlsError> {
        let acceptor = match &config.tls {
            Some(files) => Some(TlsAcceptor::from(tls::server_config(
                &files.certificate,
                &files.private_key,
                config.tls13_session_tickets,
            )?)),
            None => None,
        };
        let upstream = Upstream::new(&config.upstream)?;
        let directory = match &config.directory {
            Some(d) => Some(Arc::new(Directory::new(d.clone()).map_err(|message| {
                tls::TlsError::Invalid {
                    path: "[directory]".into(),
                    message,
                }
            })?)),
            None => None,
        };
        for target in &config.sync {
            crate::ldapclient::tls_config(&target.endpoint).map_err(|message| {
                tls::TlsError::Invalid {
                    path: format!("[[sync]] {}", target.name),
                    message,
                }
            })?;
        }
        let mut config = config;
        attach_breached_store(&mut config);
        Ok(Gate {
            config,
            acceptor,
            upstream,
            directory,
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
    /// Counts the gates stored since the first: a session keeps the gate
    /// it last loaded and loads again only when this has moved.
    generation: AtomicU64,
    /// Counters that outlive reloads.
    metrics: Arc<Metrics>,
    /// Password sync workers (started once; a reload keeps them).
    sync: Option<Arc<SyncService>>,
    /// Changes forwarded a moment ago, for the DC's hook to confirm: only
    /// once a decision service serves this cell (the one way a hook, or
    /// the Windows filter, can ask this process); set when it starts.
    recent: std::sync::OnceLock<crate::decision::recent::RecentChanges>,
}

impl GateCell {
    /// Must run inside a Tokio runtime when the configuration has sync
    /// targets (their workers start here).
    pub fn new(gate: Gate) -> Self {
        let metrics = Arc::new(Metrics::default());
        metrics.set_breached_store(gate.config.policy.breached.clone());
        for target in &gate.config.sync {
            metrics.sync_register(&target.name);
        }
        let sync = if gate.config.sync.is_empty() {
            None
        } else {
            match SyncService::start(&gate.config.sync, metrics.clone()) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    // Gate::new checked the same files a moment ago.
                    tracing::error!(error = %e, "password sync cannot start; accepted changes are not synchronized");
                    None
                }
            }
        };
        GateCell {
            recent: std::sync::OnceLock::new(),
            gate: RwLock::new(Arc::new(gate)),
            generation: AtomicU64::new(0),
            metrics,
            sync,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The counters, to hold beyond a borrow of the cell (drop guards).
    pub fn shared_metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The sync workers, when `[[sync]]` targets are configured.
    pub fn sync(&self) -> Option<&Arc<SyncService>> {
        self.sync.as_ref()
    }

    /// Changes the proxy forwarded a moment ago; None while no decision
    /// service serves this cell, so nothing could ask for them.
    pub fn recent(&self) -> Option<&crate::decision::recent::RecentChanges> {
        self.recent.get()
    }

    /// A decision service serves this cell: from now on the proxy
    /// remembers the changes it forwards, for the DC's checks to confirm.
    pub fn serve_decisions(&self) -> &crate::decision::recent::RecentChanges {
        self.recent.get_or_init(Default::default)
    }

    pub fn load(&self) -> Arc<Gate> {
        self.gate.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn store(&self, gate: Gate) {
        self.metrics
            .set_breached_store(gate.config.policy.breached.clone());
        self.metrics.retain_upstreams(gate.upstream.names());
        *self.gate.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(gate);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Moves each time a gate is stored (read before [`load`](Self::load)).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// A breached-password store that could not be opened: every question gets
/// the reason, so password changes are refused (or allowed, if configured)
/// while all other traffic flows.
#[derive(Debug)]
struct UnavailableStore(String);

impl BreachedCorpus for UnavailableStore {
    fn contains(&self, _: &Password) -> Result<bool, String> {
        Err(self.0.clone())
    }

    fn available(&self) -> bool {
        false
    }
}

/// Opens the configured breached-password store, if any, and gives it to
/// the global policy and every scope. `Gate::new` and `pwgate check` both
/// call this, so they check against the same store.
pub fn attach_breached_store(config: &mut Config) {
    if let Some(path) = config.breached_store.clone() {
        let corpus = open_breached_store(&path);
        config.policy.breached = Some(corpus.clone());
        for scope in &mut config.scopes {
            scope.policy.breached = Some(corpus.clone());
            scope.policy.breached_fail_open = config.policy.breached_fail_open;
        }
    }
}

/// Opens the store (header and shard index only) and verifies its checksum
/// in the background; a store that cannot be opened answers with errors.
fn open_breached_store(path: &std::path::Path) -> Arc<dyn BreachedCorpus> {
    match BreachedStore::open(path) {
        Ok(store) => {
            let store = Arc::new(store);
            let info = store.info();
            tracing::info!(
                store = %path.display(),
                hashes = info.keys,
                kind = %info.kind,
                "breached-password store opened; verifying its checksum in the background"
            );
            let verifying = store.clone();
            let spawned = std::thread::Builder::new()
                .name("store-verify".into())
                .spawn(move || match verifying.verify() {
                    Ok(()) => tracing::info!("breached-password store checksum verified"),
                    Err(e) => tracing::error!(
                        error = %e,
                        "breached-password store is corrupt; password changes are refused"
                    ),
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot verify the breached-password store in the background");
            }
            store
        }
        Err(e) => {
            tracing::error!(error = %e, "breached-password store unavailable; password changes are refused unless on_store_error = \"allow\"");
            Arc::new(UnavailableStore(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell() -> GateCell {
        let config = crate::config::load_str("[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n")
            .expect("valid");
        GateCell::new(Gate::new(config).expect("gate"))
    }

    #[test]
    fn forwarded_changes_are_remembered_only_for_a_decision_service() {
        // Nothing but the service's hook and filter requests can take them.
        let cell = cell();
        assert!(cell.recent().is_none());
        let kept: *const _ = cell.serve_decisions();
        assert!(cell.recent().is_some_and(|r| std::ptr::eq(r, kept)));
        // A second service (socket and HTTPS) shares the same memory.
        assert!(std::ptr::eq(cell.serve_decisions(), kept));
    }
}
