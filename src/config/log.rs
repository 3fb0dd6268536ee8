//! `[log]`: the format and filter of pwgate's log output.

use serde::Deserialize;

use super::error::{ConfigError, Source};
use super::overrides::{LogFormat, Overrides};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<LogFormat>,
    pub level: Option<String>,
}

/// Validates `[log]`: the format, and the level filter (a `tracing`
/// directive such as `info` or `pwgate=debug`), if any.
pub(super) fn log(
    file: LogSection,
    o: &Overrides,
    src: &Source,
) -> Result<(LogFormat, Option<String>), ConfigError> {
    let level = o.log_level.clone().or(file.level);
    if let Some(level) = &level {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(level) {
            return Err(src.at(
                "log",
                "level",
                o.log_level.is_none(),
                format!("invalid log level `{level}`: {e}"),
            ));
        }
    }
    Ok((o.log_format.or(file.format).unwrap_or_default(), level))
}
