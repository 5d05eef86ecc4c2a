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

/// A notice as the engine makes it, borrowed from the engine's own records: a sink that
/// packs it (the history) copies nothing, and an owned [`Notice`] is made only while the
/// list is kept. A stop of 1000 jobs makes about 12,000 notices; making each owned (names
/// cloned, each event variable formatted as `KEY=value`) was a third of the stop's work.
#[derive(Debug, Clone, Copy)]
pub enum NoticeRef<'a> {
    InstanceAdded {
        job: &'a str,
        instance: &'a str,
    },
    InstanceRemoved {
        job: &'a str,
        instance: &'a str,
    },
    GoalChanged {
        job: &'a str,
        instance: &'a str,
        goal: &'static str,
    },
    StateChanged {
        job: &'a str,
        instance: &'a str,
        goal: &'static str,
        state: &'static str,
        pid: Option<u32>,
    },
    Failed {
        job: &'a str,
        instance: &'a str,
        status: i32,
    },
    EventHandled {
        name: &'a str,
        env: &'a [(String, String)],
    },
    EventFinished {
        name: &'a str,
        env: &'a [(String, String)],
    },
}

impl NoticeRef<'_> {
    /// The owned notice, event variables as `KEY=value`.
    pub fn to_notice(&self) -> Notice {
        let pairs = |env: &[(String, String)]| -> Vec<String> {
            env.iter()
                .map(|(k, v)| {
                    let mut s = String::with_capacity(k.len() + 1 + v.len());
                    s.push_str(k);
                    s.push('=');
                    s.push_str(v);
                    s
                })
                .collect()
        };
        match *self {
            NoticeRef::InstanceAdded { job, instance } => Notice::InstanceAdded {
                job: job.into(),
                instance: instance.into(),
            },
            NoticeRef::InstanceRemoved { job, instance } => Notice::InstanceRemoved {
                job: job.into(),
                instance: instance.into(),
            },
            NoticeRef::GoalChanged {
                job,
                instance,
                goal,
            } => Notice::GoalChanged {
                job: job.into(),
                instance: instance.into(),
                goal,
            },
            NoticeRef::StateChanged {
                job,
                instance,
                goal,
                state,
                pid,
            } => Notice::StateChanged {
                job: job.into(),
                instance: instance.into(),
                goal,
                state,
                pid,
            },
            NoticeRef::Failed {
                job,
                instance,
                status,
            } => Notice::Failed {
                job: job.into(),
                instance: instance.into(),
                status,
            },
            NoticeRef::EventHandled { name, env } => Notice::EventHandled {
                name: name.into(),
                env: pairs(env),
            },
            NoticeRef::EventFinished { name, env } => Notice::EventFinished {
                name: name.into(),
                env: pairs(env),
            },
        }
    }
}

/// Where notices go: to the host's sink as each is made (nothing piles up: one emit that
/// starts 5000 jobs makes about 60,000), and into a list while recording is on.
#[derive(Default)]
pub(super) struct Notes {
    kept: Option<Vec<Notice>>,
    sink: Option<NoticeSink>,
}

/// What the host hands every notice to, as it is made.
pub type NoticeSink = Box<dyn FnMut(&NoticeRef<'_>)>;

/// Hands `notice` to the sink, and keeps an owned copy while recording is on.
pub(super) fn note(notices: &mut Notes, notice: NoticeRef<'_>) {
    if let Some(sink) = &mut notices.sink {
        sink(&notice);
    }
    if let Some(kept) = &mut notices.kept {
        kept.push(notice.to_notice());
    }
}

/// Sets an instance's goal where the machine does so directly (a failure), noting it.
pub(super) fn set_goal(notices: &mut Notes, inst: &mut Instance, goal: Goal) {
    if inst.goal != goal {
        inst.goal = goal;
        note(
            notices,
            NoticeRef::GoalChanged {
                job: &inst.config.name,
                instance: &inst.name,
                goal: goal.as_str(),
            },
        );
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
