//! `pwgate store update` against a local stand-in for the Pwned Passwords
//! range API (tests/common/hibp.rs), with faults: 5xx, 429 with
//! Retry-After, answers cut short, dropped connections, slow answers and
//! bodies,
//! bodies that are not the format, a range that stops the run, a range that
//! changes between runs, and an HTTP proxy. The store it builds answers
//! exactly like one built by `pwgate store build` from the same data.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::hibp::{ConnectProxy, Fault, Mode, RangeApi};
use common::process::PWGATE;
use common::slapd::test_certs;
use pwgate::breached::BreachedStore;

/// The ranges of these tests: 256, under ABC.
const PREFIX: &str = "ABC";
const FIRST: u32 = 0xABC00;
const COUNT: u32 = 256;

fn ranges() -> impl Iterator<Item = u32> {
    FIRST..FIRST + COUNT
}

/// Runs `pwgate store update` (bounded by the test's own timeouts: the
/// retries' waits are milliseconds here).
fn update(api: &RangeApi, state: &Path, store: &Path, extra: &[&str]) -> Output {
    let certs = test_certs();
    Command::new(PWGATE)
        .args([
            "store",
            "update",
            "--quiet",
            "--only-prefix",
            PREFIX,
            "--backoff-ms",
            "5",
        ])
        .args(["--url", &api.url()])
        .arg("--ca")
        .arg(&certs.ca)
        .arg("--state")
        .arg(state)
        .arg("-o")
        .arg(store)
        .args(["--timeout", "5"])
        .args(extra)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .expect("run pwgate store update")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `pwgate store build` of exactly these hashes.
fn reference(dir: &Path, hashes: &[(String, u64)], kind: &str, min_count: u64) -> PathBuf {
    let input = dir.join(format!("hashes-{kind}-{min_count}.txt"));
    let lines: Vec<String> = hashes.iter().map(|(h, c)| format!("{h}:{c}")).collect();
    std::fs::write(&input, lines.join("\n") + "\n").expect("write the hashes");
    let store = dir.join(format!("reference-{kind}-{min_count}.store"));
    let out = Command::new(PWGATE)
        .args(["store", "build", "--quiet", "--format", kind, "--min-count"])
        .arg(min_count.to_string())
        .arg(&input)
        .arg("-o")
        .arg(&store)
        .output()
        .expect("run pwgate store build");
    assert!(out.status.success(), "{}", text(&out));
    store
}

/// Both stores answer the same for every served hash and for hashes
/// around them (same prefix, other suffixes).
fn assert_same_answers(a: &Path, b: &Path, hashes: &[(String, u64)], digest_len: usize) {
    let a = BreachedStore::open(a).expect("open the updated store");
    let b = BreachedStore::open(b).expect("open the reference store");
    assert_eq!(
        a.info().keys,
        b.info().keys,
        "not the same number of hashes"
    );
    for (hash, _) in hashes {
        let bytes = hex_bytes(hash);
        assert_eq!(a.contains_hash(&bytes), b.contains_hash(&bytes), "{hash}");
    }
    for i in 0..2000u32 {
        let mut bytes = vec![0u8; digest_len];
        bytes[0] = 0xAB;
        bytes[1] = 0xC0 | (i % 16) as u8;
        bytes[2..6].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        assert_eq!(
            a.contains_hash(&bytes),
            b.contains_hash(&bytes),
            "probe {i}"
        );
    }
}

#[test]
fn a_run_with_faults_builds_the_store_that_store_build_would() {
    let api = RangeApi::start();
    // Faults on some ranges, each cleared by a retry.
    api.state
        .queue(FIRST + 1, &[Fault::Unavailable, Fault::Unavailable]);
    api.state.queue(FIRST + 2, &[Fault::TooMany(1)]);
    api.state.queue(FIRST + 3, &[Fault::CutShort]);
    api.state.queue(FIRST + 4, &[Fault::Dropped]);
    api.state
        .queue(FIRST + 5, &[Fault::Slow(Duration::from_millis(300))]);
    api.state.queue(FIRST + 6, &[Fault::Garbage]);
    // A body that trickles in, within the timeout: taken, not retried.
    api.state
        .queue(FIRST + 8, &[Fault::SlowBody(Duration::from_millis(100))]);
    // One slower than the timeout (4 x 1.5 s against 5 s): retried.
    api.state
        .queue(FIRST + 10, &[Fault::SlowBody(Duration::from_millis(1500))]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, store) = (dir.path().join("state"), dir.path().join("pwned.store"));
    let started = std::time::Instant::now();
    let out = update(&api, &state, &store, &["--parallel", "8"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("256 ranges (256 downloaded, 0 unchanged"),
        "{stdout}"
    );
    // Retry-After: 1 was honoured.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        api.state
            .faults_served
            .load(std::sync::atomic::Ordering::Relaxed),
        9
    );
    let requests = |p: u32| api.state.requests.lock().unwrap()[&p];
    assert_eq!(requests(FIRST + 8), 1, "the slow body was retried");
    assert_eq!(requests(FIRST + 10), 2, "the too-slow body was not retried");
    assert_eq!(
        api.state.padded.load(std::sync::atomic::Ordering::Relaxed),
        api.state.total_requests()
    );
    let hashes: Vec<(String, u64)> = api.state.hashes(ranges(), Mode::Sha1).into_iter().collect();
    assert!(hashes.len() > 256 * 2, "{}", hashes.len());
    let reference = reference(dir.path(), &hashes, "sha1", 1);
    assert_same_answers(&store, &reference, &hashes, 20);
    // The state directory is a range-file directory store build reads too.
    let rebuilt = dir.path().join("rebuilt.store");
    let out = Command::new(PWGATE)
        .args(["store", "build", "--quiet", "--format", "sha1"])
        .arg(state.join("ranges"))
        .arg("-o")
        .arg(&rebuilt)
        .output()
        .expect("store build");
    assert!(out.status.success(), "{}", text(&out));
    assert_same_answers(&rebuilt, &reference, &hashes, 20);
    assert!(
        !state.join("progress").exists(),
        "a finished run leaves no progress file"
    );
    // No padding entry (count 0) is kept.
    let one = std::fs::read_to_string(state.join("ranges").join("ABC07")).expect("a range file");
    assert!(!one.contains(":0\n") && one.lines().count() >= 2, "{one}");

    // A refresh: nothing changed, so every range answers 304 and nothing
    // is downloaded; one range changes, and only that one comes again.
    let out = update(&api, &state, &store, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(0 downloaded, 256 unchanged"),
        "{}",
        text(&out)
    );
    let old: Vec<(String, u64)> = common::hibp::entries(FIRST + 9, 0, Mode::Sha1);
    api.state.bump(FIRST + 9);
    let out = update(&api, &state, &store, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(1 downloaded, 255 unchanged"),
        "{}",
        text(&out)
    );
    let now = BreachedStore::open(&store).expect("open");
    for (hash, _) in &old {
        assert!(
            !now.contains_hash(&hex_bytes(hash)),
            "{hash} of the old range is still in"
        );
    }
    for (hash, _) in common::hibp::entries(FIRST + 9, 1, Mode::Sha1) {
        assert!(
            now.contains_hash(&hex_bytes(&hash)),
            "{hash} of the new range is missing"
        );
    }
}

#[test]
fn an_interrupted_run_continues_and_the_old_store_stays_until_the_new_is_whole() {
    let api = RangeApi::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, store) = (dir.path().join("state"), dir.path().join("pwned.store"));
    std::fs::write(&store, b"the store in use").expect("an old store");
    // One range stops the run (a 404 is not retried).
    api.state.queue(FIRST + 200, &[Fault::NotFound]);
    let out = update(&api, &state, &store, &["--parallel", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("range ABCC8: answered 404") && err.contains("run the same command again"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&store).expect("old store"),
        b"the store in use",
        "the old store was replaced"
    );
    assert!(state.join("progress").exists());
    let etag_lines = |dir: &Path| {
        std::fs::read_to_string(dir.join("etags"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let logged = etag_lines(&state);
    assert!(logged > 0, "the ETags of the finished ranges are kept");
    let first_run = api.state.total_requests();
    assert!(first_run < 256, "{first_run}");
    // Again: only what was not finished is asked for.
    let out = update(&api, &state, &store, &["--parallel", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let second_run = api.state.total_requests() - first_run;
    assert!(
        second_run <= 256 - first_run + 2,
        "asked {second_run} again after {first_run}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("done before"), "{stdout}");
    // The ETag log, compacted: one line per range.
    assert_eq!(etag_lines(&state), 256);
    let hashes: Vec<(String, u64)> = api.state.hashes(ranges(), Mode::Sha1).into_iter().collect();
    assert_same_answers(
        &store,
        &reference(dir.path(), &hashes, "sha1", 1),
        &hashes,
        20,
    );
}

#[test]
fn a_range_that_keeps_failing_stops_the_run_with_its_name() {
    let api = RangeApi::start();
    api.state.queue(FIRST + 17, &[Fault::Unavailable; 10]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, store) = (dir.path().join("state"), dir.path().join("pwned.store"));
    let out = update(&api, &state, &store, &["--retries", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("range ABC11: answered 503 (gave up after 4 attempts)"),
        "{err}"
    );
    assert!(!store.exists(), "no partial store is put in place");
    assert_eq!(api.state.requests.lock().unwrap()[&(FIRST + 17)], 4);
}

#[test]
fn ntlm_mode_min_count_and_a_proxy() {
    let api = RangeApi::start();
    let proxy = ConnectProxy::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, store) = (
        dir.path().join("state"),
        dir.path().join("pwned-ntlm.store"),
    );
    let proxy_url = format!("http://{}", proxy.addr);
    let out = update(
        &api,
        &state,
        &store,
        &[
            "--hash",
            "ntlm",
            "--min-count",
            "20",
            "--proxy",
            &proxy_url,
            "--parallel",
            "4",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(proxy.tunnels.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let hashes: Vec<(String, u64)> = api.state.hashes(ranges(), Mode::Ntlm).into_iter().collect();
    let reference = reference(dir.path(), &hashes, "ntlm", 20);
    assert_same_answers(&store, &reference, &hashes, 16);
    // The same state directory cannot take SHA-1 ranges now.
    let out = update(&api, &state, &store, &["--hash", "sha1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds ntlm ranges, not sha1"),
        "{}",
        text(&out)
    );
    let kept = BreachedStore::open(&store).expect("open").info().keys;
    let at_least_20 = hashes.iter().filter(|(_, c)| *c >= 20).count() as u64;
    assert_eq!(kept, at_least_20);
    assert!(kept < hashes.len() as u64);
}

#[test]
fn bad_options_are_usage_errors() {
    let api = RangeApi::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (state, store) = (dir.path().join("state"), dir.path().join("s.store"));
    for (extra, expect) in [
        (&["--url", "http://127.0.0.1:1"][..], "https:// only"),
        (&["--proxy", "https://127.0.0.1:1"][..], "http://host:port"),
        (&["--only-prefix", "XYZ"][..], "hex digits"),
        (&["--hash", "md5"][..], "md5"),
    ] {
        let certs = test_certs();
        let url = if extra.contains(&"--url") {
            vec![]
        } else {
            vec!["--url".to_owned(), api.url()]
        };
        let out = Command::new(PWGATE)
            .args(["store", "update", "--quiet"])
            .args(&url)
            .arg("--ca")
            .arg(&certs.ca)
            .arg("--state")
            .arg(&state)
            .arg("-o")
            .arg(&store)
            .args(extra)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expect),
            "{extra:?}: {}",
            text(&out)
        );
    }
    // A CA that does not sign the server: TLS fails, retried, then the run stops.
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(
        &other_ca,
        std::fs::read(&test_certs().server_cert).expect("cert"),
    )
    .expect("write");
    let out = Command::new(PWGATE)
        .args([
            "store",
            "update",
            "--quiet",
            "--only-prefix",
            "ABCD",
            "--retries",
            "1",
            "--backoff-ms",
            "5",
        ])
        .args(["--url", &api.url()])
        .arg("--ca")
        .arg(&other_ca)
        .arg("--state")
        .arg(&state)
        .arg("-o")
        .arg(&store)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS"),
        "{}",
        text(&out)
    );
    assert_eq!(api.state.total_requests(), 0);
}
