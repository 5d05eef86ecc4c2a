//! outset's control protocol: one JSON object per line each way over a Unix stream socket.
//!
//! A client writes a [`Request`] line and reads one [`Response`] line. Requests carry the
//! protocol version; a daemon answers a version it does not speak with an error, never by
//! closing the connection.

use serde::{Deserialize, Serialize};

mod exit;
pub use exit::ExitStatus;
pub mod socket;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// The longest request line a daemon accepts: the cap on a request's total size.
pub const MAX_LINE: usize = 1 << 20;

/// The most `env` entries one request may carry (an event or a job's environment, not a
/// place to move data in bulk).
pub const MAX_ENV: usize = 1024;

/// The longest single `env` entry: the kernel's `MAX_ARG_STRLEN`, past which no process
/// could be given it anyway.
pub const MAX_ENV_ENTRY: usize = 128 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version; see [`VERSION`].
    pub v: u32,
    #[serde(flatten)]
    pub command: Command,
}

impl Request {
    pub fn new(command: Command) -> Self {
        Request {
            v: VERSION,
            command,
        }
    }
}

/// What a client asks. `env` entries are `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Command {
    /// Start a job (instance); with `wait`, reply once it is running (a task: finished).
    Start {
        job: String,
        #[serde(default)]
        env: Vec<String>,
        #[serde(default)]
        wait: bool,
    },
    /// Stop a job instance; with `wait`, reply once it is back to waiting.
    Stop {
        job: String,
        /// The instance by name (as `UPSTART_INSTANCE` gives it), instead of by `env`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        #[serde(default)]
        env: Vec<String>,
        #[serde(default)]
        wait: bool,
    },
    /// Stop and start an instance again with the same environment.
    Restart {
        job: String,
        /// The instance by name (as `UPSTART_INSTANCE` gives it), instead of by `env`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        #[serde(default)]
        env: Vec<String>,
        #[serde(default)]
        wait: bool,
    },
    /// Send the job's reload signal to its main process.
    Reload {
        job: String,
        /// The instance by name (as `UPSTART_INSTANCE` gives it), instead of by `env`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        #[serde(default)]
        env: Vec<String>,
    },
    /// The status of a job's instances (those matching `env` when given).
    Status {
        job: String,
        /// The instance by name (as `UPSTART_INSTANCE` gives it), instead of by `env`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        #[serde(default)]
        env: Vec<String>,
        /// Also every live process of each instance, with its command line.
        #[serde(default)]
        all: bool,
    },
    /// Every job and instance.
    List,
    /// Emit an event; with `wait`, reply once every job it started or stopped has settled.
    Emit {
        event: String,
        #[serde(default)]
        env: Vec<String>,
        #[serde(default)]
        wait: bool,
    },
    /// Re-read the conf dirs.
    ReloadConfiguration,
    /// Jobs' normalised configuration (all jobs when `job` is absent).
    ShowConfig {
        #[serde(default)]
        job: Option<String>,
    },
    /// The daemon's version.
    Version,
    /// The job environment table (initctl's `list-env`): the global table jobs started
    /// from now on receive or, with `job`, that running instance's environment.
    ListEnv {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        /// The instance's name (empty for a job without `instance`); with `job` only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// One variable of the table (initctl's `get-env`).
    GetEnv {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Sets variables in the table (`set-env`): `KEY=VALUE`, or a bare `KEY` for `KEY=`.
    /// With `retain`, a variable already set keeps its value.
    SetEnv {
        env: Vec<String>,
        #[serde(default)]
        retain: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Removes variables from the table (`unset-env`).
    UnsetEnv {
        names: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Puts the table back as it was when the daemon started (`reset-env`); with `job`, that
    /// instance's environment back to what its job gives a new instance.
    ResetEnv {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// A job's `usage` stanza.
    Usage { job: String },
    /// The session bus a user daemon should use (`notify-dbus-address`).
    NotifyDbusAddress { address: String },
    /// Where a cgroup manager listens (`notify-cgroup-manager-address`); outset manages
    /// cgroups itself, so the address is only noted.
    NotifyCgroupManagerAddress { address: String },
    /// Bring the system down (`shutdown`, `reboot`, `halt`, `poweroff`): `delay` seconds
    /// from now; with `force`, at once, without stopping jobs (PID 1 only).
    Shutdown {
        action: ShutdownAction,
        #[serde(default)]
        force: bool,
        #[serde(default)]
        delay: u64,
        /// The administrator's message, logged on the console.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Cancel a shutdown that waits for its time (`shutdown -c`).
    CancelShutdown,
    /// Change the runlevel (`telinit N`): emits `runlevel RUNLEVEL=N PREVLEVEL=M`; with
    /// `wait`, replies once the jobs it started or stopped have settled. 0 and 6 are a
    /// power-off and a reboot.
    Telinit {
        level: String,
        /// More variables for the event (`telinit -e KEY=VALUE`).
        #[serde(default)]
        env: Vec<String>,
        #[serde(default)]
        wait: bool,
    },
    /// The previous and current runlevels.
    Runlevel,
    /// Replace the daemon's image with `binary` (its own by default), keeping every job,
    /// event and client (docs/reexec.md). The reply comes from the new image.
    Reexec {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        binary: Option<String>,
    },
    /// A job instance's `console log` output: the last `lines` lines, or with `after`
    /// those that came since (a `log -f` poll), from its file and what is still held in
    /// memory.
    Log {
        job: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        #[serde(default = "default_log_lines")]
        lines: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<LogCursor>,
    },
    /// The disk is writable: job output held in memory is written now (Upstart's verb).
    NotifyDiskWriteable,
    /// The daemon's own log level: read it, or set it to `priority` (Upstart's
    /// `log-priority`: debug, info, message, warn, error or fatal).
    LogPriority {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<String>,
    },
    /// Watch what happens (`outsetctl monitor`): after the `done` reply the connection
    /// receives one [`Record`] per line, as it happens, until the client closes it. A
    /// watcher that does not keep up loses records and is told how many (`dropped`).
    Monitor,
    /// What the daemon still remembers of what happened (`outsetctl timeline`): the
    /// records of its bounded history, those since `since_ms` (ms since the Unix epoch)
    /// when given.
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_ms: Option<u64>,
    },
}

/// One thing the daemon saw (issue 18): an event handled, or a job instance's change of
/// state; `time_ms` is the wall clock, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Record {
    /// An event was handled (offered to the jobs' conditions).
    Event {
        time_ms: u64,
        name: String,
        env: Vec<String>,
    },
    /// An instance entered `state`, its goal then `goal`; `pid` is the main process.
    State {
        time_ms: u64,
        job: String,
        instance: String,
        goal: String,
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// `count` records were not sent to this watcher: it did not read them in time.
    Dropped { time_ms: u64, count: u64 },
}

impl Record {
    pub fn time_ms(&self) -> u64 {
        match self {
            Record::Event { time_ms, .. }
            | Record::State { time_ms, .. }
            | Record::Dropped { time_ms, .. } => *time_ms,
        }
    }

    /// The record as one line of text (`outsetctl monitor` without `--json`), as
    /// upstart-monitor shows it: the time, then what happened.
    pub fn text_line(&self) -> String {
        let t = rfc3339_ms(self.time_ms());
        match self {
            Record::Event { name, env, .. } => {
                let mut s = format!("{t} event {name}");
                for e in env {
                    s.push(' ');
                    s.push_str(e);
                }
                s
            }
            Record::State {
                job,
                instance,
                goal,
                state,
                pid,
                ..
            } => {
                let mut s = format!("{t} job {job}");
                if !instance.is_empty() {
                    s.push_str(&format!(" ({instance})"));
                }
                s.push_str(&format!(" {goal}/{state}"));
                if let Some(pid) = pid {
                    s.push_str(&format!(", process {pid}"));
                }
                s
            }
            Record::Dropped { count, .. } => format!("{t} dropped {count} records"),
        }
    }
}

/// `unix_ms` (milliseconds since the Unix epoch) in RFC 3339, UTC, to the millisecond:
/// `2026-11-28T12:50:38.123Z` (a fixed width, so these strings sort as the times do).
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// What a shutdown ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShutdownAction {
    /// Stop the machine without powering it off (`halt`, `shutdown -H`).
    Halt,
    /// Power the machine off (`poweroff`, `shutdown -h`, `shutdown -P`).
    Poweroff,
    /// Restart the machine (`reboot`, `shutdown -r`).
    Reboot,
    /// Go to runlevel 1, maintenance mode (`shutdown` without `-r`/`-h`).
    Single,
}

impl ShutdownAction {
    /// The runlevel the action is announced as: 6 for a reboot, 1 for maintenance, else 0.
    pub fn runlevel(self) -> char {
        match self {
            ShutdownAction::Reboot => '6',
            ShutdownAction::Single => '1',
            ShutdownAction::Halt | ShutdownAction::Poweroff => '0',
        }
    }

    /// Upstart's `INIT_HALT` for a runlevel 0 (the halt script reads it), if any.
    pub fn init_halt(self) -> Option<&'static str> {
        match self {
            ShutdownAction::Halt => Some("HALT"),
            ShutdownAction::Poweroff => Some("POWEROFF"),
            _ => None,
        }
    }
}

/// `log` without `lines`: as `tail`.
fn default_log_lines() -> usize {
    10
}

/// The most lines one `log` reply carries.
pub const MAX_LOG_LINES: usize = 10_000;

/// Where a `log -f` reader is: a byte offset in the file with that inode (0: in output
/// held in memory before any file existed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCursor {
    pub ino: u64,
    pub offset: u64,
}

/// A `log` reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// The log file's path.
    pub path: String,
    pub lines: Vec<LogLine>,
    /// Where the next `log -f` poll goes on from.
    pub cursor: LogCursor,
    /// Bytes of output held in memory, not in the file yet.
    #[serde(default)]
    pub held: u64,
    /// Bytes lost and not yet marked in the file.
    #[serde(default)]
    pub dropped: u64,
}

