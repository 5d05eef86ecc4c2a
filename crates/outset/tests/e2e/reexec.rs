//! Issue 15: stateful re-exec (`outsetctl reexec`, SIGTERM to init), the state's schema
//! fixtures, the safe switch, and adoption from the cgroup tree after a crash.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

/// `outsetctl --socket S ARGS…` from any thread.
fn ctl_at(socket: &Path, args: &[&str]) -> Output {
    Command::new(OUTSETCTL)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("UPSTART_JOB")
        .env_remove("UPSTART_INSTANCE")
        .output()
        .unwrap()
}

/// `list` as job → status line (respawning jobs, whose PIDs change, left out).
fn listing(d: &TestDaemon) -> BTreeMap<String, String> {
    d.ctl_ok(&["list"])
        .lines()
        .filter(|l| !l.starts_with("resp"))
        .map(|l| {
            let key = l.split(" start/").next().unwrap_or(l);
            let key = key.split(" stop/").next().unwrap_or(key);
            (key.to_string(), l.to_string())
        })
        .collect()
}

/// Asks for a re-exec and waits for the new image to answer.
pub fn reexec(d: &TestDaemon) {
    let before = d.stderr().matches("state taken over").count();
    d.ctl_ok(&["reexec"]);
    assert_eq!(
        d.stderr().matches("state taken over").count(),
        before + 1,
        "the reply came from the new image:\n{}",
        d.stderr()
    );
}

fn daemon_pid(d: &TestDaemon) -> u32 {
    d.child.as_ref().unwrap().id()
}

/// Issue 15 tests, first item: 200 jobs over every state → reexec → the same PIDs and
/// states, waiting clients answered, the half-true `and` completed by the next event, no
/// event lost or delivered twice, timers firing after the switch.
#[test]
fn issue15_200_jobs_in_mixed_states_survive_reexec() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    for i in 0..140 {
        d.write_job(&format!("svc{i:03}"), "start on go\nexec sleep 600\n");
    }
    d.write_job("inst", "instance $N\nexec sleep 600\n");
    d.write_job(
        "prewait",
        &format!("pre-start exec sh -c 'while [ ! -e {p}/pre.go ]; do sleep 0.05; done'\nexec sleep 600\n"),
    );
    for i in 0..15 {
        // pre-start in progress until the file appears.
        d.write_job(
            &format!("pre{i:02}"),
            &format!(
                "start on go\npre-start exec sh -c 'while [ ! -e {p}/pre.go ]; do sleep 0.05; done'\nexec sleep 600\n"
            ),
        );
    }
    for i in 0..10 {
        // Stopping inside a kill timeout: the process ignores SIGTERM.
        d.write_job(
            &format!("slow{i:02}"),
            &format!("kill timeout 10\nexec {TESTD} --ignore-term --pidfile {p}/slow{i:02}.pid\n"),
        );
    }
    for i in 0..10 {
        // Waiting for readiness: READY=1 comes a while later.
        d.write_job(
            &format!("ready{i:02}"),
            &format!("expect notify\nexec {TESTD} --notify --notify-delay-ms 6000\n"),
        );
    }
    for i in 0..5 {
        // Respawning under a limit: exits every 300 ms.
        d.write_job(
            &format!("resp{i}"),
            "start on go\nrespawn\nrespawn limit 1000 60\nexec sleep 0.3\n",
        );
    }
    d.write_job("half", "start on a and b\nexec sleep 600\n");
    d.write_job(
        "count",
        &format!("start on a or b\ntask\nexec sh -c 'echo $UPSTART_EVENTS >> {p}/count'\n"),
    );
    d.start(&["--no-startup-event"]);
    d.ctl_ok(&["emit", "--no-wait", "go"]);
    for i in 0..20 {
        d.ctl_ok(&["start", "inst", &format!("N={i}")]);
    }
    for i in 0..10 {
        d.ctl_ok(&["start", &format!("slow{i:02}")]);
        pidfile(&d, &format!("slow{i:02}.pid"));
        d.ctl_ok(&["stop", "--no-wait", &format!("slow{i:02}")]);
    }
    d.wait_status(&["svc139"], "start/running");
    d.wait_status(&["pre14"], "start/pre-start");
    // A blocked emit with its client waiting, and a start waiting on pre-start.
    let socket = d.socket.clone();
    let emit_a = std::thread::spawn(move || ctl_at(&socket, &["emit", "a"]));
    let socket = d.socket.clone();
    let start_pre = std::thread::spawn(move || ctl_at(&socket, &["start", "prewait"]));
    d.wait_file("count");
    d.wait_status(&["prewait"], "start/pre-start");
    for i in 0..10 {
        d.ctl_ok(&["start", "--no-wait", &format!("ready{i:02}")]);
    }
    let before = listing(&d);
    assert!(before.len() >= 190, "{}", before.len());
    assert!(
        before["slow00"].contains("stop/killed"),
        "{}",
        before["slow00"]
    );
    assert!(
        before["ready00"].contains("start/spawned"),
        "{}",
        before["ready00"]
    );
    assert!(before["half"].contains("stop/waiting"));
    let pid = daemon_pid(&d);

    reexec(&d);
    assert!(pid_alive(pid), "the same process");
    assert_eq!(listing(&d), before, "the same PIDs and states");

    // The next event completes the `and`; the blocked emit's client is answered.
    d.ctl_ok(&["emit", "b"]);
    let out = emit_a.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(d.status(&["half"]).contains("start/running"));
    // The start waiting on pre-start is answered once it ends.
    std::fs::write(d.path("pre.go"), "").unwrap();
    let out = start_pre.join().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("prewait start/running"),
        "{out:?}"
    );
    // Readiness arrives on the notify socket the new image took over.
    for i in 0..10 {
        d.wait_status(&[&format!("ready{i:02}")], "start/running");
    }
    // The kill timeouts still fire: every slow job ends up stopped.
    for i in 0..10 {
        let job = format!("slow{i:02}");
        d.wait_for(&format!("{job} killed"), Duration::from_secs(40), || {
            d.status(&[&job]).contains("stop/waiting")
        });
    }
    for i in 0..5 {
        let s = d.status(&[&format!("resp{i}")]);
        assert!(s.contains("start/"), "still respawning: {s}");
    }
    // Each event reached the task once: `a`, then `b`.
    d.wait_for("two counted events", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path("count")).is_ok_and(|c| c.lines().count() >= 2)
    });
    assert_eq!(std::fs::read_to_string(d.path("count")).unwrap(), "a\nb\n");
}

