//! Lossless pass-through: everything that is not a password operation reaches
//! the directory and comes back exactly as it would without pwgate.
//!
//! Each test starts its own slapd and pwgate. Real clients (ldap-utils) show
//! that searches, referrals, paging, TLS, writes, compares, WhoAmI and failed
//! binds behave the same direct and through pwgate; raw sockets show that
//! pipelined responses are byte-identical per message ID, that malformed
//! input and an unreachable directory end in a Notice of Disconnection, and
//! that StartTLS on an encrypted connection is refused without harm. The
//! raw BER encoder and reader are in tests/common/raw.rs.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Output;
use std::time::{Duration, Instant};

use common::pwgate::Pwgate;
use common::raw::{
    abandon, addr_of, assert_notice_then_eof, by_msgid, bystander, connect, equals, ops_of,
    paged_results_control, present, search_request, simple_bind, split_frames, start_tls, tls_wrap,
    unbind, FrameReader, Response, BIND_RESPONSE, EXTENDED_RESPONSE, OID_PAGED_RESULTS, SCOPE_BASE,
    SCOPE_SUBTREE, SEARCH_RESULT_DONE, SEARCH_RESULT_ENTRY, SEARCH_RESULT_REFERENCE,
};
use common::slapd::{self, ldap_tool, ldap_tool_stdin, Slapd};
use common::tools::{assert_ok, describe, stderr, stdout};

// ---------------------------------------------------------------------------
// ldap-utils helpers

/// `ldapsearch -x -LLL -o ldif-wrap=no -H <url> <args>`, which must succeed.
fn search(url: &str, args: &[&str]) -> String {
    let mut all = vec!["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url];
    all.extend_from_slice(args);
    assert_ok(
        &format!("ldapsearch {all:?}"),
        &ldap_tool("ldapsearch", &all),
    )
}

/// Runs the same search direct and through pwgate; they must print the same.
fn assert_same_search(direct_url: &str, gate_url: &str, args: &[&str]) -> String {
    let direct = search(direct_url, args);
    let via = search(gate_url, args);
    assert_eq!(
        direct, via,
        "ldapsearch {args:?} differs through pwgate ({gate_url}) from direct ({direct_url})"
    );
    direct
}

fn count_dns(ldif: &str) -> usize {
    ldif.lines().filter(|l| l.starts_with("dn: ")).count()
}

const ADMIN: [&str; 4] = ["-D", slapd::ADMIN_DN, "-w", slapd::ADMIN_PW];

/// Over StartTLS: pwgate refuses simple binds with a password in clear text.
fn admin_tool_stdin(program: &str, url: &str, input: &str) -> Output {
    let mut args = vec!["-x", "-ZZ", "-H", url];
    args.extend_from_slice(&ADMIN);
    ldap_tool_stdin(program, &args, input)
}

/// The entry `dn` (uid and description), read directly from slapd; `None`
/// if it does not exist.
fn entry_directly(server: &Slapd, dn: &str) -> Option<String> {
    let args = [
        "-x",
        "-LLL",
        "-H",
        &server.ldap_url(),
        "-b",
        dn,
        "-s",
        "base",
        "(objectClass=*)",
        "uid",
        "description",
    ];
    let out = ldap_tool("ldapsearch", &args);
    if out.status.code() == Some(32) {
        return None; // noSuchObject
    }
    Some(assert_ok(&format!("direct read of {dn}"), &out))
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

// ---------------------------------------------------------------------------
// 1. Searches are identical direct and through pwgate.

#[test]
fn subtree_search_with_referral_is_identical_through_pwgate() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let out = assert_same_search(
        &server.ldap_url(),
        &gate.ldap_url(),
        &["-b", slapd::BASE_DN, "-s", "sub", "(objectClass=*)"],
    );
    // base, people, groups, 2 groups, policies, policy, 4 users, bulk ou,
    // 25 bulk entries.
    assert_eq!(count_dns(&out), 12 + slapd::BULK_ENTRIES, "{out}");
    // The referral object comes back as a SearchResultReference.
    assert!(out.contains(slapd::REFERRAL_URL), "{out}");
    assert!(out.contains("description: bulk entry 24"), "{out}");
}

#[test]
fn base_search_is_identical_through_pwgate() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let alice = slapd::user_dn("alice");
    let out = assert_same_search(
        &server.ldap_url(),
        &gate.ldap_url(),
        &["-b", &alice, "-s", "base", "(objectClass=*)", "*", "+"],
    );
    assert_eq!(count_dns(&out), 1, "{out}");
    assert!(out.contains(&format!("dn: {alice}")), "{out}");
    assert!(out.contains("entryUUID: "), "operational attributes: {out}");
}

