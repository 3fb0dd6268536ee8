//! Splitting a byte stream into LDAPMessages and peeking at their header.
//!
//! Framing only reads the outer SEQUENCE tag and length (RFC 4511 section
//! 5.1), so a message is forwarded as the exact bytes the peer sent. The
//! [`peek`] of a complete frame reads the message ID and the protocolOp tag,
//! which is all the pass-through path needs to decide that a message is not
//! interesting.

use thiserror::Error;

use crate::ber::{self, tag, BerError, Reader};

/// The protocolOp tags that [`peek`] returns. They live in [`crate::ldap_op`],
/// below the proxy, so that the metrics can name them too.
pub use crate::ldap_op as op;

/// Why the byte stream cannot be split into LDAPMessages.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    #[error("message does not start with a SEQUENCE (tag 0x{0:02x})")]
    NotASequence(u8),
    #[error("message of {claimed} bytes exceeds the limit of {limit} bytes")]
    TooLarge { claimed: usize, limit: usize },
    #[error(transparent)]
    Ber(#[from] BerError),
}

/// The length of the complete message at the start of `buf`, or `None` when
/// more bytes are needed. A message longer than `limit` is an error as soon as
/// its header is read, so a peer cannot make pwgate buffer a claimed length.
pub fn frame_len(buf: &[u8], limit: usize) -> Result<Option<usize>, FrameError> {
    let Some(header) = ber::read_header(buf)? else {
        return Ok(None);
    };
    if header.tag != tag::SEQUENCE {
        return Err(FrameError::NotASequence(header.tag));
    }
    let total = header.total_len();
    if total > limit {
        return Err(FrameError::TooLarge {
            claimed: total,
            limit,
        });
    }
    Ok((buf.len() >= total).then_some(total))
}

/// What pass-through needs to know about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    pub msgid: i32,
    pub op: u8,
}

/// Reads the message ID and protocolOp tag of one complete frame.
pub fn peek(frame: &[u8]) -> Result<Peek, BerError> {
    let message = Reader::new(frame).expect(tag::SEQUENCE)?;
    let mut fields = message.children();
    let msgid = fields.expect(tag::INTEGER)?.as_i64()?;
    let msgid = i32::try_from(msgid).map_err(|_| BerError::BadInteger)?;
    let op = fields.next_tlv()?.tag;
    Ok(Peek { msgid, op })
}

/// The message ID an AbandonRequest names (`[APPLICATION 16] MessageID`).
pub fn abandoned_msgid(frame: &[u8]) -> Option<i32> {
    let mut fields = Reader::new(frame).expect(tag::SEQUENCE).ok()?.children();
    fields.expect(tag::INTEGER).ok()?;
    let id = fields.expect(op::ABANDON_REQUEST).ok()?.as_i64().ok()?;
    i32::try_from(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A search request for the root DSE as sent by ldapsearch, msgid 1.
    const ROOT_DSE_SEARCH: &[u8] = &[
        0x30, 0x25, 0x02, 0x01, 0x01, 0x63, 0x20, 0x04, 0x00, 0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00,
        0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x01, 0x01, 0x00, 0x87, 0x0b, 0x6f, 0x62, 0x6a, 0x65,
        0x63, 0x74, 0x63, 0x6c, 0x61, 0x73, 0x73, 0x30, 0x00,
    ];

    #[test]
    fn splits_exactly_one_message() {
        let mut two = ROOT_DSE_SEARCH.to_vec();
        two.extend_from_slice(ROOT_DSE_SEARCH);
        assert_eq!(frame_len(&two, 1024).unwrap(), Some(ROOT_DSE_SEARCH.len()));
        let p = peek(&two[..ROOT_DSE_SEARCH.len()]).unwrap();
        assert_eq!(
            p,
            Peek {
                msgid: 1,
                op: op::SEARCH_REQUEST
            }
        );
    }

    #[test]
    fn waits_for_the_rest_of_a_message() {
        for cut in 0..ROOT_DSE_SEARCH.len() {
            assert_eq!(frame_len(&ROOT_DSE_SEARCH[..cut], 1024).unwrap(), None);
        }
    }

    #[test]
    fn refuses_a_claimed_length_over_the_limit_before_buffering_it() {
        let header = [0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
        assert!(matches!(
            frame_len(&header, 1 << 20),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_non_sequence_and_indefinite_length() {
        assert_eq!(
            frame_len(&[0x04, 0x00], 1024),
            Err(FrameError::NotASequence(0x04))
        );
        assert_eq!(
            frame_len(&[0x30, 0x80, 0x00, 0x00], 1024),
            Err(FrameError::Ber(BerError::IndefiniteLength))
        );
    }

    #[test]
    fn abandon_names_its_target() {
        // Abandon msgid 5, sent as msgid 6.
        let frame = [0x30, 0x06, 0x02, 0x01, 0x06, 0x50, 0x01, 0x05];
        assert_eq!(abandoned_msgid(&frame), Some(5));
        assert_eq!(abandoned_msgid(ROOT_DSE_SEARCH), None);
        assert!(!op::expects_response(op::ABANDON_REQUEST));
        assert!(op::expects_response(op::SEARCH_REQUEST));
        assert!(op::ends_operation(op::SEARCH_RESULT_DONE));
        assert!(!op::ends_operation(0x64));
    }

    #[test]
    fn peek_rejects_garbage_inside_a_frame() {
        assert!(peek(&[0x30, 0x03, 0x04, 0x01, 0x00]).is_err());
        assert!(peek(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(peek(&[0x30, 0x00]).is_err());
    }
}
