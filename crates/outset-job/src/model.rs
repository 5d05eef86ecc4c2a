//! The job model: what a parsed job file means, independent of how it was written.
//!
//! Every type here is plain data. The parser produces a [`JobConfig`]; the engine and the
//! daemon consume it. Defaults are Upstart 1.13's.

use serde::{Deserialize, Serialize};

use crate::expr::Expr;

/// A whole job definition: a `.conf` with its `.override` applied.
///
/// The stanzas most jobs use are fields here; the rest live in [`RareStanzas`], one block
/// allocated only when a job uses one of them, so a plain job costs about a third of the bytes
/// (issue 11 item 3). `JobConfig` derefs to that block, so `job.kill_timeout` or
/// `job.setuid = Some(…)` read and write it as if it were a field of `JobConfig`: reading a job
/// without the block gives the defaults, writing allocates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobConfig {
    /// Path relative to the conf dir minus `.conf` (`a/b.conf` → `a/b`).
    pub name: String,
    pub description: Option<String>,
    /// Three jobs in four of a typical corpus name their author.
    pub author: Option<String>,
    pub start_on: Option<Expr>,
    pub stop_on: Option<Expr>,
    /// `manual` was given (it also discarded any earlier `start on`).
    pub manual: bool,
    pub task: bool,
    pub respawn: bool,
    pub console: Console,
    pub expect: Expect,
    /// `exec` or `script`: the main process.
    pub main: Option<Process>,
    pub pre_start: Option<Process>,
    pub post_start: Option<Process>,
    pub post_stop: Option<Process>,
    /// Accumulates, in file order.
    pub env: Vec<EnvEntry>,
    /// Every other stanza (serialized inline, as if they were fields of the job).
    #[serde(flatten)]
    rare: Rare,
}

/// The stanzas few jobs use, behind one allocation of [`JobConfig`] (reached through its
/// `Deref`/`DerefMut`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RareStanzas {
    pub version: Option<String>,
    pub usage: Option<String>,
    /// Documentation only; accumulates.
    pub emits: Vec<String>,
    pub pre_stop: Option<Process>,
    /// Instance-name template (`instance $TTY`), expanded against the start env.
    pub instance: Option<String>,
    pub respawn_limit: RespawnLimit,
    /// `respawn delay SECONDS [max SECONDS]`: the pause before each respawn (outset's own).
    pub respawn_delay: Option<RespawnDelay>,
    /// Accumulates.
    pub normal_exit: Vec<ExitCode>,
    pub kill_signal: Signal,
    /// Seconds between the kill signal and the cgroup kill.
    pub kill_timeout: u32,
    pub reload_signal: Signal,
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
    /// outset's `resource CONTROLLER KNOB VALUE [required]`: accumulates (a later one for
    /// the same file wins when applied). Absent in re-exec states written before it existed.
    #[serde(default)]
    pub resources: Vec<crate::resources::ResourceStanza>,
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
    /// `log rotate SIZE KEEP` or `log rotate off`: this job's own rotation of its
    /// `console log` file (the daemon's setting otherwise).
    pub log_rotate: Option<LogRotate>,
}

/// Size-capped rotation of a job's log file: once writing would take `JOB.log` past
/// `max_size` bytes it becomes `JOB.log.1` (`.1` becomes `.2`, …, up to `keep` old files).
/// A `max_size` of 0 is `off`: the file grows without bound (external logrotate's case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRotate {
    pub max_size: u64,
    pub keep: u32,
}

impl LogRotate {
    /// No rotation.
    pub const OFF: LogRotate = LogRotate {
        max_size: 0,
        keep: 0,
    };
}

impl RareStanzas {
    /// Upstart's defaults.
    pub const DEFAULT: RareStanzas = RareStanzas {
        version: None,
        usage: None,
        emits: Vec::new(),
        pre_stop: None,
        instance: None,
        respawn_limit: RespawnLimit::DEFAULT,
        respawn_delay: None,
        normal_exit: Vec::new(),
        kill_signal: Signal::TERM,
        kill_timeout: 5,
        reload_signal: Signal::HUP,
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
        resources: Vec::new(),
        debug: false,
        imports: Vec::new(),
        tmpfiles: Vec::new(),
        pid_file: None,
        ready_on: None,
        start_timeout: None,
        watchdog: None,
        track: Track::Cgroup,
        log_rotate: None,
    };

