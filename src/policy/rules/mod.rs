//! One file per rule family. Each rule looks at a [`PasswordChange`] and
//! returns the violations it finds; none of them does I/O.
//!
//! [`PasswordChange`]: super::PasswordChange

pub mod account_name;
pub mod banned;
pub mod breached;
pub mod classes;
pub mod common;
pub mod length;
pub mod patterns;
pub mod regex;
pub mod similarity;
pub mod strength;
