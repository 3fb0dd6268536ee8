//! A bounded differential fuzzer: pwgate against the real slapd and the
//! real Samba AD DC.
//!
//! pwgate never accepts the weak password `Password1!` (too short for its
//! built-in policy, and a common password). So if a request carrying it,
//! sent through pwgate, leaves the account able to bind with it, pwgate
//! forwarded something it did not decide on: pwgate and the server read the
//! request differently. Each such outcome is a landing, and a landing fails
//! the test.
//!
//! How it runs, per server:
//!
//! - Seeds are real password requests, each carrying `Password1!` as the
//!   new value. slapd: a userPassword change (delete old + add new) by the
//!   user, a replace reset by the helpdesk account, an Add with userPassword
//!   by the rootdn, and RFC 3062 Password Modify with oldPasswd (by the
//!   user) and without it (by the helpdesk). Samba: a unicodePwd change by
//!   the user, resets by Administrator and by the delegated helpdesk
//!   account, and an Add of an enabled user with unicodePwd.
//! - Each test case parses a seed into a BER tree and applies one to three
//!   mutations drawn by a seeded xorshift generator: lengths rewritten
//!   (`80 LL` as Samba reads it, bare `80`, indefinite form, harmless long
//!   forms 0x81/0x82/0x84, off by one), tag class and constructed bits
//!   flipped, a trailing element appended inside a SEQUENCE (a sibling's
//!   copy, a hidden weak change or attribute, junk), elements tucked into
//!   the previous one or hidden behind a decoy, duplicated, removed,
//!   reordered; attribute descriptions with NUL and junk, spaces,
//!   options, case changes, numeric OIDs with leading zeros, other
//!   credential attributes; DNs with NUL, case and spaces; controls
//!   appended (random OIDs, the AD security-descriptor flags control with
//!   odd values, non-DER criticality 0x01); Password Modify fields retagged,
//!   duplicated (with a strong decoy), swapped and removed.
//! - The mutated request goes through pwgate on an already-bound encrypted
//!   connection (LDAPS, or StartTLS for one seed per server), reconnecting
//!   when pwgate or the server closed it. Then a direct bind to the server
//!   tells whether `Password1!` now works for the target account. After a
//!   landing the mutation is recorded (hex) and the account is reset
//!   directly on the server; the run goes on and fails at the end, listing
//!   every landing. An account left without its strong password by a
//!   forwarded mutation (e.g. a server-generated password) is reset too.
//! - Control set: now and then every seed is sent unmutated with a fresh
//!   strong password; each must be accepted and bind on the server. This
//!   proves the run is not merely refusing everything.
//!
//! Bounds: `PWGATE_DIFF_MUTATIONS` test cases per server (default 3000,
//! split across the seeds), at most `PWGATE_DIFF_SECONDS` per server
//! (default 60), PRNG seed `PWGATE_DIFF_SEED` (decimal or 0x-hex; printed
//! in the summary so a run can be replayed); `PWGATE_DIFF_TRACE=1` prints
//! every test case with its mutations and answer. All traffic stays on
//! 127.0.0.0/8 and every read has a timeout. The Samba test shares this
//! binary's DC (tests/common/samba.rs: no lockout, no history, minimum age
//! 0, so repeated changes and failed binds are harmless) and works on users
//! it creates; it is skipped with a notice when not run as root.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::pwgate::Pwgate;
use common::raw::{addr_of, extended_request, int, tlv, OID_PASSWORD_MODIFY};
use common::samba::{self, ADMIN_DN, ADMIN_PW, HELPDESK_DN, HELPDESK_PW, STAFF_DN, USERS_DN};
use common::slapd::{self, user_dn, Slapd};
use common::tools::hex;
use common::wire::{
    add_request, attribute, change, control, delete_request, modify_request, passwd_modify_value,
    unicode_pwd_value, Answer, Body, Conn, Len, Node, Reply, Security, MOD_ADD, MOD_DELETE,
    MOD_REPLACE, OID_SD_FLAGS, WEAK,
};

const DEFAULT_MUTATIONS: usize = 3000;
const DEFAULT_SECONDS: u64 = 60;
const DEFAULT_SEED: u64 = 0x5eed_d1ff_2024_0001;
/// Control rounds (every seed, unmutated, strong) happen this often.
const CONTROL_EVERY: usize = 500;
/// The wait for one answer through pwgate.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------
// Settings and the generator

struct Settings {
    mutations: usize,
    budget: Duration,
    seed: u64,
}

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let raw = raw.trim();
    let parsed = match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => raw.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={raw:?}: {e}")))
}

fn settings() -> Settings {
    Settings {
        mutations: env_number("PWGATE_DIFF_MUTATIONS").map_or(DEFAULT_MUTATIONS, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        }),
        budget: Duration::from_secs(env_number("PWGATE_DIFF_SECONDS").unwrap_or(DEFAULT_SECONDS)),
        seed: env_number("PWGATE_DIFF_SEED").unwrap_or(DEFAULT_SEED),
    }
}

