//! A process that fails between clone and exec (issue 11 item 1): the daemon does not wait
//! for each child's exec, so such a failure is read afterwards from the child's report,
//! with its stage, and counts as a failed spawn: no exit status, no respawn.

use std::time::Duration;

use crate::common::*;

#[test]
fn issue11_child_stage_failures_fail_the_job_like_a_failed_spawn() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "watch",
            &format!(
                "start on stopped JOB=f*\ninstance $JOB\ntask\n\
                 exec sh -c 'env | grep -E \"^(JOB|RESULT|PROCESS|EXIT_STATUS|EXIT_SIGNAL)=\" | sort > {p}/$JOB.stopped'\n"
            ),
        );
        d.write_job("fchdir", "chdir /no/such/dir\nrespawn\nexec sleep 1000\n");
        d.write_job(
            "fpre",
            "pre-start exec true\nchdir /no/such/dir\nexec sleep 1000\n",
        );
        // Bad limits fail in the child too: hard below soft.
        d.write_job(
            "flimit",
            &format!("task\nlimit nofile 200 100\nexec touch {p}/flimit.ran\n"),
        );
    }) else {
        return;
    };
    let _ = d.ctl(&["start", "fchdir"]);
    assert_eq!(
        d.wait_file("fchdir.stopped"),
        "JOB=fchdir\nPROCESS=main\nRESULT=failed\n"
    );
    let _ = d.ctl(&["start", "fpre"]);
    assert_eq!(
        d.wait_file("fpre.stopped"),
        "JOB=fpre\nPROCESS=pre-start\nRESULT=failed\n"
    );
    let _ = d.ctl(&["start", "flimit"]);
    assert_eq!(
        d.wait_file("flimit.stopped"),
        "JOB=flimit\nPROCESS=main\nRESULT=failed\n"
    );
    assert!(!d.path("flimit.ran").exists());
    for job in ["fchdir", "fpre", "flimit"] {
        d.wait_status(&[job], "stop/waiting");
    }
    let log = d.stderr();
    for (job, kind, stage) in [
        ("fchdir", "main", "chdir"),
        ("fpre", "pre-start", "chdir"),
        ("flimit", "main", "rlimit"),
    ] {
        let needle = format!("{job}: failed to spawn {kind} process: process ");
        let line = log.lines().find(|l| l.contains(&needle));
        assert!(
            line.is_some_and(|l| l.contains(&format!("failed at {stage}:"))),
            "{job}: {log}"
        );
    }
    // A failed spawn is not a crash: `respawn` does not bring it back.
    std::thread::sleep(Duration::from_millis(300));
    let spawns = log.matches("fchdir: failed to spawn").count();
    assert_eq!(spawns, 1, "{log}");
    assert_eq!(d.stderr().matches("fchdir: failed to spawn").count(), 1);
}

/// Issue 12: since a spawn no longer waits for the child's exec, a `start` could be told
/// the job was running before the child's chdir failed. The reply now waits for the
/// batch's exec barrier and carries the failure, as Upstart's `start` does.
#[test]
fn issue12_start_of_a_job_whose_child_fails_reports_the_failure() {
    let Some(d) = daemon(|d| {
        d.write_job("nodir", "chdir /no/such/dir\nexec sleep 1000\n");
        d.write_job("fine", "exec sleep 1000\n");
    }) else {
        return;
    };
    for round in 0..3 {
        let out = d.ctl(&["start", "nodir"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "round {round}: start succeeded: {err}"
        );
        assert!(
            err.contains("Job failed to start: nodir"),
            "round {round}: {err}"
        );
        d.wait_status(&["nodir"], "stop/waiting");
    }
    // A job whose child execs is still reported running.
    let out = d.ctl_ok(&["start", "fine"]);
    assert!(out.starts_with("fine start/running, process "), "{out}");
    stop_leaves_nothing(&d, "fine");
}
