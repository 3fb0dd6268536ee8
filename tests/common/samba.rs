//! Test harness: a private, throwaway Samba Active Directory DC, shared by
//! the tests of one test binary.
//!
//! Needs root (the DC binds ports 389/636/88/464 and only runs as root) and
//! the Debian packages `samba samba-ad-dc samba-ad-provision winbind
//! krb5-user` (`scripts/install-deps.sh`). [`dc`] returns `None`, after a
//! loud message on stderr, when the tests do not run as root; as root, a
//! missing Samba fails the test with a message saying to run
//! `scripts/install-deps.sh`.
//!
//! # What [`dc`] sets up (once per test process, ~5 s)
//!
//! - An address: Samba's LDAP ports are fixed (389/636, GC 3268/3269, no
//!   smb.conf option), so instances are told apart by loopback address. The
//!   first of 127.0.0.2 ..= 127.0.0.40 whose lock file
//!   (`$TMPDIR/pwgate-samba-dc-<addr>.lock`, `flock`ed by the test process
//!   and inherited by its DC, so held until both are gone) is free and
//!   whose ports are all free: a DC of another test process, or one started
//!   by hand (e.g. on 127.0.0.2), makes the harness move on.
//! - A state dir, `<target>/tmp/samba-dc-<addr>` (or
//!   `$TMPDIR/pwgate-samba-dc-<addr>` when that path would be too long for
//!   Samba's unix sockets), wiped and provisioned anew each run: nothing is
//!   cached between runs (`samba-tool domain
//!   provision --targetdir`, realm [`REALM`], domain [`DOMAIN`], base
//!   [`BASE_DN`], DNS backend NONE), with its own `smb.conf`: `server
//!   services = ldap, cldap, kdc`, bound to the address only, every path
//!   inside the state dir. Nothing in `/etc/samba`, `/var/lib/samba` or
//!   `/etc/krb5.conf` is read or written.
//! - A server certificate for the address (IP SAN) issued by the project's
//!   test CA ([`test_certs`]), so the ldap-utils runner and pwgate's
//!   `upstream.ca` trust the DC as they trust everything else in the tests.
//! - Password policy: complexity on, min length 7 (the AD defaults), min age
//!   0, max age 0, history 0, no lockout, so tests can change passwords
//!   repeatedly. Two Password Settings Objects, applied to no one, for the
//!   tests that need more: [`HISTORY_PSO_DN`] (history 3) and
//!   [`LOCKOUT_PSO_DN`] (lockout after [`LOCKOUT_THRESHOLD`] bad passwords).
//! - Users ([`SEED_USERS`]): alice, bob, carol under `CN=Users`, dave under
//!   [`STAFF_DN`], and [`HELPDESK_DN`], which holds the Reset Password right
//!   on the users of [`STAFF_DN`] only. Administrator: [`ADMIN_DN`] /
//!   [`ADMIN_PW`].
//!
//! # Options ([`dc_with`])
//!
//! A test binary may ask for a DC with a `check password script` and with
//! SMB/SAMR ([`DcOptions`]); it then has that DC for all its tests, on an
//! address of its own like any other. The clients of each door
//! (tests/common/doors.rs) find their configuration next to the DC:
//! [`SambaDc::client_krb5_conf`], [`SambaDc::client_smb_conf`].
//!
//! Tests that change a password should create their own user
//! ([`SambaDc::create_user`]): the DC is shared and tests run in parallel.
//!
//! # Lifetime
//!
//! Statics are never dropped, so the DC is tied to the test process another
//! way. `samba` runs under a small bash supervisor, the leader of its own
//! process group, whose stdin is a pipe from the test process. The write end
//! is held (close-on-exec) by the [`SambaDc`] in the static and is closed by
//! the kernel when the test process exits, however it exits (even SIGKILL).
//! The supervisor then sees end-of-file, sends SIGTERM to its whole process
//! group (samba and all its workers, which stay in the group), waits up to
//! 3 s and sends SIGKILL to whatever is left, itself included. If samba
//! itself dies, the supervisor kills the group as well. A failed start kills
//! the group at once.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::slapd::{ldap_tool, ldap_tool_stdin, test_certs};
use super::tools::{all_output, run_bounded, unicode_pwd, utf16le};

pub const REALM: &str = "EXAMPLE.TEST";
pub const DOMAIN: &str = "EXAMPLE";
pub const DNS_DOMAIN: &str = "example.test";
pub const BASE_DN: &str = "DC=example,DC=test";
pub const USERS_DN: &str = "CN=Users,DC=example,DC=test";
/// An OU with one seeded user (dave), where [`HELPDESK_DN`] may reset passwords.
pub const STAFF_DN: &str = "OU=Staff,DC=example,DC=test";
pub const ADMIN_DN: &str = "CN=Administrator,CN=Users,DC=example,DC=test";
pub const ADMIN_PW: &str = "Admin-Passw0rd!";
/// Holds the Reset Password right on the users of [`STAFF_DN`], nothing more.
pub const HELPDESK_DN: &str = "CN=helpdesk,CN=Users,DC=example,DC=test";
pub const HELPDESK_PW: &str = "Helpdesk-Passw0rd1!";
/// Password Settings Object with a history of 3 (applied to no one).
pub const HISTORY_PSO_DN: &str =
    "CN=pwgate-history,CN=Password Settings Container,CN=System,DC=example,DC=test";
