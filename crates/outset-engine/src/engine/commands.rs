//! Client commands and their replies: start, stop, restart, reload, status, list, emit,
//! show-config, version; and the waiters answered when an instance reaches its goal.

use super::*;

impl Engine {
    /// Sets every instance's goal to stop (shutdown). From now on no goal turns to start:
    /// events are still delivered (and `stop on` still acts), but nothing new starts, no
    /// instance respawns and `start`/`restart` are refused, so the engine ends up idle.
    pub fn stop_all(&mut self, fx: &mut dyn Effects) {
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
                let full = full_env(&self.opts.base_env, &self.job_env(&class.config, env));
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
                    &full_env(&self.opts.base_env, &self.job_env(&class.config, env)),
                )
                .ok()
            })
            .unwrap_or_default();
        format!("Unknown instance: {name}")
    }

    /// Carries out a client's command. `reload-configuration` is the host's to do.
    pub fn command(&mut self, cmd: Command, token: ReplyToken, fx: &mut dyn Effects) {
        let reply = self.command_inner(cmd, token, fx);
        if let Some(r) = reply {
            fx.reply(token, r);
        }
        self.run(fx);
    }

    pub(super) fn command_inner(
        &mut self,
        cmd: Command,
        token: ReplyToken,
        fx: &mut dyn Effects,
    ) -> Option<Response> {
        let err = |e: String| Some(Response::error(e));
        match cmd {
            Command::Start { job, env, wait } => {
                let env = match parse_env_args(&env) {
                    Ok(e) => e,
                    Err(e) => return err(e),
                };
                let waiters = if wait {
                    vec![Waiter::Command(token, Goal::Start)]
                } else {
                    vec![]
                };
                match self.start_instance(&job, env, waiters, true) {
                    Ok(id) if !wait => Some(self.instances_reply(vec![id])),
                    Ok(_) => None,
                    Err(e) => err(e.message()),
                }
            }
            Command::Stop {
                job,
                instance,
                env,
                wait,
            } => {
                let (id, env) = match self.resolve(&job, instance.as_deref(), &env) {
                    Ok(found) => found,
                    Err(e) => return err(e),
                };
                let Some(inst) = self.instances.get_mut(&id) else {
                    return err(self.unknown_instance(&job, instance.as_deref(), &env));
                };
                if inst.goal == Goal::Stop {
                    return err(format!(
                        "Job has already been stopped: {}",
                        display_name(&inst.job, &inst.name)
                    ));
                }
                inst.stop_env = env;
                if wait {
                    inst.waiters.push(Waiter::Command(token, Goal::Stop));
                }
                self.change_goal(id, Goal::Stop);
                if wait {
                    None
                } else {
                    Some(self.instances_reply(vec![id]))
                }
            }
            Command::Restart {
                job,
                instance,
                env,
                wait,
            } => {
                let (id, env) = match self.resolve(&job, instance.as_deref(), &env) {
                    Ok(found) => found,
                    Err(e) => return err(e),
                };
                let Some(inst) = self.instances.get_mut(&id) else {
                    return err(self.unknown_instance(&job, instance.as_deref(), &env));
                };
                if inst.goal != Goal::Start {
                    return err(format!(
                        "Job is not running: {}",
                        display_name(&inst.job, &inst.name)
                    ));
                }
                if wait {
                    inst.waiters.push(Waiter::Command(token, Goal::Start));
                }
                if inst.state == State::Running {
                    // Down and up again with the same environment, like a respawn.
                    self.runnable.push_back((id, State::Stopping));
                }
                if wait {
                    None
                } else {
                    Some(self.instances_reply(vec![id]))
                }
            }
            Command::Reload { job, instance, env } => {
                let (id, _) = match self.resolve(&job, instance.as_deref(), &env) {
                    Ok(found) => found,
                    Err(e) => return err(e),
                };
                let target = self.instances.get(&id).and_then(|i| {
                    i.pids
                        .get(&ProcessKind::Main)
                        .map(|p| (*p, i.config.reload_signal))
                });
                match target {
                    Some((pid, sig)) => {
                        fx.signal(id, pid, sig, false);
                        Some(Response::Ok { body: Body::Done })
                    }
                    None => err(format!("Job is not running: {job}")),
                }
            }
            Command::Status {
                job,
                instance,
                env,
                all,
            } => {
                let env = match parse_env_args(&env) {
                    Ok(e) => e,
                    Err(e) => return err(e),
                };
                let Some(class) = self.classes.get(&job) else {
                    return err(format!("Unknown job: {job}"));
                };
                let ids: Vec<InstanceId> = if env.is_empty() && instance.is_none() {
                    class.instances.values().copied().collect()
                } else {
                    match self.find_instance(&job, instance.as_deref(), &env) {
                        Ok(Some(id)) => vec![id],
                        Ok(None) if class.config.instance.is_none() => vec![],
                        Ok(None) => {
                            return err(self.unknown_instance(&job, instance.as_deref(), &env));
                        }
                        Err(e) => return err(e),
                    }
                };
                if ids.is_empty() {
                    return Some(Response::Ok {
                        body: Body::Instances(vec![self.waiting_status(&job)]),
                    });
                }
                let mut list: Vec<InstanceStatus> =
                    ids.iter().filter_map(|id| self.status_of(*id)).collect();
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
                Some(Response::Ok {
                    body: Body::Instances(list),
                })
            }
            Command::List => {
                let mut all = Vec::new();
                for (name, class) in &self.classes {
                    if class.instances.is_empty() {
                        all.push(self.waiting_status(name));
                    }
                    for id in class.instances.values() {
                        all.extend(self.status_of(*id));
                    }
                }
                Some(Response::Ok {
                    body: Body::Instances(all),
                })
            }
            Command::Emit { event, env, wait } => {
                let env = match parse_env_args(&env) {
                    Ok(e) => e,
                    Err(e) => return err(e),
                };
                if event.is_empty() || event.contains(char::is_whitespace) {
                    return err(format!("Invalid event name: {event:?}"));
                }
                let reply = wait.then_some(token);
                self.queue_event(&event, env, Origin::External(reply));
                if wait {
                    None
                } else {
                    Some(Response::Ok { body: Body::Done })
                }
            }
            Command::ShowConfig { job } => {
                let texts: Vec<JobText> = self
                    .classes
                    .values()
                    .filter(|c| job.as_ref().is_none_or(|j| *j == c.config.name))
                    .map(|c| JobText {
                        name: c.config.name.clone(),
                        text: outset_job::render(&c.config),
                    })
                    .collect();
                match (&job, texts.is_empty()) {
                    (Some(j), true) => err(format!("Unknown job: {j}")),
                    _ => Some(Response::Ok {
                        body: Body::Configs(texts),
                    }),
                }
            }
            Command::Version => Some(Response::Ok {
                body: Body::Version(self.opts.version.clone()),
            }),
            Command::ReloadConfiguration => Some(Response::Ok { body: Body::Done }),
        }
    }

    pub(super) fn waiting_status(&self, job: &str) -> InstanceStatus {
        InstanceStatus {
            job: job.to_string(),
            instance: String::new(),
            goal: "stop".into(),
            state: "waiting".into(),
            processes: vec![],
            notes: vec![],
            history: vec![],
            members: vec![],
        }
    }

    pub(super) fn status_of(&self, id: InstanceId) -> Option<InstanceStatus> {
        let inst = self.instances.get(&id)?;
        let mut processes: Vec<ProcessStatus> = inst
            .pids
            .iter()
            .map(|(k, p)| ProcessStatus {
                kind: k.as_str().into(),
                pid: *p,
            })
            .collect();
        processes.sort_by_key(|p| p.kind != "main");
        let mut notes: Vec<String> = inst.notify_status.iter().cloned().collect();
        if inst.readying {
            notes.push("waiting for `ready on`".into());
        }
        if inst.config.console == outset_job::Console::Log {
            notes.push("console log: output is discarded until log capture is available".into());
        }
        Some(InstanceStatus {
            job: inst.job.clone(),
            instance: inst.name.clone(),
            goal: inst.goal.as_str().into(),
            state: inst.state.as_str().into(),
            processes,
            notes,
            history: inst
                .history
                .iter()
                .map(|(k, p)| ProcessStatus {
                    kind: k.as_str().into(),
                    pid: *p,
                })
                .collect(),
            members: vec![],
        })
    }

    pub(super) fn instances_reply(&self, ids: Vec<InstanceId>) -> Response {
        Response::Ok {
            body: Body::Instances(ids.into_iter().filter_map(|i| self.status_of(i)).collect()),
        }
    }

    pub(super) fn release_waiters(&mut self, id: InstanceId, failed: bool, fx: &mut dyn Effects) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let waiters = std::mem::take(&mut inst.waiters);
        // A service's start waiter still waiting when the instance is back to waiting never
        // saw it run.
        let never_ran = inst.state == State::Waiting && !inst.config.task;
        let name = display_name(&inst.job, &inst.name);
        let status = self.status_of(id);
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
                Waiter::Command(token, _) => {
                    fx.reply(
                        token,
                        Response::Ok {
                            body: Body::Instances(status.clone().into_iter().collect()),
                        },
                    );
                }
            }
        }
    }
}
