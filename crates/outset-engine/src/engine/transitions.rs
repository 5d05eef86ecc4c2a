//! Goal and state transitions: Upstart's job state machine.
//!
//! Every instance has a **goal** (what it wants: `start` or `stop`) and a **state** (where
//! it is). The goal changes on inputs (a command, a `start on`/`stop on` condition, a
//! failure, an exit); the state changes only here. [`next_state`] is Upstart's
//! `job_next_state`: from each state the goal says where to go next.
//!
//! ```text
//!   waiting ─▶ starting ─▶ pre-start ─▶ spawned ─▶ post-start ─▶ running
//!      ▲          │            │           │            │          │ goal stop
//!      │          └────────────┴───────────┴────────────┴──▶ stopping ◀─ pre-stop ◀┘
//!   post-stop ◀── killed ◀──────────────────────────────────────┘
//! ```
//!
//! Each state is entered by [`Engine::change_state`] and holds the instance until what it
//! started ends: `starting`/`stopping` wait for their job event to finish (other jobs
//! blocking it), the hook states wait for their hook's exit, `spawned` waits for the main
//! process to be up as `expect` says (the [`Phase`] it is in), and `killed` waits for the
//! last process of the instance to go. Only the resting states move on their own when the
//! goal changes ([`Engine::change_goal`]): `waiting` with goal start, `running` with goal
//! stop, and `spawned` while nothing but readiness holds it. Everything else follows the
//! new goal when it is released, which is why an instance never needs to be interrupted.
//!
//! What holds each state, and which input releases it (then [`next_state`] applies):
//!
//! | state | held by | released by |
//! |---|---|---|
//! | `waiting` | nothing (rest) | goal start |
//! | `starting`, `stopping` | its blocking job event | the event finishing (`finish_event`) |
//! | `pre-start`, `post-start`, `pre-stop`, `post-stop` | its hook | the hook's exit (`hook_ended`); none defined: passed through |
//! | `spawned` | [`Phase::Launching`] | the counted exits, or the launch deadline (`launch_settled`) |
//! | `spawned` | [`Phase::AwaitingStop`] / [`Phase::AwaitingNotify`] | SIGSTOP (`stopped`) / READY=1 (`notify`) |
//! | `spawned` | [`Phase::Readying`] | `ready on` holding (`recheck_ready`) |
//! | `spawned` (any phase) | | goal stop, the main process's exit, `start timeout` |
//! | `running` | nothing (rest) | goal stop; the main process's exit (respawn or stop) |
//! | `killed` | [`Phase::Draining`] | the instance's last process gone (`check_drained`) |
//!
//! The engine works in two phases, as dinit does: inputs set goals and queue the instances
//! that must move (`runnable`), and [`Engine::run`] then moves them until nothing is left
//! to do, so one input's effects are all decided before the next input comes.

use super::*;

/// Why a start did not happen.
pub(super) enum NotStarted {
    /// The instance's goal is already start.
    Wanted(String),
    /// The engine is shutting down.
    ShuttingDown(String),
    Failed(String),
}

impl NotStarted {
    pub(super) fn message(self) -> String {
        match self {
            NotStarted::Wanted(m) | NotStarted::ShuttingDown(m) | NotStarted::Failed(m) => m,
        }
    }
}

/// Upstart's `job_next_state`.
pub fn next_state(state: State, goal: Goal) -> State {
    match (state, goal) {
        (State::Waiting, Goal::Start) => State::Starting,
        (State::Waiting, Goal::Stop) => State::Waiting,
        (State::Starting, Goal::Start) => State::PreStart,
        (State::Starting, Goal::Stop) => State::Stopping,
        (State::PreStart, Goal::Start) => State::Spawned,
        (State::PreStart, Goal::Stop) => State::Stopping,
        (State::Spawned, Goal::Start) => State::PostStart,
        (State::Spawned, Goal::Stop) => State::Stopping,
        (State::PostStart, Goal::Start) => State::Running,
        (State::PostStart, Goal::Stop) => State::Stopping,
        (State::Running, Goal::Start) => State::Stopping,
        (State::Running, Goal::Stop) => State::PreStop,
        (State::PreStop, Goal::Start) => State::Running,
        (State::PreStop, Goal::Stop) => State::Stopping,
        (State::Stopping, Goal::Start | Goal::Stop) => State::Killed,
        (State::Killed, Goal::Start | Goal::Stop) => State::PostStop,
        (State::PostStop, Goal::Start) => State::Starting,
        (State::PostStop, Goal::Stop) => State::Waiting,
    }
}

