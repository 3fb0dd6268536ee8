//! The store's file format, version 1: layout constants, the header, the
//! shard index entries and the trailer, with their encoding, decoding and
//! checks. All integers are little-endian; all checksums are CRC-32
//! (IEEE 802.3 polynomial, as in zlib and gzip; the `crc32fast` crate).
//!
//! ```text
//! offset            size        content
//! 0                 64          header
//! 64                48 * S      shard index, S = 2^shards_log2 entries
//! 64 + 48 S         ...         shard bodies: each shard's fingerprints as
//!                               little-endian u16, starting at a multiple
//!                               of 8 (zero padding between bodies)
//! file_len - 16     16          trailer
//!
//! header:
//!  0  8  magic "PWGATEBF"
//!  8  4  format version (1)
//! 12  1  hash kind: 1 = SHA-1, 2 = NTLM
//! 13  1  shards_log2 (0..=16); a key's shard is its top shards_log2 bits
//! 14  1  fingerprint bits (16)
//! 15  1  reserved, 0
//! 16  8  total keys (distinct hashes) in the store
//! 24  8  min_count the store was built with
//! 32  8  created, Unix seconds
//! 40  8  file length in bytes, trailer included
//! 48  4  CRC-32 of the shard index
//! 52  8  reserved, 0
//! 60  4  CRC-32 of header bytes 0..60
//!
//! shard index entry:
//!  0  8  offset of the fingerprints from the start of the file
//!  8  8  fingerprint count (u16 entries; the body is twice as many bytes)
//! 16  8  key count (0: an empty shard, which contains nothing)
//! 24  8  filter seed
//! 32  4  segment length
//! 36  4  segment length mask
//! 40  4  segment count length
//! 44  4  reserved, 0
//!
//! trailer:
//!  0  8  magic "PWGATEND"
//!  8  4  CRC-32 of every byte before the trailer
//! 12  4  reserved, 0
//! ```
//!
//! Opening checks the header, its checksum, the file length, the index
//! checksum and every entry's bounds and parameters: O(shards), no body
//! bytes read. The trailer checksum over the bodies is checked by
//! `verify`.

use super::filter::{self, FilterParams};
use super::hash::HashKind;

pub(crate) const MAGIC: [u8; 8] = *b"PWGATEBF";
pub(crate) const TRAILER_MAGIC: [u8; 8] = *b"PWGATEND";
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 64;
pub(crate) const ENTRY_LEN: usize = 48;
pub(crate) const TRAILER_LEN: usize = 16;
pub(crate) const FINGERPRINT_BITS: u8 = 16;
pub(crate) const MAX_SHARDS_LOG2: u8 = 16;
/// Bodies start at multiples of this.
pub(crate) const BODY_ALIGN: u64 = 8;

/// What is wrong with a file; the store turns it into a `StoreError`
/// naming the path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    BadMagic,
    Version(u32),
    Truncated { actual: u64, expected: u64 },
    Corrupt(String),
}

/// The decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub kind: HashKind,
    pub shards_log2: u8,
    pub total_keys: u64,
    pub min_count: u64,
    pub created_unix: u64,
    pub file_len: u64,
    pub index_crc: u32,
}

impl Header {
    pub fn shard_count(&self) -> u64 {
        1u64 << self.shards_log2
    }

