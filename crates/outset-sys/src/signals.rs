//! Signals delivered as readable events (signalfd) instead of async handlers,
//! so the daemon handles them in its event loop.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{self, SfdFlags};

/// A non-blocking, close-on-exec signalfd for a fixed set of signals.
#[derive(Debug)]
pub struct SignalFd {
    fd: signalfd::SignalFd,
}

impl SignalFd {
    /// Blocks `signals` for the calling thread and opens a signalfd for them.
    ///
    /// Call this before starting other threads: the blocked mask is
    /// inherited by threads created afterwards, so the signals reach the fd.
    /// Real-time signals (systemd's `SIGRTMIN+n` requests) are taken too.
    pub fn new(signals: &[i32]) -> io::Result<SignalFd> {
        let mut raw = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set it is given.
        if unsafe { libc::sigemptyset(raw.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for &sig in signals {
            // SAFETY: the set was initialised above; sigaddset checks the number.
            if unsafe { libc::sigaddset(raw.as_mut_ptr(), sig) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: sigemptyset initialised the set, and sigaddset only added valid signals.
        let set = unsafe { SigSet::from_sigset_t_unchecked(raw.assume_init()) };
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(io::Error::from)?;
        let fd =
            signalfd::SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
                .map_err(io::Error::from)?;
        Ok(SignalFd { fd })
    }

    /// Returns the numbers of all pending signals, draining the fd.
    pub fn read(&mut self) -> io::Result<Vec<i32>> {
        let mut out = Vec::new();
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => out.push(i32::try_from(info.ssi_signo).unwrap_or(0)),
                Ok(None) => return Ok(out),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Blocks SIGCHLD in the calling thread while it lives, so [`sleep`](Self::sleep) wakes
/// when a child changes state (a tracer's waits); the old mask comes back on drop.
pub struct SigchldWait {
    old: Option<SigSet>,
}

impl SigchldWait {
    /// Longest single sleep, so a missed SIGCHLD only delays, never hangs.
    pub const MAX_SLICE: std::time::Duration = std::time::Duration::from_millis(50);

    pub fn new() -> SigchldWait {
        let mut set = SigSet::empty();
        set.add(Signal::SIGCHLD);
        let mut old = SigSet::empty();
        let ok =
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
                .is_ok();
        SigchldWait {
            old: ok.then_some(old),
        }
    }

    /// Sleeps until SIGCHLD arrives or `d` (at most [`Self::MAX_SLICE`]) passes. It
    /// wakes early only while a `SigchldWait` lives in this thread; otherwise it just sleeps.
    pub fn sleep(d: std::time::Duration) {
        let d = d.min(Self::MAX_SLICE);
        let mut set = SigSet::empty();
        set.add(Signal::SIGCHLD);
        let ts = libc::timespec {
            tv_sec: 0,
            // Below 10^9, so it fits a c_long of any width.
            tv_nsec: d.subsec_nanos() as libc::c_long,
        };
        // SAFETY: sigtimedwait only reads the signal set and the timeout; a null siginfo
        // pointer is allowed. If SIGCHLD is not blocked it simply times out.
        unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    }
}

impl Default for SigchldWait {
    fn default() -> SigchldWait {
        SigchldWait::new()
    }
}

impl Drop for SigchldWait {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(old), None);
        }
    }
}

/// Sends `sig`, a named signal (rustix has no safe value for real-time ones), to the single
/// process `pid` (never a group: `pid` must be positive). For a child of ours with no pidfd;
/// everything else is signalled through its pidfd.
pub fn kill(pid: u32, sig: i32) -> io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    let sig = rustix::process::Signal::from_named_raw(sig)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    rustix::process::kill_process(pid, sig).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pending_signals() {
        // Test threads each have their own mask; raise() targets this thread.
        let mut sfd = SignalFd::new(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
        assert!(sfd.read().unwrap().is_empty());
        // SAFETY: raise only queues a signal that is blocked in this thread.
        unsafe {
            libc::raise(libc::SIGUSR1);
            libc::raise(libc::SIGUSR2);
        }
        let mut got = sfd.read().unwrap();
        got.sort_unstable();
        assert_eq!(got, vec![libc::SIGUSR1, libc::SIGUSR2]);
        assert!(sfd.read().unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_signal() {
        assert!(SignalFd::new(&[1000]).is_err());
    }
}