/// Password Settings Object that locks an account after
/// [`LOCKOUT_THRESHOLD`] bad passwords for 30 minutes (applied to no one).
pub const LOCKOUT_PSO_DN: &str =
    "CN=pwgate-lockout,CN=Password Settings Container,CN=System,DC=example,DC=test";
pub const LOCKOUT_THRESHOLD: u32 = 2;

/// A user created at provisioning.
#[derive(Debug)]
pub struct SeedUser {
    /// sAMAccountName and CN.
    pub name: &'static str,
    pub password: &'static str,
    pub given_name: &'static str,
    pub surname: &'static str,
    /// The container: [`USERS_DN`] or [`STAFF_DN`].
    pub parent: &'static str,
}

/// Every seeded user. displayName is `<given name> <surname>`, the UPN
/// `<name>@example.test`. All passwords satisfy the DC's policy.
pub const SEED_USERS: &[SeedUser] = &[
    SeedUser {
        name: "alice",
        password: "Alice-Passw0rd1!",
        given_name: "Alice",
        surname: "Liddell",
        parent: USERS_DN,
    },
    SeedUser {
        name: "bob",
        password: "Bob-Passw0rd1!",
        given_name: "Bob",
        surname: "Builder",
        parent: USERS_DN,
    },
    SeedUser {
        name: "carol",
        password: "Carol-Passw0rd1!",
        given_name: "Carol",
        surname: "Danvers",
        parent: USERS_DN,
    },
    SeedUser {
        name: "dave",
        password: "Dave-Passw0rd1!",
        given_name: "Dave",
        surname: "Lister",
        parent: STAFF_DN,
    },
    SeedUser {
        name: "helpdesk",
        password: HELPDESK_PW,
        given_name: "Help",
        surname: "Desk",
        parent: USERS_DN,
    },
];

/// The seeded user `name`; panics for unknown names.
pub fn seed_user(name: &str) -> &'static SeedUser {
    SEED_USERS
        .iter()
        .find(|u| u.name == name)
        .unwrap_or_else(|| panic!("no seeded AD user {name:?}"))
}

/// `CN=<name>,<parent>` of a seeded user.
pub fn user_dn(name: &str) -> String {
    format!("CN={name},{}", seed_user(name).parent)
}

/// The seeded password of `name`.
pub fn user_password(name: &str) -> &'static str {
    seed_user(name).password
}

/// The raw `unicodePwd` value AD expects: UTF-16LE of the password in
/// double quotes (for the `ldap3` crate).
pub fn unicode_pwd_bytes(password: &str) -> Vec<u8> {
    utf16le(&format!("\"{password}\""))
}

/// The same, base64-encoded for LDIF (`unicodePwd:: <this>`).
pub fn unicode_pwd_b64(password: &str) -> String {
    unicode_pwd(password)
}

/// LDIF of a user's own change: delete the old `unicodePwd`, add the new one.
pub fn change_ldif(dn: &str, old: &str, new: &str) -> String {
    format!(
        "dn: {dn}\nchangetype: modify\ndelete: unicodePwd\nunicodePwd:: {}\n-\nadd: unicodePwd\nunicodePwd:: {}\n-\n",
        unicode_pwd_b64(old),
        unicode_pwd_b64(new)
    )
}

/// LDIF of a reset: replace `unicodePwd`.
pub fn reset_ldif(dn: &str, new: &str) -> String {
    format!(
        "dn: {dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {}\n-\n",
        unicode_pwd_b64(new)
    )
}

/// `ldapmodify -x` at `url` bound as `bind_dn` with `ldif` on stdin, with
/// StartTLS (`-ZZ`) for `ldap://` URLs; trusts only the test CA (see
/// [`ldap_tool`]). Returns the exit code (ldapmodify exits with the LDAP
/// result code) and stdout followed by stderr.
pub fn ldapmodify(url: &str, bind_dn: &str, bind_pw: &str, ldif: &str) -> (i32, String) {
    let mut args = vec!["-x"];
    if url.starts_with("ldap://") {
        args.push("-ZZ");
    }
    args.extend_from_slice(&["-H", url, "-D", bind_dn, "-w", bind_pw]);
    let out = ldap_tool_stdin("ldapmodify", &args, ldif);
    (exit_code(&out), all_output(&out))
}

fn exit_code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

// ---------------------------------------------------------------------------
// The DC

/// The running DC of this test process (see the module documentation).
pub struct SambaDc {
    /// The loopback address it listens on.
    pub addr: Ipv4Addr,
    /// Its state dir (smb.conf in `etc/`, logs in `log/`).
    pub dir: PathBuf,
    /// How long provisioning took (certificate, domain, users, policies).
    pub provision_time: Duration,
    /// From starting `samba` until ldap:// and ldaps:// answered.
    pub start_time: Duration,
    /// What it was started with.
    pub options: DcOptions,
    supervisor: Mutex<Child>,
    /// The write end of the supervisor's stdin: closed when the process exits.
    _lifeline: ChildStdin,
    /// `flock` on the address's lock file, held for the life of the process.
    _lock: File,
}

/// Binds as `dn` with `password` at `url` (the DC, or pwgate in front of
/// it) and reads the root DSE: the exit code (0, or the bind's LDAP result
/// code, e.g. 49) and the output (AD's `data 52e`/`775`/`533` is in it).
pub fn bind_at(url: &str, dn: &str, password: &str) -> (i32, String) {
    let out = ldap_tool(
        "ldapsearch",
        &[
            "-x",
            "-LLL",
            "-H",
            url,
            "-D",
            dn,
            "-w",
            password,
            "-b",
            "",
            "-s",
            "base",
            "defaultNamingContext",
        ],
    );
    (exit_code(&out), all_output(&out))
}

