//! Child reaping for a subreaper / PID 1: collect every status change on
//! SIGCHLD, including orphans re-parented to us.
//!
//! Wait statuses are decoded into the one exit-status type, [`ExitStatus`] (from
//! `outset-proto`, which the engine uses too); a stop is not an ending and is read with
//! [`stop_signal`] (or, for a tracee, `ptrace::classify_stop`).

use std::io;

pub use outset_proto::ExitStatus;
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};

/// How the process of a raw wait status ended; `None` if it did not end (a stop, or
/// continued).
pub fn exit_status(status: i32) -> Option<ExitStatus> {
    if libc::WIFEXITED(status) {
        Some(ExitStatus::Exited(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(ExitStatus::Signaled(libc::WTERMSIG(status)))
    } else {
        None
    }
}

/// The signal that stopped the process of a raw wait status (a ptrace stop included);
/// `None` if it is not a stop.
pub fn stop_signal(status: i32) -> Option<i32> {
    libc::WIFSTOPPED(status).then(|| libc::WSTOPSIG(status))
}

/// `waitpid` options from libc's flags. `__WALL` (children of any kind, tracees created
/// by clone included) has no rustix name; the flags type passes it through.
fn wait_options(flags: libc::c_int) -> WaitOptions {
    // The flags are bit masks: the cast keeps their bits.
    WaitOptions::from_bits_retain(flags as u32)
}

/// One `waitpid(pid or -1, flags)`, retried on EINTR: `Ok(None)` when nothing is pending
/// (with `WNOHANG`).
pub(crate) fn wait_raw(pid: Option<u32>, flags: libc::c_int) -> io::Result<Option<(u32, i32)>> {
    let opts = wait_options(flags);
    let target = match pid {
        Some(p) => Some(
            i32::try_from(p)
                .ok()
                .and_then(Pid::from_raw)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ECHILD))?,
        ),
        None => None,
    };
    loop {
        // `waitpid(None)` would mean our process group, so "any child" is `wait`.
        let r = match target {
            Some(p) => rustix::process::waitpid(Some(p), opts),
            None => rustix::process::wait(opts),
        };
        match r {
            Ok(Some((p, st))) => {
                return Ok(Some((p.as_raw_nonzero().get().unsigned_abs(), st.as_raw())));
            }
            Ok(None) => return Ok(None),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The next child with a status change, left unreaped (`waitid` with WNOWAIT), so its
/// `/proc` entry can still be read.
fn peek() -> Option<u32> {
    loop {
        // rustix's waitid does not tell which child it saw, so this one stays on libc.
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

/// Collects every pending child status change without blocking, as raw wait statuses (so
/// ptrace stops keep their event bits, see `ptrace::classify_stop`). Stops are reported
/// too (WUNTRACED), so jobs that stop themselves or are traced are visible.
///
/// With `with_cgroup`, each child's cgroup is read before it is reaped, so an exit can be
/// told to the job it belonged to even when the process was not one the caller knew.
pub fn reap_all_raw(with_cgroup: bool) -> Vec<(u32, i32, Option<String>)> {
    const FLAGS: libc::c_int = libc::WNOHANG | libc::WUNTRACED | libc::__WALL;
    let mut out = Vec::new();
    if with_cgroup {
        while let Some(pid) = peek() {
            let cgroup = cgroup_of(pid);
            let Ok(Some((_, status))) = wait_raw(Some(pid), FLAGS) else {
                break;
            };
            out.push((pid, status, cgroup));
        }
    }
    // Anything peek could not see (it never misses, but never leave a zombie behind).
    // 0 pending: children exist but none changed; ECHILD: no children at all.
    while let Ok(Some((pid, status))) = wait_raw(None, FLAGS) {
        out.push((pid, status, None));
    }
    out
}

/// Reaps every child that ended without blocking (their statuses dropped: the end of a
/// shutdown, where nobody is told); false once there is no child at all (ECHILD).
pub fn reap_orphans() -> bool {
    const FLAGS: libc::c_int = libc::WNOHANG | libc::__WALL;
    loop {
        match wait_raw(None, FLAGS) {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

/// Non-blocking waits for these PIDs only, each by its PID: the raw status of each that had
/// one. A wait for any child scans every child the caller has, so reaping thousands of
/// just-signalled processes that way costs time in their square; a wait by PID does not.
/// Follow with [`reap_all_raw`] for anything else.
pub fn reap_these(pids: &[u32]) -> Vec<(u32, i32)> {
    const FLAGS: libc::c_int = libc::WNOHANG | libc::WUNTRACED | libc::__WALL;
    pids.iter()
        .filter_map(|&pid| match wait_raw(Some(pid), FLAGS) {
            Ok(Some((_, status))) => Some((pid, status)),
            _ => None,
        })
        .collect()
}

/// Makes orphaned descendants re-parent to this process instead of PID 1,
/// so a non-PID-1 supervisor can still reap daemonised jobs.
pub fn set_child_subreaper() -> io::Result<()> {
    // rustix takes the prctl flag as an optional (nonzero) pid: any `Some` sets it.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode() {
        assert_eq!(exit_status(3 << 8), Some(ExitStatus::Exited(3)));
        assert_eq!(exit_status(9), Some(ExitStatus::Signaled(9)));
        assert_eq!(exit_status((19 << 8) | 0x7f), None);
        assert_eq!(stop_signal((19 << 8) | 0x7f), Some(19));
        assert_eq!(stop_signal(3 << 8), None);
        assert_eq!(exit_status(0xffff), None);
        assert_eq!(stop_signal(0xffff), None);
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
        assert_eq!(exit_status(got[0].1), Some(ExitStatus::Exited(0)));
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
