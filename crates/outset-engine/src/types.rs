//! The engine's vocabulary: ids, states, exit statuses, spawn requests and the effects the
//! engine asks of its host.

use outset_job::{Console, Limit, Process, ProcessKind, Signal};
use outset_proto::Response;
use serde::{Deserialize, Serialize};

/// An ordered environment: `KEY=VALUE` pairs, later keys replacing earlier ones when built.
pub type Env = Vec<(String, String)>;

/// Milliseconds on the host's monotonic clock.
pub type Millis = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventId(pub u64);

/// Names a client waiting for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplyToken(pub u64);

/// How a process ended: the one exit-status type, shared with the Linux layer that decodes
/// wait statuses into it (see `outset_proto::ExitStatus`).
pub use outset_proto::ExitStatus;

/// The job-event variables for an exit status.
pub trait ExitEnv {
    /// `EXIT_STATUS=N` or `EXIT_SIGNAL=NAME`, as in job events.
    fn env_pair(self) -> (String, String);
}

impl ExitEnv for ExitStatus {
    fn env_pair(self) -> (String, String) {
        match self {
            ExitStatus::Exited(c) => ("EXIT_STATUS".into(), c.to_string()),
            ExitStatus::Signaled(s) => ("EXIT_SIGNAL".into(), Signal(s).to_string()),
        }
    }
}

/// What a job instance wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Goal {
    Start,
    Stop,
}

impl Goal {
    pub fn as_str(self) -> &'static str {
        match self {
            Goal::Start => "start",
            Goal::Stop => "stop",
        }
    }
}

/// Upstart's job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Waiting,
    Starting,
    PreStart,
    Spawned,
    PostStart,
    Running,
    PreStop,
    Stopping,
    Killed,
    PostStop,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Starting => "starting",
            State::PreStart => "pre-start",
            State::Spawned => "spawned",
            State::PostStart => "post-start",
            State::Running => "running",
            State::PreStop => "pre-stop",
            State::Stopping => "stopping",
            State::Killed => "killed",
            State::PostStop => "post-stop",
        }
    }
}

/// Everything the host needs to start one process of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    pub job: String,
    pub instance: String,
    pub kind: ProcessKind,
    pub process: Process,
    pub env: Env,
    pub console: Console,
    /// The job's `log rotate`, if it has one (the daemon's setting otherwise).
    pub log_rotate: Option<outset_job::LogRotate>,
    pub setuid: Option<String>,
    pub setgid: Option<String>,
    pub chdir: Option<String>,
    pub chroot: Option<String>,
    pub limits: Vec<Limit>,
    pub nice: Option<i32>,
    pub oom_score: Option<i32>,
    pub umask: Option<u32>,
    /// The main process of an `expect notify` job: the host gives it a NOTIFY_SOCKET.
    pub notify: bool,
    /// The main process of a `track ptrace` job: the host follows its forks with ptrace
    /// until the main PID is known.
    pub ptrace: bool,
    /// The job's `cgroup` and `resource` stanzas as cgroup2 files to write, applied by the
    /// host when it makes the instance's cgroup, before its first process enters it.
    pub resources: outset_job::resources::ResourcePlan,
    /// The fd (the host's id for it) of the event that started this run, when one came
    /// with it (`EmitEventWithFile`): the host passes it while it still holds it, with
    /// `UPSTART_FDS`.
    pub event_fd: Option<u64>,
}

/// Why [`Effects::spawn`] could not start a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnFailure {
    /// The system was short of something (processes, memory, file descriptors): the same
    /// spawn may work later.
    Retry(String),
    /// The job cannot be started as written (no such program, user or directory, a bad
    /// command line or environment).
    Permanent(String),
}

impl SpawnFailure {
    pub fn message(&self) -> &str {
        match self {
            SpawnFailure::Retry(m) | SpawnFailure::Permanent(m) => m,
        }
    }
}

impl std::fmt::Display for SpawnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnFailure::Retry(m) => write!(f, "{m} (temporary)"),
            SpawnFailure::Permanent(m) => f.write_str(m),
        }
    }
}

/// The commands the engine gives its host. Each is carried out, never answered, except that
/// a spawn says whether the process started. The daemon carries them out on Linux; tests
/// record them.
pub trait Effects {
    /// Starts a process; returns its PID or why it could not start. A failure inside the
    /// child after this returned comes later, through [`crate::Engine::spawn_failed`].
    fn spawn(&mut self, inst: InstanceId, spec: &SpawnSpec) -> Result<u32, SpawnFailure>;
    /// Sends `sig` to the process `pid` of the instance, and with `group` to the process
    /// group it leads (stopping does; `reload` signals the main process alone, as Upstart).
    fn signal(&mut self, inst: InstanceId, pid: u32, sig: Signal, group: bool);
    /// Kills every process the instance has (the end of `kill timeout`).
    fn kill_all(&mut self, inst: InstanceId);
    /// The instance is gone: release what the host holds for it (its cgroup).
    fn instance_removed(&mut self, inst: InstanceId);
    /// Answers a waiting client.
    fn reply(&mut self, token: ReplyToken, response: Response);
    /// The event that carried the fd `fd` (see [`crate::Engine::command_with_fd`]) has
    /// finished, or was never queued: the host closes it.
    fn release_event_fd(&mut self, _fd: u64) {}
}

/// What the engine reads of the system while it decides, synchronously: reads only, which
/// change nothing. Which of what it reads it trusts is the engine's decision (a PID outside
/// the instance's processes is never adopted or signalled; see docs/engine.md, "Trust").
pub trait Probe {
    /// The instance's live processes, oldest first (by start time, a parent before its
    /// child): its cgroup's members, or the processes the host knows of without cgroups.
    /// An error when they could not be read, which never means "none left".
    fn processes(&mut self, inst: InstanceId) -> Result<Vec<u32>, String>;
    /// The PID written at the start of the file at `path` (a job's `pid file`), or why there
    /// is none (no file yet, not a number).
    fn read_pid_file(&mut self, path: &str) -> Result<u32, String>;
    /// Each process's command line, for `status --all`.
    fn describe(&mut self, pids: &[u32]) -> Vec<(u32, String)>;
    /// What of the job's resource control could not be applied to the instance's cgroup
    /// (`status --json`'s `resource_problems`); a host without resource control has none.
    fn resource_problems(&mut self, _inst: InstanceId) -> Vec<String> {
        Vec::new()
    }
}

/// Everything the engine needs of its host: its commands and its reads. Implemented for
/// every type that implements both.
pub trait Host: Effects + Probe {}

impl<T: Effects + Probe + ?Sized> Host for T {}
