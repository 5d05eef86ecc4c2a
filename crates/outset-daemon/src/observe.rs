//! What happened, for those who look (issue 18): every event handled and every change of an
//! instance's state becomes a [`Record`], stamped with the wall clock, streamed to the
//! control connections that asked to `monitor`, and kept in a bounded history that
//! `history` (`outsetctl timeline`) reads.
//!
//! Nothing here grows without bound: the history keeps the last [`HISTORY_MAX`] records,
//! and fewer when they are large (at most about [`HISTORY_BYTES`] of text), and a watcher that does not read holds at most [`WATCH_BOUND`] bytes of records in its
//! connection's buffer; past that its records are dropped and counted, and once it reads
//! again it is sent one `dropped` record with the count before the next one.

use std::collections::VecDeque;

use outset_engine::Notice;
use outset_proto::{History, Record};

/// Records the history keeps (the oldest go first).
pub const HISTORY_MAX: usize = 4096;
/// About how many bytes of names and environments the history holds at most.
pub const HISTORY_BYTES: usize = 1024 * 1024;
/// Bytes of records a watcher's connection may have waiting before records are dropped for
/// it (below the connection's own bound, so a slow watcher is never cut off for it).
pub const WATCH_BOUND: usize = 64 * 1024;

/// The wall clock in milliseconds since the Unix epoch (0 before 1970).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The record of a notice, if it is one that is watched (events handled, states entered).
pub fn record_of(n: &Notice, time_ms: u64) -> Option<Record> {
    match n {
        Notice::EventHandled { name, env } => Some(Record::Event {
            time_ms,
            name: name.clone(),
            env: env.clone(),
        }),
        Notice::StateChanged {
            job,
            instance,
            goal,
            state,
            pid,
        } => Some(Record::State {
            time_ms,
            job: job.clone(),
            instance: instance.clone(),
            goal: (*goal).to_string(),
            state: (*state).to_string(),
            pid: *pid,
        }),
        Notice::InstanceAdded { .. }
        | Notice::InstanceRemoved { .. }
        | Notice::GoalChanged { .. }
        | Notice::Failed { .. }
        | Notice::EventFinished { .. } => None,
    }
}

/// The bounded history.
#[derive(Debug)]
pub struct Observed {
    /// When the daemon first started (a re-exec keeps it).
    pub started_ms: u64,
    records: VecDeque<Record>,
    /// The text the records hold, about (see [`size`]).
    bytes: usize,
    /// Records that fell out of the history.
    forgotten: u64,
}

/// About what a record costs: its text and the fixed part.
fn size(r: &Record) -> usize {
    let text = match r {
        Record::Event { name, env, .. } => {
            name.len() + env.iter().map(|e| e.len() + 24).sum::<usize>()
        }
        Record::State {
            job,
            instance,
            goal,
            state,
            ..
        } => job.len() + instance.len() + goal.len() + state.len(),
        Record::Dropped { .. } => 0,
    };
    text + std::mem::size_of::<Record>()
}

impl Observed {
    pub fn new(started_ms: u64) -> Observed {
        Observed {
            started_ms,
            records: VecDeque::new(),
            bytes: 0,
            forgotten: 0,
        }
    }

    pub fn push(&mut self, r: Record) {
        self.bytes += size(&r);
        self.records.push_back(r);
        while self.records.len() > HISTORY_MAX
            || (self.bytes > HISTORY_BYTES && self.records.len() > 1)
        {
            if let Some(old) = self.records.pop_front() {
                self.bytes = self.bytes.saturating_sub(size(&old));
                self.forgotten += 1;
            }
        }
    }

    /// The records since `since_ms` (all when `None`), oldest first.
    pub fn history(&self, since_ms: Option<u64>, now_ms: u64) -> History {
        let since = since_ms.unwrap_or(0);
        History {
            started_ms: self.started_ms,
            now_ms,
            forgotten: self.forgotten,
            records: self
                .records
                .iter()
                .filter(|r| r.time_ms() >= since)
                .cloned()
                .collect(),
        }
    }

    /// What a re-exec hands over.
    pub fn export(&self) -> crate::state::ObservedState {
        crate::state::ObservedState {
            started_ms: self.started_ms,
            forgotten: self.forgotten,
            records: self.records.iter().cloned().collect(),
        }
    }

    /// The history a previous image handed over.
    pub fn import(s: crate::state::ObservedState) -> Observed {
        let mut o = Observed::new(s.started_ms);
        o.forgotten = s.forgotten;
        for r in s.records {
            o.push(r);
        }
        o
    }
}

/// The line a watcher is sent when records were dropped for it.
pub fn dropped_line(count: u64, time_ms: u64) -> String {
    serde_json::to_string(&Record::Dropped { time_ms, count }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_item4_history_keeps_the_last_records() {
        let mut o = Observed::new(1);
        for i in 0..(HISTORY_MAX as u64 + 10) {
            o.push(Record::Event {
                time_ms: i,
                name: "e".into(),
                env: vec![],
            });
        }
        let h = o.history(None, 5);
        assert_eq!(h.records.len(), HISTORY_MAX);
        assert_eq!(h.forgotten, 10);
        assert_eq!(h.records[0].time_ms(), 10);
        assert_eq!(o.history(Some(HISTORY_MAX as u64 + 8), 5).records.len(), 2);
    }

    #[test]
    fn issue18_item4_large_records_are_kept_within_the_byte_bound() {
        let mut o = Observed::new(1);
        for i in 0..3000u64 {
            o.push(Record::Event {
                time_ms: i,
                name: "e".into(),
                env: vec![format!("X={}", "y".repeat(1000))],
            });
        }
        let h = o.history(None, 5);
        assert!(h.records.len() < 1100, "{}", h.records.len());
        assert!(o.bytes <= HISTORY_BYTES);
        assert_eq!(h.forgotten + h.records.len() as u64, 3000);
        assert_eq!(h.records.last().map(Record::time_ms), Some(2999));
    }
}
