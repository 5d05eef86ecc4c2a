//! `console log`: each job process writes to a pty; the loop reads the masters and appends
//! to `<logdir>/<job>.log` (see docs/logging.md).
//!
//! The loop never waits on a job's output: masters are non-blocking, each is read for at
//! most [`READ_PER_TURN`] bytes a turn (a flooding job then fills its pty and blocks in its
//! own `write`, while control requests are served), and output the disk cannot take yet is
//! held within [`BUFFER_PER_JOB`] and [`BUFFER_TOTAL`], the rest counted and marked.

mod sink;
mod tail;

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use outset_job::LogRotate;
use outset_sys::poll::Poller;
use outset_sys::pty::{Pty, Read};

use sink::{Env, Sink};
pub use tail::Cursor;

/// One read of a master.
pub const READ_CHUNK: usize = 64 * 1024;
/// The most read from one master in one loop turn.
pub const READ_PER_TURN: usize = 256 * 1024;
/// The most read from a process's pty when it exits (what it wrote last).
const DRAIN_AT_EXIT: usize = 4 * 1024 * 1024;
/// Output held in memory per log file while the disk cannot take it.
pub const BUFFER_PER_JOB: usize = 256 * 1024;
/// Output held in memory for all jobs together.
pub const BUFFER_TOTAL: usize = 8 * 1024 * 1024;
/// How often a log file that could not be opened is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Read times kept per log file for `outsetctl log --json`.
const TIMES_KEPT: usize = 64;
/// The daemon's rotation unless `--log-rotate` or a job's `log rotate` says otherwise.
pub const DEFAULT_ROTATE: LogRotate = LogRotate {
    max_size: 10 * 1024 * 1024,
    keep: 5,
};

/// How the daemon logs jobs.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub dir: PathBuf,
    /// `--no-log`: `console log` behaves as `console none`.
    pub enabled: bool,
    /// User mode: files 0600 instead of 0640.
    pub user: bool,
    pub rotate: LogRotate,
}

/// One pty being read.
struct Capture {
    master: OwnedFd,
    /// The sink (file name) it writes to.
    sink: String,
    pid: Option<u32>,
    /// In the poller.
    watched: bool,
    /// Every slave has closed: removed at the next sweep.
    closed: bool,
}

pub struct Logs {
    cfg: LogConfig,
    sinks: HashMap<String, Sink>,
    captures: HashMap<u64, Capture>,
    by_pid: HashMap<u32, u64>,
    next: u64,
    read_buf: Vec<u8>,
    buffered: usize,
    /// A capture was made or has ended since the last sweep.
    dirty: bool,
    /// When held output was last tried (the loop tries every [`RETRY_EVERY`]).
    last_retry: Instant,
}