/// One line of a job's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub text: String,
    /// When the daemon read it from the job's pty (ms since the Unix epoch), if still
    /// known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

/// Whether the verb `cmd` changes state: known from the request's `cmd` alone, so the
/// caller's right to it is checked before anything else of the request is looked at.
pub fn is_change_verb(cmd: &str) -> bool {
    matches!(
        cmd,
        "start"
            | "stop"
            | "restart"
            | "reload"
            | "emit"
            | "reload-configuration"
            | "set-env"
            | "unset-env"
            | "reset-env"
            | "notify-dbus-address"
            | "notify-cgroup-manager-address"
            | "shutdown"
            | "cancel-shutdown"
            | "telinit"
            | "reexec"
            | "notify-disk-writeable"
            | "log-priority"
    )
}

/// Whether the verb `cmd` needs the right to change state: the change verbs, and the
/// reads of the job environment table, which may hold secrets (Upstart asks the same
/// right for them), and of events as they happen (`monitor`, `history`), whose
/// environments may hold the same.
pub fn needs_right_verb(cmd: &str) -> bool {
    is_change_verb(cmd) || matches!(cmd, "list-env" | "get-env" | "monitor" | "history")
}

impl Command {
    /// Whether the command changes state (and so needs the right to do so).
    pub fn is_change(&self) -> bool {
        matches!(
            self,
            Command::Start { .. }
                | Command::Stop { .. }
                | Command::Restart { .. }
                | Command::Reload { .. }
                | Command::Emit { .. }
                | Command::ReloadConfiguration
                | Command::SetEnv { .. }
                | Command::UnsetEnv { .. }
                | Command::ResetEnv { .. }
                | Command::NotifyDbusAddress { .. }
                | Command::NotifyCgroupManagerAddress { .. }
                | Command::Shutdown { .. }
                | Command::CancelShutdown
                | Command::Telinit { .. }
                | Command::Reexec { .. }
                | Command::NotifyDiskWriteable
                | Command::LogPriority { .. }
        )
    }

