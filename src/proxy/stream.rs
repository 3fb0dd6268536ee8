//! A TCP connection that is either plain or wrapped in TLS.
//!
//! Both sides of a session use the same type: the client side may start
//! plain and become TLS after StartTLS; the upstream side is TLS for
//! `ldaps://` or after StartTLS towards the directory.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The read half of a [`Stream`]. A plain connection is split into tokio's
/// owned halves, which need no lock between reader and writer; a TLS
/// session is one state machine, so its halves share it through a lock.
pub enum ReadSide {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<Stream>),
}

/// The write half of a [`Stream`]; see [`ReadSide`].
pub enum WriteSide {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<Stream>),
}

/// Splits a connection into halves that can be used from two places.
pub fn split(stream: Stream) -> (ReadSide, WriteSide) {
    match stream {
        Stream::Plain(tcp) => {
            let (r, w) = tcp.into_split();
            (ReadSide::Plain(r), WriteSide::Plain(w))
        }
        tls => {
            let (r, w) = tokio::io::split(tls);
            (ReadSide::Tls(r), WriteSide::Tls(w))
        }
    }
}

/// Joins the halves of one connection again (None: they are not halves of
/// the same connection).
pub fn unsplit(read: ReadSide, write: WriteSide) -> Option<Stream> {
    match (read, write) {
        (ReadSide::Plain(r), WriteSide::Plain(w)) => r.reunite(w).ok().map(Stream::Plain),
        (ReadSide::Tls(r), WriteSide::Tls(w)) if r.is_pair_of(&w) => Some(r.unsplit(w)),
        _ => None,
    }
}

impl WriteSide {
    /// Ends the session's writing: a TLS connection sends its close_notify
    /// (waiting at most `within`); a plain one only lets go of its half,
    /// and the socket closes (with a FIN) once the read half is dropped
    /// too, without a `shutdown` call of its own.
    pub async fn close(self, within: std::time::Duration) {
        match self {
            WriteSide::Plain(w) => w.forget(),
            WriteSide::Tls(mut w) => {
                let _ = tokio::time::timeout(within, w.shutdown()).await;
            }
        }
    }
}

impl AsyncRead for ReadSide {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadSide::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ReadSide::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Plain(s) => Pin::new(s).poll_write(cx, buf),
            WriteSide::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Plain(s) => Pin::new(s).poll_flush(cx),
            WriteSide::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Plain(s) => Pin::new(s).poll_shutdown(cx),
            WriteSide::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