/// Extra smb.conf settings for the DC of one test binary (see [`dc_with`]).
/// The default is the plain DC every other test binary gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DcOptions {
    /// smb.conf `check password script`: a program Samba runs (through
    /// `/bin/sh -c`, so no whitespace or quotes in the path; write a
    /// wrapper script for arguments) for every new password the DC checks,
    /// whatever the door. Set after provisioning, so the seed users'
    /// passwords never reach it.
    pub check_password_script: Option<PathBuf>,
    /// Also serve SMB and SAMR (`smbpasswd -r`, `net rpc password`):
    /// `server services` gains `rpc, s3fs, winbindd`, `dcerpc endpoint
    /// servers = samr`, and the DC binds 139 and 445 too. smbd maps the
    /// user's SID to a uid through winbindd, and Samba's winbind client
    /// library only honours a private socket directory under nss_wrapper
    /// (`SELFTEST_WINBINDD_SOCKET_DIR`, read only when nss_wrapper is
    /// preloaded): so samba runs with `LD_PRELOAD=libnss_wrapper.so`
    /// (package libnss-wrapper) and a two-line passwd and group in the
    /// state dir. Without that, every SMB session setup fails with
    /// `NT_STATUS_INTERNAL_ERROR` (wbcSidsToUnixIds cannot reach winbindd).
    /// smbd and winbindd create empty `/var/log/samba/log.{smbd,winbindd}`
    /// before reading smb.conf: the one trace such a DC leaves outside its
    /// state dir.
    pub samr: bool,
}

/// The DC, provisioned and started on first use; `None` (after a loud
/// message on stderr) when not running as root. Panics with the reason if
/// Samba is missing or the DC cannot be started (every test that asks gets
/// the same message; the start is tried once per process).
pub fn dc() -> Option<&'static SambaDc> {
    dc_with(DcOptions::default())
}

/// The DC of this test binary, with `options` (see [`dc`]). A test binary
/// has one DC, shared by its tests: every call must pass the same options
/// (a binary that needs a check password script gets its own DC because it
/// is its own process). Panics when the options differ from the first call's.
pub fn dc_with(options: DcOptions) -> Option<&'static SambaDc> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "\n*** SKIPPED: this test needs a Samba AD DC, which only runs as root \
             (ports 389/636/88/464). Run the tests as root (CI does, with \
             scripts/install-deps.sh) to include it. ***\n"
        );
        return None;
    }
    static DC: OnceLock<(DcOptions, Result<SambaDc, String>)> = OnceLock::new();
    let (first, dc) = DC.get_or_init(|| (options.clone(), SambaDc::start(&options)));
    assert_eq!(
        *first, options,
        "one Samba DC per test binary: every dc_with call must pass the same options"
    );
    match dc {
        Ok(dc) => Some(dc),
        Err(why) => panic!("Samba AD DC for the tests: {why}"),
    }
}

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPTS: usize = 3;
/// The descriptor number of the address lock in the supervisor and samba.
const LOCK_FD: i32 = 9;
const HOSTNAME: &str = "dc1";
/// TCP and UDP ports a DC with `ldap, cldap, kdc` binds on its address.
const TCP_PORTS: &[u16] = &[389, 636, 3268, 3269, 88, 464];
/// The TCP ports a DC with [`DcOptions::samr`] binds as well (smbd). Its
/// SAMR endpoint on ncacn_ip_tcp takes the first free port from 49152 on
/// and needs no check.
const SAMR_TCP_PORTS: &[u16] = &[445, 139];
const UDP_PORTS: &[u16] = &[389, 88, 464];

/// Waits for end-of-file on stdin (the test process is gone) or for samba
/// to exit, then stops the whole process group: TERM, up to 3 s, KILL.
/// `$1` samba, `$2` smb.conf, `$3` log dir.
const SUPERVISOR: &str = r#"
"$1" -s "$2" -i --no-process-group --debug-stdout -l "$3" </dev/null &
samba=$!
echo "supervisor $$: samba pid $samba"
exec 3<&0 0</dev/null
(read -r _ <&3) &
exec 3<&-
trap '' TERM
wait -n
if kill -0 "$samba" 2>/dev/null; then
  echo "supervisor $$: the test process is gone; stopping samba"
else
  echo "supervisor $$: samba exited; stopping its workers"
fi
kill -TERM 0
for _ in $(seq 30); do
  kill -0 "$samba" 2>/dev/null || break
  sleep 0.1
done
kill -KILL 0
"#;

impl SambaDc {
    fn start(options: &DcOptions) -> Result<SambaDc, String> {
        let tools = find_tools(options)?;
        let mut taken = Vec::new();
        loop {
            let (addr, lock) = claim_address(&taken, options)?;
            match Self::start_at(&tools, options, addr, lock) {
                Ok(dc) => return Ok(dc),
                // Bound by someone else between the check and samba's start.
                Err(Failure::AddressTaken(_)) if taken.len() + 1 < ATTEMPTS => taken.push(addr),
                Err(Failure::AddressTaken(why) | Failure::Fatal(why)) => return Err(why),
            }
        }
    }

