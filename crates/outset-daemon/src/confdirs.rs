//! Job directories: loading, and watching them so changes apply without a reload.
//!
//! Every directory of every conf dir's tree is watched; a directory created or moved in later
//! makes the loop reload, which watches it too (and loads what was written into it before its
//! watch existed). A conf dir that does not exist is logged, and its nearest existing ancestor
//! is watched for the next path component, so the conf dir is picked up when it appears, as
//! Upstart does for `/etc/init`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use outset_job::JobConfig;
use outset_sys::inotify::{self as ino, Event, Inotify, Wd};

/// The inotify events that mean "a job file may have changed".
const MASK: u32 = ino::IN_CLOSE_WRITE
    | ino::IN_MOVED_TO
    | ino::IN_MOVED_FROM
    | ino::IN_DELETE
    | ino::IN_CREATE
    | ino::IN_DELETE_SELF;

/// On the ancestor of a missing conf dir: an entry appeared, or the ancestor went away.
/// `IN_MASK_ADD` keeps whatever else the same directory is watched for.
const ANCESTOR_MASK: u32 =
    ino::IN_CREATE | ino::IN_MOVED_TO | ino::IN_DELETE_SELF | ino::IN_MASK_ADD;

pub struct ConfDirs {
    pub dirs: Vec<PathBuf>,
    /// Watched directories of the conf dir trees.
    watches: HashMap<Wd, PathBuf>,
    /// Watched ancestors of missing conf dirs, with the entry names that lead to one.
    ancestors: HashMap<Wd, HashSet<OsString>>,
    /// Conf dirs found missing (logged once until they appear).
    missing: HashSet<PathBuf>,
    /// Each loaded job's files (`.conf`, then `.override` if any), for read-permission checks:
    /// see [`ConfDirs::sources`].
    sources: SourceIndex,
    /// `--default-console`: a job without a `console` stanza gets this.
    pub default_console: outset_job::Console,
}

/// Each loaded job's [`Sources`], by job name (issue 11 item 3): the names sorted and end to
/// end in one string, found by binary search. A map held a boxed copy of every name (a
/// 32-byte allocation) and spare slots: about 85 bytes per job, where this takes about 25
/// for a short name.
#[derive(Default)]
struct SourceIndex {
    /// The job names in order, end to end.
    names: String,
    /// Where each name ends in `names`.
    ends: Vec<u32>,
    /// Each job's files, in the order of the names.
    files: Vec<Sources>,
}

impl SourceIndex {
    /// Built from the loaded jobs; a name given twice keeps its last files.
    fn new(mut jobs: Vec<(String, Sources)>) -> SourceIndex {
        // Stable: of equal names the last given stays last, and is the one kept.
        jobs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut index = SourceIndex {
            names: String::with_capacity(jobs.iter().map(|(n, _)| n.len()).sum()),
            ends: Vec::with_capacity(jobs.len()),
            files: Vec::with_capacity(jobs.len()),
        };
        let mut jobs = jobs.into_iter().peekable();
        while let Some((name, files)) = jobs.next() {
            if jobs.peek().is_some_and(|(next, _)| *next == name) {
                continue;
            }
            index.names.push_str(&name);
            // More than 4 GiB of job names is no job set; such names are left out.
            let Ok(end) = u32::try_from(index.names.len()) else {
                index.names.truncate(index.names.len() - name.len());
                break;
            };
            index.ends.push(end);
            index.files.push(files);
        }
        index.names.shrink_to_fit();
        index
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn name(&self, i: usize) -> &str {
        let start = i
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .map_or(0, |e| *e as usize);
        let end = self.ends.get(i).map_or(start, |e| *e as usize);
        self.names.get(start..end).unwrap_or("")
    }

    /// The job's name as kept here, and its files.
    fn get(&self, name: &str) -> Option<(&str, &Sources)> {
        let mut lo = 0;
        let mut hi = self.len();
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some((self.name(mid), self.files.get(mid)?)),
            }
        }
        None
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Sources)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (self.name(i), f))
    }
}

