//! Going down and changing runlevels: `shutdown`, `reboot`, `halt`, `poweroff`, `telinit`,
//! `runlevel` and the signals other inits' tools send. The order of the steps is the
//! engine's pure decision (`outset_engine::runlevel::shutdown_steps`); this module carries
//! them out, one loop turn at a time while jobs stop.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use outset_engine::ReplyToken;
use outset_engine::runlevel::{Role, Step, parse_level, shutdown_steps};
use outset_proto::{Body, Command, Response, ShutdownAction};

use crate::event_loop::{Daemon, Mode, sig};

/// How long a shutdown waits for the jobs its `runlevel` event started and stopped before
/// it stops everything anyway (systemd's default stop timeout).
pub const RUNLEVEL_WAIT: Duration = Duration::from_secs(90);

/// How long processes left outside jobs get between SIGTERM and SIGKILL (Upstart's default
/// `kill timeout`).
pub const KILL_REST_WAIT: Duration = Duration::from_secs(5);

/// A shutdown under way.
#[derive(Debug)]
pub struct GoingDown {
    steps: VecDeque<Step>,
    /// The `runlevel` event's internal reply, while the first step waits for it.
    token: Option<ReplyToken>,
    /// When the current step stops waiting.
    until: Option<Instant>,
    /// `StopJobs` has asked the engine.
    stopping: bool,
}

/// A shutdown waiting for its time (`shutdown +5`).
#[derive(Debug, Clone, Copy)]
pub struct Scheduled {
    pub at: Instant,
    pub action: ShutdownAction,
}

/// The runlevel file: beside the control socket (`/run/outset/runlevel` for the system
/// daemon), `PREVLEVEL RUNLEVEL` as `runlevel` prints it.
pub fn runlevel_file(socket: &std::path::Path) -> PathBuf {
    socket
        .parent()
        .unwrap_or(std::path::Path::new("/"))
        .join("runlevel")
}

fn role(mode: Mode) -> Role {
    match mode {
        Mode::Init => Role::Init,
        Mode::Container => Role::Container,
        Mode::System | Mode::User => Role::Supervisor,
    }
}

fn action_name(action: ShutdownAction) -> &'static str {
    match action {
        ShutdownAction::Halt => "halt",
        ShutdownAction::Poweroff => "power-off",
        ShutdownAction::Reboot => "reboot",
        ShutdownAction::Single => "maintenance mode",
    }
}

impl Daemon {
    /// When the loop must wake for a shutdown: a scheduled one's time, a step's timeout.
    pub fn shutdown_wake(&self) -> Option<Instant> {
        let step = self.going_down.as_ref().and_then(|g| g.until);
        let at = self.scheduled.map(|s| s.at);
        step.into_iter().chain(at).min()
    }

    /// Starts going down (or, with `force`, turns a shutdown under way into an immediate
    /// one). `Single` is a change to runlevel 1, not a shutdown.
    pub fn begin_shutdown(&mut self, why: &str, action: ShutdownAction, force: bool) {
        if action == ShutdownAction::Single {
            log::info!("{why}: going to maintenance mode (runlevel 1)");
            let env = self.runlevels.change('1');
            self.runlevel_changed();
            self.emit_builtin_env("runlevel", env);
            return;
        }
        if self.going_down.is_some() && !force {
            log::info!("{why}: a shutdown is already under way");
            return;
        }
        self.scheduled = None;
        let steps = shutdown_steps(role(self.mode), action, force, &mut self.runlevels);
        if !force {
            self.runlevel_changed();
        }
        let what = match self.mode {
            Mode::System | Mode::User => "stopping every job, then exiting".to_string(),
            _ if force => format!("immediate {}", action_name(action)),
            _ => action_name(action).to_string(),
        };
        log::warn!("{why}: system going down ({what})");
        self.going_down = Some(GoingDown {
            steps: steps.into(),
            token: None,
            until: None,
            stopping: false,
        });
    }

    /// Stops every job and exits, without a runlevel (SIGTERM to a container or a
    /// supervisor).
    pub fn shutdown(&mut self, why: &str) {
        if self.going_down.is_some() {
            return;
        }
        log::info!("{why}: stopping every job");
        self.going_down = Some(GoingDown {
            steps: [Step::StopJobs, Step::Exit].into(),
            token: None,
            until: None,
            stopping: false,
        });
    }

    /// Runs the shutdown's steps as far as they go this turn; the exit code once the
    /// daemon must exit.
    pub fn advance_shutdown(&mut self) -> Option<i32> {
        if let Some(s) = self.scheduled
            && Instant::now() >= s.at
        {
            self.scheduled = None;
            self.begin_shutdown("scheduled shutdown", s.action, false);
        }
        let mut gd = self.going_down.take()?;
        let code = self.run_steps(&mut gd);
        self.going_down = Some(gd);
        code
    }