    /// Where the shard index ends and the first body may start.
    pub fn index_end(&self) -> u64 {
        index_end(self.shards_log2)
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12] = self.kind.code();
        b[13] = self.shards_log2;
        b[14] = FINGERPRINT_BITS;
        b[16..24].copy_from_slice(&self.total_keys.to_le_bytes());
        b[24..32].copy_from_slice(&self.min_count.to_le_bytes());
        b[32..40].copy_from_slice(&self.created_unix.to_le_bytes());
        b[40..48].copy_from_slice(&self.file_len.to_le_bytes());
        b[48..52].copy_from_slice(&self.index_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header; `bytes` is the start of the file (at
    /// least [`HEADER_LEN`] bytes, or a `Truncated` problem).
    pub fn decode(bytes: &[u8]) -> Result<Header, Problem> {
        let b = bytes.get(..HEADER_LEN).ok_or(Problem::Truncated {
            actual: bytes.len() as u64,
            expected: HEADER_LEN as u64,
        })?;
        if b[0..8] != MAGIC {
            return Err(Problem::BadMagic);
        }
        let version = u32_at(b, 8);
        if version != VERSION {
            return Err(Problem::Version(version));
        }
        let stored = u32_at(b, 60);
        let computed = crc32fast::hash(&b[..60]);
        if stored != computed {
            return Err(Problem::Corrupt(format!(
                "header checksum mismatch (stored {stored:08x}, computed {computed:08x})"
            )));
        }
        let kind = HashKind::from_code(b[12])
            .ok_or_else(|| Problem::Corrupt(format!("unknown hash kind code {}", b[12])))?;
        let shards_log2 = b[13];
        if shards_log2 > MAX_SHARDS_LOG2 {
            return Err(Problem::Corrupt(format!(
                "shards_log2 {shards_log2} exceeds {MAX_SHARDS_LOG2}"
            )));
        }
        if b[14] != FINGERPRINT_BITS {
            return Err(Problem::Corrupt(format!(
                "{}-bit fingerprints are not supported (only {FINGERPRINT_BITS})",
                b[14]
            )));
        }
        Ok(Header {
            kind,
            shards_log2,
            total_keys: u64_at(b, 16),
            min_count: u64_at(b, 24),
            created_unix: u64_at(b, 32),
            file_len: u64_at(b, 40),
            index_crc: u32_at(b, 48),
        })
    }
}

/// Where the index of `2^shards_log2` shards ends.
pub(crate) fn index_end(shards_log2: u8) -> u64 {
    HEADER_LEN as u64 + ENTRY_LEN as u64 * (1u64 << shards_log2)
}

/// One shard index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ShardEntry {
    pub offset: u64,
    pub fingerprint_count: u64,
    pub key_count: u64,
    pub params: FilterParams,
}

impl ShardEntry {
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        b[0..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.fingerprint_count.to_le_bytes());
        b[16..24].copy_from_slice(&self.key_count.to_le_bytes());
        b[24..32].copy_from_slice(&self.params.seed.to_le_bytes());
        b[32..36].copy_from_slice(&self.params.segment_length.to_le_bytes());
        b[36..40].copy_from_slice(&self.params.segment_length_mask.to_le_bytes());
        b[40..44].copy_from_slice(&self.params.segment_count_length.to_le_bytes());
        b
    }

    /// Decodes entry `b` (exactly [`ENTRY_LEN`] bytes) and checks it
    /// against the body region `[body_start, body_end)`.
    pub fn decode(b: &[u8], body_start: u64, body_end: u64) -> Result<ShardEntry, String> {
        if b.len() != ENTRY_LEN {
            return Err(format!("index entry of {} bytes", b.len()));
        }
        let entry = ShardEntry {
            offset: u64_at(b, 0),
            fingerprint_count: u64_at(b, 8),
            key_count: u64_at(b, 16),
            params: FilterParams {
                seed: u64_at(b, 24),
                segment_length: u32_at(b, 32),
                segment_length_mask: u32_at(b, 36),
                segment_count_length: u32_at(b, 40),
            },
        };
        if entry.key_count == 0 {
            return Ok(entry);
        }
        let len = entry
            .fingerprint_count
            .checked_mul(2)
            .ok_or("fingerprint count overflows")?;
        let end = entry.offset.checked_add(len).ok_or("body end overflows")?;
        if entry.offset < body_start || end > body_end {
            return Err(format!(
                "body {}..{} lies outside the bodies {body_start}..{body_end}",
                entry.offset, end
            ));
        }
        filter::validate(&entry.params, entry.fingerprint_count)?;
        Ok(entry)
    }

    pub fn body_len(&self) -> u64 {
        self.fingerprint_count * 2
    }
}

