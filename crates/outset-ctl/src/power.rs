//! `shutdown`, `reboot`, `halt`, `poweroff`, `telinit` and `runlevel`: sysvinit's and
//! Upstart's command lines turned into requests.

use std::path::Path;

use outset_proto::{Body, Command as Proto, Response, ShutdownAction};

use crate::cli::{PowerArgs, ShutdownArgs};
use crate::client::{self, ClientError};
use crate::verbs::{Io, Plan, fail};

/// Seconds from now until `when`: `now`, `+MINUTES` or `HH:MM` (the next time the local
/// clock shows it; `now_of_day` is the local time of day in seconds).
pub fn parse_when(when: &str, now_of_day: u64) -> Result<u64, String> {
    let bad = || format!("illegal time value: {when} (use now, +MINUTES or HH:MM)");
    if when == "now" {
        return Ok(0);
    }
    if let Some(min) = when.strip_prefix('+') {
        return min.parse::<u64>().map(|m| m * 60).map_err(|_| bad());
    }
    let (h, m) = when.split_once(':').ok_or_else(bad)?;
    let (h, m): (u64, u64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    let at = h * 3600 + m * 60;
    let now = now_of_day % 86_400;
    Ok(if at >= now {
        at - now
    } else {
        at + 86_400 - now
    })
}

fn name(action: ShutdownAction) -> &'static str {
    match action {
        ShutdownAction::Halt => "halt",
        ShutdownAction::Poweroff => "power-off",
        ShutdownAction::Reboot => "reboot",
        ShutdownAction::Single => "maintenance mode",
    }
}

/// `shutdown [-r|-h|-H|-P] [-c] [TIME] [MESSAGE…]`.
pub fn shutdown_plan(a: ShutdownArgs, now_of_day: u64) -> Plan {
    if a.cancel {
        return Plan::Remote(Proto::CancelShutdown);
    }
    let action = if a.reboot {
        ShutdownAction::Reboot
    } else if a.halt {
        ShutdownAction::Halt
    } else if a.poweroff || a.halt_or_poweroff {
        ShutdownAction::Poweroff
    } else {
        ShutdownAction::Single
    };
    let delay = match a.time.as_deref().map(|t| parse_when(t, now_of_day)) {
        None => 0,
        Some(Ok(d)) => d,
        Some(Err(e)) => return Plan::Usage(e),
    };
    let message = (!a.message.is_empty()).then(|| a.message.join(" "));
    let cmd = Proto::Shutdown {
        action,
        force: false,
        delay,
        message,
    };
    if delay > 0 {
        let note = format!(
            "{} in {} min; cancel with shutdown -c",
            name(action),
            delay.div_ceil(60)
        );
        return Plan::RemoteNote(cmd, note);
    }
    Plan::Remote(cmd)
}

/// `reboot`, `halt`, `poweroff` (`halt -p` powers off).
pub fn power_plan(action: ShutdownAction, a: PowerArgs) -> Plan {
    if a.wtmp_only {
        return Plan::Nothing;
    }
    let action = if a.poweroff && action == ShutdownAction::Halt {
        ShutdownAction::Poweroff
    } else {
        action
    };
    Plan::Power {
        action,
        force: a.force,
    }
}

/// `telinit N`: 0–6 and S through the daemon (waiting, as Upstart's does); `q` reloads;
/// `u` re-executes the daemon, keeping every job (docs/reexec.md).
pub fn telinit_plan(level: &str, env: Vec<String>, wait: bool) -> Plan {
    match level {
        "q" | "Q" => Plan::Remote(Proto::ReloadConfiguration),
        "u" | "U" => Plan::Remote(Proto::Reexec { binary: None }),
        l if outset_proto_level(l) => Plan::Remote(Proto::Telinit {
            level: l.to_string(),
            env,
            wait,
        }),
        l => Plan::Usage(format!("illegal runlevel: {l}")),
    }
}

fn outset_proto_level(l: &str) -> bool {
    matches!(l, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "S" | "s")
}

/// Whether a forced request that found no daemon is carried out by the client itself:
/// only when the daemon cannot be reached at all (not a refusal) and the caller is root,
/// as sysvinit's `reboot -f` does without asking init.
pub fn client_forces(err: &ClientError, euid: u32) -> bool {
    euid == 0 && matches!(err, ClientError::Connect { .. })
}

/// `reboot|halt|poweroff [-f]`: asks the daemon (which, as PID 1 with `-f`, reboots at
/// once, so the reply may never come); with `-f` and no daemon, root's client syncs and
/// calls `reboot(2)` itself.
pub fn run_power(socket: &Path, action: ShutdownAction, force: bool, io: &mut Io) -> i32 {
    let cmd = Proto::Shutdown {
        action,
        force,
        delay: 0,
        message: None,
    };
    match client::request(socket, cmd) {
        Ok(Response::Ok { .. }) => 0,
        Ok(Response::Error { message }) => fail(io, &message),
        Err(ClientError::NoReply) if force => 0,
        Err(e) if force && client_forces(&e, outset_sys::process::euid()) => {
            let _ = writeln!(io.err, "{}: {e}; rebooting without it", io.prog);
            outset_sys::power::sync();
            let e = outset_sys::power::reboot_unchecked(action);
            fail(io, &format!("reboot(2): {e}"))
        }
        Err(e) => fail(io, &e.to_string()),
    }
}