#[test]
fn filtered_search_with_attribute_list_is_identical_through_pwgate() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let out = assert_same_search(
        &server.ldap_url(),
        &gate.ldap_url(),
        &[
            "-b",
            slapd::BASE_DN,
            "(|(uid=alice)(uid=bob)(description=bulk entry 1*))",
            "cn",
            "mail",
            "description",
        ],
    );
    // alice, bob, bulk entries 1 and 10..=19.
    assert_eq!(count_dns(&out), 13, "{out}");
    assert!(out.contains("mail: bob@example.com"), "{out}");
    assert!(!out.contains("uid: "), "attribute list ignored: {out}");
}

#[test]
fn paged_search_over_several_pages_is_identical_through_pwgate() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let args = [
        "-E",
        "pr=5/noprompt",
        "-b",
        slapd::BULK_DN,
        "(objectClass=inetOrgPerson)",
        "description",
    ];
    let out = assert_same_search(&server.ldap_url(), &gate.ldap_url(), &args);
    assert_eq!(count_dns(&out), slapd::BULK_ENTRIES, "{out}");
    // Without -LLL, ldapsearch prints one "pagedresults:" comment per page,
    // including the cookies: those must match too.
    let verbose = |url: &str| {
        let mut all = vec!["-x", "-o", "ldif-wrap=no", "-H", url];
        all.extend_from_slice(&args);
        assert_ok("verbose paged ldapsearch", &ldap_tool("ldapsearch", &all))
    };
    let (direct, via) = (verbose(&server.ldap_url()), verbose(&gate.ldap_url()));
    assert_eq!(direct, via, "paged search differs through pwgate");
    let pages = via.lines().filter(|l| l.contains("pagedresults:")).count();
    assert!(pages >= 5, "expected at least 5 pages, got {pages}:\n{via}");
}

// ---------------------------------------------------------------------------
// 2. The same over TLS to pwgate.

#[test]
fn ldaps_search_through_pwgate_matches_direct() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let out = assert_same_search(
        &server.ldaps_url(),
        &gate.ldaps_url(),
        &["-b", slapd::BASE_DN, "(objectClass=*)"],
    );
    assert_eq!(count_dns(&out), 12 + slapd::BULK_ENTRIES, "{out}");
    assert!(out.contains(slapd::REFERRAL_URL), "{out}");
}

#[test]
fn starttls_search_through_pwgate_matches_direct() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    // -ZZ: fail unless StartTLS succeeds.
    let out = assert_same_search(
        &server.ldap_url(),
        &gate.ldap_url(),
        &["-ZZ", "-b", slapd::BASE_DN, "(objectClass=*)"],
    );
    assert_eq!(count_dns(&out), 12 + slapd::BULK_ENTRIES, "{out}");
    assert!(out.contains(slapd::REFERRAL_URL), "{out}");
}

// ---------------------------------------------------------------------------
// 3. Writes, compares, WhoAmI and failed binds.

