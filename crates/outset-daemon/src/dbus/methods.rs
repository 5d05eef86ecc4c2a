//! The methods and properties of Upstart's objects: each call's permission, then what it
//! does (an answer from the engine at once, or an engine command answered through a reply
//! token).

use std::os::fd::OwnedFd;

use outset_dbus::{Message, Value};
use outset_proto::Command;

use super::objects::{self, Object, error};
use super::{BusCall, PARKED_PER_SENDER, Pending};
use crate::event_loop::Daemon;

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

/// Upstart's signature of an environment method: `as` job details (empty for the global
/// table, else job and instance) first.
fn env_signature(member: &str) -> &'static str {
    match member {
        "GetEnv" | "UnsetEnv" => "ass",
        "SetEnv" => "assb",
        "SetEnvList" => "asasb",
        "UnsetEnvList" => "asas",
        _ => "as",
    }
}

/// The control command behind an environment method, `None` when the arguments are not
/// Upstart's (`env_signature`).
fn env_command(member: &str, sig: &str, b: &[Value]) -> Option<Command> {
    if sig != env_signature(member) {
        return None;
    }
    let details = b.first()?.as_strings()?;
    let (job, instance) = match details.as_slice() {
        [] => (None, None),
        [job] => (Some(job.clone()), Some(String::new())),
        [job, instance, ..] => (Some(job.clone()), Some(instance.clone())),
    };
    Some(match member {
        "GetEnv" => Command::GetEnv {
            name: b.get(1)?.as_str()?.to_string(),
            job,
            instance,
        },
        "SetEnv" | "SetEnvList" => Command::SetEnv {
            env: match member {
                "SetEnv" => vec![b.get(1)?.as_str()?.to_string()],
                _ => b.get(1)?.as_strings()?,
            },
            // Upstart's `replace`: false keeps a variable already set (initctl's `-r` is
            // the inverse, `retain`).
            retain: !b.get(2)?.as_bool()?,
            job,
            instance,
        },
        "UnsetEnv" | "UnsetEnvList" => Command::UnsetEnv {
            names: match member {
                "UnsetEnv" => vec![b.get(1)?.as_str()?.to_string()],
                _ => b.get(1)?.as_strings()?,
            },
            job,
            instance,
        },
        "ListEnv" => Command::ListEnv { job, instance },
        _ => Command::ResetEnv { job, instance },
    })
}

impl Daemon {
    /// A method call: the caller's right checked (asking the bus who it is first, when it
    /// came through one), then carried out.
    pub(super) fn dbus_call(
        &mut self,
        link: u64,
        m: Message,
        fds: Vec<OwnedFd>,
        uid: Option<u32>,
        via_bus: bool,
    ) {
        self.dbus.call_fds = fds;
        self.dbus_call_with_fds(link, m, uid, via_bus);
        // Whatever the call did not keep is closed now.
        self.dbus.call_fds.clear();
    }

    fn dbus_call_with_fds(&mut self, link: u64, m: Message, uid: Option<u32>, via_bus: bool) {
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
        let fds = std::mem::take(&mut self.dbus.call_fds);
        // The fds held by waiting calls are bounded too, across all callers.
        let held: usize = self
            .dbus
            .parked
            .values()
            .flatten()
            .map(|(_, f)| f.len())
            .sum();
        let first = !self.dbus.parked.contains_key(&sender);
        let parked = self.dbus.parked.entry(sender.clone()).or_default();
        if parked.len() >= PARKED_PER_SENDER
            || (!fds.is_empty() && held + fds.len() > super::link::MAX_QUEUED_FDS)
        {
            let e = Message::error_to(&m, error::FAILED, "Too many calls waiting");
            self.dbus_send(link, e);
            return;
        }
        parked.push((m, fds));
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
        self.dbus_command_with_fd(link, m, cmd, instance_of, None)
    }

