//! Replays the fuzz seed corpora (`fuzz/seeds/<target>/`) and every input
//! that once crashed a target (`fuzz/regressions/<target>/`) through the
//! same functions the cargo-fuzz targets call, so plain `cargo test` keeps
//! them fixed without a nightly compiler.

use std::fs;
use std::path::{Path, PathBuf};

use pwgate::proxy::frame::{frame_len, peek};
use pwgate::proxy::intercept::{inspect_extended, inspect_modify_or_add, Extended, Inspection};
use pwgate::proxy::request;

fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let data = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, data)
        })
        .collect()
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut n = 0;
    for kind in ["seeds", "regressions"] {
        for (path, data) in inputs(kind, target) {
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target} panicked on {}", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn frame_corpus_replays_without_panics() {
    assert!(
        replay("frame", pwgate::fuzzing::frame) >= 5,
        "frame seeds missing"
    );
}

#[test]
fn intercept_corpus_replays_without_panics() {
    assert!(
        replay("intercept", pwgate::fuzzing::intercept) >= 15,
        "intercept seeds missing"
    );
}

/// The strict reading's property (what it accepts re-encodes to a request
/// read the same way) on the intercept seeds and the strict target's own.
#[test]
fn strict_corpus_replays_without_panics() {
    let n =
        replay("intercept", pwgate::fuzzing::strict) + replay("strict", pwgate::fuzzing::strict);
    assert!(n >= 15, "strict seeds missing");
}

/// Requests written by real clients (ldap3, ldapmodify, ldappasswd: the
/// `ldap3-*` and `ldap-utils-*` seeds) are already canonical, so pwgate
/// forwards their own bytes.
#[test]
fn real_client_requests_are_canonical() {
    let mut n = 0;
    for (path, data) in inputs("seeds", "intercept") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue; // found by the fuzzer, not written by a client
        }
        let Ok(Some(len)) = frame_len(&data, 1 << 20) else {
            continue;
        };
        let Ok(p) = peek(&data[..len]) else { continue };
        if !pwgate::proxy::frame::op::read_strictly(p.op) {
            continue;
        }
        let r = request::parse(&data[..len])
            .unwrap_or_else(|e| panic!("{name}: refused: {}", e.reason));
        assert!(r.is_canonical(), "{name} is not canonical");
        n += 1;
    }
    assert!(n >= 6, "only {n} client requests among the seeds");
}

#[test]
fn store_corpus_replays_without_panics() {
    assert!(
        replay("store", pwgate::fuzzing::store) >= 2,
        "store seeds missing"
    );
}

#[test]
fn config_corpus_replays_without_panics() {
    assert!(
        replay("config", pwgate::fuzzing::config) >= 1,
        "config seeds missing"
    );
}

/// The seeds are real client requests: among them are the password
/// operations the fuzzer should mutate (otherwise it would only explore
/// rejection paths).
#[test]
fn intercept_seeds_contain_real_password_operations() {
    let mut passwords = 0;
    for (_, data) in inputs("seeds", "intercept") {
        let Ok(Some(len)) = frame_len(&data, 1 << 20) else {
            continue;
        };
        let Ok(p) = peek(&data[..len]) else { continue };
        let Ok(request) = request::parse(&data[..len]) else {
            continue;
        };
        let found = match p.op {
            0x66 | 0x68 => matches!(inspect_modify_or_add(&request), Inspection::Password(_)),
            0x77 => matches!(
                inspect_extended(&request),
                Extended::Password(Inspection::Password(_))
            ),
            _ => false,
        };
        passwords += usize::from(found);
    }
    assert!(
        passwords >= 6,
        "only {passwords} password operations among the seeds"
    );
}
