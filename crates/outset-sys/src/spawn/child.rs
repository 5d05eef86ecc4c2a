//! Code that runs in the new process between clone and exec.
//!
//! The parent may be multi-threaded, so only async-signal-safe calls are
//! allowed here: no allocation, no locks, no `Drop` of owned resources.
//! Everything is prepared by the parent in a [`ChildCtx`]. Credentials,
//! signals and getpid/kill go through raw syscalls because glibc's wrappers
//! consult per-thread state that a raw `clone3` child does not have.

use std::os::fd::RawFd;

use libc::{c_char, c_int, c_long};

/// `struct rlimit64` as taken by `prlimit64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct RawRlimit {
    pub cur: u64,
    pub max: u64,
}

/// Value meaning "no limit".
pub(crate) const RLIM_INFINITY: u64 = u64::MAX;

/// Marker record: the child is about to SIGSTOP itself before exec.
pub(crate) const STOP_MARKER: u8 = 0xff;

/// Size of one report record: stage byte, native-endian errno, native-endian pid. The pid
/// tells apart the records of the children that share one pipe (`spawn_detached`); a record
/// is below `PIPE_BUF`, so it is written whole.
pub(crate) const REPORT_LEN: usize = 9;

/// `CLOSE_RANGE_CLOEXEC` from linux/close_range.h.
const CLOSE_RANGE_CLOEXEC: c_long = 1 << 2;

/// Where in the child setup a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Stage {
    Setsid = 0,
    Signals,
    Stdio,
    Cgroup,
    Rlimit,
    Nice,
    OomScoreAdj,
    Chroot,
    Chdir,
    Setgroups,
    Setgid,
    Setuid,
    CloseRange,
    Stop,
    Exec,
    ScriptFd,
    PassFd,
    Ctty,
}

/// Stage names, indexed by the `Stage` discriminant.
const STAGE_NAMES: [&str; 18] = [
    "setsid",
    "signals",
    "stdio",
    "cgroup",
    "rlimit",
    "nice",
    "oom_score_adj",
    "chroot",
    "chdir",
    "setgroups",
    "setgid",
    "setuid",
    "close_range",
    "stop",
    "exec",
    "script fd",
    "passing the socket",
    "controlling terminal",
];

/// Name of a stage byte read back from the report pipe.
pub(crate) fn stage_name(b: u8) -> &'static str {
    STAGE_NAMES
        .get(usize::from(b))
        .copied()
        .unwrap_or("unknown")
}

/// Everything the child needs, as raw pointers into parent-owned memory
/// that stays alive (copied) in the child's address space.
pub(crate) struct ChildCtx<'a> {
    pub path: *const c_char,
    pub argv: *const *const c_char,
    pub envp: *const *const c_char,
    pub devnull: Option<RawFd>,
    /// Dup'ed onto fd 2 after `devnull` (always above 2 itself).
    pub stderr: Option<RawFd>,
    /// Dup'ed onto fds 1 and 2 after `devnull` (always above 2 itself).
    pub output: Option<RawFd>,
    /// Dup'ed onto fds 0-2 (always above 2 itself).
    pub console: Option<RawFd>,
    /// Take `console` as the controlling terminal (after `setsid`).
    pub console_owner: bool,
    /// Set only when the child must join the cgroup itself (fork fallback).
    pub join_cgroup: Option<RawFd>,
    pub rlimits: &'a [(c_int, RawRlimit)],
    pub nice: Option<c_int>,
    pub oom_score_adj: Option<&'a [u8]>,
    pub umask: Option<libc::mode_t>,
    pub chroot: Option<*const c_char>,
    pub cwd: Option<*const c_char>,
    pub groups: Option<&'a [libc::gid_t]>,
    pub gid: Option<libc::gid_t>,
    pub uid: Option<libc::uid_t>,
    pub stop_before_exec: bool,
    /// A cell: moved off fd 3 when a passed socket takes that number.
    pub report_fd: std::cell::Cell<RawFd>,
    /// An fd the program needs (a long script's memfd): kept open across exec.
    pub keep_fd: Option<RawFd>,
    /// A socket to hand over as fd 3 (above 3 itself).
    pub pass_fd: Option<RawFd>,
    /// The `LISTEN_PID=` environment entry, [`super::plan::LISTEN_PID_LEN`] bytes, whose
    /// digits the child writes.
    pub listen_pid: Option<*mut u8>,
}

