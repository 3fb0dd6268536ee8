//! The small subset of BER (X.690) that LDAP framing and peeking need.
//!
//! LDAP (RFC 4511 section 5.1) uses definite-length BER with single-byte
//! tags. This module reads a tag-length-value header, walks the elements of a
//! constructed value without copying, and writes the few elements pwgate
//! builds itself (rejection responses, StartTLS, the canonical re-encoding
//! of requests). The strict reading of whole requests is
//! `proxy::request`'s, on top of this module.

use thiserror::Error;

/// Universal tags used by LDAP.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const ENUMERATED: u8 = 0x0a;
    pub const SEQUENCE: u8 = 0x30;
}

/// Why a byte string is not acceptable BER for LDAP.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BerError {
    #[error("truncated BER element")]
    Truncated,
    #[error("indefinite-length BER is not allowed in LDAP")]
    IndefiniteLength,
    #[error("BER length field is too long")]
    LengthTooLong,
    #[error("multi-byte BER tags are not used by LDAP")]
    MultiByteTag,
    #[error("unexpected BER tag 0x{found:02x} (expected 0x{expected:02x})")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("invalid BER integer")]
    BadInteger,
}

/// Tag and lengths of one element, read from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub tag: u8,
    /// Bytes taken by the tag and the length field.
    pub header_len: usize,
    /// Bytes of content after the header.
    pub content_len: usize,
}

impl Header {
    pub fn total_len(&self) -> usize {
        self.header_len + self.content_len
    }

    /// Whether the length is in its shortest form (DER's rule): the short
    /// form below 128, otherwise as few length bytes as the value needs.
    pub fn is_minimal(&self) -> bool {
        self.header_len == 1 + len_len(self.content_len)
    }
}

/// Bytes a definite length of `len` takes in its shortest form.
fn len_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS / 8 - len.leading_zeros() / 8) as usize
    }
}

/// Bytes of a whole element (tag, shortest length, content) whose content
/// is `content_len` bytes long.
pub fn encoded_len(content_len: usize) -> usize {
    1 + len_len(content_len) + content_len
}

/// Appends the tag and the shortest length of an element whose content the
/// caller writes next.
pub fn write_header(out: &mut Vec<u8>, tag: u8, content_len: usize) {
    out.push(tag);
    write_len(out, content_len);
}

/// Reads the header at the start of `buf`.
///
/// `Ok(None)` means more bytes are needed to know the header; the content
/// itself does not need to be present.
pub fn read_header(buf: &[u8]) -> Result<Option<Header>, BerError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag & 0x1f == 0x1f {
        return Err(BerError::MultiByteTag);
    }
    let Some(&first) = buf.get(1) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some(Header {
            tag,
            header_len: 2,
            content_len: first as usize,
        }));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 {
        return Err(BerError::IndefiniteLength);
    }
    // Four length bytes cover 4 GiB, far beyond any message size limit.
    if n > 4 {
        return Err(BerError::LengthTooLong);
    }
    let Some(bytes) = buf.get(2..2 + n) else {
        return Ok(None);
    };
    let content_len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
    Ok(Some(Header {
        tag,
        header_len: 2 + n,
        content_len,
    }))
}

/// One element: its tag and its content bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads the content as the elements of a constructed value.
    pub fn children(&self) -> Reader<'a> {
        Reader::new(self.value)
    }

    pub fn expect(self, tag: u8) -> Result<Self, BerError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(BerError::UnexpectedTag {
                expected: tag,
                found: self.tag,
            })
        }
    }

    /// Whether an INTEGER or ENUMERATED content is in its shortest two's
    /// complement form (no redundant leading 0x00 or 0xff byte).
    pub fn integer_is_minimal(&self) -> bool {
        match self.value {
            [a, b, ..] => !((*a == 0x00 && b & 0x80 == 0) || (*a == 0xff && b & 0x80 != 0)),
            _ => true,
        }
    }

    /// Decodes an INTEGER or ENUMERATED content that fits in an i64.
    pub fn as_i64(&self) -> Result<i64, BerError> {
        if self.value.is_empty() || self.value.len() > 8 {
            return Err(BerError::BadInteger);
        }
        let negative = self.value[0] & 0x80 != 0;
        let init: i64 = if negative { -1 } else { 0 };
        Ok(self
            .value
            .iter()
            .fold(init, |acc, b| (acc << 8) | i64::from(*b)))
    }
}

/// Walks consecutive elements in a byte slice without copying.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next element; an error if the bytes end inside it.
    pub fn next_tlv(&mut self) -> Result<Tlv<'a>, BerError> {
        let header = read_header(self.buf)?.ok_or(BerError::Truncated)?;
        let end = header
            .header_len
            .checked_add(header.content_len)
            .ok_or(BerError::LengthTooLong)?;
        let value = self
            .buf
            .get(header.header_len..end)
            .ok_or(BerError::Truncated)?;
        self.buf = &self.buf[end..];
        Ok(Tlv {
            tag: header.tag,
            value,
        })
    }

    /// The next element, which must carry `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, BerError> {
        self.next_tlv()?.expect(tag)
    }
}

