//! ptrace for outset: the start-up tracer behind `outsetctl trace`, and the requests the
//! daemon's `track ptrace` uses (`seize`, `cont`, `detach`, `interrupt`, `listen`,
//! `geteventmsg`, [`classify_stop`], [`TRACK_OPTIONS`]).
//!
//! The daemon tracks jobs by cgroup and exit; it traces only a job that asks for it
//! (`track ptrace`, or every job with `outset --track ptrace`), and only until its main PID
//! is known. [`trace`] runs a command under ptrace, follows every process it creates and
//! records forks, execs and exits in order, so a user can see how a daemon starts (how many
//! launch-chain processes exit before the daemon is left) and pick the right `expect` stanza.
//! When it ends, what the command left gets SIGTERM, [`TERM_GRACE`] to end, then SIGKILL; the
//! command's stderr goes to a file whose end the report carries.
//!
//! Besides the process tree it offers the command a `NOTIFY_SOCKET` (recording READY=1 and
//! MAINPID=) and looks every [`SCAN_INTERVAL`] at which listening sockets the traced
//! processes hold, so the readiness of a daemon can be told, not only its fork pattern.
//!
//! [`trace`] waits with `waitpid(-1, __WALL)`, so it must run in a process that has no other
//! children it cares about (a CLI, or a dedicated test process), and every ptrace request
//! comes from the calling thread, as the kernel requires.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cgroup::Cgroup;
use crate::notify::NotifySocket;
use crate::pidfd::PidFd;
use crate::spawn::{self, ProgramSpec, SpawnPlan, SpawnRequest, Stdio};

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

/// Longest single sleep between checks, so a missed SIGCHLD only delays, never hangs.
const MAX_SLICE: Duration = Duration::from_millis(50);

/// How long a new process may wait for its parent's fork event before it is announced
/// with the parent /proc names (the parent may have been killed before reporting).
const ORPHAN_GRACE: Duration = Duration::from_millis(200);

/// How often the traced processes' listening sockets are looked at: often enough to time
/// readiness against the launcher's exit, rarely enough to cost little.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(50);

/// Notifications kept at most, so a chatty daemon cannot grow the report without end.
const MAX_NOTIFICATIONS: usize = 256;

/// How long detaching and cleaning up may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the processes left get after SIGTERM to end on their own (removing their pid
/// files, closing sockets) before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// How much of the command's stderr the report keeps: the end, where the error is.
pub const STDERR_TAIL: usize = 4096;

static CGROUP_SEQ: AtomicUsize = AtomicUsize::new(0);

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
            cgroup_root: crate::cgroup::cgroup2_mount(),
            notify: true,
            read_at_end: Vec::new(),
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// From a raw wait status; `None` if it does not describe an ended process.
    pub fn from_raw(status: i32) -> Option<ExitStatus> {
        if libc::WIFEXITED(status) {
            Some(ExitStatus::Code(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ExitStatus::Signal(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    /// Whether it is `exit(0)`.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    /// `0`, `3`, `SIGTERM` (or `signal 64` for numbers nix does not name).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitStatus::Code(c) => write!(f, "{c}"),
            ExitStatus::Signal(s) => match Signal::try_from(s) {
                Ok(sig) => f.write_str(sig.as_str()),
                Err(_) => write!(f, "signal {s}"),
            },
        }
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

/// The kind of a listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListenProto {
    Tcp,
    Udp,
    Unix,
}

impl ListenProto {
    /// `tcp`, `udp` or `unix`, as in `ready on listening`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenProto::Tcp => "tcp",
            ListenProto::Udp => "udp",
            ListenProto::Unix => "unix",
        }
    }
}

/// A listening socket and where it listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListenAddr {
    pub proto: ListenProto,
    /// The local address (`None` for unix sockets).
    pub ip: Option<IpAddr>,
    pub port: u16,
    /// The unix socket path (`@name` for the abstract namespace); empty for TCP/UDP.
    pub path: String,
}

