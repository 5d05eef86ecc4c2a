//! Job output benchmark (issue 14): a job writing `BENCH_LOG_BYTES` (default 1 GiB) in
//! 4 KiB lines, one `write` per line, through outset's `console log` (a pty read by the
//! daemon into `<logdir>/<job>.log`), against the floors of the same program writing to a
//! file directly and through a pipe to `cat >file`. Reported: throughput and its ratio to
//! the direct floor (and to a pty read by one process, the kernel's ceiling for a pty), the
//! daemon's CPU seconds per GiB, its peak RSS, and the control round trip (a `status`
//! request on a new connection, every 100 ms) while the flood runs.
//!
//! Run with `cargo bench -p outset --bench job_logs` (as root, with a writable cgroup2
//! mount). `BENCH_ROUNDS` sets the rounds (default 3), `BENCH_LOG_BYTES` the size (a
//! multiple of 4096). Targets that are missed are reported, not turned into failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{destroy_cgroup_tree, median, verdict};

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const OUTSET: &str = env!("CARGO_BIN_EXE_outset");
const LINE: usize = 4096;
const JOB: &str = "flood";

/// Target: outset's log at least half the direct-to-file throughput.
const MIN_RATIO: f64 = 0.5;
/// Target: the daemon's peak RSS within its configured buffers (8 MiB held output, a
/// 64 KiB read buffer) plus what it had before the flood, with this much slack.
const RSS_SLACK_KIB: u64 = 16 * 1024;

/// The writer: 4 KiB lines (4095 digits and a newline), one `write` each (dd's block).
fn writer(lines: usize) -> String {
    format!(
        "yes $(printf '%0{}d' 0) | dd bs={LINE} count={lines} iflag=fullblock status=none",
        LINE - 1
    )
}

struct DaemonGuard {
    dir: tempfile::TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
    cgroup: PathBuf,
    child: Option<Child>,
}

impl DaemonGuard {
    fn new(mount: &Path, round: usize, lines: usize) -> DaemonGuard {
        let dir = tempfile::tempdir_in(std::env::var_os("BENCH_DIR").unwrap_or("/var/tmp".into()))
            .unwrap();
        let confdir = dir.path().join("conf");
        std::fs::create_dir_all(&confdir).unwrap();
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        std::fs::write(
            confdir.join(format!("{JOB}.conf")),
            format!("task\nlog rotate off\nexec sh -c '{}'\n", writer(lines)),
        )
        .unwrap();
        let cgroup = mount.join(format!("outset-logbench-{}-{round}", std::process::id()));
        let guard = DaemonGuard {
            socket: dir.path().join("s"),
            stderr_path: dir.path().join("daemon.stderr"),
            cgroup,
            dir,
            child: None,
        };
        std::fs::create_dir(&guard.cgroup).unwrap();
        guard
    }

    fn start(&mut self) {
        let stderr = File::create(&self.stderr_path).unwrap();
        let child = Command::new(OUTSET)
            .args(["--no-startup-event", "--confdir"])
            .arg(self.dir.path().join("conf"))
            .arg("--socket")
            .arg(&self.socket)
            .arg("--logdir")
            .arg(self.dir.path().join("log"))
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
            assert!(
                Instant::now() < deadline,
                "daemon did not start: {}",
                support::stderr_tail(&self.stderr_path)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            support::stop_daemon(&mut c);
        }
        destroy_cgroup_tree(&self.cgroup);
    }
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat; `rest` starts at field 3.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// A `/proc/PID/status` value in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// One `status` request on a new connection; whether an ok reply came.
fn status_request(socket: &Path) -> bool {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut c) = UnixStream::connect(socket) else {
        return false;
    };
    let line = format!("{{\"v\":1,\"cmd\":\"status\",\"job\":\"{JOB}\"}}\n");
    if c.write_all(line.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    BufReader::new(c).read_line(&mut reply).is_ok() && reply.contains("\"ok\"")
}

struct Run {
    secs: f64,
    cpu: f64,
    rss_before_kib: u64,
    peak_kib: u64,
    trips_ms: Vec<f64>,
}

fn outset_round(mount: &Path, round: usize, lines: usize) -> Run {
    let mut d = DaemonGuard::new(mount, round, lines);
    d.start();
    let pid = d.pid();
    let rss_before_kib = status_kib(pid, "VmRSS:");
    let cpu0 = cpu_seconds(pid);
    // Round trips measured from another thread while the flood runs.
    let flooding = Arc::new(AtomicBool::new(true));
    let socket = d.socket.clone();
    let probe = {
        let flooding = flooding.clone();
        std::thread::spawn(move || {
            let mut trips = Vec::new();
            std::thread::sleep(Duration::from_millis(100));
            while flooding.load(Ordering::Relaxed) {
                // A raw request over the socket: no client process competes for the CPU.
                let t = Instant::now();
                let ok = status_request(&socket);
                if ok && flooding.load(Ordering::Relaxed) {
                    trips.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            trips
        })
    };
    let t = Instant::now();
    support::ctl(&d.socket, &d.stderr_path, &["start", JOB]);
    let secs = t.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    let trips_ms = probe.join().unwrap();
    let cpu = cpu_seconds(pid) - cpu0;
    let peak_kib = status_kib(pid, "VmHWM:");
    let log = d.dir.path().join(format!("log/{JOB}.log"));
    let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        size,
        (lines * LINE) as u64,
        "the log does not hold all the output; stderr:\n{}",
        support::stderr_tail(&d.stderr_path)
    );
    Run {
        secs,
        cpu,
        rss_before_kib,
        peak_kib,
        trips_ms,
    }
}

/// The kernel's ceiling for a pty: the writer on a pty slave, this process reading the master
/// (64 KiB reads gathered into one write, as the daemon does) into a file. Seconds.
fn pty_floor(lines: usize) -> f64 {
    use std::io::Write;
    use std::os::fd::AsFd;
    let dir =
        tempfile::tempdir_in(std::env::var_os("BENCH_DIR").unwrap_or("/var/tmp".into())).unwrap();
    let out_path = dir.path().join("out.log");
    let mut out = File::create(&out_path).unwrap();
    let pty = outset_sys::pty::Pty::open().unwrap();
    let poller = outset_sys::poll::Poller::new().unwrap();
    poller.add(pty.master.as_fd(), 1).unwrap();
    let t = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(writer(lines))
        .stdin(Stdio::null())
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()))
        .spawn()
        .unwrap();
    drop(pty.slave);
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut ready = Vec::new();
    loop {
        match outset_sys::pty::read_master(&pty.master, &mut buf[filled..]).unwrap() {
            outset_sys::pty::Read::Data(n) => {
                filled += n;
                if filled == buf.len() {
                    out.write_all(&buf).unwrap();
                    filled = 0;
                }
            }
            outset_sys::pty::Read::Empty => {
                out.write_all(&buf[..filled]).unwrap();
                filled = 0;
                poller.wait(&mut ready, None).unwrap();
            }
            outset_sys::pty::Read::Closed => break,
        }
    }
    out.write_all(&buf[..filled]).unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        std::fs::metadata(&out_path).unwrap().len(),
        (lines * LINE) as u64
    );
    secs
}

