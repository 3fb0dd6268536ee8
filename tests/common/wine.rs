//! The Windows DC filter under Wine, for tests/windows_filter.rs: the DLL
//! and its test program built once per test binary by
//! `scripts/build-windows-filter.sh`, one Wine prefix (made once with
//! `wineboot -i`, then kept under `CARGO_TARGET_TMPDIR` for later runs),
//! the filter's registry values written with `regedit /S`, and
//! `filter_test.exe` run with Wine's event log traced to its stderr
//! (`WINEDEBUG=+eventlog`: Wine's `ReportEventW` prints each event's text).
//!
//! The prefix is shared: [`Wine::lock`] serializes its users within the
//! test binary, and a lock file across test binaries run at once.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::tools::{describe, run_bounded, wait_bounded};

/// How long one Wine program may run.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// The registry key the filter reads.
pub const KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\pwgate\PasswordFilter";

pub struct Wine {
    /// `wine64` (or `wine`).
    loader: PathBuf,
    prefix: PathBuf,
    /// The built DLL and test program.
    pub build: PathBuf,
    /// Held open for the whole test binary: the lock on the prefix.
    _lock: fs::File,
    serial: Mutex<()>,
}

/// A registry value of the filter's key.
pub enum Value<'a> {
    Sz(&'a str),
    Dword(u32),
}

/// One run of `filter_test.exe`.
pub struct Run {
    pub output: Output,
    /// The program's last line on stdout (`accepted elapsed_ms=...`).
    pub stdout: String,
    /// Wine's stderr: its traces, among them the events.
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The program's exit status (0 accepted, 1 refused, 2 error).
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// The texts of the events the filter reported, in order.
    pub fn events(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter_map(|l| l.split_once(":eventlog:ReportEventW ").map(|(_, t)| t))
            .map(str::to_owned)
            .collect()
    }

    /// The milliseconds the program measured for its call.
    pub fn elapsed_ms(&self) -> u64 {
        self.stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix("elapsed_ms="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no elapsed_ms in {:?}", self.stdout))
    }

    pub fn describe(&self) -> String {
        format!("after {:?}: {}", self.elapsed, describe(&self.output))
    }
}

fn loader() -> PathBuf {
    for candidate in ["/usr/lib/wine/wine64", "/usr/bin/wine64"] {
        if Path::new(candidate).is_file() {
            return candidate.into();
        }
    }
    "wine".into()
}

impl Wine {
    /// The one Wine of this test binary: the filter built, the prefix ready.
    pub fn get() -> &'static Wine {
        static WINE: OnceLock<Wine> = OnceLock::new();
        WINE.get_or_init(|| {
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let build = tmp.join("windows-filter");
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-windows-filter.sh");
            let (out, killed) = run_bounded(
                Command::new("bash").arg(&script).arg(&build),
                None,
                Duration::from_secs(120),
            )
            .expect("run build-windows-filter.sh");
            assert!(
                !killed && out.status.success(),
                "build-windows-filter.sh failed: {}",
                describe(&out)
            );
            let lock = lock_file(&tmp.join("wine-prefix.lock"));
            let wine = Wine {
                loader: loader(),
                prefix: tmp.join("wine-prefix"),
                build,
                _lock: lock,
                serial: Mutex::new(()),
            };
            wine.boot();
            wine
        })
    }

    /// Serializes the tests that use the prefix.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.serial.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.loader);
        cmd.env("WINEPREFIX", &self.prefix)
            // No Mono or Gecko installer prompts.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("WINEDEBUG", "-all,+eventlog")
            // Arguments reach the program as UTF-8 is decoded.
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    /// `wineboot -i` once; a prefix a previous run made is kept.
    fn boot(&self) {
        let ready = self.prefix.join(".pwgate-ready");
        if ready.exists() && self.prefix.join("system.reg").exists() {
            return;
        }
        let _ = fs::remove_dir_all(&self.prefix);
        fs::create_dir_all(&self.prefix).expect("create the Wine prefix");
        let started = Instant::now();
        let (out, killed) = run_wine(
            self.command().args(["wineboot", "-i"]),
            Duration::from_secs(180),
        );
        assert!(
            !killed && out.status.success(),
            "wineboot -i failed: {}",
            describe(&out)
        );
        // The registry is written when the wineserver exits.
        self.wait_server();
        assert!(
            self.prefix.join("system.reg").exists(),
            "wineboot made no registry in {:?}",
            started.elapsed()
        );
        fs::write(&ready, b"").expect("mark the prefix ready");
    }

