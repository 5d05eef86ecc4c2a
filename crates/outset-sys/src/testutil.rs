//! Helpers shared by tests that need root and a cgroup2 mount.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Skips (returns false) when `cond` is false, but fails under CI=true.
pub fn require(cond: bool, why: &str) -> bool {
    if cond {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("test requirement not met under CI: {why}");
    }
    eprintln!("skipping: {why}");
    false
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A test-private cgroup path, cleaned up (kill + rmdir) on drop.
pub struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    /// Reserves `<cgroup2>/outset-sys-test-<pid>-<n>` (not created yet).
    pub fn new() -> Option<TestCgroup> {
        if !require(is_root(), "needs root") {
            return None;
        }
        let mount = crate::cgroup::cgroup2_mount();
        if !require(mount.is_some(), "needs a cgroup2 mount") {
            return None;
        }
        let mount = mount?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = mount.join(format!("outset-sys-test-{}-{n}", std::process::id()));
        Some(TestCgroup { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Ok(cg) = crate::cgroup::Cgroup::open(&self.path) {
            let _ = cg.kill();
            for _ in 0..100 {
                if cg.remove().is_ok() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
