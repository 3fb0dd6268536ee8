//! storebench: build, size and lookup speed of the breached-password store.
//!
//! Generates a deterministic synthetic corpus of N random SHA-1 hashes as
//! `HASH:COUNT` text lines in a temporary file (the input format of the
//! Pwned Passwords download), builds a store from it through the normal
//! build path (parsing included), opens it, verifies its checksum, and
//! times lookups of 1,000,000 members and 1,000,000 non-members with the
//! store in the page cache (p50/p99 per lookup, timer included, and the
//! mean of an untimed loop). It measures the false-positive rate on the
//! non-members and extrapolates the size to a billion hashes.
//!
//! Baselines in the same run, on the same keys and lookups: a
//! `std::collections::HashSet<u64>` and a sorted `Vec<u64>` with binary
//! search, and the alternative design "exact truncated sorted hashes with a
//! prefix index" (built in the bench only). Cold lookups: the store file is
//! evicted from the page cache (fdatasync + posix_fadvise DONTNEED) before it
//! is opened, and getrusage counts the page faults of the lookups. Bounded: `--keys` at most 1,000,000,000; the temporary files are
//! removed at the end.

use std::collections::HashSet;
use std::fs::{self, File};
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hdrhistogram::Histogram;
use pwgate::breached::{
    build, build_from_keys, estimated_file_bytes, key_of_digest, BreachedStore, BuildOptions,
    HashKind,
};
use pwgate::secret::Password;

const USAGE: &str = "\
storebench [options]
  --keys N          synthetic SHA-1 hashes in the store (default 10000000, max 1000000000)
  --shards-log2 K   2^K shards (default 8)
  --lookups N       member and non-member lookups each (default 1000000)
  --dir DIR         where the corpus and the store go (default: the temp dir)
  --from-keys       build from keys directly, skipping the text corpus
  --no-baseline     skip the HashSet and sorted-Vec baselines
  --progress        the build's progress line on standard error
  --cold-lookups N  lookups on the store evicted from the page cache (default 10000, 0 = skip)
";

const MEMBER_SEED: u64 = 0x5EED_0001;
const NON_MEMBER_SEED: u64 = 0x5EED_0002;

