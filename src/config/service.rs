//! `[service]`: the decision service, which lets other enforcement points
//! ask the running pwgate for its decision: local hooks (Samba's check
//! password script, through `pwgate hook samba`) on a Unix socket, remote
//! ones (a DC agent, a self-service portal) over HTTPS with a client
//! certificate or a bearer token. Each is off unless its address is set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use super::error::ConfigError;
use super::listen::TlsFiles;

/// The default path of the socket, as `pwgate hook samba` expects it.
pub const DEFAULT_SOCKET: &str = "/run/pwgate/decide.sock";

/// `[service]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// The Unix socket to listen on (off when unset).
    pub socket: Option<PathBuf>,
    /// The socket file's permission bits (default `0o660`).
    pub socket_mode: Option<u32>,
    /// The user ids allowed to ask (default: root and the user pwgate
    /// runs as). Checked on the peer's credentials, besides the file mode.
    pub allowed_uids: Option<Vec<u32>>,
    /// Requests served at once over all connections (default 64).
    pub max_concurrent: Option<usize>,
    /// The HTTPS endpoint's address (off when unset).
    pub https_listen: Option<String>,
    /// Its certificate and key (default: `[listen]`'s).
    pub https_certificate: Option<PathBuf>,
    pub https_private_key: Option<PathBuf>,
    /// Clients presenting a certificate issued by this CA are let in.
    pub client_ca: Option<PathBuf>,
    /// Bearer tokens, one `name:token` per line.
    pub token_file: Option<PathBuf>,
    /// Requests per second one client may make (default 200).
    pub rate_limit_per_client: Option<u32>,
}

/// One API client known by a bearer token.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}, <secret>)", self.name)
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && *self.secret == *other.secret
    }
}

impl Eq for Token {}

/// The HTTPS endpoint's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsConfig {
    pub listen: SocketAddr,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    pub tokens: Vec<Token>,
    pub rate_limit_per_client: u32,
}

/// Reads `name:token` lines (`#` comments and blank lines skipped). The
/// errors name the line, never the token.
pub fn read_tokens(path: &Path) -> Result<Vec<Token>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let mut tokens: Vec<Token> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |why: &str| format!("{}:{}: {why}", path.display(), i + 1);
        let Some((name, secret)) = line.split_once(':') else {
            return Err(at("expected name:token"));
        };
        let name = name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(at("the name is 1 to 64 letters, digits, `.`, `_` or `-`"));
        }
        let secret = secret.trim();
        if secret.len() < 32 || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(at("the token is at least 32 characters, without spaces"));
        }
        if tokens.iter().any(|t| t.name == name) {
            return Err(at(&format!("the name {name} is given twice")));
        }
        tokens.push(Token {
            name: name.to_owned(),
            secret: Zeroizing::new(secret.to_owned()),
        });
    }
    if tokens.is_empty() {
        return Err(format!("{}: no token in the file", path.display()));
    }
    Ok(tokens)
}

/// The decision service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub socket: Option<PathBuf>,
    pub socket_mode: u32,
    /// Empty: root and pwgate's own user.
    pub allowed_uids: Vec<u32>,
    pub max_concurrent: usize,
    pub https: Option<HttpsConfig>,
}

impl ServiceConfig {
    /// The user ids allowed to ask: those configured, else root and the
    /// user pwgate runs as.
    pub fn allowed(&self) -> Vec<u32> {
        if self.allowed_uids.is_empty() {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            let mut uids = vec![0, me];
            uids.dedup();
            uids
        } else {
            self.allowed_uids.clone()
        }
    }

    /// Lines for `pwgate config check`.
    pub fn describe(&self) -> String {
        let uids: Vec<String> = self.allowed().iter().map(u32::to_string).collect();
        let mut lines = Vec::new();
        if let Some(socket) = &self.socket {
            lines.push(format!(
                "decision service: unix socket {} (mode {:04o}, uids {}, {} at once)",
                socket.display(),
                self.socket_mode,
                uids.join(","),
                self.max_concurrent
            ));
        }
        if let Some(h) = &self.https {
            let mut auth = Vec::new();
            if let Some(ca) = &h.client_ca {
                auth.push(format!("client certificates from {}", ca.display()));
            }
            if let Some(file) = &h.token_file {
                auth.push(format!(
                    "{} bearer tokens from {}",
                    h.tokens.len(),
                    file.display()
                ));
            }
            lines.push(format!(
                "decision service: https://{}/v1/ ({}; {} requests/s per client)",
                h.listen,
                auth.join(" or "),
                h.rate_limit_per_client
            ));
        }
        lines.join("\n")
    }
}

