//! Processes: spawning, exits, and the launch chain that picks the main PID.
//!
//! A job's main process is known at once (`expect none`), or once its launch chain has given
//! the exits `expect fork|daemon|exit` counts (the oldest process left is chosen, or the one a
//! trusted `pid file` names), or from `MAINPID=` (`expect notify`). Every PID the engine adopts
//! comes from the host's report of the job's own processes (see `Probe`): see docs/engine.md,
//! "Trust".

use super::*;

impl Engine {
    /// Starts a process of the instance if the job defines it. Returns whether one runs.
    pub(super) fn spawn(&mut self, id: InstanceId, kind: ProcessKind, fx: &mut dyn Host) -> bool {
        let Some(inst) = self.instances.get(&id) else {
            return false;
        };
        let Some(process) = inst.config.process(kind).cloned() else {
            return false;
        };
        let c = &inst.config;
        let spec = SpawnSpec {
            job: inst.config.name.clone(),
            instance: inst.name.to_string(),
            kind,
            process,
            env: Self::process_env(base_of(&self.env_table, inst), inst, kind),
            console: c.console,
            log_rotate: c.log_rotate,
            setuid: c.setuid.clone(),
            setgid: c.setgid.clone(),
            chdir: c.chdir.clone(),
            chroot: c.chroot.clone(),
            limits: c.limits.clone(),
            nice: c.nice,
            oom_score: c.oom_score,
            umask: c.umask,
            notify: kind == ProcessKind::Main && c.expect == Expect::Notify,
            ptrace: kind == ProcessKind::Main
                && (c.track == outset_job::Track::Ptrace || self.opts.track_ptrace),
            resources: outset_job::resources::plan(c),
            event_fd: inst.rare().event_fd,
        };
        match fx.spawn(id, &spec) {
            Ok(pid) => {
                log::debug!(
                    "{} {} process ({pid})",
                    display_name(&spec.job, &spec.instance),
                    kind.as_str()
                );
                self.pids.insert(pid, (id, kind));
                if kind == ProcessKind::Main && self.opts.confirm_spawns {
                    self.unconfirmed.push(id);
                }
                let now = self.now;
                let wall = self.wall;
                if let Some(inst) = self.instances.get_mut(&id) {
                    inst.pids.insert(kind, pid);
                    inst.record_pid(kind, pid);
                    if kind == ProcessKind::Main {
                        inst.stamps.set(Stamp::Spawned, wall);
                    }
                    Self::arm_hook_deadline(inst, now);
                }
                true
            }
            Err(e) => {
                log::warn!(
                    "{}: failed to spawn {} process: {e}",
                    display_name(&spec.job, &spec.instance),
                    kind.as_str()
                );
                self.process_failed(id, kind, None);
                false
            }
        }
    }

    /// A process ended. Returns false when the PID is not one of the jobs' processes.
    pub fn exited(&mut self, pid: u32, status: ExitStatus, fx: &mut dyn Host) -> bool {
        if let Some(id) = self.others.remove(&pid) {
            self.other_ended(id, status, fx);
            self.run(fx);
            return true;
        }
        let Some((id, kind)) = self.pids.remove(&pid) else {
            return false;
        };
        let mut killed_hook = false;
        if let Some(inst) = self.instances.get_mut(&id) {
            if inst.pids.get(&kind) == Some(pid) {
                inst.pids.remove(&kind);
                if kind != ProcessKind::Main {
                    killed_hook = inst.hook.signalled();
                    inst.hook = HookTimer::Off;
                }
            }
            log::debug!(
                "{} {} process ({pid}) ended: {status:?}",
                display_name(&inst.config.name, &inst.name),
                kind.as_str()
            );
        }
        // A hook ended by the stop itself did not fail.
        let status = if killed_hook {
            ExitStatus::Exited(0)
        } else {
            status
        };
        self.process_ended(id, kind, status, fx);
        let now = self.now;
        if let Some(inst) = self.instances.get_mut(&id) {
            Self::arm_hook_deadline(inst, now);
        }
        self.run(fx);
        true
    }

