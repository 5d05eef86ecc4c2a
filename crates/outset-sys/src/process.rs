//! Facts about the daemon's own process, and process-group signals.

use std::io;
use std::path::PathBuf;

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO`).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;

/// This process's PID.
pub fn pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The effective user id.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether this process lives in the machine's initial PID namespace (not a container).
pub fn in_initial_pid_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid")
        .map(|m| m.ino() == PROC_PID_INIT_INO)
        .unwrap_or(true)
}

/// The cgroup v2 path of this process, relative to the cgroup2 mount (`0::/path`).
pub fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| PathBuf::from(p.trim_start_matches('/')))
}

/// Sends `sig` to the process group `pgid` (a job process leads its own session). Returns
/// false when no such group exists.
pub fn signal_group(pgid: u32, sig: i32) -> io::Result<bool> {
    let Ok(pgid) = i32::try_from(pgid) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if pgid <= 1 {
        // Never the whole machine, never init's group.
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: kill() only reads its two integer arguments; a negative pid names a group.
    let r = unsafe { libc::kill(-pgid, sig) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ESRCH) => Ok(false),
        _ => Err(e),
    }
}

/// Hands freed heap memory back to the kernel (after a burst of work, so a daemon that
/// started a thousand jobs does not keep the peak of that moment resident).
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks the allocator's own state; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes of heap in use (allocations with their allocator overhead), for memory benchmarks.
/// `None` where the C library cannot say.
pub fn heap_in_use() -> Option<u64> {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallinfo2 only reads the allocator's own counters.
        let info = unsafe { libc::mallinfo2() };
        u64::try_from(info.uordblks + info.hblkhd).ok()
    }
    #[cfg(not(target_env = "gnu"))]
    {
        None
    }
}

/// Makes Ctrl-Alt-Del send SIGINT to init instead of rebooting at once (init only).
pub fn disable_ctrl_alt_del() -> io::Result<()> {
    rustix::system::reboot(rustix::system::RebootCommand::CadOff).map_err(Into::into)
}

/// The shells an init falls back to, in order: the program and its arguments.
pub const EMERGENCY_SHELLS: [(&str, &[&str]); 4] = [
    ("/bin/sh", &[]),
    ("/usr/bin/sh", &[]),
    ("/bin/busybox", &["sh"]),
    ("/sbin/busybox", &["sh"]),
];

/// The first of `shells` that exists as a file.
pub fn find_shell<'a>(
    shells: &'a [(&'a str, &'a [&'a str])],
) -> Option<&'a (&'a str, &'a [&'a str])> {
    shells
        .iter()
        .find(|(p, _)| std::path::Path::new(p).is_file())
}

/// Replaces this process with an emergency shell (PID 1 that cannot run jobs): the first
/// of [`EMERGENCY_SHELLS`] that exists, with a default `PATH`, its signals unblocked
/// (std's exec resets the mask). Returns only if none could be run.
pub fn exec_emergency_shell(path_env: &str) -> io::Error {
    use std::os::unix::process::CommandExt;
    let Some((shell, args)) = find_shell(&EMERGENCY_SHELLS) else {
        return io::Error::new(io::ErrorKind::NotFound, "no shell (/bin/sh, busybox) found");
    };
    std::process::Command::new(shell)
        .args(*args)
        .env("PATH", path_env)
        .exec()
}

/// Raises the soft limit on open files to the hard limit, so the daemon's own fds (control
/// connections, pidfds, notify sockets) do not run out at a default of 1024. Returns the
/// new soft limit.
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let wanted = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, wanted).is_ok() {
            lim = getrlimit(Resource::Nofile);
        }
    }
    lim.current.unwrap_or(u64::MAX)
}

/// Whether a process `pid` exists (signal 0: no signal is sent). A process of another user
/// that we may not signal counts as gone, as `kill(pid, 0)` failing does for Upstart's
/// session files.
pub fn exists(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue16_item6_exists_tells_live_from_gone() {
        assert!(exists(pid()));
        assert!(!exists(0));
        assert!(!exists(i32::MAX as u32));
    }

    #[test]
    fn issue13_item8_the_first_shell_that_exists() {
        let none: [(&str, &[&str]); 1] = [("/nonexistent/sh", &[])];
        assert!(find_shell(&none).is_none());
        let some: [(&str, &[&str]); 2] = [("/nonexistent/sh", &[]), ("/bin/sh", &["-i"])];
        assert_eq!(find_shell(&some).map(|s| s.0), Some("/bin/sh"));
    }

    #[test]
    fn own_facts() {
        assert_eq!(pid(), std::process::id());
        let _ = euid();
        let _ = in_initial_pid_namespace();
        assert!(own_cgroup().is_some());
        assert!(!signal_group(0x3fff_fff0, 0).unwrap());
        assert!(signal_group(1, 0).is_err());
    }
}