/// `runlevel`: `PREVLEVEL RUNLEVEL`, or `unknown` and exit 1 when there is none.
pub fn run_runlevel(socket: &Path, io: &mut Io) -> i32 {
    match client::request(socket, Proto::Runlevel) {
        Ok(Response::Ok {
            body: Body::Runlevel { previous, current },
        }) => match current {
            Some(c) => {
                let _ = writeln!(io.out, "{} {c}", previous.unwrap_or('N'));
                0
            }
            None => {
                let _ = writeln!(io.out, "unknown");
                1
            }
        },
        Ok(Response::Ok { .. }) => fail(io, "unexpected reply to runlevel"),
        Ok(Response::Error { message }) => fail(io, &message),
        Err(e) => fail(io, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_item7_shutdown_times() {
        assert_eq!(parse_when("now", 0), Ok(0));
        assert_eq!(parse_when("+5", 123), Ok(300));
        assert_eq!(parse_when("+0", 123), Ok(0));
        // 10:00 when it is 09:30: half an hour; 09:00 then: tomorrow.
        assert_eq!(parse_when("10:00", 9 * 3600 + 1800), Ok(1800));
        assert_eq!(parse_when("09:00", 9 * 3600 + 1800), Ok(23 * 3600 + 1800));
        for bad in ["soon", "+x", "25:00", "10:61", "10"] {
            assert!(parse_when(bad, 0).is_err(), "{bad}");
        }
    }

    fn sargs(flags: &str, time: Option<&str>) -> ShutdownArgs {
        ShutdownArgs {
            reboot: flags.contains('r'),
            halt_or_poweroff: flags.contains('h'),
            halt: flags.contains('H'),
            poweroff: flags.contains('P'),
            cancel: flags.contains('c'),
            help: None,
            time: time.map(String::from),
            message: vec!["bye".into()],
        }
    }

    #[test]
    fn issue13_item7_shutdown_options() {
        let action = |p: Plan| match p {
            Plan::Remote(Proto::Shutdown { action, .. })
            | Plan::RemoteNote(Proto::Shutdown { action, .. }, _) => action,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            action(shutdown_plan(sargs("r", None), 0)),
            ShutdownAction::Reboot
        );
        assert_eq!(
            action(shutdown_plan(sargs("h", Some("now")), 0)),
            ShutdownAction::Poweroff
        );
        assert_eq!(
            action(shutdown_plan(sargs("H", None), 0)),
            ShutdownAction::Halt
        );
        assert_eq!(
            action(shutdown_plan(sargs("P", None), 0)),
            ShutdownAction::Poweroff
        );
        assert_eq!(
            action(shutdown_plan(sargs("", None), 0)),
            ShutdownAction::Single
        );
        assert_eq!(
            shutdown_plan(sargs("rc", None), 0),
            Plan::Remote(Proto::CancelShutdown)
        );
        match shutdown_plan(sargs("r", Some("+2")), 0) {
            Plan::RemoteNote(Proto::Shutdown { delay, message, .. }, note) => {
                assert_eq!(delay, 120);
                assert_eq!(message.as_deref(), Some("bye"));
                assert!(note.contains("reboot in 2 min"), "{note}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            shutdown_plan(sargs("r", Some("later")), 0),
            Plan::Usage(_)
        ));
    }

    #[test]
    fn issue13_item6_telinit_words() {
        assert_eq!(
            telinit_plan("2", vec!["X=1".into()], true),
            Plan::Remote(Proto::Telinit {
                level: "2".into(),
                env: vec!["X=1".into()],
                wait: true
            })
        );
        assert_eq!(
            telinit_plan("q", vec![], true),
            Plan::Remote(Proto::ReloadConfiguration)
        );
        assert!(matches!(telinit_plan("9", vec![], true), Plan::Usage(_)));
        // `telinit u`: sysvinit's and Upstart's re-exec.
        assert_eq!(
            telinit_plan("u", vec![], true),
            Plan::Remote(Proto::Reexec { binary: None })
        );
    }

    #[test]
    fn issue13_item7_client_reboots_only_without_a_daemon_and_as_root() {
        let connect = ClientError::Connect {
            path: "/x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(client_forces(&connect, 0));
        assert!(!client_forces(&connect, 1000));
        let refused = ClientError::Untrusted {
            path: "/x".into(),
            reason: "r".into(),
        };
        assert!(!client_forces(&refused, 0));
    }
}
