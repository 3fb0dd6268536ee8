//! [`BreachedStore`]: an opened, memory-mapped store file answering
//! membership questions, and the [`BreachedCorpus`] the policy asks.
//!
//! Opening maps the file and checks the header and shard index only
//! (O(shards), no body bytes read); [`BreachedStore::verify`] reads the
//! whole file for its checksum and, on a mismatch, marks the store bad so
//! that the policy hook answers with an error (fail closed) from then on.
//!
//! A lookup hashes the password, takes the shard from the key's top bits
//! and probes three fingerprints of that shard in the mapping: at most
//! three page faults when the file is not in the page cache.
//!
//! The mapping assumes the file is not changed in place while it is open:
//! replace a store by renaming a new file over it (as `build` does); the
//! open store keeps answering from the old file until it is re-opened.
//! Truncating a mapped file would make lookups fault (SIGBUS).

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::Mmap;

use super::build::top_bits;
use super::error::StoreError;
use super::filter::{self, FilterParams};
use super::format::{
    decode_trailer, Header, Problem, ShardEntry, ENTRY_LEN, FINGERPRINT_BITS, HEADER_LEN,
    TRAILER_LEN, VERSION,
};
use super::hash::{key_of_digest, HashKind};
use crate::policy::rules::breached::BreachedCorpus;
use crate::secret::Password;

/// A breached-password store, memory-mapped (or compiled in).
pub struct BreachedStore {
    path: PathBuf,
    map: Backing,
    header: Header,
    shards: Box<[Shard]>,
    /// Set by a failed [`verify`](BreachedStore::verify).
    bad: AtomicBool,
}

/// The bytes of a store: a mapped file, or a store compiled into the
/// binary (the built-in list of common passwords).
enum Backing {
    Mapped(Mmap),
    Static(&'static [u8]),
}

impl std::ops::Deref for Backing {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Backing::Mapped(map) => map,
            Backing::Static(bytes) => bytes,
        }
    }
}

/// One shard: where its fingerprints are in the mapping, and its filter.
#[derive(Debug, Clone, Copy)]
struct Shard {
    start: usize,
    end: usize,
    keys: u64,
    params: FilterParams,
}

/// What a store holds, for `info` output.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreInfo {
    pub path: PathBuf,
    pub kind: HashKind,
    /// Distinct hashes.
    pub keys: u64,
    pub shards: u64,
    pub file_bytes: u64,
    /// `file_bytes / keys` (0 for an empty store).
    pub bytes_per_hash: f64,
    pub fingerprint_bits: u8,
    /// The theoretical false-positive rate of a binary fuse filter with
    /// `fingerprint_bits`-bit fingerprints: 2^-16 ≈ 1.5e-5, about 1 in
    /// 65,536 non-members reported as members.
    pub false_positive_rate: f64,
    /// Hashes seen fewer times than this were left out at build time.
    pub min_count: u64,
    /// Build time, Unix seconds.
    pub created_unix: u64,
    pub format_version: u32,
}

impl fmt::Display for StoreInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "path:                {}", self.path.display())?;
        writeln!(f, "hash kind:           {}", self.kind)?;
        writeln!(f, "hashes:              {}", self.keys)?;
        writeln!(f, "shards:              {}", self.shards)?;
        writeln!(f, "file bytes:          {}", self.file_bytes)?;
        writeln!(f, "bytes per hash:      {:.3}", self.bytes_per_hash)?;
        writeln!(
            f,
            "false-positive rate: 2^-{} = {:.2e} (theoretical, {}-bit fingerprints)",
            self.fingerprint_bits, self.false_positive_rate, self.fingerprint_bits
        )?;
        writeln!(f, "min count:           {}", self.min_count)?;
        writeln!(f, "created (unix):      {}", self.created_unix)?;
        write!(f, "format version:      {}", self.format_version)
    }
}

