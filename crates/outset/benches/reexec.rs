//! Re-exec with 1000 running jobs (issue 15): the time from the `reexec` request to the new
//! image answering `status` (the window in which the loop is unavailable), against a plain
//! `status` round trip in the same run; the state's size; the daemon's RSS and descriptors
//! before and after. Then 50 re-execs in a row while respawning jobs keep exiting: every
//! running job keeps its PID throughout.
//!
//! Run with `cargo bench -p outset --bench reexec` (root and cgroup2). `BENCH_ROUNDS` sets
//! the number of timed re-execs (default 7).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OUTSET: &str = env!("CARGO_BIN_EXE_outset");
const JOBS: usize = 1000;
const RESPAWNING: usize = 10;
const LOOP: usize = 50;

/// The daemon, its temp dir and its cgroup subtree; Drop stops the daemon and removes both.
struct Bench {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
    cgroup: PathBuf,
    child: Option<Child>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            support::stop_daemon(&mut c);
        }
        support::destroy_cgroup_tree(&self.cgroup);
    }
}

impl Bench {
    fn start(mount: &Path) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let confdir = dir.path().join("conf");
        std::fs::create_dir_all(&confdir).unwrap();
        for i in 0..JOBS {
            std::fs::write(
                confdir.join(format!("j{i:04}.conf")),
                "start on go\nconsole none\nexec sleep 1000\n",
            )
            .unwrap();
        }
        for i in 0..RESPAWNING {
            std::fs::write(
                confdir.join(format!("resp{i}.conf")),
                "respawn\nrespawn limit unlimited\nconsole none\nexec sleep 0.2\n",
            )
            .unwrap();
        }
        let mut b = Bench {
            socket: dir.path().join("s"),
            stderr_path: dir.path().join("daemon.stderr"),
            cgroup: mount.join(format!("outset-bench-reexec-{}", std::process::id())),
            _dir: dir,
            child: None,
        };
        std::fs::create_dir(&b.cgroup).unwrap();
        let stderr = File::create(&b.stderr_path).unwrap();
        b.child = Some(
            Command::new(OUTSET)
                .arg("--user")
                .arg("--no-startup-event")
                .arg("--confdir")
                .arg(&confdir)
                .arg("--socket")
                .arg(&b.socket)
                .arg("--cgroup-root")
                .arg(&b.cgroup)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&b.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "daemon did not create its socket; stderr tail:\n{}",
                support::stderr_tail(&b.stderr_path)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        b
    }

    fn ctl(&self, args: &[&str]) -> String {
        support::ctl(&self.socket, &self.stderr_path, args)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// RSS in KiB and open descriptors of the daemon.
    fn rss_fds(&self) -> (u64, usize) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count();
        (rss, fds)
    }

    /// The state size the last re-exec logged.
    fn last_state_bytes(&self) -> usize {
        std::fs::read_to_string(&self.stderr_path)
            .unwrap()
            .lines()
            .filter_map(|l| l.split(" (").nth(1))
            .filter_map(|l| l.split(" bytes of state").next()?.parse().ok())
            .next_back()
            .unwrap_or(0)
    }

    /// The 1000 sleepers' status lines.
    fn sleepers(&self) -> Vec<String> {
        self.ctl(&["list"])
            .lines()
            .filter(|l| l.starts_with('j'))
            .map(str::to_string)
            .collect()
    }
}

fn main() {
    let Some((mount, rounds)) = support::setup("reexec", 7) else {
        return;
    };
    let b = Bench::start(&mount);
    let t = Instant::now();
    b.ctl(&["emit", "go"]);
    println!("{JOBS} jobs started in {:.0} ms", support::ms(t.elapsed()));
    for i in 0..RESPAWNING {
        b.ctl(&["start", &format!("resp{i}")]);
    }
    let pids = b.sleepers();
    assert_eq!(pids.len(), JOBS);
    assert!(pids.iter().all(|l| l.contains("start/running")));
    // Let the start-up burst's memory be given back before the first figure.
    std::thread::sleep(Duration::from_millis(300));
    let (rss0, fds0) = b.rss_fds();

    let mut baseline = Vec::new();
    let mut window = Vec::new();
    for _ in 0..rounds {
        baseline.push(support::ms(support::timed_ctl(
            &b.socket,
            &b.stderr_path,
            &["status", "j0000"],
        )));
        let t = Instant::now();
        b.ctl(&["reexec"]);
        b.ctl(&["status", "j0000"]);
        window.push(support::ms(t.elapsed()));
    }
    let state = b.last_state_bytes();
    std::thread::sleep(Duration::from_millis(300));
    let (rss1, fds1) = b.rss_fds();
    assert_eq!(b.sleepers(), pids, "every job kept its PID");
    let (base, win) = (support::median(&baseline), support::median(&window));
    println!(
        "reexec → status answered (median of {rounds}): {win:.1} ms; a status round trip: \
         {base:.2} ms (ratio {:.0}x)",
        win / base
    );
    println!(
        "state: {state} bytes ({:.0} B/job)",
        state as f64 / JOBS as f64
    );
    println!(
        "daemon RSS: {rss0} KiB before, {rss1} KiB after {rounds} re-execs ({:+} KiB); \
         descriptors {fds0} → {fds1}",
        rss1 as i64 - rss0 as i64
    );

    let t = Instant::now();
    for _ in 0..LOOP {
        b.ctl(&["reexec"]);
    }
    let per = support::ms(t.elapsed()) / LOOP as f64;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.sleepers(),
        pids,
        "every job kept its PID through {LOOP} re-execs"
    );
    for i in 0..RESPAWNING {
        let s = b.ctl(&["status", &format!("resp{i}")]);
        assert!(s.contains("start/"), "resp{i} still respawning: {s}");
    }
    let (rss2, fds2) = b.rss_fds();
    println!(
        "{LOOP} re-execs in a row with {RESPAWNING} jobs respawning every 200 ms: \
         {per:.1} ms each; RSS {rss2} KiB, descriptors {fds2}; every PID kept: {}",
        support::verdict(true)
    );
}
