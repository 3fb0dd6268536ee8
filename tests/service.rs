//! The decision service and `pwgate hook samba`, with the real binary: a
//! running pwgate (its `[directory]` a real slapd) answers the hook over
//! its Unix socket, as Samba's check password script would run it. The
//! hook's bad inputs and pwgate stopped, slow or gone mid-request end in
//! the fail mode with one line on standard error, never the password.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::process::{PwgateProcess, PWGATE};
use common::slapd::{user_dn, Slapd, ADMIN_DN, ADMIN_PW};
use common::tools::{describe, http_get, run_bounded, stderr, two_free_ports};

const STRONG: &str = "tangerine-Otter-42-lamp";
const WEAK: &str = "Summer2025!";
const HOOK_TIMEOUT: Duration = Duration::from_secs(20);

/// A pwgate whose `[directory]` is `slapd`, serving its decision service
/// on a socket in `dir`, with `extra` TOML.
fn gate(slapd: &Slapd, dir: &Path, extra: &str) -> (PwgateProcess, PathBuf) {
    let secret = dir.join("lookup.secret");
    std::fs::write(&secret, ADMIN_PW).expect("write the lookup secret");
    let socket = dir.join("decide.sock");
    let config = dir.join("pwgate.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurls = [\"{url}\"]\n\n\
             [directory]\nurls = [\"{url}\"]\nallow_cleartext = true\nbind_dn = \"{ADMIN_DN}\"\n\
             bind_password_file = \"{secret}\"\n\n\
             [service]\nsocket = \"{socket}\"\n{extra}",
            url = slapd.ldap_url(),
            secret = secret.display(),
            socket = socket.display(),
        ),
    )
    .expect("write the config");
    let gate = PwgateProcess::start(
        &[
            "--config",
            config.to_str().expect("UTF-8 path"),
            "--log-format",
            "json",
            "--log-level",
            "info",
        ],
        dir,
    );
    (gate, socket)
}

/// The lean hook binary (`pwgate-samba-hook`).
const LEAN: &str = env!("CARGO_BIN_EXE_pwgate-samba-hook");

/// The two forms of the hook: `pwgate hook samba` and the lean binary.
#[derive(Debug, Clone, Copy)]
enum Hook {
    Pwgate,
    Lean,
}

const BOTH: [Hook; 2] = [Hook::Pwgate, Hook::Lean];

/// Runs `pwgate hook samba` with Samba's variables `vars`, `input` on
/// standard input and `args`.
fn hook(socket: &Path, vars: &[(&str, &str)], input: &[u8], args: &[&str]) -> Output {
    hook_as(Hook::Pwgate, socket, vars, input, args)
}

/// Runs one form of the hook.
fn hook_as(
    form: Hook,
    socket: &Path,
    vars: &[(&str, &str)],
    input: &[u8],
    args: &[&str],
) -> Output {
    let mut cmd = match form {
        Hook::Pwgate => {
            let mut c = Command::new(PWGATE);
            c.args(["hook", "samba"]);
            c
        }
        Hook::Lean => Command::new(LEAN),
    };
    cmd.arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("SAMBA_CPS_ACCOUNT_NAME")
        .env_remove("SAMBA_CPS_USER_PRINCIPAL_NAME")
        .env_remove("SAMBA_CPS_FULL_NAME");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let (out, timed_out) = run_bounded(&mut cmd, Some(input), HOOK_TIMEOUT).expect("run the hook");
    assert!(!timed_out, "the hook hung: {}", describe(&out));
    out
}

