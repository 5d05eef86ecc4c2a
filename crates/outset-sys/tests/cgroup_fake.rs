//! `outset_sys::cgroup` on a fake cgroupfs: a temp dir of plain `cgroup.procs`,
//! `cgroup.events` and `cgroup.kill` files written by the test. These run without root;
//! the tests against the kernel's cgroup2 are beside the code, in `src/cgroup.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use outset_sys::cgroup::Cgroup;

/// A fake cgroup directory below a temp dir, with the given interface files.
struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("job");
        std::fs::create_dir(&root).unwrap();
        Fake { _dir: dir, root }
    }

    /// Writes `file` (`sub/cgroup.procs`, …) below the fake cgroup, making its directories.
    fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.root.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn cgroup(&self) -> Cgroup {
        Cgroup::open(&self.root).unwrap()
    }
}

/// Both ways of reading members: the whole file, and the chunked read relative to a
/// directory fd of an ancestor.
fn members(base: &Path, rel: &str) -> (Vec<u32>, Vec<u32>) {
    let whole = Cgroup::open(&base.join(rel)).unwrap().procs().unwrap();
    let dir = Cgroup::open_dir(base).unwrap();
    let chunked = Cgroup::procs_at(dir.as_fd(), Path::new(rel)).unwrap();
    (whole, chunked)
}

#[test]
fn members_are_read_one_per_line() {
    let f = Fake::new();
    f.write("sub/cgroup.procs", "1\n42\n4194304\n");
    let (whole, chunked) = members(&f.root, "sub");
    assert_eq!(whole, vec![1, 42, 4194304]);
    assert_eq!(chunked, whole);
    // An empty cgroup has an empty file.
    f.write("empty/cgroup.procs", "");
    assert_eq!(members(&f.root, "empty"), (vec![], vec![]));
}

#[test]
fn members_across_read_buffer_boundaries() {
    // procs_at reads 1 KiB at a time: thousands of PIDs of every width put numbers across
    // many chunk ends, at every offset within a number.
    let pids: Vec<u32> = (0..3000u32).map(|i| 1 + i * 1399 % 4_194_304).collect();
    let text: String = pids.iter().map(|p| format!("{p}\n")).collect();
    assert!(text.len() > 8 * 1024);
    let f = Fake::new();
    f.write("big/cgroup.procs", &text);
    let (whole, chunked) = members(&f.root, "big");
    assert_eq!(whole, pids);
    assert_eq!(chunked, pids);
    // The last number without its newline is still read.
    f.write("nonl/cgroup.procs", text.trim_end());
    assert_eq!(members(&f.root, "nonl"), (pids.clone(), pids));
}

#[test]
fn numbers_too_large_for_a_pid_are_dropped() {
    let f = Fake::new();
    f.write("x/cgroup.procs", "7\n99999999999\n8\n");
    assert_eq!(members(&f.root, "x"), (vec![7, 8], vec![7, 8]));
}

#[test]
fn members_at_long_and_empty_relative_paths() {
    let f = Fake::new();
    // Past procs_at's fixed path buffer: the other lookup, same answer.
    let deep = ["a".repeat(100), "b".repeat(100), "c".repeat(100)].join("/");
    f.write(&format!("{deep}/cgroup.procs"), "5\n6\n");
    assert_eq!(members(&f.root, &deep), (vec![5, 6], vec![5, 6]));
    // An empty relative path is the base cgroup itself.
    f.write("cgroup.procs", "9\n");
    let dir = Cgroup::open_dir(&f.root).unwrap();
    assert_eq!(
        Cgroup::procs_at(dir.as_fd(), Path::new("")).unwrap(),
        vec![9]
    );
}

#[test]
fn populated_is_read_from_cgroup_events() {
    let f = Fake::new();
    for (text, want) in [
        ("populated 1\nfrozen 0\n", true),
        ("populated 0\nfrozen 0\n", false),
        ("frozen 0\npopulated 1\n", true),
        ("populated 0", false),
    ] {
        f.write("cgroup.events", text);
        assert_eq!(f.cgroup().populated().unwrap(), want, "{text:?}");
    }
    f.write("cgroup.events", "frozen 0\n");
    let e = f.cgroup().populated().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
}

