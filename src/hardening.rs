//! Process-level protections for the secrets pwgate holds in memory.
//!
//! A core dump or a debugger attached by another process of the same user
//! could read passwords that are being checked. At start, `serve` sets the
//! core size limit to zero and (on Linux) marks the process non-dumpable,
//! which also stops same-user `ptrace` and `/proc/PID/mem` reads.

/// Forbids core dumps. Returns what could not be done, if anything.
pub fn forbid_core_dumps() -> Result<(), String> {
    let mut problems = Vec::new();
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads a valid, initialised struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        problems.push(format!(
            "setrlimit(RLIMIT_CORE, 0): {}",
            std::io::Error::last_os_error()
        ));
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_DUMPABLE takes plain integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            problems.push(format!(
                "prctl(PR_SET_DUMPABLE, 0): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
