//! Listening sockets the daemon opens for socket-activated jobs (`start on socket …`):
//! created, bound and listening here, watched by the loop, and handed to the job's
//! processes as fd 3 (see `spawn`'s `pass_fd`).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use rustix::net::{AddressFamily, SocketAddrUnix, SocketType, sockopt};

/// Where a socket listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// A TCP address (`PROTO=inet` or `inet6`).
    Inet(SocketAddr),
    /// A Unix stream socket on a path.
    UnixPath(std::path::PathBuf),
    /// A Unix stream socket in the abstract namespace (`@name`, without the `@`).
    UnixAbstract(Vec<u8>),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Inet(a) => write!(f, "tcp {a}"),
            Endpoint::UnixPath(p) => write!(f, "unix {}", p.display()),
            Endpoint::UnixAbstract(n) => write!(f, "unix @{}", String::from_utf8_lossy(n)),
        }
    }
}

/// A close-on-exec stream socket listening on `at` (backlog SOMAXCONN). A Unix path that
/// holds a socket already (left by an earlier run) is replaced; any other file there is an
/// error. The socket is blocking, as daemons that take a socket expect.
pub fn listen(at: &Endpoint) -> io::Result<OwnedFd> {
    let family = match at {
        Endpoint::Inet(SocketAddr::V4(_)) => AddressFamily::INET,
        Endpoint::Inet(SocketAddr::V6(_)) => AddressFamily::INET6,
        Endpoint::UnixPath(_) | Endpoint::UnixAbstract(_) => AddressFamily::UNIX,
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    match at {
        Endpoint::Inet(addr) => {
            sockopt::set_socket_reuseaddr(&fd, true)?;
            if addr.is_ipv6() {
                // `PROTO=inet6` means IPv6 alone, so an `inet` job may share the port.
                sockopt::set_ipv6_v6only(&fd, true)?;
            }
            rustix::net::bind(&fd, addr)?;
        }
        Endpoint::UnixPath(path) => {
            remove_stale_socket(path)?;
            rustix::net::bind(&fd, &SocketAddrUnix::new(path.as_path())?)?;
            // Anyone may connect, as systemd's default SocketMode=0666: the job decides who
            // it serves, and a client the daemon's umask shut out would be refused.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
        }
        Endpoint::UnixAbstract(name) => {
            rustix::net::bind(&fd, &SocketAddrUnix::new_abstract_name(name)?)?;
        }
    }
    rustix::net::listen(&fd, libc::SOMAXCONN)?;
    Ok(fd)
}

/// Removes a socket file left at `path`; anything else there is refused.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether connections wait on the listening socket `fd` (a poll that does not block).
pub fn pending(fd: impl AsFd) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// The address a listening socket is bound to (its port, when 0 was asked for).
pub fn local_addr(fd: impl AsFd) -> io::Result<Option<SocketAddr>> {
    let addr = rustix::net::getsockname(fd)?;
    Ok(SocketAddr::try_from(addr).ok())
}

/// The listening socket a socket-activated program was given at `fd` (3, by the
/// protocol), taken over. Fails unless `fd` is an open socket.
pub fn inherited(fd: std::os::fd::RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fstat only reads the fd's metadata; a closed fd gives EBADF.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let st = rustix::fs::fstat(borrowed)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Socket {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd {fd} is not a socket"),
        ));
    }
    // SAFETY: `fd` is open (fstat succeeded) and was handed to this process to own (socket
    // activation); nothing else in the process holds it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Accepts one connection (blocking), close-on-exec.
pub fn accept(listener: impl AsFd) -> io::Result<OwnedFd> {
    Ok(rustix::net::accept_with(
        listener,
        rustix::net::SocketFlags::CLOEXEC,
    )?)
}

/// An IP address as a job wrote it (`ADDR=`), or none: any address of the family.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::{Read, Write};
    use std::os::linux::net::SocketAddrExt;

    #[test]
    fn tcp_listener_takes_a_connection_and_reports_it_pending() {
        let fd = listen(&Endpoint::Inet("127.0.0.1:0".parse().unwrap())).unwrap();
        let addr = local_addr(&fd).unwrap().unwrap();
        assert!(!pending(&fd));
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        // The kernel finishes the handshake before accept: the connection waits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !pending(&fd) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(pending(&fd));
        let l = std::net::TcpListener::from(fd);
        let (mut s, _) = l.accept().unwrap();
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"x");
    }

    #[test]
    fn unix_path_listener_replaces_a_stale_socket_but_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let first = listen(&Endpoint::UnixPath(path.clone())).unwrap();
        drop(first);
        // The file is left behind; a second listen replaces it.
        let fd = listen(&Endpoint::UnixPath(path.clone())).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        std::os::unix::net::UnixStream::connect(&path).unwrap();
        assert!(pending(&fd));
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let e = listen(&Endpoint::UnixPath(plain.clone())).unwrap_err();
        assert!(e.to_string().contains("not a socket"), "{e}");
        assert!(plain.exists(), "a file that is not a socket is left alone");
    }

    #[test]
    fn abstract_listener() {
        let name = format!("outset-test-{}", std::process::id()).into_bytes();
        let fd = listen(&Endpoint::UnixAbstract(name.clone())).unwrap();
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
        assert!(pending(&fd));
    }
}
