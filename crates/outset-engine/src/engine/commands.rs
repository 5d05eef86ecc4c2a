//! Client commands and their replies: start, stop, restart, reload, status, list, emit,
//! show-config, version, usage (the job environment table's are `env_table`'s); and the waiters answered when an instance reaches its goal.

use super::*;

impl Engine {
    /// Sets every instance's goal to stop (shutdown). From now on no goal turns to start:
    /// events are still delivered (and `stop on` still acts), but nothing new starts, no
    /// instance respawns and `start`/`restart` are refused, so the engine ends up idle.
    pub fn stop_all(&mut self, fx: &mut dyn Host) {
        self.shutting_down = true;
        for id in self.instance_ids() {
            self.change_goal(id, Goal::Stop);
        }
        self.run(fx);
    }

    pub(super) fn find_instance(
        &self,
        job: &str,
        instance: Option<&str>,
        env: &Env,
    ) -> Result<Option<InstanceId>, String> {
        let class = self
            .classes
            .get(job)
            .ok_or_else(|| format!("Unknown job: {job}"))?;
        if let Some(name) = instance {
            return Ok(class.instances.get(name).copied());
        }
        let name = match &class.config.instance {
            Some(t) => {
                let full = full_env(&self.env_table, &self.job_env(&class.config, env));
                match expand_env(t, &full) {
                    Ok(n) => n,
                    // An instance job named without its variables: the only instance, if
                    // there is exactly one.
                    Err(e) if env.is_empty() => {
                        return match class.instances.len() {
                            1 => Ok(class.instances.values().next().copied()),
                            _ => Err(e.to_string()),
                        };
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            None => String::new(),
        };
        Ok(class.instances.get(&name).copied())
    }

    /// The running instance a command names: its env checked, then found by name or env.
    pub(super) fn resolve(
        &self,
        job: &str,
        instance: Option<&str>,
        env: &[String],
    ) -> Result<(InstanceId, Env), String> {
        let env = parse_env_args(env)?;
        match self.find_instance(job, instance, &env)? {
            Some(id) => Ok((id, env)),
            None => Err(self.unknown_instance(job, instance, &env)),
        }
    }

    /// Upstart's error names the instance only (empty for a job without `instance`).
    pub(super) fn unknown_instance(&self, job: &str, instance: Option<&str>, env: &Env) -> String {
        if let Some(name) = instance {
            return format!("Unknown instance: {name}");
        }
        let name = self
            .classes
            .get(job)
            .and_then(|c| c.config.instance.as_ref())
            .and_then(|t| {
                let class = self.classes.get(job)?;
                expand_env(
                    t,
                    &full_env(&self.env_table, &self.job_env(&class.config, env)),
                )
                .ok()
            })
            .unwrap_or_default();
        format!("Unknown instance: {name}")
    }

    /// A job's definition.
    pub fn config(&self, job: &str) -> Option<&JobConfig> {
        self.classes.get(job).map(|c| c.config.as_ref())
    }

    /// The names of a job's live instances (`None`: no such job).
    pub fn instance_names(&self, job: &str) -> Option<Vec<String>> {
        let class = self.classes.get(job)?;
        Some(
            class
                .instances
                .values()
                .filter_map(|id| self.instances.get(id).map(|i| i.name.to_string()))
                .collect(),
        )
    }

    /// The status of one live instance, by name.
    pub fn instance_status(&self, job: &str, name: &str) -> Option<InstanceStatus> {
        let id = self.classes.get(job)?.instances.get(name)?;
        self.status_of(*id)
    }

    /// The name of the live instance `env` selects (Upstart's `GetInstance`), `Ok(None)`
    /// when it has none; errors as `status` gives them.
    pub fn instance_for_env(&self, job: &str, env: &[String]) -> Result<Option<String>, String> {
        let env = parse_env_args(env)?;
        let id = self.find_instance(job, None, &env)?;
        Ok(id.and_then(|id| self.instances.get(&id).map(|i| i.name.to_string())))
    }

    /// The environment an instance was started with (`KEY=VALUE`), which names it again.
    pub fn instance_start_env(&self, job: &str, name: &str) -> Option<Vec<String>> {
        let id = self.classes.get(job)?.instances.get(name)?;
        let inst = self.instances.get(id)?;
        Some(inst.env.iter().map(|(k, v)| format!("{k}={v}")).collect())
    }

    /// Carries out a client's command. `reload-configuration` is the host's to do.
    pub fn command(&mut self, cmd: Command, token: ReplyToken, fx: &mut dyn Host) {
        let reply = self.command_inner(cmd, token, fx);
        if let Some(r) = reply {
            fx.reply(token, r);
        }
        self.run(fx);
    }

    /// `emit` with an fd sent along (`EmitEventWithFile`), known to the engine only by the
    /// host's id `fd`: the processes of the runs the event starts are given it (see
    /// `SpawnSpec::event_fd`) until the event finishes, when `release_event_fd` tells the
    /// host to close it. Any other command, or an `emit` refused, releases it at once.
    pub fn command_with_fd(&mut self, cmd: Command, fd: u64, token: ReplyToken, fx: &mut dyn Host) {
        if matches!(cmd, Command::Emit { .. }) {
            self.incoming_fd = Some(fd);
        } else {
            fx.release_event_fd(fd);
        }
        let reply = self.command_inner(cmd, token, fx);
        if let Some(fd) = self.incoming_fd.take() {
            fx.release_event_fd(fd);
        }
        if let Some(r) = reply {
            fx.reply(token, r);
        }
        self.run(fx);
    }

    /// A command's immediate reply, or `None` when the client waits for the goal.
    pub(super) fn command_inner(
        &mut self,
        cmd: Command,
        token: ReplyToken,
        fx: &mut dyn Host,
    ) -> Option<Response> {
        let reply = match cmd {
            Command::Start { job, env, wait } => self.cmd_start(&job, &env, wait, token),
            Command::Stop {
                job,
                instance,
                env,
                wait,
            } => self.cmd_stop(&job, instance.as_deref(), &env, wait.then_some(token)),
            Command::Restart {
                job,
                instance,
                env,
                wait,
            } => self.cmd_restart(&job, instance.as_deref(), &env, wait.then_some(token)),
            Command::Reload { job, instance, env } => {
                self.cmd_reload(&job, instance.as_deref(), &env, fx)
            }
            Command::Status {
                job,
                instance,
                env,
                all,
            } => self.cmd_status(&job, instance.as_deref(), &env, all, fx),
            Command::List => Ok(Some(self.cmd_list())),
            Command::Emit { event, env, wait } => self.cmd_emit(&event, &env, wait, token),
            Command::ShowConfig { job } => self.cmd_show_config(job.as_deref()),
            Command::Version => Ok(Some(Response::Ok {
                body: Body::Version(self.opts.version.clone()),
            })),
            Command::ListEnv { job, instance } => {
                self.cmd_list_env(job.as_deref(), instance.as_deref())
            }
            Command::GetEnv {
                name,
                job,
                instance,
            } => self.cmd_get_env(&name, job.as_deref(), instance.as_deref()),
            Command::SetEnv {
                env,
                retain,
                job,
                instance,
            } => self.cmd_set_env(&env, retain, job.as_deref(), instance.as_deref()),
            Command::UnsetEnv {
                names,
                job,
                instance,
            } => self.cmd_unset_env(&names, job.as_deref(), instance.as_deref()),
            Command::ResetEnv { job, instance } => {
                self.cmd_reset_env(job.as_deref(), instance.as_deref())
            }
            Command::Usage { job } => self.cmd_usage(&job),
            // The host's to do, as reload-configuration.
            Command::ReloadConfiguration
            | Command::NotifyDbusAddress { .. }
            | Command::NotifyCgroupManagerAddress { .. } => {
                Ok(Some(Response::Ok { body: Body::Done }))
            }
            // The host's: they act on the machine, not on jobs.
            Command::Shutdown { .. }
            | Command::CancelShutdown
            | Command::Telinit { .. }
            | Command::Runlevel => Err("not a job command: the daemon answers it".to_string()),
            // The daemon's own: it replaces its image (docs/reexec.md).
            Command::Reexec { .. } => Err("reexec is done by the daemon, not the engine".into()),
            // The host's own: job output and the daemon's log are not engine state.
            Command::Log { .. }
            | Command::NotifyDiskWriteable
            | Command::LogPriority { .. }
            | Command::Monitor
            | Command::History { .. } => Err("not a command of the job engine".to_string()),
        };
        reply.unwrap_or_else(|e| Some(Response::error(e)))
    }

    fn cmd_start(
        &mut self,
        job: &str,
        env: &[String],
        wait: bool,
        token: ReplyToken,
    ) -> Result<Option<Response>, String> {
        let env = parse_env_args(env)?;
        let waiters = if wait {
            vec![Waiter::Command(token, Goal::Start)]
        } else {
            vec![]
        };
        match self.start_instance(job, env, waiters, true) {
            Ok(id) if !wait => Ok(Some(self.instances_reply(vec![id]))),
            Ok(_) => Ok(None),
            Err(e) => Err(e.message()),
        }
    }

    fn cmd_stop(
        &mut self,
        job: &str,
        instance: Option<&str>,
        env: &[String],
        waiter: Option<ReplyToken>,
    ) -> Result<Option<Response>, String> {
        let (id, env) = self.resolve(job, instance, env)?;
        let Some(inst) = self.instances.get_mut(&id) else {
            return Err(self.unknown_instance(job, instance, &env));
        };
        if inst.goal == Goal::Stop {
            return Err(format!(
                "Job has already been stopped: {}",
                display_name(&inst.config.name, &inst.name)
            ));
        }
        inst.set_stop_env(env);
        if let Some(token) = waiter {
            inst.waiters.push(Waiter::Command(token, Goal::Stop));
        }
        self.change_goal(id, Goal::Stop);
        Ok(waiter.is_none().then(|| self.instances_reply(vec![id])))
    }

    fn cmd_restart(
        &mut self,
        job: &str,
        instance: Option<&str>,
        env: &[String],
        waiter: Option<ReplyToken>,
    ) -> Result<Option<Response>, String> {
        let (id, env) = self.resolve(job, instance, env)?;
        let Some(inst) = self.instances.get_mut(&id) else {
            return Err(self.unknown_instance(job, instance, &env));
        };
        if inst.goal != Goal::Start {
            return Err(format!(
                "Job is not running: {}",
                display_name(&inst.config.name, &inst.name)
            ));
        }
        if let Some(token) = waiter {
            inst.waiters.push(Waiter::Command(token, Goal::Start));
        }
        if inst.state == State::Running {
            // Down and up again with the same environment, like a respawn.
            self.runnable.push_back((id, State::Stopping));
        }
        Ok(waiter.is_none().then(|| self.instances_reply(vec![id])))
    }

    /// `reload`: the reload signal to the main process alone, as Upstart.
    fn cmd_reload(
        &mut self,
        job: &str,
        instance: Option<&str>,
        env: &[String],
        fx: &mut dyn Host,
    ) -> Result<Option<Response>, String> {
        let (id, _) = self.resolve(job, instance, env)?;
        let target = self.instances.get(&id).and_then(|i| {
            i.pids
                .get(&ProcessKind::Main)
                .map(|p| (p, i.config.reload_signal))
        });
        let (pid, sig) = target.ok_or_else(|| format!("Job is not running: {job}"))?;
        fx.signal(id, pid, sig, false);
        Ok(Some(Response::Ok { body: Body::Done }))
    }

    fn cmd_status(
        &mut self,
        job: &str,
        instance: Option<&str>,
        env: &[String],
        all: bool,
        fx: &mut dyn Host,
    ) -> Result<Option<Response>, String> {
        let env = parse_env_args(env)?;
        let class = self
            .classes
            .get(job)
            .ok_or_else(|| format!("Unknown job: {job}"))?;
        let ids: Vec<InstanceId> = if env.is_empty() && instance.is_none() {
            class.instances.values().copied().collect()
        } else {
            match self.find_instance(job, instance, &env)? {
                Some(id) => vec![id],
                None if class.config.instance.is_none() => vec![],
                None => return Err(self.unknown_instance(job, instance, &env)),
            }
        };
        if ids.is_empty() {
            return Ok(Some(Response::Ok {
                body: Body::Instances(vec![self.waiting_status(job)]),
            }));
        }
        let mut list: Vec<InstanceStatus> =
            ids.iter().filter_map(|id| self.status_of(*id)).collect();
        for (st, id) in list.iter_mut().zip(&ids) {
            st.resource_problems = fx.resource_problems(*id);
        }
        if all {
            for (st, id) in list.iter_mut().zip(&ids) {
                let pids = fx.processes(*id).unwrap_or_else(|e| {
                    log::warn!("status: cannot list processes: {e}");
                    Vec::new()
                });
                st.members = fx
                    .describe(&pids)
                    .into_iter()
                    .map(|(pid, command)| Member { pid, command })
                    .collect();
            }
        }
        Ok(Some(Response::Ok {
            body: Body::Instances(list),
        }))
    }

    fn cmd_list(&self) -> Response {
        let mut all = Vec::new();
        for (name, class) in &self.classes {
            if class.instances.is_empty() {
                all.push(self.waiting_status(name));
            }
            for id in class.instances.values() {
                all.extend(self.status_of(*id));
            }
        }
        Response::Ok {
            body: Body::Instances(all),
        }
    }

    fn cmd_emit(
        &mut self,
        event: &str,
        env: &[String],
        wait: bool,
        token: ReplyToken,
    ) -> Result<Option<Response>, String> {
        let env = parse_env_args(env)?;
        if event.is_empty() || event.contains(char::is_whitespace) {
            return Err(format!("Invalid event name: {event:?}"));
        }
        let id = self.queue_event(
            event.to_string().into(),
            env,
            Origin::External(wait.then_some(token)),
        );
        if let Some(e) = self.events.get_mut(&id) {
            e.fd = self.incoming_fd.take();
        }
        Ok((!wait).then_some(Response::Ok { body: Body::Done }))
    }

    fn cmd_show_config(&self, job: Option<&str>) -> Result<Option<Response>, String> {
        let texts: Vec<JobText> = self
            .classes
            .values()
            .filter(|c| job.is_none_or(|j| j == c.config.name))
            .map(|c| JobText {
                name: c.config.name.clone(),
                text: outset_job::render(&c.config),
            })
            .collect();
        match (job, texts.is_empty()) {
            (Some(j), true) => Err(format!("Unknown job: {j}")),
            _ => Ok(Some(Response::Ok {
                body: Body::Configs(texts),
            })),
        }
    }

    /// Where a `console log` instance's output goes, when the host keeps logs.
    fn log_path(&self, config: &outset_job::JobConfig, instance: &str) -> Option<String> {
        match &self.log_dir {
            Some(dir) if config.console == outset_job::Console::Log => Some(format!(
                "{}/{}",
                dir.trim_end_matches('/'),
                outset_job::log_file_name(&config.name, instance)
            )),
            _ => None,
        }
    }

    pub(super) fn waiting_status(&self, job: &str) -> InstanceStatus {
        let log = self
            .classes
            .get(job)
            .and_then(|c| self.log_path(&c.config, ""));
        InstanceStatus {
            job: job.to_string(),
            instance: String::new(),
            goal: "stop".into(),
            state: "waiting".into(),
            processes: vec![],
            notes: vec![],
            history: vec![],
            changed: None,
            spawned: None,
            ready: None,
            members: vec![],
            log,
            resource_problems: vec![],
        }
    }

    pub(super) fn status_of(&self, id: InstanceId) -> Option<InstanceStatus> {
        let inst = self.instances.get(&id)?;
        let mut processes: Vec<ProcessStatus> = inst
            .pids
            .iter()
            .map(|(k, p)| ProcessStatus {
                kind: k.as_str().into(),
                pid: p,
            })
            .collect();
        processes.sort_by_key(|p| p.kind != "main");
        let mut notes: Vec<String> = inst.rare().notify_status.iter().cloned().collect();
        if inst.phase == Phase::Readying {
            notes.push("waiting for `ready on`".into());
        }
        let log = self.log_path(&inst.config, &inst.name);
        let at = |ms: u64| (ms != 0).then(|| outset_proto::rfc3339_ms(ms));
        Some(InstanceStatus {
            job: inst.config.name.clone(),
            instance: inst.name.to_string(),
            goal: inst.goal.as_str().into(),
            state: inst.state.as_str().into(),
            processes,
            notes,
            history: inst
                .history
                .iter()
                .map(|(k, p)| ProcessStatus {
                    kind: k.as_str().into(),
                    pid: p,
                })
                .collect(),
            changed: at(inst.stamps.get(Stamp::Changed)),
            spawned: at(inst.stamps.get(Stamp::Spawned)),
            ready: at(inst.stamps.get(Stamp::Ready)),
            members: vec![],
            log,
            resource_problems: vec![],
        })
    }

    pub(super) fn instances_reply(&self, ids: Vec<InstanceId>) -> Response {
        Response::Ok {
            body: Body::Instances(ids.into_iter().filter_map(|i| self.status_of(i)).collect()),
        }
    }

    pub(super) fn release_waiters(&mut self, id: InstanceId, failed: bool, fx: &mut dyn Host) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let waiters = inst.waiters.take();
        // A service's start waiter still waiting when the instance is back to waiting never
        // saw it run.
        let never_ran = inst.state == State::Waiting && !inst.config.task;
        // Only a waiting client is told the name or the status: an instance that only
        // events wait for (a stop of every job on one event) builds neither.
        let clients = waiters.iter().any(|w| matches!(w, Waiter::Command(..)));
        let name = if clients {
            display_name(&inst.config.name, &inst.name)
        } else {
            String::new()
        };
        let status = if clients { self.status_of(id) } else { None };
        for w in waiters {
            match w {
                Waiter::Event(e) => self.unblock(e, failed),
                Waiter::Command(token, Goal::Start) if failed => {
                    fx.reply(
                        token,
                        Response::error(format!("Job failed to start: {name}")),
                    );
                }
                Waiter::Command(token, Goal::Start) if never_ran => {
                    fx.reply(
                        token,
                        Response::error(format!("Job was stopped before it started: {name}")),
                    );
                }
                Waiter::Command(token, goal) => {
                    let reply = Response::Ok {
                        body: Body::Instances(status.clone().into_iter().collect()),
                    };
                    // Up, unless its child fails before exec: held until the host knows.
                    if goal == Goal::Start && self.unconfirmed.contains(&id) {
                        self.held.push((id, token, reply));
                    } else {
                        fx.reply(token, reply);
                    }
                }
            }
        }
    }

    /// Every process spawned so far has exec'd or failed, and each failure was given through
    /// [`Engine::spawn_failed`]: the `start` replies held for them go out (issue 12: a
    /// failure inside the child reaches the `start` client, as in Upstart).
    pub fn spawns_confirmed(&mut self, fx: &mut dyn Host) {
        self.unconfirmed.clear();
        for (_, token, reply) in std::mem::take(&mut self.held) {
            fx.reply(token, reply);
        }
        self.run(fx);
    }

    /// Whether the engine waits for [`Engine::spawns_confirmed`].
    pub fn awaits_confirmation(&self) -> bool {
        !self.unconfirmed.is_empty() || !self.held.is_empty()
    }

    /// A main process spawned in this batch failed in its child: the `start` replies held
    /// for its instance wait again, to hear how the run ends.
    pub(super) fn unhold(&mut self, id: InstanceId) {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(i, ..)| *i == id);
        self.held = rest;
        if let Some(inst) = self.instances.get_mut(&id) {
            inst.waiters.extend(
                mine.into_iter()
                    .map(|(_, token, _)| Waiter::Command(token, Goal::Start)),
            );
        }
    }
}
