//! The engine: job classes, instances, the event queue and Upstart's state machine.
//!
//! Every input (an event, a command, a process exit, the clock) runs the machine until it
//! settles; effects go out through [`Effects`]. Nothing here touches the system.
//!
//! One module per concern, all adding to the one `impl Engine`:
//! - `transitions`: goals and states, the machine itself (its prose is there);
//! - `events`: the event queue, conditions and job events;
//! - `launch`: spawning, exits, the launch chain and main-PID selection, draining;
//! - `readiness`: `expect stop|notify` and `ready on`;
//! - `respawn`: normal exits and the respawn limit;
//! - `timers`: deadlines, hooks that outlive a stop, `kill timeout`;
//! - `commands`: client commands, status and the replies to waiting clients;
//! - `env`: the environments of instances, events and processes.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

use outset_job::expand::expand_env;
use outset_job::{
    Arg, EventMatch, ExitCode, Expect, JobConfig, ProcessKind, ReadySource, RespawnLimit, Signal,
};
use outset_proto::{Body, Command, InstanceStatus, JobText, Member, ProcessStatus, Response};

use crate::condition::{Condition, JobStates, Matched, Stanza, matches};
use crate::history::Stopped;
use crate::idmap::IdMap;
use crate::slots::{PidHistory, Slots};
use crate::types::*;

mod adopt;
mod commands;
mod env;
mod env_table;
mod events;
mod launch;
mod notices;
mod readiness;
mod respawn;
pub mod snapshot;
mod timers;
mod transitions;
mod trust;

use env::*;
pub use notices::{Notice, NoticeRef, NoticeSink};
use notices::{failed_status, note, set_goal};
pub use transitions::next_state;
use transitions::*;
use trust::*;

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

/// `respawn delay`: a run whose main process stayed up this long (or as long as the delay's
/// `max`, when longer) resets the pause to the first delay.
pub const RESPAWN_RESET_S: u32 = 10;

/// How often a `pid file` is looked at while a job waits for it.
pub const PIDFILE_POLL_MS: Millis = 50;

/// Upstart's default PATH for jobs.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Settings the host gives the engine.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The environment every job starts from (PATH, TERM; in user mode the daemon's own):
    /// the job environment table as it is at start and after `reset-env`.
    pub base_env: Env,
    /// The daemon is PID 1: the global job environment table cannot be changed (Upstart's
    /// rule: "Not permissible to modify PID 1 job environment").
    pub fixed_env_table: bool,
    /// The daemon's environment, for bare `env KEY` stanzas.
    pub daemon_env: Env,
    /// The daemon's version, for the `version` command.
    pub version: String,
    /// `outset --track ptrace`: every job's main process is followed as with `track ptrace`.
    pub track_ptrace: bool,
    /// The host learns of a failure inside a spawned child (bad `chdir`, limit, exec) only
    /// after [`Effects::spawn`] returned, through [`Engine::spawn_failed`], and calls
    /// [`Engine::spawns_confirmed`] once each batch of spawns has exec'd or failed. A
    /// `start` that waits is then answered only after that, so it hears of such a failure
    /// as Upstart's does.
    pub confirm_spawns: bool,
}

/// Why a run failed, for RESULT/PROCESS/EXIT_* in events and in post-stop's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RunEnd {
    failed: bool,
    /// `main`, `pre-start`, …, or `respawn`.
    process: EndedIn,
    status: Option<ExitStatus>,
}

/// Where a run ended: in one of the job's processes, or at the respawn limit. One byte
/// where a `&'static str` took 16 in every instance (issue 11 item 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndedIn {
    Process(ProcessKind),
    Respawn,
}

impl EndedIn {
    /// The PROCESS value of job events.
    fn as_str(self) -> &'static str {
        match self {
            EndedIn::Process(kind) => kind.as_str(),
            EndedIn::Respawn => "respawn",
        }
    }
}

