//! Respawning: which exits are normal and the `respawn limit` window.

use super::*;

pub(super) fn is_normal_exit(config: &JobConfig, status: ExitStatus) -> bool {
    config.normal_exit.iter().any(|c| match (c, status) {
        (ExitCode::Status(a), ExitStatus::Exited(b)) => *a == b,
        (ExitCode::Signal(a), ExitStatus::Signaled(b)) => a.0 == b,
        _ => false,
    })
}

impl Engine {
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
        while inst
            .respawns
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            inst.respawns.pop_front();
        }
        inst.respawns.push_back(now);
        inst.respawns.len() > count as usize
    }
}
