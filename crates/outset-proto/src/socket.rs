//! Where the control socket is when nobody says: the one rule the daemon (choosing where to
//! listen) and `outsetctl` (choosing where to connect) share, so they always meet.

use std::ffi::OsStr;
use std::path::PathBuf;

/// The system daemon's control socket.
pub const SYSTEM_SOCKET: &str = "/run/outset/control";

/// The variable naming the control socket: `outsetctl` reads it, and every job process gets
/// its daemon's.
pub const SOCKET_ENV: &str = "OUTSET_SOCKET";

/// The abstract socket a daemon also listens on, and clients try when the path fails
/// (mounting `/run` over the socket's directory hides the file, never this): `/org/outset`
/// followed by the socket's absolute path, so a per-user daemon's (whose path holds its
/// uid or runtime directory) and a test daemon's never meet the system one's. Written `@`
/// + name in tools (`ss -xl`). `None` when the name would not fit a socket address.
pub fn abstract_name(path: &std::path::Path) -> Option<String> {
    // sun_path holds 108 bytes; the leading NUL takes one.
    const MAX: usize = 107;
    let path = path.to_str()?;
    if !path.starts_with('/') {
        return None;
    }
    let name = format!("/org/outset{path}");
    (name.len() <= MAX).then_some(name)
}

/// The default control socket: the system daemon's, or for a per-user daemon
/// `$XDG_RUNTIME_DIR/outset/control` (`runtime_dir` is that variable's value; empty counts
/// as unset), else `/tmp/outset-<uid>/control`.
pub fn default_socket(user: bool, uid: u32, runtime_dir: Option<&OsStr>) -> PathBuf {
    if !user {
        return PathBuf::from(SYSTEM_SOCKET);
    }
    match runtime_dir.filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("outset/control"),
        None => PathBuf::from(format!("/tmp/outset-{uid}/control")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn issue13_item3_abstract_names() {
        assert_eq!(
            abstract_name(Path::new(SYSTEM_SOCKET)).as_deref(),
            Some("/org/outset/run/outset/control")
        );
        assert_eq!(
            abstract_name(Path::new("/run/user/1000/outset/control")).as_deref(),
            Some("/org/outset/run/user/1000/outset/control")
        );
        assert_eq!(abstract_name(Path::new("relative/control")), None);
        let long = format!("/{}", "x".repeat(120));
        assert_eq!(abstract_name(Path::new(&long)), None);
    }

    #[test]
    fn default_sockets() {
        let x = Some(OsStr::new("/x"));
        assert_eq!(
            default_socket(false, 0, x),
            Path::new("/run/outset/control")
        );
        assert_eq!(
            default_socket(false, 1000, None),
            Path::new("/run/outset/control")
        );
        assert_eq!(default_socket(true, 0, x), Path::new("/x/outset/control"));
        assert_eq!(
            default_socket(true, 1000, None),
            Path::new("/tmp/outset-1000/control")
        );
        assert_eq!(
            default_socket(true, 1000, Some(OsStr::new(""))),
            Path::new("/tmp/outset-1000/control")
        );
    }
}
