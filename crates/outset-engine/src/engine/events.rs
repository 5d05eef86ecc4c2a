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
        // The names are read in place (the index is another field): an event name is copied
        // only for a new index entry, not for each instance added or removed.
        let Some(cond) = self.instances.get(&id).and_then(|i| i.stop_on.as_ref()) else {
            return;
        };
        // A name given twice is added or removed twice, which changes nothing more.
        let index = &mut self.stop_index;
        cond.each_name(|name| match index.get_mut(name) {
            Some(set) if add => {
                set.insert(id);
            }
            Some(set) => {
                set.remove(&id);
                if set.is_empty() {
                    index.remove(name);
                }
            }
            None if add => {
                index.insert(name.to_string(), std::iter::once(id).collect());
            }
            None => {}
        });
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
        let id = self.queue_event(name.to_string().into(), env, Origin::External(reply));
        self.run(fx);
        id
    }

    /// Queues an event. Its name is borrowed when static (a job event), not copied.
    pub(super) fn queue_event(
        &mut self,
        name: std::borrow::Cow<'static, str>,
        env: Env,
        origin: Origin,
    ) -> EventId {
        let id = EventId(self.id());
        log::debug!("event {name} {env:?}");
        self.events.insert(
            id,
            Event {
                name,
                env,
                blockers: 0,
                failed: false,
                origin,
                queued: true,
                fd: None,
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
        // Lent out while it is offered and put back after: the offers read the name and env
        // but only ever change the event's blockers and failure, and a copy of both (an
        // allocation per variable) was most of a job event's cost in a stop of many jobs.
        let name = std::mem::take(&mut event.name);
        let env = std::mem::take(&mut event.env);
        if let Some(seen) = &mut self.seen {
            seen.push((name.to_string(), env.clone()));
        }
        note(
            &mut self.notices,
            NoticeRef::EventHandled {
                name: &name,
                env: &env,
            },
        );
        // Stop conditions first, then readiness, then start conditions, as Upstart does.
        self.offer_to_stop_conditions(id, &name, &env);
        self.offer_to_ready_conditions(&name, &env);
        self.offer_to_start_conditions(id, &name, &env);
        if let Some(event) = self.events.get_mut(&id) {
            event.name = name;
            event.env = env;
            if event.blockers == 0 {
                self.done.push_back(id);
            }
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
                let stop_env = self
                    .instances
                    .get(&inst_id)
                    .is_some_and(|i| i.reads_stop_env())
                    .then(|| matched_env(&matched, "UPSTART_STOP_EVENTS"));
                let waiters = event_waiters(&matched);
                for w in &waiters {
                    if let Waiter::Event(e) = w {
                        self.block(*e);
                    }
                }
                if let Some(inst) = self.instances.get_mut(&inst_id) {
                    if let Some(env) = stop_env {
                        inst.set_stop_env(env);
                    }
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
        // Upstart's `event_operator_fds`: the fd of a matched event goes to the run (one:
        // a process is passed a single fd).
        let fd = matched
            .iter()
            .filter_map(|m| m.event)
            .find_map(|e| self.events.get(&e).and_then(|e| e.fd));
        match self.start_instance(job, start_env, waiters.clone(), false) {
            Ok(id) => {
                if let Some(r) = self
                    .instances
                    .get_mut(&id)
                    .and_then(|i| i.rare_if(fd.is_some()))
                {
                    r.event_fd = fd;
                }
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
        if let Some(fd) = event.fd {
            fx.release_event_fd(fd);
        }
        note(
            &mut self.notices,
            NoticeRef::EventFinished {
                name: &event.name,
                env: &event.env,
            },
        );
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
                format!("{}/failed", event.name).into(),
                event.env,
                Origin::Internal,
            );
        }
    }

    pub(super) fn job_event_env(base: &Env, inst: &Instance, end: Option<RunEnd>) -> Env {
        // Room for every variable at once (JOB, INSTANCE, RESULT, PROCESS, the exit status,
        // the exported ones), and no more: a `starting` event's env is held through a start.
        let ended = end.map_or(0, |e| {
            if e.failed {
                2 + usize::from(e.status.is_some())
            } else {
                1
            }
        });
        let mut env = Vec::with_capacity(2 + ended + inst.config.export.len());
        env.push(("JOB".to_string(), inst.config.name.clone()));
        env.push(("INSTANCE".to_string(), inst.name.to_string()));
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
    pub(super) fn job_event(&mut self, id: InstanceId, name: &'static str, blocking: bool) {
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
        // The env is copied only for `stopped`, the one event whose env the job keeps.
        let kept = (name == "stopped").then(|| env.clone());
        let eid = self.queue_event(name.into(), env, origin);
        if blocking && let Some(inst) = self.instances.get_mut(&id) {
            inst.blocker = std::num::NonZeroU64::new(eid.0);
        }
        if !matches!(name, "stopped" | "starting") {
            return;
        }
        // The instance and its class are separate fields: no copy of either name is needed
        // to look one up while holding the other.
        let Some(inst) = self.instances.get(&id) else {
            return;
        };
        let Some(class) = self.classes.get_mut(&inst.config.name) else {
            return;
        };
        match kept {
            Some(env) => class.stopped.insert(inst.name.to_string(), env),
            None => class.stopped.remove(&inst.name),
        }
    }
}
