//! The engine: job classes, instances, the event queue and Upstart's state machine.
//!
//! Every input (an event, a command, a process exit, the clock) runs the machine until it
//! settles; effects go out through [`Effects`]. Nothing here touches the system.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

use outset_job::expand::expand_env;
use outset_job::{
    Arg, EventMatch, ExitCode, Expect, JobConfig, ProcessKind, ReadySource, RespawnLimit, Signal,
};
use outset_proto::{Body, Command, InstanceStatus, JobText, Member, ProcessStatus, Response};

use crate::condition::{Condition, JobStates, Matched, matches};
use crate::history::Stopped;
use crate::slots::Slots;
use crate::types::*;

/// A main process chosen from a launch chain that exits with 0 within this long was one more
/// link of the chain (a fork count one too low): the oldest process left takes over.
pub const SETTLE_MS: Millis = 2000;

/// How long a launch chain under `expect fork|daemon|exit` may take to give its counted exits,
/// from the launcher's spawn, when the job sets no `start timeout`. Then a launcher still
/// running is taken to be the main process itself, or the main process is chosen from what
/// is left: a wrong count costs this much, never a stuck job.
pub const LAUNCH_TIMEOUT_S: u32 = 10;

/// How long a job may wait for readiness (`expect notify`, `expect stop`, `ready on`) when it
/// sets no `start timeout`: a job that never gets ready fails then, so `start` always returns.
/// systemd's default start timeout, which is what daemons written for `READY=1` expect.
pub const READY_TIMEOUT_S: u32 = 90;

/// How often a `pid file` is looked at while a job waits for it.
pub const PIDFILE_POLL_MS: Millis = 50;

/// Upstart's default PATH for jobs.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Settings the host gives the engine.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The environment every job starts from (PATH, TERM; in user mode the daemon's own).
    pub base_env: Env,
    /// The daemon's environment, for bare `env KEY` stanzas.
    pub daemon_env: Env,
    /// The daemon's version, for the `version` command.
    pub version: String,
    /// `outset --track ptrace`: every job's main process is followed as with `track ptrace`.
    pub track_ptrace: bool,
}

/// Why a run failed, for RESULT/PROCESS/EXIT_* in events and in post-stop's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RunEnd {
    failed: bool,
    /// `main`, `pre-start`, …, or `respawn`.
    process: &'static str,
    status: Option<ExitStatus>,
}

/// Exit tracking in progress: the job is up once `needed` processes of the launch chain have
/// exited successfully (or the settle time has passed) and a process remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Await {
    /// `expect stop`: up when the main process stops itself instead.
    stop: bool,
    /// `expect notify`: up when the job sends READY=1.
    notify: bool,
    needed: u32,
    seen: u32,
    settle: Option<Millis>,
    /// `pid file`: the file is watched until then, then the oldest process is taken.
    pidfile_until: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiter {
    Event(EventId),
    /// A client waiting for the goal: `start` (a service running, a task finished) or
    /// `stop` (back to waiting).
    Command(ReplyToken, Goal),
}

struct Instance {
    id: InstanceId,
    job: String,
    name: String,
    /// The definition this instance started with; kept until it stops.
    config: Rc<JobConfig>,
    goal: Goal,
    state: State,
    env: Env,
    stop_env: Env,
    stop_on: Option<Condition>,
    pids: Slots,
    /// Every PID this instance has had, by process type.
    history: Vec<(ProcessKind, u32)>,
    /// The job event this instance is waiting on (its `starting` or `stopping`).
    blocker: Option<EventId>,
    /// Who waits for this instance to reach its goal.
    waiters: Vec<Waiter>,
    /// How the current (or last) run ended.
    end: Option<RunEnd>,
    /// The main process's exit, kept for post-stop even when the run did not fail.
    main_exit: Option<ExitStatus>,
    respawns: VecDeque<Millis>,
    kill_deadline: Option<Millis>,
    /// The launcher has been spawned and its expected forks are being tracked.
    awaiting: Option<Await>,
    /// Stopping: waiting for the instance's last process to go.
    draining: bool,
    /// The processes left after the main one have had the kill signal.
    rest_signalled: bool,
    /// When the main process was chosen from a launch chain's survivors.
    selected_at: Option<Millis>,
    /// `ready on`, with its latched events.
    /// Boxed: rare, and an instance is kept small (memory per running job).
    ready: Option<Box<Condition>>,
    /// Up (expect resolved) but waiting for `ready on` to hold.
    readying: bool,
    /// The readiness sources and their last known state.
    sources: Vec<(ReadySource, bool)>,
    /// A job not ready by then fails (`start timeout`).
    start_deadline: Option<Millis>,
    /// `watchdog`: the next WATCHDOG=1 is due by then.
    watchdog_deadline: Option<Millis>,
    /// The last STATUS= the job sent.
    notify_status: Option<String>,
    /// A hook (pre-start, post-start, pre-stop, post-stop) still running while the goal is
    /// stop gets the kill signal by then, and SIGKILL `kill timeout` later.
    hook_deadline: Option<Millis>,
    /// The running hook has had the kill signal; SIGKILL is next.
    hook_signalled: bool,
}

/// A job's instances by name, sorted: a small vector, as most jobs have one instance (a
/// map per job would cost hundreds of bytes each for a thousand jobs).
#[derive(Default)]
struct InstanceMap(Vec<(String, InstanceId)>);

impl InstanceMap {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    fn get(&self, name: &str) -> Option<&InstanceId> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    fn insert(&mut self, name: String, id: InstanceId) {
        match self.find(&name) {
            Ok(i) => self.0[i].1 = id,
            Err(i) => self.0.insert(i, (name, id)),
        }
    }

    fn remove(&mut self, name: &str) {
        if let Ok(i) = self.find(name) {
            self.0.remove(i);
        }
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
    }