    /// Whether the caller needs the right to change state to ask it (see
    /// [`needs_right_verb`]).
    pub fn needs_right(&self) -> bool {
        // Events' environments may hold what the table holds: watching them is as
        // privileged as reading it.
        self.is_change()
            || matches!(
                self,
                Command::ListEnv { .. }
                    | Command::GetEnv { .. }
                    | Command::Monitor
                    | Command::History { .. }
            )
    }
}

/// One line of reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Response {
    Ok { body: Body },
    Error { message: String },
}

impl Response {
    pub fn error(message: impl Into<String>) -> Self {
        Response::Error {
            message: message.into(),
        }
    }
}

/// The payload of a successful reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "kebab-case")]
pub enum Body {
    /// The command was carried out; nothing to report.
    Done,
    /// The instances concerned.
    Instances(Vec<InstanceStatus>),
    /// Jobs' configurations.
    Configs(Vec<JobText>),
    /// initctl's version line, see [`version_line`].
    Version(String),
    /// `KEY=VALUE` entries (`list-env`), in the table's order.
    Env(Vec<String>),
    /// One value: `get-env`'s variable, `usage`'s text.
    Value(String),
    /// `runlevel`: each level as one character, `None` when there was none.
    Runlevel {
        previous: Option<char>,
        current: Option<char>,
    },
    /// A job's output (`log`).
    Log(LogChunk),
    /// The daemon's log level (`log-priority`).
    Priority(String),
    /// What the daemon remembers of what happened (`history`), oldest first.
    History(History),
}

