//! `track ptrace`: a job's main process is followed with ptrace (fork, vfork, clone, exec and
//! exit events) until the engine knows the main PID, then every traced process is let go.
//!
//! The job is still spawned into its cgroup and tracked by exit; ptrace adds the processes
//! the launch chain forks to the tracker as they appear, so fork following also works
//! without cgroups. All requests come from the loop's thread (the daemon is single-threaded,
//! and the kernel takes ptrace requests only from the tracing thread).
//!
//! A traced process is never left stopped: every stop is answered while the batch of wait
//! statuses it came in is handled. A process is let go at its exit event, so the exits the
//! daemon sees stay those it would see without ptrace (its own children and orphans).
//!
//! The rules for answering a stop (the launcher's own SIGSTOP, group-stops, a fork's new
//! task) are those of `outsetctl trace`, shared in `outset_trace::stops`; the requests
//! are `outset_sys::ptrace`'s thin wrappers.

use std::collections::HashMap;

use outset_engine::InstanceId;
use outset_sys::ptrace::{self, TraceStop};
use outset_trace::stops;

const SIGTRAP: i32 = 5;
/// `si_code` of a signal sent with kill().
const SI_USER: i32 = 0;

#[derive(Debug)]
struct Traced {
    /// The instance it belongs to; `None` for a new process whose parent's fork event has
    /// not been seen yet.
    inst: Option<InstanceId>,
    /// The launcher before its exec: its own SIGSTOP (made so it could be seized) is dropped.
    pre_exec: bool,
    /// Its first stop was seen (a new tracee's first stop is the attach stop).
    started: bool,
    /// To be let go at its next stop.
    detaching: bool,
}

/// What a stop means for the rest of the daemon.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StopOutcome {
    /// A new process of this instance (fork or vfork): the tracker adopts it.
    pub forked: Option<(InstanceId, u32)>,
    /// The process entered a group-stop (kept stopped, as job control wants): the engine
    /// hears of it as of any stopped process.
    pub group_stop: bool,
}

#[derive(Debug, Default)]
pub struct PtraceTrack {
    traced: HashMap<u32, Traced>,
    /// Processes let go at their exit event, by instance, so their reaping can be told to
    /// the job even without cgroups.
    exiting: HashMap<u32, InstanceId>,
}

impl PtraceTrack {
    pub fn new() -> PtraceTrack {
        PtraceTrack::default()
    }

    /// Whether any process is traced.
    pub fn is_empty(&self) -> bool {
        self.traced.is_empty()
    }

    /// Seizes the freshly spawned launcher `pid` (stopped by itself before exec).
    pub fn start(&mut self, inst: InstanceId, pid: u32) -> Result<(), String> {
        ptrace::seize(pid, ptrace::TRACK_OPTIONS)
            .map_err(|e| format!("cannot trace process {pid}: {e}"))?;
        log::debug!("ptrace: following process {pid} until its main PID is known");
        self.traced.insert(
            pid,
            Traced {
                inst: Some(inst),
                pre_exec: true,
                started: true,
                detaching: false,
            },
        );
        Ok(())
    }