/// xorshift64* (Vigna): small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Never zero; mix the seed so nearby seeds diverge at once.
        let mut r = Rng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1);
        for _ in 0..4 {
            r.next();
        }
        r
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `k` in `n`.
    fn chance(&mut self, k: usize, n: usize) -> bool {
        self.below(n) < k
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Words for strong passwords (`tangerine-Otter-42-lamp` style): common
/// enough to read, four of them are a passphrase for pwgate's policy, and
/// with the capital, digits and hyphens they pass the DC's complexity.
const WORDS: &[&str] = &[
    "tangerine",
    "otter",
    "lamp",
    "quartz",
    "pelican",
    "ribbon",
    "maple",
    "harbor",
    "violin",
    "copper",
    "meadow",
    "lantern",
    "walnut",
    "glacier",
    "saffron",
    "thistle",
    "cobalt",
    "juniper",
    "falcon",
    "pebble",
    "orchid",
    "canyon",
    "biscuit",
    "compass",
    "velvet",
    "mosaic",
    "tundra",
    "paprika",
    "walrus",
    "zephyr",
    "lagoon",
    "quiver",
    "marble",
    "origami",
    "sparrow",
    "nutmeg",
];

/// A strong password never handed out before in this run.
fn strong_password(rng: &mut Rng, counter: &mut u32) -> String {
    *counter += 1;
    let mut pick = || *rng.pick(WORDS);
    let (a, b, c) = loop {
        let (a, b, c) = (pick(), pick(), pick());
        if a != b && b != c && a != c {
            break (a, b, c);
        }
    };
    let mut b = b.to_owned();
    b[..1].make_ascii_uppercase();
    format!("{a}-{b}-{}-{c}", 10 + *counter % 90)
}

// ---------------------------------------------------------------------------
// What is fuzzed

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Slapd,
    Samba,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeedKind {
    /// Modify: delete the old value, add the new one (bound as the target).
    Change,
    /// Modify: replace (bound as someone allowed to reset).
    Reset,
    /// Add of a new entry carrying the password.
    Add,
    /// Password Modify with userIdentity, oldPasswd and newPasswd.
    ExopChange,
    /// Password Modify with userIdentity and newPasswd.
    ExopReset,
}

struct Seed {
    label: &'static str,
    kind: SeedKind,
    /// Who binds through pwgate; `None`: the target itself.
    actor: Option<String>,
    /// Whose password; `None` for an Add (a fresh entry each time).
    target: Option<String>,
    security: Security,
}

impl Seed {
    fn actor(&self) -> &str {
        self.actor
            .as_deref()
            .or(self.target.as_deref())
            .expect("a seed has an actor or a target")
    }
}

/// One server under test and pwgate in front of it.
struct Setup {
    flavor: Flavor,
    gate: Pwgate,
    direct: SocketAddr,
    direct_security: Security,
    admin_dn: String,
    admin_pw: String,
    seeds: Vec<Seed>,
    /// Current password of every account used (actors and targets).
    passwords: HashMap<String, String>,
    /// Restarts a server that died (same address and data), if possible.
    restart: Option<Box<dyn FnMut()>>,
}

impl Setup {
    fn attr(&self) -> &'static str {
        match self.flavor {
            Flavor::Slapd => "userPassword",
            Flavor::Samba => "unicodePwd",
        }
    }

    /// The attribute value that sets `password`.
    fn value(&self, password: &str) -> Vec<u8> {
        match self.flavor {
            Flavor::Slapd => password.as_bytes().to_vec(),
            Flavor::Samba => unicode_pwd_value(password),
        }
    }

    fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::Slapd => "slapd",
            Flavor::Samba => "samba",
        }
    }
}

/// What mutations may plant: `(attribute, value)` pairs that set the weak
/// password on this server, and a strong decoy value.
struct Plant {
    attr: &'static str,
    hidden: Vec<(Vec<u8>, Vec<u8>)>,
    decoy: Vec<u8>,
    samba: bool,
}

// ---------------------------------------------------------------------------
// Mutations

fn is_change(n: &Node) -> bool {
    matches!(n.children().map(Vec::as_slice), Some([op, attr, ..]) if n.tag == 0x30 && op.tag == 0x0a && attr.tag == 0x30)
}

fn is_attribute(n: &Node) -> bool {
    matches!(n.children().map(Vec::as_slice), Some([name, vals, ..]) if n.tag == 0x30 && name.tag == 0x04 && vals.tag == 0x31)
}

/// Every element's path except the messageID's.
fn mutable_paths(tree: &Node) -> Vec<Vec<usize>> {
    tree.paths()
        .into_iter()
        .filter(|p| p.as_slice() != [0])
        .collect()
}

fn pick_path(rng: &mut Rng, paths: Vec<Vec<usize>>) -> Option<Vec<usize>> {
    (!paths.is_empty()).then(|| paths[rng.below(paths.len())].clone())
}

fn parent_of<'a>(tree: &'a mut Node, path: &[usize]) -> Option<(&'a mut Vec<Node>, usize)> {
    let (last, parent) = path.split_last()?;
    let siblings = tree.at_mut(parent)?.children_mut()?;
    (*last < siblings.len()).then_some((siblings, *last))
}

fn path_str(path: &[usize]) -> String {
    let parts: Vec<String> = path.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join("."))
}

/// A change or attribute that looks harmless, of the same shape as `like`.
fn decoy(rng: &mut Rng, like: &Node, plant: &Plant) -> Node {
    if is_change(like) {
        let op = *rng.pick(&[MOD_DELETE, MOD_REPLACE, MOD_ADD]);
        let name: &[u8] = if rng.chance(1, 2) {
            plant.attr.as_bytes()
        } else {
            b"description"
        };
        let values: &[&[u8]] = if op == MOD_DELETE || rng.chance(1, 2) {
            &[]
        } else {
            &[b"decoy"]
        };
        Node::parse(&change(op, name, values)).expect("well-formed")
    } else {
        let name = *rng.pick(&[&b"description"[..], b"sn", b"cn", b"displayName"]);
        Node::parse(&attribute(name, &[b"decoy"])).expect("well-formed")
    }
}

/// A trailing element for `append`.
fn trailing_element(rng: &mut Rng, siblings: &[Node], plant: &Plant) -> (Node, &'static str) {
    let (name, value) = rng.pick(&plant.hidden).clone();
    match rng.below(6) {
        0 if !siblings.is_empty() => (rng.pick(siblings).clone(), "a sibling's copy"),
        0 | 1 => (
            Node::parse(&change(
                *rng.pick(&[MOD_ADD, MOD_REPLACE]),
                &name,
                &[&value],
            ))
            .expect("well-formed"),
            "a hidden weak change",
        ),
        2 => (
            Node::parse(&attribute(&name, &[&value])).expect("well-formed"),
            "a hidden weak attribute",
        ),
        3 => (Node::prim(0x04, &value), "a weak value"),
        _ => {
            let junk = *rng.pick(&[
                &[0x04u8, 0x00][..],
                &[0x05, 0x00],
                &[0x01, 0x01, 0xff],
                &[0x30, 0x00],
                &[0x31, 0x00],
                &[0x0a, 0x01, 0x00],
            ]);
            (Node::parse(junk).expect("well-formed"), "junk")
        }
    }
}

/// Paths of attribute descriptions (the first element of an attribute).
fn name_paths(tree: &Node) -> Vec<Vec<usize>> {
    mutable_paths(tree)
        .into_iter()
        .filter(|p| p.last() == Some(&0) && tree.at(&p[..p.len() - 1]).is_some_and(is_attribute))
        .collect()
}

fn flip_case(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|b| {
            if b.is_ascii_alphabetic() && rng.chance(1, 2) {
                b ^ 0x20
            } else {
                *b
            }
        })
        .collect()
}

