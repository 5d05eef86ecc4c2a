//! End-to-end job lifecycle: the real daemon driven by the real `outsetctl`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn env_file(d: &TestDaemon, rel: &str) -> Vec<String> {
    d.wait_file(rel).lines().map(str::to_string).collect()
}

#[test]
fn events_match_positional_named_negated_and_glob() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        for (name, cond) in [
            ("pos", "foo bar"),
            ("kv", "foo A=1"),
            ("ne", "foo B!=x"),
            ("glob", "foo C=ab*"),
            ("class", "foo C=[!z]b?"),
        ] {
            d.write_job(
                name,
                &format!("start on {cond}\ntask\nexec sh -c 'echo run >> {p}/{name}.count'\n"),
            );
        }
    }) else {
        return;
    };
    d.ctl_ok(&["emit", "foo", "X=bar", "A=1", "B=y", "C=abc"]);
    for name in ["pos", "kv", "ne", "glob", "class"] {
        assert_eq!(d.wait_file(&format!("{name}.count")), "run\n", "{name}");
    }
    // None of them matches this one; B is absent from the next, so `B!=x` must not match.
    d.ctl_ok(&["emit", "foo", "X=baz", "A=2", "B=x", "C=zzz"]);
    d.ctl_ok(&["emit", "foo", "X=baz"]);
    for name in ["pos", "kv", "ne", "glob", "class"] {
        assert_eq!(d.wait_file(&format!("{name}.count")), "run\n", "{name}");
    }
}

#[test]
fn partial_and_waits_for_both_events() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "ab",
            &format!("start on a and b\ntask\nexec sh -c 'env > {p}/ab.env'\n"),
        );
    }) else {
        return;
    };
    let mut emit_a = Command::new(OUTSETCTL)
        .arg("--socket")
        .arg(&d.socket)
        .args(["emit", "a", "FROM_A=1"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        emit_a.try_wait().unwrap().is_none(),
        "emit a returned before b"
    );
    assert!(!d.path("ab.env").exists());
    d.ctl_ok(&["emit", "b", "FROM_B=2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = emit_a.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "emit a never returned");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let env = env_file(&d, "ab.env");
    assert!(env.contains(&"FROM_A=1".to_string()), "{env:?}");
    assert!(env.contains(&"FROM_B=2".to_string()), "{env:?}");
    assert!(env.contains(&"UPSTART_EVENTS=a b".to_string()), "{env:?}");
    assert!(env.contains(&"UPSTART_JOB=ab".to_string()), "{env:?}");
}

#[test]
fn starting_blocks_until_the_jobs_it_starts_have_settled() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "b",
            &format!("start on starting a\ntask\nexec sh -c 'sleep 0.3; touch {p}/b.done'\n"),
        );
        d.write_job(
            "a",
            &format!("task\npre-start exec test -e {p}/b.done\nexec touch {p}/a.done\n"),
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "a"]);
    assert!(
        d.path("a.done").exists(),
        "a's pre-start ran before b finished"
    );
}

#[test]
fn stopping_blocks_until_the_jobs_it_stops_are_stopped() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "b",
            &format!(
                "start on started a\nstop on stopping a\nexec sleep 1000\n\
                 post-stop exec sh -c 'sleep 0.3; touch {p}/b.stopped'\n"
            ),
        );
        d.write_job(
            "a",
            &format!(
                "script\n  trap 'test -e {p}/b.stopped && touch {p}/a.saw; exit 0' TERM\n  \
                 while :; do sleep 0.1; done\nend script\n"
            ),
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "a"]);
    d.wait_status(&["b"], "start/running");
    d.ctl_ok(&["stop", "a"]);
    assert!(d.path("b.stopped").exists());
    d.wait_for("a to see b stopped", Duration::from_secs(5), || {
        d.path("a.saw").exists()
    });
}

/// The env of every `stopped` event, recorded by a watcher instance per job.
fn watcher(d: &TestDaemon) {
    let p = d.dir.path().display().to_string();
    d.write_job(
        "watch",
        &format!(
            "start on stopped JOB=f*\ninstance $JOB\ntask\n\
             exec sh -c 'env | grep -E \"^(JOB|INSTANCE|RESULT|PROCESS|EXIT_STATUS|EXIT_SIGNAL)=\" | sort > {p}/$JOB.stopped'\n"
        ),
    );
}

fn stopped_env(d: &TestDaemon, job: &str) -> String {
    d.wait_file(&format!("{job}.stopped"))
}