    /// Instances with traced processes not yet being let go.
    pub fn instances(&self) -> Vec<InstanceId> {
        let mut v: Vec<InstanceId> = self
            .traced
            .values()
            .filter(|t| !t.detaching)
            .filter_map(|t| t.inst)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Lets every traced process of `inst` go: each is interrupted and detached at its
    /// next stop.
    pub fn detach_instance(&mut self, inst: InstanceId) {
        let pids: Vec<u32> = self
            .traced
            .iter()
            .filter(|(_, t)| t.inst == Some(inst) && !t.detaching)
            .map(|(p, _)| *p)
            .collect();
        for pid in pids {
            self.interrupt(pid);
        }
    }

    /// The instance is gone: let its processes go and forget its exits.
    pub fn instance_removed(&mut self, inst: InstanceId) {
        self.detach_instance(inst);
        self.exiting.retain(|_, i| *i != inst);
    }

    fn interrupt(&mut self, pid: u32) {
        let Some(t) = self.traced.get_mut(&pid) else {
            return;
        };
        t.detaching = true;
        if let Err(e) = ptrace::interrupt(pid) {
            // Gone (or never really traced): nothing left to let go.
            log::debug!("ptrace: cannot interrupt {pid}: {e}");
            self.traced.remove(&pid);
        }
    }

    /// A traced process ended (its wait status said so): forget it. Returns whether it was
    /// traced.
    pub fn gone(&mut self, pid: u32) -> bool {
        self.traced.remove(&pid).is_some()
    }

    /// The instance of a process let go at its exit event, forgotten as it is asked for.
    pub fn take_exited(&mut self, pid: u32) -> Option<InstanceId> {
        self.exiting.remove(&pid)
    }

    /// A stop with raw wait status `status`. `None` when it is not a ptrace stop of a
    /// traced process (the caller handles it as before).
    pub fn on_stop(&mut self, pid: u32, status: i32) -> Option<StopOutcome> {
        let stop = ptrace::classify_stop(status)?;
        if !self.traced.contains_key(&pid) {
            // Only tracees report event stops: a new process whose first stop came before
            // its parent's fork event.
            if !matches!(stop, TraceStop::Stop(_)) || self.traced.is_empty() {
                return None;
            }
            self.traced.insert(
                pid,
                Traced {
                    inst: None,
                    pre_exec: false,
                    started: false,
                    detaching: false,
                },
            );
        }
        let mut out = StopOutcome::default();
        let (inst, pre_exec, started, detaching) = match self.traced.get(&pid) {
            Some(t) => (t.inst, t.pre_exec, t.started, t.detaching),
            None => return Some(out),
        };
        if let TraceStop::Fork | TraceStop::Clone = stop {
            self.new_child(pid, inst, detaching, stop == TraceStop::Fork, &mut out);
        }
        if detaching {
            self.let_go(pid, stop, pre_exec);
            return Some(out);
        }
        match stop {
            TraceStop::Fork | TraceStop::Clone => self.resume(pid, 0),
            TraceStop::Exec => {
                if let Some(t) = self.traced.get_mut(&pid) {
                    t.pre_exec = false;
                }
                self.resume(pid, 0);
            }
            TraceStop::Exit => {
                // Let go now: its exit then reaches only its parent, as without ptrace.
                if let Some(i) = inst {
                    self.exiting.insert(pid, i);
                }
                self.traced.remove(&pid);
                if let Err(e) = ptrace::detach(pid, 0) {
                    log::debug!("ptrace: cannot detach exiting {pid}: {e}");
                }
            }
            TraceStop::Stop(sig) => {
                if let Some(t) = self.traced.get_mut(&pid) {
                    t.started = true;
                }
                if started && stops::keeps_group_stop(sig, pre_exec) {
                    // A group-stop: keep it stopped, but let SIGCONT reach it.
                    if let Err(e) = ptrace::listen(pid) {
                        log::debug!("ptrace: cannot listen on {pid}: {e}");
                    }
                    out.group_stop = true;
                } else {
                    // The attach stop of a new process, the launcher's own SIGSTOP, or an
                    // interrupt we did not ask for.
                    self.resume(pid, 0);
                }
            }
            TraceStop::Signal(sig) => {
                self.resume(pid, stops::signal_to_deliver(sig, pre_exec));
            }
        }
        Some(out)
    }

    /// A stop of a process outset never meant to trace, which made the daemon its tracer
    /// itself (`PTRACE_TRACEME`, as some daemons do to keep debuggers away). Left as it is,
    /// every signal would park it in a tracing stop (SIGTERM would never arrive): it is
    /// detached at once and the signal passed on. Returns whether `pid` was such a tracee.
    pub fn release_unasked(&mut self, pid: u32, status: i32) -> bool {
        if self.traced.contains_key(&pid) {
            return false;
        }
        let Some(TraceStop::Signal(sig)) = ptrace::classify_stop(status) else {
            return false;
        };
        // After an exec under PTRACE_TRACEME the kernel sends the process a SIGTRAP from
        // itself (SI_USER): meant for a debugger, and fatal if passed on.
        let exec_trap = sig == SIGTRAP
            && ptrace::signal_origin(pid).is_ok_and(|(code, from)| code == SI_USER && from == pid);
        let pass = if exec_trap { 0 } else { sig };
        // Fails (ESRCH) unless the daemon is its tracer and it is in a tracing stop: a
        // plain stopped child is left to the caller.
        match ptrace::detach(pid, pass) {
            Ok(()) => {
                log::warn!(
                    "process {pid} made outset its tracer (PTRACE_TRACEME); detached, signal {pass} passed on"
                );
                true
            }
            Err(_) => false,
        }
    }

    /// `pid` forked or cloned: the new task is traced too (it reports an attach stop).
    fn new_child(
        &mut self,
        pid: u32,
        inst: Option<InstanceId>,
        detaching: bool,
        process: bool,
        out: &mut StopOutcome,
    ) {
        let Some(child) = stops::new_task(pid) else {
            log::debug!("ptrace: no event message from {pid}");
            return;
        };
        let t = self.traced.entry(child).or_insert(Traced {
            inst: None,
            pre_exec: false,
            started: false,
            detaching: false,
        });
        t.inst = inst;
        if process && let Some(i) = inst {
            out.forked = Some((i, child));
        }
        if detaching && !t.detaching {
            let already_stopped = t.started;
            t.detaching = true;
            if already_stopped {
                // Its attach stop was seen and answered before this event: interrupt it.
                self.interrupt(child);
            }
        }
    }

    /// Detaches a stopped tracee that is being let go, passing a real signal on.
    fn let_go(&mut self, pid: u32, stop: TraceStop, pre_exec: bool) {
        if pre_exec && stop != TraceStop::Exec && stop != TraceStop::Exit {
            // The launcher before its exec may still raise its own SIGSTOP, which would
            // leave it stopped untraced: it is let go at its exec (or exit) event.
            let sig = match stop {
                TraceStop::Signal(s) => stops::signal_to_deliver(s, true),
                _ => 0,
            };
            self.resume(pid, sig);
            return;
        }
        let sig = match stop {
            TraceStop::Signal(s) => s,
            _ => 0,
        };
        if let (TraceStop::Exit, Some(Some(i))) = (stop, self.traced.get(&pid).map(|t| t.inst)) {
            self.exiting.insert(pid, i);
        }
        self.traced.remove(&pid);
        if let Err(e) = ptrace::detach(pid, sig) {
            log::debug!("ptrace: cannot detach {pid}: {e}");
        }
    }

    fn resume(&mut self, pid: u32, sig: i32) {
        if let Err(e) = ptrace::cont(pid, sig) {
            // Killed meanwhile; its end comes as a wait status.
            log::debug!("ptrace: cannot resume {pid}: {e}");
        }
    }
}
