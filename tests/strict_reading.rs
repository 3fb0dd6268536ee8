//! Requests that pwgate could read one way and the directory another:
//! each is sent through pwgate to a real directory, and the outcome is
//! checked on the directory itself.
//!
//! A security review found three ways to make pwgate forward a weak
//! password unseen, by making its decoder and the server's disagree on what
//! a request says:
//!
//! 1. a trailing element inside a change (or inside an Add's attribute):
//!    pwgate's decoder took the first two elements and ignored the rest,
//!    slapd walks the list by position, so the extra element is the next
//!    change (slapd applies a hidden `add: userPassword`);
//! 2. a NUL in the attribute description: Samba reads the name as a C
//!    string, so `unicodePwd\0junk` is `unicodePwd` to the DC, an unknown
//!    attribute to pwgate;
//! 3. a length written `80 LL`: Samba reads it as a length of LL, pwgate's
//!    old BER reader as an empty element followed by garbage, so pwgate saw
//!    a Modify without changes and Samba a `replace: unicodePwd`;
//! 4. (found by tests/differential.rs) a list of changes or attributes whose
//!    length is one byte short: pwgate's old reader dropped the incomplete
//!    last element, slapd reads it whole, past the end of the list.
//!
//! Each test sends the request over an encrypted connection to pwgate
//! (LDAPS, or StartTLS on its plain listener) after a simple bind, reads
//! pwgate's answer, and then binds DIRECTLY to the server, not through
//! pwgate: the weak password must not bind, the old one still must. A
//! refusal must be pwgate's own (protocolError 2, constraintViolation 19
//! or unwillingToPerform 53, in pwgate's words), never the server's.
//!
//! The other tests pin what a strict reader must keep accepting: harmless
//! controls on a non-password Modify (AD's security-descriptor flags control
//! with no value or a bare INTEGER, paged results), and a strong password
//! change written with non-minimal long-form lengths, as Windows clients
//! send them. Both must be forwarded and take effect on the server.
//!
//! The slapd tests start their own slapd (tests/common/slapd.rs); the Samba
//! tests share this binary's DC (tests/common/samba.rs), each on users of
//! its own, and are skipped (with a notice) when not run as root.

mod common;

use common::pwgate::Pwgate;
use common::raw::{addr_of, extended_request, int, octets, tlv, OID_PASSWORD_MODIFY};
use common::samba::{self, SambaDc, ADMIN_DN, ADMIN_PW, USERS_DN};
use common::slapd::{self, ldap_tool, user_dn, Slapd};
use common::tools::all_output;
use common::wire::{
    add_request, attribute, change, control, modify_request, passwd_modify_value,
    unicode_pwd_value, Conn, Len, Node, Reply, Security, MOD_ADD, MOD_DELETE, MOD_REPLACE,
    OID_SD_FLAGS, WEAK,
};

/// Strong for pwgate's built-in policy, complex enough for the DC.
const STRONG: &str = "tangerine-Otter-42-lamp";
const STRONG_2: &str = "quartz-Pelican-71-ribbon";

/// The DC, or return from the test (after a loud SKIPPED notice) when not root.
macro_rules! dc_or_skip {
    () => {
        match samba::dc() {
            Some(dc) => dc,
            None => return,
        }
    };
}

// ---------------------------------------------------------------------------
// Helpers

/// A connection to pwgate bound as `dn`; panics if that fails.
fn through(addr: std::net::SocketAddr, security: Security, dn: &str, password: &str) -> Conn {
    Conn::bound(addr, security, dn, password)
        .unwrap_or_else(|e| panic!("cannot bind through pwgate at {addr}: {e}"))
}

/// Sends `build(msgid)` on `conn` and returns the reply.
fn send(conn: &mut Conn, build: impl FnOnce(u32) -> Vec<u8>) -> Reply {
    let id = conn.msgid();
    let message = build(id);
    conn.call(&message, id)
}

/// Whether `dn` binds with `password` DIRECTLY on slapd (plain LDAP,
/// where slapd allows simple binds).
fn slapd_binds(slapd: &Slapd, dn: &str, password: &str) -> bool {
    let mut conn = Conn::open(addr_of(&slapd.ldap_url()), Security::Plain)
        .unwrap_or_else(|e| panic!("cannot reach slapd: {e}"));
    conn.binds(dn, password)
        .unwrap_or_else(|e| panic!("direct bind on slapd: {e}"))
}

