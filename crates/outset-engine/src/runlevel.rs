//! Runlevels as Upstart had them, and the order in which an init goes down: both pure, so
//! the decisions are tested without a machine to shut down.
//!
//! A runlevel is only a name here, as in Upstart: `telinit N` emits
//! `runlevel RUNLEVEL=N PREVLEVEL=M` and jobs (`start on runlevel [2345]`) do the rest.

use outset_proto::ShutdownAction;

use crate::types::Env;

/// The current and previous runlevels (`None`: there was none yet, shown as `N`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Runlevels {
    pub previous: Option<char>,
    pub current: Option<char>,
}

/// A runlevel `telinit` takes: `0`–`6` and `S` (`s` is `S`); `None` for anything else.
pub fn parse_level(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    match c {
        '0'..='6' | 'S' => Some(c),
        's' => Some('S'),
        _ => None,
    }
}

fn show(level: Option<char>) -> String {
    level.map_or_else(|| "N".to_string(), String::from)
}

impl Runlevels {
    /// Moves to `level`; the `runlevel` event's environment (`RUNLEVEL`, `PREVLEVEL`, with
    /// `N` for no previous level), to which a shutdown adds `INIT_HALT`.
    pub fn change(&mut self, level: char) -> Env {
        let prev = self.current;
        self.previous = prev;
        self.current = Some(level);
        vec![
            ("RUNLEVEL".to_string(), level.to_string()),
            ("PREVLEVEL".to_string(), show(prev)),
        ]
    }

    /// A `runlevel` event someone else emitted (`initctl emit runlevel RUNLEVEL=3`) moves
    /// the bookkeeping too, as Upstart's utmp record did; a bad level leaves it alone.
    pub fn observe(&mut self, env: &[String]) {
        let level = env
            .iter()
            .find_map(|kv| kv.strip_prefix("RUNLEVEL="))
            .and_then(parse_level);
        if let Some(level) = level
            && self.current != Some(level)
        {
            self.change(level);
        }
    }

    /// `runlevel`'s line, `PREVLEVEL RUNLEVEL` (`N 2`); `None` when there is no runlevel
    /// at all (sysvinit's `runlevel` then prints `unknown`).
    pub fn line(&self) -> Option<String> {
        self.current.map(|c| format!("{} {c}", show(self.previous)))
    }
}

/// Who the daemon is, for what a shutdown may do to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// PID 1 of the machine: may kill every process, unmount and reboot.
    Init,
    /// PID 1 of a PID namespace: may kill its namespace and call `reboot(2)`, which ends
    /// the namespace; never touches mounts (they may be shared with the host).
    Container,
    /// Not PID 1 (a system or user supervisor): stops its jobs and exits, never more.
    Supervisor,
}

/// One step of going down, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Emit `runlevel` with this environment and wait for the jobs it starts and stops.
    EmitRunlevel(Env),
    /// Stop every job still there (pre-stop and post-stop run, kill timeouts honoured).
    StopJobs,
    /// TERM, a wait, then KILL every process left outside jobs.
    KillRest,
    /// Flush the filesystems.
    Sync,
    /// Unmount what can be, remount the rest read-only.
    Unmount,
    /// `reboot(2)` with the action's command.
    Reboot(ShutdownAction),
    /// The daemon exits.
    Exit,
}

/// The steps of a shutdown. `force` (`reboot -f`) skips the jobs: only what keeps the
/// filesystems whole is done before `reboot(2)`. A supervisor never goes past its own jobs,
/// whatever it is asked. `Single` is not a shutdown (see [`Runlevels::change`]): no steps.
pub fn shutdown_steps(
    role: Role,
    action: ShutdownAction,
    force: bool,
    levels: &mut Runlevels,
) -> Vec<Step> {
    if action == ShutdownAction::Single {
        return Vec::new();
    }
    let mut steps = Vec::new();
    if !force {
        let mut env = levels.change(action.runlevel());
        if let Some(halt) = action.init_halt() {
            env.push(("INIT_HALT".to_string(), halt.to_string()));
        }
        steps.push(Step::EmitRunlevel(env));
    }
    match role {
        Role::Supervisor => {
            steps.push(Step::StopJobs);
            steps.push(Step::Exit);
            return steps;
        }
        Role::Init | Role::Container if !force => {
            steps.push(Step::StopJobs);
            steps.push(Step::KillRest);
        }
        Role::Init | Role::Container => {}
    }
    steps.push(Step::Sync);
    if role == Role::Init {
        steps.push(Step::Unmount);
        steps.push(Step::Sync);
    }
    steps.push(Step::Reboot(action));
    steps
}