fn alice() -> Vec<(&'static str, &'static str)> {
    vec![
        ("SAMBA_CPS_ACCOUNT_NAME", "alice"),
        ("SAMBA_CPS_FULL_NAME", "Alice Liddell"),
    ]
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The events of `event` in pwgate's JSON log.
fn events(gate: &PwgateProcess, event: &str) -> Vec<serde_json::Value> {
    gate.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

#[test]
fn the_hook_gets_the_proxy_s_decision_for_the_account_samba_names() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (metrics_port, _) = two_free_ports();
    let (gate, socket) = gate(
        &slapd,
        dir.path(),
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    );

    let out = hook(&socket, &alice(), WEAK.as_bytes(), &[]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("pwgate: password refused: password rejected by policy:"),
        "{err}"
    );
    assert!(err.contains("[banned_word]"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // Samba's variables name the account.
    let out = hook(&socket, &alice(), b"alice-tangerine-Otter-42", &[]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stderr(&out).contains("[account_name]"),
        "{}",
        describe(&out)
    );

    let out = hook(&socket, &alice(), STRONG.as_bytes(), &[]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(stderr(&out), "");

    // A UPN is found too.
    let out = hook(
        &socket,
        &[("SAMBA_CPS_USER_PRINCIPAL_NAME", "bob")],
        STRONG.as_bytes(),
        &[],
    );
    assert_eq!(code(&out), 0, "{}", describe(&out));
    // An account the directory does not have (one Samba is creating) is
    // judged by the global policy with the names Samba gives.
    let nobody = [("SAMBA_CPS_ACCOUNT_NAME", "nobody")];
    let out = hook(&socket, &nobody, STRONG.as_bytes(), &[]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let out = hook(&socket, &nobody, b"nobody-tangerine-Otter-42", &[]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stderr(&out).contains("[account_name]"),
        "{}",
        describe(&out)
    );

    assert!(gate.wait_for_log("\"door\":\"samba_hook\"", 6, Duration::from_secs(5)));
    let decisions = events(&gate, "password_decision");
    // Without scopes nothing but names depends on the entry: the account
    // is not looked up (the DC is busy with the change; see the README).
    let of_alice: Vec<_> = decisions
        .iter()
        .filter(|e| e["target_dn"] == "name:alice")
        .collect();
    assert_eq!(of_alice.len(), 3, "{decisions:?}");
    for e in &of_alice {
        let f = e;
        assert_eq!(f["door"], "samba_hook", "{e}");
        assert_eq!(f["kind"], "set", "{e}");
        assert_eq!(f["actor"], "unknown", "{e}");
        assert!(
            f["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("local:uid=")),
            "{e}"
        );
    }
    assert!(
        of_alice[0]["rules"]
            .as_str()
            .is_some_and(|r| r.split(',').any(|r| r == "banned_word")),
        "{}",
        of_alice[0]
    );
    assert_eq!(of_alice[2]["verdict"], "accepted");
    let log = gate.log_text();
    for secret in [WEAK, STRONG, "alice-tangerine"] {
        assert!(!log.contains(secret), "the log holds a password");
    }
    // The metrics count them by their door.
    let (status, body) = http_get(metrics_port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    for line in [
        "pwgate_password_decisions_total{door=\"samba_hook\",verdict=\"refused\",rule=\"banned_word\",scope=\"default\"} 3",
        "pwgate_password_decisions_total{door=\"samba_hook\",verdict=\"refused\",rule=\"account_name\",scope=\"default\"} 2",
        "pwgate_password_decisions_total{door=\"samba_hook\",verdict=\"accepted\",rule=\"none\",scope=\"default\"} 3",
    ] {
        assert!(body.lines().any(|l| l == line), "missing `{line}` in:\n{body}");
    }
    assert!(!body.contains("door=\"ldap\""), "{body}");
    assert!(!body.contains("pwgate_password_checks_total{"), "{body}");
}

#[test]
fn with_scopes_the_hook_s_account_is_looked_up_in_the_directory() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (gate, socket) = gate(
        &slapd,
        dir.path(),
        "\n[[policy.scope]]\nname = \"people\"\ndn_suffix = [\"ou=people,dc=example,dc=com\"]\nmin_length = 30\n",
    );
    let out = hook(&socket, &alice(), STRONG.as_bytes(), &[]);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(stderr(&out).contains("[length]"), "{}", describe(&out));
    let long = "tangerine-Otter-42-lamp-and-a-long-tail";
    let out = hook(&socket, &alice(), long.as_bytes(), &[]);
    assert_eq!(code(&out), 0, "{}", describe(&out));
    // Not found: with scopes pwgate cannot tell which applies.
    let out = hook(
        &socket,
        &[("SAMBA_CPS_ACCOUNT_NAME", "nobody")],
        long.as_bytes(),
        &[],
    );
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        stderr(&out).contains("no such account"),
        "{}",
        describe(&out)
    );
    assert!(gate.wait_for_log("\"scope\":\"people\"", 2, Duration::from_secs(5)));
    let alice_dn = user_dn("alice");
    let of_alice: Vec<_> = events(&gate, "password_decision")
        .into_iter()
        .filter(|e| e["target_dn"] == alice_dn.as_str())
        .collect();
    assert_eq!(of_alice.len(), 2, "{of_alice:?}");
    assert!(
        of_alice.iter().all(|e| e["scope"] == "people"),
        "{of_alice:?}"
    );
}

#[test]
fn the_lean_hook_gets_the_same_answers_and_refuses_what_it_cannot_do() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (gate, socket) = gate(&slapd, dir.path(), "");
    for (input, status, rule) in [
        (WEAK, 1, Some("[banned_word]")),
        ("alice-tangerine-Otter-42", 1, Some("[account_name]")),
        (STRONG, 0, None),
    ] {
        let outs = BOTH.map(|form| hook_as(form, &socket, &alice(), input.as_bytes(), &[]));
        for out in &outs {
            assert_eq!(code(out), status, "{}", describe(out));
            if let Some(rule) = rule {
                assert!(stderr(out).contains(rule), "{}", describe(out));
            }
        }
        assert_eq!(stderr(&outs[0]), stderr(&outs[1]), "the two forms differ");
    }
    assert!(gate.wait_for_log("\"door\":\"samba_hook\"", 6, Duration::from_secs(5)));
    drop(gate);

    // Stopped, slow: the same fail modes.
    let out = hook_as(Hook::Lean, &socket, &alice(), STRONG.as_bytes(), &[]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(
        stderr(&out).contains("cannot reach pwgate at"),
        "{}",
        describe(&out)
    );
    let out = hook_as(
        Hook::Lean,
        &socket,
        &alice(),
        STRONG.as_bytes(),
        &["--on-error=allow"],
    );
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let slow = dir.path().join("slow.sock");
    let listener = UnixListener::bind(&slow).expect("bind");
    let held = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        std::thread::sleep(Duration::from_secs(2));
    });
    let out = hook_as(
        Hook::Lean,
        &slow,
        &alice(),
        STRONG.as_bytes(),
        &["--timeout-ms", "300"],
    );
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("within 300 ms"), "{}", describe(&out));
    held.join().expect("the fake socket");

    // What it cannot do is a usage error, not a silent fallback; the
    // password is never read then.
    for (args, why) in [
        (
            vec!["--on-error", "evaluate"],
            "use `pwgate hook samba --on-error evaluate",
        ),
        (vec!["--timeout-ms", "9001"], "from 1 to 9000"),
        (vec!["--timeout-ms"], "needs a value"),
        (vec!["--socket", ""], "the value is empty"),
        (
            vec!["--bogus\u{1b}[2J"],
            "unexpected argument \"--bogus\\u{1b}[2J\"",
        ),
    ] {
        let out = hook_as(Hook::Lean, &socket, &alice(), STRONG.as_bytes(), &args);
        assert_eq!(code(&out), 2, "{args:?}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("pwgate-samba-hook: error: ") && err.contains(why),
            "{err}"
        );
        assert!(!err.contains('\u{1b}') && !err.contains(STRONG), "{err}");
    }
    let help = Command::new(LEAN)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("SAMBA_CPS_ACCOUNT_NAME"));
}

#[test]
fn a_portal_asks_with_a_check_and_is_answered_in_json() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (metrics_port, _) = two_free_ports();
    let (gate, socket) = gate(
        &slapd,
        dir.path(),
        &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    );
    let mut s = UnixStream::connect(&socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let dn = user_dn("carol");
    for password in [WEAK, STRONG] {
        writeln!(
            s,
            r#"{{"v":1,"op":"check","account":{{"dn":"{dn}"}},"password":"{password}"}}"#
        )
        .unwrap();
    }
    writeln!(
        s,
        r#"{{"v":1,"op":"check","account":{{}},"password":"{STRONG}"}}"#
    )
    .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answers = String::new();
    s.read_to_string(&mut answers).expect("answers");
    let answers: Vec<serde_json::Value> = answers
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON answer"))
        .collect();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0]["verdict"], "refused");
    assert!(
        answers[0]["rules"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "banned_word")),
        "{answers:?}"
    );
    assert_eq!(answers[0]["account"], dn.as_str());
    assert_eq!(answers[0]["scope"], "default");
    assert_eq!(answers[1]["verdict"], "accepted");
    assert_eq!(answers[1]["message"], serde_json::Value::Null);
    assert_eq!(answers[2]["error"], "bad_request");
    // Audited as checks, not decisions.
    assert!(gate.wait_for_log("password_check", 2, Duration::from_secs(5)));
    assert!(events(&gate, "password_decision").is_empty());
    assert!(!gate.log_text().contains(STRONG));
    // Counted as checks, not as decisions.
    let (status, body) = http_get(metrics_port, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    for line in [
        "pwgate_password_checks_total{verdict=\"refused\",rule=\"banned_word\",scope=\"default\"} 1",
        "pwgate_password_checks_total{verdict=\"accepted\",rule=\"none\",scope=\"default\"} 1",
    ] {
        assert!(body.lines().any(|l| l == line), "missing `{line}` in:\n{body}");
    }
    assert!(!body.contains("pwgate_password_decisions_total{"), "{body}");
}

