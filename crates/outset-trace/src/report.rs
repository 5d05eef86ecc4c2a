//! What a trace found: the report `outsetctl trace` renders, and the options it was run with.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub use outset_proto::ExitStatus;
pub use outset_sys::net::{ListenAddr, ListenProto};

/// Programs that are themselves ptrace-based tracers or debuggers: they cannot run under
/// another tracer (a process has one tracer at most).
const PTRACE_TOOLS: &[&str] = &[
    "strace",
    "ltrace",
    "gdb",
    "gdbserver",
    "lldb",
    "lldb-server",
    "rr",
    "proot",
    "criu",
    "reptyr",
    "uftrace",
];

/// How often the traced processes' listening sockets are looked at: often enough to time
/// readiness against the launcher's exit, rarely enough to cost little.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(50);

/// How long the processes left get after SIGTERM to end on their own (removing their pid
/// files, closing sockets) before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// How much of the command's stderr the report keeps: the end, where the error is.
pub const STDERR_TAIL: usize = 4096;

/// What to trace and for how long.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// The command and its arguments (`argv[0]` is searched in PATH).
    pub argv: Vec<String>,
    /// The command's complete environment.
    pub env: Vec<(String, String)>,
    /// The longest the whole trace may take.
    pub timeout: Duration,
    /// Once the launched process has exited, how long the processes left may stay silent
    /// before they are taken to be a daemon that stays.
    pub quiet: Duration,
    /// Leave the processes running (detached) instead of killing them.
    pub keep: bool,
    /// The cgroup directory to create the trace's cgroup under (the cgroup2 mount by
    /// default, `outsetctl trace --cgroup-root`); `None` runs without one.
    pub cgroup_root: Option<PathBuf>,
    /// Offer the command a `NOTIFY_SOCKET`, so daemons that support sd_notify say when
    /// they are ready.
    pub notify: bool,
    /// Files (pid files, readiness files) to read when tracing stops, before the processes
    /// left are ended: a daemon removes its pid file when it gets SIGTERM.
    pub read_at_end: Vec<PathBuf>,
}

impl TraceOptions {
    /// Defaults: 5 s timeout, 1 s quiet time, kill at the end, cgroup2 if mounted.
    pub fn new(argv: Vec<String>) -> TraceOptions {
        TraceOptions {
            argv,
            env: std::env::vars().collect(),
            timeout: Duration::from_secs(5),
            quiet: Duration::from_secs(1),
            keep: false,
            cgroup_root: outset_sys::cgroup::cgroup2_mount(),
            notify: true,
            read_at_end: Vec::new(),
        }
    }
}

/// An exit status as the trace shows it: `0`, `3`, `SIGTERM` (`signal 64` for a number
/// without a name).
pub fn status_text(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(c) => c.to_string(),
        ExitStatus::Signaled(s) => match outset_job::signal::signal_name(outset_job::Signal(s)) {
            Some(name) => format!("SIG{name}"),
            None => format!("signal {s}"),
        },
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// fork, vfork or a clone that made a new process (threads are not reported).
    Fork { child: u32 },
    /// The process executed a program with this name (its new comm).
    Exec { new_name: String },
    /// The process ended.
    Exit { status: ExitStatus },
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// The process (thread group id) the event happened to.
    pub pid: u32,
    /// Its name (comm) when the event happened; for exec, the name before it.
    pub name: String,
    pub kind: EventKind,
    /// Time since the command was started.
    pub at: Duration,
}

/// Why tracing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEnd {
    /// Every traced process exited.
    AllExited,
    /// The launched process exited and the rest stayed silent for the quiet time.
    Quiet,
    /// The timeout passed.
    Timeout,
    /// The launched process still runs, sent READY=1, and all stayed silent for the quiet
    /// time: it is ready, waiting for the timeout would tell nothing more.
    Notified,
}

/// A process still alive when tracing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftProcess {
    pub pid: u32,
    pub name: String,
    /// Its parent as seen by the tracer (the process that forked it).
    pub parent: Option<u32>,
}

/// One message the command sent to the trace's `NOTIFY_SOCKET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyMessage {
    /// The sender, from its credentials.
    pub pid: u32,
    pub text: String,
    /// Time since the command was started (when the tracer read it).
    pub at: Duration,
}

impl NotifyMessage {
    /// The value of `KEY=` in the message, if it has that line.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }
}

/// A listening socket seen held by a traced process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSeen {
    pub addr: ListenAddr,
    /// The process first seen holding it.
    pub pid: u32,
    pub name: String,
    /// Time since the command was started when it was first seen (at most
    /// [`SCAN_INTERVAL`] after it began to listen).
    pub at: Duration,
}

