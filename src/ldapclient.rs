//! pwgate as an LDAP client: the connections it opens itself, with a
//! service account, to look accounts up in the directory and to write
//! synchronized passwords to other directories.
//!
//! These connections always verify the server against a configured CA
//! (ldaps:// or StartTLS); plain LDAP is only possible when the
//! configuration says so explicitly, because the service account's secret
//! (and, for sync, a user's new password) travels over them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use rustls::ClientConfig;

use crate::secret::Password;

/// Where and as whom pwgate connects.
#[derive(Clone)]
pub struct Endpoint {
    pub urls: Vec<UpstreamUrl>,
    pub ca: Option<PathBuf>,
    pub starttls: bool,
    /// Plain LDAP without StartTLS was explicitly allowed.
    pub allow_plain: bool,
    /// None: anonymous.
    pub bind_dn: Option<String>,
    pub bind_password: Option<Arc<Password>>,
    /// For connecting and for each operation.
    pub timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("urls", &self.urls)
            .field("ca", &self.ca)
            .field("starttls", &self.starttls)
            .field("allow_plain", &self.allow_plain)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Endpoint {
    /// `urls` as text, for logs and `config check`.
    pub fn describe_urls(&self) -> String {
        let urls: Vec<String> = self.urls.iter().map(|u| u.to_string()).collect();
        urls.join(", ")
    }

    /// Whether a connection to `url` would be encrypted.
    pub fn encrypted(&self, url: &UpstreamUrl) -> bool {
        url.tls || self.starttls
    }
}

/// Reads a secret from a file (trailing newline removed) or an environment
/// variable. Errors name the source, never the value.
pub fn read_secret(file: Option<&Path>, env: Option<&str>) -> Result<Option<Password>, String> {
    match (file, env) {
        (Some(_), Some(_)) => {
            Err("give only one of the password file and the password environment variable".into())
        }
        (Some(path), None) => {
            let mut text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
            while text.ends_with('\n') || text.ends_with('\r') {
                text.pop();
            }
            if text.is_empty() {
                return Err(format!("the password file {} is empty", path.display()));
            }
            Ok(Some(Password::new(text)))
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Password::new(v))),
            Ok(_) => Err(format!("the environment variable {var} is empty")),
            Err(_) => Err(format!("the environment variable {var} is not set")),
        },
        (None, None) => Ok(None),
    }
}

/// A TLS client configuration for an endpoint (None for plain LDAP).
pub fn tls_config(endpoint: &Endpoint) -> Result<Option<Arc<ClientConfig>>, String> {
    let needs_tls = endpoint.urls.iter().any(|u| endpoint.encrypted(u));
    if !needs_tls {
        return Ok(None);
    }
    let ca = endpoint
        .ca
        .as_deref()
        .ok_or_else(|| "a CA file is needed to verify the directory's certificate".to_owned())?;
    crate::tls::client_config(ca)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Connects to the first URL that answers and binds. The error text names
/// the URL and what failed, never a secret.
pub async fn connect(endpoint: &Endpoint, tls: Option<&Arc<ClientConfig>>) -> Result<Ldap, String> {
    let mut errors = Vec::new();
    for url in &endpoint.urls {
        match connect_one(endpoint, tls, url).await {
            Ok(ldap) => return Ok(ldap),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    Err(errors.join("; "))
}

async fn connect_one(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    url: &UpstreamUrl,
) -> Result<Ldap, String> {
    if !endpoint.encrypted(url) && !endpoint.allow_plain {
        return Err("refusing plain LDAP (no TLS configured for this URL)".into());
    }
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(endpoint.timeout)
        .set_starttls(endpoint.starttls && !url.tls);
    if let Some(config) = tls {
        settings = settings.set_config(config.clone());
    }
    let text = url.to_string();
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &text)
        .await
        .map_err(|e| describe_error(&e))?;
    tokio::spawn(async move {
        // Errors end the connection; the next use reconnects.
        let _ = conn.drive().await;
    });
    if let (Some(dn), Some(password)) = (&endpoint.bind_dn, &endpoint.bind_password) {
        let result = ldap
            .with_timeout(endpoint.timeout)
            .simple_bind(dn, password.expose())
            .await
            .map_err(|e| describe_error(&e))?;
        if result.rc != 0 {
            let _ = ldap.unbind().await;
            return Err(format!(
                "bind as the service account failed: result {} {}",
                result.rc,
                crate::audit::Clean(&result.text)
            ));
        }
    }
    Ok(ldap)
}

/// An ldap3 error as text. ldap3's errors carry results and I/O errors,
/// never request contents.
pub fn describe_error(e: &ldap3::LdapError) -> String {
    match e {
        ldap3::LdapError::LdapResult { result } => {
            format!("result {} {}", result.rc, crate::audit::Clean(&result.text))
        }
        other => crate::audit::Clean(&other.to_string()).to_string(),
    }
}

/// `ldap://host:port` or `ldaps://host:port` of a directory server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl UpstreamUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("ldaps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ldap://") {
            (false, r)
        } else {
            return Err(format!(
                "upstream URL `{url}` must start with ldap:// or ldaps://"
            ));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') {
            return Err(format!(
                "upstream URL `{url}` must be scheme://host[:port] without a DN"
            ));
        }
        let default_port = if tls { 636 } else { 389 };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("upstream URL `{url}`: unclosed [ in IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("upstream URL `{url}`: bad text after ]")),
            };
            (host.to_owned(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("upstream URL `{url}` has no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("upstream URL `{url}`: `{p}` is not a port number"))?,
            None => default_port,
        };
        Ok(UpstreamUrl { tls, host, port })
    }
}

impl fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "ldaps" } else { "ldap" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_parse() {
        let u = UpstreamUrl::parse("ldaps://dc1.example.test").unwrap();
        assert_eq!((u.tls, u.port), (true, 636));
        let u = UpstreamUrl::parse("ldap://[::1]:3389/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 3389));
        assert!(UpstreamUrl::parse("ldap://h:99999").is_err());
        assert!(UpstreamUrl::parse("ldap://h/dc=x").is_err());
    }
}
