//! The systemd readiness protocol (`Type=notify`): tell the service manager
//! when pwgate serves and when it stops, by one datagram to the socket in
//! `NOTIFY_SOCKET`. Without that variable (not started by systemd, or by a
//! unit of another type) nothing is sent. A failure to send is logged and
//! otherwise ignored: readiness is a courtesy, serving goes on.

/// `READY=1`: the listeners are bound and connections are taken.
pub fn ready() {
    send("READY=1\nSTATUS=serving");
}

/// `STOPPING=1`: shutting down, in-flight operations finishing.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=finishing the operations in flight");
}

#[cfg(target_os = "linux")]
fn send(state: &str) {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        if let Err(e) = send_to(&path, state) {
            tracing::warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
        }
    }
}

/// Sends `state` to the socket at `path` (`@name`: abstract namespace).
#[cfg(target_os = "linux")]
fn send_to(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let addr = match path.as_encoded_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(path)?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn send(_: &str) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn readiness_goes_to_the_notify_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).expect("bind");
        listener
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        super::send_to(path.as_os_str(), "READY=1\nSTATUS=serving").expect("sent");
        let mut buf = [0u8; 128];
        let n = listener.recv(&mut buf).expect("a datagram");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=serving");
        // No one listening: an error, not a panic.
        drop(listener);
        assert!(super::send_to(path.as_os_str(), "READY=1").is_err());
    }
}