/// Issue 15 item 3: a client's open connection survives the switch: a request half sent
/// before it is completed after it, and further requests on the same connection are
/// answered by the new image.
#[test]
fn issue15_item3_an_open_connection_keeps_working_across_reexec() {
    use std::io::{BufRead, BufReader, Write};
    let Some(d) = daemon(|d| d.write_job("svc", "exec sleep 600\n")) else {
        return;
    };
    d.ctl_ok(&["start", "svc"]);
    let stream = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    w.write_all(b"{\"v\":1,\"cmd\":\"status\",\"job\":\"svc\"}\n")
        .unwrap();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("running"), "{line}");
    // Half a request, read by the old image before the switch.
    w.write_all(b"{\"v\":1,\"cmd\":\"sta").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    reexec(&d);
    w.write_all(b"tus\",\"job\":\"svc\"}\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(
        line.contains("running"),
        "the half request completed: {line}"
    );
    w.write_all(b"{\"v\":1,\"cmd\":\"version\"}\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("version"), "{line}");
}

/// Issue 15 tests: re-exec repeated with jobs exiting meanwhile (10 times here; the
/// `reexec` benchmark runs 50).
#[test]
fn issue15_reexec_loop_with_jobs_exiting() {
    let Some(d) = daemon(|d| {
        for i in 0..20 {
            d.write_job(&format!("svc{i:02}"), "exec sleep 600\n");
        }
        for i in 0..3 {
            d.write_job(
                &format!("resp{i}"),
                "respawn\nrespawn limit 1000 60\nexec sleep 0.1\n",
            );
        }
        d.write_job("short", "instance $N\nexec sleep 0.2\n");
    }) else {
        return;
    };
    for i in 0..20 {
        d.ctl_ok(&["start", &format!("svc{i:02}")]);
    }
    for i in 0..3 {
        d.ctl_ok(&["start", &format!("resp{i}")]);
    }
    let before = listing(&d);
    let pid = daemon_pid(&d);
    for round in 0..10 {
        for n in 0..3 {
            d.ctl_ok(&["start", "--no-wait", "short", &format!("N={round}-{n}")]);
        }
        reexec(&d);
        assert!(pid_alive(pid));
        let now: BTreeMap<_, _> = listing(&d)
            .into_iter()
            .filter(|(k, _)| k.starts_with("svc"))
            .collect();
        let svc: BTreeMap<_, _> = before
            .iter()
            .filter(|(k, _)| k.starts_with("svc"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(now, svc, "round {round}");
    }
    // Every short instance ended and was seen to end: none is left behind.
    d.wait_for("short instances to end", Duration::from_secs(15), || {
        !d.ctl_ok(&["list"]).contains("short (")
    });
    for i in 0..3 {
        assert!(d.status(&[&format!("resp{i}")]).contains("start/"));
    }
}

/// Issue 15 item 6: a missing, non-executable or state-refusing target leaves the old
/// image running, and the client hears why.
#[test]
fn issue15_item6_broken_or_missing_binary_leaves_the_old_image() {
    let Some(d) = daemon(|d| d.write_job("svc", "exec sleep 600\n")) else {
        return;
    };
    d.ctl_ok(&["start", "svc"]);
    let before = d.status(&["svc"]);
    let pid = daemon_pid(&d);
    let broken = d.path("broken");
    std::fs::write(&broken, "#!/bin/sh\necho cannot read that >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let plain = d.path("plain");
    std::fs::write(&plain, "").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (target, why) in [
        ("/nonexistent/outset".to_string(), "No such file"),
        (plain.display().to_string(), "not executable"),
        (broken.display().to_string(), "cannot read that"),
    ] {
        let out = d.ctl(&["reexec", "--binary", &target]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{target}: {err}");
        assert!(pid_alive(pid));
        assert_eq!(d.status(&["svc"]), before);
    }
    assert!(!d.stderr().contains("state taken over"));
    // The old image still works in full: a real re-exec goes through afterwards.
    reexec(&d);
    assert_eq!(d.status(&["svc"]), before);
}

/// Issue 15 tests: PID 1 of a PID namespace re-executes on SIGTERM (with
/// `--sigterm-reexec`, as init does by default) and keeps its jobs.
#[test]
fn issue15_pid1_in_a_pid_namespace_reexecs_on_sigterm() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    for name in ["a", "b"] {
        d.write_job(name, "start on startup\nexec sleep 600\n");
    }
    d.start_under(
        &["unshare", "--pid", "--fork", "--mount-proc"],
        &["--sigterm-reexec"],
    );
    let wrapper = d.child.as_ref().unwrap().id();
    let init = children_of(wrapper)[0];
    d.wait_status(&["b"], "start/running");
    let before = d.ctl_ok(&["list"]);
    let status = Command::new("kill")
        .args(["-TERM", &init.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    d.wait_for("the new image", Duration::from_secs(15), || {
        d.stderr().contains("state taken over")
    });
    assert!(pid_alive(init), "PID 1 is the same process");
    assert_eq!(d.ctl_ok(&["list"]), before);
    assert!(d.stderr().contains("Container mode"));
}

/// Issue 15 item 5: a daemon killed with SIGKILL and started again on the same cgroup root
/// adopts the running jobs: none starts twice, and they stop as any other.
#[test]
fn issue15_item5_sigkilled_daemon_restarted_adopts_running_jobs() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    for name in ["a", "b", "c"] {
        d.write_job(
            name,
            &format!(
                "start on startup\nexec sh -c 'echo $$ >> {p}/{name}.starts; exec sleep 600'\n"
            ),
        );
    }
    d.write_job("inst", "instance $N\nexec sleep 600\n");
    d.start(&[]);
    d.wait_status(&["c"], "start/running");
    d.ctl_ok(&["start", "inst", "N=x/1"]);
    let before = d.ctl_ok(&["list"]);
    d.kill_daemon();
    d.start(&[]);
    assert_eq!(d.ctl_ok(&["list"]), before, "{}", d.stderr());
    assert!(d.stderr().contains("adopted inst (x/1)"), "{}", d.stderr());
    for name in ["a", "b", "c"] {
        let starts = std::fs::read_to_string(d.path(&format!("{name}.starts"))).unwrap();
        assert_eq!(starts.lines().count(), 1, "{name} started once: {starts}");
    }
    // Adopted processes that are not children are watched through pidfds, made again
    // after a re-exec; an adopted job stops, and its end is seen.
    reexec(&d);
    stop_leaves_nothing_of(&d, "a");
    d.ctl_ok(&["start", "a"]);
    d.wait_for("a started again", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path("a.starts")).is_ok_and(|s| s.lines().count() == 2)
    });
}

fn stop_leaves_nothing_of(d: &TestDaemon, job: &str) {
    let main = main_pid(&d.status(&[job])).unwrap();
    // Not waited for by the client: a stop whose end is never seen must fail the test,
    // not hang it.
    d.ctl_ok(&["stop", "--no-wait", job]);
    d.wait_for("the adopted job to stop", Duration::from_secs(20), || {
        !pid_alive(main) && d.status(&[job]).contains("stop/waiting")
    });
}

/// Runs `outset --check-state 3` on a file.
fn check_state(file: &Path) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"exec 3<"$0"; exec "$1" --check-state 3"#)
        .arg(file)
        .arg(OUTSET)
        .output()
        .unwrap()
}

/// Issue 15 item 4: a state fixture of every schema version loads; one from a newer schema
/// is refused.
#[test]
fn issue15_item4_state_fixtures_of_every_schema_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("state-v") && name.ends_with(".json")) {
            continue;
        }
        seen += 1;
        let out = check_state(&e.path());
        assert!(out.status.success(), "{name}: {out:?}");
    }
    assert!(seen >= 1, "no fixture in {}", dir.display());
    let v1 = std::fs::read_to_string(dir.join("state-v1.json")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let newer = tmp.path().join("newer.json");
    std::fs::write(&newer, v1.replacen("\"schema\": 1", "\"schema\": 99", 1)).unwrap();
    let out = check_state(&newer);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newer"),
        "{out:?}"
    );
}