    fn wait_server(&self) {
        let server = self.loader.with_file_name("wineserver");
        let server = if server.is_file() {
            server
        } else {
            "wineserver".into()
        };
        let mut cmd = Command::new(server);
        cmd.env("WINEPREFIX", &self.prefix).arg("-w");
        let (out, killed) = run_wine(&mut cmd, Duration::from_secs(60));
        assert!(!killed, "wineserver -w hung: {}", describe(&out));
    }

    /// Replaces the filter's key with these values.
    pub fn configure(&self, values: &[(&str, Value<'_>)]) {
        let mut reg =
            format!("Windows Registry Editor Version 5.00\r\n\r\n[-{KEY}]\r\n\r\n[{KEY}]\r\n");
        for (name, value) in values {
            let value = match value {
                Value::Sz(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
                Value::Dword(n) => format!("dword:{n:08x}"),
            };
            reg.push_str(&format!("\"{name}\"={value}\r\n"));
        }
        let file = self.prefix.join("pwgate-filter.reg");
        fs::write(&file, reg).expect("write the .reg file");
        let regedit = || {
            run_wine(
                self.command().args(["regedit", "/S"]).arg(&file),
                RUN_TIMEOUT,
            )
        };
        let (mut out, mut killed) = regedit();
        // Wine, now and then, fails to start regedit at all ("ShellExecuteEx
        // failed: Internal error", seen once on CI): that is Wine, not the
        // filter, so once more after the wineserver has settled.
        if !killed
            && !out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("ShellExecuteEx failed")
        {
            eprintln!(
                "wine: regedit did not start ({}); once more",
                describe(&out)
            );
            self.wait_server();
            (out, killed) = regedit();
        }
        let _ = fs::remove_file(&file);
        assert!(
            !killed && out.status.success(),
            "regedit /S failed: {}",
            describe(&out)
        );
    }

    /// Runs `filter_test.exe <the DLL> args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.arg(self.build.join("filter_test.exe"))
            .arg(self.build.join("pwgate_filter.dll"))
            .args(args);
        let started = Instant::now();
        let (output, killed) = run_wine(&mut cmd, RUN_TIMEOUT);
        let elapsed = started.elapsed();
        let text = |b: &[u8]| String::from_utf8_lossy(b).replace('\r', "");
        let run = Run {
            stdout: text(&output.stdout).trim_end().to_owned(),
            stderr: text(&output.stderr),
            output,
            elapsed,
        };
        assert!(!killed, "filter_test.exe hung: {}", run.describe());
        run
    }
}

/// Runs a Wine program with its output in files, not pipes: the
/// wineserver and the services a program starts keep its standard output
/// and error open after it exits (until the server's idle timeout), so a
/// reader of a pipe would wait for them. `(output, killed at timeout)`.
fn run_wine(cmd: &mut Command, timeout: Duration) -> (Output, bool) {
    let out = tempfile::tempfile().expect("a file for stdout");
    let err = tempfile::tempfile().expect("a file for stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let (status, killed) = match wait_bounded(&mut child, timeout) {
        Some(status) => (status, false),
        None => {
            let _ = child.kill();
            (child.wait().expect("wait for the killed program"), true)
        }
    };
    let read = |mut f: fs::File| {
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(0)).expect("seek");
        f.read_to_end(&mut buf).expect("read the output");
        buf
    };
    let output = Output {
        status,
        stdout: read(out),
        stderr: read(err),
    };
    (output, killed)
}

/// An exclusive lock on `path`, waited for (bounded).
fn lock_file(path: &Path) -> fs::File {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let deadline = Instant::now() + Duration::from_secs(300);
    // SAFETY: flock on a file descriptor this function owns.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        assert!(
            Instant::now() < deadline,
            "another test run holds {} for over 5 minutes",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    file
}
