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
//! search. Bounded: `--keys` at most 1,000,000,000; the temporary files are
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

    // Phase: open and verify (file in the page cache, just written).
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
    let members = member_sample(n, args.lookups);
    let others = non_members(args.lookups);
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
         HashSet bytes/hash: hashbrown's table size for its capacity."
    );
    Ok(())
}
