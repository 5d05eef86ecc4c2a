//! Default locations for system and user mode (the control socket's is the protocol's:
//! `outset_proto::socket`).

use std::path::PathBuf;

/// System-mode log directory.
pub const SYSTEM_LOGDIR: &str = "/var/log/outset";
/// System-mode job directory.
pub const SYSTEM_CONFDIR: &str = "/etc/init";

/// Upstart's environment variable naming the system job directory.
pub const CONFDIR_ENV: &str = "UPSTART_CONFDIR";

/// The job directories in search order, as Upstart composes them: `--prepend-confdir`s,
/// then the `--confdir`s or else the defaults (in system mode `$UPSTART_CONFDIR` when set
/// and not empty, else /etc/init), then `--append-confdir`s.
pub fn confdirs(
    prepend: &[PathBuf],
    confdirs: &[PathBuf],
    append: &[PathBuf],
    user: bool,
    upstart_confdir: Option<&std::ffi::OsStr>,
) -> Vec<PathBuf> {
    let middle = if !confdirs.is_empty() {
        confdirs.to_vec()
    } else {
        match upstart_confdir {
            Some(d) if !user && !d.is_empty() => vec![PathBuf::from(d)],
            _ => default_confdirs(user),
        }
    };
    prepend
        .iter()
        .cloned()
        .chain(middle)
        .chain(append.iter().cloned())
        .collect()
}

/// The default job directories for the mode, in priority order (Upstart 1.13's user-mode
/// search order, `get_user_upstart_dirs`).
pub fn default_confdirs(user: bool) -> Vec<PathBuf> {
    if !user {
        return vec![PathBuf::from(SYSTEM_CONFDIR)];
    }
    user_confdirs(
        std::env::var_os("HOME").as_deref(),
        std::env::var_os("XDG_CONFIG_HOME").as_deref(),
        std::env::var_os("XDG_CONFIG_DIRS").as_deref(),
    )
}

/// The user-mode job directories, highest priority first: `$XDG_CONFIG_HOME/upstart` (or
/// `~/.config/upstart`), `~/.init`, each absolute `$XDG_CONFIG_DIRS` entry's `upstart`
/// (`/etc/xdg` when unset or empty), then `/usr/share/upstart/sessions`.
pub fn user_confdirs(
    home: Option<&std::ffi::OsStr>,
    config_home: Option<&std::ffi::OsStr>,
    config_dirs: Option<&std::ffi::OsStr>,
) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let home = home.filter(|h| !h.is_empty()).map(PathBuf::from);
    match config_home {
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
    let xdg_dirs = config_dirs
        .filter(|d| !d.is_empty())
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/etc/xdg".into());
    for d in xdg_dirs.split(':').filter(|d| d.starts_with('/')) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn p(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    /// Issue 16 item 4: `--prepend-confdir`, `--append-confdir` and `$UPSTART_CONFDIR`.
    #[test]
    fn issue16_item4_confdirs_compose_as_upstarts() {
        let env = Some(OsStr::new("/env/init"));
        assert_eq!(confdirs(&[], &[], &[], false, None), p(&["/etc/init"]));
        assert_eq!(confdirs(&[], &[], &[], false, env), p(&["/env/init"]));
        assert_eq!(
            confdirs(&[], &[], &[], false, Some(OsStr::new(""))),
            p(&["/etc/init"])
        );
        assert_eq!(
            confdirs(&p(&["/a", "/b"]), &[], &p(&["/z"]), false, env),
            p(&["/a", "/b", "/env/init", "/z"])
        );
        // --confdir wins over the variable; user mode does not read it.
        assert_eq!(
            confdirs(&[], &[], &[], true, env)[0],
            confdirs(&[], &[], &[], true, None)[0]
        );
        assert_eq!(
            confdirs(&p(&["/a"]), &p(&["/c"]), &p(&["/z"]), false, env),
            p(&["/a", "/c", "/z"])
        );
    }

    /// Issue 16 item 6: the user job directories Upstart 1.13 searched, in its order.
    #[test]
    fn issue16_item6_user_dirs_in_upstarts_order() {
        let h = Some(OsStr::new("/home/u"));
        assert_eq!(
            user_confdirs(h, None, None),
            p(&[
                "/home/u/.config/upstart",
                "/home/u/.init",
                "/etc/xdg/upstart",
                "/usr/share/upstart/sessions"
            ])
        );
        assert_eq!(
            user_confdirs(
                h,
                Some(OsStr::new("/cfg")),
                Some(OsStr::new("/x1:relative:/x2"))
            ),
            p(&[
                "/cfg/upstart",
                "/home/u/.init",
                "/x1/upstart",
                "/x2/upstart",
                "/usr/share/upstart/sessions"
            ])
        );
        // Empty values count as unset, as Upstart's xdg.c has it.
        assert_eq!(
            user_confdirs(h, Some(OsStr::new("")), Some(OsStr::new(""))),
            user_confdirs(h, None, None)
        );
        assert_eq!(
            user_confdirs(None, None, None),
            p(&["/etc/xdg/upstart", "/usr/share/upstart/sessions"])
        );
    }
}
