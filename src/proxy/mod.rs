//! The network side: listeners, sessions, framing, interception, TLS.
//!
//! [`Gate`] holds what every session shares (the configuration, the TLS
//! acceptor and the way to reach the directory); [`listener::Server`] accepts
//! connections and hands each one to [`session::serve`].

pub mod frame;
pub mod intercept;
pub mod listener;
pub mod reply;
pub mod session;
pub mod stream;
pub mod tls;
pub mod upstream;

use tokio_rustls::TlsAcceptor;

use crate::config::Config;
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
