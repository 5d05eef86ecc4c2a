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

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use outset_engine::InstanceId;
use outset_sys::cgroup::Cgroup;
use outset_sys::pidfd::PidFd;

/// The cgroup directory of an instance: escaped names (never `/`, `.` or `..`), `@` between
/// job and instance (escaping never produces one), and a `.job` suffix so no name can be
/// taken for a cgroup interface file.
pub fn cgroup_dir_name(job: &str, instance: &str) -> String {
    let job = outset_sys::cgroup::escape_name(job);
    if instance.is_empty() {
        format!("{job}.job")
    } else {
        format!("{job}@{}.job", outset_sys::cgroup::escape_name(instance))
    }
}

/// Per-instance tracking state, kept small (memory per running job): the cgroup's path is
/// the root joined with `dir_name`, made when needed.
struct Tracked {
    /// The instance has its cgroup (`root/dir_name`).
    in_cgroup: bool,
    /// Live PIDs known to belong to the instance (spawned or adopted); a few at most.
    pids: Vec<u32>,
    /// The cgroup's directory name below the root, for reads relative to `root_fd`; shared
    /// with `by_cgroup`.
    dir_name: Rc<str>,
}

#[derive(Default)]
pub struct Tracker {
    /// Where instance cgroups are created; `None` in fallback mode.
    root: Option<PathBuf>,
    instances: HashMap<InstanceId, Tracked>,
    owner: HashMap<u32, InstanceId>,
    /// cgroups of removed instances, removed when the loop has nothing else to do.
    retired: VecDeque<(String, Cgroup)>,
    /// After a cgroup could not be removed, sweeping pauses until then.
    pause_until: Option<Instant>,
    /// The cgroup2 mount, to turn `/proc/PID/cgroup` paths into instances.
    mount: Option<PathBuf>,
    /// Instance by cgroup directory name (`job.job`).
    by_cgroup: HashMap<Rc<str>, InstanceId>,
    /// The root's path relative to the mount (`/root`), as `/proc/PID/cgroup` shows it.
    root_rel: Option<String>,
    /// Processes signalled since the last reaping, in order: the next reaping waits for
    /// each by PID first (`reap::reap_these`).
    signalled: Vec<u32>,
    /// The root directory, opened once: member lists are read relative to it.
    root_fd: Option<std::os::fd::OwnedFd>,
}

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

    /// The instance whose cgroup is `rel` (as `/proc/PID/cgroup` names it).
    pub fn instance_of_cgroup(&self, rel: &str) -> Option<InstanceId> {
        let root = self.root_rel.as_deref()?;
        let root = root.strip_suffix('/').unwrap_or(root);
        let dir = rel.strip_prefix(root)?.strip_prefix('/')?;
        self.by_cgroup.get(dir).copied()
    }

    /// The instance's cgroup, if it has one.
    fn cgroup(&self, t: &Tracked) -> Option<Cgroup> {
        let root = self.root.as_ref().filter(|_| t.in_cgroup)?;
        Some(Cgroup::at(root.join(&*t.dir_name)))
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

    /// Creates the instance's cgroup (or the bookkeeping alone in fallback mode).
    pub fn create(&mut self, inst: InstanceId, job: &str, instance: &str) -> Result<(), String> {
        if self.instances.contains_key(&inst) {
            return Ok(());
        }
        let mut tracked = Tracked {
            in_cgroup: false,
            pids: Vec::new(),
            dir_name: cgroup_dir_name(job, instance).into(),
        };
        let result = match &self.root {
            Some(root) => {
                let dir = root.join(&*tracked.dir_name);
                // A restarted instance takes over its predecessor's directory if that has not
                // been removed yet: it must never be swept (and killed) under the new one.
                self.retired.retain(|(_, cg)| cg.path() != dir);
                match Cgroup::create(&dir) {
                    Ok(_) => {
                        self.by_cgroup.insert(Rc::clone(&tracked.dir_name), inst);
                        tracked.in_cgroup = true;
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
        if let Some(t) = self.instances.remove(&inst) {
            for pid in &t.pids {
                self.owner.remove(pid);
            }
            if let Some(cg) = self.cgroup(&t) {
                self.by_cgroup.remove(&t.dir_name);
                self.retired.push_back((t.dir_name.to_string(), cg));
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
        for _ in 0..max.min(self.retired.len()) {
            let Some((job, cg)) = self.retired.pop_front() else {
                return;
            };
            if cg.remove().is_ok() || !cg.path().exists() {
                continue;
            }
            if cg.populated().unwrap_or(false) {
                log::warn!("{job}: processes left after the job stopped; killing them");
                if let Err(e) = cg.kill() {
                    log::warn!("cgroup.kill on {}: {e}", cg.path().display());
                }
            }
            // Tried again once the killed processes have been reaped.
            self.retired.push_back((job, cg));
            self.pause_until = Some(Instant::now() + Duration::from_millis(50));
            return;
        }
    }

    pub fn cgroup_path(&self, inst: InstanceId) -> Option<PathBuf> {
        let t = self.instances.get(&inst).filter(|t| t.in_cgroup)?;
        Some(self.root.as_ref()?.join(&*t.dir_name))
    }

    /// The instance's live processes, oldest first, each adopted so it may be signalled.
    pub fn processes(&mut self, inst: InstanceId) -> Vec<u32> {
        let Some(t) = self.instances.get(&inst) else {
            return Vec::new();
        };
        let pids: Vec<u32> = match self.cgroup(t) {
            Some(cg) => match &self.root_fd {
                Some(fd) => {
                    use std::os::fd::AsFd;
                    Cgroup::procs_at(fd.as_fd(), Path::new(&*t.dir_name))
                        .or_else(|_| cg.procs())
                        .unwrap_or_default()
                }
                None => cg.procs().unwrap_or_default(),
            },
            // Without a cgroup only the spawned processes are known.
            None => t
                .pids
                .iter()
                .copied()
                .filter(|p| outset_sys::procfs::start_time(*p).is_some())
                .collect(),
        };
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

    /// Records a process of the instance.
    pub fn adopt(&mut self, inst: InstanceId, pid: u32) {
        if let Some(t) = self.instances.get_mut(&inst) {
            if !t.pids.contains(&pid) {
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
            t.pids.retain(|p| *p != pid);
        }
    }

    /// Takes the processes signalled since the last call.
    pub fn take_signalled(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.signalled)
    }

    /// Signals one of the instances' processes, and with `group` the process group it leads.
    pub fn signal(&mut self, pid: u32, signal: i32, group: bool) -> Result<(), String> {
        if !self.owner.contains_key(&pid) {
            return Err(format!("process {pid} is not a tracked job process"));
        }
        // Bounded: a loop that signals without reaping (reload signals) keeps the newest.
        if self.signalled.len() >= 65_536 {
            self.signalled.clear();
        }
        self.signalled.push(pid);
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
        let Some(t) = self.instances.get(&inst) else {
            return;
        };
        if let Some(cg) = self.cgroup(t) {
            match cg.kill() {
                Ok(()) => return,
                Err(e) => log::warn!("cgroup.kill on {}: {e}", cg.path().display()),
            }
        }
        let pids: Vec<u32> = t.pids.to_vec();
        for pid in pids {
            if let Err(e) = self.signal(pid, 9, true) {
                log::debug!("SIGKILL to {pid}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_names_are_distinct_and_safe() {
        assert_eq!(cgroup_dir_name("web", ""), "web.job");
        assert_ne!(cgroup_dir_name("a", "b"), cgroup_dir_name("a@b", ""));
        assert!(!cgroup_dir_name("../x", "").contains('/'));
        assert_ne!(cgroup_dir_name("cgroup.procs", ""), "cgroup.procs");
        assert_ne!(cgroup_dir_name("a", "b/c"), cgroup_dir_name("a", "b_c"));
    }
}
