//! Process file descriptors: signal a process without racing pid reuse.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// A pidfd referring to one specific process (close-on-exec).
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    /// Opens a pidfd for `pid` (`pidfd_open`).
    pub fn open(pid: u32) -> io::Result<PidFd> {
        let pid = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
        Ok(PidFd(fd))
    }

    /// Sends `sig` to the process; a process that is already gone is not an
    /// error, since the caller will learn about it from the reaper.
    pub fn signal(&self, sig: i32) -> io::Result<()> {
        // SAFETY: pidfd_send_signal with a valid fd, a null siginfo and no
        // flags only reads its integer arguments.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(e)
        }
    }
}

/// `struct pidfd_info` as of Linux 6.13 (PIDFD_INFO_SIZE_VER0); the ioctl takes its size.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

const PIDFD_INFO_CGROUPID: u64 = 1 << 2;
const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `_IOWR(0xFF, 11, struct pidfd_info)`.
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;

/// The id of the cgroup v2 the process behind `pidfd` is in, or was in when it exited (the
/// kernel keeps it for a pidfd made before the exit, such as one from `SCM_PIDFD`). It is
/// the inode number of the cgroup's directory. Needs Linux 6.13 (6.15 once exited).
pub fn cgroup_id(pidfd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: PIDFD_GET_INFO writes at most size_of::<PidfdInfo>() bytes (encoded in the
    // request) into `info`, which is live and properly aligned.
    let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO, &raw mut info) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if info.mask & PIDFD_INFO_CGROUPID == 0 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel gave no cgroup id for the process",
        ));
    }
    Ok(info.cgroupid)
}

impl From<OwnedFd> for PidFd {
    fn from(fd: OwnedFd) -> Self {
        PidFd(fd)
    }
}

impl From<PidFd> for OwnedFd {
    fn from(p: PidFd) -> Self {
        p.0
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_child_and_dead_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let p = PidFd::open(child.id()).unwrap();
        p.signal(libc::SIGKILL).unwrap();
        let st = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        // Reaped: ESRCH is swallowed.
        p.signal(libc::SIGTERM).unwrap();
        assert!(PidFd::open(0).is_err());
    }

    #[test]
    fn cgroup_id_is_the_cgroup_directory_inode() {
        use std::os::unix::fs::MetadataExt;
        let (Some(mount), Some(own)) =
            (crate::cgroup::cgroup2_mount(), crate::process::own_cgroup())
        else {
            crate::testutil::require(false, "needs a cgroup2 mount");
            return;
        };
        let p = PidFd::open(std::process::id()).unwrap();
        let id = match cgroup_id(p.as_fd()) {
            Ok(id) => id,
            Err(e) => {
                crate::testutil::require(false, &format!("needs PIDFD_GET_INFO: {e}"));
                return;
            }
        };
        assert_eq!(id, std::fs::metadata(mount.join(own)).unwrap().ino());
    }
}