impl Engine {
    /// Finds or creates the instance of `job` for `start_env` and sets its goal to start.
    pub(super) fn start_instance(
        &mut self,
        job: &str,
        start_env: Env,
        waiters: Vec<Waiter>,
        from_command: bool,
    ) -> Result<InstanceId, NotStarted> {
        let class = self
            .classes
            .get(job)
            .ok_or_else(|| NotStarted::Failed(format!("Unknown job: {job}")))?;
        let config = class.config.clone();
        let mut env = self.job_env(&config, &start_env);
        let name = match &config.instance {
            Some(t) => expand_env(t, &full_env(&self.env_table, &env)).map_err(|e| {
                NotStarted::Failed(match &config.usage {
                    Some(u) => format!("{e}\nUsage: {u}"),
                    None => e.to_string(),
                })
            })?,
            None => String::new(),
        };
        env_set(&mut env, "UPSTART_JOB", job);
        env_set(&mut env, "UPSTART_INSTANCE", &name);
        if let Some(id) = class.instances.get(&name).copied() {
            let started = self.restart_instance(id, job, &name, env, waiters, from_command);
            // A new run: the fd of the event that started an earlier one is not its own
            // (`start_from_event` gives it the fd of its own event).
            if let Ok(id) = started
                && let Some(r) = self.instances.get_mut(&id).and_then(|i| i.rare_if(false))
            {
                r.event_fd = None;
            }
            return started;
        }
        if self.shutting_down {
            return Err(Self::refused(job, &name));
        }
        let id = self.new_instance(job, name, config, env, waiters);
        self.change_goal(id, Goal::Start);
        Ok(id)
    }

    /// `start_instance` of an instance that exists: its goal turns to start.
    fn restart_instance(
        &mut self,
        id: InstanceId,
        job: &str,
        name: &str,
        env: Env,
        waiters: Vec<Waiter>,
        from_command: bool,
    ) -> Result<InstanceId, NotStarted> {
        let Some(inst) = self.instances.get_mut(&id) else {
            return Err(NotStarted::Failed(format!("Unknown job: {job}")));
        };
        if inst.goal == Goal::Start {
            // Already wanted: an event does not wait on it.
            return Err(NotStarted::Wanted(if from_command {
                format!("Job is already running: {}", display_name(job, name))
            } else {
                format!("{} is already running", display_name(job, name))
            }));
        }
        if self.shutting_down {
            return Err(Self::refused(job, name));
        }
        // As Upstart's start env: it takes effect at the next `starting`. An instance
        // still in its run (a `start` from its own pre-stop) keeps the run's environment.
        if matches!(
            inst.state,
            State::Waiting | State::Stopping | State::Killed | State::PostStop
        ) {
            inst.env = PackedEnv::new(&env);
            // The new run is based on the table as it is now.
            if let Some(r) = inst.rare.as_deref_mut() {
                r.base = None;
            }
        }
        inst.waiters.extend(waiters);
        self.change_goal(id, Goal::Start);
        Ok(id)
    }

    /// Creates an instance of `job`, waiting with goal stop, and indexes its conditions.
    pub(super) fn new_instance(
        &mut self,
        job: &str,
        name: String,
        config: Rc<JobConfig>,
        env: Env,
        waiters: Vec<Waiter>,
    ) -> InstanceId {
        let id = InstanceId(self.id());
        let stop_on = Condition::of(&config, Stanza::StopOn);
        let ready = Condition::of(&config, Stanza::ReadyOn);
        let has_ready = ready.is_some();
        let rare = ready.map(|ready| {
            let sources = ready.sources().into_iter().map(|s| (s, false)).collect();
            Box::new(Rare {
                ready: Some(ready),
                sources,
                ..Rare::default()
            })
        });
        self.instances.insert(
            id,
            Box::new(Instance {
                id,
                name: name.as_str().into(),
                config,
                goal: Goal::Stop,
                state: State::Waiting,
                env: PackedEnv::new(&env),
                stop_on,
                pids: Slots::default(),
                history: PidHistory::default(),
                blocker: None,
                waiters: waiters.into(),
                end: None,
                main_exit: None,
                phase: Phase::Settled,
                hook: HookTimer::Off,
                stamps: Stamps::default(),
                rare,
            }),
        );
        note(
            &mut self.notices,
            NoticeRef::InstanceAdded {
                job,
                instance: &name,
            },
        );
        if let Some(class) = self.classes.get_mut(job) {
            class.instances.insert(name, id);
        }
        self.index_stop(id, true);
        if has_ready {
            self.with_ready.insert(id);
        }
        id
    }

