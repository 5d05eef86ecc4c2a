//! Talking to the daemon: one request line out, one response line back.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use outset_proto::{Command, Request, Response};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Unable to connect to outset at {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Refusing to talk to outset at {}: {reason}", path.display())]
    Untrusted { path: PathBuf, reason: String },
    #[error("Lost connection to outset: {0}")]
    Io(#[from] std::io::Error),
    #[error("outset closed the connection without replying")]
    NoReply,
    #[error("Malformed reply from outset: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Sends `cmd` to the daemon at `socket` and waits for its reply. There is deliberately no
/// timeout: a waiting start or stop takes as long as the job does.
pub fn request(socket: &Path, cmd: Command) -> Result<Response, ClientError> {
    let mut stream = connect(socket)?;
    let mut line = serde_json::to_string(&Request::new(cmd))?;
    line.push('\n');
    // A daemon that turns the connection away replies and closes before reading: the
    // write may fail, and its reply is still there to read.
    let wrote = stream
        .write_all(line.as_bytes())
        .and_then(|()| stream.flush());
    let mut reply = String::new();
    let read = BufReader::new(stream).read_line(&mut reply);
    match (read, wrote) {
        (Ok(n), _) if n > 0 => Ok(serde_json::from_str(reply.trim_end())?),
        (_, Err(e)) | (Err(e), _) => Err(e.into()),
        (Ok(_), Ok(())) => Err(ClientError::NoReply),
    }
}

/// Connects to the daemon at `socket` after checking that nobody but the caller or root
/// could have put it there (the socket and its directory), and that the process answering
/// runs as the caller or root: a forged daemon's answers are never printed.
pub fn connect(socket: &Path) -> Result<UnixStream, ClientError> {
    let me = outset_sys::process::euid();
    let untrusted = |reason: String| ClientError::Untrusted {
        path: socket.to_path_buf(),
        reason,
    };
    match outset_sys::unix_socket::check_socket(socket, me) {
        Ok(()) => {}
        // A trust refusal (someone else's socket or directory); an OS error (EACCES: the
        // caller may not look there) is only a path that does not work.
        Err(e)
            if e.kind() == std::io::ErrorKind::PermissionDenied && e.raw_os_error().is_none() =>
        {
            return Err(untrusted(e.to_string()));
        }
        // A missing or unreachable socket is the connect error below (after the abstract
        // socket is tried).
        Err(_) => {}
    }
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        // The file is gone or dead (a mount over its directory hides it): the daemon's
        // abstract socket, checked by its peer's uid below like the path's.
        Err(source) => connect_abstract(socket).ok_or(ClientError::Connect {
            path: socket.to_path_buf(),
            source,
        })?,
    };
    let peer = outset_sys::unix_socket::peer_cred(&stream)?;
    if peer.uid != me && peer.uid != 0 {
        return Err(untrusted(format!(
            "the process listening runs as uid {}, not as uid {me} or root",
            peer.uid
        )));
    }
    Ok(stream)
}

/// What decides the socket: `--socket`, `--system`, `--user`/`--session`.
pub struct SocketChoice {
    pub flag: Option<PathBuf>,
    pub system: bool,
    pub user: bool,
}

/// The socket to talk to: `--socket`; else the system daemon's for `--system` (even from
/// a session job, whose $OUTSET_SOCKET names its session daemon); else $OUTSET_SOCKET; else
/// the default, where $UPSTART_SESSION (set in a session's jobs) means the user's daemon,
/// as it means the session to initctl.
pub fn choose_socket(c: &SocketChoice) -> PathBuf {
    choose_socket_in(
        c,
        std::env::var_os(outset_proto::socket::SOCKET_ENV).as_deref(),
        std::env::var_os("UPSTART_SESSION").as_deref(),
        current_uid(),
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
    )
}

/// [`choose_socket`] with the environment explicit, for testing.
fn choose_socket_in(
    c: &SocketChoice,
    outset_socket: Option<&OsStr>,
    upstart_session: Option<&OsStr>,
    uid: Option<u32>,
    runtime_dir: Option<&OsStr>,
) -> PathBuf {
    if let Some(p) = &c.flag {
        return p.clone();
    }
    if c.system {
        return PathBuf::from(outset_proto::socket::SYSTEM_SOCKET);
    }
    if let Some(p) = outset_socket.filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let in_session = upstart_session.is_some_and(|s| !s.is_empty());
    socket_for(c.user || in_session, uid, runtime_dir)
}

