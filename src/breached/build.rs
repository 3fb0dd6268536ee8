//! Building a store: stream the inputs into spill files of keys, one per
//! bucket of shards, then build, shard by shard, each shard's filter and
//! write the file.
//!
//! Phase 1 reads every line, turns it into a 64-bit key and appends the key
//! (8 bytes) to the spill file of its bucket, `min(2^shards_log2, 256)`
//! buckets by the top bits of the key, in a directory
//! `.<output name>.spill-<pid>` next to the output. Phase 2 takes one
//! bucket at a time: reads its keys, deletes its spill file, sorts and
//! de-duplicates them, builds the filter of each of its shards and appends
//! it to `<output>.tmp`. Finally the header, index and trailer are written,
//! the file is synced and renamed over `<output>`. On any error the
//! temporary files are removed and `<output>` is left as it was.
//!
//! Disk: the spill files take 8 bytes per input hash (before
//! de-duplication), on the output's file system, besides the store.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use std::cell::Cell;
use std::io::IsTerminal;
use std::rc::Rc;

use zeroize::Zeroize;

use super::error::StoreError;
use super::filter;
use super::format::{
    align_body, encode_trailer, index_end, Header, ShardEntry, ENTRY_LEN, MAX_SHARDS_LOG2,
};
use super::hash::HashKind;
use super::input::{self, InputFormat, Line, Source};

/// Most keys one shard may hold (xorf sizes its arrays with `u32`).
pub const MAX_SHARD_KEYS: u64 = 1 << 31;
/// Bad lines always allowed, whatever the share.
pub const DEFAULT_BAD_LINES_FLOOR: u64 = 1000;
/// How many bad lines are reported by position.
const BAD_LINE_EXAMPLES: usize = 5;
/// Spill buckets at most (one open file each).
const MAX_BUCKETS_LOG2: u8 = 8;
const SPILL_BUFFER: usize = 64 << 10;

/// How to build a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// The hash of the store's entries; for `Plain` input, the hash applied
    /// to each password.
    pub kind: HashKind,
    pub input_format: InputFormat,
    /// Lines with a count below this are dropped (a hash is kept when any
    /// of its lines has a count of at least this: counts are not summed,
    /// since two downloads of the corpus repeat, not add up). The default
    /// 1 drops only count-0 lines (such as the range API's padding
    /// entries); 0 keeps those too. Plain input has no counts: more than 1
    /// is refused there.
    pub min_count: u64,
    /// `2^shards_log2` shards, 0..=16 (default 8: by the first byte).
    pub shards_log2: u8,
    /// Most bad lines tolerated; `None`: 1% of the lines read or 1000,
    /// whichever is larger (checked at the end). With a number, the build
    /// stops as soon as it is exceeded.
    pub max_bad_lines: Option<u64>,
    /// A progress line on standard error at most every 500 ms.
    pub progress: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            kind: HashKind::Sha1,
            input_format: InputFormat::Hashes,
            min_count: 1,
            shards_log2: 8,
            max_bad_lines: None,
            progress: false,
        }
    }
}

/// What a build read and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSummary {
    /// Lines read, blank and bad ones included.
    pub lines: u64,
    /// Lines that could not be parsed.
    pub bad_lines: u64,
    /// `file:line` of the first few bad lines.
    pub first_bad_lines: Vec<String>,
    /// Distinct hashes in the store.
    pub hashes_kept: u64,
    /// Lines whose hash was already kept from another line.
    pub duplicates: u64,
    /// Lines dropped for a count below `min_count`.
    pub below_min_count: u64,
    /// Entries of input directories that are not range files.
    pub ignored_files: u64,
    /// Size of the store file.
    pub bytes: u64,
    /// Wall-clock time of the build.
    pub seconds: f64,
}

impl BuildSummary {
    /// Store bytes per distinct hash (the whole file over `hashes_kept`).
    pub fn bytes_per_hash(&self) -> f64 {
        if self.hashes_kept == 0 {
            0.0
        } else {
            self.bytes as f64 / self.hashes_kept as f64
        }
    }
}