/// A new attribute description for `old`, with what was done.
fn rename(rng: &mut Rng, old: &[u8], plant: &Plant) -> (Vec<u8>, String) {
    let with = |suffix: &[u8]| [old, suffix].concat();
    let numeric: &[&str] = if plant.samba {
        &[
            "1.2.840.113556.1.4.90",
            "1.2.840.113556.1.4.090",
            "1.2.840.113556.01.4.90",
            "01.2.840.113556.1.4.90",
            "OID.1.2.840.113556.1.4.90",
        ]
    } else {
        &[
            "2.5.4.35",
            "2.5.4.035",
            "2.5.04.35",
            "02.5.4.35",
            "OID.2.5.4.35",
        ]
    };
    let others: &[&[u8]] = if plant.samba {
        &[
            b"clearTextPassword",
            b"clearTextPassword\0x",
            b"userPassword",
            b"unicodePwd\0",
            b"dBCSPwd",
        ]
    } else {
        &[
            b"authPassword",
            b"userPassword\0x",
            b"unicodePwd",
            b"2.5.4.35\0x",
            b"userPassword;binary\0x",
        ]
    };
    match rng.below(10) {
        0 => (with(b"\0junk"), "NUL+junk".into()),
        1 => (with(b"\0"), "trailing NUL".into()),
        2 => {
            let variants: [(Vec<u8>, &str); 4] = [
                ([&b" "[..], old].concat(), "leading space"),
                (with(b" "), "trailing space"),
                (with(b"\t"), "trailing tab"),
                (
                    [&old[..old.len() / 2], &b" "[..], &old[old.len() / 2..]].concat(),
                    "inner space",
                ),
            ];
            let (v, what) = rng.pick(&variants).clone();
            (v, what.into())
        }
        3 => {
            let opt = *rng.pick(&[&b";binary"[..], b";x-y", b";lang-en", b";BINARY", b";"]);
            (
                with(opt),
                format!("option {}", String::from_utf8_lossy(opt)),
            )
        }
        4 => (flip_case(rng, old), "case".into()),
        5 => {
            let oid = *rng.pick(numeric);
            (oid.as_bytes().to_vec(), format!("numeric {oid}"))
        }
        6 => {
            let other = *rng.pick(others);
            (
                other.to_vec(),
                format!("renamed {}", String::from_utf8_lossy(other).escape_debug()),
            )
        }
        7 => {
            let odd = *rng.pick(&[&b"\x7f"[..], b"\xff", b"\n", b"\r\n", b"\x00\x00"]);
            (with(odd), format!("odd bytes {}", hex(odd)))
        }
        8 => ([&b"\0"[..], old].concat(), "leading NUL".into()),
        _ => (
            plant.attr.as_bytes().to_vec(),
            "renamed to the password attribute".into(),
        ),
    }
}

/// Strips the quotes of quoted UTF-16LE values (for clearTextPassword).
fn unquote(value: &[u8]) -> Vec<u8> {
    if value.len() >= 4 && value.starts_with(b"\"\0") && value.ends_with(b"\"\0") {
        value[2..value.len() - 2].to_vec()
    } else {
        value.to_vec()
    }
}

/// A control for `append control`.
fn random_control(rng: &mut Rng) -> (Vec<u8>, String) {
    let criticality = *rng.pick(&[None, None, Some(0xffu8), Some(0x01), Some(0x00)]);
    let odd_sd_values: [Option<Vec<u8>>; 7] = [
        None,
        Some(int(0x02, 7)),
        Some(tlv(0x30, &int(0x02, 7))),
        Some(tlv(0x30, &[])),
        Some(vec![]),
        Some(vec![0x04, 0x00]),
        Some(vec![0xff, 0x00, 0x30]),
    ];
    match rng.below(5) {
        0 | 1 => {
            let value = rng.pick(&odd_sd_values).clone();
            (
                control(OID_SD_FLAGS, criticality, value.as_deref()),
                format!(
                    "SD flags control, criticality {criticality:?}, value {}",
                    value.as_deref().map_or("none".into(), hex)
                ),
            )
        }
        2 => (
            common::raw::paged_results_control(1 + rng.below(100) as u32),
            "paged results control".into(),
        ),
        3 => {
            let oid = format!("1.3.6.1.4.1.{}.{}", rng.below(60000), rng.below(100));
            let value = match rng.below(3) {
                0 => None,
                1 => Some(vec![rng.next() as u8; 1 + rng.below(4)]),
                _ => Some(int(0x02, rng.below(1000) as u32)),
            };
            (
                control(&oid, criticality, value.as_deref()),
                format!("control {oid}, criticality {criticality:?}"),
            )
        }
        _ => (
            control("1.3.6.1.4.1.42.2.27.8.5.1", criticality, None),
            "ppolicy request control".into(),
        ),
    }
}