/// What holds an instance inside its state beyond the state itself: the sub-states of
/// `spawned` (how the main process comes to be up) and of `killed` (draining). One at a
/// time: an instance is in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing beyond the state.
    Settled,
    /// `spawned` under `expect fork|daemon|exit`: counting the launch chain's exits.
    Launching(Launch),
    /// `spawned` under `expect stop`: up when the main process stops itself.
    AwaitingStop,
    /// `spawned` under `expect notify`: up when the job sends READY=1.
    AwaitingNotify,
    /// `spawned`, up as `expect` says: waiting for `ready on` to hold.
    Readying,
    /// `killed`: waiting for the instance's last process to go.
    Draining(Drain),
}

impl Phase {
    /// Waiting for the main process to be up as `expect` says (its PID not final yet).
    fn awaiting(self) -> bool {
        match self {
            Phase::Launching(_) | Phase::AwaitingStop | Phase::AwaitingNotify => true,
            Phase::Settled | Phase::Readying | Phase::Draining(_) => false,
        }
    }

    /// What holds an instance in `spawned`: `expect` or `ready on`.
    fn holds_spawned(self) -> bool {
        self.awaiting() || self == Phase::Readying
    }

    fn draining(self) -> bool {
        matches!(self, Phase::Draining(_))
    }

    /// When the phase wants the clock: the launch deadline, or `kill timeout`.
    fn deadline(self) -> Option<Millis> {
        match self {
            Phase::Launching(l) => Some(l.settle),
            Phase::Draining(d) => d.kill_deadline,
            Phase::Settled | Phase::AwaitingStop | Phase::AwaitingNotify | Phase::Readying => None,
        }
    }
}

/// Exit tracking in progress: the job is up once `needed` processes of the launch chain have
/// exited successfully (or `settle` has passed) and a process remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Launch {
    needed: u32,
    seen: u32,
    /// The launch deadline, or the next look at the `pid file` or the job's processes.
    settle: Millis,
    /// `pid file`: the file is watched until then, then the oldest process is taken.
    pidfile_until: Option<Millis>,
}

/// Stopping: the main process had the kill signal; the rest get it once it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Drain {
    /// The processes left after the main one have had the kill signal.
    rest_signalled: bool,
    /// Every process is killed then (`kill timeout`); `None` once that is done.
    kill_deadline: Option<Millis>,
}

/// A hook (pre-start, post-start, pre-stop, post-stop) still running while the goal is stop
/// gets the kill signal after `kill timeout`, and SIGKILL `kill timeout` later (issue 9
/// item 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookTimer {
    Off,
    /// The kill signal is due then.
    Armed(Millis),
    /// The hook had the kill signal; SIGKILL is due then.
    Signalled(Millis),
    /// The hook had SIGKILL.
    Killed,
}

impl HookTimer {
    fn deadline(self) -> Option<Millis> {
        match self {
            HookTimer::Armed(d) | HookTimer::Signalled(d) => Some(d),
            HookTimer::Off | HookTimer::Killed => None,
        }
    }

    /// The running hook was signalled by the stop (its end is then no failure).
    fn signalled(self) -> bool {
        match self {
            HookTimer::Signalled(_) | HookTimer::Killed => true,
            HookTimer::Off | HookTimer::Armed(_) => false,
        }
    }
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
    /// The instance name (empty for a job's only instance); boxed, 8 bytes less than a
    /// `String` in every instance.
    name: Box<str>,
    /// The definition this instance started with; kept until it stops (its `name` is the
    /// job's).
    config: Rc<JobConfig>,
    goal: Goal,
    state: State,
    /// The instance's own variables (over the base environment), packed in one buffer.
    env: PackedEnv,
    stop_on: Option<Condition>,
    pids: Slots,
    /// Every PID this instance has had, by process type.
    history: PidHistory,
    /// The job event this instance is waiting on (its `starting` or `stopping`).
    /// As the event id's number, never 0 (ids count from 1): 8 bytes, not 16.
    blocker: Option<std::num::NonZeroU64>,
    /// Who waits for this instance to reach its goal.
    waiters: Waiters,
    /// How the current (or last) run ended.
    end: Option<RunEnd>,
    /// The main process's exit, kept for post-stop even when the run did not fail.
    main_exit: Option<ExitStatus>,
    /// The sub-state of `spawned` or `killed`.
    phase: Phase,
    hook: HookTimer,
    /// When it last changed state, was spawned and became ready (wall clock, from the host).
    stamps: Stamps,
    /// What only some jobs or some moments need, allocated on first use (memory per running
    /// job: most instances never have any of it).
    rare: Option<Box<Rare>>,
}