    /// The refusal of a start while shutting down.
    pub(super) fn refused(job: &str, name: &str) -> NotStarted {
        NotStarted::ShuttingDown(format!(
            "Shutting down: not starting {}",
            display_name(job, name)
        ))
    }

    /// Sets an instance's goal. Only the resting states move on their own; the others move
    /// when their process or event finishes, and then follow the new goal.
    pub(super) fn change_goal(&mut self, id: InstanceId, goal: Goal) {
        // Shutting down: nothing turns back to start (issue 9 item 1).
        if goal == Goal::Start && self.shutting_down {
            return;
        }
        let now = self.now;
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if inst.goal == goal {
            return;
        }
        set_goal(&mut self.notices, inst, goal);
        if goal == Goal::Start {
            inst.hook = HookTimer::Off;
        } else if inst.rare().backoff.until.is_some() {
            // A stop during a `respawn delay` pause ends it: the instance goes to waiting.
            self.end_respawn_pause(id);
            let Some(inst) = self.instances.get_mut(&id) else {
                return;
            };
            Self::arm_hook_deadline(inst, now);
            return;
        }
        Self::arm_hook_deadline(inst, now);
        let next = match (inst.state, goal) {
            (State::Waiting, Goal::Start) => Some(State::Starting),
            (State::Running, Goal::Stop) => Some(next_state(State::Running, Goal::Stop)),
            // Held only by `expect` or `ready on` (or with no main process left): nothing
            // else would move it.
            (State::Spawned, Goal::Stop) => {
                let held =
                    inst.phase.holds_spawned() || !inst.pids.contains_key(&ProcessKind::Main);
                if held {
                    inst.phase = Phase::Settled;
                }
                held.then_some(State::Stopping)
            }
            (State::Waiting, Goal::Stop)
            | (State::Running, Goal::Start)
            | (State::Spawned, Goal::Start)
            | (
                State::Starting
                | State::PreStart
                | State::PostStart
                | State::PreStop
                | State::Stopping
                | State::Killed
                | State::PostStop,
                Goal::Start | Goal::Stop,
            ) => None,
        };
        if let Some(next) = next {
            self.runnable.push_back((id, next));
        }
    }

    /// Upstart's `job_change_state`: enter `state` and keep going while no process or event
    /// holds the instance.
    pub(super) fn change_state(&mut self, id: InstanceId, mut state: State, fx: &mut dyn Host) {
        loop {
            // `respawn delay`: a respawn waits in post-stop until its pause is over (the
            // timer in `tick` moves it on).
            if state == State::Starting
                && self.instances.get(&id).map(|i| i.state) == Some(State::PostStop)
                && self.respawn_paused(id)
            {
                return;
            }
            let Some(inst) = self.instances.get_mut(&id) else {
                return;
            };
            let from = inst.state;
            inst.state = state;
            inst.stamps.set(Stamp::Changed, self.wall);
            match state {
                // A new run: the last run's times no longer describe it.
                State::Starting => {
                    inst.stamps.set(Stamp::Spawned, 0);
                    inst.stamps.set(Stamp::Ready, 0);
                }
                State::PostStart if from == State::Spawned => {
                    inst.stamps.set(Stamp::Ready, self.wall)
                }
                _ => {}
            }
            note(
                &mut self.notices,
                NoticeRef::StateChanged {
                    job: &inst.config.name,
                    instance: &inst.name,
                    goal: inst.goal.as_str(),
                    state: state.as_str(),
                    pid: inst.pids.get(&ProcessKind::Main),
                },
            );
            // Upstart's `Failed` signal: once per failed run, as it heads down.
            if let Some(end) = inst.end.filter(|e| e.failed)
                && (state == State::Stopping
                    || (state == State::Waiting
                        && end.process == EndedIn::Process(ProcessKind::PostStop)))
            {
                note(
                    &mut self.notices,
                    NoticeRef::Failed {
                        job: &inst.config.name,
                        instance: &inst.name,
                        status: failed_status(&end),
                    },
                );
            }
            log::debug!(
                "{} state changed from {} to {}",
                display_name(&inst.config.name, &inst.name),
                from.as_str(),
                state.as_str()
            );
            // Each state's entry says what holds the instance there (`None`), or where it
            // goes at once.
            let next = match state {
                State::Starting => {
                    inst.end = None;
                    self.job_event(id, "starting", true);
                    None
                }
                State::PreStart => self.run_hook(id, ProcessKind::PreStart, fx),
                State::Spawned => self.enter_spawned(id, fx),
                State::PostStart => {
                    inst.set_start_deadline(None);
                    inst.phase = Phase::Settled;
                    self.run_hook(id, ProcessKind::PostStart, fx)
                }
                State::Running if from == State::PreStop => self.resume_running(id, fx),
                State::Running => self.enter_running(id, fx),
                State::PreStop => self.run_hook(id, ProcessKind::PreStop, fx),
                State::Stopping => {
                    self.job_event(id, "stopping", true);
                    None
                }
                State::Killed => self.enter_killed(id, fx),
                State::PostStop => {
                    inst.phase = Phase::Settled;
                    if let Some(r) = inst.rare.as_deref_mut() {
                        r.start_deadline = None;
                        r.watchdog_deadline = None;
                        if let Some(c) = r.ready.as_mut() {
                            c.reset();
                        }
                        r.sources.iter_mut().for_each(|s| s.1 = false);
                    }
                    self.run_hook(id, ProcessKind::PostStop, fx)
                }
                State::Waiting => {
                    let failed = inst.end.is_some_and(|e| e.failed);
                    self.job_event(id, "stopped", false);
                    self.release_waiters(id, failed, fx);
                    self.remove_instance(id, fx);
                    None
                }
            };
            match next {
                Some(n) => state = n,
                None => return,
            }
        }
    }