/// Applies one random mutation; `None` when the drawn one does not apply.
fn mutate_once(rng: &mut Rng, tree: &mut Node, plant: &Plant) -> Option<(&'static str, String)> {
    match rng.below(15) {
        // Length forms.
        0 | 1 => {
            let mut paths = mutable_paths(tree);
            paths.push(vec![]);
            let path = pick_path(rng, paths)?;
            let forms: &[(Len, &str)] = if path.is_empty() {
                // The outer length frames the stream: only harmless forms.
                &[
                    (Len::Long(1), "0x81"),
                    (Len::Long(2), "0x82"),
                    (Len::Long(4), "0x84"),
                ]
            } else {
                &[
                    (Len::Samba80, "80 LL"),
                    (Len::Samba80, "80 LL"),
                    (Len::Bare80, "bare 80"),
                    (Len::Indefinite, "indefinite"),
                    (Len::Long(1), "0x81"),
                    (Len::Long(2), "0x82"),
                    (Len::Long(4), "0x84"),
                    (Len::Delta(1), "+1"),
                    (Len::Delta(-1), "-1"),
                ]
            };
            let (form, what) = *rng.pick(forms);
            tree.at_mut(&path)?.len = form;
            Some(("length", format!("length {what} at {}", path_str(&path))))
        }
        // Tags.
        2 => {
            let path = pick_path(rng, mutable_paths(tree))?;
            let node = tree.at_mut(&path)?;
            let old = node.tag;
            let new = match rng.below(6) {
                0 => old ^ 0x20,
                1 => old ^ 0x40,
                2 => old ^ 0x80,
                3 => old ^ 0xc0,
                4 => match old {
                    0x30 => 0x31,
                    0x31 => 0x30,
                    0x04 => *rng.pick(&[0x0c, 0x13, 0x80]),
                    0x0a => 0x02,
                    0x02 => 0x0a,
                    t => t ^ 0x01,
                },
                _ => 0x80 + rng.below(5) as u8,
            };
            node.tag = new;
            Some((
                "tag",
                format!("tag {old:#04x} -> {new:#04x} at {}", path_str(&path)),
            ))
        }
        // A trailing element inside a constructed element.
        3 | 4 => {
            let mut paths: Vec<Vec<usize>> = mutable_paths(tree)
                .into_iter()
                .filter(|p| tree.at(p).is_some_and(|n| n.children().is_some()))
                .collect();
            paths.push(vec![]);
            let path = pick_path(rng, paths)?;
            let node = tree.at_mut(&path)?;
            let (element, what) = trailing_element(rng, node.children()?, plant);
            node.children_mut()?.push(element);
            Some((
                "trailing",
                format!("append {what} inside {}", path_str(&path)),
            ))
        }
        // Tuck an element into the end of its previous sibling.
        5 => {
            let paths: Vec<Vec<usize>> = mutable_paths(tree)
                .into_iter()
                .filter(|p| {
                    let last = *p.last().expect("not the root");
                    last > 0 && p.len() > 1 || last > 1
                })
                .filter(|p| {
                    let mut prev = p.clone();
                    *prev.last_mut().expect("not the root") -= 1;
                    tree.at(&prev).is_some_and(|n| n.children().is_some())
                })
                .collect();
            let path = pick_path(rng, paths)?;
            let (siblings, i) = parent_of(tree, &path)?;
            let node = siblings.remove(i);
            siblings[i - 1].children_mut()?.push(node);
            Some((
                "tuck",
                format!("tuck {} into its previous sibling", path_str(&path)),
            ))
        }
        // Hide a change or attribute behind a decoy of the same shape.
        6 => {
            let paths: Vec<Vec<usize>> = mutable_paths(tree)
                .into_iter()
                .filter(|p| tree.at(p).is_some_and(|n| is_change(n) || is_attribute(n)))
                .collect();
            let path = pick_path(rng, paths)?;
            let node = tree.at(&path)?.clone();
            let mut cover = decoy(rng, &node, plant);
            cover.children_mut()?.push(node);
            *tree.at_mut(&path)? = cover;
            Some(("hide", format!("hide {} behind a decoy", path_str(&path))))
        }
        // Insert a decoy before a change or attribute.
        7 => {
            let paths: Vec<Vec<usize>> = mutable_paths(tree)
                .into_iter()
                .filter(|p| tree.at(p).is_some_and(|n| is_change(n) || is_attribute(n)))
                .collect();
            let path = pick_path(rng, paths)?;
            let like = tree.at(&path)?.clone();
            let cover = decoy(rng, &like, plant);
            let (siblings, i) = parent_of(tree, &path)?;
            siblings.insert(i, cover);
            Some((
                "decoy",
                format!("insert a decoy before {}", path_str(&path)),
            ))
        }
        // Duplicate, remove or reorder.
        8 => {
            let path = pick_path(rng, mutable_paths(tree))?;
            let (siblings, i) = parent_of(tree, &path)?;
            let copy = siblings[i].clone();
            siblings.insert(i + 1, copy);
            Some(("duplicate", format!("duplicate {}", path_str(&path))))
        }
        9 => {
            let paths: Vec<Vec<usize>> = mutable_paths(tree)
                .into_iter()
                .filter(|p| p.as_slice() != [1])
                .collect();
            let path = pick_path(rng, paths)?;
            let (siblings, i) = parent_of(tree, &path)?;
            siblings.remove(i);
            Some(("remove", format!("remove {}", path_str(&path))))
        }
        10 => {
            let path = pick_path(rng, mutable_paths(tree))?;
            let root_level = path.len() == 1;
            let (siblings, i) = parent_of(tree, &path)?;
            let first = usize::from(root_level); // the messageID stays first
            let candidates: Vec<usize> = (first..siblings.len()).filter(|j| *j != i).collect();
            if candidates.is_empty() {
                return None;
            }
            let j = *rng.pick(&candidates);
            siblings.swap(i, j);
            Some((
                "swap",
                format!("swap {} with its sibling {j}", path_str(&path)),
            ))
        }
        // Attribute descriptions.
        11 | 12 => {
            let path = pick_path(rng, name_paths(tree))?;
            let Body::Prim(old) = &tree.at(&path)?.body else {
                return None;
            };
            let (new, what) = rename(rng, old, plant);
            let cleartext = new.starts_with(b"clearTextPassword");
            tree.at_mut(&path)?.body = Body::Prim(new);
            if cleartext {
                // Samba takes clearTextPassword as UTF-16LE without quotes.
                let mut vals_path = path.clone();
                *vals_path.last_mut().expect("not the root") = 1;
                if let Some(vals) = tree.at_mut(&vals_path).and_then(Node::children_mut) {
                    for v in vals {
                        if let Body::Prim(d) = &mut v.body {
                            *d = unquote(d);
                        }
                    }
                }
            }
            Some((
                "name",
                format!("attribute name at {}: {what}", path_str(&path)),
            ))
        }
        // The DN of a Modify or Add.
        13 => {
            let op = tree.at(&[1])?;
            if !matches!(op.tag, 0x66 | 0x68) {
                return None;
            }
            let node = tree.at_mut(&[1, 0])?;
            let Body::Prim(dn) = &node.body else {
                return None;
            };
            let (new, what) = match rng.below(4) {
                0 => ([dn.as_slice(), b"\0junk"].concat(), "NUL+junk"),
                1 => (flip_case(rng, dn), "case"),
                2 => (
                    String::from_utf8_lossy(dn).replace(',', ", ").into_bytes(),
                    "spaces after commas",
                ),
                _ => ([dn.as_slice(), b" "].concat(), "trailing space"),
            };
            node.body = Body::Prim(new);
            Some(("dn", format!("DN: {what}")))
        }
        // Controls and Password Modify fields.
        _ => {
            if let Some(fields) = passwd_fields(tree) {
                if rng.chance(1, 2) {
                    return mutate_passwd_fields(rng, fields, plant);
                }
            }
            let (ctl, what) = random_control(rng);
            let ctl = Node::parse_message(&ctl).expect("well-formed control");
            let children = tree.children_mut()?;
            match children.iter_mut().find(|c| c.tag == 0xa0) {
                Some(controls) => controls.children_mut()?.push(ctl),
                None => children.push(Node::cons(0xa0, vec![ctl])),
            }
            Some(("control", format!("append {what}")))
        }
    }
}

/// The fields of a Password Modify request value, if `tree` is one.
fn passwd_fields(tree: &mut Node) -> Option<&mut Vec<Node>> {
    let op = tree.at_mut(&[1])?;
    if op.tag != 0x77 {
        return None;
    }
    let value = op.children_mut()?.iter_mut().find(|c| c.tag == 0x81)?;
    if !matches!(value.body, Body::Wrapped(_)) {
        return None;
    }
    value.children_mut()?.first_mut()?.children_mut()
}