#[test]
fn add_modify_modrdn_and_delete_pass_through_and_take_effect() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let url = gate.ldap_url();
    let newbie = format!("uid=newbie,{}", slapd::PEOPLE_DN);
    let renamed = format!("uid=renamed,{}", slapd::PEOPLE_DN);

    assert_ok(
        "add through pwgate",
        &admin_tool_stdin(
            "ldapmodify",
            &url,
            &format!(
                "dn: {newbie}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: newbie\n\
                 cn: New Bie\nsn: Bie\ndescription: first\n"
            ),
        ),
    );
    let now = entry_directly(&server, &newbie).expect("added entry exists in slapd");
    assert!(has_line(&now, "uid: newbie"), "{now}");
    assert!(has_line(&now, "description: first"), "{now}");

    assert_ok(
        "modify through pwgate",
        &admin_tool_stdin(
            "ldapmodify",
            &url,
            &format!(
                "dn: {newbie}\nchangetype: modify\nreplace: description\ndescription: second\n"
            ),
        ),
    );
    let now = entry_directly(&server, &newbie).expect("modified entry exists in slapd");
    assert!(has_line(&now, "description: second"), "{now}");
    assert!(!now.contains("first"), "{now}");

    let mut args = vec!["-x", "-ZZ", "-H", url.as_str()];
    args.extend_from_slice(&ADMIN);
    args.extend_from_slice(&["-r", &newbie, "uid=renamed"]);
    assert_ok("ldapmodrdn through pwgate", &ldap_tool("ldapmodrdn", &args));
    assert_eq!(
        entry_directly(&server, &newbie),
        None,
        "old DN still exists"
    );
    let now = entry_directly(&server, &renamed).expect("renamed entry exists in slapd");
    assert!(has_line(&now, "uid: renamed"), "{now}");
    assert!(
        !has_line(&now, "uid: newbie"),
        "-r keeps the old RDN: {now}"
    );
    assert!(has_line(&now, "description: second"), "{now}");

    assert_ok(
        "delete through pwgate",
        &admin_tool_stdin(
            "ldapmodify",
            &url,
            &format!("dn: {renamed}\nchangetype: delete\n"),
        ),
    );
    assert_eq!(entry_directly(&server, &renamed), None, "entry not deleted");
}

#[test]
fn modify_larger_than_the_read_buffer_passes_through_intact() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    // 100 kB: several of pwgate's 16 KiB reads, and of slapd's writes back.
    let value: String = (0..100_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let carol = slapd::user_dn("carol");
    assert_ok(
        "large modify through pwgate",
        &admin_tool_stdin(
            "ldapmodify",
            &gate.ldap_url(),
            &format!(
                "dn: {carol}\nchangetype: modify\nreplace: description\ndescription: {value}\n"
            ),
        ),
    );
    let args = [
        "-b",
        carol.as_str(),
        "-s",
        "base",
        "(objectClass=*)",
        "description",
    ];
    let out = assert_same_search(&server.ldap_url(), &gate.ldap_url(), &args);
    assert_eq!(out, format!("dn: {carol}\ndescription: {value}\n\n"));
}

#[test]
fn compare_true_and_false_give_the_same_exit_codes_and_output() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let alice = slapd::user_dn("alice");
    for (assertion, code, text) in [("cn:Alice", 6, "TRUE"), ("cn:Mallory", 5, "FALSE")] {
        let run = |url: &str| ldap_tool("ldapcompare", &["-x", "-H", url, &alice, assertion]);
        let (direct, via) = (run(&server.ldap_url()), run(&gate.ldap_url()));
        assert_eq!(
            direct.status.code(),
            Some(code),
            "direct: {}",
            describe(&direct)
        );
        assert_eq!(via.status.code(), Some(code), "pwgate: {}", describe(&via));
        assert_eq!(stdout(&via).trim(), text, "{}", describe(&via));
        assert_eq!(direct.stdout, via.stdout);
        assert_eq!(direct.stderr, via.stderr);
    }
}

#[test]
fn whoami_through_pwgate_returns_the_bound_dn() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let alice = slapd::user_dn("alice");
    let pw = slapd::user_password("alice");
    let run = |url: &str| {
        assert_ok(
            "ldapwhoami",
            &ldap_tool(
                "ldapwhoami",
                &["-x", "-ZZ", "-H", url, "-D", &alice, "-w", pw],
            ),
        )
    };
    let via = run(&gate.ldap_url());
    assert_eq!(via.trim(), format!("dn:{alice}"));
    assert_eq!(via, run(&server.ldap_url()));
    // Anonymous, over LDAPS to pwgate.
    let anon = assert_ok(
        "anonymous ldapwhoami over LDAPS",
        &ldap_tool("ldapwhoami", &["-x", "-H", &gate.ldaps_url()]),
    );
    assert_eq!(anon.trim(), "anonymous");
}

