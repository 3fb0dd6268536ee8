//! Reading build inputs: which files an input path stands for, opening
//! them (gzip detected by its magic bytes), and parsing one line into a
//! key and a count.
//!
//! Formats ([`InputFormat`]):
//!
//! - `Hashes`: lines `HASH:COUNT` or just `HASH` (count 1), hex in either
//!   case, 40 digits for SHA-1 and 32 for NTLM. Given a directory, every
//!   file in it whose name starts with 5 hex digits and a dot or ends there
//!   (`00000`, `00000.txt`, `00000.txt.gz`, as the Pwned Passwords
//!   downloader writes them) is a range file: its name is the first 5
//!   digits of each hash and its lines hold the remaining 35 (SHA-1) or 27
//!   (NTLM) digits. Other entries of the directory are skipped and counted.
//!   A file given directly with such a name is read as a range file too.
//! - `Plain`: a wordlist, one password per line (without the line end),
//!   hashed with the store's hash kind. A line that is not UTF-8 can never
//!   match a password and counts as bad.
//!
//! `-` is standard input. Blank lines are skipped; lines are counted from 1.

use std::cell::Cell;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::rc::Rc;

use flate2::bufread::MultiGzDecoder;

use super::error::StoreError;
use super::hash::{key_of_digest, HashKind};

/// What the lines of the inputs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Hex hashes with optional counts (single files or range files).
    Hashes,
    /// One clear-text password per line.
    Plain,
}

/// One file (or standard input) to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    /// The path, `-` for standard input.
    pub path: PathBuf,
    /// For a range file: the value of its 5-hex-digit name.
    pub range_prefix: Option<u32>,
    /// The size on disk, when known.
    pub bytes: Option<u64>,
}

/// The files behind the input paths.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub sources: Vec<Source>,
    /// Entries of input directories that are not range files.
    pub ignored_files: u64,
    /// Sum of the sizes on disk, when every source has one.
    pub total_bytes: Option<u64>,
}

/// Expands directories into their range files (sorted by name).
pub(crate) fn plan(inputs: &[PathBuf], format: InputFormat) -> Result<Plan, StoreError> {
    let mut plan = Plan::default();
    let mut sizes_known = true;
    for input in inputs {
        if input.as_os_str() == "-" {
            sizes_known = false;
            plan.sources.push(Source {
                path: input.clone(),
                range_prefix: None,
                bytes: None,
            });
            continue;
        }
        let meta = fs::metadata(input).map_err(|e| StoreError::io(input, "read", e))?;
        if meta.is_dir() {
            if format == InputFormat::Plain {
                return Err(StoreError::BadInput {
                    path: input.clone(),
                    problem:
                        "a directory input holds range files of hashes; give wordlists as files"
                            .into(),
                });
            }
            let mut entries = Vec::new();
            let listing = fs::read_dir(input).map_err(|e| StoreError::io(input, "list", e))?;
            for entry in listing {
                let entry = entry.map_err(|e| StoreError::io(input, "list", e))?;
                entries.push(entry.path());
            }
            entries.sort();
            for path in entries {
                let prefix = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(range_prefix_of_name);
                let meta = fs::metadata(&path).map_err(|e| StoreError::io(&path, "read", e))?;
                match prefix {
                    Some(prefix) if meta.is_file() => plan.sources.push(Source {
                        path,
                        range_prefix: Some(prefix),
                        bytes: Some(meta.len()),
                    }),
                    _ => plan.ignored_files += 1,
                }
            }
        } else {
            let range_prefix = match format {
                InputFormat::Hashes => input
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(range_prefix_of_name),
                InputFormat::Plain => None,
            };
            plan.sources.push(Source {
                path: input.clone(),
                range_prefix,
                bytes: Some(meta.len()),
            });
        }
    }
    if sizes_known {
        plan.total_bytes = Some(plan.sources.iter().filter_map(|s| s.bytes).sum());
    }
    Ok(plan)
}

