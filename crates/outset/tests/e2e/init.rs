//! Issue 13: what an init needs besides supervision — the kernel's command-line words, the
//! shutdown and runlevel verbs, the abstract control socket.

use crate::common::*;

/// Item 1: the words a kernel passes on (and options of other inits) never stop the daemon;
/// a runlevel word reaches `startup` as `DEFAULT_RUNLEVEL`.
#[test]
fn issue13_item1_boot_words_do_not_stop_the_daemon() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    d.write_job(
        "seen",
        &format!("start on startup\ntask\nexec sh -c 'echo \"$DEFAULT_RUNLEVEL\" > {p}/level'\n"),
    );
    d.start(&[
        "single",
        "5",
        "splash",
        "--verbose",
        "noapic",
        "-z",
        "--no-log",
    ]);
    assert_eq!(d.wait_file("level"), "5\n");
    let err = d.stderr();
    assert!(
        err.contains(
            "ignoring command-line words outset has no use for: splash noapic -z --no-log"
        ),
        "{err}"
    );
    assert!(d.ctl_ok(&["list"]).contains("seen"));
    assert!(d.child.as_mut().unwrap().try_wait().unwrap().is_none());
}
