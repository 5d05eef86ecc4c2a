//! Job log files, opened only inside the log directory and never through a symlink.
//!
//! Every call takes the directory as an open fd and a single file name (no `/`, not `.` or
//! `..`), so whatever a job or instance name holds, nothing is created, renamed or read
//! outside the directory; the last component is opened with `O_NOFOLLOW`, and anything but a
//! regular file with one link is refused.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};

/// Opens the log directory (following a symlink there: the directory is the admin's choice).
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Refuses anything but one plain component.
fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a file name"),
        ));
    }
    Ok(())
}

/// Refuses what is not a regular file with a single link (a planted device, FIFO or hard
/// link to a file elsewhere).
fn check_regular(file: &File) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    if !m.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if m.nlink() > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the file has other links",
        ));
    }
    Ok(())
}

/// Opens (creating with `mode`) `name` in `dir` for appending: close-on-exec, not through a
/// symlink (ELOOP), non-blocking (a FIFO planted there cannot hold the daemon).
pub fn open_append(dir: &OwnedFd, name: &str, mode: u32) -> io::Result<File> {
    check_name(name)?;
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY
            | OFlags::CREATE
            | OFlags::APPEND
            | OFlags::NOFOLLOW
            | OFlags::CLOEXEC
            | OFlags::NONBLOCK
            | OFlags::NOCTTY,
        Mode::from_raw_mode(mode),
    )?;
    let file = File::from(fd);
    check_regular(&file)?;
    Ok(file)
}

/// Opens `name` in `dir` for reading, with the same refusals.
pub fn open_read(dir: &OwnedFd, name: &str) -> io::Result<File> {
    check_name(name)?;
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    check_regular(&file)?;
    Ok(file)
}

/// Renames `from` to `to`, both in `dir` (a symlink is renamed, never followed).
pub fn rename(dir: &OwnedFd, from: &str, to: &str) -> io::Result<()> {
    check_name(from)?;
    check_name(to)?;
    Ok(rustix::fs::renameat(dir, from, dir, to)?)
}

/// Removes `name` from `dir` if it is there.
pub fn remove(dir: &OwnedFd, name: &str) -> io::Result<()> {
    check_name(name)?;
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The disk or the quota is full.
pub fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || e.kind() == io::ErrorKind::StorageFull
}

/// The file is refused rather than not there yet (a symlink, not a regular file, a name
/// too long) or there is no room: holding output for it would not help.
pub fn is_refusal(e: &io::Error) -> bool {
    is_full(e)
        || matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENAMETOOLONG))
        || e.kind() == io::ErrorKind::InvalidInput
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn opens_only_plain_files_inside_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = open_dir(tmp.path()).unwrap();
        let mut f = open_append(&dir, "a.log", 0o640).unwrap();
        f.write_all(b"x\n").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a.log")).unwrap(), b"x\n");
        for bad in ["", ".", "..", "a/b", "../x"] {
            assert!(open_append(&dir, bad, 0o640).is_err(), "{bad:?}");
        }
        let target = tmp.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, tmp.path().join("link.log")).unwrap();
        let e = open_append(&dir, "link.log", 0o640).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        std::fs::hard_link(&target, tmp.path().join("hard.log")).unwrap();
        assert!(open_append(&dir, "hard.log", 0o640).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
