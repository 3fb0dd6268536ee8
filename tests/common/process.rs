//! The real `pwgate` binary as a child process, for tests of the process
//! itself (its log, signals, resource limits).
//!
//! [`PwgateProcess::start`] runs
//! `pwgate serve --listen 127.0.0.1:<free> --listen-ldaps 127.0.0.1:<free>
//! --certificate <test cert> --private-key <test key> <args...>` with its
//! stderr in a log file of the given directory and `RUST_LOG` removed. The
//! listen flags win over a `--config` file's `[listen] ldap`/`ldaps`. Start
//! is retried on "address in use" (the free ports are released before pwgate
//! binds them) and waits, bounded, until pwgate logged "pwgate ready" (an
//! info event: the log level must let it through) and its LDAP port accepts.
//!
//! Dropping the handle stops pwgate (SIGTERM, a bounded wait, SIGKILL); when
//! the thread is panicking, pwgate's own recent events are printed.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::slapd::test_certs;
use super::tools::{terminate, two_free_ports};

pub const PWGATE: &str = env!("CARGO_BIN_EXE_pwgate");
/// How long pwgate may take to be ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long pwgate may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: u32 = 5;

/// How the process is started, beyond its arguments.
#[derive(Debug, Clone, Copy)]
struct Launch {
    /// Through `sh`, with the soft core limit raised to the hard one.
    raise_core_soft_limit: bool,
    /// Pass `--certificate`/`--private-key` (the test certificate).
    certificate_flags: bool,
}

/// pwgate running as a child; stopped (SIGTERM, then SIGKILL) on drop, so a
/// failing test does not leave it behind.
pub struct PwgateProcess {
    child: Child,
    ldap_port: u16,
    ldaps_port: u16,
    log_path: PathBuf,
}

impl PwgateProcess {
    /// pwgate with the test certificate and `args` (`--upstream`,
    /// `--config`, `--log-level`, ...), its log in `dir`.
    pub fn start(args: &[&str], dir: &Path) -> PwgateProcess {
        PwgateProcess::launch(
            args,
            dir,
            Launch {
                raise_core_soft_limit: false,
                certificate_flags: true,
            },
        )
    }

    /// Like [`PwgateProcess::start`], started through `sh` with the soft
    /// core limit raised to the hard one (`ulimit -S -c "$(ulimit -H -c)"`).
    pub fn start_with_core_soft_limit_raised(args: &[&str], dir: &Path) -> PwgateProcess {
        PwgateProcess::launch(
            args,
            dir,
            Launch {
                raise_core_soft_limit: true,
                certificate_flags: true,
            },
        )
    }

    /// Like [`PwgateProcess::start`], without `--certificate` and
    /// `--private-key`: they must come from the `--config` file's
    /// `[listen] certificate`/`private_key` (the LDAPS listener needs them),
    /// so that a reload can change them.
    pub fn start_with_certificate_from_config(args: &[&str], dir: &Path) -> PwgateProcess {
        PwgateProcess::launch(
            args,
            dir,
            Launch {
                raise_core_soft_limit: false,
                certificate_flags: false,
            },
        )
    }

    fn launch(args: &[&str], dir: &Path, launch: Launch) -> PwgateProcess {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let seq = STARTED.fetch_add(1, Ordering::Relaxed);
        let certs = test_certs();
        for attempt in 1..=START_ATTEMPTS {
            let (ldap_port, ldaps_port) = two_free_ports();
            let log_path = dir.join(format!("pwgate-{seq}-{attempt}.log"));
            let log = fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
            let mut cmd = if launch.raise_core_soft_limit {
                let mut sh = Command::new("sh");
                sh.args([
                    "-c",
                    "ulimit -S -c \"$(ulimit -H -c)\" && exec \"$@\"",
                    "sh",
                    PWGATE,
                ]);
                sh
            } else {
                Command::new(PWGATE)
            };
            cmd.arg("serve")
                .args(["--listen", &format!("127.0.0.1:{ldap_port}")])
                .args(["--listen-ldaps", &format!("127.0.0.1:{ldaps_port}")]);
            if launch.certificate_flags {
                cmd.arg("--certificate")
                    .arg(&certs.server_cert)
                    .arg("--private-key")
                    .arg(&certs.server_key);
            }
            let child = cmd
                .args(args)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {PWGATE}: {e}"));
            let mut process = PwgateProcess {
                child,
                ldap_port,
                ldaps_port,
                log_path,
            };
            match process.wait_ready() {
                Ok(()) => return process,
                Err(why) => {
                    process.stop();
                    let log = process.log_text();
                    let in_use = log.contains("in use") || log.contains("os error 98");
                    if in_use && attempt < START_ATTEMPTS {
                        continue;
                    }
                    panic!("pwgate did not start ({why}); its log:\n{log}");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Until pwgate logs that it is ready and its LDAP port accepts connections.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("cannot wait for pwgate") {
                return Err(format!("pwgate exited: {status}"));
            }
            if Instant::now() >= deadline {
                return Err(format!("not ready within {} s", START_TIMEOUT.as_secs()));
            }
            if self.log_text().contains("pwgate ready")
                && TcpStream::connect_timeout(&self.addr(), Duration::from_millis(500)).is_ok()
            {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ldap://127.0.0.1:<port>` (plain LDAP with StartTLS).
    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// `ldaps://127.0.0.1:<port>`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// The plain LDAP listener.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ldap_port))
    }

    /// The LDAPS listener.
    pub fn ldaps_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ldaps_port))
    }

    /// The process ID (pwgate's own, also when started through `sh`, which
    /// `exec`s it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The log (pwgate's stderr) as raw bytes.
    pub fn log_bytes(&self) -> Vec<u8> {
        fs::read(&self.log_path).unwrap_or_default()
    }

    /// The log, decoded lossily.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log_bytes()).into_owned()
    }

    /// Polls the log until it contains `needle` at least `count` times
    /// (`true`) or `timeout` passes (`false`).
    pub fn wait_for_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().matches(needle).count() >= count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGHUP (reload) with the `kill` command.
    #[track_caller]
    pub fn signal_hup(&self) {
        // The child is not reaped until we wait for it, so its pid cannot
        // have been reused by another process.
        let pid = self.pid();
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -HUP {pid}: {status}");
    }

    /// SIGKILL at once (a crash, as far as clients can tell), then reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, a bounded wait ([`STOP_TIMEOUT`]), then SIGKILL. Idempotent.
    /// Returns the exit status if pwgate stopped on SIGTERM.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        terminate(&mut self.child, STOP_TIMEOUT)
    }
}

impl Drop for PwgateProcess {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!(
                "--- pwgate log {}, pwgate's own events (last 40):\n{}\n---",
                self.log_path.display(),
                own_events(&self.log_text(), 40)
            );
        }
    }
}

/// The last `n` events of pwgate itself (not of the TLS library), each cut
/// to 400 bytes, for failure messages.
pub fn own_events(log: &str, n: usize) -> String {
    let lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains("pwgate"))
        .map(|l| {
            let mut end = l.len().min(400);
            while !l.is_char_boundary(end) {
                end -= 1;
            }
            l[..end].to_owned()
        })
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
