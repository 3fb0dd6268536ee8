//! `[limits]`: how much a client may send and hold, and how long pwgate
//! waits for it.

use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, Source};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub max_message_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub max_outstanding_per_connection: Option<usize>,
    pub tls_handshake_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub message_timeout_secs: Option<u64>,
    pub write_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_connections: usize,
    /// Requests awaiting an answer on one connection; beyond it pwgate stops
    /// reading from that client until answers arrive.
    pub max_outstanding_per_connection: usize,
    pub tls_handshake_timeout: Duration,
    /// A connection with nothing to do for this long is closed (None: never).
    pub idle_timeout: Option<Duration>,
    /// A message must arrive whole within this time of its first byte.
    pub message_timeout: Duration,
    /// A client that does not take its answers for this long is disconnected.
    pub write_timeout: Duration,
    /// On SIGTERM, how long sessions may take to finish what is in flight
    /// before they are cut off.
    pub shutdown_grace: Duration,
}

/// Defaults of the limits.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_MAX_OUTSTANDING: usize = 256;
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 900;
pub const DEFAULT_MESSAGE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 60;
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
/// Longer than a supervisor would wait: systemd's default stop timeout is
/// 90 s, after which it kills the process anyway.
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 3600;

/// Validates `[limits]`: every limit has a default and a range.
pub(super) fn limits(l: &LimitsSection, src: &Source) -> Result<Limits, ConfigError> {
    let max_message_bytes = l.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
    if !(1024..=1 << 30).contains(&max_message_bytes) {
        return Err(src.at(
            "limits",
            "max_message_bytes",
            true,
            "must be between 1024 and 1073741824".into(),
        ));
    }
    let max_connections = l.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 || max_connections > 1_000_000 {
        return Err(src.at(
            "limits",
            "max_connections",
            true,
            "must be between 1 and 1000000".into(),
        ));
    }
    let max_outstanding = l
        .max_outstanding_per_connection
        .unwrap_or(DEFAULT_MAX_OUTSTANDING);
    if !(1..=65536).contains(&max_outstanding) {
        return Err(src.at(
            "limits",
            "max_outstanding_per_connection",
            true,
            "must be between 1 and 65536".into(),
        ));
    }
    let seconds = |key: &str, value: Option<u64>, default: u64, zero_ok: bool| {
        let v = value.unwrap_or(default);
        if (v == 0 && !zero_ok) || v > 86_400 {
            let range = if zero_ok { "0 (never)" } else { "1" };
            return Err(src.at(
                "limits",
                key,
                true,
                format!("must be between {range} and 86400 seconds"),
            ));
        }
        Ok(Duration::from_secs(v))
    };
    let idle = seconds(
        "idle_timeout_secs",
        l.idle_timeout_secs,
        DEFAULT_IDLE_TIMEOUT_SECS,
        true,
    )?;
    let message_timeout = seconds(
        "message_timeout_secs",
        l.message_timeout_secs,
        DEFAULT_MESSAGE_TIMEOUT_SECS,
        false,
    )?;
    let write_timeout = seconds(
        "write_timeout_secs",
        l.write_timeout_secs,
        DEFAULT_WRITE_TIMEOUT_SECS,
        false,
    )?;
    let tls_handshake_timeout = seconds(
        "tls_handshake_timeout_secs",
        l.tls_handshake_timeout_secs,
        10,
        false,
    )?;
    let grace = l.shutdown_grace_secs.unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS);
    if grace > MAX_SHUTDOWN_GRACE_SECS {
        return Err(src.at(
            "limits",
            "shutdown_grace_secs",
            true,
            format!("must be between 0 (cut off at once) and {MAX_SHUTDOWN_GRACE_SECS} seconds"),
        ));
    }
    Ok(Limits {
        max_message_bytes,
        max_connections,
        max_outstanding_per_connection: max_outstanding,
        tls_handshake_timeout,
        idle_timeout: (!idle.is_zero()).then_some(idle),
        message_timeout,
        write_timeout,
        shutdown_grace: Duration::from_secs(grace),
    })
}
