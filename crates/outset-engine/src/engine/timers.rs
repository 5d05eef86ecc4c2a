//! Time: launch and readiness deadlines, the watchdog, hooks that outlive a stop, and
//! `kill timeout`.

use super::*;

/// The `expect` stanza as written in a job file.
pub(super) fn expect_stanza(expect: Expect) -> String {
    match expect {
        Expect::Fork(1) => "expect fork".into(),
        Expect::Fork(n) => format!("expect fork {n}"),
        Expect::Daemon => "expect daemon".into(),
        Expect::Exit(n) => format!("expect exit {n}"),
        Expect::Stop => "expect stop".into(),
        Expect::Notify => "expect notify".into(),
        Expect::None => "expect none".into(),
    }
}

/// Which stanza would have matched a chain that gave `seen` exits.
pub(super) fn match_hint(seen: u32) -> String {
    let stanza = match seen {
        0 => "expect none".to_string(),
        1 => "expect fork".to_string(),
        2 => "expect daemon".to_string(),
        n => format!("expect exit {n}"),
    };
    format!("`{stanza}` would have matched")
}

impl Engine {
    /// The hook the instance is running, if any (one runs at a time).
    pub(super) fn running_hook(inst: &Instance) -> Option<(ProcessKind, u32)> {
        inst.pids.iter().find(|(k, _)| *k != ProcessKind::Main)
    }

    /// A hook that runs while the goal is stop has `kill timeout` to end (issue 9 item 3).
    pub(super) fn arm_hook_deadline(inst: &mut Instance, now: Millis) {
        if inst.goal == Goal::Stop
            && inst.hook == HookTimer::Off
            && Self::running_hook(inst).is_some()
        {
            inst.hook = HookTimer::Armed(now + u64::from(inst.config.kill_timeout) * 1000);
        }
    }

    /// The instances with a deadline from `deadline` that is due.
    fn due(&self, deadline: impl Fn(&Instance) -> Option<Millis>) -> Vec<InstanceId> {
        let now = self.now;
        self.instances
            .values()
            .filter(|i| deadline(i).is_some_and(|d| d <= now))
            .map(|i| i.id)
            .collect()
    }

    /// Fires the timers that are due.
    pub fn tick(&mut self, fx: &mut dyn Host) {
        let settled = self.due(|i| match i.phase {
            Phase::Launching(l) => Some(l.settle),
            Phase::Settled
            | Phase::AwaitingStop
            | Phase::AwaitingNotify
            | Phase::Readying
            | Phase::Draining(_) => None,
        });
        for id in self.due(|i| i.start_deadline()) {
            self.start_timed_out(id);
        }
        for id in self.due(|i| i.watchdog_deadline()) {
            self.watchdog_starved(id, fx);
        }
        for id in settled {
            self.launch_settled(id, fx);
        }
        for id in self.due(|i| i.hook.deadline()) {
            self.kill_hook(id, fx);
        }
        for id in self.due(|i| match i.phase {
            Phase::Draining(d) => d.kill_deadline,
            Phase::Settled
            | Phase::Launching(_)
            | Phase::AwaitingStop
            | Phase::AwaitingNotify
            | Phase::Readying => None,
        }) {
            if let Some(inst) = self.instances.get_mut(&id)
                && let Phase::Draining(drain) = &mut inst.phase
            {
                drain.kill_deadline = None;
                log::warn!(
                    "{} kill timeout reached, killing every process",
                    display_name(&inst.config.name, &inst.name)
                );
            }
            fx.kill_all(id);
        }
        for id in self.due(|i| i.rare().backoff.until) {
            self.end_respawn_pause(id);
        }
        self.run(fx);
    }

    /// `start timeout` passed: a job still waiting to be up or ready fails.
    fn start_timed_out(&mut self, id: InstanceId) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        inst.set_start_deadline(None);
        if inst.state == State::Spawned && inst.phase.holds_spawned() {
            log::warn!(
                "{}: not ready within `start timeout`; stopping it",
                display_name(&inst.config.name, &inst.name)
            );
            inst.phase = Phase::Settled;
            inst.end = Some(RunEnd {
                failed: true,
                process: EndedIn::Process(ProcessKind::Main),
                status: None,
            });
            set_goal(&mut self.notices, inst, Goal::Stop);
            self.runnable.push_back((id, State::Stopping));
        }
    }

    /// No WATCHDOG=1 in time: the main process is aborted (its exit then does the rest).
    fn watchdog_starved(&mut self, id: InstanceId, fx: &mut dyn Host) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        inst.set_watchdog_deadline(None);
        let Some(pid) = inst.pids.get(&ProcessKind::Main) else {
            return;
        };
        log::warn!(
            "{}: no WATCHDOG=1 within `watchdog`; aborting the main process",
            display_name(&inst.config.name, &inst.name)
        );
        fx.signal(id, pid, Signal::ABRT, false);
    }

    /// The launch deadline (or the next look at a `pid file`) came: a launcher still running
    /// is the main process itself; otherwise the main process is chosen from what is left.
    fn launch_settled(&mut self, id: InstanceId, fx: &mut dyn Host) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let Phase::Launching(launch) = inst.phase else {
            return;
        };
        let name = display_name(&inst.config.name, &inst.name);
        let stanza = expect_stanza(inst.config.expect);
        match inst.pids.get(&ProcessKind::Main) {
            // Still running: a foreground daemon under a fork expectation.
            Some(pid) => {
                log::warn!(
                    "{name}: the launcher ({pid}) never exited as `{stanza}` says ({}); taking it as the main process",
                    match_hint(0)
                );
                inst.phase = Phase::Settled;
                self.after_expect(id);
            }
            None => {
                if launch.seen < launch.needed && launch.pidfile_until.is_none() {
                    log::warn!(
                        "{name}: only {} of the {} exits `{stanza}` expects came within the start timeout ({}); choosing the main process from what is left",
                        launch.seen,
                        launch.needed,
                        match_hint(launch.seen)
                    );
                }
                self.select_main(id, fx)
            }
        }
    }

    /// A hook outlived `kill timeout` under a stop: the kill signal first, then SIGKILL.
    pub(super) fn kill_hook(&mut self, id: InstanceId, fx: &mut dyn Host) {
        let now = self.now;
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let Some((kind, pid)) = Self::running_hook(inst) else {
            inst.hook = HookTimer::Off;
            return;
        };
        let name = display_name(&inst.config.name, &inst.name);
        let (sig, timeout) = (inst.config.kill_signal, inst.config.kill_timeout);
        if inst.hook.signalled() {
            log::warn!(
                "{name} {} process ({pid}) ignored {sig} for {timeout}s; killing it (SIGKILL)",
                kind.as_str()
            );
            inst.hook = HookTimer::Killed;
            fx.signal(id, pid, Signal::KILL, true);
        } else {
            log::warn!(
                "{name} {} process ({pid}) still running {timeout}s after the stop was asked for; sending {sig} so the stop can go on",
                kind.as_str()
            );
            inst.hook = HookTimer::Signalled(now + u64::from(timeout) * 1000);
            fx.signal(id, pid, sig, true);
        }
    }
}