/// Current errno, without allocating.
fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sends a report record to the parent; errors are ignored (nothing to do).
fn report(fd: RawFd, stage: u8, err: c_int) {
    let e = err.to_ne_bytes();
    // SAFETY: raw getpid; glibc's cached pid may be the parent's in a raw clone child.
    let pid = unsafe { libc::syscall(libc::SYS_getpid) } as u32;
    let p = pid.to_ne_bytes();
    let buf = [stage, e[0], e[1], e[2], e[3], p[0], p[1], p[2], p[3]];
    // SAFETY: writes REPORT_LEN bytes from a local buffer to our pipe fd.
    unsafe { libc::write(fd, buf.as_ptr().cast(), REPORT_LEN) };
}

/// Fails with `stage` and the current errno when `r` is -1.
fn check(r: c_long, stage: Stage) -> Result<(), (Stage, c_int)> {
    if r == -1 {
        Err((stage, errno()))
    } else {
        Ok(())
    }
}

/// Writes all of `data` to a newly opened file (for procfs/cgroupfs knobs).
///
/// # Safety
/// `path` must be a NUL-terminated string; `dirfd` valid or AT_FDCWD.
unsafe fn write_file(
    dirfd: c_int,
    path: *const c_char,
    data: &[u8],
    stage: Stage,
) -> Result<(), (Stage, c_int)> {
    // SAFETY: caller guarantees `path` is a C string.
    let fd = unsafe { libc::openat(dirfd, path, libc::O_WRONLY | libc::O_CLOEXEC) };
    check(c_long::from(fd), stage)?;
    // SAFETY: `data` is a valid slice; a short write to these knobs is an error.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    let err = errno();
    // SAFETY: closing the fd we just opened.
    unsafe { libc::close(fd) };
    if n < 0 || n.unsigned_abs() != data.len() {
        return Err((stage, if n < 0 { err } else { libc::EIO }));
    }
    Ok(())
}

