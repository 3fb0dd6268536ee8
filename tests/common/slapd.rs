//! Test harness: a private, throwaway OpenLDAP `slapd` per test, plus
//! test-only TLS certificates and a sandboxed runner for the ldap-utils tools.
//!
//! Needs `slapd`, `ldap-utils` and `openssl` (`scripts/install-deps.sh`).
//! Nothing outside a temporary directory is touched: no `/etc/ldap/slapd.d`,
//! no system service. Each [`Slapd`] listens on two fresh loopback ports and
//! is stopped and deleted when dropped.
//!
//! Directory contents (see [`Slapd::start`]):
//! - suffix `dc=example,dc=com`, rootdn [`ADMIN_DN`] / [`ADMIN_PW`] (bypasses ppolicy);
//!   `cn=config` is writable online as [`CONFIG_ADMIN_DN`] / [`ADMIN_PW`];
//! - `ou=people`: users alice, bob, carol (passwords in [`USERS`]) and the
//!   helpdesk account [`HELPDESK_DN`] / [`HELPDESK_PW`], which may write any
//!   `userPassword` and IS subject to ppolicy; users may change their own;
//! - ppolicy default [`POLICY_DN`]: pwdMinLength 8, pwdCheckQuality 2, no
//!   history/lockout/age, `ppolicy_hash_cleartext` (cleartext stored as {SSHA});
//! - users carry `givenName` and `displayName` (`Alice Liddell`, see
//!   [`surname`]); `ou=groups` holds [`ADMINS_GROUP_DN`] (carol) and
//!   [`HELPDESK_GROUP_DN`] (the helpdesk account), both groupOfNames;
//! - [`BULK_DN`]: `uid=bulk00` .. `uid=bulk24` for paged searches;
//! - [`REFERRAL_DN`]: a referral object, so subtree searches from [`BASE_DN`]
//!   return one SearchResultReference ([`REFERRAL_URL`]).
//!
//! Set `PWGATE_SLAPD_DEBUG=stats` (any `slapd -d` level) for a per-operation
//! log; the default `none` logs only startup errors. The log's tail is printed
//! when a test panics while a [`Slapd`] is alive.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::tools::{run_bounded, terminate, two_free_ports};

pub const BASE_DN: &str = "dc=example,dc=com";
pub const PEOPLE_DN: &str = "ou=people,dc=example,dc=com";
pub const GROUPS_DN: &str = "ou=groups,dc=example,dc=com";
/// A groupOfNames with carol as its only member.
pub const ADMINS_GROUP_DN: &str = "cn=admins,ou=groups,dc=example,dc=com";
/// A groupOfNames with the helpdesk account as its only member.
pub const HELPDESK_GROUP_DN: &str = "cn=helpdesk-team,ou=groups,dc=example,dc=com";
/// Added by [`Slapd::add_nested_groups`]: a groupOfNames whose member is
/// [`ADMINS_GROUP_DN`], so carol is in it at the second level.
pub const OPS_GROUP_DN: &str = "cn=ops,ou=groups,dc=example,dc=com";
/// Added by [`Slapd::add_nested_groups`]: a groupOfUniqueNames whose
/// uniqueMember is [`OPS_GROUP_DN`] (carol at the third level).
pub const AUDITORS_GROUP_DN: &str = "cn=auditors,ou=groups,dc=example,dc=com";
/// Added by [`Slapd::add_nested_groups`]: alice's group, a member of
/// [`LOOP_B_GROUP_DN`], which is a member of this one (a cycle).
pub const LOOP_A_GROUP_DN: &str = "cn=loop-a,ou=groups,dc=example,dc=com";
pub const LOOP_B_GROUP_DN: &str = "cn=loop-b,ou=groups,dc=example,dc=com";

/// The surname in each seeded user's `displayName` (`Alice Liddell`): a
/// name that only a lookup of the entry can know.
pub fn surname(uid: &str) -> &'static str {
    match uid {
        "alice" => "Liddell",
        "bob" => "Marley",
        "carol" => "Danvers",
        _ => "Desk",
    }
}
pub const POLICY_DN: &str = "cn=default,ou=policies,dc=example,dc=com";
pub const BULK_DN: &str = "ou=bulk,dc=example,dc=com";
pub const REFERRAL_DN: &str = "ou=elsewhere,dc=example,dc=com";
/// The `ref` value of [`REFERRAL_DN`] (port 1: nothing answers there).
pub const REFERRAL_URL: &str = "ldap://127.0.0.1:1/ou=elsewhere,dc=example,dc=com";
/// Number of `uid=bulkNN` entries under [`BULK_DN`].
pub const BULK_ENTRIES: usize = 25;