struct Args {
    keys: u64,
    shards_log2: u8,
    lookups: usize,
    dir: PathBuf,
    from_keys: bool,
    baseline: bool,
    progress: bool,
    cold_lookups: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        keys: 10_000_000,
        shards_log2: 8,
        lookups: 1_000_000,
        dir: std::env::temp_dir(),
        from_keys: false,
        baseline: true,
        progress: false,
        cold_lookups: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--keys" => a.keys = value()?.parse().map_err(|e| format!("--keys: {e}"))?,
            "--shards-log2" => {
                a.shards_log2 = value()?
                    .parse()
                    .map_err(|e| format!("--shards-log2: {e}"))?
            }
            "--lookups" => a.lookups = value()?.parse().map_err(|e| format!("--lookups: {e}"))?,
            "--dir" => a.dir = PathBuf::from(value()?),
            "--from-keys" => a.from_keys = true,
            "--no-baseline" => a.baseline = false,
            "--progress" => a.progress = true,
            "--cold-lookups" => {
                a.cold_lookups = value()?
                    .parse()
                    .map_err(|e| format!("--cold-lookups: {e}"))?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.keys == 0 || a.keys > 1_000_000_000 {
        return Err("--keys must be 1..=1000000000".into());
    }
    if a.lookups == 0 || a.lookups > 100_000_000 {
        return Err("--lookups must be 1..=100000000".into());
    }
    Ok(a)
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A random SHA-1-sized digest.
    fn digest(&mut self) -> [u8; 20] {
        let mut d = [0u8; 20];
        d[0..8].copy_from_slice(&self.next().to_be_bytes());
        d[8..16].copy_from_slice(&self.next().to_be_bytes());
        d[16..20].copy_from_slice(&self.next().to_be_bytes()[..4]);
        d
    }
}

/// Writes `n` lines `HEX40:COUNT` of the member sequence.
fn write_corpus(path: &Path, n: u64) -> std::io::Result<u64> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut rng = Rng(MEMBER_SEED);
    let mut line = Vec::with_capacity(64);
    for _ in 0..n {
        let d = rng.digest();
        let count = 1 + rng.next() % 10_000;
        line.clear();
        for b in d {
            line.push(HEX[usize::from(b >> 4)]);
            line.push(HEX[usize::from(b & 15)]);
        }
        line.push(b':');
        line.extend_from_slice(count.to_string().as_bytes());
        line.extend_from_slice(b"\r\n");
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(out.get_ref().metadata()?.len())
}

/// Every key of the member sequence (for the baselines and from-keys builds).
fn member_keys(n: u64) -> impl Iterator<Item = u64> {
    let mut rng = Rng(MEMBER_SEED);
    (0..n).map(move |_| {
        let d = rng.digest();
        let _count = rng.next();
        key_of_digest(&d)
    })
}

/// `count` member digests spread evenly over the sequence.
fn member_sample(n: u64, count: usize) -> Vec<[u8; 20]> {
    let step = (n / count as u64).max(1);
    let mut rng = Rng(MEMBER_SEED);
    let mut out = Vec::with_capacity(count);
    for i in 0..n {
        let d = rng.digest();
        let _count = rng.next();
        if i % step == 0 && out.len() < count {
            out.push(d);
        }
    }
    // Cycle if the store is smaller than the sample.
    let have = out.len();
    for i in have..count {
        out.push(out[i % have]);
    }
    out
}

fn non_members(count: usize) -> Vec<[u8; 20]> {
    let mut rng = Rng(NON_MEMBER_SEED);
    (0..count).map(|_| rng.digest()).collect()
}

/// `VmHWM` (peak RSS) or `VmRSS` of this process in bytes.
fn proc_status_kb(field: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resets VmHWM to the current RSS (Linux: `5` to clear_refs).
fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

struct Timing {
    p50: u64,
    p99: u64,
    mean_untimed: f64,
    hits: usize,
}

/// Times `lookup` on each input: once per lookup into a histogram (timer
/// included), once untimed for the mean.
fn time_lookups<T>(inputs: &[T], lookup: impl Fn(&T) -> bool) -> Timing {
    let mut h = Histogram::<u64>::new_with_bounds(1, 100_000_000, 3).expect("histogram bounds");
    let mut hits = 0usize;
    for x in inputs {
        let t = Instant::now();
        let hit = lookup(black_box(x));
        let ns = t.elapsed().as_nanos() as u64;
        let _ = h.record(ns.max(1));
        hits += usize::from(hit);
    }
    let t = Instant::now();
    let mut untimed_hits = 0usize;
    for x in inputs {
        untimed_hits += usize::from(lookup(black_box(x)));
    }
    let mean_untimed = t.elapsed().as_nanos() as f64 / inputs.len() as f64;
    black_box(untimed_hits);
    Timing {
        p50: h.value_at_quantile(0.5),
        p99: h.value_at_quantile(0.99),
        mean_untimed,
        hits,
    }
}

fn timer_overhead_ns() -> u64 {
    let mut h = Histogram::<u64>::new_with_bounds(1, 100_000_000, 3).expect("histogram bounds");
    for _ in 0..1_000_000 {
        let t = Instant::now();
        let ns = black_box(t).elapsed().as_nanos() as u64;
        let _ = h.record(ns.max(1));
    }
    h.value_at_quantile(0.5)
}

/// `(ru_majflt, ru_minflt)` of this process (getrusage(RUSAGE_SELF)).
fn faults() -> (u64, u64) {
    // SAFETY: getrusage writes one rusage into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return (0, 0);
    }
    (ru.ru_majflt as u64, ru.ru_minflt as u64)
}

/// Flushes `path` (fdatasync) and asks the kernel to drop its pages from the
/// page cache (posix_fadvise DONTNEED on a read-only descriptor).
fn evict_from_page_cache(path: &Path) -> Result<(), String> {
    use std::os::unix::io::AsRawFd;
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let fd = f.as_raw_fd();
    // SAFETY: plain syscalls on a descriptor we own.
    if unsafe { libc::fdatasync(fd) } != 0 {
        return Err(format!("fdatasync: {}", std::io::Error::last_os_error()));
    }
    let rc = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(format!(
            "posix_fadvise: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    Ok(())
}

/// `(resident, total)` pages of `path` in the page cache, by mincore(2) on a
/// fresh read-only mapping (which itself faults nothing in).
fn page_cache_residency(path: &Path) -> Option<(usize, usize)> {
    use std::os::unix::io::AsRawFd;
    let f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len() as usize;
    if len == 0 {
        return Some((0, 0));
    }
    // SAFETY: sysconf, mmap/mincore/munmap on a mapping we create and drop.
    unsafe {
        let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
        let pages = len.div_ceil(page);
        let addr = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if addr == libc::MAP_FAILED {
            return None;
        }
        let mut vec = vec![0u8; pages];
        let rc = libc::mincore(addr, len, vec.as_mut_ptr() as *mut _);
        libc::munmap(addr, len);
        if rc != 0 {
            return None;
        }
        Some((vec.iter().filter(|&&b| b & 1 != 0).count(), pages))
    }
}

/// The alternative design: exact truncated sorted hashes with a prefix
/// index. The top `p` bits of a key pick a bucket; the next `t` bits are
/// stored, sorted within the bucket, bit-packed; a u32 offset per bucket
/// (plus a sentinel) says where each bucket starts. A lookup is one offset
/// pair and a binary search over the bucket's `t`-bit entries.
struct PrefixIndex {
    p: u32,
    t: u32,
    words: Vec<u64>,
    offsets: Vec<u32>,
    len: usize,
}

impl PrefixIndex {
    fn build(keys: impl Iterator<Item = u64>, p: u32, t: u32) -> PrefixIndex {
        assert!(p >= 1 && (1..=57).contains(&t) && p + t <= 64);
        let shift = 64 - p - t;
        let mut v: Vec<u64> = keys.map(|k| k >> shift).collect();
        v.sort_unstable();
        v.dedup();
        let mask = (1u64 << t) - 1;
        let buckets = 1usize << p;
        let mut offsets = vec![0u32; buckets + 1];
        for &x in &v {
            offsets[(x >> t) as usize + 1] += 1;
        }
        for b in 0..buckets {
            offsets[b + 1] += offsets[b];
        }
        let bits = v.len() * t as usize;
        let mut words = vec![0u64; bits.div_ceil(64) + 1];
        for (i, &x) in v.iter().enumerate() {
            let r = x & mask;
            let bit = i * t as usize;
            let (w, o) = (bit / 64, bit % 64);
            words[w] |= r << o;
            if o + t as usize > 64 {
                words[w + 1] |= r >> (64 - o);
            }
        }
        PrefixIndex {
            p,
            t,
            words,
            offsets,
            len: v.len(),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> u64 {
        let bit = i * self.t as usize;
        let (w, o) = (bit / 64, bit % 64);
        let lo = self.words[w] >> o;
        let hi = if o == 0 {
            0
        } else {
            self.words[w + 1] << (64 - o)
        };
        (lo | hi) & ((1u64 << self.t) - 1)
    }

    #[inline]
    fn contains_key(&self, key: u64) -> bool {
        let v = key >> (64 - self.p - self.t);
        let b = (v >> self.t) as usize;
        let r = v & ((1u64 << self.t) - 1);
        let (mut lo, mut hi) = (self.offsets[b] as usize, self.offsets[b + 1] as usize);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let x = self.get(mid);
            if x < r {
                lo = mid + 1;
            } else if x > r {
                hi = mid;
            } else {
                return true;
            }
        }
        false
    }

    fn bytes(&self) -> u64 {
        (self.words.len() * 8 + self.offsets.len() * 4) as u64
    }
}

/// madvise(MADV_RANDOM) on this process's mapping(s) of `path`, found in
/// /proc/self/maps. Advisory only: it changes read-around, not contents.
fn madvise_random(path: &Path) -> bool {
    let want = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let want = want.to_string_lossy().into_owned();
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return false;
    };
    let mut done = false;
    for line in maps.lines() {
        if !line.ends_with(want.as_str()) {
            continue;
        }
        let Some(range) = line.split_whitespace().next() else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
            continue;
        };
        // SAFETY: advisory call on an existing mapping; no memory is changed.
        if unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_RANDOM) } == 0 {
            done = true;
        }
    }
    done
}

