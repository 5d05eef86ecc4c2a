//! Resource control on an instance's cgroup (issue 17 item 5, docs/resource-control.md): the
//! controllers a job's plan needs are enabled in outset's cgroup root, then the plan's files
//! are written on the instance's fresh cgroup, before its first process is cloned into it.
//! What cannot be applied is reported (the log, `status --json`'s `resource_problems`) and the
//! job runs anyway, unless a `resource … required` stanza says it must not.

use std::path::Path;

use outset_job::resources::ResourcePlan;
use outset_sys::cgroup::Cgroup;

/// What applying a plan came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Each thing not applied, with why.
    pub problems: Vec<String>,
    /// A `required` setting could not be applied: the job must not start, for this reason.
    pub refused: Option<String>,
}

/// Plain data kept per instance with a plan (a re-exec carries it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceResources {
    pub job: String,
    pub problems: Vec<String>,
    /// Whether the memory controller is enabled for it (`memory.events` exists).
    pub memory: bool,
    /// `oom_kill` of `memory.events` last read.
    pub oom_kills: u64,
}

/// Enables the plan's controllers for the children of `root` (and, when `own_parent`, for
/// `root` itself in its parent: outset as PID 1 owns the whole hierarchy, and the root cgroup
/// of the mount, where the daemon sits, is exempt from the no-internal-processes rule), then
/// writes the settings on `cgroup`.
pub fn apply(root: &Path, own_parent: bool, cgroup: &Path, plan: &ResourcePlan) -> Applied {
    let mut out = Applied::default();
    out.problems.extend(plan.notes.iter().cloned());
    let root_cg = Cgroup::at(root.to_path_buf());
    let mut unavailable: Vec<(String, String)> = Vec::new();
    for c in &plan.controllers {
        if let Err(why) = enable(&root_cg, own_parent, c) {
            out.problems
                .push(format!("the {c} controller is unavailable: {why}"));
            unavailable.push((c.clone(), why));
        }
    }
    let inst = Cgroup::at(cgroup.to_path_buf());
    for s in &plan.settings {
        let failed = match unavailable.iter().find(|(c, _)| *c == s.controller) {
            Some((c, _)) => Some(format!(
                "`{}` not applied: the {c} controller is unavailable",
                s.stanza
            )),
            None => inst.write_setting(&s.file, &s.value).err().map(|e| {
                format!(
                    "`{}` not applied: cannot write {} to {}: {e}",
                    s.stanza,
                    s.value,
                    cgroup.join(&s.file).display()
                )
            }),
        };
        if let Some(why) = failed {
            if s.required && out.refused.is_none() {
                out.refused = Some(why.clone());
            }
            out.problems.push(why);
        }
    }
    out
}

/// Makes `controller` enabled in `root`'s `cgroup.subtree_control`.
fn enable(root: &Cgroup, own_parent: bool, controller: &str) -> Result<(), String> {
    if root
        .subtree_control()
        .is_ok_and(|on| on.iter().any(|c| c == controller))
    {
        return Ok(());
    }
    let offered = |root: &Cgroup| {
        root.controllers()
            .is_ok_and(|c| c.iter().any(|c| c == controller))
    };
    let parent = root.path().parent().map(|p| Cgroup::at(p.to_path_buf()));
    if !offered(root)
        && own_parent
        && let Some(parent) = &parent
        && let Err(e) = parent.enable_controller(controller)
    {
        return Err(format!(
            "cannot enable it in {}: {e}",
            parent.path().join("cgroup.subtree_control").display()
        ));
    }
    if !offered(root) {
        let given = root.controllers().map(|c| c.join(" ")).unwrap_or_default();
        let parent = parent
            .map(|p| {
                p.path()
                    .join("cgroup.subtree_control")
                    .display()
                    .to_string()
            })
            .unwrap_or_default();
        return Err(format!(
            "{} is not given it (its cgroup.controllers: `{given}`); enable it in {parent}",
            root.path().display()
        ));
    }
    root.enable_controller(controller).map_err(|e| {
        format!(
            "cannot enable it in {}: {e}",
            root.path().join("cgroup.subtree_control").display()
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(text: &str) -> ResourcePlan {
        outset_job::resources::plan(&outset_job::parse_job("j", text).unwrap())
    }

    /// A fake cgroupfs: the root offers `offered`; writes land in plain files.
    fn fake(offered: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("outset");
        let inst = root.join("j.job");
        std::fs::create_dir_all(&inst).unwrap();
        std::fs::write(root.join("cgroup.controllers"), offered).unwrap();
        std::fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        (dir, root, inst)
    }

    #[test]
    fn issue17_item5_settings_are_written_once_controllers_are_enabled() {
        let (_d, root, inst) = fake("cpu memory pids");
        let p = plan("cgroup cpu cpu.shares 2048\nresource memory max 64M\nexec true\n");
        let a = apply(&root, false, &inst, &p);
        assert_eq!(a, Applied::default());
        assert_eq!(
            std::fs::read_to_string(inst.join("cpu.weight")).unwrap(),
            "79"
        );
        assert_eq!(
            std::fs::read_to_string(inst.join("memory.max")).unwrap(),
            "67108864"
        );
        // A plain file keeps the last write: the memory controller came last.
        assert_eq!(
            std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+memory"
        );
    }

    #[test]
    fn issue17_item5_unavailable_controller_is_reported_not_fatal() {
        let (_d, root, inst) = fake("hugetlb");
        let p = plan("resource memory max 64M\nresource cpu weight 50\nexec true\n");
        let a = apply(&root, false, &inst, &p);
        assert!(a.refused.is_none());
        assert_eq!(a.problems.len(), 4, "{:?}", a.problems);
        assert!(
            a.problems[0].starts_with("the memory controller is unavailable")
                && a.problems[0].contains("hugetlb"),
            "{:?}",
            a.problems
        );
        assert!(a.problems[2].contains("`resource memory max 64M` not applied"));
        assert!(!inst.join("memory.max").exists());
    }

    #[test]
    fn issue17_item5_required_setting_refuses_the_start() {
        let (_d, root, inst) = fake("cpu");
        let p = plan("resource cpu weight 50\nresource memory max 64M required\nexec true\n");
        let a = apply(&root, false, &inst, &p);
        let why = a.refused.unwrap();
        assert!(why.contains("memory"), "{why}");
        // What could be applied was.
        assert_eq!(
            std::fs::read_to_string(inst.join("cpu.weight")).unwrap(),
            "50"
        );
    }
}