impl Logs {
    pub fn new(cfg: LogConfig) -> Logs {
        Logs {
            cfg,
            sinks: HashMap::new(),
            captures: HashMap::new(),
            by_pid: HashMap::new(),
            next: 0,
            read_buf: Vec::new(),
            buffered: 0,
            dirty: false,
            last_retry: Instant::now(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    fn env(&self) -> Env {
        Env {
            dir: self.cfg.dir.clone(),
            mode: if self.cfg.user { 0o600 } else { 0o640 },
            buffered: self.buffered,
            now: Instant::now(),
            wall_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// A pty for a new process of `job`'s instance: returns the capture's id and the slave
    /// to give the process (the caller drops it once the process is spawned).
    pub fn open_pty(
        &mut self,
        job: &str,
        instance: &str,
        rotate: Option<LogRotate>,
    ) -> std::io::Result<(u64, OwnedFd)> {
        let Pty { master, slave } = Pty::open()?;
        let name = outset_job::log_file_name(job, instance);
        let rotate = rotate.unwrap_or(self.cfg.rotate);
        let sink = self
            .sinks
            .entry(name.clone())
            .or_insert_with(|| Sink::new(name.clone(), rotate));
        sink.rotate = rotate;
        sink.captures += 1;
        let id = self.next;
        self.next += 1;
        self.dirty = true;
        self.captures.insert(
            id,
            Capture {
                master,
                sink: name,
                pid: None,
                watched: false,
                closed: false,
            },
        );
        Ok((id, slave))
    }

    /// The process the capture's pty was given to.
    pub fn bind(&mut self, id: u64, pid: u32) {
        if let Some(c) = self.captures.get_mut(&id) {
            c.pid = Some(pid);
            self.by_pid.insert(pid, id);
        }
    }

    /// The spawn failed in the parent: nothing will write to this pty.
    pub fn cancel(&mut self, id: u64) {
        if let Some(c) = self.captures.get_mut(&id) {
            c.closed = true;
            self.dirty = true;
        }
    }

    /// Adds new masters to the poller and removes those whose job has gone.
    pub fn sweep(&mut self, poller: &Poller, token0: u64) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let mut gone = Vec::new();
        for (id, c) in &mut self.captures {
            if c.closed {
                gone.push(*id);
            } else if !c.watched {
                match poller.add(c.master.as_fd(), token0 + id) {
                    Ok(()) => c.watched = true,
                    // Unread, the job would block once its pty is full: the pty is
                    // closed instead (the job's writes then fail) and the loss logged.
                    Err(e) => {
                        log::error!(
                            "cannot watch the pty of a process writing to {}: {e}; its output is lost",
                            c.sink
                        );
                        c.closed = true;
                        self.dirty = true;
                    }
                }
            }
        }
        for id in gone {
            let Some(c) = self.captures.remove(&id) else {
                continue;
            };
            if c.watched {
                let _ = poller.delete(c.master.as_fd());
            }
            if let Some(pid) = c.pid {
                self.by_pid.remove(&pid);
            }
            if let Some(s) = self.sinks.get_mut(&c.sink) {
                s.captures = s.captures.saturating_sub(1);
            }
            self.drop_idle_sink(&c.sink);
        }
    }

    fn drop_idle_sink(&mut self, name: &str) {
        if self
            .sinks
            .get(name)
            .is_some_and(|s| s.captures == 0 && s.idle())
        {
            self.sinks.remove(name);
        }
    }

    /// The master of capture `id` is readable: reads at most [`READ_PER_TURN`].
    pub fn on_readable(&mut self, id: u64) {
        self.read(id, READ_PER_TURN);
    }

    /// A process ended: what it wrote last is read now, before its exit is handled (a task
    /// whose `start` returns has its output in the file).
    pub fn process_ended(&mut self, pid: u32) {
        if let Some(&id) = self.by_pid.get(&pid) {
            self.read(id, DRAIN_AT_EXIT);
        }
    }

    fn read(&mut self, id: u64, budget: usize) {
        let Some(c) = self.captures.get(&id) else {
            return;
        };
        if c.closed {
            return;
        }
        if self.read_buf.len() < READ_CHUNK {
            self.read_buf.resize(READ_CHUNK, 0);
        }
        let mut env = self.env();
        let mut taken = 0;
        let mut closed = false;
        // A pty gives at most a few KiB a read: reads fill the buffer and each full buffer
        // (or what there is) goes to the file in one write.
        let mut filled = 0;
        while taken < budget && !closed {
            let Some(c) = self.captures.get(&id) else {
                return;
            };
            let room = self.read_buf.get_mut(filled..).unwrap_or_default();
            let mut empty = false;
            match outset_sys::pty::read_master(&c.master, room) {
                Ok(Read::Data(n)) => {
                    taken += n;
                    filled += n;
                }
                Ok(Read::Empty) => empty = true,
                Ok(Read::Closed) => closed = true,
                Err(e) => {
                    log::warn!("reading a job's pty: {e}");
                    closed = true;
                }
            }
            if filled > 0 && (filled == READ_CHUNK || empty || closed || taken >= budget) {
                if let (Some(sink), Some(data)) =
                    (self.sinks.get_mut(&c.sink), self.read_buf.get(..filled))
                {
                    sink.accept(data, &mut env);
                }
                filled = 0;
            }
            if empty {
                break;
            }
        }
        self.buffered = env.buffered;
        if closed && let Some(c) = self.captures.get_mut(&id) {
            c.closed = true;
            self.dirty = true;
        }
    }

    /// Before a re-exec: what the disk takes now is written, and each pty whose file is
    /// writable is read out into it. What a pty still holds stays in its buffer (the master
    /// is handed over), so nothing is read only to be dropped.
    pub fn drain_for_handover(&mut self) {
        self.flush_held(true);
        let ids: Vec<u64> = self
            .captures
            .iter()
            .filter(|(_, c)| !c.closed && self.sinks.get(&c.sink).is_some_and(Sink::idle))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.read(id, READ_PER_TURN);
        }
    }

    /// What a re-exec hands over: every live pty (its master is in [`Logs::handover_fds`])
    /// and every file with output not written yet.
    pub fn export(&self) -> crate::state::LogsState {
        use std::os::fd::AsRawFd;
        let mut captures: Vec<_> = self
            .captures
            .iter()
            .filter(|(_, c)| !c.closed)
            .map(|(id, c)| crate::state::CaptureState {
                id: *id,
                fd: c.master.as_raw_fd(),
                sink: c.sink.clone(),
                pid: c.pid,
            })
            .collect();
        captures.sort_unstable_by_key(|c| c.id);
        let mut sinks: Vec<_> = self
            .sinks
            .values()
            .filter(|s| !s.idle() || captures.iter().any(|c| c.sink == s.name))
            .map(Sink::export)
            .collect();
        sinks.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        crate::state::LogsState {
            next: self.next,
            captures,
            sinks,
        }
    }

    /// The masters [`Logs::export`] names.
    pub fn handover_fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.captures
            .values()
            .filter(|c| !c.closed)
            .map(|c| c.master.as_fd())
    }

    /// Takes back what the previous image handed over: the ptys are watched again at the
    /// next sweep and their output goes on into the same files.
    pub fn import(
        &mut self,
        state: crate::state::LogsState,
        mut take_fd: impl FnMut(i32) -> std::io::Result<OwnedFd>,
    ) {
        for s in state.sinks {
            // Names are made by `log_file_name`; anything else is not a file in the dir.
            if s.name.contains('/') || s.name.starts_with('.') {
                log::warn!(
                    "job log {:?} in the re-exec state is no log file; dropped",
                    s.name
                );
                continue;
            }
            self.buffered += s.pending.len();
            self.sinks.insert(s.name.clone(), Sink::import(s));
        }
        self.next = self.next.max(state.next);
        for c in state.captures {
            let master = match take_fd(c.fd) {
                Ok(fd) => fd,
                Err(e) => {
                    log::warn!(
                        "the pty of a process writing to {} lost in re-exec: {e}",
                        c.sink
                    );
                    continue;
                }
            };
            // Ids become poller tokens above the loop's log base: a state naming one out of
            // range or twice does not hang together.
            if c.id >= 1 << 40 || self.captures.contains_key(&c.id) {
                log::warn!(
                    "the pty of a process writing to {:?} has a bad id in the re-exec state; closed",
                    c.sink
                );
                continue;
            }
            let Some(sink) = self.sinks.get_mut(&c.sink) else {
                log::warn!(
                    "the pty of a process writing to {:?} has no log file in the re-exec state; closed",
                    c.sink
                );
                continue;
            };
            sink.captures += 1;
            if let Some(pid) = c.pid {
                self.by_pid.insert(pid, c.id);
            }
            self.next = self.next.max(c.id.saturating_add(1));
            self.captures.insert(
                c.id,
                Capture {
                    master,
                    sink: c.sink,
                    pid: c.pid,
                    watched: false,
                    closed: false,
                },
            );
            self.dirty = true;
        }
    }

    /// Whether any output waits for the disk (the loop then wakes every [`RETRY_EVERY`]).
    pub fn waiting(&self) -> bool {
        self.sinks.values().any(Sink::waiting)
    }

    /// Tries the disk again for output held in memory (every [`RETRY_EVERY`] while some
    /// is, and at once on `notify-disk-writeable`).
    pub fn flush_held(&mut self, now: bool) {
        if !now && self.last_retry.elapsed() < RETRY_EVERY {
            return;
        }
        self.last_retry = Instant::now();
        let mut env = self.env();
        let mut done = Vec::new();
        for (name, s) in &mut self.sinks {
            if s.idle() {
                continue;
            }
            if now {
                s.retry_now();
            }
            s.flush(&mut env);
            if s.captures == 0 && s.idle() {
                done.push(name.clone());
            }
        }
        self.buffered = env.buffered;
        for name in done {
            self.sinks.remove(&name);
        }
    }

    /// Closes every file so the next output opens its path again (SIGHUP,
    /// `reload-configuration`: an external logrotate renamed them).
    pub fn reopen(&mut self) {
        for s in self.sinks.values_mut() {
            s.reopen();
        }
    }

    /// Whether the instance has a log file or output in memory.
    pub fn has_output(&self, job: &str, instance: &str) -> bool {
        let name = outset_job::log_file_name(job, instance);
        self.sinks.contains_key(&name) || self.cfg.dir.join(&name).exists()
    }

    /// Serves `outsetctl log`.
    pub fn tail(
        &self,
        job: &str,
        instance: &str,
        lines: usize,
        cursor: Option<Cursor>,
    ) -> outset_proto::LogChunk {
        let name = outset_job::log_file_name(job, instance);
        tail::tail(&self.cfg.dir, &name, self.sinks.get(&name), lines, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// Issue 15 with issue 14: a pty and the output held for it go through the re-exec state
    /// (JSON) into a new `Logs`; bytes held and bytes still in the pty land in order in the
    /// file once it can be written, binary ones included.
    #[test]
    fn issue15_pty_and_held_output_survive_export_and_import() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let cfg = LogConfig {
            dir: dir.clone(),
            enabled: true,
            user: true,
            rotate: LogRotate::OFF,
        };
        let mut old = Logs::new(cfg.clone());
        let (id, slave) = old.open_pty("j", "", None).unwrap();
        old.bind(id, 4242);
        let mut job = std::fs::File::from(slave);
        job.write_all(b"one \xff\x01\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while old.sinks.get("j.log").is_none_or(|s| s.pending.is_empty()) {
            assert!(Instant::now() < deadline, "the pty gave nothing");
            old.drain_for_handover();
        }
        assert_eq!(old.sinks["j.log"].pending, b"one \xff\x01\n");
        // Held output waits for the disk: this stays in the pty, whose master is carried.
        job.write_all(b"two\n").unwrap();
        old.drain_for_handover();
        let text = serde_json::to_string(&old.export()).unwrap();
        let st: crate::state::LogsState = serde_json::from_str(&text).unwrap();
        assert_eq!(st.captures.len(), 1);
        assert_eq!(st.captures[0].pid, Some(4242));
        let mut masters: HashMap<i32, OwnedFd> = old
            .captures
            .drain()
            .map(|(_, c)| (c.master.as_raw_fd(), c.master))
            .collect();
        let mut new = Logs::new(cfg);
        new.import(st, |fd| {
            masters
                .remove(&fd)
                .ok_or_else(|| std::io::Error::other("not handed over"))
        });
        assert_eq!(new.by_pid.get(&4242), Some(&id));
        assert_eq!(new.buffered, b"one \xff\x01\n".len());
        std::fs::create_dir_all(&dir).unwrap();
        new.flush_held(true);
        let want = b"one \xff\x01\ntwo\n".to_vec();
        while std::fs::read(dir.join("j.log")).unwrap_or_default() != want {
            assert!(Instant::now() < deadline, "not written in order");
            new.on_readable(id);
        }
        assert_eq!(new.buffered, 0);
        // Captures made after the switch get ids of their own.
        let (id2, _slave) = new.open_pty("k", "", None).unwrap();
        assert!(id2 > id);
    }
}
