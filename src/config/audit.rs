//! `[audit]`: where the audit records go besides the log, whether they are
//! hash-chained, and how often a summary is written.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, Source};
use crate::audit::trail::Sink;

/// `[audit]`: where audit records go besides the log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// A file path, or `-` for stdout.
    pub file: Option<String>,
    /// Hash-chain the records (`pwgate audit verify`).
    pub chain: Option<bool>,
    /// How often a summary of the decisions is written (0: never).
    pub summary_interval_secs: Option<u64>,
    /// Also send each record to syslog at this datagram socket ("/dev/log").
    pub syslog: Option<PathBuf>,
}

/// `[audit]`, validated.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub sink: Option<Sink>,
    pub syslog: Option<PathBuf>,
    pub chain: bool,
    pub summary_interval: Option<Duration>,
}

/// Validates `[audit]`. A chain needs a file to chain in.
pub(super) fn audit(a: &AuditSection, src: &Source) -> Result<AuditConfig, ConfigError> {
    let sink = match a.file.as_deref() {
        None => None,
        Some("-") => Some(Sink::Stdout),
        Some("") => {
            return Err(src.at("audit", "file", true, "give a path, or - for stdout".into()))
        }
        Some(p) => Some(Sink::File(src.resolve(PathBuf::from(p)))),
    };
    let chain = a.chain.unwrap_or(false);
    if chain && sink.is_none() {
        return Err(src.at("audit", "chain", true, "needs audit.file".into()));
    }
    let every = a.summary_interval_secs.unwrap_or(86_400);
    if every != 0 && !(60..=7 * 86_400).contains(&every) {
        return Err(src.at(
            "audit",
            "summary_interval_secs",
            true,
            "must be 0 (off) or between 60 and 604800 seconds".into(),
        ));
    }
    Ok(AuditConfig {
        sink,
        syslog: a.syslog.clone(),
        chain,
        summary_interval: (every != 0).then(|| Duration::from_secs(every)),
    })
}
