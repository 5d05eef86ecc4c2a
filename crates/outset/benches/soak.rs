//! Soak benchmark: one daemon, one small job, thousands of start/stop cycles through the real
//! `outsetctl`; the daemon's RSS and open fd count (and the instance cgroups left once the
//! sweep has run) before, at checkpoints and after. Nothing the daemon keeps per start, per stop or per control
//! connection may grow (issue 9's acceptance: no growth beyond noise).
//!
//! Run with `cargo bench -p outset --bench soak` (as root, with a writable cgroup2 mount).
//! `BENCH_CYCLES` sets the number of cycles (default 5000), `BENCH_CHECKPOINTS` how many
//! times along the way the figures are printed (default 10). Targets that are missed are
//! reported, not turned into failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{destroy_cgroup_tree, median, ms, verdict};

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OUTSET: &str = env!("CARGO_BIN_EXE_outset");

const JOB_TEXT: &str = "console none\nexec sleep 1000\n";

/// Cycles run before the first measurement, so lazily grown buffers and the allocator's
/// pools are in place before "before" is taken.
const WARMUP: usize = 50;

/// Targets: growth between the first and the last measurement.
const MAX_RSS_GROWTH_KIB: i64 = 256;
const MAX_FD_GROWTH: i64 = 0;

/// The daemon, its temp dir and its cgroup subtree; Drop stops the daemon and removes both.
struct Soak {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
    cgroup: PathBuf,
    child: Option<Child>,
}

impl Soak {
    fn start(mount: &Path) -> Soak {
        let dir = tempfile::tempdir().unwrap();
        let confdir = dir.path().join("conf");
        std::fs::create_dir_all(&confdir).unwrap();
        std::fs::write(confdir.join("soak.conf"), JOB_TEXT).unwrap();
        let mut s = Soak {
            socket: dir.path().join("s"),
            stderr_path: dir.path().join("daemon.stderr"),
            cgroup: mount.join(format!("outset-bench-soak-{}", std::process::id())),
            _dir: dir,
            child: None,
        };
        std::fs::create_dir(&s.cgroup).unwrap();
        let stderr = File::create(&s.stderr_path).unwrap();
        s.child = Some(
            Command::new(OUTSET)
                // A user daemon writes its session file there: the bench's temp dir.
                .env("XDG_RUNTIME_DIR", s.stderr_path.parent().unwrap())
                .arg("--user")
                .arg("--no-startup-event")
                .arg("--confdir")
                .arg(&confdir)
                .arg("--socket")
                .arg(&s.socket)
                .arg("--cgroup-root")
                .arg(&s.cgroup)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&s.socket).is_err() {
            if let Some(Ok(Some(status))) = s.child.as_mut().map(Child::try_wait) {
                panic!(
                    "daemon exited ({status}) before creating its socket; stderr tail:\n{}",
                    support::stderr_tail(&s.stderr_path)
                );
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not create its socket; stderr tail:\n{}",
                support::stderr_tail(&s.stderr_path)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        s
    }

    fn ctl(&self, args: &[&str]) -> String {
        support::ctl(&self.socket, &self.stderr_path, args)
    }

    /// One start and one stop, each checked; the time of each.
    fn cycle(&self) -> (Duration, Duration) {
        let t = Instant::now();
        let out = self.ctl(&["start", "soak"]);
        let start = t.elapsed();
        assert!(out.contains("start/running"), "start: {out}");
        let t = Instant::now();
        let out = self.ctl(&["stop", "soak"]);
        let stop = t.elapsed();
        assert!(out.contains("stop/waiting"), "stop: {out}");
        (start, stop)
    }

    /// The daemon's figures now.
    fn sample(&self, cycles: usize) -> Sample {
        let pid = self.child.as_ref().map(Child::id).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count() as i64;
        // Instance cgroups the daemon left below its root. A stopped instance's cgroup is
        // removed when the loop is idle (the sweep), so give it a moment to go.
        let count = || {
            std::fs::read_dir(&self.cgroup)
                .unwrap()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut cgroups = count();
        while cgroups > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            cgroups = count();
        }
        Sample {
            cycles,
            rss_kib,
            fds,
            cgroups,
        }
    }
}

impl Drop for Soak {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            support::stop_daemon(&mut child);
        }
        destroy_cgroup_tree(&self.cgroup);
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    cycles: usize,
    rss_kib: i64,
    fds: i64,
    cgroups: usize,
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "after {:>5} cycles: rss {} KiB, fds {}, instance cgroups {}",
            self.cycles, self.rss_kib, self.fds, self.cgroups
        )
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn main() {
    let Some((mount, _)) = support::setup("soak", 1) else {
        return;
    };
    let cycles = env_usize("BENCH_CYCLES", 5000);
    let checkpoints = env_usize("BENCH_CHECKPOINTS", 10).min(cycles);
    let soak = Soak::start(&mount);
    println!(
        "soak: {cycles} start/stop cycles of `{}`",
        JOB_TEXT.trim().replace('\n', "; ")
    );
    for _ in 0..WARMUP {
        soak.cycle();
    }
    let before = soak.sample(0);
    println!("{before}  (after {WARMUP} warm-up cycles)");
    let mut samples = vec![before];
    let (mut starts, mut stops) = (Vec::with_capacity(cycles), Vec::with_capacity(cycles));
    let began = Instant::now();
    for i in 1..=cycles {
        let (start, stop) = soak.cycle();
        starts.push(ms(start));
        stops.push(ms(stop));
        if i % (cycles / checkpoints) == 0 || i == cycles {
            let s = soak.sample(i);
            println!("{s}");
            samples.push(s);
        }
    }
    let took = began.elapsed();
    let after = *samples.last().unwrap();
    let rss_growth = after.rss_kib - before.rss_kib;
    let fd_growth = after.fds - before.fds;
    let peak_rss = samples.iter().map(|s| s.rss_kib).max().unwrap();
    println!(
        "{cycles} cycles in {:.1} s ({:.1} cycles/s); median start {:.2} ms, median stop {:.2} ms",
        took.as_secs_f64(),
        cycles as f64 / took.as_secs_f64(),
        median(&starts),
        median(&stops)
    );
    println!(
        "rss: {} KiB before, {} KiB after, growth {rss_growth} KiB, peak {peak_rss} KiB: {} (≤ {MAX_RSS_GROWTH_KIB} KiB)",
        before.rss_kib,
        after.rss_kib,
        verdict(rss_growth <= MAX_RSS_GROWTH_KIB)
    );
    println!(
        "fds: {} before, {} after, growth {fd_growth}: {} (≤ {MAX_FD_GROWTH})",
        before.fds,
        after.fds,
        verdict(fd_growth <= MAX_FD_GROWTH)
    );
    println!(
        "instance cgroups left: {}: {}",
        after.cgroups,
        verdict(after.cgroups == 0)
    );
}