/// The daemon's bounded history of [`Record`]s (`outsetctl timeline`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// When the daemon started (ms since the Unix epoch; a re-exec keeps the first start).
    pub started_ms: u64,
    /// The daemon's clock when it answered.
    pub now_ms: u64,
    /// Records that fell out of the bounded history before this answer (the oldest).
    pub forgotten: u64,
    pub records: Vec<Record>,
}

/// The Upstart release whose interface outset implements.
pub const UPSTART_COMPAT: &str = "1.13.2";

/// The daemon's answer to `version`, in initctl's form (`init (upstart 1.13.2)`) so that
/// `initctl version | grep -q upstart` and the usual `sed`/`awk` extractions of the Upstart
/// version keep working, followed by outset's own version and `detail`.
pub fn version_line(outset: &str, detail: &str) -> String {
    let mut s = format!("init (upstart {UPSTART_COMPAT}) outset {outset}");
    if !detail.is_empty() {
        s.push_str(&format!(" ({detail})"));
    }
    s
}

/// One job instance (or a job with no instance: goal stop, state waiting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub job: String,
    /// Empty for a singleton job.
    pub instance: String,
    /// `start` or `stop`.
    pub goal: String,
    /// Upstart's state name: waiting, starting, pre-start, spawned, post-start, running,
    /// pre-stop, stopping, killed, post-stop.
    pub state: String,
    /// Live processes by type; the main process first.
    pub processes: Vec<ProcessStatus>,
    /// Notes a user should see (`console log` not captured yet, and the like).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Every PID the instance has had, by process type, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<ProcessStatus>,
    /// When the instance last changed state (RFC 3339, UTC, see [`rfc3339_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<String>,
    /// When its current run's main process was spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawned: Option<String>,
    /// When its current run became ready (left `spawned` for `post-start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// With `status --all`: every live process of the instance (its cgroup), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// The file a `console log` instance's output goes to (it may exist only once the job
    /// has written something, or still be held in memory: `outsetctl log` shows both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// What of the job's `cgroup` and `resource` stanzas could not be applied to this
    /// instance's cgroup (a controller unavailable, a file not written), each with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_problems: Vec<String>,
}

/// A live process of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub pid: u32,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// main, pre-start, post-start, pre-stop or post-stop.
    pub kind: String,
    pub pid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobText {
    pub name: String,
    pub text: String,
}