    fn shrink_to_fit(&mut self) {
        for s in [
            &mut self.version,
            &mut self.instance,
            &mut self.usage,
            &mut self.setuid,
            &mut self.setgid,
            &mut self.chdir,
            &mut self.chroot,
            &mut self.apparmor_load,
            &mut self.apparmor_switch,
            &mut self.pid_file,
        ]
        .into_iter()
        .flatten()
        {
            s.shrink_to_fit();
        }
        for v in [
            &mut self.emits,
            &mut self.export,
            &mut self.imports,
            &mut self.tmpfiles,
        ] {
            v.shrink_to_fit();
        }
        self.normal_exit.shrink_to_fit();
        self.limits.shrink_to_fit();
        self.cgroups.shrink_to_fit();
        self.resources.shrink_to_fit();
        if let Some(Process::Exec(s) | Process::Script(s)) = &mut self.pre_stop {
            s.shrink_to_fit();
        }
        if let Some(e) = &mut self.ready_on {
            e.shrink_to_fit();
        }
    }
}

impl Default for RareStanzas {
    fn default() -> Self {
        RareStanzas::DEFAULT
    }
}

/// What a job without rare stanzas reads through `Deref`.
static NO_RARE_STANZAS: RareStanzas = RareStanzas::DEFAULT;

/// The optional block of rare stanzas; `None` means all defaults.
#[derive(Clone, Default)]
struct Rare(Option<Box<RareStanzas>>);

impl Rare {
    fn get(&self) -> &RareStanzas {
        self.0.as_deref().unwrap_or(&NO_RARE_STANZAS)
    }
}

// Equality, debug output and serialization see the stanzas, never whether the block exists.
impl PartialEq for Rare {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Rare {}

impl std::fmt::Debug for Rare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for Rare {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Rare {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RareStanzas::deserialize(d)?;
        Ok(Rare((r != RareStanzas::DEFAULT).then(|| Box::new(r))))
    }
}

impl std::ops::Deref for JobConfig {
    type Target = RareStanzas;

    fn deref(&self) -> &RareStanzas {
        self.rare.get()
    }
}

impl std::ops::DerefMut for JobConfig {
    fn deref_mut(&mut self) -> &mut RareStanzas {
        self.rare
            .0
            .get_or_insert_with(|| Box::new(RareStanzas::DEFAULT))
    }
}

impl JobConfig {
    /// An empty job with Upstart's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        JobConfig {
            name: name.into(),
            description: None,
            author: None,
            start_on: None,
            stop_on: None,
            manual: false,
            task: false,
            respawn: false,
            console: Console::Log,
            expect: Expect::None,
            main: None,
            pre_start: None,
            post_start: None,
            post_stop: None,
            env: Vec::new(),
            rare: Rare(None),
        }
    }

    /// Whether the job uses any of the [`RareStanzas`] (the block is allocated).
    pub fn has_rare_stanzas(&self) -> bool {
        self.rare.0.is_some()
    }

    /// Gives back the spare capacity the parser's strings and vectors grew, and the block of
    /// rare stanzas if it holds only defaults (an override may have set them back).
    pub fn shrink_to_fit(&mut self) {
        self.name.shrink_to_fit();
        for s in [&mut self.description, &mut self.author]
            .into_iter()
            .flatten()
        {
            s.shrink_to_fit();
        }
        for p in [
            &mut self.main,
            &mut self.pre_start,
            &mut self.post_start,
            &mut self.post_stop,
        ]
        .into_iter()
        .flatten()
        {
            match p {
                Process::Exec(s) | Process::Script(s) => s.shrink_to_fit(),
            }
        }
        for e in [&mut self.start_on, &mut self.stop_on]
            .into_iter()
            .flatten()
        {
            e.shrink_to_fit();
        }
        self.env.shrink_to_fit();
        for e in &mut self.env {
            e.key.shrink_to_fit();
            if let Some(v) = &mut e.value {
                v.shrink_to_fit();
            }
        }
        match &mut self.rare.0 {
            Some(r) if **r == RareStanzas::DEFAULT => self.rare.0 = None,
            Some(r) => r.shrink_to_fit(),
            None => {}
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

impl RespawnLimit {
    /// Upstart's default: 10 respawns in 5 seconds.
    pub const DEFAULT: RespawnLimit = RespawnLimit::Limited {
        count: 10,
        interval: 5,
    };
}

impl Default for RespawnLimit {
    fn default() -> Self {
        RespawnLimit::DEFAULT
    }
}

/// `respawn delay SECONDS [max SECONDS]`: each respawn waits `delay` seconds, doubled after
/// each respawn up to `max` (without `max`, the pause stays `delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RespawnDelay {
    pub delay: u32,
    pub max: Option<u32>,
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
