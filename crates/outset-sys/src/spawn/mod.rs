//! Starting job processes.
//!
//! [`SpawnPlan::new`] does everything that may allocate or fail in ordinary
//! ways (path search, user lookup, opening fds) in the parent; [`spawn`]
//! then clones and the child only performs async-signal-safe setup before
//! exec. Exec failures come back through a close-on-exec pipe.
//!
//! [`spawn`] waits until the child has exec'd (or failed) and so reports a failure as its
//! own result. [`spawn_detached`] returns as soon as the child exists: under CPU contention
//! waiting costs the parent a scheduling round per child, as the child must run before the
//! parent resumes. Its children report a failure into one shared [`FailureReports`] pipe,
//! which the caller reads later.

mod child;
#[cfg(test)]
mod detached_tests;
mod plan;
#[cfg(test)]
mod tests;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::c_char;
use outset_job::Resource;

pub use plan::SpawnPlan;

use crate::pidfd::PidFd;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramSpec {
    /// A program and its arguments; `argv[0]` is searched in PATH.
    Argv(Vec<String>),
    /// A shell script, run as `/bin/sh -e -c script`, or when longer than
    /// [`plan::SCRIPT_ARG_MAX`] as `/bin/sh -e /dev/fd/N` reading it from a memfd.
    Shell {
        /// The script text.
        script: String,
    },
}

/// Where the job's standard fds point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdio {
    /// `/dev/null` for stdin, stdout and stderr.
    Null,
    /// The daemon's own fds 0-2.
    Inherit,
    /// `/dev/null` for stdin and stdout; stderr appended to this file, which must exist
    /// and is not followed if it is a symlink (`outsetctl trace` shows a failing
    /// command's stderr).
    NullStderrTo(std::path::PathBuf),
    /// `/dev/null` for stdin; stdout and stderr to this open fd (a pty slave for `console
    /// log`). The caller keeps it open until the spawn returns; the plan holds its own copy.
    NullOutputTo(RawFd),
    /// stdin, stdout and stderr on this terminal (`/dev/console` for `console output` and
    /// `console owner`), opened without becoming the daemon's controlling terminal; with
    /// `owner` the job takes it as its controlling terminal, its process group in the
    /// foreground.
    Console {
        path: std::path::PathBuf,
        owner: bool,
    },
}

/// The `RLIMIT_*` number of a job's `limit` resource: the one place the job file's
/// resources meet the kernel's.
fn rlimit_number(r: Resource) -> libc::c_int {
    // The constants' type differs between libcs; all are small.
    #[allow(clippy::unnecessary_cast)]
    let n = match r {
        Resource::As => libc::RLIMIT_AS,
        Resource::Core => libc::RLIMIT_CORE,
        Resource::Cpu => libc::RLIMIT_CPU,
        Resource::Data => libc::RLIMIT_DATA,
        Resource::Fsize => libc::RLIMIT_FSIZE,
        Resource::Memlock => libc::RLIMIT_MEMLOCK,
        Resource::Msgqueue => libc::RLIMIT_MSGQUEUE,
        Resource::Nice => libc::RLIMIT_NICE,
        Resource::Nofile => libc::RLIMIT_NOFILE,
        Resource::Nproc => libc::RLIMIT_NPROC,
        Resource::Rss => libc::RLIMIT_RSS,
        Resource::Rtprio => libc::RLIMIT_RTPRIO,
        Resource::Sigpending => libc::RLIMIT_SIGPENDING,
        Resource::Stack => libc::RLIMIT_STACK,
    } as libc::c_int;
    n
}

/// A request to start a process, as described by a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnRequest {
    pub program: ProgramSpec,
    /// The complete environment (nothing is inherited from the daemon).
    pub env: Vec<(String, String)>,
    /// Working directory (inside the chroot if one is set).
    pub cwd: Option<std::path::PathBuf>,
    pub chroot: Option<std::path::PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// (resource, soft, hard); `None` means unlimited.
    pub rlimits: Vec<(Resource, Option<u64>, Option<u64>)>,
    pub nice: Option<i32>,
    pub oom_score_adj: Option<i32>,
    pub umask: Option<u32>,
    pub stdio: Stdio,
    /// cgroup2 directory the process starts in.
    pub cgroup: Option<std::path::PathBuf>,
    /// SIGSTOP the child right before exec (e.g. so it can be traced).
    pub stop_before_exec: bool,
    /// A socket handed to the program as fd 3 (socket activation), with `LISTEN_PID` set to
    /// the program's own PID in the child (the rest of the protocol's variables, such as
    /// `LISTEN_FDS`, are the caller's to put in `env`).
    pub pass_fd: Option<SharedFd>,
    /// The passed fd is not a listening socket (an event's fd, `UPSTART_FDS`): no
    /// `LISTEN_PID` is written.
    pub pass_fd_plain: bool,
}

