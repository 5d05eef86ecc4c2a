//! File descriptors over Unix stream sockets (`SCM_RIGHTS`): the receive the D-Bus
//! connections use (fds sent with a message, as `EmitEventWithFile` does), and the send
//! tests and tools use to play a client.
//!
//! Every fd received is close-on-exec from the moment it arrives (`MSG_CMSG_CLOEXEC`), so
//! no job process inherits one by accident, and owned (`OwnedFd`), so it is closed when
//! whoever holds it drops it. The receive is libc's `recvmsg` with a control-message walk,
//! as in `notify.rs`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What one `recvmsg` gave.
#[derive(Debug, Default)]
pub struct Received {
    /// Bytes read into the buffer (0: the peer closed the stream).
    pub len: usize,
    /// The descriptors that came with them.
    pub fds: Vec<OwnedFd>,
    /// More descriptors were sent than `max_fds`: the rest were closed (`MSG_CTRUNC`).
    pub truncated: bool,
}

/// One non-blocking-aware read from `sock` into `buf`, taking at most `max_fds`
/// descriptors (any beyond that are closed, by the kernel or here). `WouldBlock` comes back as an error
/// of that kind, as from `read`.
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8], max_fds: usize) -> io::Result<Received> {
    let per_fd = std::mem::size_of::<libc::c_int>();
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE((max_fds.max(1) * per_fd) as u32) } as usize;
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
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: CMSG_* walk the control buffer recvmsg filled, within msg_controllen; every
    // descriptor the kernel installed is taken into an OwnedFd exactly once.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if ((*c).cmsg_level, (*c).cmsg_type) == (libc::SOL_SOCKET, libc::SCM_RIGHTS) {
                let data = libc::CMSG_DATA(c);
                let len = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                for i in 0..len / per_fd {
                    let raw = std::ptr::read_unaligned(data.cast::<libc::c_int>().add(i));
                    if raw >= 0 {
                        fds.push(OwnedFd::from_raw_fd(raw));
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    // The buffer's padding may hold one more than asked for: past `max_fds`, closed here.
    let truncated = msg.msg_flags & libc::MSG_CTRUNC != 0 || fds.len() > max_fds;
    fds.truncate(max_fds);
    Ok(Received {
        len: n as usize,
        fds,
        truncated,
    })
}

/// Writes `bytes` to `sock` with `fds` attached to them (all in one `sendmsg`); returns
/// how many bytes went.
pub fn send_with_fds(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let mut space =
        vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !cmsg.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many fds"));
    }
    Ok(rustix::net::sendmsg(
        sock,
        &[io::IoSlice::new(bytes)],
        &mut cmsg,
        SendFlags::NOSIGNAL,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    fn cloexec(fd: &OwnedFd) -> bool {
        rustix::io::fcntl_getfd(fd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    }

    /// Issue 16: fds sent with bytes arrive with them, close-on-exec, and usable.
    #[test]
    fn issue16_fds_arrive_cloexec_with_their_bytes() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, mut w) = std::io::pipe().unwrap();
        let sent = send_with_fds(a.as_fd(), b"hello", &[r.as_fd()]).unwrap();
        assert_eq!(sent, 5);
        drop(r);
        let mut buf = [0u8; 64];
        let got = recv_with_fds(b.as_fd(), &mut buf, 4).unwrap();
        assert_eq!(&buf[..got.len], b"hello");
        assert_eq!(got.fds.len(), 1);
        assert!(!got.truncated);
        assert!(cloexec(&got.fds[0]));
        w.write_all(b"data").unwrap();
        drop(w);
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::fs::File::from(got.fds.into_iter().next().unwrap()),
            &mut text,
        )
        .unwrap();
        assert_eq!(text, "data");
        // Plain bytes: no fds.
        (&a).write_all(b"x").unwrap();
        let got = recv_with_fds(b.as_fd(), &mut buf, 4).unwrap();
        assert_eq!((got.len, got.fds.len()), (1, 0));
    }

    /// Issue 16: more fds than asked for are closed by the kernel and reported.
    #[test]
    fn issue16_too_many_fds_are_truncated() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, _w) = std::io::pipe().unwrap();
        let many = [r.as_fd(), r.as_fd(), r.as_fd()];
        send_with_fds(a.as_fd(), b"m", &many).unwrap();
        let mut buf = [0u8; 8];
        let got = recv_with_fds(b.as_fd(), &mut buf, 1).unwrap();
        assert_eq!(got.len, 1);
        assert!(got.fds.len() <= 1);
        assert!(got.truncated);
    }
}
