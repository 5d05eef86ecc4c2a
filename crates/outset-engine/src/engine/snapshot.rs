//! The engine's whole state as plain data, for a re-exec (docs/reexec.md): `snapshot` takes
//! it, `restore` builds an engine that behaves as the one it was taken from.
//!
//! Times are kept relative to the clock at the snapshot (a deadline as the time left, a
//! respawn as how long ago), so the restored engine may run on another clock. Maps are
//! written as sorted lists, so one state always gives the same text. The indexes the engine
//! keeps for speed (`start on`/`stop on` by event name, instances with `ready on`) are not
//! state: they are rebuilt.

use serde::{Deserialize, Serialize};

use super::*;

/// A time relative to the snapshot's clock: negative in the past, positive in the future.
pub type Rel = i64;

/// The engine's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every job class, by name.
    pub classes: Vec<ClassSnap>,
    /// Every instance, by id.
    pub instances: Vec<InstanceSnap>,
    /// Every live event, by id.
    pub events: Vec<EventSnap>,
    /// Events waiting in the queue, in order.
    pub pending: Vec<u64>,
    /// Events handled and waiting to finish, in order.
    pub done: Vec<u64>,
    /// The next instance or event id.
    pub next_id: u64,
    /// Instances whose state machine must advance, with the state to go to.
    pub runnable: Vec<(u64, State)>,
    /// Job processes by PID: instance and process type.
    pub pids: Vec<(u32, u64, ProcessKind)>,
    /// Other processes of an instance (a launch chain's), by PID.
    pub others: Vec<(u32, u64)>,
    /// Draining instances whose processes are still being waited for.
    pub draining: Vec<u64>,
    pub shutting_down: bool,
    /// Instances whose spawns the host has not confirmed yet.
    pub unconfirmed: Vec<u64>,
    /// `start` replies held until spawns are confirmed: instance, reply token, reply.
    pub held: Vec<(u64, u64, Response)>,
    /// The job environment table (`set-env`) when it is not the base environment; absent
    /// in states written before the table existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_table: Option<Env>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSnap {
    /// The definition as loaded.
    pub config: JobConfig,
    /// `start on`'s latches, one per operand.
    pub start_on: Option<Vec<Option<Matched>>>,
    /// Stopped instances remembered for level-triggered `stopped`, oldest first.
    pub stopped: Vec<(String, Env)>,
    /// Gone from disk, removed when its last instance stops.
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSnap {
    pub id: u64,
    pub job: String,
    pub name: String,
    /// The definition the instance started with, when it is not its class's current one.
    pub config: Option<JobConfig>,
    pub goal: Goal,
    pub state: State,
    pub env: Env,
    pub stop_on: Option<Vec<Option<Matched>>>,
    /// Live PIDs by process type.
    pub pids: Vec<(ProcessKind, u32)>,
    /// Every PID the instance has had.
    pub history: Vec<(ProcessKind, u32)>,
    /// The job event it waits on.
    pub blocker: Option<u64>,
    pub waiters: Vec<WaiterSnap>,
    pub end: Option<RunEndSnap>,
    pub main_exit: Option<ExitStatus>,
    pub phase: PhaseSnap,
    pub hook: HookSnap,
    pub rare: Option<RareSnap>,
    /// Wall-clock ms of the last state change, the main process's spawn and readiness
    /// (0: none). Absent in states written before issue 18.
    #[serde(default)]
    pub stamps: [u64; 3],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaiterSnap {
    Event(u64),
    Command { token: u64, goal: Goal },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEndSnap {
    pub failed: bool,
    /// The process type it ended in, or `None` at the respawn limit.
    pub process: Option<ProcessKind>,
    pub status: Option<ExitStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseSnap {
    Settled,
    Launching {
        needed: u32,
        seen: u32,
        settle: Rel,
        pidfile_until: Option<Rel>,
    },
    AwaitingStop,
    AwaitingNotify,
    Readying,
    Draining {
        rest_signalled: bool,
        kill_deadline: Option<Rel>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookSnap {
    Off,
    Armed(Rel),
    Signalled(Rel),
    Killed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RareSnap {
    pub stop_env: Env,
    /// When the instance respawned, oldest first.
    pub respawns: Vec<Rel>,
    pub selected_at: Option<Rel>,
    /// `ready on`'s latches.
    pub ready: Option<Vec<Option<Matched>>>,
    pub sources: Vec<(ReadySource, bool)>,
    pub start_deadline: Option<Rel>,
    pub watchdog_deadline: Option<Rel>,
    pub notify_status: Option<String>,
    /// The table this run started with, when it differs from the current one (see
    /// `Rare::base`); absent in states written before the table existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Env>,
    /// `respawn delay`'s pacing (see `Backoff`); absent in states written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffSnap>,
}

/// `respawn delay`'s pacing: the next pause, when the current run started, when the pause
/// ends (times relative to the state's clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffSnap {
    pub next: u64,
    pub since: Option<Rel>,
    pub until: Option<Rel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSnap {
    pub id: u64,
    pub name: String,
    pub env: Env,
    pub blockers: u32,
    pub failed: bool,
    pub origin: OriginSnap,
    pub queued: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OriginSnap {
    /// From a client (its reply token when it waits) or the host.
    External(Option<u64>),
    /// A job's own `starting`/`stopping`.
    Job(u64),
    Internal,
}

impl Engine {
    fn rel(&self, t: Millis) -> Rel {
        i64::try_from(t)
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(self.now).unwrap_or(i64::MAX))
    }

    /// The engine's whole state (see the module's note).
    pub fn snapshot(&self) -> Snapshot {
        let latches = |c: &Option<Condition>| c.as_ref().map(Condition::latches);
        let classes = self
            .classes
            .values()
            .map(|c| ClassSnap {
                config: (*c.config).clone(),
                start_on: latches(&c.start_on),
                stopped: c.stopped.in_order(),
                deleted: c.deleted,
            })
            .collect();
        let instances = self
            .instances
            .values()
            .map(|i| self.instance_snap(i))
            .collect();
        let mut events: Vec<EventSnap> = self
            .events
            .iter()
            .map(|(id, e)| EventSnap {
                id: id.0,
                name: e.name.to_string(),
                env: e.env.clone(),
                blockers: e.blockers,
                failed: e.failed,
                origin: match e.origin {
                    Origin::External(t) => OriginSnap::External(t.map(|t| t.0)),
                    Origin::Job(i) => OriginSnap::Job(i.0),
                    Origin::Internal => OriginSnap::Internal,
                },
                queued: e.queued,
            })
            .collect();
        events.sort_by_key(|e| e.id);
        let mut pids: Vec<_> = self
            .pids
            .iter()
            .map(|(pid, (id, kind))| (*pid, id.0, *kind))
            .collect();
        pids.sort_unstable();
        let mut others: Vec<_> = self.others.iter().map(|(p, i)| (*p, i.0)).collect();
        others.sort_unstable();
        Snapshot {
            classes,
            instances,
            events,
            pending: self.pending.iter().map(|e| e.0).collect(),
            done: self.done.iter().map(|e| e.0).collect(),
            next_id: self.next_id,
            runnable: self.runnable.iter().map(|(i, s)| (i.0, *s)).collect(),
            pids,
            others,
            draining: self.draining.iter().map(|i| i.0).collect(),
            shutting_down: self.shutting_down,
            unconfirmed: self.unconfirmed.iter().map(|i| i.0).collect(),
            held: self
                .held
                .iter()
                .map(|(i, t, r)| (i.0, t.0, r.clone()))
                .collect(),
            env_table: (*self.env_table != self.opts.base_env).then(|| Env::clone(&self.env_table)),
        }
    }

    fn instance_snap(&self, i: &Instance) -> InstanceSnap {
        let job = i.config.name.clone();
        let own = self
            .classes
            .get(&job)
            .is_none_or(|c| !Rc::ptr_eq(&c.config, &i.config) && *c.config != *i.config);
        let rel_opt = |t: Option<Millis>| t.map(|t| self.rel(t));
        let rare = i.rare.as_deref().map(|r| RareSnap {
            stop_env: r.stop_env.clone(),
            respawns: r.respawns.iter().map(|t| self.rel(*t)).collect(),
            selected_at: rel_opt(r.selected_at),
            ready: r.ready.as_ref().map(Condition::latches),
            sources: r.sources.clone(),
            start_deadline: rel_opt(r.start_deadline),
            watchdog_deadline: rel_opt(r.watchdog_deadline),
            notify_status: r.notify_status.clone(),
            base: r.base.as_deref().cloned(),
            backoff: (r.backoff != Backoff::NONE).then(|| BackoffSnap {
                next: r.backoff.next,
                since: rel_opt(r.backoff.since),
                until: rel_opt(r.backoff.until),
            }),
        });
        InstanceSnap {
            id: i.id.0,
            job,
            name: i.name.to_string(),
            config: own.then(|| (*i.config).clone()),
            goal: i.goal,
            state: i.state,
            env: i.env.to_env(),
            stop_on: i.stop_on.as_ref().map(Condition::latches),
            pids: i.pids.iter().collect(),
            history: i.history.iter().collect(),
            blocker: i.blocker.map(std::num::NonZeroU64::get),
            waiters: i
                .waiters
                .iter()
                .map(|w| match w {
                    Waiter::Event(e) => WaiterSnap::Event(e.0),
                    Waiter::Command(t, g) => WaiterSnap::Command {
                        token: t.0,
                        goal: *g,
                    },
                })
                .collect(),
            end: i.end.map(|e| RunEndSnap {
                failed: e.failed,
                process: match e.process {
                    EndedIn::Process(k) => Some(k),
                    EndedIn::Respawn => None,
                },
                status: e.status,
            }),
            main_exit: i.main_exit,
            phase: match i.phase {
                Phase::Settled => PhaseSnap::Settled,
                Phase::Launching(l) => PhaseSnap::Launching {
                    needed: l.needed,
                    seen: l.seen,
                    settle: self.rel(l.settle),
                    pidfile_until: rel_opt(l.pidfile_until),
                },
                Phase::AwaitingStop => PhaseSnap::AwaitingStop,
                Phase::AwaitingNotify => PhaseSnap::AwaitingNotify,
                Phase::Readying => PhaseSnap::Readying,
                Phase::Draining(d) => PhaseSnap::Draining {
                    rest_signalled: d.rest_signalled,
                    kill_deadline: rel_opt(d.kill_deadline),
                },
            },
            hook: match i.hook {
                HookTimer::Off => HookSnap::Off,
                HookTimer::Armed(t) => HookSnap::Armed(self.rel(t)),
                HookTimer::Signalled(t) => HookSnap::Signalled(self.rel(t)),
                HookTimer::Killed => HookSnap::Killed,
            },
            rare,
            stamps: [
                i.stamps.get(Stamp::Changed),
                i.stamps.get(Stamp::Spawned),
                i.stamps.get(Stamp::Ready),
            ],
        }
    }

    /// An engine in the state `snap` describes, its clock at `now`. Effects are not
    /// repeated: nothing is spawned, signalled or answered until the next input. Refused
    /// (with why) when the state does not hang together: an instance of no job, an event
    /// or instance named but absent, latches that do not fit their condition.
    pub fn restore(opts: Options, snap: Snapshot, now: Millis) -> Result<Engine, String> {
        let mut e = Engine::new(opts);
        e.now = now;
        let at = |rel: Rel| -> Millis {
            let t = i64::try_from(now).unwrap_or(i64::MAX).saturating_add(rel);
            u64::try_from(t).unwrap_or(0)
        };
        let at_opt = |rel: Option<Rel>| rel.map(at);
        for c in snap.classes {
            let name = c.config.name.clone();
            let config = Rc::new(c.config);
            let mut start_on = Condition::of(&config, Stanza::StartOn);
            restore_latches(&mut start_on, c.start_on, &name, "start on")?;
            let mut stopped = Stopped::default();
            for (n, env) in c.stopped {
                stopped.insert(n, env);
            }
            let class = Class {
                config,
                start_on,
                instances: InstanceMap::default(),
                stopped,
                deleted: c.deleted,
            };
            if e.classes.insert(name.clone(), Box::new(class)).is_some() {
                return Err(format!("job {name} is in the state twice"));
            }
        }
        let event_ids: BTreeSet<u64> = snap.events.iter().map(|ev| ev.id).collect();
        let instance_ids: BTreeSet<u64> = snap.instances.iter().map(|i| i.id).collect();
        let event = |id: u64, what: &str| -> Result<EventId, String> {
            if event_ids.contains(&id) {
                Ok(EventId(id))
            } else {
                Err(format!(
                    "{what} names event {id}, which is not in the state"
                ))
            }
        };
        let instance = |id: u64, what: &str| -> Result<InstanceId, String> {
            if instance_ids.contains(&id) {
                Ok(InstanceId(id))
            } else {
                Err(format!(
                    "{what} names instance {id}, which is not in the state"
                ))
            }
        };
        for s in snap.instances {
            let what = display_name(&s.job, &s.name);
            let Some(class) = e.classes.get_mut(&s.job) else {
                return Err(format!("{what}: no job {} in the state", s.job));
            };
            let config = match s.config {
                Some(c) => Rc::new(c),
                None => class.config.clone(),
            };
            if class.instances.contains_key(&s.name) {
                return Err(format!("{what} is in the state twice"));
            }
            let id = InstanceId(s.id);
            class.instances.insert(s.name.clone(), id);
            let mut stop_on = Condition::of(&config, Stanza::StopOn);
            restore_latches(&mut stop_on, s.stop_on, &what, "stop on")?;
            let mut pids = Slots::default();
            for (kind, pid) in s.pids {
                pids.insert(kind, pid);
            }
            let rare = match s.rare {
                None => None,
                Some(r) => {
                    let mut ready = Condition::of(&config, Stanza::ReadyOn);
                    restore_latches(&mut ready, r.ready, &what, "ready on")?;
                    Some(Box::new(Rare {
                        stop_env: r.stop_env,
                        respawns: r.respawns.into_iter().map(at).collect(),
                        selected_at: at_opt(r.selected_at),
                        ready,
                        sources: r.sources,
                        start_deadline: at_opt(r.start_deadline),
                        watchdog_deadline: at_opt(r.watchdog_deadline),
                        notify_status: r.notify_status,
                        base: r.base.map(Rc::new),
                        event_fd: None,
                        backoff: r.backoff.map_or(Backoff::NONE, |b| Backoff {
                            next: b.next,
                            since: at_opt(b.since),
                            until: at_opt(b.until),
                        }),
                    }))
                }
            };
            let blocker = match s.blocker {
                Some(b) => Some(
                    std::num::NonZeroU64::new(event(b, &what)?.0)
                        .ok_or_else(|| format!("{what}: blocked by event 0"))?,
                ),
                None => None,
            };
            let waiters = s
                .waiters
                .into_iter()
                .map(|w| match w {
                    WaiterSnap::Event(ev) => event(ev, &what).map(Waiter::Event),
                    WaiterSnap::Command { token, goal } => {
                        Ok(Waiter::Command(ReplyToken(token), goal))
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            let inst = Instance {
                id,
                name: s.name.clone().into_boxed_str(),
                config,
                goal: s.goal,
                state: s.state,
                env: PackedEnv::new(&s.env),
                stop_on,
                pids,
                history: {
                    let mut h = crate::slots::PidHistory::default();
                    for (kind, pid) in s.history {
                        h.push(kind, pid);
                    }
                    h
                },
                blocker,
                waiters: waiters.into(),
                end: s.end.map(|r| RunEnd {
                    failed: r.failed,
                    process: match r.process {
                        Some(k) => EndedIn::Process(k),
                        None => EndedIn::Respawn,
                    },
                    status: r.status,
                }),
                main_exit: s.main_exit,
                phase: match s.phase {
                    PhaseSnap::Settled => Phase::Settled,
                    PhaseSnap::Launching {
                        needed,
                        seen,
                        settle,
                        pidfile_until,
                    } => Phase::Launching(Launch {
                        needed,
                        seen,
                        settle: at(settle),
                        pidfile_until: at_opt(pidfile_until),
                    }),
                    PhaseSnap::AwaitingStop => Phase::AwaitingStop,
                    PhaseSnap::AwaitingNotify => Phase::AwaitingNotify,
                    PhaseSnap::Readying => Phase::Readying,
                    PhaseSnap::Draining {
                        rest_signalled,
                        kill_deadline,
                    } => Phase::Draining(Drain {
                        rest_signalled,
                        kill_deadline: at_opt(kill_deadline),
                    }),
                },
                hook: match s.hook {
                    HookSnap::Off => HookTimer::Off,
                    HookSnap::Armed(t) => HookTimer::Armed(at(t)),
                    HookSnap::Signalled(t) => HookTimer::Signalled(at(t)),
                    HookSnap::Killed => HookTimer::Killed,
                },
                stamps: {
                    let mut st = Stamps::default();
                    st.set(Stamp::Changed, s.stamps[0]);
                    st.set(Stamp::Spawned, s.stamps[1]);
                    st.set(Stamp::Ready, s.stamps[2]);
                    st
                },
                rare,
            };
            let has_ready = inst.rare().ready.is_some();
            e.instances.insert(id, Box::new(inst));
            e.index_stop(id, true);
            if has_ready {
                e.with_ready.insert(id);
            }
        }
        for ev in snap.events {
            let origin = match ev.origin {
                OriginSnap::External(t) => Origin::External(t.map(ReplyToken)),
                OriginSnap::Job(i) => Origin::Job(instance(i, "an event")?),
                OriginSnap::Internal => Origin::Internal,
            };
            e.events.insert(
                EventId(ev.id),
                Event {
                    name: ev.name.into(),
                    env: ev.env,
                    blockers: ev.blockers,
                    failed: ev.failed,
                    origin,
                    queued: ev.queued,
                    // An event's fd is not carried across a re-exec.
                    fd: None,
                },
            );
        }
        // Latched events must exist too (a latch holds its event back).
        for class in e.classes.values() {
            for id in class.start_on.iter().flat_map(|c| c.latched_events()) {
                event(id.0, &class.config.name)?;
            }
        }
        for i in e.instances.values() {
            let conds = i.stop_on.iter().chain(i.rare().ready.iter());
            for id in conds.flat_map(|c| c.latched_events()) {
                event(id.0, &i.name)?;
            }
        }
        for id in snap.pending {
            e.pending.push_back(event(id, "the event queue")?);
        }
        for id in snap.done {
            e.done.push_back(event(id, "the finished events")?);
        }
        let highest = event_ids.iter().chain(&instance_ids).max().copied();
        if highest.is_some_and(|h| h >= snap.next_id) {
            return Err(format!(
                "the next id ({}) is not above every id in the state",
                snap.next_id
            ));
        }
        e.next_id = snap.next_id.max(1);
        for (id, state) in snap.runnable {
            e.runnable
                .push_back((instance(id, "the run queue")?, state));
        }
        for (pid, id, kind) in snap.pids {
            e.pids.insert(pid, (instance(id, "a PID")?, kind));
        }
        for (pid, id) in snap.others {
            e.others.insert(pid, instance(id, "a PID")?);
        }
        for id in snap.draining {
            e.draining.insert(instance(id, "the draining set")?);
        }
        e.shutting_down = snap.shutting_down;
        if let Some(table) = snap.env_table {
            e.env_table = Rc::new(table);
        }
        for id in snap.unconfirmed {
            e.unconfirmed.push(instance(id, "the unconfirmed spawns")?);
        }
        for (id, token, reply) in snap.held {
            e.held
                .push((instance(id, "a held reply")?, ReplyToken(token), reply));
        }
        e.reindex_start();
        Ok(e)
    }
}

fn restore_latches(
    cond: &mut Option<Condition>,
    latches: Option<Vec<Option<Matched>>>,
    what: &str,
    stanza: &str,
) -> Result<(), String> {
    match (cond, latches) {
        (Some(c), Some(l)) => c
            .set_latches(l)
            .map_err(|e| format!("{what}: {stanza}: {e}")),
        (None, Some(l)) if l.iter().any(Option::is_some) => Err(format!(
            "{what}: latches for a {stanza} the definition does not have"
        )),
        _ => Ok(()),
    }
}