/// An fd shared between its owner and spawn requests (a listening socket the daemon keeps
/// open across a job's runs). Requests compare equal when they pass the same descriptor.
#[derive(Debug, Clone)]
pub struct SharedFd(pub std::rc::Rc<OwnedFd>);

impl PartialEq for SharedFd {
    fn eq(&self, other: &SharedFd) -> bool {
        self.0.as_raw_fd() == other.0.as_raw_fd()
    }
}

impl Eq for SharedFd {}

/// The fd a passed socket gets in the program (`SD_LISTEN_FDS_START`).
pub const PASSED_FD: RawFd = 3;

impl SpawnRequest {
    /// A request with everything else left at the defaults.
    pub fn new(program: ProgramSpec) -> SpawnRequest {
        SpawnRequest {
            program,
            env: Vec::new(),
            cwd: None,
            chroot: None,
            user: None,
            group: None,
            rlimits: Vec::new(),
            nice: None,
            oom_score_adj: None,
            umask: None,
            stdio: Stdio::Null,
            cgroup: None,
            stop_before_exec: false,
            pass_fd: None,
            pass_fd_plain: false,
        }
    }
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("empty command line")]
    EmptyArgv,
    #[error("{0} contains a NUL byte")]
    Nul(&'static str),
    #[error("invalid environment variable name {0:?}")]
    BadEnvName(String),
    #[error("No such file or directory: {0}")]
    NotFound(String),
    #[error("unknown user {0}")]
    UnknownUser(String),
    #[error("unknown group {0}")]
    UnknownGroup(String),
    #[error("cannot look up {what}: {source}")]
    Lookup { what: String, source: io::Error },
    #[error("cannot open {what}: {source}")]
    Open { what: String, source: io::Error },
    #[error("cannot create process: {0}")]
    Fork(io::Error),
    /// The child exists (a zombie to be reaped) but failed before exec.
    #[error("process {pid} failed at {stage}: {error}")]
    ChildFailed {
        pid: u32,
        stage: &'static str,
        error: io::Error,
    },
}

