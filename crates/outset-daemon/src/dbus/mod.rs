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
pub mod objects;

use std::collections::{BTreeSet, HashMap};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use outset_dbus::{Kind, Message, Type, Value};
use outset_engine::Notice;
use outset_proto::{Body, Command, Response};
use outset_sys::unix_socket::Listener;

use crate::event_loop::Daemon;
use link::Link;
use objects::{Object, error};

/// The poller token of the private socket's listener.
pub const TOKEN_LISTENER: u64 = 6;
/// Connection tokens: this plus a counter.
pub const TOKEN_LINK0: u64 = 1 << 40;
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

/// Where to serve.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The private socket's address (`unix:abstract=NAME`); `None`: no private socket.
    pub private: Option<String>,
    /// The bus to join; `None`: none.
    pub bus: Option<String>,
}

/// The private socket's address for a daemon in `user` mode or not, and a `--dbus-private`
/// value (`none`, an address, or absent for Upstart's).
pub fn private_address(arg: Option<&str>, user: bool, uid: u32, pid: u32) -> Option<String> {
    match arg {
        Some("none") => None,
        Some(a) => Some(a.to_string()),
        None if user => Some(format!(
            "unix:abstract=/com/ubuntu/upstart-session/{uid}/{pid}"
        )),
        None => Some(objects::PRIVATE_ADDRESS.to_string()),
    }
}

/// The bus to join for a `--dbus-bus` value (`none`, an address, or absent: the system
/// bus, or the session bus in `user` mode).
pub fn bus_address(arg: Option<&str>, user: bool) -> Option<String> {
    match arg {
        Some("none") => None,
        Some(a) => Some(a.to_string()),
        None => outset_sys::dbus::bus_address(user),
    }
}

/// Our own calls on the bus, by serial.
enum BusCall {
    Hello,
    RequestName,
    /// `GetConnectionUnixUser` for this caller.
    UnixUser(String),
}

/// Where an engine reply goes, and what shape it takes there.
struct Pending {
    link: u64,
    call: Message,
    /// `Some(job)`: the reply is the instance's path (Job.Start, Job.Restart).
    instance_of: Option<String>,
}

