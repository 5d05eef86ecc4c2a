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

/// The bookkeeping decisions of `track ptrace` (issue 12 item 8), run without tracing
/// anything: the PIDs are above any `pid_max`, so the ptrace requests a decision makes
/// (resume, listen, detach, interrupt) fail with ESRCH and change nothing; what is checked is
/// what the tracker then believes. The requests themselves are tested for real in
/// `crates/outset/tests/e2e/ptrace_track.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    const SIGSTOP: i32 = 19;
    const SIGTERM: i32 = 15;
    const EVENT_EXEC: i32 = 4;
    const EVENT_EXIT: i32 = 6;
    const EVENT_STOP: i32 = 128;
    /// No process can have these PIDs (`pid_max` is at most 2^22).
    const P: u32 = 5_000_001;
    const Q: u32 = 5_000_002;
    const R: u32 = 5_000_003;

    /// A raw wait status of a stop: `sig`, and a ptrace event (0 for a signal-delivery stop).
    fn stop(sig: i32, event: i32) -> i32 {
        (event << 16) | (sig << 8) | 0x7f
    }

    fn traced(inst: Option<u64>, pre_exec: bool, started: bool, detaching: bool) -> Traced {
        Traced {
            inst: inst.map(InstanceId),
            pre_exec,
            started,
            detaching,
        }
    }

    fn with(entries: Vec<(u32, Traced)>) -> PtraceTrack {
        let mut t = PtraceTrack::new();
        t.traced.extend(entries);
        t
    }

    #[test]
    fn issue12_item8_stops_of_untraced_processes_are_left_to_the_caller() {
        let mut t = PtraceTrack::new();
        assert!(t.is_empty());
        // Nothing traced: no stop is a new tracee's.
        assert_eq!(t.on_stop(P, stop(SIGSTOP, EVENT_STOP)), None);
        assert!(t.is_empty());
        // Not a stop at all (an exit status).
        let mut t = with(vec![(P, traced(Some(1), false, true, false))]);
        assert_eq!(t.on_stop(Q, 0), None);
        // A signal-delivery stop only a tracee reports, of a process not traced.
        assert_eq!(t.on_stop(Q, stop(SIGTERM, 0)), None);
        assert!(!t.traced.contains_key(&Q));
    }

    #[test]
    fn issue12_item8_a_new_process_stopping_before_its_parents_fork_event_is_traced() {
        let mut t = with(vec![(P, traced(Some(1), false, true, false))]);
        // Its attach stop: resumed, not a group-stop; traced with no instance yet.
        assert_eq!(
            t.on_stop(Q, stop(SIGSTOP, EVENT_STOP)),
            Some(StopOutcome::default())
        );
        let q = &t.traced[&Q];
        assert_eq!(q.inst, None);
        assert!(q.started && !q.detaching);
        // No instance: not among those to let go.
        assert_eq!(t.instances(), vec![InstanceId(1)]);
    }

    #[test]
    fn issue12_item8_group_stop_is_kept_but_not_the_launchers_own_sigstop() {
        let mut t = with(vec![
            (P, traced(Some(1), false, true, false)),
            (Q, traced(Some(1), true, true, false)),
        ]);
        let out = t.on_stop(P, stop(SIGSTOP, EVENT_STOP)).unwrap();
        assert!(out.group_stop);
        // The launcher before its exec stopped itself to be seized: resumed.
        let out = t.on_stop(Q, stop(SIGSTOP, EVENT_STOP)).unwrap();
        assert!(!out.group_stop);
        // Its exec ends the pre-exec phase: a later SIGSTOP is a real group-stop.
        t.on_stop(Q, stop(0x05, EVENT_EXEC)).unwrap();
        assert!(!t.traced[&Q].pre_exec);
        assert!(t.on_stop(Q, stop(SIGSTOP, EVENT_STOP)).unwrap().group_stop);
    }

    #[test]
    fn issue12_item8_exit_event_lets_go_and_remembers_the_instance() {
        let mut t = with(vec![(P, traced(Some(7), false, true, false))]);
        assert_eq!(
            t.on_stop(P, stop(0x05, EVENT_EXIT)),
            Some(StopOutcome::default())
        );
        assert!(t.is_empty());
        // Its reaping is told to its job, once.
        assert_eq!(t.take_exited(P), Some(InstanceId(7)));
        assert_eq!(t.take_exited(P), None);
        assert!(!t.gone(P));
    }

    #[test]
    fn issue12_item8_detaching_process_is_let_go_at_its_next_stop() {
        let mut t = with(vec![
            (P, traced(Some(1), false, true, true)),
            (Q, traced(Some(1), true, true, true)),
            (R, traced(Some(2), false, true, true)),
        ]);
        assert!(t.instances().is_empty());
        // A signal stop: detached (the signal passed on), forgotten.
        t.on_stop(P, stop(SIGTERM, 0)).unwrap();
        assert!(!t.traced.contains_key(&P));
        // The launcher before its exec is kept until its exec or exit event.
        t.on_stop(Q, stop(SIGSTOP, 0)).unwrap();
        assert!(t.traced.contains_key(&Q));
        t.on_stop(Q, stop(0x05, EVENT_EXEC)).unwrap();
        assert!(!t.traced.contains_key(&Q));
        // Let go at its exit event: its reaping still belongs to its job.
        t.on_stop(R, stop(0x05, EVENT_EXIT)).unwrap();
        assert_eq!(t.take_exited(R), Some(InstanceId(2)));
        assert!(t.is_empty());
    }

    #[test]
    fn issue12_item8_instances_and_their_removal() {
        let mut t = with(vec![
            (P, traced(Some(2), false, true, false)),
            (Q, traced(Some(1), false, true, false)),
            (R, traced(Some(2), false, true, false)),
        ]);
        assert_eq!(t.instances(), vec![InstanceId(1), InstanceId(2)]);
        t.exiting.insert(6_000_000, InstanceId(2));
        t.exiting.insert(6_000_001, InstanceId(1));
        // A process that cannot be interrupted is gone: nothing left to let go.
        t.instance_removed(InstanceId(2));
        assert_eq!(t.instances(), vec![InstanceId(1)]);
        assert!(!t.traced.contains_key(&P) && !t.traced.contains_key(&R));
        assert_eq!(t.take_exited(6_000_000), None);
        assert_eq!(t.take_exited(6_000_001), Some(InstanceId(1)));
        assert!(t.gone(Q));
        assert!(t.is_empty());
    }

    #[test]
    fn issue12_item8_release_unasked_leaves_tracees_and_plain_stops_alone() {
        let mut t = with(vec![(P, traced(Some(1), false, true, false))]);
        // One of outset's own tracees.
        assert!(!t.release_unasked(P, stop(SIGTERM, 0)));
        // Not a signal-delivery stop.
        assert!(!t.release_unasked(Q, stop(SIGSTOP, EVENT_STOP)));
        assert!(!t.release_unasked(Q, 0));
        // A stop of a process outset is not the tracer of: the detach fails, so not one.
        assert!(!t.release_unasked(Q, stop(SIGTERM, 0)));
        assert!(t.traced.contains_key(&P));
    }
}
