//! Environments: what an instance, an event and a process are given.

use super::*;

pub(super) fn parse_env_args(env: &[String]) -> Result<Env, String> {
    env.iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err("Env must be KEY=VALUE pairs".to_string()),
        })
        .collect()
}

/// Sets `key` in `env`, replacing an earlier value in place.
pub(super) fn env_set(env: &mut Env, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

/// The environment a fired condition hands on: each matched event's variables in tree order,
/// then `events_var` (`UPSTART_EVENTS` / `UPSTART_STOP_EVENTS`) naming them.
pub(super) fn matched_env(matched: &[Matched], events_var: &str) -> Env {
    let mut env = Env::new();
    for m in matched {
        env_merge(&mut env, &m.env);
    }
    let names: Vec<&str> = matched.iter().map(|m| m.name.as_str()).collect();
    env.push((events_var.into(), names.join(" ")));
    env
}

/// The live events among those matched: they wait for the job they started or stopped.
pub(super) fn event_waiters(matched: &[Matched]) -> Vec<Waiter> {
    matched
        .iter()
        .filter_map(|m| m.event)
        .map(Waiter::Event)
        .collect()
}

/// The base environment with an instance's own variables over it.
pub(super) fn full_env(base: &Env, overlay: &Env) -> Env {
    let mut env = base.clone();
    env_merge(&mut env, overlay);
    env
}

/// The job environment table an instance's variables lie over: the one its run started
/// with if the table changed since, else the current one.
pub(super) fn base_of<'a>(table: &'a Env, inst: &'a Instance) -> &'a Env {
    inst.rare().base.as_deref().unwrap_or(table)
}

/// `full_env` over an instance's packed variables.
pub(super) fn full_env_packed(base: &Env, overlay: &PackedEnv) -> Env {
    let mut env = base.clone();
    if overlay.len() <= 8 {
        // As `env_merge` does for small merges.
        for (k, v) in overlay.iter() {
            env_set(&mut env, k, v);
        }
    } else {
        env_merge(&mut env, &overlay.to_env());
    }
    env
}

/// An environment packed in one buffer, keys and values end to end, with where each ends:
/// what an instance holds for its whole life. As owned pairs, `UPSTART_EVENTS`,
/// `UPSTART_JOB` and `UPSTART_INSTANCE` cost six small allocations and a vector (about
/// 320 B with the allocator's overhead); packed, two allocations (issue 11 item 3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct PackedEnv {
    text: Box<str>,
    /// Per pair, in order: where its key ends and where its value ends in `text` (an
    /// environment is far below 4 GiB: the kernel takes at most a quarter of the stack).
    ends: Box<[(u32, u32)]>,
}

