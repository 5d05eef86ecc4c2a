//! Hostile local input against the Linux layer (issue 10): another uid squatting notify
//! socket names, and pid files naming processes outside the job.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// A process the test started, killed and reaped when the test ends (even on failure).
struct Owned(Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 10 item 7: uid 65534 binds every notify socket name the old scheme
/// (`\0outset/<daemon pid>/notify/N`) would pick; an `expect notify` job still starts.
#[test]
fn issue10_item7_squatted_notify_names_do_not_block_a_start() {
    let Some(d) = daemon(|d| {
        d.write_job("ready", &format!("expect notify\nexec {TESTD} --notify\n"));
    }) else {
        return;
    };
    let daemon_pid = d.child.as_ref().unwrap().id();
    // The squatter: unprivileged, holding 4000 names, then waiting to be killed.
    let script = "import os, resource, socket, sys\n\
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n\
        held = []\n\
        for n in range(4000):\n\
        \x20   s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
        \x20   s.bind('\\0outset/%s/notify/%d' % (sys.argv[1], n))\n\
        \x20   held.append(s)\n\
        print('held', len(held), os.getuid(), flush=True)\n\
        sys.stdin.read()\n";
    let mut squatter = Owned(
        Command::new("python3")
            .args(["-c", script, &daemon_pid.to_string()])
            .uid(65534)
            .gid(65534)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed for this test"),
    );
    let mut line = String::new();
    BufReader::new(squatter.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held 4000 65534", "the squatter did not bind");

    let out = d.ctl_ok(&["start", "ready"]);
    assert!(out.starts_with("ready start/running"), "{out}");
    assert!(
        !d.stderr().contains("Address already in use"),
        "{}",
        d.stderr()
    );
    stop_leaves_nothing(&d, "ready");
}

/// Issue 10 item 9: a root-owned pid file naming an unrelated process (a stale file from an
/// earlier run, the PID since reused) is reported and ignored: that process is never adopted
/// nor signalled, and start and stop both end.
#[test]
fn issue10_item9_stale_pid_file_naming_an_outsider_is_ignored() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    let outsider = Owned(Command::new("sleep").arg("300").spawn().unwrap());
    let outsider_pid = outsider.0.id();
    std::fs::write(d.path("stale.pid"), format!("{outsider_pid}\n")).unwrap();
    d.write_job(
        "stale",
        &format!("expect fork\nstart timeout 2\npid file {p}/stale.pid\nexec {TESTD} --forks 1\n"),
    );
    d.start(&["--no-startup-event"]);

    let t = Instant::now();
    let out = d.ctl_ok(&["start", "stale"]);
    assert!(out.starts_with("stale start/running"), "{out}");
    let main = main_pid(&out).unwrap();
    assert_ne!(main, outsider_pid, "adopted a process outside the job");
    assert!(d.cgroup_pids().contains(&main), "{out}");
    assert!(t.elapsed() < Duration::from_secs(30), "start hung");
    assert!(
        d.stderr().contains(&format!(
            "names process {outsider_pid}, which is not part of the job; ignored"
        )),
        "{}",
        d.stderr()
    );

    stop_leaves_nothing(&d, "stale");
    assert!(pid_alive(outsider_pid), "the outsider was signalled");
    // And again: nothing wedged.
    let out = d.ctl_ok(&["start", "stale"]);
    assert!(out.starts_with("stale start/running"), "{out}");
    stop_leaves_nothing(&d, "stale");
    assert!(pid_alive(outsider_pid), "the outsider was signalled");
}
