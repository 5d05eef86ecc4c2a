//! Re-exec (docs/reexec.md): the whole state handed to a new image through a memfd, the
//! descriptors that must survive kept open across `execve`; and adoption, the recovery from
//! the cgroup tree when there is no state to take.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use outset_proto::Body;

use super::*;
use crate::state::{self, DaemonState, State};

/// How long the target binary may take to check the state.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl Daemon {
    /// Replaces this image with `binary` (the daemon's own by default), handing over the
    /// whole state; `reply` is answered by the new image. Returns only when the switch
    /// could not be made, with why: nothing has changed then, and the loop carries on.
    pub fn reexec(&mut self, binary: Option<PathBuf>, reply: Option<ReplyToken>) -> String {
        let target = binary.unwrap_or_else(|| self.exe.clone());
        // A shutdown's steps and a session's end are timed in this image: let them finish.
        if self.going_down.is_some() {
            return "a shutdown is under way".into();
        }
        if self.scheduled.is_some() {
            return "a shutdown is scheduled; cancel it first (shutdown -c)".into();
        }
        if self.session_ending.is_some() {
            return "the session is ending".into();
        }
        if let Err(e) = check_binary(&target) {
            return e;
        }
        // No spawn is left half-known: every child of the last batch has exec'd or failed.
        self.confirm_spawns();
        if self.engine.awaits_confirmation() {
            return "spawns are still being confirmed; try again".into();
        }
        if self.host.tracing() {
            return "jobs are being followed with ptrace while they start; try again once they have started".into();
        }
        self.host.flush_conns();
        // Signals the engine decided on are sent by this image, not forgotten by it.
        self.host.flush_signals();
        // Job output read so far goes to its files; what cannot is carried in the state.
        self.host.logs.drain_for_handover();
        let text = self.state_text(reply);
        let memfd = match outset_sys::handover::state_memfd("outset-state", &text) {
            Ok(fd) => fd,
            Err(e) => return format!("cannot hold the state in a memfd: {e}"),
        };
        if let Err(e) = run_check(&target, memfd.as_raw_fd()) {
            return e;
        }
        let handed: Vec<BorrowedFd<'_>> = self
            .listeners
            .iter()
            .map(|l| l.as_fd())
            .chain(self.host.handover_fds())
            .collect();
        let mut failed = None;
        for fd in &handed {
            if let Err(e) = outset_sys::handover::set_inherited(*fd, true) {
                failed = Some(format!(
                    "cannot keep descriptor {} open: {e}",
                    fd.as_raw_fd()
                ));
                break;
            }
        }
        let why = match failed {
            Some(why) => why,
            None => {
                log::info!(
                    "re-executing {} ({} bytes of state, {} descriptors)",
                    target.display(),
                    text.len(),
                    handed.len()
                );
                let args = args_with_state(&self.argv, memfd.as_raw_fd());
                let e = outset_sys::handover::exec(&target, &args);
                format!("cannot execute {}: {e}", target.display())
            }
        };
        for fd in handed {
            let _ = outset_sys::handover::set_inherited(fd, false);
        }
        why
    }

    /// The state as JSON.
    fn state_text(&mut self, reply: Option<ReplyToken>) -> Vec<u8> {
        let now = self.now();
        self.engine.set_now(now);
        let host = self.host.export();
        let listeners: Vec<(i32, Option<u32>)> = self
            .listeners
            .iter()
            .map(|l| (l.as_fd().as_raw_fd(), l.only_uid()))
            .collect();
        let mut fds: Vec<i32> = listeners.iter().map(|l| l.0).collect();
        fds.extend(host.conns.iter().map(|c| c.fd));
        fds.extend(host.notify.iter().map(|n| n.1));
        fds.extend(host.activation.iter().map(|a| a.1));
        let logs = self.host.logs.export();
        fds.extend(logs.captures.iter().map(|c| c.fd));
        let mut sections = std::collections::BTreeMap::new();
        // Only when there is something to carry: an older image can then take the state.
        if !logs.captures.is_empty() || !logs.sinks.is_empty() {
            match serde_json::to_value(&logs) {
                Ok(data) => {
                    sections.insert(state::LOGS.to_string(), state::Section { version: 1, data });
                }
                // Plain data always encodes; the masters named in `fds` are then closed.
                Err(e) => log::error!("cannot encode the job-output state: {e}"),
            }
        }
        let st = State {
            schema: state::SCHEMA,
            writer: env!("CARGO_PKG_VERSION").to_string(),
            fds,
            clock_ms: now,
            engine: self.engine.snapshot(),
            daemon: DaemonState {
                listener: listeners.first().map_or(-1, |l| l.0),
                listeners,
                runlevels: Some((self.runlevels.previous, self.runlevels.current)),
                next_reply: self.next_reply,
                shutting_down: false,
                reexec_replies: reply.map(|t| t.0).into_iter().collect(),
                watched: {
                    let mut w: Vec<_> = self.adopted.iter().map(|(p, (i, _))| (i.0, *p)).collect();
                    w.sort_unstable();
                    w
                },
                host,
                sources: self
                    .confdirs
                    .sources(None)
                    .into_iter()
                    .map(|(name, files)| {
                        let files = files.iter().map(|f| f.display().to_string()).collect();
                        (name.to_string(), files)
                    })
                    .collect(),
                observed: Some(self.observed.borrow().export()),
            },
            sections,
        };
        match serde_json::to_vec(&st) {
            Ok(t) => t,
            // Plain data always encodes; an empty state is refused by the check.
            Err(e) => {
                log::error!("cannot encode the state: {e}");
                Vec::new()
            }
        }
    }

    /// The new image's side: the daemon's part of the handed-over state. The engine was
    /// restored at `clock_ms` already; the clock goes on from there.
    pub fn restore(
        &mut self,
        clock_ms: u64,
        d: DaemonState,
        logs: state::LogsState,
        mut fds: state::Fds,
    ) {
        self.epoch = Instant::now()
            .checked_sub(Duration::from_millis(clock_ms))
            .unwrap_or(self.epoch);
        self.host.import(d.host, &mut fds);
        self.host.logs.import(logs, |fd| {
            fds.remove(&fd).ok_or_else(|| {
                std::io::Error::other(format!("descriptor {fd} was not handed over"))
            })
        });
        if !fds.is_empty() {
            log::warn!(
                "{} handed-over descriptors named by nothing; closed",
                fds.len()
            );
        }
        // The connections are watched before the loop first sleeps: a client may send its
        // next request on a connection it opened before the switch.
        self.sweep_conns();
        // Pidfds are not handed over: the watches of adopted processes that are not
        // children are made again.
        for (id, pid) in d.watched {
            self.watch_adopted(InstanceId(id), &[pid]);
        }
        self.next_reply = self.next_reply.max(d.next_reply);
        if let Some(o) = d.observed {
            *self.observed.borrow_mut() = crate::observe::Observed::import(o);
            self.watched_upto = self.observed.borrow().total();
        }
        if let Some((previous, current)) = d.runlevels {
            self.runlevels.previous = previous;
            self.runlevels.current = current;
        }
        // Images that wrote `shutting_down` handed over a shutdown under way: it goes on.
        if d.shutting_down {
            self.shutdown("the state handed over was shutting down");
        }
        for token in d.reexec_replies {
            self.host.send(
                ReplyToken(token),
                &Response::Ok {
                    body: Body::Version(format!("outset {}", env!("CARGO_PKG_VERSION"))),
                },
            );
        }
        // Children that ended while the image changed: their SIGCHLD may have been merged
        // with one read before.
        self.reap();
    }

    /// Takes over the instances whose cgroups are under the root with no state for them
    /// (issue 15 items 4 and 5): each is adopted as running, so its `start on` does not
    /// start it a second time. Empty job cgroups are removed; cgroups of jobs not loaded
    /// are left alone.
    pub fn adopt_cgroups(&mut self) {
        for (dir, pids) in self.host.untracked_cgroups() {
            let Some((job, instance)) = crate::tracker::decode_dir_name(&dir) else {
                log::warn!("cgroup {dir} names no job instance outset makes; left alone");
                continue;
            };
            if pids.is_empty() {
                self.host.retire_untracked(&dir);
                continue;
            }
            self.tick_clock();
            match self.engine.adopt(&job, &instance, &pids, &mut self.host) {
                Ok(id) => {
                    self.host.attach(id, &job, &instance, &pids);
                    log::info!(
                        "adopted {} from its cgroup: processes {pids:?}",
                        if instance.is_empty() {
                            job.clone()
                        } else {
                            format!("{job} ({instance})")
                        }
                    );
                    self.watch_adopted(id, &pids);
                }
                Err(e) => log::warn!("cgroup {dir} not adopted: {e}"),
            }
        }
    }

    /// Adopted processes that are not the daemon's children (their parent was a daemon
    /// that died): their end is seen through a pidfd, as no SIGCHLD comes for them.
    fn watch_adopted(&mut self, id: InstanceId, pids: &[u32]) {
        let me = outset_sys::process::pid();
        for &pid in pids {
            if outset_sys::procfs::parent_of(pid) == Some(me) {
                continue;
            }
            match outset_sys::pidfd::PidFd::open(pid) {
                Ok(fd) => match self.poller.add(fd.as_fd(), TOKEN_PIDFD0 + u64::from(pid)) {
                    Ok(()) => {
                        self.adopted.insert(pid, (id, fd));
                    }
                    Err(e) => log::warn!("cannot watch adopted process {pid}: {e}"),
                },
                Err(e) => log::warn!("cannot watch adopted process {pid}: {e}"),
            }
        }
    }

    /// An adopted process that is not a child ended. Its exit status cannot be known (only
    /// a parent reaps it): it counts as exit 0.
    pub(super) fn on_adopted_exit(&mut self, pid: u32) {
        let Some((id, fd)) = self.adopted.remove(&pid) else {
            return;
        };
        let _ = self.poller.delete(fd.as_fd());
        drop(fd);
        self.tick_clock();
        self.host.child_ended(pid);
        let status = outset_engine::ExitStatus::Exited(0);
        if !self.engine.exited(pid, status, &mut self.host) {
            self.engine.exited_in(id, pid, status, &mut self.host);
        }
        self.engine.after_reap(&mut self.host);
    }
}

