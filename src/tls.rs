//! rustls configurations built from PEM files.
//!
//! pwgate terminates TLS for clients (LDAPS and StartTLS) with its own
//! certificate, and speaks TLS to the directory verified against a CA file.
//! There is no option to skip verification of the directory's certificate.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path} holds no PEM private key")]
    NoKey { path: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn open(path: &Path) -> Result<BufReader<File>, TlsError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })
}

pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| TlsError::Read {
            path: path.display().to_string(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey {
            path: path.display().to_string(),
        })
}

/// The server side: pwgate's certificate chain and key, TLS 1.2 and 1.3.
///
/// `tls13_session_tickets` is how many TLS 1.3 NewSessionTicket messages
/// follow each handshake (`[listen] tls13_session_tickets`, default 0).
/// rustls would send 2, in one flight right after the client's Finished,
/// so they reach the client ahead of the answer to its first request.
/// Samba 4.17's client TLS (tstream_tls over GnuTLS, as in samba-tool)
/// reads that record and then never reads the answer already waiting in
/// its socket (issue 24); a Samba DC's own LDAPS sends no tickets. Without
/// tickets a TLS 1.3 session cannot be resumed, which LDAP clients, holding
/// their connections open, rarely miss; TLS 1.2 resumption by session ID
/// is unchanged.
pub fn server_config(
    certificate: &Path,
    key: &Path,
    tls13_session_tickets: usize,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(certificate)?;
    let key = private_key(key)?;
    let invalid = |message: String| TlsError::Invalid {
        path: certificate.display().to_string(),
        message,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format!("certificate and key do not work together: {e}")))?;
    config.send_tls13_tickets = tls13_session_tickets;
    Ok(Arc::new(config))
}

/// The client side towards the directory: trusts only the given CA file.
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots.add(cert).map_err(|e| TlsError::Invalid {
            path: ca.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid {
            path: ca.display().to_string(),
            message: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
