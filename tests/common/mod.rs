#![allow(dead_code)]
pub mod pwgate;
pub mod slapd;
pub mod tools;
