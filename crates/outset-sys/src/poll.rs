//! Level-triggered epoll: the daemon's single event loop waits on this.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{Timespec, epoll};

/// How many ready events one `wait` call collects at most.
const BATCH: usize = 64;

/// What a connection is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest {
    /// Data (or the peer's end of stream) to read.
    pub read: bool,
    /// Room to write queued output.
    pub write: bool,
}

impl Interest {
    fn flags(self) -> epoll::EventFlags {
        let mut f = epoll::EventFlags::empty();
        if self.read {
            f |= epoll::EventFlags::IN;
        }
        if self.write {
            f |= epoll::EventFlags::OUT;
        }
        f
    }
}

/// An epoll instance; each registered fd carries a caller-chosen token.
#[derive(Debug)]
pub struct Poller {
    fd: OwnedFd,
}

impl Poller {
    /// Creates a close-on-exec epoll instance.
    pub fn new() -> io::Result<Poller> {
        let fd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        Ok(Poller { fd })
    }

    /// Watches `fd` for readability (level-triggered), reporting `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        epoll::add(
            &self.fd,
            fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN,
        )?;
        Ok(())
    }

    /// Watches `fd` for readability, edge-triggered: reported once when it becomes readable
    /// (or, when added, once if it already is), then again only when more arrives. A
    /// listening socket whose connections the daemon leaves to a job wakes the loop once per
    /// new connection, never in a loop while they wait.
    pub fn add_edge(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        epoll::add(
            &self.fd,
            fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        )?;
        Ok(())
    }

    /// Watches `fd` for readability and/or writability (level-triggered), reporting `token`.
    pub fn add_with(&self, fd: BorrowedFd<'_>, token: u64, interest: Interest) -> io::Result<()> {
        epoll::add(
            &self.fd,
            fd,
            epoll::EventData::new_u64(token),
            interest.flags(),
        )?;
        Ok(())
    }

    /// Changes what a watched `fd` is watched for.
    pub fn modify(&self, fd: BorrowedFd<'_>, token: u64, interest: Interest) -> io::Result<()> {
        epoll::modify(
            &self.fd,
            fd,
            epoll::EventData::new_u64(token),
            interest.flags(),
        )?;
        Ok(())
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        epoll::delete(&self.fd, fd)?;
        Ok(())
    }

    /// Waits for readiness and replaces `out` with the ready tokens.
    ///
    /// `None` waits forever. An interrupted wait (EINTR) returns `Ok` with
    /// `out` empty so the caller simply loops.
    pub fn wait(&self, out: &mut Vec<u64>, timeout: Option<Duration>) -> io::Result<()> {
        out.clear();
        let ts = timeout.map(|d| Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(d.subsec_nanos()),
        });
        let mut events: Vec<epoll::Event> = Vec::with_capacity(BATCH);
        match epoll::wait(
            &self.fd,
            rustix::buffer::spare_capacity(&mut events),
            ts.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        out.extend(events.iter().map(|e| e.data.u64()));
        Ok(())
    }
}

impl AsFd for Poller {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_readiness() {
        let p = Poller::new().unwrap();
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        p.add(r.as_fd(), 7).unwrap();
        let mut out = Vec::new();
        p.wait(&mut out, Some(Duration::from_millis(10))).unwrap();
        assert!(out.is_empty());
        rustix::io::write(&w, b"x").unwrap();
        p.wait(&mut out, Some(Duration::from_millis(1000))).unwrap();
        assert_eq!(out, vec![7]);
        // Level-triggered: still ready until read.
        p.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert_eq!(out, vec![7]);
        p.delete(r.as_fd()).unwrap();
        p.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn write_interest_is_reported_until_dropped() {
        let p = Poller::new().unwrap();
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let write = Interest {
            read: false,
            write: true,
        };
        p.add_with(w.as_fd(), 3, write).unwrap();
        let mut out = Vec::new();
        p.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert_eq!(out, vec![3]);
        p.modify(w.as_fd(), 3, Interest::default()).unwrap();
        p.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert!(out.is_empty());
        drop(r);
    }
}
