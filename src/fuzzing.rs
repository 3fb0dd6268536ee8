//! Entry points for the fuzz targets in `fuzz/`, kept in the library so that
//! `cargo test` replays the seed corpora and every input that once crashed
//! (`tests/fuzz_regressions.rs`) through exactly the same code.
//!
//! Each function takes arbitrary bytes and must never panic; the assertions
//! inside state what must hold for any input.

use std::path::Path;

use crate::config::{Config, FileConfig, Overrides};
use crate::proxy::frame::{frame_len, op, peek};
use crate::proxy::intercept::{
    inspect_bind, inspect_extended, inspect_modify_dn, inspect_modify_or_add, Extended, Inspection,
};
use crate::proxy::request::Request;

/// Frame splitting and peeking over a byte stream.
pub fn frame(data: &[u8]) {
    let limit = 64 * 1024;
    let mut rest = data;
    while let Ok(Some(len)) = frame_len(rest, limit) {
        assert!(
            len <= rest.len() && len <= limit,
            "frame longer than input or limit"
        );
        assert!(len >= 2, "a frame has at least a tag and a length");
        let _ = peek(&rest[..len]);
        rest = &rest[len..];
    }
}

/// Password-operation recognition on one frame (the first one in `data`),
/// as the session does it: the strict reading first, then the inspection.
pub fn intercept(data: &[u8]) {
    let Ok(Some(len)) = frame_len(data, 1 << 20) else {
        return;
    };
    let frame = &data[..len];
    let Ok(p) = peek(frame) else {
        return;
    };
    if !op::read_strictly(p.op) {
        return;
    }
    let Ok(request) = crate::proxy::request::parse(frame) else {
        return;
    };
    assert_eq!(request.msgid, p.msgid);
    let _ = summary(&request);
}

/// What the session decides on, for comparing two readings.
fn summary(request: &Request<'_>) -> String {
    match p_op(request) {
        op::MODIFY_REQUEST | op::ADD_REQUEST => match inspect_modify_or_add(request) {
            Inspection::Password(o) => {
                assert!(!o.new_passwords.is_empty());
                format!(
                    "password {:?} {:?} {:?} new={} old={}",
                    o.kind,
                    o.attribute,
                    o.target,
                    o.new_passwords.len(),
                    o.old_password.is_some()
                )
            }
            Inspection::NotPassword => "not password".into(),
            Inspection::Undecodable(u) => format!("refused {}", u.reason),
        },
        op::MODDN_REQUEST => format!("{:?}", inspect_modify_dn(request)),
        op::EXTENDED_REQUEST => match inspect_extended(request) {
            Extended::Password(Inspection::Password(o)) => format!(
                "password modify {:?} {:?} new={} old={}",
                o.kind,
                o.target,
                o.new_passwords.len(),
                o.old_password.is_some()
            ),
            other => format!("{other:?}"),
        },
        _ => format!("{:?}", inspect_bind(request)),
    }
}

fn p_op(request: &Request<'_>) -> u8 {
    request.operation.tag()
}

/// The strict reading of requests: whatever it accepts has a canonical
/// encoding that it reads again as the same request (so what pwgate
/// checked is what it forwards), that is its own canonical encoding, and
/// that is the input itself when the input was flagged canonical.
pub fn strict(data: &[u8]) {
    let Ok(Some(len)) = frame_len(data, 1 << 20) else {
        return;
    };
    let frame = &data[..len];
    let Ok(request) = crate::proxy::request::parse(frame) else {
        return;
    };
    let canonical = request.canonical();
    if request.is_canonical() {
        assert_eq!(
            &canonical[..],
            frame,
            "a canonical frame is forwarded as sent"
        );
    }
    assert!(
        canonical.len() <= frame.len(),
        "re-encoding never grows a request"
    );
    let again = crate::proxy::request::parse(&canonical).expect("the canonical form reads back");
    assert!(again.is_canonical(), "the canonical form is canonical");
    assert_eq!(&again.canonical()[..], &canonical[..]);
    assert_eq!(again.msgid, request.msgid);
    assert_eq!(
        summary(&again),
        summary(&request),
        "the forwarded bytes read as the request that was checked"
    );
}

/// The config parser and validator on arbitrary text.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Ok(file) = FileConfig::parse(text, path) {
        let _ = Config::from_parts(file, text, Some(path), &Overrides::default());
    }
}

/// The breached-password store loader on arbitrary file contents: opening
/// either fails with an error or gives a store whose lookups and
/// verification stay inside the file.
pub fn store(data: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("pwgate-fuzz-store-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join(format!("{}.store", N.fetch_add(1, Ordering::Relaxed) % 4));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(store) = crate::breached::BreachedStore::open(&path) {
        let _ = store.info();
        for key in [0u64, 1, u64::MAX, 0x5BAA_61E4_C9B9_3F3F] {
            let _ = store.contains_key(key);
        }
        let _ = store.verify();
    }
}
