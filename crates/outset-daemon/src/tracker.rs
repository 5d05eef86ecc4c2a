//! Which processes belong to which job instance.
//!
//! Every instance gets its own cgroup under the daemon's cgroup root; every process of every
//! process type is spawned into it. Without a writable cgroup2 the tracker falls back to the
//! PIDs it spawned (each job process leads its own session, so its group is signalled).
//!
//! Signals never reach a recycled PID: the daemon is the parent (or subreaper) of every job
//! process, so neither its PID nor the process group it leads can be reused before the
//! daemon reaps it, and a reaped PID is forgotten first. A signal goes to the process group,
//! as Upstart sends it, and through a pidfd opened at that moment when the process has left
//! its group. No pidfd is held per process: that keeps the fd table, which every spawn
//! copies, small.

use std::collections::VecDeque;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use outset_engine::InstanceId;
use outset_engine::idmap::IdMap;
use outset_sys::cgroup::Cgroup;
use outset_sys::pidfd::PidFd;

/// The cgroup directory of an instance: escaped names (never `/`, `.` or `..`), `@` between
/// job and instance (escaping never produces one), and a `.job` suffix so no name can be
/// taken for a cgroup interface file.
pub fn cgroup_dir_name(job: &str, instance: &str) -> String {
    // Keep in step with `decode_dir_name`.
    let job = outset_sys::cgroup::escape_name(job);
    if instance.is_empty() {
        format!("{job}.job")
    } else {
        format!("{job}@{}.job", outset_sys::cgroup::escape_name(instance))
    }
}

/// The job and instance a cgroup directory name was made for ([`cgroup_dir_name`]);
/// `None` for a name it cannot have made or one cut short.
pub fn decode_dir_name(dir: &str) -> Option<(String, String)> {
    let stem = dir.strip_suffix(".job")?;
    let (job, instance) = match stem.split_once('@') {
        Some((j, i)) => (j, outset_sys::cgroup::unescape_name(i)?),
        None => (stem, String::new()),
    };
    let job = outset_sys::cgroup::unescape_name(job)?;
    (cgroup_dir_name(&job, &instance) == dir).then_some((job, instance))
}

/// Per-instance tracking state, kept small (memory per running job): the cgroup's path is
/// the root joined with `dir_name`, made when needed. 48 bytes.
struct Tracked {
    /// Live PIDs known to belong to the instance (spawned or adopted); a few at most.
    pids: Pids,
    /// The cgroup's directory name below the root, for reads relative to `root_fd`, when
    /// the instance has its cgroup (`root/dir_name`).
    dir_name: Option<DirName>,
    /// The cgroup's id (its directory's inode number, never 0), as a pidfd reports it.
    cgroup_id: Option<NonZeroU64>,
}

impl Tracked {
    fn in_cgroup(&self) -> bool {
        self.dir_name.is_some()
    }

    fn dir_name(&self) -> Option<&str> {
        self.dir_name.as_ref().map(DirName::as_str)
    }
}

/// A cgroup directory name, inline when short (most are: `job.job`), 24 bytes either way.
///
/// Inline, creating an instance's cgroup allocates nothing that outlives the spawn (issue 11
/// item 3). A small allocation kept per spawn sat between the spawn's short-lived ones, and
/// once those were freed each left a hole of a few hundred bytes that no page could be given
/// back from: about 1 MiB of RSS at 5000 jobs, besides the name's own 32 to 48 bytes.
enum DirName {
    Inline {
        len: u8,
        bytes: [u8; DirName::INLINE],
    },
    Boxed(Box<str>),
}

impl DirName {
    const INLINE: usize = 22;

    fn new(name: &str) -> DirName {
        let mut bytes = [0u8; DirName::INLINE];
        match (bytes.get_mut(..name.len()), u8::try_from(name.len())) {
            (Some(dst), Ok(len)) => {
                dst.copy_from_slice(name.as_bytes());
                DirName::Inline { len, bytes }
            }
            _ => DirName::Boxed(name.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `str`: always valid UTF-8.
            DirName::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
            DirName::Boxed(b) => b,
        }
    }
}

/// A short list of PIDs in the order they were added, the first one inline: most instances
/// only ever have their main process, and a vector cost 24 bytes here plus a 32-byte
/// allocation (issue 11 item 3). 16 bytes.
#[derive(Default, Debug)]
struct Pids {
    first: Option<NonZeroU32>,
    /// The others, after `first` (or all of them while `first` is empty: a PID 0, which
    /// never names a process, is kept here). Never an empty vector. Boxed: 8 bytes in
    /// every entry instead of 24, for a list almost no instance has.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<u32>>>,
}

impl Pids {
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.first
            .map(NonZeroU32::get)
            .into_iter()
            .chain(self.rest.iter().flat_map(|r| r.iter().copied()))
    }

    fn contains(&self, pid: u32) -> bool {
        self.iter().any(|p| p == pid)
    }

    fn push(&mut self, pid: u32) {
        match NonZeroU32::new(pid) {
            Some(p) if self.first.is_none() && self.rest.is_none() => self.first = Some(p),
            _ => self.rest.get_or_insert_default().push(pid),
        }
    }