/// Validates `[service]`; `err` names the key and its line.
pub(super) fn service(
    s: ServiceSection,
    listen_tls: Option<&TlsFiles>,
    err: &dyn Fn(&str, String) -> ConfigError,
    from_file_path: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Option<ServiceConfig>, ConfigError> {
    let https = https(&s, listen_tls, err, from_file_path)?;
    let Some(socket) = s.socket else {
        for (key, set) in [
            ("socket_mode", s.socket_mode.is_some()),
            ("allowed_uids", s.allowed_uids.is_some()),
        ] {
            if set {
                return Err(err(key, "needs service.socket".into()));
            }
        }
        if https.is_none() {
            if s.max_concurrent.is_some() {
                return Err(err(
                    "max_concurrent",
                    "needs service.socket or service.https_listen".into(),
                ));
            }
            return Ok(None);
        }
        return Ok(Some(ServiceConfig {
            socket: None,
            socket_mode: 0o660,
            allowed_uids: Vec::new(),
            max_concurrent: max_concurrent(s.max_concurrent, err)?,
            https,
        }));
    };
    if socket.as_os_str().is_empty() {
        return Err(err("socket", "give the path of a Unix socket".into()));
    }
    // sun_path holds 108 bytes with its terminating NUL.
    let socket = from_file_path(socket);
    if socket.as_os_str().len() > 107 {
        return Err(err(
            "socket",
            format!(
                "`{}` is longer than a Unix socket path may be (107 bytes)",
                socket.display()
            ),
        ));
    }
    let socket_mode = s.socket_mode.unwrap_or(0o660);
    if socket_mode & !0o777 != 0 {
        return Err(err(
            "socket_mode",
            format!("{socket_mode:#o} is not a permission mode such as 0o660"),
        ));
    }
    if socket_mode & 0o002 != 0 {
        return Err(err(
            "socket_mode",
            "must not let every user write to the socket (o+w); allow a group instead".into(),
        ));
    }
    Ok(Some(ServiceConfig {
        socket: Some(socket),
        socket_mode,
        allowed_uids: s.allowed_uids.unwrap_or_default(),
        max_concurrent: max_concurrent(s.max_concurrent, err)?,
        https,
    }))
}

fn max_concurrent(
    value: Option<usize>,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<usize, ConfigError> {
    let n = value.unwrap_or(64);
    if !(1..=4096).contains(&n) {
        return Err(err("max_concurrent", "must be between 1 and 4096".into()));
    }
    Ok(n)
}

/// The HTTPS endpoint: TLS only, and a client certificate or a bearer
/// token required (there is no unauthenticated mode).
fn https(
    s: &ServiceSection,
    listen_tls: Option<&TlsFiles>,
    err: &dyn Fn(&str, String) -> ConfigError,
    from_file_path: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Option<HttpsConfig>, ConfigError> {
    let Some(listen) = s.https_listen.as_deref() else {
        for (key, set) in [
            ("https_certificate", s.https_certificate.is_some()),
            ("https_private_key", s.https_private_key.is_some()),
            ("client_ca", s.client_ca.is_some()),
            ("token_file", s.token_file.is_some()),
            ("rate_limit_per_client", s.rate_limit_per_client.is_some()),
        ] {
            if set {
                return Err(err(key, "needs service.https_listen".into()));
            }
        }
        return Ok(None);
    };
    let listen: SocketAddr = listen.parse().map_err(|_| {
        err(
            "https_listen",
            format!("`{listen}` is not an address:port such as 127.0.0.1:8443"),
        )
    })?;
    let (certificate, private_key) = match (&s.https_certificate, &s.https_private_key, listen_tls)
    {
        (Some(c), Some(k), _) => (from_file_path(c.clone()), from_file_path(k.clone())),
        (None, None, Some(tls)) => (tls.certificate.clone(), tls.private_key.clone()),
        (Some(_), None, _) => {
            return Err(err(
                "https_certificate",
                "needs service.https_private_key".into(),
            ))
        }
        (None, Some(_), _) => {
            return Err(err(
                "https_private_key",
                "needs service.https_certificate".into(),
            ))
        }
        (None, None, None) => {
            return Err(err(
                "https_listen",
                "needs a certificate: service.https_certificate and https_private_key, \
                 or [listen] certificate and private_key"
                    .into(),
            ))
        }
    };
    if s.client_ca.is_none() && s.token_file.is_none() {
        return Err(err(
            "https_listen",
            "needs service.client_ca (client certificates) or service.token_file \
             (bearer tokens): the API has no unauthenticated mode"
                .into(),
        ));
    }
    let token_file = s.token_file.clone().map(from_file_path);
    let tokens = match &token_file {
        Some(path) => read_tokens(path).map_err(|e| err("token_file", e))?,
        None => Vec::new(),
    };
    let rate = s.rate_limit_per_client.unwrap_or(200);
    if !(1..=100_000).contains(&rate) {
        return Err(err(
            "rate_limit_per_client",
            "must be between 1 and 100000 requests per second".into(),
        ));
    }
    Ok(Some(HttpsConfig {
        listen,
        certificate,
        private_key,
        client_ca: s.client_ca.clone().map(from_file_path),
        token_file,
        tokens,
        rate_limit_per_client: rate,
    }))
}
