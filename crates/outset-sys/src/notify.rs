//! sd_notify receiver: one datagram socket per job instance, in the abstract namespace (no
//! file to clean up), with the sender's credentials and a pidfd for it attached to every
//! message.
//!
//! Names are random (128 bits from getrandom): any local user can bind an abstract name, so a
//! predictable one could be taken first and keep a job from starting. A taken name is retried
//! with a fresh one.
//!
//! Every file descriptor a message carries (`FDSTORE=1`, `BARRIER=1`, or anything else) is
//! owned from the moment it is received and closed before [`NotifySocket::recv`] returns:
//! the daemon keeps none, and closing a barrier's fd is what `sd_notify_barrier` waits for.
//! rustix's `recvmsg` (1.1) would own `SCM_RIGHTS` but skip `SCM_PIDFD` unclosed, leaking
//! that fd, so the receive and the control-message walk stay on libc here; the socket's
//! set-up uses rustix's safe calls (only `SO_PASSPIDFD`, which rustix does not name, and
//! `getrandom`, whose rustix feature outset does not build, stay on libc).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The largest message accepted; longer ones are dropped (sd_notify messages are tiny).
pub const MAX_MESSAGE: usize = 4096;

/// Descriptors received per message beyond this are closed by the kernel (MSG_CTRUNC).
const MAX_FDS: usize = 64;

/// `SO_PASSPIDFD` / `SCM_PIDFD` (Linux 6.5), not in the libc crate yet.
const SO_PASSPIDFD: libc::c_int = 76;
const SCM_PIDFD: libc::c_int = 0x04;

/// Tries at binding a fresh random name before giving up.
const BIND_TRIES: usize = 16;

/// One received notification.
#[derive(Debug)]
pub struct Datagram {
    pub text: String,
    pub pid: u32,
    pub uid: u32,
    /// The sender, as a pidfd the kernel made when the message was sent: it names that
    /// process even after it has exited and its PID was reused (`None` on kernels without
    /// SO_PASSPIDFD).
    pub pidfd: Option<OwnedFd>,
    /// How many other descriptors came with the message; all are closed already.
    pub fds_closed: usize,
}

pub struct NotifySocket {
    fd: OwnedFd,
    name: String,
}

