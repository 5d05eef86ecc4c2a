//! What happened to instances and events, for a host that publishes it (the D-Bus
//! signals `InstanceAdded`, `GoalChanged`, `StateChanged`, `Failed`, `InstanceRemoved`,
//! `EventEmitted`). Off unless the host asks: then nothing is recorded and nothing cloned.

use super::*;

/// One thing that happened, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    InstanceAdded {
        job: String,
        instance: String,
    },
    InstanceRemoved {
        job: String,
        instance: String,
    },
    GoalChanged {
        job: String,
        instance: String,
        goal: &'static str,
    },
    StateChanged {
        job: String,
        instance: String,
        /// The goal at the change.
        goal: &'static str,
        state: &'static str,
        /// The main process, when there is one.
        pid: Option<u32>,
    },
    /// A run failed: Upstart's status (an exit code, a signal number shifted left by 8, or
    /// -1 when there was none).
    Failed {
        job: String,
        instance: String,
        status: i32,
    },
    /// An event is being handled: offered to the jobs' conditions (before any job it
    /// starts or stops moves).
    EventHandled {
        name: String,
        env: Vec<String>,
    },
    /// An event finished (every job it started or stopped has settled).
    EventFinished {
        name: String,
        env: Vec<String>,
    },
}

/// Where notices go: to the host's sink as each is made (nothing piles up: one emit that
/// starts 5000 jobs makes about 60,000), and into a list while recording is on.
#[derive(Default)]
pub(super) struct Notes {
    kept: Option<Vec<Notice>>,
    sink: Option<NoticeSink>,
}

/// What the host hands every notice to, as it is made.
pub type NoticeSink = Box<dyn FnMut(&Notice)>;

/// Records `notice()` when recording is on or a sink takes notices.
pub(super) fn note(notices: &mut Notes, notice: impl FnOnce() -> Notice) {
    if notices.kept.is_none() && notices.sink.is_none() {
        return;
    }
    let n = notice();
    if let Some(sink) = &mut notices.sink {
        sink(&n);
    }
    if let Some(kept) = &mut notices.kept {
        kept.push(n);
    }
}

/// Sets an instance's goal where the machine does so directly (a failure), noting it.
pub(super) fn set_goal(notices: &mut Notes, inst: &mut Instance, goal: Goal) {
    if inst.goal != goal {
        inst.goal = goal;
        note(notices, || Notice::GoalChanged {
            job: inst.config.name.clone(),
            instance: inst.name.to_string(),
            goal: goal.as_str(),
        });
    }
}

/// Upstart's status number for how a run ended.
pub(super) fn failed_status(end: &RunEnd) -> i32 {
    match end.status {
        Some(ExitStatus::Exited(code)) => code,
        Some(ExitStatus::Signaled(sig)) => sig << 8,
        None => -1,
    }
}

impl Engine {
    /// Starts (`true`) or stops recording [`Notice`]s.
    pub fn record_notices(&mut self, on: bool) {
        match (on, &self.notices.kept) {
            (true, None) => self.notices.kept = Some(Vec::new()),
            (false, _) => self.notices.kept = None,
            _ => {}
        }
    }

    /// The notices recorded since the last call, in order.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.notices
            .kept
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Hands every notice to `sink` as it is made, whether or not recording is on.
    pub fn notice_sink(&mut self, sink: NoticeSink) {
        self.notices.sink = Some(sink);
    }
}
