//! reap_all_raw waits for any child, so it runs in its own test binary where no
//! other test's children can be stolen.
#![allow(clippy::unwrap_used)]

use outset_sys::reap::{ExitStatus, cgroup_of, exit_status, reap_all_raw, set_child_subreaper};
use outset_sys::spawn::{ProgramSpec, SpawnPlan, SpawnRequest, spawn};
use std::time::{Duration, Instant};

fn sh(script: &str) -> u32 {
    let req = SpawnRequest::new(ProgramSpec::Shell {
        script: script.to_string(),
    });
    spawn(&SpawnPlan::new(&req).unwrap()).unwrap().pid
}

/// The reaped children, their exits decoded, and the cgroup read for each.
fn reap(with_cgroup: bool) -> Vec<(u32, ExitStatus, Option<String>)> {
    reap_all_raw(with_cgroup)
        .into_iter()
        .map(|(pid, raw, cg)| (pid, exit_status(raw).unwrap(), cg))
        .collect()
}

/// Issue 12 item 5: one reap loop (`reap_all_raw`), tested with and without reading the
/// cgroup first, as the daemon calls it.
#[test]
fn reaps_children_and_orphans() {
    set_child_subreaper().unwrap();
    let a = sh("exit 5");
    let b = sh("kill -TERM $$");
    // A daemonising job: the grandchild is orphaned and re-parented to us.
    let c = sh("sleep 0.2 & exit 0");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 4 && Instant::now() < deadline {
        seen.extend(reap(false));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen.contains(&(a, ExitStatus::Exited(5), None)), "{seen:?}");
    assert!(
        seen.contains(&(b, ExitStatus::Signaled(libc::SIGTERM), None)),
        "{seen:?}"
    );
    assert!(seen.contains(&(c, ExitStatus::Exited(0), None)), "{seen:?}");
    // The orphaned sleep.
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(reap_all_raw(false).is_empty());

    // Reaping with the cgroup read first: the orphan's exit names its cgroup too.
    let own = cgroup_of(std::process::id()).unwrap();
    let d = sh("sleep 0.2 & exit 3");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && Instant::now() < deadline {
        seen.extend(reap(true));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        seen.contains(&(d, ExitStatus::Exited(3), Some(own.clone()))),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|(_, _, cg)| cg.as_deref() == Some(own.as_str())),
        "{seen:?}"
    );
    assert!(reap_all_raw(true).is_empty());
}
