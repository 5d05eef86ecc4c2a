//! Conf dirs end to end: directories that appear after start-up are watched and loaded.

use std::time::Duration;

use crate::common::*;

// Issue 9 item 14: a job file in a subdirectory created after start-up was not seen.
#[test]
fn issue9_item14_job_in_new_subdirectory_is_loaded() {
    let Some(d) = daemon(|_| {}) else {
        return;
    };
    std::fs::create_dir(d.confdir.join("sub")).unwrap();
    // A job written after the mkdir: once it is loaded, the reload for the new directory has
    // happened, so the next file lands in a directory the daemon already knows about.
    d.write_job("marker", "exec true\n");
    d.wait_status(&["marker"], "stop/waiting");
    std::fs::write(d.confdir.join("sub/late.conf"), "exec true\n").unwrap();
    d.wait_status(&["sub/late"], "stop/waiting");
    // And a deeper one, made after that.
    std::fs::create_dir_all(d.confdir.join("sub/deeper")).unwrap();
    d.write_job("marker2", "exec true\n");
    d.wait_status(&["marker2"], "stop/waiting");
    std::fs::write(d.confdir.join("sub/deeper/j.conf"), "exec true\n").unwrap();
    d.wait_status(&["sub/deeper/j"], "stop/waiting");
}

// Issue 9 item 15: a `--confdir` that does not exist was accepted silently and never loaded.
#[test]
fn issue9_item15_missing_confdir_is_logged_and_loaded_when_it_appears() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.write_job("present", "exec true\n");
    let missing = d.path("later/init");
    let arg = missing.display().to_string();
    d.start(&["--no-startup-event", "--confdir", &arg]);
    d.wait_for(
        "the missing conf dir to be logged",
        Duration::from_secs(10),
        || {
            d.stderr()
                .contains(&format!("job directory {arg} does not exist"))
        },
    );
    d.wait_status(&["present"], "stop/waiting");
    assert!(d.status(&["j"]).contains("Unknown job"));
    std::fs::create_dir_all(&missing).unwrap();
    std::fs::write(missing.join("j.conf"), "exec true\n").unwrap();
    d.wait_status(&["j"], "stop/waiting");
    assert!(
        d.stderr()
            .contains(&format!("job directory {arg} appeared"))
    );
    // Removed and made again: still followed.
    std::fs::remove_dir_all(d.path("later")).unwrap();
    d.wait_for("the removed job to go", Duration::from_secs(10), || {
        d.status(&["j"]).contains("Unknown job")
    });
    std::fs::create_dir_all(&missing).unwrap();
    std::fs::write(missing.join("j.conf"), "exec true\n").unwrap();
    d.wait_status(&["j"], "stop/waiting");
}
