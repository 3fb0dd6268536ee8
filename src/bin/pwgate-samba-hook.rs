//! `pwgate-samba-hook`: the lean form of `pwgate hook samba`, for Samba's
//! `check password script`.
//!
//! Samba starts the script once per password set, so what it costs to
//! start is part of every change on the DC. This binary holds only the
//! hook's asking half (read the input, ask pwgate over its Unix socket,
//! exit with the verdict): none of the policy, word lists, TLS or runtime
//! is linked in, and it starts faster than `pwgate` (1.1–1.2 against
//! 1.3 ms at p50 on the 2-core machine, BENCHMARKS.md). It is the same code as `pwgate hook samba`
//! (`pwgate::hook::run_with`), with the same flags, but `--on-error
//! evaluate`, which needs the policy in the process, is left to `pwgate
//! hook samba`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pwgate::hook::{self, OnError, Settings, Verdict};

const USAGE: &str =
    "usage: pwgate-samba-hook [--socket PATH] [--timeout-ms MS] [--on-error refuse|allow]

Samba AD's check password script: reads the new password on standard input
and the account from SAMBA_CPS_ACCOUNT_NAME, SAMBA_CPS_USER_PRINCIPAL_NAME
and SAMBA_CPS_FULL_NAME, asks the running pwgate over its decision service
socket, and exits 0 to accept, 1 when the policy refuses, 2 when pwgate
cannot be asked or the input cannot be read (refused unless --on-error
allow).

  --socket PATH        the decision service's socket (default /run/pwgate/decide.sock)
  --timeout-ms MS      for the whole exchange, 1 to 9000 (default 5000; Samba waits 10 s)
  --on-error MODE      refuse (default) or allow; for evaluate use `pwgate hook samba`
  -h, --help           this text
  -V, --version        the version";

fn usage_error(message: &str) -> ExitCode {
    eprintln!("pwgate-samba-hook: error: {message}\n(see pwgate-samba-hook --help)");
    ExitCode::from(2)
}

/// The settings from the command line, or the message for a usage error.
/// `Ok(None)`: help or version was printed.
fn settings(
    mut args: impl Iterator<Item = std::ffi::OsString>,
) -> Result<Option<Settings>, String> {
    let mut settings = Settings {
        socket: PathBuf::from(pwgate::config::DEFAULT_SOCKET),
        timeout: Duration::from_millis(5000),
        on_error: OnError::Refuse,
        config: None,
    };
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str().map(str::to_owned) else {
            return Err("an argument is not valid UTF-8".into());
        };
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = |name: &str| -> Result<std::ffi::OsString, String> {
            match &inline {
                Some(v) => Ok(v.into()),
                None => args.next().ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => {
                say(&format!("{USAGE}\n"));
                return Ok(None);
            }
            "-V" | "--version" => {
                say(&format!(
                    "pwgate-samba-hook {}\n",
                    env!("CARGO_PKG_VERSION")
                ));
                return Ok(None);
            }
            "--socket" => {
                let v = value("--socket")?;
                if v.is_empty() {
                    return Err("--socket: the value is empty".into());
                }
                settings.socket = PathBuf::from(v);
            }
            "--timeout-ms" => {
                let v = value("--timeout-ms")?;
                let ms = v
                    .to_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|ms| (1..=9000).contains(ms))
                    .ok_or("--timeout-ms: a number of milliseconds from 1 to 9000")?;
                settings.timeout = Duration::from_millis(ms);
            }
            "--on-error" => {
                settings.on_error = match value("--on-error")?.to_str() {
                    Some("refuse") => OnError::Refuse,
                    Some("allow") => OnError::Allow,
                    Some("evaluate") => {
                        return Err("--on-error evaluate decides in the hook's own process and \
                                    needs the policy: use `pwgate hook samba --on-error evaluate \
                                    --config FILE`"
                            .into())
                    }
                    _ => return Err("--on-error: refuse or allow".into()),
                };
            }
            // Debug quoting: a control character cannot reach Samba's log raw.
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(Some(settings))
}

fn main() -> ExitCode {
    let settings = match settings(std::env::args_os().skip(1)) {
        Ok(Some(s)) => s,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => return usage_error(&message),
    };
    let account = hook::account_from_env(|name| std::env::var_os(name));
    let (verdict, line) = hook::run_with(
        &settings,
        account,
        &mut std::io::stdin().lock(),
        // Never reached: --on-error evaluate is refused above.
        |_, _, _| Verdict::Error("--on-error evaluate needs `pwgate hook samba`".into()),
    );
    if let Some(line) = line {
        eprintln!("{line}");
    }
    ExitCode::from(hook::exit_status(&verdict))
}

/// Writes to standard output; a closed pipe (`--help | head -1`) is not an
/// error worth a panic, as `println!` would make it.
fn say(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
