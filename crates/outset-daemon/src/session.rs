//! A user daemon as a session, as Upstart's Session Init: the variables its jobs receive
//! and the session file `initctl list-sessions` reads.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The variable naming a session's address, for Upstart's clients.
pub const UPSTART_SESSION: &str = "UPSTART_SESSION";
/// outset's own: the session daemon's control socket.
pub const OUTSET_SESSION: &str = "OUTSET_SESSION";

pub struct Session {
    pid: u32,
    /// Upstart's private-server address of the session, `unix:abstract=/com/ubuntu/
    /// upstart-session/<uid>/<pid>`.
    address: String,
    socket: PathBuf,
}

impl Session {
    pub fn new(uid: u32, pid: u32, socket: &Path) -> Session {
        Session {
            pid,
            address: format!("unix:abstract=/com/ubuntu/upstart-session/{uid}/{pid}"),
            socket: socket.to_path_buf(),
        }
    }

    /// What every job of the session receives.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (UPSTART_SESSION.to_string(), self.address.clone()),
            (
                OUTSET_SESSION.to_string(),
                self.socket.to_string_lossy().into_owned(),
            ),
        ]
    }

    /// Writes `$XDG_RUNTIME_DIR/upstart/sessions/<pid>.session` holding
    /// `UPSTART_SESSION=<address>` (Upstart's format: one line, which `list-sessions` reads
    /// whole). Without a runtime dir, or when the file cannot be written, there is no
    /// session file and the log says why; the daemon runs on.
    pub fn register(&self, runtime_dir: Option<&OsStr>) -> Option<PathBuf> {
        let Some(dir) = session_dir(runtime_dir) else {
            log::info!(
                "XDG_RUNTIME_DIR is not set: no session file, list-sessions will not show this session"
            );
            return None;
        };
        if let Err(e) = create_private_dirs(&dir) {
            log::warn!("cannot create {}: {e}; no session file", dir.display());
            return None;
        }
        let path = dir.join(format!("{}.session", self.pid));
        match std::fs::write(&path, format!("{UPSTART_SESSION}={}\n", self.address)) {
            Ok(()) => Some(path),
            Err(e) => {
                log::warn!("unable to create session file {}: {e}", path.display());
                None
            }
        }
    }
}

/// Where session files go: `$XDG_RUNTIME_DIR/upstart/sessions`.
pub fn session_dir(runtime_dir: Option<&OsStr>) -> Option<PathBuf> {
    runtime_dir
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join("upstart/sessions"))
}

fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16 item 6: the session's variables and file, in Upstart's format.
    #[test]
    fn issue16_item6_session_file_and_env() {
        let rt = tempfile::tempdir().unwrap();
        let s = Session::new(1000, 4242, Path::new("/run/user/1000/outset/control"));
        assert_eq!(
            s.env(),
            [
                (
                    "UPSTART_SESSION".to_string(),
                    "unix:abstract=/com/ubuntu/upstart-session/1000/4242".to_string()
                ),
                (
                    "OUTSET_SESSION".to_string(),
                    "/run/user/1000/outset/control".to_string()
                )
            ]
        );
        let path = s.register(Some(rt.path().as_os_str())).unwrap();
        assert_eq!(path, rt.path().join("upstart/sessions/4242.session"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "UPSTART_SESSION=unix:abstract=/com/ubuntu/upstart-session/1000/4242\n"
        );
        assert_eq!(s.register(None), None);
        assert_eq!(s.register(Some(OsStr::new(""))), None);
    }
}
