//! Turning a [`SpawnRequest`] into a [`SpawnPlan`]: all lookups, allocation
//! and fd opening happen here, in the parent.

use std::cell::UnsafeCell;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Group, Uid, User};

use super::child::{RLIM_INFINITY, RawRlimit};
use super::{ProgramSpec, SpawnError, SpawnRequest, Stdio};

/// The longest script passed to the shell as its `-c` argument. Linux refuses a single argument
/// of 128 KiB or more (`MAX_ARG_STRLEN`, E2BIG); longer scripts are read by the shell from
/// `/dev/fd/N`, a memfd holding the text, as Upstart did with a pipe.
pub const SCRIPT_ARG_MAX: usize = 64 * 1024;

/// PATH used when the job's environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A fully prepared spawn: nothing is left to allocate or look up.
#[derive(Debug)]
pub struct SpawnPlan {
    pub(super) path: CString,
    pub(super) argv: Vec<CString>,
    pub(super) envp: Vec<CString>,
    pub(super) cwd: Option<CString>,
    pub(super) chroot: Option<CString>,
    pub(super) uid: Option<libc::uid_t>,
    pub(super) gid: Option<libc::gid_t>,
    pub(super) groups: Option<Vec<libc::gid_t>>,
    pub(super) rlimits: Vec<(libc::c_int, RawRlimit)>,
    pub(super) nice: Option<i32>,
    pub(super) oom_score_adj: Option<Vec<u8>>,
    pub(super) umask: Option<libc::mode_t>,
    pub(super) devnull: Option<OwnedFd>,
    pub(super) stderr: Option<OwnedFd>,
    /// Dup'ed onto fds 1 and 2 (a pty slave), above 2 itself.
    pub(super) output: Option<OwnedFd>,
    /// Dup'ed onto fds 0-2 (a console), above 2 itself.
    pub(super) console: Option<OwnedFd>,
    pub(super) console_owner: bool,
    pub(super) cgroup: Option<OwnedFd>,
    /// A long script's text, close-on-exec here; the child clears that flag just before exec
    /// so the shell can open it as `/dev/fd/N`.
    pub(super) script_fd: Option<OwnedFd>,
    pub(super) stop_before_exec: bool,
    /// The socket to pass as fd 3: a close-on-exec duplicate numbered above 3, so the
    /// child's `dup2` onto 3 never closes its own source.
    pub(super) pass_fd: Option<OwnedFd>,
    /// `LISTEN_PID=` and room for the PID, written by the child (its PID is only known
    /// there): the last entry of the environment when a socket is passed.
    pub(super) listen_pid: Option<Box<UnsafeCell<[u8; LISTEN_PID_LEN]>>>,
}

/// Room for `LISTEN_PID=`, a PID of up to 10 digits and the NUL.
pub(super) const LISTEN_PID_LEN: usize = 32;

/// The prefix the child writes its PID after.
pub(super) const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";

impl SpawnPlan {
    /// Resolves the program, environment, credentials and fds of `req`.
    pub fn new(req: &SpawnRequest) -> Result<SpawnPlan, SpawnError> {
        let (path, argv, script_fd) = program(req)?;
        let envp = req
            .env
            .iter()
            // With a passed socket the child sets LISTEN_PID itself (its own PID).
            .filter(|(k, _)| req.pass_fd.is_none() || req.pass_fd_plain || k != "LISTEN_PID")
            .map(|(k, v)| {
                if k.is_empty() || k.contains('=') {
                    return Err(SpawnError::BadEnvName(k.clone()));
                }
                cstring(format!("{k}={v}").into_bytes(), "environment")
            })
            .collect::<Result<_, _>>()?;
        let (uid, gid, groups) = credentials(req.user.as_deref(), req.group.as_deref())?;
        let rlimits = req
            .rlimits
            .iter()
            .map(|&(r, soft, hard)| {
                (
                    super::rlimit_number(r),
                    RawRlimit {
                        cur: soft.unwrap_or(RLIM_INFINITY),
                        max: hard.unwrap_or(RLIM_INFINITY),
                    },
                )
            })
            .collect();
        let devnull = match &req.stdio {
            Stdio::Null | Stdio::NullStderrTo(_) | Stdio::NullOutputTo(_) => {
                Some(open("/dev/null".as_ref(), false)?)
            }
            Stdio::Inherit | Stdio::Console { .. } => None,
        };
        let stderr = match &req.stdio {
            Stdio::NullStderrTo(p) => Some(open_append(p)?),
            _ => None,
        };
        let output = match &req.stdio {
            Stdio::NullOutputTo(fd) => Some(dup_above_stdio(*fd)?),
            _ => None,
        };
        let (console, console_owner) = match &req.stdio {
            Stdio::Console { path, owner } => (Some(open_terminal(path)?), *owner),
            _ => (None, false),
        };
        let cgroup = req.cgroup.as_deref().map(|p| open(p, true)).transpose()?;
        let pass_fd = req
            .pass_fd
            .as_ref()
            .map(|fd| {
                rustix::io::fcntl_dupfd_cloexec(&*fd.0, super::PASSED_FD + 1).map_err(|e| {
                    SpawnError::Open {
                        what: "a duplicate of the passed socket".into(),
                        source: e.into(),
                    }
                })
            })
            .transpose()?;
        let listen_pid = pass_fd.as_ref().filter(|_| !req.pass_fd_plain).map(|_| {
            let mut buf = [0u8; LISTEN_PID_LEN];
            buf[..LISTEN_PID_PREFIX.len()].copy_from_slice(LISTEN_PID_PREFIX);
            Box::new(UnsafeCell::new(buf))
        });
        Ok(SpawnPlan {
            path,
            argv,
            envp,
            cwd: req.cwd.as_deref().map(path_cstring).transpose()?,
            chroot: req.chroot.as_deref().map(path_cstring).transpose()?,
            uid,
            gid,
            groups,
            rlimits,
            nice: req.nice,
            oom_score_adj: req.oom_score_adj.map(|n| format!("{n}\n").into_bytes()),
            umask: req.umask,
            devnull,
            stderr,
            output,
            console,
            console_owner,
            cgroup,
            script_fd,
            stop_before_exec: req.stop_before_exec,
            pass_fd,
            listen_pid,
        })
    }