#[test]
fn stopped_env_on_success_and_every_failure_kind() {
    let Some(d) = daemon(|d| {
        watcher(d);
        d.write_job("fok", "task\nexec true\n");
        d.write_job("fexit", "task\nexec sh -c 'exit 3'\n");
        d.write_job("fsig", "task\nexec sh -c 'kill -SEGV $$'\n");
        d.write_job("fmissing", "task\nexec /nonexistent/outset-binary\n");
        d.write_job(
            "fshell",
            "task\nexec /nonexistent/outset-binary > /dev/null\n",
        );
        d.write_job("fpre", "task\npre-start exec false\nexec true\n");
        d.write_job("fpost", "task\nexec true\npost-stop exec false\n");
        d.write_job(
            "fignored",
            "exec sleep 1000\npost-start exec false\npre-stop exec false\n",
        );
    }) else {
        return;
    };
    let _ = d.ctl(&["start", "fok"]);
    assert_eq!(stopped_env(&d, "fok"), "INSTANCE=\nJOB=fok\nRESULT=ok\n");
    let _ = d.ctl(&["start", "fexit"]);
    assert_eq!(
        stopped_env(&d, "fexit"),
        "EXIT_STATUS=3\nINSTANCE=\nJOB=fexit\nPROCESS=main\nRESULT=failed\n"
    );
    let _ = d.ctl(&["start", "fsig"]);
    assert_eq!(
        stopped_env(&d, "fsig"),
        "EXIT_SIGNAL=SEGV\nINSTANCE=\nJOB=fsig\nPROCESS=main\nRESULT=failed\n"
    );
    let _ = d.ctl(&["start", "fmissing"]);
    assert_eq!(
        stopped_env(&d, "fmissing"),
        "INSTANCE=\nJOB=fmissing\nPROCESS=main\nRESULT=failed\n"
    );
    let _ = d.ctl(&["start", "fshell"]);
    assert_eq!(
        stopped_env(&d, "fshell"),
        "EXIT_STATUS=127\nINSTANCE=\nJOB=fshell\nPROCESS=main\nRESULT=failed\n"
    );
    let _ = d.ctl(&["start", "fpre"]);
    assert_eq!(
        stopped_env(&d, "fpre"),
        "EXIT_STATUS=1\nINSTANCE=\nJOB=fpre\nPROCESS=pre-start\nRESULT=failed\n"
    );
    let _ = d.ctl(&["start", "fpost"]);
    assert_eq!(
        stopped_env(&d, "fpost"),
        "EXIT_STATUS=1\nINSTANCE=\nJOB=fpost\nPROCESS=post-stop\nRESULT=failed\n"
    );
    let st = d.ctl_ok(&["start", "fignored"]);
    assert!(st.contains("start/running"), "{st}");
    d.ctl_ok(&["stop", "fignored"]);
    assert_eq!(
        stopped_env(&d, "fignored"),
        "INSTANCE=\nJOB=fignored\nRESULT=ok\n"
    );
}

#[test]
fn post_stop_sees_how_main_ended() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "ps",
            &format!(
                "exec sh -c 'exit 7'\npost-stop exec sh -c 'echo \"$RESULT $PROCESS $EXIT_STATUS\" > {p}/ps.out'\n"
            ),
        );
    }) else {
        return;
    };
    let _ = d.ctl(&["start", "ps"]);
    assert_eq!(d.wait_file("ps.out"), "failed main 7\n");
}

#[test]
fn respawn_normal_exit_and_respawn_limit() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "resp",
            &format!(
                "respawn\nrespawn limit 3 60\nexec sh -c 'echo run >> {p}/resp.count; sleep 0.1; exit 1'\n"
            ),
        );
        d.write_job(
            "normal",
            &format!("respawn\nnormal exit 0 TERM\nexec sh -c 'echo run >> {p}/normal.count'\n"),
        );
    }) else {
        return;
    };
    let _ = d.ctl(&["start", "--no-wait", "resp"]);
    d.wait_status(&["resp"], "stop/waiting");
    let runs = d.wait_file("resp.count").lines().count();
    assert_eq!(runs, 4, "first run plus three respawns");
    assert!(
        d.stderr().contains("respawning too fast, stopped"),
        "{}",
        d.stderr()
    );

    let _ = d.ctl(&["start", "normal"]);
    d.wait_status(&["normal"], "stop/waiting");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.wait_file("normal.count"), "run\n");
}

