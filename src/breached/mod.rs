//! The breached-password store: the Have I Been Pwned "Pwned Passwords"
//! corpus (about a billion SHA-1 or NTLM hashes) in a compact file that is
//! memory-mapped and answers offline whether a password is in it.
//!
//! # Format
//!
//! The hashes are split into `2^shards_log2` shards (256 by default: by the
//! first byte of the hash), and each shard is a binary fuse filter with
//! 16-bit fingerprints: about 2.25 bytes per hash at full scale (2.25 GB for
//! a billion), and a false-positive rate of 2^-16 ≈ 1.5e-5 (at most 1 in
//! 50,000 passwords that are not breached is refused as if it were). There
//! are no false negatives. The key of a hash is its first 8 bytes, read
//! big-endian. `format.rs` documents the byte layout; lookups run
//! directly on the mapped bytes, with xorf's hashing re-implemented
//! (`filter.rs`) and checked against xorf in the tests.
//!
//! # Files
//!
//! - `hash.rs`: [`HashKind`], hashing passwords (SHA-1, NTLM), keys.
//! - `input.rs`: [`InputFormat`], input files, gzip, line parsing.
//! - `filter.rs`: one shard's binary fuse filter (build with xorf, look up
//!   over bytes).
//! - `format.rs`: the file layout, header, index and trailer.
//! - `build.rs`: [`build`] and [`build_from_keys`].
//! - `store.rs`: [`BreachedStore`], the mapped store and the policy hook.
//! - `error.rs`: [`StoreError`].
//! - `update.rs`: `pwgate store update`, the corpus from the range API.
//!
//! # Resources
//!
//! Building streams the inputs once into spill files (8 bytes per input
//! hash, next to the output), then holds one spill bucket at a time in
//! memory: with `H` distinct hashes and the default 256 shards, about
//! `H / 256 * 8` bytes of keys plus xorf's construction arrays (about 27
//! bytes per key of the shard being built), i.e. roughly
//! `H / 256 * 35` bytes, plus 16 MiB of spill buffers and a few MiB of read
//! buffers: about 150 MB for a billion hashes. With fewer than 256 shards a
//! bucket is a shard, so divide by `2^shards_log2` instead.
//!
//! Opening reads the header and the shard index (O(shards): 12 KiB for 256
//! shards) and keeps 40 bytes per shard; lookups touch three fingerprints
//! (at most three pages) of the mapping. `verify` reads the whole file.

mod build;
mod error;
mod filter;
mod format;
mod hash;
mod input;
mod store;
pub mod update;

pub use build::{
    build, build_from_keys, BuildOptions, BuildSummary, DEFAULT_BAD_LINES_FLOOR, MAX_SHARD_KEYS,
};
pub use error::StoreError;
pub use format::estimated_file_bytes;
pub use hash::{key_of_digest, HashKind, ParseHashKindError, PasswordDigest};
pub use input::InputFormat;
pub use store::{BreachedStore, StoreInfo};