    /// The NULL-terminated environment for execve, with the `LISTEN_PID` entry the child
    /// completes when a socket is passed.
    pub(super) fn envp_ptrs(&self) -> Vec<*const libc::c_char> {
        self.envp
            .iter()
            .map(|s| s.as_ptr())
            .chain(
                self.listen_pid
                    .as_ref()
                    .map(|b| b.get().cast_const().cast()),
            )
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }

    /// The resolved program path (as seen inside the chroot, if any).
    pub fn program_path(&self) -> &std::ffi::CStr {
        &self.path
    }
}

fn cstring(bytes: Vec<u8>, what: &'static str) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError::Nul(what))
}

fn path_cstring(p: &Path) -> Result<CString, SpawnError> {
    cstring(p.as_os_str().as_bytes().to_vec(), "path")
}

/// Opens a close-on-exec fd: /dev/null read-write, or a cgroup directory.
fn open(path: &Path, dir: bool) -> Result<OwnedFd, SpawnError> {
    use rustix::fs::{Mode, OFlags};
    let flags = if dir {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
    } else {
        OFlags::RDWR | OFlags::CLOEXEC
    };
    rustix::fs::open(path, flags, Mode::empty()).map_err(|e| SpawnError::Open {
        what: path.display().to_string(),
        source: e.into(),
    })
}

type Program = (CString, Vec<CString>, Option<OwnedFd>);

/// Resolves the executable path and argv, and for a long script the fd it is read from.
fn program(req: &SpawnRequest) -> Result<Program, SpawnError> {
    let args: Vec<String> = match &req.program {
        ProgramSpec::Shell { script } => {
            let (last, fd) = if script.len() > SCRIPT_ARG_MAX {
                let fd = script_memfd(script)?;
                let path = format!("/dev/fd/{}", fd.as_raw_fd());
                (vec![path], Some(fd))
            } else {
                (vec!["-c".to_owned(), script.clone()], None)
            };
            let argv = ["/bin/sh".to_owned(), "-e".to_owned()]
                .into_iter()
                .chain(last)
                .map(|a| cstring(a.into_bytes(), "argument"))
                .collect::<Result<_, _>>()?;
            return Ok((c"/bin/sh".to_owned(), argv, fd));
        }
        ProgramSpec::Argv(v) => v.clone(),
    };
    let Some(name) = args.first() else {
        return Err(SpawnError::EmptyArgv);
    };
    let root = req.chroot.as_deref();
    let path = if name.contains('/') {
        // Relative paths depend on the child's cwd: the child reports those.
        if name.starts_with('/') && !under_root(root, Path::new(name)).exists() {
            return Err(SpawnError::NotFound(name.clone()));
        }
        PathBuf::from(name)
    } else {
        let search = req
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
        search_path(search, name, root).ok_or_else(|| SpawnError::NotFound(name.clone()))?
    };
    let argv = args
        .into_iter()
        .map(|a| cstring(a.into_bytes(), "argument"))
        .collect::<Result<_, _>>()?;
    Ok((path_cstring(&path)?, argv, None))
}

