//! The breached-password store end to end: building from every input
//! layout, looking up passwords and hashes, the policy hook, damaged files,
//! and the false-positive rate.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use pwgate::breached::{
    build, build_from_keys, key_of_digest, BreachedStore, BuildOptions, HashKind, InputFormat,
    StoreError,
};
use pwgate::policy::rules::breached::{self, BreachedCorpus};
use pwgate::policy::Rule;
use pwgate::secret::Password;

const SHA1_PASSWORD: &str = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";
const NTLM_PASSWORD: &str = "8846F7EAEE8FB117AD06BDD830B7586C";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn sha1_hex(password: &str) -> String {
    hex(HashKind::Sha1.hash_password(password).as_bytes())
}

fn ntlm_hex(password: &str) -> String {
    hex(HashKind::Ntlm.hash_password(password).as_bytes())
}

fn pw(s: &str) -> Password {
    Password::new(s.to_owned())
}

fn options(kind: HashKind) -> BuildOptions {
    BuildOptions {
        kind,
        ..BuildOptions::default()
    }
}

fn write(path: &Path, text: &str) -> PathBuf {
    fs::write(path, text).expect("write input");
    path.to_path_buf()
}

fn write_gz(path: &Path, text: &str) -> PathBuf {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(text.as_bytes()).expect("compress");
    fs::write(path, enc.finish().expect("compress")).expect("write input");
    path.to_path_buf()
}

/// splitmix64: reproducible random keys.
fn random_keys(seed: u64, n: usize) -> Vec<u64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
        .collect()
}

/// Passwords that are not in the small test stores.
const ABSENT: [&str; 4] = [
    "tangerine-Otter-42-lamp",
    "Kv7#qLp2-Tz9!mWd",
    "correct horse battery staple 9",
    "",
];

/// A small store with "password", "123456" and "qwerty" (SHA-1).
fn small_sha1_store(dir: &Path) -> PathBuf {
    let input = write(
        &dir.join("pwned.txt"),
        &format!(
            "{SHA1_PASSWORD}:10437277\r\n{}:37615252\r\n{}\r\n",
            sha1_hex("123456").to_ascii_lowercase(),
            sha1_hex("qwerty"),
        ),
    );
    let out = dir.join("sha1.pwbf");
    build(&[input], &out, &options(HashKind::Sha1)).expect("build");
    out
}

#[test]
fn known_hashes_of_password() {
    assert_eq!(sha1_hex("password"), SHA1_PASSWORD);
    assert_eq!(ntlm_hex("password"), NTLM_PASSWORD);
}

#[test]
fn single_sha1_file_finds_its_passwords_and_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = small_sha1_store(dir.path());
    let store = BreachedStore::open(&out).expect("open");
    for present in ["password", "123456", "qwerty"] {
        assert!(store.contains_password(&pw(present)), "{present}");
        assert_eq!(store.contains(&pw(present)), Ok(true));
    }
    for absent in ABSENT {
        assert!(!store.contains_password(&pw(absent)));
        assert_eq!(store.contains(&pw(absent)), Ok(false));
    }
    let digest = HashKind::Sha1.hash_password("password");
    assert!(store.contains_hash(digest.as_bytes()));
    assert!(
        !store.contains_hash(&digest.as_bytes()[..16]),
        "wrong length"
    );
    assert!(store.contains_key(key_of_digest(digest.as_bytes())));

    let info = store.info();
    assert_eq!(info.kind, HashKind::Sha1);
    assert_eq!(info.keys, 3);
    assert_eq!(info.shards, 256);
    assert_eq!(info.file_bytes, fs::metadata(&out).expect("stat").len());
    assert_eq!(info.fingerprint_bits, 16);
    assert_eq!(info.false_positive_rate, 1.0 / 65536.0);
    assert!(info.created_unix > 1_600_000_000);
    assert!(info.to_string().contains("2^-16"));
    store.verify().expect("verify");
    assert!(!store.is_marked_bad());

    // Nothing but the store is left next to it.
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn ntlm_range_directory_with_gzip_and_other_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ranges = dir.path().join("ranges");
    fs::create_dir(&ranges).expect("mkdir");
    let entry = |password: &str, count: u64| {
        let h = ntlm_hex(password);
        (h[..5].to_owned(), format!("{}:{count}\r\n", &h[5..]))
    };
    let (prefix, line) = entry("password", 8_000_000);
    assert_eq!(prefix, "8846F");
    write(&ranges.join(format!("{prefix}.txt")), &line);
    let (prefix, line) = entry("letmein", 40);
    write_gz(
        &ranges.join(format!("{}.txt.gz", prefix.to_ascii_lowercase())),
        &line,
    );
    write(&ranges.join("README.md"), "not a range file\n");
    fs::create_dir(ranges.join("ABCDE")).expect("mkdir");

    let out = dir.path().join("ntlm.pwbf");
    let summary = build(&[ranges], &out, &options(HashKind::Ntlm)).expect("build");
    assert_eq!(summary.hashes_kept, 2);
    assert_eq!(summary.ignored_files, 2);
    assert_eq!(summary.bad_lines, 0);
    let store = BreachedStore::open(&out).expect("open");
    assert_eq!(store.kind(), HashKind::Ntlm);
    assert!(store.contains_password(&pw("password")));
    assert!(store.contains_password(&pw("letmein")));
    assert!(!store.contains_password(&pw("Password")));
    for absent in ABSENT {
        assert!(!store.contains_password(&pw(absent)));
    }
}