/// The outcome of one refused-request scenario, checked on the server.
struct Outcome {
    what: String,
    reply: Reply,
    /// The weak password binds directly on the server.
    weak_binds: bool,
    /// The account's previous password still binds directly on the server.
    old_binds: bool,
}

impl Outcome {
    /// `None` when pwgate refused and nothing changed; else what went wrong.
    fn failure(&self) -> Option<String> {
        let mut wrong = Vec::new();
        if self.weak_binds {
            wrong.push("LANDED: the weak password binds on the server".to_owned());
        }
        if !self.old_binds {
            wrong.push("the old password no longer binds on the server".to_owned());
        }
        if !self.reply.refused_by_pwgate() {
            wrong.push(format!(
                "expected pwgate's own refusal (2, 19 or 53 in pwgate's words), got {}",
                self.reply.describe()
            ));
        }
        (!wrong.is_empty()).then(|| format!("{}: {}", self.what, wrong.join("; ")))
    }
}

#[track_caller]
fn assert_all_refused(outcomes: &[Outcome]) {
    let failures: Vec<String> = outcomes.iter().filter_map(Outcome::failure).collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests were not refused by pwgate with the directory untouched:\n  {}",
        failures.len(),
        outcomes.len(),
        failures.join("\n  ")
    );
}

/// A change SEQUENCE { operation, modification, <trailing> }: the trailing
/// element is a whole `add: userPassword: weak` change.
fn change_with_trailing_add(operation: u32, values: &[&[u8]]) -> Vec<u8> {
    let hidden = change(MOD_ADD, b"userPassword", &[WEAK.as_bytes()]);
    tlv(
        0x30,
        &[
            int(0x0a, operation),
            attribute(b"userPassword", values),
            hidden,
        ]
        .concat(),
    )
}

/// pwgate in front of the DC over LDAPS, flavor active-directory.
fn ad_gate(dc: &SambaDc) -> Pwgate {
    let ca = dc.ca().display().to_string().replace('\\', "\\\\");
    Pwgate::start_with(
        &dc.ldaps_url(),
        &format!("[upstream]\nflavor = \"active-directory\"\nca = \"{ca}\"\n"),
    )
}

/// `description` of `dn` read DIRECTLY on slapd as the rootdn.
fn slapd_description(slapd: &Slapd, dn: &str) -> String {
    let out = ldap_tool(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &slapd.ldap_url(),
            "-D",
            slapd::ADMIN_DN,
            "-w",
            slapd::ADMIN_PW,
            "-b",
            dn,
            "-s",
            "base",
            "description",
        ],
    );
    all_output(&out)
}

/// The three harmless controls, each with a label.
fn harmless_controls() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "security-descriptor flags control without a value",
            control(OID_SD_FLAGS, None, None),
        ),
        (
            "security-descriptor flags control whose value is a bare INTEGER 7",
            control(OID_SD_FLAGS, None, Some(&int(0x02, 7))),
        ),
        (
            "paged results control",
            common::raw::paged_results_control(10),
        ),
    ]
}

/// The whole message with every constructed element's length written in
/// the 4-byte long form (`30 84 00 00 00 xx`), primitives left minimal.
fn with_long_lengths(message: &[u8]) -> Vec<u8> {
    let mut tree = Node::parse_message(message).expect("a well-formed message");
    tree.set_constructed_lengths(Len::Long(4));
    let bytes = tree.encode();
    assert_eq!(&bytes[..2], [0x30, 0x84], "long form on the outer SEQUENCE");
    bytes
}

// ---------------------------------------------------------------------------
// 1. A trailing element inside a change or an attribute (slapd)

#[test]
fn slapd_a_trailing_change_in_a_users_own_change_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let alice = user_dn("alice");
    let old = slapd::user_password("alice");
    let mut conn = through(gate.ldaps_addr, Security::Ldaps, &alice, old);
    // delete: userPassword: <old>, with `add: userPassword: weak` trailing
    // inside the same change.
    let reply = send(&mut conn, |id| {
        modify_request(
            id,
            &alice,
            &[change_with_trailing_add(MOD_DELETE, &[old.as_bytes()])],
            &[],
        )
    });
    assert_all_refused(&[Outcome {
        what: "alice's own change with a trailing add (LDAPS)".into(),
        weak_binds: slapd_binds(&slapd, &alice, WEAK),
        old_binds: slapd_binds(&slapd, &alice, old),
        reply,
    }]);
}