    fn start_at(
        tools: &Tools,
        options: &DcOptions,
        addr: Ipv4Addr,
        lock: File,
    ) -> Result<SambaDc, Failure> {
        let dir = state_dir(addr);
        let t0 = Instant::now();
        let nonce = nonce();
        provision(tools, options, addr, &dir, &nonce).map_err(Failure::Fatal)?;
        let provision_time = t0.elapsed();

        let t1 = Instant::now();
        let log_dir = dir.join("log");
        let out_path = log_dir.join("samba.out");
        let out = File::create(&out_path)
            .map_err(|e| Failure::Fatal(format!("cannot create {}: {e}", out_path.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| Failure::Fatal(format!("cannot clone a file handle: {e}")))?;
        let mut supervisor = Command::new("bash");
        supervisor
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("pwgate-samba-supervisor")
            .arg(&tools.samba)
            .arg(dir.join("etc/smb.conf"))
            .arg(&log_dir)
            .env("KRB5_CONFIG", dir.join("private/krb5.conf"))
            // Inherited by everything samba runs, the check password
            // script included: tells a script run by this DC from one run
            // by a tool working on sam.ldb directly.
            .env(DC_MARKER_ENV, addr.to_string())
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // The supervisor, samba and its workers inherit the address lock as
        // fd 9: the address stays taken until the last of them is gone.
        if options.samr {
            let wrapper = tools
                .nss_wrapper
                .as_ref()
                .expect("find_tools found nss_wrapper for a SAMR DC");
            supervisor
                .env("LD_PRELOAD", wrapper)
                .env("NSS_WRAPPER_PASSWD", dir.join("nss/passwd"))
                .env("NSS_WRAPPER_GROUP", dir.join("nss/group"))
                .env("SELFTEST_WINBINDD_SOCKET_DIR", dir.join("run/winbindd"));
        }
        let lock_fd = lock.as_raw_fd();
        // SAFETY: dup2 and fcntl are async-signal-safe and touch no memory;
        // the closure runs in the child between fork and exec.
        unsafe {
            supervisor.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec: clear it instead.
                let ok = if lock_fd == LOCK_FD {
                    libc::fcntl(LOCK_FD, libc::F_SETFD, 0) >= 0
                } else {
                    libc::dup2(lock_fd, LOCK_FD) >= 0
                };
                if !ok {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut supervisor = supervisor
            .spawn()
            .map_err(|e| Failure::Fatal(format!("cannot run bash for samba: {e}")))?;
        let lifeline = supervisor.stdin.take().expect("stdin was piped");
        match wait_ready(&mut supervisor, addr, &nonce) {
            Ok(()) => Ok(SambaDc {
                addr,
                dir,
                options: options.clone(),
                provision_time,
                start_time: t1.elapsed(),
                supervisor: Mutex::new(supervisor),
                _lifeline: lifeline,
                _lock: lock,
            }),
            Err(why) => {
                kill_group(&mut supervisor);
                drop(lifeline);
                let log = read_lossy(&out_path);
                let why = format!(
                    "samba on {addr} did not start: {why}\nlast lines of {}:\n{}",
                    out_path.display(),
                    tail(&log, 30)
                );
                if log.contains("ADDRESS_ALREADY_ASSOCIATED") || log.contains("already in use") {
                    Err(Failure::AddressTaken(why))
                } else {
                    Err(Failure::Fatal(why))
                }
            }
        }
    }

    /// `ldap://<addr>:389` (simple binds need StartTLS here).
    pub fn ldap_url(&self) -> String {
        format!("ldap://{}:389", self.addr)
    }

    /// `ldaps://<addr>:636`; its certificate is issued by the test CA ([`SambaDc::ca`]).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://{}:636", self.addr)
    }

    /// The DC's own smb.conf (`<dir>/etc/smb.conf`).
    pub fn smb_conf(&self) -> PathBuf {
        self.dir.join("etc/smb.conf")
    }

    /// The DC's database, for tools that work on it directly (`-H`).
    pub fn sam_ldb(&self) -> PathBuf {
        self.dir.join("private/sam.ldb")
    }

    /// A krb5.conf for clients (kinit, kpasswd): realm [`REALM`], KDC and
    /// kpasswd server at the DC's address, no DNS.
    pub fn client_krb5_conf(&self) -> PathBuf {
        self.dir.join("client/krb5.conf")
    }

    /// An smb.conf for clients (smbpasswd, net, samba-tool over LDAP):
    /// workgroup [`DOMAIN`], realm [`REALM`], trusts the test CA, every
    /// path they write inside `<dir>/client`.
    pub fn client_smb_conf(&self) -> PathBuf {
        self.dir.join("client/smb.conf")
    }

    /// The CA that issued the DC's certificate: the project's test CA.
    pub fn ca(&self) -> &'static Path {
        &test_certs().ca
    }

    /// The last `n` lines of samba's output (its log, with `-i`).
    pub fn log_tail(&self, n: usize) -> String {
        tail(&read_lossy(&self.dir.join("log/samba.out")), n)
    }

    /// Whether the supervisor (hence samba) is still running.
    pub fn is_running(&self) -> bool {
        let mut child = self
            .supervisor
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        matches!(child.try_wait(), Ok(None))
    }

    /// Binds as `dn` with `password` directly on the DC (LDAPS) and reads
    /// the root DSE: the exit code (0, or the bind's LDAP result code, e.g.
    /// 49) and the output (AD's `data 52e`/`775`/`533` is in it).
    pub fn bind(&self, dn: &str, password: &str) -> (i32, String) {
        bind_at(&self.ldaps_url(), dn, password)
    }

    /// Whether `dn` can bind with `password` directly on the DC.
    pub fn binds(&self, dn: &str, password: &str) -> bool {
        self.bind(dn, password).0 == 0
    }

    /// `ldapmodify` directly on the DC (LDAPS), see [`ldapmodify`].
    pub fn modify(&self, bind_dn: &str, bind_pw: &str, ldif: &str) -> (i32, String) {
        ldapmodify(&self.ldaps_url(), bind_dn, bind_pw, ldif)
    }

    /// Base search of `dn` for `attrs`, as Administrator, directly on the
    /// DC: `(exit code, LDIF output)`; 32 when the entry does not exist.
    pub fn read(&self, dn: &str, attrs: &[&str]) -> (i32, String) {
        let url = self.ldaps_url();
        let mut args = vec![
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            &url,
            "-D",
            ADMIN_DN,
            "-w",
            ADMIN_PW,
            "-b",
            dn,
            "-s",
            "base",
        ];
        args.extend_from_slice(attrs);
        let out = ldap_tool("ldapsearch", &args);
        (exit_code(&out), all_output(&out))
    }

    /// Whether `dn` exists (read as Administrator).
    pub fn exists(&self, dn: &str) -> bool {
        let (code, out) = self.read(dn, &["1.1"]);
        assert!(
            code == 0 || code == 32,
            "searching {dn} on the DC failed ({code}):\n{out}"
        );
        code == 0
    }

    /// Creates an enabled user `CN=<name>,<parent>` directly on the DC, as
    /// Administrator: sAMAccountName `name` (at most 20 characters), UPN
    /// `<name>@example.test`, givenName `<Name>` (first letter upper
    /// case), sn `Tester`, displayName `<Name> Tester`, and `password`
    /// (which must satisfy the DC's policy). Returns the DN.
    pub fn create_user(&self, name: &str, password: &str, parent: &str) -> String {
        let dn = format!("CN={name},{parent}");
        let mut given = name.to_owned();
        given[..1].make_ascii_uppercase();
        let ldif = format!(
            "dn: {dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: {name}\n\
             userPrincipalName: {name}@{DNS_DOMAIN}\ngivenName: {given}\nsn: Tester\n\
             displayName: {given} Tester\nunicodePwd:: {}\nuserAccountControl: 512\n",
            unicode_pwd_b64(password)
        );
        let (code, out) = self.modify(ADMIN_DN, ADMIN_PW, &ldif);
        assert_eq!(code, 0, "creating {dn} on the DC failed:\n{out}");
        dn
    }

    /// Applies the Password Settings Object `pso_dn` (e.g. [`HISTORY_PSO_DN`])
    /// to `user_dn`, as Administrator.
    pub fn apply_pso(&self, pso_dn: &str, user_dn: &str) {
        let ldif = format!(
            "dn: {pso_dn}\nchangetype: modify\nadd: msDS-PSOAppliesTo\nmsDS-PSOAppliesTo: {user_dn}\n-\n"
        );
        let (code, out) = self.modify(ADMIN_DN, ADMIN_PW, &ldif);
        assert_eq!(code, 0, "applying {pso_dn} to {user_dn} failed:\n{out}");
    }
}

impl std::fmt::Debug for SambaDc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SambaDc")
            .field("addr", &self.addr)
            .field("dir", &self.dir)
            .finish()
    }
}

