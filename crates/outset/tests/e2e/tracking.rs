//! Exact process tracking with real processes: exit tracking for forking daemons, the main
//! PID, every process of a job, and a stop that always ends.

use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn expect_fork_and_daemon_track_the_daemon_not_the_launcher() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "f1",
            &format!("expect fork\nexec {TESTD} --forks 1 --pidfile {p}/f1.pid\n"),
        );
        d.write_job(
            "f2",
            &format!("expect daemon\nexec {TESTD} --forks 2 --pidfile {p}/f2.pid\n"),
        );
        d.write_job(
            "f3",
            &format!("expect fork 3\nexec {TESTD} --forks 3 --helper --pidfile {p}/f3.pid\n"),
        );
    }) else {
        return;
    };
    for job in ["f1", "f2", "f3"] {
        let out = d.ctl_ok(&["start", job]);
        let main = main_pid(&out).unwrap();
        assert_eq!(main, pidfile(&d, &format!("{job}.pid")), "{job}: {out}");
        assert!(pid_alive(main));
        stop_leaves_nothing(&d, job);
        assert!(!pid_alive(main));
    }
}

#[test]
fn expect_fork_with_a_script_that_runs_helpers_first() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "scripted",
            &format!(
                "expect fork\nscript\n  mkdir -p {p}/made\n  x=$(echo hi)\n  (echo sub > {p}/sub.out)\n  \
                 bash -c 'true'\n  exec {TESTD} --forks 1 --pidfile {p}/scripted.pid\nend script\n"
            ),
        );
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "scripted"]);
    assert_eq!(main_pid(&out), Some(pidfile(&d, "scripted.pid")), "{out}");
    stop_leaves_nothing(&d, "scripted");
}

#[test]
fn started_waits_for_a_waiting_parent_and_a_failing_parent_fails() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "patient",
            &format!("expect fork\nexec {TESTD} --forks 1 --parent-wait-ms 2000 --pidfile {p}/patient.pid\n"),
        );
        d.write_job(
            "failing",
            &format!("expect fork\nexec {TESTD} --forks 1 --parent-exit 3\n"),
        );
        d.write_job(
            "watch",
            &format!(
                "start on stopped failing\ntask\nexec sh -c 'echo $RESULT $PROCESS $EXIT_STATUS > {p}/failing.stopped'\n"
            ),
        );
    }) else {
        return;
    };
    let t = Instant::now();
    let out = d.ctl_ok(&["start", "patient"]);
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "running before the parent exited"
    );
    assert_eq!(main_pid(&out), Some(pidfile(&d, "patient.pid")));
    let out = d.ctl(&["start", "failing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(d.wait_file("failing.stopped"), "failed main 3\n");
    d.wait_for(
        "failing's daemon to be killed",
        Duration::from_secs(10),
        || d.status(&["failing"]).contains("stop/waiting"),
    );
    stop_leaves_nothing(&d, "patient");
}

#[test]
fn wrong_fork_counts_and_foreground_daemons_never_stick() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        // One fork too many, one too few, and a daemon kept in the foreground.
        d.write_job(
            "high",
            &format!("expect fork 2\nexec {TESTD} --forks 1 --pidfile {p}/high.pid\n"),
        );
        d.write_job(
            "low",
            &format!("expect fork\nexec {TESTD} --forks 2 --pidfile {p}/low.pid\n"),
        );
        d.write_job(
            "fg",
            &format!("expect daemon\nstart timeout 1\nexec {TESTD} --pidfile {p}/fg.pid\n"),
        );
    }) else {
        return;
    };
    for job in ["high", "low", "fg"] {
        let out = d.ctl_ok(&["start", job]);
        let daemon_pid = pidfile(&d, &format!("{job}.pid"));
        d.wait_for(&format!("{job}'s main PID"), Duration::from_secs(5), || {
            main_pid(&d.status(&[job])) == Some(daemon_pid)
        });
        assert!(d.status(&[job]).contains("start/running"), "{job}: {out}");
        stop_leaves_nothing(&d, job);
    }
}