#[test]
fn slapd_a_trailing_change_in_a_reset_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let mut outcomes = Vec::new();
    // The helpdesk account (subject to ppolicy) over LDAPS, and the rootdn
    // over StartTLS: `delete: userPassword` with no values (all of them),
    // then the hidden add.
    for (security, actor, actor_pw, uid) in [
        (
            Security::Ldaps,
            slapd::HELPDESK_DN,
            slapd::HELPDESK_PW,
            "bob",
        ),
        (
            Security::StartTls,
            slapd::ADMIN_DN,
            slapd::ADMIN_PW,
            "carol",
        ),
    ] {
        let addr = match security {
            Security::Ldaps => gate.ldaps_addr,
            _ => gate.ldap_addr,
        };
        let target = user_dn(uid);
        let mut conn = through(addr, security, actor, actor_pw);
        let reply = send(&mut conn, |id| {
            modify_request(
                id,
                &target,
                &[change_with_trailing_add(MOD_DELETE, &[])],
                &[],
            )
        });
        outcomes.push(Outcome {
            what: format!("{actor} resets {uid} with a trailing add ({security:?})"),
            weak_binds: slapd_binds(&slapd, &target, WEAK),
            old_binds: slapd_binds(&slapd, &target, slapd::user_password(uid)),
            reply,
        });
    }
    assert_all_refused(&outcomes);
}

#[test]
fn slapd_a_trailing_attribute_in_an_add_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let dn = user_dn("dave");
    let mut conn = through(
        gate.ldap_addr,
        Security::StartTls,
        slapd::ADMIN_DN,
        slapd::ADMIN_PW,
    );
    // sn's attribute SEQUENCE carries a whole userPassword attribute after
    // its values.
    let sn_with_trailing = tlv(
        0x30,
        &[
            octets("sn"),
            tlv(0x31, &octets("Dave")),
            attribute(b"userPassword", &[WEAK.as_bytes()]),
        ]
        .concat(),
    );
    let reply = send(&mut conn, |id| {
        add_request(
            id,
            &dn,
            &[
                attribute(b"objectClass", &[b"inetOrgPerson"]),
                attribute(b"uid", &[b"dave"]),
                attribute(b"cn", &[b"Dave"]),
                sn_with_trailing,
            ],
            &[],
        )
    });
    let weak_binds = slapd_binds(&slapd, &dn, WEAK);
    let outcome = Outcome {
        what: "the rootdn adds uid=dave with a trailing userPassword (StartTLS)".into(),
        reply,
        weak_binds,
        // No old password: the entry must simply not exist.
        old_binds: true,
    };
    assert_all_refused(&[outcome]);
    let found = ldap_tool(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            &slapd.ldap_url(),
            "-b",
            &dn,
            "-s",
            "base",
            "1.1",
        ],
    );
    assert_eq!(
        found.status.code(),
        Some(32),
        "the entry must not have been added: {}",
        all_output(&found)
    );
}

// ---------------------------------------------------------------------------
// 4. A SEQUENCE one byte short (slapd; found by tests/differential.rs)
//
// The changes SEQUENCE (or an Add's attribute list) claims one byte less
// than its last element needs. pwgate's old reader dropped the incomplete
// last element; slapd reads it whole, past the end of the SEQUENCE.

