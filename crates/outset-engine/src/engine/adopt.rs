//! Adoption: instances found running with no state for them (a daemon restarted on a
//! cgroup root that still holds job cgroups, or a re-exec whose state was refused) are
//! taken over as running, never started a second time (docs/reexec.md, "Adoption").

use super::*;

impl Engine {
    /// Takes over instance `instance` of `job`, whose processes are `pids` (oldest first),
    /// as running with goal start. The main process is the one the job's `pid file` names
    /// when it is among `pids` (the trust rule), else the oldest. No event is emitted: the
    /// instance did not start now. Refused for a job not loaded, an instance that exists
    /// already, or no process.
    pub fn adopt(
        &mut self,
        job: &str,
        instance: &str,
        pids: &[u32],
        fx: &mut dyn Host,
    ) -> Result<InstanceId, String> {
        let what = display_name(job, instance);
        let Some(class) = self.classes.get(job) else {
            return Err(format!("{what}: no such job is loaded"));
        };
        if class.instances.contains_key(instance) {
            return Err(format!("{what} exists already"));
        }
        let Some(&oldest) = pids.first() else {
            return Err(format!("{what}: no process to adopt"));
        };
        let config = class.config.clone();
        let main = match config.pid_file.as_deref() {
            Some(path) => pid_file_main(fx, path, pids).unwrap_or(oldest),
            None => oldest,
        };
        let env = vec![
            ("UPSTART_JOB".to_string(), job.to_string()),
            ("UPSTART_INSTANCE".to_string(), instance.to_string()),
        ];
        let id = self.new_instance(job, instance.to_string(), config, env, Vec::new());
        if let Some(class) = self.classes.get_mut(job) {
            class.stopped.remove(instance);
        }
        if let Some(inst) = self.instances.get_mut(&id) {
            inst.goal = Goal::Start;
            inst.state = State::Running;
            inst.pids.insert(ProcessKind::Main, main);
            inst.record_pid(ProcessKind::Main, main);
        }
        self.pids.insert(main, (id, ProcessKind::Main));
        for &pid in pids.iter().filter(|&&p| p != main) {
            self.others.insert(pid, id);
        }
        Ok(id)
    }
}