/// Whether `target` can be executed at all.
fn check_binary(target: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(target).map_err(|e| format!("cannot use {}: {e}", target.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", target.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not executable", target.display()));
    }
    Ok(())
}

/// Runs `target --check-state FD`: the new binary must be able to read the state before
/// the old image gives way to it.
fn run_check(target: &Path, fd: i32) -> Result<(), String> {
    let mut child = std::process::Command::new(target)
        .arg("--check-state")
        .arg(fd.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", target.display()))?;
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not check the state within {} s",
                    target.display(),
                    CHECK_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("waiting for {}: {e}", target.display())),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    let err = err.trim();
    Err(format!(
        "{} cannot take the state ({status}){}{err}",
        target.display(),
        if err.is_empty() { "" } else { ": " }
    ))
}

/// The daemon's own arguments, without any earlier `--state-fd`, then `--state-fd FD`.
fn args_with_state(argv: &[OsString], fd: i32) -> Vec<OsString> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    let mut skip = false;
    for a in argv {
        if skip {
            skip = false;
            continue;
        }
        if a == "--state-fd" {
            skip = true;
            continue;
        }
        if a.to_str().is_some_and(|s| s.starts_with("--state-fd=")) {
            continue;
        }
        out.push(a.clone());
    }
    out.push("--state-fd".into());
    out.push(fd.to_string().into());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue15_item2_state_fd_replaces_an_earlier_one() {
        let argv: Vec<OsString> = [
            "outset",
            "--state-fd",
            "9",
            "--confdir",
            "/x",
            "--state-fd=4",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(
            args_with_state(&argv, 12),
            ["outset", "--confdir", "/x", "--state-fd", "12"]
                .iter()
                .map(OsString::from)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn issue15_item6_missing_or_non_executable_targets_are_refused() {
        assert!(check_binary(Path::new("/nonexistent/outset")).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert!(check_binary(dir.path()).is_err());
        let f = dir.path().join("outset");
        std::fs::write(&f, "#!/bin/sh\nexit 1\n").unwrap();
        let err = check_binary(&f).unwrap_err();
        assert!(err.contains("not executable"), "{err}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_binary(&f).is_ok());
        let err = run_check(&f, 3).unwrap_err();
        assert!(err.contains("cannot take the state"), "{err}");
    }
}