/// Wall-clock times of an instance's run (issue 18 item 2), as the host's clock gave them
/// (milliseconds since the Unix epoch, 0: not yet). Packed as whole seconds (to 2106) and
/// milliseconds: 20 bytes, not 24, which keeps the boxed instance within its allocator
/// size class (memory per running job, issue 11 item 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Stamps {
    secs: [u32; 3],
    millis: [u16; 3],
}

/// Which time of [`Stamps`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Stamp {
    /// The last change of state.
    Changed = 0,
    /// The current run's main process was spawned.
    Spawned = 1,
    /// The current run became ready (left `spawned` for `post-start`).
    Ready = 2,
}

impl Stamps {
    pub(super) fn get(&self, which: Stamp) -> u64 {
        let i = which as usize;
        u64::from(self.secs[i]) * 1000 + u64::from(self.millis[i])
    }

    pub(super) fn set(&mut self, which: Stamp, unix_ms: u64) {
        let i = which as usize;
        self.secs[i] = u32::try_from(unix_ms / 1000).unwrap_or(u32::MAX);
        self.millis[i] = u16::try_from(unix_ms % 1000).unwrap_or(0);
    }
}

/// Who waits for an instance to reach its goal: nobody for nearly every instance, so one
/// pointer (allocated by the first waiter) instead of a `Vec`'s three words.
// A boxed `Vec` on purpose: one word in every instance where a `Vec` takes three.
#[allow(clippy::box_collection)]
#[derive(Debug, Clone, Default)]
struct Waiters(Option<Box<Vec<Waiter>>>);

impl Waiters {
    fn push(&mut self, w: Waiter) {
        self.0.get_or_insert_with(Default::default).push(w);
    }

    fn extend(&mut self, more: impl IntoIterator<Item = Waiter>) {
        let mut more = more.into_iter().peekable();
        if more.peek().is_some() {
            self.0.get_or_insert_with(Default::default).extend(more);
        }
    }

    fn take(&mut self) -> Vec<Waiter> {
        self.0.take().map(|v| *v).unwrap_or_default()
    }

    fn iter(&self) -> impl Iterator<Item = &Waiter> {
        self.0.iter().flat_map(|v| v.iter())
    }
}

impl From<Vec<Waiter>> for Waiters {
    fn from(v: Vec<Waiter>) -> Waiters {
        Waiters((!v.is_empty()).then(|| Box::new(v)))
    }
}

/// The fields of an instance that only `expect`, `ready on`, `start timeout`, `watchdog`,
/// respawn and stop bookkeeping use.
#[derive(Default)]
struct Rare {
    /// The environment of the `stop on` events that stopped the run (for pre-stop and
    /// post-stop).
    stop_env: Env,
    respawns: VecDeque<Millis>,
    /// `respawn delay`: the pause and when the main process last started.
    backoff: Backoff,
    /// When the main process was chosen from a launch chain's survivors (a clean exit soon
    /// after makes its successor the main process).
    selected_at: Option<Millis>,
    /// `ready on`, with its latched events.
    ready: Option<Condition>,
    /// The readiness sources and their last known state.
    sources: Vec<(ReadySource, bool)>,
    /// A job not ready by then fails (`start timeout`).
    start_deadline: Option<Millis>,
    /// `watchdog`: the next WATCHDOG=1 is due by then.
    watchdog_deadline: Option<Millis>,
    /// The last STATUS= the job sent.
    notify_status: Option<String>,
    /// The job environment table this run started with, when the table has changed since
    /// (`set-env`) or the instance's own environment was changed (then it is empty and
    /// `env` holds everything): a running instance keeps the environment it started with,
    /// as Upstart's `job->env`.
    base: Option<Rc<Env>>,
    /// The fd of the event that started this run (`UPSTART_FDS`), while the host holds it.
    event_fd: Option<u64>,
}