/// rootdn of the suffix; bypasses ACLs and ppolicy.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PW: &str = "admin-secret";
/// rootdn of `cn=config` (password [`ADMIN_PW`]).
pub const CONFIG_ADMIN_DN: &str = "cn=admin,cn=config";
/// May write every `userPassword`; subject to ppolicy.
pub const HELPDESK_DN: &str = "uid=helpdesk,ou=people,dc=example,dc=com";
pub const HELPDESK_PW: &str = "Helpdesk-Passw0rd";
/// `(uid, password)` of every seeded person under [`PEOPLE_DN`].
pub const USERS: &[(&str, &str)] = &[
    ("alice", "Alice-Passw0rd"),
    ("bob", "Bob-Passw0rd"),
    ("carol", "Carol-Passw0rd"),
    ("helpdesk", HELPDESK_PW),
];

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SLAPPASSWD: &str = "/usr/sbin/slappasswd";
const START_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const START_ATTEMPTS: u32 = 5;

/// `uid=<uid>,ou=people,dc=example,dc=com`.
pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE_DN}")
}

/// The seeded password of `uid` (see [`USERS`]); panics for unknown users.
pub fn user_password(uid: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == uid)
        .map(|(_, pw)| *pw)
        .unwrap_or_else(|| panic!("no seeded user {uid:?} (known: {USERS:?})"))
}

// ---------------------------------------------------------------------------
// Certificates

/// Test-only CA, server and client certificates made by `certs/generate.sh`.
/// The server certificate is valid for localhost, the hostname, 127.0.0.1 and ::1.
#[derive(Debug)]
pub struct TestCerts {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TestCerts {
    fn in_dir(dir: PathBuf) -> Self {
        TestCerts {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            dir,
        }
    }

    fn complete(&self) -> bool {
        [
            &self.ca,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
        .iter()
        .all(|p| p.is_file())
    }
}

/// The test certificates, generated at most once per test process.
///
/// They live in `<CARGO_TARGET_TMPDIR>/test-certs-<hash of generate.sh>` and
/// are shared by all test binaries: each generates into a private staging
/// directory and renames it into place, so concurrent processes never see a
/// half-written set (the loser of a race just uses the winner's set). Editing
/// the script changes the hash, hence the directory.
pub fn test_certs() -> &'static TestCerts {
    static CERTS: OnceLock<TestCerts> = OnceLock::new();
    CERTS.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs/generate.sh");
        let contents =
            fs::read(&script).unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()));
        let mut hasher = DefaultHasher::new();
        contents.hash(&mut hasher);
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let certs = TestCerts::in_dir(root.join(format!("test-certs-{:016x}", hasher.finish())));
        if certs.complete() {
            return certs;
        }
        fs::create_dir_all(root)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let staging = root.join(format!(
            ".test-certs-staging-{}-{nanos}",
            std::process::id()
        ));
        let out = Command::new("bash")
            .arg(&script)
            .arg(&staging)
            .env_remove("EXTRA_IPS")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        if !out.status.success() {
            let _ = fs::remove_dir_all(&staging);
        }
        assert!(
            out.status.success(),
            "{} {} failed ({}):\n{}{}",
            script.display(),
            staging.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Err(e) = fs::rename(&staging, &certs.dir) {
            // Another process won the race (the target is then complete), or
            // a stale, incomplete directory is in the way.
            if !certs.complete() {
                let _ = fs::remove_dir_all(&certs.dir);
                fs::rename(&staging, &certs.dir).unwrap_or_else(|e2| {
                    panic!(
                        "cannot move {} to {}: {e}; retry: {e2}",
                        staging.display(),
                        certs.dir.display()
                    )
                });
            }
            let _ = fs::remove_dir_all(&staging);
        }
        assert!(
            certs.complete(),
            "test certificates missing in {}",
            certs.dir.display()
        );
        certs
    })
}

// ---------------------------------------------------------------------------
// ldap-utils runner