enum Failure {
    /// Something else bound one of the DC's ports meanwhile: try another address.
    AddressTaken(String),
    Fatal(String),
}

/// Stops the supervisor's process group at once (samba and its workers).
fn kill_group(supervisor: &mut Child) {
    if let Ok(pgid) = libc::pid_t::try_from(supervisor.id()) {
        // SAFETY: kill has no memory-safety preconditions. The group is
        // ours: the supervisor is our unreaped child and its group leader.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = supervisor.wait();
}

// ---------------------------------------------------------------------------
// Tools, address, state dir

struct Tools {
    samba: PathBuf,
    samba_tool: PathBuf,
    /// libnss_wrapper.so, for a DC with [`DcOptions::samr`].
    nss_wrapper: Option<PathBuf>,
}

/// Set in the environment of the DC's processes to the DC's address.
pub const DC_MARKER_ENV: &str = "PWGATE_TEST_SAMBA_DC";

/// libnss_wrapper.so (package libnss-wrapper), if installed.
fn find_nss_wrapper() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .iter()
    .map(|d| Path::new(d).join("libnss_wrapper.so"))
    .find(|p| p.is_file())
}

/// The `samba-tool` program (found when [`dc`] started the DC).
pub fn samba_tool_program() -> PathBuf {
    which("samba-tool").expect("samba-tool was found when the DC was provisioned")
}

/// Finds `name` on PATH or in /usr/sbin and /usr/bin.
fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn find_tools(options: &DcOptions) -> Result<Tools, String> {
    let install = "run scripts/install-deps.sh (as root) to install samba, samba-ad-dc, \
                   samba-ad-provision, winbind, krb5-user and libnss-wrapper";
    let samba = which("samba").ok_or_else(|| format!("`samba` not found; {install}"))?;
    let samba_tool =
        which("samba-tool").ok_or_else(|| format!("`samba-tool` not found; {install}"))?;
    if !Path::new("/usr/share/samba/setup/provision.ldif").is_file() {
        return Err(format!(
            "Samba's provisioning data (/usr/share/samba/setup, package samba-ad-provision) is missing; {install}"
        ));
    }
    for tool in ["openssl", "ldapmodify", "ldapsearch", "bash"] {
        if which(tool).is_none() {
            return Err(format!("`{tool}` not found; run scripts/install-deps.sh"));
        }
    }
    let nss_wrapper = find_nss_wrapper();
    if options.samr {
        if nss_wrapper.is_none() {
            return Err(format!(
                "libnss_wrapper.so (package libnss-wrapper) not found; {install}"
            ));
        }
        for tool in ["smbpasswd", "net"] {
            if which(tool).is_none() {
                return Err(format!("`{tool}` not found; {install}"));
            }
        }
    }
    Ok(Tools {
        samba,
        samba_tool,
        nss_wrapper,
    })
}

