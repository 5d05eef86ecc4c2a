//! The job model: what a parsed job file means, independent of how it was written.
//!
//! Every type here is plain data. The parser produces a [`JobConfig`]; the engine and the
//! daemon consume it. Defaults are Upstart 1.13's.

use serde::{Deserialize, Serialize};

use crate::expr::Expr;

/// A whole job definition: a `.conf` with its `.override` applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobConfig {
    /// Path relative to the conf dir minus `.conf` (`a/b.conf` → `a/b`).
    pub name: String,
    pub description: Option<String>,
    pub author: Option<String>,
    pub version: Option<String>,
    pub usage: Option<String>,
    /// Documentation only; accumulates.
    pub emits: Vec<String>,
    pub start_on: Option<Expr>,
    pub stop_on: Option<Expr>,
    /// `manual` was given (it also discarded any earlier `start on`).
    pub manual: bool,
    /// `exec` or `script`: the main process.
    pub main: Option<Process>,
    pub pre_start: Option<Process>,
    pub post_start: Option<Process>,
    pub pre_stop: Option<Process>,
    pub post_stop: Option<Process>,
    pub task: bool,
    /// Instance-name template (`instance $TTY`), expanded against the start env.
    pub instance: Option<String>,
    pub respawn: bool,
    pub respawn_limit: RespawnLimit,
    /// Accumulates.
    pub normal_exit: Vec<ExitCode>,
    pub expect: Expect,
    pub kill_signal: Signal,
    /// Seconds between the kill signal and the cgroup kill.
    pub kill_timeout: u32,
    pub reload_signal: Signal,
    pub console: Console,
    /// Accumulates, in file order.
    pub env: Vec<EnvEntry>,
    /// Accumulates.
    pub export: Vec<String>,
    pub setuid: Option<String>,
    pub setgid: Option<String>,
    pub chdir: Option<String>,
    pub chroot: Option<String>,
    /// One entry per resource; a later `limit` for the same resource replaces the earlier.
    pub limits: Vec<Limit>,
    pub nice: Option<i32>,
    /// `oom score N`, or legacy `oom N` scaled to a score; `never` is -1000.
    pub oom_score: Option<i32>,
    pub umask: Option<u32>,
    pub apparmor_load: Option<String>,
    pub apparmor_switch: Option<String>,
    /// Accumulates.
    pub cgroups: Vec<CgroupStanza>,
    pub debug: bool,
    /// ChromiumOS `import VAR`: accumulates.
    pub imports: Vec<String>,
    /// ChromiumOS `tmpfiles PATH`: accumulates.
    pub tmpfiles: Vec<String>,
    // ---- outset's own stanzas ----
    /// `pid file PATH`: the main PID is read from here once the launcher has exited.
    pub pid_file: Option<String>,
    /// `ready on EXPR`: readiness condition; `started` waits for it.
    pub ready_on: Option<Expr>,
    /// `start timeout SECONDS`: a job not ready in time fails.
    pub start_timeout: Option<u32>,
    /// `watchdog SECONDS`: with `expect notify`, WATCHDOG=1 must arrive this often.
    pub watchdog: Option<u32>,
    /// `track cgroup|ptrace`.
    pub track: Track,
}

impl JobConfig {
    /// An empty job with Upstart's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        JobConfig {
            name: name.into(),
            description: None,
            author: None,
            version: None,
            usage: None,
            emits: Vec::new(),
            start_on: None,
            stop_on: None,
            manual: false,
            main: None,
            pre_start: None,
            post_start: None,
            pre_stop: None,
            post_stop: None,
            task: false,
            instance: None,
            respawn: false,
            respawn_limit: RespawnLimit::default(),
            normal_exit: Vec::new(),
            expect: Expect::None,
            kill_signal: Signal::TERM,
            kill_timeout: 5,
            reload_signal: Signal::HUP,
            console: Console::Log,
            env: Vec::new(),
            export: Vec::new(),
            setuid: None,
            setgid: None,
            chdir: None,
            chroot: None,
            limits: Vec::new(),
            nice: None,
            oom_score: None,
            umask: None,
            apparmor_load: None,
            apparmor_switch: None,
            cgroups: Vec::new(),
            debug: false,
            imports: Vec::new(),
            tmpfiles: Vec::new(),
            pid_file: None,
            ready_on: None,
            start_timeout: None,
            watchdog: None,
            track: Track::Cgroup,
        }
    }

    /// The process of the given kind, if the job defines it.
    pub fn process(&self, kind: ProcessKind) -> Option<&Process> {
        match kind {
            ProcessKind::Main => self.main.as_ref(),
            ProcessKind::PreStart => self.pre_start.as_ref(),
            ProcessKind::PostStart => self.post_start.as_ref(),
            ProcessKind::PreStop => self.pre_stop.as_ref(),
            ProcessKind::PostStop => self.post_stop.as_ref(),
        }
    }
}

/// The five process types of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessKind {
    Main,
    PreStart,
    PostStart,
    PreStop,
    PostStop,
}

