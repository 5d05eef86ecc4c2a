//! reap_all waits for any child, so it runs in its own test binary where no
//! other test's children can be stolen.
#![allow(clippy::unwrap_used)]

use outset_sys::reap::{
    ChildEvent, cgroup_of, reap_all, reap_all_with_cgroup, set_child_subreaper,
};
use outset_sys::spawn::{ProgramSpec, SpawnPlan, SpawnRequest, spawn};
use std::time::{Duration, Instant};

fn sh(script: &str) -> u32 {
    let req = SpawnRequest::new(ProgramSpec::Shell {
        script: script.to_string(),
    });
    spawn(&SpawnPlan::new(&req).unwrap()).unwrap().pid
}

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
        seen.extend(reap_all());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen.contains(&(a, ChildEvent::Exited(5))), "{seen:?}");
    assert!(
        seen.contains(&(b, ChildEvent::Signaled(libc::SIGTERM))),
        "{seen:?}"
    );
    assert!(seen.contains(&(c, ChildEvent::Exited(0))), "{seen:?}");
    // The orphaned sleep.
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(reap_all().is_empty());

    // Reaping with the cgroup read first: the orphan's exit names its cgroup too.
    let own = cgroup_of(std::process::id()).unwrap();
    let d = sh("sleep 0.2 & exit 3");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && Instant::now() < deadline {
        seen.extend(reap_all_with_cgroup());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        seen.contains(&(d, ChildEvent::Exited(3), Some(own.clone()))),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen.iter()
            .all(|(_, _, cg)| cg.as_deref() == Some(own.as_str())),
        "{seen:?}"
    );
}