impl SpawnError {
    /// Whether the system was short of something (processes, memory, descriptors): the
    /// same spawn may succeed later. Everything else is in the job's definition.
    pub fn is_transient(&self) -> bool {
        let short = |e: &io::Error| {
            matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE)
            )
        };
        match self {
            SpawnError::Fork(e)
            | SpawnError::Lookup { source: e, .. }
            | SpawnError::Open { source: e, .. }
            | SpawnError::ChildFailed { error: e, .. } => short(e),
            SpawnError::EmptyArgv
            | SpawnError::Nul(_)
            | SpawnError::BadEnvName(_)
            | SpawnError::NotFound(_)
            | SpawnError::UnknownUser(_)
            | SpawnError::UnknownGroup(_) => false,
        }
    }

    /// The pid of a child that was created and must still be reaped.
    pub fn child_pid(&self) -> Option<u32> {
        match self {
            SpawnError::ChildFailed { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

/// A started process.
#[derive(Debug)]
pub struct Spawned {
    pub pid: u32,
    /// `None` only if neither clone3 nor pidfd_open could provide one.
    pub pidfd: Option<PidFd>,
}

/// `CLONE_INTO_CGROUP` (libc's constant is unusable on some versions).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args`, version 2 (with the cgroup field).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Null-terminated pointer array over C strings, built before cloning.
fn ptr_array(v: &[std::ffi::CString]) -> Vec<*const c_char> {
    v.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// A child of [`spawn_detached`] that failed before exec. It exits with status 127 right
/// after writing its report, so the report is readable before the child can be reaped.
#[derive(Debug)]
pub struct ChildFailure {
    pub pid: u32,
    pub stage: &'static str,
    pub error: io::Error,
}

impl std::fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {} failed at {}: {}",
            self.pid, self.stage, self.error
        )
    }
}

/// The pipe the children of [`spawn_detached`] report failures into: one for all of them,
/// so a spawn creates no fd of its own. Both ends are close-on-exec, so a child that execs
/// holds neither; the read end is non-blocking, for an event loop to poll.
///
/// It also holds the exec barrier of the current batch: a pipe whose write end every child
/// spawned since the last [`FailureReports::wait_exec`] inherits (close-on-exec). Once the
/// parent drops its own copy, the read end sees EOF exactly when every one of those children
/// has exec'd or died: one wait for a whole batch instead of one per child.
#[derive(Debug)]
pub struct FailureReports {
    rd: OwnedFd,
    wr: OwnedFd,
    barrier: Option<(OwnedFd, OwnedFd)>,
    /// Reports read while waiting at the barrier, handed out by the next `take`.
    held: Vec<ChildFailure>,
}

/// How long [`FailureReports::wait_exec`] waits for a batch before giving up on it.
const EXEC_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl FailureReports {
    pub fn new() -> io::Result<FailureReports> {
        let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        // Only the read end: a failing child blocks (before exiting) rather than lose its
        // report when the pipe is full, until the parent reads.
        rustix::fs::fcntl_setfl(&rd, rustix::fs::OFlags::NONBLOCK)?;
        Ok(FailureReports {
            rd,
            wr,
            barrier: None,
            held: Vec::new(),
        })
    }

    /// Whether children spawned since the last [`FailureReports::wait_exec`] may still be
    /// on their way to exec.
    pub fn pending(&self) -> bool {
        self.barrier.is_some()
    }

    /// Waits until every child spawned since the last call has exec'd or died (each failed
    /// one has then written its report). Reports that arrive meanwhile are kept for `take`,
    /// so a child blocked on a full report pipe cannot stall the wait. Gives up after
    /// [`EXEC_WAIT`] (a child that stopped itself before exec, say) with an error.
    pub fn wait_exec(&mut self) -> io::Result<()> {
        let Some((rd, wr)) = self.barrier.take() else {
            return Ok(());
        };
        drop(wr);
        let deadline = std::time::Instant::now() + EXEC_WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "children did not exec within 10 s",
                ));
            }
            let mut fds = [
                rustix::event::PollFd::new(&rd, rustix::event::PollFlags::IN),
                rustix::event::PollFd::new(&self.rd, rustix::event::PollFlags::IN),
            ];
            let timeout = rustix::event::Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            let reports_ready = !fds[1].revents().is_empty();
            let barrier_ready = !fds[0].revents().is_empty();
            if reports_ready {
                let more = self.read_reports();
                self.held.extend(more);
            }
            if barrier_ready {
                let mut byte = [0u8; 1];
                match rustix::io::read(&rd, &mut byte) {
                    Ok(0) => return Ok(()),
                    // Nothing writes to the barrier; data there is harmless.
                    Ok(_) | Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// The barrier's write end for the next child, made with the batch's first child.
    fn barrier_fd(&mut self) -> io::Result<RawFd> {
        if self.barrier.is_none() {
            self.barrier = Some(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?);
        }
        match &self.barrier {
            Some((_, wr)) => Ok(wr.as_raw_fd()),
            None => Err(io::Error::from_raw_os_error(libc::EBADF)),
        }
    }

    /// The end to poll for reports.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.rd.as_fd()
    }

    /// Every failure reported so far; never blocks.
    pub fn take(&mut self) -> Vec<ChildFailure> {
        let mut out = std::mem::take(&mut self.held);
        out.extend(self.read_reports());
        out
    }

    fn read_reports(&self) -> Vec<ChildFailure> {
        let mut out = Vec::new();
        let mut buf = [0u8; child::REPORT_LEN * 64];
        loop {
            // Records are written whole and the buffer holds whole records, so a read
            // never splits one.
            let n = match rustix::io::read(&self.rd, &mut buf) {
                Ok(0) | Err(rustix::io::Errno::AGAIN) => break,
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    log::error!("reading spawn failure reports: {e}");
                    break;
                }
            };
            for rec in buf[..n].chunks_exact(child::REPORT_LEN) {
                let errno = i32::from_ne_bytes([rec[1], rec[2], rec[3], rec[4]]);
                out.push(ChildFailure {
                    pid: u32::from_ne_bytes([rec[5], rec[6], rec[7], rec[8]]),
                    stage: child::stage_name(rec[0]),
                    error: io::Error::from_raw_os_error(errno),
                });
            }
            if n % child::REPORT_LEN != 0 {
                log::error!("spawn failure report of {n} bytes is not whole records");
            }
        }
        out
    }
}

