//! Which processes belong to which job instance.
//!
//! Every instance gets its own cgroup under the daemon's cgroup root; every process of every
//! process type is spawned into it. The cgroup is the truth: a pid read from an instance's
//! `cgroup.procs` belongs to it, and the instance is gone when the cgroup is empty. Without a
//! writable cgroup2 the tracker falls back to the pids it spawned or observed (each job process
//! leads its own session, so its process group is signalled).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

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

/// Per-instance tracking state.
pub struct Tracked {
    pub job: String,
    pub cgroup: Option<Cgroup>,
    /// Live pids known to belong to the instance (spawned or seen in its cgroup).
    pub pids: HashSet<u32>,
}

#[derive(Default)]
pub struct Tracker {
    /// Where instance cgroups are created; `None` in fallback mode.
    pub root: Option<PathBuf>,
    pub instances: HashMap<InstanceId, Tracked>,
    owner: HashMap<u32, InstanceId>,
    pidfds: HashMap<u32, PidFd>,
    /// cgroups of removed instances still waiting for their processes to be reaped.
    leftover: Vec<Cgroup>,
}

impl Tracker {
    pub fn new(root: Option<PathBuf>) -> Tracker {
        Tracker {
            root,
            ..Tracker::default()
        }
    }

    /// A description of the tracking mode for `version`/`status`.
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
        let cgroup = match &self.root {
            Some(root) => {
                let dir = root.join(cgroup_dir_name(job, instance));
                Some(Cgroup::create(&dir).map_err(|e| format!("cgroup {}: {e}", dir.display()))?)
            }
            None => None,
        };
        self.instances.insert(
            inst,
            Tracked {
                job: job.to_string(),
                cgroup,
                pids: HashSet::new(),
            },
        );
        Ok(())
    }

    /// Forgets the instance and removes its cgroup. Processes still in it are killed first;
    /// a cgroup that cannot go yet is retried by [`Tracker::retry_removals`].
    pub fn remove(&mut self, inst: InstanceId) {
        if let Some(t) = self.instances.remove(&inst) {
            for pid in t.pids {
                self.owner.remove(&pid);
                self.pidfds.remove(&pid);
            }
            if let Some(cg) = t.cgroup {
                if cg.populated().unwrap_or(false) {
                    log::warn!(
                        "{}: processes left after the job stopped; killing them",
                        t.job
                    );
                    if let Err(e) = cg.kill() {
                        log::warn!("cgroup.kill on {}: {e}", cg.path().display());
                    }
                }
                if cg.remove().is_err() {
                    self.leftover.push(cg);
                }
            }
        }
    }

    /// Removes cgroups whose last processes have since been reaped.
    pub fn retry_removals(&mut self) {
        self.leftover
            .retain(|cg| cg.remove().is_err() && cg.path().exists());
    }

    pub fn cgroup_path(&self, inst: InstanceId) -> Option<&Path> {
        self.instances
            .get(&inst)
            .and_then(|t| t.cgroup.as_ref())
            .map(|c| c.path())
    }

    /// Records a process of the instance; keeps a pidfd so it can be signalled safely.
    pub fn adopt(&mut self, inst: InstanceId, pid: u32, pidfd: Option<PidFd>) {
        if let Some(t) = self.instances.get_mut(&inst) {
            t.pids.insert(pid);
            self.owner.insert(pid, inst);
            let fd = match pidfd {
                Some(fd) => Some(fd),
                None => PidFd::open(pid).ok(),
            };
            if let Some(fd) = fd {
                self.pidfds.insert(pid, fd);
            }
        }
    }

    /// A reaped process: forget it.
    pub fn reaped(&mut self, pid: u32) -> Option<InstanceId> {
        self.pidfds.remove(&pid);
        let inst = self.owner.remove(&pid)?;
        if let Some(t) = self.instances.get_mut(&inst) {
            t.pids.remove(&pid);
        }
        Some(inst)
    }

    /// The processes left in the instance, oldest first, adopting any not yet known.
    pub fn survivors(&mut self, inst: InstanceId) -> Vec<u32> {
        let pids: Vec<u32> = match self.instances.get(&inst) {
            Some(Tracked {
                cgroup: Some(cg), ..
            }) => cg.procs().unwrap_or_default(),
            Some(t) => t.pids.iter().copied().collect(),
            None => return Vec::new(),
        };
        let ordered = outset_sys::procfs::order_oldest_first(&pids);
        for &pid in &ordered {
            if !self.owner.contains_key(&pid) {
                self.adopt(inst, pid, None);
            }
        }
        ordered
    }

    /// Signals one process through its pidfd (never a recycled pid).
    pub fn signal(&mut self, pid: u32, signal: i32) -> Result<(), String> {
        match self.pidfds.get(&pid) {
            Some(fd) => fd.signal(signal).map_err(|e| e.to_string()),
            None => Err(format!("process {pid} is not tracked")),
        }
    }

    /// Signals every process of the instance.
    pub fn signal_all(&mut self, inst: InstanceId, signal: i32) {
        let pids = self.survivors(inst);
        for pid in pids {
            if let Err(e) = self.signal(pid, signal) {
                log::debug!("signal {signal} to {pid}: {e}");
            }
        }
    }

    /// Kills every process of the instance at once.
    pub fn kill_all(&mut self, inst: InstanceId) {
        let via_cgroup = match self.instances.get(&inst).and_then(|t| t.cgroup.as_ref()) {
            Some(cg) => match cg.kill() {
                Ok(()) => true,
                Err(e) => {
                    log::warn!("cgroup.kill on {}: {e}", cg.path().display());
                    false
                }
            },
            None => false,
        };
        if !via_cgroup {
            self.signal_all(inst, 9);
        }
    }
}
