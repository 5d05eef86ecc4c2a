//! The tracker on a fake cgroupfs (issue 12 item 8): its root is a temp dir whose
//! `cgroup.procs`, `cgroup.events` and `cgroup.kill` files the test writes and reads, so
//! these run without root, beside the real-cgroup tests in `tracker.rs`. A plain directory
//! differs from cgroupfs in one way that matters here: it cannot be removed while it holds
//! the interface files, which is how a cgroup still holding processes behaves.

use std::path::{Path, PathBuf};

use super::*;

/// A tracker rooted at a fresh temp dir.
struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
    tracker: Tracker,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("outset");
        std::fs::create_dir(&root).unwrap();
        let tracker = Tracker::new(Some(root.clone()));
        Fake {
            _dir: dir,
            root,
            tracker,
        }
    }

    /// Creates the instance's cgroup through the tracker and returns its directory.
    fn create(&mut self, inst: InstanceId, job: &str) -> PathBuf {
        self.tracker.create(inst, job, "").unwrap();
        let dir = self.tracker.cgroup_path(inst).unwrap();
        assert_eq!(dir, self.root.join(cgroup_dir_name(job, "")));
        assert!(dir.is_dir());
        dir
    }
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

fn pids_text(pids: &[u32]) -> String {
    pids.iter().map(|p| format!("{p}\n")).collect()
}

/// A live process older than the test: PID 1 is only read (`/proc/1/stat`), never signalled.
const OLDEST: u32 = 1;

#[test]
fn issue12_item8_members_are_read_oldest_first_and_adopted() {
    let mut f = Fake::new();
    let inst = InstanceId(1);
    let dir = f.create(inst, "web");
    let me = std::process::id();
    // Listed newest first, as a cgroup may list them.
    write(&dir, "cgroup.procs", &pids_text(&[me, OLDEST]));
    assert_eq!(f.tracker.processes(inst).unwrap(), vec![OLDEST, me]);
    // Adopted: a signal to it is allowed (signal 0 to the test process itself: a no-op)
    // and remembered for the next reaping.
    f.tracker.signal(me, 0, false).unwrap();
    assert_eq!(f.tracker.take_signalled(), vec![me]);
    // Reaped: forgotten before its PID can be reused.
    f.tracker.reaped(me);
    let err = f.tracker.signal(me, 0, false).unwrap_err();
    assert!(err.contains("not a tracked job process"), "{err}");
    assert!(f.tracker.take_signalled().is_empty());
}

#[test]
fn issue12_item8_an_unknown_pid_is_never_signalled() {
    let mut f = Fake::new();
    let inst = InstanceId(1);
    let dir = f.create(inst, "web");
    write(&dir, "cgroup.procs", "");
    assert_eq!(f.tracker.processes(inst).unwrap(), Vec::<u32>::new());
    let me = std::process::id();
    assert!(f.tracker.signal(me, 0, false).is_err());
    assert!(f.tracker.take_signalled().is_empty());
    // An instance the tracker does not know has no processes.
    assert_eq!(
        f.tracker.processes(InstanceId(9)).unwrap(),
        Vec::<u32>::new()
    );
}

#[test]
fn issue12_item8_unreadable_members_are_an_error_unless_events_say_empty() {
    let mut f = Fake::new();
    let inst = InstanceId(1);
    let dir = f.create(inst, "web");
    // No cgroup.procs and no cgroup.events: an error, never "none left".
    let err = f.tracker.processes(inst).unwrap_err();
    assert!(err.contains("cgroup.procs"), "{err}");
    // cgroup.events says a process is there: still an error.
    write(&dir, "cgroup.events", "populated 1\nfrozen 0\n");
    assert!(f.tracker.processes(inst).is_err());
    // cgroup.events says it is empty: no process.
    write(&dir, "cgroup.events", "populated 0\nfrozen 0\n");
    assert_eq!(f.tracker.processes(inst).unwrap(), Vec::<u32>::new());
    // The cgroup is gone: no process.
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(f.tracker.processes(inst).unwrap(), Vec::<u32>::new());
}

