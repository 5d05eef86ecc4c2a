//! Upstart's D-Bus API, `com.ubuntu.Upstart0_6`, served by the loop itself: on the private
//! socket Upstart listened on (a peer-to-peer D-Bus server, EXTERNAL authentication with
//! the peer's kernel-given uid) and on the system bus (the session bus in `--user` mode)
//! under the name `com.ubuntu.Upstart`, connected lazily and again whenever it goes.
//!
//! No library and no thread: messages are `outset-dbus` values, the sockets are
//! non-blocking and polled by the loop like the control socket's, and calls that change
//! state become the same engine commands, answered through the same reply tokens (so a
//! `wait` call is answered when the engine says so, the loop running meanwhile). See
//! docs/dbus.md.

pub mod link;
mod methods;
pub mod objects;
pub mod signals;

use std::collections::{BTreeSet, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use outset_dbus::{Kind, Message, Type, Value};
use outset_engine::Notice;
use outset_proto::{Body, Response};
use outset_sys::unix_socket::Listener;

use crate::event_loop::Daemon;
use link::Link;
use objects::error;

/// The poller token of the private socket's listener.
pub const TOKEN_LISTENER: u64 = 6;
/// Connection tokens: this plus a counter.
pub const TOKEN_LINK0: u64 = 1 << 36;
/// New private connections accepted per loop turn.
const ACCEPTS_PER_TURN: usize = 16;
/// Private connections at most (each is bounded; together they must be too).
const MAX_PEERS: usize = 256;
/// How long after a failed bus connection it is tried again, at first and at most.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Bus callers whose uid is remembered (unique names are never reused on a bus).
const UID_CACHE: usize = 1024;
/// Calls held per bus caller while its uid is asked for.
const PARKED_PER_SENDER: usize = 64;
/// How long the bus may take to answer `Hello` (a policy that blocks the reply would
/// otherwise leave the connection half-joined for good).
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// Where to serve.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The private socket's address (`unix:abstract=NAME`); `None`: no private socket.
    pub private: Option<String>,
    /// The bus to join; `None`: none.
    pub bus: Option<String>,
    /// A user session's daemon (the bus is the session bus: `BUS=session` on `dbus` events).
    pub user: bool,
}

/// The private socket's address for a daemon in `user` mode or not, and a `--dbus-private`
/// value (`none`, an address, or `auto` or absent for Upstart's).
pub fn private_address(arg: Option<&str>, user: bool, uid: u32, pid: u32) -> Option<String> {
    match arg {
        Some("none") => None,
        Some(a) if a != "auto" => Some(a.to_string()),
        _ if user => Some(format!(
            "unix:abstract=/com/ubuntu/upstart-session/{uid}/{pid}"
        )),
        _ => Some(objects::PRIVATE_ADDRESS.to_string()),
    }
}

/// The bus to join for a `--dbus-bus` value (`none`, an address, or `auto` or absent: the
/// system bus, or the session bus in `user` mode).
pub fn bus_address(arg: Option<&str>, user: bool) -> Option<String> {
    match arg {
        Some("none") => None,
        Some(a) if a != "auto" => Some(a.to_string()),
        _ => outset_sys::dbus::bus_address(user),
    }
}

/// Our own calls on the bus, by serial.
enum BusCall {
    Hello,
    RequestName,
    /// `GetConnectionUnixUser` for this caller.
    UnixUser(String),
    /// `AddMatch` or `RemoveMatch` for signals (signals.rs).
    Match,
}

/// Where an engine reply goes, and what shape it takes there.
struct Pending {
    link: u64,
    call: Message,
    /// `Some(job)`: the reply is the instance's path (Job.Start, Job.Restart).
    instance_of: Option<String>,
}

