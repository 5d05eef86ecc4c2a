//! Events and conditions: the event queue, `start on` / `stop on` / `ready on` matching,
//! the job events an instance emits (`starting`, `started`, `stopping`, `stopped`), and
//! what level-triggered operands see of the jobs' states.
//!
//! An event is queued, handled (stop conditions first, then readiness, then start
//! conditions, as Upstart), and finished once nothing it started or stopped blocks it any
//! more; a failed event queues `NAME/failed`.

use super::*;

pub(super) struct States<'a> {
    classes: &'a BTreeMap<String, Box<Class>>,
    instances: &'a BTreeMap<InstanceId, Box<Instance>>,
    base: &'a Env,
}

/// The job event an instance in `state` emitted last: what a level-triggered operand on
/// that job compares with.
pub(super) fn last_job_event(state: State) -> Option<&'static str> {
    match state {
        State::Waiting => None,
        State::Starting | State::PreStart | State::Spawned | State::PostStart => Some("starting"),
        State::Running | State::PreStop => Some("started"),
        State::Stopping | State::Killed | State::PostStop => Some("stopping"),
    }
}

/// The literal value an operand pins positional argument `position` or `key` to, if it
/// pins one: no pattern characters and no `$` to expand.
pub(super) fn pinned<'a>(op: &'a EventMatch, position: usize, key: &str) -> Option<&'a str> {
    let literal = |p: &'a String| (!p.contains(['*', '?', '[', '\\', '$'])).then_some(p.as_str());
    let mut pos = 0;
    op.args.iter().find_map(|arg| match arg {
        Arg::Positional(p) => {
            pos += 1;
            if pos == position + 1 {
                literal(p)
            } else {
                None
            }
        }
        Arg::Eq(k, p) if k == key => literal(p),
        _ => None,
    })
}

impl States<'_> {
    /// A level-true match among one job's instances and stopped instances.
    fn in_class(
        &self,
        class: &Class,
        op: &EventMatch,
        instance: Option<&str>,
        expand: Option<&Env>,
    ) -> Option<Env> {
        let live = match instance {
            Some(name) => {
                Box::new(class.instances.get(name).into_iter()) as Box<dyn Iterator<Item = _>>
            }
            None => Box::new(class.instances.values()),
        };
        for id in live {
            let Some(inst) = self.instances.get(id) else {
                continue;
            };
            let Some(name) = last_job_event(inst.state).filter(|n| *n == op.name) else {
                continue;
            };
            let end = (name == "stopping").then(|| {
                inst.end.unwrap_or(RunEnd {
                    failed: false,
                    process: EndedIn::Process(ProcessKind::Main),
                    status: None,
                })
            });
            let env = Engine::job_event_env(self.base, inst, end);
            if matches(op, name, &env, expand) {
                return Some(env);
            }
        }
        if op.name != "stopped" {
            return None;
        }
        let gone = |name: &str, env: &Env| {
            !class.instances.contains_key(name) && matches(op, "stopped", env, expand)
        };
        match instance {
            Some(name) => class
                .stopped
                .get(name)
                .filter(|env| gone(name, env))
                .cloned(),
            None => class
                .stopped
                .iter()
                .find(|(name, env)| gone(name, env))
                .map(|(_, env)| env.clone()),
        }
    }
}

impl JobStates for States<'_> {
    fn in_state(&self, op: &EventMatch, expand: Option<&Env>) -> Option<Env> {
        // The job event env is JOB then INSTANCE: a literal job or instance is looked up
        // by name instead of scanned for.
        let instance = pinned(op, 1, "INSTANCE");
        match pinned(op, 0, "JOB") {
            Some(job) => self
                .classes
                .get(job)
                .and_then(|class| self.in_class(class, op, instance, expand)),
            None => self
                .classes
                .values()
                .find_map(|class| self.in_class(class, op, instance, expand)),
        }
    }
}