#[test]
fn gzip_single_file_and_several_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write_gz(
        &dir.path().join("a.txt.gz"),
        &format!("{SHA1_PASSWORD}:5\n"),
    );
    // A gzip file is recognised by its magic bytes, not its name.
    let b = write_gz(
        &dir.path().join("b.txt"),
        &format!("{}:7\n", sha1_hex("dragon")),
    );
    let c = write(
        &dir.path().join("c.txt"),
        &format!("{}\n", sha1_hex("monkey")),
    );
    let out = dir.path().join("s.pwbf");
    let summary = build(&[a, b, c], &out, &options(HashKind::Sha1)).expect("build");
    assert_eq!(summary.lines, 3);
    assert_eq!(summary.hashes_kept, 3);
    let store = BreachedStore::open(&out).expect("open");
    for present in ["password", "dragon", "monkey"] {
        assert!(store.contains_password(&pw(present)), "{present}");
    }
}

#[test]
fn min_count_drops_rare_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        &dir.path().join("counts.txt"),
        &format!(
            "{}:1\n{}:5\n{}:10\n{}\n",
            sha1_hex("rare"),
            sha1_hex("five"),
            sha1_hex("ten"),
            sha1_hex("countless"),
        ),
    );
    let out = dir.path().join("s.pwbf");
    let summary = build(
        &[input],
        &out,
        &BuildOptions {
            min_count: 5,
            ..options(HashKind::Sha1)
        },
    )
    .expect("build");
    assert_eq!(summary.below_min_count, 2, "count 1 and no count (1)");
    assert_eq!(summary.hashes_kept, 2);
    let store = BreachedStore::open(&out).expect("open");
    assert_eq!(store.info().min_count, 5);
    assert!(!store.contains_password(&pw("rare")));
    assert!(!store.contains_password(&pw("countless")));
    assert!(store.contains_password(&pw("five")));
    assert!(store.contains_password(&pw("ten")));
}

#[test]
fn duplicates_are_counted_and_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = sha1_hex("password");
    let input = write(
        &dir.path().join("dups.txt"),
        &format!(
            "{h}:3\n{}:4\n{h}\n{}:1\n",
            h.to_ascii_lowercase(),
            sha1_hex("other")
        ),
    );
    let out = dir.path().join("s.pwbf");
    let summary = build(&[input], &out, &options(HashKind::Sha1)).expect("build");
    assert_eq!(summary.lines, 4);
    assert_eq!(summary.duplicates, 2);
    assert_eq!(summary.hashes_kept, 2);
    let store = BreachedStore::open(&out).expect("open");
    assert_eq!(store.info().keys, 2);
    assert!(store.contains_password(&pw("password")));
}