/// Where a job's files are.
enum Sources {
    /// `dirs[dir]/NAME.conf`, and `dirs[dir]/NAME.override` when one was applied: what the
    /// loader finds, kept as an index and a flag instead of paths (about 80 B per job).
    InDir { dir: u32, with_override: bool },
    /// Any other place, spelled out.
    Paths(Box<[Box<Path>]>),
}

impl Sources {
    fn of(dirs: &[PathBuf], name: &str, conf: PathBuf, ov: Option<PathBuf>) -> Sources {
        let file = format!("{name}.conf");
        let found = dirs.iter().position(|d| d.join(&file) == conf);
        match (found.and_then(|i| u32::try_from(i).ok()), &ov) {
            (Some(dir), None) => Sources::InDir {
                dir,
                with_override: false,
            },
            (Some(dir), Some(o)) if *o == outset_job::confdir::override_path(&conf) => {
                Sources::InDir {
                    dir,
                    with_override: true,
                }
            }
            _ => Sources::Paths(
                std::iter::once(conf)
                    .chain(ov)
                    .map(PathBuf::into_boxed_path)
                    .collect(),
            ),
        }
    }

    fn files(&self, dirs: &[PathBuf], name: &str) -> Vec<PathBuf> {
        match self {
            Sources::InDir { dir, with_override } => {
                let Some(d) = dirs.get(*dir as usize) else {
                    return Vec::new();
                };
                let conf = d.join(format!("{name}.conf"));
                let ov = with_override.then(|| outset_job::confdir::override_path(&conf));
                std::iter::once(conf).chain(ov).collect()
            }
            Sources::Paths(p) => p.iter().map(|p| p.to_path_buf()).collect(),
        }
    }
}

impl ConfDirs {
    pub fn new(dirs: Vec<PathBuf>) -> ConfDirs {
        ConfDirs {
            dirs,
            watches: HashMap::new(),
            ancestors: HashMap::new(),
            missing: HashSet::new(),
            sources: SourceIndex::default(),
            default_console: outset_job::Console::Log,
        }
    }

    /// Loads every job; logs each bad file as `file:line:column: message`, and each conf dir
    /// that is missing (once) or has appeared.
    pub fn load(&mut self) -> Vec<JobConfig> {
        for dir in &self.dirs {
            if dir.is_dir() {
                if self.missing.remove(dir) {
                    log::info!("job directory {} appeared; loading it", dir.display());
                }
            } else if self.missing.insert(dir.clone()) {
                log::warn!(
                    "job directory {} does not exist; it is loaded when it appears",
                    dir.display()
                );
            }
        }
        let loaded = outset_job::confdir::load_dirs_with(&self.dirs, self.default_console);
        for d in &loaded.errors {
            log::error!("{d}");
        }
        let mut sources = Vec::with_capacity(loaded.jobs.len());
        let configs = loaded
            .jobs
            .into_iter()
            .map(|j| {
                let files = Sources::of(&self.dirs, &j.name, j.path, j.override_path);
                sources.push((j.name, files));
                j.config
            })
            .collect();
        self.sources = SourceIndex::new(sources);
        configs
    }

    /// Each loaded job (all, or just `job`) with its files: the `.conf`, then the
    /// `.override` if one was applied.
    pub fn sources(&self, job: Option<&str>) -> Vec<(&str, Vec<PathBuf>)> {
        match job {
            Some(job) => self
                .sources
                .get(job)
                .map(|(name, s)| (name, s.files(&self.dirs, name)))
                .into_iter()
                .collect(),
            None => self
                .sources
                .iter()
                .map(|(name, s)| (name, s.files(&self.dirs, name)))
                .collect(),
        }
    }

    /// Adds watches on every directory and subdirectory not yet watched, and on the nearest
    /// existing ancestor of each missing conf dir.
    pub fn watch(&mut self, inotify: &Inotify) {
        self.ancestors.clear();
        let dirs = self.dirs.clone();
        for dir in dirs {
            if dir.is_dir() {
                self.watch_tree(inotify, &dir);
            } else {
                self.watch_ancestor(inotify, &dir);
            }
        }
    }