fn mutate_passwd_fields(
    rng: &mut Rng,
    fields: &mut Vec<Node>,
    plant: &Plant,
) -> Option<(&'static str, String)> {
    if fields.is_empty() {
        return None;
    }
    let i = rng.below(fields.len());
    let what = match rng.below(5) {
        0 => {
            let new = *rng.pick(&[0x80u8, 0x81, 0x82, 0x83, 0x84, 0x04, 0xa2]);
            let old = std::mem::replace(&mut fields[i].tag, new);
            format!("Password Modify field {i}: tag {old:#04x} -> {new:#04x}")
        }
        1 => {
            let j = rng.below(fields.len());
            let (a, b) = (fields[i].tag, fields[j].tag);
            fields[i].tag = b;
            fields[j].tag = a;
            format!("Password Modify fields {i} and {j}: tags swapped")
        }
        2 => {
            let copy = fields[i].clone();
            fields.insert(i + usize::from(rng.chance(1, 2)), copy);
            format!("Password Modify field {i} duplicated")
        }
        3 => {
            // A strong decoy beside the weak newPasswd: which one counts?
            let weak_at = fields.iter().position(|f| f.tag == 0x82)?;
            let decoy = Node::prim(0x82, &plant.decoy);
            let before = rng.chance(1, 2);
            fields.insert(if before { weak_at } else { weak_at + 1 }, decoy);
            format!(
                "a strong newPasswd {} the weak one",
                if before { "before" } else { "after" }
            )
        }
        _ => {
            fields.remove(i);
            format!("Password Modify field {i} removed")
        }
    };
    Some(("passwd-fields", what))
}

/// One to three mutations; their `(kind, description)`.
fn mutate(rng: &mut Rng, tree: &mut Node, plant: &Plant) -> Vec<(&'static str, String)> {
    let want = match rng.below(10) {
        0..=5 => 1,
        6..=8 => 2,
        _ => 3,
    };
    let mut done = Vec::new();
    let mut attempts = 0;
    while done.len() < want && attempts < 50 {
        attempts += 1;
        if let Some(m) = mutate_once(rng, tree, plant) {
            done.push(m);
        }
    }
    done
}

// ---------------------------------------------------------------------------
// The run

#[derive(Default)]
struct Stats {
    tried: usize,
    pwgate_refused: BTreeMap<i64, usize>,
    pwgate_disconnected: usize,
    server_refused: BTreeMap<i64, usize>,
    server_accepted: usize,
    server_disconnected: usize,
    closed_silently: usize,
    timeouts: usize,
    garbage: usize,
    disturbed: usize,
    controls: usize,
    controls_landed: usize,
    landings_by_kind: BTreeMap<String, usize>,
}

#[derive(Clone)]
struct Landing {
    seed: &'static str,
    /// Where the weak password landed.
    account: String,
    mutations: Vec<String>,
    bytes: Vec<u8>,
    reply: String,
}

struct Fuzz {
    setup: Setup,
    rng: Rng,
    plant: Plant,
    conns: HashMap<String, Conn>,
    checker: Option<Conn>,
    admin: Option<Conn>,
    next_msgid: u32,
    adds: u32,
    strong_counter: u32,
    stats: Stats,
    landings: Vec<Landing>,
    control_failures: Vec<String>,
    /// The test case being run (for a crash report).
    last_case: Option<Landing>,
    /// Test cases after which the server had died.
    crashes: Vec<Landing>,
}