/// A close-on-exec memfd holding `script`, numbered above the standard fds (which the child
/// replaces).
fn script_memfd(script: &str) -> Result<OwnedFd, SpawnError> {
    let fail = |e: rustix::io::Errno| SpawnError::Open {
        what: "a memfd for the script".into(),
        source: e.into(),
    };
    let fd =
        rustix::fs::memfd_create("outset-script", rustix::fs::MemfdFlags::CLOEXEC).map_err(fail)?;
    let mut rest = script.as_bytes();
    while !rest.is_empty() {
        match rustix::io::write(&fd, rest) {
            Ok(0) => return Err(fail(rustix::io::Errno::IO)),
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    // Above 3 too: a passed socket takes fd 3 in the child.
    if fd.as_raw_fd() > super::PASSED_FD {
        return Ok(fd);
    }
    rustix::io::fcntl_dupfd_cloexec(&fd, super::PASSED_FD + 1).map_err(fail)
}

/// `p` as seen from outside a chroot at `root`.
fn under_root(root: Option<&Path>, p: &Path) -> PathBuf {
    match root {
        Some(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    }
}

/// First executable regular file named `name` in the `:`-separated `dirs`.
fn search_path(dirs: &str, name: &str, root: Option<&Path>) -> Option<PathBuf> {
    // Empty entries would mean the daemon's cwd: not meaningful for jobs.
    dirs.split(':').filter(|d| !d.is_empty()).find_map(|d| {
        let candidate = Path::new(d).join(name);
        let meta = std::fs::metadata(under_root(root, &candidate)).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0).then_some(candidate)
    })
}

type Creds = (Option<u32>, Option<u32>, Option<Vec<u32>>);

/// Looks up uid, gid and supplementary groups for `user`/`group`.
///
/// With a user, its primary group (or `group`) and its supplementary
/// groups are used; with only a group, just the gid changes.
fn credentials(user: Option<&str>, group: Option<&str>) -> Result<Creds, SpawnError> {
    let gid = group.map(lookup_group).transpose()?;
    let Some(name) = user else {
        return Ok((None, gid, None));
    };
    let u = lookup_user(name)?;
    let gid = gid.unwrap_or(u.gid.as_raw());
    let cname = cstring(u.name.clone().into_bytes(), "user name")?;
    let groups =
        nix::unistd::getgrouplist(&cname, Gid::from_raw(gid)).map_err(|e| SpawnError::Lookup {
            what: format!("groups of user {name}"),
            source: e.into(),
        })?;
    Ok((
        Some(u.uid.as_raw()),
        Some(gid),
        Some(groups.into_iter().map(Gid::as_raw).collect()),
    ))
}

fn lookup_user(name: &str) -> Result<User, SpawnError> {
    let err = |e: nix::Error| SpawnError::Lookup {
        what: format!("user {name}"),
        source: e.into(),
    };
    if let Some(u) = User::from_name(name).map_err(err)? {
        return Ok(u);
    }
    let by_id = match name.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)).map_err(err)?,
        Err(_) => None,
    };
    by_id.ok_or_else(|| SpawnError::UnknownUser(name.to_owned()))
}

fn lookup_group(name: &str) -> Result<u32, SpawnError> {
    let err = |e: nix::Error| SpawnError::Lookup {
        what: format!("group {name}"),
        source: e.into(),
    };
    if let Some(g) = Group::from_name(name).map_err(err)? {
        return Ok(g.gid.as_raw());
    }
    let by_id = match name.parse::<u32>() {
        Ok(n) => Group::from_gid(Gid::from_raw(n)).map_err(err)?,
        Err(_) => None,
    };
    by_id
        .map(|g| g.gid.as_raw())
        .ok_or_else(|| SpawnError::UnknownGroup(name.to_owned()))
}

/// Opens an existing file for appending, close-on-exec, not through a symlink, as an fd
/// above 2 (so putting /dev/null on fds 0-2 in the child cannot overwrite it).
fn open_append(path: &Path) -> Result<OwnedFd, SpawnError> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| SpawnError::Open {
        what: path.display().to_string(),
        source: e.into(),
    })?;
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| SpawnError::Open {
        what: path.display().to_string(),
        source: e.into(),
    })
}

/// A close-on-exec copy of `fd` numbered above 2, so putting fds 0-2 in place in the child
/// cannot overwrite it.
fn dup_above_stdio(fd: std::os::fd::RawFd) -> Result<OwnedFd, SpawnError> {
    // SAFETY: the caller of `SpawnPlan::new` keeps the fd open for the call (see
    // `Stdio::NullOutputTo`); it is only borrowed to be duplicated.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_dupfd_cloexec(borrowed, 3).map_err(|e| SpawnError::Open {
        what: format!("output fd {fd}"),
        source: e.into(),
    })
}

/// Opens a terminal read-write without making it the daemon's controlling terminal, as an
/// fd above 2.
fn open_terminal(path: &Path) -> Result<OwnedFd, SpawnError> {
    use rustix::fs::{Mode, OFlags};
    let fail = |e: rustix::io::Errno| SpawnError::Open {
        what: path.display().to_string(),
        source: e.into(),
    };
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail)?;
    rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(fail)
}
