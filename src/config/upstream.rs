//! `[upstream]`: the directory behind pwgate, which every client request
//! goes on to, and how pwgate reaches it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, Source};
use super::overrides::{Flavor, Overrides};
use crate::ldapclient::UpstreamUrl;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    pub urls: Option<Vec<String>>,
    pub flavor: Option<Flavor>,
    pub ca: Option<PathBuf>,
    pub starttls: Option<bool>,
    pub connect_timeout_secs: Option<u64>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub urls: Vec<UpstreamUrl>,
    pub flavor: Flavor,
    pub ca: Option<PathBuf>,
    pub starttls: bool,
    pub connect_timeout: Duration,
    /// A URL that failed is skipped for this long (unless all have failed).
    pub retry_after: Duration,
}

/// Validates `[upstream]`; `--upstream` replaces its URLs. TLS to the
/// directory always needs a CA: pwgate never accepts an unverified
/// certificate.
pub(super) fn upstream(
    file: UpstreamSection,
    o: &Overrides,
    src: &Source,
) -> Result<UpstreamConfig, ConfigError> {
    let url_texts = if o.upstream.is_empty() {
        file.urls.clone().unwrap_or_default()
    } else {
        o.upstream.clone()
    };
    let urls_from_file = o.upstream.is_empty();
    if url_texts.is_empty() {
        return Err(ConfigError::new(
            "no upstream directory: give --upstream ldap://host:port or upstream.urls in the config file",
        ));
    }
    let urls = url_texts
        .iter()
        .map(|u| UpstreamUrl::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| src.at("upstream", "urls", urls_from_file, m))?;
    let starttls = o.upstream_starttls || file.starttls.unwrap_or(false);
    if starttls && urls.iter().any(|u| u.tls) {
        return Err(src.at(
            "upstream",
            "starttls",
            !o.upstream_starttls,
            "applies to ldap:// URLs; an ldaps:// URL already uses TLS".into(),
        ));
    }
    let ca = o.upstream_ca.clone().or(file.ca.map(|p| src.resolve(p)));
    if (starttls || urls.iter().any(|u| u.tls)) && ca.is_none() {
        return Err(src.at(
            "upstream",
            "urls",
            urls_from_file,
            "TLS to the upstream needs upstream.ca (--upstream-ca): pwgate never accepts an unverified certificate".into(),
        ));
    }
    let connect_timeout = file.connect_timeout_secs.unwrap_or(5);
    if !(1..=3600).contains(&connect_timeout) {
        return Err(src.at(
            "upstream",
            "connect_timeout_secs",
            true,
            "must be between 1 and 3600 seconds".into(),
        ));
    }
    let connect_timeout = Duration::from_secs(connect_timeout);
    let retry_after = file.retry_after_secs.unwrap_or(30);
    if retry_after > 86_400 {
        return Err(src.at(
            "upstream",
            "retry_after_secs",
            true,
            "must be between 0 and 86400 seconds".into(),
        ));
    }
    let retry_after = Duration::from_secs(retry_after);
    Ok(UpstreamConfig {
        urls,
        flavor: o.flavor.or(file.flavor).unwrap_or_default(),
        ca,
        starttls,
        connect_timeout,
        retry_after,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{load_str, Config, FileConfig, Flavor, Overrides};

    #[test]
    fn flags_override_the_file() {
        let text = "[upstream]\nurls = [\"ldap://file:389\"]\nflavor = \"openldap\"\n";
        let file = FileConfig::parse(text, Path::new("x.toml")).unwrap();
        let o = Overrides {
            upstream: vec!["ldap://flag:3389".into()],
            flavor: Some(Flavor::ActiveDirectory),
            ..Overrides::default()
        };
        let c = Config::from_parts(file, text, Some(Path::new("x.toml")), &o).unwrap();
        assert_eq!(c.upstream.urls[0].host, "flag");
        assert_eq!(c.upstream.flavor, Flavor::ActiveDirectory);
    }

    #[test]
    fn tls_and_timeout_errors_name_their_line() {
        let err = load_str("[upstream]\nurls = [\"ldaps://dc1:636\"]\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err = load_str(
            "[upstream]\nurls = [\"ldaps://dc1:636\"]\nca = \"ca.crt\"\nstarttls = true\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        let err =
            load_str("[listen]\ncertificate = \"c.crt\"\n[upstream]\nurls = [\"ldap://h\"]\n")
                .unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\nconnect_timeout_secs = 0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "pwgate.toml:3: upstream.connect_timeout_secs: must be between 1 and 3600 seconds"
        );
    }

    #[test]
    fn tls_upstream_requires_a_ca() {
        let err = load_str("[upstream]\nurls = [\"ldaps://dc1:636\"]\n").unwrap_err();
        assert!(err.message.contains("upstream.ca"), "{err}");
    }
}