#[test]
fn a_user_not_allowed_is_refused_by_the_service() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_gate, socket) = gate(&slapd, dir.path(), "allowed_uids = [4242]\n");
    let out = hook(&socket, &alice(), STRONG.as_bytes(), &[]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("forbidden"), "{}", describe(&out));
    // pwgate's own refusal to decide is not a failure to reach it: the
    // fail mode does not let it through.
    let out = hook(
        &socket,
        &alice(),
        STRONG.as_bytes(),
        &["--on-error", "allow"],
    );
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(
        stderr(&out).contains("will not decide"),
        "{}",
        describe(&out)
    );
}

#[test]
fn bad_input_ends_in_the_fail_mode_without_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens: the input is judged before pwgate is asked.
    let socket = dir.path().join("none.sock");
    let long = vec![b'x'; 2000];
    type Vars = Vec<(&'static str, &'static str)>;
    let cases: Vec<(Vars, &[u8], &str)> = vec![
        (alice(), b"", "no password on standard input"),
        (alice(), &long, "longer than 1024 bytes"),
        (alice(), b"\xff\xfeSecret-1", "not valid UTF-8"),
        (vec![], b"Secret-Otter-1", "neither SAMBA_CPS_ACCOUNT_NAME"),
    ];
    for ((vars, input, why), form) in cases.iter().flat_map(|c| BOTH.map(|f| (c, f))) {
        let hook = |socket: &Path, vars: &[(&str, &str)], input: &[u8], args: &[&str]| {
            hook_as(form, socket, vars, input, args)
        };
        let out = hook(&socket, vars, input, &[]);
        assert_eq!(code(&out), 2, "{form:?} {why}: {}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with("pwgate: error: ") && err.contains(why),
            "{err}"
        );
        assert!(
            err.ends_with("; password refused\n") && err.lines().count() == 1,
            "{err}"
        );
        assert!(!err.contains("Secret") && !err.contains("xxxx"), "{err}");
        let out = hook(&socket, vars, input, &["--on-error", "allow"]);
        assert_eq!(code(&out), 0, "{form:?} {why}: {}", describe(&out));
        assert!(stderr(&out).contains("password accepted (--on-error allow)"));
    }
}

