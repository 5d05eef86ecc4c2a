//! Socket activation benchmark (issue 17 item 1): the latency of the first connection to a
//! socket-activated job that is not running (outset listens, starts the job on the
//! connection, the job accepts it), of later connections to the running job, and
//! connections per second through it; against the same server already listening on its own
//! socket, measured in the same run. Medians side by side.
//!
//! Run with `cargo bench -p outset --bench socket_activation` (as root, with a writable
//! cgroup2 mount). `BENCH_ROUNDS` overrides the number of rounds (default 7).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{destroy_cgroup_tree, median, ms};

use std::fs::File;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OUTSET: &str = env!("CARGO_BIN_EXE_outset");
const TESTD: &str = env!("CARGO_BIN_EXE_outset-testd");

/// Connections made one after another to the running server, per round.
const LATER: usize = 200;

/// One connection: connect, read the server's line to its end.
fn one(port: u16) -> Duration {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("served by PID"), "{out:?}");
    t.elapsed()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon with one socket-activated job; Drop stops it and removes its cgroup subtree.
struct DaemonGuard {
    dir: tempfile::TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
    cgroup: PathBuf,
    child: Option<Child>,
}

impl DaemonGuard {
    fn start(mount: &Path, round: usize, port: u16) -> DaemonGuard {
        let dir = tempfile::tempdir().unwrap();
        let confdir = dir.path().join("conf");
        std::fs::create_dir_all(&confdir).unwrap();
        std::fs::write(
            confdir.join("web.conf"),
            format!(
                "start on socket PROTO=inet PORT={port} ADDR=127.0.0.1\nconsole none\nexec {TESTD} --serve-fd3 {}/web.env\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let cgroup = mount.join(format!("outset-sockbench-{}-{round}", std::process::id()));
        let mut g = DaemonGuard {
            socket: dir.path().join("s"),
            stderr_path: dir.path().join("daemon.stderr"),
            cgroup,
            dir,
            child: None,
        };
        std::fs::create_dir(&g.cgroup).unwrap();
        let stderr = File::create(&g.stderr_path).unwrap();
        g.child = Some(
            Command::new(OUTSET)
                .env("XDG_RUNTIME_DIR", g.dir.path())
                .args(["--user", "--no-startup-event", "--confdir"])
                .arg(&confdir)
                .arg("--socket")
                .arg(&g.socket)
                .arg("--cgroup-root")
                .arg(&g.cgroup)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(&g.socket).is_err() {
            assert!(Instant::now() < deadline, "daemon did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Answered once the jobs (and so their sockets) are loaded.
        support::ctl(&g.socket, &g.stderr_path, &["status", "web"]);
        g
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

/// The same server started directly on a socket it has from the start; Drop kills it by
/// PID and reaps it.
struct Direct(u32);

impl Direct {
    fn start(dir: &Path, port: u16) -> Direct {
        use outset_sys::activation::{Endpoint, listen};
        use outset_sys::spawn::{ProgramSpec, SharedFd, SpawnPlan, SpawnRequest, spawn};
        let sock = listen(&Endpoint::Inet(
            format!("127.0.0.1:{port}").parse().unwrap(),
        ))
        .unwrap();
        let mut req = SpawnRequest::new(ProgramSpec::Argv(vec![
            TESTD.into(),
            "--serve-fd3".into(),
            dir.join("direct.env").display().to_string(),
        ]));
        req.env = vec![("LISTEN_FDS".into(), "1".into())];
        req.pass_fd = Some(SharedFd(std::rc::Rc::new(sock)));
        let s = spawn(&SpawnPlan::new(&req).unwrap()).unwrap();
        let server = Direct(s.pid);
        // Already listening means already serving: up to its accept loop.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join("direct.env").exists() {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(20));
        server
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        if let Ok(fd) = outset_sys::pidfd::PidFd::open(self.0) {
            let _ = fd.signal(9);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while outset_sys::reap::reap_these(&[self.0]).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

struct Round {
    first: f64,
    later: f64,
    per_second: f64,
}

/// The first connection, then `LATER` more one after another.
fn measure(port: u16) -> Round {
    let first = ms(one(port));
    let t = Instant::now();
    let later: Vec<f64> = (0..LATER).map(|_| ms(one(port))).collect();
    Round {
        first,
        later: median(&later),
        per_second: LATER as f64 / t.elapsed().as_secs_f64(),
    }
}

fn main() {
    let Some((mount, rounds)) = support::setup("socket_activation", 7) else {
        return;
    };
    println!(
        "socket_activation: a TCP server on 127.0.0.1, {rounds} rounds of 1 + {LATER} connections"
    );
    let (mut af, mut al, mut ac, mut df, mut dl, mut dc) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let port = free_port();
        let act = {
            let d = DaemonGuard::start(&mount, round, port);
            let r = measure(port);
            assert!(
                std::fs::read_to_string(d.dir.path().join("web.env"))
                    .unwrap()
                    .contains("LISTEN_FDS=1")
            );
            r
        };
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let direct = {
            let _server = Direct::start(dir.path(), port);
            measure(port)
        };
        println!(
            "round {round}: first connection {:.2} ms activated / {:.2} ms listening; later {:.3} / {:.3} ms; {:.0} / {:.0} connections/s",
            act.first, direct.first, act.later, direct.later, act.per_second, direct.per_second
        );
        af.push(act.first);
        al.push(act.later);
        ac.push(act.per_second);
        df.push(direct.first);
        dl.push(direct.later);
        dc.push(direct.per_second);
    }
    let (af, al, ac, df, dl, dc) = (
        median(&af),
        median(&al),
        median(&ac),
        median(&df),
        median(&dl),
        median(&dc),
    );
    println!("medians:            activated   already listening   ratio");
    println!(
        "first connection    {af:>8.2} ms {df:>12.2} ms {:>12.1}",
        af / df
    );
    println!(
        "later connections   {al:>8.3} ms {dl:>12.3} ms {:>12.2}",
        al / dl
    );
    println!(
        "connections/s       {ac:>8.0}    {dc:>12.0}    {:>12.2}",
        ac / dc
    );
}
