//! See `pwgate::fuzzing::strict` for what this target checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pwgate::fuzzing::strict(data));
