//! Fork-heavy benchmark: the cost of outset's process tracking for a job that runs 3000 short
//! processes, against the same shell loop run directly.
//!
//! Run with `cargo bench -p outset --bench fork_heavy` (as root, with a writable cgroup2
//! mount). `BENCH_ROUNDS` overrides the number of rounds (default 7). Targets that are missed
//! are reported, not turned into failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{destroy_cgroup_tree, median, ms, verdict};

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OUTSET: &str = env!("CARGO_BIN_EXE_outset");

/// How many short processes the loop runs.
const FORKS: usize = 3000;
const JOB: &str = "forky";

/// Target: cgroup tracking costs at most this much, as a fraction of the unsupervised time.
const MAX_OVERHEAD: f64 = 0.02;

/// The workload, as `sh -c` gets it.
fn script() -> String {
    format!("i=0; while [ $i -lt {FORKS} ]; do /bin/true; i=$((i+1)); done")
}

/// The same workload as the launcher of a forking daemon under `track ptrace`: every one of
/// its forks is followed until the launcher exits and the main PID is known.
const PTRACE_JOB: &str = "forky-ptrace";

fn ptrace_job_text() -> String {
    format!(
        "start on go\ntrack ptrace\nexpect fork\nconsole none\nexec sh -c '{}; sleep 1000 &'\n",
        script()
    )
}

fn job_text() -> String {
    format!(
        "start on go\ntask\nconsole none\nexec sh -c '{}'\n",
        script()
    )
}

/// One daemon with its temp dir and cgroup subtree; Drop stops the daemon and removes both.
struct DaemonGuard {
    /// Kept only to be removed on drop.
    _dir: tempfile::TempDir,
    confdir: PathBuf,
    socket: PathBuf,
    stderr_path: PathBuf,
    cgroup: PathBuf,
    child: Option<Child>,
}

impl DaemonGuard {
    fn new(mount: &Path, round: usize) -> DaemonGuard {
        let dir = tempfile::tempdir().unwrap();
        let confdir = dir.path().join("conf");
        std::fs::create_dir_all(&confdir).unwrap();
        std::fs::write(confdir.join(format!("{JOB}.conf")), job_text()).unwrap();
        std::fs::write(
            confdir.join(format!("{PTRACE_JOB}.conf")),
            ptrace_job_text(),
        )
        .unwrap();
        let cgroup = mount.join(format!("outset-forkbench-{}-{round}", std::process::id()));
        // The guard exists before the cgroup does, so any later failure still cleans up.
        let guard = DaemonGuard {
            socket: dir.path().join("s"),
            stderr_path: dir.path().join("daemon.stderr"),
            confdir,
            cgroup,
            _dir: dir,
            child: None,
        };
        std::fs::create_dir(&guard.cgroup).unwrap();
        guard
    }

    /// Starts the daemon and waits until a connection to its socket succeeds.
    fn start(&mut self) {
        let stderr = File::create(&self.stderr_path).unwrap();
        let child = Command::new(OUTSET)
            // A user daemon writes its session file there: the bench's temp dir.
            .env("XDG_RUNTIME_DIR", self.stderr_path.parent().unwrap())
            .arg("--user")
            .arg("--no-startup-event")
            .arg("--confdir")
            .arg(&self.confdir)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--cgroup-root")
            .arg(&self.cgroup)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "daemon exited ({status}) before accepting connections; stderr tail:\n{}",
                    self.stderr_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "daemon did not accept connections on its socket; stderr tail:\n{}",
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stderr_tail(&self) -> String {
        support::stderr_tail(&self.stderr_path)
    }

    fn ctl(&self, args: &[&str]) -> String {
        support::ctl(&self.socket, &self.stderr_path, args)
    }

    fn timed_ctl(&self, args: &[&str]) -> Duration {
        support::timed_ctl(&self.socket, &self.stderr_path, args)
    }

    /// Panics unless the daemon says it tracks by cgroup2 and logged no per-job fallback.
    fn verify_cgroup_tracking(&self) {
        let version = self.ctl(&["version"]);
        let log = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        if !version.contains("tracking by cgroup2") || log.contains("tracking by process group") {
            panic!(
                "the daemon is not tracking by cgroup2; version:\n{version}\ndaemon stderr tail:\n{}",
                self.stderr_tail()
            );
        }
    }

    fn stop_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            support::stop_daemon(&mut child);
        }
    }
}

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        self.stop_daemon();
        destroy_cgroup_tree(&self.cgroup);
        // `_dir` (the TempDir) is removed when the fields drop, after this.
    }
}