    /// [`Self::dbus_command`] with an fd sent along (an `emit`: `EmitEventWithFile`).
    fn dbus_command_with_fd(
        &mut self,
        link: u64,
        m: &Message,
        cmd: Command,
        instance_of: Option<String>,
        fd: Option<OwnedFd>,
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
        match fd {
            Some(fd) => {
                let id = self.host.hold_event_fd(fd);
                self.engine.command_with_fd(cmd, id, token, &mut self.host);
            }
            None => self.engine.command(cmd, token, &mut self.host),
        }
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
        let ours = match &object {
            Object::Manager => objects::MANAGER,
            Object::Job(_) => objects::JOB,
            Object::Instance(..) => objects::INSTANCE,
            Object::Node(_) => "",
        };
        // Properties of an interface the object does not have: none (an empty name means
        // every interface, as the spec allows).
        if iface == Some(objects::PROPERTIES)
            && let Some(Value::Str(asked)) = b.first()
            && !asked.is_empty()
            && asked != ours
        {
            return Outcome::Error(
                error::UNKNOWN_INTERFACE,
                format!("No such interface: {asked}"),
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
                    (Object::Manager, Some("log_priority")) => {
                        let value = match &b[2] {
                            Value::Variant(v) => v.as_str(),
                            _ => None,
                        };
                        match value.map(crate::logger::set_priority) {
                            Some(Ok(())) => {
                                log::info!("log priority set over D-Bus");
                                Outcome::Reply(vec![])
                            }
                            Some(Err(e)) => Outcome::Error(error::INVALID_ARGS, e),
                            None => Outcome::Error(
                                error::INVALID_ARGS,
                                "log_priority is a string".into(),
                            ),
                        }
                    }
                    (_, name) => Outcome::Error(
                        error::PROPERTY_READ_ONLY,
                        format!("Property {} is read-only", name.unwrap_or_default()),
                    ),
                };
            }
            _ => {}
        }
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
            ("EmitEventWithFile", "sasbh") => {
                let (Some(event), Some(env), Some(wait), Value::Fd(index)) =
                    (b[0].as_str(), b[1].as_strings(), b[2].as_bool(), &b[3])
                else {
                    return invalid("sasbh", m);
                };
                if event.is_empty() {
                    return Outcome::Error(
                        error::INVALID_ARGS,
                        "Name may not be empty string".into(),
                    );
                }
                // The link checked that the fds match the header and the index.
                let fd = usize::try_from(*index)
                    .ok()
                    .filter(|i| *i < self.dbus.call_fds.len())
                    .map(|i| self.dbus.call_fds.swap_remove(i));
                let Some(fd) = fd else {
                    return Outcome::Error(
                        error::INVALID_ARGS,
                        "Invalid arguments: no file descriptor came with the call".into(),
                    );
                };
                let cmd = Command::Emit {
                    event: event.to_string(),
                    env,
                    wait,
                };
                self.dbus_command_with_fd(link, m, cmd, None, Some(fd))
            }
            (
                "GetEnv" | "SetEnv" | "SetEnvList" | "UnsetEnv" | "UnsetEnvList" | "ListEnv"
                | "ResetEnv",
                _,
            ) => match env_command(member, sig, b) {
                Some(cmd) => self.dbus_command(link, m, cmd, None),
                None => invalid(env_signature(member), m),
            },
            ("NotifyDiskWriteable", "") => {
                log::info!("the disk is writable (D-Bus): writing held job output");
                self.host.logs.flush_held(true);
                Outcome::Reply(vec![])
            }
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
                if self.mode != crate::event_loop::Mode::User {
                    return Outcome::Error(
                        error::FAILED,
                        "EndSession is only for a user session".into(),
                    );
                }
                // Upstart's `logout`: session-end, then every job stops and the daemon exits.
                self.end_session("logout");
                Outcome::Reply(vec![])
            }
            ("Restart", "") => {
                // As Upstart: answered at once, then the re-exec (D-Bus connections are not
                // handed over, so the new image could not answer). A re-exec that cannot be
                // made is logged and the old image carries on.
                if m.wants_reply() {
                    self.dbus_send(link, Message::reply_to(m, vec![]));
                }
                let why = self.reexec(None, None);
                log::error!("D-Bus Restart: re-exec failed, carrying on: {why}");
                Outcome::Deferred
            }
            (
                "ReloadConfiguration"
                | "GetJobByName"
                | "GetAllJobs"
                | "GetState"
                | "EmitEvent"
                | "EmitEventWithFile"
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
                ("log_priority", Value::Str(log_priority())),
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
        "EmitEventWithFile" => "sasbh",
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

/// The manager's `log_priority`, in Upstart's words (as `initctl log-priority` reads it).
fn log_priority() -> String {
    crate::logger::priority()
}
