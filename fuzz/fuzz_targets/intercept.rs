//! Password-operation decoding on arbitrary complete frames: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pwgate::proxy::frame::{frame_len, op, peek};
use pwgate::proxy::intercept::{inspect_bind, inspect_extended, inspect_modify_or_add};

fuzz_target!(|data: &[u8]| {
    let Ok(Some(len)) = frame_len(data, 1 << 20) else {
        return;
    };
    let frame = &data[..len];
    let Ok(p) = peek(frame) else {
        return;
    };
    match p.op {
        op::MODIFY_REQUEST | op::ADD_REQUEST => {
            let _ = inspect_modify_or_add(frame, p);
        }
        op::EXTENDED_REQUEST => {
            let _ = inspect_extended(frame, p);
        }
        op::BIND_REQUEST => {
            let _ = inspect_bind(frame);
        }
        _ => {}
    }
});