/// Runs an ldap-utils program (`ldapsearch`, `ldapmodify`, `ldappasswd`,
/// `ldapwhoami`, ...) isolated from the user's and the machine's LDAP
/// settings, trusting only the test CA, with stdin closed.
///
/// Environment: `LDAPTLS_CACERT` = test CA, `LDAPTLS_REQCERT=demand`,
/// `LDAPCONF=/dev/null`, inherited `LDAP*` variables removed, and `HOME` and
/// the working directory set to an empty directory so no `ldaprc` is read.
/// (`LDAPNOINIT` is not used: it would make libldap ignore the `LDAPTLS_*`
/// variables too.) `-o nettimeout=10` is added for `ldap*` tools unless the
/// arguments already set it, and the process is killed after 30 s (its
/// stderr then ends with a note saying so).
pub fn ldap_tool(program: &str, args: &[&str]) -> Output {
    run_ldap_tool(program, args, None, TOOL_TIMEOUT)
}

/// Like [`ldap_tool`], with `input` written to the program's stdin (e.g. LDIF
/// for `ldapmodify`).
pub fn ldap_tool_stdin(program: &str, args: &[&str], input: &str) -> Output {
    run_ldap_tool(program, args, Some(input.as_bytes()), TOOL_TIMEOUT)
}

/// An empty directory used as `HOME` and working directory of the tools.
fn tool_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ldap-tool-home");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    })
}

fn run_ldap_tool(program: &str, args: &[&str], input: Option<&[u8]>, timeout: Duration) -> Output {
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    let mut cmd = Command::new(program);
    if name.starts_with("ldap")
        && name != "ldapurl"
        && !args.iter().any(|a| a.contains("nettimeout"))
    {
        cmd.args(["-o", "nettimeout=10"]);
    }
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LDAP") {
            cmd.env_remove(key);
        }
    }
    let home = tool_home();
    cmd.env("LDAPTLS_CACERT", &test_certs().ca)
        .env("LDAPTLS_REQCERT", "demand")
        .env("LDAPCONF", "/dev/null")
        .env("HOME", home)
        .current_dir(home);
    let (mut output, killed) = run_bounded(&mut cmd, input, timeout).unwrap_or_else(|e| {
        panic!("cannot run {program} (is ldap-utils installed? scripts/install-deps.sh): {e}")
    });
    if killed {
        output.stderr.extend_from_slice(
            format!(
                "\nldap_tool: {program} killed after {} s\n",
                timeout.as_secs()
            )
            .as_bytes(),
        );
    }
    output
}

// ---------------------------------------------------------------------------
// slapd

/// A private slapd on `127.0.0.1:port` (ldap://) and `127.0.0.1:tls_port`
/// (ldaps://, certificate from [`test_certs`]), seeded as described in the
/// module documentation. StartTLS works on the plain port. Stopped (SIGTERM,
/// then SIGKILL after 5 s) and deleted on drop.
pub struct Slapd {
    pub port: u16,
    pub tls_port: u16,
    child: Child,
    certs: &'static TestCerts,
    log_path: PathBuf,
    dir: tempfile::TempDir,
    suffix: String,
}

impl Slapd {
    pub const BASE_DN: &'static str = BASE_DN;
    pub const ADMIN_DN: &'static str = ADMIN_DN;
    pub const ADMIN_PW: &'static str = ADMIN_PW;
    pub const HELPDESK_DN: &'static str = HELPDESK_DN;
    pub const HELPDESK_PW: &'static str = HELPDESK_PW;

    /// Same as the free function [`user_dn`].
    pub fn user_dn(uid: &str) -> String {
        user_dn(uid)
    }

    /// Provisions a fresh directory in a temp dir and starts slapd on two
    /// free loopback ports (new ports, up to 5 attempts, if one was taken
    /// meanwhile); returns once this very slapd answers LDAP on `ldap://`
    /// (at most 15 s). Panics with the tail of slapd's log if it cannot.
    /// Typically 35 ms; the first call in a process also hashes the seed
    /// passwords (+25 ms) and may have to create the certificates (+0.5 s).
    pub fn start() -> Slapd {
        Slapd::start_with_suffix(BASE_DN)
    }