    /// A hook state: held while the hook runs, passed through when the job has none.
    fn run_hook(&mut self, id: InstanceId, kind: ProcessKind, fx: &mut dyn Host) -> Option<State> {
        if self.spawn(id, kind, fx) {
            None
        } else {
            self.following(id)
        }
    }

    /// `spawned`: the main process starts, and the instance waits as `expect` says.
    fn enter_spawned(&mut self, id: InstanceId, fx: &mut dyn Host) -> Option<State> {
        let now = self.now;
        let inst = self.instances.get_mut(&id)?;
        inst.main_exit = None;
        if inst.config.respawn_delay.is_some() {
            inst.rare_mut().backoff.since = Some(now);
        }
        // Every readiness wait ends: without `start timeout`, at READY_TIMEOUT_S (issue 9
        // item 4). Launch chains have their own deadline below.
        let readiness = matches!(inst.config.expect, Expect::Stop | Expect::Notify)
            || inst.rare().ready.is_some();
        let deadline = inst
            .config
            .start_timeout
            .or(readiness.then_some(READY_TIMEOUT_S))
            .map(|t| now + u64::from(t) * 1000);
        inst.set_start_deadline(deadline);
        // A launcher that never exits (a daemon run in the foreground) is taken as the main
        // process after the start timeout rather than leaving the job stuck.
        let settle = now + u64::from(inst.config.start_timeout.unwrap_or(LAUNCH_TIMEOUT_S)) * 1000;
        let launch = |needed| {
            Phase::Launching(Launch {
                needed,
                seen: 0,
                settle,
                pidfile_until: None,
            })
        };
        let phase = match inst.config.expect {
            Expect::Fork(n) | Expect::Exit(n) => Some(launch(n)),
            Expect::Daemon => Some(launch(2)),
            Expect::Stop => Some(Phase::AwaitingStop),
            Expect::Notify => Some(Phase::AwaitingNotify),
            Expect::None => None,
        };
        let has_main = inst.config.main.is_some();
        if !(has_main && self.spawn(id, ProcessKind::Main, fx)) {
            return self.following(id);
        }
        match phase {
            // Tracked by exit, by its stop or by its notification.
            Some(phase) => {
                if let Some(inst) = self.instances.get_mut(&id) {
                    if let Phase::Launching(_) = phase {
                        inst.set_start_deadline(None);
                    }
                    inst.phase = phase;
                }
            }
            None => self.after_expect(id),
        }
        None
    }