#[derive(Default)]
pub struct Dbus {
    config: Config,
    listener: Option<Listener>,
    links: HashMap<u64, Link>,
    next_link: u64,
    /// The connection to the bus, when there is one.
    bus: Option<u64>,
    bus_retry_at: Option<Instant>,
    bus_backoff: Duration,
    /// Our unique name on the bus, once `Hello` was answered.
    unique_name: Option<String>,
    bus_calls: HashMap<u32, BusCall>,
    uids: HashMap<String, u32>,
    /// Calls that change state, held until their caller's uid is known, with their fds.
    parked: HashMap<String, Vec<(Message, Vec<OwnedFd>)>>,
    /// The fds of the call being served (closed when it is done, unless it kept one).
    call_fds: Vec<OwnedFd>,
    pending: HashMap<u64, Pending>,
    guid: String,
    /// The jobs last announced (for `JobAdded`/`JobRemoved`).
    jobs: BTreeSet<String>,
    /// Unique names given to private peers that say `Hello` (dbus-send does).
    hellos: u64,
    /// A job named `dbus` was running at the end of the last turn.
    bus_job_seen: bool,
    /// When the bus connection was made, until `Hello` is answered.
    joining_since: Option<Instant>,
    /// Some job's condition names the `dbus` event.
    signals_wanted: bool,
    /// The bus connection has our `type='signal'` match rule.
    match_added: bool,
}

impl Dbus {
    pub fn new(config: Config) -> Dbus {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Dbus {
            guid: format!("{:016x}{:016x}", outset_sys::process::pid(), nanos as u64),
            bus_retry_at: config.bus.as_ref().map(|_| Instant::now()),
            bus_backoff: RETRY_FIRST,
            config,
            ..Dbus::default()
        }
    }

    /// Whether anyone could hear a signal: then the engine records what happens.
    pub(crate) fn has_audience(&self) -> bool {
        self.links
            .values()
            .any(|l| l.is_open() && (!l.is_bus || self.unique_name.is_some()))
    }

    /// When the loop must come back though nothing is readable.
    pub fn next_wake(&self) -> Option<Instant> {
        let bus = if self.bus.is_none() {
            self.bus_retry_at
        } else {
            None
        };
        let hello = self.joining_since.map(|t| t + HELLO_TIMEOUT);
        self.links
            .values()
            .filter_map(Link::wake_at)
            .chain(bus)
            .chain(hello)
            .min()
    }

    /// Connections holding complete messages not yet served.
    pub fn backlog(&self) -> Vec<u64> {
        self.links
            .iter()
            .filter(|(_, l)| l.has_backlog())
            .map(|(t, _)| *t)
            .collect()
    }

    fn broadcast(&mut self, m: &Message) {
        let named = self.unique_name.is_some();
        for l in self.links.values_mut() {
            if l.is_open() && (!l.is_bus || named) {
                l.send(m.clone());
            }
        }
    }
}

impl Daemon {
    /// Opens the private socket (a name another process holds is logged, not fatal: the
    /// daemon runs on without it).
    pub(crate) fn dbus_start(&mut self) {
        let Some(address) = self.dbus.config.private.clone() else {
            return;
        };
        let Some(name) = address.strip_prefix("unix:abstract=") else {
            log::warn!(
                "D-Bus private socket {address:?}: only unix:abstract= addresses are served"
            );
            return;
        };
        let name = name.split(',').next().unwrap_or_default();
        match Listener::bind_abstract(name, None) {
            Ok(l) => {
                if let Err(e) = self.poller.add(l.as_fd(), TOKEN_LISTENER) {
                    log::warn!("D-Bus private socket: {e}");
                    return;
                }
                log::info!("D-Bus: serving com.ubuntu.Upstart0_6 at {address}");
                self.dbus.listener = Some(l);
            }
            Err(e) => log::warn!("D-Bus private socket {address}: {e}; not serving it"),
        }
    }