impl InstanceStatus {
    /// initctl's status line (`job_status`): `job (inst) start/running, process 123`. The
    /// first process (main, pre-start, post-start, pre-stop, post-stop, in that order) goes on
    /// the first line, its type in parentheses unless it is main, pre-start or post-stop;
    /// every other process gets a tab-indented line `TYPE process PID`.
    pub fn upstart_line(&self) -> String {
        const ORDER: [&str; 5] = ["main", "pre-start", "post-start", "pre-stop", "post-stop"];
        let mut s = self.job.clone();
        if !self.instance.is_empty() {
            s.push_str(&format!(" ({})", self.instance));
        }
        s.push_str(&format!(" {}/{}", self.goal, self.state));
        let mut procs: Vec<&ProcessStatus> = self.processes.iter().collect();
        procs.sort_by_key(|p| {
            ORDER
                .iter()
                .position(|k| *k == p.kind)
                .unwrap_or(ORDER.len())
        });
        for (i, p) in procs.iter().enumerate() {
            match (i, p.kind.as_str()) {
                (0, "main" | "pre-start" | "post-stop") => {
                    s.push_str(&format!(", process {}", p.pid));
                }
                (0, kind) => s.push_str(&format!(", ({kind}) process {}", p.pid)),
                (_, kind) => s.push_str(&format!("\n\t{kind} process {}", p.pid)),
            }
        }
        for m in &self.members {
            s.push_str(&format!("\n\t{} {}", m.pid, m.command));
        }
        s
    }

    /// `status --all`'s lines of times, tab-indented after the status line: `spawned`,
    /// `ready`, `changed`, each present, in human-readable UTC.
    pub fn time_lines(&self) -> String {
        let mut s = String::new();
        for (what, t) in [
            ("spawned", &self.spawned),
            ("ready", &self.ready),
            ("changed", &self.changed),
        ] {
            if let Some(t) = t {
                let human = t.replacen('T', " ", 1).replace('Z', " UTC");
                s.push_str(&format!("\n\t{what} {human}"));
            }
        }
        s
    }
}

/// Why a request line is not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, another version, or over a limit; the text is what the daemon replies.
    Invalid(String),
    /// A change verb from a caller without the right to change anything.
    Denied,
}

/// Parses one request line; the error text is what the daemon replies.
pub fn parse_request(line: &str) -> Result<Request, String> {
    parse_request_as(line, true).map_err(|r| match r {
        Refusal::Invalid(e) => e,
        Refusal::Denied => "Permission denied".into(),
    })
}

