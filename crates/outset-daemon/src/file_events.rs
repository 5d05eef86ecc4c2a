//! File events, as `upstart-file-bridge` had them but on the daemon's own inotify: a job
//! whose `start on` or `stop on` names `file FILE=PATH [EVENT=create|modify|delete]` gets
//! `file FILE=PATH EVENT=… [MATCH=…]` when PATH changes. A glob in the last component
//! (`/var/crash/*.crash`) matches the directory's entries and names the one that changed in
//! MATCH; a trailing `/` means a directory: changes inside it are `modify` of the directory
//! with MATCH naming the entry, and its own creation or removal is `create` or `delete`.
//! Later bridges spelled the variables FPATH, FEVENT and FMATCH: a job that writes them so
//! gets them so.
//!
//! As the bridge did, the nearest existing directory on the way to each path is watched,
//! and the watch moves deeper as directories appear (what appeared meanwhile is reported as
//! created) and back up as they go. A path that exists when a job naming it with `create`
//! is loaded is reported as created then (the bridge's rule, so such a job does not wait
//! for a file that is already there).
//!
//! The state (the jobs' paths and the directories watched) is plain data rebuilt from the
//! job files: a re-exec carries nothing but the inotify watches it re-adds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use outset_job::{Arg, Expr, JobConfig};
use outset_sys::inotify::{self as ino, Event, Inotify, Wd};

/// An event's variables.
pub type EventEnv = Vec<(String, String)>;

const CREATE: u8 = 1;
const MODIFY: u8 = 2;
const DELETE: u8 = 4;

