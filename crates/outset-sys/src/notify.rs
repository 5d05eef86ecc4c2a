//! sd_notify receiver: one datagram socket per job instance, in the abstract namespace (no
//! file to clean up), with the sender's credentials attached to every message.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The largest message accepted; longer ones are dropped (sd_notify messages are tiny).
pub const MAX_MESSAGE: usize = 4096;

/// One received notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub text: String,
    pub pid: u32,
    pub uid: u32,
}

pub struct NotifySocket {
    fd: OwnedFd,
    name: String,
}

impl NotifySocket {
    /// Binds `@name`, non-blocking and close-on-exec, with SO_PASSCRED on.
    pub fn bind_abstract(name: &str) -> io::Result<NotifySocket> {
        // SAFETY: socket() takes plain integers and returns a new descriptor or -1.
        let raw = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        // SAFETY: `one` is a valid c_int for the duration of the call.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PASSCRED,
                (&raw const one).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: an all-zero sockaddr_un is valid; it is filled in below.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = name.as_bytes();
        if bytes.len() + 1 > addr.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "notify socket name too long",
            ));
        }
        // sun_path[0] stays 0: the abstract namespace.
        for (i, b) in bytes.iter().enumerate() {
            addr.sun_path[i + 1] = *b as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sa_family_t>() + 1 + bytes.len();
        // SAFETY: `addr` is a valid sockaddr_un and `len` does not exceed its size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast(),
                len as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(NotifySocket {
            fd,
            name: name.to_string(),
        })
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn address(&self) -> String {
        format!("@{}", self.name)
    }

    /// The next datagram, `None` when there is none. Oversized or credential-less messages
    /// come back as errors of kind InvalidData, to be logged and ignored.
    pub fn recv(&self) -> io::Result<Option<Datagram>> {
        let mut buf = vec![0u8; MAX_MESSAGE + 1];
        // Room for one SCM_CREDENTIALS message, 8-byte aligned.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is valid; the pointers are set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: `msg` points at live buffers of the sizes it states.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(None),
                _ => Err(e),
            };
        }
        let n = n as usize;
        if n > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("notify message of {n} bytes dropped (limit {MAX_MESSAGE})"),
            ));
        }
        let mut cred = None;
        // SAFETY: CMSG_* walk the control buffer recvmsg filled, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_CREDENTIALS {
                    let u: libc::ucred = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    cred = Some(u);
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
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

    #[test]
    fn receives_with_credentials() {
        let name = format!("outset-notify-test-{}", std::process::id());
        let sock = NotifySocket::bind_abstract(&name).unwrap();
        assert_eq!(sock.address(), format!("@{name}"));
        assert!(sock.recv().unwrap().is_none());
        let client = UnixDatagram::unbound().unwrap();
        // Abstract address: a leading NUL byte.
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        client.send_to_addr(b"READY=1\nSTATUS=hi", &addr).unwrap();
        let d = sock.recv().unwrap().unwrap();
        assert_eq!(d.text, "READY=1\nSTATUS=hi");
        assert_eq!(d.pid, std::process::id());
        client
            .send_to_addr(&vec![b'x'; MAX_MESSAGE + 10], &addr)
            .unwrap();
        assert_eq!(sock.recv().unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(sock.recv().unwrap().is_none());
    }
}
