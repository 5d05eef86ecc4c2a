//! How a tracee's ptrace stop is answered: the rules `outsetctl trace` and the daemon's
//! `track ptrace` share. Both seize a freshly spawned launcher that stopped itself with
//! SIGSTOP before its exec (so it could be seized), follow its forks, and must leave job
//! control as it would be without a tracer.

use outset_sys::ptrace;

/// The signal to deliver when resuming a tracee from a signal-delivery stop (0 for none):
/// the launcher's own SIGSTOP before its exec exists only so it could be seized, and is
/// dropped; every other signal goes on.
pub fn signal_to_deliver(sig: i32, pre_exec_launcher: bool) -> i32 {
    if pre_exec_launcher && sig == libc::SIGSTOP {
        0
    } else {
        sig
    }
}

/// Whether a `PTRACE_EVENT_STOP` with `sig` is a group-stop to keep (answered with
/// `PTRACE_LISTEN`, so the process stays stopped as job control wants yet still sees
/// SIGCONT) rather than a stop to resume: a stop signal, and not the launcher's SIGSTOP
/// before its exec.
pub fn keeps_group_stop(sig: i32, pre_exec_launcher: bool) -> bool {
    ptrace::is_stop_signal(sig) && !pre_exec_launcher
}

/// The task a stopped tracee just created (at a fork, vfork or clone event stop), from its
/// event message; `None` if it cannot be read.
pub fn new_task(tid: u32) -> Option<u32> {
    ptrace::geteventmsg(tid)
        .ok()
        .and_then(|c| u32::try_from(c).ok())
        .filter(|c| *c != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12 item 4: the stop rules both tracers follow.
    #[test]
    fn issue12_item4_shared_stop_rules() {
        assert_eq!(signal_to_deliver(libc::SIGSTOP, true), 0);
        assert_eq!(signal_to_deliver(libc::SIGSTOP, false), libc::SIGSTOP);
        assert_eq!(signal_to_deliver(libc::SIGTERM, true), libc::SIGTERM);
        // Real-time signals go on too.
        assert_eq!(signal_to_deliver(40, false), 40);
        assert!(keeps_group_stop(libc::SIGTSTP, false));
        assert!(keeps_group_stop(libc::SIGSTOP, false));
        assert!(!keeps_group_stop(libc::SIGSTOP, true));
        assert!(!keeps_group_stop(libc::SIGTRAP, false));
        // Not a tracee of ours: nothing to read.
        assert_eq!(new_task(0), None);
    }
}
