//! Spawn mechanisms side by side, quiet and under CPU contention: 1000 `sleep 1000`
//! processes started into one cgroup by each of outset-sys's spawn paths, against a plain
//! `std::process::Command` loop (posix_spawn: vfork, no new session, no cgroup).
//!
//! - `vfork+wait`: `spawn` (clone3 with CLONE_VM | CLONE_VFORK into the cgroup; the parent is
//!   suspended until the child execs).
//! - `fork+wait`: `spawn_forked` (fork-style clone3 into the cgroup; the parent reads the
//!   report pipe until the child execs).
//! - `fork, detached`: `spawn_detached` (fork-style clone3 into the cgroup; failures come
//!   later through one shared pipe; the parent never waits for the child).
//! - `detached+barrier`: the same, then one wait until the whole batch has exec'd
//!   (`FailureReports::wait_exec`), as the daemon does before it answers a client.
//!
//! Every outset child calls `setsid()`, as a job's process does. Run with
//! `cargo bench -p outset --bench spawn_modes` (root, cgroup2). `BENCH_ROUNDS` (default 5)
//! sets the rounds per load; the modes alternate their order from round to round.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outset_sys::spawn::{FailureReports, ProgramSpec, SpawnPlan, SpawnRequest};
use support::{BusyLoops, destroy_cgroup_tree, median, ms};

const N: usize = 1000;
const MODES: [&str; 5] = [
    "floor",
    "vfork+wait",
    "fork+wait",
    "fork, detached",
    "detached+barrier",
];

/// Processes a mode started, killed and reaped by PID on drop, and their cgroup removed.
struct Spawned {
    pids: Vec<u32>,
    children: Vec<Child>,
    cgroup: PathBuf,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for &pid in &self.pids {
            if let Ok(fd) = outset_sys::pidfd::PidFd::open(pid) {
                let _ = fd.signal(9);
            }
        }
        // Only this benchmark's own children exist besides the busy loops, which still run.
        let mut left: std::collections::HashSet<u32> = self.pids.iter().copied().collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !left.is_empty() && Instant::now() < deadline {
            for (pid, _, _) in outset_sys::reap::reap_all_raw(false) {
                left.remove(&pid);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        destroy_cgroup_tree(&self.cgroup);
    }
}

fn env() -> Vec<(String, String)> {
    ["PATH", "HOME", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect()
}

fn run_mode(mode: &str, mount: &Path, tag: &str, reports: &mut FailureReports) -> Duration {
    let cgroup = mount.join(format!("outset-spawnbench-{}-{tag}", std::process::id()));
    std::fs::create_dir(&cgroup).unwrap();
    let mut out = Spawned {
        pids: Vec::with_capacity(N),
        children: Vec::new(),
        cgroup: cgroup.clone(),
    };
    let mut req = SpawnRequest::new(ProgramSpec::Argv(vec!["sleep".into(), "1000".into()]));
    req.env = env();
    req.cgroup = Some(cgroup);
    let t = Instant::now();
    for _ in 0..N {
        match mode {
            "floor" => out.children.push(
                Command::new("sleep")
                    .env_clear()
                    .envs(env())
                    .arg("1000")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            ),
            // The plan is made per spawn, as the daemon does.
            "vfork+wait" => out.pids.push(
                outset_sys::spawn::spawn(&SpawnPlan::new(&req).unwrap())
                    .unwrap()
                    .pid,
            ),
            "fork+wait" => out.pids.push(
                outset_sys::spawn::spawn_forked(&SpawnPlan::new(&req).unwrap())
                    .unwrap()
                    .pid,
            ),
            _ => out.pids.push(
                outset_sys::spawn::spawn_detached(&SpawnPlan::new(&req).unwrap(), reports)
                    .unwrap()
                    .pid,
            ),
        }
    }
    if mode == "detached+barrier" {
        reports.wait_exec().unwrap();
    }
    let spent = t.elapsed();
    // Not timed: the other detached mode leaves its batch open.
    reports.wait_exec().unwrap();
    assert!(reports.take().is_empty(), "a detached spawn failed");
    drop(out);
    spent
}

fn main() {
    let Some((mount, rounds)) = support::setup("spawn_modes", 5) else {
        return;
    };
    let mut reports = FailureReports::new().unwrap();
    println!("spawn_modes: {N} processes per mode, {rounds} rounds per load");
    for busy in [0, 1, 2] {
        let _load = BusyLoops::start(busy);
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
        for round in 0..rounds {
            let mut line = format!("busy {busy}, round {round}:");
            for k in 0..MODES.len() {
                // Rotate the order so every mode meets every moment of the noise.
                let m = (k + round) % MODES.len();
                let t = run_mode(
                    MODES[m],
                    &mount,
                    &format!("{busy}-{round}-{m}"),
                    &mut reports,
                );
                times[m].push(ms(t));
            }
            for (m, name) in MODES.iter().enumerate() {
                line.push_str(&format!(" {name} {:.1} ms;", times[m][round]));
            }
            println!("{line}");
        }
        let floor = median(&times[0]);
        let mut line = format!("busy {busy}, medians:");
        for (m, name) in MODES.iter().enumerate() {
            let t = median(&times[m]);
            line.push_str(&format!(" {name} {t:.1} ms ({:.2}x floor);", t / floor));
        }
        println!("{line}");
    }
}