#[test]
fn issue12_item8_batch_reads_the_root_once_while_it_is_empty() {
    let mut f = Fake::new();
    let ids = [InstanceId(1), InstanceId(2)];
    for (i, id) in ids.iter().enumerate() {
        let dir = f.create(*id, &format!("j{i}"));
        // Stale members: a batch that finds the root empty must not read them.
        write(&dir, "cgroup.procs", &pids_text(&[OLDEST]));
    }
    write(&f.root, "cgroup.events", "populated 0\n");
    f.tracker.begin_batch();
    for id in ids {
        assert_eq!(f.tracker.processes(id).unwrap(), Vec::<u32>::new());
    }
    assert_eq!(f.tracker.member_reads, 0);
    // A process the daemon adds ends the shortcut for the rest of the batch.
    f.tracker.adopt(ids[0], std::process::id());
    assert_eq!(f.tracker.processes(ids[1]).unwrap(), vec![OLDEST]);
    assert_eq!(f.tracker.member_reads, 1);
    f.tracker.end_batch();

    // A populated root: every instance is read.
    write(&f.root, "cgroup.events", "populated 1\n");
    f.tracker.begin_batch();
    for id in ids {
        assert!(f.tracker.processes(id).unwrap().contains(&OLDEST));
    }
    assert_eq!(f.tracker.member_reads, 3);
    f.tracker.end_batch();

    // Outside a batch the root is not consulted.
    write(&f.root, "cgroup.events", "populated 0\n");
    assert!(f.tracker.processes(ids[1]).unwrap().contains(&OLDEST));
    assert_eq!(f.tracker.member_reads, 4);
}

#[test]
fn issue12_item8_kill_all_writes_cgroup_kill() {
    let mut f = Fake::new();
    let inst = InstanceId(1);
    let dir = f.create(inst, "web");
    f.tracker.kill_all(inst);
    assert_eq!(
        std::fs::read_to_string(dir.join("cgroup.kill")).unwrap(),
        "1"
    );
}

#[test]
fn issue12_item8_a_retired_cgroup_is_killed_and_swept_once_empty() {
    let mut f = Fake::new();
    let inst = InstanceId(1);
    let dir = f.create(inst, "web");
    write(&dir, "cgroup.procs", &pids_text(&[OLDEST]));
    write(&dir, "cgroup.events", "populated 1\n");
    f.tracker.remove(inst);
    assert_eq!(f.tracker.cgroup_path(inst), None);
    assert!(f.tracker.any_retired() && f.tracker.has_retired());
    // Not removable and populated: killed, kept, and sweeping pauses.
    f.tracker.sweep(10);
    assert_eq!(
        std::fs::read_to_string(dir.join("cgroup.kill")).unwrap(),
        "1"
    );
    assert!(dir.is_dir());
    assert!(f.tracker.any_retired());
    assert!(!f.tracker.has_retired());
    // Emptied (the interface files gone, as on cgroupfs once the processes are): removed.
    for file in ["cgroup.procs", "cgroup.events", "cgroup.kill"] {
        std::fs::remove_file(dir.join(file)).unwrap();
    }
    f.tracker.sweep(10);
    assert!(!dir.exists());
    assert!(!f.tracker.any_retired());
}

#[test]
fn issue12_item8_a_restarted_instance_keeps_its_predecessors_cgroup() {
    let mut f = Fake::new();
    let dir = f.create(InstanceId(1), "web");
    f.tracker.remove(InstanceId(1));
    assert!(f.tracker.any_retired());
    // Same job, same directory: no longer retired, so never swept under the new instance.
    assert_eq!(f.create(InstanceId(2), "web"), dir);
    assert!(!f.tracker.any_retired());
    f.tracker.sweep(10);
    assert!(dir.is_dir());
}