/// Issue 15 item 4: a state from a newer schema is refused at start-up: kept in a file,
/// and the running jobs recovered from the cgroup tree.
#[test]
fn issue15_item4_newer_state_is_refused_and_jobs_recovered_from_cgroups() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    for name in ["a", "b"] {
        d.write_job(name, "start on startup\nexec sleep 600\n");
    }
    d.start(&[]);
    d.wait_status(&["b"], "start/running");
    let before = d.ctl_ok(&["list"]);
    d.kill_daemon();
    let v1 = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state-v1.json"),
    )
    .unwrap();
    let newer = d.path("newer.json");
    std::fs::write(&newer, v1.replacen("\"schema\": 1", "\"schema\": 99", 1)).unwrap();
    // The state on descriptor 3, as a re-exec would hand it over.
    d.start_under(
        &[
            "sh",
            "-c",
            r#"exec 3<"$0"; exec "$@""#,
            &newer.display().to_string(),
        ],
        &["--user", "--state-fd", "3"],
    );
    // `sh` execs the daemon: it is the child itself, not a wrapper.
    d.wrapped = false;
    assert_eq!(d.ctl_ok(&["list"]), before, "{}", d.stderr());
    assert!(
        d.stderr().contains("re-exec state refused"),
        "{}",
        d.stderr()
    );
    let kept = d.socket.with_file_name("outset-state.refused.json");
    assert!(
        std::fs::read_to_string(kept)
            .unwrap()
            .contains("\"schema\": 99")
    );
}
