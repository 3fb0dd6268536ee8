//! The frame splitter and peek on arbitrary bytes: never panics, never
//! reports a frame longer than the input or the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwgate::proxy::frame::{frame_len, peek};

fuzz_target!(|data: &[u8]| {
    let limit = 64 * 1024;
    let mut rest = data;
    while let Ok(Some(len)) = frame_len(rest, limit) {
        assert!(len <= rest.len() && len <= limit);
        let _ = peek(&rest[..len]);
        rest = &rest[len..];
    }
});
