//! `[listen]` (where pwgate serves LDAP and LDAPS, with which certificate,
//! on how many threads) and `[metrics]` (where it serves its counters).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::error::{ConfigError, Source};
use super::overrides::Overrides;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenSection {
    pub ldap: Option<String>,
    pub ldaps: Option<String>,
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    pub allow_cleartext_password_changes: Option<bool>,
    pub allow_cleartext_binds: Option<bool>,
    pub allow_sasl_security_layers: Option<bool>,
    pub workers: Option<usize>,
    /// TLS 1.3 session tickets sent after each handshake (LDAPS, StartTLS).
    pub tls13_session_tickets: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Address for `/metrics`, `/healthz` and `/readyz` (off when unset).
    pub listen: Option<String>,
}

/// Certificate and key of pwgate's own TLS endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:1389";

/// Most connection-serving threads (`[listen] workers`).
pub const MAX_WORKERS: usize = 256;

/// TLS 1.3 session tickets pwgate sends after a handshake by default: none.
/// Samba 4.17's client TLS (tstream_tls over GnuTLS, as in samba-tool)
/// stops reading after tickets that arrive ahead of the first answer and
/// waits forever (issue 24); a Samba DC's own LDAPS sends none either.
/// TLS 1.2 resumption by session ID is not affected.
pub const DEFAULT_TLS13_SESSION_TICKETS: usize = 0;
/// Most TLS 1.3 session tickets per handshake (`[listen] tls13_session_tickets`).
pub const MAX_TLS13_SESSION_TICKETS: usize = 8;

/// `[listen]` and its flags, validated (the fields of the same names in
/// [`super::Config`]).
pub(super) struct Listen {
    pub ldap: Option<SocketAddr>,
    pub ldaps: Option<SocketAddr>,
    pub tls: Option<TlsFiles>,
    pub tls13_session_tickets: usize,
    pub allow_cleartext_password_changes: bool,
    pub allow_cleartext_binds: bool,
    pub allow_sasl_security_layers: bool,
    pub workers: usize,
}

/// An address to listen on, from a flag (which wins) or the file.
fn address(
    src: &Source,
    section: &str,
    key: &str,
    flag: Option<&String>,
    file: Option<String>,
) -> Result<Option<SocketAddr>, ConfigError> {
    let from_file = flag.is_none();
    match flag.cloned().or(file) {
        None => Ok(None),
        Some(text) => text.parse::<SocketAddr>().map(Some).map_err(|_| {
            src.at(
                section,
                key,
                from_file,
                format!("`{text}` is not an address:port such as 127.0.0.1:1389"),
            )
        }),
    }
}

