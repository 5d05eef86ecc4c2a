//! Respawning: which exits are normal and the `respawn limit` window.

use super::*;

fn is_normal_exit(config: &JobConfig, status: ExitStatus) -> bool {
    config.normal_exit.iter().any(|c| match (c, status) {
        (ExitCode::Status(a), ExitStatus::Exited(b)) => *a == b,
        (ExitCode::Signal(a), ExitStatus::Signaled(b)) => a.0 == b,
        _ => false,
    })
}

impl Engine {
    /// The main process ended while not being stopped: a `respawn` job whose exit is not
    /// normal starts it again (until `respawn limit`); otherwise the goal is stop, and an
    /// unclean exit under goal start fails the run.
    pub(super) fn respawn_or_stop(&mut self, id: InstanceId, status: ExitStatus) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let config = inst.config.clone();
        let normal = is_normal_exit(&config, status);
        let respawn = inst.goal == Goal::Start
            && config.respawn
            && !normal
            && !(config.task && status.success());
        if !respawn {
            if !(status.success() || normal) && inst.goal == Goal::Start {
                inst.end = Some(RunEnd {
                    failed: true,
                    process: EndedIn::Process(ProcessKind::Main),
                    status: Some(status),
                });
            }
            set_goal(&mut self.notices, inst, Goal::Stop);
            return;
        }
        let name = display_name(&inst.config.name, &inst.name);
        if self.respawn_too_fast(id) {
            log::warn!("{name} respawning too fast, stopped");
            if let Some(inst) = self.instances.get_mut(&id) {
                inst.end = Some(RunEnd {
                    failed: true,
                    process: EndedIn::Respawn,
                    status: None,
                });
                set_goal(&mut self.notices, inst, Goal::Stop);
            }
        } else {
            log::info!("{name} main process ended, respawning");
        }
    }

    /// Counts a respawn; true when the job exceeded `respawn limit`.
    pub(super) fn respawn_too_fast(&mut self, id: InstanceId) -> bool {
        let now = self.now;
        let Some(inst) = self.instances.get_mut(&id) else {
            return false;
        };
        let (count, interval) = match inst.config.respawn_limit {
            RespawnLimit::Unlimited => return false,
            RespawnLimit::Limited { count, interval } if count == 0 || interval == 0 => {
                return false;
            }
            RespawnLimit::Limited { count, interval } => (count, interval),
        };
        let window = u64::from(interval) * 1000;
        let respawns = &mut inst.rare_mut().respawns;
        while respawns
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            respawns.pop_front();
        }
        respawns.push_back(now);
        respawns.len() > count as usize
    }
}
