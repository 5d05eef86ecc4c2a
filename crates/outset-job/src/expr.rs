//! Event expressions: `start on`, `stop on` and `ready on`.

use serde::{Deserialize, Serialize};

/// An expression tree. `and` and `or` have equal precedence and group left to right, so
/// `a or b and c` is `((a or b) and c)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// An event operand: `name [ARG]…`.
    Event(EventMatch),
    /// A readiness source; only valid in `ready on`.
    Ready(ReadySource),
}

impl Expr {
    /// Gives back the spare capacity of the parser's strings and vectors.
    pub fn shrink_to_fit(&mut self) {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.shrink_to_fit();
                b.shrink_to_fit();
            }
            Expr::Event(m) => {
                m.name.shrink_to_fit();
                m.args.shrink_to_fit();
                for a in &mut m.args {
                    match a {
                        Arg::Positional(v) => v.shrink_to_fit(),
                        Arg::Eq(k, v) | Arg::Ne(k, v) => {
                            k.shrink_to_fit();
                            v.shrink_to_fit();
                        }
                    }
                }
            }
            Expr::Ready(_) => {}
        }
    }
}

/// `started nginx RESULT=ok DEVPATH!=lo*`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMatch {
    /// Matched exactly (no globbing on names).
    pub name: String,
    /// Positional arguments first, then named ones.
    pub args: Vec<Arg>,
}

/// An operand argument. Values are fnmatch patterns and may hold `$VAR` references, kept
/// unexpanded for the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arg {
    Positional(String),
    Eq(String, String),
    Ne(String, String),
}

/// A readiness source in `ready on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadySource {
    /// `file PATH`: the path exists.
    File(String),
    /// `listening tcp:[ADDR:]PORT | udp:[ADDR:]PORT | unix:PATH`, held by the job.
    Listening(ListenAddr),
    /// `dbus NAME`: the name has an owner.
    Dbus(String),
}

/// A socket address for `listening`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListenAddr {
    Tcp { addr: Option<String>, port: u16 },
    Udp { addr: Option<String>, port: u16 },
    Unix(String),
}

/// Whether an event name is a device event outset emits itself, as `upstart-udev-bridge`
/// did: `<subsystem>-device-<action>` (see docs/devices.md).
pub fn is_device_event(name: &str) -> bool {
    name.split_once("-device-")
        .is_some_and(|(sub, action)| !sub.is_empty() && !action.is_empty())
}