/// The daemon's abstract socket for `socket` (`outset_proto::socket::abstract_name`).
fn connect_abstract(socket: &Path) -> Option<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let absolute = std::path::absolute(socket).ok()?;
    let name = outset_proto::socket::abstract_name(&absolute)?;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
    UnixStream::connect_addr(&addr).ok()
}

/// The real user id, read from `/proc/self`'s owner to avoid libc; `None` without procfs.
fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The socket to use when none is given: the per-user daemon's for `--user` or any non-root
/// user, the system daemon's otherwise.
pub fn default_socket(user: bool) -> PathBuf {
    socket_for(
        user,
        current_uid(),
        std::env::var_os("XDG_RUNTIME_DIR").as_deref(),
    )
}

/// [`default_socket`] with its inputs explicit, for testing. An unknown uid counts as root.
fn socket_for(user: bool, uid: Option<u32>, runtime_dir: Option<&OsStr>) -> PathBuf {
    let uid = uid.unwrap_or(0);
    outset_proto::socket::default_socket(user || uid != 0, uid, runtime_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule itself is `outset_proto::socket`'s; the client adds that a non-root caller
    /// without `--user` means its own daemon, and that an unknown uid counts as root.
    #[test]
    fn default_sockets() {
        let x = Some(OsStr::new("/x"));
        assert_eq!(socket_for(false, None, x), Path::new("/run/outset/control"));
        assert_eq!(socket_for(true, Some(0), x), Path::new("/x/outset/control"));
        assert_eq!(
            socket_for(false, Some(1000), None),
            Path::new("/tmp/outset-1000/control")
        );
    }

    /// Issue 16 item 3: `--system`, `--session`/`--user`, $OUTSET_SOCKET and
    /// $UPSTART_SESSION choose the daemon as initctl chooses its transport.
    #[test]
    fn issue16_item3_socket_choice() {
        let rt = Some(OsStr::new("/rt"));
        let env = Some(OsStr::new("/job/socket"));
        let session = Some(OsStr::new("unix:abstract=/com/ubuntu/upstart-session/0/9"));
        let c = |flag: Option<&str>, system: bool, user: bool| SocketChoice {
            flag: flag.map(PathBuf::from),
            system,
            user,
        };
        let pick = |c: &SocketChoice, env, session| choose_socket_in(c, env, session, Some(0), rt);
        assert_eq!(
            pick(&c(Some("/f"), true, false), env, session),
            Path::new("/f")
        );
        // --system wins over a session job's $OUTSET_SOCKET.
        assert_eq!(
            pick(&c(None, true, false), env, session),
            Path::new("/run/outset/control")
        );
        assert_eq!(
            pick(&c(None, false, false), env, None),
            Path::new("/job/socket")
        );
        assert_eq!(
            pick(&c(None, false, false), None, None),
            Path::new("/run/outset/control")
        );
        // In a session (or with --session/--user), root too talks to its session daemon.
        assert_eq!(
            pick(&c(None, false, false), None, session),
            Path::new("/rt/outset/control")
        );
        assert_eq!(
            pick(&c(None, false, true), None, None),
            Path::new("/rt/outset/control")
        );
        assert_eq!(
            pick(&c(None, false, false), None, Some(OsStr::new(""))),
            Path::new("/run/outset/control")
        );
    }

    #[test]
    fn issue10_item8_client_refuses_a_socket_in_a_dir_others_can_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("outset-x");
        std::fs::create_dir(&open).unwrap();
        let path = open.join("control");
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = request(&path, Command::Version).unwrap_err();
        assert!(matches!(err, ClientError::Untrusted { .. }), "{err}");
        assert!(err.to_string().contains("writable by others"), "{err}");
        // The same socket in a private directory is trusted (and answered by its owner).
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(connect(&path).is_ok());
    }

    #[test]
    fn uid_is_readable() {
        assert!(current_uid().is_some());
    }
}