impl BreachedStore {
    /// Maps `path` and checks its header and shard index.
    pub fn open(path: &Path) -> Result<BreachedStore, StoreError> {
        let file = File::open(path).map_err(|e| StoreError::io(path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io(path, "read", e))?
            .len();
        // Before mapping: an empty file cannot be mapped at all.
        holds_a_header(path, len)?;
        // SAFETY: the mapping is read-only and the file is never modified in
        // place by pwgate (builds rename a new file over it). Another process
        // truncating it would fault lookups; that is documented above.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StoreError::io(path, "map", e))?;
        Self::from_backing(path, Backing::Mapped(map))
    }

    /// A store compiled into the binary (`include_bytes!`), checked as a
    /// file is at open; `label` stands for the path in errors and `info`.
    pub fn from_static(label: &str, bytes: &'static [u8]) -> Result<BreachedStore, StoreError> {
        let path = Path::new(label);
        holds_a_header(path, bytes.len() as u64)?;
        Self::from_backing(path, Backing::Static(bytes))
    }

    /// Checks the header and shard index of `map` (at least `HEADER_LEN`
    /// bytes long).
    fn from_backing(path: &Path, map: Backing) -> Result<BreachedStore, StoreError> {
        let len = map.len() as u64;
        let corrupt = |problem: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            problem,
        };
        let header = Header::decode(&map).map_err(|p| problem_error(path, p))?;
        if header.file_len != len {
            return Err(StoreError::Truncated {
                path: path.to_path_buf(),
                actual: len,
                expected: header.file_len,
            });
        }
        let body_start = header.index_end();
        if len < body_start + TRAILER_LEN as u64 {
            return Err(corrupt(format!(
                "{len} bytes cannot hold the index of {} shards",
                header.shard_count()
            )));
        }
        let body_end = len - TRAILER_LEN as u64;
        let index = map
            .get(HEADER_LEN..to_usize(body_start, path)?)
            .ok_or_else(|| corrupt("shard index out of range".into()))?;
        let computed = crc32fast::hash(index);
        if computed != header.index_crc {
            return Err(corrupt(format!(
                "shard index checksum mismatch (stored {:08x}, computed {computed:08x})",
                header.index_crc
            )));
        }
        let trailer = map
            .get(to_usize(body_end, path)?..)
            .ok_or_else(|| corrupt("trailer out of range".into()))?;
        decode_trailer(trailer).map_err(|p| problem_error(path, p))?;

        let mut shards = Vec::with_capacity(index.len() / ENTRY_LEN);
        let mut keys = 0u64;
        for (i, raw) in index.chunks_exact(ENTRY_LEN).enumerate() {
            let entry = ShardEntry::decode(raw, body_start, body_end)
                .map_err(|problem| corrupt(format!("shard {i}: {problem}")))?;
            keys = keys
                .checked_add(entry.key_count)
                .ok_or_else(|| corrupt("key counts overflow".into()))?;
            let (start, end) = if entry.key_count == 0 {
                (0, 0)
            } else {
                (
                    to_usize(entry.offset, path)?,
                    to_usize(entry.offset + entry.body_len(), path)?,
                )
            };
            shards.push(Shard {
                start,
                end,
                keys: entry.key_count,
                params: entry.params,
            });
        }
        if keys != header.total_keys {
            return Err(corrupt(format!(
                "the shards hold {keys} keys but the header says {}",
                header.total_keys
            )));
        }
        Ok(BreachedStore {
            path: path.to_path_buf(),
            map,
            header,
            shards: shards.into_boxed_slice(),
            bad: AtomicBool::new(false),
        })
    }

    /// The store's path, as opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hash kind of the entries.
    pub fn kind(&self) -> HashKind {
        self.header.kind
    }

    /// What the store holds.
    pub fn info(&self) -> StoreInfo {
        let keys = self.header.total_keys;
        let file_bytes = self.header.file_len;
        StoreInfo {
            path: self.path.clone(),
            kind: self.header.kind,
            keys,
            shards: self.header.shard_count(),
            file_bytes,
            bytes_per_hash: if keys == 0 {
                0.0
            } else {
                file_bytes as f64 / keys as f64
            },
            fingerprint_bits: FINGERPRINT_BITS,
            false_positive_rate: (-f64::from(FINGERPRINT_BITS)).exp2(),
            min_count: self.header.min_count,
            created_unix: self.header.created_unix,
            format_version: VERSION,
        }
    }

