//! D-Bus signals as `dbus` events, as `upstart-dbus-bridge` emitted them: while some job's
//! condition names `dbus`, the bus connection asks for every signal (`AddMatch
//! type='signal'`) and each one that arrives becomes a `dbus` event with the bridge's env.

use outset_dbus::{Kind, Message};
use outset_engine::Env;
use outset_job::{Expr, JobConfig};

use crate::event_loop::Daemon;

/// The event the bridge emitted.
pub const EVENT: &str = "dbus";
/// The match rule the bridge added.
const RULE: &str = "type='signal'";
/// Upstart's own interface: its signals are never bridged (the bridge's guard against a
/// job that reacts to `EventEmitted` by emitting).
const UPSTART_INTERFACE: &str = "com.ubuntu.Upstart0_6";

/// Whether `job` starts or stops on a `dbus` event.
pub fn job_wants_dbus(job: &JobConfig) -> bool {
    fn walk(e: &Expr) -> bool {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => walk(a) || walk(b),
            Expr::Event(m) => m.name == EVENT,
            Expr::Ready(_) => false,
        }
    }
    [&job.start_on, &job.stop_on]
        .into_iter()
        .flatten()
        .any(walk)
}

/// The env of the `dbus` event for `m` heard on the bus `bus` (`system` or `session`), or
/// `None` when it is not bridged: not a signal, no member, sent by this daemon itself
/// (`own_name`, its unique name) or on Upstart's interface. String-like arguments
/// (strings, object paths, signatures) are `ARGn`, `n` their position in the body.
pub fn signal_env(m: &Message, bus: &str, own_name: Option<&str>) -> Option<Env> {
    if m.kind != Some(Kind::Signal) {
        return None;
    }
    let member = m.member.as_deref()?;
    if own_name.is_some() && m.sender.as_deref() == own_name {
        return None;
    }
    if m.interface
        .as_deref()
        .is_some_and(|i| i == UPSTART_INTERFACE || i.starts_with("com.ubuntu.Upstart0_6."))
    {
        return None;
    }
    let mut env: Env = vec![("SIGNAL".into(), member.into())];
    let mut add = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            env.push((k.into(), v.clone()));
        }
    };
    add("INTERFACE", &m.interface);
    add("OBJPATH", &m.path);
    add("SENDER", &m.sender);
    add("DESTINATION", &m.destination);
    env.push(("BUS".into(), bus.into()));
    for (i, v) in m.body.iter().enumerate() {
        if let Some(s) = v.as_str() {
            env.push((format!("ARG{i}"), s.into()));
        }
    }
    Some(env)
}

impl Daemon {
    /// The job set changed: whether any job waits on `dbus` now.
    pub(crate) fn dbus_want_signals(&mut self, want: bool) {
        if want != self.dbus.signals_wanted {
            log::debug!(
                "D-Bus: {} signals as events",
                if want {
                    "bridging"
                } else {
                    "no longer bridging"
                }
            );
        }
        self.dbus.signals_wanted = want;
        self.dbus_sync_match();
    }

    /// Adds the match rule when signals are wanted and the bus is joined (again after a
    /// rejoin: a new connection has no rules), removes it when no job wants them.
    pub(crate) fn dbus_sync_match(&mut self) {
        if self.dbus.unique_name.is_none() || self.dbus.match_added == self.dbus.signals_wanted {
            return;
        }
        let member = if self.dbus.signals_wanted {
            "AddMatch"
        } else {
            "RemoveMatch"
        };
        self.bus_call(
            member,
            vec![outset_dbus::Value::Str(RULE.into())],
            super::BusCall::Match,
        );
        self.dbus.match_added = self.dbus.signals_wanted;
    }

    /// A signal from the bus: a `dbus` event, if jobs want them.
    pub(crate) fn dbus_signal(&mut self, m: &Message) {
        if !self.dbus.signals_wanted {
            return;
        }
        let bus = if self.dbus.config.user {
            "session"
        } else {
            "system"
        };
        let Some(env) = signal_env(m, bus, self.dbus.unique_name.as_deref()) else {
            return;
        };
        log::debug!(
            "D-Bus signal {} from {}: emitting {EVENT}",
            m.member.as_deref().unwrap_or("?"),
            m.sender.as_deref().unwrap_or("?")
        );
        self.tick_clock();
        self.engine.emit(EVENT, env, None, &mut self.host);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use outset_dbus::Value;

    /// What `dbus-send --type=signal /org/example org.example.Test.Ping string:hello
    /// uint32:7 objpath:/x` puts on the wire, decoded.
    fn ping() -> Message {
        let mut m = Message::signal(
            "/org/example",
            "org.example.Test",
            "Ping",
            vec![
                Value::Str("hello".into()),
                Value::U32(7),
                Value::Path("/x".into()),
            ],
        );
        m.serial = 2;
        m.sender = Some(":1.4".into());
        let mut buf = m.encode();
        outset_dbus::message::take(&mut buf).unwrap().unwrap()
    }

    fn pairs(env: &Env) -> Vec<String> {
        env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    #[test]
    fn issue17_item4_env_of_a_decoded_signal() {
        let env = signal_env(&ping(), "system", Some(":1.0")).unwrap();
        assert_eq!(
            pairs(&env),
            [
                "SIGNAL=Ping",
                "INTERFACE=org.example.Test",
                "OBJPATH=/org/example",
                "SENDER=:1.4",
                "BUS=system",
                "ARG0=hello",
                "ARG2=/x",
            ]
        );
    }

    #[test]
    fn issue17_item4_destination_is_in_the_env() {
        let mut m = ping();
        m.destination = Some(":1.0".into());
        m.body.clear();
        let env = signal_env(&m, "session", None).unwrap();
        assert!(pairs(&env).contains(&"DESTINATION=:1.0".to_string()));
        assert!(pairs(&env).contains(&"BUS=session".to_string()));
    }

    #[test]
    fn issue17_item4_what_is_not_bridged() {
        // Our own signals, Upstart's interface, calls and replies, a signal with no member.
        assert!(signal_env(&ping(), "system", Some(":1.4")).is_none());
        let mut upstart = ping();
        upstart.interface = Some("com.ubuntu.Upstart0_6".into());
        assert!(signal_env(&upstart, "system", None).is_none());
        upstart.interface = Some("com.ubuntu.Upstart0_6.Instance".into());
        assert!(signal_env(&upstart, "system", None).is_none());
        let call = Message::method_call("/a", "b.c", "D", vec![]);
        assert!(signal_env(&call, "system", None).is_none());
        let reply = Message::reply_to(&call, vec![]);
        assert!(signal_env(&reply, "system", None).is_none());
        let mut nameless = ping();
        nameless.member = None;
        assert!(signal_env(&nameless, "system", None).is_none());
    }

    #[test]
    fn issue17_item4_jobs_that_want_dbus() {
        let parse = |text: &str| outset_job::parse_job("j", text).unwrap();
        assert!(job_wants_dbus(&parse(
            "start on dbus SIGNAL=Ping INTERFACE=org.example.Test\nexec true\n"
        )));
        assert!(job_wants_dbus(&parse(
            "start on started x\nstop on (a or dbus SIGNAL=Bye)\nexec true\n"
        )));
        assert!(!job_wants_dbus(&parse("start on dbus-ready\nexec true\n")));
    }
}