/// Validates `[listen]`. Without any listener, pwgate listens on
/// [`DEFAULT_LISTEN`].
pub(super) fn listen(
    file: ListenSection,
    o: &Overrides,
    src: &Source,
) -> Result<Listen, ConfigError> {
    let mut ldap = address(src, "listen", "ldap", o.listen.as_ref(), file.ldap)?;
    let ldaps = address(src, "listen", "ldaps", o.listen_ldaps.as_ref(), file.ldaps)?;
    if ldap.is_none() && ldaps.is_none() {
        ldap = Some(DEFAULT_LISTEN.parse().expect("valid default address"));
    }
    let workers = o.workers.or(file.workers).unwrap_or(0);
    if workers > MAX_WORKERS {
        return Err(src.at(
            "listen",
            "workers",
            o.workers.is_none(),
            format!("must be between 0 (one per CPU) and {MAX_WORKERS}"),
        ));
    }

    let certificate = o
        .certificate
        .clone()
        .or(file.certificate.map(|p| src.resolve(p)));
    let private_key = o
        .private_key
        .clone()
        .or(file.private_key.map(|p| src.resolve(p)));
    let tls = match (certificate, private_key) {
        (Some(certificate), Some(private_key)) => Some(TlsFiles {
            certificate,
            private_key,
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(src.at(
                "listen",
                "certificate",
                o.certificate.is_none(),
                "is set but listen.private_key is not (--private-key)".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(src.at(
                "listen",
                "private_key",
                o.private_key.is_none(),
                "is set but listen.certificate is not (--certificate)".into(),
            ))
        }
    };
    let tls13_session_tickets = match file.tls13_session_tickets {
        None => DEFAULT_TLS13_SESSION_TICKETS,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_TLS13_SESSION_TICKETS)
            .ok_or_else(|| {
                src.at(
                    "listen",
                    "tls13_session_tickets",
                    true,
                    format!(
                        "`{n}` is not a number of tickets from 0 (none, the default) \
                         to {MAX_TLS13_SESSION_TICKETS}"
                    ),
                )
            })?,
    };
    if ldaps.is_some() && tls.is_none() {
        return Err(src.at(
            "listen",
            "ldaps",
            o.listen_ldaps.is_none(),
            "an LDAPS listener needs listen.certificate and listen.private_key \
             (--certificate and --private-key)"
                .into(),
        ));
    }
    Ok(Listen {
        ldap,
        ldaps,
        tls,
        tls13_session_tickets,
        allow_cleartext_password_changes: o.allow_cleartext_password_changes
            || file.allow_cleartext_password_changes.unwrap_or(false),
        allow_cleartext_binds: o.allow_cleartext_binds
            || file.allow_cleartext_binds.unwrap_or(false),
        allow_sasl_security_layers: file.allow_sasl_security_layers.unwrap_or(false),
        workers,
    })
}

/// Validates `[metrics]`: where `/metrics` is served (None: off).
pub(super) fn metrics(
    file: MetricsSection,
    o: &Overrides,
    src: &Source,
) -> Result<Option<SocketAddr>, ConfigError> {
    address(
        src,
        "metrics",
        "listen",
        o.metrics_listen.as_ref(),
        file.listen,
    )
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    #[test]
    fn tls13_session_tickets_default_to_none_and_are_bounded() {
        let up = "[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n";
        let c = load_str(up).unwrap();
        assert_eq!(c.tls13_session_tickets, 0);
        assert!(c.describe().contains("client TLS: off"), "{}", c.describe());
        let c = load_str(&format!(
            "[listen]\ncertificate = \"c.crt\"\nprivate_key = \"c.key\"\n{up}"
        ))
        .unwrap();
        assert!(
            c.describe()
                .contains("client TLS: TLS 1.2 and 1.3, no TLS 1.3 session tickets"),
            "{}",
            c.describe()
        );
        let c = load_str(&format!(
            "[listen]\ncertificate = \"c.crt\"\nprivate_key = \"c.key\"\ntls13_session_tickets = 2\n{up}"
        ))
        .unwrap();
        assert_eq!(c.tls13_session_tickets, 2);
        assert!(
            c.describe()
                .contains("2 TLS 1.3 session tickets per handshake"),
            "{}",
            c.describe()
        );
        for bad in ["-1", "9", "100000"] {
            let e = load_str(&format!("[listen]\n\ntls13_session_tickets = {bad}\n{up}"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(":3:")
                    && e.contains("listen.tls13_session_tickets")
                    && e.contains(&format!(
                        "`{bad}` is not a number of tickets from 0 (none, the default) to 8"
                    )),
                "{e}"
            );
        }
        let e = load_str(&format!("[listen]\ntls13_session_tickets = \"none\"\n{up}"))
            .unwrap_err()
            .to_string();
        // A type error, like any other key's: the serde message and the line.
        assert!(e.contains(":2:") && e.contains("invalid type"), "{e}");
    }

    #[test]
    fn workers_default_to_one_per_cpu_and_are_bounded() {
        let c = load_str("[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n").unwrap();
        assert_eq!(c.workers, 0);
        assert!(c.describe().contains("workers: one per CPU"));
        let c = load_str("[listen]\nworkers = 3\n[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n")
            .unwrap();
        assert_eq!(c.workers, 3);
        let e = load_str(
            "[listen]\nworkers = 100000\n[upstream]\nurls = [\"ldap://127.0.0.1:3389\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(":2:") && e.contains("listen.workers"), "{e}");
    }
}