#[test]
fn pwgate_stopped_slow_or_gone_mid_request_ends_in_the_fail_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vars = alice();

    // Stopped: no socket.
    let gone = dir.path().join("gone.sock");
    let out = hook(&gone, &vars, STRONG.as_bytes(), &[]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(
        stderr(&out).contains("cannot reach pwgate at"),
        "{}",
        describe(&out)
    );

    // Stopped, with --on-error evaluate: decided in the hook from the file.
    let config = dir.path().join("pwgate.toml");
    std::fs::write(&config, "[upstream]\nurls = [\"ldap://127.0.0.1:9\"]\n").unwrap();
    let evaluate = [
        "--on-error",
        "evaluate",
        "--config",
        config.to_str().unwrap(),
    ];
    let out = hook(&gone, &vars, WEAK.as_bytes(), &evaluate);
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(stderr(&out).contains("[banned_word]"), "{}", describe(&out));
    assert!(
        stderr(&out).contains("decided in the hook"),
        "{}",
        describe(&out)
    );
    let out = hook(&gone, &vars, STRONG.as_bytes(), &evaluate);
    assert_eq!(code(&out), 0, "{}", describe(&out));

    // Slow: a socket that reads the request and never answers (a real
    // pwgate cannot be made slow on purpose).
    let slow = dir.path().join("slow.sock");
    let listener = UnixListener::bind(&slow).expect("bind");
    let held = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        std::thread::sleep(Duration::from_secs(3));
        // Gone mid-request: the next one is read and dropped.
        let (mut s, _) = listener.accept().expect("accept");
        let _ = s.read(&mut buf);
    });
    let out = hook(&slow, &vars, STRONG.as_bytes(), &["--timeout-ms", "500"]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(stderr(&out).contains("within 500 ms"), "{}", describe(&out));
    let out = hook(&slow, &vars, STRONG.as_bytes(), &[]);
    assert_eq!(code(&out), 2, "{}", describe(&out));
    assert!(
        stderr(&out).contains("closed the connection without an answer"),
        "{}",
        describe(&out)
    );
    held.join().expect("the fake socket");
    assert!(!stderr(&out).contains(STRONG));
}

