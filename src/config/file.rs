//! The configuration file as written: [`FileConfig`], one optional table
//! per section, read and parsed with TOML's own errors placed on their
//! line. Validation is [`super::Config::from_parts`]'s.

use std::path::Path;

use serde::Deserialize;

use super::accounts::{DirectorySection, ProtectedSection};
use super::audit::AuditSection;
use super::error::ConfigError;
use super::limits::LimitsSection;
use super::listen::{ListenSection, MetricsSection};
use super::log::LogSection;
use super::policy::PolicySection;
use super::service::ServiceSection;
use super::sync::SyncSection;
use super::upstream::UpstreamSection;

/// The TOML file as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub listen: ListenSection,
    #[serde(default)]
    pub upstream: UpstreamSection,
    #[serde(default)]
    pub policy: PolicySection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    /// The lookup account (names and groups of the target).
    pub directory: Option<DirectorySection>,
    /// `[[protected]]`: privileged accounts whose resets are limited.
    pub protected: Option<Vec<ProtectedSection>>,
    /// `[[sync]]`: directories that receive accepted passwords too.
    pub sync: Option<Vec<SyncSection>>,
    #[serde(default)]
    pub audit: AuditSection,
    /// `[service]`: the decision service for other enforcement points.
    #[serde(default)]
    pub service: ServiceSection,
}

impl FileConfig {
    pub fn parse(source: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(source).map_err(|e| syntax_error(source, path, e))
    }
}

/// The file's contents, parsed, and its text (for line numbers); an empty
/// configuration without a file.
pub(super) fn read_file(path: Option<&Path>) -> Result<(FileConfig, String), ConfigError> {
    match path {
        Some(p) => {
            let source = std::fs::read_to_string(p).map_err(|e| ConfigError {
                file: Some(p.to_owned()),
                line: None,
                message: format!("cannot read the config file: {e}"),
            })?;
            Ok((FileConfig::parse(&source, p)?, source))
        }
        None => Ok((FileConfig::default(), String::new())),
    }
}

/// Turns a toml error into `line: message`.
fn syntax_error(source: &str, path: &Path, err: toml::de::Error) -> ConfigError {
    let line = err
        .span()
        .map(|span| source[..span.start.min(source.len())].matches('\n').count() + 1);
    ConfigError {
        file: Some(path.to_owned()),
        line,
        message: err.message().trim().replace('\n', " "),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;

    #[test]
    fn unknown_key_is_reported_with_its_line() {
        let err =
            load_str("[upstream]\nurls = [\"ldap://127.0.0.1:389\"]\n\n[policy]\nminlength = 3\n")
                .unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert!(
            err.to_string()
                .starts_with("pwgate.toml:5: unknown field `minlength`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_is_reported_with_its_line() {
        let err =
            load_str("[upstream]\nurls = [\"ldap://h\"]\n[policy]\nmin_length = \"twelve\"\n")
                .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }
}
