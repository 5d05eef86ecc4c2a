//! Pseudo-terminals for `console log`: the job writes to the slave side, the daemon reads the
//! master side in its loop.
//!
//! Both ends are opened here, in the parent, close-on-exec; the spawn puts the slave on the
//! child's stdout and stderr. The slave is opened with `O_NOCTTY` and the child calls `setsid`
//! without `TIOCSCTTY`, so, as under Upstart, the pty is never the job's controlling
//! terminal: `isatty(1)` is true, `/dev/tty` is not there.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

/// `TIOCGPTPEER` (Linux 4.13): opens the slave of a master without going through its path.
const TIOCGPTPEER: libc::c_ulong = 0x5441;

/// A new pty pair.
#[derive(Debug)]
pub struct Pty {
    /// Read by the daemon; non-blocking and close-on-exec.
    pub master: OwnedFd,
    /// Given to the job as stdout and stderr; close-on-exec (the spawn dups it).
    pub slave: OwnedFd,
}

impl Pty {
    /// Opens `/dev/ptmx`, unlocks the slave and opens it without making it anyone's
    /// controlling terminal. Output processing is off (`OPOST` cleared: no `\r\n`), so the
    /// log holds exactly what the program wrote.
    pub fn open() -> io::Result<Pty> {
        let master = rustix::fs::open(
            "/dev/ptmx",
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )?;
        let unlock: libc::c_int = 0;
        // SAFETY: TIOCSPTLCK reads one int from a live local.
        let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &raw const unlock) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let slave = open_slave(&master)?;
        set_output_mode(&slave)?;
        Ok(Pty { master, slave })
    }
}

fn open_slave(master: &OwnedFd) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd or -1.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), TIOCGPTPEER, flags) };
    if fd >= 0 {
        // SAFETY: the ioctl returned a new fd that nothing else owns.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    // Older kernels: the slave by its number under /dev/pts.
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int into a live local.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &raw mut n) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let path = format!("/dev/pts/{n}");
    Ok(rustix::fs::open(
        path.as_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Leaves output as the program wrote it (no output processing: no `\n` to `\r\n`, and
/// the kernel copies each write instead of looking at every byte) and turns echo off
/// (nothing is ever typed into a job's pty).
fn set_output_mode(slave: &OwnedFd) -> io::Result<()> {
    // SAFETY: a zeroed termios is a valid value for tcgetattr to overwrite.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: tcgetattr writes into the live local.
    if unsafe { libc::tcgetattr(slave.as_raw_fd(), &raw mut t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    t.c_oflag &= !libc::OPOST;
    t.c_lflag &= !(libc::ECHO | libc::ECHONL);
    // SAFETY: tcsetattr reads the live local.
    if unsafe { libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &raw const t) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What one read of a master gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// This many bytes.
    Data(usize),
    /// Nothing now (the job has not written since).
    Empty,
    /// Every slave is closed: the job and everything it gave the pty to have gone.
    Closed,
}

/// One non-blocking read of a master into `buf`.
pub fn read_master(master: &OwnedFd, buf: &mut [u8]) -> io::Result<Read> {
    loop {
        match rustix::io::read(master, &mut *buf) {
            Ok(0) => return Ok(Read::Closed),
            Ok(n) => return Ok(Read::Data(n)),
            Err(rustix::io::Errno::AGAIN) => return Ok(Read::Empty),
            Err(rustix::io::Errno::INTR) => {}
            // EIO is how a master reports that the last slave went away.
            Err(rustix::io::Errno::IO) => return Ok(Read::Closed),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pty_carries_output_unchanged_and_reports_its_end() {
        let Pty { master, slave } = Pty::open().unwrap();
        rustix::io::write(&slave, b"one\ntwo\n").unwrap();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for _ in 0..100 {
            match read_master(&master, &mut buf).unwrap() {
                Read::Data(n) => got.extend_from_slice(&buf[..n]),
                Read::Empty if got.len() >= 8 => break,
                Read::Empty => std::thread::sleep(std::time::Duration::from_millis(5)),
                Read::Closed => panic!("closed early"),
            }
        }
        assert_eq!(got, b"one\ntwo\n", "no \\r added");
        drop(slave);
        assert_eq!(read_master(&master, &mut buf).unwrap(), Read::Closed);
    }

    #[test]
    fn the_slave_is_a_terminal_and_both_ends_close_on_exec() {
        let p = Pty::open().unwrap();
        // SAFETY: isatty only reads the fd's state.
        assert_eq!(unsafe { libc::isatty(p.slave.as_raw_fd()) }, 1);
        for fd in [&p.master, &p.slave] {
            let flags = rustix::io::fcntl_getfd(fd).unwrap();
            assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        }
    }
}