/// Mean, p50 and p99 of a slice of per-lookup nanoseconds.
fn stats(ns: &[u64]) -> (f64, u64, u64) {
    if ns.is_empty() {
        return (0.0, 0, 0);
    }
    let mut v = ns.to_vec();
    v.sort_unstable();
    let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    (
        v.iter().sum::<u64>() as f64 / v.len() as f64,
        q(0.5),
        q(0.99),
    )
}

fn residency_text(r: Option<(usize, usize)>) -> String {
    match r {
        Some((res, total)) => format!(
            "{res} of {total} pages ({:.1} %)",
            100.0 * res as f64 / total.max(1) as f64
        ),
        None => "unknown (mincore failed)".to_owned(),
    }
}

/// Page faults and time of lookups on a store evicted from the page cache.
/// Returns the lines of a markdown section.
fn cold_phase(
    path: &Path,
    members: &[[u8; 20]],
    others: &[[u8; 20]],
    count: usize,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let resident_before = page_cache_residency(path);
    evict_from_page_cache(path)?;
    let resident_evicted = page_cache_residency(path);

    let f0 = faults();
    let t = Instant::now();
    let store = BreachedStore::open(path).map_err(|e| e.to_string())?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let f1 = faults();

    // Alternating non-member, member (random positions in the filters).
    let inputs: Vec<(&[u8; 20], bool)> = (0..count)
        .map(|i| {
            if i % 2 == 0 {
                (&others[(i / 2) % others.len()], false)
            } else {
                (&members[(i / 2) % members.len()], true)
            }
        })
        .collect();
    let checkpoints: Vec<usize> = [100usize, 1000, count]
        .into_iter()
        .filter(|&c| c <= count)
        .collect();
    let mut ns = Vec::with_capacity(count);
    let mut marks = vec![(0usize, faults())];
    let mut missed_members = 0usize;
    for (i, &(d, member)) in inputs.iter().enumerate() {
        let t = Instant::now();
        let hit = store.contains_hash(black_box(d));
        ns.push(t.elapsed().as_nanos() as u64);
        if member && !hit {
            missed_members += 1;
        }
        if checkpoints.contains(&(i + 1)) && marks.last().map(|m| m.0) != Some(i + 1) {
            marks.push((i + 1, faults()));
        }
    }
    let resident_after = page_cache_residency(path);
    if missed_members > 0 {
        return Err(format!("cold phase: {missed_members} members not found"));
    }

    // Second pass over the same keys: now in the page cache.
    let mut warm_ns = Vec::with_capacity(count);
    let w0 = faults();
    for &(d, _) in &inputs {
        let t = Instant::now();
        black_box(store.contains_hash(black_box(d)));
        warm_ns.push(t.elapsed().as_nanos() as u64);
    }
    let w1 = faults();

    let info = store.info();
    drop(store);

    // Again cold, with MADV_RANDOM on the store's mapping (found in
    // /proc/self/maps): no read-around, one page per major fault, as for a
    // store much larger than RAM whose pages are rarely near each other.
    evict_from_page_cache(path)?;
    let store = BreachedStore::open(path).map_err(|e| e.to_string())?;
    let advised = madvise_random(path);
    let mut rnd_ns = Vec::with_capacity(count);
    let r0 = faults();
    for &(d, _) in &inputs {
        let t = Instant::now();
        black_box(store.contains_hash(black_box(d)));
        rnd_ns.push(t.elapsed().as_nanos() as u64);
    }
    let r1 = faults();
    let resident_random = page_cache_residency(path);
    drop(store);

    out.push(format!(
        "Cold lookups: store file {} ({} after fdatasync + posix_fadvise(POSIX_FADV_DONTNEED); resident before: {}), \
         then BreachedStore::open and {count} lookups alternating non-members and members (same key generators as the table above), \
         each timed with Instant; faults are getrusage(RUSAGE_SELF) ru_majflt / ru_minflt deltas taken between lookups \
         (whole process, single-threaded). Open (cold): {open_ms:.3} ms, {} major / {} minor faults.",
        mb(info.file_bytes),
        residency_text(resident_evicted),
        residency_text(resident_before),
        f1.0 - f0.0,
        f1.1 - f0.1,
    ));
    out.push(String::new());
    out.push("| cold lookups (page cache evicted) | lookups | major faults | minor faults | major / lookup | minor / lookup | mean (ns) | p50 / p99 (ns) |".to_owned());
    out.push("|---|---|---|---|---|---|---|---|".to_owned());
    let mut window =
        |label: String, from: usize, to: usize, fa: (u64, u64), fb: (u64, u64), ns: &[u64]| {
            let k = (to - from).max(1) as f64;
            let (mean, p50, p99) = stats(&ns[from..to]);
            out.push(format!(
                "| {label} | {} | {} | {} | {:.4} | {:.4} | {:.0} | {} / {} |",
                to - from,
                fb.0 - fa.0,
                fb.1 - fa.1,
                (fb.0 - fa.0) as f64 / k,
                (fb.1 - fa.1) as f64 / k,
                mean,
                p50,
                p99
            ));
        };
    let first = marks[0];
    for &(at, f) in &marks[1..] {
        window(format!("first {at} (cumulative)"), 0, at, first.1, f, &ns);
    }
    if marks.len() >= 3 {
        let (a, fa) = marks[marks.len() - 2];
        let (b, fb) = marks[marks.len() - 1];
        window(format!("lookups {}..{}", a + 1, b), a, b, fa, fb, &ns);
    }
    window(
        "second pass, same keys (warm)".to_owned(),
        0,
        count,
        w0,
        w1,
        &warm_ns,
    );
    window(
        format!(
            "evicted again, same keys, MADV_RANDOM on the mapping ({})",
            if advised {
                "applied"
            } else {
                "NOT applied: mapping not found"
            }
        ),
        0,
        count,
        r0,
        r1,
        &rnd_ns,
    );
    out.push(String::new());

    let first_n = count.min(100);
    let (cold_mean, _, _) = stats(&ns[..first_n]);
    let (warm_mean, _, _) = stats(&warm_ns);
    let first_major = marks.get(1).map_or(0, |m| m.1 .0 - first.1 .0);
    let verdict = if first_major > 0 && cold_mean > 2.0 * warm_mean {
        "yes: eviction took effect"
    } else if first_major > 0 {
        "faults seen but not much slower (fast storage or read-ahead)"
    } else {
        "NO: no major faults in the first lookups, eviction probably did not take effect (cold numbers are not cold)"
    };
    out.push(format!(
        "Sanity check: first {first_n} cold lookups mean {cold_mean:.0} ns vs {warm_mean:.0} ns on the warm second pass \
         ({:.1}x), {first_major} major faults in them: {verdict}. Page cache after the cold loop: {}. \
         Major faults read ahead around the faulting page (the kernel's mmap read-around), so later lookups find \
         pages already cached: on this small store the later windows understate the per-lookup cost of a store much \
         larger than RAM; the first window is the closest to it, and the MADV_RANDOM row (page cache after it: {}) \
         bounds it from the other side (one page read per major fault).",
        cold_mean / warm_mean.max(1.0),
        residency_text(resident_after),
        residency_text(resident_random),
    ));
    Ok(out)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("storebench: {e}");
            }
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("storebench: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let work = args.dir.join(format!("storebench-{}", std::process::id()));
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let result = run_in(args, &work);
    let _ = fs::remove_dir_all(&work);
    result
}