/// Starts the process described by `plan` without waiting for it to exec: a fork-style
/// `clone3` straight into the cgroup (nothing shared, so the parent runs on at once), or
/// `fork` with the child joining the cgroup itself where `clone3` is unavailable. A failure
/// in the child comes later through `reports`, with its stage. The result carries no pidfd.
/// A plan that stops before exec needs the parent to wait, and goes through [`spawn`].
pub fn spawn_detached(
    plan: &SpawnPlan,
    reports: &mut FailureReports,
) -> Result<Spawned, SpawnError> {
    if plan.stop_before_exec {
        // A child that stops before exec would hold the batch's barrier open.
        if let Err(e) = reports.wait_exec() {
            log::warn!("waiting for spawned processes to exec: {e}");
        }
        return spawn(plan);
    }
    // Held by the child until it execs; only the parent's copy is ever closed early.
    reports.barrier_fd().map_err(SpawnError::Fork)?;
    let argv = ptr_array(&plan.argv);
    let envp = plan.envp_ptrs();
    let mut ctx = child_ctx(plan, &argv, &envp, reports.wr.as_raw_fd());
    let cgroup_fd = plan.cgroup.as_ref().map(AsRawFd::as_raw_fd);
    let pid = match clone3_with(cgroup_fd, &ctx, false) {
        Ok((pid, _)) => pid,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) => {
            return Err(SpawnError::Fork(e));
        }
        Err(e) => {
            log::debug!("clone3 failed ({e}), falling back to fork");
            ctx.join_cgroup = cgroup_fd;
            fork(&ctx).map_err(SpawnError::Fork)?
        }
    };
    Ok(Spawned { pid, pidfd: None })
}

/// The child's view of `plan`, reporting to `report_fd`.
fn child_ctx<'a>(
    plan: &'a SpawnPlan,
    argv: &[*const c_char],
    envp: &[*const c_char],
    report_fd: RawFd,
) -> child::ChildCtx<'a> {
    child::ChildCtx {
        path: plan.path.as_ptr(),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        devnull: plan.devnull.as_ref().map(AsRawFd::as_raw_fd),
        stderr: plan.stderr.as_ref().map(AsRawFd::as_raw_fd),
        output: plan.output.as_ref().map(AsRawFd::as_raw_fd),
        console: plan.console.as_ref().map(AsRawFd::as_raw_fd),
        console_owner: plan.console_owner,
        join_cgroup: None,
        rlimits: &plan.rlimits,
        nice: plan.nice,
        oom_score_adj: plan.oom_score_adj.as_deref(),
        umask: plan.umask,
        chroot: plan.chroot.as_ref().map(|c| c.as_ptr()),
        cwd: plan.cwd.as_ref().map(|c| c.as_ptr()),
        groups: plan.groups.as_deref(),
        gid: plan.gid,
        uid: plan.uid,
        stop_before_exec: plan.stop_before_exec,
        report_fd: std::cell::Cell::new(report_fd),
        keep_fd: plan.script_fd.as_ref().map(AsRawFd::as_raw_fd),
        pass_fd: plan.pass_fd.as_ref().map(AsRawFd::as_raw_fd),
        listen_pid: plan.listen_pid.as_ref().map(|b| b.get().cast::<u8>()),
    }
}

/// Starts the process described by `plan` and waits until it has exec'd.
pub fn spawn(plan: &SpawnPlan) -> Result<Spawned, SpawnError> {
    spawn_waiting(plan, true)
}

/// As [`spawn`], always with a fork-style clone (the parent's memory is copied, not
/// shared, and the parent waits on the report pipe rather than being suspended). Kept to
/// compare spawn mechanisms (`benches/spawn_modes.rs`).
pub fn spawn_forked(plan: &SpawnPlan) -> Result<Spawned, SpawnError> {
    spawn_waiting(plan, false)
}