#[test]
fn issue12_item8_escaped_names_stay_below_the_root() {
    let mut f = Fake::new();
    let inst = InstanceId(1);
    f.tracker.create(inst, "../evil", "a/b").unwrap();
    let dir = f.tracker.cgroup_path(inst).unwrap();
    assert_eq!(dir.parent(), Some(f.root.as_path()));
    assert!(dir.is_dir());
    let entries: Vec<_> = std::fs::read_dir(&f.root).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn issue12_item8_without_a_cgroup_the_spawned_pids_are_tracked() {
    let dir = tempfile::tempdir().unwrap();
    // A root that cannot be created under: the instance falls back to its spawned PIDs.
    let mut t = Tracker::new(Some(dir.path().join("missing")));
    let inst = InstanceId(1);
    let err = t.create(inst, "web", "").unwrap_err();
    assert!(err.contains("cgroup"), "{err}");
    assert_eq!(t.cgroup_path(inst), None);
    let me = std::process::id();
    t.adopt(inst, me);
    assert_eq!(t.processes(inst).unwrap(), vec![me]);
    assert!(t.sent_by_member(inst, me, None));
    assert!(!t.sent_by_member(inst, OLDEST, None));
    // Fallback mode proper: no root at all.
    let mut t = Tracker::new(None);
    t.create(inst, "web", "").unwrap();
    assert_eq!(t.cgroup_path(inst), None);
    assert!(t.mode().starts_with("process groups"));
}

#[test]
fn issue12_item8_notify_sender_is_checked_against_the_members() {
    let mut f = Fake::new();
    let inst = InstanceId(1);
    let dir = f.create(inst, "web");
    write(&dir, "cgroup.procs", &pids_text(&[OLDEST]));
    // Without a pidfd: a member now, or not one.
    assert!(f.tracker.sent_by_member(inst, OLDEST, None));
    assert!(!f.tracker.sent_by_member(inst, std::process::id(), None));
    assert!(!f.tracker.sent_by_member(InstanceId(2), OLDEST, None));
}

/// Issue 15 items 2 and 4: a tracker taken over from its export knows the same instances,
/// cgroups and PIDs; job cgroups no instance has are found with their processes, and empty
/// ones are retired.
#[test]
fn issue15_tracker_export_import_and_untracked_cgroups() {
    let mut f = Fake::new();
    let me = std::process::id();
    let web = f.create(InstanceId(1), "web");
    f.tracker.adopt(InstanceId(1), me);
    let state = f.tracker.export();
    let mut t = Tracker::new(Some(f.root.clone()));
    t.import(state);
    assert_eq!(t.cgroup_path(InstanceId(1)), Some(web.clone()));
    assert_eq!(t.known_pids(InstanceId(1)), [me]);
    assert!(
        t.signal(me, 0, false).is_ok(),
        "a known PID may be signalled"
    );
    assert!(
        t.untracked_cgroups().is_empty(),
        "every cgroup has its instance"
    );

    // Left by a daemon that died: one with a process, one empty.
    let left = f.root.join(cgroup_dir_name("db", "a/1"));
    std::fs::create_dir(&left).unwrap();
    write(&left, "cgroup.procs", &pids_text(&[me, OLDEST]));
    let empty = f.root.join(cgroup_dir_name("gone", ""));
    std::fs::create_dir(&empty).unwrap();
    write(&empty, "cgroup.procs", "");
    let found = t.untracked_cgroups();
    assert_eq!(
        found,
        [
            (cgroup_dir_name("db", "a/1"), vec![OLDEST, me]),
            (cgroup_dir_name("gone", ""), vec![]),
        ]
    );
    assert_eq!(
        decode_dir_name(&found[0].0),
        Some(("db".to_string(), "a/1".to_string()))
    );
    t.retire_untracked(&found[1].0);
    assert!(t.any_retired());
}

/// Issue 11 item 3: the instance of a cgroup path is found without a map by name: each
/// tracked instance by its directory, the newest of two that share one (a restart before
/// the old directory went), none once removed or outside the root.
#[test]
fn issue11_item3_instance_of_cgroup_walks_the_instances() {
    let mut f = Fake::new();
    // The fake root stands for `/outset` on a cgroup2 mount at the temp dir.
    f.tracker.mount = f.root.parent().map(Path::to_path_buf);
    f.tracker.root_rel = Some("/outset".to_string());
    let (a, b, c) = (InstanceId(1), InstanceId(2), InstanceId(3));
    f.create(a, "web");
    f.tracker.create(b, "web", "x").unwrap();
    assert_eq!(f.tracker.instance_of_cgroup("/outset/web.job"), Some(a));
    assert_eq!(f.tracker.instance_of_cgroup("/outset/web@x.job"), Some(b));
    assert_eq!(f.tracker.instance_of_cgroup("/outset/db.job"), None);
    assert_eq!(f.tracker.instance_of_cgroup("/other/web.job"), None);
    assert_eq!(f.tracker.instance_of_cgroup("/outset"), None);
    // A second instance in the same directory: the newer one answers, and the older one's
    // removal does not hide it.
    f.tracker.create(c, "web", "").unwrap();
    assert_eq!(f.tracker.instance_of_cgroup("/outset/web.job"), Some(c));
    f.tracker.remove(a);
    assert_eq!(f.tracker.instance_of_cgroup("/outset/web.job"), Some(c));
    f.tracker.remove(c);
    assert_eq!(f.tracker.instance_of_cgroup("/outset/web.job"), None);
    assert_eq!(f.tracker.instance_of_cgroup("/outset/web@x.job"), Some(b));
}