    fn run_steps(&mut self, gd: &mut GoingDown) -> Option<i32> {
        loop {
            let step = gd.steps.front()?.clone();
            match step {
                Step::EmitRunlevel(env) => match gd.token {
                    None => {
                        let token = ReplyToken(self.next_reply_token());
                        self.host.route_internal(token);
                        gd.token = Some(token);
                        gd.until = Some(Instant::now() + RUNLEVEL_WAIT);
                        let level = env
                            .iter()
                            .find(|(k, _)| k == "RUNLEVEL")
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default();
                        log::info!("emitting runlevel {level}");
                        self.tick_clock();
                        self.engine
                            .emit("runlevel", env, Some(token), &mut self.host);
                        continue;
                    }
                    Some(token) => {
                        let answered = self.host.answered(token);
                        let late = gd.until.is_some_and(|u| Instant::now() >= u);
                        if !answered && !late {
                            return None;
                        }
                        if late && !answered {
                            log::warn!(
                                "the jobs of the runlevel change did not settle in {} s; going on",
                                RUNLEVEL_WAIT.as_secs()
                            );
                        }
                        gd.token = None;
                        gd.until = None;
                    }
                },
                Step::StopJobs => {
                    if !gd.stopping {
                        gd.stopping = true;
                        log::info!("stopping every job");
                        self.tick_clock();
                        self.engine.stop_all(&mut self.host);
                        continue;
                    }
                    if !self.engine.is_idle() {
                        return None;
                    }
                    self.drain_retired();
                    log::info!("every job has stopped");
                }
                Step::KillRest => self.kill_rest(),
                Step::Sync => {
                    log::info!("syncing filesystems");
                    outset_sys::power::sync();
                }
                Step::Unmount => {
                    for failure in outset_sys::mounts::unmount_all() {
                        log::warn!("unmounting: {failure}");
                    }
                }
                Step::Reboot(action) => {
                    log::warn!("{}: calling reboot(2)", action_name(action));
                    let e = outset_sys::power::reboot(action);
                    log::error!("reboot(2) failed: {e}");
                    gd.steps.clear();
                    // A container's init may end; the machine's init must not, so it
                    // stays, reaping, with its control socket open.
                    return (self.mode != Mode::Init).then_some(1);
                }
                Step::Exit => {
                    log::info!("every job has stopped; exiting");
                    return Some(0);
                }
            }
            gd.steps.pop_front();
        }
    }