#[test]
fn bad_lines_under_the_threshold_are_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        &dir.path().join("mixed.txt"),
        &format!(
            "{SHA1_PASSWORD}:1\nnot a hash\n\n{}:x\n{NTLM_PASSWORD}:3\n{}:2\n",
            sha1_hex("a"),
            sha1_hex("b")
        ),
    );
    let out = dir.path().join("s.pwbf");
    let summary = build(std::slice::from_ref(&input), &out, &options(HashKind::Sha1))
        .expect("3 bad lines are under the default threshold of 1000");
    assert_eq!(summary.lines, 6);
    assert_eq!(summary.bad_lines, 3);
    let at = |n: u64| format!("{}:{n}", input.display());
    assert_eq!(summary.first_bad_lines, vec![at(2), at(4), at(5)]);
    assert_eq!(summary.hashes_kept, 2);
    let store = BreachedStore::open(&out).expect("open");
    assert!(store.contains_password(&pw("password")));
    assert!(store.contains_password(&pw("b")));
}

#[test]
fn bad_lines_over_the_threshold_fail_without_an_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        &dir.path().join("bad.txt"),
        &format!("{SHA1_PASSWORD}\nx\ny\nz\n"),
    );
    let out = dir.path().join("s.pwbf");
    let explicit = BuildOptions {
        max_bad_lines: Some(2),
        ..options(HashKind::Sha1)
    };
    match build(std::slice::from_ref(&input), &out, &explicit) {
        Err(StoreError::TooManyBadLines {
            bad,
            allowed,
            first,
            ..
        }) => {
            assert_eq!((bad, allowed), (3, 2));
            assert!(first.contains("bad.txt:2"), "{first}");
        }
        other => panic!("expected too many bad lines, got {other:?}"),
    }
    assert!(!out.exists());
    // Default threshold: max(1% of lines, 1000). 1001 bad lines of 1002.
    let mut text = format!("{SHA1_PASSWORD}\n");
    text.push_str(&"junk\n".repeat(1001));
    let input = write(&dir.path().join("junk.txt"), &text);
    let err = build(&[input], &out, &options(HashKind::Sha1)).expect_err("too many");
    assert!(matches!(
        err,
        StoreError::TooManyBadLines {
            bad: 1001,
            allowed: 1000,
            ..
        }
    ));
    assert!(!out.exists());
    // Only the input files remain: no spill directory, no .tmp.
    assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 2);
}

#[test]
fn a_sha1_build_of_ntlm_lines_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!("{NTLM_PASSWORD}:1\n").repeat(1200);
    let input = write(&dir.path().join("ntlm.txt"), &text);
    let err = build(
        &[input],
        &dir.path().join("s.pwbf"),
        &options(HashKind::Sha1),
    )
    .expect_err("every line is bad for SHA-1");
    assert!(matches!(err, StoreError::TooManyBadLines { bad: 1200, .. }));
}

#[test]
fn empty_input_makes_a_valid_empty_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(&dir.path().join("empty.txt"), "");
    let out = dir.path().join("empty.pwbf");
    let summary = build(&[input], &out, &options(HashKind::Sha1)).expect("build");
    assert_eq!(summary.hashes_kept, 0);
    assert_eq!(summary.bytes_per_hash(), 0.0);
    let store = BreachedStore::open(&out).expect("open");
    store.verify().expect("verify");
    assert_eq!(store.info().keys, 0);
    for key in random_keys(5, 100_000) {
        assert!(!store.contains_key(key));
    }
    assert!(!store.contains_password(&pw("password")));
}

#[test]
fn plain_wordlists_in_both_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = write(
        &dir.path().join("words.txt"),
        "password\r\nS\u{e9}cret-1\n\ncorrect horse\n",
    );
    for kind in [HashKind::Sha1, HashKind::Ntlm] {
        let out = dir.path().join(format!("{kind}.pwbf"));
        let summary = build(
            std::slice::from_ref(&list),
            &out,
            &BuildOptions {
                input_format: InputFormat::Plain,
                ..options(kind)
            },
        )
        .expect("build");
        assert_eq!(summary.hashes_kept, 3);
        let store = BreachedStore::open(&out).expect("open");
        assert_eq!(store.kind(), kind);
        for present in ["password", "S\u{e9}cret-1", "correct horse"] {
            assert!(store.contains_password(&pw(present)), "{kind} {present}");
        }
        assert!(!store.contains_password(&pw("correct")));
        let digest = kind.hash_password("password");
        assert!(store.contains_hash(digest.as_bytes()));
    }
    // A wordlist directory is refused; min_count needs counts.
    let plain = BuildOptions {
        input_format: InputFormat::Plain,
        ..options(HashKind::Sha1)
    };
    assert!(matches!(
        build(
            &[dir.path().to_path_buf()],
            &dir.path().join("x.pwbf"),
            &plain
        ),
        Err(StoreError::BadInput { .. })
    ));
}