/// The writer run directly with `sink` as its tail: seconds until it and the file are done.
fn floor(lines: usize, sink: &str) -> f64 {
    let dir =
        tempfile::tempdir_in(std::env::var_os("BENCH_DIR").unwrap_or("/var/tmp".into())).unwrap();
    let out = dir.path().join("out.log");
    let script = format!("{} {sink} '{}'", writer(lines), out.display());
    let t = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(status.success(), "{script}: {status}");
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        (lines * LINE) as u64
    );
    secs
}

fn main() {
    let Some((mount, rounds)) = support::setup("job_logs", 3) else {
        return;
    };
    let bytes: usize = std::env::var("BENCH_LOG_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 30);
    let lines = (bytes / LINE).max(1);
    let gib = (lines * LINE) as f64 / f64::from(1u32 << 30);
    let mib = (lines * LINE) as f64 / f64::from(1u32 << 20);
    println!(
        "job_logs: {mib:.0} MiB in {lines} lines of {LINE} bytes, {rounds} rounds, cgroup2 at {}",
        mount.display()
    );
    let (mut direct, mut piped, mut outs, mut cpus, mut peaks, mut trips) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut ptys = Vec::new();
    let mut growth = Vec::new();
    for round in 0..rounds {
        let d = floor(lines, ">");
        let p = floor(lines, "| cat >");
        let y = pty_floor(lines);
        let r = outset_round(&mount, round, lines);
        println!(
            "round {round}: direct {:.0} MiB/s, pipe to cat {:.0} MiB/s, pty read by one process \
             {:.0} MiB/s, outset {:.0} MiB/s (ratio to direct {:.2}); daemon CPU {:.2} s/GiB, \
             peak RSS {} KiB (before {} KiB); {} round trips during the flood, median {:.1} ms, \
             max {:.1} ms",
            mib / d,
            mib / p,
            mib / y,
            mib / r.secs,
            d / r.secs,
            r.cpu / gib,
            r.peak_kib,
            r.rss_before_kib,
            r.trips_ms.len(),
            median(&r.trips_ms),
            r.trips_ms.iter().copied().fold(0.0, f64::max),
        );
        direct.push(mib / d);
        piped.push(mib / p);
        ptys.push(mib / y);
        outs.push(mib / r.secs);
        cpus.push(r.cpu / gib);
        peaks.push(r.peak_kib as f64);
        growth.push(r.peak_kib.saturating_sub(r.rss_before_kib));
        trips.extend(r.trips_ms);
    }
    let (direct, piped, out) = (median(&direct), median(&piped), median(&outs));
    let ratio = out / direct;
    println!("medians over {rounds} rounds:");
    println!("direct to file: {direct:.0} MiB/s; through a pipe to cat: {piped:.0} MiB/s");
    let pty = median(&ptys);
    println!("a pty read by one process into a file (the kernel's ceiling): {pty:.0} MiB/s");
    println!(
        "outset console log: {out:.0} MiB/s, ratio to direct {ratio:.2}, to pipe+cat {:.2}, \
         to the pty ceiling {:.2}",
        out / piped,
        out / pty
    );
    println!(
        "daemon CPU: {:.2} s per GiB; peak RSS {:.0} KiB",
        median(&cpus),
        median(&peaks)
    );
    println!(
        "control round trip during the flood: median {:.1} ms over {} requests, max {:.1} ms",
        median(&trips),
        trips.len(),
        trips.iter().copied().fold(0.0, f64::max)
    );
    let max_growth = growth.iter().copied().max().unwrap_or(0);
    println!(
        "target: throughput >= {:.0} % of direct: {} ({:.0} %)",
        MIN_RATIO * 100.0,
        verdict(ratio >= MIN_RATIO),
        ratio * 100.0
    );
    println!(
        "target: RSS growth during the flood within the buffers (8 MiB + 64 KiB) + {} MiB: {} \
         (max growth {max_growth} KiB)",
        RSS_SLACK_KIB / 1024,
        verdict(max_growth <= 8 * 1024 + 64 + RSS_SLACK_KIB)
    );
}