/// Builds the store `output` from `inputs` (files, range-file directories
/// or `-` for standard input). Writes `output.tmp` and renames it.
pub fn build(
    inputs: &[PathBuf],
    output: &Path,
    options: &BuildOptions,
) -> Result<BuildSummary, StoreError> {
    check_options(options)?;
    if inputs.is_empty() {
        return Err(StoreError::InvalidOptions("no inputs given".into()));
    }
    if options.input_format == InputFormat::Plain && options.min_count > 1 {
        return Err(StoreError::InvalidOptions(
            "min_count needs counts, which plain wordlists do not have".into(),
        ));
    }
    let start = Instant::now();
    let plan = input::plan(inputs, options.input_format)?;
    let bytes_read = Rc::new(Cell::new(0u64));
    let mut progress = Progress::new(options.progress, plan.total_bytes, bytes_read.clone());
    let mut spill = Spill::create(output, options.shards_log2)?;
    let mut reading = Reading::default();
    for source in &plan.sources {
        reading.read(source, options, &mut spill, &bytes_read, &mut progress)?;
    }
    let allowed = options
        .max_bad_lines
        .unwrap_or_else(|| (reading.lines / 100).max(DEFAULT_BAD_LINES_FLOOR));
    if reading.bad_lines > allowed {
        return Err(reading.too_many_bad(allowed));
    }
    let written = spill.finish(options, &mut progress)?;
    Ok(BuildSummary {
        lines: reading.lines,
        bad_lines: reading.bad_lines,
        first_bad_lines: reading.first_bad,
        hashes_kept: written.keys,
        duplicates: written.duplicates,
        below_min_count: reading.below_min_count,
        ignored_files: plan.ignored_files,
        bytes: written.bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Builds the store `output` from keys (first 8 bytes of each hash,
/// big-endian; see [`key_of_digest`](super::key_of_digest)). `lines` in the
/// summary counts the keys; `input_format`, `min_count` and
/// `max_bad_lines` do not apply.
pub fn build_from_keys<I>(
    keys: I,
    output: &Path,
    options: &BuildOptions,
) -> Result<BuildSummary, StoreError>
where
    I: IntoIterator<Item = u64>,
{
    check_options(options)?;
    let start = Instant::now();
    let mut progress = Progress::new(options.progress, None, Rc::new(Cell::new(0)));
    let mut spill = Spill::create(output, options.shards_log2)?;
    let mut lines = 0u64;
    for key in keys {
        spill.push(key)?;
        lines += 1;
        if lines & 0xFFFF == 0 {
            progress.reading(lines);
        }
    }
    let written = spill.finish(options, &mut progress)?;
    Ok(BuildSummary {
        lines,
        bad_lines: 0,
        first_bad_lines: Vec::new(),
        hashes_kept: written.keys,
        duplicates: written.duplicates,
        below_min_count: 0,
        ignored_files: 0,
        bytes: written.bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn check_options(options: &BuildOptions) -> Result<(), StoreError> {
    if options.shards_log2 > MAX_SHARDS_LOG2 {
        return Err(StoreError::InvalidOptions(format!(
            "shards_log2 {} exceeds {MAX_SHARDS_LOG2}",
            options.shards_log2
        )));
    }
    Ok(())
}

/// Counters of phase 1.
#[derive(Default)]
struct Reading {
    lines: u64,
    bad_lines: u64,
    below_min_count: u64,
    first_bad: Vec<String>,
}

impl Reading {
    fn read(
        &mut self,
        source: &Source,
        options: &BuildOptions,
        spill: &mut Spill,
        bytes_read: &Rc<Cell<u64>>,
        progress: &mut Progress,
    ) -> Result<(), StoreError> {
        let mut reader = input::open(source, bytes_read.clone())?;
        let mut line = Vec::with_capacity(256);
        let mut number = 0u64;
        let result = loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) => {
                    break Err(StoreError::BadInput {
                        path: source.path.clone(),
                        problem: format!("cannot read past line {number}: {e}"),
                    })
                }
            }
            number += 1;
            self.lines += 1;
            let parsed = match options.input_format {
                InputFormat::Hashes => {
                    input::parse_hash_line(&line, options.kind, source.range_prefix)
                }
                InputFormat::Plain => input::parse_plain_line(&line, options.kind),
            };
            match parsed {
                Line::Blank => {}
                Line::Bad => {
                    self.bad_lines += 1;
                    if self.first_bad.len() < BAD_LINE_EXAMPLES {
                        self.first_bad
                            .push(format!("{}:{number}", source.path.display()));
                    }
                    if let Some(allowed) = options.max_bad_lines {
                        if self.bad_lines > allowed {
                            break Err(self.too_many_bad(allowed));
                        }
                    }
                }
                Line::Key { count, .. } if count < options.min_count => {
                    self.below_min_count += 1;
                }
                Line::Key { key, .. } => {
                    if let Err(e) = spill.push(key) {
                        break Err(e);
                    }
                }
            }
            if self.lines & 0xFFFF == 0 {
                progress.reading(self.lines);
            }
        };
        // A wordlist line is a password.
        line.zeroize();
        result
    }

    fn too_many_bad(&self, allowed: u64) -> StoreError {
        StoreError::TooManyBadLines {
            bad: self.bad_lines,
            lines: self.lines,
            allowed,
            first: self.first_bad.join(", "),
        }
    }
}

/// What phase 2 wrote.
struct Written {
    keys: u64,
    duplicates: u64,
    bytes: u64,
}

/// The spill files and the temporary output; removed on drop unless the
/// build finished.
struct Spill {
    output: PathBuf,
    tmp_output: PathBuf,
    dir: PathBuf,
    shards_log2: u8,
    bucket_bits: u8,
    writers: Vec<BufWriter<File>>,
    renamed: bool,
}

impl Spill {
    fn create(output: &Path, shards_log2: u8) -> Result<Spill, StoreError> {
        let name = output
            .file_name()
            .ok_or_else(|| {
                StoreError::InvalidOptions(format!(
                    "output {} is not a file name",
                    output.display()
                ))
            })?
            .to_string_lossy()
            .into_owned();
        let parent = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = parent.join(format!(".{name}.spill-{}", std::process::id()));
        let mut tmp_name = output.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let bucket_bits = shards_log2.min(MAX_BUCKETS_LOG2);
        // Remove leftovers of an earlier crashed build by this pid.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).map_err(|e| StoreError::io(&dir, "create the spill directory", e))?;
        let mut spill = Spill {
            output: output.to_path_buf(),
            tmp_output: PathBuf::from(tmp_name),
            dir,
            shards_log2,
            bucket_bits,
            writers: Vec::new(),
            renamed: false,
        };
        for bucket in 0..1usize << bucket_bits {
            let path = spill.bucket_path(bucket);
            let file = File::create(&path).map_err(|e| StoreError::io(&path, "create", e))?;
            spill
                .writers
                .push(BufWriter::with_capacity(SPILL_BUFFER, file));
        }
        Ok(spill)
    }

    fn bucket_path(&self, bucket: usize) -> PathBuf {
        self.dir.join(format!("{bucket:03x}.keys"))
    }

    #[inline]
    fn push(&mut self, key: u64) -> Result<(), StoreError> {
        let bucket = top_bits(key, self.bucket_bits);
        match self.writers.get_mut(bucket) {
            Some(w) => w
                .write_all(&key.to_le_bytes())
                .map_err(|e| StoreError::io(self.bucket_path(bucket), "write", e)),
            None => Ok(()),
        }
    }

    /// Phase 2: shard by shard into `output.tmp`, then rename.
    fn finish(
        mut self,
        options: &BuildOptions,
        progress: &mut Progress,
    ) -> Result<Written, StoreError> {
        for (bucket, writer) in self.writers.iter_mut().enumerate() {
            writer.flush().map_err(|e| {
                StoreError::io(self.dir.join(format!("{bucket:03x}.keys")), "write", e)
            })?;
        }
        self.writers.clear();

        let tmp = self.tmp_output.clone();
        let io_err = |action: &'static str| {
            let tmp = tmp.clone();
            move |e| StoreError::io(tmp, action, e)
        };
        let file = File::create(&tmp).map_err(io_err("create"))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let body_start = index_end(self.shards_log2);
        out.write_all(&vec![0u8; body_start as usize])
            .map_err(io_err("write"))?;

        let shards = 1usize << self.shards_log2;
        let shards_per_bucket = 1usize << (self.shards_log2 - self.bucket_bits);
        let mut entries = vec![ShardEntry::default(); shards];
        let mut body_crc = crc32fast::Hasher::new();
        let mut pos = body_start;
        let mut total_keys = 0u64;
        let mut duplicates = 0u64;
        let mut chunk: Vec<u8> = Vec::with_capacity(64 << 10);
        for bucket in 0..1usize << self.bucket_bits {
            let mut keys = self.take_bucket(bucket)?;
            keys.sort_unstable();
            let before = keys.len();
            keys.dedup();
            duplicates += (before - keys.len()) as u64;
            let mut from = 0usize;
            for local in 0..shards_per_bucket {
                let shard = bucket * shards_per_bucket + local;
                let to = from
                    + keys[from..].partition_point(|&k| top_bits(k, self.shards_log2) <= shard);
                let shard_keys = &keys[from..to];
                from = to;
                if shard_keys.is_empty() {
                    continue;
                }
                let count = shard_keys.len() as u64;
                let build_error = |problem: String| StoreError::Build {
                    path: self.output.clone(),
                    shard: shard as u64,
                    keys: count,
                    problem,
                };
                if count > MAX_SHARD_KEYS {
                    return Err(build_error(format!(
                        "more than {MAX_SHARD_KEYS} keys in one shard; use more shards"
                    )));
                }
                let (params, fingerprints) =
                    filter::build(shard_keys).map_err(|e| build_error(e.to_owned()))?;
                let offset = align_body(pos);
                chunk.clear();
                chunk.resize((offset - pos) as usize, 0);
                for f in fingerprints.iter() {
                    chunk.extend_from_slice(&f.to_le_bytes());
                    if chunk.len() >= 64 << 10 {
                        body_crc.update(&chunk);
                        out.write_all(&chunk).map_err(io_err("write"))?;
                        chunk.clear();
                    }
                }
                body_crc.update(&chunk);
                out.write_all(&chunk).map_err(io_err("write"))?;
                let fingerprint_count = fingerprints.len() as u64;
                pos = offset + 2 * fingerprint_count;
                entries[shard] = ShardEntry {
                    offset,
                    fingerprint_count,
                    key_count: count,
                    params,
                };
                total_keys += count;
            }
            progress.building(bucket + 1, 1 << self.bucket_bits);
        }

        let file_len = pos + super::format::TRAILER_LEN as u64;
        let mut index = Vec::with_capacity(shards * ENTRY_LEN);
        for entry in &entries {
            index.extend_from_slice(&entry.encode());
        }
        let header = Header {
            kind: options.kind,
            shards_log2: self.shards_log2,
            total_keys,
            min_count: options.min_count,
            created_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            file_len,
            index_crc: crc32fast::hash(&index),
        }
        .encode();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.update(&index);
        crc.combine(&body_crc);
        out.write_all(&encode_trailer(crc.finalize()))
            .map_err(io_err("write"))?;
        out.seek(SeekFrom::Start(0)).map_err(io_err("seek in"))?;
        out.write_all(&header).map_err(io_err("write"))?;
        out.write_all(&index).map_err(io_err("write"))?;
        let file = out
            .into_inner()
            .map_err(|e| StoreError::io(tmp.clone(), "write", e.into_error()))?;
        file.sync_all().map_err(io_err("sync"))?;
        drop(file);
        fs::rename(&tmp, &self.output).map_err(|e| StoreError::io(&self.output, "replace", e))?;
        self.renamed = true;
        if let Some(parent) = self.output.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            // Makes the rename durable; not all file systems allow it.
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        progress.done();
        Ok(Written {
            keys: total_keys,
            duplicates,
            bytes: file_len,
        })
    }

    /// Reads one bucket's keys and deletes its spill file.
    fn take_bucket(&self, bucket: usize) -> Result<Vec<u64>, StoreError> {
        let path = self.bucket_path(bucket);
        let mut file = File::open(&path).map_err(|e| StoreError::io(&path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io(&path, "read", e))?
            .len();
        let mut keys = Vec::with_capacity((len / 8) as usize);
        let mut buf = vec![0u8; 1 << 20];
        let mut remaining = len - len % 8;
        while remaining > 0 {
            let take = remaining.min(buf.len() as u64) as usize;
            file.read_exact(&mut buf[..take])
                .map_err(|e| StoreError::io(&path, "read", e))?;
            for bytes in buf[..take].chunks_exact(8) {
                let mut k = [0u8; 8];
                k.copy_from_slice(bytes);
                keys.push(u64::from_le_bytes(k));
            }
            remaining -= take as u64;
        }
        drop(file);
        fs::remove_file(&path).map_err(|e| StoreError::io(&path, "remove", e))?;
        Ok(keys)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.writers.clear();
        let _ = fs::remove_dir_all(&self.dir);
        if !self.renamed {
            let _ = fs::remove_file(&self.tmp_output);
        }
    }
}

/// The top `bits` bits of `key` (0 for no bits).
#[inline]
pub(crate) fn top_bits(key: u64, bits: u8) -> usize {
    if bits == 0 {
        0
    } else {
        (key >> (64 - u32::from(bits))) as usize
    }
}

/// The progress line on standard error.
struct Progress {
    enabled: bool,
    terminal: bool,
    start: Instant,
    last: Instant,
    total_bytes: Option<u64>,
    bytes_read: Rc<Cell<u64>>,
    printed: bool,
}

const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

impl Progress {
    fn new(enabled: bool, total_bytes: Option<u64>, bytes_read: Rc<Cell<u64>>) -> Progress {
        let now = Instant::now();
        Progress {
            enabled,
            terminal: std::io::stderr().is_terminal(),
            start: now,
            last: now,
            total_bytes,
            bytes_read,
            printed: false,
        }
    }

    fn due(&mut self) -> bool {
        if !self.enabled {
            return false;
        }
        let now = Instant::now();
        if now.duration_since(self.last) < PROGRESS_EVERY {
            return false;
        }
        self.last = now;
        true
    }

    fn print(&mut self, text: &str) {
        self.printed = true;
        if self.terminal {
            eprint!("\r{text}\x1b[K");
        } else {
            eprintln!("{text}");
        }
    }

    fn reading(&mut self, lines: u64) {
        if !self.due() {
            return;
        }
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let mut text = format!(
            "breached store: read {lines} lines ({:.2} M lines/s)",
            lines as f64 / secs / 1e6
        );
        if let Some(total) = self.total_bytes.filter(|&t| t > 0) {
            let done = self.bytes_read.get().min(total) as f64 / total as f64;
            text.push_str(&format!(
                ", {:.1}% of {:.1} MB",
                done * 100.0,
                total as f64 / 1e6
            ));
            if done > 0.0 {
                text.push_str(&format!(", ETA {:.0} s", secs * (1.0 - done) / done));
            }
        }
        self.print(&text);
    }

    fn building(&mut self, done: usize, of: usize) {
        if !self.due() {
            return;
        }
        self.print(&format!(
            "breached store: built {done} of {of} shard buckets"
        ));
    }

    fn done(&mut self) {
        if self.enabled && self.terminal && self.printed {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_bits_picks_the_shard() {
        assert_eq!(top_bits(u64::MAX, 0), 0);
        assert_eq!(top_bits(0xAB00_0000_0000_0000, 8), 0xAB);
        assert_eq!(top_bits(0xABCD_0000_0000_0000, 16), 0xABCD);
        assert_eq!(top_bits(0x8000_0000_0000_0000, 1), 1);
    }

    #[test]
    fn bad_option_values_are_refused() {
        let dir = std::env::temp_dir();
        let options = BuildOptions {
            shards_log2: 17,
            ..BuildOptions::default()
        };
        assert!(matches!(
            build_from_keys([1u64], &dir.join("never.pwbf"), &options),
            Err(StoreError::InvalidOptions(_))
        ));
        let plain = BuildOptions {
            input_format: InputFormat::Plain,
            min_count: 2,
            ..BuildOptions::default()
        };
        assert!(matches!(
            build(&[PathBuf::from("-")], &dir.join("never.pwbf"), &plain),
            Err(StoreError::InvalidOptions(_))
        ));
    }
}