/// Appends a definite BER length.
fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// One element with the given tag and content, as a new buffer (for tests
/// that build requests by hand).
#[cfg(test)]
pub(crate) fn element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_tlv(&mut out, tag, content);
    out
}

/// Appends one element with the given tag and content.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_len(out, content.len());
    out.extend_from_slice(content);
}

/// The shortest two's complement bytes of `value`, and where they start.
fn integer_bytes(value: i64) -> ([u8; 8], usize) {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    (bytes, start)
}

/// Bytes of a whole INTEGER or ENUMERATED element holding `value`.
pub fn integer_len(value: i64) -> usize {
    let (_, start) = integer_bytes(value);
    encoded_len(8 - start)
}

/// Appends an INTEGER or ENUMERATED element in minimal two's complement.
pub fn write_integer(out: &mut Vec<u8>, tag: u8, value: i64) {
    let (bytes, start) = integer_bytes(value);
    write_tlv(out, tag, &bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_lengths() {
        assert_eq!(
            read_header(&[0x30, 0x05]).unwrap(),
            Some(Header {
                tag: 0x30,
                header_len: 2,
                content_len: 5
            })
        );
        assert_eq!(
            read_header(&[0x30, 0x82, 0x01, 0x00]).unwrap().unwrap(),
            Header {
                tag: 0x30,
                header_len: 4,
                content_len: 256
            }
        );
        assert_eq!(read_header(&[0x30, 0x82, 0x01]).unwrap(), None);
        assert_eq!(read_header(&[0x30]).unwrap(), None);
        assert_eq!(read_header(&[]).unwrap(), None);
    }

    #[test]
    fn rejects_indefinite_and_huge_lengths() {
        assert_eq!(read_header(&[0x30, 0x80]), Err(BerError::IndefiniteLength));
        assert_eq!(
            read_header(&[0x30, 0x85, 1, 0, 0, 0, 0]),
            Err(BerError::LengthTooLong)
        );
        assert_eq!(read_header(&[0x1f, 0x01]), Err(BerError::MultiByteTag));
    }

    #[test]
    fn integers_round_trip() {
        for v in [0i64, 1, 127, 128, 255, 256, -1, -128, -129, 2_147_483_647] {
            let mut out = Vec::new();
            write_integer(&mut out, tag::INTEGER, v);
            let tlv = Reader::new(&out).expect(tag::INTEGER).unwrap();
            assert_eq!(tlv.as_i64().unwrap(), v, "value {v}");
        }
        let mut out = Vec::new();
        write_integer(&mut out, tag::INTEGER, 128);
        assert_eq!(out, [0x02, 0x02, 0x00, 0x80]);
    }

    #[test]
    fn long_content_gets_long_length() {
        let mut out = Vec::new();
        write_tlv(&mut out, tag::OCTET_STRING, &[7u8; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let tlv = Reader::new(&out).next_tlv().unwrap();
        assert_eq!(tlv.value.len(), 300);
    }

    #[test]
    fn minimal_lengths_and_integers_are_recognised() {
        let h = |b: &[u8]| read_header(b).unwrap().unwrap();
        assert!(h(&[0x04, 0x05]).is_minimal());
        assert!(!h(&[0x04, 0x81, 0x05]).is_minimal());
        assert!(h(&[0x04, 0x81, 0x80]).is_minimal());
        assert!(!h(&[0x04, 0x82, 0x00, 0x80]).is_minimal());
        assert!(h(&[0x04, 0x82, 0x01, 0x00]).is_minimal());
        assert!(!h(&[0x30, 0x84, 0x00, 0x00, 0x00, 0x10]).is_minimal());
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24] {
            let mut out = Vec::new();
            write_header(&mut out, tag::OCTET_STRING, len);
            assert_eq!(out.len() + len, encoded_len(len), "length {len}");
            assert!(h(&out).is_minimal(), "length {len}");
        }
        fn int(v: &[u8]) -> Tlv<'_> {
            Tlv {
                tag: tag::INTEGER,
                value: v,
            }
        }
        assert!(int(&[0x05]).integer_is_minimal());
        assert!(int(&[0x00, 0x80]).integer_is_minimal());
        assert!(!int(&[0x00, 0x05]).integer_is_minimal());
        assert!(!int(&[0xff, 0xff]).integer_is_minimal());
        for v in [0i64, 1, 127, 128, -1, -129, 1 << 40] {
            let mut out = Vec::new();
            write_integer(&mut out, tag::INTEGER, v);
            assert_eq!(out.len(), integer_len(v), "value {v}");
        }
    }

    #[test]
    fn reader_reports_truncation() {
        let mut r = Reader::new(&[0x04, 0x05, 1, 2]);
        assert_eq!(r.next_tlv(), Err(BerError::Truncated));
    }
}
