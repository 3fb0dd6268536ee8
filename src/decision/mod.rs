//! The product's core decision, shared by every door (the LDAP proxy,
//! `pwgate check`, and the hooks and API to come): whose password it is
//! and which names and organisation count for it ([`target`]).
//!
//! This module is being lifted out of the LDAP session step by step; what
//! is here is already the one copy every door uses.

pub mod target;
