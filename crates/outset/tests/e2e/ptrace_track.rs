//! `track ptrace`: the main process is followed with ptrace until the main PID is known,
//! then detached; the job is still tracked by cgroup and exit.

use std::time::Duration;

use crate::common::*;

/// `TracerPid:` of a process (`None` if it is gone).
fn tracer_pid(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Process state letter from `/proc/<pid>/stat` (`T`/`t` for stopped).
fn state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// Waits until `pid` is no longer traced and checks it is not left stopped.
fn detached_and_running(d: &TestDaemon, pid: u32) {
    d.wait_for(
        &format!("process {pid} to be detached"),
        Duration::from_secs(10),
        || tracer_pid(pid) == Some(0),
    );
    let st = state(pid).unwrap();
    assert!(st != 'T' && st != 't', "process {pid} left stopped ({st})");
}

#[test]
fn ptrace_track_follows_forks_to_the_daemon_and_detaches() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "pf1",
            &format!("track ptrace\nexpect fork\nexec {TESTD} --forks 1 --pidfile {p}/pf1.pid\n"),
        );
        d.write_job(
            "pf2",
            &format!("track ptrace\nexpect daemon\nexec {TESTD} --forks 2 --pidfile {p}/pf2.pid\n"),
        );
        d.write_job(
            "pf3",
            &format!(
                "track ptrace\nexpect fork 3\nexec {TESTD} --forks 3 --helper --pidfile {p}/pf3.pid\n"
            ),
        );
    }) else {
        return;
    };
    for job in ["pf1", "pf2", "pf3"] {
        let out = d.ctl_ok(&["start", job]);
        assert!(out.contains("start/running"), "{job}: {out}");
        let main = main_pid(&out).unwrap();
        assert_eq!(main, pidfile(&d, &format!("{job}.pid")), "{job}: {out}");
        assert!(pid_alive(main));
        detached_and_running(&d, main);
        for pid in d.cgroup_pids() {
            detached_and_running(&d, pid);
        }
        stop_leaves_nothing(&d, job);
        assert!(!pid_alive(main));
    }
}

#[test]
fn ptrace_track_without_forks_runs_and_stops() {
    let Some(d) = daemon(|d| {
        d.write_job("sleeper", "track ptrace\nexec sleep 1000\n");
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "sleeper"]);
    assert!(out.contains("start/running"), "{out}");
    let main = main_pid(&out).unwrap();
    detached_and_running(&d, main);
    let cmdline = std::fs::read_to_string(format!("/proc/{main}/cmdline")).unwrap();
    assert!(cmdline.starts_with("sleep"), "{cmdline:?}");
    stop_leaves_nothing(&d, "sleeper");
    assert!(!pid_alive(main));
}

#[test]
fn ptrace_track_with_a_script_that_runs_helpers_first() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "scripted",
            &format!(
                "track ptrace\nexpect fork\nscript\n  mkdir -p {p}/made\n  x=$(echo hi)\n  \
                 (echo sub > {p}/sub.out)\n  bash -c 'true'\n  \
                 grep TracerPid /proc/self/status > {p}/tracer.out\n  \
                 exec {TESTD} --forks 1 --pidfile {p}/scripted.pid\nend script\n"
            ),
        );
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "scripted"]);
    let main = main_pid(&out).unwrap();
    assert_eq!(main, pidfile(&d, "scripted.pid"), "{out}");
    detached_and_running(&d, main);
    // The launch chain's processes were traced while it ran.
    let tracer = d.wait_file("tracer.out");
    let tracer: u32 = tracer
        .trim()
        .trim_start_matches("TracerPid:")
        .trim()
        .parse()
        .unwrap();
    assert_ne!(tracer, 0, "helpers of the launch chain were not traced");
    assert_eq!(d.wait_file("sub.out").trim(), "sub");
    stop_leaves_nothing(&d, "scripted");
}

#[test]
fn ptrace_track_with_expect_stop_continues_the_job() {
    let Some(d) = daemon(|d| {
        d.write_job(
            "stopper",
            &format!("track ptrace\nexpect stop\nexec {TESTD} --stop-self\n"),
        );
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "stopper"]);
    assert!(out.contains("start/running"), "{out}");
    let main = main_pid(&out).unwrap();
    detached_and_running(&d, main);
    stop_leaves_nothing(&d, "stopper");
    assert!(!pid_alive(main));
}

#[test]
fn the_daemon_flag_traces_every_job() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    d.write_job(
        "plain",
        &format!("expect daemon\nexec {TESTD} --forks 2 --pidfile {p}/plain.pid\n"),
    );
    d.start(&["--no-startup-event", "--track", "ptrace"]);
    let out = d.ctl_ok(&["start", "plain"]);
    let main = main_pid(&out).unwrap();
    assert_eq!(main, pidfile(&d, "plain.pid"), "{out}");
    detached_and_running(&d, main);
    assert!(
        d.stderr().contains("ptrace: following process"),
        "{}",
        d.stderr()
    );
    stop_leaves_nothing(&d, "plain");
}