#[test]
fn slapd_a_list_one_byte_short_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let short = |message: Vec<u8>| {
        let mut tree = Node::parse_message(&message).expect("well-formed");
        let list = tree.at_mut(&[1, 1]).expect("the list");
        assert_eq!(list.tag, 0x30);
        list.len = Len::Delta(-1);
        tree.encode()
    };
    let mut outcomes = Vec::new();
    let bob = user_dn("bob");
    let mut helpdesk = through(
        gate.ldaps_addr,
        Security::Ldaps,
        slapd::HELPDESK_DN,
        slapd::HELPDESK_PW,
    );
    let reply = send(&mut helpdesk, |id| {
        short(modify_request(
            id,
            &bob,
            &[change(MOD_REPLACE, b"userPassword", &[WEAK.as_bytes()])],
            &[],
        ))
    });
    outcomes.push(Outcome {
        what: "the helpdesk replaces bob's userPassword, changes one byte short".into(),
        reply,
        weak_binds: slapd_binds(&slapd, &bob, WEAK),
        old_binds: slapd_binds(&slapd, &bob, slapd::user_password("bob")),
    });
    let dave = user_dn("dave");
    let mut admin = through(
        gate.ldaps_addr,
        Security::Ldaps,
        slapd::ADMIN_DN,
        slapd::ADMIN_PW,
    );
    let reply = send(&mut admin, |id| {
        short(add_request(
            id,
            &dave,
            &[
                attribute(b"objectClass", &[b"inetOrgPerson"]),
                attribute(b"uid", &[b"dave"]),
                attribute(b"cn", &[b"Dave"]),
                attribute(b"sn", &[b"Dave"]),
                attribute(b"userPassword", &[WEAK.as_bytes()]),
            ],
            &[],
        ))
    });
    outcomes.push(Outcome {
        what: "the rootdn adds uid=dave, attribute list one byte short".into(),
        reply,
        weak_binds: slapd_binds(&slapd, &dave, WEAK),
        old_binds: true,
    });
    assert_all_refused(&outcomes);
}

// ---------------------------------------------------------------------------
// Password Modify with a field under an unexpected tag (slapd)

#[test]
fn slapd_password_modify_with_new_password_under_tag_0x84_is_refused() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let mut outcomes = Vec::new();
    // carol's own change (with oldPasswd), and the helpdesk resetting bob:
    // the new password under [4], where slapd expects newPasswd [2]. slapd
    // itself answers that with a decoding error, or could generate a
    // password; either way pwgate must not forward what it did not decide on.
    let carol = user_dn("carol");
    let carol_pw = slapd::user_password("carol");
    let mut conn = through(gate.ldaps_addr, Security::Ldaps, &carol, carol_pw);
    let value = passwd_modify_value(&[
        (0x80, carol.as_bytes()),
        (0x81, carol_pw.as_bytes()),
        (0x84, WEAK.as_bytes()),
    ]);
    let reply = send(&mut conn, |id| {
        extended_request(id, OID_PASSWORD_MODIFY, Some(&value))
    });
    outcomes.push(Outcome {
        what: "carol's Password Modify with newPasswd under 0x84".into(),
        reply,
        weak_binds: slapd_binds(&slapd, &carol, WEAK),
        old_binds: slapd_binds(&slapd, &carol, carol_pw),
    });
    let bob = user_dn("bob");
    let mut conn = through(
        gate.ldap_addr,
        Security::StartTls,
        slapd::HELPDESK_DN,
        slapd::HELPDESK_PW,
    );
    let value = passwd_modify_value(&[(0x80, bob.as_bytes()), (0x84, WEAK.as_bytes())]);
    let reply = send(&mut conn, |id| {
        extended_request(id, OID_PASSWORD_MODIFY, Some(&value))
    });
    outcomes.push(Outcome {
        what: "the helpdesk's Password Modify of bob with newPasswd under 0x84".into(),
        reply,
        weak_binds: slapd_binds(&slapd, &bob, WEAK),
        old_binds: slapd_binds(&slapd, &bob, slapd::user_password("bob")),
    });
    assert_all_refused(&outcomes);
}

// ---------------------------------------------------------------------------
// What must still pass (slapd)