/// `Some(prefix)` for a range file name: 5 hex digits, then the end of the
/// name or a dot.
pub(crate) fn range_prefix_of_name(name: &str) -> Option<u32> {
    let b = name.as_bytes();
    if b.len() < 5 || (b.len() > 5 && b[5] != b'.') {
        return None;
    }
    let mut prefix = 0u32;
    for &c in &b[..5] {
        prefix = prefix << 4 | u32::from(hex_value(c)?);
    }
    Some(prefix)
}

/// A reader that adds the bytes it reads to a shared counter (for progress
/// over compressed and plain inputs alike).
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

const READ_BUFFER: usize = 1 << 20;

/// Opens a source for reading lines, decompressing gzip (magic `1f 8b`,
/// several members allowed). Raw bytes read are added to `count`.
pub(crate) fn open(source: &Source, count: Rc<Cell<u64>>) -> Result<Box<dyn BufRead>, StoreError> {
    let raw: Box<dyn Read> = if source.path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(&source.path).map_err(|e| StoreError::io(&source.path, "open", e))?)
    };
    // Range files are small (tens of KB): no need for a full buffer each.
    let capacity = source
        .bytes
        .map_or(READ_BUFFER, |b| (b as usize).clamp(8 << 10, READ_BUFFER));
    let mut reader = BufReader::with_capacity(capacity, Counting { inner: raw, count });
    let head = reader
        .fill_buf()
        .map_err(|e| StoreError::io(&source.path, "read", e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    Blank,
    Key { key: u64, count: u64 },
    Bad,
}

/// Parses a hash line: `HASH[:COUNT]`, or `SUFFIX[:COUNT]` in a range file
/// with prefix `range_prefix`. Surrounding white space and the line end are
/// ignored.
pub(crate) fn parse_hash_line(line: &[u8], kind: HashKind, range_prefix: Option<u32>) -> Line {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Line::Blank;
    }
    let (hash, count) = match line.iter().position(|&c| c == b':') {
        Some(colon) => (
            line[..colon].trim_ascii_end(),
            Some(line[colon + 1..].trim_ascii_start()),
        ),
        None => (line, None),
    };
    let count = match count {
        None => 1,
        Some(digits) => match parse_decimal(digits) {
            Some(n) => n,
            None => return Line::Bad,
        },
    };
    let key = match range_prefix {
        None => {
            if hash.len() != kind.hex_len() {
                return Line::Bad;
            }
            match hex_prefix(hash, 16) {
                Some(k) => k,
                None => return Line::Bad,
            }
        }
        Some(prefix) => {
            if hash.len() != kind.hex_len() - 5 {
                return Line::Bad;
            }
            // 5 digits (20 bits) from the name, 11 (44 bits) from the line.
            match hex_prefix(hash, 11) {
                Some(k) => u64::from(prefix) << 44 | k,
                None => return Line::Bad,
            }
        }
    };
    Line::Key { key, count }
}

/// Parses a wordlist line (its line end removed) into the key of the
/// password's hash. Only `\n` and `\r\n` are line ends; other white space
/// is part of the password. An empty line is blank.
pub(crate) fn parse_plain_line(line: &[u8], kind: HashKind) -> Line {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Line::Blank;
    }
    match std::str::from_utf8(line) {
        Ok(password) => {
            let digest = kind.hash_password(password);
            Line::Key {
                key: key_of_digest(digest.as_bytes()),
                count: 1,
            }
        }
        Err(_) => Line::Bad,
    }
}