/// The unsupervised shell; Drop kills and reaps it if it is still there (a panic mid-wait).
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The same loop run directly, with stdio on /dev/null as `console none` gives the job:
/// wall time from spawn to exit.
fn unsupervised() -> Duration {
    let t = Instant::now();
    let child = Command::new("sh")
        .arg("-c")
        .arg(script())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(Some(child));
    let status = guard.0.as_mut().unwrap().wait().unwrap();
    let spent = t.elapsed();
    guard.0 = None;
    assert!(status.success(), "unsupervised loop failed: {status}");
    spent
}

struct OutsetRun {
    /// Wall time of `outsetctl start` (returns when the task has finished).
    start: Duration,
    /// Wall time of one `outsetctl status`: the client round trip alone.
    round_trip: Duration,
    /// Wall time of `outsetctl start` of the `track ptrace` launcher (returns when it runs).
    ptrace: Duration,
}

fn outset_round(mount: &Path, round: usize) -> OutsetRun {
    let mut d = DaemonGuard::new(mount, round);
    d.start();
    d.verify_cgroup_tracking();
    let start = d.timed_ctl(&["start", JOB]);
    let round_trip = d.timed_ctl(&["status", JOB]);
    let status = d.ctl(&["status", JOB]);
    if !status.contains("stop/waiting") {
        panic!(
            "task did not finish with `start`: {status}\ndaemon stderr tail:\n{}",
            d.stderr_tail()
        );
    }
    d.verify_cgroup_tracking();
    let ptrace = d.timed_ctl(&["start", PTRACE_JOB]);
    let status = d.ctl(&["status", PTRACE_JOB]);
    if !status.contains("start/running") {
        panic!(
            "ptrace job not running: {status}\ndaemon stderr tail:\n{}",
            d.stderr_tail()
        );
    }
    d.ctl(&["stop", PTRACE_JOB]);
    drop(d);
    OutsetRun {
        start,
        round_trip,
        ptrace,
    }
}

fn main() {
    let Some((mount, rounds)) = support::setup("fork_heavy", 7) else {
        return;
    };

    println!(
        "fork_heavy: a task running {FORKS} /bin/true, {rounds} rounds, cgroup2 at {}",
        mount.display()
    );
    let (mut outs, mut bases, mut trips, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ptraces = Vec::new();
    for round in 0..rounds {
        // Even rounds run the unsupervised loop first, odd rounds outset first.
        let (run, base) = if round % 2 == 0 {
            let base = unsupervised();
            (outset_round(&mount, round), base)
        } else {
            let run = outset_round(&mount, round);
            (run, unsupervised())
        };
        let ratio = ms(run.start) / ms(base);
        println!(
            "round {round}: unsupervised {:.1} ms, outset (cgroup) {:.1} ms, ratio {ratio:.3}; \
             track ptrace {:.1} ms; client round trip {:.1} ms",
            ms(base),
            ms(run.start),
            ms(run.ptrace),
            ms(run.round_trip)
        );
        ptraces.push(ms(run.ptrace));
        outs.push(ms(run.start));
        bases.push(ms(base));
        trips.push(ms(run.round_trip));
        ratios.push(ratio);
    }

    let (out, base, trip) = (median(&outs), median(&bases), median(&trips));
    // The ratio of the medians; the median of per-round ratios is printed alongside.
    let ratio = out / base;
    let net = out - trip;
    let overhead = net / base - 1.0;
    println!("medians over {rounds} rounds:");
    println!("unsupervised: {base:.1} ms");
    println!(
        "outset (cgroup tracking): {out:.1} ms, ratio outset/unsupervised {ratio:.3} \
         (median per-round ratio {:.3})",
        median(&ratios)
    );
    println!("client round trip (`outsetctl status` alone): {trip:.1} ms");
    println!(
        "outset minus client round trip: {net:.1} ms, ratio {:.3}, overhead {:+.2} %",
        net / base,
        overhead * 100.0
    );
    let ptrace = median(&ptraces) - trip;
    println!(
        "track ptrace (launch chain followed until the launcher exits): {:.1} ms, minus the client \
         round trip {ptrace:.1} ms, ratio to unsupervised {:.3}, to cgroup tracking {:.3}",
        median(&ptraces),
        ptrace / base,
        ptrace / net
    );
    println!("targets (outset median minus the client round-trip median, against unsupervised):");
    println!(
        "target: cgroup tracking costs <= {:.0} %: {} ({:+.2} %)",
        MAX_OVERHEAD * 100.0,
        verdict(overhead <= MAX_OVERHEAD),
        overhead * 100.0
    );
}
