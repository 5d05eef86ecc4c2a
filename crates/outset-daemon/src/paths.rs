//! Default locations for system and user mode.

use std::path::PathBuf;

/// System-mode control socket.
pub const SYSTEM_SOCKET: &str = "/run/outset/control";
/// The variable naming the control socket: outsetctl reads it, and every job process gets
/// the daemon's own.
pub const SOCKET_ENV: &str = "OUTSET_SOCKET";
/// System-mode log directory.
pub const SYSTEM_LOGDIR: &str = "/var/log/outset";
/// System-mode job directory.
pub const SYSTEM_CONFDIR: &str = "/etc/init";

/// Where user-mode state lives: `$XDG_RUNTIME_DIR/outset`, else `/tmp/outset-<uid>`.
pub fn user_runtime_dir(uid: u32) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("outset"),
        _ => PathBuf::from(format!("/tmp/outset-{uid}")),
    }
}

/// The default control socket for the mode.
pub fn default_socket(user: bool, uid: u32) -> PathBuf {
    if user {
        user_runtime_dir(uid).join("control")
    } else {
        PathBuf::from(SYSTEM_SOCKET)
    }
}

/// The default job directories for the mode, in priority order (Upstart's user-mode search
/// order, with outset's own directory names).
pub fn default_confdirs(user: bool) -> Vec<PathBuf> {
    if !user {
        return vec![PathBuf::from(SYSTEM_CONFDIR)];
    }
    let mut dirs = Vec::new();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(d) if !d.is_empty() => dirs.push(PathBuf::from(d).join("upstart")),
        _ => {
            if let Some(h) = &home {
                dirs.push(h.join(".config/upstart"));
            }
        }
    }
    if let Some(h) = &home {
        dirs.push(h.join(".init"));
    }
    let xdg_dirs = std::env::var("XDG_CONFIG_DIRS").unwrap_or_else(|_| "/etc/xdg".into());
    for d in xdg_dirs.split(':').filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d).join("upstart"));
    }
    dirs.push(PathBuf::from("/usr/share/upstart/sessions"));
    dirs
}

/// The default log directory for the mode.
pub fn default_logdir(user: bool) -> PathBuf {
    if !user {
        return PathBuf::from(SYSTEM_LOGDIR);
    }
    match std::env::var_os("XDG_CACHE_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("outset"),
        _ => match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".cache/outset"),
            None => PathBuf::from("/tmp/outset-log"),
        },
    }
}
