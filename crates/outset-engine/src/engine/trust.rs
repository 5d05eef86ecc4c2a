//! Trust: which PIDs the engine adopts as a job's processes, and so may signal.
//!
//! One rule, decided here and nowhere else: **a process is the job's only if the host
//! reports it among the instance's processes** ([`Probe::processes`]: its cgroup's members,
//! or without cgroups the process groups it spawned). Whoever says otherwise is not
//! believed: a `pid file` (whoever owns it, root included: a stale file may name a PID since
//! reused by an unrelated process) and `MAINPID=` from sd_notify (even from a root sender,
//! which sd_notify would allow) are taken only when the PID they name passes this test. A
//! main process outside the job could not be stopped with it, and outset never signals a
//! process it did not start or find inside a job.

use super::*;

/// The PID a `pid file` names, when it is one of `members` (the instance's processes);
/// otherwise why not.
pub(super) fn pid_file_main(
    probe: &mut dyn Host,
    path: &str,
    members: &[u32],
) -> Result<u32, String> {
    let pid = probe.read_pid_file(path)?;
    if members.contains(&pid) {
        Ok(pid)
    } else {
        Err(format!(
            "names process {pid}, which is not part of the job; ignored"
        ))
    }
}

/// Whether `pid` is one of the instance's processes now. Processes that cannot be read are
/// not trusted.
pub(super) fn is_member(probe: &mut dyn Host, id: InstanceId, pid: u32) -> bool {
    probe.processes(id).is_ok_and(|p| p.contains(&pid))
}
