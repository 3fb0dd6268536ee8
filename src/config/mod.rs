//! Configuration: a TOML file, command-line overrides, and validation.
//!
//! The file is parsed into [`FileConfig`] (every key optional, unknown keys
//! refused), command-line flags ([`Overrides`]) win over it, and
//! [`Config::load`] checks the result as a whole. Errors name the file and,
//! where the problem sits on a line, the line: `pwgate.toml:7: ...`.
//!
//! One file per section, each with its table as written, its validation
//! and its tests: `listen` (also `[metrics]`), `upstream`, `policy` (with
//! `[[policy.scope]]`), `limits`, `log`, `audit`, `accounts` (`[directory]`,
//! `[[protected]]`), `sync` (`[[sync]]`) and `service`. Beneath them,
//! `error` places errors on their file and line and `overrides` holds the
//! flags; above them, `file` is the whole file as written, this module
//! checks the sections in order and across each other, and `describe`
//! puts the result in words for `pwgate config check`.

mod accounts;
mod audit;
mod describe;
mod error;
mod file;
mod limits;
mod listen;
mod log;
mod overrides;
mod policy;
mod service;
mod sync;
mod upstream;
pub use accounts::{DirectorySection, Protected, ProtectedSection};
pub use audit::{AuditConfig, AuditSection};
pub use error::ConfigError;
pub use file::FileConfig;
pub use limits::{
    Limits, LimitsSection, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_OUTSTANDING, DEFAULT_MESSAGE_TIMEOUT_SECS,
    DEFAULT_WRITE_TIMEOUT_SECS,
};
pub use listen::{
    ListenSection, MetricsSection, TlsFiles, DEFAULT_LISTEN, DEFAULT_TLS13_SESSION_TICKETS,
    MAX_TLS13_SESSION_TICKETS, MAX_WORKERS,
};
pub use log::LogSection;
pub use overrides::{Flavor, LogFormat, Mode, Overrides};
pub use policy::{OnStoreError, PolicySection, Preset, RegexSection, Scope, ScopeDomain};
pub use service::{HttpsConfig, ServiceConfig, ServiceSection, Token, DEFAULT_SOCKET};
pub use sync::{Locate, SyncMethod, SyncSection, SyncTarget};
pub use upstream::{UpstreamConfig, UpstreamSection};

pub use crate::dn::{dn_is_under, normalize_dn};
pub use crate::ldapclient::UpstreamUrl;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::directory::DirectoryConfig;
use crate::policy::Policy;
use error::{line_of, Source};
use file::read_file;

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen_ldap: Option<SocketAddr>,
    pub listen_ldaps: Option<SocketAddr>,
    pub tls: Option<TlsFiles>,
    /// TLS 1.3 session tickets sent to a client after each handshake.
    pub tls13_session_tickets: usize,
    pub allow_cleartext_password_changes: bool,
    /// Simple binds with a password on the plain listener before StartTLS
    /// (refused with confidentialityRequired, 13, unless true).
    pub allow_cleartext_binds: bool,
    pub allow_sasl_security_layers: bool,
    /// Threads that serve client connections, each with its own event loop
    /// (0: one per CPU). A connection stays on the thread it started on.
    pub workers: usize,
    pub upstream: UpstreamConfig,
    pub mode: Mode,
    pub policy: Policy,
    /// Policies for accounts under given DNs; the longest suffix wins.
    pub scopes: Vec<Scope>,
    /// The breached-password store file, opened when the proxy's gate is
    /// built (at start and on reload) and by `pwgate check`.
    pub breached_store: Option<PathBuf>,
    pub allow_prehashed: bool,
    pub limits: Limits,
    pub log_format: LogFormat,
    pub log_level: Option<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (None: off).
    pub metrics_listen: Option<SocketAddr>,
    /// The lookup account, when configured.
    pub directory: Option<DirectoryConfig>,
    pub protected: Vec<Protected>,
    pub sync: Vec<SyncTarget>,
    pub audit: AuditConfig,
    /// The decision service (off when None).
    pub service: Option<ServiceConfig>,
}