#[test]
fn errors_name_the_input_but_never_a_line_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "my-very-secret-wordlist-line";
    let mut text = String::new();
    for _ in 0..3 {
        text.push_str(secret);
        text.push('\n');
    }
    // Invalid UTF-8 lines are bad lines of a wordlist.
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe-secret\n\xff\n");
    let input = dir.path().join("words.txt");
    fs::write(&input, &bytes).expect("write");
    let err = build(
        &[input],
        &dir.path().join("s.pwbf"),
        &BuildOptions {
            input_format: InputFormat::Plain,
            max_bad_lines: Some(1),
            ..options(HashKind::Ntlm)
        },
    )
    .expect_err("two bad lines");
    let text = err.to_string();
    assert!(text.contains("words.txt:4"), "{text}");
    assert!(
        !text.contains("secret-wordlist") && !text.contains("-secret"),
        "{text}"
    );

    let missing = dir.path().join("missing.txt");
    let err = build(
        &[missing],
        &dir.path().join("s.pwbf"),
        &options(HashKind::Sha1),
    )
    .expect_err("missing input");
    assert!(err.to_string().contains("missing.txt"), "{err}");
}

#[test]
fn the_policy_hook_refuses_breached_passwords_and_fails_closed_after_a_bad_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = small_sha1_store(dir.path());
    let corpus: Arc<dyn BreachedCorpus> = Arc::new(BreachedStore::open(&out).expect("open"));
    let refused = breached::check(&pw("password"), corpus.as_ref(), false);
    assert_eq!(refused.map(|v| v.rule), Some(Rule::Breached));
    assert_eq!(
        breached::check(&pw(ABSENT[0]), corpus.as_ref(), false),
        None
    );

    // Damage a body byte: the store opens, verify fails, and from then on
    // the rule refuses (fail closed) or allows (fail open) every password.
    let mut bytes = fs::read(&out).expect("read");
    let at = bytes.len() - 20;
    bytes[at] ^= 0x40;
    let damaged = dir.path().join("damaged.pwbf");
    fs::write(&damaged, bytes).expect("write");
    let store = Arc::new(BreachedStore::open(&damaged).expect("open"));
    let background = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.verify())
    };
    assert!(background.join().expect("thread").is_err());
    let corpus: Arc<dyn BreachedCorpus> = store;
    assert_eq!(
        breached::check(&pw(ABSENT[0]), corpus.as_ref(), false).map(|v| v.rule),
        Some(Rule::Breached)
    );
    assert_eq!(breached::check(&pw(ABSENT[0]), corpus.as_ref(), true), None);
}

fn flip(path: &Path, at: usize) -> PathBuf {
    let mut bytes = fs::read(path).expect("read");
    bytes[at] ^= 0x01;
    let damaged = path.with_extension(format!("flip{at}"));
    fs::write(&damaged, bytes).expect("write");
    damaged
}

#[test]
fn damaged_header_or_index_fails_to_open_and_damaged_bodies_fail_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = small_sha1_store(dir.path());
    let len = fs::metadata(&out).expect("stat").len() as usize;
    let body_start = 64 + 48 * 256;

    // Every byte of the header and the shard index is checked at open.
    for at in 0..body_start {
        let damaged = flip(&out, at);
        let err = BreachedStore::open(&damaged).expect_err("damaged header or index");
        assert!(
            err.to_string().contains(&*damaged.to_string_lossy()),
            "{err}"
        );
        fs::remove_file(damaged).expect("remove");
    }
    let err = BreachedStore::open(&flip(&out, 0)).expect_err("magic");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    let err = BreachedStore::open(&flip(&out, 8)).expect_err("version");
    assert!(
        matches!(err, StoreError::UnsupportedVersion { found: 0, .. }),
        "{err}"
    );
    let err = BreachedStore::open(&flip(&out, 20)).expect_err("header checksum");
    assert!(err.to_string().contains("header checksum"), "{err}");
    let err = BreachedStore::open(&flip(&out, 100)).expect_err("index checksum");
    assert!(err.to_string().contains("index checksum"), "{err}");

    // A body byte opens (no full read at open) but fails verify, and the
    // store then answers the policy with an error instead of a verdict.
    for at in [body_start, (body_start + len) / 2, len - 17] {
        let damaged = flip(&out, at);
        let store = BreachedStore::open(&damaged).expect("bodies are not read at open");
        assert!(store.contains(&pw("password")).is_ok());
        let err = store.verify().expect_err("checksum");
        assert!(matches!(err, StoreError::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&*damaged.to_string_lossy()));
        assert!(store.is_marked_bad());
        let answer = store.contains(&pw("password")).expect_err("marked bad");
        assert!(!answer.contains("password\""), "{answer}");
        assert!(answer.contains("checksum"), "{answer}");
    }
    // The trailer's checksum itself.
    let store = BreachedStore::open(&flip(&out, len - 6)).expect("open");
    assert!(store.verify().is_err());
    // The trailer's magic is checked at open.
    assert!(BreachedStore::open(&flip(&out, len - 16)).is_err());
}