/// The first loopback address (not in `skip`) whose lock this process gets
/// and whose DC ports are free; the lock is held as long as the returned
/// file (or a descriptor inherited from it) is open.
fn claim_address(skip: &[Ipv4Addr], options: &DcOptions) -> Result<(Ipv4Addr, File), String> {
    let mut busy = Vec::new();
    for last in 2..=40u8 {
        let addr = Ipv4Addr::new(127, 0, 0, last);
        if skip.contains(&addr) {
            continue;
        }
        let path = env::temp_dir().join(format!("pwgate-samba-dc-{addr}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            busy.push(format!("{addr} (locked by another test process)"));
            continue;
        }
        match ports_free(addr, options) {
            Ok(()) => return Ok((addr, file)),
            Err(why) => busy.push(format!("{addr} ({why})")),
        }
    }
    Err(format!(
        "no free loopback address for a DC: {}",
        busy.join(", ")
    ))
}

/// Whether every port the DC binds is free on `addr` (binding is the test:
/// it also notices a wildcard listener).
fn ports_free(addr: Ipv4Addr, options: &DcOptions) -> Result<(), String> {
    let samr: &[u16] = if options.samr { SAMR_TCP_PORTS } else { &[] };
    for &port in TCP_PORTS.iter().chain(samr) {
        TcpListener::bind((addr, port)).map_err(|e| format!("tcp/{port}: {e}"))?;
    }
    for &port in UDP_PORTS {
        UdpSocket::bind((addr, port)).map_err(|e| format!("udp/{port}: {e}"))?;
    }
    Ok(())
}

/// The state dir for `addr`: under the target dir when the path is short
/// (Samba's unix sockets live inside it and their paths are limited to 107
/// bytes), else under the temp dir. Only the holder of the address's lock
/// uses it.
fn state_dir(addr: Ipv4Addr) -> PathBuf {
    let name = format!("samba-dc-{addr}");
    let in_target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(&name);
    if in_target.as_os_str().len() <= 60 {
        in_target
    } else {
        env::temp_dir().join(format!("pwgate-{name}"))
    }
}

fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("pwgate-test-{}-{nanos:x}", std::process::id())
}

// ---------------------------------------------------------------------------
// Provisioning

/// Runs one provisioning step (bounded), appending its output to the log.
fn step(log: &mut File, what: &str, cmd: &mut Command) -> Result<String, String> {
    let t = Instant::now();
    let (out, killed) =
        run_bounded(cmd, None, TOOL_TIMEOUT).map_err(|e| format!("{what}: cannot run: {e}"))?;
    let text = all_output(&out);
    let _ = writeln!(
        log,
        "=== {what} ({}, {:.2} s)\n{text}",
        out.status,
        t.elapsed().as_secs_f64()
    );
    if killed {
        return Err(format!(
            "{what}: killed after {} s:\n{}",
            TOOL_TIMEOUT.as_secs(),
            tail(&text, 20)
        ));
    }
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}",
            out.status,
            tail(&text, 20)
        ));
    }
    Ok(text)
}