/// `respawn delay` (issue 17 item 6): plain data, so a re-exec can carry it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Backoff {
    /// The pause the next respawn waits (0: the first, `delay`).
    pub(super) next: Millis,
    /// When the current run's main process was spawned.
    pub(super) since: Option<Millis>,
    /// Held in `post-stop` until then before the respawn's `starting`.
    pub(super) until: Option<Millis>,
}

impl Backoff {
    const NONE: Backoff = Backoff {
        next: 0,
        since: None,
        until: None,
    };
}

/// What an instance without rare fields reads.
const NO_RARE: &Rare = &Rare {
    stop_env: Vec::new(),
    respawns: VecDeque::new(),
    backoff: Backoff::NONE,
    selected_at: None,
    ready: None,
    sources: Vec::new(),
    start_deadline: None,
    watchdog_deadline: None,
    notify_status: None,
    base: None,
    event_fd: None,
};

impl Instance {
    fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(NO_RARE)
    }

    /// The rare fields to write, allocated if they were not.
    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The rare fields to write when they exist, or when `needed` (writing a default value
    /// into fields that do not exist changes nothing).
    fn rare_if(&mut self, needed: bool) -> Option<&mut Rare> {
        if needed {
            Some(self.rare_mut())
        } else {
            self.rare.as_deref_mut()
        }
    }

    fn start_deadline(&self) -> Option<Millis> {
        self.rare().start_deadline
    }

    fn set_start_deadline(&mut self, at: Option<Millis>) {
        if let Some(r) = self.rare_if(at.is_some()) {
            r.start_deadline = at;
        }
    }

    fn watchdog_deadline(&self) -> Option<Millis> {
        self.rare().watchdog_deadline
    }

    fn set_watchdog_deadline(&mut self, at: Option<Millis>) {
        if let Some(r) = self.rare_if(at.is_some()) {
            r.watchdog_deadline = at;
        }
    }

    /// Adds to the PID history.
    fn record_pid(&mut self, kind: ProcessKind, pid: u32) {
        self.history.push(kind, pid);
    }

    /// Whether the stop environment is ever read: only pre-stop and post-stop processes
    /// are given it.
    fn reads_stop_env(&self) -> bool {
        self.config.pre_stop.is_some() || self.config.post_stop.is_some()
    }

    /// Keeps the environment of what stopped the run, for a job that reads it (issue 11
    /// item 4: a stop of many jobs without those processes allocated the rare fields of
    /// each only to hold it).
    fn set_stop_env(&mut self, env: Env) {
        if !self.reads_stop_env() {
            return;
        }
        if let Some(r) = self.rare_if(!env.is_empty()) {
            r.stop_env = env;
        }
    }
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
            Err(i) => {
                // Most jobs have one instance: a vector's first growth would hold four
                // (memory per job). Later growth doubles as usual.
                if self.0.capacity() == 0 {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (name, id));
            }
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
    /// Borrowed for job events (`starting`, `stopped`, …): no copy of the name per event.
    name: std::borrow::Cow<'static, str>,
    env: Env,
    blockers: u32,
    failed: bool,
    origin: Origin,
    /// Still waiting in the queue to be handled.
    queued: bool,
    /// The host's id of an fd sent with the event (`EmitEventWithFile`), released when
    /// the event finishes.
    fd: Option<u64>,
}

