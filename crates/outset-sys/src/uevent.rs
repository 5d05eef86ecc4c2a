//! The uevent socket: `NETLINK_KOBJECT_UEVENT` bound to the kernel's group (1) and udevd's
//! monitor group (2), non-blocking; or, for tests, a Unix datagram socket carrying the same
//! bytes (`outset --uevent-socket`). Parsing is `outset_engine::uevent`'s.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SocketAddrUnix, SocketFlags, SocketType};

/// The kernel's uevent multicast group.
pub const GROUP_KERNEL: u32 = 1;
/// udevd's monitor multicast group (libudev's "udev" monitor).
pub const GROUP_UDEV: u32 = 2;
/// The largest message libudev sends or reads.
pub const MAX_MESSAGE: usize = 8192;
/// Receive buffer asked for, so a burst (a coldplug) waits in the kernel, not lost.
const RECV_BUFFER: usize = 4 << 20;
/// Where udevd's control socket is: udevd runs when it exists (libudev's own test).
const UDEV_CONTROL: &str = "/run/udev/control";

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// Netlink port 0: the kernel.
    Kernel,
    /// A netlink port of a process (udevd), on this group.
    Process { port: u32, groups: u32 },
    /// The test socket (no sender to check).
    Local,
}

pub struct UeventSocket {
    fd: OwnedFd,
    netlink: bool,
}

impl UeventSocket {
    /// The netlink socket, bound to `groups` (a bit mask of the groups above).
    pub fn netlink(groups: u32) -> io::Result<UeventSocket> {
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            Some(netlink::KOBJECT_UEVENT),
        )?;
        // Without the privilege to force it, the system's default size is kept.
        if rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, RECV_BUFFER).is_err() {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, RECV_BUFFER);
        }
        rustix::net::bind(&fd, &SocketAddrNetlink::new(0, groups))?;
        Ok(UeventSocket { fd, netlink: true })
    }

    /// A Unix datagram socket bound at `path` (a test hook: datagrams carry uevent bytes).
    pub fn unix(path: &Path) -> io::Result<UeventSocket> {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        let _ = std::fs::remove_file(path);
        rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
        Ok(UeventSocket { fd, netlink: false })
    }

    /// One message into `buf`: its length and sender, `None` when none is waiting. A
    /// message longer than `buf` is an `InvalidData` error (it is dropped); `ENOBUFS` means
    /// messages were lost to a full buffer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Sender)>> {
        let (len, full, addr) = match rustix::net::recvfrom(&self.fd, &mut *buf, RecvFlags::TRUNC) {
            Ok(r) => r,
            Err(rustix::io::Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if full > len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("uevent of {full} bytes dropped (larger than {len})"),
            ));
        }
        if !self.netlink {
            return Ok(Some((len, Sender::Local)));
        }
        let addr = addr
            .and_then(|a| SocketAddrNetlink::try_from(a).ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "uevent without sender"))?;
        let sender = match addr.pid() {
            0 => Sender::Kernel,
            port => Sender::Process {
                port,
                groups: addr.groups(),
            },
        };
        Ok(Some((len, sender)))
    }
}

impl AsFd for UeventSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Whether a receive error says messages were lost to a full buffer (`ENOBUFS`).
pub fn is_overflow(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOBUFS)
}

/// Whether udevd runs (its control socket exists), as libudev decides.
pub fn udevd_running() -> bool {
    Path::new(UDEV_CONTROL).exists()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn issue17_item3_unix_hook_carries_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uevents");
        let s = UeventSocket::unix(&path).unwrap();
        let mut buf = [0u8; MAX_MESSAGE];
        assert!(s.recv(&mut buf).unwrap().is_none());
        let tx = std::os::unix::net::UnixDatagram::unbound().unwrap();
        tx.send_to(b"add@/x\0ACTION=add\0", &path).unwrap();
        let (len, sender) = s.recv(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..len], b"add@/x\0ACTION=add\0");
        assert_eq!(sender, Sender::Local);
        tx.send_to(&[b'a'; 100], &path).unwrap();
        let err = s.recv(&mut buf[..10]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn issue17_item3_netlink_socket_opens() {
        // Binding the uevent groups needs no privilege (the family lets anyone listen).
        let s = UeventSocket::netlink(GROUP_KERNEL | GROUP_UDEV).unwrap();
        let mut buf = [0u8; MAX_MESSAGE];
        // Nothing is waiting, or a real uevent is: either way, no block and no error.
        let _ = s.recv(&mut buf).unwrap();
    }
}