    fn watch_tree(&mut self, inotify: &Inotify, dir: &Path) {
        // An already watched directory is still walked: subdirectories may be new.
        if !self.watches.values().any(|d| d == dir) {
            match inotify.add_watch(dir, MASK) {
                Ok(wd) => {
                    self.watches.insert(wd, dir.to_path_buf());
                }
                Err(e) => {
                    log::debug!("cannot watch {}: {e}", dir.display());
                    return;
                }
            }
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                // Symlinked directories are not followed (nor loaded), so loops cannot trap us.
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    self.watch_tree(inotify, &e.path());
                }
            }
        }
    }

    /// Watches the nearest existing ancestor of the missing `dir` for the entry leading to it.
    fn watch_ancestor(&mut self, inotify: &Inotify, dir: &Path) {
        let mut child = dir;
        while let Some(parent) = child.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if parent.is_dir() {
                let Some(name) = child.file_name() else {
                    return;
                };
                match inotify.add_watch(parent, ANCESTOR_MASK) {
                    Ok(wd) => {
                        self.ancestors
                            .entry(wd)
                            .or_default()
                            .insert(name.to_os_string());
                    }
                    Err(e) => log::debug!("cannot watch {}: {e}", parent.display()),
                }
                return;
            }
            child = parent;
        }
    }

    /// Whether a watch descriptor is one of ours.
    pub fn owns(&self, wd: Wd) -> bool {
        self.watches.contains_key(&wd) || self.ancestors.contains_key(&wd)
    }

    /// Takes note of an event on one of our watches; returns whether the jobs must be
    /// reloaded (which also re-adds watches).
    pub fn on_event(&mut self, ev: &Event) -> bool {
        let gone = ev.mask & (ino::IN_DELETE_SELF | ino::IN_IGNORED) != 0;
        let mut changed = false;
        if let Some(names) = self.ancestors.get(&ev.wd) {
            // The path towards a missing conf dir grew, or the ancestor itself went away.
            changed |= gone || ev.name.as_ref().is_some_and(|n| names.contains(n));
            if gone {
                self.ancestors.remove(&ev.wd);
            }
        }
        if self.watches.contains_key(&ev.wd) {
            let name = ev
                .name
                .as_ref()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            changed |= name.ends_with(".conf")
                || name.ends_with(".override")
                || ev.mask & ino::IN_ISDIR != 0;
            if gone {
                self.watches.remove(&ev.wd);
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(ino: &mut Inotify, dirs: &mut ConfDirs) -> bool {
        let mut changed = false;
        for ev in ino.read_events().unwrap() {
            changed |= dirs.owns(ev.wd) && dirs.on_event(&ev);
        }
        changed
    }

    // Issue 11 item 3: a job's files are kept as a conf dir index and an override flag; the
    // paths given back are the loader's, for plain, overridden and nested jobs in either dir.
    #[test]
    fn issue11_item3_sources_are_the_loaders_paths() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(a.path().join("plain.conf"), "exec true\n").unwrap();
        std::fs::write(a.path().join("ov.conf"), "exec true\n").unwrap();
        std::fs::write(a.path().join("ov.override"), "manual\n").unwrap();
        std::fs::write(a.path().join("bad-ov.conf"), "exec true\n").unwrap();
        std::fs::write(a.path().join("bad-ov.override"), "nonsense stanza\n").unwrap();
        std::fs::create_dir(b.path().join("net")).unwrap();
        std::fs::write(b.path().join("net/web.conf"), "exec true\n").unwrap();
        std::fs::write(b.path().join("net/web.override"), "manual\n").unwrap();
        let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
        let mut confdirs = ConfDirs::new(dirs.clone());
        assert_eq!(confdirs.load().len(), 4);
        let loaded = outset_job::confdir::load_dirs(&dirs);
        assert_eq!(loaded.jobs.len(), 4);
        for j in &loaded.jobs {
            let want: Vec<PathBuf> = std::iter::once(j.path.clone())
                .chain(j.override_path.clone())
                .collect();
            let got = confdirs.sources(Some(&j.name));
            assert_eq!(got, [(j.name.as_str(), want)], "{}", j.name);
            assert!(matches!(
                confdirs.sources.get(&j.name),
                Some((_, Sources::InDir { .. }))
            ));
        }
        assert_eq!(confdirs.sources(Some("net/web"))[0].1.len(), 2);
        assert_eq!(confdirs.sources(None).len(), 4);
        // Paths the index cannot express are kept as they are.
        let odd = Sources::of(&dirs, "x", PathBuf::from("/elsewhere/x.conf"), None);
        assert_eq!(odd.files(&dirs, "x"), [PathBuf::from("/elsewhere/x.conf")]);
    }

    // Issue 11 item 3: the packed, sorted index finds every name and only those, names
    // that are prefixes of others included; a name given twice keeps its last files.
    #[test]
    fn issue11_item3_source_index_finds_each_name() {
        let paths = |p: &str| Sources::Paths(vec![PathBuf::from(p).into_boxed_path()].into());
        let index = SourceIndex::new(vec![
            ("b".into(), paths("/1")),
            ("a/b".into(), paths("/2")),
            ("ab".into(), paths("/3")),
            ("a".into(), paths("/4")),
            ("b".into(), paths("/5")),
        ]);
        assert_eq!(index.len(), 4);
        let found = |n: &str| {
            index
                .get(n)
                .map(|(name, s)| (name.to_string(), s.files(&[], name)))
        };
        for (n, p) in [("a", "/4"), ("a/b", "/2"), ("ab", "/3"), ("b", "/5")] {
            assert_eq!(found(n), Some((n.to_string(), vec![PathBuf::from(p)])));
        }
        for n in ["", "0", "a/", "aa", "abc", "ba", "c"] {
            assert!(found(n).is_none(), "{n}");
        }
        let names: Vec<&str> = index.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "a/b", "ab", "b"]);
        let empty = SourceIndex::new(Vec::new());
        assert!(empty.get("a").is_none());
        assert_eq!(empty.iter().count(), 0);
    }

    // Issue 9 item 14: a subdirectory made after start-up was never watched, because the walk
    // stopped at the already watched conf dir.
    #[test]
    fn issue9_item14_new_subdirectory_is_watched_after_a_reload() {
        let root = tempfile::tempdir().unwrap();
        let mut ino = Inotify::new().unwrap();
        let mut dirs = ConfDirs::new(vec![root.path().to_path_buf()]);
        dirs.watch(&ino);
        std::fs::create_dir(root.path().join("sub")).unwrap();
        assert!(drain(&mut ino, &mut dirs), "a new directory means a reload");
        dirs.watch(&ino);
        std::fs::write(root.path().join("sub/j.conf"), "exec true\n").unwrap();
        assert!(drain(&mut ino, &mut dirs), "a job file in it is seen");
        std::fs::write(root.path().join("sub/notes.txt"), "x").unwrap();
        assert!(!drain(&mut ino, &mut dirs), "other files are not");
    }

    // Issue 9 item 15: a missing conf dir is picked up when it appears, however deep.
    #[test]
    fn issue9_item15_missing_conf_dir_is_awaited() {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join("a/b");
        let mut ino = Inotify::new().unwrap();
        let mut dirs = ConfDirs::new(vec![conf.clone()]);
        assert!(dirs.load().is_empty());
        assert!(dirs.missing.contains(&conf));
        dirs.watch(&ino);
        std::fs::create_dir(root.path().join("unrelated")).unwrap();
        assert!(!drain(&mut ino, &mut dirs));
        std::fs::create_dir(root.path().join("a")).unwrap();
        assert!(drain(&mut ino, &mut dirs));
        dirs.watch(&ino);
        std::fs::create_dir(&conf).unwrap();
        assert!(drain(&mut ino, &mut dirs));
        dirs.watch(&ino);
        std::fs::write(conf.join("j.conf"), "exec true\n").unwrap();
        assert!(drain(&mut ino, &mut dirs));
        assert_eq!(dirs.load().len(), 1);
        assert!(dirs.missing.is_empty());
    }
}
