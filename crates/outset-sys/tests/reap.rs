//! reap_all waits for any child, so it runs in its own test binary where no
//! other test's children can be stolen.
#![allow(clippy::unwrap_used)]

use outset_sys::reap::{ChildEvent, reap_all, set_child_subreaper};
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
}
