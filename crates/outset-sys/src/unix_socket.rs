//! The control socket: a non-blocking Unix stream listener that reports the
//! peer's credentials so the daemon can authorise requests.

use std::fs;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// A bound, listening, non-blocking, close-on-exec Unix socket.
#[derive(Debug)]
pub struct Listener {
    inner: UnixListener,
}

/// An accepted connection with the peer's credentials (SO_PEERCRED).
#[derive(Debug)]
pub struct Conn {
    /// The non-blocking connection.
    pub stream: UnixStream,
    /// Peer's user id at connect time.
    pub uid: u32,
    /// Peer's process id at connect time.
    pub pid: i32,
}

impl Listener {
    /// Binds `path`, replacing a stale socket left by an earlier run.
    ///
    /// Creates the parent directory (0755) if needed and sets the socket
    /// file's permissions to `mode`. A non-socket file at `path` is kept and
    /// makes the bind fail rather than being deleted.
    pub fn bind(path: &Path, mode: u32) -> io::Result<Listener> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => fs::remove_file(path)?,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // std creates the socket with SOCK_CLOEXEC.
        let inner = UnixListener::bind(path)?;
        inner.set_nonblocking(true)?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        Ok(Listener { inner })
    }

    /// Accepts one pending connection; `None` when there is none right now.
    pub fn accept(&self) -> io::Result<Option<Conn>> {
        loop {
            match self.inner.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(true)?;
                    let (uid, pid) = peer_cred(&stream)?;
                    return Ok(Some(Conn { stream, uid, pid }));
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

/// The peer's uid and pid from SO_PEERCRED. The pid is 0 when the peer lives in a PID
/// namespace this process cannot see (a client outside a container whose init we are).
fn peer_cred(stream: &UnixStream) -> io::Result<(u32, i32)> {
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
    Ok((cred.uid, cred.pid))
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_accept_peercred() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ctl.sock");
        let l = Listener::bind(&path, 0o600).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert!(l.accept().unwrap().is_none());
        let _c = UnixStream::connect(&path).unwrap();
        let conn = l.accept().unwrap().unwrap();
        assert_eq!(conn.uid, rustix::process::getuid().as_raw());
        assert_eq!(conn.pid, i32::try_from(std::process::id()).unwrap());
        drop(l);
        // Stale socket is replaced.
        let _l2 = Listener::bind(&path, 0o666).unwrap();
    }

    #[test]
    fn refuses_to_delete_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(&path, b"data").unwrap();
        assert!(Listener::bind(&path, 0o600).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"data");
    }
}
