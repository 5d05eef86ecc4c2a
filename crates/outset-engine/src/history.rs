//! What a job keeps of its instances that have stopped and gone: the `stopped` event env a
//! level-triggered `stopped J …` operand compares with (docs/engine.md).
//!
//! Bounded (issue 10 item 13): every unique instance name used to be kept forever, so a job
//! started and stopped with 10,000 instance names held 10,000 envs and every level-triggered
//! check scanned them all. Only the most recent [`KEEP`] names are kept; lookups by name
//! are indexed.

use std::collections::BTreeMap;

use crate::types::Env;

/// Stopped instances remembered per job. An instance-less job has one name, so this only
/// limits jobs with `instance`.
pub const KEEP: usize = 64;

/// The stopped instances of one job, by name, with the order they stopped in. Nothing is
/// allocated, and one pointer is held, until an instance of the job has stopped.
#[derive(Default)]
pub struct Stopped(Option<Box<Inner>>);

#[derive(Default)]
struct Inner {
    /// Instance name → (stop sequence number, its `stopped` event env).
    by_name: BTreeMap<String, (u64, Env)>,
    /// Stop sequence number → instance name, oldest first: what to forget first.
    order: BTreeMap<u64, String>,
    next: u64,
}

impl Stopped {
    /// Remembers that instance `name` stopped with `env`, forgetting the oldest beyond
    /// [`KEEP`].
    pub fn insert(&mut self, name: String, env: Env) {
        self.0.get_or_insert_with(Box::default).insert(name, env);
    }

    /// Forgets instance `name` (it is starting again).
    pub fn remove(&mut self, name: &str) {
        if let Some(inner) = &mut self.0 {
            inner.remove(name);
            if inner.by_name.is_empty() {
                self.0 = None;
            }
        }
    }

    /// The env instance `name` stopped with.
    pub fn get(&self, name: &str) -> Option<&Env> {
        self.0.as_ref()?.by_name.get(name).map(|(_, env)| env)
    }

    /// Every remembered instance, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Env)> {
        self.0
            .iter()
            .flat_map(|inner| inner.by_name.iter().map(|(name, (_, env))| (name, env)))
    }

    /// Every remembered instance in the order they stopped, oldest first (a re-exec's
    /// state: inserting them in this order gives the same memory).
    pub fn in_order(&self) -> Vec<(String, Env)> {
        let Some(inner) = &self.0 else {
            return Vec::new();
        };
        inner
            .order
            .values()
            .filter_map(|name| {
                let (_, env) = inner.by_name.get(name)?;
                Some((name.clone(), env.clone()))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |inner| inner.by_name.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn insert(&mut self, name: String, env: Env) {
        let seq = self.next;
        self.next += 1;
        if let Some((old, _)) = self.by_name.insert(name.clone(), (seq, env)) {
            self.order.remove(&old);
        }
        self.order.insert(seq, name);
        while self.order.len() > KEEP {
            match self.order.pop_first() {
                Some((_, oldest)) => {
                    self.by_name.remove(&oldest);
                }
                None => break,
            }
        }
    }

    fn remove(&mut self, name: &str) {
        if let Some((seq, _)) = self.by_name.remove(name) {
            self.order.remove(&seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue10_item13_keeps_the_newest_names_only() {
        let mut s = Stopped::default();
        for i in 0..1000 {
            s.insert(format!("i{i}"), vec![("JOB".into(), "j".into())]);
        }
        assert_eq!(s.len(), KEEP);
        assert!(s.get("i999").is_some());
        assert!(s.get(&format!("i{}", 1000 - KEEP)).is_some());
        assert!(s.get(&format!("i{}", 999 - KEEP)).is_none());
        // Stopping again refreshes a name; starting forgets it.
        s.insert(format!("i{}", 1000 - KEEP), Vec::new());
        s.insert("new".into(), Vec::new());
        assert!(s.get(&format!("i{}", 1000 - KEEP)).is_some());
        assert!(s.get(&format!("i{}", 1001 - KEEP)).is_none());
        s.remove("new");
        assert!(s.get("new").is_none());
        assert_eq!(s.len(), KEEP - 1);
        assert_eq!(s.0.as_ref().unwrap().order.len(), KEEP - 1);
        for i in 0..2000 {
            s.remove(&format!("i{i}"));
        }
        s.remove("i999");
        assert!(s.is_empty());
        assert!(s.0.is_none(), "nothing held once empty");
    }
}
