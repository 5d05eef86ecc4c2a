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

#[cfg(test)]
mod tests {
    use super::*;

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
