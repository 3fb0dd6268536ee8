//! The `pwgate` command line, run as the real binary: help and version,
//! usage and configuration errors (exit 2, one clear line on stderr), and
//! the offline `pwgate check`. No directory is needed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::slapd::test_certs;
use common::tools::{all_output, describe, run_bounded, stderr, stdout};

const PWGATE: &str = env!("CARGO_BIN_EXE_pwgate");
/// No command here should take long; `serve` that unexpectedly starts is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(15);

/// Every flag of `pwgate serve`.
const SERVE_FLAGS: &[&str] = &[
    "--config",
    "--upstream",
    "--listen",
    "--listen-ldaps",
    "--certificate",
    "--private-key",
    "--upstream-ca",
    "--upstream-starttls",
    "--flavor",
    "--mode",
    "--allow-cleartext-password-changes",
    "--log-format",
    "--log-level",
];

/// Runs pwgate with `args`, `stdin` written to its standard input (closed
/// when None), with a bounded wait: a process still running after
/// [`RUN_TIMEOUT`] is killed and the test fails.
fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let (output, killed) = run_bounded(
        Command::new(PWGATE).args(args).env_remove("RUST_LOG"),
        stdin,
        RUN_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("cannot run {PWGATE}: {e}"));
    assert!(
        !killed,
        "pwgate {args:?} still running after {} s (killed)",
        RUN_TIMEOUT.as_secs()
    );
    assert_no_panic(args, &output);
    output
}

fn assert_no_panic(args: &[&str], out: &Output) {
    let all = all_output(out);
    assert!(
        !all.contains("panicked") && !all.contains("RUST_BACKTRACE"),
        "pwgate {args:?} panicked:\n{all}"
    );
}

fn assert_exit(args: &[&str], out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "pwgate {args:?}: expected exit {code}, got {}",
        describe(out)
    );
}

/// Runs pwgate expecting a usage error: exit 2, nothing on stdout, exactly
/// one non-empty line on stderr, which is returned.
fn usage_error(args: &[&str]) -> String {
    let out = run(args, None);
    assert_exit(args, &out, 2);
    assert!(
        out.stdout.is_empty(),
        "pwgate {args:?} wrote to stdout: {}",
        stdout(&out)
    );
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "pwgate {args:?}: expected one line on stderr, got:\n{err}"
    );
    lines[0].to_owned()
}

/// [`usage_error`] of `pwgate serve --upstream ldap://127.0.0.1:1 <more>`.
fn serve_error(more: &[&str]) -> String {
    let mut args = vec!["serve", "--upstream", "ldap://127.0.0.1:1"];
    args.extend_from_slice(more);
    usage_error(&args)
}

/// A temporary directory holding config files.
struct Configs {
    dir: tempfile::TempDir,
}