/// Runs the child setup and execs; never returns.
pub(crate) fn run(ctx: &ChildCtx<'_>) -> ! {
    let (stage, err) = match setup_and_exec(ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    report(ctx.report_fd.get(), stage as u8, err);
    // SAFETY: _exit terminates without running atexit handlers or unwinding.
    unsafe { libc::_exit(127) }
}

fn setup_and_exec(ctx: &ChildCtx<'_>) -> Result<std::convert::Infallible, (Stage, c_int)> {
    // SAFETY: setsid takes no arguments.
    check(c_long::from(unsafe { libc::setsid() }), Stage::Setsid)?;
    reset_signals()?;
    if let Some(fd) = ctx.devnull {
        for target in 0..3 {
            let r = if fd == target {
                // dup2 onto itself would keep FD_CLOEXEC: clear it instead.
                // SAFETY: fcntl on an fd we own.
                unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }
            } else {
                // SAFETY: dup2 between fds valid in this process.
                unsafe { libc::dup2(fd, target) }
            };
            check(c_long::from(r), Stage::Stdio)?;
        }
    }
    if let Some(fd) = ctx.stderr {
        // SAFETY: dup2 between fds valid in this process; `fd` is above 2 (see plan).
        check(c_long::from(unsafe { libc::dup2(fd, 2) }), Stage::Stdio)?;
    }
    if let Some(fd) = ctx.output {
        for target in [1, 2] {
            // SAFETY: dup2 between fds valid in this process; `fd` is above 2 (see plan).
            let r = unsafe { libc::dup2(fd, target) };
            check(c_long::from(r), Stage::Stdio)?;
        }
    }
    if let Some(fd) = ctx.console {
        for target in 0..3 {
            // SAFETY: dup2 between fds valid in this process; `fd` is above 2 (see plan).
            let r = unsafe { libc::dup2(fd, target) };
            check(c_long::from(r), Stage::Stdio)?;
        }
        if ctx.console_owner {
            // A session leader (setsid above) without a controlling terminal takes this
            // one, from another session if need be; its process group becomes the
            // terminal's foreground group.
            // SAFETY: TIOCSCTTY takes an int by value.
            let r = unsafe { libc::ioctl(0, libc::TIOCSCTTY, 1 as c_int) };
            check(c_long::from(r), Stage::Ctty)?;
        }
    }
    if let Some(cg) = ctx.join_cgroup {
        // Writing "0" moves the writing process itself.
        // SAFETY: literal C string and a valid directory fd.
        unsafe { write_file(cg, c"cgroup.procs".as_ptr(), b"0", Stage::Cgroup)? };
    }
    for (resource, lim) in ctx.rlimits {
        // SAFETY: prlimit64 on ourselves reading a valid RawRlimit.
        let r = unsafe {
            libc::syscall(
                libc::SYS_prlimit64,
                0 as c_long,
                c_long::from(*resource),
                std::ptr::from_ref(lim),
                std::ptr::null_mut::<RawRlimit>(),
            )
        };
        check(r, Stage::Rlimit)?;
    }
    if let Some(n) = ctx.nice {
        // SAFETY: plain integer arguments.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, n) };
        check(c_long::from(r), Stage::Nice)?;
    }
    if let Some(data) = ctx.oom_score_adj {
        // SAFETY: literal C string, AT_FDCWD.
        unsafe {
            write_file(
                libc::AT_FDCWD,
                c"/proc/self/oom_score_adj".as_ptr(),
                data,
                Stage::OomScoreAdj,
            )?;
        };
    }
    if let Some(mask) = ctx.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask) };
    }
    if let Some(root) = ctx.chroot {
        // SAFETY: `root` is a C string owned by the plan.
        check(c_long::from(unsafe { libc::chroot(root) }), Stage::Chroot)?;
        let dir = ctx.cwd.unwrap_or(c"/".as_ptr());
        // SAFETY: `dir` is a C string.
        check(c_long::from(unsafe { libc::chdir(dir) }), Stage::Chdir)?;
    } else if let Some(dir) = ctx.cwd {
        // SAFETY: `dir` is a C string owned by the plan.
        check(c_long::from(unsafe { libc::chdir(dir) }), Stage::Chdir)?;
    }
    if let Some(groups) = ctx.groups {
        // SAFETY: pointer and length describe a valid gid_t slice.
        let r = unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) };
        check(r, Stage::Setgroups)?;
    }
    if let Some(gid) = ctx.gid {
        // SAFETY: plain integer argument; raw so only this thread is affected.
        let r = unsafe { libc::syscall(libc::SYS_setgid, gid) };
        check(r, Stage::Setgid)?;
    }
    if let Some(uid) = ctx.uid {
        // SAFETY: plain integer argument; raw so only this thread is affected.
        let r = unsafe { libc::syscall(libc::SYS_setuid, uid) };
        check(r, Stage::Setuid)?;
    }
    mark_fds_cloexec()?;
    if let Some(fd) = ctx.keep_fd {
        // SAFETY: fcntl on an fd of this process; only this child's fd table changes.
        let r = unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        check(c_long::from(r), Stage::ScriptFd)?;
    }
    if let Some(src) = ctx.pass_fd {
        pass_socket(ctx, src)?;
    }
    if ctx.stop_before_exec {
        // Tell the parent not to wait for exec: we stay stopped until resumed.
        report(ctx.report_fd.get(), STOP_MARKER, 0);
        // The parent stops reading now; a later exec failure shows as exit
        // status 127 instead of a SIGPIPE from writing to the closed pipe.
        // SAFETY: closing our own pipe end; later reports just get EBADF.
        unsafe { libc::close(ctx.report_fd.get()) };
        // SAFETY: raw getpid/kill; glibc's raise() would use the parent's tid.
        let r = unsafe {
            let pid = libc::syscall(libc::SYS_getpid);
            libc::syscall(libc::SYS_kill, pid, libc::SIGSTOP)
        };
        check(r, Stage::Stop)?;
    }
    // SAFETY: path/argv/envp are NUL-terminated arrays of C strings.
    unsafe { libc::execve(ctx.path, ctx.argv, ctx.envp) };
    Err((Stage::Exec, errno()))
}