fn spawn_waiting(plan: &SpawnPlan, vfork: bool) -> Result<Spawned, SpawnError> {
    let argv = ptr_array(&plan.argv);
    let envp = plan.envp_ptrs();
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| SpawnError::Fork(e.into()))?;
    let mut ctx = child_ctx(plan, &argv, &envp, wr.as_raw_fd());
    let cgroup_fd = plan.cgroup.as_ref().map(AsRawFd::as_raw_fd);

    // The fast path shares the daemon's memory until exec (like posix_spawn), so no page
    // table is copied however large the daemon is. A child that stops before exec would
    // hold the daemon suspended, so that case takes the fork-like path.
    if vfork && !plan.stop_before_exec {
        #[cfg(target_arch = "x86_64")]
        match clone3_vfork(cgroup_fd, &ctx) {
            Ok((pid, pidfd)) => {
                drop(wr);
                return finish(pid, pidfd, &rd);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) => {
                return Err(SpawnError::Fork(e));
            }
            Err(e) => log::debug!("clone3 with CLONE_VFORK failed ({e}), trying clone"),
        }
        ctx.join_cgroup = cgroup_fd;
        match clone_vfork(&ctx) {
            Ok((pid, pidfd)) => {
                drop(wr);
                return finish(pid, pidfd, &rd);
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) => {
                return Err(SpawnError::Fork(e));
            }
            Err(e) => {
                log::debug!("vfork-style clone failed ({e}), falling back to clone3");
                ctx.join_cgroup = None;
            }
        }
    }

    let (pid, pidfd) = match clone3(cgroup_fd, &ctx) {
        Ok(r) => r,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOMEM)) => {
            return Err(SpawnError::Fork(e));
        }
        Err(e) => {
            log::debug!("clone3 failed ({e}), falling back to fork");
            ctx.join_cgroup = cgroup_fd;
            let pid = fork(&ctx).map_err(SpawnError::Fork)?;
            (pid, PidFd::open(pid).ok())
        }
    };
    drop(wr);
    finish(pid, pidfd, &rd)
}

/// Reads the child's report: started, or failed before exec.
fn finish(pid: u32, pidfd: Option<PidFd>, rd: &OwnedFd) -> Result<Spawned, SpawnError> {
    match read_report(rd) {
        Ok(None) => Ok(Spawned { pid, pidfd }),
        Ok(Some((stage, error))) => Err(SpawnError::ChildFailed { pid, stage, error }),
        Err(error) => Err(SpawnError::ChildFailed {
            pid,
            stage: "report",
            error,
        }),
    }
}

/// The child's stack for the vfork-style clone. The daemon is suspended while the child
/// runs on it, so one buffer per spawn is enough.
const CHILD_STACK: usize = 256 * 1024;