impl Config {
    /// Reads the file (if any), applies the overrides and validates.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let (file, source) = read_file(path)?;
        Config::from_parts(file, &source, path, overrides)
    }

    /// The configuration for `pwgate check`, which serves nothing: the
    /// upstream URLs are a placeholder, except when account lookups are
    /// wanted (`lookups`) and `[directory]` has no URLs of its own, since
    /// it then uses the upstream's.
    ///
    /// Without lookups, the `[directory]` service account is dropped before
    /// validation, so that its password file or variable is not read: a
    /// policy can be checked by someone who may not read that secret.
    pub fn load_for_check(path: Option<&Path>, lookups: bool) -> Result<Config, ConfigError> {
        let (mut file, source) = read_file(path)?;
        if let (false, Some(d)) = (lookups, file.directory.as_mut()) {
            d.bind_dn = None;
            d.bind_password_file = None;
            d.bind_password_env = None;
        }
        let directory_uses_upstream =
            lookups && file.directory.as_ref().is_some_and(|d| d.urls.is_none());
        if directory_uses_upstream && file.upstream.urls.is_none() {
            return Err(ConfigError {
                file: path.map(Path::to_owned),
                line: line_of(&source, "directory", "urls"),
                message: "directory.urls: account lookups need a directory: give directory.urls \
                          or upstream.urls (or check without lookups: --no-lookup)"
                    .into(),
            });
        }
        let overrides = Overrides {
            upstream: if directory_uses_upstream {
                Vec::new()
            } else {
                vec!["ldap://127.0.0.1:389".into()]
            },
            ..Overrides::default()
        };
        Config::from_parts(file, &source, path, &overrides)
    }

    /// Validates a parsed file plus overrides. `source` is the file's text
    /// (for line numbers), empty when there is no file.
    pub fn from_parts(
        file: FileConfig,
        source: &str,
        path: Option<&Path>,
        o: &Overrides,
    ) -> Result<Config, ConfigError> {
        let src = Source { text: source, path };
        let from_file_path = |p: PathBuf| src.resolve(p);

        // The sections that stand alone, each validated by its own file.
        let listen = listen::listen(file.listen, o, &src)?;
        let upstream = upstream::upstream(file.upstream, o, &src)?;
        let policies = policy::policy(file.policy, o, &src)?;
        let limits = limits::limits(&file.limits, &src)?;
        let metrics_listen = listen::metrics(file.metrics, o, &src)?;
        let (log_format, log_level) = log::log(file.log, o, &src)?;

        // The directory and what needs it: [[protected]], [[sync]] and
        // scopes by group.
        let protected = accounts::protected(file.protected.unwrap_or_default(), source, path)?;
        let sync = sync::targets(file.sync.unwrap_or_default(), source, path, &from_file_path)?;
        let sync_attributes: Vec<String> =
            sync.iter().flat_map(|t| t.locate.placeholders()).collect();
        let directory = match file.directory {
            Some(d) => {
                let err = |key: &str, message: String| src.at("directory", key, true, message);
                Some(accounts::directory(
                    d,
                    &upstream,
                    &sync_attributes,
                    &err,
                    &from_file_path,
                )?)
            }
            None => None,
        };
        if directory.is_none() {
            if let Some(scope) = policies.scopes.iter().find(|s| !s.member_of.is_empty()) {
                return Err(ConfigError {
                    file: path.map(Path::to_owned),
                    line: None,
                    message: format!(
                        "policy.scope \"{}\": member_of needs a [directory] section \
                         (the lookup account that resolves group membership)",
                        scope.name
                    ),
                });
            }
            if let Some(t) = sync.iter().find(|t| !t.member_of.is_empty()) {
                return Err(ConfigError {
                    file: path.map(Path::to_owned),
                    line: None,
                    message: format!(
                        "sync \"{}\": member_of needs a [directory] section \
                         (the lookup account that resolves group membership)",
                        t.name
                    ),
                });
            }
            if !protected.is_empty() {
                return Err(ConfigError {
                    file: path.map(Path::to_owned),
                    line: accounts::array_table_line(source, "protected", 0),
                    message: "[[protected]] needs a [directory] section \
                              (the lookup account that resolves group membership)"
                        .into(),
                });
            }
        }

        let audit = audit::audit(&file.audit, &src)?;

        let service = service::service(
            file.service,
            listen.tls.as_ref(),
            &|key: &str, message: String| src.at("service", key, true, message),
            &from_file_path,
        )?;

        Ok(Config {
            listen_ldap: listen.ldap,
            listen_ldaps: listen.ldaps,
            tls: listen.tls,
            tls13_session_tickets: listen.tls13_session_tickets,
            allow_cleartext_password_changes: listen.allow_cleartext_password_changes,
            allow_cleartext_binds: listen.allow_cleartext_binds,
            allow_sasl_security_layers: listen.allow_sasl_security_layers,
            workers: listen.workers,
            upstream,
            mode: policies.mode,
            policy: policies.policy,
            scopes: policies.scopes,
            breached_store: policies.breached_store,
            allow_prehashed: policies.allow_prehashed,
            limits,
            log_format,
            log_level,
            metrics_listen,
            directory,
            protected,
            sync,
            audit,
            service,
        })
    }
}