    /// Removes every occurrence of `pid`, keeping the others' order.
    fn remove(&mut self, pid: u32) {
        if self.first.is_some_and(|p| p.get() == pid) {
            self.first = None;
        }
        if let Some(rest) = &mut self.rest {
            rest.retain(|p| *p != pid);
            if self.first.is_none()
                && let Some(p) = rest.first().and_then(|p| NonZeroU32::new(*p))
            {
                self.first = Some(p);
                rest.remove(0);
            }
            if rest.is_empty() {
                self.rest = None;
            }
        }
    }
}

#[derive(Default)]
pub struct Tracker {
    /// Where instance cgroups are created; `None` in fallback mode.
    root: Option<PathBuf>,
    instances: IdMap<InstanceId, Tracked>,
    owner: IdMap<u32, InstanceId>,
    /// cgroups of removed instances, removed when the loop has nothing else to do.
    /// By directory name below the root: a stop of thousands of jobs made a path and a
    /// name for each (two allocations per instance) where the inline name is copied.
    retired: VecDeque<DirName>,
    /// After a cgroup could not be removed, sweeping pauses until then.
    pause_until: Option<Instant>,
    /// The cgroup2 mount, to turn `/proc/PID/cgroup` paths into instances.
    mount: Option<PathBuf>,
    /// The root's path relative to the mount (`/root`), as `/proc/PID/cgroup` shows it.
    root_rel: Option<String>,
    /// Processes signalled since the last reaping, in order: the next reaping waits for
    /// each by PID first (`reap::reap_these`).
    signalled: Vec<u32>,
    /// Signals the engine asked for, sent in batches of [`SIGNAL_BATCH`] by
    /// [`Tracker::flush_signals`]: a stop of many jobs sent each between the engine's steps,
    /// and every process it ended woke and preempted the daemon before the next. The rest
    /// go before the loop sleeps or reaps, so a signal never meets a reaped (reusable) PID.
    queued: Vec<(u32, i32, bool)>,
    /// The root directory, opened once: member lists are read relative to it.
    root_fd: Option<std::os::fd::OwnedFd>,
    /// During a reaping batch: whether the whole root was found empty (`None`: not read yet
    /// in this batch). Outside a batch, `Batch::Off`. See [`Tracker::begin_batch`].
    batch: Batch,
    /// Member lists read from instance cgroups (for tests of the batch shortcut).
    #[cfg(test)]
    member_reads: usize,
}

/// Signals sent together at most (see [`Tracker::queue_signal`]).
const SIGNAL_BATCH: usize = 64;

/// What one read of the root's `cgroup.events` told during the current reaping batch.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Batch {
    #[default]
    Off,
    Unread,
    RootEmpty,
    /// Populated when last read, with the instance cgroups read since: after
    /// [`ROOT_RECHECK`] of them the root is read again (the last processes of a mass stop
    /// end while the batch is handled).
    RootPopulated(u8),
}

/// Instance cgroups read in a batch before the root is read again.
const ROOT_RECHECK: u8 = 16;

impl Tracker {
    pub fn new(root: Option<PathBuf>) -> Tracker {
        let mut t = Tracker {
            mount: root
                .as_ref()
                .and_then(|_| outset_sys::cgroup::cgroup2_mount()),
            root_fd: root.as_ref().and_then(|r| Cgroup::open_dir(r).ok()),
            root,
            ..Tracker::default()
        };
        t.root_rel = t.root.as_deref().and_then(|r| t.relative(r));
        t
    }

    /// The instance a process the tracker knows belongs to.
    pub fn owner_of(&self, pid: u32) -> Option<InstanceId> {
        self.owner.get(&pid).copied()
    }

    /// Whether the instance is tracked already (its cgroup, if any, was made).
    pub fn tracks(&self, inst: InstanceId) -> bool {
        self.instances.contains_key(&inst)
    }

    /// Where instance cgroups are created.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Whether instances get cgroups (false: tracking falls back to process groups).
    pub fn has_root(&self) -> bool {
        self.root.is_some()
    }

    /// A usable cgroup2 root found later (mounted after start, `reload-configuration`):
    /// instances created from now on get cgroups; those tracked by process group stay so.
    pub fn adopt_root(&mut self, root: PathBuf) {
        if self.root.is_some() {
            return;
        }
        let fresh = Tracker::new(Some(root));
        self.mount = fresh.mount;
        self.root_fd = fresh.root_fd;
        self.root_rel = fresh.root_rel;
        self.root = fresh.root;
    }

    /// The instance whose cgroup is `rel` (as `/proc/PID/cgroup` names it); the newest
    /// if two share the directory (a restarted instance takes over its predecessor's).
    ///
    /// A walk over the instances, not a map by name: it is only asked while a launch chain
    /// is tracked (which walks every instance per reaping batch already), and a map cost
    /// about 90 bytes per running job (issue 11 item 3).
    pub fn instance_of_cgroup(&self, rel: &str) -> Option<InstanceId> {
        let root = self.root_rel.as_deref()?;
        let root = root.strip_suffix('/').unwrap_or(root);
        let dir = rel.strip_prefix(root)?.strip_prefix('/')?;
        self.instances
            .iter()
            .filter(|(_, t)| t.dir_name() == Some(dir))
            .map(|(id, _)| *id)
            .max()
    }