impl ProcessKind {
    pub const ALL: [ProcessKind; 5] = [
        ProcessKind::Main,
        ProcessKind::PreStart,
        ProcessKind::PostStart,
        ProcessKind::PreStop,
        ProcessKind::PostStop,
    ];

    /// The name Upstart uses in `PROCESS=` and in status lines.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Main => "main",
            ProcessKind::PreStart => "pre-start",
            ProcessKind::PostStart => "post-start",
            ProcessKind::PreStop => "pre-stop",
            ProcessKind::PostStop => "post-stop",
        }
    }
}

/// A process definition: a command line or a shell script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Process {
    /// `exec …`: the raw rest of the line (quotes kept; continuations collapsed).
    Exec(String),
    /// `script … end script`: the block with common indentation stripped.
    Script(String),
}

/// The characters that make Upstart run an `exec` line through `/bin/sh -e -c`.
pub const SHELL_CHARS: &str = "~`!$^&*()=|\\{}[];\"'<>?";

impl Process {
    /// Whether this process needs a shell: scripts always, `exec` lines with shell characters.
    pub fn needs_shell(&self) -> bool {
        match self {
            Process::Exec(cmd) => cmd.chars().any(|c| SHELL_CHARS.contains(c)),
            Process::Script(_) => true,
        }
    }
}

/// `respawn limit COUNT INTERVAL` (0 for either, or `unlimited`, means no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RespawnLimit {
    Limited { count: u32, interval: u32 },
    Unlimited,
}

impl Default for RespawnLimit {
    fn default() -> Self {
        RespawnLimit::Limited {
            count: 10,
            interval: 5,
        }
    }
}

/// An entry of `normal exit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitCode {
    Status(i32),
    Signal(Signal),
}

/// How outset decides the main process is up, and which PID it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expect {
    /// Running once exec succeeded; the spawned process is the main process.
    None,
    /// Running when the main process raises SIGSTOP.
    Stop,
    /// `expect fork` (n = 1) or `expect fork N`: the launcher exits and leaves its daemon.
    Fork(u32),
    /// `expect daemon`: two forks; tracked by exit, like `Fork(2)`.
    Daemon,
    /// `expect exit N`: running once N processes of the launch chain (the spawned process
    /// and N-1 of its descendants) have exited with status 0 and a process remains.
    Exit(u32),
    /// `expect notify`: sd_notify READY=1.
    Notify,
}

/// Where a job's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Console {
    Log,
    Output,
    Owner,
    None,
}

/// An `env` stanza.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvEntry {
    pub key: String,
    /// `None` for the bare `env KEY` form: copied from the daemon's environment.
    pub value: Option<String>,
}

/// A signal by number, with Linux's numbering. Names are mapped in [`crate::signal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signal(pub i32);

impl Signal {
    pub const HUP: Signal = Signal(1);
    pub const INT: Signal = Signal(2);
    pub const ABRT: Signal = Signal(6);
    pub const KILL: Signal = Signal(9);
    pub const TERM: Signal = Signal(15);
    pub const CONT: Signal = Signal(18);
    pub const STOP: Signal = Signal(19);
}

/// Resources of `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Sigpending,
    Stack,
}

impl Resource {
    /// Every resource, in the order Upstart's documentation lists them.
    pub const ALL: [Resource; 14] = [
        Resource::As,
        Resource::Core,
        Resource::Cpu,
        Resource::Data,
        Resource::Fsize,
        Resource::Memlock,
        Resource::Msgqueue,
        Resource::Nice,
        Resource::Nofile,
        Resource::Nproc,
        Resource::Rss,
        Resource::Rtprio,
        Resource::Sigpending,
        Resource::Stack,
    ];

    /// The resource's name in a `limit` stanza: the one name table the parser and the
    /// renderer share (the Linux layer maps each resource to its `RLIMIT_*`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::As => "as",
            Resource::Core => "core",
            Resource::Cpu => "cpu",
            Resource::Data => "data",
            Resource::Fsize => "fsize",
            Resource::Memlock => "memlock",
            Resource::Msgqueue => "msgqueue",
            Resource::Nice => "nice",
            Resource::Nofile => "nofile",
            Resource::Nproc => "nproc",
            Resource::Rss => "rss",
            Resource::Rtprio => "rtprio",
            Resource::Sigpending => "sigpending",
            Resource::Stack => "stack",
        }
    }

    /// The resource named `name` in a `limit` stanza.
    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A limit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitValue {
    Value(u64),
    Unlimited,
}

/// `limit RES SOFT HARD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub resource: Resource,
    pub soft: LimitValue,
    pub hard: LimitValue,
}

/// `cgroup CONTROLLER [NAME] [KEY VALUE]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupStanza {
    pub controller: String,
    pub name: Option<String>,
    pub setting: Option<(String, String)>,
}

/// Process-tracking mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    /// A cgroup per instance (falls back to process groups without cgroup2).
    Cgroup,
    /// Upstart-style fork following with ptrace (exit-tracking, detached once known).
    Ptrace,
}
