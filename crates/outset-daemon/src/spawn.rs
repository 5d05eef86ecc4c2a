//! Turning the engine's spawn request into a Linux spawn.

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use outset_engine::{SpawnFailure, SpawnSpec};
use outset_job::{Console, LimitValue, Process};
use outset_sys::spawn::{
    FailureReports, PASSED_FD, ProgramSpec, SharedFd, SpawnError, SpawnPlan, SpawnRequest, Spawned,
    Stdio,
};

/// Upstart's command rule: a `script`, or an `exec` line holding shell characters, runs
/// through `/bin/sh -e`; such an `exec` line is prefixed with `exec ` so the shell replaces
/// itself and the PID stays the program's. Otherwise the line is split on whitespace.
pub fn program(process: &Process) -> ProgramSpec {
    match process {
        Process::Exec(cmd) if !process.needs_shell() => ProgramSpec::Argv(
            cmd.split([' ', '\t', '\r', '\n'])
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Process::Exec(cmd) => ProgramSpec::Shell {
            script: format!("exec {cmd}"),
        },
        Process::Script(body) => ProgramSpec::Shell {
            script: body.clone(),
        },
    }
}

fn limit(v: LimitValue) -> Option<u64> {
    match v {
        LimitValue::Value(n) => Some(n),
        LimitValue::Unlimited => None,
    }
}

/// Where a job process's standard fds go: `console log` to its pty (`output`, when there
/// is one), `console output` and `owner` to the console (the daemon's own fds when it has
/// no console device), `none` to /dev/null.
pub fn stdio(console: Console, output: Option<RawFd>, console_dev: Option<&Path>) -> Stdio {
    match (console, output, console_dev) {
        (Console::Log, Some(fd), _) => Stdio::NullOutputTo(fd),
        (Console::Log | Console::None, _, _) => Stdio::Null,
        (Console::Output | Console::Owner, _, Some(path)) => Stdio::Console {
            path: path.to_path_buf(),
            owner: console == Console::Owner,
        },
        (Console::Output | Console::Owner, _, None) => Stdio::Inherit,
    }
}

/// An fd a job process gets as fd 3.
#[derive(Debug, Clone)]
pub enum Passed {
    /// A listening socket (socket activation): Upstart's and systemd's variables for it.
    Socket(SharedFd),
    /// The fd sent with the event that started the run (`EmitEventWithFile`):
    /// `UPSTART_FDS` only, as Upstart gave it.
    EventFd(SharedFd),
}

/// The Linux request for a job process; `passed` is an fd the process gets as fd 3, and
/// `extra_env` is set last (over the job's own variables), as the session's variables are.
pub fn request(
    spec: &SpawnSpec,
    cgroup: Option<&Path>,
    user_mode: bool,
    stdio: Stdio,
    passed: Option<Passed>,
    extra_env: &[(String, String)],
) -> SpawnRequest {
    let mut env = spec.env.clone();
    for (k, v) in extra_env {
        env.retain(|(key, _)| key != k);
        env.push((k.clone(), v.clone()));
    }
    if passed.is_some() {
        env.retain(|(k, _)| k != "UPSTART_FDS");
        env.push(("UPSTART_FDS".into(), PASSED_FD.to_string()));
    }
    if let Some(Passed::Socket(_)) = passed {
        // LISTEN_PID is the program's own PID: the child sets it (outset-sys).
        env.retain(|(k, _)| !matches!(k.as_str(), "LISTEN_FDS" | "LISTEN_FDNAMES"));
        env.push(("LISTEN_FDS".into(), "1".into()));
        env.push(("LISTEN_FDNAMES".into(), spec.job.clone()));
    }
    let pass_fd_plain = matches!(passed, Some(Passed::EventFd(_)));
    let pass_fd = passed.map(|p| match p {
        Passed::Socket(fd) | Passed::EventFd(fd) => fd,
    });
    SpawnRequest {
        program: program(&spec.process),
        env,
        // Upstart: `/` in system mode, unchanged in user mode unless set.
        cwd: match (&spec.chdir, user_mode) {
            (Some(d), _) => Some(PathBuf::from(d)),
            (None, false) => Some(PathBuf::from("/")),
            (None, true) => None,
        },
        chroot: spec.chroot.as_ref().map(PathBuf::from),
        user: spec.setuid.clone(),
        group: spec.setgid.clone(),
        rlimits: spec
            .limits
            .iter()
            .map(|l| (l.resource, limit(l.soft), limit(l.hard)))
            .collect(),
        nice: spec.nice,
        oom_score_adj: spec.oom_score,
        umask: spec.umask,
        stdio,
        cgroup: cgroup.map(Path::to_path_buf),
        // `track ptrace`: stopped before exec so it can be seized before it runs anything.
        stop_before_exec: spec.ptrace,
        pass_fd,
        pass_fd_plain,
    }
}

/// Spawns the process; the error says why in words for the log. With `reports`, the spawn
/// does not wait for the child to exec: a failure in the child arrives there later.
pub fn spawn(
    spec: &SpawnSpec,
    cgroup: Option<&Path>,
    user_mode: bool,
    reports: Option<&mut FailureReports>,
    stdio: Stdio,
    passed: Option<Passed>,
    extra_env: &[(String, String)],
) -> Result<Spawned, SpawnFailure> {
    let mut req = request(spec, cgroup, user_mode, stdio, passed, extra_env);
    let plan = match SpawnPlan::new(&req) {
        // A console not there yet (early boot) does not keep the job from starting: its
        // output goes to /dev/null, as Upstart fell back to `console none`.
        Err(SpawnError::Open { what, source }) if matches!(&req.stdio, Stdio::Console { path, .. } if path.display().to_string() == what) => {
            log::warn!(
                "{}: cannot open {what} ({source}); its output goes to /dev/null",
                spec.job
            );
            req.stdio = Stdio::Null;
            SpawnPlan::new(&req)
        }
        other => other,
    }
    .map_err(failure)?;
    match reports {
        Some(r) => outset_sys::spawn::spawn_detached(&plan, r),
        None => outset_sys::spawn::spawn(&plan),
    }
    .map_err(failure)
}

/// A spawn error as the engine weighs it: worth trying again, or not. A missing /dev/null
/// (early boot) says so: the message names the path, and the engine's log line the job.
fn failure(e: SpawnError) -> SpawnFailure {
    if e.is_transient() {
        SpawnFailure::Retry(e.to_string())
    } else {
        SpawnFailure::Permanent(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_rule() {
        assert_eq!(
            program(&Process::Exec("/bin/sleep  10".into())),
            ProgramSpec::Argv(vec!["/bin/sleep".into(), "10".into()])
        );
        assert_eq!(
            program(&Process::Exec("/bin/a > /tmp/x".into())),
            ProgramSpec::Shell {
                script: "exec /bin/a > /tmp/x".into()
            }
        );
        assert_eq!(
            program(&Process::Script("echo hi\n".into())),
            ProgramSpec::Shell {
                script: "echo hi\n".into()
            }
        );
    }
}