impl Engine {
    /// What level-triggered operands look at.
    pub(super) fn states(&self) -> States<'_> {
        States {
            classes: &self.classes,
            instances: &self.instances,
            base: &self.env_table,
        }
    }

    pub(super) fn reindex_start(&mut self) {
        self.start_index.clear();
        for (job, class) in &self.classes {
            for name in class.start_on.iter().flat_map(|c| c.names()) {
                self.start_index
                    .entry(name.to_string())
                    .or_default()
                    .push(job.clone());
            }
        }
    }

    pub(super) fn index_stop(&mut self, id: InstanceId, add: bool) {
        let names: Vec<String> = self
            .instances
            .get(&id)
            .and_then(|i| i.stop_on.as_ref())
            .map(|c| {
                c.names()
                    .into_iter()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for name in names {
            let set = self.stop_index.entry(name.clone()).or_default();
            if add {
                set.insert(id);
            } else {
                set.remove(&id);
                if set.is_empty() {
                    self.stop_index.remove(&name);
                }
            }
        }
    }

    /// Starts recording every event as it is handled.
    pub fn record_events(&mut self) {
        self.seen.get_or_insert_with(Vec::new);
    }

    /// The events handled since the last call, in order.
    pub fn take_events(&mut self) -> Vec<(String, Env)> {
        self.seen.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Queues an event and runs the engine. With `reply`, the client is answered once every
    /// job the event started or stopped has settled.
    pub fn emit(
        &mut self,
        name: &str,
        env: Env,
        reply: Option<ReplyToken>,
        fx: &mut dyn Host,
    ) -> EventId {
        let id = self.queue_event(name, env, Origin::External(reply));
        self.run(fx);
        id
    }

    pub(super) fn queue_event(&mut self, name: &str, env: Env, origin: Origin) -> EventId {
        let id = EventId(self.id());
        log::debug!("event {name} {env:?}");
        self.events.insert(
            id,
            Event {
                name: name.to_string(),
                env,
                blockers: 0,
                failed: false,
                origin,
                queued: true,
            },
        );
        self.pending.push_back(id);
        id
    }

    pub(super) fn block(&mut self, id: EventId) {
        if let Some(e) = self.events.get_mut(&id) {
            e.blockers += 1;
        }
    }

    pub(super) fn unblock(&mut self, id: EventId, failed: bool) {
        if let Some(e) = self.events.get_mut(&id) {
            e.failed |= failed;
            e.blockers = e.blockers.saturating_sub(1);
            if e.blockers == 0 && !e.queued {
                self.done.push_back(id);
            }
        }
    }

    /// Runs until nothing is left to do.
    pub(super) fn run(&mut self, fx: &mut dyn Host) {
        loop {
            if let Some((inst, state)) = self.runnable.pop_front() {
                self.change_state(inst, state, fx);
            } else if let Some(id) = self.done.pop_front() {
                self.finish_event(id, fx);
            } else if let Some(id) = self.pending.pop_front() {
                self.handle_event(id);
            } else {
                return;
            }
        }
    }

    pub(super) fn handle_event(&mut self, id: EventId) {
        let Some(event) = self.events.get_mut(&id) else {
            return;
        };
        event.queued = false;
        let (name, env) = (event.name.clone(), event.env.clone());
        if let Some(seen) = &mut self.seen {
            seen.push((name.clone(), env.clone()));
        }
        // Stop conditions first, then readiness, then start conditions, as Upstart does.
        self.offer_to_stop_conditions(id, &name, &env);
        self.offer_to_ready_conditions(&name, &env);
        self.offer_to_start_conditions(id, &name, &env);
        if self.events.get(&id).is_some_and(|e| e.blockers == 0) {
            self.done.push_back(id);
        }
    }

    /// The `stop on` conditions that mention the event: a fired one sets its instance's goal
    /// to stop, the events it matched waiting for the stop.
    fn offer_to_stop_conditions(&mut self, id: EventId, name: &str, env: &Env) {
        // A snapshot of the index in a buffer kept by the engine (taken out, so a nested
        // offer would start its own).
        let mut ids = std::mem::take(&mut self.offer_buf);
        ids.clear();
        if let Some(s) = self.stop_index.get(name) {
            ids.extend(s.iter().copied());
        }
        for &inst_id in &ids {
            let Some(inst) = self.instances.get_mut(&inst_id) else {
                continue;
            };
            let Some(mut cond) = inst.stop_on.take() else {
                continue;
            };
            // The instance's full environment, only for a condition that reads it (a `$`
            // in a pattern or a job-state operand): building it clones the base environment.
            let expand = cond
                .reads_expansion()
                .then(|| full_env_packed(base_of(&self.env_table, inst), &inst.env));
            let states = self.states();
            let handled = cond.handle(id, name, env, expand.as_ref(), &states);
            if let Some(inst) = self.instances.get_mut(&inst_id) {
                inst.stop_on = Some(cond);
            }
            for e in &handled.latched {
                self.block(*e);
            }
            if let Some(matched) = handled.fired {
                let stop_env = matched_env(&matched, "UPSTART_STOP_EVENTS");
                let waiters = event_waiters(&matched);
                for w in &waiters {
                    if let Waiter::Event(e) = w {
                        self.block(*e);
                    }
                }
                if let Some(inst) = self.instances.get_mut(&inst_id) {
                    inst.set_stop_env(stop_env);
                    inst.waiters.extend(waiters);
                }
                self.change_goal(inst_id, Goal::Stop);
            }
            for e in handled.released {
                self.unblock(e, false);
            }
        }
        ids.clear();
        self.offer_buf = ids;
    }

    /// The `ready on` conditions that mention the event latch it.
    fn offer_to_ready_conditions(&mut self, name: &str, env: &Env) {
        let readying: Vec<InstanceId> = self
            .with_ready
            .iter()
            .filter(|id| {
                self.instances
                    .get(id)
                    .and_then(|i| i.rare().ready.as_ref())
                    .is_some_and(|c| c.mentions(name))
            })
            .copied()
            .collect();
        for inst_id in readying {
            let expand = self
                .instances
                .get(&inst_id)
                .map(|i| full_env_packed(base_of(&self.env_table, i), &i.env));
            if let Some(inst) = self.instances.get_mut(&inst_id)
                && let Some(cond) = inst.rare.as_deref_mut().and_then(|r| r.ready.as_mut())
                && cond.latch(name, env, expand.as_ref())
            {
                self.recheck_ready(inst_id);
            }
        }
    }

    /// The `start on` conditions that mention the event: a fired one starts its job.
    fn offer_to_start_conditions(&mut self, id: EventId, name: &str, env: &Env) {
        let jobs: Vec<String> = self.start_index.get(name).cloned().unwrap_or_default();
        for job in jobs {
            let Some(class) = self.classes.get_mut(&job) else {
                continue;
            };
            let Some(mut cond) = class.start_on.take() else {
                continue;
            };
            let defaults: Env = class
                .config
                .env
                .iter()
                .filter_map(|e| e.value.clone().map(|v| (e.key.clone(), v)))
                .collect();
            let states = self.states();
            let handled = cond.handle(id, name, env, Some(&defaults), &states);
            if let Some(class) = self.classes.get_mut(&job) {
                class.start_on = Some(cond);
            }
            for e in &handled.latched {
                self.block(*e);
            }
            if let Some(matched) = handled.fired {
                self.start_from_event(&job, &matched);
            }
            for e in handled.released {
                self.unblock(e, false);
            }
        }
    }

    pub(super) fn start_from_event(&mut self, job: &str, matched: &[Matched]) {
        let start_env = matched_env(matched, "UPSTART_EVENTS");
        let waiters = event_waiters(matched);
        match self.start_instance(job, start_env, waiters.clone(), false) {
            Ok(_) => {
                for w in waiters {
                    if let Waiter::Event(e) = w {
                        self.block(e);
                    }
                }
            }
            // Upstart is silent about an event matching a job already wanted.
            Err(NotStarted::Wanted(e)) => log::debug!("{job}: not started: {e}"),
            Err(NotStarted::ShuttingDown(e)) => log::info!("{job}: not started: {e}"),
            Err(NotStarted::Failed(e)) => log::warn!("{job}: not started: {e}"),
        }
    }

    pub(super) fn finish_event(&mut self, id: EventId, fx: &mut dyn Host) {
        let Some(event) = self.events.get(&id) else {
            return;
        };
        if event.blockers > 0 {
            return;
        }
        let Some(event) = self.events.remove(&id) else {
            return;
        };
        match event.origin {
            Origin::Job(inst) => {
                let next = self.instances.get_mut(&inst).and_then(|i| {
                    if i.blocker.map(std::num::NonZeroU64::get) == Some(id.0) {
                        i.blocker = None;
                        Some(next_state(i.state, i.goal))
                    } else {
                        None
                    }
                });
                if let Some(next) = next {
                    self.runnable.push_back((inst, next));
                }
            }
            Origin::External(Some(token)) => {
                if event.failed {
                    fx.reply(token, Response::error("Event failed"));
                } else {
                    fx.reply(token, Response::Ok { body: Body::Done });
                }
            }
            Origin::External(None) | Origin::Internal => {}
        }
        if event.failed && !event.name.ends_with("/failed") {
            self.queue_event(
                &format!("{}/failed", event.name),
                event.env,
                Origin::Internal,
            );
        }
    }

    pub(super) fn job_event_env(base: &Env, inst: &Instance, end: Option<RunEnd>) -> Env {
        let mut env = vec![
            ("JOB".to_string(), inst.config.name.clone()),
            ("INSTANCE".to_string(), inst.name.clone()),
        ];
        if let Some(end) = end {
            env.push((
                "RESULT".into(),
                if end.failed { "failed" } else { "ok" }.into(),
            ));
            if end.failed {
                env.push(("PROCESS".into(), end.process.as_str().into()));
                if let Some(s) = end.status {
                    env.push(s.env_pair());
                }
            }
        }
        for key in &inst.config.export {
            let found = inst
                .env
                .iter()
                .rev()
                .chain(base.iter().rev().map(|(k, v)| (k.as_str(), v.as_str())))
                .find(|(k, _)| k == key);
            if let Some((_, v)) = found {
                env.push((key.clone(), v.to_string()));
            }
        }
        env
    }

    /// Emits a job event; `blocking` makes the instance wait for it.
    pub(super) fn job_event(&mut self, id: InstanceId, name: &str, blocking: bool) {
        let Some(inst) = self.instances.get(&id) else {
            return;
        };
        let end = matches!(name, "stopping" | "stopped").then(|| {
            inst.end.unwrap_or(RunEnd {
                failed: false,
                process: EndedIn::Process(ProcessKind::Main),
                status: None,
            })
        });
        let env = Self::job_event_env(base_of(&self.env_table, inst), inst, end);
        let origin = if blocking {
            Origin::Job(id)
        } else {
            Origin::Internal
        };
        let eid = self.queue_event(name, env.clone(), origin);
        if blocking && let Some(inst) = self.instances.get_mut(&id) {
            inst.blocker = std::num::NonZeroU64::new(eid.0);
        }
        if name == "stopped" {
            let key = self
                .instances
                .get(&id)
                .map(|i| (i.config.name.clone(), i.name.clone()));
            if let Some((job, inst_name)) = key
                && let Some(class) = self.classes.get_mut(&job)
            {
                class.stopped.insert(inst_name, env);
            }
        } else if name == "starting" {
            let key = self
                .instances
                .get(&id)
                .map(|i| (i.config.name.clone(), i.name.clone()));
            if let Some((job, inst_name)) = key
                && let Some(class) = self.classes.get_mut(&job)
            {
                class.stopped.remove(&inst_name);
            }
        }
    }
}