impl ListenAddr {
    /// `IPv4` or `IPv6` for an IP socket: a daemon bound to both shows two sockets with
    /// one [`spec`](Self::spec).
    pub fn family(&self) -> Option<&'static str> {
        match self.ip {
            Some(IpAddr::V4(_)) => Some("IPv4"),
            Some(IpAddr::V6(_)) => Some("IPv6"),
            None => None,
        }
    }

    /// The address as `ready on listening` takes it: `tcp:127.0.0.1:80`, `tcp:[::1]:80`,
    /// `tcp:80` for a wildcard bind (any address), `unix:/run/x.sock`.
    pub fn spec(&self) -> String {
        let proto = self.proto.as_str();
        match self.ip {
            None => format!("{proto}:{}", self.path),
            Some(ip) if ip.is_unspecified() => format!("{proto}:{}", self.port),
            Some(IpAddr::V6(ip)) => format!("{proto}:[{ip}]:{}", self.port),
            Some(IpAddr::V4(ip)) => format!("{proto}:{ip}:{}", self.port),
        }
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
    Spawn(#[from] spawn::SpawnError),
    #[error("cannot trace process {pid}: {source}")]
    Attach { pid: u32, source: io::Error },
    #[error("waiting for traced processes: {0}")]
    Wait(io::Error),
}

/// Whether `comm` is a program that uses ptrace itself.
pub fn is_ptrace_tool(comm: &str) -> bool {
    PTRACE_TOOLS.contains(&comm)
}

/// A tracee (thread or process) the tracer knows about.
#[derive(Debug)]
struct Tracee {
    /// Its thread group (process) id.
    tgid: u32,
    /// A non-leader thread: followed but not reported.
    thread: bool,
    /// In a ptrace-stop we have not resumed it from.
    stopped: bool,
    /// Its fork event was recorded (or it is the launcher): it may run.
    announced: bool,
    /// Its exit was recorded (at PTRACE_EVENT_EXIT).
    exit_recorded: bool,
    /// When it was first seen.
    seen: Instant,
}

/// The tracer's state during one trace.
struct Tracer {
    start: Instant,
    launcher: u32,
    launcher_exec_done: bool,
    tracees: BTreeMap<u32, Tracee>,
    /// Current name of every process (by tgid).
    names: BTreeMap<u32, String>,
    /// Order in which processes were first seen (for "oldest left").
    order: Vec<u32>,
    events: Vec<TraceEvent>,
    parents: BTreeMap<u32, u32>,
    launcher_exit: Option<ExitStatus>,
    last_event: Instant,
    uses_ptrace: Option<String>,
    warnings: Vec<String>,
    notify: Option<NotifySocket>,
    notifications: Vec<NotifyMessage>,
    listening: Vec<ListenSeen>,
    /// Addresses already in `listening`.
    listen_seen: HashSet<ListenAddr>,
    next_scan: Instant,
    /// Processes already reaped. A tracee's end is reported to us as its tracer; if its
    /// parent then exits, the zombie is reparented to us (a subreaper) and reaped a second
    /// time, which must not record a second exit.
    reaped: HashSet<u32>,
}

impl Tracer {
    /// The state for a trace of `launcher` (named `comm`), seized just now.
    fn new(
        launcher: u32,
        comm: String,
        warnings: Vec<String>,
        notify: Option<NotifySocket>,
    ) -> Tracer {
        let now = Instant::now();
        let mut t = Tracer {
            start: now,
            launcher,
            launcher_exec_done: false,
            tracees: BTreeMap::new(),
            names: BTreeMap::from([(launcher, comm)]),
            order: vec![launcher],
            events: Vec::new(),
            parents: BTreeMap::new(),
            launcher_exit: None,
            last_event: now,
            uses_ptrace: None,
            warnings,
            notify,
            notifications: Vec::new(),
            listening: Vec::new(),
            listen_seen: HashSet::new(),
            next_scan: now,
            reaped: HashSet::new(),
        };
        t.tracees.insert(
            launcher,
            Tracee {
                tgid: launcher,
                thread: false,
                stopped: false,
                announced: true,
                exit_recorded: false,
                seen: now,
            },
        );
        t
    }
}

/// Runs `opts.argv` under ptrace and records what its processes do.
///
/// Call it from a process without other children (see the module docs). Unless
/// `opts.keep`, every process the command left is killed before this returns.
pub fn trace(opts: &TraceOptions) -> Result<TraceReport, TraceError> {
    let (cgroup, cgroup_note) = make_cgroup(opts.cgroup_root.as_deref());
    let mut warnings = Vec::new();
    let notify = if opts.notify {
        let n = CGROUP_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("outset-trace-notify-{}-{n}", std::process::id());
        match NotifySocket::bind_abstract(&name) {
            Ok(s) => Some(s),
            Err(e) => {
                warnings.push(format!("no NOTIFY_SOCKET offered: binding @{name}: {e}"));
                None
            }
        }
    } else {
        None
    };
    let mut req = SpawnRequest::new(ProgramSpec::Argv(opts.argv.clone()));
    req.env = opts.env.clone();
    if let Some(sock) = &notify {
        req.env.retain(|(k, _)| k != "NOTIFY_SOCKET");
        req.env.push(("NOTIFY_SOCKET".into(), sock.address()));
    }
    let stderr = match StderrFile::create() {
        Ok(f) => {
            req.stdio = Stdio::NullStderrTo(f.path.clone());
            Some(f)
        }
        Err(e) => {
            warnings.push(format!("the command's stderr is not shown: {e}"));
            req.stdio = Stdio::Null;
            None
        }
    };
    req.cgroup = cgroup.as_ref().map(|c| c.path().to_path_buf());
    req.stop_before_exec = true;
    let spawned = match SpawnPlan::new(&req).and_then(|plan| spawn::spawn(&plan)) {
        Ok(s) => s,
        Err(e) => {
            if let Some(pid) = e.child_pid() {
                reap_pid(pid);
            }
            remove_cgroup(cgroup.as_ref());
            return Err(e.into());
        }
    };
    let pid = spawned.pid;
    let options = Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEEXIT;
    if let Err(e) = ptrace::seize(to_pid(pid), options) {
        if let Some(fd) = &spawned.pidfd {
            let _ = fd.signal(libc::SIGKILL);
        } else {
            kill_pid(pid);
        }
        reap_pid(pid);
        remove_cgroup(cgroup.as_ref());
        return Err(TraceError::Attach {
            pid,
            source: io::Error::from(e),
        });
    }
    let comm = crate::procfs::comm(pid).unwrap_or_else(|| "?".into());
    let mut t = Tracer::new(pid, comm, warnings, notify);
    let mask = SigchldBlock::new();
    let end = t.run(opts.timeout, opts.quiet);
    // A last look while the processes still exist.
    t.poll_notify();
    t.scan_listening();
    let left = t.left();
    let files_at_end = opts
        .read_at_end
        .iter()
        .filter_map(|p| {
            use std::io::Read;
            let mut buf = Vec::new();
            let f = std::fs::File::open(p).ok()?;
            f.take(4096).read_to_end(&mut buf).ok()?;
            Some((p.clone(), String::from_utf8_lossy(&buf).into_owned()))
        })
        .collect();
    // Pidfds first: once detached, a process that is not our child may be reaped by
    // someone else and its pid reused.
    let pidfds: Vec<(u32, Option<PidFd>)> = left
        .iter()
        .map(|p| (p.pid, PidFd::open(p.pid).ok()))
        .collect();
    t.detach_all();
    if opts.keep {
        // Only an empty cgroup goes; one holding the kept processes stays.
        remove_cgroup(cgroup.as_ref());
    } else {
        t.kill_and_reap(cgroup.as_ref(), &pidfds);
    }
    drop(mask);
    let stderr_text = stderr.as_ref().map(StderrFile::tail).unwrap_or_default();
    let stderr_file = match stderr {
        Some(f) if opts.keep => Some(f.keep()),
        _ => None,
    };
    let end = match end {
        Ok(end) => end,
        Err(e) => return Err(TraceError::Wait(e)),
    };
    Ok(TraceReport {
        launcher: pid,
        events: t.events,
        launcher_exit: t.launcher_exit,
        left,
        parents: t.parents,
        end,
        cgroup: cgroup.map(|c| c.path().to_path_buf()),
        cgroup_note,
        uses_ptrace: t.uses_ptrace,
        kept: opts.keep,
        warnings: t.warnings,
        notify_socket: t.notify.as_ref().map(NotifySocket::address),
        notifications: t.notifications,
        listening: t.listening,
        stderr: stderr_text,
        stderr_file,
        files_at_end,
    })
}

/// The file the command's stderr goes to: created here (so nobody else's file is written
/// to), removed on drop unless kept.
struct StderrFile {
    path: PathBuf,
    kept: bool,
}

impl StderrFile {
    fn create() -> io::Result<StderrFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let n = CGROUP_SEQ.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("outset-trace-{}-{n}.stderr", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(StderrFile { path, kept: false })
    }

    /// The last [`STDERR_TAIL`] bytes, from a line start when the file is longer.
    fn tail(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let tail = STDERR_TAIL as u64;
        let cut = len > tail;
        if cut && f.seek(SeekFrom::Start(len - tail)).is_err() {
            return String::new();
        }
        let mut buf = Vec::with_capacity(STDERR_TAIL);
        let _ = f.take(tail).read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf).into_owned();
        match text.split_once('\n') {
            Some((_, rest)) if cut => rest.to_string(),
            _ => text,
        }
    }

    /// Leaves the file for the kept processes; its path.
    fn keep(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for StderrFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates `<root>/outset-trace-<pid>-<n>`, or says why the trace runs without a cgroup.
fn make_cgroup(root: Option<&Path>) -> (Option<Cgroup>, Option<String>) {
    let Some(root) = root else {
        return (None, Some("no cgroup2 mount".into()));
    };
    let n = CGROUP_SEQ.fetch_add(1, Ordering::Relaxed);
    let path = root.join(format!("outset-trace-{}-{n}", std::process::id()));
    match Cgroup::create(&path) {
        Ok(cg) => (Some(cg), None),
        Err(e) => (
            None,
            Some(format!("cannot create cgroup {}: {e}", path.display())),
        ),
    }
}

/// Removes the trace's cgroup if it is empty; a cgroup still holding processes stays.
fn remove_cgroup(cg: Option<&Cgroup>) {
    if let Some(cg) = cg {
        let _ = cg.remove();
    }
}

fn to_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

/// SIGKILLs `pid`; only used for our own child right after spawning it.
fn kill_pid(pid: u32) {
    if let Ok(p) = i32::try_from(pid)
        && p > 0
    {
        // SAFETY: kill takes plain integers; `p` is positive, so never a group or -1.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// Waits for our child `pid` to end.
fn reap_pid(pid: u32) {
    let Ok(p) = i32::try_from(pid) else { return };
    let mut status = 0;
    loop {
        // SAFETY: waitpid on a specific pid of ours with a valid status pointer.
        let r = unsafe { libc::waitpid(p, &mut status, libc::__WALL) };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// One `waitpid(-1, WNOHANG | __WALL)`: `Ok(None)` when nothing is pending.
fn wait_any() -> io::Result<Option<(u32, i32)>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid with a valid status pointer; it only writes the status.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) };
        if r > 0 {
            return Ok(Some((r.unsigned_abs(), status)));
        }
        if r == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Blocks SIGCHLD in this thread while tracing, so the waits can sleep until it arrives.
struct SigchldBlock {
    old: Option<nix::sys::signal::SigSet>,
}

impl SigchldBlock {
    fn new() -> SigchldBlock {
        let mut set = nix::sys::signal::SigSet::empty();
        set.add(Signal::SIGCHLD);
        let mut old = nix::sys::signal::SigSet::empty();
        let ok = nix::sys::signal::pthread_sigmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&set),
            Some(&mut old),
        )
        .is_ok();
        SigchldBlock {
            old: ok.then_some(old),
        }
    }
}

impl Drop for SigchldBlock {
    fn drop(&mut self) {
        if let Some(old) = &self.old {
            let _ = nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(old),
                None,
            );
        }
    }
}

// ---------------------------------------------------------------- job tracking (`track ptrace`)
//
// Plain wrappers for the daemon, which follows a job's forks with ptrace until its main PID
// is known. Every request must come from the thread that seized the tracee.

/// The options `track ptrace` seizes with: follow fork, vfork and clone; see exec and exit.
pub const TRACK_OPTIONS: i32 = libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACEEXIT;

/// What a ptrace stop of a tracee is, from its raw wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStop {
    /// fork or vfork: the new process's id is read with [`geteventmsg`].
    Fork,
    /// clone without SIGCHLD as exit signal (mostly a new thread): its id likewise.
    Clone,
    /// The tracee executed a new program.
    Exec,
    /// The tracee is about to exit.
    Exit,
    /// `PTRACE_EVENT_STOP` with this signal: a new tracee's first stop, a group-stop
    /// (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) or a stop after [`interrupt`].
    Stop(i32),
    /// A signal on its way to the tracee (signal-delivery-stop).
    Signal(i32),
}

