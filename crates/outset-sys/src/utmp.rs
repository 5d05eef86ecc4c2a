//! The runlevel record sysvinit keeps in utmp and wtmp (`RUN_LVL`, as `who -r` and
//! `last` read it), written only into files that already exist.

use std::io;
use std::path::Path;

/// Records a change to runlevel `current` from `previous` (`N` for none): replaces the
/// `RUN_LVL` entry of `utmp` and appends one to `wtmp`, each only if the file exists.
/// Returns whether anything was written.
#[cfg(target_env = "gnu")]
pub fn record_runlevel(
    current: char,
    previous: Option<char>,
    utmp: &Path,
    wtmp: &Path,
) -> io::Result<bool> {
    use std::ffi::CString;
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    fn fill(dst: &mut [libc::c_char], text: &str) {
        for (d, b) in dst.iter_mut().zip(text.bytes()) {
            *d = b as libc::c_char;
        }
    }
    // SAFETY: utmpx is plain old data: all zeroes is an empty record.
    let mut ut: libc::utmpx = unsafe { std::mem::zeroed() };
    ut.ut_type = libc::RUN_LVL;
    let prev = previous.unwrap_or('N');
    ut.ut_pid = current as libc::pid_t + 256 * prev as libc::pid_t;
    fill(&mut ut.ut_line, "~");
    fill(&mut ut.ut_id, "~~");
    fill(&mut ut.ut_user, "runlevel");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ut.ut_tv.tv_sec = now.as_secs() as _;
    ut.ut_tv.tv_usec = now.subsec_micros() as _;
    let mut wrote = false;
    if utmp.exists() {
        let name = CString::new(utmp.as_os_str().as_bytes()).map_err(io::Error::other)?;
        // SAFETY: `name` is a valid C string for the call (glibc copies it); the utmp
        // functions read `ut` only during pututxline. Only PID 1 (single-threaded) or a
        // test process calls this.
        let put = unsafe {
            if libc::utmpxname(name.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::setutxent();
            let r = libc::pututxline(&ut);
            libc::endutxent();
            r
        };
        if put.is_null() {
            return Err(io::Error::last_os_error());
        }
        wrote = true;
    }
    if wtmp.exists() {
        // SAFETY: `ut` is a live, initialised struct; its bytes are read for its size.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&raw const ut).cast::<u8>(),
                std::mem::size_of::<libc::utmpx>(),
            )
        };
        std::fs::OpenOptions::new()
            .append(true)
            .open(wtmp)?
            .write_all(bytes)?;
        wrote = true;
    }
    Ok(wrote)
}

/// Without glibc's utmp functions no record is written.
#[cfg(not(target_env = "gnu"))]
pub fn record_runlevel(
    _current: char,
    _previous: Option<char>,
    _utmp: &Path,
    _wtmp: &Path,
) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
#[cfg(target_env = "gnu")]
mod tests {
    use super::*;

    #[test]
    fn issue13_item6_runlevel_records_in_utmp_and_wtmp() {
        let dir = tempfile::tempdir().unwrap();
        let (utmp, wtmp) = (dir.path().join("utmp"), dir.path().join("wtmp"));
        // Files that do not exist are not made.
        assert!(!record_runlevel('2', None, &utmp, &wtmp).unwrap());
        assert!(!utmp.exists() && !wtmp.exists());
        std::fs::write(&utmp, b"").unwrap();
        std::fs::write(&wtmp, b"").unwrap();
        assert!(record_runlevel('2', None, &utmp, &wtmp).unwrap());
        assert!(record_runlevel('3', Some('2'), &utmp, &wtmp).unwrap());
        let size = std::mem::size_of::<libc::utmpx>();
        // utmp: the one RUN_LVL entry, replaced; wtmp: both, appended.
        let u = std::fs::read(&utmp).unwrap();
        assert_eq!(u.len(), size);
        let w = std::fs::read(&wtmp).unwrap();
        assert_eq!(w.len(), 2 * size);
        let pid = |rec: &[u8]| {
            let off = std::mem::offset_of!(libc::utmpx, ut_pid);
            i32::from_ne_bytes(rec[off..off + 4].try_into().unwrap())
        };
        assert_eq!(i16::from_ne_bytes([u[0], u[1]]), libc::RUN_LVL);
        assert_eq!(pid(&u), i32::from(b'3') + 256 * i32::from(b'2'));
        assert_eq!(pid(&w[..size]), i32::from(b'2') + 256 * i32::from(b'N'));
    }
}