    pub(crate) fn on_dbus_accept(&mut self) {
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(listener) = &self.dbus.listener else {
                return;
            };
            let conn = match listener.accept() {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    log::warn!("D-Bus accept: {e}");
                    return;
                }
            };
            let peers = self.dbus.links.values().filter(|l| !l.is_bus).count();
            let mine = self
                .dbus
                .links
                .values()
                .filter(|l| !l.is_bus && l.uid == conn.uid)
                .count();
            // As on the control socket: a uid that may not change anything has a share of
            // its own, so it cannot crowd out root (who is never counted).
            if (conn.uid != 0 && peers >= MAX_PEERS)
                || (!self.may_change(conn.uid) && mine >= crate::conn::PER_UID)
            {
                log::warn!(
                    "D-Bus: too many private connections (uid {} has {mine}, {peers} in all); refusing one",
                    conn.uid
                );
                continue;
            }
            // Fds only from those who may call the one method that takes one.
            let fds = self.may_change(conn.uid);
            let link = Link::peer(conn.stream, conn.uid, &self.dbus.guid, fds);
            self.dbus_add_link(link);
        }
    }

    fn dbus_add_link(&mut self, link: Link) -> Option<u64> {
        let token = TOKEN_LINK0 + self.dbus.next_link;
        self.dbus.next_link += 1;
        if let Err(e) = self
            .poller
            .add_with(link.stream.as_fd(), token, link.watched)
        {
            log::warn!("D-Bus: cannot watch a connection: {e}");
            return None;
        }
        self.dbus.links.insert(token, link);
        Some(token)
    }

    /// A connection is readable (or writable, or has messages left from its last turn).
    pub(crate) fn on_dbus_link(&mut self, token: u64) {
        let Some(link) = self.dbus.links.get_mut(&token) else {
            return;
        };
        link.flush();
        let was_open = link.is_open();
        link.fill();
        if link.is_bus && !was_open && link.is_open() {
            self.dbus_bus_opened(token);
        }
        for _ in 0..link::MESSAGES_PER_TURN {
            let Some((m, fds)) = self.dbus.links.get_mut(&token).and_then(Link::next_message)
            else {
                break;
            };
            self.dbus_message(token, m, fds);
        }
    }

    pub(crate) fn dbus_send(&mut self, link: u64, m: Message) -> Option<u32> {
        self.dbus.links.get_mut(&link).map(|l| l.send(m))
    }

    fn dbus_bus_opened(&mut self, token: u64) {
        let hello = Message {
            destination: Some("org.freedesktop.DBus".into()),
            ..Message::method_call(
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "Hello",
                vec![],
            )
        };
        if let Some(serial) = self.dbus_send(token, hello) {
            self.dbus.bus_calls.insert(serial, BusCall::Hello);
        }
    }

    fn bus_call(&mut self, member: &str, body: Vec<Value>, call: BusCall) {
        let Some(token) = self.dbus.bus else {
            return;
        };
        let m = Message {
            destination: Some("org.freedesktop.DBus".into()),
            ..Message::method_call(
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                member,
                body,
            )
        };
        if let Some(serial) = self.dbus_send(token, m) {
            self.dbus.bus_calls.insert(serial, call);
        }
    }

    fn dbus_message(&mut self, link: u64, m: Message, fds: link::Fds) {
        let is_bus = self.dbus.links.get(&link).is_some_and(|l| l.is_bus);
        // A call whose fds do not match its header is refused (its fds closed); the
        // connection carries on.
        let fds = match fds {
            Ok(fds) => fds,
            Err(why) if m.kind == Some(Kind::MethodCall) => {
                log::warn!(
                    "D-Bus: {} refused: {why}",
                    m.member.as_deref().unwrap_or("a call")
                );
                if m.wants_reply() {
                    let e = Message::error_to(
                        &m,
                        error::INVALID_ARGS,
                        &format!("Invalid arguments: {why}"),
                    );
                    self.dbus_send(link, e);
                }
                return;
            }
            Err(_) => Vec::new(),
        };
        match m.kind {
            Some(Kind::Return | Kind::Error) if is_bus => self.dbus_bus_answer(m),
            Some(Kind::MethodCall) if is_bus => {
                let sender = m.sender.clone().unwrap_or_default();
                self.dbus_call(link, m, fds, self.dbus.uids.get(&sender).copied(), true);
            }
            Some(Kind::MethodCall) => {
                let uid = self.dbus.links.get(&link).map(|l| l.uid);
                self.dbus_call(link, m, fds, uid, false);
            }
            // Signals on the bus: `dbus` events when jobs want them.
            Some(Kind::Signal) if is_bus => self.dbus_signal(&m),
            // Signals from private peers and stray replies: nothing to do.
            _ => {}
        }
    }

    /// The bus answered one of our calls.
    fn dbus_bus_answer(&mut self, m: Message) {
        let Some(call) = m.reply_serial.and_then(|s| self.dbus.bus_calls.remove(&s)) else {
            return;
        };
        let ok = m.kind == Some(Kind::Return);
        match call {
            BusCall::Hello => {
                let name = m.body.first().and_then(Value::as_str).map(str::to_string);
                log::info!(
                    "D-Bus: joined the bus as {}",
                    name.as_deref().unwrap_or("?")
                );
                self.dbus.unique_name = name;
                self.dbus.joining_since = None;
                self.dbus.bus_backoff = RETRY_FIRST;
                // 4: do not queue; a name another process holds stays with it.
                self.bus_call(
                    "RequestName",
                    vec![Value::Str(objects::BUS_NAME.into()), Value::U32(4)],
                    BusCall::RequestName,
                );
                // A new connection has no match rules: ask for signals again if wanted.
                self.dbus_sync_match();
            }
            BusCall::RequestName => match m.body.first() {
                Some(Value::U32(1 | 4)) => {
                    log::info!(
                        "D-Bus: serving com.ubuntu.Upstart0_6 on the bus as {}",
                        objects::BUS_NAME
                    )
                }
                _ => log::warn!(
                    "D-Bus: the bus did not give us {} ({:?}); answering by unique name only",
                    objects::BUS_NAME,
                    m.error_name.as_deref().unwrap_or("taken")
                ),
            },
            BusCall::Match if !ok => log::warn!(
                "D-Bus: the bus refused our signal match rule ({}); no dbus events",
                m.error_name.as_deref().unwrap_or("?")
            ),
            BusCall::Match => {}
            BusCall::UnixUser(sender) => {
                let uid = match (ok, m.body.first()) {
                    (true, Some(Value::U32(uid))) => Some(*uid),
                    _ => None,
                };
                if let Some(uid) = uid {
                    if self.dbus.uids.len() >= UID_CACHE {
                        self.dbus.uids.clear();
                    }
                    self.dbus.uids.insert(sender.clone(), uid);
                }
                let parked = self.dbus.parked.remove(&sender).unwrap_or_default();
                let Some(link) = self.dbus.bus else {
                    return;
                };
                for (call, fds) in parked {
                    match uid {
                        Some(uid) => self.dbus_call(link, call, fds, Some(uid), true),
                        None => {
                            let e = Message::error_to(
                                &call,
                                error::PERMISSION_DENIED,
                                "Permission denied: the bus could not say who is calling",
                            );
                            self.dbus_send(link, e);
                        }
                    }
                }
            }
        }
    }

    /// Joins the bus at once if not joined (SIGUSR1, as Upstart: ChromeOS's `dbus` job
    /// sends it once the system bus is up).
    pub(crate) fn dbus_join_now(&mut self) {
        if self.dbus.bus.is_none() && self.dbus.config.bus.is_some() {
            log::info!("D-Bus: joining the bus now");
            self.dbus.bus_retry_at = Some(Instant::now());
            self.dbus.bus_backoff = RETRY_FIRST;
        } else {
            log::debug!("SIGUSR1: no bus to join (joined already, or none configured)");
        }
    }

    /// Drops the bus connection (if any) and joins `address` instead, at once.
    pub(crate) fn dbus_rejoin(&mut self, address: Option<String>) {
        if let Some(token) = self.dbus.bus {
            self.dbus_close(token, "joining another bus");
        }
        self.dbus.config.bus = address;
        self.dbus.bus_retry_at = Some(Instant::now());
        self.dbus.bus_backoff = RETRY_FIRST;
    }

    fn dbus_close(&mut self, token: u64, why: &str) {
        let Some(link) = self.dbus.links.remove(&token) else {
            return;
        };
        let _ = self.poller.delete(link.stream.as_fd());
        self.dbus.pending.retain(|_, p| p.link != token);
        if link.is_bus {
            log::warn!("D-Bus: lost the bus connection ({why}); joining again later");
            self.dbus.bus = None;
            self.dbus.unique_name = None;
            self.dbus.match_added = false;
            self.dbus.joining_since = None;
            self.dbus.bus_calls.clear();
            self.dbus.parked.clear();
            self.dbus.uids.clear();
            self.dbus.bus_retry_at = Some(Instant::now() + self.dbus.bus_backoff);
            self.dbus.bus_backoff = (self.dbus.bus_backoff * 2).min(RETRY_MAX);
        } else {
            log::debug!(
                "D-Bus: private connection of uid {} closed ({why})",
                link.uid
            );
        }
    }

    fn dbus_connect_bus(&mut self) {
        let Some(address) = self.dbus.config.bus.clone() else {
            return;
        };
        if self.dbus.bus.is_some() || self.dbus.bus_retry_at.is_none_or(|t| Instant::now() < t) {
            return;
        }
        match outset_sys::dbus::connect_nonblocking(&address) {
            Ok(stream) => {
                self.dbus.bus_retry_at = None;
                self.dbus.joining_since = Some(Instant::now());
                self.dbus.bus = self.dbus_add_link(Link::bus(stream));
                if self.dbus.bus.is_none() {
                    self.dbus.joining_since = None;
                    self.dbus.bus_retry_at = Some(Instant::now() + self.dbus.bus_backoff);
                }
                log::debug!("D-Bus: connecting to the bus at {address}");
            }
            Err(e) => {
                log::debug!(
                    "D-Bus: no bus at {address} yet ({e}); trying again in {:?}",
                    self.dbus.bus_backoff
                );
                self.dbus.bus_retry_at = Some(Instant::now() + self.dbus.bus_backoff);
                self.dbus.bus_backoff = (self.dbus.bus_backoff * 2).min(RETRY_MAX);
            }
        }
    }

    /// The job list changed (a reload): `JobAdded` and `JobRemoved`.
    pub(crate) fn dbus_jobs_changed(&mut self) {
        if self.dbus.config.private.is_none() && self.dbus.config.bus.is_none() {
            return;
        }
        // Kept whether or not anyone listens, so the first listener hears changes only.
        let now: BTreeSet<String> = self.engine.configs().map(|c| c.name.clone()).collect();
        let old = std::mem::replace(&mut self.dbus.jobs, now.clone());
        if !self.dbus.has_audience() {
            return;
        }
        for gone in old.difference(&now) {
            let s = Message::signal(
                objects::MANAGER_PATH,
                objects::MANAGER,
                "JobRemoved",
                vec![Value::Path(objects::job_path(gone))],
            );
            self.dbus.broadcast(&s);
        }
        for new in now.difference(&old) {
            let s = Message::signal(
                objects::MANAGER_PATH,
                objects::MANAGER,
                "JobAdded",
                vec![Value::Path(objects::job_path(new))],
            );
            self.dbus.broadcast(&s);
        }
    }

    /// The end of a loop turn: engine replies out to their callers, what happened out as
    /// signals, the bus joined if it is due, and dead connections closed.
    pub(crate) fn dbus_end_turn(&mut self, notices: Vec<Notice>) {
        let replies = self.host.take_bus_replies();
        for (token, response) in replies {
            let Some(p) = self.dbus.pending.remove(&token.0) else {
                continue;
            };
            let reply = match response {
                Response::Error { message } => {
                    Message::error_to(&p.call, objects::error_name(&message), &message)
                }
                Response::Ok { body } => match (p.instance_of, body) {
                    (Some(job), Body::Instances(list)) => match list.first() {
                        Some(st) => Message::reply_to(
                            &p.call,
                            vec![Value::Path(objects::instance_path(&job, &st.instance))],
                        ),
                        None => {
                            Message::error_to(&p.call, error::UNKNOWN_INSTANCE, "Unknown instance")
                        }
                    },
                    // GetEnv's value, ListEnv's table (sorted, as initctl shows it).
                    (_, Body::Value(v)) => Message::reply_to(&p.call, vec![Value::Str(v)]),
                    (_, Body::Env(mut list)) => {
                        list.sort();
                        Message::reply_to(&p.call, vec![Value::strings(&list)])
                    }
                    _ => Message::reply_to(&p.call, vec![]),
                },
            };
            if p.call.wants_reply() {
                self.dbus_send(p.link, reply);
            }
        }
        let audience = self.dbus.has_audience();
        for notice in notices.into_iter().filter(|_| audience) {
            // A job whose file went while it ran is gone with its last instance.
            let gone = match &notice {
                Notice::InstanceRemoved { job, .. }
                    if self.engine.config(job).is_none() && self.dbus.jobs.remove(job) =>
                {
                    Some(job.clone())
                }
                _ => None,
            };
            if let Some(signal) = notice_signal(notice) {
                self.dbus.broadcast(&signal);
            }
            if let Some(job) = gone {
                let s = Message::signal(
                    objects::MANAGER_PATH,
                    objects::MANAGER,
                    "JobRemoved",
                    vec![Value::Path(objects::job_path(&job))],
                );
                self.dbus.broadcast(&s);
            }
        }
        // The system bus has just come up (a job named `dbus` runs): join it now.
        let bus_job = self.dbus.config.bus.is_some()
            && self.dbus.bus.is_none()
            && self
                .engine
                .instance_status("dbus", "")
                .is_some_and(|st| st.state == "running");
        if bus_job && !self.dbus.bus_job_seen {
            self.dbus_join_now();
        }
        self.dbus.bus_job_seen = bus_job;
        self.dbus_connect_bus();
        let mut dead = Vec::new();
        if let (Some(token), Some(since)) = (self.dbus.bus, self.dbus.joining_since)
            && since.elapsed() > HELLO_TIMEOUT
        {
            dead.push((token, "the bus did not answer Hello".to_string()));
        }
        for (token, link) in self.dbus.links.iter_mut() {
            link.flush();
            if let Some(why) = &link.broken {
                dead.push((*token, why.clone()));
                continue;
            }
            let want = link.interest();
            if want != link.watched {
                if let Err(e) = self.poller.modify(link.stream.as_fd(), *token, want) {
                    dead.push((*token, format!("poller: {e}")));
                    continue;
                }
                link.watched = want;
            }
        }
        for (token, why) in dead {
            self.dbus_close(token, &why);
        }
    }
}