#[test]
fn bind_with_wrong_password_fails_with_49_through_pwgate_like_direct() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let alice = slapd::user_dn("alice");
    let run = |url: &str| {
        ldap_tool(
            "ldapwhoami",
            &[
                "-x",
                "-ZZ",
                "-H",
                url,
                "-D",
                &alice,
                "-w",
                "Not-Alices-Passw0rd",
            ],
        )
    };
    let (direct, via) = (run(&server.ldap_url()), run(&gate.ldap_url()));
    assert_eq!(direct.status.code(), Some(49), "{}", describe(&direct));
    assert_eq!(via.status.code(), Some(49), "{}", describe(&via));
    assert_eq!(direct.stdout, via.stdout);
    assert_eq!(direct.stderr, via.stderr);
    assert!(
        stderr(&via).contains("Invalid credentials (49)"),
        "{}",
        describe(&via)
    );
}

// ---------------------------------------------------------------------------
// 4. Pipelined requests: byte-identical responses per message ID.

/// The requests written in one go:
/// 1. anonymous simple bind;
/// 2. subtree search under ou=bulk, `(objectClass=*)`, all user attributes,
///    with the paged-results control, page size 10;
/// 3. base search of the root DSE, `(objectClass=*)`, all operational
///    attributes (`+`);
/// 4. subtree search of the whole base for `(uid=nobody-at-all)`, `cn` only
///    (no entry, but the referral object's SearchResultReference);
/// 5. abandon of msgid 99, which was never sent (no response).
fn pipelined_batch() -> Vec<u8> {
    [
        simple_bind(1, "", ""),
        search_request(
            2,
            slapd::BULK_DN,
            SCOPE_SUBTREE,
            &present("objectClass"),
            &[],
            &[paged_results_control(10)],
        ),
        search_request(3, "", SCOPE_BASE, &present("objectClass"), &["+"], &[]),
        search_request(
            4,
            slapd::BASE_DN,
            SCOPE_SUBTREE,
            &equals("uid", "nobody-at-all"),
            &["cn"],
            &[],
        ),
        abandon(5, 99),
    ]
    .concat()
}

/// Sends [`pipelined_batch`] (in one write, or one byte per write), waits
/// for the answers to msgids 1 to 4, then unbinds (msgid 6) and reads until
/// the server closes. Returns every byte received.
///
/// The unbind is sent only after the answers: slapd abandons a
/// connection's outstanding operations when it processes an unbind, so an
/// unbind in the same write would make the answers race with it.
fn pipelined_exchange(addr: SocketAddr, byte_by_byte: bool) -> Vec<u8> {
    let mut stream = connect(addr);
    let batch = pipelined_batch();
    if byte_by_byte {
        for b in &batch {
            stream.write_all(&[*b]).expect("write one byte");
        }
    } else {
        stream.write_all(&batch).expect("write the batch");
    }
    let mut reader = FrameReader::new(stream.try_clone().expect("clone socket"));
    let mut pending = vec![
        (1, BIND_RESPONSE),
        (2, SEARCH_RESULT_DONE),
        (3, SEARCH_RESULT_DONE),
        (4, SEARCH_RESULT_DONE),
    ];
    while !pending.is_empty() {
        let frame = reader
            .next_frame()
            .unwrap_or_else(|| panic!("{addr} closed while waiting for {pending:?}"));
        let r = Response::parse(&frame);
        pending.retain(|p| *p != (r.msgid, r.op));
    }
    stream.write_all(&unbind(6)).expect("write the unbind");
    let after_unbind = reader.until_eof();
    assert!(
        after_unbind.is_empty(),
        "{addr} answered after unbind: {after_unbind:02x?}"
    );
    reader.raw
}