    /// The instance's cgroup, if it has one.
    fn cgroup(&self, t: &Tracked) -> Option<Cgroup> {
        let root = self.root.as_ref()?;
        Some(Cgroup::at(root.join(t.dir_name()?)))
    }

    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(self.mount.as_ref()?).ok()?;
        Some(format!("/{}", rel.display()))
    }

    /// The tracking mode, for the start-up log line.
    pub fn mode(&self) -> String {
        match &self.root {
            Some(r) => format!("cgroup2 at {}", r.display()),
            None => "process groups (no writable cgroup2)".to_string(),
        }
    }

    /// What a re-exec hands over: each instance's cgroup and known PIDs, and the cgroups
    /// still to remove.
    pub fn export(&self) -> crate::state::TrackerState {
        let mut instances: Vec<_> = self
            .instances
            .iter()
            .map(|(id, t)| {
                (
                    id.0,
                    t.dir_name().unwrap_or_default().to_string(),
                    t.in_cgroup(),
                    t.pids.iter().collect(),
                )
            })
            .collect();
        instances.sort_unstable_by_key(|i| i.0);
        crate::state::TrackerState {
            instances,
            retired: self
                .retired
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
        }
    }

    /// Takes back what [`Tracker::export`] handed over (the root is this tracker's).
    pub fn import(&mut self, state: crate::state::TrackerState) {
        for (id, dir_name, in_cgroup, pids) in state.instances {
            let inst = InstanceId(id);
            let in_cgroup = in_cgroup && self.root.is_some() && !dir_name.is_empty();
            let mut tracked = Tracked {
                pids: Pids::default(),
                dir_name: in_cgroup.then(|| DirName::new(&dir_name)),
                // Read when a notify message first needs it: a re-exec with thousands of
                // instances does not stat every cgroup.
                cgroup_id: None,
            };
            for pid in pids {
                tracked.pids.push(pid);
                self.owner.insert(pid, inst);
            }
            self.instances.insert(inst, tracked);
        }
        if self.root.is_some() {
            for name in state.retired {
                self.retired.push_back(DirName::new(&name));
            }
        }
    }

    /// Job cgroups under the root that no instance has (left by a daemon that crashed or
    /// whose re-exec state was refused): directory name and processes, oldest first.
    pub fn untracked_cgroups(&self) -> Vec<(String, Vec<u32>)> {
        let Some(root) = &self.root else {
            return Vec::new();
        };
        let Ok(dir) = std::fs::read_dir(root) else {
            return Vec::new();
        };
        let known: std::collections::HashSet<&str> = self
            .instances
            .values()
            .filter_map(Tracked::dir_name)
            .collect();
        let mut found: Vec<(String, Vec<u32>)> = dir
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if !name.ends_with(".job") || known.contains(name.as_str()) {
                    return None;
                }
                let procs = Cgroup::at(e.path()).procs().unwrap_or_default();
                Some((name, outset_sys::procfs::order_oldest_first(&procs)))
            })
            .collect();
        found.sort();
        found
    }

    /// The live PIDs known to belong to the instance.
    #[cfg(test)]
    pub fn known_pids(&self, inst: InstanceId) -> Vec<u32> {
        self.instances
            .get(&inst)
            .map(|t| t.pids.iter().collect())
            .unwrap_or_default()
    }

    /// Puts an untracked, empty job cgroup with the others to remove.
    pub fn retire_untracked(&mut self, dir_name: &str) {
        if self.root.is_some() {
            self.retired.push_back(DirName::new(dir_name));
        }
    }

    /// Creates the instance's cgroup (or the bookkeeping alone in fallback mode).
    pub fn create(&mut self, inst: InstanceId, job: &str, instance: &str) -> Result<(), String> {
        if self.instances.contains_key(&inst) {
            return Ok(());
        }
        let mut tracked = Tracked {
            pids: Pids::default(),
            dir_name: None,
            cgroup_id: None,
        };
        let result = match &self.root {
            Some(root) => {
                let name = cgroup_dir_name(job, instance);
                let dir = root.join(&name);
                // A restarted instance takes over its predecessor's directory if that has not
                // been removed yet: it must never be swept (and killed) under the new one.
                self.retired.retain(|n| n.as_str() != name);
                match Cgroup::create(&dir) {
                    Ok(_) => {
                        tracked.dir_name = Some(DirName::new(&name));
                        use std::os::unix::fs::MetadataExt;
                        tracked.cgroup_id = std::fs::metadata(&dir)
                            .ok()
                            .and_then(|m| NonZeroU64::new(m.ino()));
                        Ok(())
                    }
                    Err(e) => Err(format!("cgroup {}: {e}", dir.display())),
                }
            }
            None => Ok(()),
        };
        self.instances.insert(inst, tracked);
        result
    }

    /// Forgets the instance; its cgroup is removed later by [`Tracker::sweep`].
    pub fn remove(&mut self, inst: InstanceId) {
        // Signals to its processes go before they are forgotten.
        self.flush_signals();
        if let Some(t) = self.instances.remove(&inst) {
            for pid in t.pids.iter() {
                self.owner.remove(&pid);
            }
            if let (true, Some(name)) = (self.root.is_some(), t.dir_name) {
                self.retired.push_back(name);
            }
        }
    }

    /// Whether retired cgroups wait for removal and may be swept now.
    pub fn has_retired(&self) -> bool {
        !self.retired.is_empty() && self.pause_until.is_none_or(|t| Instant::now() >= t)
    }

    /// Whether any retired cgroup is left at all.
    pub fn any_retired(&self) -> bool {
        !self.retired.is_empty()
    }

    /// Removes up to `max` retired cgroups. Processes still inside (a daemon that escaped
    /// its job's stop) are killed first; a cgroup that is not empty yet waits for a later
    /// sweep.
    pub fn sweep(&mut self, max: usize) {
        self.pause_until = None;
        let Some(root) = &self.root else {
            self.retired.clear();
            return;
        };
        for _ in 0..max.min(self.retired.len()) {
            let Some(name) = self.retired.pop_front() else {
                return;
            };
            let cg = Cgroup::at(root.join(name.as_str()));
            if cg.remove().is_ok() || !cg.path().exists() {
                continue;
            }
            if cg.populated().unwrap_or(false) {
                log::warn!(
                    "{}: processes left after the job stopped; killing them",
                    name.as_str()
                );
                if let Err(e) = cg.kill() {
                    log::warn!("cgroup.kill on {}: {e}", cg.path().display());
                }
            }
            // Tried again once the killed processes have been reaped.
            self.retired.push_back(name);
            self.pause_until = Some(Instant::now() + Duration::from_millis(50));
            return;
        }
    }

    pub fn cgroup_path(&self, inst: InstanceId) -> Option<PathBuf> {
        let t = self.instances.get(&inst)?;
        Some(self.root.as_ref()?.join(t.dir_name()?))
    }

    /// A reaping batch begins: until [`Tracker::end_batch`], the first instance whose
    /// processes are asked for reads the root's `cgroup.events` once, and while it says no
    /// process is left under the root, no instance cgroup is read at all (issue 11 item 4:
    /// a stop of thousands of jobs read one `cgroup.procs` per instance, each a lookup the
    /// kernel had never cached). Zombies no longer count as members, so the reaped and the
    /// not-yet-reaped alike leave the root empty. While the root is populated, it is read
    /// again after every [`ROOT_RECHECK`] instance cgroups (the last processes of a mass stop
    /// end while its first exits are handled, and each instance read costs a lookup). Any
    /// process the daemon adds (a spawn, an adoption) makes the root populated until it is
    /// read again.
    pub fn begin_batch(&mut self) {
        self.batch = Batch::Unread;
    }

    /// The reaping batch is over: members are read per instance again.
    pub fn end_batch(&mut self) {
        self.batch = Batch::Off;
    }

    /// Within a batch, whether the whole root is known to hold no process.
    fn root_empty(&mut self) -> bool {
        if matches!(
            self.batch,
            Batch::Unread | Batch::RootPopulated(ROOT_RECHECK..)
        ) {
            use std::os::fd::AsFd;
            let empty = self
                .root_fd
                .as_ref()
                .is_some_and(|fd| Cgroup::populated_at(fd.as_fd()).is_ok_and(|p| !p));
            self.batch = if empty {
                Batch::RootEmpty
            } else {
                Batch::RootPopulated(0)
            };
        }
        self.batch == Batch::RootEmpty
    }

    /// The instance's live processes, oldest first, each adopted so it may be signalled.
    /// A cgroup whose members cannot be read is an error, never "no process left", unless
    /// `cgroup.events` says it is empty or the cgroup is gone.
    pub fn processes(&mut self, inst: InstanceId) -> Result<Vec<u32>, String> {
        let in_cgroup = match self.instances.get(&inst) {
            Some(t) => t.in_cgroup() && self.root.is_some(),
            None => return Ok(Vec::new()),
        };
        if in_cgroup && self.root_empty() {
            return Ok(Vec::new());
        }
        if in_cgroup && let Batch::RootPopulated(n) = &mut self.batch {
            *n = n.saturating_add(1);
        }
        let Some(t) = self.instances.get(&inst) else {
            return Ok(Vec::new());
        };
        #[cfg(test)]
        if t.in_cgroup() {
            self.member_reads += 1;
        }
        // Relative to the root's fd first, without making the path (an allocation per
        // instance in a stop of many jobs); the path is for the fallback and its errors.
        if let (Some(fd), Some(name)) = (&self.root_fd, t.dir_name()) {
            use std::os::fd::AsFd;
            if let Ok(p) = Cgroup::procs_at(fd.as_fd(), Path::new(name)) {
                return Ok(self.adopt_all(inst, p));
            }
        }
        let pids: Vec<u32> = match self.cgroup(t) {
            Some(cg) => {
                match cg.procs() {
                    Ok(p) => p,
                    // A cgroup that no longer exists holds no process.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && !cg.path().exists() => {
                        Vec::new()
                    }
                    Err(e) => match cg.populated() {
                        Ok(false) => Vec::new(),
                        _ => {
                            return Err(format!(
                                "cannot read {}/cgroup.procs: {e}",
                                cg.path().display()
                            ));
                        }
                    },
                }
            }
            // Without a cgroup only the spawned processes are known.
            None => t
                .pids
                .iter()
                .filter(|p| outset_sys::procfs::start_time(*p).is_some())
                .collect(),
        };
        Ok(self.adopt_all(inst, pids))
    }

    /// The members read, oldest first, each adopted.
    fn adopt_all(&mut self, inst: InstanceId, pids: Vec<u32>) -> Vec<u32> {
        let ordered = if pids.len() > 1 {
            outset_sys::procfs::order_oldest_first(&pids)
        } else {
            pids
        };
        for &pid in &ordered {
            self.adopt(inst, pid);
        }
        ordered
    }

    /// Whether the sender of a notify message belongs to the instance. With the sender's
    /// pidfd (SO_PASSPIDFD) its cgroup is known even after it has exited and been reaped, so
    /// a short-lived helper is never mistaken for an outsider; without one, its PID must be
    /// in the cgroup now or be a process the tracker knows.
    pub fn sent_by_member(
        &mut self,
        inst: InstanceId,
        pid: u32,
        pidfd: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> bool {
        let root = self.root.clone();
        let Some(t) = self.instances.get_mut(&inst) else {
            return false;
        };
        if t.cgroup_id.is_none()
            && let Some(root) = root
            && let Some(dir_name) = t.dir_name()
        {
            use std::os::unix::fs::MetadataExt;
            t.cgroup_id = std::fs::metadata(root.join(dir_name))
                .ok()
                .and_then(|m| NonZeroU64::new(m.ino()));
        }
        if let (Some(id), Some(fd)) = (t.cgroup_id, pidfd) {
            match outset_sys::pidfd::cgroup_id(fd) {
                // Not adopted: it may have exited and its PID been reused already.
                Ok(sender) => return sender == id.get(),
                Err(e) => log::debug!("cgroup of notify sender {pid}: {e}"),
            }
        }
        if t.pids.contains(pid) {
            return true;
        }
        self.processes(inst).is_ok_and(|p| p.contains(&pid))
    }

    /// Records a process of the instance.
    pub fn adopt(&mut self, inst: InstanceId, pid: u32) {
        // Populated now, whatever the last read of the root said.
        if self.batch != Batch::Off {
            self.batch = Batch::RootPopulated(0);
        }
        if let Some(t) = self.instances.get_mut(&inst) {
            if !t.pids.contains(pid) {
                t.pids.push(pid);
            }
            self.owner.insert(pid, inst);
        }
    }

    /// A reaped process: forget it before its PID can be reused.
    pub fn reaped(&mut self, pid: u32) {
        if let Some(inst) = self.owner.remove(&pid)
            && let Some(t) = self.instances.get_mut(&inst)
        {
            t.pids.remove(pid);
        }
    }

    /// Takes the processes signalled since the last call (sending any still queued).
    pub fn take_signalled(&mut self) -> Vec<u32> {
        self.flush_signals();
        std::mem::take(&mut self.signalled)
    }

    /// Signals one of the instances' processes now, and with `group` the process group it
    /// leads. Signals queued before it are sent first.
    pub fn signal(&mut self, pid: u32, signal: i32, group: bool) -> Result<(), String> {
        self.flush_signals();
        self.check_owned(pid)?;
        Self::send(pid, signal, group)
    }

    /// Queues a signal to one of the instances' processes for [`Tracker::flush_signals`];
    /// a full batch is sent at once, so the first processes end while the engine still
    /// decides on the others.
    pub fn queue_signal(&mut self, pid: u32, signal: i32, group: bool) -> Result<(), String> {
        self.check_owned(pid)?;
        self.queued.push((pid, signal, group));
        if self.queued.len() >= SIGNAL_BATCH {
            self.flush_signals();
        }
        Ok(())
    }

    /// Sends every queued signal, in order; failures are logged.
    pub fn flush_signals(&mut self) {
        let mut queued = std::mem::take(&mut self.queued);
        for &(pid, signal, group) in &queued {
            if let Err(e) = Self::send(pid, signal, group) {
                log::warn!("cannot signal process {pid}: {e}");
            }
        }
        // The buffer is kept for the next batch.
        queued.clear();
        self.queued = queued;
    }

    /// A process the tracker knows, noted as signalled for the next reaping.
    fn check_owned(&mut self, pid: u32) -> Result<(), String> {
        if !self.owner.contains_key(&pid) {
            return Err(format!("process {pid} is not a tracked job process"));
        }
        // Bounded: a loop that signals without reaping (reload signals) keeps the newest.
        if self.signalled.len() >= 65_536 {
            self.signalled.clear();
        }
        self.signalled.push(pid);
        Ok(())
    }

    fn send(pid: u32, signal: i32, group: bool) -> Result<(), String> {
        if group && let Ok(true) = outset_sys::process::signal_group(pid, signal) {
            return Ok(());
        }
        // Alone, or it left the group it was started with.
        let fd = PidFd::open(pid).map_err(|e| e.to_string())?;
        fd.signal(signal).map_err(|e| e.to_string())
    }

    /// Kills every process of the instance at once: `cgroup.kill`, else each known process
    /// group.
    pub fn kill_all(&mut self, inst: InstanceId) {
        self.flush_signals();
        let Some(t) = self.instances.get(&inst) else {
            return;
        };
        if let Some(cg) = self.cgroup(t) {
            match cg.kill() {
                Ok(()) => return,
                Err(e) => log::warn!("cgroup.kill on {}: {e}", cg.path().display()),
            }
        }
        let pids: Vec<u32> = t.pids.iter().collect();
        for pid in pids {
            if let Err(e) = self.signal(pid, 9, true) {
                log::debug!("SIGKILL to {pid}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod fake_tests;

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 11 item 3: the inline-first PID list behaves as the vector it replaced: order
    // kept, each PID once through `adopt`, every occurrence removed.
    #[test]
    fn issue11_item3_pids_keep_order_through_removals() {
        let mut p = Pids::default();
        assert_eq!(p.iter().count(), 0);
        for pid in [10, 20, 30] {
            p.push(pid);
        }
        assert_eq!(p.iter().collect::<Vec<_>>(), [10, 20, 30]);
        assert!(p.contains(20) && !p.contains(40));
        p.remove(10);
        assert_eq!(p.iter().collect::<Vec<_>>(), [20, 30]);
        assert_eq!(
            p.first.map(NonZeroU32::get),
            Some(20),
            "the next moves inline"
        );
        p.remove(30);
        p.push(40);
        assert_eq!(p.iter().collect::<Vec<_>>(), [20, 40]);
        p.remove(20);
        p.remove(40);
        assert_eq!(p.iter().count(), 0);
        assert!(p.rest.is_none());
        // A 0 (never a process) is kept like any other value.
        p.push(0);
        p.push(5);
        assert_eq!(p.iter().collect::<Vec<_>>(), [0, 5]);
        p.remove(0);
        assert_eq!(p.iter().collect::<Vec<_>>(), [5]);
        assert!(std::mem::size_of::<Tracked>() <= 48);
    }

    // Issue 11 item 3: a directory name reads back as given, inline up to 22 bytes and
    // boxed beyond, in 24 bytes either way.
    #[test]
    fn issue11_item3_dir_names_read_back_inline_or_boxed() {
        for name in [
            "",
            "a.job",
            "j0000.job",
            "0123456789012345678901",
            "x".repeat(23).as_str(),
        ] {
            let d = DirName::new(name);
            assert_eq!(d.as_str(), name);
            assert_eq!(
                matches!(d, DirName::Inline { .. }),
                name.len() <= 22,
                "{name}"
            );
        }
        let long = cgroup_dir_name(&"n".repeat(300), "i");
        assert_eq!(DirName::new(&long).as_str(), long);
        assert_eq!(std::mem::size_of::<Option<DirName>>(), 24);
    }

    #[test]
    fn cgroup_names_are_distinct_and_safe() {
        assert_eq!(cgroup_dir_name("web", ""), "web.job");
        assert_ne!(cgroup_dir_name("a", "b"), cgroup_dir_name("a@b", ""));
        assert!(!cgroup_dir_name("../x", "").contains('/'));
        assert_ne!(cgroup_dir_name("cgroup.procs", ""), "cgroup.procs");
        assert_ne!(cgroup_dir_name("a", "b/c"), cgroup_dir_name("a", "b_c"));
    }

    /// Issue 15 item 4: every instance cgroup's name gives back its job and instance.
    #[test]
    fn issue15_item4_cgroup_names_decode_to_job_and_instance() {
        for (job, inst) in [
            ("web", ""),
            ("a/b", "tty/1"),
            ("x@y", "z@w"),
            ("_", "_"),
            ("j", "."),
        ] {
            let dir = cgroup_dir_name(job, inst);
            assert_eq!(
                decode_dir_name(&dir),
                Some((job.into(), inst.into())),
                "{dir}"
            );
        }
        assert_eq!(decode_dir_name("web"), None);
        assert_eq!(decode_dir_name("cgroup.procs"), None);
        assert_eq!(
            decode_dir_name(&cgroup_dir_name(&"j".repeat(500), "")),
            None
        );
    }

    /// Needs root and a cgroup2 mount; None (a skip, refused under CI=true) otherwise.
    fn root_cgroup2() -> Option<PathBuf> {
        let is_root = nix::unistd::geteuid().is_root();
        let mount = outset_sys::cgroup::cgroup2_mount();
        if let (true, Some(mount)) = (is_root, mount) {
            return Some(mount);
        }
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "this test needs root and cgroup2, and CI=true forbids skipping"
        );
        eprintln!("SKIP: needs root and cgroup2");
        None
    }

    /// Issue 9 item 7: a helper that sent READY=1 and has exited and been reaped since is
    /// still known as the job's, from the pidfd the kernel attached to its message; a
    /// sender outside the cgroup is not.
    #[test]
    fn issue9_item7_exited_sender_is_a_member() {
        use std::io::Write;
        let Some(mount) = root_cgroup2() else {
            return;
        };
        struct Cleanup(PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(self.0.join(cgroup_dir_name("j", "")));
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let root = mount.join(format!("outset-tracker-notify-{}", std::process::id()));
        std::fs::create_dir(&root).unwrap();
        let _cleanup = Cleanup(root.clone());
        let mut t = Tracker::new(Some(root.clone()));
        let inst = InstanceId(1);
        t.create(inst, "j", "").unwrap();
        let sock = outset_sys::notify::NotifySocket::bind_random("outset-test").unwrap();
        let addr = sock.address();
        // The helper waits for a line (by then it is in the job's cgroup), sends, exits.
        let mut helper = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket, sys\nsys.stdin.readline()\n\
                 s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
                 s.sendto(b'READY=1', '\\0' + sys.argv[1])\n",
                addr.strip_prefix('@').unwrap(),
            ])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let moved = std::fs::write(
            root.join(cgroup_dir_name("j", "")).join("cgroup.procs"),
            helper.id().to_string(),
        );
        let _ = helper.stdin.take().unwrap().write_all(b"go\n");
        let status = helper.wait().unwrap();
        moved.unwrap();
        assert!(status.success());
        let d = sock.recv().unwrap().unwrap();
        assert_eq!(d.text, "READY=1");
        // Reaped: its PID is in no cgroup any more.
        assert!(!t.processes(inst).unwrap().contains(&d.pid));
        use std::os::fd::AsFd;
        let pidfd = d.pidfd.as_ref().map(|f| f.as_fd());
        assert!(pidfd.is_some(), "no SCM_PIDFD from this kernel");
        assert!(t.sent_by_member(inst, d.pid, pidfd));

        // The test process itself is not in the job.
        let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
        use std::os::linux::net::SocketAddrExt;
        let a = std::os::unix::net::SocketAddr::from_abstract_name(
            addr.strip_prefix('@').unwrap().as_bytes(),
        )
        .unwrap();
        client.send_to_addr(b"READY=1", &a).unwrap();
        let d = sock.recv().unwrap().unwrap();
        let pidfd = d.pidfd.as_ref().map(|f| f.as_fd());
        assert!(!t.sent_by_member(inst, d.pid, pidfd));
    }

    /// Issue 9 item 10: a failed read of `cgroup.procs` (here: no descriptor left to open
    /// it) is an error, not an empty job.
    #[test]
    fn issue9_item10_unreadable_cgroup_is_an_error() {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let Some(mount) = root_cgroup2() else {
            return;
        };
        /// Kills the sleeper and removes the cgroups, even when an assertion fails.
        struct Cleanup(PathBuf, std::process::Child);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = self.1.kill();
                let _ = self.1.wait();
                let _ = std::fs::remove_dir(self.0.join(cgroup_dir_name("j", "")));
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let root = mount.join(format!("outset-tracker-test-{}", std::process::id()));
        std::fs::create_dir(&root).unwrap();
        let child = std::process::Command::new("sleep").arg("30").spawn();
        let mut guard = Cleanup(root.clone(), child.unwrap());
        let pid = guard.1.id();
        let mut t = Tracker::new(Some(root.clone()));
        let inst = InstanceId(1);
        t.create(inst, "j", "").unwrap();
        let dir = root.join(cgroup_dir_name("j", ""));
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
        assert_eq!(t.processes(inst), Ok(vec![pid]));
        // Every descriptor below 3 is taken: the next open fails with EMFILE.
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        setrlimit(Resource::RLIMIT_NOFILE, 3, hard).unwrap();
        let unreadable = t.processes(inst);
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
        let err = unreadable.unwrap_err();
        assert!(err.contains("cgroup.procs"), "{err}");
        let _ = guard.1.kill();
        let _ = guard.1.wait();
        // Empty, and once gone, it is known to be empty.
        assert_eq!(t.processes(inst), Ok(vec![]));
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(t.processes(inst), Ok(vec![]));
    }

    /// Issue 11 item 4: during a reaping batch, one read of the root's `cgroup.events`
    /// answers for every instance while no process is left under the root; a root with a
    /// process still has each instance read, and a process the daemon adds mid-batch ends
    /// the shortcut.
    #[test]
    fn issue11_item4_one_root_read_answers_for_an_empty_tree() {
        let Some(mount) = root_cgroup2() else {
            return;
        };
        /// Kills the sleepers and removes the cgroups, even when an assertion fails.
        struct Cleanup(PathBuf, Vec<std::process::Child>);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                for c in &mut self.1 {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                for j in ["a", "b", "c"] {
                    let _ = std::fs::remove_dir(self.0.join(cgroup_dir_name(j, "")));
                }
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let root = mount.join(format!("outset-tracker-batch-{}", std::process::id()));
        std::fs::create_dir(&root).unwrap();
        let mut guard = Cleanup(root.clone(), Vec::new());
        let mut t = Tracker::new(Some(root.clone()));
        let ids = [InstanceId(1), InstanceId(2), InstanceId(3)];
        for (id, j) in ids.iter().zip(["a", "b", "c"]) {
            t.create(*id, j, "").unwrap();
        }
        let sleeper = |guard: &mut Cleanup, job: &str| {
            let c = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let pid = c.id();
            guard.1.push(c);
            std::fs::write(
                root.join(cgroup_dir_name(job, "")).join("cgroup.procs"),
                pid.to_string(),
            )
            .unwrap();
            pid
        };

        // A process under the root: every instance is read, and each answer is its own.
        let pid = sleeper(&mut guard, "b");
        t.begin_batch();
        assert_eq!(t.processes(ids[0]), Ok(vec![]));
        assert_eq!(t.processes(ids[1]), Ok(vec![pid]));
        assert_eq!(t.member_reads, 2);
        t.end_batch();

        // It exits: the next batch reads the root once and no instance.
        let mut c = guard.1.pop().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
        t.reaped(pid);
        let before = t.member_reads;
        t.begin_batch();
        for id in ids {
            assert_eq!(t.processes(id), Ok(vec![]));
        }
        assert_eq!(t.member_reads, before);

        // A spawn mid-batch (here: a process moved in and adopted, as a spawn is).
        let pid = sleeper(&mut guard, "c");
        t.adopt(ids[2], pid);
        assert_eq!(t.processes(ids[2]), Ok(vec![pid]));
        assert_eq!(t.processes(ids[0]), Ok(vec![]));
        assert_eq!(t.member_reads, before + 2);
        t.end_batch();

        // Outside a batch each instance is read, as before.
        assert_eq!(t.processes(ids[1]), Ok(vec![]));
        assert_eq!(t.member_reads, before + 3);
    }

    /// Issue 11 item 4: while the root is populated in a batch, it is read again after every
    /// `ROOT_RECHECK` instance cgroups, and once it is empty no further instance is read (the
    /// last processes of a mass stop end while its first exits are handled).
    #[test]
    fn issue11_item4_a_populated_root_is_read_again_within_a_batch() {
        let Some(mount) = root_cgroup2() else {
            return;
        };
        const N: u64 = 20;
        /// Kills the sleeper and removes the cgroups, even when an assertion fails.
        struct Cleanup(PathBuf, Option<std::process::Child>);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                if let Some(c) = &mut self.1 {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                for i in 0..N {
                    let _ = std::fs::remove_dir(self.0.join(cgroup_dir_name(&format!("j{i}"), "")));
                }
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let root = mount.join(format!("outset-tracker-recheck-{}", std::process::id()));
        std::fs::create_dir(&root).unwrap();
        let mut guard = Cleanup(root.clone(), None);
        let mut t = Tracker::new(Some(root.clone()));
        for i in 0..N {
            t.create(InstanceId(i), &format!("j{i}"), "").unwrap();
        }
        let c = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = c.id();
        guard.1 = Some(c);
        std::fs::write(
            root.join(cgroup_dir_name("j0", "")).join("cgroup.procs"),
            pid.to_string(),
        )
        .unwrap();

        t.begin_batch();
        for i in 1..=u64::from(ROOT_RECHECK) {
            assert_eq!(t.processes(InstanceId(i)), Ok(vec![]));
        }
        assert_eq!(t.member_reads, usize::from(ROOT_RECHECK));
        // The last process ends: the next question reads the root again, and no instance.
        if let Some(mut c) = guard.1.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        t.reaped(pid);
        for i in u64::from(ROOT_RECHECK) + 1..N {
            assert_eq!(t.processes(InstanceId(i)), Ok(vec![]));
        }
        assert_eq!(t.processes(InstanceId(0)), Ok(vec![]));
        assert_eq!(t.member_reads, usize::from(ROOT_RECHECK));
        t.end_batch();
    }

    /// Issue 11 item 4: the engine's signals are queued and sent in order: a full batch at
    /// once, the rest when flushed or taken with the signalled PIDs, and before a signal
    /// the daemon sends directly.
    #[test]
    fn issue11_item4_signals_are_queued_and_sent_in_batches() {
        const SIGSTOP: i32 = 19;
        const SIGCONT: i32 = 18;
        /// Kills and waits for the child, even when an assertion fails.
        struct Kid(std::process::Child);
        impl Drop for Kid {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let kid = Kid(std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap());
        let pid = kid.0.id();
        let state = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| s.rsplit(") ").next().and_then(|r| r.chars().next()))
        };
        let wait_state = |want: char| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while state() != Some(want) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "never {want}: {:?}",
                    state()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let mut t = Tracker::new(None);
        let inst = InstanceId(1);
        t.create(inst, "j", "").unwrap();
        t.adopt(inst, pid);

        // Queued: not sent until flushed.
        t.queue_signal(pid, SIGSTOP, false).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(state(), Some('S'));
        t.flush_signals();
        wait_state('T');

        // A full batch goes at once.
        for _ in 0..SIGNAL_BATCH - 1 {
            t.queue_signal(pid, SIGCONT, false).unwrap();
        }
        assert_eq!(t.queued.len(), SIGNAL_BATCH - 1);
        assert_eq!(state(), Some('T'));
        t.queue_signal(pid, SIGCONT, false).unwrap();
        assert!(t.queued.is_empty());
        wait_state('S');

        // A direct signal goes after the queued ones: stopped, then continued.
        t.queue_signal(pid, SIGSTOP, false).unwrap();
        t.signal(pid, SIGCONT, false).unwrap();
        assert!(t.queued.is_empty());
        wait_state('S');

        // Unknown PIDs are refused; taking the signalled PIDs sends what is queued.
        assert!(t.queue_signal(1, SIGCONT, false).is_err());
        t.queue_signal(pid, SIGSTOP, false).unwrap();
        let signalled = t.take_signalled();
        assert!(t.queued.is_empty());
        assert_eq!(signalled.len(), SIGNAL_BATCH + 4);
        assert!(signalled.iter().all(|p| *p == pid));
        wait_state('T');
    }
}
