//! What a re-exec needs of the system: the state in a memfd, descriptors kept open across
//! `execve` (by clearing close-on-exec on exactly those), taking them back by number in the
//! new image, and the `execve` itself, which keeps the signal mask and pending signals (so
//! no signal the old image had not read yet is lost or acted on by default).

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A memfd named `name` holding `data`, inheritable across `execve` (its number is given
/// to the new image). Readers read it from offset 0 ([`read_state`]).
pub fn state_memfd(name: &str, data: &[u8]) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::empty())?;
    let file = std::fs::File::from(fd);
    file.write_all_at(data, 0)?;
    Ok(file.into())
}

/// Whether `fd` stays open across `execve`.
pub fn set_inherited(fd: BorrowedFd<'_>, inherited: bool) -> io::Result<()> {
    let mut flags = rustix::io::fcntl_getfd(fd)?;
    flags.set(rustix::io::FdFlags::CLOEXEC, !inherited);
    rustix::io::fcntl_setfd(fd, flags)?;
    Ok(())
}

/// Takes ownership of descriptor `raw`, handed over by the previous image, and makes it
/// close-on-exec again. Refused when `raw` is not an open descriptor or is one of the
/// standard three.
pub fn take_fd(raw: RawFd) -> io::Result<OwnedFd> {
    if raw < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {raw} is not a handed-over one"),
        ));
    }
    // SAFETY: `raw` is only borrowed for the duration of the F_GETFD check, which fails
    // with EBADF (and touches nothing) when it is not open.
    let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
    rustix::io::fcntl_getfd(borrowed)?;
    // SAFETY: the descriptor is open (checked above) and was handed over by the previous
    // image for this process to own; nothing else in this process refers to it (the
    // caller takes each named descriptor once).
    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
    set_inherited(owned.as_fd(), false)?;
    Ok(owned)
}

/// Reads the whole state behind `fd` from offset 0 (another reader, a check run, shares
/// the file offset).
pub fn read_state(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let file = std::fs::File::from(fd.try_clone_to_owned()?);
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// Replaces this process's image with `path`, arguments `args` (argv[0] first), the same
/// environment. Returns only on failure.
pub fn exec(path: &Path, args: &[OsString]) -> io::Error {
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in argument"))
    };
    let path = match cstr(path.as_os_str().as_bytes()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let args: Vec<CString> = match args.iter().map(|a| cstr(a.as_bytes())).collect() {
        Ok(a) => a,
        Err(e) => return e,
    };
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: `path` and every `argv` entry are NUL-terminated strings alive across the
    // call, and `argv` ends with a null pointer; execv only returns on failure.
    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
    io::Error::last_os_error()
}

/// The descriptor's number, for naming it in the state.
pub fn raw(fd: &impl AsRawFd) -> RawFd {
    fd.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_item3_state_memfd_reads_back_and_fds_are_taken_once_open() {
        let fd = state_memfd("outset-test", b"{\"schema\":1}").unwrap();
        assert_eq!(read_state(fd.as_fd()).unwrap(), b"{\"schema\":1}");
        // Read twice from offset 0: a check run before the exec does not use it up.
        assert_eq!(read_state(fd.as_fd()).unwrap(), b"{\"schema\":1}");
        let flags = rustix::io::fcntl_getfd(&fd).unwrap();
        assert!(!flags.contains(rustix::io::FdFlags::CLOEXEC));
        set_inherited(fd.as_fd(), false).unwrap();
        assert!(
            rustix::io::fcntl_getfd(&fd)
                .unwrap()
                .contains(rustix::io::FdFlags::CLOEXEC)
        );
        assert!(take_fd(1).is_err());
        assert!(take_fd(1_000_000).is_err());
        let dup = fd.try_clone().unwrap();
        let raw = dup.as_raw_fd();
        std::mem::forget(dup);
        let taken = take_fd(raw).unwrap();
        assert!(
            rustix::io::fcntl_getfd(&taken)
                .unwrap()
                .contains(rustix::io::FdFlags::CLOEXEC)
        );
    }

    #[test]
    fn issue15_item6_exec_of_a_missing_binary_returns_the_error() {
        let e = exec(Path::new("/nonexistent/outset"), &["outset".into()]);
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
