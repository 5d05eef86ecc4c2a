//! Readiness: `expect stop`, `expect notify` (READY=1, STATUS=, WATCHDOG=1) and `ready on`.

use super::*;

impl Engine {
    /// A process of the instance stopped itself (SIGSTOP): with `expect stop` that is the
    /// sign the job is ready; it is continued and the job moves on.
    pub fn stopped(&mut self, pid: u32, fx: &mut dyn Host) {
        let Some(&(id, ProcessKind::Main)) = self.pids.get(&pid) else {
            return;
        };
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if inst.phase == Phase::AwaitingStop {
            inst.phase = Phase::Settled;
            fx.signal(id, pid, Signal::CONT, false);
            self.after_expect(id);
            self.run(fx);
        }
    }

    /// The main process is known and up as `expect` says: ready now, or once `ready on`
    /// holds.
    pub(super) fn after_expect(&mut self, id: InstanceId) {
        let holds = self.ready_holds(id);
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if inst.goal == Goal::Stop {
            self.runnable.push_back((id, State::Stopping));
        } else if holds {
            self.runnable.push_back((id, State::PostStart));
        } else {
            inst.phase = Phase::Readying;
            // After a launch chain (which had its own deadline), `ready on` gets its own.
            if inst.start_deadline().is_none() {
                let wait = inst.config.start_timeout.unwrap_or(READY_TIMEOUT_S);
                inst.set_start_deadline(Some(self.now + u64::from(wait) * 1000));
            }
        }
    }

    /// Whether the instance's `ready on` holds (true without one).
    pub(super) fn ready_holds(&self, id: InstanceId) -> bool {
        let Some(inst) = self.instances.get(&id) else {
            return false;
        };
        let Some(cond) = &inst.rare().ready else {
            return true;
        };
        let states = self.states();
        let expand = full_env_packed(base_of(&self.env_table, inst), &inst.env);
        let source = |src: &ReadySource| inst.rare().sources.iter().any(|(s, ok)| s == src && *ok);
        cond.holds(Some(&expand), &states, &source)
    }

    pub(super) fn recheck_ready(&mut self, id: InstanceId) {
        if self
            .instances
            .get(&id)
            .is_some_and(|i| i.phase == Phase::Readying)
            && self.ready_holds(id)
        {
            if let Some(inst) = self.instances.get_mut(&id) {
                inst.phase = Phase::Settled;
            }
            self.runnable.push_back((id, State::PostStart));
        }
    }

    /// The readiness sources the host should check now: those of instances waiting for
    /// `ready on`, with the processes that may hold them. Empty when nothing waits, so the
    /// host polls nothing while idle.
    pub fn pending_sources(&self) -> Vec<(InstanceId, ReadySource)> {
        self.with_ready
            .iter()
            .filter_map(|id| self.instances.get(id))
            .filter(|i| i.phase == Phase::Readying)
            .flat_map(|i| {
                i.rare()
                    .sources
                    .iter()
                    .filter(|(_, ok)| !ok)
                    .map(move |(s, _)| (i.id, s.clone()))
            })
            .collect()
    }

    /// The host found a readiness source in this state.
    pub fn source_state(&mut self, id: InstanceId, src: &ReadySource, ok: bool, fx: &mut dyn Host) {
        if let Some(inst) = self.instances.get_mut(&id) {
            let sources = inst.rare.as_deref_mut().map(|r| r.sources.as_mut_slice());
            for (s, state) in sources.unwrap_or_default() {
                if s == src {
                    *state = ok;
                }
            }
        }
        self.recheck_ready(id);
        self.run(fx);
    }

    /// An sd_notify datagram from a process of the instance (the host has checked that the
    /// sender belongs to it). `sender_uid` 0 may name a MAINPID outside the job.
    pub fn notify(&mut self, id: InstanceId, sender_uid: u32, message: &str, fx: &mut dyn Host) {
        let Some(name) = self
            .instances
            .get(&id)
            .map(|i| display_name(&i.config.name, &i.name))
        else {
            return;
        };
        let mut ready = false;
        for line in message.lines() {
            let Some((key, value)) = line.split_once('=') else {
                log::debug!("{name}: notify message without `=` ignored: {line:?}");
                continue;
            };
            match key {
                "READY" if value == "1" => ready = true,
                "MAINPID" => match value.parse::<u32>() {
                    Ok(pid) => self.notify_mainpid(id, pid, sender_uid, fx),
                    Err(_) => log::warn!("{name}: bad MAINPID={value:?} ignored"),
                },
                "STATUS" | "ERRNO" => {
                    if let Some(inst) = self.instances.get_mut(&id) {
                        inst.rare_mut().notify_status = Some(format!("{key}={value}"));
                    }
                }
                "STOPPING" if value == "1" => log::info!("{name} says it is stopping"),
                "RELOADING" if value == "1" => log::info!("{name} says it is reloading"),
                "EXTEND_TIMEOUT_USEC" => {
                    if let (Ok(us), Some(inst)) =
                        (value.parse::<u64>(), self.instances.get_mut(&id))
                        && inst.start_deadline().is_some()
                    {
                        inst.set_start_deadline(Some(self.now + us / 1000));
                    }
                }
                "WATCHDOG" if value == "1" => {
                    let now = self.now;
                    if let Some(inst) = self.instances.get_mut(&id)
                        && inst.watchdog_deadline().is_some()
                    {
                        let deadline = inst.config.watchdog.map(|w| now + u64::from(w) * 1000);
                        inst.set_watchdog_deadline(deadline);
                    }
                }
                _ => log::debug!("{name}: notify field {key} ignored"),
            }
        }
        if ready
            && let Some(inst) = self.instances.get_mut(&id)
            && inst.phase == Phase::AwaitingNotify
        {
            inst.phase = Phase::Settled;
            self.after_expect(id);
        }
        self.run(fx);
    }
}