#[test]
fn kill_timeout_ends_a_job_that_ignores_term() {
    let Some(d) = daemon(|d| {
        d.write_job(
            "stubborn",
            &format!("kill timeout 1\nexec {TESTD} --ignore-term\n"),
        );
    }) else {
        return;
    };
    let st = d.ctl_ok(&["start", "stubborn"]);
    let pid = main_pid(&st).unwrap();
    // Give the fake daemon time to re-exec itself with TERM ignored.
    std::thread::sleep(Duration::from_millis(300));
    let out = d.ctl_ok(&["stop", "stubborn"]);
    assert!(out.contains("stop/waiting"), "{out}");
    assert!(!pid_alive(pid));
    assert!(d.cgroup_pids().is_empty());
}

#[test]
fn pre_start_calling_stop_cancels_the_start() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        // Upstart's idiom: `stop` with no job inside the job's own pre-start.
        d.write_job(
            "cancel",
            &format!(
                "pre-start script\n  {OUTSETCTL} --socket {p}/run/control.sock stop\n  echo ok > {p}/stop.ok\nend script\n\
                 exec touch {p}/cancel.ran\n"
            ),
        );
    }) else {
        return;
    };
    let out = d.ctl(&["start", "cancel"]);
    assert!(
        !out.status.success(),
        "start reports the cancelled start: {out:?}"
    );
    d.wait_status(&["cancel"], "stop/waiting");
    assert_eq!(
        d.wait_file("stop.ok"),
        "ok\n",
        "the stop inside pre-start succeeded"
    );
    assert!(!d.path("cancel.ran").exists());
}

#[test]
fn new_changed_and_removed_job_files_apply_without_reload() {
    let Some(d) = daemon(|_| {}) else {
        return;
    };
    d.write_job("late", "exec sleep 1000\n");
    d.wait_for("late to appear", Duration::from_secs(10), || {
        d.status(&["late"]).contains("stop/waiting")
    });
    // Atomic rename of a new file.
    let tmp = d.path("renamed.tmp");
    std::fs::write(&tmp, "exec sleep 1000\n").unwrap();
    std::fs::rename(&tmp, d.confdir.join("renamed.conf")).unwrap();
    d.wait_for("renamed to appear", Duration::from_secs(10), || {
        d.status(&["renamed"]).contains("stop/waiting")
    });
    // An override with `manual` keeps the job from starting on its event.
    let p = d.dir.path().display().to_string();
    d.write_job(
        "auto",
        &format!("start on go\ntask\nexec sh -c 'echo ran > {p}/auto.ran'\n"),
    );
    std::fs::write(d.confdir.join("auto.override"), "manual\n").unwrap();
    d.wait_for("auto to appear", Duration::from_secs(10), || {
        d.status(&["auto"]).contains("stop/waiting")
    });
    // Give the override's inotify event time to land before the event is emitted.
    std::thread::sleep(Duration::from_millis(300));
    d.ctl_ok(&["emit", "go"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!d.path("auto.ran").exists());
    std::fs::remove_file(d.confdir.join("auto.override")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.ctl_ok(&["emit", "go"]);
    d.wait_file("auto.ran");
    // Removal.
    std::fs::remove_file(d.confdir.join("late.conf")).unwrap();
    d.wait_for("late to go", Duration::from_secs(10), || {
        d.status(&["late"]).contains("Unknown job")
    });
    // A broken file is reported with file:line:column and the others keep working.
    d.write_job("broken", "exec true\nfrobnicate now\n");
    d.wait_for(
        "the parse error to be logged",
        Duration::from_secs(10),
        || d.stderr().contains("broken.conf:2:1"),
    );
    assert!(d.status(&["renamed"]).contains("stop/waiting"));
}

#[test]
fn running_instance_keeps_its_old_definition_until_it_stops() {
    let Some(d) = daemon(|d| {
        d.write_job("keep", "exec sleep 1000\n");
    }) else {
        return;
    };
    let st = d.ctl_ok(&["start", "keep"]);
    let pid = main_pid(&st).unwrap();
    d.write_job("keep", "exec sleep 2000\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(main_pid(&d.status(&["keep"])), Some(pid));
    d.ctl_ok(&["stop", "keep"]);
    let st = d.ctl_ok(&["start", "keep"]);
    let pid2 = main_pid(&st).unwrap();
    let cmd = std::fs::read_to_string(format!("/proc/{pid2}/cmdline")).unwrap();
    assert!(cmd.contains("2000"), "{cmd:?}");
    d.ctl_ok(&["stop", "keep"]);
}

/// Upstart bug 447654: `start on started a and started b` fires again when b restarts while a
/// keeps running, because job-state operands are levels, not latched edges.
#[test]
fn and_of_job_states_fires_again_when_one_side_restarts() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job("a", "exec sleep 1000\n");
        d.write_job("b", "exec sleep 1000\n");
        d.write_job(
            "c",
            &format!(
                "start on started a and started b\ntask\nexec sh -c 'echo run >> {p}/c.count'\n"
            ),
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "a"]);
    d.ctl_ok(&["start", "b"]);
    d.wait_for("c to run once", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path("c.count"))
            .map(|s| s.lines().count())
            .ok()
            == Some(1)
    });
    d.ctl_ok(&["stop", "b"]);
    d.ctl_ok(&["start", "b"]);
    d.wait_for("c to run again", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path("c.count"))
            .map(|s| s.lines().count())
            .ok()
            == Some(2)
    });
    d.ctl_ok(&["stop", "a"]);
    d.ctl_ok(&["stop", "b"]);
}

