//! Issue 9 items 1–3 end to end: a stop and a shutdown always end, whatever the jobs do.
//! Bounds are generous: they detect hangs, they do not measure speed.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Long enough for every stop below (kill timeouts of 1 s), short of a hang.
const BOUND: Duration = Duration::from_secs(30);

/// Sends SIGTERM to the daemon this test started and waits for it to exit.
fn terminate(d: &mut TestDaemon) -> ExitStatus {
    let mut child = d.child.take().unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_child(&mut child, "the daemon to exit after SIGTERM", d)
}

/// Waits for `child` within BOUND; on a hang, kills it (it is ours) and fails.
fn wait_child(child: &mut Child, what: &str, d: &TestDaemon) -> ExitStatus {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "timed out waiting for {what}; daemon stderr:\n{}",
                d.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `outsetctl ARGS…` that must finish within BOUND; returns its stdout.
fn ctl_bounded(d: &TestDaemon, args: &[&str]) -> String {
    let mut child = Command::new(OUTSETCTL)
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .env_remove("UPSTART_JOB")
        .env_remove("UPSTART_INSTANCE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_child(&mut child, &format!("outsetctl {args:?}"), d);
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "outsetctl {args:?}: {status:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn issue9_item1_shutdown_ends_when_stop_starts_job() {
    let Some(mut d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        // `a` takes a moment to stop, so an `emit` lands while the daemon shuts down.
        d.write_job(
            "a",
            "script\n  trap 'sleep 1; exit 0' TERM\n  while true; do sleep 0.1; done\nend script\n",
        );
        d.write_job(
            "b",
            &format!("start on stopped a\nexec sh -c 'touch {p}/b.ran; exec sleep 600'\n"),
        );
        d.write_job(
            "c",
            &format!("start on go\nexec sh -c 'touch {p}/c.ran; exec sleep 600'\n"),
        );
        d.write_job("r", "respawn\nexec sleep 600\n");
    }) else {
        return;
    };
    let a = main_pid(&d.ctl_ok(&["start", "a"])).unwrap();
    let r = main_pid(&d.ctl_ok(&["start", "r"])).unwrap();
    let mut child = d.child.take().unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // Events are still delivered while shutting down; they start nothing.
    d.wait_status(&["a"], "stop/");
    let _ = d.ctl(&["emit", "go"]);
    let status = wait_child(&mut child, "the daemon to exit after SIGTERM", &d);
    assert!(status.success(), "{status:?}\n{}", d.stderr());
    assert!(d.stderr().contains("every job has stopped; exiting"));
    assert!(
        !d.path("b.ran").exists(),
        "`stopped a` started b during shutdown"
    );
    assert!(
        !d.path("c.ran").exists(),
        "`emit go` started c during shutdown"
    );
    assert!(!pid_alive(a) && !pid_alive(r));
    assert!(d.cgroup_pids().is_empty());
}

#[test]
fn issue9_item2_start_in_pre_stop_cancels_stop_but_never_shutdown() {
    let Some(mut d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        let sock = d.socket.display().to_string();
        d.write_job(
            "p",
            &format!(
                "env OUTSET_SOCKET={sock}\nkill timeout 1\nexec sleep 600\n\
                 pre-stop exec {OUTSETCTL} start\n"
            ),
        );
        d.write_job(
            "w",
            &format!("start on started p\ntask\nexec sh -c 'echo x >> {p}/started.count'\n"),
        );
    }) else {
        return;
    };
    let main = main_pid(&d.ctl_ok(&["start", "p"])).unwrap();
    assert_eq!(d.wait_file("started.count"), "x\n");
    // The pre-stop's `start` cancels the stop: same main process, no second `started`.
    let out = ctl_bounded(&d, &["stop", "p"]);
    assert!(out.contains("start/running"), "{out}");
    assert_eq!(main_pid(&d.status(&["p"])), Some(main));
    assert!(pid_alive(main));
    // The daemon logs every event (`--debug`) before it answers the stop.
    let started = d.stderr().matches(r#"event started [("JOB", "p")"#).count();
    assert_eq!(started, 1, "a second `started`:\n{}", d.stderr());
    assert_eq!(d.wait_file("started.count"), "x\n");

    // A shutdown is never cancelled by it: the daemon exits and the job is gone.
    let status = terminate(&mut d);
    assert!(status.success(), "{status:?}\n{}", d.stderr());
    assert!(!pid_alive(main), "the job's process was left behind");
    assert!(d.cgroup_pids().is_empty());
}

#[test]
fn issue9_item3_hung_hooks_are_killed_and_stop_ends() {
    let Some(mut d) = daemon(|d| {
        // A pre-stop that sleeps forever: TERM ends it.
        d.write_job(
            "prestop",
            "kill timeout 1\nexec sleep 600\npre-stop exec sleep 600\n",
        );
        // A post-stop that ignores TERM: SIGKILL ends it.
        d.write_job(
            "poststop",
            "kill timeout 1\nexec sleep 600\n\
             post-stop exec sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'\n",
        );
        // A pre-start that never ends, and a post-start.
        d.write_job(
            "prestart",
            "kill timeout 1\nexec sleep 600\npre-start exec sleep 600\n",
        );
        d.write_job(
            "poststart",
            "kill timeout 1\nexec sleep 600\npost-start exec sleep 600\n",
        );
    }) else {
        return;
    };
    for job in ["prestop", "poststop"] {
        d.ctl_ok(&["start", job]);
        let out = ctl_bounded(&d, &["stop", job]);
        assert!(out.contains("stop/waiting"), "{job}: {out}");
    }
    assert!(d.cgroup_pids().is_empty(), "{:?}", d.cgroup_pids());
    let log = d.stderr();
    assert!(
        log.contains("pre-stop process") && log.contains("after the stop was asked for"),
        "{log}"
    );
    assert!(
        log.contains("post-stop process") && log.contains("SIGKILL"),
        "{log}"
    );

    // Hooks hung on the way up: a stop ends them too, and so does a shutdown.
    d.ctl_ok(&["start", "--no-wait", "prestart"]);
    d.wait_status(&["prestart"], "start/pre-start");
    let out = ctl_bounded(&d, &["stop", "prestart"]);
    assert!(out.contains("stop/waiting"), "{out}");
    d.ctl_ok(&["start", "--no-wait", "poststart"]);
    d.wait_status(&["poststart"], "start/post-start");
    d.ctl_ok(&["start", "--no-wait", "prestart"]);
    d.wait_status(&["prestart"], "start/pre-start");
    let status = terminate(&mut d);
    assert!(status.success(), "{status:?}\n{}", d.stderr());
    assert!(d.cgroup_pids().is_empty());
}

/// Issue 11 item 4: in a stop of many jobs, those that end at once are seen stopped while
/// others ignore SIGTERM, long before those reach their kill timeout: the lingering ones'
/// exits never hold the others' (however reaping is batched).
#[test]
fn issue11_item4_mass_stop_reaps_the_quick_while_others_linger() {
    const QUICK: usize = 80;
    const LINGERING: usize = 3;
    let Some(d) = daemon(|d| {
        for i in 0..QUICK {
            d.write_job(
                &format!("q{i:02}"),
                "start on go\nstop on halt\nexec sleep 600\n",
            );
        }
        for i in 0..LINGERING {
            d.write_job(
                &format!("l{i}"),
                "start on go\nstop on halt\nkill timeout 6\nscript\n  trap '' TERM\n  \
                 while true; do sleep 0.1; done\nend script\n",
            );
        }
    }) else {
        return;
    };
    ctl_bounded(&d, &["emit", "go"]);
    let count = |list: &str, prefix: char, state: &str| {
        list.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(state))
            .count()
    };
    let list = ctl_bounded(&d, &["list"]);
    assert_eq!(count(&list, 'q', "start/running"), QUICK, "{list}");
    assert_eq!(count(&list, 'l', "start/running"), LINGERING, "{list}");

    let halted = Instant::now();
    ctl_bounded(&d, &["emit", "--no-wait", "halt"]);
    let mut list = String::new();
    d.wait_for("the quick jobs to stop", BOUND, || {
        list = ctl_bounded(&d, &["list"]);
        count(&list, 'q', "stop/waiting") == QUICK
    });
    // Seen before the lingering jobs' kill timeout: their exits did not hold the others'.
    assert!(
        halted.elapsed() < Duration::from_secs(5),
        "quick jobs stopped only after {:?}",
        halted.elapsed()
    );
    assert_eq!(count(&list, 'l', "stop/waiting"), 0, "{list}");
    // The lingering ones end at their kill timeout.
    d.wait_for("the lingering jobs to be killed", BOUND, || {
        count(&ctl_bounded(&d, &["list"]), 'l', "stop/waiting") == LINGERING
    });
}
