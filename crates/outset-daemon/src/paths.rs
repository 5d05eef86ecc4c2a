//! Default locations for system and user mode (the control socket's is the protocol's:
//! `outset_proto::socket`).

use std::path::PathBuf;

/// System-mode log directory.
pub const SYSTEM_LOGDIR: &str = "/var/log/outset";
/// System-mode job directory.
pub const SYSTEM_CONFDIR: &str = "/etc/init";

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
