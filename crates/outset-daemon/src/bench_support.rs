//! The daemon's own data per job, built alone for the `memory` benchmark (issue 11 item 3):
//! not an API, hidden from the docs.

use std::any::Any;
use std::path::Path;

use outset_engine::InstanceId;

use crate::confdirs::ConfDirs;
use crate::tracker::Tracker;

/// `n` instances in a tracker rooted at `root` (a plain directory serves: each instance's
/// cgroup is made as a subdirectory), each with one PID, as a running job's instance has.
/// Dropping the value frees them; the directories are the caller's to remove.
pub fn tracker_with_instances(root: &Path, n: usize) -> Result<Box<dyn Any>, String> {
    let mut t = Tracker::new(Some(root.to_path_buf()));
    for i in 0..n {
        let id = InstanceId(i as u64 + 1);
        t.create(id, &format!("j{i:04}"), "")?;
        // PIDs of no process: only recorded, never signalled.
        t.adopt(id, 4_000_000 + i as u32);
    }
    Ok(Box::new(t))
}

/// The daemon's record of the jobs loaded from `dir` (their files, for read-permission
/// checks), without the parsed jobs.
pub fn conf_dirs_loaded(dir: &Path) -> Box<dyn Any> {
    let mut dirs = ConfDirs::new(vec![dir.to_path_buf()]);
    drop(dirs.load());
    Box::new(dirs)
}