    /// Like [`Slapd::start`], with `suffix` (`dc=example,dc=<tld>`) in place
    /// of `dc=example,dc=com` everywhere: a second, different directory.
    pub fn start_with_suffix(suffix: &str) -> Slapd {
        assert!(
            suffix.starts_with("dc=example,dc="),
            "the harness suffix must be dc=example,dc=<tld>, not {suffix}"
        );
        let certs = test_certs();
        let dir = tempfile::Builder::new()
            .prefix("pwgate-slapd-")
            .tempdir()
            .expect("cannot create a temp dir for slapd");
        let conf = dir.path().join("slapd.conf");
        let seed = dir.path().join("seed.ldif");
        let log_path = dir.path().join("slapd.log");
        let data = dir.path().join("data");
        let pidfile = dir.path().join("slapd.pid");
        fs::create_dir(&data).expect("cannot create slapd data dir");
        let seed_data = seed_data();
        fs::write(
            &conf,
            slapd_conf(dir.path(), certs, &seed_data.rootpw_hash).replace(BASE_DN, suffix),
        )
        .expect("cannot write slapd.conf");
        fs::write(&seed, seed_data.ldif.replace(BASE_DN, suffix)).expect("cannot write seed.ldif");

        let out = Command::new(SLAPADD)
            .arg("-q")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&seed)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SLAPADD} (run scripts/install-deps.sh): {e}"));
        assert!(
            out.status.success(),
            "slapadd of the seed data failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );

        let debug = std::env::var("PWGATE_SLAPD_DEBUG").unwrap_or_else(|_| "none".to_owned());
        for attempt in 1..=START_ATTEMPTS {
            let (port, tls_port) = two_free_ports();
            let mut log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .expect("cannot open slapd.log");
            writeln!(
                log,
                "=== pwgate test harness: attempt {attempt}, ports {port} / {tls_port}"
            )
            .expect("cannot write slapd.log");
            let attempt_start = fs::metadata(&log_path).map_or(0, |m| m.len());
            let stderr = log.try_clone().expect("cannot clone slapd.log handle");
            // `-d` keeps slapd in the foreground as our child (it does not
            // fork); `-d 0` would too, but then logs nothing, not even a
            // failed bind. `none` logs startup errors only.
            let mut child = Command::new(SLAPD)
                .arg("-h")
                .arg(format!(
                    "ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/"
                ))
                .arg("-f")
                .arg(&conf)
                .arg("-d")
                .arg(&debug)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run {SLAPD} (run scripts/install-deps.sh): {e}")
                });
            match wait_ready(&mut child, port, &pidfile) {
                Ok(()) => {
                    return Slapd {
                        port,
                        tls_port,
                        child,
                        certs,
                        log_path,
                        dir,
                        suffix: suffix.to_owned(),
                    }
                }
                Err(why) => {
                    terminate(&mut child, STOP_TIMEOUT);
                    let log = read_log(&log_path);
                    let this_attempt = log
                        .get(usize::try_from(attempt_start).unwrap_or(0)..)
                        .unwrap_or("");
                    let addr_in_use = this_attempt.contains("errno=98")
                        || this_attempt.contains("Address already in use");
                    // A port taken between picking and binding: try new ones.
                    if addr_in_use && attempt < START_ATTEMPTS {
                        continue;
                    }
                    panic!(
                        "slapd did not start ({why}; attempt {attempt} of {START_ATTEMPTS}); last lines of {}:\n{}",
                        log_path.display(),
                        tail(&log, 20)
                    );
                }
            }
        }
        unreachable!("the last start attempt either returns or panics")
    }

    /// Stops the server (its data stays, for [`Slapd::restart`]).
    pub fn stop_server(&mut self) {
        terminate(&mut self.child, STOP_TIMEOUT);
    }

    /// Starts the server again on the same ports with the same data.
    pub fn restart(&mut self) {
        terminate(&mut self.child, STOP_TIMEOUT);
        let conf = self.dir.path().join("slapd.conf");
        let pidfile = self.dir.path().join("slapd.pid");
        let _ = fs::remove_file(&pidfile);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("cannot open slapd.log");
        let stderr = log.try_clone().expect("cannot clone slapd.log handle");
        self.child = Command::new(SLAPD)
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.port, self.tls_port
            ))
            .arg("-f")
            .arg(&conf)
            .arg("-d")
            .arg("none")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {SLAPD}: {e}"));
        if let Err(why) = wait_ready(&mut self.child, self.port, &pidfile) {
            panic!("slapd did not restart ({why}):\n{}", self.log_tail(20));
        }
    }

    /// `ldap://127.0.0.1:<port>`
    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:<tls_port>` (trust [`Slapd::ca`]).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// The CA certificate that signed the server certificate.
    pub fn ca(&self) -> &Path {
        &self.certs.ca
    }

    /// The test certificates this instance uses.
    pub fn certs(&self) -> &'static TestCerts {
        self.certs
    }

    /// The instance's temp dir (slapd.conf, seed.ldif, data/, slapd.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// slapd's whole log so far (startup errors; operations only with
    /// `PWGATE_SLAPD_DEBUG=stats`).
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log(), n)
    }

    /// slapd's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Adds the entries in `ldif` (no `changetype` needed) as the rootdn;
    /// panics if slapd refuses any.
    pub fn add_entries(&self, ldif: &str) {
        let out = ldap_tool_stdin(
            "ldapadd",
            &["-x", "-H", &self.ldap_url(), "-D", ADMIN_DN, "-w", ADMIN_PW],
            ldif,
        );
        assert!(
            out.status.success(),
            "ldapadd failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds groups of groups to the seed: carol is in [`ADMINS_GROUP_DN`],
    /// which is in [`OPS_GROUP_DN`], which is a uniqueMember of
    /// [`AUDITORS_GROUP_DN`]; alice is in [`LOOP_A_GROUP_DN`], which is in
    /// [`LOOP_B_GROUP_DN`], which is in [`LOOP_A_GROUP_DN`]. bob is in none.
    pub fn add_nested_groups(&self) {
        let ldif = format!(
            "dn: {OPS_GROUP_DN}\nobjectClass: groupOfNames\ncn: ops\nmember: {ADMINS_GROUP_DN}\n\n\
             dn: {AUDITORS_GROUP_DN}\nobjectClass: groupOfUniqueNames\ncn: auditors\nuniqueMember: {OPS_GROUP_DN}\n\n\
             dn: {LOOP_A_GROUP_DN}\nobjectClass: groupOfNames\ncn: loop-a\nmember: {alice}\nmember: {LOOP_B_GROUP_DN}\n\n\
             dn: {LOOP_B_GROUP_DN}\nobjectClass: groupOfNames\ncn: loop-b\nmember: {LOOP_A_GROUP_DN}\n",
            alice = user_dn("alice"),
        );
        self.add_entries(&ldif.replace(BASE_DN, &self.suffix));
    }

    /// The suffix this instance serves ([`BASE_DN`] unless started with
    /// [`Slapd::start_with_suffix`]).
    pub fn suffix(&self) -> &str {
        &self.suffix
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        terminate(&mut self.child, STOP_TIMEOUT);
        if thread::panicking() {
            eprintln!(
                "--- slapd on ports {}/{} (dir {}), last lines of its log:\n{}\n---",
                self.port,
                self.tls_port,
                self.dir.path().display(),
                self.log_tail(40)
            );
        }
    }
}

impl std::fmt::Debug for Slapd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slapd")
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .field("pid", &self.child.id())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Polls until our slapd answers on ldap://, it exits, or [`START_TIMEOUT`]
/// passes.
///
/// The probe binds to cn=config and reads `olcPidFile`, which names this
/// instance's temp dir: a plain rootDSE search could be answered by another
/// test's slapd that grabbed the port between our picking and binding it.
/// (slapd binds all its listeners before serving any, so ldaps:// is up too.)
fn wait_ready(child: &mut Child, port: u16, pidfile: &Path) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let url = format!("ldap://127.0.0.1:{port}");
    let expected = format!("olcPidFile: {}", pidfile.display());
    let mut last_error = String::from("slapd has not written its pidfile yet");
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Err(format!("slapd exited during startup: {status}")),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for slapd: {e}")),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no answer on {url} within {} s; last error: {last_error}",
                START_TIMEOUT.as_secs()
            ));
        }
        // slapd writes its pidfile only after binding every listener, so
        // probe once it holds our child's pid: never earlier, when a port
        // could still belong to someone else. A short kill timeout anyway.
        let pid_written =
            fs::read_to_string(pidfile).is_ok_and(|p| p.trim() == child.id().to_string());
        if pid_written {
            let out = run_ldap_tool(
                "ldapsearch",
                &[
                    "-x",
                    "-LLL",
                    "-o",
                    "nettimeout=2",
                    "-o",
                    "ldif-wrap=no",
                    "-H",
                    &url,
                    "-D",
                    CONFIG_ADMIN_DN,
                    "-w",
                    ADMIN_PW,
                    "-b",
                    "cn=config",
                    "-s",
                    "base",
                    "olcPidFile",
                ],
                None,
                PROBE_TIMEOUT,
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            if out.status.success() && stdout.lines().any(|l| l == expected) {
                return Ok(());
            }
            last_error = format!(
                "ldapsearch: {}: {}{}",
                out.status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

struct SeedData {
    rootpw_hash: String,
    ldif: String,
}

/// The seed LDIF and rootpw hash; slappasswd runs once per test process.
fn seed_data() -> &'static SeedData {
    static SEED: OnceLock<SeedData> = OnceLock::new();
    SEED.get_or_init(|| {
        let rootpw_hash = slappasswd(ADMIN_PW);
        let mut ldif = format!(
            "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: ou=policies,{BASE_DN}\nobjectClass: organizationalUnit\nou: policies\n\n\
             dn: {POLICY_DN}\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: default\n\
             pwdAttribute: userPassword\npwdMinLength: 8\npwdCheckQuality: 2\npwdInHistory: 0\n\
             pwdAllowUserChange: TRUE\npwdSafeModify: FALSE\npwdMustChange: FALSE\npwdLockout: FALSE\n\
             pwdMaxFailure: 0\npwdMaxAge: 0\npwdMinAge: 0\n\n"
        );
        for (i, (uid, pw)) in USERS.iter().enumerate() {
            let mut name = uid.to_string();
            name[..1].make_ascii_uppercase();
            ldif.push_str(&format!(
                "dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: {uid}\n\
                 cn: {name}\nsn: {name}\ngivenName: {name}\ndisplayName: {name} {surname}\n\
                 mail: {uid}@example.com\nuidNumber: {num}\ngidNumber: 1000\n\
                 homeDirectory: /home/{uid}\nuserPassword: {hash}\n\n",
                surname = surname(uid),
                dn = user_dn(uid),
                num = 1001 + i,
                hash = slappasswd(pw),
            ));
        }
        ldif.push_str(&format!(
            "dn: {ADMINS_GROUP_DN}\nobjectClass: groupOfNames\ncn: admins\nmember: {carol}\n\n\
             dn: {HELPDESK_GROUP_DN}\nobjectClass: groupOfNames\ncn: helpdesk-team\nmember: {helpdesk}\n\n",
            carol = user_dn("carol"),
            helpdesk = HELPDESK_DN,
        ));
        ldif.push_str(&format!("dn: {BULK_DN}\nobjectClass: organizationalUnit\nou: bulk\n\n"));
        for n in 0..BULK_ENTRIES {
            ldif.push_str(&format!(
                "dn: uid=bulk{n:02},{BULK_DN}\nobjectClass: inetOrgPerson\nuid: bulk{n:02}\n\
                 cn: Bulk {n:02}\nsn: Bulk\ndescription: bulk entry {n}\n\n"
            ));
        }
        ldif.push_str(&format!(
            "dn: {REFERRAL_DN}\nobjectClass: referral\nobjectClass: extensibleObject\n\
             ou: elsewhere\nref: {REFERRAL_URL}\n\n"
        ));
        SeedData { rootpw_hash, ldif }
    })
}

fn slappasswd(password: &str) -> String {
    let out = Command::new(SLAPPASSWD)
        .arg("-s")
        .arg(password)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {SLAPPASSWD} (run scripts/install-deps.sh): {e}"));
    assert!(
        out.status.success(),
        "slappasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8(out.stdout).expect("slappasswd printed non-UTF-8");
    hash.trim().to_owned()
}

fn slapd_conf(dir: &Path, certs: &TestCerts, rootpw_hash: &str) -> String {
    let d = dir.display();
    format!(
        r#"# Generated by pwgate's test harness (tests/common/slapd.rs): private test instance.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile "{d}/slapd.pid"
argsfile "{d}/slapd.args"
TLSCACertificateFile "{ca}"
TLSCertificateFile "{cert}"
TLSCertificateKeyFile "{key}"

# cn=config is readable/writable online (changes are not persisted with -f).
database config
rootdn "{CONFIG_ADMIN_DN}"
rootpw {rootpw_hash}

database mdb
maxsize 268435456
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {rootpw_hash}
directory "{d}/data"
index objectClass eq
index uid,cn eq
# ppolicy (its schema is built into the 2.5 overlay). The rootdn bypasses it;
# the helpdesk account does not.
overlay ppolicy
ppolicy_default "{POLICY_DN}"
ppolicy_hash_cleartext
ppolicy_use_lockout

access to attrs=userPassword
  by self write
  by dn.exact="{HELPDESK_DN}" write
  by anonymous auth
  by * none
access to *
  by * read
"#,
        ca = certs.ca.display(),
        cert = certs.server_cert.display(),
        key = certs.server_key.display(),
    )
}
