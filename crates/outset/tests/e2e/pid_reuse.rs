//! A recycled PID is never signalled: after a job's main process dies and an unrelated
//! process is given the same PID, stopping the job leaves that process alone.
//!
//! The daemon runs as PID 1 of its own PID namespace, where the test can steer which PID the
//! next process gets (`ns_last_pid`) without touching the rest of the machine.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn wait_child(pid: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(c) = children(pid).first() {
            return *c;
        }
        assert!(Instant::now() < deadline, "{pid} has no child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The PID a process has in the innermost namespace it lives in.
fn ns_pid(host_pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// Kills what the test started outside the daemon, by PID.
struct Squatter(Child, Vec<u32>);

impl Drop for Squatter {
    fn drop(&mut self) {
        for pid in &self.1 {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_recycled_main_pid_is_never_signalled() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.write_job("r", "respawn\nexec sleep 1000\n");
    d.start_under(
        &["unshare", "--pid", "--fork", "--mount-proc"],
        &["--no-startup-event"],
    );
    let init = wait_child(d.child.as_ref().unwrap().id());

    let first = main_pid(&d.ctl_ok(&["start", "r"])).unwrap();
    // Kill the main process from outside; the job respawns with a new one.
    let host_main = d
        .cgroup_pids()
        .into_iter()
        .find(|p| ns_pid(*p) == Some(first))
        .unwrap();
    assert!(
        Command::new("kill")
            .args(["-KILL", &host_main.to_string()])
            .status()
            .unwrap()
            .success()
    );
    d.wait_for("the respawn", Duration::from_secs(10), || {
        main_pid(&d.status(&["r"])).is_some_and(|p| p != first)
    });

    // An unrelated process inside the namespace takes the dead main process's PID.
    let script = format!(
        "echo {} > /proc/sys/kernel/ns_last_pid; sleep 1000 & wait",
        first - 1
    );
    let nsenter = Command::new("nsenter")
        .args([
            "-t",
            &init.to_string(),
            "-p",
            "-m",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut squatter = Squatter(nsenter, Vec::new());
    let shell = wait_child(squatter.0.id());
    let sleeper = wait_child(shell);
    squatter.1 = vec![sleeper, shell];
    assert_eq!(
        ns_pid(sleeper),
        Some(first),
        "the test could not recycle the PID"
    );

    let out = d.ctl_ok(&["stop", "r"]);
    assert!(out.contains("stop/waiting"), "{out}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        pid_alive(sleeper),
        "outset signalled a process that merely reused a PID"
    );

    // Issue 9 item 18: ending the test ends the namespace's init (the daemon), not only
    // the `unshare` wrapper; before, an `outset` stayed behind under the host's init.
    assert!(pid_alive(init));
    drop(squatter);
    drop(d);
    assert!(
        !is_outset(init),
        "the daemon ({init}) outlived the test as an orphan"
    );
}

/// Whether `pid` is alive and runs the outset binary.
fn is_outset(pid: u32) -> bool {
    pid_alive(pid)
        && std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|e| e == std::path::Path::new(OUTSET))
}
