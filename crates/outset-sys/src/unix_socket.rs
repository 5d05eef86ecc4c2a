//! The control socket: a non-blocking Unix stream listener that reports the
//! peer's credentials so the daemon can authorise requests.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// A bound, listening, non-blocking, close-on-exec Unix socket.
#[derive(Debug)]
pub struct Listener {
    inner: UnixListener,
    /// An abstract socket has no file permissions: when set, only this uid and root are
    /// let in (a per-user daemon's socket), as a mode-0600 socket file would.
    only_uid: Option<u32>,
}

/// An accepted connection with the peer's credentials (SO_PEERCRED).
#[derive(Debug)]
pub struct Conn {
    /// The non-blocking connection.
    pub stream: UnixStream,
    /// Peer's user id at connect time.
    pub uid: u32,
    /// Peer's primary group id at connect time.
    pub gid: u32,
    /// Peer's process id at connect time.
    pub pid: i32,
    /// Came through an abstract socket meant for another uid (see
    /// [`Listener::bind_abstract`]): to be turned away.
    pub foreign: bool,
}

/// The credentials SO_PEERCRED gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    pub uid: u32,
    pub gid: u32,
    /// 0 when the peer lives in a PID namespace this process cannot see.
    pub pid: i32,
}

fn untrusted(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, what)
}

