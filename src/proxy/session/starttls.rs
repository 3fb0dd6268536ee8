//! StartTLS (RFC 4511 4.14), answered by pwgate itself: refused when TLS is
//! already up or no certificate is configured; otherwise the success answer
//! goes out in the clear and the client side of the session becomes TLS.
//! The connection to the directory is not affected.

use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsStream;
use tracing::debug;

use super::{Session, SessionError};
use crate::proxy::reply::{self, ResultCode};
use crate::proxy::stream::{self, ReadSide, Stream};

impl Session {
    /// Answers StartTLS and, on success, returns the reader of the TLS stream.
    pub(super) async fn start_tls(
        &self,
        reader: ReadSide,
        msgid: i32,
    ) -> Result<ReadSide, SessionError> {
        let mut guard = self.client_writer.lock().await;
        let Some(mut writer) = guard.take() else {
            return Err(SessionError::Client(
                std::io::ErrorKind::NotConnected.into(),
            ));
        };
        let gate = self.cell.load();
        let refusal = match (&gate.acceptor, self.client_tls.load(Ordering::Relaxed)) {
            (_, true) => Some((ResultCode::OperationsError, "TLS is already established")),
            (None, false) => Some((
                ResultCode::Unavailable,
                "pwgate has no certificate configured for StartTLS",
            )),
            (Some(_), false) => None,
        };
        if let Some((code, text)) = refusal {
            let r = writer
                .write_all(&reply::start_tls_response(msgid, code, text))
                .await;
            *guard = Some(writer);
            r.map_err(SessionError::Client)?;
            return Ok(reader);
        }
        writer
            .write_all(&reply::start_tls_response(msgid, ResultCode::Success, ""))
            .await
            .map_err(SessionError::Client)?;
        writer.flush().await.map_err(SessionError::Client)?;
        let Some(Stream::Plain(tcp)) = stream::unsplit(reader, writer) else {
            unreachable!("checked that the client side is not TLS yet");
        };
        let acceptor = gate.acceptor.clone().expect("checked above");
        let tls = tokio::time::timeout(
            self.gate.config.limits.tls_handshake_timeout,
            acceptor.accept(tcp),
        )
        .await
        .map_err(|_| SessionError::Handshake("timed out".into()))?
        .map_err(|e| SessionError::Handshake(e.to_string()))?;
        let (reader, writer) = stream::split(Stream::Tls(Box::new(TlsStream::Server(tls))));
        *guard = Some(writer);
        self.client_tls.store(true, Ordering::Relaxed);
        debug!(client = %self.peer, "StartTLS established");
        Ok(reader)
    }
}
