//! `outsetctl` against the real daemon: Upstart's names and output, JSON, reload, restart
//! and configuration reloads. `check-config` is tested by case folders (`tests/cases/`).

use std::process::Command;
use std::time::Duration;

use crate::common::*;

#[test]
fn upstart_names_work_through_argv0() {
    let Some(d) = daemon(|d| {
        d.write_job("svc", "exec sleep 600\n");
        d.write_job("inst", "instance $N\nexec sleep 600\n");
    }) else {
        return;
    };
    let bin = d.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["initctl", "start", "stop", "status", "restart", "reload"] {
        std::os::unix::fs::symlink(OUTSETCTL, bin.join(name)).unwrap();
    }
    let run = |name: &str, args: &[&str]| {
        let out = Command::new(bin.join(name))
            .env("OUTSET_SOCKET", &d.socket)
            .env_remove("UPSTART_JOB")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run("start", &["svc"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("svc start/running, process "), "{out}");
    let (_, out, _) = run("status", &["svc"]);
    assert!(out.starts_with("svc start/running, process "), "{out}");
    let (_, out, _) = run("initctl", &["start", "inst", "N=a"]);
    assert!(out.starts_with("inst (a) start/running, process "), "{out}");
    let (code, _, err) = run("start", &["svc"]);
    assert_eq!(code, Some(1));
    assert_eq!(err, "start: Job is already running: svc\n");
    let (code, _, err) = run("stop", &["nope"]);
    assert_eq!(code, Some(1));
    assert_eq!(err, "stop: Unknown job: nope\n");
    let (code, _, err) = run("initctl", &["start", "inst"]);
    assert_eq!(code, Some(1));
    assert_eq!(err, "initctl: Unknown parameter: N\n");
    let (code, out, _) = run("stop", &["svc"]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "svc stop/waiting\n");
    let (_, out, _) = run("initctl", &["list"]);
    assert!(out.contains("svc stop/waiting\n"), "{out}");
    assert!(out.contains("inst (a) start/running, process "), "{out}");
}

#[test]
fn json_on_read_verbs() {
    let Some(d) = daemon(|d| d.write_job("svc", "exec sleep 600\n")) else {
        return;
    };
    d.ctl_ok(&["start", "svc"]);
    let v: serde_json::Value =
        serde_json::from_str(&d.ctl_ok(&["--json", "status", "svc"])).unwrap();
    assert_eq!(v[0]["job"], "svc");
    assert_eq!(v[0]["goal"], "start");
    assert_eq!(v[0]["state"], "running");
    assert_eq!(v[0]["processes"][0]["kind"], "main");
    // Issue 14 item 5: status names the file `console log` output goes to.
    assert_eq!(
        v[0]["log"].as_str().unwrap(),
        d.logdir.join("svc.log").to_str().unwrap()
    );
    let v: serde_json::Value = serde_json::from_str(&d.ctl_ok(&["--json", "list"])).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let v: serde_json::Value =
        serde_json::from_str(&d.ctl_ok(&["--json", "show-config", "--normalised", "svc"])).unwrap();
    assert!(v[0]["text"].as_str().unwrap().contains("exec sleep 600"));
    let text = d.ctl_ok(&["show-config", "--normalised", "svc"]);
    assert!(text.contains("exec sleep 600"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&d.ctl_ok(&["--json", "version"])).unwrap();
    assert!(
        v["line"]
            .as_str()
            .unwrap()
            .starts_with("init (upstart 1.13.2) outset ")
    );
}

#[test]
fn reload_signals_and_restart_keeps_the_environment() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "rl",
            &format!(
                "reload signal USR1\nscript\n  trap 'echo reloaded >> {p}/rl.out' USR1\n  \
                 echo \"up $X\" >> {p}/rl.out\n  while true; do sleep 0.05; done\nend script\n"
            ),
        );
    }) else {
        return;
    };
    let first = d.ctl_ok(&["start", "rl", "X=1"]);
    d.wait_for("rl up", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path("rl.out")).is_ok_and(|s| s.contains("up 1"))
    });
    d.ctl_ok(&["reload", "rl"]);
    d.wait_for("the reload signal", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path("rl.out")).is_ok_and(|s| s.contains("reloaded"))
    });
    let again = d.ctl_ok(&["restart", "rl"]);
    assert!(again.starts_with("rl start/running"), "{again}");
    assert_ne!(main_pid(&first), main_pid(&again));
    d.wait_for("rl up again with X=1", Duration::from_secs(10), || {
        std::fs::read_to_string(d.path("rl.out")).is_ok_and(|s| s.matches("up 1").count() == 2)
    });
}

#[test]
fn sighup_and_reload_configuration_reread_job_files() {
    let Some(mut d) = ({
        let Some(mount) = require_root_cgroup2() else {
            return;
        };
        Some(TestDaemon::new(&mount))
    }) else {
        return;
    };
    d.start(&["--no-startup-event"]);
    // Written while the daemon runs; inotify would see it too, so the reload is asked for
    // explicitly and its log line checked.
    d.write_job("one", "exec sleep 600\n");
    d.ctl_ok(&["reload-configuration"]);
    assert!(d.status(&["one"]).contains("stop/waiting"));
    assert!(d.stderr().contains("reloading configuration on request"));
    let pid = d.child.as_ref().unwrap().id();
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    d.wait_for("the SIGHUP reload", Duration::from_secs(10), || {
        d.stderr().contains("SIGHUP: reloading configuration")
    });
    assert!(
        d.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "daemon still runs"
    );
}