#[test]
fn config_check_shows_the_service_and_bad_settings_name_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pwgate.toml");
    let run = |text: &str| {
        std::fs::write(&file, text).unwrap();
        Command::new(PWGATE)
            .args(["config", "check"])
            .arg(&file)
            .output()
            .expect("run config check")
    };
    let up = "[upstream]\nurls = [\"ldap://127.0.0.1:9\"]\n";
    let out = run(&format!(
        "{up}[service]\nsocket = \"/run/pwgate/decide.sock\"\n"
    ));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("decision service: unix socket /run/pwgate/decide.sock (mode 0660"),
        "{}",
        describe(&out)
    );
    let out = run(&format!(
        "{up}[service]\nsocket = \"/tmp/x.sock\"\nsocket_mode = 0o666\n"
    ));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("pwgate.toml:5: service.socket_mode"),
        "{}",
        describe(&out)
    );
    let out = run(&format!("{up}[service]\nallowed_uids = [0]\n"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("needs service.socket"),
        "{}",
        describe(&out)
    );
}

const TOKEN: &str = "portal:9f8e7d6c5b4a39281706f5e4d3c2b1a0-portal";
const BEARER: &str = "Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0-portal";

/// A pwgate with the HTTPS API on a free port: `auth` is the TOML for its
/// credentials.
fn api_gate(slapd: &Slapd, dir: &Path, auth: &str) -> (PwgateProcess, std::net::SocketAddr) {
    let addr = common::https::free_addr();
    let (gate, _) = gate(
        slapd,
        dir,
        &format!("https_listen = \"{addr}\"\nrate_limit_per_client = 50\n{auth}"),
    );
    (gate, addr)
}