/// Classifies a raw wait status; `None` if it is not a stop.
pub fn classify_stop(status: i32) -> Option<TraceStop> {
    if !libc::WIFSTOPPED(status) {
        return None;
    }
    let sig = libc::WSTOPSIG(status);
    Some(match (status >> 16) & 0xffff {
        libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK => TraceStop::Fork,
        libc::PTRACE_EVENT_CLONE => TraceStop::Clone,
        libc::PTRACE_EVENT_EXEC => TraceStop::Exec,
        libc::PTRACE_EVENT_EXIT => TraceStop::Exit,
        0 => TraceStop::Signal(sig),
        _ => TraceStop::Stop(sig),
    })
}

/// Whether `sig` stops a process (a group-stop signal).
pub fn is_stop_signal(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    )
}

fn raw_pid(pid: u32) -> io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

/// One ptrace request whose `addr` and `data` are plain integers.
fn request(req: libc::c_uint, pid: u32, addr: usize, data: usize) -> io::Result<()> {
    let pid = raw_pid(pid)?;
    // SAFETY: every request sent here (SEIZE, CONT, DETACH, INTERRUPT, LISTEN) takes
    // integers in addr/data and dereferences no pointer.
    let r = unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `PTRACE_SEIZE` with `options` (see [`TRACK_OPTIONS`]); the tracee keeps running.
pub fn seize(pid: u32, options: i32) -> io::Result<()> {
    request(
        libc::PTRACE_SEIZE,
        pid,
        0,
        usize::try_from(options).unwrap_or(0),
    )
}

/// Resumes a stopped tracee, delivering `sig` (0 for none).
pub fn cont(pid: u32, sig: i32) -> io::Result<()> {
    request(libc::PTRACE_CONT, pid, 0, usize::try_from(sig).unwrap_or(0))
}

/// Lets a stopped tracee go, delivering `sig` (0 for none).
pub fn detach(pid: u32, sig: i32) -> io::Result<()> {
    request(
        libc::PTRACE_DETACH,
        pid,
        0,
        usize::try_from(sig).unwrap_or(0),
    )
}

/// Stops a running (seized) tracee; the stop shows as [`TraceStop::Stop`].
pub fn interrupt(pid: u32) -> io::Result<()> {
    request(libc::PTRACE_INTERRUPT, pid, 0, 0)
}

/// Leaves a tracee in its group-stop while letting it see SIGCONT (`PTRACE_LISTEN`).
pub fn listen(pid: u32) -> io::Result<()> {
    request(libc::PTRACE_LISTEN, pid, 0, 0)
}

/// The event message of a stopped tracee: the new task's id after a fork event, the wait
/// status after an exit event.
pub fn geteventmsg(pid: u32) -> io::Result<u64> {
    let pid = raw_pid(pid)?;
    let mut msg: libc::c_ulong = 0;
    // SAFETY: PTRACE_GETEVENTMSG writes one unsigned long to `data`, a valid local.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            &mut msg as *mut libc::c_ulong,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        // c_ulong is u32 on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        Ok(u64::from(msg))
    }
}