    fn values(&self) -> impl Iterator<Item = &InstanceId> {
        self.0.iter().map(|(_, id)| id)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct Class {
    config: Rc<JobConfig>,
    start_on: Option<Condition>,
    instances: InstanceMap,
    /// The `stopped` event env of the latest instances that have stopped and gone.
    stopped: Stopped,
    /// Gone from disk: removed when its last instance stops.
    deleted: bool,
}

#[derive(Debug, Clone, Copy)]
enum Origin {
    /// Emitted by a client (waiting when a token is given) or by the host.
    External(Option<ReplyToken>),
    /// A job's own `starting`/`stopping`: the instance continues when it finishes.
    Job(InstanceId),
    Internal,
}

struct Event {
    name: String,
    env: Env,
    blockers: u32,
    failed: bool,
    origin: Origin,
    /// Still waiting in the queue to be handled.
    queued: bool,
}

/// The job engine.
pub struct Engine {
    opts: Options,
    now: Millis,
    /// Boxed: a map node holds eleven slots, and a class is large (memory per job).
    classes: BTreeMap<String, Box<Class>>,
    /// Boxed: a map node holds eleven slots, mostly empty, and an instance is large.
    instances: BTreeMap<InstanceId, Box<Instance>>,
    pids: HashMap<u32, (InstanceId, ProcessKind)>,
    /// Processes found in an instance besides the ones it spawned (a daemon's chain).
    others: HashMap<u32, InstanceId>,
    events: HashMap<EventId, Event>,
    pending: VecDeque<EventId>,
    done: VecDeque<EventId>,
    next_id: u64,
    /// Instances whose state machine must advance (`Some(state)`: go there).
    runnable: VecDeque<(InstanceId, State)>,
    /// Every event handled, when recording (tests and `--debug` tracing).
    seen: Option<Vec<(String, Env)>>,
    /// Event name → jobs whose `start on` mentions it.
    start_index: HashMap<String, Vec<String>>,
    /// Event name → instances whose `stop on` mentions it.
    stop_index: HashMap<String, BTreeSet<InstanceId>>,
    /// Instances with a `ready on`, the only ones events are offered to for readiness.
    with_ready: BTreeSet<InstanceId>,
    /// Draining instances whose main process has gone but that still had processes when
    /// `check_drained` last looked (a superset: `after_reap` drops the others).
    draining: BTreeSet<InstanceId>,
    /// `stop_all` was called: no goal turns to start any more (events are still delivered).
    shutting_down: bool,
}

/// Why a start did not happen.
enum NotStarted {
    /// The instance's goal is already start.
    Wanted(String),
    /// The engine is shutting down.
    ShuttingDown(String),
    Failed(String),
}

impl NotStarted {
    fn message(self) -> String {
        match self {
            NotStarted::Wanted(m) | NotStarted::ShuttingDown(m) | NotStarted::Failed(m) => m,
        }
    }
}

fn parse_env_args(env: &[String]) -> Result<Env, String> {
    env.iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err("Env must be KEY=VALUE pairs".to_string()),
        })
        .collect()
}

/// Sets `key` in `env`, replacing an earlier value in place.
fn env_set(env: &mut Env, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(e) => e.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

/// The environment a fired condition hands on: each matched event's variables in tree order,
/// then `events_var` (`UPSTART_EVENTS` / `UPSTART_STOP_EVENTS`) naming them.
fn matched_env(matched: &[Matched], events_var: &str) -> Env {
    let mut env = Env::new();
    for m in matched {
        env_merge(&mut env, &m.env);
    }
    let names: Vec<&str> = matched.iter().map(|m| m.name.as_str()).collect();
    env.push((events_var.into(), names.join(" ")));
    env
}

/// The live events among those matched: they wait for the job they started or stopped.
fn event_waiters(matched: &[Matched]) -> Vec<Waiter> {
    matched
        .iter()
        .filter_map(|m| m.event)
        .map(Waiter::Event)
        .collect()
}

/// The base environment with an instance's own variables over it.
fn full_env(base: &Env, overlay: &Env) -> Env {
    let mut env = base.clone();
    env_merge(&mut env, overlay);
    env
}

/// Sets every pair of `more` in `env` as `env_set` would, one after another, in time linear
/// in both sizes (issue 10 item 14: an event with 30,000 variables took seconds).
fn env_merge(env: &mut Env, more: &Env) {
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

fn is_normal_exit(config: &JobConfig, status: ExitStatus) -> bool {
    config.normal_exit.iter().any(|c| match (c, status) {
        (ExitCode::Status(a), ExitStatus::Exited(b)) => *a == b,
        (ExitCode::Signal(a), ExitStatus::Signaled(b)) => a.0 == b,
        _ => false,
    })
}

fn display_name(job: &str, instance: &str) -> String {
    if instance.is_empty() {
        job.to_string()
    } else {
        format!("{job} ({instance})")
    }
}

struct States<'a> {
    classes: &'a BTreeMap<String, Box<Class>>,
    instances: &'a BTreeMap<InstanceId, Box<Instance>>,
    base: &'a Env,
}

/// The job event an instance in `state` emitted last: what a level-triggered operand on
/// that job compares with.
fn last_job_event(state: State) -> Option<&'static str> {
    match state {
        State::Waiting => None,
        State::Starting | State::PreStart | State::Spawned | State::PostStart => Some("starting"),
        State::Running | State::PreStop => Some("started"),
        State::Stopping | State::Killed | State::PostStop => Some("stopping"),
    }
}