#[test]
fn stop_ends_escapees_and_hundreds_of_processes() {
    let Some(d) = daemon(|d| {
        d.write_job("escaper", &format!("exec {TESTD} --escape\n"));
        d.write_job("many", &format!("exec {TESTD} --children 200\n"));
        d.write_job(
            "stubborn",
            &format!("kill timeout 1\nexec {TESTD} --ignore-term --children 3\n"),
        );
    }) else {
        return;
    };
    for job in ["escaper", "many", "stubborn"] {
        d.ctl_ok(&["start", job]);
        let want = if job == "many" { 201 } else { 2 };
        d.wait_for(
            &format!("{job}'s processes"),
            Duration::from_secs(10),
            || d.cgroup_pids().len() >= want,
        );
        let all = d.ctl_ok(&["status", "--all", job]);
        assert!(all.lines().count() > want, "{job}: {all}");
        let t = Instant::now();
        stop_leaves_nothing(&d, job);
        // kill timeout + 1 s at most.
        assert!(t.elapsed() < Duration::from_secs(3), "{job}");
    }
}

#[test]
fn jobs_that_use_ptrace_are_tracked() {
    if which("strace").is_none() || which("gdb").is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "strace and gdb must be installed"
        );
        eprintln!("SKIP: strace or gdb missing");
        return;
    }
    let Some(d) = daemon(|d| {
        d.write_job("traced", "exec strace -f -o /dev/null sleep 1000\n");
        d.write_job("debugged", "exec gdb -batch -ex run --args sleep 1000\n");
    }) else {
        return;
    };
    for job in ["traced", "debugged"] {
        d.ctl_ok(&["start", job]);
        d.wait_for(&format!("{job}'s sleep"), Duration::from_secs(20), || {
            let all = d.ctl_ok(&["status", "--all", job]);
            all.contains("sleep 1000") && all.lines().count() >= 3
        });
        assert!(d.status(&[job]).contains("start/running"));
        stop_leaves_nothing(&d, job);
    }
}

#[test]
fn status_all_and_history_show_every_pid() {
    let Some(d) = daemon(|d| {
        d.write_job(
            "hist",
            // No respawn limit: polling under load must not outlast it and stop the job.
            &format!("respawn\nrespawn limit unlimited\npre-start exec true\nexec {TESTD} --children 2 --exit-after-ms 300 --exit-code 1\n"),
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "hist"]);
    d.wait_for("a respawn", Duration::from_secs(10), || {
        let v: serde_json::Value =
            serde_json::from_str(&d.ctl_ok(&["--json", "status", "hist"])).unwrap();
        v[0]["history"]
            .as_array()
            .is_some_and(|h| h.iter().filter(|p| p["kind"] == "main").count() >= 2)
    });
    // The respawned main spawns its children a moment after it starts (and the next respawn
    // runs pre-start again): wait for a snapshot of a running main with its two children.
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let v: serde_json::Value =
            serde_json::from_str(&d.ctl_ok(&["--json", "status", "--all", "hist"])).unwrap();
        let main = v[0]["processes"][0]["pid"].clone();
        let members = v[0]["members"].as_array().map_or(&[][..], Vec::as_slice);
        if v[0]["state"] == "running"
            && v[0]["processes"][0]["kind"] == "main"
            && members.len() >= 3
            && members.iter().any(|m| m["pid"] == main)
        {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no running main with its children in time; last: {v}\ndaemon stderr:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let history = v[0]["history"].as_array().unwrap();
    assert!(history.iter().any(|p| p["kind"] == "pre-start"), "{v}");
    let members = v[0]["members"].as_array().unwrap();
    assert!(members.len() >= 3, "{v}");
    assert!(
        members
            .iter()
            .all(|m| m["command"].as_str().unwrap().contains("outset-testd")),
        "{v}"
    );
    d.ctl_ok(&["stop", "hist"]);
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

#[test]
fn pid_file_names_the_daemon_even_when_it_is_not_the_oldest() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        // An older companion process stays, and the pid file comes 300 ms after the launcher.
        d.write_job(
            "pf",
            &format!(
                "expect fork\npid file {p}/pf.pid\nexec sh -c 'sleep 100 & {TESTD} --forks 1 --pidfile {p}/pf.pid --pidfile-delay-ms 300'\n"
            ),
        );
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "pf"]);
    assert_eq!(main_pid(&out), Some(pidfile(&d, "pf.pid")), "{out}");
    stop_leaves_nothing(&d, "pf");
}

