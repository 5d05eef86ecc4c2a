//! Job directories: loading, and watching them so changes apply without a reload.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use outset_job::JobConfig;
use outset_sys::inotify::{Inotify, Wd};

/// The inotify events that mean "a job file may have changed".
const MASK: u32 = outset_sys::inotify::IN_CLOSE_WRITE
    | outset_sys::inotify::IN_MOVED_TO
    | outset_sys::inotify::IN_MOVED_FROM
    | outset_sys::inotify::IN_DELETE
    | outset_sys::inotify::IN_CREATE
    | outset_sys::inotify::IN_DELETE_SELF;

pub struct ConfDirs {
    pub dirs: Vec<PathBuf>,
    watches: HashMap<Wd, PathBuf>,
    /// Each loaded job's files (`.conf`, then `.override` if any), for read-permission checks.
    pub sources: HashMap<String, Vec<PathBuf>>,
}

impl ConfDirs {
    pub fn new(dirs: Vec<PathBuf>) -> ConfDirs {
        ConfDirs {
            dirs,
            watches: HashMap::new(),
            sources: HashMap::new(),
        }
    }

    /// Loads every job; logs each bad file as `file:line:column: message`.
    pub fn load(&mut self) -> Vec<JobConfig> {
        let loaded = outset_job::confdir::load_dirs(&self.dirs);
        for d in &loaded.errors {
            log::error!("{d}");
        }
        self.sources.clear();
        loaded
            .jobs
            .into_iter()
            .map(|j| {
                let files = std::iter::once(j.path).chain(j.override_path).collect();
                self.sources.insert(j.name, files);
                j.config
            })
            .collect()
    }

    /// (Re)adds watches on every directory and subdirectory.
    pub fn watch(&mut self, inotify: &Inotify) {
        let dirs = self.dirs.clone();
        for dir in dirs {
            self.watch_tree(inotify, &dir);
        }
    }

    fn watch_tree(&mut self, inotify: &Inotify, dir: &Path) {
        if self.watches.values().any(|d| d == dir) {
            return;
        }
        match inotify.add_watch(dir, MASK) {
            Ok(wd) => {
                self.watches.insert(wd, dir.to_path_buf());
            }
            Err(e) => {
                log::debug!("cannot watch {}: {e}", dir.display());
                return;
            }
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    self.watch_tree(inotify, &e.path());
                }
            }
        }
    }

    /// Whether a watch descriptor is one of ours.
    pub fn owns(&self, wd: Wd) -> bool {
        self.watches.contains_key(&wd)
    }

    /// A watched directory went away.
    pub fn forget(&mut self, wd: Wd) {
        self.watches.remove(&wd);
    }
}
