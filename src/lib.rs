//! pwgate: an LDAP proxy that refuses weak passwords before the directory
//! sees them.
//!
//! Clients connect to pwgate instead of the directory. Every message that is
//! not a password operation passes through byte for byte; password
//! operations are decoded, checked against a policy and either refused with
//! an LDAP error that names the failed rules, or forwarded unchanged.
//!
//! The modules, in the order a message meets them:
//!
//! - [`proxy::listener`] accepts connections (plain with StartTLS, LDAPS),
//!   enforces the connection limit and shuts down gracefully: each session
//!   gets a [`proxy::shutdown::Shutdown`], finishes what is in flight and
//!   closes with a Notice of Disconnection.
//! - [`proxy::session`] runs one client connection: a pump from the client
//!   to the directory and one back, sharing who is bound and which password
//!   answers are awaited for the audit trail.
//! - [`proxy::frame`] splits byte streams into LDAPMessages by their outer
//!   BER header only, and peeks at message ID and operation; [`ber`] is the
//!   small BER reader and writer underneath, and [`ldap_op`] names the
//!   operations (protocolOp tags) for the proxy and the metrics alike.
//! - [`proxy::request`] reads every Bind, Modify, Add, ModifyDN and
//!   Extended request strictly (exact tags, definite lengths, every element
//!   consumed, RFC 4512 attribute descriptions) or refuses it, and writes
//!   the canonical encoding that is forwarded, so the directory reads
//!   exactly what pwgate decided on.
//! - [`proxy::intercept`] recognises password operations (Modify/Add of
//!   `unicodePwd` or `userPassword`, RFC 3062 Password Modify) in a request
//!   read strictly and turns them into a
//!   [`proxy::intercept::PasswordOperation`].
//! - [`policy`] decides, without I/O: [`policy::Policy::evaluate`] turns a
//!   [`policy::PasswordChange`] into a [`policy::Verdict`].
//! - [`proxy::reply`] builds the refusals (result code 19 with the failed
//!   rules, the Password Policy response control, AD's `0000052D:` prefix),
//!   StartTLS answers and Notices of Disconnection.
//! - [`proxy::upstream`] connects to the directory (plain, LDAPS or
//!   StartTLS, CA-verified) with failover over several URLs; [`tls`] builds
//!   the rustls configurations from PEM files, for pwgate's listeners and
//!   for every connection it opens to a directory.
//! - [`audit`] writes one event per decision and per directory answer.
//! - [`metrics`] counts connections, forwarded requests, decisions and
//!   upstream connects; [`proxy::status`] serves them as `/metrics`, with
//!   `/healthz` and `/readyz`.
//! - [`config`] reads and validates the TOML file and command-line flags.
//! - [`check`] runs `pwgate check`: lists of candidates through the policy.
//! - [`decision`] is the core every door shares: today whose names count
//!   for an account ([`decision::target`]).
//! - [`directory`] looks up the names and groups of accounts over a
//!   service-account connection opened by [`ldapclient`].
//! - [`sync`] writes accepted passwords to other directories, from
//!   bounded in-memory queues with retries.
//! - [`dn`] parses DNs (RFC 4514) into a form that can be compared.
//!
//! Lower layers import nothing above them: [`ber`], [`ldap_op`], [`dn`],
//! [`secret`], [`tls`] and [`policy`] stand alone, [`ldapclient`] (with
//! `UpstreamUrl`) and [`directory`] do not import [`config`], and
//! [`metrics`] does not import the proxy; there are no import cycles
//! between modules.
//! - [`secret`] holds passwords in memory that is wiped and never printed.
//! - [`logging`] sets up log output with a filter that keeps third-party
//!   decoders from ever logging message contents.
//! - [`hardening`] forbids core dumps of a process that holds passwords.
//! - [`fuzzing`] holds the bodies of the fuzz targets, replayed by `cargo test`.

pub mod audit;
pub mod ber;
pub mod breached;
pub mod check;
pub mod config;
pub mod decision;
pub mod directory;
pub mod dn;
pub mod fuzzing;
pub mod hardening;
pub mod hook;
pub mod ldap_op;
pub mod ldapclient;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod proxy;
pub mod secret;
pub mod service;
pub mod sync;
pub mod tls;