/// Where the signal a tracee in signal-delivery-stop is about to get comes from: its
/// `si_code` and, for signals sent by a process, the sender's PID (0 otherwise).
pub fn signal_origin(pid: u32) -> io::Result<(i32, u32)> {
    let raw = raw_pid(pid)?;
    // SAFETY: an all-zero siginfo_t is a valid value for the kernel to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: PTRACE_GETSIGINFO writes one siginfo_t to `data`, a valid local.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            raw,
            std::ptr::null_mut::<libc::c_void>(),
            &raw mut info,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let sender = if matches!(
        info.si_code,
        libc::SI_USER | libc::SI_TKILL | libc::SI_QUEUE
    ) {
        // SAFETY: for these codes the kernel filled the _kill/_rt member, whose si_pid
        // this reads.
        u32::try_from(unsafe { info.si_pid() }).unwrap_or(0)
    } else {
        0
    };
    Ok((info.si_code, sender))
}

/// Thread group id of `tid` from /proc; `None` if it is gone.
fn tgid_of(tid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

const EVENT_STOP: i32 = libc::PTRACE_EVENT_STOP;

impl Tracer {
    fn record(&mut self, pid: u32, kind: EventKind) {
        let now = Instant::now();
        let name = self.names.get(&pid).cloned().unwrap_or_else(|| "?".into());
        self.events.push(TraceEvent {
            pid,
            name,
            kind,
            at: now.duration_since(self.start),
        });
        self.last_event = now;
    }

    /// The main loop: handles stops until one of the end conditions holds.
    fn run(&mut self, timeout: Duration, quiet: Duration) -> io::Result<TraceEnd> {
        let deadline = self.start + timeout;
        loop {
            loop {
                match wait_any() {
                    Ok(Some((tid, status))) => self.handle(tid, status),
                    Ok(None) => break,
                    Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                        self.tracees.clear();
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            self.release_orphans();
            self.poll_notify();
            let now = Instant::now();
            if now >= self.next_scan {
                self.scan_listening();
                self.next_scan = now + SCAN_INTERVAL;
            }
            if self.tracees.is_empty() {
                return Ok(TraceEnd::AllExited);
            }
            let silent = now.duration_since(self.last_event) >= quiet;
            if self.launcher_exit.is_some() && silent {
                return Ok(TraceEnd::Quiet);
            }
            if self.launcher_exit.is_none() && silent && self.ready_seen() {
                return Ok(TraceEnd::Notified);
            }
            if now >= deadline {
                return Ok(TraceEnd::Timeout);
            }
            let mut next = deadline.saturating_duration_since(now);
            if self.launcher_exit.is_some() || self.ready_seen() {
                next = next.min((self.last_event + quiet).saturating_duration_since(now));
            }
            // Never zero: the scan is due at most one interval from now.
            next = next.min(SCAN_INTERVAL);
            sleep_for_sigchld(next);
        }
    }

    /// Whether a READY=1 arrived.
    fn ready_seen(&self) -> bool {
        self.notifications
            .iter()
            .any(|m| m.field("READY") == Some("1"))
    }

    /// Reads every pending notification (non-blocking); a message counts as activity.
    fn poll_notify(&mut self) {
        let Some(sock) = &self.notify else { return };
        let mut got = Vec::new();
        // Bounded: a flood cannot keep the tracer from its tracees.
        for _ in 0..64 {
            match sock.recv() {
                Ok(Some(d)) => got.push(d),
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.warnings.push(format!("NOTIFY_SOCKET: {e}"));
                }
                Err(e) => {
                    self.warnings.push(format!("NOTIFY_SOCKET: {e}"));
                    break;
                }
            }
        }
        for d in got {
            let now = Instant::now();
            if self.notifications.len() < MAX_NOTIFICATIONS {
                self.notifications.push(NotifyMessage {
                    pid: d.pid,
                    text: d.text,
                    at: now.duration_since(self.start),
                });
            }
            self.last_event = now;
        }
    }

    /// Records listening sockets held by traced processes that were not seen before.
    fn scan_listening(&mut self) {
        let pids: Vec<u32> = self
            .tracees
            .values()
            .filter(|t| !t.thread && !t.exit_recorded)
            .map(|t| t.tgid)
            .collect::<HashSet<u32>>()
            .into_iter()
            .collect();
        let mut held: Vec<(u32, HashSet<u64>)> = self
            .order
            .iter()
            .filter(|p| pids.contains(p))
            .map(|&p| (p, crate::net::socket_inodes_of(p)))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        // A process that is still stopped at its exit may hold the socket too.
        for (&tid, t) in &self.tracees {
            if !t.thread && t.exit_recorded && tid == self.launcher {
                let s = crate::net::socket_inodes_of(tid);
                if !s.is_empty() {
                    held.push((tid, s));
                }
            }
        }
        if held.is_empty() {
            return;
        }
        let table = listening_sockets();
        let at = Instant::now().duration_since(self.start);
        let mut found = false;
        for (pid, inodes) in held {
            let mut addrs: Vec<&ListenAddr> = inodes.iter().filter_map(|i| table.get(i)).collect();
            addrs.sort_by_key(|a| (a.proto, a.ip, a.port, a.path.clone()));
            for addr in addrs {
                if self.listen_seen.insert(addr.clone()) {
                    let name = self.names.get(&pid).cloned().unwrap_or_else(|| "?".into());
                    self.listening.push(ListenSeen {
                        addr: addr.clone(),
                        pid,
                        name,
                        at,
                    });
                    found = true;
                }
            }
        }
        if found {
            self.last_event = Instant::now();
        }
    }

    /// Resumes a tracee, ignoring ESRCH (it may have been killed meanwhile).
    fn resume(&mut self, tid: u32, sig: Option<Signal>) {
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.stopped = false;
        }
        let _ = ptrace::cont(to_pid(tid), sig);
    }

    fn handle(&mut self, tid: u32, status: i32) {
        if let Some(st) = ExitStatus::from_raw(status) {
            self.ended(tid, st);
            return;
        }
        if !libc::WIFSTOPPED(status) {
            return;
        }
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xffff;
        if !self.tracees.contains_key(&tid) {
            self.new_tracee(tid, None);
        }
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.stopped = true;
        }
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                if let Ok(child) = ptrace::getevent(to_pid(tid))
                    && let Ok(child) = u32::try_from(child)
                {
                    self.forked(tid, child);
                }
                self.resume(tid, None);
            }
            libc::PTRACE_EVENT_EXEC => {
                self.execed(tid);
                self.resume(tid, None);
            }
            libc::PTRACE_EVENT_EXIT => {
                if let Ok(raw) = ptrace::getevent(to_pid(tid))
                    && let Some(st) = i32::try_from(raw).ok().and_then(ExitStatus::from_raw)
                {
                    self.exit_event(tid, st);
                }
                self.resume(tid, None);
            }
            EVENT_STOP => {
                let group_stop = matches!(
                    sig,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                );
                let pre_exec_launcher = tid == self.launcher && !self.launcher_exec_done;
                if group_stop && !pre_exec_launcher {
                    // Keep it stopped as job control wants, but let it receive SIGCONT.
                    // SAFETY: PTRACE_LISTEN on our tracee with null addr/data.
                    unsafe {
                        libc::ptrace(
                            libc::PTRACE_LISTEN,
                            libc::pid_t::try_from(tid).unwrap_or(0),
                            std::ptr::null_mut::<libc::c_void>(),
                            std::ptr::null_mut::<libc::c_void>(),
                        )
                    };
                } else if self.tracees.get(&tid).is_some_and(|t| t.announced) {
                    self.resume(tid, None);
                }
                // Otherwise a new process that waits for its parent's fork event.
            }
            _ => {
                // A signal on its way to the tracee: deliver it, except the launcher's own
                // SIGSTOP before exec, which exists only so it could be attached.
                let suppress =
                    tid == self.launcher && !self.launcher_exec_done && sig == libc::SIGSTOP;
                let sig = if suppress {
                    None
                } else {
                    Signal::try_from(sig).ok()
                };
                self.resume(tid, sig);
            }
        }
    }

    /// Starts following `tid`; `parent` is the tracee that created it, if known.
    fn new_tracee(&mut self, tid: u32, parent: Option<u32>) {
        let tgid = tgid_of(tid).unwrap_or(tid);
        let thread = tgid != tid;
        // A new process with the PID of one that ended (PID reuse).
        self.reaped.remove(&tid);
        self.tracees.insert(
            tid,
            Tracee {
                tgid,
                thread,
                stopped: false,
                announced: parent.is_some(),
                exit_recorded: false,
                seen: Instant::now(),
            },
        );
        if !thread && !self.names.contains_key(&tid) {
            let name = parent
                .and_then(|p| self.names.get(&p).cloned())
                .or_else(|| crate::procfs::comm(tid))
                .unwrap_or_else(|| "?".into());
            self.names.insert(tid, name);
            self.order.push(tid);
        }
    }

    /// `tid` created `child` (a process or a thread).
    fn forked(&mut self, tid: u32, child: u32) {
        let parent = self.tracees.get(&tid).map_or(tid, |t| t.tgid);
        match self.tracees.get_mut(&child) {
            Some(c) => c.announced = true,
            None => self.new_tracee(child, Some(parent)),
        }
        let (thread, stopped) = self
            .tracees
            .get(&child)
            .map_or((false, false), |c| (c.thread, c.stopped));
        if !thread {
            // A child that stopped before this event got its name from /proc (the
            // parent's comm then), which is what it inherited anyway.
            if let Some(n) = self.names.get(&parent).cloned() {
                self.names.insert(child, n);
            }
            self.parents.insert(child, parent);
            self.record(parent, EventKind::Fork { child });
        }
        if stopped {
            self.resume(child, None);
        }
    }

    /// New processes whose parent never reported the fork: announce them anyway.
    fn release_orphans(&mut self) {
        let now = Instant::now();
        let waiting: Vec<u32> = self
            .tracees
            .iter()
            .filter(|(_, t)| !t.announced && now.duration_since(t.seen) >= ORPHAN_GRACE)
            .map(|(tid, _)| *tid)
            .collect();
        for tid in waiting {
            match crate::procfs::parent_of(tid) {
                Some(p) if self.names.contains_key(&p) => self.forked(p, tid),
                _ => {
                    if let Some(t) = self.tracees.get_mut(&tid) {
                        t.announced = true;
                    }
                    self.resume(tid, None);
                }
            }
        }
    }

    fn execed(&mut self, tid: u32) {
        // After exec the process runs as its thread group leader; a non-leader thread
        // that exec'd has taken the leader's pid.
        if let Ok(former) = ptrace::getevent(to_pid(tid))
            && let Ok(former) = u32::try_from(former)
            && former != tid
        {
            self.tracees.remove(&former);
        }
        if let Some(t) = self.tracees.get_mut(&tid) {
            t.tgid = tid;
            t.thread = false;
        }
        let new_name = crate::procfs::comm(tid).unwrap_or_else(|| "?".into());
        if is_ptrace_tool(&new_name) && self.uses_ptrace.is_none() {
            self.uses_ptrace = Some(new_name.clone());
        }
        if tid == self.launcher {
            self.launcher_exec_done = true;
        }
        self.record(
            tid,
            EventKind::Exec {
                new_name: new_name.clone(),
            },
        );
        self.names.insert(tid, new_name);
    }

    /// PTRACE_EVENT_EXIT: the process is about to end with `st`.
    fn exit_event(&mut self, tid: u32, st: ExitStatus) {
        let Some(t) = self.tracees.get_mut(&tid) else {
            return;
        };
        if t.thread || t.exit_recorded {
            return;
        }
        t.exit_recorded = true;
        if tid == self.launcher {
            // What listens before the launcher exits is ready at its exit; only what
            // comes later needs `ready on listening`.
            self.scan_listening();
        }
        self.record(tid, EventKind::Exit { status: st });
        if tid == self.launcher {
            self.launcher_exit = Some(st);
        }
    }

    /// `tid` was reaped (it ended).
    fn ended(&mut self, tid: u32, st: ExitStatus) {
        let tracee = self.tracees.remove(&tid);
        if !self.reaped.insert(tid) && tracee.is_none() {
            // The same zombie again, reparented to us after its tracer reaping.
            return;
        }
        let recorded = tracee.is_some_and(|t| t.thread || t.exit_recorded);
        let known = self.names.contains_key(&tid);
        if !recorded && known {
            self.record(tid, EventKind::Exit { status: st });
        }
        if tid == self.launcher {
            self.launcher_exit = Some(st);
        }
    }

    /// Processes still alive, first seen first.
    fn left(&self) -> Vec<LeftProcess> {
        let alive: HashSet<u32> = self
            .tracees
            .values()
            .filter(|t| !t.exit_recorded || t.thread)
            .map(|t| t.tgid)
            .collect();
        self.order
            .iter()
            .filter(|p| alive.contains(p))
            .map(|&pid| LeftProcess {
                pid,
                name: crate::procfs::comm(pid)
                    .or_else(|| self.names.get(&pid).cloned())
                    .unwrap_or_else(|| "?".into()),
                parent: self.parents.get(&pid).copied(),
            })
            .collect()
    }

    /// Detaches from every tracee still alive, interrupting the running ones first.
    fn detach_all(&mut self) {
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        let running: Vec<u32> = self.tracees.keys().copied().collect();
        for tid in running {
            let stopped = self.tracees.get(&tid).is_some_and(|t| t.stopped);
            if stopped && ptrace::detach(to_pid(tid), None).is_ok() {
                self.tracees.remove(&tid);
                continue;
            }
            // Running (or listening): make it stop so it can be detached.
            if ptrace::interrupt(to_pid(tid)).is_err() {
                self.tracees.remove(&tid);
            }
        }
        while !self.tracees.is_empty() && Instant::now() < deadline {
            match wait_any() {
                Ok(Some((tid, status))) => self.detach_stopped(tid, status),
                Ok(None) => sleep_for_sigchld(Duration::from_millis(5)),
                Err(_) => {
                    self.tracees.clear();
                    break;
                }
            }
        }
        if !self.tracees.is_empty() {
            let left: Vec<String> = self.tracees.keys().map(u32::to_string).collect();
            self.warnings.push(format!(
                "could not detach from {}: they stay traced until this process exits",
                left.join(", ")
            ));
        }
    }

    /// During detach: a tracee reported a stop (or its end).
    fn detach_stopped(&mut self, tid: u32, status: i32) {
        if ExitStatus::from_raw(status).is_some() {
            // Ended after tracing stopped: not an event of the trace any more.
            self.tracees.remove(&tid);
            return;
        }
        if !libc::WIFSTOPPED(status) {
            return;
        }
        let event = (status >> 16) & 0xffff;
        let sig = libc::WSTOPSIG(status);
        // A child created meanwhile is auto-attached: its stop shows up here too.
        if matches!(
            event,
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE
        ) && let Ok(child) = ptrace::getevent(to_pid(tid))
            && let Ok(child) = u32::try_from(child)
            && !self.tracees.contains_key(&child)
        {
            self.new_tracee(child, None);
        }
        let pass = (event == 0).then(|| Signal::try_from(sig).ok()).flatten();
        let _ = ptrace::detach(to_pid(tid), pass);
        self.tracees.remove(&tid);
    }

    /// Ends what the command left: SIGTERM to every process, up to [`TERM_GRACE`] for them
    /// to end on their own (a daemon removes its pid file), then SIGKILL to the whole
    /// cgroup (or the pids); reaps our children throughout.
    fn kill_and_reap(&mut self, cgroup: Option<&Cgroup>, pidfds: &[(u32, Option<PidFd>)]) {
        let gone = |cgroup: Option<&Cgroup>| match cgroup {
            Some(cg) => !cg.populated().unwrap_or(false),
            None => pidfds
                .iter()
                .all(|(pid, _)| crate::procfs::start_time(*pid).is_none()),
        };
        for (_, fd) in pidfds {
            if let Some(fd) = fd {
                let _ = fd.signal(libc::SIGTERM);
            }
        }
        // Processes in the cgroup the tracer did not see (none, normally) get it too.
        if let Some(cg) = cgroup {
            for pid in cg.procs().unwrap_or_default() {
                if !pidfds.iter().any(|(p, _)| *p == pid)
                    && let Ok(fd) = PidFd::open(pid)
                {
                    let _ = fd.signal(libc::SIGTERM);
                }
            }
        }
        let deadline = Instant::now() + TERM_GRACE;
        loop {
            while let Ok(Some(_)) = wait_any() {}
            if gone(cgroup) || Instant::now() >= deadline {
                break;
            }
            sleep_for_sigchld(Duration::from_millis(5));
        }
        if let Some(cg) = cgroup
            && let Err(e) = cg.kill()
        {
            self.warnings
                .push(format!("killing cgroup {}: {e}", cg.path().display()));
        }
        for (pid, fd) in pidfds {
            match fd {
                Some(fd) => {
                    let _ = fd.signal(libc::SIGKILL);
                }
                None => self
                    .warnings
                    .push(format!("process {pid}: no pidfd, not killed")),
            }
        }
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        loop {
            while let Ok(Some(_)) = wait_any() {}
            if gone(cgroup) {
                break;
            }
            if Instant::now() >= deadline {
                self.warnings
                    .push("processes still alive after SIGKILL".to_string());
                break;
            }
            sleep_for_sigchld(Duration::from_millis(5));
        }
        if let Some(cg) = cgroup {
            for _ in 0..100 {
                if cg.remove().is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            self.warnings
                .push(format!("could not remove cgroup {}", cg.path().display()));
        }
    }
}