    /// A process that [`Effects::spawn`] reported as started failed before it ran its
    /// program: a host that does not wait for each exec learns this afterwards, from the
    /// child. The host gives this instead of [`Engine::exited`] for that PID. The run fails
    /// as when the spawn itself fails (no exit status, goal stop, no respawn), and the
    /// instance moves on as from a process that ended. Returns false for an unknown PID.
    pub fn spawn_failed(&mut self, pid: u32, error: &str, fx: &mut dyn Host) -> bool {
        let Some(&(id, kind)) = self.pids.get(&pid) else {
            return false;
        };
        if let Some(inst) = self.instances.get(&id) {
            log::warn!(
                "{}: failed to spawn {} process: {error}",
                display_name(&inst.config.name, &inst.name),
                kind.as_str()
            );
        }
        self.process_failed(id, kind, None);
        if kind == ProcessKind::Main {
            self.unhold(id);
        }
        let kept = self.instances.get(&id).map(|i| (i.main_exit, i.end));
        self.pids.remove(&pid);
        if let Some(inst) = self.instances.get_mut(&id)
            && inst.pids.get(&kind) == Some(pid)
        {
            inst.pids.remove(&kind);
        }
        // The child exits with 127; that status is the spawn's, not the program's.
        self.process_ended(id, kind, ExitStatus::Exited(127), fx);
        if let (Some((main_exit, end)), Some(inst)) = (kept, self.instances.get_mut(&id)) {
            inst.main_exit = main_exit;
            inst.end = end;
        }
        self.run(fx);
        true
    }

    /// A process the engine did not know ended inside the instance (the host found it in the
    /// instance's cgroup): it counts towards an expected fork chain.
    pub fn exited_in(&mut self, id: InstanceId, pid: u32, status: ExitStatus, fx: &mut dyn Host) {
        if self.pids.contains_key(&pid) || self.others.contains_key(&pid) {
            self.exited(pid, status, fx);
            return;
        }
        if self.instances.contains_key(&id) {
            log::debug!("process {pid} of instance {} ended: {status:?}", id.0);
            self.other_ended(id, status, fx);
            self.run(fx);
        }
    }

    /// The instance's main PID once it is known: the main process runs and no launch chain
    /// is being tracked any more (`expect` has resolved). `None` before, or without one.
    pub fn main_pid(&self, id: InstanceId) -> Option<u32> {
        let inst = self.instances.get(&id)?;
        if inst.phase.awaiting() {
            return None;
        }
        inst.pids.get(&ProcessKind::Main)
    }

    /// Whether any instance is waiting for its launch chain to exit (the host then tells
    /// [`Engine::exited_in`] about processes it did not spawn).
    pub fn tracking_exits(&self) -> bool {
        self.instances.values().any(|i| i.phase.awaiting())
    }

    /// After a batch of reaping: instances being stopped move on once their last process
    /// is gone.
    pub fn after_reap(&mut self, fx: &mut dyn Host) {
        // Only the draining instances whose main process is gone and that still had
        // processes when last checked, not every instance: a stop of 5000 jobs reaps in many
        // batches, and an instance's main exit already checks it (`process_ended`).
        self.draining
            .retain(|id| self.instances.get(id).is_some_and(|i| i.phase.draining()));
        let draining: Vec<InstanceId> = self.draining.iter().copied().collect();
        for id in draining {
            self.check_drained(id, fx);
        }
        self.run(fx);
    }