/// `bytes` random bytes from the kernel, as lower-case hex.
fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Sets a boolean socket option rustix has no call for (`SO_PASSPIDFD`).
fn set_flag(fd: &OwnedFd, option: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a valid c_int for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl NotifySocket {
    /// Binds `@<prefix>/<random>`, retrying with another name while one is taken.
    pub fn bind_random(prefix: &str) -> io::Result<NotifySocket> {
        let mut last = None;
        for _ in 0..BIND_TRIES {
            let name = format!("{prefix}/{}", random_hex(16)?);
            match NotifySocket::bind_abstract(&name) {
                Ok(s) => return Ok(s),
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EADDRINUSE)))
    }

    /// Binds `@name`, non-blocking and close-on-exec, with SO_PASSCRED (and SO_PASSPIDFD
    /// where the kernel has it) on.
    pub fn bind_abstract(name: &str) -> io::Result<NotifySocket> {
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        rustix::net::sockopt::set_socket_passcred(&fd, true)?;
        if let Err(e) = set_flag(&fd, SO_PASSPIDFD) {
            // Older kernels: membership falls back to the sender's PID.
            log::debug!("SO_PASSPIDFD unavailable: {e}");
        }
        // sun_path holds the leading 0 of the abstract namespace and the name.
        let sun_path =
            std::mem::size_of::<libc::sockaddr_un>() - std::mem::size_of::<libc::sa_family_t>();
        if name.len() + 1 > sun_path {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "notify socket name too long",
            ));
        }
        let addr = SocketAddrUnix::new_abstract_name(name.as_bytes())?;
        rustix::net::bind(&fd, &addr)?;
        Ok(NotifySocket {
            fd,
            name: name.to_string(),
        })
    }

    /// A socket a previous image handed over (re-exec) with the name it was bound to.
    pub fn from_fd(fd: std::os::fd::OwnedFd, name: &str) -> NotifySocket {
        NotifySocket {
            fd,
            name: name.to_string(),
        }
    }

    /// The name it is bound to (without the leading `@`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn address(&self) -> String {
        format!("@{}", self.name)
    }

    /// The next datagram, `None` when there is none. Oversized or credential-less messages
    /// come back as errors of kind InvalidData, to be logged and ignored; the descriptors
    /// they carried are closed all the same.
    pub fn recv(&self) -> io::Result<Option<Datagram>> {
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        // Credentials, one pidfd (an int, as one SCM_RIGHTS descriptor) and MAX_FDS more.
        let space = rustix::cmsg_space!(ScmCredentials(1), ScmRights(1), ScmRights(MAX_FDS));
        // u64 elements: the cmsghdr alignment.
        let mut control = vec![0u64; space.div_ceil(8)];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is valid; the pointers are set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() * 8;
        // SAFETY: `msg` points at live buffers of the sizes it states.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(e),
            };
        }
        let n = n as usize;
        let mut cred = None;
        let mut pidfd = None;
        let mut fds: Vec<OwnedFd> = Vec::new();
        // SAFETY: CMSG_* walk the control buffer recvmsg filled, within msg_controllen;
        // every descriptor the kernel installed is taken into an OwnedFd exactly once.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                let len = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::SOL_SOCKET, libc::SCM_CREDENTIALS)
                        if len >= std::mem::size_of::<libc::ucred>() =>
                    {
                        cred = Some(std::ptr::read_unaligned(data.cast::<libc::ucred>()));
                    }
                    (libc::SOL_SOCKET, SCM_PIDFD) if len >= std::mem::size_of::<libc::c_int>() => {
                        let raw = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                        if raw >= 0 {
                            pidfd = Some(OwnedFd::from_raw_fd(raw));
                        }
                    }
                    (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                        let count = len / std::mem::size_of::<libc::c_int>();
                        for i in 0..count {
                            let raw = std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                            if raw >= 0 {
                                fds.push(OwnedFd::from_raw_fd(raw));
                            }
                        }
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let fds_closed = fds.len();
        // Closed here: nothing the sender passes stays open in the daemon.
        drop(fds);
        if n > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("notify message of {n} bytes dropped (limit {MAX_MESSAGE})"),
            ));
        }
        let Some(cred) = cred else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "notify message without credentials dropped",
            ));
        };
        Ok(Some(Datagram {
            text: String::from_utf8_lossy(&buf[..n]).into_owned(),
            pid: u32::try_from(cred.pid).unwrap_or(0),
            uid: cred.uid,
            pidfd,
            fds_closed,
        }))
    }
}
impl AsFd for NotifySocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::UnixDatagram;

    fn abstract_addr(sock: &NotifySocket) -> std::os::unix::net::SocketAddr {
        let name = sock.address();
        let name = name.strip_prefix('@').unwrap();
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
    }

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    #[test]
    fn receives_with_credentials() {
        let sock = NotifySocket::bind_random("outset-test").unwrap();
        assert!(sock.recv().unwrap().is_none());
        let client = UnixDatagram::unbound().unwrap();
        let addr = abstract_addr(&sock);
        client.send_to_addr(b"READY=1\nSTATUS=hi", &addr).unwrap();
        let d = sock.recv().unwrap().unwrap();
        assert_eq!(d.text, "READY=1\nSTATUS=hi");
        assert_eq!(d.pid, std::process::id());
        assert_eq!(d.fds_closed, 0);
        client
            .send_to_addr(&vec![b'x'; MAX_MESSAGE + 10], &addr)
            .unwrap();
        assert_eq!(sock.recv().unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(sock.recv().unwrap().is_none());
    }

    /// Issue 10 item 7: names are random, and one taken by someone else is not reused.
    #[test]
    fn issue10_item7_names_are_unguessable() {
        let a = NotifySocket::bind_random("outset-test").unwrap();
        let b = NotifySocket::bind_random("outset-test").unwrap();
        assert_ne!(a.address(), b.address());
        let tail = a.address().rsplit('/').next().unwrap().to_string();
        assert_eq!(tail.len(), 32);
        assert!(tail.bytes().all(|c| c.is_ascii_hexdigit()));
        // Taking a bound name fails with EADDRINUSE, which bind_random retries past.
        let taken = a.address();
        let err = NotifySocket::bind_abstract(taken.strip_prefix('@').unwrap()).err();
        assert_eq!(err.and_then(|e| e.raw_os_error()), Some(libc::EADDRINUSE));
    }

    /// Issue 9 item 8: descriptors sent with a message (FDSTORE=1, BARRIER=1) are closed,
    /// so the daemon's table does not grow and a barrier's peer sees the hang-up.
    #[test]
    fn issue9_item8_passed_fds_are_closed() {
        use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let sock = NotifySocket::bind_random("outset-test").unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.connect_addr(&abstract_addr(&sock)).unwrap();
        let before = open_fds();
        for round in 0..20 {
            let (barrier_read, barrier_write) = rustix::pipe::pipe().unwrap();
            let extra = std::fs::File::open("/dev/null").unwrap();
            {
                let fds = [barrier_write.as_fd(), extra.as_fd()];
                let mut space =
                    [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
                let mut cmsg = SendAncillaryBuffer::new(&mut space);
                assert!(cmsg.push(SendAncillaryMessage::ScmRights(&fds)));
                let text: &[u8] = if round % 2 == 0 {
                    b"BARRIER=1"
                } else {
                    b"FDSTORE=1"
                };
                rustix::net::sendmsg(
                    &client,
                    &[std::io::IoSlice::new(text)],
                    &mut cmsg,
                    SendFlags::empty(),
                )
                .unwrap();
            }
            drop(barrier_write);
            drop(extra);
            let d = sock.recv().unwrap().unwrap();
            assert_eq!(d.fds_closed, 2);
            drop(d);
            // The barrier returns: every write end is closed, so the read end sees EOF.
            let mut b = [0u8; 1];
            assert_eq!(rustix::io::read(&barrier_read, &mut b).unwrap(), 0);
        }
        assert!(
            open_fds() <= before,
            "descriptors leaked: {before} -> {}",
            open_fds()
        );
    }

    /// Issue 9 item 7: the sender's pidfd names its cgroup even after it has exited and been
    /// reaped, so a short-lived helper's READY=1 can be told to its job.
    #[test]
    fn issue9_item7_sender_cgroup_known_after_exit() {
        use std::os::unix::fs::MetadataExt;
        let (mount, own) = (crate::cgroup::cgroup2_mount(), crate::process::own_cgroup());
        let (Some(mount), Some(own)) = (mount, own) else {
            crate::testutil::require(false, "needs a cgroup2 mount");
            return;
        };
        let sock = NotifySocket::bind_random("outset-test").unwrap();
        let name = sock.address();
        let status = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); \
                 s.sendto(b'READY=1', '\\0' + sys.argv[1])",
                name.strip_prefix('@').unwrap(),
            ])
            .status();
        match status {
            Ok(s) => assert!(s.success()),
            Err(e) => {
                crate::testutil::require(false, &format!("needs python3: {e}"));
                return;
            }
        }
        let d = sock.recv().unwrap().unwrap();
        assert_eq!(d.text, "READY=1");
        let Some(pidfd) = d.pidfd else {
            crate::testutil::require(false, "needs SO_PASSPIDFD (Linux 6.5)");
            return;
        };
        let id = crate::pidfd::cgroup_id(pidfd.as_fd()).unwrap();
        assert_eq!(id, std::fs::metadata(mount.join(own)).unwrap().ino());
    }
}
