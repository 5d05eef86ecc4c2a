//! Control-socket load: `status` round trips from 8 clients, first on a quiet daemon, then
//! while one hostile client (uid 65534) floods it, in each of three ways: replies it never
//! reads, a stream of bare newlines, and as many connections as it can open. Each is
//! measured twice: on one connection per client, and with a new connection per request.
//!
//! Run with `cargo bench -p outset --bench control_load` (as root, with a writable cgroup2
//! mount). `BENCH_ROUNDS` sets the requests per client per measurement (default 200).
//! Targets that are missed are reported, not turned into failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{destroy_cgroup_tree, ms, verdict};

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OUTSET: &str = env!("CARGO_BIN_EXE_outset");
const CLIENTS: usize = 8;
const JOBS: usize = 200;
const STATUS: &[u8] = b"{\"v\":1,\"cmd\":\"status\",\"job\":\"j0\"}\n";
/// Targets: hostile p50 ÷ quiet p50, and root's p99 `status` under a hostile client.
const MAX_RATIO: f64 = 1.5;
const MAX_ROOT_MS: f64 = 50.0;
const HOSTILE_ENV: &str = "CONTROL_LOAD_HOSTILE";

/// The daemon, its temp dir and cgroup; Drop stops it and removes both.
struct Daemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
    cgroup: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn start(mount: &Path) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        // uid 65534 must reach the socket.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let confdir = dir.path().join("conf");
        std::fs::create_dir_all(&confdir).unwrap();
        // show-config of every job is about 300 kB: more than a socket buffer holds.
        let desc = "d".repeat(1500);
        for i in 0..JOBS {
            std::fs::write(
                confdir.join(format!("j{i}.conf")),
                format!("description \"{desc}\"\nexec sleep 1000\n"),
            )
            .unwrap();
        }
        let mut d = Daemon {
            socket: dir.path().join("control"),
            stderr_path: dir.path().join("daemon.stderr"),
            cgroup: mount.join(format!("outset-bench-control-{}", std::process::id())),
            dir,
            child: None,
        };
        let child = Command::new(OUTSET)
            .args(["--no-startup-event", "--confdir"])
            .arg(&confdir)
            .arg("--socket")
            .arg(&d.socket)
            .arg("--cgroup-root")
            .arg(&d.cgroup)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&d.stderr_path).unwrap())
            .spawn()
            .unwrap();
        d.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(&d.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "daemon did not start; stderr tail:\n{}",
                support::stderr_tail(&d.stderr_path)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        d
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap()
    }

    fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            support::stop_daemon(&mut c);
        }
        destroy_cgroup_tree(&self.cgroup);
        let _ = &self.dir;
    }
}

/// One `status` on an open connection.
fn round_trip(s: &mut BufReader<UnixStream>, line: &mut String) {
    s.get_mut().write_all(STATUS).unwrap();
    line.clear();
    s.read_line(line).unwrap();
    assert!(line.contains("\"status\":\"ok\""), "{line}");
}

/// Latencies (ms) of `n` requests from each of `CLIENTS` threads.
fn measure(socket: &Path, n: usize, per_request: bool) -> Vec<f64> {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let socket = socket.to_path_buf();
            std::thread::spawn(move || {
                let connect = || {
                    let s = UnixStream::connect(&socket).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    BufReader::new(s)
                };
                let mut line = String::new();
                let mut conn = connect();
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    if per_request {
                        conn = connect();
                    }
                    round_trip(&mut conn, &mut line);
                    out.push(ms(t.elapsed()));
                }
                out
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return f64::NAN;
    }
    let i = ((s.len() as f64 - 1.0) * p).round() as usize;
    s[i]
}

/// The hostile client: this benchmark run again as uid 65534.
struct Hostile(Child);