/// A line on the test's real stderr, past libtest's output capture, so
/// the summary shows in CI logs of passing runs too.
fn loud(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn codes(map: &BTreeMap<i64, usize>) -> String {
    let parts: Vec<String> = map.iter().map(|(c, n)| format!("{c}: {n}")).collect();
    parts.join(", ")
}

impl Fuzz {
    fn new(setup: Setup, seed: u64) -> Fuzz {
        let attr = setup.attr();
        let weak = setup.value(WEAK);
        let mut hidden = vec![(attr.as_bytes().to_vec(), weak.clone())];
        if setup.flavor == Flavor::Samba {
            let utf16: Vec<u8> = WEAK.encode_utf16().flat_map(u16::to_le_bytes).collect();
            hidden.push((b"clearTextPassword\0x".to_vec(), utf16));
            hidden.push((b"unicodePwd\0x".to_vec(), weak));
        } else {
            hidden.push((b"2.5.4.35".to_vec(), weak));
        }
        let plant = Plant {
            attr,
            hidden,
            decoy: setup.value("decoy-Strong-71-meadow"),
            samba: setup.flavor == Flavor::Samba,
        };
        Fuzz {
            rng: Rng::new(seed ^ setup.flavor as u64),
            setup,
            plant,
            conns: HashMap::new(),
            checker: None,
            admin: None,
            next_msgid: 1000,
            adds: 0,
            strong_counter: 0,
            stats: Stats::default(),
            landings: Vec::new(),
            control_failures: Vec::new(),
            last_case: None,
            crashes: Vec::new(),
        }
    }

    /// A fresh strong password that holds no account's name (pwgate's
    /// account_name rule would refuse `tangerine` for `erin`).
    fn strong(&mut self) -> String {
        let names: Vec<String> = self
            .setup
            .passwords
            .keys()
            .filter_map(|dn| dn.split(',').next()?.split_once('='))
            .flat_map(|(_, v)| {
                v.split(['-', ' '])
                    .map(str::to_lowercase)
                    .collect::<Vec<_>>()
            })
            .filter(|n| n.len() >= 3)
            .collect();
        loop {
            let candidate = strong_password(&mut self.rng, &mut self.strong_counter);
            let lower = candidate.to_lowercase();
            if !names.iter().any(|n| lower.contains(n.as_str())) {
                return candidate;
            }
        }
    }

    fn msgid(&mut self) -> u32 {
        self.next_msgid += 1;
        self.next_msgid
    }

    fn password(&self, dn: &str) -> String {
        self.setup
            .passwords
            .get(dn)
            .unwrap_or_else(|| panic!("no password known for {dn}"))
            .clone()
    }

    /// The connection of `actor` through pwgate (connected and bound if needed).
    fn through(&mut self, actor: &str, security: Security) -> &mut Conn {
        if !self.conns.contains_key(actor) {
            let addr = match security {
                Security::StartTls => self.setup.gate.ldap_addr,
                _ => self.setup.gate.ldaps_addr,
            };
            let password = self.password(actor);
            let mut conn = Conn::bound(addr, security, actor, &password).unwrap_or_else(|e| {
                panic!("{}: cannot bind through pwgate: {e}", self.setup.name())
            });
            conn.timeout = ANSWER_TIMEOUT;
            self.conns.insert(actor.to_owned(), conn);
        }
        self.conns.get_mut(actor).expect("just inserted")
    }

    /// Sends `message` (with message ID `msgid`) as `actor`, on a fresh
    /// connection if the last one was closed or holds unasked bytes.
    fn send(&mut self, actor: &str, security: Security, message: &[u8], msgid: u32) -> Reply {
        if self.conns.get_mut(actor).is_some_and(Conn::is_stale) {
            self.conns.remove(actor);
        }
        let reply = self.through(actor, security).call(message, msgid);
        if matches!(reply, Reply::Closed(_) | Reply::Timeout | Reply::Garbage(_)) {
            self.conns.remove(actor);
        }
        reply
    }

    /// A direct connection to the server (bound as `bind`, if given). A
    /// server that refuses connections has died: the last test case is
    /// recorded as a crash and the server restarted, where the setup can.
    fn direct(&mut self, bind: Option<(&str, &str)>) -> Conn {
        for _ in 0..3 {
            let conn = match bind {
                Some((dn, pw)) => {
                    Conn::bound(self.setup.direct, self.setup.direct_security, dn, pw)
                }
                None => Conn::open(self.setup.direct, self.setup.direct_security),
            };
            match conn {
                Ok(c) => return c,
                Err(e) if e.contains("Connection refused") => {
                    let Some(restart) = self.setup.restart.as_mut() else {
                        panic!("{}: the server died: {e}", self.setup.name());
                    };
                    restart();
                    self.checker = None;
                    self.admin = None;
                    self.conns.clear();
                    let case = self.last_case.clone().unwrap_or_else(|| Landing {
                        seed: "none",
                        account: String::new(),
                        mutations: Vec::new(),
                        bytes: Vec::new(),
                        reply: String::new(),
                    });
                    loud(format!(
                        "differential {}: THE SERVER DIED after [{}] {}; answer {}; restarted\n  {}",
                        self.setup.name(),
                        case.seed,
                        case.mutations.join("; "),
                        case.reply,
                        hex(&case.bytes)
                    ));
                    self.crashes.push(case);
                }
                Err(e) => panic!("{}: cannot reach the server: {e}", self.setup.name()),
            }
        }
        panic!(
            "{}: the server keeps refusing connections",
            self.setup.name()
        );
    }

    /// Whether `dn` binds with `password` directly on the server.
    fn binds(&mut self, dn: &str, password: &str) -> bool {
        for _ in 0..3 {
            if self.checker.is_none() {
                let conn = self.direct(None);
                self.checker = Some(conn);
            }
            match self
                .checker
                .as_mut()
                .expect("connected")
                .binds(dn, password)
            {
                Ok(b) => return b,
                Err(_) => self.checker = None,
            }
        }
        panic!("{}: direct binds as {dn} keep failing", self.setup.name());
    }

    /// Sends `build(msgid)` directly on the server as its administrator.
    fn admin_call(&mut self, build: impl Fn(u32) -> Vec<u8>) -> Reply {
        for _ in 0..3 {
            if self.admin.is_none() {
                let (dn, pw) = (self.setup.admin_dn.clone(), self.setup.admin_pw.clone());
                let conn = self.direct(Some((&dn, &pw)));
                self.admin = Some(conn);
            }
            let id = self.msgid();
            let message = build(id);
            match self.admin.as_mut().expect("connected").call(&message, id) {
                reply @ Reply::Answer(_) => return reply,
                _ => self.admin = None,
            }
        }
        panic!(
            "{}: the administrator's connection keeps failing",
            self.setup.name()
        );
    }

    /// Sets `dn`'s password back to the one on record, directly on the server.
    fn reset(&mut self, dn: &str) {
        let value = self.setup.value(&self.password(dn));
        let attr = self.setup.attr().as_bytes();
        let reply = self
            .admin_call(|id| modify_request(id, dn, &[change(MOD_REPLACE, attr, &[&value])], &[]));
        assert_eq!(
            reply.code(),
            Some(0),
            "{}: resetting {dn} directly failed: {}",
            self.setup.name(),
            reply.describe()
        );
    }

    /// Deletes `dn` directly on the server, if it exists.
    fn delete(&mut self, dn: &str) {
        let reply = self.admin_call(|id| delete_request(id, dn));
        assert!(
            matches!(reply.code(), Some(0 | 32)),
            "{}: deleting {dn} failed: {}",
            self.setup.name(),
            reply.describe()
        );
    }

    /// A fresh entry DN for an Add.
    fn fresh_add_dn(&mut self) -> (String, String) {
        self.adds += 1;
        let name = format!("dfa{:05}", self.adds);
        let dn = match self.setup.flavor {
            Flavor::Slapd => user_dn(&name),
            Flavor::Samba => format!("CN={name},{USERS_DN}"),
        };
        (name, dn)
    }

    /// The seed request `seed` setting `new` for `target` (or creating `target`).
    fn message(&self, seed: &Seed, msgid: u32, target: &str, name: &str, new: &str) -> Vec<u8> {
        let attr = self.setup.attr().as_bytes();
        let new_value = self.setup.value(new);
        match seed.kind {
            SeedKind::Change => {
                let old = self.setup.value(&self.password(target));
                modify_request(
                    msgid,
                    target,
                    &[
                        change(MOD_DELETE, attr, &[&old]),
                        change(MOD_ADD, attr, &[&new_value]),
                    ],
                    &[],
                )
            }
            SeedKind::Reset => modify_request(
                msgid,
                target,
                &[change(MOD_REPLACE, attr, &[&new_value])],
                &[],
            ),
            SeedKind::Add => {
                let attrs = match self.setup.flavor {
                    Flavor::Slapd => vec![
                        attribute(b"objectClass", &[b"inetOrgPerson"]),
                        attribute(b"uid", &[name.as_bytes()]),
                        attribute(b"cn", &[name.as_bytes()]),
                        attribute(b"sn", &[b"Fuzz"]),
                        attribute(attr, &[&new_value]),
                    ],
                    Flavor::Samba => vec![
                        attribute(b"objectClass", &[b"user"]),
                        attribute(b"sAMAccountName", &[name.as_bytes()]),
                        attribute(b"userAccountControl", &[b"512"]),
                        attribute(attr, &[&new_value]),
                    ],
                };
                add_request(msgid, target, &attrs, &[])
            }
            SeedKind::ExopChange | SeedKind::ExopReset => {
                let old = self.password(target);
                let mut fields: Vec<(u8, &[u8])> = vec![(0x80, target.as_bytes())];
                if seed.kind == SeedKind::ExopChange {
                    fields.push((0x81, old.as_bytes()));
                }
                fields.push((0x82, new.as_bytes()));
                extended_request(
                    msgid,
                    OID_PASSWORD_MODIFY,
                    Some(&passwd_modify_value(&fields)),
                )
            }
        }
    }

    fn classify(&mut self, reply: &Reply) {
        let s = &mut self.stats;
        match reply {
            Reply::Answer(a) if a.refused_by_pwgate() => {
                *s.pwgate_refused.entry(a.code).or_default() += 1
            }
            Reply::Answer(Answer { code: 0, .. }) => s.server_accepted += 1,
            Reply::Answer(a) => *s.server_refused.entry(a.code).or_default() += 1,
            Reply::Closed(Some(n)) if n.diagnostic.contains("pwgate") => s.pwgate_disconnected += 1,
            Reply::Closed(Some(_)) => s.server_disconnected += 1,
            Reply::Closed(None) => s.closed_silently += 1,
            Reply::Timeout => s.timeouts += 1,
            Reply::Garbage(_) => s.garbage += 1,
        }
    }

    /// Every seed once, unmutated, with a fresh strong password: each must
    /// be accepted and bind on the server.
    fn control_round(&mut self) {
        for i in 0..self.setup.seeds.len() {
            let strong = self.strong();
            let seed = &self.setup.seeds[i];
            let (label, kind, actor, security, fixed) = (
                seed.label,
                seed.kind,
                seed.actor().to_owned(),
                seed.security,
                seed.target.clone(),
            );
            let (name, target) = match fixed {
                Some(t) => (String::new(), t),
                None => self.fresh_add_dn(),
            };
            let id = self.msgid();
            let message = self.message(&self.setup.seeds[i], id, &target, &name, &strong);
            let reply = self.send(&actor, security, &message, id);
            self.stats.controls += 1;
            let landed = self.binds(&target, &strong);
            if reply.code() == Some(0) && landed {
                self.stats.controls_landed += 1;
            } else {
                self.control_failures.push(format!(
                    "{label} with strong password {strong:?}: {} (binds on the server: {landed})",
                    reply.describe()
                ));
            }
            if kind == SeedKind::Add {
                self.delete(&target);
            } else if landed {
                self.setup.passwords.insert(target.clone(), strong);
            } else {
                let current = self.password(&target);
                if !self.binds(&target, &current) {
                    self.reset(&target);
                }
            }
        }
    }

    fn one_case(&mut self, i: usize) {
        let seed = &self.setup.seeds[i];
        let (label, kind, actor, security, fixed) = (
            seed.label,
            seed.kind,
            seed.actor().to_owned(),
            seed.security,
            seed.target.clone(),
        );
        let (name, target) = match fixed {
            Some(t) => (String::new(), t),
            None => self.fresh_add_dn(),
        };
        let id = self.msgid();
        let base = self.message(&self.setup.seeds[i], id, &target, &name, WEAK);
        let mut tree = Node::parse_message(&base).expect("a seed is well-formed");
        let applied = mutate(&mut self.rng, &mut tree, &self.plant);
        let bytes = tree.encode();
        self.last_case = Some(Landing {
            seed: label,
            account: String::new(),
            mutations: applied.iter().map(|(_, d)| d.clone()).collect(),
            bytes: bytes.clone(),
            reply: String::new(),
        });
        let reply = self.send(&actor, security, &bytes, id);
        if let Some(case) = self.last_case.as_mut() {
            case.reply = reply.describe();
        }
        self.stats.tried += 1;
        self.classify(&reply);
        if std::env::var_os("PWGATE_DIFF_TRACE").is_some() {
            let what: Vec<&str> = applied.iter().map(|(_, d)| d.as_str()).collect();
            eprintln!(
                "case {} [{label}] {}: {}",
                self.stats.tried,
                what.join("; "),
                reply.describe()
            );
        }
        // The target, and the actor when it is not the server's
        // administrator: a Password Modify that loses its userIdentity sets
        // the bound identity's password.
        let mut watched = vec![target.clone()];
        if actor != target && actor != self.setup.admin_dn {
            watched.push(actor.clone());
        }
        let mut landed_on = Vec::new();
        for dn in &watched {
            if self.binds(dn, WEAK) {
                landed_on.push(dn.clone());
            }
        }
        if !landed_on.is_empty() {
            let mut kinds: Vec<&str> = applied.iter().map(|(k, _)| *k).collect();
            kinds.sort_unstable();
            kinds.dedup();
            *self
                .stats
                .landings_by_kind
                .entry(kinds.join("+"))
                .or_default() += 1;
            self.landings.push(Landing {
                seed: label,
                account: landed_on.join(", "),
                mutations: applied.into_iter().map(|(_, d)| d).collect(),
                bytes,
                reply: reply.describe(),
            });
        }
        for dn in watched {
            let landed = landed_on.contains(&dn);
            if kind == SeedKind::Add && dn == target {
                if landed || !matches!(reply, Reply::Answer(ref a) if a.code != 0) {
                    self.delete(&dn);
                }
            } else if landed {
                self.reset(&dn);
            } else if !reply.refused_by_pwgate() {
                let current = self.password(&dn);
                if !self.binds(&dn, &current) {
                    // E.g. a server-generated password (Password Modify
                    // without newPasswd): legitimate, but the run needs
                    // the account back.
                    self.stats.disturbed += 1;
                    self.reset(&dn);
                }
            }
        }
    }

    fn run(mut self, settings: &Settings) {
        let started = Instant::now();
        let seeds = self.setup.seeds.len();
        self.control_round();
        let mut done = 0;
        while done < settings.mutations && started.elapsed() < settings.budget {
            self.one_case(done % seeds);
            done += 1;
            if done % CONTROL_EVERY == 0 {
                self.control_round();
            }
        }
        self.control_round();
        let elapsed = started.elapsed();
        let s = &self.stats;
        let refused: usize = s.pwgate_refused.values().sum();
        let server_refused: usize = s.server_refused.values().sum();
        let by_kind: Vec<String> = s
            .landings_by_kind
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        loud(format!(
            "differential {name}: seed {seed:#018x}, {tried} mutations over {seeds} seeds in {secs:.1} s; \
             refused by pwgate {refused} ({pcodes}), disconnected by pwgate {pdisc}; \
             forwarded and refused by the server {server_refused} ({scodes}), \
             forwarded and accepted {accepted}, Notice of Disconnection relayed {sdisc}, \
             closed without an answer {silent}, no answer in {timeout:?} {timeouts}, undecodable answer {garbage}; \
             LANDINGS {landings} ({by_kind}); accounts disturbed {disturbed}; \
             controls {cl}/{ct} accepted and landed; server died {crashes} times",
            name = self.setup.name(),
            seed = settings.seed,
            tried = s.tried,
            secs = elapsed.as_secs_f64(),
            pcodes = codes(&s.pwgate_refused),
            pdisc = s.pwgate_disconnected,
            scodes = codes(&s.server_refused),
            accepted = s.server_accepted,
            sdisc = s.server_disconnected,
            silent = s.closed_silently,
            timeout = ANSWER_TIMEOUT,
            timeouts = s.timeouts,
            garbage = s.garbage,
            landings = self.landings.len(),
            by_kind = by_kind.join(", "),
            disturbed = s.disturbed,
            cl = s.controls_landed,
            ct = s.controls,
            crashes = self.crashes.len(),
        ));
        let mut report = Vec::new();
        for (n, l) in self.landings.iter().enumerate() {
            report.push(format!(
                "landing {n} [{}] on {}: {}; answer {}\n      {}",
                l.seed,
                l.account,
                l.mutations.join("; "),
                l.reply,
                hex(&l.bytes)
            ));
        }
        for f in &self.control_failures {
            report.push(format!("control not accepted: {f}"));
        }
        assert!(
            s.tried > 0 && s.controls_landed > 0,
            "{}: the run did nothing useful",
            self.setup.name()
        );
        assert!(
            report.is_empty(),
            "{}: {} landings of {WEAK:?} and {} control failures in {} mutations:\n  {}",
            self.setup.name(),
            self.landings.len(),
            self.control_failures.len(),
            s.tried,
            report.join("\n  ")
        );
    }
}

// ---------------------------------------------------------------------------
// The servers

#[test]
fn differential_slapd() {
    let settings = settings();
    let slapd = Slapd::start();
    // Two more people, so that every seed has a target of its own.
    let mut passwords: HashMap<String, String> = HashMap::new();
    let mut ldif = String::new();
    for (uid, pw) in [
        ("erin", "Erin-Start-Passw0rd"),
        ("frank", "Frank-Start-Passw0rd"),
    ] {
        ldif.push_str(&format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {pw}\n\n",
            dn = user_dn(uid)
        ));
        passwords.insert(user_dn(uid), pw.to_owned());
    }
    slapd.add_entries(&ldif);
    for uid in ["alice", "carol"] {
        passwords.insert(user_dn(uid), slapd::user_password(uid).to_owned());
    }
    passwords.insert(slapd::HELPDESK_DN.into(), slapd::HELPDESK_PW.into());
    passwords.insert(slapd::ADMIN_DN.into(), slapd::ADMIN_PW.into());
    let seeds = vec![
        Seed {
            label: "slapd userPassword change by the user",
            kind: SeedKind::Change,
            actor: None,
            target: Some(user_dn("alice")),
            security: Security::Ldaps,
        },
        Seed {
            label: "slapd userPassword reset by the helpdesk",
            kind: SeedKind::Reset,
            actor: Some(slapd::HELPDESK_DN.into()),
            target: Some(user_dn("erin")),
            security: Security::StartTls,
        },
        Seed {
            label: "slapd Add with userPassword by the rootdn",
            kind: SeedKind::Add,
            actor: Some(slapd::ADMIN_DN.into()),
            target: None,
            security: Security::Ldaps,
        },
        Seed {
            label: "slapd Password Modify with oldPasswd by the user",
            kind: SeedKind::ExopChange,
            actor: None,
            target: Some(user_dn("carol")),
            security: Security::Ldaps,
        },
        Seed {
            label: "slapd Password Modify without oldPasswd by the helpdesk",
            kind: SeedKind::ExopReset,
            actor: Some(slapd::HELPDESK_DN.into()),
            target: Some(user_dn("frank")),
            security: Security::Ldaps,
        },
    ];
    let url = slapd.ldap_url();
    let mut slapd = slapd;
    let setup = Setup {
        flavor: Flavor::Slapd,
        gate: Pwgate::start(&url),
        direct: addr_of(&url),
        direct_security: Security::Plain,
        admin_dn: slapd::ADMIN_DN.into(),
        admin_pw: slapd::ADMIN_PW.into(),
        seeds,
        passwords,
        // slapd 2.5.13 (Debian 12) dies on an assertion for some requests
        // (e.g. a userPassword delete listing the old value twice, followed
        // by an add): record that, restart it on the same data, go on.
        restart: Some(Box::new(move || slapd.restart())),
    };
    Fuzz::new(setup, settings.seed).run(&settings);
}

