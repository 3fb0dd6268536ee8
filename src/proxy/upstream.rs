//! Connections to the directory: plain, LDAPS or StartTLS, with failover.
//!
//! Each client session gets its own upstream connection, so the directory
//! sees one connection per client and keeps binding state per connection
//! exactly as it would without pwgate. URLs are tried in order; the first
//! that connects (within the connect timeout, TLS verified) is used. A URL
//! that failed is tried last for `retry_after`, so a dead directory costs
//! one timeout, not one per client, and is tried again later.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, TlsStream};

use crate::ber::{tag, write_integer, write_tlv, Reader};
use crate::config::{UpstreamConfig, UpstreamUrl};
use crate::proxy::frame::{self, op};
use crate::proxy::intercept::OID_START_TLS;
use crate::proxy::stream::Stream;
use crate::proxy::tls::{self, TlsError};

#[derive(Debug, Error)]
pub enum UpstreamError {
    #[error("{url}: connection timed out after {0:?}", .timeout)]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: {source}")]
    Io { url: String, source: std::io::Error },
    #[error("{url}: StartTLS refused by the directory (result code {code})")]
    StartTlsRefused { url: String, code: i64 },
    #[error("{url}: invalid answer to StartTLS")]
    StartTlsBadAnswer { url: String },
    #[error("{url}: `{host}` is not a valid TLS server name")]
    BadServerName { url: String, host: String },
    #[error("no upstream directory could be reached: {0}")]
    AllFailed(String),
}

/// Knows how to open a connection to one of the configured directories.
pub struct Upstream {
    config: UpstreamConfig,
    tls: Option<TlsConnector>,
    /// Per URL: when it failed last, until when it is tried last.
    down_until: Mutex<Vec<Option<Instant>>>,
    /// Per URL: as written in logs and metric labels, formatted once (a
    /// connect per client connection named it afresh).
    names: Vec<String>,
}

/// Message ID pwgate uses for its own StartTLS towards the directory. It is
/// sent before any client message, so it cannot collide with one.
const STARTTLS_MSGID: i32 = 1;

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Result<Self, TlsError> {
        let tls = match &config.ca {
            Some(ca) => Some(TlsConnector::from(tls::client_config(ca)?)),
            None => None,
        };
        Ok(Upstream {
            config: config.clone(),
            tls,
            down_until: Mutex::new(vec![None; config.urls.len()]),
            names: config.urls.iter().map(|u| u.to_string()).collect(),
        })
    }

    /// Each configured URL as logs and metric labels write it, in the
    /// configured order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The URL indexes in the order to try now: healthy ones in config
    /// order, then those that failed recently.
    fn attempt_order(&self) -> Vec<usize> {
        let now = Instant::now();
        let down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        let is_down = |i: usize| down[i].is_some_and(|until| until > now);
        let (mut order, failed): (Vec<usize>, Vec<usize>) =
            (0..self.config.urls.len()).partition(|&i| !is_down(i));
        order.extend(failed);
        order
    }

    fn mark(&self, index: usize, healthy: bool) {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        down[index] = (!healthy).then(|| Instant::now() + self.config.retry_after);
    }

    /// Connects to the first directory that answers. `on_attempt` hears of
    /// every attempt: the URL (as [`UpstreamUrl`] displays it) and how long
    /// a successful connect took.
    pub async fn connect(
        &self,
        on_attempt: impl Fn(&str, Result<Duration, ()>),
    ) -> Result<(Stream, &UpstreamUrl), UpstreamError> {
        let mut errors = Vec::new();
        for index in self.attempt_order() {
            let url = &self.config.urls[index];
            let started = Instant::now();
            let error = match tokio::time::timeout(
                self.config.connect_timeout,
                self.connect_one(url),
            )
            .await
            {
                Ok(Ok(stream)) => {
                    self.mark(index, true);
                    on_attempt(&self.names[index], Ok(started.elapsed()));
                    return Ok((stream, url));
                }
                Ok(Err(e)) => e,
                Err(_) => UpstreamError::Timeout {
                    url: url.to_string(),
                    timeout: self.config.connect_timeout,
                },
            };
            tracing::warn!(upstream = %url, error = %error, "directory unreachable; trying it last for a while");
            self.mark(index, false);
            on_attempt(&self.names[index], Err(()));
            errors.push(error.to_string());
        }
        Err(UpstreamError::AllFailed(errors.join("; ")))
    }

    /// Tries every URL (not only until one answers), for `/readyz`: each
    /// attempt goes to `on_attempt`, so the health of a backup directory is
    /// known before it is needed. Ok when at least one answered; the
    /// connections are closed at once.
    pub async fn probe_all(
        &self,
        on_attempt: impl Fn(&str, Result<Duration, ()>),
    ) -> Result<(), UpstreamError> {
        let mut errors = Vec::new();
        let mut any = false;
        for (index, url) in self.config.urls.iter().enumerate() {
            let started = Instant::now();
            match tokio::time::timeout(self.config.connect_timeout, self.connect_one(url)).await {
                Ok(Ok(_stream)) => {
                    self.mark(index, true);
                    on_attempt(&self.names[index], Ok(started.elapsed()));
                    any = true;
                }
                outcome => {
                    let error = match outcome {
                        Ok(Err(e)) => e,
                        _ => UpstreamError::Timeout {
                            url: url.to_string(),
                            timeout: self.config.connect_timeout,
                        },
                    };
                    self.mark(index, false);
                    on_attempt(&self.names[index], Err(()));
                    errors.push(error.to_string());
                }
            }
        }
        if any {
            Ok(())
        } else {
            Err(UpstreamError::AllFailed(errors.join("; ")))
        }
    }

    async fn connect_one(&self, url: &UpstreamUrl) -> Result<Stream, UpstreamError> {
        let io = |source| UpstreamError::Io {
            url: url.to_string(),
            source,
        };
        let mut tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(io)?;
        tcp.set_nodelay(true).map_err(io)?;
        if !url.tls && !self.config.starttls {
            return Ok(Stream::Plain(tcp));
        }
        if self.config.starttls {
            start_tls(&mut tcp, url).await?;
        }
        let connector = self
            .tls
            .as_ref()
            .expect("config validation requires a CA for TLS upstreams");
        let name =
            ServerName::try_from(url.host.clone()).map_err(|_| UpstreamError::BadServerName {
                url: url.to_string(),
                host: url.host.clone(),
            })?;
        let tls = connector.connect(name, tcp).await.map_err(io)?;
        Ok(Stream::Tls(Box::new(TlsStream::Client(tls))))
    }
}

