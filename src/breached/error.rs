//! [`StoreError`]: everything that can go wrong building, opening or
//! verifying a breached-password store.
//!
//! Every variant that concerns a file names it. None carries input text:
//! bad lines are reported by file and line number only, because a line of a
//! wordlist is a password.

use std::io;
use std::path::PathBuf;

/// An error from [`build`](super::build), [`BreachedStore::open`](super::BreachedStore::open)
/// or [`BreachedStore::verify`](super::BreachedStore::verify).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{}: cannot {action}: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },

    /// The file does not start with the store's magic bytes.
    #[error("{}: not a pwgate breached-password store (wrong magic bytes)", .path.display())]
    NotAStore { path: PathBuf },

    /// The file was written by a different version of the format.
    #[error(
        "{}: store format version {found} is not supported (this pwgate reads version {supported}); rebuild the store",
        .path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The file is shorter (or longer) than its header says.
    #[error(
        "{}: truncated or damaged store: the file has {actual} bytes but needs {expected}",
        .path.display()
    )]
    Truncated {
        path: PathBuf,
        actual: u64,
        expected: u64,
    },

    /// The header or shard index fails validation.
    #[error("{}: corrupt store: {problem}", .path.display())]
    Corrupt { path: PathBuf, problem: String },

    /// The checksum over the whole file does not match ([`verify`](super::BreachedStore::verify)).
    #[error(
        "{}: store checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is damaged",
        .path.display()
    )]
    ChecksumMismatch {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },

    /// An input cannot be used (not its content: its kind or an I/O error
    /// while decoding it).
    #[error("{}: {problem}", .path.display())]
    BadInput { path: PathBuf, problem: String },

    /// More input lines could not be parsed than allowed.
    #[error(
        "too many unreadable input lines: {bad} of {lines} (at most {allowed} allowed); first at {first}"
    )]
    TooManyBadLines {
        bad: u64,
        lines: u64,
        allowed: u64,
        /// `file:line` of the first few bad lines, comma-separated.
        first: String,
    },

    /// The options cannot be used.
    #[error("invalid build options: {0}")]
    InvalidOptions(String),

    /// A shard's filter could not be built.
    #[error("{}: cannot build the filter of shard {shard} ({keys} keys): {problem}", .path.display())]
    Build {
        path: PathBuf,
        shard: u64,
        keys: u64,
        problem: String,
    },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