#[test]
fn truncated_extended_and_foreign_files_fail_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = small_sha1_store(dir.path());
    let bytes = fs::read(&out).expect("read");
    let short = dir.path().join("short.pwbf");
    for len in [0, 10, 63, 64, 1000, bytes.len() / 2, bytes.len() - 1] {
        fs::write(&short, &bytes[..len]).expect("write");
        let err = BreachedStore::open(&short).expect_err("truncated");
        assert!(matches!(err, StoreError::Truncated { .. }), "{len}: {err}");
        assert!(err.to_string().contains("short.pwbf"), "{err}");
    }
    let mut long = bytes.clone();
    long.extend_from_slice(b"extra");
    fs::write(&short, &long).expect("write");
    assert!(matches!(
        BreachedStore::open(&short),
        Err(StoreError::Truncated { .. })
    ));
    let text = dir.path().join("pwned.txt");
    let err = BreachedStore::open(&text).expect_err("a text file");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    let err = BreachedStore::open(&dir.path().join("absent.pwbf")).expect_err("missing");
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
}

#[test]
fn rebuilding_replaces_the_store_atomically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = small_sha1_store(dir.path());
    let old = BreachedStore::open(&out).expect("open");
    let input = write(
        &dir.path().join("new.txt"),
        &format!("{}\n", sha1_hex("new")),
    );
    build(&[input], &out, &options(HashKind::Sha1)).expect("rebuild");
    // The open store still answers from the old file.
    assert!(old.contains_password(&pw("password")));
    old.verify().expect("old file intact");
    let new = BreachedStore::open(&out).expect("open");
    assert!(new.contains_password(&pw("new")));
    assert!(!new.contains_password(&pw("password")));
}

#[test]
fn shard_counts_from_one_to_many() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = random_keys(11, 20_000);
    for shards_log2 in [0u8, 3, 8, 10] {
        let out = dir.path().join(format!("k{shards_log2}.pwbf"));
        let summary = build_from_keys(
            keys.iter().copied(),
            &out,
            &BuildOptions {
                shards_log2,
                ..options(HashKind::Sha1)
            },
        )
        .expect("build");
        assert_eq!(summary.hashes_kept, 20_000);
        let store = BreachedStore::open(&out).expect("open");
        store.verify().expect("verify");
        assert_eq!(store.info().shards, 1 << shards_log2);
        assert!(keys.iter().all(|&k| store.contains_key(k)), "{shards_log2}");
    }
}

#[test]
fn false_positive_rate_is_about_two_to_the_minus_16() {
    let dir = tempfile::tempdir().expect("tempdir");
    let members = random_keys(1, 1_000_000);
    let out = dir.path().join("million.pwbf");
    let summary =
        build_from_keys(members.iter().copied(), &out, &options(HashKind::Sha1)).expect("build");
    assert_eq!(summary.hashes_kept, 1_000_000);
    // xorf over-allocates more for small filters: ~3,900 keys a shard here
    // take 2.7 bytes per key; about 2.25 at full scale.
    let per_hash = summary.bytes_per_hash();
    assert!((2.2..2.8).contains(&per_hash), "{per_hash}");
    let store = BreachedStore::open(&out).expect("open");
    assert!(
        members.iter().all(|&k| store.contains_key(k)),
        "no false negatives"
    );
    let false_positives = random_keys(2, 1_000_000)
        .into_iter()
        .filter(|&k| store.contains_key(k))
        .count();
    let rate = false_positives as f64 / 1e6;
    assert!(rate < 1e-4, "false-positive rate {rate}");
}
