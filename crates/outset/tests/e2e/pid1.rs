//! The daemon as PID 1 of a new PID namespace (a container's init).

use std::time::{Duration, Instant};

use crate::common::*;

/// The host PID of the daemon: the only child of the `unshare --fork` wrapper.
fn daemon_pid(wrapper: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "unshare has no child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Zombie children of `parent`.
fn zombies_of(parent: u32) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") && f.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            n += 1;
        }
    }
    n
}

#[test]
fn container_init_reaps_orphans_and_shuts_down_on_sigterm() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    // 100 grandchildren orphaned at once: each inner shell exits and leaves its sleep to init.
    d.write_job(
        "orphans",
        &format!(
            "start on startup\nexec sh -c 'for i in $(seq 100); do sh -c \"sleep 0.5 &\"; done; echo done > {p}/orphans.done; exec sleep 600'\n"
        ),
    );
    for name in ["svc1", "svc2"] {
        d.write_job(
            name,
            &format!(
                "start on startup\nexec sleep 600\npost-stop exec sh -c 'echo $RESULT $EXIT_SIGNAL > {p}/{name}.post'\n"
            ),
        );
    }
    d.start_under(&["unshare", "--pid", "--fork", "--mount-proc"], &[]);
    let wrapper = d.child.as_ref().unwrap().id();
    let init = daemon_pid(wrapper);
    // The socket accepts connections a moment before the start-up line is written.
    d.wait_for("the start-up line", Duration::from_secs(10), || {
        d.stderr().contains("Container mode")
    });
    d.wait_file("orphans.done");
    d.wait_status(&["svc1"], "start/running");
    // Every orphan ends after 0.5 s and is reaped by PID 1: none stays a zombie.
    d.wait_for("100 orphans reaped", Duration::from_secs(15), || {
        d.stderr().matches("reaped process").count() >= 100
    });
    assert_eq!(zombies_of(init), 0);

    // SIGTERM to a container's init: stop every job (post-stop included), then exit 0.
    // SAFETY of the test: `init` is the daemon this test started.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &init.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = d.child.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "init did not exit: {}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}\n{}", d.stderr());
    for name in ["svc1", "svc2"] {
        assert_eq!(d.wait_file(&format!("{name}.post")), "ok TERM\n");
    }
    assert!(d.stderr().contains("every job has stopped; exiting"));
}

/// Issue 9 item 18: the suite's check catches a daemon that outlives its test. Killing only
/// the `unshare` wrapper (what the harness used to do) leaves the namespace's init running;
/// the daemon's own cgroup shows it, and the harness's drop would fail the test.
#[test]
fn issue9_item18_a_daemon_left_behind_by_its_wrapper_is_caught() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.start_under(
        &["unshare", "--pid", "--fork", "--mount-proc"],
        &["--no-startup-event"],
    );
    let init = daemon_pid(d.child.as_ref().unwrap().id());
    // The old clean-up: the wrapper only.
    let mut wrapper = d.child.take().unwrap();
    wrapper.kill().unwrap();
    wrapper.wait().unwrap();
    let left = d.daemon_leftovers(Duration::from_millis(500));
    assert_eq!(left, vec![init], "the orphaned init is not seen");
    // Clean up what the old way left, so this test's own drop check passes.
    destroy_cgroup_tree(&d.daemon_cgroup);
    assert!(!pid_alive(init));
    assert!(d.daemon_leftovers(Duration::ZERO).is_empty());
}