/// The job engine.
pub struct Engine {
    opts: Options,
    /// The global job environment table (`set-env`, `list-env`): what instances started
    /// from now on are based on. Shared with the instances that started before a change.
    env_table: Rc<Env>,
    now: Millis,
    /// The wall clock (ms since the Unix epoch) as the host last gave it; 0: never given.
    wall: u64,
    /// Boxed: a map node holds eleven slots, and a class is large (memory per job).
    classes: BTreeMap<String, Box<Class>>,
    /// Boxed: a map node holds eleven slots, mostly empty, and an instance is large.
    instances: BTreeMap<InstanceId, Box<Instance>>,
    pids: IdMap<u32, (InstanceId, ProcessKind)>,
    /// Processes found in an instance besides the ones it spawned (a daemon's chain).
    others: IdMap<u32, InstanceId>,
    events: IdMap<EventId, Event>,
    pending: VecDeque<EventId>,
    done: VecDeque<EventId>,
    next_id: u64,
    /// Instances whose state machine must advance (`Some(state)`: go there).
    runnable: VecDeque<(InstanceId, State)>,
    /// Every event handled, when recording (tests and `--debug` tracing).
    seen: Option<Vec<(String, Env)>>,
    /// Event name → jobs whose `start on` mentions it.
    start_index: IdMap<String, Vec<String>>,
    /// Event name → instances whose `stop on` mentions it.
    stop_index: IdMap<String, BTreeSet<InstanceId>>,
    /// Instances with a `ready on`, the only ones events are offered to for readiness.
    with_ready: BTreeSet<InstanceId>,
    /// Draining instances whose main process has gone but that still had processes when
    /// `check_drained` last looked (a superset: `after_reap` drops the others).
    draining: BTreeSet<InstanceId>,
    /// `stop_all` was called: no goal turns to start any more (events are still delivered).
    shutting_down: bool,
    /// The fd sent with the `emit` being carried out (`command_with_fd`), until its event
    /// takes it.
    incoming_fd: Option<u64>,
    /// Instances whose main process was spawned since the host last confirmed its spawns
    /// (with `confirm_spawns`).
    unconfirmed: Vec<InstanceId>,
    /// Successful `start` replies held until the spawns they depend on are confirmed.
    held: Vec<(InstanceId, ReplyToken, Response)>,
    /// The instances an event is offered to, collected before offering (the offers change
    /// the index). Kept between events: at a halt of thousands of jobs a fresh vector was
    /// the stop path's largest allocation. Not shrunk when idle, for the same reason.
    offer_buf: Vec<InstanceId>,
    /// What happened, for a host that publishes it (see `notices.rs`).
    notices: notices::Notes,
    /// The directory `console log` output is written to, for `status` to name each
    /// instance's file (`None`: `--no-log`, or a host that keeps no logs).
    log_dir: Option<String>,
}

fn display_name(job: &str, instance: &str) -> String {
    if instance.is_empty() {
        job.to_string()
    } else {
        format!("{job} ({instance})")
    }
}

impl Engine {
    pub fn new(opts: Options) -> Self {
        Engine {
            env_table: Rc::new(opts.base_env.clone()),
            opts,
            now: 0,
            wall: 0,
            classes: BTreeMap::new(),
            instances: BTreeMap::new(),
            pids: IdMap::default(),
            others: IdMap::default(),
            events: IdMap::default(),
            pending: VecDeque::new(),
            done: VecDeque::new(),
            next_id: 1,
            runnable: VecDeque::new(),
            seen: None,
            start_index: IdMap::default(),
            stop_index: IdMap::default(),
            with_ready: BTreeSet::new(),
            shutting_down: false,
            incoming_fd: None,
            unconfirmed: Vec::new(),
            held: Vec::new(),
            draining: BTreeSet::new(),
            offer_buf: Vec::new(),
            notices: Default::default(),
            log_dir: None,
        }
    }

    /// Whether a job of that name is loaded.
    pub fn has_job(&self, name: &str) -> bool {
        self.classes.contains_key(name)
    }

