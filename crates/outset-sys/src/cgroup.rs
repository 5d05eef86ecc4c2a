//! cgroup2 handling: each job gets its own cgroup so that all of its
//! processes, including daemonised ones, can be tracked and killed.

use std::fs;
use std::io::{self, BufRead};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

/// Longest escaped name we produce; a path component may hold 255 bytes.
const MAX_NAME: usize = 200;

/// Finds the first cgroup2 mount in /proc/self/mountinfo.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let f = fs::File::open("/proc/self/mountinfo").ok()?;
    io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| parse_mountinfo_line(&line))
}

/// Returns the mount point of a mountinfo line if its fstype is cgroup2.
fn parse_mountinfo_line(line: &str) -> Option<PathBuf> {
    // Optional fields end with " - "; fstype comes right after it.
    let (left, right) = line.split_once(" - ")?;
    if right.split(' ').next()? != "cgroup2" {
        return None;
    }
    let mount_point = left.split(' ').nth(4)?;
    Some(PathBuf::from(unescape_octal(mount_point)))
}

/// Decodes the `\040`-style escapes the kernel uses in mountinfo.
fn unescape_octal(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = oct.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    std::ffi::OsString::from_vec(out)
}

/// Turns a job/instance name into one safe, reversible path component.
///
/// Keeps `[A-Za-z0-9.-]`; every other byte (including `_`, the escape
/// character) becomes `_xx` in lower-case hex. Never returns an empty
/// string, `.` or `..`. Over-long results are cut and suffixed with a hash
/// so that distinct names stay distinct.
pub fn escape_name(s: &str) -> String {
    if s.is_empty() {
        return "_".to_string();
    }
    if s == "." || s == ".." {
        return "_2e".repeat(s.len());
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    if out.len() > MAX_NAME {
        let hash = fnv1a(s.as_bytes());
        // Only ASCII was pushed, so any byte index is a char boundary.
        out.truncate(MAX_NAME - 17);
        out.push_str(&format!("~{hash:016x}"));
    }
    out
}

/// The name [`escape_name`] was given, or `None` for a name it cannot have made or one it
/// cut short (the cut part is gone).
pub fn unescape_name(s: &str) -> Option<String> {
    if s == "_" {
        return Some(String::new());
    }
    if s.contains('~') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Small stable hash for disambiguating truncated names.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Decimal PIDs, one per line, read in chunks: a number cut by the end of one chunk carries
/// on in the next. A number too large for a PID is dropped.
#[derive(Default)]
struct PidList {
    pids: Vec<u32>,
    current: Option<Option<u32>>,
}

impl PidList {
    fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if b.is_ascii_digit() {
                let v = self.current.unwrap_or(Some(0));
                self.current = Some(
                    v.and_then(|v| v.checked_mul(10))
                        .and_then(|v| v.checked_add(u32::from(b - b'0'))),
                );
            } else if let Some(v) = self.current.take() {
                self.pids.extend(v);
            }
        }
    }

    fn finish(mut self) -> Vec<u32> {
        if let Some(v) = self.current.take() {
            self.pids.extend(v);
        }
        self.pids
    }
}

