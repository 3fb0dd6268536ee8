#![allow(dead_code)]
pub mod doors;
pub mod hibp;
pub mod https;
pub mod process;
pub mod pwgate;
pub mod raw;
pub mod samba;
pub mod slapd;
pub mod tools;
pub mod wine;
pub mod wire;
