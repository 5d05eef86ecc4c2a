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
        inst.pids
            .iter()
            .find(|(k, _)| *k != ProcessKind::Main)
            .map(|(k, p)| (k, *p))
    }

    /// A hook that runs while the goal is stop has `kill timeout` to end (issue 9 item 3).
    pub(super) fn arm_hook_deadline(inst: &mut Instance, now: Millis) {
        if inst.goal == Goal::Stop
            && inst.hook_deadline.is_none()
            && !inst.hook_signalled
            && Self::running_hook(inst).is_some()
        {
            inst.hook_deadline = Some(now + u64::from(inst.config.kill_timeout) * 1000);
        }
    }

    /// Fires the timers that are due.
    pub fn tick(&mut self, fx: &mut dyn Effects) {
        let now = self.now;
        let settled: Vec<InstanceId> = self
            .instances
            .values()
            .filter(|i| i.awaiting.and_then(|a| a.settle).is_some_and(|d| d <= now))
            .map(|i| i.id)
            .collect();
        let late: Vec<InstanceId> = self
            .instances
            .values()
            .filter(|i| i.start_deadline.is_some_and(|d| d <= now))
            .map(|i| i.id)
            .collect();
        for id in late {
            if let Some(inst) = self.instances.get_mut(&id) {
                inst.start_deadline = None;
                if inst.state == State::Spawned && (inst.readying || inst.awaiting.is_some()) {
                    log::warn!(
                        "{}: not ready within `start timeout`; stopping it",
                        display_name(&inst.job, &inst.name)
                    );
                    inst.readying = false;
                    inst.awaiting = None;
                    inst.end = Some(RunEnd {
                        failed: true,
                        process: "main",
                        status: None,
                    });
                    inst.goal = Goal::Stop;
                    self.runnable.push_back((id, State::Stopping));
                }
            }
        }
        let starved: Vec<(InstanceId, u32)> = self
            .instances
            .values()
            .filter(|i| i.watchdog_deadline.is_some_and(|d| d <= now))
            .filter_map(|i| i.pids.get(&ProcessKind::Main).map(|p| (i.id, *p)))
            .collect();
        for (id, pid) in starved {
            if let Some(inst) = self.instances.get_mut(&id) {
                inst.watchdog_deadline = None;
                log::warn!(
                    "{}: no WATCHDOG=1 within `watchdog`; aborting the main process",
                    display_name(&inst.job, &inst.name)
                );
            }
            fx.signal(id, pid, Signal(6), false);
        }
        for id in settled {
            let launcher = self
                .instances
                .get(&id)
                .and_then(|i| i.pids.get(&ProcessKind::Main).copied());
            match launcher {
                // Still running: a foreground daemon under a fork expectation.
                Some(pid) => {
                    if let Some(inst) = self.instances.get_mut(&id) {
                        log::warn!(
                            "{}: the launcher ({pid}) never exited as `{}` says ({}); taking it as the main process",
                            display_name(&inst.job, &inst.name),
                            expect_stanza(inst.config.expect),
                            match_hint(0)
                        );
                        inst.awaiting = None;
                        self.after_expect(id);
                    }
                }
                None => {
                    if let Some(inst) = self.instances.get(&id)
                        && let Some(a) = inst.awaiting
                        && a.seen < a.needed
                        && a.pidfile_until.is_none()
                    {
                        log::warn!(
                            "{}: only {} of the {} exits `{}` expects came within the start timeout ({}); choosing the main process from what is left",
                            display_name(&inst.job, &inst.name),
                            a.seen,
                            a.needed,
                            expect_stanza(inst.config.expect),
                            match_hint(a.seen)
                        );
                    }
                    self.select_main(id, fx)
                }
            }
        }
        let hung: Vec<InstanceId> = self
            .instances
            .values()
            .filter(|i| i.hook_deadline.is_some_and(|d| d <= now))
            .map(|i| i.id)
            .collect();
        for id in hung {
            self.kill_hook(id, fx);
        }
        let due: Vec<InstanceId> = self
            .instances
            .values()
            .filter(|i| i.kill_deadline.is_some_and(|d| d <= now))
            .map(|i| i.id)
            .collect();
        for id in due {
            if let Some(inst) = self.instances.get_mut(&id) {
                inst.kill_deadline = None;
                log::warn!(
                    "{} kill timeout reached, killing every process",
                    display_name(&inst.job, &inst.name)
                );
            }
            fx.kill_all(id);
        }
        self.run(fx);
    }

    /// A hook outlived `kill timeout` under a stop: the kill signal first, then SIGKILL.
    pub(super) fn kill_hook(&mut self, id: InstanceId, fx: &mut dyn Effects) {
        let now = self.now;
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        inst.hook_deadline = None;
        let Some((kind, pid)) = Self::running_hook(inst) else {
            inst.hook_signalled = false;
            return;
        };
        let name = display_name(&inst.job, &inst.name);
        let timeout = inst.config.kill_timeout;
        if inst.hook_signalled {
            log::warn!(
                "{name} {} process ({pid}) ignored {} for {timeout}s; killing it (SIGKILL)",
                kind.as_str(),
                inst.config.kill_signal
            );
            fx.signal(id, pid, Signal(9), true);
        } else {
            let sig = inst.config.kill_signal;
            log::warn!(
                "{name} {} process ({pid}) still running {timeout}s after the stop was asked for; sending {sig} so the stop can go on",
                kind.as_str()
            );
            inst.hook_signalled = true;
            inst.hook_deadline = Some(now + u64::from(timeout) * 1000);
            fx.signal(id, pid, sig, true);
        }
    }
}