fn assert_pipelined_responses_match(byte_by_byte: bool) {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let direct = by_msgid(&pipelined_exchange(addr_of(&server.ldap_url()), false));
    let via = by_msgid(&pipelined_exchange(gate.ldap_addr, byte_by_byte));

    assert_eq!(
        direct.keys().collect::<Vec<_>>(),
        [&1, &2, &3, &4],
        "direct answers"
    );
    for (msgid, expected) in &direct {
        let got = via
            .get(msgid)
            .unwrap_or_else(|| panic!("no answer to msgid {msgid} through pwgate"));
        assert_eq!(
            got, expected,
            "answers to msgid {msgid} differ through pwgate"
        );
    }
    assert_eq!(via.len(), direct.len(), "extra message IDs through pwgate");

    // The answers are the expected ones, so the comparison is not vacuous.
    let ops = |id: i64| ops_of(&direct[&id]);
    assert_eq!(ops(1), [BIND_RESPONSE]);
    let mut paged = vec![SEARCH_RESULT_ENTRY; 10];
    paged.push(SEARCH_RESULT_DONE);
    assert_eq!(ops(2), paged, "one page of 10 entries");
    assert_eq!(ops(3), [SEARCH_RESULT_ENTRY, SEARCH_RESULT_DONE]);
    // The filter matches nothing, but the referral object is in scope.
    assert_eq!(ops(4), [SEARCH_RESULT_REFERENCE, SEARCH_RESULT_DONE]);
    for id in 1..=4 {
        let (frames, _) = split_frames(&via[&id]);
        let last = Response::parse(frames[frames.len() - 1]);
        assert_eq!(last.result_code(), 0, "result of msgid {id}");
    }
    // The paged-results response control (with its cookie) came back.
    let (frames, _) = split_frames(&via[&2]);
    let done = Response::parse(frames[frames.len() - 1]);
    assert_eq!(done.control_oids(), [OID_PAGED_RESULTS]);
    let root_dse = String::from_utf8_lossy(&via[&3]);
    assert!(root_dse.contains(slapd::BASE_DN), "namingContexts missing");
}

#[test]
fn pipelined_requests_in_one_write_get_byte_identical_answers_per_msgid() {
    assert_pipelined_responses_match(false);
}

#[test]
fn pipelined_requests_sent_one_byte_per_write_get_byte_identical_answers() {
    assert_pipelined_responses_match(true);
}

// ---------------------------------------------------------------------------
// 5. and 6. Notices of Disconnection.

fn assert_malformed_input_is_disconnected(input: &[u8]) {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let (mut other, mut other_reader) = bystander(gate.ldap_addr);

    let mut bad = connect(gate.ldap_addr);
    bad.write_all(input).expect("write malformed input");
    assert_notice_then_eof(bad, 2);

    // The connection opened before is unaffected...
    other
        .write_all(&search_request(
            2,
            "",
            SCOPE_BASE,
            &present("objectClass"),
            &["namingContexts"],
            &[],
        ))
        .expect("bystander search");
    let frames = other_reader.until(2, SEARCH_RESULT_DONE);
    assert_eq!(frames.len(), 2, "root DSE entry and done");
    assert_eq!(Response::parse(&frames[1]).result_code(), 0);
    // ...and new clients are served.
    let out = search(
        &gate.ldap_url(),
        &["-b", slapd::PEOPLE_DN, "(uid=alice)", "mail"],
    );
    assert_eq!(
        out,
        format!(
            "dn: {}\nmail: alice@example.com\n\n",
            slapd::user_dn("alice")
        )
    );
}