    pub(super) fn other_ended(&mut self, id: InstanceId, status: ExitStatus, fx: &mut dyn Host) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if let Phase::Launching(mut a) = inst.phase
            && inst.main_exit.is_some()
            && a.seen < a.needed
        {
            if !status.success() {
                // A link of the launch chain failed: so did the start (issue 9 item 6).
                log::warn!(
                    "{}: a process of the launch chain exited with {status:?} before the job was up",
                    display_name(&inst.config.name, &inst.name)
                );
                inst.phase = Phase::Settled;
                inst.end = Some(RunEnd {
                    failed: true,
                    process: EndedIn::Process(ProcessKind::Main),
                    status: Some(status),
                });
                set_goal(&mut self.notices, inst, Goal::Stop);
                self.runnable.push_back((id, State::Stopping));
            } else {
                a.seen += 1;
                inst.phase = Phase::Launching(a);
                if a.seen >= a.needed {
                    self.select_main(id, fx);
                }
            }
        }
        if self.instances.get(&id).is_some_and(|i| i.phase.draining()) {
            self.check_drained(id, fx);
        }
    }

    /// Once the launch chain has exited: the main process is the oldest one left.
    pub(super) fn select_main(&mut self, id: InstanceId, fx: &mut dyn Host) {
        let procs = fx.processes(id);
        let now = self.now;
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let name = display_name(&inst.config.name, &inst.name);
        // Members that could not be read are not "none left": try again shortly.
        let procs = match procs {
            Ok(p) => p,
            Err(e) => {
                log::warn!("{name}: cannot list the job's processes ({e}); trying again");
                if let Phase::Launching(a) = &mut inst.phase {
                    a.settle = now + PIDFILE_POLL_MS;
                }
                return;
            }
        };
        // `pid file` names the main process, once it is there and trusted; a daemon may
        // write it after its launcher exits, so it is watched for a while.
        let mut chosen = procs.first().copied();
        if let Some(path) = inst.config.pid_file.clone()
            && !procs.is_empty()
        {
            match pid_file_main(fx, &path, &procs) {
                Ok(pid) => chosen = Some(pid),
                Err(why) => {
                    log::debug!("{name}: pid file {path}: {why}");
                    let wait = inst.config.start_timeout.unwrap_or(LAUNCH_TIMEOUT_S);
                    if let Phase::Launching(a) = &mut inst.phase {
                        let until = *a.pidfile_until.get_or_insert(now + u64::from(wait) * 1000);
                        if now < until {
                            a.settle = (now + PIDFILE_POLL_MS).min(until);
                            return;
                        }
                    }
                    log::warn!(
                        "{name}: pid file {path} did not name a process of the job in time ({why}); taking the oldest"
                    );
                }
            }
        }
        inst.phase = Phase::Settled;
        match chosen {
            None => {
                log::warn!("{name}: the main process exited and left no process behind");
                inst.end = Some(RunEnd {
                    failed: true,
                    process: EndedIn::Process(ProcessKind::Main),
                    status: inst.main_exit,
                });
                set_goal(&mut self.notices, inst, Goal::Stop);
                self.runnable.push_back((id, State::Stopping));
            }
            Some(main) => {
                log::debug!("{name}: main process is {main}");
                inst.rare_mut().selected_at = Some(self.now);
                inst.pids.insert(ProcessKind::Main, main);
                inst.record_pid(ProcessKind::Main, main);
                self.others.remove(&main);
                self.pids.insert(main, (id, ProcessKind::Main));
                for pid in procs.into_iter().filter(|p| *p != main) {
                    self.others.insert(pid, id);
                }
                self.after_expect(id);
            }
        }
    }

    /// Adopts whatever the instance has running now, so their exits count.
    pub(super) fn adopt_processes(&mut self, id: InstanceId, fx: &mut dyn Host) {
        let procs = match fx.processes(id) {
            Ok(p) => p,
            Err(e) => {
                log::warn!(
                    "cannot list instance {}'s processes to adopt them: {e}",
                    id.0
                );
                return;
            }
        };
        for pid in procs {
            if !self.pids.contains_key(&pid) {
                self.others.insert(pid, id);
            }
        }
    }

    /// A stopping instance is stopped once nothing of it runs any more.
    pub(super) fn check_drained(&mut self, id: InstanceId, fx: &mut dyn Host) {
        let Some(inst) = self.instances.get(&id) else {
            return;
        };
        if !inst.phase.draining() || inst.pids.contains_key(&ProcessKind::Main) {
            return;
        }
        let rest = fx.processes(id);
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        // Not knowing what is left is not "nothing left": the instance keeps draining (the
        // kill timeout still ends it) and is looked at again after the next reap.
        let rest = match rest {
            Ok(r) => r,
            Err(e) => {
                log::warn!(
                    "{}: cannot list the job's processes ({e}); still stopping",
                    display_name(&inst.config.name, &inst.name)
                );
                self.draining.insert(id);
                return;
            }
        };
        if rest.is_empty() {
            self.draining.remove(&id);
        } else {
            self.draining.insert(id);
        }
        let Phase::Draining(drain) = &mut inst.phase else {
            return;
        };
        if rest.is_empty() {
            inst.phase = Phase::Settled;
            self.runnable.push_back((id, State::PostStop));
        } else if !drain.rest_signalled {
            drain.rest_signalled = true;
            let sig = inst.config.kill_signal;
            for pid in rest {
                self.others.insert(pid, id);
                fx.signal(id, pid, sig, false);
            }
        }
    }

    /// A process of the instance ended: the state it held moves on (or the run fails, or
    /// the main process is respawned).
    pub(super) fn process_ended(
        &mut self,
        id: InstanceId,
        kind: ProcessKind,
        status: ExitStatus,
        fx: &mut dyn Host,
    ) {
        let Some(state) = self.instances.get(&id).map(|i| i.state) else {
            return;
        };
        match kind {
            ProcessKind::Main => self.main_ended(id, state, status, fx),
            ProcessKind::PreStart | ProcessKind::PostStop if !status.success() => {
                // A failed post-stop fails the run, and a failed pre-start stops it too.
                self.process_failed(id, kind, Some(status));
                if let Some(inst) = self.instances.get_mut(&id) {
                    set_goal(&mut self.notices, inst, Goal::Stop);
                }
                self.hook_ended(id, kind, state);
            }
            ProcessKind::PreStart
            | ProcessKind::PostStart
            | ProcessKind::PreStop
            | ProcessKind::PostStop => self.hook_ended(id, kind, state),
        }
    }

    /// A hook ended: the state that ran it follows the goal.
    fn hook_ended(&mut self, id: InstanceId, kind: ProcessKind, state: State) {
        if hook_holds(kind, state)
            && let Some(next) = self.following(id)
        {
            self.runnable.push_back((id, next));
        }
    }

    /// The main process (or the launcher of its chain) ended.
    fn main_ended(&mut self, id: InstanceId, state: State, status: ExitStatus, fx: &mut dyn Host) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        inst.main_exit = Some(status);
        if state == State::Killed {
            // We asked it to stop: not a failure. Stopped once nothing is left.
            self.check_drained(id, fx);
            return;
        }
        if let Phase::Launching(launch) = inst.phase {
            self.launcher_exited(id, launch, status, fx);
            return;
        }
        // Up as `expect` says or waiting for readiness: nothing else will move it.
        let held = state == State::Spawned && inst.phase.holds_spawned();
        if inst.phase.holds_spawned() {
            inst.phase = Phase::Settled;
        }
        if status.success()
            && matches!(state, State::PostStart | State::Running)
            && self.link_took_over(id, fx)
        {
            return;
        }
        self.respawn_or_stop(id, status);
        // Move on from where the main process was awaited; other states notice the missing
        // main process when they finish. Pre-stop is skipped: nothing is left to stop.
        if state == State::Running || held {
            self.runnable.push_back((id, State::Stopping));
        }
    }

    /// The launcher of a launch chain ended: counted when clean (what it left behind is
    /// adopted, the rest of the chain has until the launch deadline), a failure otherwise.
    fn launcher_exited(
        &mut self,
        id: InstanceId,
        mut launch: Launch,
        status: ExitStatus,
        fx: &mut dyn Host,
    ) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if status.success() {
            launch.seen += 1;
            inst.phase = Phase::Launching(launch);
            self.adopt_processes(id, fx);
            if launch.seen >= launch.needed {
                self.select_main(id, fx);
            }
            return;
        }
        inst.phase = Phase::Settled;
        inst.end = Some(RunEnd {
            failed: true,
            process: EndedIn::Process(ProcessKind::Main),
            status: Some(status),
        });
        set_goal(&mut self.notices, inst, Goal::Stop);
        self.runnable.push_back((id, State::Stopping));
    }

    /// A chosen main process that exits cleanly right away was one more link of the chain
    /// (a fork count guessed one too low): its successor, the oldest process left, becomes
    /// the main one. Returns whether it did.
    fn link_took_over(&mut self, id: InstanceId, probe: &mut dyn Host) -> bool {
        let now = self.now;
        let recent = self
            .instances
            .get(&id)
            .and_then(|i| i.rare().selected_at)
            .is_some_and(|t| now.saturating_sub(t) < SETTLE_MS);
        if !recent {
            return false;
        }
        let next = probe.processes(id).ok().and_then(|p| p.first().copied());
        let (Some(main), Some(inst)) = (next, self.instances.get_mut(&id)) else {
            return false;
        };
        log::debug!(
            "{}: main process {main} takes over from a launcher link",
            display_name(&inst.config.name, &inst.name)
        );
        inst.main_exit = None;
        inst.pids.insert(ProcessKind::Main, main);
        inst.record_pid(ProcessKind::Main, main);
        self.others.remove(&main);
        self.pids.insert(main, (id, ProcessKind::Main));
        true
    }

    pub(super) fn notify_mainpid(
        &mut self,
        id: InstanceId,
        pid: u32,
        sender_uid: u32,
        fx: &mut dyn Host,
    ) {
        let inside = is_member(fx, id, pid);
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let name = display_name(&inst.config.name, &inst.name);
        // Stricter than sd_notify allows for root senders: a main process outside the job's
        // cgroup could not be stopped with it, and outset never signals what it did not start.
        if !inside {
            log::warn!(
                "{name}: MAINPID={pid} (from uid {sender_uid}) is not a process of the job; ignored"
            );
            return;
        }
        if inst.pids.get(&ProcessKind::Main) == Some(pid) {
            return;
        }
        if let Some(old) = inst.pids.insert(ProcessKind::Main, pid) {
            self.pids.remove(&old);
            self.others.insert(old, id);
        }
        inst.record_pid(ProcessKind::Main, pid);
        self.others.remove(&pid);
        self.pids.insert(pid, (id, ProcessKind::Main));
        log::debug!("{name}: main process is {pid} (MAINPID)");
    }
}

/// Whether a hook of `kind` is what holds an instance in `state` (its end moves it on).
fn hook_holds(kind: ProcessKind, state: State) -> bool {
    match (kind, state) {
        (ProcessKind::Main, _) => false,
        (ProcessKind::PreStart, State::PreStart)
        | (ProcessKind::PostStart, State::PostStart)
        | (ProcessKind::PreStop, State::PreStop)
        | (ProcessKind::PostStop, State::PostStop) => true,
        (
            ProcessKind::PreStart
            | ProcessKind::PostStart
            | ProcessKind::PreStop
            | ProcessKind::PostStop,
            State::Waiting
            | State::Starting
            | State::PreStart
            | State::Spawned
            | State::PostStart
            | State::Running
            | State::PreStop
            | State::Stopping
            | State::Killed
            | State::PostStop,
        ) => false,
    }
}