    /// Reads the whole file and checks the trailer checksum. On a mismatch
    /// the store is marked bad: the [`BreachedCorpus`] answers errors from
    /// then on. Takes about as long as reading the file (the caller runs it
    /// in the background, or from a `verify` command).
    pub fn verify(&self) -> Result<(), StoreError> {
        let body_end = self.map.len() - TRAILER_LEN;
        let stored =
            decode_trailer(&self.map[body_end..]).map_err(|p| problem_error(&self.path, p));
        let result = stored.and_then(|stored| {
            let mut hasher = crc32fast::Hasher::new();
            for chunk in self.map[..body_end].chunks(8 << 20) {
                hasher.update(chunk);
            }
            let computed = hasher.finalize();
            if computed == stored {
                Ok(())
            } else {
                Err(StoreError::ChecksumMismatch {
                    path: self.path.clone(),
                    stored,
                    computed,
                })
            }
        });
        if result.is_err() {
            self.bad.store(true, Ordering::SeqCst);
        }
        result
    }

    /// Whether a failed [`verify`](BreachedStore::verify) marked the store bad.
    pub fn is_marked_bad(&self) -> bool {
        self.bad.load(Ordering::SeqCst)
    }

    /// Whether the password's hash (of the store's kind) is in the store:
    /// always for breached passwords, and for about 1 in 65,536 others.
    pub fn contains_password(&self, password: &Password) -> bool {
        let digest = self.header.kind.hash_password(password.expose());
        self.contains_key(digest.key())
    }

    /// Whether a digest of the store's kind (20 bytes for SHA-1, 16 for
    /// NTLM) is in the store. A digest of another length never is.
    pub fn contains_hash(&self, hash: &[u8]) -> bool {
        hash.len() == self.header.kind.digest_len() && self.contains_key(key_of_digest(hash))
    }

    /// Whether a key (first 8 bytes of a digest, big-endian) is in the
    /// store.
    #[inline]
    pub fn contains_key(&self, key: u64) -> bool {
        match self.shards.get(top_bits(key, self.header.shards_log2)) {
            Some(shard) if shard.keys > 0 => match self.map.get(shard.start..shard.end) {
                Some(fingerprints) => filter::contains(&shard.params, fingerprints, key),
                None => false,
            },
            _ => false,
        }
    }
}

impl BreachedCorpus for BreachedStore {
    fn contains(&self, password: &Password) -> Result<bool, String> {
        if self.is_marked_bad() {
            return Err(format!(
                "breached-password store {} failed its checksum verification",
                self.path.display()
            ));
        }
        Ok(self.contains_password(password))
    }

    fn available(&self) -> bool {
        !self.is_marked_bad()
    }
}

impl fmt::Debug for BreachedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreachedStore")
            .field("path", &self.path)
            .field("kind", &self.header.kind)
            .field("keys", &self.header.total_keys)
            .field("shards", &self.shards.len())
            .field("marked_bad", &self.is_marked_bad())
            .finish()
    }
}

/// A store shorter than its header is truncated.
fn holds_a_header(path: &Path, len: u64) -> Result<(), StoreError> {
    if len < HEADER_LEN as u64 {
        return Err(StoreError::Truncated {
            path: path.to_path_buf(),
            actual: len,
            expected: HEADER_LEN as u64,
        });
    }
    Ok(())
}

fn problem_error(path: &Path, problem: Problem) -> StoreError {
    let path = path.to_path_buf();
    match problem {
        Problem::BadMagic => StoreError::NotAStore { path },
        Problem::Version(found) => StoreError::UnsupportedVersion {
            path,
            found,
            supported: VERSION,
        },
        Problem::Truncated { actual, expected } => StoreError::Truncated {
            path,
            actual,
            expected,
        },
        Problem::Corrupt(problem) => StoreError::Corrupt { path, problem },
    }
}

fn to_usize(value: u64, path: &Path) -> Result<usize, StoreError> {
    usize::try_from(value).map_err(|_| StoreError::Corrupt {
        path: path.to_path_buf(),
        problem: format!("offset {value} does not fit this machine's address space"),
    })
}
