//! Log output: human-readable or JSON lines on stderr.
//!
//! Whatever level is asked for, events from the `ldap3_proto` and
//! `ldap3_lber` crates are dropped: at trace level they print decoded
//! messages, which for a password operation would include the password.
//! pwgate's own events never contain one. rustls's debug and trace output
//! (handshake details, ticket nonces) is dropped too; its warnings remain.

use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogFormat;

/// Targets whose events may contain message contents, hence secrets.
const SILENCED_TARGETS: &[&str] = &["ldap3_proto", "ldap3_lber"];

/// Targets whose events below WARN are dropped.
const QUIETED_TARGETS: &[&str] = &["rustls", "tokio_rustls"];

fn under(target: &str, root: &str) -> bool {
    target == root
        || target
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// True for events pwgate may write.
pub fn target_allowed(target: &str) -> bool {
    !SILENCED_TARGETS.iter().any(|t| under(target, t))
}

/// True for events pwgate may write, given their level.
pub fn event_allowed(target: &str, level: &tracing::Level) -> bool {
    target_allowed(target)
        && (*level <= tracing::Level::WARN || !QUIETED_TARGETS.iter().any(|t| under(target, t)))
}

/// Installs the global subscriber. `level` (from flag or config) wins over
/// `RUST_LOG`; without either the level is `info`.
pub fn init(format: LogFormat, level: Option<&str>) -> Result<(), String> {
    init_with_audit(format, level, None)
}

/// Like [`init`], also sending every audit event to `audit` whatever the
/// log level.
pub fn init_with_audit(
    format: LogFormat,
    level: Option<&str>,
    audit: Option<std::sync::Arc<crate::audit::trail::AuditTrail>>,
) -> Result<(), String> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| format!("invalid log level `{l}`: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let secret_safe = filter_fn(|meta| event_allowed(meta.target(), meta.level()));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(secret_safe).with_filter(filter))
        .with(audit.map(crate::audit::trail::AuditLayer))
        .try_init()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_crates_are_silenced() {
        assert!(!target_allowed("ldap3_proto"));
        assert!(!target_allowed("ldap3_proto::proto"));
        assert!(!target_allowed("ldap3_lber::parse"));
        assert!(target_allowed("pwgate::audit"));
        assert!(target_allowed("ldap3_protocol_other"));
    }

    #[test]
    fn rustls_keeps_only_warnings_and_errors() {
        use tracing::Level;
        assert!(!event_allowed("rustls::server::hs", &Level::TRACE));
        assert!(!event_allowed("rustls", &Level::DEBUG));
        assert!(event_allowed("rustls::conn", &Level::WARN));
        assert!(event_allowed("pwgate::proxy::session", &Level::TRACE));
    }
}