    /// A `start` during pre-stop cancelled the stop (Upstart): the run goes on with the same
    /// main process, and `started` is not emitted again.
    fn resume_running(&mut self, id: InstanceId, fx: &mut dyn Host) -> Option<State> {
        if let Some(inst) = self.instances.get_mut(&id) {
            inst.set_stop_env(Env::new());
        }
        self.release_waiters(id, false, fx);
        let gone = self
            .instances
            .get(&id)
            .is_some_and(|i| !i.pids.contains_key(&ProcessKind::Main));
        if gone { self.following(id) } else { None }
    }

    /// `running`: `started`, the start waiters answered (a task's once it ends), and on at
    /// once when the main process already ended.
    fn enter_running(&mut self, id: InstanceId, fx: &mut dyn Host) -> Option<State> {
        let now = self.now;
        let inst = self.instances.get_mut(&id)?;
        if inst.config.expect == Expect::Notify {
            let deadline = inst.config.watchdog.map(|w| now + u64::from(w) * 1000);
            inst.set_watchdog_deadline(deadline);
        }
        let task = inst.config.task;
        let has_main = inst.config.main.is_some();
        let main_alive = inst.pids.contains_key(&ProcessKind::Main);
        self.job_event(id, "started", false);
        if !task {
            self.release_waiters(id, false, fx);
        }
        let goal = self.instances.get(&id).map(|i| i.goal);
        // A main process that already ended (or none at all, for a task) moves on now.
        if goal == Some(Goal::Stop) || (!main_alive && (task || has_main)) {
            self.finish_main_early(id);
            self.following(id)
        } else {
            None
        }
    }

    /// `killed`: the main process (and its group) gets the kill signal; whatever the
    /// instance still has once it is gone is signalled then (`check_drained`), and after
    /// `kill timeout` every process is killed.
    fn enter_killed(&mut self, id: InstanceId, fx: &mut dyn Host) -> Option<State> {
        let inst = self.instances.get_mut(&id)?;
        let main = inst.pids.get(&ProcessKind::Main);
        let (sig, timeout) = (inst.config.kill_signal, inst.config.kill_timeout);
        inst.phase = Phase::Draining(Drain {
            rest_signalled: false,
            kill_deadline: Some(self.now + u64::from(timeout) * 1000),
        });
        match main {
            Some(pid) => fx.signal(id, pid, sig, true),
            None => self.check_drained(id, fx),
        }
        None
    }

    /// The main process is gone before `running` was reached or kept.
    pub(super) fn finish_main_early(&mut self, id: InstanceId) {
        if let Some(inst) = self.instances.get_mut(&id)
            && inst.goal == Goal::Start
            && inst.config.task
        {
            set_goal(&mut self.notices, inst, Goal::Stop);
        }
    }

    pub(super) fn following(&self, id: InstanceId) -> Option<State> {
        self.instances.get(&id).map(|i| next_state(i.state, i.goal))
    }

    pub(super) fn remove_instance(&mut self, id: InstanceId, fx: &mut dyn Host) {
        let Some(inst) = self.instances.get(&id) else {
            return;
        };
        if inst.goal == Goal::Start {
            return;
        }
        self.index_stop(id, false);
        self.with_ready.remove(&id);
        let Some(inst) = self.instances.remove(&id) else {
            return;
        };
        for pid in inst.pids.values() {
            self.pids.remove(&pid);
        }
        if let Some(mut c) = inst.stop_on {
            for e in c.reset() {
                self.unblock(e, false);
            }
        }
        note(
            &mut self.notices,
            NoticeRef::InstanceRemoved {
                job: &inst.config.name,
                instance: &inst.name,
            },
        );
        if let Some(class) = self.classes.get_mut(&inst.config.name) {
            class.instances.remove(&inst.name);
            if class.instances.is_empty() && class.deleted {
                self.classes.remove(&inst.config.name);
            }
        }
        fx.instance_removed(id);
    }

    /// Records a failed process; pre-start, main and post-stop failures fail the job.
    pub(super) fn process_failed(
        &mut self,
        id: InstanceId,
        kind: ProcessKind,
        status: Option<ExitStatus>,
    ) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        match kind {
            ProcessKind::PostStart | ProcessKind::PreStop => {
                // Upstart ignores these failures.
            }
            ProcessKind::PreStart | ProcessKind::Main | ProcessKind::PostStop => {
                if inst.end.is_none_or(|e| !e.failed) {
                    inst.end = Some(RunEnd {
                        failed: true,
                        process: EndedIn::Process(kind),
                        status,
                    });
                }
                if kind != ProcessKind::PostStop {
                    set_goal(&mut self.notices, inst, Goal::Stop);
                }
            }
        }
    }
}