/// A cgroup2 directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    /// Creates the cgroup directory (an existing one is fine).
    pub fn create(path: &Path) -> io::Result<Cgroup> {
        match fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
            Err(e) => return Err(e),
        }
        Ok(Cgroup {
            path: path.to_path_buf(),
        })
    }

    /// Refers to an existing cgroup directory.
    pub fn open(path: &Path) -> io::Result<Cgroup> {
        if !fs::metadata(path)?.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        Ok(Cgroup {
            path: path.to_path_buf(),
        })
    }

    /// The cgroup's directory.
    /// A handle on the cgroup directory at `path`, taken on trust (no syscall): for a
    /// directory the caller created and keeps track of.
    pub fn at(path: PathBuf) -> Cgroup {
        Cgroup { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pids directly in this cgroup (not in child cgroups).
    pub fn procs(&self) -> io::Result<Vec<u32>> {
        let text = fs::read_to_string(self.path.join("cgroup.procs"))?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// Like [`Cgroup::procs`], opened relative to `base` (a directory fd of an ancestor) and
    /// `rel` (this cgroup's path below it): a short lookup instead of a walk from `/`.
    pub fn procs_at(base: BorrowedFd<'_>, rel: &Path) -> io::Result<Vec<u32>> {
        use std::os::unix::ffi::OsStrExt;
        // Runs once per stopping instance: no heap path, no size probe, parsed in place.
        const NAME: &[u8] = b"/cgroup.procs";
        let rel = rel.as_os_str().as_bytes();
        let mut path = [0u8; 256];
        let fd = if !rel.is_empty() && rel.len() + NAME.len() < path.len() {
            path[..rel.len()].copy_from_slice(rel);
            path[rel.len()..rel.len() + NAME.len()].copy_from_slice(NAME);
            let c = std::ffi::CStr::from_bytes_until_nul(&path)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            rustix::fs::openat(
                base,
                c,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )?
        } else {
            rustix::fs::openat(
                base,
                Path::new(std::ffi::OsStr::from_bytes(rel)).join("cgroup.procs"),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )?
        };
        let mut pids = PidList::default();
        let mut buf = [0u8; 1024];
        loop {
            let n = rustix::io::read(&fd, &mut buf)?;
            if n == 0 {
                return Ok(pids.finish());
            }
            pids.feed(&buf[..n]);
        }
    }

    /// Whether any process lives in the cgroup `base` (a directory fd, `O_PATH` is enough)
    /// or below it, from its `cgroup.events`. One read answers for a whole subtree; exited
    /// processes not yet reaped (zombies) no longer count.
    pub fn populated_at(base: BorrowedFd<'_>) -> io::Result<bool> {
        let fd = rustix::fs::openat(
            base,
            c"cgroup.events",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?;
        let mut buf = [0u8; 256];
        let mut len = 0;
        while len < buf.len() {
            let n = rustix::io::read(&fd, &mut buf[len..])?;
            if n == 0 {
                break;
            }
            len += n;
        }
        let text = std::str::from_utf8(&buf[..len])
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "cgroup.events is not text"))?;
        match text.lines().find_map(|l| l.strip_prefix("populated ")) {
            Some(v) => Ok(v.trim() == "1"),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "cgroup.events has no populated line",
            )),
        }
    }

    /// Opens a directory for [`Cgroup::procs_at`].
    pub fn open_dir(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
        Ok(rustix::fs::open(
            path,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )?)
    }

    /// Whether any process lives in this cgroup or below it.
    pub fn populated(&self) -> io::Result<bool> {
        let text = fs::read_to_string(self.path.join("cgroup.events"))?;
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("populated ") {
                return Ok(v.trim() == "1");
            }
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "cgroup.events has no populated line",
        ))
    }

    /// SIGKILLs every process in the subtree.
    ///
    /// Uses `cgroup.kill` (Linux 5.14+) which cannot miss forking
    /// processes; on older kernels falls back to killing the listed pids.
    pub fn kill(&self) -> io::Result<()> {
        let file = self.path.join("cgroup.kill");
        match fs::write(&file, b"1") {
            Ok(()) => Ok(()),
            // Before Linux 5.14 there is no `cgroup.kill`; creating a file on cgroupfs fails
            // with EACCES rather than ENOENT, so ask whether the file is there at all.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || (e.kind() == io::ErrorKind::PermissionDenied
                        && self.path.is_dir()
                        && !file.exists()) =>
            {
                self.kill_listed()
            }
            Err(e) => Err(e),
        }
    }

    /// Fallback for `kill`: signal each pid in this cgroup and its children.
    fn kill_listed(&self) -> io::Result<()> {
        for pid in self.procs()? {
            // pid 0 would mean "our process group": `Pid` cannot hold it, so it is never
            // signalled. A process already gone (ESRCH) is fine.
            if let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        for child in self.children()? {
            child.kill_listed()?;
        }
        Ok(())
    }

    /// Direct child cgroups.
    fn children(&self) -> io::Result<Vec<Cgroup>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                out.push(Cgroup { path: entry.path() });
            }
        }
        Ok(out)
    }

    /// Moves `pid` into this cgroup.
    pub fn add_pid(&self, pid: u32) -> io::Result<()> {
        fs::write(self.path.join("cgroup.procs"), pid.to_string())
    }

    /// The controllers this cgroup's parent gives it (`cgroup.controllers`): those it may
    /// enable for its children.
    pub fn controllers(&self) -> io::Result<Vec<String>> {
        let text = fs::read_to_string(self.path.join("cgroup.controllers"))?;
        Ok(text.split_whitespace().map(str::to_string).collect())
    }

    /// The controllers enabled for this cgroup's children (`cgroup.subtree_control`).
    pub fn subtree_control(&self) -> io::Result<Vec<String>> {
        let text = fs::read_to_string(self.path.join("cgroup.subtree_control"))?;
        Ok(text.split_whitespace().map(str::to_string).collect())
    }

    /// Enables a controller for this cgroup's children (`+NAME` to
    /// `cgroup.subtree_control`). The kernel refuses (`EBUSY`) while the cgroup itself
    /// holds processes, unless it is the root: cgroup2's "no internal processes" rule.
    pub fn enable_controller(&self, name: &str) -> io::Result<()> {
        check_file_name(name)?;
        fs::write(self.path.join("cgroup.subtree_control"), format!("+{name}"))
    }

    /// Writes an interface file of this cgroup (`memory.max`, `cpu.weight`…).
    pub fn write_setting(&self, file: &str, value: &str) -> io::Result<()> {
        check_file_name(file)?;
        fs::write(self.path.join(file), value)
    }

    /// Reads an interface file of this cgroup, trimmed.
    pub fn read_setting(&self, file: &str) -> io::Result<String> {
        check_file_name(file)?;
        Ok(fs::read_to_string(self.path.join(file))?.trim().to_string())
    }

    /// How many of this cgroup's processes the OOM killer has killed (`oom_kill` of
    /// `memory.events`; the file exists once the memory controller is enabled for it).
    pub fn oom_kills(&self) -> io::Result<u64> {
        let text = fs::read_to_string(self.path.join("memory.events"))?;
        Ok(text
            .lines()
            .filter_map(|l| l.strip_prefix("oom_kill "))
            .find_map(|n| n.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Removes this cgroup and its child cgroups (deepest first).
    ///
    /// Fails with EBUSY while processes remain; a missing cgroup is fine.
    pub fn remove(&self) -> io::Result<()> {
        // A job's cgroup rarely has children: try the directory alone first.
        match fs::remove_dir(&self.path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => {}
        }
        match self.children() {
            Ok(children) => {
                for c in children {
                    c.remove()?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        match fs::remove_dir(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }
}

/// An interface file or controller name: one path component, never `..`.
fn check_file_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a cgroup interface file"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestCgroup;

    #[test]
    fn pid_list_across_chunks() {
        let mut p = PidList::default();
        for chunk in [&b"12"[..], b"3\n45\n", b"99999999999\n6", b"7"] {
            p.feed(chunk);
        }
        assert_eq!(p.finish(), vec![123, 45, 67]);
        assert!(PidList::default().finish().is_empty());
    }

    #[test]
    fn mountinfo_line() {
        let l = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw";
        assert_eq!(
            parse_mountinfo_line(l),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let l = "41 31 0:38 / /a\\040b rw - cgroup2 none rw";
        assert_eq!(parse_mountinfo_line(l), Some(PathBuf::from("/a b")));
        let l = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";
        assert_eq!(parse_mountinfo_line(l), None);
        assert_eq!(parse_mountinfo_line("garbage"), None);
    }

    #[test]
    fn escape() {
        assert_eq!(escape_name(""), "_");
        assert_eq!(escape_name("."), "_2e");
        assert_eq!(escape_name(".."), "_2e_2e");
        assert_eq!(escape_name("tty/1"), "tty_2f1");
        assert_eq!(escape_name("a_b"), "a_5fb");
        assert_eq!(escape_name("Net-1.2"), "Net-1.2");
        assert_eq!(escape_name("é"), "_c3_a9");
        assert_ne!(escape_name("a/"), escape_name("a_2f"));
        let long = escape_name(&"/".repeat(1000));
        assert!(long.len() <= MAX_NAME);
        assert_ne!(long, escape_name(&"/".repeat(999)));
    }

    /// Issue 15 item 4: a job cgroup's name decodes back to the job and instance.
    #[test]
    fn issue15_item4_escaped_names_decode() {
        for s in ["", ".", "..", "tty/1", "a_b", "Net-1.2", "é", "a b@c"] {
            assert_eq!(unescape_name(&escape_name(s)).as_deref(), Some(s), "{s:?}");
        }
        assert_eq!(unescape_name(&escape_name(&"/".repeat(1000))), None);
        assert_eq!(unescape_name("a_z"), None);
        assert_eq!(unescape_name("a/b"), None);
    }

    #[test]
    fn create_procs_kill_remove() {
        let Some(tc) = TestCgroup::new() else { return };
        let cg = Cgroup::create(tc.path()).unwrap();
        Cgroup::create(tc.path()).unwrap();
        let sub = Cgroup::create(&tc.path().join("sub")).unwrap();
        assert!(!cg.populated().unwrap());
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        sub.add_pid(child.id()).unwrap();
        assert_eq!(sub.procs().unwrap(), vec![child.id()]);
        let base = Cgroup::open_dir(tc.path()).unwrap();
        use std::os::fd::AsFd;
        assert_eq!(
            Cgroup::procs_at(base.as_fd(), Path::new("sub")).unwrap(),
            vec![child.id()]
        );
        assert!(cg.procs().unwrap().is_empty());
        assert!(cg.populated().unwrap());
        cg.kill().unwrap();
        let st = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        // The kernel updates populated asynchronously after the reap.
        for _ in 0..100 {
            if !cg.populated().unwrap() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!cg.populated().unwrap());
        cg.remove().unwrap();
        assert!(!tc.path().exists());
        cg.remove().unwrap();
        assert!(Cgroup::open(tc.path()).is_err());
    }

    #[test]
    fn kill_fallback_lists_subtree() {
        let Some(tc) = TestCgroup::new() else { return };
        let cg = Cgroup::create(tc.path()).unwrap();
        let sub = Cgroup::create(&tc.path().join("x")).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        sub.add_pid(child.id()).unwrap();
        cg.kill_listed().unwrap();
        let st = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGKILL));
    }
}
