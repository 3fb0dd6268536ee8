//! The `pwgate` command: parse arguments, load the configuration, and call
//! into the library. Configuration and usage errors exit with status 2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use pwgate::audit::trail::AuditTrail;

use pwgate::config::{Config, Flavor, LogFormat, Mode, Overrides};
use pwgate::proxy::listener::Server;
use pwgate::proxy::{Gate, GateCell};

#[derive(Parser)]
#[command(
    name = "pwgate",
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\n", env!("PWGATE_BUILD_INFO")),
    about = "LDAP proxy that refuses weak and breached passwords before they reach the directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy in front of a directory.
    Serve(ServeArgs),
    /// Check candidate passwords against the policy: one per line on
    /// standard input (empty lines skipped), never echoed. Prints a verdict
    /// per line, a summary and the scope that decided. With a [directory]
    /// section and --user, the account is looked up first (names and
    /// groups), as the proxy does. Exit status 0 when all are accepted, 1
    /// when any is refused, 2 on a usage or configuration error, 3 when the
    /// account cannot be looked up.
    Check(CheckArgs),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Build and inspect breached-password stores.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Work with audit files.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Enforcement points outside the proxy that ask the running pwgate.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Print the completion script for a shell on standard output (e.g.
    /// `pwgate completions bash > /etc/bash_completion.d/pwgate`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages, pwgate.1 and one per subcommand
    /// (pwgate-serve.1...), into DIR (for packaging).
    #[command(hide = true)]
    Manpages {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum HookCommand {
    /// Samba AD's `check password script`: reads the new password on
    /// standard input and the account from SAMBA_CPS_ACCOUNT_NAME,
    /// SAMBA_CPS_USER_PRINCIPAL_NAME and SAMBA_CPS_FULL_NAME, asks the
    /// running pwgate over its decision service socket, and exits 0 to
    /// accept, 1 when the policy refuses, 2 when pwgate cannot be asked
    /// or the input cannot be read (refused unless --on-error says
    /// otherwise).
    Samba(SambaHookArgs),
}

#[derive(Args)]
struct SambaHookArgs {
    /// The decision service's socket ([service] socket).
    #[arg(long, value_name = "PATH", default_value = pwgate::config::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// How long pwgate may take to answer, in milliseconds (Samba waits 10 s at most).
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=9000))]
    timeout_ms: u64,
    /// When pwgate cannot be asked or the input cannot be read: refuse
    /// (fail closed), allow, or evaluate in this process from --config
    /// (not in pwgate's audit trail).
    #[arg(long, value_name = "refuse|allow|evaluate", default_value = "refuse",
          value_parser = ["refuse", "allow", "evaluate"])]
    on_error: String,
    /// The configuration file for --on-error evaluate.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of audit files (`[audit] chain = true`): every
    /// record's hash and its link to the one before, across the files in
    /// the order given (oldest rotated file first). Exit status 0 when
    /// intact, 1 when not, 2 when a file cannot be read.
    Verify {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// What the policy did, from the audit trail: one self-contained HTML
    /// page (no network, charts inline) or, with --json, the figures:
    /// decisions per day accepted and refused, refusals by rule and scope,
    /// what audit mode would have refused, the directory's refusals after
    /// pwgate accepted, protected-account attempts, decisions by door,
    /// sync outcomes, and whether the hash chain verifies. Give rotated
    /// files oldest first. A record that cannot be read or was changed is
    /// reported with its file and line, and the rest still counted. Exit
    /// status 0 when the trail is intact, 1 when not or when no record
    /// carries a hash (the report is written either way), 2 when a file
    /// cannot be read.
    Report {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Count records from this UTC date or time on (YYYY-MM-DD or
        /// YYYY-MM-DDTHH:MM:SS).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Count records before this UTC date or time.
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        /// Write the report here (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// The figures as JSON instead of the HTML page.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Build a store from Pwned Passwords downloads (`HASH:COUNT` lines, one
    /// file or a directory of range files, plain or gzip) or a wordlist.
    Build {
        /// sha1 or ntlm: hex hashes; plain: one password per line, hashed
        /// with --hash.
        #[arg(long, value_name = "sha1|ntlm|plain")]
        format: String,
        /// The hash a plain wordlist is stored as.
        #[arg(long, value_name = "sha1|ntlm", default_value = "sha1")]
        hash: String,
        /// Input files, range-file directories, or `-` for standard input.
        #[arg(required = true, value_name = "INPUT")]
        inputs: Vec<PathBuf>,
        /// The store file to write (written beside, then renamed).
        #[arg(short = 'o', long, value_name = "STORE")]
        output: PathBuf,
        /// Keep only hashes seen at least this many times.
        #[arg(long, default_value_t = 1)]
        min_count: u64,
        /// Most bad lines tolerated (default: 1% of the lines or 1000).
        #[arg(long)]
        max_bad_lines: Option<u64>,
        /// No progress line on standard error.
        #[arg(long)]
        quiet: bool,
    },
    /// Download the Pwned Passwords corpus from its range API (1,048,576
    /// ranges) into a state directory and build the store from it. Run it
    /// again to refresh: ranges that did not change are not downloaded
    /// again (their ETags), and an interrupted run continues where it
    /// stopped. The new store replaces the old one only when complete and
    /// verified; send SIGHUP to a running pwgate to pick it up. Exit status
    /// 0 when the store is in place, 1 when the run stopped (what it
    /// finished is kept), 2 on a usage error.
    Update {
        /// The store file to write.
        #[arg(short = 'o', long, value_name = "STORE")]
        output: PathBuf,
        /// The state directory: downloaded ranges, ETags, progress (about
        /// 40 GB for the whole SHA-1 corpus, 33 GB for NTLM).
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// sha1 or ntlm (`?mode=ntlm`: Active Directory's hash).
        #[arg(long, value_name = "sha1|ntlm", default_value = "sha1")]
        hash: String,
        /// Requests in flight at once, each on its own keep-alive connection.
        #[arg(long, value_name = "N", default_value_t = 32,
              value_parser = clap::value_parser!(u64).range(1..=256))]
        parallel: u64,
        /// Further attempts per range after the first (5xx, 429, timeouts,
        /// dropped connections, answers cut short).
        #[arg(long, value_name = "N", default_value_t = 8,
              value_parser = clap::value_parser!(u32).range(0..=100))]
        retries: u32,
        /// Seconds a request (and its answer) may take.
        #[arg(long, value_name = "SECS", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(1..=600))]
        timeout: u64,
        /// Keep only hashes seen at least this many times.
        #[arg(long, default_value_t = 1)]
        min_count: u64,
        /// The range API (https:// only).
        #[arg(long, value_name = "URL", default_value = pwgate::breached::update::DEFAULT_URL)]
        url: String,
        /// The CA certificates trusted for the API.
        #[arg(long, value_name = "FILE", default_value = pwgate::breached::update::DEFAULT_CA)]
        ca: PathBuf,
        /// An HTTP proxy to CONNECT through (http://host:port; also read
        /// from HTTPS_PROXY / https_proxy when not given).
        #[arg(long, value_name = "URL")]
        proxy: Option<String>,
        /// Only the ranges under this hex prefix (one to four digits): for
        /// tests and trials, the store then holds those ranges only.
        #[arg(long, value_name = "HEX", hide = true)]
        only_prefix: Option<String>,
        /// The first wait before a retry, in milliseconds (it doubles).
        #[arg(long, value_name = "MS", default_value_t = 500, hide = true)]
        backoff_ms: u64,
        /// No progress line on standard error.
        #[arg(long)]
        quiet: bool,
    },
    /// Print a store's format, size and false-positive rate.
    Info { store: PathBuf },
    /// Say whether the password on standard input (first line) is in the
    /// store, without echoing it. Exit status 1 when it is.
    Check { store: PathBuf },
    /// Verify a store's checksum (reads the whole file).
    Verify { store: PathBuf },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file as `serve` would (certificates and
    /// word lists included) and print the effective settings and policy.
    Check {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file. Flags given here override its values.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory to protect, ldap://host:port or ldaps://host:port.
    /// Repeat for failover (tried in order).
    #[arg(long, value_name = "URL")]
    upstream: Vec<String>,
    /// Address for plain LDAP (StartTLS offered when a certificate is set).
    /// Default 127.0.0.1:1389.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Address for LDAPS (needs --certificate and --private-key).
    #[arg(long, value_name = "ADDR:PORT")]
    listen_ldaps: Option<String>,
    /// PEM certificate chain pwgate presents to clients.
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, value_name = "FILE")]
    private_key: Option<PathBuf>,
    /// PEM CA file that signs the directory's certificate (ldaps:// or
    /// --upstream-starttls). Required for any TLS to the directory.
    #[arg(long, value_name = "FILE")]
    upstream_ca: Option<PathBuf>,
    /// Use StartTLS on ldap:// connections to the directory.
    #[arg(long)]
    upstream_starttls: bool,
    /// Directory flavor: shapes refusals (AD clients expect `0000052D:`).
    #[arg(long, value_enum)]
    flavor: Option<Flavor>,
    /// enforce: refuse weak passwords. audit: log what would be refused,
    /// forward anyway.
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Allow password changes on unencrypted client connections (refused
    /// with result code 13 otherwise). For demos and tests only.
    #[arg(long)]
    allow_cleartext_password_changes: bool,
    /// Allow simple binds with a password on unencrypted client connections
    /// (refused with result code 13 otherwise). For demos and tests only.
    #[arg(long)]
    allow_cleartext_binds: bool,
    /// Log format.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Log level or filter (e.g. `debug`, `info,pwgate::audit=info`).
    /// Overrides RUST_LOG and the config file.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Address for the Prometheus `/metrics`, `/healthz` and `/readyz`
    /// endpoints (off by default; keep it on loopback or a management network).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_listen: Option<String>,
    /// Threads serving client connections, each with its own event loop
    /// (default: one per CPU).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
}