/// The StartTLS extended request, as pwgate sends it to the directory.
pub fn start_tls_request(msgid: i32) -> Vec<u8> {
    let mut name = Vec::new();
    write_tlv(&mut name, 0x80, OID_START_TLS.as_bytes());
    let mut message = Vec::new();
    write_integer(&mut message, tag::INTEGER, i64::from(msgid));
    write_tlv(&mut message, op::EXTENDED_REQUEST, &name);
    let mut out = Vec::new();
    write_tlv(&mut out, tag::SEQUENCE, &message);
    out
}

/// Result code of an LDAPResult-shaped response frame.
pub fn result_code(frame: &[u8]) -> Option<i64> {
    let mut fields = Reader::new(frame).expect(tag::SEQUENCE).ok()?.children();
    fields.expect(tag::INTEGER).ok()?;
    let response = fields.next_tlv().ok()?;
    response
        .children()
        .expect(tag::ENUMERATED)
        .ok()?
        .as_i64()
        .ok()
}

async fn start_tls(tcp: &mut TcpStream, url: &UpstreamUrl) -> Result<(), UpstreamError> {
    let io = |source| UpstreamError::Io {
        url: url.to_string(),
        source,
    };
    tcp.write_all(&start_tls_request(STARTTLS_MSGID))
        .await
        .map_err(io)?;
    let bad = || UpstreamError::StartTlsBadAnswer {
        url: url.to_string(),
    };
    let mut buf = BytesMut::with_capacity(256);
    let len = loop {
        if let Some(len) = frame::frame_len(&buf, 64 * 1024).map_err(|_| bad())? {
            break len;
        }
        if tcp.read_buf(&mut buf).await.map_err(io)? == 0 {
            return Err(bad());
        }
    };
    if buf.len() != len {
        return Err(bad());
    }
    let peek = frame::peek(&buf).map_err(|_| bad())?;
    if peek.msgid != STARTTLS_MSGID || peek.op != op::EXTENDED_RESPONSE {
        return Err(bad());
    }
    match result_code(&buf) {
        Some(0) => Ok(()),
        Some(code) => Err(UpstreamError::StartTlsRefused {
            url: url.to_string(),
            code,
        }),
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_url_is_tried_last_until_retry_after() {
        let urls = ["ldap://a:1", "ldap://b:2", "ldap://c:3"]
            .iter()
            .map(|u| UpstreamUrl::parse(u).unwrap())
            .collect();
        let up = Upstream::new(&UpstreamConfig {
            urls,
            flavor: crate::config::Flavor::Openldap,
            ca: None,
            starttls: false,
            connect_timeout: Duration::from_secs(1),
            retry_after: Duration::from_secs(60),
        })
        .unwrap();
        assert_eq!(up.attempt_order(), [0, 1, 2]);
        up.mark(0, false);
        assert_eq!(up.attempt_order(), [1, 2, 0]);
        up.mark(0, true);
        assert_eq!(up.attempt_order(), [0, 1, 2]);
        // An expired mark counts as healthy again.
        up.down_until.lock().unwrap()[1] = Some(Instant::now() - Duration::from_secs(1));
        assert_eq!(up.attempt_order(), [0, 1, 2]);
    }

    #[test]
    fn start_tls_request_matches_ldap_utils_encoding() {
        // What `ldapsearch -ZZ` sends as its first message (msgid 1).
        let expected = [
            &[0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16][..],
            OID_START_TLS.as_bytes(),
        ]
        .concat();
        assert_eq!(start_tls_request(1), expected);
    }
}
