//! Entry points for the fuzz targets in `fuzz/`, kept in the library so that
//! `cargo test` replays the seed corpora and every input that once crashed
//! (`tests/fuzz_regressions.rs`) through exactly the same code.
//!
//! Each function takes arbitrary bytes and must never panic; the assertions
//! inside state what must hold for any input.

use std::path::Path;

use crate::config::{Config, FileConfig, Overrides};
use crate::proxy::frame::{frame_len, op, peek};
use crate::proxy::intercept::{inspect_bind, inspect_extended, inspect_modify_or_add, Inspection};

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

/// Password-operation recognition on one frame (the first one in `data`).
pub fn intercept(data: &[u8]) {
    let Ok(Some(len)) = frame_len(data, 1 << 20) else {
        return;
    };
    let frame = &data[..len];
    let Ok(p) = peek(frame) else {
        return;
    };
    match p.op {
        op::MODIFY_REQUEST | op::ADD_REQUEST => {
            if let Inspection::Password(operation) = inspect_modify_or_add(frame, p) {
                assert_eq!(operation.msgid, p.msgid);
                assert!(!operation.new_passwords.is_empty());
            }
        }
        op::EXTENDED_REQUEST => {
            let _ = inspect_extended(frame, p);
        }
        op::BIND_REQUEST => {
            let _ = inspect_bind(frame);
        }
        _ => {}
    }
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
