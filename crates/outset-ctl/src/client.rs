//! Talking to the daemon: one request line out, one response line back.

use std::ffi::OsString;
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
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        path: socket.to_path_buf(),
        source,
    })?;
    let mut line = serde_json::to_string(&Request::new(cmd))?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    stream.flush()?;
    let mut reply = String::new();
    let n = BufReader::new(stream).read_line(&mut reply)?;
    if n == 0 {
        return Err(ClientError::NoReply);
    }
    Ok(serde_json::from_str(reply.trim_end())?)
}

/// The real user id, read from `/proc/self`'s owner to avoid libc; `None` without procfs.
fn current_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The socket to use when none is given: the per-user daemon's for `--user` or any non-root
/// user, the system daemon's otherwise.
pub fn default_socket(user: bool) -> PathBuf {
    let uid = current_uid();
    socket_for(user, uid, std::env::var_os("XDG_RUNTIME_DIR"))
}

/// [`default_socket`] with its inputs explicit, for testing. An unknown uid counts as root.
fn socket_for(user: bool, uid: Option<u32>, runtime_dir: Option<OsString>) -> PathBuf {
    let uid = uid.unwrap_or(0);
    if !user && uid == 0 {
        return PathBuf::from("/run/outset/control");
    }
    // The daemon's own choice (outset-daemon's paths.rs): the runtime dir, else /tmp.
    match runtime_dir.filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("outset/control"),
        None => PathBuf::from(format!("/tmp/outset-{uid}/control")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_sockets() {
        assert_eq!(
            socket_for(false, Some(0), Some("/x".into())),
            Path::new("/run/outset/control")
        );
        assert_eq!(
            socket_for(false, None, None),
            Path::new("/run/outset/control")
        );
        assert_eq!(
            socket_for(true, Some(0), Some("/x".into())),
            Path::new("/x/outset/control")
        );
        assert_eq!(
            socket_for(false, Some(1000), None),
            Path::new("/tmp/outset-1000/control")
        );
        assert_eq!(
            socket_for(true, Some(1000), Some("".into())),
            Path::new("/tmp/outset-1000/control")
        );
    }

    #[test]
    fn uid_is_readable() {
        assert!(current_uid().is_some());
    }
}