/// The literal value an operand pins positional argument `position` or `key` to, if it
/// pins one: no pattern characters and no `$` to expand.
fn pinned<'a>(op: &'a EventMatch, position: usize, key: &str) -> Option<&'a str> {
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
                    process: "main",
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
    fn states(&self) -> States<'_> {
        States {
            classes: &self.classes,
            instances: &self.instances,
            base: &self.opts.base_env,
        }
    }

    pub fn new(opts: Options) -> Self {
        Engine {
            opts,
            now: 0,
            classes: BTreeMap::new(),
            instances: BTreeMap::new(),
            pids: HashMap::new(),
            others: HashMap::new(),
            events: HashMap::new(),
            pending: VecDeque::new(),
            done: VecDeque::new(),
            next_id: 1,
            runnable: VecDeque::new(),
            seen: None,
            start_index: HashMap::new(),
            stop_index: HashMap::new(),
            with_ready: BTreeSet::new(),
            shutting_down: false,
            draining: BTreeSet::new(),
        }
    }

    fn reindex_start(&mut self) {
        self.start_index.clear();
        for (job, class) in &self.classes {
            for name in class.start_on.iter().flat_map(|c| c.names()) {
                self.start_index
                    .entry(name.clone())
                    .or_default()
                    .push(job.clone());
            }
        }
    }

    fn index_stop(&mut self, id: InstanceId, add: bool) {
        let names: Vec<String> = self
            .instances
            .get(&id)
            .and_then(|i| i.stop_on.as_ref())
            .map(|c| c.names().to_vec())
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

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Sets the clock. The host calls this before every input.
    pub fn set_now(&mut self, now: Millis) {
        self.now = now;
    }

    /// The earliest time the engine wants [`Engine::tick`] called.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.instances
            .values()
            .flat_map(|i| {
                [
                    i.kill_deadline,
                    i.awaiting.and_then(|a| a.settle),
                    i.start_deadline,
                    i.watchdog_deadline,
                    i.hook_deadline,
                ]
            })
            .flatten()
            .min()
    }

    /// Whether no job instance exists (everything is stopped and waiting).
    pub fn is_idle(&self) -> bool {
        self.instances.is_empty()
    }

    /// Every live instance.
    pub fn instance_ids(&self) -> Vec<InstanceId> {
        self.instances.keys().copied().collect()
    }

    /// Job and instance names of an instance.
    pub fn instance_name(&self, id: InstanceId) -> Option<(&str, &str)> {
        self.instances
            .get(&id)
            .map(|i| (i.job.as_str(), i.name.as_str()))
    }

    /// Every PID an instance has had, by process type.
    pub fn pid_history(&self, id: InstanceId) -> Vec<(ProcessKind, u32)> {
        self.instances
            .get(&id)
            .map(|i| i.history.clone())
            .unwrap_or_default()
    }

    /// Gives back the spare capacity a burst left in the engine's queues and tables (a
    /// thousand jobs starting at once have thousands of job events alive together). The
    /// host calls it when idle; it changes nothing else.
    pub fn shrink(&mut self) {
        self.events.shrink_to_fit();
        self.pending.shrink_to_fit();
        self.done.shrink_to_fit();
        self.runnable.shrink_to_fit();
        self.pids.shrink_to_fit();
        self.others.shrink_to_fit();
    }

    /// How many stopped-and-gone instances all jobs remember for level-triggered `stopped`
    /// operands (bounded per job; see `history.rs`).
    pub fn stopped_history_len(&self) -> usize {
        self.classes.values().map(|c| c.stopped.len()).sum()
    }

    /// The jobs' current definitions.
    pub fn configs(&self) -> impl Iterator<Item = &JobConfig> {
        self.classes.values().map(|c| c.config.as_ref())
    }

    // ---------------------------------------------------------------- configuration

    /// Installs a new set of job definitions. New jobs appear, changed ones are replaced
    /// (running instances keep the definition they started with), removed ones disappear
    /// once their instances have stopped.
    pub fn set_jobs(&mut self, jobs: Vec<JobConfig>, fx: &mut dyn Effects) {
        let mut incoming: BTreeMap<String, JobConfig> =
            jobs.into_iter().map(|j| (j.name.clone(), j)).collect();
        let names: Vec<String> = self.classes.keys().cloned().collect();
        for name in names {
            let Some(class) = self.classes.get_mut(&name) else {
                continue;
            };
            match incoming.remove(&name) {
                Some(new) if *class.config == new => {}
                Some(new) => {
                    let keep = class.start_on.as_ref().map(|c| &c.expr) == new.start_on.as_ref();
                    if !keep {
                        let released = class.start_on.as_mut().map(|c| c.reset());
                        class.start_on = new.start_on.clone().map(Condition::new);
                        for id in released.unwrap_or_default() {
                            self.unblock(id, false);
                        }
                    }
                    if let Some(class) = self.classes.get_mut(&name) {
                        class.config = Rc::new(new);
                    }
                }
                None => {
                    let released = class.start_on.as_mut().map(|c| c.reset());
                    class.start_on = None;
                    let empty = class.instances.is_empty();
                    for id in released.unwrap_or_default() {
                        self.unblock(id, false);
                    }
                    if empty {
                        self.classes.remove(&name);
                    } else if let Some(class) = self.classes.get_mut(&name) {
                        // Gone from disk: removed when its last instance stops.
                        let mut gone = (*class.config).clone();
                        gone.start_on = None;
                        gone.manual = true;
                        class.config = Rc::new(gone);
                        class.deleted = true;
                    }
                }
            }
        }
        for (name, config) in incoming {
            self.classes.insert(
                name,
                Box::new(Class {
                    start_on: config.start_on.clone().map(Condition::new),
                    config: Rc::new(config),
                    instances: InstanceMap::default(),
                    stopped: Stopped::default(),
                    deleted: false,
                }),
            );
        }
        self.reindex_start();
        self.run(fx);
    }

    // ---------------------------------------------------------------- events

    /// Queues an event and runs the engine. With `reply`, the client is answered once every
    /// job the event started or stopped has settled.
    pub fn emit(
        &mut self,
        name: &str,
        env: Env,
        reply: Option<ReplyToken>,
        fx: &mut dyn Effects,
    ) -> EventId {
        let id = self.queue_event(name, env, Origin::External(reply));
        self.run(fx);
        id
    }

    fn queue_event(&mut self, name: &str, env: Env, origin: Origin) -> EventId {
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

    fn block(&mut self, id: EventId) {
        if let Some(e) = self.events.get_mut(&id) {
            e.blockers += 1;
        }
    }

    fn unblock(&mut self, id: EventId, failed: bool) {
        if let Some(e) = self.events.get_mut(&id) {
            e.failed |= failed;
            e.blockers = e.blockers.saturating_sub(1);
            if e.blockers == 0 && !e.queued {
                self.done.push_back(id);
            }
        }
    }

    /// Runs until nothing is left to do.
    fn run(&mut self, fx: &mut dyn Effects) {
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

    fn handle_event(&mut self, id: EventId) {
        let Some(event) = self.events.get_mut(&id) else {
            return;
        };
        event.queued = false;
        let (name, env) = (event.name.clone(), event.env.clone());
        if let Some(seen) = &mut self.seen {
            seen.push((name.clone(), env.clone()));
        }
        // Stop conditions first, then start conditions, as Upstart does.
        let ids: Vec<InstanceId> = self
            .stop_index
            .get(&name)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for inst_id in ids {
            let Some(inst) = self.instances.get_mut(&inst_id) else {
                continue;
            };
            let Some(mut cond) = inst.stop_on.take() else {
                continue;
            };
            let expand = full_env(&self.opts.base_env, &inst.env);
            let states = self.states();
            let handled = cond.handle(id, &name, &env, Some(&expand), &states);
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
                    inst.stop_env = stop_env;
                    inst.waiters.extend(waiters);
                }
                self.change_goal(inst_id, Goal::Stop);
            }
            for e in handled.released {
                self.unblock(e, false);
            }
        }
        let readying: Vec<InstanceId> = self
            .with_ready
            .iter()
            .filter(|id| {
                self.instances
                    .get(id)
                    .and_then(|i| i.ready.as_ref())
                    .is_some_and(|c| c.mentions(&name))
            })
            .copied()
            .collect();
        for inst_id in readying {
            let expand = self
                .instances
                .get(&inst_id)
                .map(|i| full_env(&self.opts.base_env, &i.env));
            if let Some(inst) = self.instances.get_mut(&inst_id)
                && let Some(cond) = inst.ready.as_mut()
                && cond.latch(&name, &env, expand.as_ref())
            {
                self.recheck_ready(inst_id);
            }
        }
        let jobs: Vec<String> = self.start_index.get(&name).cloned().unwrap_or_default();
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
            let handled = cond.handle(id, &name, &env, Some(&defaults), &states);
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
        if self.events.get(&id).is_some_and(|e| e.blockers == 0) {
            self.done.push_back(id);
        }
    }

    fn start_from_event(&mut self, job: &str, matched: &[Matched]) {
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

    fn finish_event(&mut self, id: EventId, fx: &mut dyn Effects) {
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
                    if i.blocker == Some(id) {
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

    // ---------------------------------------------------------------- instances

    /// What an instance of `config` adds to the base environment: its `env` stanzas, then the
    /// start environment. Kept apart from the base so a thousand instances do not hold a
    /// thousand copies of it.
    fn job_env(&self, config: &JobConfig, start_env: &Env) -> Env {
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

    /// Finds or creates the instance of `job` for `start_env` and sets its goal to start.
    fn start_instance(
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
    fn refused(job: &str, name: &str) -> NotStarted {
        NotStarted::ShuttingDown(format!(
            "Shutting down: not starting {}",
            display_name(job, name)
        ))
    }

    fn change_goal(&mut self, id: InstanceId, goal: Goal) {
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

    /// The hook the instance is running, if any (one runs at a time).
    fn running_hook(inst: &Instance) -> Option<(ProcessKind, u32)> {
        inst.pids
            .iter()
            .find(|(k, _)| *k != ProcessKind::Main)
            .map(|(k, p)| (k, *p))
    }

    /// A hook that runs while the goal is stop has `kill timeout` to end (issue 9 item 3).
    fn arm_hook_deadline(inst: &mut Instance, now: Millis) {
        if inst.goal == Goal::Stop
            && inst.hook_deadline.is_none()
            && !inst.hook_signalled
            && Self::running_hook(inst).is_some()
        {
            inst.hook_deadline = Some(now + u64::from(inst.config.kill_timeout) * 1000);
        }
    }

    fn job_event_env(base: &Env, inst: &Instance, end: Option<RunEnd>) -> Env {
        let mut env = vec![
            ("JOB".to_string(), inst.job.clone()),
            ("INSTANCE".to_string(), inst.name.clone()),
        ];
        if let Some(end) = end {
            env.push((
                "RESULT".into(),
                if end.failed { "failed" } else { "ok" }.into(),
            ));
            if end.failed {
                env.push(("PROCESS".into(), end.process.into()));
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
                .chain(base.iter().rev())
                .find(|(k, _)| k == key);
            if let Some((_, v)) = found {
                env.push((key.clone(), v.clone()));
            }
        }
        env
    }

    /// Emits a job event; `blocking` makes the instance wait for it.
    fn job_event(&mut self, id: InstanceId, name: &str, blocking: bool) {
        let Some(inst) = self.instances.get(&id) else {
            return;
        };
        let end = matches!(name, "stopping" | "stopped").then(|| {
            inst.end.unwrap_or(RunEnd {
                failed: false,
                process: "main",
                status: None,
            })
        });
        let env = Self::job_event_env(&self.opts.base_env, inst, end);
        let origin = if blocking {
            Origin::Job(id)
        } else {
            Origin::Internal
        };
        let eid = self.queue_event(name, env.clone(), origin);
        if blocking && let Some(inst) = self.instances.get_mut(&id) {
            inst.blocker = Some(eid);
        }
        if name == "stopped" {
            let key = self
                .instances
                .get(&id)
                .map(|i| (i.job.clone(), i.name.clone()));
            if let Some((job, inst_name)) = key
                && let Some(class) = self.classes.get_mut(&job)
            {
                class.stopped.insert(inst_name, env);
            }
        } else if name == "starting" {
            let key = self
                .instances
                .get(&id)
                .map(|i| (i.job.clone(), i.name.clone()));
            if let Some((job, inst_name)) = key
                && let Some(class) = self.classes.get_mut(&job)
            {
                class.stopped.remove(&inst_name);
            }
        }
    }

    /// Environment for a process of the instance.
    fn process_env(base: &Env, inst: &Instance, kind: ProcessKind) -> Env {
        let mut env = full_env(base, &inst.env);
        if matches!(kind, ProcessKind::PreStop | ProcessKind::PostStop) {
            env_merge(&mut env, &inst.stop_env);
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
                    process: "main",
                    status: Some(s),
                })
            })
        {
            env_set(&mut env, "RESULT", if end.failed { "failed" } else { "ok" });
            env_set(&mut env, "PROCESS", end.process);
            let status = end.status.or(inst.main_exit);
            if let Some(s) = status {
                let (k, v) = s.env_pair();
                env_set(&mut env, &k, &v);
            }
        }
        env
    }

    /// Starts a process of the instance if the job defines it. Returns whether one runs.
    fn spawn(&mut self, id: InstanceId, kind: ProcessKind, fx: &mut dyn Effects) -> bool {
        let Some(inst) = self.instances.get(&id) else {
            return false;
        };
        let Some(process) = inst.config.process(kind).cloned() else {
            return false;
        };
        let c = &inst.config;
        let spec = SpawnSpec {
            job: inst.job.clone(),
            instance: inst.name.clone(),
            kind,
            process,
            env: Self::process_env(&self.opts.base_env, inst, kind),
            console: c.console,
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
        };
        match fx.spawn(id, &spec) {
            Ok(pid) => {
                log::debug!(
                    "{} {} process ({pid})",
                    display_name(&spec.job, &spec.instance),
                    kind.as_str()
                );
                self.pids.insert(pid, (id, kind));
                let now = self.now;
                if let Some(inst) = self.instances.get_mut(&id) {
                    inst.pids.insert(kind, pid);
                    inst.history.push((kind, pid));
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

    /// Records a failed process; pre-start, main and post-stop failures fail the job.
    fn process_failed(&mut self, id: InstanceId, kind: ProcessKind, status: Option<ExitStatus>) {
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

    /// Upstart's `job_change_state`: enter `state` and keep going while no process or event
    /// holds the instance.
    fn change_state(&mut self, id: InstanceId, mut state: State, fx: &mut dyn Effects) {
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
    fn finish_main_early(&mut self, id: InstanceId) {
        if let Some(inst) = self.instances.get_mut(&id)
            && inst.goal == Goal::Start
            && inst.config.task
        {
            inst.goal = Goal::Stop;
        }
    }

    fn following(&self, id: InstanceId) -> Option<State> {
        self.instances.get(&id).map(|i| next_state(i.state, i.goal))
    }

    fn release_waiters(&mut self, id: InstanceId, failed: bool, fx: &mut dyn Effects) {
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

    fn remove_instance(&mut self, id: InstanceId, fx: &mut dyn Effects) {
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

    // ---------------------------------------------------------------- processes

    /// A process ended. Returns false when the PID is not one of the jobs' processes.
    pub fn exited(&mut self, pid: u32, status: ExitStatus, fx: &mut dyn Effects) -> bool {
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
            if inst.pids.get(&kind) == Some(&pid) {
                inst.pids.remove(&kind);
                if kind != ProcessKind::Main {
                    killed_hook = inst.hook_signalled;
                    inst.hook_deadline = None;
                    inst.hook_signalled = false;
                }
            }
            log::debug!(
                "{} {} process ({pid}) ended: {status:?}",
                display_name(&inst.job, &inst.name),
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
    pub fn spawn_failed(&mut self, pid: u32, error: &str, fx: &mut dyn Effects) -> bool {
        let Some(&(id, kind)) = self.pids.get(&pid) else {
            return false;
        };
        if let Some(inst) = self.instances.get(&id) {
            log::warn!(
                "{}: failed to spawn {} process: {error}",
                display_name(&inst.job, &inst.name),
                kind.as_str()
            );
        }
        self.process_failed(id, kind, None);
        let kept = self.instances.get(&id).map(|i| (i.main_exit, i.end));
        self.pids.remove(&pid);
        if let Some(inst) = self.instances.get_mut(&id)
            && inst.pids.get(&kind) == Some(&pid)
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
    pub fn exited_in(
        &mut self,
        id: InstanceId,
        pid: u32,
        status: ExitStatus,
        fx: &mut dyn Effects,
    ) {
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
        if inst.awaiting.is_some() {
            return None;
        }
        inst.pids.get(&ProcessKind::Main).copied()
    }

    /// Whether any instance is waiting for its launch chain to exit (the host then tells
    /// [`Engine::exited_in`] about processes it did not spawn).
    pub fn tracking_exits(&self) -> bool {
        self.instances.values().any(|i| i.awaiting.is_some())
    }

    /// After a batch of reaping: instances being stopped move on once their last process
    /// is gone.
    pub fn after_reap(&mut self, fx: &mut dyn Effects) {
        // Only the draining instances whose main process is gone and that still had
        // processes when last checked, not every instance: a stop of 5000 jobs reaps in many
        // batches, and an instance's main exit already checks it (`process_ended`).
        self.draining
            .retain(|id| self.instances.get(id).is_some_and(|i| i.draining));
        let draining: Vec<InstanceId> = self.draining.iter().copied().collect();
        for id in draining {
            self.check_drained(id, fx);
        }
        self.run(fx);
    }

    /// A process of the instance stopped itself (SIGSTOP): with `expect stop` that is the
    /// sign the job is ready; it is continued and the job moves on.
    pub fn stopped(&mut self, pid: u32, fx: &mut dyn Effects) {
        let Some(&(id, ProcessKind::Main)) = self.pids.get(&pid) else {
            return;
        };
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if inst.awaiting.is_some_and(|a| a.stop) {
            inst.awaiting = None;
            fx.signal(id, pid, Signal(18), false);
            self.after_expect(id);
            self.run(fx);
        }
    }

    /// The main process is known and up as `expect` says: ready now, or once `ready on`
    /// holds.
    fn after_expect(&mut self, id: InstanceId) {
        let holds = self.ready_holds(id);
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if inst.goal == Goal::Stop {
            self.runnable.push_back((id, State::Stopping));
        } else if holds {
            self.runnable.push_back((id, State::PostStart));
        } else {
            inst.readying = true;
            // After a launch chain (which had its own deadline), `ready on` gets its own.
            if inst.start_deadline.is_none() {
                let wait = inst.config.start_timeout.unwrap_or(READY_TIMEOUT_S);
                inst.start_deadline = Some(self.now + u64::from(wait) * 1000);
            }
        }
    }

    /// Whether the instance's `ready on` holds (true without one).
    fn ready_holds(&self, id: InstanceId) -> bool {
        let Some(inst) = self.instances.get(&id) else {
            return false;
        };
        let Some(cond) = &inst.ready else {
            return true;
        };
        let states = self.states();
        let expand = full_env(&self.opts.base_env, &inst.env);
        let source = |src: &ReadySource| inst.sources.iter().any(|(s, ok)| s == src && *ok);
        cond.holds(Some(&expand), &states, &source)
    }

    fn recheck_ready(&mut self, id: InstanceId) {
        if self.instances.get(&id).is_some_and(|i| i.readying) && self.ready_holds(id) {
            if let Some(inst) = self.instances.get_mut(&id) {
                inst.readying = false;
            }
            self.runnable.push_back((id, State::PostStart));
        }
    }

    /// The readiness sources the host should check now: those of instances waiting for
    /// `ready on`, with the processes that may hold them. Empty when nothing waits, so the
    /// host polls nothing while idle.
    pub fn pending_sources(&self) -> Vec<(InstanceId, ReadySource)> {
        self.with_ready
            .iter()
            .filter_map(|id| self.instances.get(id))
            .filter(|i| i.readying)
            .flat_map(|i| {
                i.sources
                    .iter()
                    .filter(|(_, ok)| !ok)
                    .map(move |(s, _)| (i.id, s.clone()))
            })
            .collect()
    }

    /// The host found a readiness source in this state.
    pub fn source_state(
        &mut self,
        id: InstanceId,
        src: &ReadySource,
        ok: bool,
        fx: &mut dyn Effects,
    ) {
        if let Some(inst) = self.instances.get_mut(&id) {
            for (s, state) in inst.sources.iter_mut() {
                if s == src {
                    *state = ok;
                }
            }
        }
        self.recheck_ready(id);
        self.run(fx);
    }

    /// An sd_notify datagram from a process of the instance (the host has checked that the
    /// sender belongs to it). `sender_uid` 0 may name a MAINPID outside the job.
    pub fn notify(&mut self, id: InstanceId, sender_uid: u32, message: &str, fx: &mut dyn Effects) {
        let Some(name) = self
            .instances
            .get(&id)
            .map(|i| display_name(&i.job, &i.name))
        else {
            return;
        };
        let mut ready = false;
        for line in message.lines() {
            let Some((key, value)) = line.split_once('=') else {
                log::debug!("{name}: notify message without `=` ignored: {line:?}");
                continue;
            };
            match key {
                "READY" if value == "1" => ready = true,
                "MAINPID" => match value.parse::<u32>() {
                    Ok(pid) => self.notify_mainpid(id, pid, sender_uid, fx),
                    Err(_) => log::warn!("{name}: bad MAINPID={value:?} ignored"),
                },
                "STATUS" | "ERRNO" => {
                    if let Some(inst) = self.instances.get_mut(&id) {
                        inst.notify_status = Some(format!("{key}={value}"));
                    }
                }
                "STOPPING" if value == "1" => log::info!("{name} says it is stopping"),
                "RELOADING" if value == "1" => log::info!("{name} says it is reloading"),
                "EXTEND_TIMEOUT_USEC" => {
                    if let (Ok(us), Some(inst)) =
                        (value.parse::<u64>(), self.instances.get_mut(&id))
                        && inst.start_deadline.is_some()
                    {
                        inst.start_deadline = Some(self.now + us / 1000);
                    }
                }
                "WATCHDOG" if value == "1" => {
                    let now = self.now;
                    if let Some(inst) = self.instances.get_mut(&id)
                        && inst.watchdog_deadline.is_some()
                    {
                        inst.watchdog_deadline =
                            inst.config.watchdog.map(|w| now + u64::from(w) * 1000);
                    }
                }
                _ => log::debug!("{name}: notify field {key} ignored"),
            }
        }
        if ready
            && let Some(inst) = self.instances.get_mut(&id)
            && inst.awaiting.is_some_and(|a| a.notify)
        {
            inst.awaiting = None;
            self.after_expect(id);
        }
        self.run(fx);
    }

    fn notify_mainpid(&mut self, id: InstanceId, pid: u32, sender_uid: u32, fx: &mut dyn Effects) {
        let inside = fx.processes(id).is_ok_and(|p| p.contains(&pid));
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let name = display_name(&inst.job, &inst.name);
        // Stricter than sd_notify allows for root senders: a main process outside the job's
        // cgroup could not be stopped with it, and outset never signals what it did not start.
        if !inside {
            log::warn!(
                "{name}: MAINPID={pid} (from uid {sender_uid}) is not a process of the job; ignored"
            );
            return;
        }
        if inst.pids.get(&ProcessKind::Main) == Some(&pid) {
            return;
        }
        if let Some(old) = inst.pids.insert(ProcessKind::Main, pid) {
            self.pids.remove(&old);
            self.others.insert(old, id);
        }
        inst.history.push((ProcessKind::Main, pid));
        self.others.remove(&pid);
        self.pids.insert(pid, (id, ProcessKind::Main));
        log::debug!("{name}: main process is {pid} (MAINPID)");
    }

    fn other_ended(&mut self, id: InstanceId, status: ExitStatus, fx: &mut dyn Effects) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        if let Some(mut a) = inst.awaiting
            && !a.stop
            && !a.notify
            && inst.main_exit.is_some()
            && a.seen < a.needed
        {
            if !status.success() {
                // A link of the launch chain failed: so did the start (issue 9 item 6).
                log::warn!(
                    "{}: a process of the launch chain exited with {status:?} before the job was up",
                    display_name(&inst.job, &inst.name)
                );
                inst.awaiting = None;
                inst.end = Some(RunEnd {
                    failed: true,
                    process: "main",
                    status: Some(status),
                });
                inst.goal = Goal::Stop;
                self.runnable.push_back((id, State::Stopping));
            } else {
                a.seen += 1;
                inst.awaiting = Some(a);
                if a.seen >= a.needed {
                    self.select_main(id, fx);
                }
            }
        }
        if self.instances.get(&id).is_some_and(|i| i.draining) {
            self.check_drained(id, fx);
        }
    }

    /// Once the launch chain has exited: the main process is the oldest one left.
    fn select_main(&mut self, id: InstanceId, fx: &mut dyn Effects) {
        let procs = fx.processes(id);
        let now = self.now;
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let name = display_name(&inst.job, &inst.name);
        // Members that could not be read are not "none left": try again shortly.
        let procs = match procs {
            Ok(p) => p,
            Err(e) => {
                log::warn!("{name}: cannot list the job's processes ({e}); trying again");
                if let Some(a) = inst.awaiting.as_mut() {
                    a.settle = Some(now + PIDFILE_POLL_MS);
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
            match fx.pid_file(id, &path) {
                Some(pid) => chosen = Some(pid),
                None => {
                    let wait = inst.config.start_timeout.unwrap_or(LAUNCH_TIMEOUT_S);
                    if let Some(a) = inst.awaiting.as_mut() {
                        let until = *a.pidfile_until.get_or_insert(now + u64::from(wait) * 1000);
                        if now < until {
                            a.settle = Some((now + PIDFILE_POLL_MS).min(until));
                            return;
                        }
                    }
                    log::warn!(
                        "{name}: pid file {path} did not name a process of the job in time; taking the oldest"
                    );
                }
            }
        }
        inst.awaiting = None;
        match chosen {
            None => {
                log::warn!("{name}: the main process exited and left no process behind");
                inst.end = Some(RunEnd {
                    failed: true,
                    process: "main",
                    status: inst.main_exit,
                });
                inst.goal = Goal::Stop;
                self.runnable.push_back((id, State::Stopping));
            }
            Some(main) => {
                log::debug!("{name}: main process is {main}");
                inst.selected_at = Some(self.now);
                inst.pids.insert(ProcessKind::Main, main);
                inst.history.push((ProcessKind::Main, main));
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
    fn adopt_processes(&mut self, id: InstanceId, fx: &mut dyn Effects) {
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
    fn check_drained(&mut self, id: InstanceId, fx: &mut dyn Effects) {
        let Some(inst) = self.instances.get(&id) else {
            return;
        };
        if !inst.draining || inst.pids.contains_key(&ProcessKind::Main) {
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
                    display_name(&inst.job, &inst.name)
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
        if rest.is_empty() {
            inst.draining = false;
            inst.kill_deadline = None;
            inst.rest_signalled = false;
            self.runnable.push_back((id, State::PostStop));
        } else if !inst.rest_signalled {
            inst.rest_signalled = true;
            let sig = inst.config.kill_signal;
            for pid in rest {
                self.others.insert(pid, id);
                fx.signal(id, pid, sig, false);
            }
        }
    }

    fn process_ended(
        &mut self,
        id: InstanceId,
        kind: ProcessKind,
        status: ExitStatus,
        fx: &mut dyn Effects,
    ) {
        let Some(inst) = self.instances.get_mut(&id) else {
            return;
        };
        let state = inst.state;
        match kind {
            ProcessKind::Main => {
                inst.main_exit = Some(status);
                if state == State::Killed {
                    // We asked it to stop: not a failure. Stopped once nothing is left.
                    self.check_drained(id, fx);
                    return;
                }
                if let Some(mut a) = inst.awaiting.filter(|a| !a.stop && !a.notify) {
                    if status.success() {
                        // The launcher left: count it, and adopt what it left behind. The
                        // rest of the chain has until the launch deadline (`settle`).
                        a.seen += 1;
                        inst.awaiting = Some(a);
                        self.adopt_processes(id, fx);
                        if a.seen >= a.needed {
                            self.select_main(id, fx);
                        }
                        return;
                    }
                    // A launcher that fails fails the job.
                    inst.awaiting = None;
                    inst.end = Some(RunEnd {
                        failed: true,
                        process: "main",
                        status: Some(status),
                    });
                    inst.goal = Goal::Stop;
                    self.runnable.push_back((id, State::Stopping));
                    return;
                }
                let was_awaiting = inst.awaiting.take().is_some();
                // A chosen main process that exits cleanly right away was one more link of
                // the chain (a fork count guessed one too low): its successor is the main one.
                let recent = inst
                    .selected_at
                    .is_some_and(|t| self.now.saturating_sub(t) < SETTLE_MS);
                if recent && status.success() && matches!(state, State::PostStart | State::Running)
                {
                    let next = fx.processes(id).ok().and_then(|p| p.first().copied());
                    if let (Some(main), Some(inst)) = (next, self.instances.get_mut(&id)) {
                        log::debug!(
                            "{}: main process {main} takes over from a launcher link",
                            display_name(&inst.job, &inst.name)
                        );
                        inst.main_exit = None;
                        inst.pids.insert(ProcessKind::Main, main);
                        inst.history.push((ProcessKind::Main, main));
                        self.others.remove(&main);
                        self.pids.insert(main, (id, ProcessKind::Main));
                        return;
                    }
                }
                let Some(inst) = self.instances.get_mut(&id) else {
                    return;
                };
                let config = inst.config.clone();
                let normal = is_normal_exit(&config, status);
                let clean = status.success() || normal;
                let respawn = inst.goal == Goal::Start
                    && config.respawn
                    && !normal
                    && !(config.task && status.success());
                if respawn {
                    if self.respawn_too_fast(id) {
                        if let Some(inst) = self.instances.get_mut(&id) {
                            log::warn!(
                                "{} respawning too fast, stopped",
                                display_name(&inst.job, &inst.name)
                            );
                            inst.end = Some(RunEnd {
                                failed: true,
                                process: "respawn",
                                status: None,
                            });
                            inst.goal = Goal::Stop;
                        }
                    } else if let Some(inst) = self.instances.get_mut(&id) {
                        log::info!(
                            "{} main process ended, respawning",
                            display_name(&inst.job, &inst.name)
                        );
                    }
                } else if let Some(inst) = self.instances.get_mut(&id) {
                    if !clean && inst.goal == Goal::Start {
                        inst.end = Some(RunEnd {
                            failed: true,
                            process: "main",
                            status: Some(status),
                        });
                    }
                    inst.goal = Goal::Stop;
                }
                // Move on from where the main process was awaited; other states notice
                // the missing main process when they finish.
                // Up and running, or up and waiting for readiness: nothing else will move it.
                let waiting_ready =
                    was_awaiting || self.instances.get(&id).is_some_and(|i| i.readying);
                if let Some(inst) = self.instances.get_mut(&id) {
                    inst.readying = false;
                }
                if matches!(state, State::Running) || (state == State::Spawned && waiting_ready) {
                    let goal = self.instances.get(&id).map(|i| i.goal);
                    let next = match goal {
                        // Skip pre-stop: there is nothing left to stop.
                        Some(_) => State::Stopping,
                        None => return,
                    };
                    self.runnable.push_back((id, next));
                }
            }
            ProcessKind::PreStart => {
                if !status.success() {
                    self.process_failed(id, kind, Some(status));
                }
                if state == State::PreStart {
                    let next = self.following(id);
                    if let Some(n) = next {
                        self.runnable.push_back((id, n));
                    }
                }
            }
            ProcessKind::PostStart => {
                if state == State::PostStart {
                    let next = self.following(id);
                    if let Some(n) = next {
                        self.runnable.push_back((id, n));
                    }
                }
            }
            ProcessKind::PreStop => {
                if state == State::PreStop {
                    let next = self.following(id);
                    if let Some(n) = next {
                        self.runnable.push_back((id, n));
                    }
                }
            }
            ProcessKind::PostStop => {
                if !status.success() {
                    self.process_failed(id, kind, Some(status));
                    if let Some(inst) = self.instances.get_mut(&id) {
                        inst.goal = Goal::Stop;
                    }
                }
                if state == State::PostStop {
                    let next = self.following(id);
                    if let Some(n) = next {
                        self.runnable.push_back((id, n));
                    }
                }
            }
        }
    }

    /// Counts a respawn; true when the job exceeded `respawn limit`.
    fn respawn_too_fast(&mut self, id: InstanceId) -> bool {
        let now = self.now;
        let Some(inst) = self.instances.get_mut(&id) else {
            return false;
        };
        let (count, interval) = match inst.config.respawn_limit {
            RespawnLimit::Unlimited => return false,
            RespawnLimit::Limited { count, interval } if count == 0 || interval == 0 => {
                return false;
            }
            RespawnLimit::Limited { count, interval } => (count, interval),
        };
        let window = u64::from(interval) * 1000;
        while inst
            .respawns
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= window)
        {
            inst.respawns.pop_front();
        }
        inst.respawns.push_back(now);
        inst.respawns.len() > count as usize
    }

    // ---------------------------------------------------------------- time

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
    fn kill_hook(&mut self, id: InstanceId, fx: &mut dyn Effects) {
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

    // ---------------------------------------------------------------- commands

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

    fn find_instance(
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
    fn resolve(
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
    fn unknown_instance(&self, job: &str, instance: Option<&str>, env: &Env) -> String {
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

    fn command_inner(
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

    fn waiting_status(&self, job: &str) -> InstanceStatus {
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

    fn status_of(&self, id: InstanceId) -> Option<InstanceStatus> {
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

    fn instances_reply(&self, ids: Vec<InstanceId>) -> Response {
        Response::Ok {
            body: Body::Instances(ids.into_iter().filter_map(|i| self.status_of(i)).collect()),
        }
    }
}

/// The `expect` stanza as written in a job file.
fn expect_stanza(expect: Expect) -> String {
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
fn match_hint(seen: u32) -> String {
    let stanza = match seen {
        0 => "expect none".to_string(),
        1 => "expect fork".to_string(),
        2 => "expect daemon".to_string(),
        n => format!("expect exit {n}"),
    };
    format!("`{stanza}` would have matched")
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
