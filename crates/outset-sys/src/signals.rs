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
    pub fn new(signals: &[i32]) -> io::Result<SignalFd> {
        let mut set = SigSet::empty();
        for &sig in signals {
            set.add(Signal::try_from(sig).map_err(io::Error::from)?);
        }
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
