//! Issue 13: what an init needs besides supervision — the kernel's command-line words, the
//! shutdown and runlevel verbs, the abstract control socket.

use std::time::{Duration, Instant};

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
        "--no-such-option",
    ]);
    assert_eq!(d.wait_file("level"), "5\n");
    let err = d.stderr();
    assert!(
        err.contains(
            "ignoring command-line words outset has no use for: splash noapic -z --no-such-option"
        ),
        "{err}"
    );
    assert!(d.ctl_ok(&["list"]).contains("seen"));
    assert!(d.child.as_mut().unwrap().try_wait().unwrap().is_none());
}

/// Waits for the daemon (or its wrapper) to exit; its status.
fn wait_exit(d: &mut TestDaemon, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    let child = d.child.as_mut().unwrap();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            d.child = None;
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not exit: {}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The client under another name (`shutdown`, `runlevel`, …), as the multi-call binary is
/// installed.
fn as_name(d: &TestDaemon, name: &str, args: &[&str]) -> std::process::Output {
    let link = d.path(name);
    if !link.exists() {
        std::os::unix::fs::symlink(OUTSETCTL, &link).unwrap();
    }
    std::process::Command::new(&link)
        .args(args)
        .env(outset_proto::socket::SOCKET_ENV, &d.socket)
        .env_remove("UPSTART_JOB")
        .env_remove("UPSTART_INSTANCE")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Items 6 and 7 as a supervisor (not PID 1): `telinit 2` emits `runlevel` and waits,
/// `runlevel` prints it, and `shutdown -h now` emits runlevel 0 (stopping `stop on runlevel
/// [016]` jobs and running `start on runlevel [06]` ones), then stops every other job and
/// exits — the machine is left alone.
#[test]
fn issue13_item7_supervisor_shutdown_stops_jobs_in_order_and_exits() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    d.write_job(
        "svc-levels",
        &format!(
            "start on runlevel [2345]\nstop on runlevel [016]\nexec sleep 600\npost-stop exec sh -c 'echo levels >> {p}/order'\n"
        ),
    );
    d.write_job(
        "svc-always",
        &format!(
            "start on startup\nexec sleep 600\npost-stop exec sh -c 'echo always >> {p}/order'\n"
        ),
    );
    d.write_job(
        "rc-down",
        &format!(
            "start on runlevel [06]\ntask\nexec sh -c 'echo \"rc $RUNLEVEL $PREVLEVEL $INIT_HALT\" >> {p}/order'\n"
        ),
    );
    d.start(&[]);
    d.wait_status(&["svc-always"], "start/running");
    // No runlevel yet: sysvinit's "unknown", exit 1.
    let out = as_name(&d, "runlevel", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unknown\n");
    // telinit waits for the jobs the event starts: running when it returns.
    let out = as_name(&d, "telinit", &["2"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(d.status(&["svc-levels"]).contains("start/running"));
    assert_eq!(
        String::from_utf8_lossy(&as_name(&d, "runlevel", &[]).stdout),
        "N 2\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.socket.with_file_name("runlevel")).unwrap(),
        "N 2\n"
    );
    let out = as_name(&d, "telinit", &["9"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("illegal runlevel: 9"), "{}", text(&out));

    let out = as_name(&d, "shutdown", &["-h", "now", "going", "down"]);
    assert!(out.status.success(), "{}", text(&out));
    let status = wait_exit(&mut d, Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", d.stderr());
    let order = std::fs::read_to_string(d.path("order")).unwrap();
    let lines: Vec<&str> = order.lines().collect();
    // The runlevel's jobs first (in either order), every other job after.
    assert_eq!(lines.len(), 3, "{order}");
    assert!(lines[..2].contains(&"levels"), "{order}");
    assert!(lines[..2].contains(&"rc 0 2 POWEROFF"), "{order}");
    assert_eq!(lines[2], "always", "{order}");
    let err = d.stderr();
    assert!(err.contains("shutdown message: going down"), "{err}");
    assert!(err.contains("every job has stopped; exiting"), "{err}");
    assert!(!err.contains("reboot(2)"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.socket.with_file_name("runlevel")).unwrap(),
        "2 0\n"
    );
}

/// Item 7: a shutdown at a later time waits in the daemon and `shutdown -c` cancels it;
/// `reboot -w` does nothing.
#[test]
fn issue13_item7_scheduled_shutdown_is_cancelled() {
    let Some(mut d) = daemon(|d| {
        d.write_job("svc", "exec sleep 600\n");
    }) else {
        return;
    };
    d.ctl_ok(&["start", "svc"]);
    let out = as_name(&d, "shutdown", &["-r", "+5", "maintenance"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("reboot in 5 min; cancel with shutdown -c"));
    assert!(
        d.stderr().contains("reboot scheduled in 300 s"),
        "{}",
        d.stderr()
    );
    let out = as_name(&d, "shutdown", &["-c"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = as_name(&d, "shutdown", &["-c"]);
    assert!(
        text(&out).contains("no shutdown is scheduled"),
        "{}",
        text(&out)
    );
    let out = as_name(&d, "reboot", &["-w"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(d.status(&["svc"]).contains("start/running"));
    assert!(d.child.as_mut().unwrap().try_wait().unwrap().is_none());
    // `outsetctl shutdown` is the same verb.
    let out = d.ctl(&["shutdown", "-P", "soon"]);
    assert!(
        text(&out).contains("illegal time value: soon"),
        "{}",
        text(&out)
    );
}

/// Item 2: a daemon that started without a usable cgroup2 root (as an init does before it
/// mounts one) tracks by process group; once the root can be made, `reload-configuration`
/// (or SIGHUP) adopts it and new instances get their cgroup.
#[test]
fn issue13_item2_cgroup_root_adopted_on_reload() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    /// Removes the parent the test makes, after the daemon's own clean-up.
    struct Parent(std::path::PathBuf);
    impl Drop for Parent {
        fn drop(&mut self) {
            destroy_cgroup_tree(&self.0);
        }
    }
    let parent = Parent(mount.join(format!("outset-test-late-{}", std::process::id())));
    let mut d = TestDaemon::new(&mount);
    d.write_job("before", "exec sleep 600\n");
    d.write_job("after", "exec sleep 600\n");
    // The root's parent does not exist yet: the daemon cannot make the root.
    let late = parent.0.clone();
    d.cgroup = late.join("outset");
    let root = d.cgroup.clone();
    let root_arg = root.display().to_string();
    d.start(&["--no-startup-event"]);
    // The daemon's stderr is collected as it comes: wait for the line.
    d.wait_for(
        "the process-group fallback",
        Duration::from_secs(10),
        || d.stderr().contains("tracking jobs by process group"),
    );
    let before = main_pid(&d.ctl_ok(&["start", "before"])).unwrap();
    // The parent appears (as a cgroup2 mount would): reloading adopts the root.
    std::fs::create_dir_all(&late).unwrap();
    d.ctl_ok(&["reload-configuration"]);
    assert!(
        d.stderr().contains(&format!(
            "cgroup2 is usable now: new instances are tracked in {root_arg}"
        )),
        "{}",
        d.stderr()
    );
    let after = main_pid(&d.ctl_ok(&["start", "after"])).unwrap();
    let procs = |job: &str| {
        std::fs::read_to_string(root.join(format!("{job}.job")).join("cgroup.procs"))
            .unwrap_or_default()
    };
    assert!(
        procs("after").lines().any(|l| l == after.to_string()),
        "{}",
        procs("after")
    );
    // The instance started before keeps its process-group tracking, and both stop.
    assert!(procs("before").is_empty());
    assert!(pid_alive(before));
    d.ctl_ok(&["stop", "before"]);
    d.ctl_ok(&["stop", "after"]);
    d.wait_for("both to end", Duration::from_secs(10), || {
        !pid_alive(before) && !pid_alive(after)
    });
}

/// Item 3: with the socket file gone (as when `/run` is mounted over its directory), the
/// client reaches the daemon through its abstract socket; a per-user daemon's abstract
/// socket turns other users away, as its mode-0600 file does, and a system daemon's lets
/// them read but not change.
#[test]
fn issue13_item3_abstract_socket_reachable_when_the_path_is_gone() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let as_nobody = |d: &TestDaemon, args: &[&str]| {
        std::process::Command::new(OUTSETCTL)
            .arg("--socket")
            .arg(&d.socket)
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    for user in [true, false] {
        let mut d = TestDaemon::new(&mount);
        d.write_job("svc", "exec sleep 600\n");
        // Let another user look for the socket in the test's private directory.
        std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        if user {
            d.start(&["--no-startup-event"]);
        } else {
            d.start_with(&["--no-startup-event"]);
        }
        d.ctl_ok(&["start", "svc"]);
        std::fs::remove_file(&d.socket).unwrap();
        assert!(
            d.status(&["svc"]).contains("svc start/running"),
            "{}",
            d.stderr()
        );
        d.ctl_ok(&["stop", "svc"]);
        let out = as_nobody(&d, &["status", "svc"]);
        if user {
            assert!(
                String::from_utf8_lossy(&out.stderr)
                    .contains("Permission denied: this daemon's socket is its owner's alone"),
                "{out:?}"
            );
        } else {
            assert!(out.status.success(), "{out:?}");
            assert!(String::from_utf8_lossy(&out.stdout).contains("svc stop/waiting"));
            let out = as_nobody(&d, &["start", "svc"]);
            assert!(
                String::from_utf8_lossy(&out.stderr)
                    .contains("Permission denied: only root may do that"),
                "{out:?}"
            );
        }
    }
}

/// Item 6: Ubuntu's flow, unchanged: `rc-sysinit` (stopped by any `runlevel`) runs
/// `telinit 2`, `rc` runs once per runlevel (`stop on runlevel [!$RUNLEVEL]`), services come
/// up on `runlevel [2345]`; a later `telinit 3 -e` moves on and keeps them.
#[test]
fn issue13_item6_ubuntu_rc_sysinit_flow() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    std::fs::create_dir(d.path("bin")).unwrap();
    std::os::unix::fs::symlink(OUTSETCTL, d.path("bin/telinit")).unwrap();
    d.write_job(
        "rc-sysinit",
        &format!("start on startup\nstop on runlevel\ntask\nexec {p}/bin/telinit \"${{DEFAULT_RUNLEVEL:-2}}\"\n"),
    );
    d.write_job(
        "rc",
        &format!(
            "start on runlevel [0123456]\nstop on runlevel [!$RUNLEVEL]\ntask\nexport RUNLEVEL\nexport PREVLEVEL\nexec sh -c 'echo rc $RUNLEVEL $PREVLEVEL $WHY >> {p}/rc'\n"
        ),
    );
    d.write_job(
        "svc",
        "start on runlevel [2345]\nstop on runlevel [!2345]\nexec sleep 600\n",
    );
    d.start(&[]);
    d.wait_status(&["svc"], "start/running");
    assert_eq!(d.wait_file("rc"), "rc 2 N\n");
    d.wait_status(&["rc-sysinit"], "stop/waiting");
    let out = d.ctl_ok(&["telinit", "-e", "WHY=admin", "3"]);
    assert_eq!(out, "");
    assert_eq!(d.wait_file("rc"), "rc 2 N\nrc 3 2 admin\n");
    assert!(d.status(&["svc"]).contains("start/running"));
    assert_eq!(d.ctl_ok(&["runlevel"]), "2 3\n");
}

/// Item 5: the power-off and reboot signals are PID 1's only: a supervisor ignores them (it
/// used to die of SIGUSR1's and SIGUSR2's default action) and its jobs keep running.
#[test]
fn issue13_item5_a_supervisor_ignores_the_power_signals() {
    let Some(mut d) = daemon(|d| {
        d.write_job("svc", "exec sleep 600\n");
    }) else {
        return;
    };
    d.ctl_ok(&["start", "svc"]);
    let pid = d.child.as_ref().unwrap().id().to_string();
    for sig in ["USR1", "USR2", "RTMIN+4", "RTMIN+15", "WINCH"] {
        let status = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
    d.wait_for("the signals to be read", Duration::from_secs(10), || {
        let err = d.stderr();
        // SIGUSR1 is Upstart's "join the bus now", in every mode.
        err.contains("SIGUSR1: no bus to join")
            && [12, 38, 49, 28]
                .iter()
                .all(|n| err.contains(&format!("signal {n} ignored")))
    });
    assert!(d.child.as_mut().unwrap().try_wait().unwrap().is_none());
    assert!(d.status(&["svc"]).contains("start/running"));
    assert!(!d.stderr().contains("going down"), "{}", d.stderr());
}
