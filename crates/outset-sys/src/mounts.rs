//! Mounts: what `/proc/self/mountinfo` says, the API filesystems an init mounts before any
//! job runs, and unmounting (or remounting read-only) at the end.

use std::io;
use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fstype: String,
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text, in mount order.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            let fstype = right.split_whitespace().next()?;
            Some(MountEntry {
                mount_point: PathBuf::from(unescape(mount_point)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// This process's mounts; an error when `/proc` is not mounted.
pub fn mounts() -> io::Result<Vec<MountEntry>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

/// One API filesystem an init mounts: where, what, with which flags and options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyMount {
    pub target: &'static str,
    pub fstype: &'static str,
    pub flags: u32,
    pub data: &'static str,
}

const NOSUID: u32 = 0x2;
const NODEV: u32 = 0x4;
const NOEXEC: u32 = 0x8;

/// What an init mounts before any job runs, in order (each needs the one before it).
pub const EARLY_MOUNTS: [EarlyMount; 7] = [
    EarlyMount {
        target: "/proc",
        fstype: "proc",
        flags: NOSUID | NODEV | NOEXEC,
        data: "",
    },
    EarlyMount {
        target: "/sys",
        fstype: "sysfs",
        flags: NOSUID | NODEV | NOEXEC,
        data: "",
    },
    EarlyMount {
        target: "/dev",
        fstype: "devtmpfs",
        flags: NOSUID,
        data: "mode=0755",
    },
    EarlyMount {
        target: "/dev/pts",
        fstype: "devpts",
        flags: NOSUID | NOEXEC,
        data: "gid=5,mode=0620,ptmxmode=0666",
    },
    EarlyMount {
        target: "/dev/shm",
        fstype: "tmpfs",
        flags: NOSUID | NODEV,
        data: "mode=1777",
    },
    EarlyMount {
        target: "/run",
        fstype: "tmpfs",
        flags: NOSUID | NODEV,
        data: "mode=0755",
    },
    EarlyMount {
        target: "/sys/fs/cgroup",
        fstype: "cgroup2",
        flags: NOSUID | NODEV | NOEXEC,
        data: "",
    },
];

/// Which of `wanted` are not mount points in `mounted` (what is left to mount).
pub fn missing<'a>(wanted: &'a [EarlyMount], mounted: &[MountEntry]) -> Vec<&'a EarlyMount> {
    wanted
        .iter()
        .filter(|m| !mounted.iter().any(|e| e.mount_point == Path::new(m.target)))
        .collect()
}

/// Mounts `m`, creating its directory first if it is missing.
pub fn mount(m: &EarlyMount) -> io::Result<()> {
    use rustix::mount::MountFlags;
    if crate::process::pid() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "refused: only PID 1 mounts the API filesystems",
        ));
    }
    if std::fs::symlink_metadata(m.target).is_err() {
        std::fs::create_dir_all(m.target)?;
    }
    let data = std::ffi::CString::new(m.data).map_err(io::Error::other)?;
    let data = (!m.data.is_empty()).then_some(data.as_c_str());
    rustix::mount::mount(
        m.fstype,
        m.target,
        m.fstype,
        MountFlags::from_bits_retain(m.flags),
        data,
    )
    .map_err(Into::into)
}

/// Filesystems that hold no data to lose: left mounted at the end.
fn is_virtual(fstype: &str) -> bool {
    matches!(
        fstype,
        "proc"
            | "sysfs"
            | "devtmpfs"
            | "devpts"
            | "tmpfs"
            | "ramfs"
            | "rootfs"
            | "cgroup"
            | "cgroup2"
            | "mqueue"
            | "debugfs"
            | "tracefs"
            | "securityfs"
            | "pstore"
            | "configfs"
            | "fusectl"
            | "hugetlbfs"
            | "bpf"
            | "binfmt_misc"
            | "efivarfs"
            | "autofs"
    )
}

/// At the end: unmounts every real filesystem, newest first, and remounts read-only those
/// that cannot go (`/` among them). Returns one line per failure. PID 1 only.
pub fn unmount_all() -> Vec<String> {
    use rustix::mount::{MountFlags, UnmountFlags};
    if crate::process::pid() != 1 {
        return vec!["refused: only PID 1 unmounts everything".to_string()];
    }
    let list = match mounts() {
        Ok(l) => l,
        Err(e) => return vec![format!("reading /proc/self/mountinfo: {e}")],
    };
    let mut failures = Vec::new();
    for m in list.iter().rev().filter(|m| !is_virtual(&m.fstype)) {
        let target = &m.mount_point;
        if target != Path::new("/") && rustix::mount::unmount(target, UnmountFlags::empty()).is_ok()
        {
            continue;
        }
        if let Err(e) = rustix::mount::mount_remount(target, MountFlags::RDONLY, "") {
            failures.push(format!(
                "{} ({}) stays read-write: {e}",
                target.display(),
                m.fstype
            ));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_item2_mountinfo_and_what_is_missing() {
        let text = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
            23 22 0:5 / /proc rw,nosuid - proc proc rw\n\
            24 22 0:6 / /mnt/with\\040space rw - tmpfs tmpfs rw\n\
            25 22 0:7 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        let list = parse_mountinfo(text);
        assert_eq!(list.len(), 4);
        assert_eq!(list[2].mount_point, Path::new("/mnt/with space"));
        assert_eq!(list[3].fstype, "cgroup2");
        let left: Vec<&str> = missing(&EARLY_MOUNTS, &list)
            .iter()
            .map(|m| m.target)
            .collect();
        assert_eq!(left, ["/sys", "/dev", "/dev/pts", "/dev/shm", "/run"]);
        // This machine has /proc mounted: the live table parses and names it.
        assert!(
            mounts()
                .unwrap()
                .iter()
                .any(|m| m.mount_point == Path::new("/proc"))
        );
    }

    #[test]
    fn issue13_item2_refused_unless_pid1() {
        assert!(mount(&EARLY_MOUNTS[0]).is_err());
        assert_eq!(unmount_all().len(), 1);
    }
}
