//! Which hash a store holds ([`HashKind`]), hashing a password the way the
//! Pwned Passwords corpus does, and the 64-bit key of a hash.
//!
//! - SHA-1 of the password's UTF-8 bytes;
//! - NTLM: MD4 of the password's UTF-16LE code units.
//!
//! The key of a hash is its first 8 bytes read as a big-endian `u64`; the
//! hash is already uniform, so no further mixing is needed, and the first
//! byte of the hash is the top byte of the key (which picks the shard).
//!
//! Digests of passwords are wiped on drop ([`PasswordDigest`]), the UTF-16
//! buffer is wiped, and the hasher's block buffer (which holds the tail of
//! the password) is overwritten before the hasher is dropped. The hash
//! functions' own stack temporaries are outside our control.

use std::fmt;
use std::str::FromStr;

use md4::Md4;
use sha1::{Digest as _, Sha1};
use zeroize::Zeroize;

/// The hash function of a store's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// SHA-1 of the UTF-8 password (the Pwned Passwords default).
    Sha1,
    /// NTLM: MD4 of the UTF-16LE password (Active Directory's hash).
    Ntlm,
}

impl HashKind {
    /// Length of a digest in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            HashKind::Sha1 => 20,
            HashKind::Ntlm => 16,
        }
    }

    /// Length of a digest in hex digits.
    pub const fn hex_len(self) -> usize {
        self.digest_len() * 2
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            HashKind::Sha1 => "sha1",
            HashKind::Ntlm => "ntlm",
        }
    }

    /// The code stored in a file header.
    pub(crate) const fn code(self) -> u8 {
        match self {
            HashKind::Sha1 => 1,
            HashKind::Ntlm => 2,
        }
    }

    pub(crate) const fn from_code(code: u8) -> Option<HashKind> {
        match code {
            1 => Some(HashKind::Sha1),
            2 => Some(HashKind::Ntlm),
            _ => None,
        }
    }

    /// The digest of a password under this hash function.
    pub fn hash_password(self, password: &str) -> PasswordDigest {
        let mut digest = PasswordDigest {
            bytes: [0; 20],
            len: self.digest_len(),
        };
        match self {
            HashKind::Sha1 => {
                let mut hasher = Sha1::new();
                hasher.update(password.as_bytes());
                let mut out = hasher.finalize_reset();
                digest.bytes.copy_from_slice(&out);
                out.as_mut_slice().zeroize();
                overwrite_block_buffer(&mut hasher);
            }
            HashKind::Ntlm => {
                let mut utf16: Vec<u8> = Vec::with_capacity(password.len() * 2);
                for unit in password.encode_utf16() {
                    utf16.extend_from_slice(&unit.to_le_bytes());
                }
                let mut hasher = Md4::new();
                hasher.update(&utf16);
                utf16.zeroize();
                let mut out = hasher.finalize_reset();
                digest.bytes[..16].copy_from_slice(&out);
                out.as_mut_slice().zeroize();
                overwrite_block_buffer(&mut hasher);
            }
        }
        digest
    }
}

/// After `finalize_reset` the block buffer's position is 0 but its bytes
/// still hold the end of the message; 63 zero bytes (less than one block,
/// so they are buffered, not compressed) overwrite them. `black_box` keeps
/// the compiler from dropping the writes as dead.
fn overwrite_block_buffer<D: sha1::Digest>(hasher: &mut D) {
    hasher.update([0u8; 63]);
    std::hint::black_box(&*hasher);
}

impl fmt::Display for HashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was neither `sha1` nor `ntlm`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash kind {0:?} (expected \"sha1\" or \"ntlm\")")]
pub struct ParseHashKindError(pub String);

impl FromStr for HashKind {
    type Err = ParseHashKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Ok(HashKind::Sha1),
            "ntlm" => Ok(HashKind::Ntlm),
            _ => Err(ParseHashKindError(s.to_owned())),
        }
    }
}

/// The digest of a password, wiped on drop and never printed.
pub struct PasswordDigest {
    bytes: [u8; 20],
    len: usize,
}

impl PasswordDigest {
    /// The digest (20 bytes for SHA-1, 16 for NTLM).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The store key of this digest.
    pub fn key(&self) -> u64 {
        key_of_digest(&self.bytes)
    }
}

impl Drop for PasswordDigest {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordDigest(<redacted>)")
    }
}

/// The store key of a digest: its first 8 bytes as a big-endian `u64`.
/// Shorter input is padded with zeros (no digest is that short; callers
/// check lengths).
pub fn key_of_digest(digest: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    let n = digest.len().min(8);
    first[..n].copy_from_slice(&digest[..n]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn known_digests_of_password() {
        assert_eq!(
            hex(HashKind::Sha1.hash_password("password").as_bytes()),
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
        );
        assert_eq!(
            hex(HashKind::Ntlm.hash_password("password").as_bytes()),
            "8846F7EAEE8FB117AD06BDD830B7586C"
        );
        // The empty password.
        assert_eq!(
            hex(HashKind::Sha1.hash_password("").as_bytes()),
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
        );
        assert_eq!(
            hex(HashKind::Ntlm.hash_password("").as_bytes()),
            "31D6CFE0D16AE931B73C59D7E0C089C0"
        );
    }

    #[test]
    fn long_passwords_hash_like_short_ones_would() {
        // More than one block, so the block buffer trick runs after real
        // compression rounds; the result must still be the plain digest.
        let long = "x".repeat(200);
        let mut reference = Sha1::new();
        reference.update(long.as_bytes());
        assert_eq!(
            HashKind::Sha1.hash_password(&long).as_bytes(),
            reference.finalize().as_slice()
        );
    }

    #[test]
    fn ntlm_encodes_utf16le_with_surrogate_pairs() {
        let password = "p\u{e9}\u{1F600}";
        let utf16: Vec<u8> = [0x70u16, 0xE9, 0xD83D, 0xDE00]
            .iter()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let mut reference = Md4::new();
        reference.update(&utf16);
        assert_eq!(
            HashKind::Ntlm.hash_password(password).as_bytes(),
            reference.finalize().as_slice()
        );
    }

    #[test]
    fn key_is_the_big_endian_prefix() {
        let d = HashKind::Sha1.hash_password("password");
        assert_eq!(d.key(), 0x5BAA_61E4_C9B9_3F3F);
        assert_eq!(key_of_digest(&[1, 2]), 0x0102_0000_0000_0000);
    }

    #[test]
    fn kinds_parse_and_print() {
        assert_eq!("SHA1".parse::<HashKind>(), Ok(HashKind::Sha1));
        assert_eq!("ntlm".parse::<HashKind>(), Ok(HashKind::Ntlm));
        assert!("md5".parse::<HashKind>().is_err());
        assert_eq!(HashKind::Ntlm.to_string(), "ntlm");
        for kind in [HashKind::Sha1, HashKind::Ntlm] {
            assert_eq!(HashKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(HashKind::from_code(0), None);
        assert_eq!(
            format!("{:?}", HashKind::Sha1.hash_password("x")),
            "PasswordDigest(<redacted>)"
        );
    }
}