#[test]
fn a_restarted_instance_is_never_killed_with_its_predecessors_cgroup() {
    let Some(d) = daemon(|d| {
        d.write_job("again", &format!("exec {TESTD} --children 2\n"));
    }) else {
        return;
    };
    for _ in 0..5 {
        d.ctl_ok(&["start", "again"]);
        d.ctl_ok(&["stop", "again"]);
        let out = d.ctl_ok(&["start", "again"]);
        let main = main_pid(&out).unwrap();
        // The old cgroup's removal comes when the loop is idle; it must not touch this one.
        std::thread::sleep(Duration::from_millis(150));
        assert!(pid_alive(main), "{}", d.stderr());
        assert!(d.status(&["again"]).contains("start/running"));
        d.ctl_ok(&["stop", "again"]);
    }
}

/// After a stop the loop sleeps while its cleanup waits: the stopped job's cgroup is removed
/// once the loop has been idle a moment, and the daemon takes next to no CPU meanwhile. (The
/// removal once waited behind a memory trim that was not due yet, with an epoll timeout of
/// zero, and the loop ran flat out until the trim came due: tens of milliseconds of CPU after
/// every stop that followed other work closely.)
#[test]
fn issue11_the_loop_sleeps_while_cleanup_waits_after_a_stop() {
    let Some(d) = daemon(|d| {
        d.write_job("j", "exec sleep 600\n");
    }) else {
        return;
    };
    let pid = d.child.as_ref().unwrap().id();
    // CPU time the daemon has run, in nanoseconds.
    let run_ns = || -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    for _ in 0..5 {
        d.ctl_ok(&["start", "j"]);
        // Work right before the stop: the trim after it is not due yet when the stop ends.
        d.ctl_ok(&["status", "j"]);
        d.ctl_ok(&["stop", "j"]);
        let before = run_ns();
        std::thread::sleep(Duration::from_millis(250));
        let used = Duration::from_nanos(run_ns() - before);
        assert!(
            used < Duration::from_millis(20),
            "the idle daemon ran {used:?} in 250 ms after a stop\n{}",
            d.stderr()
        );
    }
    d.wait_for(
        "the stopped job's cgroup to be removed",
        Duration::from_secs(5),
        || {
            std::fs::read_dir(&d.cgroup)
                .map(|dir| dir.flatten().all(|e| !e.path().is_dir()))
                .unwrap_or(true)
        },
    );
}

#[test]
fn without_cgroup2_jobs_fall_back_to_process_groups_and_ptrace() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    // A root outset cannot create: the daemon falls back and says so.
    d.cgroup = std::path::PathBuf::from("/proc/outset-no-cgroup");
    let p = d.dir.path().display().to_string();
    d.write_job("plain", "exec sleep 600\n");
    d.write_job(
        "forking",
        &format!("expect fork\nexec {TESTD} --forks 1 --pidfile {p}/forking.pid\n"),
    );
    d.start(&["--no-startup-event", "--track", "ptrace"]);
    let version = d.ctl_ok(&["version"]);
    assert!(version.contains("tracking by process groups"), "{version}");
    let main = main_pid(&d.ctl_ok(&["start", "plain"])).unwrap();
    assert!(pid_alive(main));
    assert!(d.ctl_ok(&["stop", "plain"]).contains("stop/waiting"));
    assert!(!pid_alive(main));
    // ptrace follows the fork that no cgroup can show.
    let out = d.ctl_ok(&["start", "forking"]);
    let daemon_pid = pidfile(&d, "forking.pid");
    assert_eq!(main_pid(&out), Some(daemon_pid), "{out}\n{}", d.stderr());
    assert!(d.ctl_ok(&["stop", "forking"]).contains("stop/waiting"));
    d.wait_for("the daemon to end", Duration::from_secs(5), || {
        !pid_alive(daemon_pid)
    });
}