#[derive(Args)]
struct CheckArgs {
    /// TOML configuration file whose [policy] is used (default: built-in).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// DN of the account, for the account-name rule (its RDN value counts).
    #[arg(long, value_name = "DN")]
    account: Option<String>,
    /// Further names of the account (uid, sAMAccountName...). Repeatable.
    #[arg(long, value_name = "NAME")]
    name: Vec<String>,
    /// The account, as a DN (its RDN values count) or a name. With a
    /// [directory] section, the first DN (else the first name, found as a
    /// bind name: user@realm, DOMAIN\user, uid) is looked up in the
    /// directory; its names and groups count and pick the scope. Other
    /// values only add names. Repeatable.
    #[arg(long, value_name = "DN-OR-NAME")]
    user: Vec<String>,
    /// Do not look the account up even with a [directory] section: names
    /// and scope from the arguments only (no group scope applies).
    #[arg(long)]
    no_lookup: bool,
    /// Where a name given with --user is searched (default: the
    /// directory's naming contexts, from its root DSE). Repeatable.
    #[arg(long, value_name = "DN")]
    search_base: Vec<String>,
    /// One JSON object per line, and a JSON summary.
    #[arg(long)]
    json: bool,
    /// After each verdict, show how the banned-word and pattern rule read
    /// the password: which parts counted as words, patterns, years and
    /// decoration, what each cost, and the threshold. For tuning a policy
    /// at a terminal: the output holds pieces of the passwords, so do not
    /// keep it (pwgate never shows this on the wire or in the audit trail).
    #[arg(long)]
    explain: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Both commands hold passwords in memory: no core dumps of them.
    let core_dumps = pwgate::hardening::forbid_core_dumps();
    match cli.command {
        Command::Serve(args) => serve(args, core_dumps),
        Command::Check(args) => check(args),
        Command::Config(ConfigCommand::Check { file }) => config_check(&file),
        Command::Store(command) => store(command),
        Command::Audit(AuditCommand::Verify { files }) => audit_verify(&files),
        Command::Audit(AuditCommand::Report {
            files,
            since,
            until,
            output,
            json,
        }) => audit_report(&files, since, until, output, json),
        Command::Hook(HookCommand::Samba(args)) => hook_samba(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            // Into a buffer first: clap_complete panics on a write error
            // (a closed pipe), and pwgate does not.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pwgate", &mut script);
            use std::io::Write as _;
            match std::io::stdout().lock().write_all(&script) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pwgate: cannot write the completion script: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Manpages { dir } => manpages(&dir),
    }
}

/// The man pages of every command, generated from the same definitions
/// as `--help`.
fn manpages(dir: &std::path::Path) -> ExitCode {
    use clap::CommandFactory;
    if !dir.is_dir() {
        return usage_error(format!("{}: not a directory", dir.display()));
    }
    match clap_mangen::generate_to(Cli::command(), dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "pwgate: cannot write the man pages to {}: {e}",
                dir.display()
            );
            ExitCode::from(1)
        }
    }
}

