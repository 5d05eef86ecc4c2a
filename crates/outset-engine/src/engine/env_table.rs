//! The job environment table: `list-env`, `get-env`, `set-env`, `unset-env`, `reset-env`.
//!
//! As Upstart's: without a job the commands act on the global table, which every instance
//! started from then on is based on (under its `env` stanzas and its start environment);
//! with a job and instance (what `initctl` sends from inside a job) they act on that running
//! instance's own environment, which its later processes receive. A running instance keeps
//! the table it started with: a change of the global table leaves it a snapshot.

use super::*;

/// Which environment a table command acts on.
enum Target {
    Global,
    Instance(InstanceId),
}

impl Engine {
    fn env_target(&self, job: Option<&str>, instance: Option<&str>) -> Result<Target, String> {
        let Some(job) = job else {
            return Ok(Target::Global);
        };
        if job.is_empty() {
            return Err("Job may not be empty string".into());
        }
        let class = self
            .classes
            .get(job)
            .ok_or_else(|| format!("Unknown job: {job}"))?;
        let name = instance.unwrap_or("");
        class
            .instances
            .get(name)
            .map(|id| Target::Instance(*id))
            .ok_or_else(|| format!("Unknown instance: {name}"))
    }

    /// The full environment of an instance, as its next process would get it (before the
    /// per-process variables).
    fn instance_env(&self, id: InstanceId) -> Env {
        self.instances
            .get(&id)
            .map(|i| full_env_packed(base_of(&self.env_table, i), &i.env))
            .unwrap_or_default()
    }

    /// Replaces an instance's environment by `env`, all of it its own from now on.
    fn set_instance_env(&mut self, id: InstanceId, env: &Env) {
        if let Some(inst) = self.instances.get_mut(&id) {
            inst.env = PackedEnv::new(env);
            inst.rare_mut().base = Some(Rc::new(Env::new()));
        }
    }

    /// Changes the global table: first every instance in a run keeps the table it started
    /// with.
    fn change_table(
        &mut self,
        change: impl FnOnce(&mut Env) -> Result<(), String>,
    ) -> Result<(), String> {
        if self.opts.fixed_env_table {
            return Err("Not permissible to modify PID 1 job environment".into());
        }
        let mut table = Env::clone(&self.env_table);
        change(&mut table)?;
        let old = std::mem::replace(&mut self.env_table, Rc::new(table));
        for inst in self.instances.values_mut() {
            if inst.state != State::Waiting && inst.rare().base.is_none() {
                inst.rare_mut().base = Some(old.clone());
            }
        }
        Ok(())
    }

    pub(super) fn cmd_list_env(
        &self,
        job: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Option<Response>, String> {
        let env = match self.env_target(job, instance)? {
            Target::Global => Env::clone(&self.env_table),
            Target::Instance(id) => self.instance_env(id),
        };
        let list = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(Some(Response::Ok {
            body: Body::Env(list),
        }))
    }

    pub(super) fn cmd_get_env(
        &self,
        name: &str,
        job: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Option<Response>, String> {
        if name.is_empty() {
            return Err("Variable may not be empty string".into());
        }
        let target = self.env_target(job, instance)?;
        let found = match target {
            Target::Global => self.env_table.iter().find(|(k, _)| k == name).cloned(),
            Target::Instance(id) => self.instance_env(id).into_iter().find(|(k, _)| k == name),
        };
        match found {
            Some((_, v)) => Ok(Some(Response::Ok {
                body: Body::Value(v),
            })),
            None => Err(format!("No such variable: {name}")),
        }
    }

    pub(super) fn cmd_set_env(
        &mut self,
        vars: &[String],
        retain: bool,
        job: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Option<Response>, String> {
        let target = self.env_target(job, instance)?;
        // A bare `KEY` is `KEY=`, as Upstart's SetEnvList makes it.
        let mut pairs = Vec::with_capacity(vars.len());
        for v in vars {
            let (k, val) = v.split_once('=').unwrap_or((v.as_str(), ""));
            if k.is_empty() {
                return Err("Variable may not be empty string".into());
            }
            pairs.push((k.to_string(), val.to_string()));
        }
        let apply = |env: &mut Env| {
            for (k, v) in &pairs {
                if !(retain && env.iter().any(|(e, _)| e == k)) {
                    env_set(env, k, v);
                }
            }
        };
        match target {
            Target::Global => self.change_table(|t| {
                apply(t);
                Ok(())
            })?,
            Target::Instance(id) => {
                let mut env = self.instance_env(id);
                apply(&mut env);
                self.set_instance_env(id, &env);
            }
        }
        Ok(Some(Response::Ok { body: Body::Done }))
    }

    pub(super) fn cmd_unset_env(
        &mut self,
        names: &[String],
        job: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Option<Response>, String> {
        let target = self.env_target(job, instance)?;
        let remove = |env: &mut Env| -> Result<(), String> {
            for name in names {
                if name.is_empty() {
                    return Err("Variable may not be empty string".into());
                }
                let before = env.len();
                env.retain(|(k, _)| k != name);
                if env.len() == before {
                    return Err(format!("No such variable: {name}"));
                }
            }
            Ok(())
        };
        match target {
            Target::Global => self.change_table(remove)?,
            Target::Instance(id) => {
                let mut env = self.instance_env(id);
                remove(&mut env)?;
                self.set_instance_env(id, &env);
            }
        }
        Ok(Some(Response::Ok { body: Body::Done }))
    }

    pub(super) fn cmd_reset_env(
        &mut self,
        job: Option<&str>,
        instance: Option<&str>,
    ) -> Result<Option<Response>, String> {
        match self.env_target(job, instance)? {
            Target::Global => {
                let default = self.opts.base_env.clone();
                self.change_table(|t| {
                    *t = default;
                    Ok(())
                })?;
            }
            // What the job gives a new instance: the table and its `env` stanzas; the
            // instance keeps its name variables, which `initctl` inside it relies on.
            Target::Instance(id) => {
                let Some(inst) = self.instances.get(&id) else {
                    return Err(format!("Unknown instance: {}", instance.unwrap_or("")));
                };
                let (job, name) = (inst.config.name.clone(), inst.name.clone());
                let mut own = self.job_env(&inst.config, &Env::new());
                env_set(&mut own, "UPSTART_JOB", &job);
                env_set(&mut own, "UPSTART_INSTANCE", &name);
                let env = full_env(&self.env_table, &own);
                self.set_instance_env(id, &env);
            }
        }
        Ok(Some(Response::Ok { body: Body::Done }))
    }

    /// A job's `usage` stanza (empty when it has none, as Upstart's `usage` property).
    pub(super) fn cmd_usage(&self, job: &str) -> Result<Option<Response>, String> {
        let class = self
            .classes
            .get(job)
            .ok_or_else(|| format!("Unknown job: {job}"))?;
        Ok(Some(Response::Ok {
            body: Body::Value(class.config.usage.clone().unwrap_or_default()),
        }))
    }
}
