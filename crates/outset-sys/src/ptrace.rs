//! Thin ptrace wrappers: every ptrace request outset makes, and the waits for tracees.
//!
//! The tracer behind `outsetctl trace` and the daemon's `track ptrace` (which follows a
//! job's forks until its main PID is known) both live outside this crate
//! (`outset-trace`, `outset-daemon`); they build on these calls.
//!
//! One API: `libc::ptrace`, through [`request`] for the requests that take plain integers
//! and directly for the two that fill a buffer ([`geteventmsg`], [`signal_origin`]). nix
//! has no `PTRACE_LISTEN`, and one library for every request is simpler than two. Pids are
//! `u32`, signals plain numbers (0 for none). Every request must come from the thread that
//! seized the tracee, as the kernel requires.

use std::io;

/// The options tracees are seized with: follow fork, vfork and clone; see exec and exit.
pub const TRACK_OPTIONS: i32 = libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEEXIT;

/// What a ptrace stop of a tracee is, from its raw wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStop {
    /// fork or vfork: the new process's id is read with [`geteventmsg`].
    Fork,
    /// clone without SIGCHLD as exit signal (mostly a new thread): its id likewise.
    Clone,
    /// The tracee executed a new program.
    Exec,
    /// The tracee is about to exit.
    Exit,
    /// `PTRACE_EVENT_STOP` with this signal: a new tracee's first stop, a group-stop
    /// (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) or a stop after [`interrupt`].
    Stop(i32),
    /// A signal on its way to the tracee (signal-delivery-stop).
    Signal(i32),
}

/// Classifies a raw wait status; `None` if it is not a stop.
pub fn classify_stop(status: i32) -> Option<TraceStop> {
    if !libc::WIFSTOPPED(status) {
        return None;
    }
    let sig = libc::WSTOPSIG(status);
    Some(match (status >> 16) & 0xffff {
        libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK => TraceStop::Fork,
        libc::PTRACE_EVENT_CLONE => TraceStop::Clone,
        libc::PTRACE_EVENT_EXEC => TraceStop::Exec,
        libc::PTRACE_EVENT_EXIT => TraceStop::Exit,
        0 => TraceStop::Signal(sig),
        _ => TraceStop::Stop(sig),
    })
}

/// Whether `sig` stops a process (a group-stop signal).
pub fn is_stop_signal(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    )
}

fn raw_pid(pid: u32) -> io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

/// One ptrace request whose `addr` and `data` are plain integers.
fn request(req: libc::c_uint, pid: u32, addr: usize, data: usize) -> io::Result<()> {
    let pid = raw_pid(pid)?;
    // SAFETY: every request sent here (SEIZE, CONT, DETACH, INTERRUPT, LISTEN) takes
    // integers in addr/data and dereferences no pointer.
    let r = unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `PTRACE_SEIZE` with `options` (see [`TRACK_OPTIONS`]); the tracee keeps running.
pub fn seize(pid: u32, options: i32) -> io::Result<()> {
    request(
        libc::PTRACE_SEIZE,
        pid,
        0,
        usize::try_from(options).unwrap_or(0),
    )
}

/// Resumes a stopped tracee, delivering `sig` (0 for none).
pub fn cont(pid: u32, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_CONT, pid, 0, usize::try_from(sig).unwrap_or(0))
}

/// Lets a stopped tracee go, delivering `sig` (0 for none).
pub fn detach(pid: u32, sig: i32) -> io::Result<()> {
    request(
        libc::PTRACE_DETACH,
        pid,
        0,
        usize::try_from(sig).unwrap_or(0),
    )
}

/// Stops a running (seized) tracee; the stop shows as [`TraceStop::Stop`].
pub fn interrupt(pid: u32) -> io::Result<()> {
    request(libc::PTRACE_INTERRUPT, pid, 0, 0)
}

/// Leaves a tracee in its group-stop while letting it see SIGCONT (`PTRACE_LISTEN`).
pub fn listen(pid: u32) -> io::Result<()> {
    request(libc::PTRACE_LISTEN, pid, 0, 0)
}

/// The event message of a stopped tracee: the new task's id after a fork event, the wait
/// status after an exit event.
pub fn geteventmsg(pid: u32) -> io::Result<u64> {
    let pid = raw_pid(pid)?;
    let mut msg: libc::c_ulong = 0;
    // SAFETY: PTRACE_GETEVENTMSG writes one unsigned long to `data`, a valid local.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            &mut msg as *mut libc::c_ulong,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        // c_ulong is u32 on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        Ok(u64::from(msg))
    }
}

/// Where the signal a tracee in signal-delivery-stop is about to get comes from: its
/// `si_code` and, for signals sent by a process, the sender's PID (0 otherwise).
pub fn signal_origin(pid: u32) -> io::Result<(i32, u32)> {
    let raw = raw_pid(pid)?;
    // SAFETY: an all-zero siginfo_t is a valid value for the kernel to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: PTRACE_GETSIGINFO writes one siginfo_t to `data`, a valid local.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            raw,
            std::ptr::null_mut::<libc::c_void>(),
            &raw mut info,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let sender = if matches!(
        info.si_code,
        libc::SI_USER | libc::SI_TKILL | libc::SI_QUEUE
    ) {
        // SAFETY: for these codes the kernel filled the _kill/_rt member, whose si_pid
        // this reads.
        u32::try_from(unsafe { info.si_pid() }).unwrap_or(0)
    } else {
        0
    };
    Ok((info.si_code, sender))
}

/// One `waitpid(-1, WNOHANG | __WALL)` (tracees created by clone included): `Ok(None)`
/// when nothing is pending, an error for which [`no_children`] holds when there is no
/// child left. For a process whose children are all tracees (a tracer).
pub fn wait_any() -> io::Result<Option<(u32, i32)>> {
    crate::reap::wait_raw(None, libc::WNOHANG | libc::__WALL)
}

/// Waits (blocking) for our child `pid` to end or stop; its raw status.
pub fn wait_for(pid: u32) -> io::Result<Option<(u32, i32)>> {
    crate::reap::wait_raw(Some(pid), libc::__WALL)
}

/// Whether a wait failed because the caller has no children left (ECHILD).
pub fn no_children(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ECHILD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptrace_classify_stops() {
        let stop = |event: i32, sig: i32| (event << 16) | (sig << 8) | 0x7f;
        let trap = libc::SIGTRAP;
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_FORK, trap)),
            Some(TraceStop::Fork)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_VFORK, trap)),
            Some(TraceStop::Fork)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_CLONE, trap)),
            Some(TraceStop::Clone)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_EXEC, trap)),
            Some(TraceStop::Exec)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_EXIT, trap)),
            Some(TraceStop::Exit)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_STOP, libc::SIGSTOP)),
            Some(TraceStop::Stop(libc::SIGSTOP))
        );
        assert_eq!(
            classify_stop(stop(0, libc::SIGTERM)),
            Some(TraceStop::Signal(libc::SIGTERM))
        );
        assert_eq!(classify_stop(3 << 8), None);
        assert!(is_stop_signal(libc::SIGTSTP));
        assert!(!is_stop_signal(libc::SIGTERM));
        assert!(seize(0, TRACK_OPTIONS).is_err());
    }
}
