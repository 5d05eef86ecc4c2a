//! What the benchmarks share: finding cgroup2, cleaning up, deciding whether to run, medians.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const OUTSETCTL: &str = env!("CARGO_BIN_EXE_outsetctl");

/// The last 30 lines of a daemon's stderr file, for failure messages.
pub fn stderr_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(30);
    lines[from..].join("\n")
}

/// Runs `outsetctl --socket S ARGS…`, returning its stdout; panics on failure with the
/// daemon's stderr tail.
pub fn ctl(socket: &Path, daemon_stderr: &Path, args: &[&str]) -> String {
    let out = Command::new(OUTSETCTL)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("UPSTART_JOB")
        .env_remove("UPSTART_INSTANCE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if !out.status.success() {
        panic!(
            "outsetctl {args:?} failed: {}\nstdout: {}\nstderr: {}\ndaemon stderr tail:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            stderr_tail(daemon_stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Times one [`ctl`] call.
pub fn timed_ctl(socket: &Path, daemon_stderr: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    ctl(socket, daemon_stderr, args);
    t.elapsed()
}

/// The first cgroup2 mount (outset's own lookup).
pub fn cgroup2_mount() -> Option<PathBuf> {
    outset_sys::cgroup::cgroup2_mount()
}

pub use outset_testkit::cgroup::destroy_cgroup_tree;

/// Whether to run, and where: the cgroup2 mount and the number of rounds (`BENCH_ROUNDS`, or
/// `default_rounds`). `cargo bench` passes `--bench`; a test run of the target (`cargo test
/// --benches`) does not, and then there is nothing to do. Root and cgroup2 are needed.
pub fn setup(name: &str, default_rounds: usize) -> Option<(PathBuf, usize)> {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("{name}: not run with --bench; skipping");
        return None;
    }
    let is_root = outset_testkit::privilege::is_root();
    let Some(mount) = cgroup2_mount().filter(|_| is_root) else {
        eprintln!("{name}: needs root and a cgroup2 mount; skipping");
        return None;
    };
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default_rounds);
    Some((mount, rounds))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// Ends a daemon this benchmark started: SIGTERM through a pidfd, then SIGKILL after 10 s.
pub fn stop_daemon(child: &mut std::process::Child) {
    const SIGTERM: i32 = 15;
    if let Ok(None) = child.try_wait() {
        let termed = outset_sys::pidfd::PidFd::open(child.id())
            .and_then(|fd| fd.signal(SIGTERM))
            .is_ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if termed && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    eprintln!("warning: daemon ignored SIGTERM; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
}

/// `n` busy-loop processes for the contended modes, each in a session (and so a scheduler
/// autogroup) of its own, as the services of a booting machine are. Drop kills each by PID
/// and reaps it, also when the round panics.
pub struct BusyLoops(Vec<std::process::Child>);

impl BusyLoops {
    pub fn start(n: usize) -> BusyLoops {
        let mut loops = BusyLoops(Vec::with_capacity(n));
        for _ in 0..n {
            let child = std::process::Command::new("setsid")
                .args(["sh", "-c", "while :; do :; done"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            loops.0.push(child);
        }
        // Let them reach the CPU before anything is measured.
        std::thread::sleep(Duration::from_millis(200));
        loops
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}