    /// TERM, a bounded wait, then KILL every process left (PID 1 only: the Linux layer
    /// refuses otherwise), reaping as they go.
    fn kill_rest(&mut self) {
        self.host.flush_signals();
        log::info!("sending SIGTERM to every process left");
        match outset_sys::power::signal_every_process(sig::SIGTERM) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                log::error!("cannot signal the processes left: {e}");
                return;
            }
        }
        let deadline = Instant::now() + KILL_REST_WAIT;
        while outset_sys::reap::reap_orphans() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if outset_sys::reap::reap_orphans() {
            log::info!("sending SIGKILL to every process left");
            let _ = outset_sys::power::signal_every_process(sig::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(1);
            while outset_sys::reap::reap_orphans() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Records the runlevel in the file outset owns (and utmp where there is one).
    pub fn runlevel_changed(&mut self) {
        let Some(line) = self.runlevels.line() else {
            return;
        };
        let tmp = self.runlevel_file.with_extension("new");
        let written = std::fs::write(&tmp, format!("{line}\n"))
            .and_then(|()| std::fs::rename(&tmp, &self.runlevel_file));
        if let Err(e) = written {
            log::warn!(
                "cannot record the runlevel in {}: {e}",
                self.runlevel_file.display()
            );
        }
        // utmp and wtmp are the machine's: only its init writes them.
        if self.mode == Mode::Init
            && let Some(current) = self.runlevels.current
        {
            let utmp = std::path::Path::new("/var/run/utmp");
            let wtmp = std::path::Path::new("/var/log/wtmp");
            match outset_sys::utmp::record_runlevel(current, self.runlevels.previous, utmp, wtmp) {
                Ok(true) => {}
                Ok(false) => log::debug!("no utmp or wtmp: runlevel not recorded there"),
                Err(e) => log::warn!("cannot record the runlevel in utmp/wtmp: {e}"),
            }
        }
    }

    /// The daemon's own verbs (they act on the machine, not on jobs): `None` when `cmd` is
    /// the engine's.
    pub fn power_command(&mut self, cmd: &Command) -> Option<Response> {
        let done = Response::Ok { body: Body::Done };
        Some(match cmd {
            Command::Runlevel => Response::Ok {
                body: Body::Runlevel {
                    previous: self.runlevels.previous,
                    current: self.runlevels.current,
                },
            },
            Command::CancelShutdown => match self.scheduled.take() {
                Some(s) => {
                    log::warn!("the scheduled {} is cancelled", action_name(s.action));
                    done
                }
                None => Response::error("no shutdown is scheduled"),
            },
            Command::Shutdown {
                action,
                force,
                delay,
                message,
            } => {
                if let Some(m) = message.as_deref().filter(|m| !m.is_empty()) {
                    log::warn!("shutdown message: {m}");
                }
                if self.going_down.is_some() && !force {
                    return Some(Response::error("a shutdown is already under way"));
                }
                if *delay > 0 && !force {
                    let secs = (*delay).min(u64::from(u32::MAX));
                    log::warn!(
                        "{} scheduled in {secs} s (cancel with shutdown -c)",
                        action_name(*action)
                    );
                    self.scheduled = Some(Scheduled {
                        at: Instant::now() + Duration::from_secs(secs),
                        action: *action,
                    });
                } else {
                    self.begin_shutdown("shutdown requested", *action, *force);
                }
                done
            }
            Command::Telinit { level, .. } => match parse_level(level) {
                None => Response::error(format!("illegal runlevel: {level}")),
                Some('0') => {
                    self.begin_shutdown("telinit 0", ShutdownAction::Poweroff, false);
                    done
                }
                Some('6') => {
                    self.begin_shutdown("telinit 6", ShutdownAction::Reboot, false);
                    done
                }
                // Other levels are an event the engine emits (with its waiting reply).
                Some(_) if self.going_down.is_some() => Response::error("a shutdown is under way"),
                Some(_) => return None,
            },
            _ => return None,
        })
    }

    /// `telinit N` for a level that is only an event: the `emit` the engine answers.
    pub fn telinit_emit(&mut self, level: char, extra: Vec<String>, wait: bool) -> Command {
        let env = self.runlevels.change(level);
        self.runlevel_changed();
        let mut env: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(extra);
        Command::Emit {
            event: "runlevel".to_string(),
            env,
            wait,
        }
    }

    /// A `runlevel` event emitted by hand moves the bookkeeping as `telinit` would.
    pub fn observe_emit(&mut self, cmd: &Command) {
        if let Command::Emit { event, env, .. } = cmd
            && event == "runlevel"
        {
            let before = self.runlevels;
            self.runlevels.observe(env);
            if self.runlevels != before {
                self.runlevel_changed();
            }
        }
    }
}

/// What a signal to PID 1 (of the machine or of a namespace) asks for, as busybox's and
/// systemd's tools send them: `(action, immediate)`.
pub fn signal_request(signo: i32) -> Option<(ShutdownAction, bool)> {
    match signo {
        sig::SIGUSR2 => Some((ShutdownAction::Poweroff, false)),
        s if s == sig::SIGRTMIN + 3 => Some((ShutdownAction::Halt, false)),
        s if s == sig::SIGRTMIN + 4 => Some((ShutdownAction::Poweroff, false)),
        s if s == sig::SIGRTMIN + 5 => Some((ShutdownAction::Reboot, false)),
        s if s == sig::SIGRTMIN + 13 => Some((ShutdownAction::Halt, true)),
        s if s == sig::SIGRTMIN + 14 => Some((ShutdownAction::Poweroff, true)),
        s if s == sig::SIGRTMIN + 15 => Some((ShutdownAction::Reboot, true)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_item5_signals_of_other_inits_tools() {
        // SIGUSR1 is Upstart's "join the bus now" (its `dbus` job sends it), not busybox's halt.
        assert_eq!(signal_request(10), None);
        assert_eq!(signal_request(12), Some((ShutdownAction::Poweroff, false)));
        // systemd's SIGRTMIN+4 (glibc's SIGRTMIN is 34) and SIGRTMIN+15.
        assert_eq!(signal_request(38), Some((ShutdownAction::Poweroff, false)));
        assert_eq!(signal_request(49), Some((ShutdownAction::Reboot, true)));
        // SIGTERM is re-exec's (Upstart, systemd), not a shutdown.
        assert_eq!(signal_request(15), None);
    }

    #[test]
    fn runlevel_file_is_beside_the_socket() {
        assert_eq!(
            runlevel_file(std::path::Path::new("/run/outset/control")),
            PathBuf::from("/run/outset/runlevel")
        );
    }
}