/// What a job watches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    File(PathBuf),
    /// A directory (written with a trailing `/`).
    Dir(PathBuf),
    /// Entries of a directory whose names match a glob.
    Glob(PathBuf, String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileSpec {
    /// FILE as the job wrote it (the event carries it back, so the condition matches).
    original: String,
    target: Target,
    /// Which of create, modify, delete (all when EVENT is not given).
    events: u8,
    /// The bridge's later spelling, FPATH/FEVENT/FMATCH.
    f_names: bool,
}

impl FileSpec {
    fn env(&self, what: u8, matched: Option<&Path>) -> EventEnv {
        let (file, event, m) = if self.f_names {
            ("FPATH", "FEVENT", "FMATCH")
        } else {
            ("FILE", "EVENT", "MATCH")
        };
        let name = match what {
            CREATE => "create",
            MODIFY => "modify",
            _ => "delete",
        };
        let mut env = vec![
            (file.to_string(), self.original.clone()),
            (event.to_string(), name.to_string()),
        ];
        if let Some(p) = matched {
            env.push((m.to_string(), p.display().to_string()));
        }
        env
    }

    /// The directories to watch for it: the nearest existing one on the way, and a
    /// watched directory itself when it exists.
    fn dirs(&self) -> Vec<PathBuf> {
        match &self.target {
            Target::File(p) => nearest_existing(p.parent()).into_iter().collect(),
            Target::Glob(d, _) => nearest_existing(Some(d)).into_iter().collect(),
            Target::Dir(p) => {
                let mut v: Vec<PathBuf> = nearest_existing(p.parent()).into_iter().collect();
                if p.is_dir() {
                    v.push(p.clone());
                }
                v
            }
        }
    }
}

fn nearest_existing(mut dir: Option<&Path>) -> Option<PathBuf> {
    while let Some(d) = dir {
        if d.is_dir() {
            return Some(d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

/// A `file` operand as the bridge read it; why not, in words.
pub fn parse_spec(args: &[Arg]) -> Result<FileSpec, String> {
    let mut file = None;
    let mut event = None;
    let mut f_names = false;
    for a in args {
        match a {
            Arg::Eq(k, v) if k == "FILE" || k == "FPATH" => {
                f_names = k == "FPATH";
                file = Some(v.as_str());
            }
            Arg::Eq(k, v) if k == "EVENT" || k == "FEVENT" => event = Some(v.as_str()),
            // MATCH conditions are the engine's to check.
            Arg::Eq(..) | Arg::Ne(..) => {}
            Arg::Positional(v) => return Err(format!("positional argument `{v}` not supported")),
        }
    }
    let original = file.ok_or("no FILE")?;
    if !original.starts_with('/') {
        return Err(format!("FILE={original} is not absolute"));
    }
    if original.contains("/../") || original.ends_with("/..") || original.contains('$') {
        return Err(format!("FILE={original} names no fixed path"));
    }
    let events = match event {
        None => CREATE | MODIFY | DELETE,
        Some("create") => CREATE,
        Some("modify") => MODIFY,
        Some("delete") => DELETE,
        Some(other) => return Err(format!("unknown EVENT={other}")),
    };
    let glob = |s: &str| s.contains(['*', '?', '[']);
    let target = if let Some(dir) = original.strip_suffix('/').filter(|d| !d.is_empty()) {
        if glob(dir) {
            return Err("directory globbing not supported".into());
        }
        Target::Dir(dir.into())
    } else {
        let path = Path::new(original);
        let base = path
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = path.parent().unwrap_or(Path::new("/"));
        if glob(&dir.to_string_lossy()) {
            return Err("directory globbing not supported".into());
        }
        if glob(&base) {
            Target::Glob(dir.into(), base)
        } else {
            Target::File(path.into())
        }
    };
    Ok(FileSpec {
        original: original.to_string(),
        target,
        events,
        f_names,
    })
}

/// The `file` operands of every job's `start on` and `stop on`; bad ones are logged.
pub fn wanted(jobs: &[JobConfig]) -> BTreeSet<FileSpec> {
    fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a [Arg]>) {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::Event(m) if m.name == "file" => out.push(&m.args),
            Expr::Event(_) | Expr::Ready(_) => {}
        }
    }
    let mut out = BTreeSet::new();
    for job in jobs {
        let mut ops = Vec::new();
        for e in [&job.start_on, &job.stop_on].into_iter().flatten() {
            walk(e, &mut ops);
        }
        for args in ops {
            match parse_spec(args) {
                Ok(s) => {
                    out.insert(s);
                }
                Err(e) => log::warn!("{}: `file` event ignored: {e}", job.name),
            }
        }
    }
    out
}

/// The jobs' watched paths and the directories watched for them.
#[derive(Debug, Default)]
pub struct FileWatches {
    specs: BTreeSet<FileSpec>,
    watches: BTreeMap<Wd, PathBuf>,
}

const MASK: u32 = ino::IN_CREATE
    | ino::IN_MODIFY
    | ino::IN_CLOSE_WRITE
    | ino::IN_DELETE
    | ino::IN_MOVED_TO
    | ino::IN_MOVED_FROM
    | ino::IN_DELETE_SELF
    // The directory may be a conf dir too, whose watch must keep its events.
    | ino::IN_MASK_ADD;

impl FileWatches {
    /// Whether `wd` is one of these watches.
    pub fn owns(&self, wd: Wd) -> bool {
        self.watches.contains_key(&wd)
    }

    /// Takes the jobs' `file` operands; returns the `create` events of paths that exist
    /// already for operands new since the last call. `shared(wd)`: the watch is also
    /// someone else's (never removed here).
    pub fn sync(
        &mut self,
        jobs: &[JobConfig],
        inotify: &Inotify,
        shared: impl Fn(Wd) -> bool,
    ) -> Vec<EventEnv> {
        let wanted = wanted(jobs);
        let mut out = Vec::new();
        for s in wanted.difference(&self.specs) {
            if s.events & CREATE == 0 {
                continue;
            }
            match &s.target {
                Target::File(p) if p.exists() => out.push(s.env(CREATE, None)),
                Target::Dir(p) if p.is_dir() => out.push(s.env(CREATE, None)),
                Target::Glob(d, g) => {
                    for m in matching_entries(d, g) {
                        out.push(s.env(CREATE, Some(&m)));
                    }
                }
                Target::File(_) | Target::Dir(_) => {}
            }
        }
        self.specs = wanted;
        self.rewatch(inotify, &shared);
        out
    }

    /// Watches exactly the directories the paths need now; returns those newly watched.
    fn rewatch(&mut self, inotify: &Inotify, shared: &impl Fn(Wd) -> bool) -> Vec<PathBuf> {
        let want: BTreeSet<PathBuf> = self.specs.iter().flat_map(FileSpec::dirs).collect();
        let stale: Vec<Wd> = self
            .watches
            .iter()
            .filter(|(_, d)| !want.contains(*d))
            .map(|(w, _)| *w)
            .collect();
        for wd in stale {
            self.watches.remove(&wd);
            if !shared(wd) {
                let _ = inotify.rm_watch(wd);
            }
        }
        let mut added = Vec::new();
        for dir in want {
            if self.watches.values().any(|d| *d == dir) {
                continue;
            }
            match inotify.add_watch(&dir, MASK) {
                Ok(wd) => {
                    self.watches.insert(wd, dir.clone());
                    added.push(dir);
                }
                Err(e) => log::warn!("cannot watch {} for file events: {e}", dir.display()),
            }
        }
        added
    }

    /// Events on these watches: the `file` events to emit, in order, each once per batch.
    pub fn on_events(
        &mut self,
        events: &[&Event],
        inotify: &Inotify,
        shared: impl Fn(Wd) -> bool,
    ) -> Vec<EventEnv> {
        let mut out: Vec<EventEnv> = Vec::new();
        let mut push = |env: EventEnv| {
            if !out.contains(&env) {
                out.push(env);
            }
        };
        let mut moved = false;
        for ev in events {
            let Some(dir) = self.watches.get(&ev.wd).cloned() else {
                continue;
            };
            if ev.mask & (ino::IN_DELETE_SELF | ino::IN_IGNORED) != 0 {
                moved = true;
                if ev.mask & ino::IN_IGNORED != 0 {
                    self.watches.remove(&ev.wd);
                }
                continue;
            }
            let Some(name) = &ev.name else { continue };
            let full = dir.join(name);
            let what = if ev.mask & (ino::IN_CREATE | ino::IN_MOVED_TO) != 0 {
                CREATE
            } else if ev.mask & (ino::IN_DELETE | ino::IN_MOVED_FROM) != 0 {
                DELETE
            } else if ev.mask & (ino::IN_MODIFY | ino::IN_CLOSE_WRITE) != 0 {
                MODIFY
            } else {
                continue;
            };
            if ev.mask & ino::IN_ISDIR != 0 && what != MODIFY {
                // A directory on the way to a watched path came or went.
                moved = true;
            }
            for s in &self.specs {
                match &s.target {
                    Target::File(p) if *p == full && s.events & what != 0 => {
                        push(s.env(what, None));
                    }
                    Target::Glob(d, g)
                        if *d == dir
                            && s.events & what != 0
                            && outset_job::fnmatch::fnmatch(g, &name.to_string_lossy()) =>
                    {
                        push(s.env(what, Some(&full)));
                    }
                    // The directory itself created or removed.
                    Target::Dir(p) if *p == full && s.events & what != 0 => {
                        push(s.env(what, None));
                    }
                    // Something inside the directory changed: the directory was modified.
                    Target::Dir(p) if *p == dir && s.events & MODIFY != 0 => {
                        push(s.env(MODIFY, Some(&full)));
                    }
                    Target::File(_) | Target::Glob(..) | Target::Dir(_) => {}
                }
            }
        }
        if moved {
            // Newly watched directories may already hold what was created in them before
            // the watch existed.
            for dir in self.rewatch(inotify, &shared) {
                for s in &self.specs {
                    if s.events & CREATE == 0 {
                        continue;
                    }
                    match &s.target {
                        Target::File(p) if p.parent() == Some(dir.as_path()) && p.exists() => {
                            push(s.env(CREATE, None));
                        }
                        Target::Glob(d, g) if *d == dir => {
                            for m in matching_entries(d, g) {
                                push(s.env(CREATE, Some(&m)));
                            }
                        }
                        Target::File(_) | Target::Glob(..) | Target::Dir(_) => {}
                    }
                }
            }
        }
        out
    }

    /// After an inotify queue overflow: watches rebuilt, nothing reported.
    pub fn rescan(&mut self, inotify: &Inotify, shared: impl Fn(Wd) -> bool) {
        self.rewatch(inotify, &shared);
    }
}

/// The entries of `dir` whose names match `glob`, sorted.
fn matching_entries(dir: &Path, glob: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| outset_job::fnmatch::fnmatch(glob, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(s: &str) -> Result<FileSpec, String> {
        let job = outset_job::parse_job("t", &format!("start on file {s}")).unwrap();
        match job.start_on.unwrap() {
            Expr::Event(m) => parse_spec(&m.args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn issue17_item2_file_operands_as_the_bridge_read_them() {
        let s = spec("FILE=/var/lib/apport/autoreport EVENT=create").unwrap();
        assert_eq!(s.target, Target::File("/var/lib/apport/autoreport".into()));
        assert_eq!(s.events, CREATE);
        assert_eq!(
            s.env(CREATE, None),
            [
                ("FILE".to_string(), "/var/lib/apport/autoreport".to_string()),
                ("EVENT".into(), "create".into())
            ]
        );
        let s = spec("FILE=/usr/share/applications/*.desktop").unwrap();
        assert_eq!(
            s.target,
            Target::Glob("/usr/share/applications".into(), "*.desktop".into())
        );
        assert_eq!(s.events, CREATE | MODIFY | DELETE);
        let s = spec("FILE=/var/log/").unwrap();
        assert_eq!(s.target, Target::Dir("/var/log".into()));
        let s = spec("FPATH=/run/app.pid FEVENT=delete").unwrap();
        assert_eq!(
            s.env(DELETE, Some(Path::new("/x"))),
            [
                ("FPATH".to_string(), "/run/app.pid".to_string()),
                ("FEVENT".into(), "delete".into()),
                ("FMATCH".into(), "/x".into())
            ]
        );
        for (bad, why) in [
            ("EVENT=create", "no FILE"),
            ("FILE=rel/x", "not absolute"),
            ("FILE=/a/*/b", "directory globbing"),
            ("FILE=/a EVENT=touch", "unknown EVENT"),
            ("FILE=~/.config/x", "not absolute"),
        ] {
            let e = spec(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    /// Drains the inotify queue (after the kernel has queued what a step caused) into the
    /// watches; the events to emit, as `NAME=VALUE` lines.
    fn step(w: &mut FileWatches, i: &mut Inotify) -> Vec<String> {
        use std::os::fd::AsFd;
        let poller = outset_sys::poll::Poller::new().unwrap();
        poller.add(i.as_fd(), 1).unwrap();
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let events = i.read_events().unwrap();
        let refs: Vec<&Event> = events.iter().collect();
        w.on_events(&refs, i, |_| false)
            .into_iter()
            .map(|env| {
                env.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// The watch follows a path whose directories come later and go again; a directory
    /// (trailing `/`) gets `modify` with MATCH for its entries; FPATH spelling is kept.
    #[test]
    fn issue17_item2_watches_follow_directories() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().display().to_string();
        let jobs = vec![
            outset_job::parse_job("f", &format!("start on file FILE={p}/a/b/f.txt")).unwrap(),
            outset_job::parse_job("d", &format!("start on file FPATH={p}/a/")).unwrap(),
        ];
        let mut i = Inotify::new().unwrap();
        let mut w = FileWatches::default();
        assert!(
            w.sync(&jobs, &i, |_| false).is_empty(),
            "nothing exists yet"
        );
        std::fs::create_dir(t.path().join("a")).unwrap();
        assert_eq!(
            step(&mut w, &mut i),
            [format!("FPATH={p}/a/ FEVENT=create")]
        );
        std::fs::create_dir(t.path().join("a/b")).unwrap();
        assert_eq!(
            step(&mut w, &mut i),
            [format!("FPATH={p}/a/ FEVENT=modify FMATCH={p}/a/b")]
        );
        std::fs::write(t.path().join("a/b/f.txt"), "x").unwrap();
        let got = step(&mut w, &mut i);
        assert_eq!(
            got[0],
            format!("FILE={p}/a/b/f.txt EVENT=create"),
            "{got:?}"
        );
        assert!(
            got.contains(&format!("FILE={p}/a/b/f.txt EVENT=modify")),
            "{got:?}"
        );
        std::fs::remove_file(t.path().join("a/b/f.txt")).unwrap();
        assert_eq!(
            step(&mut w, &mut i),
            [format!("FILE={p}/a/b/f.txt EVENT=delete")]
        );
        // The directories go: the watches move back up, and the file is seen again when
        // it all comes back.
        std::fs::remove_dir(t.path().join("a/b")).unwrap();
        std::fs::remove_dir(t.path().join("a")).unwrap();
        let got = step(&mut w, &mut i);
        assert!(
            got.contains(&format!("FPATH={p}/a/ FEVENT=delete")),
            "{got:?}"
        );
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        step(&mut w, &mut i);
        step(&mut w, &mut i);
        std::fs::write(t.path().join("a/b/f.txt"), "x").unwrap();
        let got = step(&mut w, &mut i);
        assert!(
            got.contains(&format!("FILE={p}/a/b/f.txt EVENT=create")),
            "{got:?}"
        );
    }

    /// A path that exists when its job is loaded is reported as created, as the bridge did.
    #[test]
    fn issue17_item2_existing_paths_are_created_at_load() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().display().to_string();
        std::fs::write(t.path().join("x.crash"), "").unwrap();
        std::fs::write(t.path().join("y.log"), "").unwrap();
        let jobs = vec![
            outset_job::parse_job("g", &format!("start on file FILE={p}/*.crash EVENT=create"))
                .unwrap(),
            outset_job::parse_job("m", &format!("start on file FILE={p}/y.log EVENT=modify"))
                .unwrap(),
        ];
        let i = Inotify::new().unwrap();
        let mut w = FileWatches::default();
        let got = w.sync(&jobs, &i, |_| false);
        assert_eq!(
            got,
            [vec![
                ("FILE".to_string(), format!("{p}/*.crash")),
                ("EVENT".into(), "create".into()),
                ("MATCH".into(), format!("{p}/x.crash")),
            ]]
        );
        // Only operands new since the last load.
        assert!(w.sync(&jobs, &i, |_| false).is_empty());
    }
}