enum Outcome {
    Reply(Vec<Value>),
    Error(&'static str, String),
    /// The engine answers later, through the reply token.
    Deferred,
}

fn invalid(expected: &str, m: &Message) -> Outcome {
    Outcome::Error(
        error::INVALID_ARGS,
        format!(
            "Invalid arguments: expected ({expected}), got ({})",
            m.signature()
        ),
    )
}

fn not_implemented(what: &str) -> Outcome {
    Outcome::Error(error::NOT_IMPLEMENTED, format!("Not implemented: {what}"))
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
    /// Calls that change state, held until their caller's uid is known.
    parked: HashMap<String, Vec<Message>>,
    pending: HashMap<u64, Pending>,
    guid: String,
    /// The jobs last announced (for `JobAdded`/`JobRemoved`).
    jobs: BTreeSet<String>,
    /// Unique names given to private peers that say `Hello` (dbus-send does).
    hellos: u64,
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
    fn has_audience(&self) -> bool {
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
        self.links
            .values()
            .filter_map(Link::wake_at)
            .chain(bus)
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
        match Listener::bind_abstract(name.as_bytes()) {
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
            let link = Link::peer(conn.stream, conn.uid, &self.dbus.guid);
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
            let Some(m) = self.dbus.links.get_mut(&token).and_then(Link::next_message) else {
                break;
            };
            self.dbus_message(token, m);
        }
    }

    fn dbus_send(&mut self, link: u64, m: Message) -> Option<u32> {
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

    fn dbus_message(&mut self, link: u64, m: Message) {
        let is_bus = self.dbus.links.get(&link).is_some_and(|l| l.is_bus);
        match m.kind {
            Some(Kind::Return | Kind::Error) if is_bus => self.dbus_bus_answer(m),
            Some(Kind::MethodCall) if is_bus => {
                let sender = m.sender.clone().unwrap_or_default();
                self.dbus_call(link, m, self.dbus.uids.get(&sender).copied(), true);
            }
            Some(Kind::MethodCall) => {
                let uid = self.dbus.links.get(&link).map(|l| l.uid);
                self.dbus_call(link, m, uid, false);
            }
            // Signals (NameAcquired and the like) and stray replies: nothing to do.
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
                self.dbus.bus_backoff = RETRY_FIRST;
                // 4: do not queue; a name another process holds stays with it.
                self.bus_call(
                    "RequestName",
                    vec![Value::Str(objects::BUS_NAME.into()), Value::U32(4)],
                    BusCall::RequestName,
                );
                let names = self.engine.configs().map(|c| c.name.clone()).collect();
                self.dbus.jobs = names;
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
                for call in parked {
                    match uid {
                        Some(uid) => self.dbus_call(link, call, Some(uid), true),
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

    /// A method call: the caller's right checked (asking the bus who it is first, when it
    /// came through one), then carried out.
    fn dbus_call(&mut self, link: u64, m: Message, uid: Option<u32>, via_bus: bool) {
        let member = m.member.clone().unwrap_or_default();
        let path = m.path.clone().unwrap_or_default();
        let outcome = if path == "/org/freedesktop/DBus" && !via_bus {
            self.dbus_as_bus(&member)
        } else {
            match objects::parse_path(&path) {
                None => Outcome::Error(error::UNKNOWN_OBJECT, format!("No such object: {path}")),
                Some(object) => {
                    if objects::is_change(&object, m.interface.as_deref(), &member) {
                        match uid {
                            None if via_bus => return self.dbus_park(link, m),
                            Some(uid) if self.may_change(uid) => self.dbus_method(link, &m, object),
                            _ => Outcome::Error(
                                error::PERMISSION_DENIED,
                                format!(
                                    "Permission denied: only {} may do that",
                                    if self.mode == crate::event_loop::Mode::User {
                                        "the owner of this session"
                                    } else {
                                        "root"
                                    }
                                ),
                            ),
                        }
                    } else {
                        self.dbus_method(link, &m, object)
                    }
                }
            }
        };
        let reply = match outcome {
            Outcome::Deferred => return,
            Outcome::Reply(body) => Message::reply_to(&m, body),
            Outcome::Error(name, text) => Message::error_to(&m, name, &text),
        };
        if m.wants_reply() {
            self.dbus_send(link, reply);
        }
    }

    /// A caller on the bus whose uid is not known yet: its call waits for the answer.
    fn dbus_park(&mut self, link: u64, m: Message) {
        let sender = m.sender.clone().unwrap_or_default();
        let first = !self.dbus.parked.contains_key(&sender);
        let parked = self.dbus.parked.entry(sender.clone()).or_default();
        if parked.len() >= PARKED_PER_SENDER {
            let e = Message::error_to(&m, error::FAILED, "Too many calls waiting");
            self.dbus_send(link, e);
            return;
        }
        parked.push(m);
        if first {
            self.bus_call(
                "GetConnectionUnixUser",
                vec![Value::Str(sender.clone())],
                BusCall::UnixUser(sender),
            );
        }
    }

    /// What a private peer may ask of the "bus" it thinks it talks to (`dbus-send
    /// --bus=ADDRESS` says Hello; monitors add match rules: every signal reaches every
    /// private peer anyway).
    fn dbus_as_bus(&mut self, member: &str) -> Outcome {
        match member {
            "Hello" => {
                self.dbus.hellos += 1;
                Outcome::Reply(vec![Value::Str(format!(":1.{}", self.dbus.hellos))])
            }
            "AddMatch" | "RemoveMatch" => Outcome::Reply(vec![]),
            _ => Outcome::Error(error::UNKNOWN_METHOD, format!("No such method: {member}")),
        }
    }

    /// An engine command whose reply goes back to `m`'s caller.
    fn dbus_command(
        &mut self,
        link: u64,
        m: &Message,
        cmd: Command,
        instance_of: Option<String>,
    ) -> Outcome {
        if let Command::Start { env, .. }
        | Command::Stop { env, .. }
        | Command::Restart { env, .. }
        | Command::Emit { env, .. } = &cmd
            && let Err(e) = check_env(env)
        {
            return Outcome::Error(error::INVALID_ARGS, e);
        }
        let token = self.new_token();
        self.host.route_bus(token);
        let call = Message {
            body: Vec::new(),
            ..m.clone()
        };
        self.dbus.pending.insert(
            token.0,
            Pending {
                link,
                call,
                instance_of,
            },
        );
        self.tick_clock();
        self.engine.command(cmd, token, &mut self.host);
        Outcome::Deferred
    }

    fn dbus_method(&mut self, link: u64, m: &Message, object: Object) -> Outcome {
        let member = m.member.as_deref().unwrap_or_default();
        let iface = m.interface.as_deref();
        let b = &m.body;
        let sig = m.signature();
        // Objects that are gone (or never were) do not answer.
        let exists = match &object {
            Object::Manager | Object::Node(_) => true,
            Object::Job(j) => self.engine.config(j).is_some(),
            Object::Instance(j, i) => self.engine.instance_status(j, i).is_some(),
        };
        if !exists {
            return Outcome::Error(
                error::UNKNOWN_OBJECT,
                format!("No such object: {}", m.path.as_deref().unwrap_or_default()),
            );
        }
        match (iface, member) {
            (Some(objects::INTROSPECTABLE) | None, "Introspect") => {
                return Outcome::Reply(vec![Value::Str(objects::introspect(
                    &object,
                    &self.dbus_children(&object),
                ))]);
            }
            (Some(objects::PEER) | None, "Ping") => return Outcome::Reply(vec![]),
            (Some(objects::PROPERTIES), "Get") => {
                if sig != "ss" {
                    return invalid("ss", m);
                }
                let name = b[1].as_str().unwrap_or_default();
                return match self
                    .dbus_properties(&object)
                    .into_iter()
                    .find(|(n, _)| *n == name)
                {
                    Some((_, v)) => Outcome::Reply(vec![Value::Variant(Box::new(v))]),
                    None => {
                        Outcome::Error(error::UNKNOWN_PROPERTY, format!("No such property: {name}"))
                    }
                };
            }
            (Some(objects::PROPERTIES), "GetAll") => {
                if sig != "s" {
                    return invalid("s", m);
                }
                return Outcome::Reply(vec![objects::property_dict(self.dbus_properties(&object))]);
            }
            (Some(objects::PROPERTIES), "Set") => {
                if sig != "ssv" {
                    return invalid("ssv", m);
                }
                return match (&object, b[1].as_str()) {
                    (Object::Manager, Some("log_priority")) => not_implemented(
                        "setting log_priority (initctl log-priority) is not in this build",
                    ),
                    (_, name) => Outcome::Error(
                        error::PROPERTY_READ_ONLY,
                        format!("Property {} is read-only", name.unwrap_or_default()),
                    ),
                };
            }
            _ => {}
        }
        let ours = match &object {
            Object::Manager => objects::MANAGER,
            Object::Job(_) => objects::JOB,
            Object::Instance(..) => objects::INSTANCE,
            Object::Node(_) => "",
        };
        if iface.is_some_and(|i| i != ours) {
            return Outcome::Error(
                error::UNKNOWN_METHOD,
                format!("No such interface: {}", iface.unwrap_or_default()),
            );
        }
        match object {
            Object::Manager => self.dbus_manager(link, m, member, &sig),
            Object::Job(job) => self.dbus_job(link, m, &job, member, &sig),
            Object::Instance(job, inst) => self.dbus_instance(link, m, &job, &inst, member, &sig),
            Object::Node(_) => {
                Outcome::Error(error::UNKNOWN_METHOD, format!("No such method: {member}"))
            }
        }
    }

    fn dbus_manager(&mut self, link: u64, m: &Message, member: &str, sig: &str) -> Outcome {
        let b = &m.body;
        match (member, sig) {
            ("ReloadConfiguration", "") => {
                log::info!("reloading configuration on a D-Bus request");
                self.reload();
                Outcome::Reply(vec![])
            }
            ("GetJobByName", "s") => {
                let name = b[0].as_str().unwrap_or_default();
                match self.engine.config(name) {
                    Some(_) => Outcome::Reply(vec![Value::Path(objects::job_path(name))]),
                    None => Outcome::Error(error::UNKNOWN_JOB, format!("Unknown job: {name}")),
                }
            }
            ("GetAllJobs", "") => Outcome::Reply(vec![Value::paths(
                self.engine
                    .configs()
                    .map(|c| objects::job_path(&c.name))
                    .collect(),
            )]),
            ("GetState", "") => Outcome::Reply(vec![Value::Str(self.dbus_state())]),
            ("EmitEvent", "sasb") => {
                let (Some(event), Some(env), Some(wait)) =
                    (b[0].as_str(), b[1].as_strings(), b[2].as_bool())
                else {
                    return invalid("sasb", m);
                };
                if event.is_empty() {
                    return Outcome::Error(
                        error::INVALID_ARGS,
                        "Name may not be empty string".into(),
                    );
                }
                let cmd = Command::Emit {
                    event: event.to_string(),
                    env,
                    wait,
                };
                self.dbus_command(link, m, cmd, None)
            }
            ("EmitEventWithFile", _) => not_implemented(
                "EmitEventWithFile: passing a file descriptor with an event (UPSTART_FDS) is not supported; use EmitEvent",
            ),
            (
                "GetEnv" | "SetEnv" | "SetEnvList" | "UnsetEnv" | "UnsetEnvList" | "ListEnv"
                | "ResetEnv",
                _,
            ) => not_implemented(&format!(
                "{member}: the job environment table (initctl set-env, list-env, …) is not in this build"
            )),
            ("NotifyDiskWriteable", "") => not_implemented(
                "NotifyDiskWriteable: job output logging (console log) is not in this build",
            ),
            ("NotifyDBusAddress", "s") => {
                if self.mode != crate::event_loop::Mode::User {
                    return Outcome::Error(
                        error::FAILED,
                        "NotifyDBusAddress is only for a user session".into(),
                    );
                }
                let address = b[0].as_str().unwrap_or_default().to_string();
                log::info!("D-Bus: told to join the bus at {address}");
                self.dbus_rejoin(Some(address));
                Outcome::Reply(vec![])
            }
            ("NotifyCGroupManagerAddress", "s") => {
                // Upstart needed cgmanager to reach cgroups; outset writes cgroup2 itself.
                log::info!(
                    "D-Bus: a cgroup manager address was given; not needed (outset drives cgroup2 directly)"
                );
                Outcome::Reply(vec![])
            }
            ("EndSession", "") => {
                not_implemented("EndSession: session ends (session-end) are not in this build")
            }
            ("Restart", "") => not_implemented("Restart: a stateful re-exec is not in this build"),
            (
                "ReloadConfiguration"
                | "GetJobByName"
                | "GetAllJobs"
                | "GetState"
                | "EmitEvent"
                | "NotifyDiskWriteable"
                | "NotifyDBusAddress"
                | "NotifyCGroupManagerAddress"
                | "EndSession"
                | "Restart",
                _,
            ) => invalid(manager_signature(member), m),
            _ => Outcome::Error(error::UNKNOWN_METHOD, format!("No such method: {member}")),
        }
    }

    fn dbus_job(&mut self, link: u64, m: &Message, job: &str, member: &str, sig: &str) -> Outcome {
        let b = &m.body;
        let job = job.to_string();
        match (member, sig) {
            ("GetInstance", "as") => {
                let env = b[0].as_strings().unwrap_or_default();
                match self.engine.instance_for_env(&job, &env) {
                    Ok(Some(name)) => {
                        Outcome::Reply(vec![Value::Path(objects::instance_path(&job, &name))])
                    }
                    Ok(None) => Outcome::Error(error::UNKNOWN_INSTANCE, "Unknown instance".into()),
                    Err(e) => Outcome::Error(objects::error_name(&e), e),
                }
            }
            ("GetInstanceByName", "s") => {
                let name = b[0].as_str().unwrap_or_default();
                match self.engine.instance_status(&job, name) {
                    Some(_) => {
                        Outcome::Reply(vec![Value::Path(objects::instance_path(&job, name))])
                    }
                    None => {
                        Outcome::Error(error::UNKNOWN_INSTANCE, format!("Unknown instance: {name}"))
                    }
                }
            }
            ("GetAllInstances", "") => {
                let names = self.engine.instance_names(&job).unwrap_or_default();
                Outcome::Reply(vec![Value::paths(
                    names
                        .iter()
                        .map(|n| objects::instance_path(&job, n))
                        .collect(),
                )])
            }
            ("Start" | "Stop" | "Restart", "asb") => {
                let (Some(env), Some(wait)) = (b[0].as_strings(), b[1].as_bool()) else {
                    return invalid("asb", m);
                };
                let (cmd, instance_of) = match member {
                    "Start" => (
                        Command::Start {
                            job: job.clone(),
                            env,
                            wait,
                        },
                        Some(job),
                    ),
                    "Stop" => (
                        Command::Stop {
                            job,
                            instance: None,
                            env,
                            wait,
                        },
                        None,
                    ),
                    _ => (
                        Command::Restart {
                            job: job.clone(),
                            instance: None,
                            env,
                            wait,
                        },
                        Some(job),
                    ),
                };
                self.dbus_command(link, m, cmd, instance_of)
            }
            ("GetInstance", _) => invalid("as", m),
            ("GetInstanceByName", _) => invalid("s", m),
            ("GetAllInstances", _) => invalid("", m),
            ("Start" | "Stop" | "Restart", _) => invalid("asb", m),
            _ => Outcome::Error(error::UNKNOWN_METHOD, format!("No such method: {member}")),
        }
    }

    fn dbus_instance(
        &mut self,
        link: u64,
        m: &Message,
        job: &str,
        inst: &str,
        member: &str,
        sig: &str,
    ) -> Outcome {
        let wait = m.body.first().and_then(Value::as_bool).unwrap_or(false);
        let (job, name) = (job.to_string(), Some(inst.to_string()));
        let cmd = match (member, sig) {
            ("Start", "b") => {
                // The instance's own start environment names it again.
                let env = self
                    .engine
                    .instance_start_env(&job, inst)
                    .unwrap_or_default();
                Command::Start { job, env, wait }
            }
            ("Stop", "b") => Command::Stop {
                job,
                instance: name,
                env: vec![],
                wait,
            },
            ("Restart", "b") => Command::Restart {
                job,
                instance: name,
                env: vec![],
                wait,
            },
            ("Reload", "") => Command::Reload {
                job,
                instance: name,
                env: vec![],
            },
            ("Start" | "Stop" | "Restart", _) => return invalid("b", m),
            ("Reload", _) => return invalid("", m),
            _ => return Outcome::Error(error::UNKNOWN_METHOD, format!("No such method: {member}")),
        };
        self.dbus_command(link, m, cmd, None)
    }

    fn dbus_properties(&self, object: &Object) -> Vec<(&'static str, Value)> {
        match object {
            Object::Manager => vec![
                ("version", Value::Str(upstart_version())),
                ("log_priority", Value::Str(log_priority().into())),
            ],
            Object::Job(j) => self
                .engine
                .config(j)
                .map(objects::job_properties)
                .unwrap_or_default(),
            Object::Instance(j, i) => self
                .engine
                .instance_status(j, i)
                .map(|st| objects::instance_properties(&st))
                .unwrap_or_default(),
            Object::Node(_) => vec![],
        }
    }

    /// The child nodes introspection lists.
    fn dbus_children(&self, object: &Object) -> Vec<String> {
        match object {
            Object::Node("/") => vec!["com".into()],
            Object::Node("/com") => vec!["ubuntu".into()],
            Object::Node("/com/ubuntu") => vec!["Upstart".into()],
            Object::Node(_) => self
                .engine
                .configs()
                .map(|c| outset_dbus::path::escape(&c.name))
                .collect(),
            Object::Manager => vec!["jobs".into()],
            Object::Job(j) => self
                .engine
                .instance_names(j)
                .unwrap_or_default()
                .iter()
                .map(|n| outset_dbus::path::escape(n))
                .collect(),
            Object::Instance(..) => vec![],
        }
    }

    /// `GetState`: Upstart gave its serialised state as a JSON string; outset gives the
    /// jobs and their instances, as `outsetctl list --json` has them.
    fn dbus_state(&self) -> String {
        let mut all = Vec::new();
        for c in self.engine.configs() {
            for name in self.engine.instance_names(&c.name).unwrap_or_default() {
                all.extend(self.engine.instance_status(&c.name, &name));
            }
        }
        serde_json::to_string(&all).unwrap_or_else(|_| "[]".into())
    }

    /// Drops the bus connection (if any) and joins `address` instead, at once.
    fn dbus_rejoin(&mut self, address: Option<String>) {
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
                self.dbus.bus = self.dbus_add_link(Link::bus(stream));
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
        if !self.dbus.has_audience() {
            return;
        }
        let now: BTreeSet<String> = self.engine.configs().map(|c| c.name.clone()).collect();
        let old = std::mem::take(&mut self.dbus.jobs);
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
        self.dbus.jobs = now;
    }

    /// The end of a loop turn: engine replies out to their callers, what happened out as
    /// signals, the bus joined if it is due, and dead connections closed.
    pub(crate) fn dbus_end_turn(&mut self) {
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
                    _ => Message::reply_to(&p.call, vec![]),
                },
            };
            if p.call.wants_reply() {
                self.dbus_send(p.link, reply);
            }
        }
        let audience = self.dbus.has_audience();
        self.engine.record_notices(audience);
        for notice in self.engine.take_notices() {
            if let Notice::EventFinished { name, env } = &notice
                && name == "started"
                && env.iter().any(|e| e == "JOB=dbus")
                && self.dbus.bus.is_none()
                && self.dbus.config.bus.is_some()
            {
                // The system bus has just started: join it now.
                self.dbus.bus_retry_at = Some(Instant::now());
                self.dbus.bus_backoff = RETRY_FIRST;
            }
            let signal = notice_signal(notice);
            self.dbus.broadcast(&signal);
        }
        self.dbus_connect_bus();
        let mut dead = Vec::new();
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
fn notice_signal(n: Notice) -> Message {
    use objects::{INSTANCE, JOB, MANAGER, MANAGER_PATH, instance_path, job_path};
    match n {
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
    }
}

/// The control socket's limits on an `env` list, with its words.
fn check_env(env: &[String]) -> Result<(), String> {
    use outset_proto::{MAX_ENV, MAX_ENV_ENTRY};
    if env.len() > MAX_ENV {
        return Err(format!(
            "request refused: {} env entries (the limit is {MAX_ENV})",
            env.len()
        ));
    }
    match env.iter().find(|e| e.len() > MAX_ENV_ENTRY) {
        Some(long) => Err(format!(
            "request refused: an env entry of {} bytes (the limit is {MAX_ENV_ENTRY})",
            long.len()
        )),
        None => Ok(()),
    }
}

fn manager_signature(member: &str) -> &'static str {
    match member {
        "GetJobByName" | "NotifyDBusAddress" | "NotifyCGroupManagerAddress" => "s",
        "EmitEvent" => "sasb",
        _ => "",
    }
}

/// The manager's `version` property: outset's, saying what it is compatible with (so a
/// check for "upstart" in it holds).
pub fn upstart_version() -> String {
    format!(
        "outset {} (upstart 1.13 compatible)",
        env!("CARGO_PKG_VERSION")
    )
}

/// The manager's `log_priority`, in Upstart's words.
fn log_priority() -> &'static str {
    match log::max_level() {
        log::LevelFilter::Trace | log::LevelFilter::Debug => "debug",
        log::LevelFilter::Info => "info",
        log::LevelFilter::Warn => "warn",
        log::LevelFilter::Error => "error",
        log::LevelFilter::Off => "fatal",
    }
}
