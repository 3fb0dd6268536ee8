//! `[service]`: the decision service, which lets other enforcement points
//! (Samba's check password script, through `pwgate hook samba`) ask the
//! running pwgate for its decision. Off unless `socket` is set.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

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
}

/// The decision service's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    pub socket: PathBuf,
    pub socket_mode: u32,
    /// Empty: root and pwgate's own user.
    pub allowed_uids: Vec<u32>,
    pub max_concurrent: usize,
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

    /// One line for `pwgate config check`.
    pub fn describe(&self) -> String {
        let uids: Vec<String> = self.allowed().iter().map(u32::to_string).collect();
        format!(
            "decision service: unix socket {} (mode {:04o}, uids {}, {} at once)",
            self.socket.display(),
            self.socket_mode,
            uids.join(","),
            self.max_concurrent
        )
    }
}

/// Validates `[service]`; `err` names the key and its line.
pub(super) fn service(
    s: ServiceSection,
    err: &dyn Fn(&str, String) -> ConfigError,
    from_file_path: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Option<ServiceConfig>, ConfigError> {
    let Some(socket) = s.socket else {
        for (key, set) in [
            ("socket_mode", s.socket_mode.is_some()),
            ("allowed_uids", s.allowed_uids.is_some()),
            ("max_concurrent", s.max_concurrent.is_some()),
        ] {
            if set {
                return Err(err(key, "needs service.socket".into()));
            }
        }
        return Ok(None);
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
    let max_concurrent = s.max_concurrent.unwrap_or(64);
    if !(1..=4096).contains(&max_concurrent) {
        return Err(err("max_concurrent", "must be between 1 and 4096".into()));
    }
    Ok(Some(ServiceConfig {
        socket,
        socket_mode,
        allowed_uids: s.allowed_uids.unwrap_or_default(),
        max_concurrent,
    }))
}