/// Checks that `hex` is all hex digits and returns the value of its first
/// `digits` (at most 16) digits.
fn hex_prefix(hex: &[u8], digits: usize) -> Option<u64> {
    let mut value = 0u64;
    for (i, &c) in hex.iter().enumerate() {
        let v = hex_value(c)?;
        if i < digits {
            value = value << 4 | u64::from(v);
        }
    }
    Some(value)
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut n = 0u64;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

#[inline]
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_PASSWORD: &str = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";

    #[test]
    fn hash_lines_parse_in_both_cases_with_and_without_counts() {
        let key = 0x5BAA_61E4_C9B9_3F3F;
        let line = format!("{SHA1_PASSWORD}:10437277\r\n");
        assert_eq!(
            parse_hash_line(line.as_bytes(), HashKind::Sha1, None),
            Line::Key {
                key,
                count: 10_437_277
            }
        );
        let lower = SHA1_PASSWORD.to_ascii_lowercase();
        assert_eq!(
            parse_hash_line(lower.as_bytes(), HashKind::Sha1, None),
            Line::Key { key, count: 1 }
        );
        assert_eq!(
            parse_hash_line(format!("  {lower} : 3 ").as_bytes(), HashKind::Sha1, None),
            Line::Key { key, count: 3 }
        );
        assert_eq!(parse_hash_line(b" \r\n", HashKind::Sha1, None), Line::Blank);
    }

    #[test]
    fn bad_hash_lines_are_recognised() {
        let bad = [
            format!("{}:1", &SHA1_PASSWORD[..39]),
            format!("{SHA1_PASSWORD}0:1"),
            format!("{}G:1", &SHA1_PASSWORD[..39]),
            format!("{SHA1_PASSWORD}:"),
            format!("{SHA1_PASSWORD}:x"),
            format!("{SHA1_PASSWORD}:-1"),
            format!("{SHA1_PASSWORD}:99999999999999999999999"),
            "8846F7EAEE8FB117AD06BDD830B7586C:1".to_owned(),
        ];
        for line in &bad {
            assert_eq!(
                parse_hash_line(line.as_bytes(), HashKind::Sha1, None),
                Line::Bad,
                "{line}"
            );
        }
        assert_eq!(
            parse_hash_line(b"8846F7EAEE8FB117AD06BDD830B7586C:1", HashKind::Ntlm, None),
            Line::Key {
                key: 0x8846_F7EA_EE8F_B117,
                count: 1
            }
        );
    }

    #[test]
    fn range_lines_join_the_name_and_the_suffix() {
        let prefix = range_prefix_of_name("5BAA6.txt").expect("range name");
        assert_eq!(prefix, 0x5BAA6);
        let line = format!("{}:5", &SHA1_PASSWORD[5..]);
        assert_eq!(
            parse_hash_line(line.as_bytes(), HashKind::Sha1, Some(prefix)),
            Line::Key {
                key: 0x5BAA_61E4_C9B9_3F3F,
                count: 5
            }
        );
        // A full hash in a range file is bad.
        assert_eq!(
            parse_hash_line(SHA1_PASSWORD.as_bytes(), HashKind::Sha1, Some(prefix)),
            Line::Bad
        );
        let ntlm = parse_hash_line(
            b"7EAEE8FB117AD06BDD830B7586C",
            HashKind::Ntlm,
            Some(0x8846F),
        );
        assert_eq!(
            ntlm,
            Line::Key {
                key: 0x8846_F7EA_EE8F_B117,
                count: 1
            }
        );
    }

    #[test]
    fn range_file_names() {
        assert_eq!(range_prefix_of_name("00000"), Some(0));
        assert_eq!(range_prefix_of_name("fffff.txt"), Some(0xFFFFF));
        assert_eq!(range_prefix_of_name("ABCDE.txt.gz"), Some(0xABCDE));
        assert_eq!(range_prefix_of_name("ABCD.txt"), None);
        assert_eq!(range_prefix_of_name("ABCDEF.txt"), None);
        assert_eq!(range_prefix_of_name("README.md"), None);
        assert_eq!(range_prefix_of_name("ABCDG.txt"), None);
    }

    #[test]
    fn plain_lines_keep_inner_white_space_and_reject_non_utf8() {
        let key = |p: &str| key_of_digest(HashKind::Sha1.hash_password(p).as_bytes());
        assert_eq!(
            parse_plain_line(b"password\r\n", HashKind::Sha1),
            Line::Key {
                key: key("password"),
                count: 1
            }
        );
        assert_eq!(
            parse_plain_line(b" pass word \n", HashKind::Sha1),
            Line::Key {
                key: key(" pass word "),
                count: 1
            }
        );
        assert_eq!(parse_plain_line(b"\r\n", HashKind::Sha1), Line::Blank);
        assert_eq!(parse_plain_line(b"caf\xe9\n", HashKind::Ntlm), Line::Bad);
    }
}
