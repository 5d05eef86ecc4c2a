//! Issue 9 item 6 end to end: `expect daemon` waits for the counted exits of a slow chain.

use crate::common::*;

/// A launcher that exits at once, leaving a middle process that exits with `$CODE` three
/// seconds later, after starting the daemon (`sleep 600`).
fn chain_job(d: &TestDaemon, name: &str, code: u8) {
    let p = d.dir.path().display().to_string();
    std::fs::write(
        d.path("chain.sh"),
        "#!/bin/sh\n( sleep 3; echo done > \"$OUT\"; sleep 600 & exit $CODE ) &\nexit 0\n",
    )
    .unwrap();
    d.write_job(
        name,
        &format!(
            "expect daemon\nstart timeout 30\nkill timeout 1\nenv CODE={code}\n\
             env OUT={p}/{name}.middle\nexec /bin/sh {p}/chain.sh\n"
        ),
    );
}

#[test]
fn issue9_item6_expect_daemon_waits_for_a_slow_middle_process() {
    let Some(d) = daemon(|d| {
        chain_job(d, "ok", 0);
        chain_job(d, "bad", 3);
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "ok"]);
    assert!(out.contains("start/running"), "{out}");
    // `started` came after the middle process exited, and the main process is the daemon.
    assert!(
        d.path("ok.middle").exists(),
        "started before the middle exited"
    );
    let main = main_pid(&out).unwrap();
    // The daemon may not have reached its exec yet on a loaded machine: same PID, then sleep.
    d.wait_for(
        "the main process to be the daemon",
        std::time::Duration::from_secs(15),
        || {
            std::fs::read_to_string(format!("/proc/{main}/cmdline"))
                .is_ok_and(|c| c.split('\0').collect::<Vec<_>>() == ["sleep", "600", ""])
        },
    );
    stop_leaves_nothing(&d, "ok");

    // The middle process exits 3: the start fails.
    let out = d.ctl(&["start", "bad"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Job failed to start: bad"), "{err}");
    d.wait_status(&["bad"], "stop/waiting");
    d.wait_for(
        "the failed job's cgroup to empty",
        std::time::Duration::from_secs(15),
        || d.cgroup_pids().is_empty(),
    );
}