fn audit_verify(files: &[PathBuf]) -> ExitCode {
    for f in files {
        if let Err(e) = std::fs::metadata(f) {
            return usage_error(format!("{}: {e}", f.display()));
        }
    }
    match pwgate::audit::trail::verify(files) {
        Ok(v) => {
            let start = if v.starts_from == pwgate::audit::trail::GENESIS {
                "from the start of the chain".to_owned()
            } else {
                format!("continuing from {} (an earlier file)", v.starts_from)
            };
            println!(
                "intact: {} records, {start}; last hash {}",
                v.records, v.last_hash
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("NOT intact: {e}");
            ExitCode::from(1)
        }
    }
}

fn audit_report(
    files: &[PathBuf],
    since: Option<String>,
    until: Option<String>,
    output: Option<PathBuf>,
    json: bool,
) -> ExitCode {
    use pwgate::audit::report;
    let bound = |b: Option<String>| b.as_deref().map(report::parse_bound).transpose();
    let (since, until) = match (bound(since), bound(until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    if let (Some(s), Some(u)) = (&since, &until) {
        if s >= u {
            return usage_error(format!("--since {s} is not before --until {u}"));
        }
    }
    let figures = match report::read(files, since.as_deref(), until.as_deref()) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let text = if json {
        match serde_json::to_string_pretty(&figures) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("pwgate: cannot write the figures as JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        report::html(&figures)
    };
    let written = match &output {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            use std::io::Write as _;
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(format!("cannot write the report: {e}"))
                }
                _ => Ok(()),
            }
        }
    };
    if let Err(e) = written {
        eprintln!("pwgate: {e}");
        return ExitCode::from(2);
    }
    if figures.chain.intact && figures.chain.chained_records == 0 && figures.records > 0 {
        eprintln!(
            "pwgate: the audit trail is NOT verified: no record carries a hash ([audit] chain off, or the hashes were removed)"
        );
        return ExitCode::from(1);
    }
    if figures.chain.intact {
        if let Some(path) = &output {
            eprintln!(
                "pwgate: wrote {}: {} records, {} decisions; {}",
                path.display(),
                figures.records,
                figures.decisions.total(),
                if figures.chain.chained_records > 0 {
                    "chain intact"
                } else {
                    "no records"
                }
            );
        }
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "pwgate: the audit trail is NOT intact: {} problem(s), the first at {}",
            figures.problems_total,
            figures
                .problems
                .first()
                .map_or("?".to_owned(), |p| format!("{}: {}", p.at, p.what))
        );
        ExitCode::from(1)
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("pwgate: error: {message}");
    ExitCode::from(2)
}

fn serve(args: ServeArgs, core_dumps: Result<(), String>) -> ExitCode {
    let overrides = Overrides {
        upstream: args.upstream,
        listen: args.listen,
        listen_ldaps: args.listen_ldaps,
        certificate: args.certificate,
        private_key: args.private_key,
        upstream_ca: args.upstream_ca,
        upstream_starttls: args.upstream_starttls,
        flavor: args.flavor,
        mode: args.mode,
        allow_cleartext_password_changes: args.allow_cleartext_password_changes,
        allow_cleartext_binds: args.allow_cleartext_binds,
        log_format: args.log_format,
        log_level: args.log_level,
        metrics_listen: args.metrics_listen,
        workers: args.workers,
    };
    let config_path = args.config.clone();
    let config = match Config::load(config_path.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let audit_trail = if config.audit.sink.is_some() || config.audit.syslog.is_some() {
        match AuditTrail::open_with(
            config.audit.sink.clone(),
            config.audit.chain,
            config.audit.syslog.as_deref(),
        ) {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => return usage_error(e),
        }
    } else {
        None
    };
    if let Err(e) = pwgate::logging::init_with_audit(
        config.log_format,
        config.log_level.as_deref(),
        audit_trail.clone(),
    ) {
        return usage_error(e);
    }
    let summary_interval = config.audit.summary_interval;
    if let Err(e) = &core_dumps {
        tracing::warn!(error = %e, "could not forbid core dumps");
    }
    let metrics_listen = config.metrics_listen;
    let service = config.service.clone();
    // The HTTPS API's decisions run on the control runtime: give it a
    // second thread then.
    let https_api = service.as_ref().is_some_and(|s| s.https.is_some());
    // Build the built-in dictionary now rather than during the first
    // password change (tens of milliseconds).
    pwgate::policy::rules::banned::BannedWords::builtin();
    // Likewise verify the built-in common-password list (and fault its
    // pages in); a broken one makes that rule refuse every change.
    if let Err(e) = pwgate::policy::rules::common::builtin() {
        tracing::error!(error = %e, "built-in common-password list unreadable; rule common_password refuses every change");
    }
    let gate = match Gate::new(config) {
        Ok(g) => g,
        Err(e) => return usage_error(e),
    };
    // Client connections run on their own worker threads
    // (proxy::workers); this runtime accepts them and runs the control
    // plane: signals, reloads, metrics, sync and audit summaries.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(if https_api { 2 } else { 1 })
        .thread_name("pwgate-control")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pwgate: error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::bind(gate).await {
            Ok(s) => s,
            Err(e) => return usage_error(e),
        };
        if let Some(addr) = metrics_listen {
            match pwgate::proxy::status::bind(addr).await {
                Ok(listener) => {
                    tracing::info!(listen = %addr, "serving /metrics, /healthz and /readyz");
                    tokio::spawn(pwgate::proxy::status::serve(listener, server.gate_cell()));
                }
                Err(e) => return usage_error(e),
            }
        }
        if let Some(service) = &service {
            if let Some(socket) = &service.socket {
                match pwgate::service::bind(socket, service.socket_mode).await {
                    Ok(listener) => {
                        tracing::info!(socket = %socket.display(), "serving the decision service");
                        tokio::spawn(pwgate::service::serve(
                            listener,
                            server.gate_cell(),
                            service.clone(),
                        ));
                    }
                    Err(e) => return usage_error(e),
                }
            }
            if let Some(https) = &service.https {
                match pwgate::service::https::bind(https).await {
                    Ok(endpoint) => {
                        tracing::info!(listen = %https.listen, "serving the decision API over HTTPS");
                        tokio::spawn(endpoint.serve(server.gate_cell(), service.max_concurrent));
                    }
                    Err(e) => return usage_error(e),
                }
            }
        }
        if let Some(every) = summary_interval {
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    pwgate::audit::summary(&format!("{} s", every.as_secs()));
                }
            });
        }
        reload_on_hangup(server.gate_cell(), config_path, overrides, audit_trail);
        let served = server.run(shutdown_signal(), None).await;
        if let Some(socket) = service.as_ref().and_then(|s| s.socket.as_ref()) {
            pwgate::service::remove_socket(socket);
        }
        // What was decided since the last summary is not lost at exit.
        if summary_interval.is_some() {
            pwgate::audit::summary("period before shutdown");
        }
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "not serving");
                ExitCode::FAILURE
            }
        }
    })
}