/// [`api_gate`] with bearer tokens only: a token file in `dir` holding
/// `tokens`.
fn token_gate(slapd: &Slapd, dir: &Path, tokens: &str) -> (PwgateProcess, std::net::SocketAddr) {
    let file = dir.join("api.tokens");
    std::fs::write(&file, tokens).expect("write the token file");
    api_gate(
        slapd,
        dir,
        &format!("token_file = \"{}\"\n", file.display()),
    )
}

#[test]
fn a_refused_request_whose_body_comes_late_keeps_the_connection() {
    use common::https::Api;
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_gate, addr) = token_gate(&slapd, dir.path(), &format!("# portal\n{TOKEN}\n"));
    let body = format!(
        r#"{{"v":1,"account":{{"dn":"{}"}},"password":"{STRONG}"}}"#,
        user_dn("carol")
    );
    let json = ("Content-Type", "application/json");
    let auth = ("Authorization", BEARER);
    let mut api = Api::connect(addr, false).expect("connect");
    let late = Duration::from_millis(150);
    for (method, path, headers, expected) in [
        ("POST", "/v2/check", vec![json, auth], 404),
        ("GET", "/v1/check", vec![json, auth], 405),
        ("POST", "/v1/check", vec![auth], 415),
    ] {
        let (code, answer) = api
            .request_paced(method, path, &headers, &body, late)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(code, expected, "{method} {path}: {answer}");
        // The same connection still serves: the late body was read, not
        // taken for the next request, and the connection not closed.
        let (code, answer) = api
            .post("/v1/check", &[auth], &body)
            .unwrap_or_else(|e| panic!("after {method} {path}: {e}"));
        assert_eq!(code, 200, "after {method} {path}: {answer}");
    }
}