fn run_in(args: &Args, work: &Path) -> Result<(), String> {
    let n = args.keys;
    let corpus = work.join("corpus.txt");
    let store_path = work.join("store.pwbf");
    let options = BuildOptions {
        kind: HashKind::Sha1,
        shards_log2: args.shards_log2,
        progress: args.progress,
        ..BuildOptions::default()
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| {
        eprintln!("{k}: {v}");
        rows.push((k.to_owned(), v));
    };

    // Phase: corpus.
    let corpus_bytes = if args.from_keys {
        None
    } else {
        let t = Instant::now();
        let bytes = write_corpus(&corpus, n).map_err(|e| format!("corpus: {e}"))?;
        row(
            "synthetic corpus (text, generated)",
            format!("{} in {:.1} s", mb(bytes), t.elapsed().as_secs_f64()),
        );
        Some(bytes)
    };

    // Phase: build.
    let rss_before = proc_status_kb("VmRSS:");
    let peak_reset = reset_peak_rss();
    let summary = if args.from_keys {
        build_from_keys(member_keys(n), &store_path, &options)
    } else {
        build(std::slice::from_ref(&corpus), &store_path, &options)
    }
    .map_err(|e| e.to_string())?;
    let peak = proc_status_kb("VmHWM:");
    if corpus_bytes.is_some() {
        let _ = fs::remove_file(&corpus);
    }
    row(
        "build",
        format!(
            "{:.1} s, {:.2} M hashes/s{}",
            summary.seconds,
            summary.lines as f64 / summary.seconds / 1e6,
            if args.from_keys {
                " (from keys)"
            } else {
                " (text parsed)"
            }
        ),
    );
    row(
        "build peak RSS (VmHWM)",
        format!(
            "{}{}, RSS before build {}",
            mb(peak),
            if peak_reset {
                " (peak reset before build)"
            } else {
                " (whole process)"
            },
            mb(rss_before)
        ),
    );
    row(
        "hashes kept / duplicates",
        format!("{} / {}", summary.hashes_kept, summary.duplicates),
    );

    let members = member_sample(n, args.lookups);
    let others = non_members(args.lookups);

    // Phase: cold lookups (before anything reads the store back).
    let cold_lines = if args.cold_lookups > 0 {
        cold_phase(&store_path, &members, &others, args.cold_lookups)?
    } else {
        Vec::new()
    };

    // Phase: open and verify (file in the page cache).
    let t = Instant::now();
    let store = BreachedStore::open(&store_path).map_err(|e| e.to_string())?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    row("open (header + index)", format!("{open_ms:.3} ms"));
    let t = Instant::now();
    store.verify().map_err(|e| e.to_string())?;
    row(
        "verify (CRC-32 of the whole file)",
        format!("{:.1} ms", t.elapsed().as_secs_f64() * 1e3),
    );
    let info = store.info();
    row(
        "store size",
        format!(
            "{} = {:.3} bytes/hash",
            mb(info.file_bytes),
            info.bytes_per_hash
        ),
    );
    let est_1b = estimated_file_bytes(1_000_000_000, args.shards_log2);
    row(
        "store size at 1e9 hashes",
        format!(
            "{} by xorf's sizing formula ({:.3} bytes/hash); {} at this run's bytes/hash",
            mb(est_1b),
            est_1b as f64 / 1e9,
            mb((info.bytes_per_hash * 1e9) as u64)
        ),
    );

    // Phase: lookups.
    let overhead = timer_overhead_ns();
    row(
        "timer overhead (p50, included below)",
        format!("{overhead} ns"),
    );
    let hit = time_lookups(&members, |d| store.contains_hash(d));
    if hit.hits != members.len() {
        return Err(format!(
            "{} of {} members not found",
            members.len() - hit.hits,
            members.len()
        ));
    }
    let miss = time_lookups(&others, |d| store.contains_hash(d));
    let fp_rate = miss.hits as f64 / others.len() as f64;
    let passwords: Vec<Password> = (0..100_000)
        .map(|i| Password::new(format!("bench-password-{i}")))
        .collect();
    let with_hashing = time_lookups(&passwords, |p| store.contains_password(p));

    let mut table = vec![format!(
        "| structure | bytes/hash | member p50 / p99 (ns) | member mean, untimed loop (ns) | non-member p50 / p99 (ns) | non-member mean, untimed loop (ns) | false positives |"
    ), "|---|---|---|---|---|---|---|".to_owned()];
    table.push(format!(
        "| pwgate store (mmap, binary fuse 16) | {:.3} | {} / {} | {:.0} | {} / {} | {:.0} | {} of {} = {:.2e} (theory 1.53e-5) |",
        info.bytes_per_hash,
        hit.p50,
        hit.p99,
        hit.mean_untimed,
        miss.p50,
        miss.p99,
        miss.mean_untimed,
        miss.hits,
        others.len(),
        fp_rate
    ));

    // The alternative design: exact truncated sorted hashes, prefix index.
    let log2n = (n as f64).log2().ceil() as u32;
    let p0 = log2n.saturating_sub(4).max(1);
    for p in [p0, p0.saturating_sub(2).max(1)] {
        let per_bucket = n as f64 / (1u64 << p) as f64;
        // FP ≈ keys per bucket / 2^T: pick T for at most 2^-16, the filter's.
        let t = ((per_bucket.log2() + 16.0).ceil() as u32)
            .clamp(1, 64 - p)
            .min(57);
        let tb = Instant::now();
        let idx = PrefixIndex::build(member_keys(n), p, t);
        let build_s = tb.elapsed().as_secs_f64();
        let h = time_lookups(&members, |d| idx.contains_key(key_of_digest(d)));
        if h.hits != members.len() {
            return Err(format!(
                "prefix index: {} members not found",
                members.len() - h.hits
            ));
        }
        let m = time_lookups(&others, |d| idx.contains_key(key_of_digest(d)));
        table.push(format!(
            "| alternative: truncated sorted hashes + prefix index (P={p} bucket bits, T={t} stored bits, u32 offset per bucket), in RAM | {:.3} ({:.3} entries + {:.3} offsets) | {} / {} | {:.0} | {} / {} | {:.0} | {} of {} = {:.2e} (theory {:.2e}) |",
            idx.bytes() as f64 / n as f64,
            (idx.words.len() * 8) as f64 / n as f64,
            (idx.offsets.len() * 4) as f64 / n as f64,
            h.p50, h.p99, h.mean_untimed,
            m.p50, m.p99, m.mean_untimed,
            m.hits, others.len(), m.hits as f64 / others.len() as f64,
            idx.len as f64 / (1u64 << (p + t)) as f64,
        ));
        row(
            &format!("alternative prefix index P={p} T={t} build (keys generated, sorted, packed)"),
            format!("{build_s:.1} s, {:.1} keys per bucket", per_bucket),
        );
        drop(idx);
    }

    if args.baseline {
        let rss0 = proc_status_kb("VmRSS:");
        let t = Instant::now();
        let mut set: HashSet<u64> = HashSet::with_capacity(n as usize);
        set.extend(member_keys(n));
        let set_build = t.elapsed().as_secs_f64();
        let rss1 = proc_status_kb("VmRSS:");
        // hashbrown: buckets = capacity * 8 / 7 rounded up to a power of
        // two; 8 bytes per bucket plus one control byte.
        let buckets = (set.capacity() * 8 / 7).next_power_of_two() as u64;
        let set_bytes = buckets * 9 + 16;
        let h = time_lookups(&members, |d| set.contains(&key_of_digest(d)));
        let m = time_lookups(&others, |d| set.contains(&key_of_digest(d)));
        table.push(format!(
            "| baseline: HashSet<u64> (SipHash), in RAM | {:.3} (RSS +{}) | {} / {} | {:.0} | {} / {} | {:.0} | {} |",
            set_bytes as f64 / set.len() as f64,
            mb(rss1.saturating_sub(rss0)),
            h.p50,
            h.p99,
            h.mean_untimed,
            m.p50,
            m.p99,
            m.mean_untimed,
            m.hits
        ));
        drop(set);
        row("baseline HashSet build", format!("{set_build:.1} s"));

        let t = Instant::now();
        let mut sorted: Vec<u64> = member_keys(n).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let vec_build = t.elapsed().as_secs_f64();
        let h = time_lookups(&members, |d| {
            sorted.binary_search(&key_of_digest(d)).is_ok()
        });
        let m = time_lookups(&others, |d| sorted.binary_search(&key_of_digest(d)).is_ok());
        table.push(format!(
            "| baseline: sorted Vec<u64>, binary search, in RAM | 8.000 | {} / {} | {:.0} | {} / {} | {:.0} | {} |",
            h.p50, h.p99, h.mean_untimed, m.p50, m.p99, m.mean_untimed, m.hits
        ));
        row("baseline sorted Vec build", format!("{vec_build:.1} s"));
    }

    println!();
    println!(
        "storebench: {} synthetic SHA-1 hashes, 2^{} shards, {} member and {} non-member lookups, store in page cache",
        n, args.shards_log2, args.lookups, args.lookups
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    for (k, v) in &rows {
        println!("| {k} | {v} |");
    }
    println!(
        "| contains_password (SHA-1 + lookup) | p50 {} ns, p99 {} ns, mean {:.0} ns |",
        with_hashing.p50, with_hashing.p99, with_hashing.mean_untimed
    );
    println!();
    for line in &table {
        println!("{line}");
    }
    println!();
    println!(
        "p50/p99 time each lookup with Instant (about {overhead} ns of it is the timer); means come from an untimed loop. \
         HashSet bytes/hash: hashbrown's table size for its capacity. \
         Prefix index bytes/hash: packed T-bit entries plus the (2^P + 1) u32 offsets, over the n keys."
    );
    if !cold_lines.is_empty() {
        println!();
        for line in &cold_lines {
            println!("{line}");
        }
    }
    Ok(())
}
