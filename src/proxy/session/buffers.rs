//! The pumps' read buffers, and the reads and writes of the fast path.
//!
//! A connection holds a read buffer only while it has bytes in it: an
//! empty buffer goes back before the pump waits, so an idle connection
//! costs no buffer. Taking one for every message from the allocator and
//! giving it back after cost more than the rest of pass-through's own
//! work, so each worker thread keeps a few spare buffers: a message takes
//! one, reads into it, and gives it back once everything in it has been
//! sent. A buffer that grew for a large message is not kept. The fast
//! path writes to plain connections only (see [`try_write`]).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zeroize::Zeroize;

use crate::proxy::stream::{ReadSide, WriteSide};

/// Bytes read from a socket at a time (the buffer grows for larger messages).
pub(super) const READ_CHUNK: usize = 16 * 1024;
/// Spare buffers a worker thread keeps: the buffers in use at one time on
/// a thread are those of the connections caught between a read and the
/// write of what it completed, usually one.
const SPARE_BUFFERS: usize = 4;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

fn take_spare() -> BytesMut {
    SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| BytesMut::with_capacity(READ_CHUNK))
}

fn give_back(mut buf: BytesMut) {
    buf.clear();
    // `capacity` counts from where the next byte goes, not from the start
    // of the allocation, so the room before it (left by what was sent) is
    // taken back first, without allocating. A buffer that can then hold
    // more than two reads grew for a large message: it is not kept.
    if buf.try_reclaim(2 * READ_CHUNK + 1) {
        return;
    }
    // Shared with a message still alive, or smaller than a read.
    if !buf.try_reclaim(READ_CHUNK) {
        return;
    }
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if s.len() < SPARE_BUFFERS {
                s.push(buf);
            }
        }
    });
}

/// Client bytes that may hold a password: what is still in the buffer is
/// wiped when it is dropped, however the pump ends. A pump that returns
/// wipes what it holds itself; this covers the ways out that it does not
/// see: an error returned with `?` (a write to the directory that fails),
/// and the pump's future dropped while it waits (the directory closed
/// first, or the shutdown grace period ended). Bytes already sent are not
/// in it any more: those that held a password were wiped as they went.
#[derive(Default)]
pub(super) struct WipedOnDrop(pub(super) BytesMut);

impl std::ops::Deref for WipedOnDrop {
    type Target = BytesMut;
    fn deref(&self) -> &BytesMut {
        &self.0
    }
}

impl std::ops::DerefMut for WipedOnDrop {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.0
    }
}

impl Drop for WipedOnDrop {
    fn drop(&mut self) {
        self.0[..].zeroize();
    }
}

/// Gives back the buffer of a pump with nothing left in it, before the
/// pump waits for more: between requests a connection keeps no buffer.
pub(super) fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        give_back(std::mem::take(buf));
    }
}

/// Reads more bytes into `buf`: `Ready(Ok(false))` at end of stream. An
/// empty `buf` gets a buffer for the read and gives it back if nothing
/// came.
pub(super) fn poll_fill(
    cx: &mut Context<'_>,
    reader: &mut ReadSide,
    buf: &mut BytesMut,
) -> Poll<std::io::Result<bool>> {
    if buf.capacity() == 0 {
        *buf = take_spare();
    } else if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        grow_wiping(buf, READ_CHUNK);
    }
    let read = std::pin::pin!(reader.read_buf(buf)).poll(cx);
    match read {
        Poll::Pending => {
            release_if_empty(buf);
            Poll::Pending
        }
        Poll::Ready(r) => Poll::Ready(r.map(|n| n > 0)),
    }
}

/// Makes room for `more` bytes after what `buf` holds, in a new buffer
/// (at least twice as large, so a large message is copied a bounded number
/// of times), and wipes the bytes in the old one. `BytesMut::reserve`
/// would move them within the allocation or to a new one and leave the
/// old copy behind, unwiped; they may be part of a password operation.
fn grow_wiping(buf: &mut BytesMut, more: usize) {
    let mut grown = BytesMut::with_capacity((buf.len() + more).max(2 * buf.capacity()));
    grown.extend_from_slice(buf);
    buf[..].zeroize();
    *buf = grown;
}

/// [`poll_fill`] as a future.
pub(super) async fn fill(reader: &mut ReadSide, buf: &mut BytesMut) -> std::io::Result<bool> {
    std::future::poll_fn(|cx| poll_fill(cx, reader, buf)).await
}

