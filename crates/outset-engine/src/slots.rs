//! An instance's live process per process type: five inline slots instead of a map, which
//! cost a heap node per instance (issue 11 item 3: memory per running job). The methods are
//! the map's, so callers read the same. A PID is never 0, so a slot is four bytes.

use std::num::NonZeroU32;

use outset_job::ProcessKind;

#[derive(Debug, Default, Clone, Copy)]
pub struct Slots([Option<NonZeroU32>; 5]);

fn index(kind: ProcessKind) -> usize {
    match kind {
        ProcessKind::Main => 0,
        ProcessKind::PreStart => 1,
        ProcessKind::PostStart => 2,
        ProcessKind::PreStop => 3,
        ProcessKind::PostStop => 4,
    }
}

impl Slots {
    pub fn get(&self, kind: &ProcessKind) -> Option<u32> {
        self.0[index(*kind)].map(NonZeroU32::get)
    }

    pub fn contains_key(&self, kind: &ProcessKind) -> bool {
        self.0[index(*kind)].is_some()
    }

    /// Sets the slot (PID 0, which no process has, empties it); returns the PID it held.
    pub fn insert(&mut self, kind: ProcessKind, pid: u32) -> Option<u32> {
        std::mem::replace(&mut self.0[index(kind)], NonZeroU32::new(pid)).map(NonZeroU32::get)
    }

    pub fn remove(&mut self, kind: &ProcessKind) -> Option<u32> {
        self.0[index(*kind)].take().map(NonZeroU32::get)
    }

    /// The filled slots in process-type order (as the map iterated).
    pub fn iter(&self) -> impl Iterator<Item = (ProcessKind, u32)> {
        ProcessKind::ALL
            .iter()
            .filter_map(|k| self.0[index(*k)].map(|p| (*k, p.get())))
    }

    pub fn values(&self) -> impl Iterator<Item = u32> {
        self.0.iter().flatten().map(|p| p.get())
    }
}

/// Every PID an instance has had, by process type, in the order they were recorded: the
/// first inline, the others boxed. Most instances only ever have their main process, and
/// its record was a separate allocation made at its spawn, between the spawn's short-lived
/// ones: once those were freed, each such record kept the page around a freed hole in use
/// (issue 11 item 3: RSS per running job). 16 bytes instead of a vector's 24.
#[derive(Debug, Default, Clone)]
pub struct PidHistory {
    first: Option<(ProcessKind, u32)>,
    /// The records after `first`. Boxed: 8 bytes in every instance for a list few have.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<(ProcessKind, u32)>>>,
}

impl PidHistory {
    pub fn push(&mut self, kind: ProcessKind, pid: u32) {
        if self.first.is_none() {
            self.first = Some((kind, pid));
        } else {
            self.rest.get_or_insert_default().push((kind, pid));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (ProcessKind, u32)> + '_ {
        self.first
            .into_iter()
            .chain(self.rest.iter().flat_map(|r| r.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 11 item 3: the history reads back every record in order, as the vector did.
    #[test]
    fn issue11_item3_pid_history_keeps_every_record_in_order() {
        let mut h = PidHistory::default();
        assert_eq!(h.iter().count(), 0);
        h.push(ProcessKind::PreStart, 5);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(ProcessKind::PreStart, 5)]);
        assert!(h.rest.is_none(), "one record needs no allocation");
        h.push(ProcessKind::Main, 6);
        h.push(ProcessKind::Main, 6);
        h.push(ProcessKind::PostStop, 7);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [
                (ProcessKind::PreStart, 5),
                (ProcessKind::Main, 6),
                (ProcessKind::Main, 6),
                (ProcessKind::PostStop, 7)
            ]
        );
        assert_eq!(std::mem::size_of::<PidHistory>(), 16);
    }

    #[test]
    fn behaves_as_the_map_did() {
        let mut s = Slots::default();
        assert_eq!(s.insert(ProcessKind::PostStop, 9), None);
        assert_eq!(s.insert(ProcessKind::Main, 7), None);
        assert_eq!(s.insert(ProcessKind::Main, 8), Some(7));
        assert_eq!(s.get(&ProcessKind::Main), Some(8));
        assert!(!s.contains_key(&ProcessKind::PreStart));
        let all: Vec<_> = s.iter().collect();
        assert_eq!(all, [(ProcessKind::Main, 8), (ProcessKind::PostStop, 9)]);
        assert_eq!(s.values().collect::<Vec<_>>(), [8, 9]);
        assert_eq!(s.remove(&ProcessKind::Main), Some(8));
        assert_eq!(s.get(&ProcessKind::Main), None);
    }
}