#[test]
fn slapd_harmless_controls_on_a_description_modify_are_forwarded() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let alice = user_dn("alice");
    let mut conn = through(
        gate.ldaps_addr,
        Security::Ldaps,
        slapd::ADMIN_DN,
        slapd::ADMIN_PW,
    );
    let mut failures = Vec::new();
    for (n, (label, ctl)) in harmless_controls().into_iter().enumerate() {
        let description = format!("strict reading {n}");
        let reply = send(&mut conn, |id| {
            modify_request(
                id,
                &alice,
                &[change(
                    MOD_REPLACE,
                    b"description",
                    &[description.as_bytes()],
                )],
                &[ctl],
            )
        });
        let stored = slapd_description(&slapd, &alice);
        let applied = stored
            .lines()
            .any(|l| l == format!("description: {description}"));
        if reply.code() != Some(0) || !applied {
            failures.push(format!(
                "{label}: {} (description applied on slapd: {applied})",
                reply.describe()
            ));
        }
        if matches!(reply, Reply::Closed(_) | Reply::Timeout | Reply::Garbage(_)) {
            conn = through(
                gate.ldaps_addr,
                Security::Ldaps,
                slapd::ADMIN_DN,
                slapd::ADMIN_PW,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "harmless controls on a non-password Modify must be forwarded and applied:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn slapd_a_strong_change_with_non_minimal_lengths_is_forwarded_and_lands() {
    let slapd = Slapd::start();
    let gate = Pwgate::start(&slapd.ldap_url());
    let alice = user_dn("alice");
    let old = slapd::user_password("alice");
    let mut conn = through(gate.ldaps_addr, Security::Ldaps, &alice, old);
    let reply = send(&mut conn, |id| {
        with_long_lengths(&modify_request(
            id,
            &alice,
            &[
                change(MOD_DELETE, b"userPassword", &[old.as_bytes()]),
                change(MOD_ADD, b"userPassword", &[STRONG.as_bytes()]),
            ],
            &[],
        ))
    });
    assert_eq!(
        reply.code(),
        Some(0),
        "a strong change with 4-byte lengths must be forwarded and applied: {}",
        reply.describe()
    );
    assert!(
        slapd_binds(&slapd, &alice, STRONG),
        "the new password binds on slapd"
    );
    assert!(!slapd_binds(&slapd, &alice, old));
}

// ---------------------------------------------------------------------------
// 2. A NUL in the attribute description (Samba)

/// Sends `build` through pwgate bound as `actor`, then checks `dn` on the DC.
fn samba_outcome(
    dc: &SambaDc,
    conn: &mut Conn,
    what: &str,
    dn: &str,
    old: &str,
    build: impl FnOnce(u32) -> Vec<u8>,
) -> Outcome {
    let reply = send(conn, build);
    Outcome {
        what: what.to_owned(),
        reply,
        weak_binds: dc.binds(dn, WEAK),
        old_binds: dc.binds(dn, old),
    }
}

#[test]
fn samba_a_nul_in_unicodepwd_is_refused() {
    let dc = dc_or_skip!();
    let gate = ad_gate(dc);
    let mut outcomes = Vec::new();

    // Administrator's reset: replace `unicodePwd\0junk`.
    let reset_dn = dc.create_user("sr-nul-reset", STRONG, USERS_DN);
    let mut admin = through(gate.ldaps_addr, Security::Ldaps, ADMIN_DN, ADMIN_PW);
    let weak = unicode_pwd_value(WEAK);
    outcomes.push(samba_outcome(
        dc,
        &mut admin,
        "Administrator replaces unicodePwd\\0junk (LDAPS)",
        &reset_dn,
        STRONG,
        |id| {
            modify_request(
                id,
                &reset_dn,
                &[change(MOD_REPLACE, b"unicodePwd\0junk", &[&weak])],
                &[],
            )
        },
    ));

    // The user's own change: delete old + add new, both `unicodePwd\0junk`.
    let change_dn = dc.create_user("sr-nul-change", STRONG, USERS_DN);
    let mut user = through(gate.ldap_addr, Security::StartTls, &change_dn, STRONG);
    let old = unicode_pwd_value(STRONG);
    outcomes.push(samba_outcome(
        dc,
        &mut user,
        "the user's delete+add of unicodePwd\\0junk (StartTLS)",
        &change_dn,
        STRONG,
        |id| {
            modify_request(
                id,
                &change_dn,
                &[
                    change(MOD_DELETE, b"unicodePwd\0junk", &[&old]),
                    change(MOD_ADD, b"unicodePwd\0junk", &[&weak]),
                ],
                &[],
            )
        },
    ));
    assert_all_refused(&outcomes);
}

#[test]
fn samba_a_nul_in_cleartextpassword_is_refused() {
    let dc = dc_or_skip!();
    let gate = ad_gate(dc);
    let dn = dc.create_user("sr-nul-cleartext", STRONG, USERS_DN);
    let mut admin = through(gate.ldaps_addr, Security::Ldaps, ADMIN_DN, ADMIN_PW);
    // Samba's clearTextPassword takes the password as UTF-16LE, unquoted.
    let value: Vec<u8> = WEAK.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let outcome = samba_outcome(
        dc,
        &mut admin,
        "Administrator replaces clearTextPassword\\0x (LDAPS)",
        &dn,
        STRONG,
        |id| {
            modify_request(
                id,
                &dn,
                &[change(MOD_REPLACE, b"clearTextPassword\0x", &[&value])],
                &[],
            )
        },
    );
    assert_all_refused(&[outcome]);
}

// ---------------------------------------------------------------------------
// 3. A length octet 0x80 (Samba)

#[test]
fn samba_a_0x80_length_in_a_unicodepwd_replace_is_refused() {
    let dc = dc_or_skip!();
    let gate = ad_gate(dc);
    let weak = unicode_pwd_value(WEAK);
    let mut outcomes = Vec::new();
    // Written `80 LL`: the changes SEQUENCE (pwgate's old reader saw a
    // Modify without changes) and the values SET (no values).
    for (name, label, path) in [
        ("sr-80-changes", "the changes SEQUENCE", &[1usize, 1][..]),
        ("sr-80-values", "the values SET", &[1, 1, 0, 1, 1][..]),
    ] {
        let dn = dc.create_user(name, STRONG, USERS_DN);
        let mut admin = through(gate.ldaps_addr, Security::Ldaps, ADMIN_DN, ADMIN_PW);
        outcomes.push(samba_outcome(
            dc,
            &mut admin,
            &format!("Administrator replaces unicodePwd, {label} with length `80 LL`"),
            &dn,
            STRONG,
            |id| {
                let message = modify_request(
                    id,
                    &dn,
                    &[change(MOD_REPLACE, b"unicodePwd", &[&weak])],
                    &[],
                );
                let mut tree = Node::parse_message(&message).expect("well-formed");
                let node = tree.at_mut(path).expect("the element exists");
                assert!(matches!(node.tag, 0x30 | 0x31), "{label}: {:#x}", node.tag);
                node.len = Len::Samba80;
                tree.encode()
            },
        ));
    }
    assert_all_refused(&outcomes);
}

// ---------------------------------------------------------------------------
// What must still pass (Samba)

#[test]
fn samba_harmless_controls_on_a_description_modify_are_forwarded() {
    let dc = dc_or_skip!();
    let gate = ad_gate(dc);
    let dn = dc.create_user("sr-controls", STRONG, USERS_DN);
    let mut admin = through(gate.ldaps_addr, Security::Ldaps, ADMIN_DN, ADMIN_PW);
    let mut failures = Vec::new();
    for (n, (label, ctl)) in harmless_controls().into_iter().enumerate() {
        let description = format!("strict reading {n}");
        let reply = send(&mut admin, |id| {
            modify_request(
                id,
                &dn,
                &[change(
                    MOD_REPLACE,
                    b"description",
                    &[description.as_bytes()],
                )],
                &[ctl],
            )
        });
        let (_, stored) = dc.read(&dn, &["description"]);
        let applied = stored
            .lines()
            .any(|l| l == format!("description: {description}"));
        if reply.code() != Some(0) || !applied {
            failures.push(format!(
                "{label}: {} (description applied on the DC: {applied})",
                reply.describe()
            ));
        }
        if matches!(reply, Reply::Closed(_) | Reply::Timeout | Reply::Garbage(_)) {
            admin = through(gate.ldaps_addr, Security::Ldaps, ADMIN_DN, ADMIN_PW);
        }
    }
    assert!(
        failures.is_empty(),
        "harmless controls on a non-password Modify must be forwarded and applied:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn samba_a_strong_change_with_non_minimal_lengths_is_forwarded_and_lands() {
    let dc = dc_or_skip!();
    let gate = ad_gate(dc);
    let dn = dc.create_user("sr-long-lengths", STRONG, USERS_DN);
    let mut user = through(gate.ldaps_addr, Security::Ldaps, &dn, STRONG);
    let (old, new) = (unicode_pwd_value(STRONG), unicode_pwd_value(STRONG_2));
    let reply = send(&mut user, |id| {
        with_long_lengths(&modify_request(
            id,
            &dn,
            &[
                change(MOD_DELETE, b"unicodePwd", &[&old]),
                change(MOD_ADD, b"unicodePwd", &[&new]),
            ],
            &[],
        ))
    });
    assert_eq!(
        reply.code(),
        Some(0),
        "a strong change with 4-byte lengths must be forwarded and applied: {}",
        reply.describe()
    );
    assert!(dc.binds(&dn, STRONG_2), "the new password binds on the DC");
    assert!(!dc.binds(&dn, STRONG));
}