fn provision(
    tools: &Tools,
    options: &DcOptions,
    addr: Ipv4Addr,
    dir: &Path,
    nonce: &str,
) -> Result<(), String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    for sub in ["run", "log", "tls", "usershares"] {
        fs::create_dir_all(dir.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", dir.join(sub).display()))?;
    }
    let log_path = dir.join("log/provision.log");
    let mut log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let d = dir.display();
    let krb5 = dir.join("private/krb5.conf");
    let (cert, key) = issue_certificate(&mut log, addr, dir)?;
    let ca = &test_certs().ca;

    // Every path that defaults to /var, /run or /etc points into the state
    // dir; --configfile=/dev/null keeps /etc/samba/smb.conf out of it.
    let services = if options.samr {
        "ldap, cldap, kdc, rpc, s3fs, winbindd"
    } else {
        "ldap, cldap, kdc"
    };
    let mut settings = vec![
        format!("interfaces = {addr}/8"),
        "bind interfaces only = yes".to_owned(),
        format!("server services = {services}"),
        "prefork children = 2".to_owned(),
        format!("log file = {d}/log/log.%m"),
        format!("pid directory = {d}/run"),
        format!("ncalrpc dir = {d}/run/ncalrpc"),
        format!("winbindd socket directory = {d}/run/winbindd"),
        format!("ntp signd socket directory = {d}/run/ntp_signd"),
        format!("usershare path = {d}/usershares"),
        "tls enabled = yes".to_owned(),
        format!("tls keyfile = {}", key.display()),
        format!("tls certfile = {}", cert.display()),
        format!("tls cafile = {}", ca.display()),
    ];
    if options.samr {
        // SAMR only: no epmapper (port 135), lsarpc, netlogon, drsuapi...
        settings.push("dcerpc endpoint servers = samr".to_owned());
    }
    let samba_tool = |args: &[&str]| {
        let mut cmd = Command::new(&tools.samba_tool);
        cmd.args(args).env("KRB5_CONFIG", &krb5).current_dir(dir);
        cmd
    };
    let mut args = vec![
        "domain".to_owned(),
        "provision".to_owned(),
        "--configfile=/dev/null".to_owned(),
        format!("--targetdir={d}"),
        format!("--realm={REALM}"),
        format!("--domain={DOMAIN}"),
        "--server-role=dc".to_owned(),
        "--dns-backend=NONE".to_owned(),
        format!("--host-name={HOSTNAME}"),
        format!("--adminpass={ADMIN_PW}"),
    ];
    args.extend(settings.iter().map(|o| format!("--option={o}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    step(
        &mut log,
        "samba-tool domain provision",
        &mut samba_tool(&args),
    )?;

    let conf = dir.join("etc/smb.conf");
    let conf = conf.to_str().ok_or("state dir path is not UTF-8")?;
    step(
        &mut log,
        "samba-tool domain passwordsettings set",
        &mut samba_tool(&[
            "domain",
            "passwordsettings",
            "set",
            "-s",
            conf,
            "--complexity=on",
            "--min-pwd-length=7",
            "--min-pwd-age=0",
            "--max-pwd-age=0",
            "--history-length=0",
            "--account-lockout-threshold=0",
        ]),
    )?;
    // The OU's description is the nonce that tells this DC from any other
    // answering on the address (see wait_ready).
    let description = format!("--description={nonce}");
    step(
        &mut log,
        "samba-tool ou create",
        &mut samba_tool(&["ou", "create", "OU=Staff", "-s", conf, &description]),
    )?;
    for user in SEED_USERS {
        let given = format!("--given-name={}", user.given_name);
        let surname = format!("--surname={}", user.surname);
        let mail = format!("--mail-address={}@{DNS_DOMAIN}", user.name);
        let ou = user.parent.strip_suffix(&format!(",{BASE_DN}"));
        let userou = format!("--userou={}", ou.unwrap_or(user.parent));
        let mut args = vec![
            "user",
            "create",
            user.name,
            user.password,
            "-s",
            conf,
            "--use-username-as-cn",
            &given,
            &surname,
            &mail,
        ];
        if user.parent != USERS_DN {
            args.push(&userou);
        }
        step(
            &mut log,
            &format!("samba-tool user create {}", user.name),
            &mut samba_tool(&args),
        )?;
    }
    // Delegation: helpdesk may reset the passwords of user objects under
    // OU=Staff (the Reset Password extended right, inherited by users only).
    let shown = step(
        &mut log,
        "samba-tool user show helpdesk",
        &mut samba_tool(&[
            "user",
            "show",
            "helpdesk",
            "-s",
            conf,
            "--attributes=objectSid",
        ]),
    )?;
    let sid = shown
        .lines()
        .find_map(|l| l.strip_prefix("objectSid: "))
        .map(str::trim)
        .ok_or_else(|| format!("no objectSid for helpdesk in:\n{shown}"))?;
    const RESET_PASSWORD: &str = "00299570-246d-11d0-a768-00aa006e0529";
    const USER_CLASS: &str = "bf967aba-0de6-11d0-a285-00aa003049e2";
    let sddl = format!("--sddl=(OA;CIIO;CR;{RESET_PASSWORD};{USER_CLASS};{sid})");
    let sam = format!("--URL={d}/private/sam.ldb");
    step(
        &mut log,
        "samba-tool dsacl set",
        &mut samba_tool(&[
            "dsacl",
            "set",
            "-s",
            conf,
            &sam,
            &format!("--objectdn={STAFF_DN}"),
            "--action=allow",
            &sddl,
        ]),
    )?;
    let lockout = format!("--account-lockout-threshold={LOCKOUT_THRESHOLD}");
    for (name, precedence, extra) in [
        ("pwgate-history", "10", vec!["--history-length=3"]),
        (
            "pwgate-lockout",
            "20",
            vec![
                lockout.as_str(),
                "--account-lockout-duration=30",
                "--reset-account-lockout-after=30",
            ],
        ),
    ] {
        let mut args = vec![
            "domain",
            "passwordsettings",
            "pso",
            "create",
            name,
            precedence,
            "-s",
            conf,
            "--complexity=on",
            "--min-pwd-length=7",
            "--min-pwd-age=0",
            "--max-pwd-age=0",
        ];
        args.extend(extra);
        step(
            &mut log,
            &format!("samba-tool domain passwordsettings pso create {name}"),
            &mut samba_tool(&args),
        )?;
    }
    write_client_files(addr, dir)?;
    if options.samr {
        let nss = dir.join("nss");
        fs::create_dir_all(&nss).map_err(|e| format!("cannot create {}: {e}", nss.display()))?;
        write(
            &nss.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )?;
        write(&nss.join("group"), "root:x:0:\nnogroup:x:65534:\n")?;
    }
    if let Some(script) = &options.check_password_script {
        let shown = script.display().to_string();
        if shown.contains(|c: char| c.is_whitespace() || "'\"\\$`;&|<>".contains(c)) {
            return Err(format!(
                "check password script {shown:?}: Samba runs it with /bin/sh -c, \
                 use a path without whitespace or shell characters"
            ));
        }
        let conf_path = dir.join("etc/smb.conf");
        let text = fs::read_to_string(&conf_path)
            .map_err(|e| format!("cannot read {}: {e}", conf_path.display()))?;
        let text = text.replacen(
            "[global]\n",
            &format!("[global]\n\tcheck password script = {shown}\n"),
            1,
        );
        if !text.contains("check password script") {
            return Err(format!("no [global] section in {}", conf_path.display()));
        }
        write(&conf_path, &text)?;
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The client side of the DC's doors, in `<dir>/client`: a krb5.conf that
/// names the DC's address as KDC and kpasswd server (the provision's own
/// `private/krb5.conf` only says `dns_lookup_kdc = true`, and there is no
/// DNS here), and an smb.conf for smbpasswd, net and samba-tool with every
/// path they write inside that directory.
fn write_client_files(addr: Ipv4Addr, dir: &Path) -> Result<(), String> {
    let client = dir.join("client");
    for sub in ["private", "lock", "state", "cache", "run"] {
        fs::create_dir_all(client.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", client.join(sub).display()))?;
    }
    write(
        &client.join("krb5.conf"),
        &format!(
            "[libdefaults]\n\tdefault_realm = {REALM}\n\tdns_lookup_realm = false\n\
             \tdns_lookup_kdc = false\n\trdns = false\n\tudp_preference_limit = 1\n\
             [realms]\n\t{REALM} = {{\n\t\tkdc = {addr}\n\t\tadmin_server = {addr}\n\
             \t\tkpasswd_server = {addr}\n\t}}\n"
        ),
    )?;
    let c = client.display();
    write(
        &client.join("smb.conf"),
        &format!(
            "[global]\n\tworkgroup = {DOMAIN}\n\trealm = {REALM}\n\
             \ttls cafile = {}\n\ttls verify peer = ca_only\n\
             \tprivate dir = {c}/private\n\tlock directory = {c}/lock\n\
             \tstate directory = {c}/state\n\tcache directory = {c}/cache\n\
             \tpid directory = {c}/run\n\tncalrpc dir = {c}/run/ncalrpc\n\
             \tlog file = {c}/log.%m\n",
            test_certs().ca.display()
        ),
    )
}

/// A server certificate for `addr` (IP SAN) and `dc1.example.test`, issued
/// by the test CA, in `<dir>/tls`; returns (certificate, key).
fn issue_certificate(
    log: &mut File,
    addr: Ipv4Addr,
    dir: &Path,
) -> Result<(PathBuf, PathBuf), String> {
    let certs = test_certs();
    let ca_key = certs.dir.join("ca.key");
    let tls = dir.join("tls");
    let conf = tls.join("openssl.cnf");
    let (key, csr, cert) = (
        tls.join("server.key"),
        tls.join("server.csr"),
        tls.join("server.crt"),
    );
    fs::write(
        &conf,
        format!(
            "[ req ]\ndistinguished_name = dn\nprompt = no\n[ dn ]\nCN = unused\n\
             [ server_ext ]\nbasicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = IP:{addr}, DNS:{HOSTNAME}.{DNS_DOMAIN}, DNS:{DNS_DOMAIN}\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
        ),
    )
    .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    let subject = format!("/O=pwgate test/CN={HOSTNAME}.{DNS_DOMAIN}");
    step(
        log,
        "openssl req (DC key)",
        Command::new("openssl")
            .args(["req", "-config"])
            .arg(&conf)
            .args([
                "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", &subject,
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr),
    )?;
    let serial = format!("0x{}", &nonce_hex()[..16]);
    step(
        log,
        "openssl x509 (DC certificate)",
        Command::new("openssl")
            .args([
                "x509",
                "-req",
                "-sha256",
                "-days",
                "30",
                "-set_serial",
                &serial,
            ])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&certs.ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&conf)
            .args(["-extensions", "server_ext", "-out"])
            .arg(&cert),
    )?;
    // samba refuses a key others can read.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod {}: {e}", key.display()))?;
    Ok((cert, key))
}

fn nonce_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:016x}{:08x}", nanos as u64, std::process::id())
}

// ---------------------------------------------------------------------------
// Start

/// Polls until this very DC answers on ldaps:// (as Administrator, reading
/// the OU description only this provisioning wrote) and on ldap://, or the
/// supervisor exits, or [`START_TIMEOUT`] passes.
fn wait_ready(supervisor: &mut Child, addr: Ipv4Addr, nonce: &str) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let ldaps = format!("ldaps://{addr}:636");
    let ldap = format!("ldap://{addr}:389");
    let expected = format!("description: {nonce}");
    let mut last_error = String::from("no answer yet");
    loop {
        match supervisor.try_wait() {
            Ok(Some(status)) => return Err(format!("samba exited during startup ({status})")),
            Ok(None) => {}
            Err(e) => return Err(format!("cannot wait for the supervisor: {e}")),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no answer within {} s; last error: {last_error}",
                START_TIMEOUT.as_secs()
            ));
        }
        let secure = ldap_tool(
            "ldapsearch",
            &[
                "-x",
                "-LLL",
                "-o",
                "nettimeout=2",
                "-o",
                "ldif-wrap=no",
                "-H",
                &ldaps,
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PW,
                "-b",
                STAFF_DN,
                "-s",
                "base",
                "description",
            ],
        );
        if secure.status.success() && all_output(&secure).lines().any(|l| l == expected) {
            let plain = ldap_tool(
                "ldapsearch",
                &[
                    "-x",
                    "-LLL",
                    "-o",
                    "nettimeout=2",
                    "-H",
                    &ldap,
                    "-b",
                    "",
                    "-s",
                    "base",
                    "defaultNamingContext",
                ],
            );
            if plain.status.success() {
                return Ok(());
            }
            last_error = format!("{ldap}: {}", all_output(&plain).trim());
        } else {
            last_error = format!("{ldaps}: {}", all_output(&secure).trim());
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