/// The boot flow from the design brief, with boot-services failing.
#[test]
fn boot_flow_with_failsafe() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    let log = |name: &str| format!("exec sh -c 'echo {name} >> {p}/boot.log'");
    d.write_job(
        "udev",
        &format!("start on startup\ntask\n{}\n", log("udev")),
    );
    d.write_job(
        "startup",
        &format!("start on startup\ntask\n{}\n", log("startup")),
    );
    d.write_job(
        "boot-services",
        // It fails before it runs, so `started boot-services` never comes.
        &format!("start on stopped startup\npre-start exec sh -c 'echo boot-services >> {p}/boot.log; exit 1'\nexec sleep 60\n"),
    );
    d.write_job(
        "system-services",
        &format!(
            "start on started boot-services\ntask\n{}\n",
            log("system-services")
        ),
    );
    d.write_job(
        "late",
        &format!("start on starting system-services\ntask\n{}\n", log("late")),
    );
    d.write_job(
        "failsafe-delay",
        &format!(
            "start on startup\ntask\nexec sh -c 'sleep 0.5; echo failsafe-delay >> {p}/boot.log'\n"
        ),
    );
    d.write_job(
        "failsafe",
        &format!(
            "start on starting system-services or stopped failsafe-delay\ntask\n{}\n",
            log("failsafe")
        ),
    );
    d.start(&[]);
    d.wait_for("failsafe to run", Duration::from_secs(15), || {
        std::fs::read_to_string(d.path("boot.log"))
            .map(|s| s.contains("failsafe\n"))
            .unwrap_or(false)
    });
    let log = std::fs::read_to_string(d.path("boot.log")).unwrap();
    for name in [
        "udev",
        "startup",
        "boot-services",
        "failsafe-delay",
        "failsafe",
    ] {
        assert!(log.lines().any(|l| l == name), "{name} missing from {log}");
    }
    // boot-services failed, so `started boot-services` never came.
    assert!(d.status(&["boot-services"]).contains("stop/waiting"));
    assert!(!log.lines().any(|l| l == "system-services"), "{log}");
    assert!(!log.lines().any(|l| l == "late"), "{log}");
}

#[test]
fn boot_flow_success_orders_late_services() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    let log = |name: &str| format!("exec sh -c 'echo {name} >> {p}/boot.log'");
    d.write_job(
        "startup",
        &format!("start on startup\ntask\n{}\n", log("startup")),
    );
    d.write_job("boot-services", "start on stopped startup\nexec sleep 60\n");
    d.write_job(
        "system-services",
        &format!(
            "start on started boot-services\ntask\n{}\n",
            log("system-services")
        ),
    );
    d.write_job(
        "late",
        &format!("start on starting system-services\ntask\n{}\n", log("late")),
    );
    d.start(&[]);
    d.wait_for("system-services to run", Duration::from_secs(15), || {
        std::fs::read_to_string(d.path("boot.log"))
            .map(|s| s.contains("system-services\n"))
            .unwrap_or(false)
    });
    let log = std::fs::read_to_string(d.path("boot.log")).unwrap();
    assert_eq!(log, "startup\nlate\nsystem-services\n");
    assert!(d.status(&["boot-services"]).contains("start/running"));
}