impl Hostile {
    fn start(kind: &str, socket: &Path) -> Hostile {
        let child = Command::new(std::env::current_exe().unwrap())
            .env(HOSTILE_ENV, kind)
            .env("CONTROL_LOAD_SOCKET", socket)
            .uid(65534)
            .gid(65534)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Let the flood get going.
        std::thread::sleep(Duration::from_millis(500));
        Hostile(child)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs forever as the hostile client (killed by the benchmark).
fn hostile(kind: &str) {
    let socket = PathBuf::from(std::env::var_os("CONTROL_LOAD_SOCKET").unwrap());
    match kind {
        // Asks for big replies and never reads them; reconnects when dropped.
        "unread" => loop {
            let Ok(mut s) = UnixStream::connect(&socket) else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            s.set_nonblocking(true).unwrap();
            loop {
                match s.write(b"{\"v\":1,\"cmd\":\"show-config\"}\n") {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(_) => break,
                }
            }
        },
        // Bare newlines as fast as the daemon takes them.
        "newlines" => {
            let chunk = vec![b'\n'; 1 << 20];
            loop {
                if let Ok(mut s) = UnixStream::connect(&socket) {
                    while s.write_all(&chunk).is_ok() {}
                }
            }
        }
        // Holds every connection it gets and keeps asking for more.
        "conns" => {
            let mut held = Vec::new();
            loop {
                match UnixStream::connect(&socket) {
                    Ok(s) => held.push(s),
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
                if held.len() >= 2000 {
                    // Drop those the daemon refused (closed on its side).
                    held.retain(|s| {
                        s.set_nonblocking(true).unwrap();
                        let mut b = [0u8; 512];
                        (&*s).read(&mut b).is_err()
                    });
                }
            }
        }
        other => panic!("unknown hostile kind {other}"),
    }
}

fn main() {
    if let Ok(kind) = std::env::var(HOSTILE_ENV) {
        hostile(&kind);
        return;
    }
    let Some((mount, n)) = support::setup("control_load", 200) else {
        return;
    };
    let d = Daemon::start(&mount);
    println!(
        "control_load: {CLIENTS} clients x {n} status requests, {JOBS} jobs, hostile client uid 65534"
    );
    // Warm up.
    measure(&d.socket, 20, false);
    let mut ok = true;
    // Each hostile run is preceded by a quiet one, so both share the machine's noise.
    for kind in ["unread", "newlines", "conns"] {
        let rss_quiet = d.rss_kib();
        let quiet = [measure(&d.socket, n, false), measure(&d.socket, n, true)];
        let q50 = [percentile(&quiet[0], 0.5), percentile(&quiet[1], 0.5)];
        println!(
            "quiet     one connection p50 {:.3} ms p99 {:.3} ms              | new connection p50 {:.3} ms p99 {:.3} ms              | rss {rss_quiet} KiB",
            q50[0],
            percentile(&quiet[0], 0.99),
            q50[1],
            percentile(&quiet[1], 0.99),
        );
        let h = Hostile::start(kind, &d.socket);
        let one = measure(&d.socket, n, false);
        let fresh = measure(&d.socket, n, true);
        let rss = d.rss_kib();
        drop(h);
        let r = [
            percentile(&one, 0.5) / q50[0],
            percentile(&fresh, 0.5) / q50[1],
        ];
        let worst = percentile(&one, 1.0).max(percentile(&fresh, 1.0));
        let p99 = percentile(&one, 0.99).max(percentile(&fresh, 0.99));
        let pass = r[0] <= MAX_RATIO && r[1] <= MAX_RATIO && p99 <= MAX_ROOT_MS;
        ok &= pass;
        println!(
            "{kind:9} one connection p50 {:.3} ms p99 {:.3} ms (ratio {:.2}) | new connection p50 {:.3} ms p99 {:.3} ms (ratio {:.2}) | rss {rss} KiB | worst {worst:.1} ms | {}",
            percentile(&one, 0.5),
            percentile(&one, 0.99),
            r[0],
            percentile(&fresh, 0.5),
            percentile(&fresh, 0.99),
            r[1],
            verdict(pass)
        );
    }
    println!(
        "targets: p50 ratio <= {MAX_RATIO}, root status p99 <= {MAX_ROOT_MS} ms: {}",
        verdict(ok)
    );
}