/// On SIGHUP, reads the configuration again (file, flags, certificates,
/// word lists) and swaps it in whole. A bad new configuration is refused
/// with its error and the running one stays. Listen addresses and the
/// connection limit only change with a restart.
fn reload_on_hangup(
    cell: Arc<GateCell>,
    path: Option<PathBuf>,
    overrides: Overrides,
    audit_trail: Option<Arc<AuditTrail>>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // Registered before the server says it is ready: a SIGHUP from then
        // on reloads instead of killing the process (the default action).
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP: reload by signal is off");
            return;
        };
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                // After log rotation: write to the file at the path again.
                if let Some(trail) = &audit_trail {
                    match trail.reopen() {
                        Ok(()) => tracing::info!("audit file reopened"),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot reopen the audit file; writing to the old one")
                        }
                    }
                }
                let loaded = Config::load(path.as_deref(), &overrides)
                    .map_err(|e| e.to_string())
                    .and_then(|c| Gate::new(c).map_err(|e| e.to_string()));
                match loaded {
                    Ok(gate) => {
                        let old = cell.load();
                        let (o, n) = (&old.config, &gate.config);
                        if (o.listen_ldap, o.listen_ldaps, o.limits.max_connections)
                            != (n.listen_ldap, n.listen_ldaps, n.limits.max_connections)
                        {
                            tracing::warn!(
                            "listen addresses and limits.max_connections change only on restart"
                        );
                        }
                        let describe = |c: &Config| -> Vec<String> {
                            c.sync.iter().map(|t| t.describe()).collect()
                        };
                        if (&o.audit.sink, o.audit.chain, &o.audit.syslog)
                            != (&n.audit.sink, n.audit.chain, &n.audit.syslog)
                        {
                            tracing::warn!("[audit] file, chain and syslog change only on restart");
                        }
                        if o.service != n.service {
                            tracing::warn!(
                                "[service] (socket, HTTPS address, certificate, client CA, tokens, \
                                 allowed users, rate limit) changes only on restart; the running \
                                 service stays as it started"
                            );
                        }
                        if describe(o) != describe(n) {
                            tracing::warn!(
                                "[[sync]] targets change only on restart; the running ones stay"
                            );
                        }
                        cell.store(gate);
                        cell.metrics().reloaded(true);
                        tracing::info!("configuration reloaded");
                    }
                    Err(e) => {
                        cell.metrics().reloaded(false);
                        tracing::error!(
                            error = %e,
                            "configuration reload refused; the running configuration stays"
                        )
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (cell, path, overrides, audit_trail);
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this
/// is called, not when the future is first polled: the server says it is
/// ready (and tells systemd) before it polls it, and a SIGTERM in between
/// must stop it gracefully rather than kill it (the default action).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            if term.is_none() && int.is_none() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                _ = wait(term) => {},
                _ = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn hook_samba(args: SambaHookArgs) -> ExitCode {
    use pwgate::hook::{self, OnError, Settings};
    let on_error = match args.on_error.as_str() {
        "allow" => OnError::Allow,
        "evaluate" => OnError::Evaluate,
        _ => OnError::Refuse,
    };
    if on_error == OnError::Evaluate && args.config.is_none() {
        return usage_error("--on-error evaluate needs --config FILE");
    }
    let settings = Settings {
        socket: args.socket,
        timeout: Duration::from_millis(args.timeout_ms),
        on_error,
        config: args.config,
    };
    let account = hook::account_from_env(|name| std::env::var_os(name));
    let (verdict, line) = hook::run(&settings, account, &mut std::io::stdin().lock());
    if let Some(line) = line {
        eprintln!("{line}");
    }
    ExitCode::from(hook::exit_status(&verdict))
}

fn check(args: CheckArgs) -> ExitCode {
    use pwgate::check::{Decided, LookupState, NotLookedUp};
    use pwgate::decision::target::TargetNames;
    use pwgate::directory::bind_name;

    let mut given = (args.account.iter().map(|v| ("--account", v)))
        .chain(args.user.iter().map(|v| ("--user", v)))
        .chain(args.search_base.iter().map(|v| ("--search-base", v)));
    if let Some((flag, _)) = given.find(|(_, v)| v.trim().is_empty()) {
        return usage_error(format!("{flag}: the value is empty"));
    }
    let lookups = !args.no_lookup;
    let mut config = match Config::load_for_check(args.config.as_deref(), lookups) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    // The breached-password store, as the proxy opens it.
    pwgate::proxy::attach_breached_store(&mut config);
    let mut who = TargetNames::default();
    if let Some(dn) = args.account.as_deref() {
        who.add_dn(dn);
    }
    who.add_names(args.name.iter().cloned());
    for user in &args.user {
        if bind_name(user).is_none() {
            who.add_dn(user);
        } else {
            who.add_names([user.clone()]);
        }
    }
    // The account: --account, else the first DN given with --user; with
    // lookups, else the first name given with --user.
    let first_dn = args.user.iter().find(|u| bind_name(u).is_none()).cloned();
    let mut dn = args.account.clone().or(first_dn);
    let mut decided = Decided {
        account: dn.clone(),
        ..Decided::default()
    };
    let mut account = None;
    let subject = dn.clone().or_else(|| args.user.first().cloned());
    if let (true, Some(directory), Some(subject)) = (lookups, &config.directory, subject) {
        let fail_open = directory.fail_open;
        match look_up_account(directory, &config, &subject, &args.search_base) {
            Ok(found) => {
                if found.resolved {
                    who.add_dn(&found.dn);
                }
                who.add_account(&found.account);
                dn = Some(found.dn.clone());
                decided.account = Some(found.dn);
                decided.lookup = LookupState::Done;
                account = Some(found.account);
            }
            Err(LookupFailure::Setup(e)) => return usage_error(e),
            Err(LookupFailure::Lookup(NotLookedUp::Failed(e))) if fail_open => {
                eprintln!(
                    "pwgate: warning: cannot look the account up ({e}); deciding without it \
                     (directory.on_error = \"allow\")"
                );
                decided.account = Some(subject);
                decided.lookup = LookupState::Failed;
            }
            Err(LookupFailure::Lookup(e)) => {
                eprintln!("pwgate: error: {}: {e}", printable(&subject));
                return ExitCode::from(3);
            }
        }
    }
    // As in the proxy: with scopes, a DN whose attribute types pwgate does
    // not know how the directory compares could escape its scope.
    if let Some(dn) = &dn {
        if !pwgate::decision::scope::comparable(&config, dn) {
            return usage_error(format!(
                "cannot tell which scope applies to `{}`: pwgate cannot compare its attribute \
                 types (the proxy refuses password changes of such DNs)",
                printable(dn)
            ));
        }
    }
    // The decision core's subject: the proxy's own choice of scope.
    let subject = pwgate::decision::Subject::new(&config, dn, who, account);
    decided.scope = subject.scope.name.to_owned();
    decided.mode = subject.scope.mode;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let summary = pwgate::check::run(
        &subject,
        &decided,
        &mut stdin.lock(),
        &mut stdout.lock(),
        pwgate::check::Format {
            json: args.json,
            explain: args.explain,
        },
    );
    match summary {
        Err(e) => usage_error(format!("cannot read standard input: {e}")),
        Ok(s) if s.checked == 0 => usage_error("no password on standard input"),
        Ok(s) if s.refused > 0 => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
    }
}

/// Text from the command line for an error line: control characters escaped.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

enum LookupFailure {
    /// The lookup connection cannot be set up (its CA file): a configuration error.
    Setup(String),
    Lookup(pwgate::check::NotLookedUp),
}

/// `pwgate check`'s one account lookup, on a runtime of its own.
fn look_up_account(
    directory: &pwgate::directory::DirectoryConfig,
    config: &Config,
    user: &str,
    bases: &[String],
) -> Result<pwgate::check::Found, LookupFailure> {
    let directory = pwgate::directory::Directory::new(directory.clone())
        .map_err(|e| LookupFailure::Setup(format!("[directory]: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LookupFailure::Setup(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let found = pwgate::check::look_up(&directory, config, user, bases).await;
        directory.close().await;
        found.map_err(LookupFailure::Lookup)
    })
}

fn config_check(file: &std::path::Path) -> ExitCode {
    let config = match Config::load(Some(file), &Overrides::default()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let description = config.describe();
    let notes = config.notes();
    if let Err(e) = Gate::new(config) {
        return usage_error(format!("{}: {e}", file.display()));
    }
    println!("{}: valid", file.display());
    print!("{description}");
    for note in notes {
        println!("{note}");
    }
    ExitCode::SUCCESS
}

fn store(command: StoreCommand) -> ExitCode {
    use pwgate::breached::{self, BreachedStore, BuildOptions, HashKind, InputFormat};
    match command {
        StoreCommand::Build {
            format,
            hash,
            inputs,
            output,
            min_count,
            max_bad_lines,
            quiet,
        } => {
            let (kind, input_format) = match format.as_str() {
                "plain" => match hash.parse::<HashKind>() {
                    Ok(kind) => (kind, InputFormat::Plain),
                    Err(e) => return usage_error(e),
                },
                other => match other.parse::<HashKind>() {
                    Ok(kind) => (kind, InputFormat::Hashes),
                    Err(_) => {
                        return usage_error(format!("--format `{other}`: use sha1, ntlm or plain"))
                    }
                },
            };
            let options = BuildOptions {
                kind,
                input_format,
                min_count,
                max_bad_lines,
                progress: !quiet,
                ..BuildOptions::default()
            };
            match breached::build(&inputs, &output, &options) {
                Ok(s) => {
                    println!(
                        "{}: {} hashes kept ({} lines read, {} duplicates, {} below min count, {} bad lines), {} bytes, {:.2} bytes per hash, {:.1} s",
                        output.display(),
                        s.hashes_kept,
                        s.lines,
                        s.duplicates,
                        s.below_min_count,
                        s.bad_lines,
                        s.bytes,
                        s.bytes_per_hash(),
                        s.seconds
                    );
                    for bad in &s.first_bad_lines {
                        println!("bad line: {bad}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(e),
            }
        }
        StoreCommand::Update {
            output,
            state,
            hash,
            parallel,
            retries,
            timeout,
            min_count,
            url,
            ca,
            proxy,
            only_prefix,
            backoff_ms,
            quiet,
        } => {
            use pwgate::breached::update::{self, ApiUrl, ProxyUrl, Ranges, UpdateOptions};
            let mut o = UpdateOptions::new(state, output);
            o.kind = match hash.parse::<HashKind>() {
                Ok(k) => k,
                Err(e) => return usage_error(e),
            };
            o.url = match ApiUrl::parse(&url) {
                Ok(u) => u,
                Err(e) => return usage_error(e),
            };
            let proxy = proxy.or_else(|| {
                std::env::var("HTTPS_PROXY")
                    .or_else(|_| std::env::var("https_proxy"))
                    .ok()
                    .filter(|p| !p.is_empty())
            });
            o.proxy = match proxy.as_deref().map(ProxyUrl::parse).transpose() {
                Ok(p) => p,
                Err(e) => return usage_error(e),
            };
            if let Some(prefix) = only_prefix {
                o.ranges = match Ranges::under(&prefix) {
                    Ok(r) => r,
                    Err(e) => return usage_error(e),
                };
            }
            o.parallel = parallel as usize;
            o.retries = retries;
            o.timeout = Duration::from_secs(timeout);
            o.backoff = Duration::from_millis(backoff_ms.clamp(1, 60_000));
            o.min_count = min_count;
            o.ca = ca;
            o.progress = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let output = o.output.clone();
            match update::update(o) {
                Ok(s) => {
                    let b = s.build.as_ref();
                    println!(
                        "{}: {} ranges ({} downloaded, {} unchanged, {} done before), {} retries, {} bytes in {:.1} s; {} hashes",
                        output.display(),
                        s.ranges,
                        s.downloaded,
                        s.not_modified,
                        s.already_done,
                        s.retries,
                        s.bytes,
                        s.seconds,
                        b.map_or(0, |b| b.hashes_kept)
                    );
                    ExitCode::SUCCESS
                }
                Err(e @ update::UpdateError::Options(_)) => usage_error(e),
                Err(e) => {
                    eprintln!("pwgate: store update: {e}");
                    ExitCode::from(1)
                }
            }
        }
        StoreCommand::Info { store } => match BreachedStore::open(&store) {
            Ok(s) => {
                let i = s.info();
                println!("store: {}", i.path.display());
                println!("hash: {}", i.kind);
                println!("hashes: {}", i.keys);
                println!("shards: {}", i.shards);
                println!(
                    "size: {} bytes ({:.2} bytes per hash)",
                    i.file_bytes, i.bytes_per_hash
                );
                println!(
                    "false-positive rate: {:.2e} (about 1 in {:.0}; {}-bit fingerprints)",
                    i.false_positive_rate,
                    1.0 / i.false_positive_rate,
                    i.fingerprint_bits
                );
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(e),
        },
        StoreCommand::Verify { store } => {
            match BreachedStore::open(&store).and_then(|s| s.verify()) {
                Ok(()) => {
                    println!("{}: checksum verified", store.display());
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(e),
            }
        }
        StoreCommand::Check { store } => {
            let s = match BreachedStore::open(&store) {
                Ok(s) => s,
                Err(e) => return usage_error(e),
            };
            let mut line = zeroize::Zeroizing::new(String::new());
            if let Err(e) = std::io::stdin().read_line(&mut line) {
                return usage_error(format!("cannot read standard input: {e}"));
            }
            let password = line.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return usage_error("no password on standard input");
            }
            let password = pwgate::secret::Password::new(password.to_owned());
            if s.contains_password(&password) {
                println!("in the store (breached, or one of about 1 in 65,536 false positives)");
                ExitCode::from(1)
            } else {
                println!("not in the store");
                ExitCode::SUCCESS
            }
        }
    }
}