/// Issue 13 items 5 and 7: busybox's `poweroff` (SIGUSR2) to the init of a PID namespace
/// is an orderly power-off: runlevel 0 (its `stop on runlevel [016]` job stops first, its
/// post-stop runs), every other job stopped, SIGTERM to a process left outside the jobs,
/// then `reboot(2)`, which in a PID namespace ends it with SIGINT.
#[test]
fn issue13_item5_sigusr2_to_a_namespace_init_powers_off_in_order() {
    use std::os::unix::process::ExitStatusExt;
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    let outside = d.daemon_cgroup.join("cgroup.procs").display().to_string();
    d.write_job(
        "svc-levels",
        &format!(
            "start on runlevel [2345]\nstop on runlevel [016]\nexec sleep 600\npost-stop exec sh -c 'echo levels >> {p}/order'\n"
        ),
    );
    // Leaves a process outside every job's cgroup: only the end's SIGTERM reaches it.
    d.write_job(
        "svc-stray",
        &format!(
            "start on startup\nscript\n  sh -c 'trap \"echo termed > {p}/stray; exit 0\" TERM; echo ready > {p}/stray.ready; while :; do sleep 0.1; done' &\n  echo $! > {outside}\n  echo always >> {p}/order.start\n  exec sleep 600\nend script\npost-stop exec sh -c 'echo always >> {p}/order'\n"
        ),
    );
    d.start_under(&["unshare", "--pid", "--fork", "--mount-proc"], &[]);
    let wrapper = d.child.as_ref().unwrap().id();
    let init = daemon_pid(wrapper);
    d.wait_file("stray.ready");
    d.wait_file("order.start");
    d.ctl_ok(&["telinit", "3"]);
    d.wait_status(&["svc-levels"], "start/running");

    send("USR2", init);
    let exit = wait_wrapper(&mut d);
    // reboot(2) with RB_POWER_OFF in a PID namespace: its init dies of SIGINT, which
    // `unshare` passes on (as its own death by the signal, or as 128+2 from a shell).
    assert!(
        exit.signal() == Some(2) || exit.code() == Some(130),
        "{exit:?}\n{}",
        d.stderr()
    );
    assert_eq!(d.wait_file("order"), "levels\nalways\n");
    assert_eq!(d.wait_file("stray"), "termed\n");
    let err = d.stderr();
    for line in [
        "system going down (power-off)",
        "emitting runlevel 0",
        "every job has stopped",
        "sending SIGTERM to every process left",
        "syncing filesystems",
        "power-off: calling reboot(2)",
    ] {
        assert!(err.contains(line), "{line}: {err}");
    }
    assert!(
        !err.contains("unmounting"),
        "a container never unmounts: {err}"
    );
}

/// Waits for the wrapper of a namespace init to end; its status.
fn wait_wrapper(d: &mut TestDaemon) -> std::process::ExitStatus {
    let mut child = d.child.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "init did not end: {}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send(sig: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Issue 13 item 5: the keyboard's and the power supply's signals to a PID 1 are events.
#[test]
fn issue13_item5_sigwinch_sigint_sigpwr_are_events() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    for event in ["kbdrequest", "control-alt-delete", "power-status-changed"] {
        d.write_job(
            event,
            &format!("start on {event}\ntask\nexec sh -c 'echo seen > {p}/{event}'\n"),
        );
    }
    d.start_under(
        &["unshare", "--pid", "--fork", "--mount-proc"],
        &["--no-startup-event"],
    );
    let init = daemon_pid(d.child.as_ref().unwrap().id());
    for (sig, event) in [
        ("WINCH", "kbdrequest"),
        ("INT", "control-alt-delete"),
        ("PWR", "power-status-changed"),
    ] {
        send(sig, init);
        assert_eq!(d.wait_file(event), "seen\n", "{sig}");
    }
}

/// Issue 13 item 5: systemd's `reboot -f` (SIGRTMIN+15) is immediate: no runlevel, no job
/// stopped (its post-stop never runs), then `reboot(2)`, which ends a PID namespace with
/// SIGHUP.
#[test]
fn issue13_item5_sigrtmin15_reboots_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    d.write_job(
        "svc",
        &format!("start on startup\nexec sleep 600\npost-stop exec sh -c 'echo ran > {p}/post'\n"),
    );
    d.start_under(&["unshare", "--pid", "--fork", "--mount-proc"], &[]);
    let init = daemon_pid(d.child.as_ref().unwrap().id());
    d.wait_status(&["svc"], "start/running");
    send("RTMIN+15", init);
    let exit = wait_wrapper(&mut d);
    assert!(
        exit.signal() == Some(1) || exit.code() == Some(129),
        "{exit:?}\n{}",
        d.stderr()
    );
    let err = d.stderr();
    assert!(err.contains("immediate reboot"), "{err}");
    assert!(err.contains("reboot: calling reboot(2)"), "{err}");
    assert!(!err.contains("emitting runlevel"), "{err}");
    assert!(!d.path("post").exists());
}

/// Issue 13 item 8: PID 1 whose socket path cannot be bound (a directory others can
/// write) says so and carries on with the abstract socket, which the client finds.
#[test]
fn issue13_item8_init_without_its_socket_path_still_answers() {
    use std::os::unix::fs::PermissionsExt;
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.write_job("svc", "start on startup\nexec sleep 600\n");
    let open = d.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    d.socket = open.join("control");
    d.spawn_under(&["unshare", "--pid", "--fork", "--mount-proc"], &[]);
    d.wait_for("the daemon to start", Duration::from_secs(10), || {
        d.stderr().contains("starting (Container mode")
    });
    assert!(d.stderr().contains("writable by others"), "{}", d.stderr());
    assert!(!d.socket.exists());
    d.wait_status(&["svc"], "start/running");
}