#[test]
fn differential_samba() {
    let Some(dc) = samba::dc() else {
        return;
    };
    let settings = settings();
    let start = "Start-Passw0rd-Fuzz-1";
    let change_dn = dc.create_user("df-change", start, USERS_DN);
    let reset_dn = dc.create_user("df-reset", start, USERS_DN);
    let staff_dn = dc.create_user("df-staff", start, STAFF_DN);
    let mut passwords: HashMap<String, String> = HashMap::new();
    for dn in [&change_dn, &reset_dn, &staff_dn] {
        passwords.insert(dn.clone(), start.to_owned());
    }
    passwords.insert(ADMIN_DN.into(), ADMIN_PW.into());
    passwords.insert(HELPDESK_DN.into(), HELPDESK_PW.into());
    let seeds = vec![
        Seed {
            label: "samba unicodePwd change by the user",
            kind: SeedKind::Change,
            actor: None,
            target: Some(change_dn),
            security: Security::Ldaps,
        },
        Seed {
            label: "samba unicodePwd reset by Administrator",
            kind: SeedKind::Reset,
            actor: Some(ADMIN_DN.into()),
            target: Some(reset_dn),
            security: Security::Ldaps,
        },
        Seed {
            label: "samba unicodePwd reset by the delegated helpdesk",
            kind: SeedKind::Reset,
            actor: Some(HELPDESK_DN.into()),
            target: Some(staff_dn),
            security: Security::StartTls,
        },
        Seed {
            label: "samba Add with unicodePwd by Administrator",
            kind: SeedKind::Add,
            actor: Some(ADMIN_DN.into()),
            target: None,
            security: Security::Ldaps,
        },
    ];
    let ca = dc.ca().display().to_string().replace('\\', "\\\\");
    let setup = Setup {
        flavor: Flavor::Samba,
        gate: Pwgate::start_with(
            &dc.ldaps_url(),
            &format!("[upstream]\nflavor = \"active-directory\"\nca = \"{ca}\"\n"),
        ),
        direct: addr_of(&dc.ldaps_url()),
        direct_security: Security::Ldaps,
        admin_dn: ADMIN_DN.into(),
        admin_pw: ADMIN_PW.into(),
        seeds,
        passwords,
        restart: None,
    };
    Fuzz::new(setup, settings.seed).run(&settings);
}

#[test]
fn the_generator_and_the_tree_are_deterministic_and_lossless() {
    // The same seed gives the same sequence; the tree re-encodes a request
    // byte for byte when nothing is mutated.
    let (mut a, mut b) = (Rng::new(7), Rng::new(7));
    for _ in 0..100 {
        assert_eq!(a.next(), b.next());
    }
    let message = modify_request(
        5,
        "uid=x,dc=example,dc=com",
        &[change(MOD_REPLACE, b"userPassword", &[WEAK.as_bytes()])],
        &[control(
            OID_SD_FLAGS,
            Some(0xff),
            Some(&tlv(0x30, &int(0x02, 7))),
        )],
    );
    assert_eq!(
        Node::parse_message(&message).expect("parses").encode(),
        message
    );
    let exop = extended_request(
        6,
        OID_PASSWORD_MODIFY,
        Some(&passwd_modify_value(&[(0x80, b"uid=x"), (0x82, b"new")])),
    );
    let tree = Node::parse_message(&exop).expect("parses");
    assert!(matches!(
        tree.at(&[1, 1]).map(|n| &n.body),
        Some(Body::Wrapped(_))
    ));
    assert_eq!(tree.encode(), exop);
}