#[test]
fn the_https_api_answers_authenticated_clients_only() {
    use common::https::Api;
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (gate, addr) = token_gate(&slapd, dir.path(), &format!("# portal\n{TOKEN}\n"));
    let dn = user_dn("carol");
    let body = |pw: &str| format!(r#"{{"v":1,"account":{{"dn":"{dn}"}},"password":"{pw}"}}"#);
    let mut api = Api::connect(addr, false).expect("connect");

    // Keep-alive: several requests on one connection.
    let (code, answer) = api
        .post("/v1/check", &[("Authorization", BEARER)], &body(WEAK))
        .unwrap();
    assert_eq!(code, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["verdict"], "refused", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("[banned_word]"),
        "{answer}"
    );
    let (code, answer) = api
        .post(
            "/v1/decide",
            &[("Authorization", BEARER)],
            &format!(r#"{{"v":1,"door":"api","account":{{"dn":"{dn}"}},"password":"{STRONG}"}}"#),
        )
        .unwrap();
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains(r#""verdict":"accepted""#), "{answer}");

    for (headers, expected) in [
        (vec![], 401),
        (
            vec![(
                "Authorization",
                "Bearer wrong-token-wrong-token-wrong-token",
            )],
            401,
        ),
        (vec![("Authorization", "Basic cG9ydGFsOng=")], 401),
    ] {
        // Each on its own connection: pwgate closes it after a 401.
        let mut once = Api::connect(addr, false).expect("connect");
        let (code, answer) = once.post("/v1/check", &headers, &body(STRONG)).unwrap();
        assert_eq!(code, expected, "{headers:?}: {answer}");
        assert!(answer.contains(r#""error":"unauthorized""#), "{answer}");
        assert!(
            once.post("/v1/check", &[("Authorization", BEARER)], &body(STRONG))
                .is_err(),
            "the connection stayed open after a 401"
        );
    }
    let (code, _) = api
        .request("GET", "/v1/check", &[("Authorization", BEARER)], "")
        .unwrap();
    assert_eq!(code, 405);
    let (code, _) = api
        .post("/v2/check", &[("Authorization", BEARER)], &body(STRONG))
        .unwrap();
    assert_eq!(code, 404);
    let (code, answer) = api
        .post("/v1/check", &[("Authorization", BEARER)], "{\"v\":1,")
        .unwrap();
    assert_eq!(code, 400, "{answer}");
    let (code, answer) = api
        .post(
            "/v1/decide",
            &[("Authorization", BEARER)],
            &body(STRONG).replace("\"v\":1,", "\"v\":1,\"op\":\"check\","),
        )
        .unwrap();
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("does not match the path"), "{answer}");
    let big = format!(
        r#"{{"v":1,"account":{{"dn":"{dn}"}},"password":"{}"}}"#,
        "x".repeat(20_000)
    );
    let (code, answer) = api
        .post("/v1/check", &[("Authorization", BEARER)], &big)
        .unwrap();
    assert_eq!(code, 413, "{answer}");

    // 50 requests per second per client: a burst beyond that is refused.
    let mut api = Api::connect(addr, false).expect("connect");
    let mut codes: Vec<u16> = Vec::new();
    for _ in 0..80 {
        match api.post("/v1/check", &[("Authorization", BEARER)], &body(STRONG)) {
            Ok((code, _)) => codes.push(code),
            Err(e) => panic!("after {codes:?}: {e}"),
        }
    }
    assert!(codes.contains(&429), "{codes:?}");
    assert!(
        codes.iter().filter(|c| **c == 200).count() >= 40,
        "{codes:?}"
    );

    assert!(gate.wait_for_log("token:portal@127.0.0.1:", 2, Duration::from_secs(5)));
    let log = gate.log_text();
    assert!(
        !log.contains(STRONG) && !log.contains(WEAK),
        "the log holds a password"
    );
    assert!(!log.contains("9f8e7d6c5b4a"), "the log holds a token");
    let decided = events(&gate, "password_decision");
    assert!(
        decided
            .iter()
            .any(|e| e["door"] == "api" && e["verdict"] == "accepted"),
        "{decided:?}"
    );
}

#[test]
fn the_https_api_takes_client_certificates_from_its_ca() {
    use common::https::Api;
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = common::slapd::test_certs().ca.clone();
    let (gate, addr) = api_gate(
        &slapd,
        dir.path(),
        &format!("client_ca = \"{}\"\n", ca.display()),
    );
    let dn = user_dn("carol");
    let mut api = Api::connect(addr, true).expect("connect with the client certificate");
    let (code, answer) = api
        .post(
            "/v1/check",
            &[],
            &format!(r#"{{"v":1,"account":{{"dn":"{dn}"}},"password":"{WEAK}"}}"#),
        )
        .unwrap();
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains(r#""verdict":"refused""#), "{answer}");
    // Without a certificate (and no tokens configured) TLS refuses.
    let refused = Api::connect(addr, false).and_then(|mut a| {
        a.post(
            "/v1/check",
            &[],
            &format!(r#"{{"v":1,"account":{{"dn":"{dn}"}},"password":"{STRONG}"}}"#),
        )
    });
    assert!(refused.is_err(), "{refused:?}");
    assert!(gate.wait_for_log("\"client\":\"cert:", 1, Duration::from_secs(5)));
}

#[test]
fn the_https_api_has_no_unauthenticated_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pwgate.toml");
    let certs = common::slapd::test_certs();
    std::fs::write(
        &file,
        format!(
            "[upstream]\nurls = [\"ldap://127.0.0.1:9\"]\n[listen]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n\
             [service]\nhttps_listen = \"127.0.0.1:0\"\n",
            certs.server_cert.display(),
            certs.server_key.display()
        ),
    )
    .unwrap();
    let out = Command::new(PWGATE)
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("pwgate.toml:7: service.https_listen: needs service.client_ca"),
        "{}",
        describe(&out)
    );
    let tokens = dir.path().join("t");
    std::fs::write(&tokens, "portal:short\n").unwrap();
    std::fs::write(
        &file,
        format!(
            "{}token_file = \"{}\"\n",
            std::fs::read_to_string(&file).unwrap(),
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new(PWGATE)
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("t:1: the token is at least 32 characters"),
        "{}",
        describe(&out)
    );
    assert!(!stderr(&out).contains("short"), "{}", describe(&out));
}

#[test]
fn the_windows_filter_decides_over_https_and_its_notice_confirms_the_decision() {
    use common::https::Api;
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (gate, addr) = token_gate(&slapd, dir.path(), &format!("{TOKEN}\n"));
    let auth = [("Authorization", BEARER)];
    let decide = |kind: &str, pw: &str| {
        format!(
            r#"{{"v":1,"door":"windows_filter","account":{{"name":"alice","full_name":"Alice Liddell"}},"password":"{pw}","kind":"{kind}"}}"#
        )
    };
    let notice = |name: &str| {
        format!(r#"{{"v":1,"door":"windows_filter","account":{{"name":"{name}"}},"rid":1104}}"#)
    };
    let mut api = Api::connect(addr, false).expect("connect");
    let (code, answer) = api
        .post("/v1/decide", &auth, &decide("change", WEAK))
        .unwrap();
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains(r#""verdict":"refused""#), "{answer}");
    let (code, answer) = api
        .post("/v1/decide", &auth, &decide("reset", STRONG))
        .unwrap();
    assert!(
        code == 200 && answer.contains(r#""verdict":"accepted""#),
        "{answer}"
    );
    let (code, answer) = api.post("/v1/notify", &auth, &notice("ALICE")).unwrap();
    assert_eq!((code, answer.as_str()), (200, r#"{"v":1,"recorded":true}"#));
    // Confirmed once: a second notice confirms nothing.
    let (code, _) = api.post("/v1/notify", &auth, &notice("alice")).unwrap();
    assert_eq!(code, 200);
    // Strict: no password, no unknown field, only this door.
    for (body, why) in [
        (
            notice("alice").replace("\"rid\"", &format!("\"password\":\"{STRONG}\",\"rid\"")),
            "fields of version 1",
        ),
        (
            notice("alice").replace("windows_filter", "api"),
            "only door windows_filter",
        ),
        (
            notice("alice").replace(",\"rid\":1104", ""),
            "fields of version 1",
        ),
    ] {
        let (code, answer) = api.post("/v1/notify", &auth, &body).unwrap();
        assert_eq!(code, 400, "{body}: {answer}");
        assert!(answer.contains(why), "{answer}");
        assert!(!answer.contains(STRONG), "{answer}");
    }
    // Without a token: 401, like the other paths.
    let mut once = Api::connect(addr, false).expect("connect");
    let (code, _) = once.post("/v1/notify", &[], &notice("alice")).unwrap();
    assert_eq!(code, 401);
    // The Windows filter asks over HTTPS only: not on the socket.
    let mut s = UnixStream::connect(dir.path().join("decide.sock")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    writeln!(
        s,
        "{}",
        decide("change", STRONG).replace("\"v\":1,", "\"v\":1,\"op\":\"decide\",")
    )
    .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("served over HTTPS only"), "{answer}");

    assert!(gate.wait_for_log("\"password_changed\"", 2, Duration::from_secs(5)));
    let decided: Vec<_> = events(&gate, "password_decision")
        .into_iter()
        .filter(|e| e["door"] == "windows_filter")
        .collect();
    assert_eq!(decided.len(), 2, "{decided:?}");
    assert_eq!(
        (&decided[0]["kind"], &decided[0]["verdict"]),
        (&"change".into(), &"refused".into())
    );
    assert_eq!(decided[1]["kind"], "reset");
    let changed = events(&gate, "password_changed");
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(changed[0]["door"], "windows_filter");
    assert_eq!(changed[0]["target_dn"], "name:ALICE");
    assert_eq!(changed[0]["rid"], 1104);
    assert_eq!(
        changed[0]["confirms"],
        format!(
            "windows_filter {} reset",
            decided[1]["client"].as_str().unwrap()
        )
        .as_str()
    );
    assert_eq!(changed[1]["confirms"], "none");
    let log = gate.log_text();
    assert!(
        !log.contains(STRONG) && !log.contains(WEAK),
        "the log holds a password"
    );
}