/// Socket activation: `src` becomes fd 3 (without close-on-exec) and the `LISTEN_PID` entry
/// gets this process's PID. Whatever the child had at fd 3 (the report pipe, the exec
/// barrier) is first moved above it, close-on-exec as before.
fn pass_socket(ctx: &ChildCtx<'_>, src: RawFd) -> Result<(), (Stage, c_int)> {
    let target = super::PASSED_FD;
    // SAFETY: fcntl on a possibly-closed fd; EBADF means nothing was there.
    let moved = unsafe { libc::fcntl(target, libc::F_DUPFD_CLOEXEC, target + 1) };
    if moved == -1 && errno() != libc::EBADF {
        return Err((Stage::PassFd, errno()));
    }
    if moved >= 0 && ctx.report_fd.get() == target {
        ctx.report_fd.set(moved);
    }
    // SAFETY: dup2 between fds of this process; `src` is above 3 (see the plan), and the
    // copy at 3 has no close-on-exec flag.
    let r = unsafe { libc::dup2(src, target) };
    check(c_long::from(r), Stage::PassFd)?;
    if let Some(buf) = ctx.listen_pid {
        // SAFETY: raw getpid; glibc's cached pid may be the parent's in a raw clone child.
        let pid = unsafe { libc::syscall(libc::SYS_getpid) } as u32;
        let mut digits = [0u8; 10];
        let mut n = pid;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let start = super::plan::LISTEN_PID_PREFIX.len();
        for i in 0..len {
            // SAFETY: `buf` is the plan's LISTEN_PID_LEN-byte cell (at most 11 + 10 + 1
            // bytes are written); this process's copy of it (or, in a vfork-style child,
            // the suspended parent's, which only this child uses) is ours to write.
            unsafe { *buf.add(start + i) = digits[len - 1 - i] };
        }
        // SAFETY: as above, the NUL after the digits.
        unsafe { *buf.add(start + len) = 0 };
    }
    Ok(())
}

/// Restores default dispositions and an empty mask: a daemon blocks signals
/// for its signalfd, and jobs must not inherit that.
fn reset_signals() -> Result<(), (Stage, c_int)> {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // An all-zero kernel sigaction is SIG_DFL, no flags, empty mask, for
        // every struct layout. Raw syscall: glibc refuses its reserved
        // signals 32/33, which may arrive here ignored from our own parent.
        let act = [0u64; 4];
        // SAFETY: the kernel reads at most 32 bytes from the local `act`.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                act.as_ptr(),
                std::ptr::null_mut::<u64>(),
                std::mem::size_of::<u64>(),
            )
        };
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask reads an 8-byte kernel sigset from a local.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const empty,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        )
    };
    check(r, Stage::Signals)
}

/// Makes every fd above 2 close-on-exec so nothing leaks into the job.
fn mark_fds_cloexec() -> Result<(), (Stage, c_int)> {
    // SAFETY: close_range with integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = errno();
    if err != libc::ENOSYS && err != libc::EINVAL {
        return Err((Stage::CloseRange, err));
    }
    // Pre-5.11 kernel: walk the fd table up to the soft limit.
    let mut lim = RawRlimit { cur: 0, max: 0 };
    // SAFETY: prlimit64 writes into a local RawRlimit.
    let r = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0 as c_long,
            libc::RLIMIT_NOFILE as c_long,
            std::ptr::null::<RawRlimit>(),
            &raw mut lim,
        )
    };
    let max = if r == 0 { lim.cur.min(1 << 20) } else { 1024 };
    let max = c_int::try_from(max).unwrap_or(1024);
    for fd in 3..max {
        // SAFETY: fcntl on a possibly-closed fd just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}
