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
/// allocated, and one pointer is held, until an instance of the job has stopped; while only
/// one name is remembered (every job without `instance`), it is held alone, without the two
/// maps (issue 11 item 4: a stop of 5000 jobs built two B-tree nodes, about 1 KiB, per job).
#[derive(Default)]
pub struct Stopped(Option<Box<Kept>>);

enum Kept {
    One(String, Env),
    Many(Inner),
}

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
        match self.0.as_deref_mut() {
            None => self.0 = Some(Box::new(Kept::One(name, env))),
            Some(Kept::One(n, e)) if *n == name => *e = env,
            Some(kept @ Kept::One(..)) => {
                let Kept::One(first, first_env) =
                    std::mem::replace(kept, Kept::Many(Inner::default()))
                else {
                    return;
                };
                if let Kept::Many(inner) = kept {
                    inner.insert(first, first_env);
                    inner.insert(name, env);
                }
            }
            Some(Kept::Many(inner)) => inner.insert(name, env),
        }
    }

    /// Forgets instance `name` (it is starting again).
    pub fn remove(&mut self, name: &str) {
        let empty = match self.0.as_deref_mut() {
            None => false,
            Some(Kept::One(n, _)) => n == name,
            Some(Kept::Many(inner)) => {
                inner.remove(name);
                inner.by_name.is_empty()
            }
        };
        if empty {
            self.0 = None;
        }
    }

    /// The env instance `name` stopped with.
    pub fn get(&self, name: &str) -> Option<&Env> {
        match self.0.as_deref()? {
            Kept::One(n, env) => (n == name).then_some(env),
            Kept::Many(inner) => inner.by_name.get(name).map(|(_, env)| env),
        }
    }

    /// Every remembered instance, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Env)> {
        let (one, many) = match self.0.as_deref() {
            None => (None, None),
            Some(Kept::One(n, env)) => (Some((n, env)), None),
            Some(Kept::Many(inner)) => (None, Some(&inner.by_name)),
        };
        one.into_iter().chain(
            many.into_iter()
                .flat_map(|m| m.iter().map(|(name, (_, env))| (name, env))),
        )
    }

    /// Every remembered instance in the order they stopped, oldest first (a re-exec's
    /// state: inserting them in this order gives the same memory).
    pub fn in_order(&self) -> Vec<(String, Env)> {
        match self.0.as_deref() {
            None => Vec::new(),
            Some(Kept::One(name, env)) => vec![(name.clone(), env.clone())],
            Some(Kept::Many(inner)) => inner
                .order
                .values()
                .filter_map(|name| {
                    let (_, env) = inner.by_name.get(name)?;
                    Some((name.clone(), env.clone()))
                })
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        match self.0.as_deref() {
            None => 0,
            Some(Kept::One(..)) => 1,
            Some(Kept::Many(inner)) => inner.by_name.len(),
        }
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
        let Some(Kept::Many(inner)) = s.0.as_deref() else {
            panic!("many names are kept in the maps");
        };
        assert_eq!(inner.order.len(), KEEP - 1);
        for i in 0..2000 {
            s.remove(&format!("i{i}"));
        }
        s.remove("i999");
        assert!(s.is_empty());
        assert!(s.0.is_none(), "nothing held once empty");
    }

    // Issue 11 item 4: one remembered name is held alone and behaves as in the maps: a
    // second name moves both there, in the order they stopped, and the last one left
    // still answers.
    #[test]
    fn issue11_item4_one_name_is_held_alone() {
        let env = |v: &str| vec![("RESULT".to_string(), v.to_string())];
        let mut s = Stopped::default();
        s.insert(String::new(), env("ok"));
        assert!(matches!(s.0.as_deref(), Some(Kept::One(..))));
        assert_eq!(s.get(""), Some(&env("ok")));
        assert!(s.get("x").is_none());
        s.insert(String::new(), env("failed"));
        assert_eq!((s.len(), s.get("")), (1, Some(&env("failed"))));
        assert_eq!(s.iter().count(), 1);
        s.remove("x");
        assert_eq!(s.len(), 1);
        s.remove("");
        assert!(s.0.is_none());
        // Two names: in the maps, oldest first.
        s.insert("a".into(), env("ok"));
        s.insert("b".into(), env("failed"));
        let Some(Kept::Many(inner)) = s.0.as_deref() else {
            panic!("two names are kept in the maps");
        };
        assert_eq!(inner.order.values().collect::<Vec<_>>(), ["a", "b"]);
        let names: Vec<&String> = s.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
        s.remove("a");
        assert_eq!(s.get("b"), Some(&env("failed")));
        s.remove("b");
        assert!(s.0.is_none());
    }
}