/// A configuration from `text`, as if read from `pwgate.toml` with no
/// flags: how the tests of every section (and of scope choice) load one.
#[cfg(test)]
pub(crate) fn load_str(text: &str) -> Result<Config, ConfigError> {
    let path = Path::new("pwgate.toml");
    let file = FileConfig::parse(text, path)?;
    Config::from_parts(file, text, Some(path), &Overrides::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_config_means_default_policy_and_listener() {
        let o = Overrides {
            upstream: vec!["ldap://127.0.0.1:3389".into()],
            ..Overrides::default()
        };
        let c = Config::from_parts(FileConfig::default(), "", None, &o).unwrap();
        assert_eq!(c.listen_ldap, Some(DEFAULT_LISTEN.parse().unwrap()));
        assert_eq!(c.policy.min_length, 12);
        assert_eq!(c.mode, Mode::Enforce);
        assert!(!c.allow_cleartext_password_changes);
    }

    #[test]
    fn group_scopes_and_protected_accounts_need_a_directory() {
        let err = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n[[policy.scope]]\nname = \"admins\"\n\
             member_of = [\"cn=admins,dc=x\"]\nmin_length = 20\n",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("member_of needs a [directory] section"),
            "{err}"
        );
        let err = load_str(
            "[upstream]\nurls = [\"ldap://h\"]\n\n[[protected]]\ngroup = \"cn=admins,dc=x\"\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(
            err.to_string()
                .contains("[[protected]] needs a [directory]"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    #[test]
    fn the_documented_example_config_is_valid() {
        let text = include_str!("../../examples/pwgate.toml");
        let path = Path::new("examples/pwgate.toml");
        let file = FileConfig::parse(text, path).expect("example parses");
        let c = Config::from_parts(file, text, Some(path), &Overrides::default())
            .expect("example validates");
        assert_eq!(c.policy.min_length, 12);
        assert!(c.tls.is_some());
        assert_eq!(c.upstream.urls.len(), 1);
    }

    /// The deployment examples, with their /etc paths moved into a temp
    /// dir holding the files the configuration reads (secrets, word lists).
    #[test]
    fn the_deployment_examples_are_valid() {
        for (name, text) in [
            (
                "active-directory.toml",
                include_str!("../../examples/active-directory.toml"),
            ),
            (
                "openldap.toml",
                include_str!("../../examples/openldap.toml"),
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let root = format!("{}/", dir.path().display());
            for f in ["lookup.secret", "sync-linux.secret", "banned-words.txt"] {
                std::fs::write(dir.path().join(f), "not-a-real-secret\n").unwrap();
            }
            let text = text.replace("/etc/pwgate/", &root);
            let path = Path::new(name);
            let file = FileConfig::parse(&text, path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let c = Config::from_parts(file, &text, Some(path), &Overrides::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(c.directory.is_some(), "{name}");
            assert!(!c.describe().contains("not-a-real-secret"), "{name}");
        }
    }
}