/// Everything the tracer saw.
#[derive(Debug, Clone)]
pub struct TraceReport {
    /// The launched process.
    pub launcher: u32,
    /// Events in the order the tracer saw them.
    pub events: Vec<TraceEvent>,
    /// How the launched process ended, if it did.
    pub launcher_exit: Option<ExitStatus>,
    /// Processes alive at the end, oldest (first seen) first.
    pub left: Vec<LeftProcess>,
    /// Parent of every process seen (child -> the process that forked it).
    pub parents: BTreeMap<u32, u32>,
    pub end: TraceEnd,
    /// The cgroup the command ran in, if one could be created.
    pub cgroup: Option<PathBuf>,
    /// Why the command ran without a cgroup, if it did.
    pub cgroup_note: Option<String>,
    /// Name of a ptrace-using program that the command ran, if one was seen.
    pub uses_ptrace: Option<String>,
    /// Whether the processes left were kept running.
    pub kept: bool,
    /// Problems during detach or clean-up (nothing fatal).
    pub warnings: Vec<String>,
    /// The `NOTIFY_SOCKET` value the command was given, if one could be bound.
    pub notify_socket: Option<String>,
    /// Messages received on it, in order.
    pub notifications: Vec<NotifyMessage>,
    /// Listening sockets of the traced processes, in the order they were first seen.
    pub listening: Vec<ListenSeen>,
    /// The end of what the command's processes wrote to stderr (at most [`STDERR_TAIL`]
    /// bytes, up to the end of the trace).
    pub stderr: String,
    /// With `keep`: the file the kept processes go on writing their stderr to.
    pub stderr_file: Option<PathBuf>,
    /// The files of [`TraceOptions::read_at_end`] that existed when tracing stopped, with
    /// their first 4 KiB.
    pub files_at_end: BTreeMap<PathBuf, String>,
}

impl TraceReport {
    /// The first message that said READY=1.
    pub fn ready(&self) -> Option<&NotifyMessage> {
        self.notifications
            .iter()
            .find(|m| m.field("READY") == Some("1"))
    }

    /// The last MAINPID= sent, if any.
    pub fn mainpid(&self) -> Option<u32> {
        self.notifications
            .iter()
            .rev()
            .find_map(|m| m.field("MAINPID").and_then(|v| v.trim().parse().ok()))
    }

    /// When the launched process exited, if it did while traced.
    pub fn launcher_exit_at(&self) -> Option<Duration> {
        self.events
            .iter()
            .find(|e| e.pid == self.launcher && matches!(e.kind, EventKind::Exit { .. }))
            .map(|e| e.at)
    }
}

/// Why tracing could not run.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Spawn(#[from] outset_sys::spawn::SpawnError),
    #[error("cannot trace process {pid}: {source}")]
    Attach { pid: u32, source: io::Error },
    #[error("waiting for traced processes: {0}")]
    Wait(io::Error),
}

/// Whether `comm` is a program that uses ptrace itself.
pub fn is_ptrace_tool(comm: &str) -> bool {
    PTRACE_TOOLS.contains(&comm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptrace_exit_status_text_and_tools() {
        assert_eq!(status_text(ExitStatus::Exited(0)), "0");
        assert_eq!(status_text(ExitStatus::Exited(3)), "3");
        assert_eq!(status_text(ExitStatus::Signaled(libc::SIGTERM)), "SIGTERM");
        // The names as nix gave them before (the first of two names for one number).
        assert_eq!(status_text(ExitStatus::Signaled(libc::SIGABRT)), "SIGABRT");
        assert_eq!(status_text(ExitStatus::Signaled(libc::SIGCHLD)), "SIGCHLD");
        assert_eq!(status_text(ExitStatus::Signaled(libc::SIGIO)), "SIGIO");
        assert_eq!(status_text(ExitStatus::Signaled(64)), "signal 64");
        assert!(is_ptrace_tool("strace"));
        assert!(!is_ptrace_tool("sh"));
    }

    #[test]
    fn ptrace_notify_fields() {
        let m = NotifyMessage {
            pid: 1,
            text: "STATUS=x\nREADY=1\nMAINPID=42".into(),
            at: Duration::ZERO,
        };
        assert_eq!(m.field("READY"), Some("1"));
        assert_eq!(m.field("MAINPID"), Some("42"));
        assert_eq!(m.field("MAIN"), None);
    }
}