/// Every listening socket in this network namespace, by inode: TCP in LISTEN, bound UDP
/// (state 07 with a port), unix stream/seqpacket sockets that accept, with a path.
pub fn listening_sockets() -> HashMap<u64, ListenAddr> {
    let mut out = HashMap::new();
    for (file, proto, state) in [
        ("tcp", ListenProto::Tcp, "0A"),
        ("tcp6", ListenProto::Tcp, "0A"),
        ("udp", ListenProto::Udp, "07"),
        ("udp6", ListenProto::Udp, "07"),
    ] {
        let text = std::fs::read_to_string(Path::new("/proc/net").join(file)).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(st), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            if *st != state {
                continue;
            }
            if let Some((ip, port)) = parse_proc_addr(local)
                && port != 0
                && let Ok(inode) = inode.parse::<u64>()
                && inode != 0
            {
                out.insert(
                    inode,
                    ListenAddr {
                        proto,
                        ip: Some(ip),
                        port,
                        path: String::new(),
                    },
                );
            }
        }
    }
    let text = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 = accepting.
        let listening = f
            .get(3)
            .and_then(|x| u32::from_str_radix(x, 16).ok())
            .is_some_and(|flags| flags & 0x10000 != 0);
        if listening
            && let (Some(inode), Some(path)) = (f.get(6).and_then(|i| i.parse().ok()), f.get(7))
        {
            out.insert(
                inode,
                ListenAddr {
                    proto: ListenProto::Unix,
                    ip: None,
                    port: 0,
                    path: (*path).to_string(),
                },
            );
        }
    }
    out
}