impl Configs {
    fn new() -> Configs {
        Configs {
            dir: tempfile::Builder::new()
                .prefix("pwgate-cli-")
                .tempdir()
                .expect("cannot create a temp dir"),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// `pwgate check` with `password` on stdin; asserts the exit status and that
/// the password is never echoed. Returns stdout.
fn check(extra: &[&str], password: &str, code: i32) -> String {
    let mut args = vec!["check"];
    args.extend_from_slice(extra);
    let input = format!("{password}\n");
    let out = run(&args, Some(input.as_bytes()));
    assert_exit(&args, &out, code);
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        !o.contains(password) && !e.contains(password),
        "pwgate {args:?} echoed the password:\nstdout:\n{o}\nstderr:\n{e}"
    );
    o
}

// ---------------------------------------------------------------------------
// Help and version

#[test]
fn top_level_help_lists_the_commands() {
    for args in [&["--help"][..], &["help"][..], &["-h"][..]] {
        let out = run(args, None);
        assert_exit(args, &out, 0);
        let text = stdout(&out);
        for word in ["serve", "check", "--version"] {
            assert!(text.contains(word), "pwgate {args:?} lacks {word}:\n{text}");
        }
    }
}

/// Completion scripts and man pages come from the same definitions as
/// `--help` (the Debian package ships them).
#[test]
fn completions_and_man_pages_are_generated_from_the_commands() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef pwgate"),
        ("fish", "complete -c pwgate"),
    ] {
        let out = run(&["completions", shell], None);
        assert_exit(&["completions", shell], &out, 0);
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: no `{marker}`:\n{text}");
        for sub in ["serve", "check", "hook"] {
            assert!(text.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let out = run(&["completions", "tcsh"], None);
    assert_exit(&["completions", "tcsh"], &out, 2);
    assert!(
        stderr(&out).contains("invalid value 'tcsh'"),
        "{}",
        stderr(&out)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(&["manpages", path_str(dir.path())], None);
    assert_exit(&["manpages"], &out, 0);
    for page in [
        "pwgate.1",
        "pwgate-serve.1",
        "pwgate-check.1",
        "pwgate-hook-samba.1",
    ] {
        let text =
            fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    let serve = fs::read_to_string(dir.path().join("pwgate-serve.1")).expect("pwgate-serve.1");
    assert!(serve.contains("config"), "pwgate-serve.1 lacks --config");
    // Not a directory: a usage error, not a panic.
    let file = dir.path().join("pwgate.1");
    usage_error(&["manpages", path_str(&file)]);
}

#[test]
fn serve_help_mentions_every_flag() {
    for args in [&["serve", "--help"][..], &["help", "serve"][..]] {
        let out = run(args, None);
        assert_exit(args, &out, 0);
        let text = stdout(&out);
        for flag in SERVE_FLAGS {
            // Whole flags: `--listen` must not be satisfied by `--listen-ldaps` only.
            let found = text
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|w| {
                    w == *flag
                        || w.starts_with(&format!("{flag}="))
                        || w.starts_with(&format!("{flag}<"))
                });
            assert!(found, "pwgate {args:?} does not mention {flag}:\n{text}");
        }
    }
}

#[test]
fn check_help_mentions_its_flags() {
    let args = ["check", "--help"];
    let out = run(&args, None);
    assert_exit(&args, &out, 0);
    let text = stdout(&out);
    for flag in [
        "--config",
        "--account",
        "--name",
        "--user",
        "--no-lookup",
        "--search-base",
        "--explain",
    ] {
        assert!(text.contains(flag), "check --help lacks {flag}:\n{text}");
    }
}

#[test]
fn version_is_printed_with_build_info() {
    let version = format!("pwgate {}", env!("CARGO_PKG_VERSION"));
    let out = run(&["-V"], None);
    assert_exit(&["-V"], &out, 0);
    assert_eq!(stdout(&out).trim(), version);
    // --version adds the build: commit, target, profile, compiler.
    let out = run(&["--version"], None);
    assert_exit(&["--version"], &out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], version);
    assert!(
        lines
            .get(1)
            .is_some_and(|l| l.starts_with("commit ") && l.contains("rustc")),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// Usage errors

#[test]
fn unknown_flag_exits_2() {
    for args in [
        &["--no-such-flag"][..],
        &["serve", "--no-such-flag"][..],
        &["check", "--no-such-flag"][..],
        &["no-such-command"][..],
    ] {
        let out = run(args, None);
        assert_exit(args, &out, 2);
        assert!(
            stderr(&out).contains("no-such"),
            "pwgate {args:?} does not name the bad argument:\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn no_command_is_a_usage_error() {
    let out = run(&[], None);
    assert_exit(&[], &out, 2);
    assert!(stderr(&out).contains("Usage"), "{}", stderr(&out));
}

#[test]
fn serve_without_upstream_exits_2_naming_the_flag() {
    let line = usage_error(&["serve"]);
    assert!(line.contains("--upstream"), "{line}");
    // Also with other flags given but no upstream.
    let line = usage_error(&["serve", "--listen", "127.0.0.1:0", "--mode", "audit"]);
    assert!(line.contains("--upstream"), "{line}");
}

#[test]
fn bad_values_of_enum_flags_exit_2() {
    for (flag, value) in [
        ("--mode", "lenient"),
        ("--flavor", "novell"),
        ("--log-format", "xml"),
    ] {
        let args = ["serve", "--upstream", "ldap://127.0.0.1:1", flag, value];
        let out = run(&args, None);
        assert_exit(&args, &out, 2);
        assert!(stderr(&out).contains("possible values"), "{}", stderr(&out));
    }
}

#[test]
fn bad_upstream_url_exits_2() {
    let line = usage_error(&["serve", "--upstream", "ftp://127.0.0.1:21"]);
    assert!(
        line.contains("ftp://127.0.0.1:21") && line.contains("ldap://"),
        "{line}"
    );
    let line = usage_error(&["serve", "--upstream", "ldap://127.0.0.1:99999"]);
    assert!(line.contains("99999"), "{line}");
}

#[test]
fn listen_not_an_address_exits_2() {
    let c = test_certs();
    for flag in ["--listen", "--listen-ldaps"] {
        let line = serve_error(&[
            flag,
            "not-an-address",
            "--certificate",
            path_str(&c.server_cert),
            "--private-key",
            path_str(&c.server_key),
        ]);
        assert!(line.contains("not-an-address"), "{flag}: {line}");
    }
}

#[test]
fn invalid_log_level_exits_2() {
    let line = serve_error(&["--listen", "127.0.0.1:0", "--log-level", "[[[nonsense"]);
    assert!(line.contains("[[[nonsense"), "{line}");
}

#[test]
fn listen_ldaps_without_certificate_exits_2() {
    let c = test_certs();
    let cert = ["--certificate", path_str(&c.server_cert)];
    let key = ["--private-key", path_str(&c.server_key)];
    // Neither of the pair, or only one: the error names what is missing.
    for (given, missing) in [
        (&[][..], "certificate"),
        (&cert[..], "private-key"),
        (&key[..], "--certificate"),
    ] {
        let mut args = vec!["--listen-ldaps", "127.0.0.1:0"];
        args.extend_from_slice(given);
        let line = serve_error(&args);
        assert!(line.contains(missing), "{given:?}: {line}");
    }
}

#[test]
fn missing_certificate_or_key_file_exits_2_naming_it() {
    let configs = Configs::new();
    let c = test_certs();
    let missing = configs.dir.path().join("no-such-cert.pem");
    let line = serve_error(&[
        "--listen",
        "127.0.0.1:0",
        "--listen-ldaps",
        "127.0.0.1:0",
        "--certificate",
        path_str(&missing),
        "--private-key",
        path_str(&c.server_key),
    ]);
    assert!(line.contains(path_str(&missing)), "{line}");
    let missing = configs.dir.path().join("no-such-key.pem");
    let line = serve_error(&[
        "--listen",
        "127.0.0.1:0",
        "--certificate",
        path_str(&c.server_cert),
        "--private-key",
        path_str(&missing),
    ]);
    assert!(line.contains(path_str(&missing)), "{line}");
}

#[test]
fn upstream_tls_without_ca_exits_2() {
    let line = usage_error(&["serve", "--upstream", "ldaps://127.0.0.1:636"]);
    assert!(line.contains("--upstream-ca"), "{line}");
    let line = usage_error(&[
        "serve",
        "--upstream",
        "ldap://127.0.0.1:389",
        "--upstream-starttls",
    ]);
    assert!(line.contains("--upstream-ca"), "{line}");
}

// ---------------------------------------------------------------------------
// Configuration file errors

/// A config file pwgate must refuse: `(file name, contents, line of the
/// error, text the message must contain)`.
type BadConfig = (&'static str, &'static str, usize, &'static str);

/// Writes the files into a fresh directory and asserts that `pwgate serve -c
/// FILE` and `pwgate check -c FILE` both fail with exactly one line
/// `...<file>:<line>: ...` containing the text.
fn assert_config_errors(files: &[BadConfig]) {
    assert_config_errors_of(&["serve", "check"], files);
}

/// [`assert_config_errors`] for the given subcommands only.
fn assert_config_errors_of(commands: &[&str], files: &[BadConfig]) {
    let configs = Configs::new();
    for &(name, text, line, what) in files {
        let file = configs.write(name, text);
        let expected = format!("{}:{line}: ", file.display());
        for command in commands {
            let args = [*command, "--config", path_str(&file)];
            let args = &args[..];
            let text = usage_error(args);
            let at = text.find(&expected).unwrap_or_else(|| {
                panic!("pwgate {args:?}: expected `{expected}...`, got: {text}")
            });
            // Nothing but a short `pwgate: error: ` style prefix before the path.
            assert!(
                at == 0 || text[..at].trim_end().ends_with(':'),
                "pwgate {args:?}: {text}"
            );
            assert!(text.contains(what), "pwgate {args:?}: lacks {what}: {text}");
        }
    }
}

#[test]
fn config_unknown_key_names_file_and_line() {
    assert_config_errors(&[
        (
            "unknown.toml",
            "# pwgate\n[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n\n[policy]\nmin_length = 14\nminimum_length = 3\n",
            7,
            "minimum_length",
        ),
        (
            "unknown-section.toml",
            "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[polciy]\nmin_length = 3\n",
            3,
            "polciy",
        ),
    ]);
}

#[test]
fn config_wrong_type_names_file_and_line() {
    assert_config_errors(&[
        (
            "type.toml",
            "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n\n[policy]\nmode = \"enforce\"\nmin_length = \"twelve\"\n",
            6,
            "twelve",
        ),
        (
            "bool.toml",
            "[listen]\nallow_cleartext_password_changes = \"yes\"\n[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n",
            2,
            "yes",
        ),
    ]);
}

#[test]
fn config_semantic_error_names_file_and_line() {
    assert_config_errors(&[
        (
            "zero.toml",
            "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n\n[policy]\nmode = \"enforce\"\nmin_length = 0\n",
            6,
            "min_length",
        ),
        (
            "limits.toml",
            "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[limits]\nmax_connections = 0\n",
            4,
            "max_connections",
        ),
    ]);
    // `check` ignores the upstream section (it gives the validator a
    // placeholder URL), so only `serve` sees this one.
    assert_config_errors_of(
        &["serve"],
        &[(
            "url.toml",
            "[policy]\nmin_length = 12\n\n[upstream]\nflavor = \"openldap\"\nurls = [\"ftp://127.0.0.1:1\"]\n",
            6,
            "ftp://127.0.0.1:1",
        )],
    );
}

#[test]
fn config_syntax_error_names_file_and_line() {
    assert_config_errors(&[(
        "syntax.toml",
        "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[policy\nmin_length = 3\n",
        3,
        "",
    )]);
}

#[test]
fn missing_config_file_exits_2_naming_it() {
    let configs = Configs::new();
    let missing = configs.dir.path().join("no-such-pwgate.toml");
    for args in [
        &["serve", "--config", path_str(&missing)][..],
        &["check", "--config", path_str(&missing)][..],
    ] {
        let line = usage_error(args);
        assert!(line.contains(path_str(&missing)), "{line}");
    }
}

#[test]
fn config_listen_address_error_names_file_and_line() {
    let configs = Configs::new();
    let file = configs.write(
        "listen.toml",
        "[listen]\nldap = \"not-an-address\"\n[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n",
    );
    let line = usage_error(&["serve", "--config", path_str(&file)]);
    assert!(
        line.contains(&format!("{}:2: ", file.display())) && line.contains("not-an-address"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------
// pwgate check

/// The first line of `pwgate check` output: the verdict on line 1.
fn verdict(out: &str) -> &str {
    out.lines().next().unwrap_or("")
}

#[test]
fn check_refuses_a_common_password() {
    let out = check(&[], "Summer2025!!", 1);
    assert!(out.contains("banned_word"), "{out}");
    assert!(verdict(&out).starts_with("line 1: refused"), "{out}");
    assert!(out.contains("checked 1: 0 accepted, 1 refused"), "{out}");
}

#[test]
fn check_explain_shows_how_the_words_were_read() {
    let out = check(&["--explain"], "P-a-s-s-w-o-r-d-1", 1);
    assert!(
        out.contains("  without joiners: 1 point, 5 needed: refuses"),
        "{out}"
    );
    assert!(
        out.contains("    \"password\" word 1 point + \"1\" decoration 0 points"),
        "{out}"
    );
    let out = check(&["--explain", "--json"], "tangerine-Otter-42-lamp", 0);
    assert!(out.contains(r#""explain":[{"reading":"as typed""#), "{out}");
}

#[test]
fn check_accepts_a_strong_password() {
    let out = check(&[], "tangerine-Otter-42-lamp", 0);
    assert_eq!(verdict(&out), "line 1: accepted");
}

#[test]
fn check_refuses_a_short_password_with_the_length_rule() {
    let out = check(&[], "Zq8#sh0rt", 1);
    assert!(
        out.contains("[length]") && out.contains("12 characters minimum"),
        "{out}"
    );
}

#[test]
fn check_uses_the_account_name() {
    let account = ["--account", "uid=alice,ou=people,dc=example,dc=com"];
    let out = check(&account, "alice-in-the-long-garden-7", 1);
    assert!(out.contains("account_name"), "{out}");
    // Without the account the same password is fine.
    let out = check(&[], "alice-in-the-long-garden-7", 0);
    assert_eq!(verdict(&out), "line 1: accepted");
    // --name adds names.
    let out = check(&["--name", "zebulon"], "zebulon-in-the-long-garden-7", 1);
    assert!(out.contains("account_name"), "{out}");
}

#[test]
fn check_reads_one_password_per_line_and_strips_crlf() {
    let args = ["check"];
    let out = run(&args, Some(b"tangerine-Otter-42-lamp\r\nSummer2025!!\n"));
    assert_exit(&args, &out, 1);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "line 1: accepted", "{text}");
    assert!(
        lines[1].starts_with("line 2: refused [banned_word]"),
        "{text}"
    );
    assert_eq!(lines[2], "checked 2: 1 accepted, 1 refused (banned_word 1)");
    assert_eq!(lines[3], "scope default (mode enforce); no account given");
    assert_eq!(lines.len(), 4, "{text}");
    // Without a final newline too.
    let out = run(&args, Some(b"Summer2025!!"));
    assert_exit(&args, &out, 1);
    assert!(stdout(&out).contains("banned_word"));
}

#[test]
fn check_json_output() {
    let args = ["check", "--json"];
    let out = run(&args, Some(b"Summer2025!!\ntangerine-Otter-42-lamp\n"));
    assert_exit(&args, &out, 1);
    let text = stdout(&out);
    assert!(
        text.starts_with("{\"line\":1,\"verdict\":\"refused\",\"rules\":[\"banned_word\"]"),
        "{text}"
    );
    assert!(
        text.contains("{\"line\":2,\"verdict\":\"accepted\",\"rules\":[],\"message\":\"\"}"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("{\"summary\":{\"checked\":2,\"accepted\":1,\"refused\":1,\"rules\":{\"banned_word\":1},\
         \"scope\":\"default\",\"mode\":\"enforce\",\"account\":null,\"lookup\":\"none\"}}"), "{text}");
}

#[test]
fn check_with_empty_stdin_does_not_accept() {
    let args = ["check"];
    let out = run(&args, None);
    assert_ne!(out.status.code(), Some(0), "empty password accepted");
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "{}",
        out.status
    );
}

#[test]
fn check_refuses_non_utf8_input_without_echoing_it() {
    // `run` also asserts that pwgate exits in time and does not panic.
    let out = run(&["check"], Some(b"caf\xe9-latin1-password-99\n"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("line 1: refused [unreadable] not valid UTF-8"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("latin1-password"));
}

#[test]
fn check_config_min_length() {
    let configs = Configs::new();
    let file = configs.write("len.toml", "[policy]\nmin_length = 20\n");
    let strong15 = "Zq8#unique-Str9";
    assert_eq!(strong15.chars().count(), 15);
    // Accepted by the built-in policy...
    let out = check(&[], strong15, 0);
    assert_eq!(verdict(&out), "line 1: accepted");
    // ...refused with min_length = 20.
    let out = check(&["--config", path_str(&file)], strong15, 1);
    assert!(
        out.contains("20 characters minimum") && out.contains("[length]"),
        "{out}"
    );
}

#[test]
fn check_config_banned_words() {
    let configs = Configs::new();
    let file = configs.write("banned.toml", "[policy]\nbanned_words = [\"zorvexil\"]\n");
    let cfg = ["--config", path_str(&file)];
    // `zorvexil` + decoration: 1 point for the word, the rest is decoration
    // (digits and symbols at the end), below the threshold of 5. The word is
    // made up, so that it is in no built-in list.
    let out = check(&[], "Zorvexil2024!!", 0);
    assert_eq!(
        verdict(&out),
        "line 1: accepted",
        "without the configured word"
    );
    let out = check(&cfg, "Zorvexil2024!!", 1);
    assert!(out.contains("banned_word"), "{out}");
    // Leetspeak of the configured word is caught too.
    let out = check(&cfg, "Z0rv3xil2024!", 1);
    assert!(out.contains("banned_word"), "{out}");
    // A long passphrase that merely contains the word scores enough points.
    let out = check(&cfg, "zorvexil-Otter-42-lamp", 0);
    assert_eq!(verdict(&out), "line 1: accepted");
}

#[test]
fn check_config_builtin_list_can_be_disabled() {
    let configs = Configs::new();
    let file = configs.write("nobuiltin.toml", "[policy]\nbuiltin_banned_words = false\n");
    let out = check(&["--config", path_str(&file)], "Summer2025!!", 0);
    assert_eq!(verdict(&out), "line 1: accepted");
}

#[test]
fn check_refuses_common_leaked_passwords_unless_the_list_is_off() {
    let configs = Configs::new();
    // 8 characters minimum and no composition rule, so that neither the
    // length nor the classes decide.
    let on = configs.write(
        "min8.toml",
        "[policy]\nmin_length = 8\ncomplexity_classes = 0\n",
    );
    let off = configs.write(
        "nolist.toml",
        "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n\
         [policy]\nmin_length = 8\ncomplexity_classes = 0\ncommon_passwords = false\n",
    );
    // A random-looking entry of a public leaked list (Xato top 10,000)
    // with no word or pattern: only the list refuses it, in any case.
    // (`check` also asserts that the password is never echoed.)
    for leaked in ["7uGd5HIp2J", "7UGD5HIP2J"] {
        let out = check(&["--config", path_str(&on)], leaked, 1);
        assert!(out.contains("[common_password]"), "{out}");
        let out = check(&["--config", path_str(&off)], leaked, 0);
        assert_eq!(verdict(&out), "line 1: accepted");
    }
    let args = ["config", "check", path_str(&off)];
    let out = run(&args, None);
    assert_exit(&args, &out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("[common_password] built-in list off"),
        "{text}"
    );
}

#[test]
fn check_without_lookups_does_not_read_the_directory_secret() {
    let configs = Configs::new();
    // The service account's password file does not exist (or, in
    // production, is not readable by whoever tunes the policy).
    let file = configs.write(
        "lookup.toml",
        "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n\
         [directory]\nallow_cleartext = true\nbind_dn = \"cn=svc,dc=example,dc=com\"\n\
         bind_password_file = \"/nonexistent/pwgate-svc-secret\"\n",
    );
    let cfg = ["--config", path_str(&file), "--no-lookup"];
    let out = check(&cfg, "Zq8#unique-Str9", 0);
    assert_eq!(verdict(&out), "line 1: accepted");
    // With lookups the secret is needed, and its absence is a config error.
    let args = ["check", "--config", path_str(&file)];
    let out = run(&args, Some(b"Zq8#unique-Str9\n"));
    assert_exit(&args, &out, 2);
    assert!(
        stderr(&out).contains("bind_password_file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_names_the_scope_of_the_account_given() {
    let configs = Configs::new();
    let file = configs.write(
        "scopes.toml",
        "[policy]\nmode = \"audit\"\n\n\
         [[policy.scope]]\nname = \"example\"\ndomain = [\"example.com\"]\nmin_length = 14\n\n\
         [[policy.scope]]\nname = \"people\"\ndn_suffix = [\"ou=people,dc=example,dc=com\"]\nmin_length = 16\nmode = \"enforce\"\n",
    );
    let cfg = ["--config", path_str(&file)];
    let last = |out: &str| out.lines().last().unwrap_or("").to_owned();
    // Thirteen characters: enough for the global policy only.
    let thirteen = "Zq8#unique-St";
    let out = check(&cfg, thirteen, 0);
    assert_eq!(last(&out), "scope default (mode audit); no account given");
    // The domain example.com is the suffix dc=example,dc=com.
    let bulk = "uid=bulk01,ou=bulk,dc=example,dc=com";
    let out = check(&[&cfg[..], &["--user", bulk]].concat(), thirteen, 1);
    assert!(out.contains("14 characters minimum"), "{out}");
    assert_eq!(
        last(&out),
        format!("scope example (mode audit); account {bulk}, not looked up")
    );
    // A longer suffix inside the domain wins, with its own mode.
    let alice = "uid=alice,ou=people,dc=example,dc=com";
    let out = check(
        &[&cfg[..], &["--account", alice]].concat(),
        "Zq8#unique-Str9",
        1,
    );
    assert!(out.contains("16 characters minimum"), "{out}");
    assert_eq!(
        last(&out),
        format!("scope people (mode enforce); account {alice}, not looked up")
    );
    // Outside the domain.
    let out = check(
        &[&cfg[..], &["--user", "uid=x,dc=example,dc=org"]].concat(),
        thirteen,
        0,
    );
    assert!(last(&out).starts_with("scope default "), "{out}");
    // A DN whose types pwgate cannot compare cannot be placed in a scope:
    // the proxy refuses its changes, check says so.
    let line = usage_error(&[
        "check",
        "--config",
        path_str(&file),
        "--user",
        "employeeNumber=7,ou=people,dc=example,dc=com",
    ]);
    assert!(line.contains("cannot tell which scope applies"), "{line}");
    // An empty account names nobody.
    for flag in ["--user", "--account", "--search-base"] {
        let line = usage_error(&["check", flag, " "]);
        assert!(
            line.contains(&format!("{flag}: the value is empty")),
            "{line}"
        );
    }
}

#[test]
fn check_uses_the_breached_store_of_the_config() {
    let configs = Configs::new();
    let breached = "Xylophone-Quartz-9182-lamp";
    let words = configs.write("words.txt", &format!("{breached}\n"));
    let store = configs.dir.path().join("words.store");
    let args = [
        "store",
        "build",
        "--format",
        "plain",
        "--quiet",
        path_str(&words),
        "-o",
        path_str(&store),
    ];
    assert_exit(&args, &run(&args, None), 0);
    // Strong by every other rule...
    let out = check(&[], breached, 0);
    assert_eq!(verdict(&out), "line 1: accepted");
    // ...but in the store the configuration names, for the global policy
    // and for a scope alike.
    let file = configs.write(
        "breached.toml",
        "[policy]\nbreached_store = \"words.store\"\n\n\
         [[policy.scope]]\nname = \"people\"\ndn_suffix = [\"ou=people,dc=example,dc=com\"]\nmin_length = 14\n",
    );
    let cfg = ["--config", path_str(&file)];
    let out = check(&cfg, breached, 1);
    assert!(
        verdict(&out).starts_with("line 1: refused [breached]"),
        "{out}"
    );
    let user = ["--user", "uid=alice,ou=people,dc=example,dc=com"];
    let out = check(&[&cfg[..], &user[..]].concat(), breached, 1);
    assert!(
        verdict(&out).starts_with("line 1: refused [breached]"),
        "{out}"
    );
    assert!(out.contains("scope people "), "{out}");
    // A missing store refuses, as in the proxy.
    let missing = configs.write(
        "missing.toml",
        "[policy]\nbreached_store = \"nowhere.store\"\n",
    );
    let out = check(&["--config", path_str(&missing)], breached, 1);
    assert!(
        verdict(&out).starts_with("line 1: refused [breached]"),
        "{out}"
    );
}

#[test]
fn config_scope_domain_errors_name_file_and_line() {
    assert_config_errors(&[(
        "domain.toml",
        "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n\n[[policy.scope]]\nname = \"corp\"\ndomain = [\"corp..contoso.com\"]\n",
        4,
        "policy.scope \"corp\": domain: `corp..contoso.com` is not a DNS domain name",
    )]);
}

/// Semantic errors keep their line when the table header carries a comment
/// (`[policy] # ...`) and for dotted or quoted keys.
#[test]
fn config_semantic_error_line_with_comment_or_dotted_key() {
    assert_config_errors(&[
        (
            "comment.toml",
            "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[policy] # strength\nmin_length = 0\n",
            4,
            "min_length",
        ),
        (
            "dotted.toml",
            "upstream.urls = [\"ldap://127.0.0.1:1\"]\npolicy.min_length = 0\n",
            2,
            "min_length",
        ),
        (
            "quoted.toml",
            "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[policy]\n\"min_length\" = 0\n",
            4,
            "min_length",
        ),
    ]);
}

/// `min_strength_score` with each estimator: config check names it, and
/// check refuses a password the other rules accept but that scores 3.
#[test]
fn check_and_config_check_with_each_strength_estimator() {
    let configs = Configs::new();
    for estimator in ["pwgate", "zxcvbn"] {
        let file = configs.write(
            &format!("{estimator}.toml"),
            &format!(
                "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[policy]\nmin_strength_score = 4\n\
                 strength_estimator = \"{estimator}\"\n"
            ),
        );
        let args = ["config", "check", path_str(&file)];
        let out = run(&args, None);
        assert_exit(&args, &out, 0);
        let text = stdout(&out);
        assert!(
            text.contains(&format!(
                "[strength] {estimator} estimator, score at least 4"
            )),
            "{text}"
        );
        let cfg = ["--config", path_str(&file)];
        let out = check(&cfg, "Zqxwliddell7", 1);
        assert!(
            out.contains("strength 3 of 4, at least 4 needed") && out.contains("make it longer"),
            "{estimator}: {out}"
        );
        let out = check(&cfg, "Kv7#qLp2-Tz9!mWd", 0);
        assert_eq!(verdict(&out), "line 1: accepted", "{estimator}");
    }
}

#[test]
fn config_check_prints_the_effective_policy_or_the_error() {
    let configs = Configs::new();
    let good = configs.write(
        "good.toml",
        "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[policy]\npreset = \"nist-800-63b\"\nbanned_words = [\"contoso\"]\n",
    );
    let args = ["config", "check", path_str(&good)];
    let out = run(&args, None);
    assert_exit(&args, &out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{}: valid", good.display())),
        "{text}"
    );
    assert!(text.contains("[length] 15 to 256 characters"), "{text}");
    assert!(text.contains("[complexity] off"), "{text}");
    let bad = configs.write(
        "bad.toml",
        "[upstream]\nurls = [\"ldap://127.0.0.1:1\"]\n[policy]\nmin_lenght = 3\n",
    );
    let line = usage_error(&["config", "check", path_str(&bad)]);
    assert!(line.contains(&format!("{}:4: ", bad.display())), "{line}");
}

/// Under systemd (`Type=notify`, as the packaged unit runs it), `serve`
/// says READY=1 once it listens and STOPPING=1 when SIGTERM comes, on the
/// socket in NOTIFY_SOCKET.
#[test]
fn serve_tells_systemd_when_it_is_ready_and_when_it_stops() {
    use std::os::unix::net::UnixDatagram;
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("temp dir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(RUN_TIMEOUT))
        .expect("read timeout");
    let (port, dead) = common::tools::two_free_ports();
    let log = fs::File::create(dir.path().join("pwgate.log")).expect("log file");
    let mut child = Command::new(PWGATE)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &format!("ldap://127.0.0.1:{dead}")])
        .env("NOTIFY_SOCKET", &socket_path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("run pwgate");
    let mut buf = [0u8; 256];
    let mut next = || -> String {
        match socket.recv(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) => format!("nothing within {RUN_TIMEOUT:?}: {e}"),
        }
    };
    let ready = next();
    // Ready means listening: the port takes a connection now.
    let listening = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let pid = child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status();
    let stopping = next();
    let status = common::tools::terminate(&mut child, RUN_TIMEOUT);
    let log = fs::read_to_string(dir.path().join("pwgate.log")).unwrap_or_default();
    assert!(
        ready.lines().any(|l| l == "READY=1"),
        "{ready}\nlog:\n{log}"
    );
    assert!(listening, "READY=1 came before the port listened");
    assert!(term.is_ok_and(|s| s.success()), "kill -TERM failed");
    assert!(
        stopping.lines().any(|l| l == "STOPPING=1"),
        "{stopping}\nlog:\n{log}"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\nlog:\n{log}"
    );
}
