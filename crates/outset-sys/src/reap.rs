//! Child reaping for a subreaper / PID 1: collect every status change on
//! SIGCHLD, including orphans re-parented to us.

use std::io;

/// What happened to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChildEvent {
    /// Exited with this status code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Stopped by this signal (or a ptrace stop).
    Stopped(i32),
}

/// Decodes a raw wait status; `None` for statuses we do not report (continued).
pub fn decode_status(status: i32) -> Option<ChildEvent> {
    if libc::WIFEXITED(status) {
        Some(ChildEvent::Exited(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(ChildEvent::Signaled(libc::WTERMSIG(status)))
    } else if libc::WIFSTOPPED(status) {
        Some(ChildEvent::Stopped(libc::WSTOPSIG(status)))
    } else {
        None
    }
}

/// Collects all pending child status changes without blocking.
///
/// Stops are reported too (WUNTRACED), so jobs that stop themselves or are
/// traced are visible.
pub fn reap_all() -> Vec<(u32, ChildEvent)> {
    let mut out = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`, a valid local.
        let pid = unsafe {
            libc::waitpid(
                -1,
                &mut status,
                libc::WNOHANG | libc::WUNTRACED | libc::__WALL,
            )
        };
        if pid > 0 {
            if let (Ok(pid), Some(ev)) = (u32::try_from(pid), decode_status(status)) {
                out.push((pid, ev));
            }
            continue;
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        // 0: children exist but none changed; ECHILD: no children at all.
        return out;
    }
}

/// The next child with a status change, left unreaped (`waitid` with WNOWAIT), so its
/// `/proc` entry can still be read.
fn peek() -> Option<u32> {
    loop {
        // SAFETY: zeroed siginfo_t is a valid value for waitid to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only to `info`, a valid local.
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WSTOPPED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
            )
        };
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r < 0 {
            return None;
        }
        // SAFETY: waitid filled `info` for a child event (si_pid is 0 when there was none).
        let pid = unsafe { info.si_pid() };
        return u32::try_from(pid).ok().filter(|p| *p > 0);
    }
}

/// The cgroup v2 path (`0::/path`) of a live or zombie process.
pub fn cgroup_of(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

/// Like [`reap_all`], but reads each child's cgroup before reaping it, so an exit can be
/// told to the job it belonged to even when the process was not one the caller knew.
pub fn reap_all_with_cgroup() -> Vec<(u32, ChildEvent, Option<String>)> {
    let mut out = Vec::new();
    while let Some(pid) = peek() {
        let cgroup = cgroup_of(pid);
        let mut status = 0;
        let Ok(raw) = i32::try_from(pid) else {
            break;
        };
        // SAFETY: waitpid writes only to `status`, a valid local.
        let r = unsafe {
            libc::waitpid(
                raw,
                &mut status,
                libc::WNOHANG | libc::WUNTRACED | libc::__WALL,
            )
        };
        if r <= 0 {
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if let Some(ev) = decode_status(status) {
            out.push((pid, ev, cgroup));
        }
    }
    // Anything peek could not see (it never misses, but never leave a zombie behind).
    out.extend(reap_all().into_iter().map(|(p, e)| (p, e, None)));
    out
}

/// Like [`reap_all`] (with `with_cgroup`, [`reap_all_with_cgroup`]) but gives the raw wait
/// status, so ptrace stops keep their event bits (see `ptrace::classify_stop`).
pub fn reap_all_raw(with_cgroup: bool) -> Vec<(u32, i32, Option<String>)> {
    let mut out = Vec::new();
    if with_cgroup {
        while let Some(pid) = peek() {
            let cgroup = cgroup_of(pid);
            let Some(status) = wait_one(pid) else { break };
            out.push((pid, status, cgroup));
        }
    }
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`, a valid local.
        let pid = unsafe {
            libc::waitpid(
                -1,
                &mut status,
                libc::WNOHANG | libc::WUNTRACED | libc::__WALL,
            )
        };
        if pid > 0 {
            if let Ok(pid) = u32::try_from(pid) {
                out.push((pid, status, None));
            }
            continue;
        }
        if pid < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return out;
    }
}

/// Non-blocking waits for these PIDs only, each by its PID: the raw status of each that had
/// one. A wait for any child scans every child the caller has, so reaping thousands of
/// just-signalled processes that way costs time in their square; a wait by PID does not.
/// Follow with [`reap_all_raw`] for anything else.
pub fn reap_these(pids: &[u32]) -> Vec<(u32, i32)> {
    pids.iter()
        .filter_map(|&pid| wait_one(pid).map(|status| (pid, status)))
        .collect()
}

/// One non-blocking wait for `pid`: its raw status, `None` if it had nothing to report.
fn wait_one(pid: u32) -> Option<i32> {
    let raw = i32::try_from(pid).ok()?;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`, a valid local.
        let r = unsafe {
            libc::waitpid(
                raw,
                &mut status,
                libc::WNOHANG | libc::WUNTRACED | libc::__WALL,
            )
        };
        if r > 0 {
            return Some(status);
        }
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return None;
    }
}

/// Makes orphaned descendants re-parent to this process instead of PID 1,
/// so a non-PID-1 supervisor can still reap daemonised jobs.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes a plain integer argument.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(decode_status(3 << 8), Some(ChildEvent::Exited(3)));
        assert_eq!(decode_status(9), Some(ChildEvent::Signaled(9)));
        assert_eq!(
            decode_status((19 << 8) | 0x7f),
            Some(ChildEvent::Stopped(19))
        );
        assert_eq!(decode_status(0xffff), None);
    }
}

#[cfg(test)]
mod targeted_tests {
    use super::*;

    /// Issue 11 item 4: waiting by PID reaps exactly the given children that ended, and
    /// leaves the others (running or not named) to a later wait.
    #[test]
    fn issue11_item4_reap_these_takes_only_the_named_children() {
        let spawn = |secs: &str| {
            std::process::Command::new("sleep")
                .arg(secs)
                .spawn()
                .unwrap()
        };
        let mut a = spawn("0");
        let mut b = spawn("0");
        let mut c = spawn("1000");
        let (pa, pb, pc) = (a.id(), b.id(), c.id());
        // Wait (without reaping) until a and b have ended.
        for pid in [pa, pb] {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
                if stat
                    .rsplit(')')
                    .next()
                    .unwrap()
                    .trim_start()
                    .starts_with('Z')
                {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "{pid} never ended");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        let got = reap_these(&[pa, pc]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, pa);
        assert_eq!(decode_status(got[0].1), Some(ChildEvent::Exited(0)));
        // b was not named: still there to be reaped; c still runs.
        assert_eq!(
            reap_these(&[pb]).iter().map(|r| r.0).collect::<Vec<_>>(),
            [pb]
        );
        assert!(reap_these(&[pc]).is_empty());
        c.kill().unwrap();
        c.wait().unwrap();
        // a and b are gone: waiting on their Child handles finds nothing left.
        assert!(a.try_wait().is_err() || a.try_wait().unwrap().is_none());
        assert!(b.try_wait().is_err() || b.try_wait().unwrap().is_none());
    }
}
