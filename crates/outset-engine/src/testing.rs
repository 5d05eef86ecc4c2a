//! A host that carries out nothing and records everything, for driving the engine without
//! processes: the engine's tests, the memory benchmark and the fuzz targets share it.

use std::collections::HashMap;

use outset_job::Signal;
use outset_proto::Response;

use crate::types::{Effects, InstanceId, Probe, ReplyToken, SpawnFailure, SpawnSpec};

/// The first PID [`FakeHost`] hands out is `FIRST_PID + 1`.
pub const FIRST_PID: u32 = 1000;

#[derive(Debug, Default)]
pub struct FakeHost {
    /// How many spawns succeeded: the last PID handed out is `FIRST_PID + next_pid`.
    pub next_pid: u32,
    /// Records nothing (spawn specs, signals, replies) when set: for measuring the engine's
    /// own memory.
    pub quiet: bool,
    /// Every spawn, with its PID.
    pub spawned: Vec<(InstanceId, SpawnSpec, u32)>,
    /// Every signal sent, by PID.
    pub signals: Vec<(u32, Signal)>,
    pub killed: Vec<InstanceId>,
    pub removed: Vec<InstanceId>,
    /// Every reply, by token; a second reply to one token is a bug and panics.
    pub replies: HashMap<u64, Response>,
    /// `job:kind` (e.g. `web:main`) spawns that fail, permanently.
    pub fail_spawn: Vec<String>,
    /// What `processes` reports per instance (the fake cgroup).
    pub procs: HashMap<InstanceId, Vec<u32>>,
    /// What each pid file holds (the engine decides whether to trust it).
    pub pid_files: HashMap<String, u32>,
    /// Instances whose processes cannot be read (a failed read of `cgroup.procs`).
    pub unreadable: Vec<InstanceId>,
    /// Event fds released, in order.
    pub released_fds: Vec<u64>,
}

impl FakeHost {
    /// A host that records nothing.
    pub fn quiet() -> FakeHost {
        FakeHost {
            quiet: true,
            ..FakeHost::default()
        }
    }

    /// The PID of the latest spawn.
    pub fn last_pid(&self) -> u32 {
        FIRST_PID + self.next_pid
    }
}

impl Effects for FakeHost {
    fn spawn(&mut self, inst: InstanceId, spec: &SpawnSpec) -> Result<u32, SpawnFailure> {
        let key = format!("{}:{}", spec.job, spec.kind.as_str());
        if self.fail_spawn.contains(&key) {
            return Err(SpawnFailure::Permanent("No such file or directory".into()));
        }
        self.next_pid += 1;
        let pid = FIRST_PID + self.next_pid;
        if !self.quiet {
            self.spawned.push((inst, spec.clone(), pid));
        }
        Ok(pid)
    }

    fn signal(&mut self, _: InstanceId, pid: u32, sig: Signal, _group: bool) {
        if !self.quiet {
            self.signals.push((pid, sig));
        }
    }

    fn kill_all(&mut self, inst: InstanceId) {
        if !self.quiet {
            self.killed.push(inst);
        }
    }

    fn instance_removed(&mut self, inst: InstanceId) {
        if !self.quiet {
            self.removed.push(inst);
        }
    }

    fn reply(&mut self, token: ReplyToken, response: Response) {
        if self.quiet {
            return;
        }
        let first = self.replies.insert(token.0, response).is_none();
        assert!(first, "two replies to {token:?}");
    }

    fn release_event_fd(&mut self, fd: u64) {
        self.released_fds.push(fd);
    }
}

impl Probe for FakeHost {
    fn processes(&mut self, inst: InstanceId) -> Result<Vec<u32>, String> {
        if self.unreadable.contains(&inst) {
            return Err("Input/output error".into());
        }
        Ok(self.procs.get(&inst).cloned().unwrap_or_default())
    }

    fn read_pid_file(&mut self, path: &str) -> Result<u32, String> {
        self.pid_files
            .get(path)
            .copied()
            .ok_or_else(|| "No such file or directory".into())
    }

    fn describe(&mut self, pids: &[u32]) -> Vec<(u32, String)> {
        pids.iter().map(|p| (*p, format!("proc{p}"))).collect()
    }
}
