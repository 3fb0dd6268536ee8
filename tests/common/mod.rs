#![allow(dead_code)]
pub mod pwgate;
pub mod raw;
pub mod slapd;
pub mod tools;