/// The trailer for a file whose bytes before the trailer have checksum `crc`.
pub(crate) fn encode_trailer(crc: u32) -> [u8; TRAILER_LEN] {
    let mut b = [0u8; TRAILER_LEN];
    b[0..8].copy_from_slice(&TRAILER_MAGIC);
    b[8..12].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The checksum stored in a trailer, or a problem.
pub(crate) fn decode_trailer(b: &[u8]) -> Result<u32, Problem> {
    if b.len() != TRAILER_LEN || b[0..8] != TRAILER_MAGIC {
        return Err(Problem::Corrupt("trailer magic bytes missing".into()));
    }
    Ok(u32_at(b, 8))
}

/// Rounds `offset` up to the next body boundary.
pub(crate) fn align_body(offset: u64) -> u64 {
    offset.div_ceil(BODY_ALIGN) * BODY_ALIGN
}

/// Size of a store of `keys` uniformly spread keys in `2^shards_log2`
/// shards, from xorf's sizing formula: for estimates (for instance, of the
/// full corpus) before building.
pub fn estimated_file_bytes(keys: u64, shards_log2: u8) -> u64 {
    let shards = 1u64 << shards_log2.min(MAX_SHARDS_LOG2);
    let mut bytes = index_end(shards_log2.min(MAX_SHARDS_LOG2));
    for shard in 0..shards {
        let n = keys / shards + u64::from(shard < keys % shards);
        if n > 0 {
            bytes = align_body(bytes) + 2 * filter::fingerprint_count(n);
        }
    }
    bytes + TRAILER_LEN as u64
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            kind: HashKind::Ntlm,
            shards_log2: 8,
            total_keys: 123_456,
            min_count: 2,
            created_unix: 1_700_000_000,
            file_len: 999_999,
            index_crc: 0xdead_beef,
        }
    }

    #[test]
    fn header_round_trips_and_every_byte_is_checked() {
        let h = header();
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Ok(h));
        for i in 0..HEADER_LEN {
            let mut damaged = bytes;
            damaged[i] ^= 0x10;
            assert!(Header::decode(&damaged).is_err(), "byte {i} unchecked");
        }
        assert_eq!(
            Header::decode(&bytes[..10]),
            Err(Problem::Truncated {
                actual: 10,
                expected: 64
            })
        );
        let mut magic = bytes;
        magic[0] = b'X';
        assert_eq!(Header::decode(&magic), Err(Problem::BadMagic));
        let mut version = bytes;
        version[8] = 2;
        assert_eq!(Header::decode(&version), Err(Problem::Version(2)));
    }

    #[test]
    fn entries_round_trip_and_are_bounds_checked() {
        let e = ShardEntry {
            offset: 64 + 48,
            fingerprint_count: 12,
            key_count: 1,
            params: FilterParams {
                seed: 42,
                segment_length: 4,
                segment_length_mask: 3,
                segment_count_length: 4,
            },
        };
        let b = e.encode();
        assert_eq!(ShardEntry::decode(&b, 112, 136), Ok(e));
        assert!(ShardEntry::decode(&b, 112, 135).is_err());
        assert!(ShardEntry::decode(&b, 120, 200).is_err());
        let huge = ShardEntry {
            fingerprint_count: u64::MAX,
            ..e
        };
        assert!(ShardEntry::decode(&huge.encode(), 112, 136).is_err());
        let empty = ShardEntry {
            key_count: 0,
            ..huge
        };
        assert!(ShardEntry::decode(&empty.encode(), 112, 136).is_ok());
    }

    #[test]
    fn trailer_round_trips() {
        assert_eq!(decode_trailer(&encode_trailer(7)), Ok(7));
        assert!(decode_trailer(&[0u8; 16]).is_err());
    }

    #[test]
    fn estimates_are_about_two_and_a_quarter_bytes_per_key_at_scale() {
        let per_key = estimated_file_bytes(1_000_000_000, 8) as f64 / 1e9;
        assert!((2.2..2.35).contains(&per_key), "{per_key}");
        assert_eq!(
            estimated_file_bytes(0, 8),
            index_end(8) + TRAILER_LEN as u64
        );
    }
}