    /// Where the host writes `console log` output (`None`: nowhere), named by `status`.
    pub fn set_log_dir(&mut self, dir: Option<String>) {
        self.log_dir = dir;
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

    /// The wall clock in milliseconds since the Unix epoch, for the times `status` shows
    /// (when an instance changed state, was spawned, became ready). The host calls it
    /// beside [`Engine::set_now`]; an engine never given it shows no times.
    pub fn set_wall_clock(&mut self, unix_ms: u64) {
        self.wall = unix_ms;
    }

    /// The earliest time the engine wants [`Engine::tick`] called.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.instances
            .values()
            .flat_map(|i| {
                [
                    i.phase.deadline(),
                    i.start_deadline(),
                    i.watchdog_deadline(),
                    i.hook.deadline(),
                    i.rare().backoff.until,
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
            .map(|i| (i.config.name.as_str(), &*i.name))
    }

    /// Every PID an instance has had, by process type.
    pub fn pid_history(&self, id: InstanceId) -> Vec<(ProcessKind, u32)> {
        self.instances
            .get(&id)
            .map(|i| i.history.iter().collect())
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
        self.unconfirmed.shrink_to_fit();
        self.held.shrink_to_fit();
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

    /// Installs a new set of job definitions. New jobs appear, changed ones are replaced
    /// (running instances keep the definition they started with), removed ones disappear
    /// once their instances have stopped.
    pub fn set_jobs(&mut self, jobs: Vec<JobConfig>, fx: &mut dyn Host) {
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
                    let keep = class.start_on.as_ref().map(|c| c.expr()) == new.start_on.as_ref();
                    let config = Rc::new(new);
                    if !keep {
                        let released = class.start_on.as_mut().map(|c| c.reset());
                        class.start_on = Condition::of(&config, Stanza::StartOn);
                        for id in released.unwrap_or_default() {
                            self.unblock(id, false);
                        }
                    }
                    if let Some(class) = self.classes.get_mut(&name) {
                        // A kept `start on` reads the new definition, so the old one can go.
                        if let Some(c) = class.start_on.as_mut() {
                            c.rebind(&config);
                        }
                        class.config = config;
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
            let config = Rc::new(config);
            self.classes.insert(
                name,
                Box::new(Class {
                    start_on: Condition::of(&config, Stanza::StartOn),
                    config,
                    instances: InstanceMap::default(),
                    stopped: Stopped::default(),
                    deleted: false,
                }),
            );
        }
        self.reindex_start();
        self.run(fx);
    }
}

#[cfg(test)]
mod size {
    /// Issue 12 item 1 / issue 11: the sub-states as enums made an instance smaller (576
    /// bytes before, as flags and options), the rare fields behind one box and the packed
    /// environment smaller again (544 before), then where a run ended and its blocking
    /// event as small scalars (288 before), then the PID history's first record inline and
    /// the name boxed (264 before: 248 fits the allocator's 256-byte chunk, 264 took 272);
    /// it must not grow back. Issue 18 item 2 added the three times `status` shows: packed
    /// in 20 bytes, with the waiters behind one pointer (16 bytes less), the instance stays
    /// at 248.
    #[test]
    fn issue12_item1_instance_does_not_grow() {
        let size = std::mem::size_of::<super::Instance>();
        println!("Instance {size} bytes");
        assert!(size <= 248, "Instance is {size} bytes");
    }

    /// Issue 18 item 2: the packed times read back to the millisecond, 0 stays 0, and a
    /// time past what 32-bit seconds hold saturates instead of wrapping.
    #[test]
    fn issue18_item2_stamps_keep_milliseconds() {
        let mut st = super::Stamps::default();
        assert_eq!(st.get(super::Stamp::Ready), 0);
        st.set(super::Stamp::Changed, 1_795_000_000_123);
        st.set(super::Stamp::Spawned, 999);
        st.set(super::Stamp::Ready, u64::MAX);
        assert_eq!(st.get(super::Stamp::Changed), 1_795_000_000_123);
        assert_eq!(st.get(super::Stamp::Spawned), 999);
        assert_eq!(st.get(super::Stamp::Ready) / 1000, u64::from(u32::MAX));
    }

    /// Issue 11 item 3: where a run ended is one byte, not a 16-byte string, and gives the
    /// PROCESS values the string did.
    #[test]
    fn issue11_item3_run_end_is_small_and_names_the_process() {
        use super::{EndedIn, ProcessKind, RunEnd};
        println!("RunEnd {} bytes", std::mem::size_of::<RunEnd>());
        assert!(std::mem::size_of::<Option<RunEnd>>() <= 16);
        assert_eq!(EndedIn::Process(ProcessKind::Main).as_str(), "main");
        assert_eq!(
            EndedIn::Process(ProcessKind::PreStart).as_str(),
            "pre-start"
        );
        assert_eq!(
            EndedIn::Process(ProcessKind::PostStop).as_str(),
            "post-stop"
        );
        assert_eq!(EndedIn::Respawn.as_str(), "respawn");
    }
}
