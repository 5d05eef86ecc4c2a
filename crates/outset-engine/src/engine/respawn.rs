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
        } else if let Some(pause) = self.respawn_pause(id) {
            log::info!("{name} main process ended, respawning in {pause} ms");
        } else {
            log::info!("{name} main process ended, respawning");
        }
    }

    /// `respawn delay`: the pause before this respawn, doubled for the next one up to `max`;
    /// a run that stayed up long enough starts again from `delay`. Holds the instance in
    /// `post-stop` until then (`Backoff::until`).
    fn respawn_pause(&mut self, id: InstanceId) -> Option<Millis> {
        let now = self.now;
        let inst = self.instances.get_mut(&id)?;
        let d = inst.config.respawn_delay?;
        let first = u64::from(d.delay) * 1000;
        let max = u64::from(d.max.unwrap_or(d.delay)) * 1000;
        let reset_after = max.max(u64::from(RESPAWN_RESET_S) * 1000);
        let b = &mut inst.rare_mut().backoff;
        let ran = b.since.map_or(0, |s| now.saturating_sub(s));
        if b.next == 0 || ran >= reset_after {
            b.next = first;
        }
        let pause = b.next.min(max);
        b.next = pause.saturating_mul(2).min(max).max(first);
        if pause == 0 {
            return None;
        }
        b.until = Some(now + pause);
        Some(pause)
    }

    /// Whether the instance waits out a `respawn delay` pause in `post-stop`.
    pub(super) fn respawn_paused(&self, id: InstanceId) -> bool {
        self.instances
            .get(&id)
            .is_some_and(|i| i.rare().backoff.until.is_some_and(|t| t > self.now))
    }

    /// A `respawn delay` pause is over (or no longer wanted): the instance goes on.
    pub(super) fn end_respawn_pause(&mut self, id: InstanceId) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let Some(r) = inst.rare.as_deref_mut() else {
            return;
        };
        if r.backoff.until.take().is_none() {
            return;
        }
        // Held in post-stop with its hook done: on as the goal says.
        if inst.state == State::PostStop && !inst.pids.contains_key(&ProcessKind::PostStop) {
            let next = next_state(inst.state, inst.goal);
            self.runnable.push_back((id, next));
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