/// Writes as much of `bytes` as the socket takes now: `None` when it takes
/// nothing yet (the caller then waits, with its timeout, for the rest).
/// Only a plain connection is written here: a TLS session may keep records
/// queued after a write until it is flushed, which `write_all_within`
/// does.
pub(super) fn try_write(
    cx: &mut Context<'_>,
    writer: &mut WriteSide,
    bytes: &[u8],
) -> Option<std::io::Result<usize>> {
    if !matches!(writer, WriteSide::Plain(_)) {
        return None;
    }
    match Pin::new(writer).poll_write(cx, bytes) {
        Poll::Ready(r) => Some(r),
        Poll::Pending => None,
    }
}

/// Writes all of `bytes`, or `None` once `limit` has passed. Most writes
/// are taken by the socket at once: the timer is set only when the first
/// attempt has to wait, so a write that does not wait costs no timer.
pub(super) async fn write_all_within(
    writer: &mut WriteSide,
    bytes: &[u8],
    limit: Duration,
) -> Option<std::io::Result<()>> {
    // The flush sends what a TLS session still holds; on a plain
    // connection it does nothing.
    let mut write = std::pin::pin!(async {
        writer.write_all(bytes).await?;
        writer.flush().await
    });
    let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(r) => Some(r),
        Poll::Pending => tokio::time::timeout(limit, write).await.ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_a_few_ordinary_buffers_and_no_large_one() {
        for _ in 0..SPARE_BUFFERS + 3 {
            give_back(BytesMut::with_capacity(READ_CHUNK));
        }
        let kept = SPARE.with(|s| s.borrow().len());
        assert_eq!(kept, SPARE_BUFFERS);
        SPARE.with(|s| s.borrow_mut().clear());
        give_back(BytesMut::with_capacity(16 * READ_CHUNK));
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0);
    }

    #[test]
    fn a_buffer_that_grew_is_not_kept_whatever_room_is_left_in_it() {
        SPARE.with(|s| s.borrow_mut().clear());
        // A buffer grown to 64 reads, sent up to where 20 KiB of room are
        // left after the read position.
        let mut buf = BytesMut::with_capacity(64 * READ_CHUNK);
        buf.extend_from_slice(&vec![1; 64 * READ_CHUNK - 20 * 1024]);
        let len = buf.len();
        bytes::Buf::advance(&mut buf, len);
        assert!(buf.capacity() <= 2 * READ_CHUNK);
        release_if_empty(&mut buf);
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0);
    }

    /// `b"publicsecret"` in one allocation, as two views: the first 6
    /// bytes and the 6 after.
    fn two_views() -> (BytesMut, BytesMut) {
        let mut front = BytesMut::with_capacity(64);
        front.extend_from_slice(b"publicsecret");
        let back = front.split_off(6);
        assert_eq!(unsafe { front.as_ptr().add(6) }, back.as_ptr());
        (front, back)
    }

    /// The 6 bytes after `front` in its allocation, once the view of them
    /// (which started at `back_at`) is gone: `front` owns the allocation
    /// alone, and growing it in place makes them part of it again.
    fn bytes_after(mut front: BytesMut, back_at: *const u8) -> Vec<u8> {
        front.reserve(6);
        assert_eq!(
            unsafe { front.as_ptr().add(6) },
            back_at,
            "the buffer grew in place"
        );
        // SAFETY: the 6 bytes after `front` were written by `two_views`
        // (and maybe wiped since), inside the capacity just reserved.
        unsafe { front.set_len(12) };
        assert_eq!(&front[..6], b"public");
        front[6..].to_vec()
    }

    #[test]
    fn what_a_dropped_buffer_still_held_is_wiped() {
        let (front, back) = two_views();
        let back_at = back.as_ptr();
        drop(WipedOnDrop(back));
        assert_eq!(
            bytes_after(front, back_at),
            [0u8; 6],
            "the dropped bytes were wiped"
        );
    }

    #[test]
    fn growing_a_buffer_wipes_the_copy_it_leaves() {
        let (front, mut buf) = two_views();
        let old = buf.as_ptr();
        grow_wiping(&mut buf, 1000);
        assert_eq!(&buf[..], b"secret");
        assert_ne!(buf.as_ptr(), old);
        drop(buf);
        assert_eq!(bytes_after(front, old), [0u8; 6], "the old copy was wiped");
    }

    #[test]
    fn a_spare_buffer_comes_back_whole_after_its_bytes_were_sent() {
        let mut buf = take_spare();
        buf.extend_from_slice(&[7; 1000]);
        let _ = buf.split_to(600);
        bytes::Buf::advance(&mut buf, 400);
        release_if_empty(&mut buf);
        assert_eq!(buf.capacity(), 0, "an empty pump holds no buffer");
        let again = take_spare();
        assert!(again.capacity() >= READ_CHUNK);
        assert!(again.is_empty());
    }
}
