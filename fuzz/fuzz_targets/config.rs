//! The config parser and validator on arbitrary text: errors, never panics.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pwgate::config::{Config, FileConfig, Overrides};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    if let Ok(file) = FileConfig::parse(text, path) {
        let _ = Config::from_parts(file, text, Some(path), &Overrides::default());
    }
});