/// Parses a `/proc/net/tcp*` address: hex IPv4 (one host-order word) or IPv6 (four).
fn parse_proc_addr(hex: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::from(u32::from_str_radix(ip, 16).ok()?.to_ne_bytes()),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::from(bytes)
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Sleeps until SIGCHLD (blocked by the caller's [`SigchldBlock`]) or `d` passes.
fn sleep_for_sigchld(d: Duration) {
    let d = d.min(MAX_SLICE);
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(Signal::SIGCHLD);
    let ts = libc::timespec {
        tv_sec: 0,
        // Below 10^9, so it fits a c_long of any width.
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait only reads the signal set and the timeout; a null siginfo
    // pointer is allowed. If SIGCHLD is not blocked it simply times out.
    unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zombie reaped twice (first as our tracee, then as an orphan reparented to us, the
    /// subreaper, when its parent exited) is one exit, not two; a new process that reuses
    /// the PID is still followed. (Seen as a flaky `expect exit 3` trace under load.)
    #[test]
    fn ptrace_a_twice_reaped_zombie_is_one_exit() {
        // Beyond any pid_max: no /proc entry, so no real process is looked at.
        const L: u32 = 5_000_000;
        const A: u32 = L + 1;
        const B: u32 = L + 2;
        let mut t = Tracer::new(L, "d".into(), Vec::new(), None);
        t.forked(L, A);
        t.exit_event(A, ExitStatus::Code(0));
        t.ended(A, ExitStatus::Code(0));
        t.ended(A, ExitStatus::Code(0));
        let exits = |t: &Tracer, pid: u32| {
            t.events
                .iter()
                .filter(|e| e.pid == pid && matches!(e.kind, EventKind::Exit { .. }))
                .count()
        };
        assert_eq!(exits(&t, A), 1, "{:?}", t.events);
        // Ended without an exit event: recorded once when reaped.
        t.forked(L, B);
        t.ended(B, ExitStatus::Code(1));
        t.ended(B, ExitStatus::Code(1));
        assert_eq!(exits(&t, B), 1, "{:?}", t.events);
        // PID A reused by a new child: its end counts again.
        t.forked(L, A);
        t.ended(A, ExitStatus::Code(0));
        assert_eq!(exits(&t, A), 2, "{:?}", t.events);
    }

    #[test]
    fn ptrace_exit_status_display() {
        assert_eq!(ExitStatus::Code(0).to_string(), "0");
        assert_eq!(ExitStatus::Code(3).to_string(), "3");
        assert_eq!(ExitStatus::Signal(libc::SIGTERM).to_string(), "SIGTERM");
        assert_eq!(ExitStatus::from_raw(3 << 8), Some(ExitStatus::Code(3)));
        assert_eq!(ExitStatus::from_raw(9), Some(ExitStatus::Signal(9)));
        assert_eq!(ExitStatus::from_raw((19 << 8) | 0x7f), None);
        assert!(is_ptrace_tool("strace"));
        assert!(!is_ptrace_tool("sh"));
    }

    #[test]
    fn ptrace_classify_stops() {
        let stop = |event: i32, sig: i32| (event << 16) | (sig << 8) | 0x7f;
        let trap = libc::SIGTRAP;
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_FORK, trap)),
            Some(TraceStop::Fork)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_VFORK, trap)),
            Some(TraceStop::Fork)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_CLONE, trap)),
            Some(TraceStop::Clone)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_EXEC, trap)),
            Some(TraceStop::Exec)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_EXIT, trap)),
            Some(TraceStop::Exit)
        );
        assert_eq!(
            classify_stop(stop(libc::PTRACE_EVENT_STOP, libc::SIGSTOP)),
            Some(TraceStop::Stop(libc::SIGSTOP))
        );
        assert_eq!(
            classify_stop(stop(0, libc::SIGTERM)),
            Some(TraceStop::Signal(libc::SIGTERM))
        );
        assert_eq!(classify_stop(3 << 8), None);
        assert!(is_stop_signal(libc::SIGTSTP));
        assert!(!is_stop_signal(libc::SIGTERM));
        assert!(seize(0, TRACK_OPTIONS).is_err());
    }

    #[test]
    fn ptrace_listen_addresses_and_notify_fields() {
        let (ip, port) = parse_proc_addr("0100007F:1F90").unwrap();
        let a = ListenAddr {
            proto: ListenProto::Tcp,
            ip: Some(ip),
            port,
            path: String::new(),
        };
        assert_eq!(a.spec(), "tcp:127.0.0.1:8080");
        let (ip, port) = parse_proc_addr("00000000000000000000000001000000:0050").unwrap();
        let v6 = ListenAddr {
            proto: ListenProto::Udp,
            ip: Some(ip),
            port,
            path: String::new(),
        };
        assert_eq!(v6.spec(), "udp:[::1]:80");
        let any = ListenAddr {
            ip: Some("0.0.0.0".parse().unwrap()),
            ..a.clone()
        };
        assert_eq!(any.spec(), "tcp:8080");
        assert!(parse_proc_addr("zz").is_none());
        // Our own listener shows up in the table.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let table = listening_sockets();
        assert!(
            table
                .values()
                .any(|a| a.spec() == format!("tcp:127.0.0.1:{port}")),
            "{table:?}"
        );
        let m = NotifyMessage {
            pid: 1,
            text: "STATUS=x\nREADY=1\nMAINPID=42".into(),
            at: Duration::ZERO,
        };
        assert_eq!(m.field("READY"), Some("1"));
        assert_eq!(m.field("MAINPID"), Some("42"));
        assert_eq!(m.field("MAIN"), None);
    }

    /// The real tracer needs a process of its own (it waits for any child), so the test
    /// re-runs this test binary with only [`ptrace_child_process`] selected.
    #[test]
    fn ptrace_traces_a_forking_shell() {
        if !crate::testutil::require(crate::testutil::is_root(), "ptrace tests need root") {
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "ptrace::tests::ptrace_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("OUTSET_PTRACE_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("PTRACE-CHILD-OK"), "{text}");
    }

    /// Runs only inside the process started by [`ptrace_traces_a_forking_shell`].
    #[test]
    fn ptrace_child_process() {
        if std::env::var_os("OUTSET_PTRACE_CHILD").is_none() {
            return;
        }
        // Orphans come to us, so the kill at the end can reap them.
        crate::reap::set_child_subreaper().unwrap();
        let mut opts = TraceOptions::new(vec![
            "/bin/sh".into(),
            "-c".into(),
            "/bin/true; (sleep 30 &) ; exit 3".into(),
        ]);
        opts.quiet = Duration::from_millis(300);
        let r = trace(&opts).unwrap();
        let kinds: Vec<String> = r
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Fork { .. } => format!("{} fork", e.name),
                EventKind::Exec { new_name } => format!("{} exec {new_name}", e.name),
                EventKind::Exit { status } => format!("{} exit {status}", e.name),
            })
            .collect();
        println!("{kinds:#?}");
        assert!(kinds[0].ends_with(" exec sh"), "{kinds:?}");
        assert!(kinds.contains(&"sh exec true".to_string()), "{kinds:?}");
        assert!(kinds.contains(&"sh exec sleep".to_string()), "{kinds:?}");
        assert_eq!(r.launcher_exit, Some(ExitStatus::Code(3)));
        assert_eq!(r.end, TraceEnd::Quiet);
        assert_eq!(r.left.len(), 1, "{:?}", r.left);
        assert_eq!(r.left[0].name, "sleep");
        let sleeper = r.left[0].pid;
        assert!(
            crate::procfs::start_time(sleeper).is_none(),
            "sleep left alive"
        );
        if let Some(cg) = &r.cgroup {
            assert!(!cg.exists(), "cgroup left behind");
        }
        println!("PTRACE-CHILD-OK");
    }
}