extern "C" fn vfork_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildCtx` that `clone_vfork` passed, alive in the suspended parent.
    let ctx = unsafe { &*(arg as *const child::ChildCtx<'_>) };
    child::run(ctx)
}

/// A stack for a vfork-style child: a mapping of its own rather than heap memory, so only
/// the few pages the child touches become resident and the heap does not grow per spawn.
struct ChildStack(*mut libc::c_void);

impl ChildStack {
    fn new() -> io::Result<ChildStack> {
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let p = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                CHILD_STACK,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .map_err(io::Error::from)?;
        Ok(ChildStack(p))
    }

    /// The lowest address.
    fn base(&self) -> usize {
        self.0 as usize
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: a vfork-style child has exec'd or exited before the parent resumes, so
        // nothing runs on the stack any more.
        if let Err(e) = unsafe { rustix::mm::munmap(self.0, CHILD_STACK) } {
            log::warn!("unmapping a spawn stack: {e}");
        }
    }
}

/// clone3 with CLONE_VM | CLONE_VFORK straight into the cgroup, with a pidfd: no page table
/// copy and no migration of the child between cgroups. The child starts on its own stack
/// inside one asm block, so no compiled code ever runs on a stack it does not own.
#[cfg(target_arch = "x86_64")]
fn clone3_vfork(
    cgroup: Option<RawFd>,
    ctx: &child::ChildCtx<'_>,
) -> io::Result<(u32, Option<PidFd>)> {
    let stack = ChildStack::new()?;
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD) as u64,
        pidfd: &raw mut pidfd as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.base() as u64,
        // Keeps the top 16-byte aligned, as the x86-64 ABI wants before a call.
        stack_size: (CHILD_STACK & !15) as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    }
    let entry: extern "C" fn(*mut libc::c_void) -> libc::c_int = vfork_child;
    let arg = (ctx as *const child::ChildCtx<'_>)
        .cast_mut()
        .cast::<libc::c_void>();
    let ret: i64;
    // SAFETY: clone3 returns twice. The parent continues normally once the child has
    // exec'd or exited (CLONE_VFORK). The child, on the fresh stack the kernel switched it
    // to, calls `vfork_child(arg)`, which never returns; it reads only `ctx`, which stays
    // alive in the suspended parent. `syscall` clobbers rcx and r11 only.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, {arg}",
            "call {entry}",
            "ud2",
            "2:",
            entry = in(reg) entry,
            arg = in(reg) arg,
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") &raw mut args,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            out("rcx") _,
            out("r11") _,
        );
    }
    drop(stack);
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    let pid = u32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
        PidFd::from(unsafe { OwnedFd::from_raw_fd(pidfd) })
    });
    Ok((pid, pidfd))
}

/// clone with CLONE_VM | CLONE_VFORK on a stack of its own, and a pidfd. The child joins
/// its cgroup itself (`ctx.join_cgroup`) and the parent resumes once it has exec'd or died.
fn clone_vfork(ctx: &child::ChildCtx<'_>) -> io::Result<(u32, Option<PidFd>)> {
    let stack = ChildStack::new()?;
    // Stacks grow down on every architecture outset supports; keep 16-byte alignment.
    let top = (stack.base() + CHILD_STACK) & !15;
    let mut pidfd: libc::c_int = -1;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    // SAFETY: the child runs `vfork_child` on its own stack, touches only that stack and the
    // read-only `ctx`, and makes only raw async-signal-safe syscalls until exec or _exit;
    // CLONE_VFORK keeps `stack` and `ctx` alive (the parent waits) for that whole time.
    let r = unsafe {
        libc::clone(
            vfork_child,
            top as *mut libc::c_void,
            flags,
            (ctx as *const child::ChildCtx<'_>).cast_mut().cast(),
            &raw mut pidfd,
        )
    };
    let clone_error = (r < 0).then(io::Error::last_os_error);
    drop(stack);
    if let Some(e) = clone_error {
        return Err(e);
    }
    let pid = u32::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
        PidFd::from(unsafe { OwnedFd::from_raw_fd(pidfd) })
    });
    Ok((pid, pidfd))
}

/// clone3 with a pidfd, directly into the cgroup; the child runs `ctx`.
fn clone3(cgroup: Option<RawFd>, ctx: &child::ChildCtx<'_>) -> io::Result<(u32, Option<PidFd>)> {
    clone3_with(cgroup, ctx, true)
}

/// Fork-style clone3 directly into the cgroup, with a pidfd if `want_pidfd`.
fn clone3_with(
    cgroup: Option<RawFd>,
    ctx: &child::ChildCtx<'_>,
    want_pidfd: bool,
) -> io::Result<(u32, Option<PidFd>)> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if want_pidfd {
        args.flags |= libc::CLONE_PIDFD as u64;
        args.pidfd = &raw mut pidfd as u64;
    }
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    }
    // SAFETY: fork-like clone3 (no CLONE_VM, no stack): the child gets a
    // copy of our memory and immediately runs only async-signal-safe code.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &raw mut args,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r == 0 {
        child::run(ctx);
    }
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let pid = u32::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
        PidFd::from(unsafe { OwnedFd::from_raw_fd(pidfd) })
    });
    Ok((pid, pidfd))
}

/// Plain fork, for kernels or sandboxes without a usable clone3.
fn fork(ctx: &child::ChildCtx<'_>) -> io::Result<u32> {
    // SAFETY: the child immediately runs only async-signal-safe code.
    let r = unsafe { libc::fork() };
    if r == 0 {
        child::run(ctx);
    }
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(r).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Reads the child's report: `None` if it exec'd (EOF) or stopped itself.
fn read_report(rd: &OwnedFd) -> io::Result<Option<(&'static str, io::Error)>> {
    let mut buf = [0u8; child::REPORT_LEN];
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::read(rd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if n == 0 {
        return Ok(None);
    }
    if n < buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short report from child",
        ));
    }
    if buf[0] == child::STOP_MARKER {
        return Ok(None);
    }
    let errno = i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]);
    Ok(Some((
        child::stage_name(buf[0]),
        io::Error::from_raw_os_error(errno),
    )))
}