#[test]
fn missing_and_unreadable_files_are_different_errors() {
    let f = Fake::new();
    let cg = f.cgroup();
    // Missing: the cgroup is gone (or never was one).
    assert_eq!(cg.procs().unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(cg.populated().unwrap_err().kind(), ErrorKind::NotFound);
    let dir = Cgroup::open_dir(&f.root).unwrap();
    let e = Cgroup::procs_at(dir.as_fd(), Path::new("gone")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // Present but unreadable (a directory where the file should be, unreadable even to
    // root): an error, and not NotFound, so it is not taken for an empty cgroup.
    std::fs::create_dir(f.root.join("cgroup.procs")).unwrap();
    std::fs::create_dir(f.root.join("cgroup.events")).unwrap();
    for e in [
        cg.procs().unwrap_err(),
        cg.populated().unwrap_err(),
        Cgroup::procs_at(dir.as_fd(), Path::new("")).unwrap_err(),
    ] {
        assert_ne!(e.kind(), ErrorKind::NotFound, "{e}");
    }
}

#[test]
fn open_and_create_check_what_is_there() {
    let f = Fake::new();
    assert_eq!(
        Cgroup::open(&f.root.join("none")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let file = f.write("cgroup.procs", "");
    assert_eq!(
        Cgroup::open(&file).unwrap_err().raw_os_error(),
        Some(libc::ENOTDIR)
    );
    // An existing directory is fine; a file in the way is not.
    assert_eq!(Cgroup::create(&f.root).unwrap().path(), f.root);
    assert!(Cgroup::create(&file).is_err());
    let sub = Cgroup::create(&f.root.join("sub")).unwrap();
    assert!(sub.path().is_dir());
}

#[test]
fn add_pid_writes_the_pid() {
    let f = Fake::new();
    let p = f.write("cgroup.procs", "");
    f.cgroup().add_pid(1234).unwrap();
    assert_eq!(std::fs::read_to_string(p).unwrap(), "1234");
}

#[test]
fn kill_writes_cgroup_kill() {
    let f = Fake::new();
    let p = f.write("cgroup.kill", "");
    // PIDs listed must not be signalled one by one when cgroup.kill exists: this one is
    // the test's own child, which must survive.
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    f.write("cgroup.procs", &format!("{}\n", child.id()));
    f.cgroup().kill().unwrap();
    assert_eq!(std::fs::read_to_string(p).unwrap(), "1");
    let alive = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        alive,
        "a listed process was signalled although cgroup.kill exists"
    );
}

#[test]
fn kill_without_cgroup_kill_signals_the_listed_subtree() {
    // Without cgroup.kill (the write finds no file: here a link into a missing directory,
    // since a plain directory would let the write create it), each PID of the subtree gets
    // SIGKILL. The PIDs listed here are the test's own children.
    use std::os::unix::process::ExitStatusExt;
    let f = Fake::new();
    std::os::unix::fs::symlink(f.root.join("none/kill"), f.root.join("cgroup.kill")).unwrap();
    let spawn = || {
        std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap()
    };
    let (mut top, mut deep) = (spawn(), spawn());
    f.write("cgroup.procs", &format!("{}\n", top.id()));
    f.write("a/b/cgroup.procs", &format!("{}\n", deep.id()));
    f.write("a/cgroup.procs", "");
    f.cgroup().kill().unwrap();
    for c in [&mut top, &mut deep] {
        assert_eq!(c.wait().unwrap().signal(), Some(libc::SIGKILL));
    }
}

/// Before Linux 5.14 there is no `cgroup.kill`, and creating it on cgroupfs fails with
/// EACCES, not ENOENT: that too must fall back to signalling the listed PIDs. The write is
/// sent through a link into a real cgroup (of the test's own) where no such file exists;
/// this part needs root and cgroup2 (a skip, refused under CI=true).
#[test]
fn kill_falls_back_when_cgroupfs_refuses_to_create_cgroup_kill() {
    use std::os::unix::process::ExitStatusExt;
    let mount = outset_sys::cgroup::cgroup2_mount();
    let Some(mount) = mount.filter(|_| rustix::process::geteuid().is_root()) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "this test needs root and cgroup2, and CI=true forbids skipping"
        );
        eprintln!("SKIP: needs root and cgroup2");
        return;
    };
    struct Gone(PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let real = Gone(mount.join(format!("outset-fake-kill-{}", std::process::id())));
    std::fs::create_dir(&real.0).unwrap();
    let f = Fake::new();
    std::os::unix::fs::symlink(real.0.join("no-such-file"), f.root.join("cgroup.kill")).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    f.write("cgroup.procs", &format!("{}\n", child.id()));
    let killed = f.cgroup().kill();
    if killed.is_err() {
        let _ = child.kill();
    }
    killed.unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn remove_takes_the_tree_deepest_first() {
    // cgroupfs directories can be removed with their interface files in them; plain
    // directories only when empty, so this tree has none.
    let f = Fake::new();
    for d in ["a/b/c", "a/d", "e"] {
        std::fs::create_dir_all(f.root.join(d)).unwrap();
    }
    let cg = f.cgroup();
    cg.remove().unwrap();
    assert!(!f.root.exists());
    // Removing it again, or a cgroup that never was, is fine.
    cg.remove().unwrap();
    Cgroup::at(f.root.join("never")).remove().unwrap();
}

#[test]
fn remove_fails_on_a_busy_subtree_and_says_so() {
    // A directory that cannot be removed (here: not empty; on cgroupfs: EBUSY with
    // processes) is an error, and the cgroup above it stays.
    let f = Fake::new();
    std::fs::create_dir_all(f.root.join("idle")).unwrap();
    f.write("busy/pids", "1\n");
    assert!(f.cgroup().remove().is_err());
    assert!(f.root.join("busy").is_dir());
    assert!(f.root.is_dir());
}

/// Issue 17 item 5: the resource-control reads and writes.
#[test]
fn issue17_item5_controllers_settings_and_oom_kills() {
    let f = Fake::new();
    f.write("cgroup.controllers", "cpu memory pids\n");
    f.write("cgroup.subtree_control", "cpu\n");
    f.write(
        "memory.events",
        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n",
    );
    let cg = f.cgroup();
    assert_eq!(cg.controllers().unwrap(), ["cpu", "memory", "pids"]);
    assert_eq!(cg.subtree_control().unwrap(), ["cpu"]);
    cg.enable_controller("memory").unwrap();
    assert_eq!(
        std::fs::read_to_string(f.root.join("cgroup.subtree_control")).unwrap(),
        "+memory"
    );
    cg.write_setting("cpu.weight", "200").unwrap();
    assert_eq!(cg.read_setting("cpu.weight").unwrap(), "200");
    assert_eq!(cg.oom_kills().unwrap(), 2);
    // Only interface file names: nothing outside the cgroup is written.
    for bad in ["", "../x", "a/b", ".hidden"] {
        let e = cg.write_setting(bad, "1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
    }
    // Without the memory controller there is no memory.events.
    let none = Fake::new();
    assert_eq!(
        none.cgroup().oom_kills().unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