#[test]
fn garbage_input_gets_notice_of_disconnection_and_others_are_unaffected() {
    assert_malformed_input_is_disconnected(b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn message_claiming_2_gib_gets_notice_of_disconnection_and_others_are_unaffected() {
    assert_malformed_input_is_disconnected(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]);
}

#[test]
fn indefinite_length_gets_notice_of_disconnection_and_others_are_unaffected() {
    assert_malformed_input_is_disconnected(&[0x30, 0x80]);
}

#[test]
fn unreachable_directory_gets_notice_of_disconnection_unavailable() {
    // A port nobody listens on: bind one, note it, close it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let gate = Pwgate::start(&format!("ldap://{closed}"));
    // The directory is connected to for the first request.
    let mut stream = connect(gate.ldap_addr);
    stream
        .write_all(&search_request(
            1,
            "",
            SCOPE_BASE,
            &present("objectClass"),
            &[],
            &[],
        ))
        .expect("send a search");
    assert_notice_then_eof(stream, 52);
    // A real client fails promptly instead of hanging.
    let started = Instant::now();
    let out = ldap_tool(
        "ldapsearch",
        &["-x", "-H", &gate.ldap_url(), "-b", "", "-s", "base"],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "ldapsearch took {:?}",
        started.elapsed()
    );
}

/// Established TCP connections to 127.0.0.1:`port`, as `ss` counts them.
fn connections_to(port: u16) -> usize {
    let out = std::process::Command::new("ss")
        .args(["-Htn", "state", "established", &format!("dport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A client that has sent nothing holds no connection to the directory:
/// pwgate connects when the first request needs it (StartTLS, answered by
/// pwgate itself, does not).
#[test]
fn idle_clients_hold_no_directory_connection() {
    let server = Slapd::start();
    let port = addr_of(&server.ldap_url()).port();
    let gate = Pwgate::start(&server.ldap_url());
    let before = connections_to(port);
    let idle: Vec<_> = (0..20).map(|_| connect(gate.ldap_addr)).collect();
    let mut tls = connect(gate.ldap_addr);
    tls.write_all(&start_tls(1)).expect("send StartTLS");
    let mut reader = FrameReader::new(&mut tls);
    let answer = reader.until(1, EXTENDED_RESPONSE).pop().expect("an answer");
    assert_eq!(Response::parse(&answer).result_code(), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        connections_to(port),
        before,
        "idle clients opened directory connections"
    );
    let (_busy, _reader) = bystander(gate.ldap_addr);
    let deadline = Instant::now() + Duration::from_secs(5);
    while connections_to(port) == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        connections_to(port),
        before + 1,
        "the first request connects"
    );
    drop(idle);
}

// ---------------------------------------------------------------------------
// 7. StartTLS on a connection that already has TLS.

/// What a connection that already has TLS gets for another StartTLS
/// (msgid 2): its result code, then the root DSE search (msgid 3) over the
/// same connection must still work.
fn refused_start_tls_then_search<S: Read + Write>(conn: &mut FrameReader<S>) -> i64 {
    conn.reader
        .write_all(&start_tls(2))
        .expect("write StartTLS");
    conn.reader.flush().expect("flush StartTLS");
    let frames = conn.until(2, EXTENDED_RESPONSE);
    assert_eq!(frames.len(), 1, "only the StartTLS answer: {frames:02x?}");
    let code = Response::parse(&frames[0]).result_code();

    let search = search_request(
        3,
        "",
        SCOPE_BASE,
        &present("objectClass"),
        &["namingContexts"],
        &[],
    );
    conn.reader.write_all(&search).expect("write search");
    conn.reader.flush().expect("flush search");
    let frames = conn.until(3, SEARCH_RESULT_DONE);
    let ops: Vec<u8> = frames.iter().map(|f| Response::parse(f).op).collect();
    assert_eq!(ops, [SEARCH_RESULT_ENTRY, SEARCH_RESULT_DONE]);
    assert_eq!(Response::parse(&frames[1]).result_code(), 0);
    assert!(
        String::from_utf8_lossy(&frames[0]).contains(slapd::BASE_DN),
        "namingContexts missing"
    );
    code
}

/// StartTLS (msgid 1) on a plain connection, then [`refused_start_tls_then_search`].
fn start_tls_twice(addr: SocketAddr) -> i64 {
    let tcp = connect(addr);
    (&tcp).write_all(&start_tls(1)).expect("write StartTLS");
    let mut plain = FrameReader::new(&tcp);
    let frames = plain.until(1, EXTENDED_RESPONSE);
    assert_eq!(
        Response::parse(&frames[0]).result_code(),
        0,
        "first StartTLS"
    );
    assert!(plain.buf.is_empty(), "bytes after the StartTLS answer");
    drop(plain);
    refused_start_tls_then_search(&mut FrameReader::new(tls_wrap(tcp)))
}

/// [`refused_start_tls_then_search`] over LDAPS.
fn start_tls_over_ldaps(addr: SocketAddr) -> i64 {
    refused_start_tls_then_search(&mut FrameReader::new(tls_wrap(connect(addr))))
}

const OPERATIONS_ERROR: i64 = 1;

#[test]
fn second_starttls_is_refused_and_the_connection_stays_usable() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    assert_eq!(
        start_tls_twice(addr_of(&server.ldap_url())),
        OPERATIONS_ERROR
    );
    assert_eq!(start_tls_twice(gate.ldap_addr), OPERATIONS_ERROR);
}

#[test]
fn starttls_over_ldaps_is_refused_and_the_connection_stays_usable() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    assert_eq!(
        start_tls_over_ldaps(addr_of(&server.ldaps_url())),
        OPERATIONS_ERROR
    );
    assert_eq!(start_tls_over_ldaps(gate.ldaps_addr), OPERATIONS_ERROR);
}

const CONFIDENTIALITY_REQUIRED: i64 = 13;

/// A simple bind with a password on the plain listener, before StartTLS,
/// is refused (its password would cross the network in clear text);
/// anonymous binds and binds after StartTLS or over LDAPS pass, and
/// `allow_cleartext_binds = true` lets it through.
#[test]
fn simple_binds_with_a_password_need_an_encrypted_connection() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let alice = slapd::user_dn("alice");
    let pw = slapd::user_password("alice");
    let bind_code = |stream: &mut dyn ReadWrite, dn: &str, password: &str| {
        stream
            .write_all(&simple_bind(1, dn, password))
            .expect("send the bind");
        let mut reader = FrameReader::new(stream);
        let frame = reader.until(1, BIND_RESPONSE).pop().expect("a bind answer");
        let response = Response::parse(&frame);
        (response.result_code(), response.diagnostic())
    };
    let (code, text) = bind_code(&mut connect(gate.ldap_addr), &alice, pw);
    assert_eq!(code, CONFIDENTIALITY_REQUIRED, "{text}");
    assert!(text.contains("encrypted connection"), "{text}");
    assert_eq!(bind_code(&mut connect(gate.ldap_addr), "", "").0, 0);
    assert_eq!(
        bind_code(&mut tls_wrap(connect(gate.ldaps_addr)), &alice, pw).0,
        0
    );
    let tool = |url: &str, tls: bool| {
        let mut args = vec!["-x", "-H", url, "-D", &alice, "-w", pw];
        if tls {
            args.insert(0, "-ZZ");
        }
        ldap_tool("ldapwhoami", &args)
    };
    assert_ok("ldapwhoami after StartTLS", &tool(&gate.ldap_url(), true));
    let refused = tool(&gate.ldap_url(), false);
    assert_eq!(refused.status.code(), Some(13), "{}", describe(&refused));
    let lab = Pwgate::start_with(
        &server.ldap_url(),
        "[listen]\nallow_cleartext_binds = true\n",
    );
    assert_ok(
        "ldapwhoami in clear text, allowed",
        &tool(&lab.ldap_url(), false),
    );
}

/// Both Read and Write, for plain and TLS raw streams alike.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A protocolOp no server defines (here a Modify's number with the
/// context class, 0xa6) could be read as a Modify by a lenient server:
/// pwgate ends the session instead of forwarding it.
#[test]
fn an_unknown_protocol_op_ends_the_session() {
    let server = Slapd::start();
    let gate = Pwgate::start(&server.ldap_url());
    let mut stream = connect(gate.ldap_addr);
    let body = [
        common::raw::octets(&slapd::user_dn("alice")),
        common::raw::tlv(0x30, &[]),
    ]
    .concat();
    let message = common::raw::ldap_message(2, &common::raw::tlv(0xa6, &body), &[]);
    stream.write_all(&message).expect("send");
    let text = assert_notice_then_eof(stream, common::raw::PROTOCOL_ERROR);
    assert!(text.contains("0xa6"), "{text}");
}