/// Parses one request line for a caller who may (or may not) change state. The order is
/// the cheapest first: JSON syntax, version, the verb's permission, the size of `env`,
/// and only then the command's fields.
pub fn parse_request_as(line: &str, may_change: bool) -> Result<Request, Refusal> {
    let invalid = |e: String| Refusal::Invalid(e);
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| invalid(format!("malformed request: {e}")))?;
    match value.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(invalid(format!(
                "unsupported protocol version {v} (this daemon speaks {VERSION})"
            )));
        }
        None => {
            return Err(invalid(
                "malformed request: missing protocol version `v`".into(),
            ));
        }
    }
    if !may_change
        && value
            .get("cmd")
            .and_then(|c| c.as_str())
            .is_some_and(needs_right_verb)
    {
        return Err(Refusal::Denied);
    }
    if let Some(env) = value.get("env").and_then(|e| e.as_array()) {
        if env.len() > MAX_ENV {
            return Err(invalid(format!(
                "request refused: {} env entries (the limit is {MAX_ENV})",
                env.len()
            )));
        }
        if let Some(long) = env
            .iter()
            .filter_map(|e| e.as_str())
            .find(|e| e.len() > MAX_ENV_ENTRY)
        {
            return Err(invalid(format!(
                "request refused: an env entry of {} bytes (the limit is {MAX_ENV_ENTRY})",
                long.len()
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| invalid(format!("bad request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Request::new(Command::Start {
            job: "a".into(),
            env: vec!["X=1".into()],
            wait: true,
        });
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"v":1,"cmd":"start","job":"a","env":["X=1"],"wait":true}"#
        );
        assert_eq!(parse_request(&line).unwrap(), r);
        assert_eq!(
            parse_request(r#"{"v":1,"cmd":"list"}"#).unwrap().command,
            Command::List
        );
    }

    #[test]
    fn errors() {
        assert!(
            parse_request("{")
                .unwrap_err()
                .starts_with("malformed request")
        );
        assert!(
            parse_request(r#"{"cmd":"list"}"#)
                .unwrap_err()
                .contains("missing protocol version")
        );
        assert!(
            parse_request(r#"{"v":9,"cmd":"list"}"#)
                .unwrap_err()
                .contains("unsupported protocol version 9")
        );
        assert!(
            parse_request(r#"{"v":1,"cmd":"explode"}"#)
                .unwrap_err()
                .starts_with("bad request")
        );
        assert!(
            parse_request(r#"{"v":1,"cmd":"start"}"#)
                .unwrap_err()
                .starts_with("bad request")
        );
    }

    #[test]
    fn issue10_item4_permission_and_env_caps_come_before_the_fields() {
        // A change verb is refused on its name alone, even when the rest is nonsense.
        assert_eq!(
            parse_request_as(r#"{"v":1,"cmd":"start","env":7}"#, false),
            Err(Refusal::Denied)
        );
        assert!(parse_request_as(r#"{"v":1,"cmd":"start","job":"a"}"#, true).is_ok());
        assert!(parse_request_as(r#"{"v":1,"cmd":"status","job":"a"}"#, false).is_ok());
        let many: Vec<String> = (0..=MAX_ENV).map(|i| format!("K{i}=v")).collect();
        let line = serde_json::json!({"v":1,"cmd":"status","job":"a","env":many}).to_string();
        match parse_request_as(&line, false) {
            Err(Refusal::Invalid(e)) => assert!(e.contains("the limit is 1024"), "{e}"),
            other => panic!("{other:?}"),
        }
        let long = format!("K={}", "x".repeat(MAX_ENV_ENTRY));
        let line = serde_json::json!({"v":1,"cmd":"emit","event":"e","env":[long]}).to_string();
        match parse_request_as(&line, true) {
            Err(Refusal::Invalid(e)) => assert!(e.contains("env entry of"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn change_verbs_agree_with_commands() {
        let all = [
            Command::Start {
                job: "j".into(),
                env: vec![],
                wait: false,
            },
            Command::Stop {
                job: "j".into(),
                instance: None,
                env: vec![],
                wait: false,
            },
            Command::Restart {
                job: "j".into(),
                instance: None,
                env: vec![],
                wait: false,
            },
            Command::Reload {
                job: "j".into(),
                instance: None,
                env: vec![],
            },
            Command::Status {
                job: "j".into(),
                instance: None,
                env: vec![],
                all: false,
            },
            Command::List,
            Command::Emit {
                event: "e".into(),
                env: vec![],
                wait: false,
            },
            Command::ReloadConfiguration,
            Command::ShowConfig { job: None },
            Command::Version,
            Command::ListEnv {
                job: None,
                instance: None,
            },
            Command::GetEnv {
                name: "A".into(),
                job: None,
                instance: None,
            },
            Command::SetEnv {
                env: vec!["A=1".into()],
                retain: false,
                job: None,
                instance: None,
            },
            Command::UnsetEnv {
                names: vec!["A".into()],
                job: None,
                instance: None,
            },
            Command::ResetEnv {
                job: None,
                instance: None,
            },
            Command::Usage { job: "j".into() },
            Command::NotifyDbusAddress {
                address: "unix:path=/x".into(),
            },
            Command::NotifyCgroupManagerAddress {
                address: "unix:path=/y".into(),
            },
            Command::Shutdown {
                action: ShutdownAction::Poweroff,
                force: false,
                delay: 0,
                message: None,
            },
            Command::CancelShutdown,
            Command::Telinit {
                level: "2".into(),
                env: vec![],
                wait: true,
            },
            Command::Runlevel,
            Command::Log {
                job: "j".into(),
                instance: None,
                lines: 10,
                after: None,
            },
            Command::NotifyDiskWriteable,
            Command::LogPriority { priority: None },
            Command::Monitor,
            Command::History { since_ms: None },
        ];
        for c in all {
            let v = serde_json::to_value(Request::new(c.clone())).unwrap();
            let verb = v["cmd"].as_str().unwrap();
            assert_eq!(is_change_verb(verb), c.is_change(), "{verb}");
            assert_eq!(needs_right_verb(verb), c.needs_right(), "{verb}");
        }
        // Issue 16 item 2: the job environment table is read only by those who may change
        // things, as Upstart's ListEnv and GetEnv are.
        assert_eq!(
            parse_request_as(r#"{"v":1,"cmd":"list-env"}"#, false),
            Err(Refusal::Denied)
        );
        assert!(parse_request_as(r#"{"v":1,"cmd":"list-env"}"#, true).is_ok());
    }

    /// Issue 16 item 5: `grep -q upstart`, `sed 's/.*(upstart \([^)]*\)).*/\1/'` and
    /// `awk '{print $3}'` read the line as they read Upstart's `init (upstart 1.13.2)`.
    #[test]
    fn issue16_item5_version_line_reads_as_upstarts() {
        let l = version_line("0.1.0", "System mode, tracking by cgroups");
        assert_eq!(
            l,
            "init (upstart 1.13.2) outset 0.1.0 (System mode, tracking by cgroups)"
        );
        assert!(l.contains("upstart"));
        assert_eq!(l.split_whitespace().nth(2), Some("1.13.2)"));
        assert_eq!(version_line("1.0", ""), "init (upstart 1.13.2) outset 1.0");
    }

    #[test]
    fn status_lines() {
        let s = InstanceStatus {
            job: "web".into(),
            instance: "a".into(),
            goal: "start".into(),
            state: "running".into(),
            processes: vec![
                ProcessStatus {
                    kind: "main".into(),
                    pid: 10,
                },
                ProcessStatus {
                    kind: "post-start".into(),
                    pid: 11,
                },
            ],
            notes: vec![],
            history: vec![],
            changed: None,
            spawned: None,
            ready: None,
            members: vec![],
            log: None,
            resource_problems: vec![],
        };
        assert_eq!(
            s.upstart_line(),
            "web (a) start/running, process 10\n\tpost-start process 11"
        );
        let w = InstanceStatus {
            instance: String::new(),
            goal: "stop".into(),
            state: "waiting".into(),
            processes: vec![],
            ..s
        };
        assert_eq!(w.upstart_line(), "web stop/waiting");
    }

    /// Issue 9 item 13: initctl's `job_status` for every process type shown first.
    #[test]
    fn issue9_item13_first_process_as_initctl_shows_it() {
        let line = |procs: &[(&str, u32)]| {
            InstanceStatus {
                job: "job".into(),
                instance: String::new(),
                goal: "start".into(),
                state: "x".into(),
                processes: procs
                    .iter()
                    .map(|(k, p)| ProcessStatus {
                        kind: (*k).into(),
                        pid: *p,
                    })
                    .collect(),
                notes: vec![],
                history: vec![],
                changed: None,
                spawned: None,
                ready: None,
                members: vec![],
                log: None,
                resource_problems: vec![],
            }
            .upstart_line()
        };
        assert_eq!(line(&[("pre-start", 5)]), "job start/x, process 5");
        assert_eq!(line(&[("post-stop", 5)]), "job start/x, process 5");
        assert_eq!(
            line(&[("post-start", 5)]),
            "job start/x, (post-start) process 5"
        );
        assert_eq!(
            line(&[("pre-stop", 5)]),
            "job start/x, (pre-stop) process 5"
        );
        assert_eq!(
            line(&[("post-start", 6), ("main", 5)]),
            "job start/x, process 5\n\tpost-start process 6"
        );
        assert_eq!(
            line(&[("pre-stop", 6), ("main", 5)]),
            "job start/x, process 5\n\tpre-stop process 6"
        );
    }
}