/// The signal for one thing that happened.
fn notice_signal(n: Notice) -> Option<Message> {
    use objects::{INSTANCE, JOB, MANAGER, MANAGER_PATH, instance_path, job_path};
    Some(match n {
        // Upstart signals an event once it has finished (below).
        Notice::EventHandled { .. } => return None,
        Notice::InstanceAdded { job, instance } => Message::signal(
            &job_path(&job),
            JOB,
            "InstanceAdded",
            vec![Value::Path(instance_path(&job, &instance))],
        ),
        Notice::InstanceRemoved { job, instance } => Message::signal(
            &job_path(&job),
            JOB,
            "InstanceRemoved",
            vec![Value::Path(instance_path(&job, &instance))],
        ),
        Notice::GoalChanged {
            job,
            instance,
            goal,
        } => Message::signal(
            &instance_path(&job, &instance),
            INSTANCE,
            "GoalChanged",
            vec![Value::Str(goal.into())],
        ),
        Notice::StateChanged {
            job,
            instance,
            state,
            ..
        } => Message::signal(
            &instance_path(&job, &instance),
            INSTANCE,
            "StateChanged",
            vec![Value::Str(state.into())],
        ),
        Notice::Failed {
            job,
            instance,
            status,
        } => Message::signal(
            &instance_path(&job, &instance),
            INSTANCE,
            "Failed",
            vec![Value::I32(status)],
        ),
        Notice::EventFinished { name, env } => Message::signal(
            MANAGER_PATH,
            MANAGER,
            "EventEmitted",
            vec![
                Value::Str(name),
                Value::Array(Type::Str, env.into_iter().map(Value::Str).collect()),
            ],
        ),
    })
}
