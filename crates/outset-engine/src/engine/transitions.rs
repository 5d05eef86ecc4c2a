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
        (State::Stopping, _) => State::Killed,
        (State::Killed, _) => State::PostStop,
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
            Some(t) => expand_env(t, &full_env(&self.opts.base_env, &env)).map_err(|e| {
                NotStarted::Failed(match &config.usage {
                    Some(u) => format!("{e}\nUsage: {u}"),
                    None => e.to_string(),
                })
            })?,
            None => String::new(),
        };
        env_set(&mut env, "UPSTART_JOB", job);
        env_set(&mut env, "UPSTART_INSTANCE", &name);
        // Held for the instance's life: no spare capacity (memory per running job).
        env.shrink_to_fit();
        if let Some(id) = class.instances.get(&name).copied() {
            let Some(inst) = self.instances.get_mut(&id) else {
                return Err(NotStarted::Failed(format!("Unknown job: {job}")));
            };
            if inst.goal == Goal::Start {
                if from_command {
                    return Err(NotStarted::Wanted(format!(
                        "Job is already running: {}",
                        display_name(job, &name)
                    )));
                }
                // Already wanted: the event does not wait on it.
                return Err(NotStarted::Wanted(format!(
                    "{} is already running",
                    display_name(job, &name)
                )));
            }
            if self.shutting_down {
                return Err(Self::refused(job, &name));
            }
            // As Upstart's start env: it takes effect at the next `starting`. An instance
            // still in its run (a `start` from its own pre-stop) keeps the run's environment.
            if matches!(
                inst.state,
                State::Waiting | State::Stopping | State::Killed | State::PostStop
            ) {
                inst.env = env;
            }
            inst.waiters.extend(waiters);
            self.change_goal(id, Goal::Start);
            return Ok(id);
        }
        if self.shutting_down {
            return Err(Self::refused(job, &name));
        }
        let id = InstanceId(self.id());
        let stop_on = config.stop_on.clone().map(Condition::new);
        let ready = config.ready_on.clone().map(Condition::new).map(Box::new);
        let sources: Vec<(ReadySource, bool)> = ready
            .as_ref()
            .map(|c| c.sources())
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s, false))
            .collect();
        self.instances.insert(
            id,
            Box::new(Instance {
                id,
                job: job.to_string(),
                name: name.clone(),
                config,
                goal: Goal::Stop,
                state: State::Waiting,
                env,
                stop_env: Env::new(),
                stop_on,
                pids: Slots::default(),
                history: Vec::new(),
                blocker: None,
                waiters,
                end: None,
                main_exit: None,
                respawns: VecDeque::new(),
                kill_deadline: None,
                awaiting: None,
                draining: false,
                rest_signalled: false,
                selected_at: None,
                sources,
                ready,
                readying: false,
                start_deadline: None,
                watchdog_deadline: None,
                notify_status: None,
                hook_deadline: None,
                hook_signalled: false,
            }),
        );
        if let Some(class) = self.classes.get_mut(job) {
            class.instances.insert(name, id);
        }
        self.index_stop(id, true);
        if self.instances.get(&id).is_some_and(|i| i.ready.is_some()) {
            self.with_ready.insert(id);
        }
        self.change_goal(id, Goal::Start);
        Ok(id)
    }

    /// The refusal of a start while shutting down.
    pub(super) fn refused(job: &str, name: &str) -> NotStarted {
        NotStarted::ShuttingDown(format!(
            "Shutting down: not starting {}",
            display_name(job, name)
        ))
    }

    pub(super) fn change_goal(&mut self, id: InstanceId, goal: Goal) {
        // Shutting down: nothing turns back to start (issue 9 item 1).
        if goal == Goal::Start && self.shutting_down {
            return;
        }
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if inst.goal == goal {
            return;
        }
        inst.goal = goal;
        if goal == Goal::Start {
            inst.hook_deadline = None;
            inst.hook_signalled = false;
        }
        let now = self.now;
        Self::arm_hook_deadline(inst, now);
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        // Only the resting states move on their own; the others move when their process
        // or event finishes, and then follow the new goal.
        let next = match (inst.state, goal) {
            (State::Waiting, Goal::Start) => Some(State::Starting),
            (State::Running, Goal::Stop) => Some(next_state(State::Running, Goal::Stop)),
            (State::Spawned, Goal::Stop)
                if inst.awaiting.is_some()
                    || inst.readying
                    || !inst.pids.contains_key(&ProcessKind::Main) =>
            {
                inst.awaiting = None;
                inst.readying = false;
                Some(State::Stopping)
            }
            _ => None,
        };
        if let Some(next) = next {
            self.runnable.push_back((id, next));
        }
    }

    /// Upstart's `job_change_state`: enter `state` and keep going while no process or event
    /// holds the instance.
    pub(super) fn change_state(&mut self, id: InstanceId, mut state: State, fx: &mut dyn Effects) {
        loop {
            let Some(inst) = self.instances.get_mut(&id) else {
                return;
            };
            let from = inst.state;
            inst.state = state;
            log::debug!(
                "{} state changed from {} to {}",
                display_name(&inst.job, &inst.name),
                from.as_str(),
                state.as_str()
            );
            let next = match state {
                State::Starting => {
                    inst.end = None;
                    self.job_event(id, "starting", true);
                    None
                }
                State::PreStart => {
                    if self.spawn(id, ProcessKind::PreStart, fx) {
                        None
                    } else {
                        self.following(id)
                    }
                }
                State::Spawned => {
                    let now = self.now;
                    let Some(inst) = self.instances.get_mut(&id) else {
                        return;
                    };
                    inst.main_exit = None;
                    // Every readiness wait ends: without `start timeout`, at READY_TIMEOUT_S
                    // (issue 9 item 4). Launch chains have their own deadline below.
                    let readiness = matches!(inst.config.expect, Expect::Stop | Expect::Notify)
                        || inst.ready.is_some();
                    inst.start_deadline = inst
                        .config
                        .start_timeout
                        .or(readiness.then_some(READY_TIMEOUT_S))
                        .map(|t| now + u64::from(t) * 1000);
                    let has_main = inst.config.main.is_some();
                    let awaiting = match inst.config.expect {
                        Expect::Fork(n) | Expect::Exit(n) => Some((false, false, n)),
                        Expect::Daemon => Some((false, false, 2)),
                        Expect::Stop => Some((true, false, 0)),
                        Expect::Notify => Some((false, true, 0)),
                        Expect::None => None,
                    };
                    if has_main && self.spawn(id, ProcessKind::Main, fx) {
                        match awaiting {
                            // Tracked by exit, by its stop or by its notification.
                            Some((stop, notify, needed)) => {
                                if let Some(inst) = self.instances.get_mut(&id) {
                                    // A launcher that never exits (a daemon run in the
                                    // foreground) is taken as the main process after the
                                    // start timeout rather than leaving the job stuck.
                                    let wait =
                                        inst.config.start_timeout.unwrap_or(LAUNCH_TIMEOUT_S);
                                    let forks = !stop && !notify;
                                    if forks {
                                        inst.start_deadline = None;
                                    }
                                    inst.awaiting = Some(Await {
                                        stop,
                                        notify,
                                        needed,
                                        seen: 0,
                                        settle: forks.then(|| now + u64::from(wait) * 1000),
                                        pidfile_until: None,
                                    });
                                }
                                None
                            }
                            None => {
                                self.after_expect(id);
                                None
                            }
                        }
                    } else {
                        self.following(id)
                    }
                }
                State::PostStart => {
                    if let Some(inst) = self.instances.get_mut(&id) {
                        inst.start_deadline = None;
                        inst.readying = false;
                    }
                    if self.spawn(id, ProcessKind::PostStart, fx) {
                        None
                    } else {
                        self.following(id)
                    }
                }
                State::Running if from == State::PreStop => {
                    // A `start` during pre-stop cancelled the stop (Upstart): the run goes
                    // on with the same main process, and `started` is not emitted again.
                    if let Some(inst) = self.instances.get_mut(&id) {
                        inst.stop_env = Env::new();
                    }
                    self.release_waiters(id, false, fx);
                    let gone = self
                        .instances
                        .get(&id)
                        .is_some_and(|i| !i.pids.contains_key(&ProcessKind::Main));
                    if gone { self.following(id) } else { None }
                }
                State::Running => {
                    let now = self.now;
                    if let Some(inst) = self.instances.get_mut(&id)
                        && inst.config.expect == Expect::Notify
                    {
                        inst.watchdog_deadline =
                            inst.config.watchdog.map(|w| now + u64::from(w) * 1000);
                    }
                    self.job_event(id, "started", false);
                    let task = self.instances.get(&id).is_some_and(|i| i.config.task);
                    let main_alive = self
                        .instances
                        .get(&id)
                        .is_some_and(|i| i.pids.contains_key(&ProcessKind::Main));
                    if !task {
                        self.release_waiters(id, false, fx);
                    }
                    let goal = self.instances.get(&id).map(|i| i.goal);
                    // A main process that already ended (or none at all) moves on now.
                    if goal == Some(Goal::Stop) || (!main_alive && task) {
                        self.finish_main_early(id);
                        self.following(id)
                    } else if !main_alive {
                        let has_main = self
                            .instances
                            .get(&id)
                            .is_some_and(|i| i.config.main.is_some());
                        if has_main {
                            self.finish_main_early(id);
                            self.following(id)
                        } else {
                            None
                        }
                    } else {
                        None
                    }
                }
                State::PreStop => {
                    if self.spawn(id, ProcessKind::PreStop, fx) {
                        None
                    } else {
                        self.following(id)
                    }
                }
                State::Stopping => {
                    self.job_event(id, "stopping", true);
                    None
                }
                State::Killed => {
                    let Some(inst) = self.instances.get_mut(&id) else {
                        return;
                    };
                    let main = inst.pids.get(&ProcessKind::Main).copied();
                    let (sig, timeout) = (inst.config.kill_signal, inst.config.kill_timeout);
                    inst.kill_deadline = Some(self.now + u64::from(timeout) * 1000);
                    inst.draining = true;
                    match main {
                        // The main process (and its group) first; whatever the instance
                        // still has once it is gone is signalled then (`check_drained`), and
                        // after `kill timeout` every process is killed.
                        Some(pid) => {
                            fx.signal(id, pid, sig, true);
                            None
                        }
                        None => {
                            self.check_drained(id, fx);
                            None
                        }
                    }
                }
                State::PostStop => {
                    if let Some(inst) = self.instances.get_mut(&id) {
                        inst.draining = false;
                        inst.kill_deadline = None;
                        inst.awaiting = None;
                        inst.readying = false;
                        inst.start_deadline = None;
                        inst.watchdog_deadline = None;
                        if let Some(c) = inst.ready.as_mut() {
                            c.reset();
                        }
                        inst.sources.iter_mut().for_each(|s| s.1 = false);
                    }
                    if self.spawn(id, ProcessKind::PostStop, fx) {
                        None
                    } else {
                        self.following(id)
                    }
                }
                State::Waiting => {
                    self.job_event(id, "stopped", false);
                    let failed = self
                        .instances
                        .get(&id)
                        .and_then(|i| i.end)
                        .is_some_and(|e| e.failed);
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

    /// The main process is gone before `running` was reached or kept.
    pub(super) fn finish_main_early(&mut self, id: InstanceId) {
        if let Some(inst) = self.instances.get_mut(&id)
            && inst.goal == Goal::Start
            && inst.config.task
        {
            inst.goal = Goal::Stop;
        }
    }

    pub(super) fn following(&self, id: InstanceId) -> Option<State> {
        self.instances.get(&id).map(|i| next_state(i.state, i.goal))
    }

    pub(super) fn remove_instance(&mut self, id: InstanceId, fx: &mut dyn Effects) {
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
            self.pids.remove(pid);
        }
        if let Some(mut c) = inst.stop_on {
            for e in c.reset() {
                self.unblock(e, false);
            }
        }
        if let Some(class) = self.classes.get_mut(&inst.job) {
            class.instances.remove(&inst.name);
            if class.instances.is_empty() && class.deleted {
                self.classes.remove(&inst.job);
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
            _ => {
                if inst.end.is_none_or(|e| !e.failed) {
                    inst.end = Some(RunEnd {
                        failed: true,
                        process: kind.as_str(),
                        status,
                    });
                }
                if kind != ProcessKind::PostStop {
                    inst.goal = Goal::Stop;
                }
            }
        }
    }
}
