#![allow(dead_code)]
pub mod slapd;
