//! The command line's part of the configuration: values given as flags,
//! which win over the file, and the choices a flag shares with a key of the
//! file (`--flavor` and `[upstream] flavor`, `--mode` and `[policy] mode`,
//! `--log-format` and `[log] format`).

use std::path::PathBuf;

use serde::Deserialize;

/// Values given on the command line; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub upstream: Vec<String>,
    pub listen: Option<String>,
    pub listen_ldaps: Option<String>,
    pub certificate: Option<PathBuf>,
    pub private_key: Option<PathBuf>,
    pub upstream_ca: Option<PathBuf>,
    pub upstream_starttls: bool,
    pub flavor: Option<Flavor>,
    pub mode: Option<Mode>,
    pub allow_cleartext_password_changes: bool,
    pub allow_cleartext_binds: bool,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub metrics_listen: Option<String>,
    pub workers: Option<usize>,
}

/// Which directory is behind pwgate; decides the shape of refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    #[default]
    Openldap,
    ActiveDirectory,
}

/// Enforce refuses weak passwords; audit only logs what it would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Enforce,
    Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}
