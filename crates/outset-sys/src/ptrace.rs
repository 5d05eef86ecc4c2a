//! The start-up tracer behind `outsetctl trace`: runs a command under ptrace, follows every
//! process it creates and records forks, execs and exits in order.
//!
//! outset itself tracks jobs by cgroup and exit, without ptrace; this tracer exists so a user
//! can see how a daemon starts (how many launch-chain processes exit before the daemon is
//! left) and pick the right `expect` stanza.
//!
//! [`trace`] waits with `waitpid(-1, __WALL)`, so it must run in a process that has no other
//! children it cares about (a CLI, or a dedicated test process), and every ptrace request
//! comes from the calling thread, as the kernel requires.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::cgroup::Cgroup;
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

/// How long detaching and cleaning up may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(3);

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
    /// The cgroup2 mount to create the trace's cgroup under; `None` runs without one.
    pub cgroup_root: Option<PathBuf>,
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
}

/// A process still alive when tracing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftProcess {
    pub pid: u32,
    pub name: String,
    /// Its parent as seen by the tracer (the process that forked it).
    pub parent: Option<u32>,
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
}

/// Runs `opts.argv` under ptrace and records what its processes do.
///
/// Call it from a process without other children (see the module docs). Unless
/// `opts.keep`, every process the command left is killed before this returns.
pub fn trace(opts: &TraceOptions) -> Result<TraceReport, TraceError> {
    let (cgroup, cgroup_note) = make_cgroup(opts.cgroup_root.as_deref());
    let mut req = SpawnRequest::new(ProgramSpec::Argv(opts.argv.clone()));
    req.env = opts.env.clone();
    req.stdio = Stdio::Null;
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
    let now = Instant::now();
    let comm = crate::procfs::comm(pid).unwrap_or_else(|| "?".into());
    let mut t = Tracer {
        start: now,
        launcher: pid,
        launcher_exec_done: false,
        tracees: BTreeMap::new(),
        names: BTreeMap::from([(pid, comm)]),
        order: vec![pid],
        events: Vec::new(),
        parents: BTreeMap::new(),
        launcher_exit: None,
        last_event: now,
        uses_ptrace: None,
        warnings: Vec::new(),
    };
    t.tracees.insert(
        pid,
        Tracee {
            tgid: pid,
            thread: false,
            stopped: false,
            announced: true,
            exit_recorded: false,
            seen: now,
        },
    );
    let mask = SigchldBlock::new();
    let end = t.run(opts.timeout, opts.quiet);
    let left = t.left();
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
    })
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
            let now = Instant::now();
            if self.tracees.is_empty() {
                return Ok(TraceEnd::AllExited);
            }
            if self.launcher_exit.is_some() && now.duration_since(self.last_event) >= quiet {
                return Ok(TraceEnd::Quiet);
            }
            if now >= deadline {
                return Ok(TraceEnd::Timeout);
            }
            let mut next = deadline.saturating_duration_since(now);
            if self.launcher_exit.is_some() {
                next = next.min((self.last_event + quiet).saturating_duration_since(now));
            }
            sleep_for_sigchld(next);
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
        self.record(tid, EventKind::Exit { status: st });
        if tid == self.launcher {
            self.launcher_exit = Some(st);
        }
    }

    /// `tid` was reaped (it ended).
    fn ended(&mut self, tid: u32, st: ExitStatus) {
        let recorded = self
            .tracees
            .remove(&tid)
            .is_some_and(|t| t.thread || t.exit_recorded);
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

    /// Kills what the command left (the whole cgroup, or the pids) and reaps our children.
    fn kill_and_reap(&mut self, cgroup: Option<&Cgroup>, pidfds: &[(u32, Option<PidFd>)]) {
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
            let empty = match cgroup {
                Some(cg) => !cg.populated().unwrap_or(false),
                None => pidfds
                    .iter()
                    .all(|(pid, _)| crate::procfs::start_time(*pid).is_none()),
            };
            if empty {
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