/// Checks that `dir` can only be changed by `uid` or root: owned by one of them (and so is
/// the symlink, if `dir` is one), and not group- or world-writable unless sticky (as `/tmp`,
/// where nobody can remove or rename another user's file). Anyone else able to write there
/// could swap the socket for their own.
pub fn check_dir(dir: &Path, uid: u32) -> io::Result<()> {
    let link = fs::symlink_metadata(dir)?;
    if link.file_type().is_symlink() && link.uid() != uid && link.uid() != 0 {
        return Err(untrusted(format!(
            "{} is a symlink owned by uid {}, not by uid {uid} or root",
            dir.display(),
            link.uid()
        )));
    }
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(untrusted(format!("{} is not a directory", dir.display())));
    }
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(untrusted(format!(
            "{} is owned by uid {}, not by uid {uid} or root",
            dir.display(),
            meta.uid()
        )));
    }
    let sticky = meta.mode() & 0o1000 != 0;
    if meta.mode() & 0o022 != 0 && !sticky {
        return Err(untrusted(format!(
            "{} is writable by others (mode {:o})",
            dir.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Checks that the socket at `path` was made by `uid` or root in a directory only they can
/// change ([`check_dir`]), so a client never talks to a socket someone else put there.
pub fn check_socket(path: &Path, uid: u32) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(untrusted(format!("{} is not a socket", path.display())));
    }
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(untrusted(format!(
            "{} is owned by uid {}, not by uid {uid} or root",
            path.display(),
            meta.uid()
        )));
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => check_dir(dir, uid),
        None => check_dir(Path::new("."), uid),
    }
}

impl Listener {
    /// Binds `path` with permissions `mode`, replacing a stale socket left by an earlier run.
    ///
    /// A missing parent directory is created with `dir_mode`; the parent must pass
    /// [`check_dir`] for this process's euid. A socket at `path` that still answers belongs
    /// to a live daemon: binding fails with `AddrInUse` rather than taking it over. A
    /// non-socket file at `path` is kept and makes the bind fail rather than being deleted.
    /// The mode is applied through the umask at creation, so nothing is ever chmod-ed by
    /// path (which would follow a symlink swapped in meanwhile).
    pub fn bind(path: &Path, mode: u32, dir_mode: u32) -> io::Result<Listener> {
        let euid = rustix::process::geteuid().as_raw();
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if fs::symlink_metadata(parent).is_err() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(dir_mode)
                .create(parent)?;
        }
        check_dir(parent, euid)?;
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        "another daemon answers on this socket; not taking it over",
                    ));
                }
                fs::remove_file(path)?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mask = rustix::fs::Mode::from_bits_truncate(!mode & 0o777);
        let old = rustix::process::umask(mask);
        // std creates the socket with SOCK_CLOEXEC.
        let bound = UnixListener::bind(path);
        rustix::process::umask(old);
        let inner = bound?;
        inner.set_nonblocking(true)?;
        Ok(Listener {
            inner,
            only_uid: None,
        })
    }

    /// Listens on the abstract socket `name` (no file: it survives mounts over any
    /// directory, as Upstart's `@/com/ubuntu/upstart`). With `only_uid`, other users' (but
    /// root's) connections are closed at once. A name in use fails with `AddrInUse`.
    pub fn bind_abstract(name: &str, only_uid: Option<u32>) -> io::Result<Listener> {
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        let addr = SocketAddrUnix::new_abstract_name(name.as_bytes())?;
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, 128)?;
        Ok(Listener {
            inner: UnixListener::from(fd),
            only_uid,
        })
    }

    /// Accepts one pending connection; `None` when there is none right now.
    pub fn accept(&self) -> io::Result<Option<Conn>> {
        loop {
            match self.inner.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    let cred = peer_cred(&stream)?;
                    let foreign = self
                        .only_uid
                        .is_some_and(|uid| cred.uid != uid && cred.uid != 0);
                    return Ok(Some(Conn {
                        stream,
                        uid: cred.uid,
                        gid: cred.gid,
                        pid: cred.pid,
                        foreign,
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The peer gave up before we accepted: try the next one.
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether an accept error means the process (EMFILE) or system (ENFILE) is out of file
/// descriptors (or the kernel of buffers): waiting is the only cure.
pub fn out_of_fds(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The peer's credentials from SO_PEERCRED.
///
/// Not rustix's `socket_peercred`: its `UCred` holds a non-zero `Pid`, but the kernel reports
/// pid 0 for a peer outside this process's PID namespace (a host client of outset running as
/// a container's init), which that type cannot hold.
pub fn peer_cred(stream: &UnixStream) -> io::Result<PeerCred> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the fd is a live socket; `cred` and `len` are valid for writes of their sizes.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred {
        uid: cred.uid,
        gid: cred.gid,
        pid: cred.pid,
    })
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn bind_accept_peercred() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ctl.sock");
        let l = Listener::bind(&path, 0o600, 0o700).unwrap();
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let sub = fs::metadata(dir.path().join("sub")).unwrap();
        assert_eq!(sub.permissions().mode() & 0o077, 0);
        assert!(l.accept().unwrap().is_none());
        let _c = UnixStream::connect(&path).unwrap();
        let conn = l.accept().unwrap().unwrap();
        assert_eq!(conn.uid, rustix::process::getuid().as_raw());
        assert_eq!(conn.gid, rustix::process::getgid().as_raw());
        assert_eq!(conn.pid, i32::try_from(std::process::id()).unwrap());
        drop(l);
        // A stale socket (nobody listening) is replaced, with the new mode.
        let _l2 = Listener::bind(&path, 0o666, 0o700).unwrap();
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o666);
        check_socket(&path, rustix::process::getuid().as_raw()).unwrap();
    }

    #[test]
    fn issue9_item11_live_socket_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctl.sock");
        let live = Listener::bind(&path, 0o600, 0o700).unwrap();
        let err = Listener::bind(&path, 0o600, 0o700).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        // The first listener still gets connections.
        let _c = UnixStream::connect(&path).unwrap();
        assert!(live.accept().unwrap().is_some());
    }

    #[test]
    fn issue10_item8_writable_or_foreign_dirs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let err = Listener::bind(&open.join("ctl.sock"), 0o600, 0o700).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert!(!open.join("ctl.sock").exists());
        // Sticky and world-writable (as /tmp) is fine: nobody can swap another's file.
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        check_dir(&open, rustix::process::getuid().as_raw()).unwrap();
        // Owned by someone else.
        if rustix::process::getuid().is_root() {
            let theirs = dir.path().join("theirs");
            fs::create_dir(&theirs).unwrap();
            std::os::unix::fs::chown(&theirs, Some(65534), None).unwrap();
            let err = check_dir(&theirs, 0).unwrap_err();
            assert!(err.to_string().contains("owned by uid 65534"), "{err}");
            // A symlink someone else owns, to a good directory, is refused too.
            let good = dir.path().join("good");
            fs::create_dir(&good).unwrap();
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&good, &link).unwrap();
            std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
            assert!(check_dir(&link, 0).is_err());
            assert!(check_dir(&good, 0).is_ok());
        }
    }

    #[test]
    fn issue13_item3_abstract_socket_accepts_and_is_exclusive() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("/org/outset/test/{}", std::process::id());
        let l = Listener::bind_abstract(&name, Some(rustix::process::geteuid().as_raw())).unwrap();
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let _c = UnixStream::connect_addr(&addr).unwrap();
        let conn = l.accept().unwrap().unwrap();
        assert_eq!(conn.pid, i32::try_from(std::process::id()).unwrap());
        assert!(!conn.foreign);
        let err = Listener::bind_abstract(&name, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(l);
        // Gone with its listener: nothing is left behind to clean up.
        assert!(UnixStream::connect_addr(&addr).is_err());
    }

    #[test]
    fn refuses_to_delete_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(&path, b"data").unwrap();
        assert!(Listener::bind(&path, 0o600, 0o700).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"data");
        assert!(check_socket(&path, 0).is_err());
    }
}