impl PackedEnv {
    pub(super) fn new(env: &Env) -> Self {
        let mut text = String::with_capacity(env.iter().map(|(k, v)| k.len() + v.len()).sum());
        let mut ends = Vec::with_capacity(env.len());
        let at = |text: &String| u32::try_from(text.len()).unwrap_or(u32::MAX);
        for (k, v) in env {
            text.push_str(k);
            let key_end = at(&text);
            text.push_str(v);
            ends.push((key_end, at(&text)));
        }
        PackedEnv {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The pairs in order.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> {
        (0..self.ends.len()).map(|i| {
            let start = i
                .checked_sub(1)
                .and_then(|p| self.ends.get(p))
                .map_or(0, |&(_, end)| end);
            let (key_end, end) = self.ends.get(i).copied().unwrap_or_default();
            let (start, key_end, end) = (start as usize, key_end as usize, end as usize);
            (
                self.text.get(start..key_end).unwrap_or_default(),
                self.text.get(key_end..end).unwrap_or_default(),
            )
        })
    }

    pub(super) fn to_env(&self) -> Env {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Sets every pair of `more` in `env` as `env_set` would, one after another, in time linear
/// in both sizes (issue 10 item 14: an event with 30,000 variables took seconds).
pub(super) fn env_merge(env: &mut Env, more: &Env) {
    // Small merges (the usual case) are cheaper without building an index.
    if more
        .len()
        .saturating_mul(env.len().saturating_add(more.len()))
        <= 256
    {
        for (k, v) in more {
            env_set(env, k, v);
        }
        return;
    }
    enum Step {
        Set(usize, usize),
        Push(usize),
    }
    let steps: Vec<Step> = {
        // Each key's first position, as `env_set` finds the first.
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(env.len() + more.len());
        for (i, (k, _)) in env.iter().enumerate() {
            index.entry(k.as_str()).or_insert(i);
        }
        let mut next = env.len();
        more.iter()
            .enumerate()
            .map(|(j, (k, _))| match index.get(k.as_str()) {
                Some(&i) => Step::Set(i, j),
                None => {
                    index.insert(k.as_str(), next);
                    next += 1;
                    Step::Push(j)
                }
            })
            .collect()
    };
    for step in steps {
        match step {
            Step::Set(i, j) => {
                if let (Some(slot), Some((_, v))) = (env.get_mut(i), more.get(j)) {
                    slot.1.clone_from(v);
                }
            }
            Step::Push(j) => {
                if let Some(pair) = more.get(j) {
                    env.push(pair.clone());
                }
            }
        }
    }
}

impl Engine {
    /// What an instance of `config` adds to the base environment: its `env` stanzas, then the
    /// start environment. Kept apart from the base so a thousand instances do not hold a
    /// thousand copies of it.
    pub(super) fn job_env(&self, config: &JobConfig, start_env: &Env) -> Env {
        let mut env = Env::new();
        for e in &config.env {
            match &e.value {
                Some(v) => env_set(&mut env, &e.key, v),
                None => {
                    if let Some((_, v)) = self.opts.daemon_env.iter().find(|(k, _)| *k == e.key) {
                        env_set(&mut env, &e.key, v);
                    }
                }
            }
        }
        env_merge(&mut env, start_env);
        env
    }

    /// Environment for a process of the instance.
    pub(super) fn process_env(base: &Env, inst: &Instance, kind: ProcessKind) -> Env {
        let mut env = full_env_packed(base, &inst.env);
        if matches!(kind, ProcessKind::PreStop | ProcessKind::PostStop) {
            env_merge(&mut env, &inst.rare().stop_env);
        }
        if kind == ProcessKind::Main
            && inst.config.expect == Expect::Notify
            && let Some(w) = inst.config.watchdog
        {
            env_set(
                &mut env,
                "WATCHDOG_USEC",
                &(u64::from(w) * 1_000_000).to_string(),
            );
        }
        // outset: post-stop, and pre-start after a run, learn how the last run ended.
        if matches!(kind, ProcessKind::PostStop | ProcessKind::PreStart)
            && let Some(end) = inst.end.or_else(|| {
                inst.main_exit.map(|s| RunEnd {
                    failed: false,
                    process: EndedIn::Process(ProcessKind::Main),
                    status: Some(s),
                })
            })
        {
            env_set(&mut env, "RESULT", if end.failed { "failed" } else { "ok" });
            env_set(&mut env, "PROCESS", end.process.as_str());
            let status = end.status.or(inst.main_exit);
            if let Some(s) = status {
                let (k, v) = s.env_pair();
                env_set(&mut env, &k, &v);
            }
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(n: usize) -> Env {
        (0..n)
            .map(|i| (format!("K{}", i % 7), format!("v{i}é")))
            .collect()
    }

    /// Issue 11 item 3: an instance's packed environment gives back exactly the pairs it was
    /// made of (order, duplicates, empty keys and values), and the process environment made
    /// from it is the one made from the pairs.
    #[test]
    fn issue11_item3_packed_env_is_the_env_it_was_made_of() {
        let base: Env = vec![("PATH".into(), "/bin".into()), ("K3".into(), "old".into())];
        for env in [
            Env::new(),
            vec![
                ("UPSTART_EVENTS".into(), "go".into()),
                ("UPSTART_JOB".into(), "j0001".into()),
                ("UPSTART_INSTANCE".into(), String::new()),
                (String::new(), "x=y".into()),
            ],
            pairs(5),
            pairs(40),
        ] {
            let packed = PackedEnv::new(&env);
            assert_eq!(packed.len(), env.len());
            assert_eq!(packed.to_env(), env);
            let rev: Vec<(&str, &str)> = packed.iter().rev().collect();
            let want: Vec<(&str, &str)> = env
                .iter()
                .rev()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(rev, want);
            assert_eq!(full_env_packed(&base, &packed), full_env(&base, &env));
        }
    }
}
