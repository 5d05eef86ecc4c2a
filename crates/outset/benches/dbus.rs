//! Issue 16 item 1: the D-Bus API's cost, side by side with the control socket's.
//!
//! - Round trips of "start this job and wait until it runs", three ways, each from an open
//!   connection in this process: the control socket (one JSON `start` with `wait`), D-Bus on
//!   the private socket and D-Bus through a `dbus-daemon` (both `GetJobByName` then
//!   `Job.Start(env, wait=true)`, as `initctl start` does). The job is stopped between rounds
//!   through the control socket, untimed. Medians, in ms.
//! - The daemon's RSS with the same jobs and no D-Bus, with the private socket only, and with
//!   the private socket and a bus connection that has served calls.
//!
//! `cargo bench -p outset --bench dbus` (root, cgroup2, `dbus-daemon`); `BENCH_ROUNDS` sets
//! the rounds (default 200). `BENCH_OUTSET_BEFORE=PATH`: also the RSS of that build (one
//! without the D-Bus API), with the same jobs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outset_dbus::{Kind, Message, Value};
use support::{destroy_cgroup_tree, median, ms};

const OUTSET: &str = env!("CARGO_BIN_EXE_outset");
const JOBS: usize = 100;

struct Daemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    stderr_path: PathBuf,
    cgroup: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn start(mount: &Path, tag: &str, dbus: &[&str]) -> Daemon {
        Daemon::start_bin(OUTSET, mount, tag, dbus)
    }

    fn start_bin(bin: &str, mount: &Path, tag: &str, dbus: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let confdir = dir.path().join("conf");
        std::fs::create_dir_all(&confdir).unwrap();
        for i in 0..JOBS {
            std::fs::write(
                confdir.join(format!("j{i}.conf")),
                "description \"a job\"\nstart on never\nexec sleep 1000\n",
            )
            .unwrap();
        }
        let mut d = Daemon {
            socket: dir.path().join("control"),
            stderr_path: dir.path().join("daemon.stderr"),
            cgroup: mount.join(format!("outset-bench-dbus-{}-{tag}", std::process::id())),
            dir,
            child: None,
        };
        let child = Command::new(bin)
            .args(["--no-startup-event", "--confdir"])
            .arg(&confdir)
            .arg("--socket")
            .arg(&d.socket)
            .arg("--cgroup-root")
            .arg(&d.cgroup)
            .args(dbus)
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

    /// (RSS, its anonymous part) in KiB: the binary's own pages are file-backed, shared and
    /// reclaimable, so the anonymous part is what the daemon's data costs.
    fn rss_kib(&self) -> (u64, u64) {
        let pid = self.child.as_ref().map(Child::id).unwrap();
        let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
        let field = |name: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("Rss:"), field("Anonymous:"))
    }

    /// RSS once the loop has been idle long enough to give memory back.
    fn settled_rss(&self) -> (u64, u64) {
        std::thread::sleep(Duration::from_millis(500));
        self.rss_kib()
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

/// A `dbus-daemon` of the benchmark's own, killed by PID when dropped.
struct Bus {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Option<Bus> {
        let bin = ["/usr/bin/dbus-daemon", "/bin/dbus-daemon"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<busconfig><type>session</type><listen>unix:path={}/bus</listen>\
                 <auth>EXTERNAL</auth><policy context=\"default\"><allow user=\"*\"/>\
                 <allow own=\"*\"/><allow send_destination=\"*\"/>\
                 <allow receive_sender=\"*\"/></policy></busconfig>",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut child = Command::new(bin)
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Some(Bus {
            child,
            address: line.trim().to_string(),
            _dir: dir,
        })
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking D-Bus client over one connection (`bus`: say Hello and address the name).
struct Client {
    s: UnixStream,
    input: Vec<u8>,
    serial: u32,
    dest: Option<String>,
}

impl Client {
    fn connect(address: &str, bus: bool) -> Client {
        use std::os::linux::net::SocketAddrExt;
        let s = if let Some(name) = address.strip_prefix("unix:abstract=") {
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            UnixStream::connect_addr(&addr).unwrap()
        } else {
            let path = address
                .strip_prefix("unix:path=")
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            UnixStream::connect(path).unwrap()
        };
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Client {
            s,
            input: Vec::new(),
            serial: 0,
            dest: bus.then(|| "com.ubuntu.Upstart".to_string()),
        };
        c.s.write_all(&outset_dbus::auth::client_hello(0)).unwrap();
        let mut byte = [0u8; 1];
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            c.s.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        assert!(line.starts_with(b"OK "));
        c.s.write_all(b"BEGIN\r\n").unwrap();
        if bus {
            let hello = Message {
                destination: Some("org.freedesktop.DBus".into()),
                ..Message::method_call(
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "Hello",
                    vec![],
                )
            };
            c.call(hello);
        }
        c
    }

    fn call(&mut self, mut m: Message) -> Message {
        self.serial += 1;
        m.serial = self.serial;
        if m.destination.is_none() {
            m.destination = self.dest.clone();
        }
        self.s.write_all(&m.encode()).unwrap();
        loop {
            // Signals come too: every buffered message is looked at before reading more.
            while let Some(r) = outset_dbus::message::take(&mut self.input).unwrap() {
                if r.reply_serial == Some(self.serial) {
                    return r;
                }
            }
            let mut buf = [0u8; 8192];
            let n = self.s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    /// `initctl start JOB`: GetJobByName, then Job.Start(env, wait=true).
    fn start(&mut self, job: &str) {
        let r = self.call(Message::method_call(
            "/com/ubuntu/Upstart",
            "com.ubuntu.Upstart0_6",
            "GetJobByName",
            vec![Value::Str(job.into())],
        ));
        assert_eq!(r.kind, Some(Kind::Return), "{r:?}");
        let path = r.body[0].as_str().unwrap().to_string();
        let r = self.call(Message::method_call(
            &path,
            "com.ubuntu.Upstart0_6.Job",
            "Start",
            vec![Value::strings::<&str>(&[]), Value::Bool(true)],
        ));
        assert_eq!(r.kind, Some(Kind::Return), "{r:?}");
    }
}

/// One JSON request with its reply line, on an open control connection.
fn control(s: &mut BufReader<UnixStream>, request: &str) {
    s.get_mut().write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    s.read_line(&mut line).unwrap();
    assert!(line.contains("\"status\":\"ok\""), "{request}: {line}");
}

fn main() {
    let Some((mount, rounds)) = support::setup("dbus", 200) else {
        return;
    };
    let Some(bus) = Bus::start() else {
        eprintln!("dbus: dbus-daemon is not installed; skipping");
        return;
    };
    let private = format!("unix:abstract=/outset-bench/{}", std::process::id());

    // Memory first, each daemon on its own.
    let rss_before = std::env::var("BENCH_OUTSET_BEFORE").ok().map(|bin| {
        let d = Daemon::start_bin(&bin, &mount, "before", &[]);
        d.settled_rss()
    });
    let rss_none = {
        let d = Daemon::start(
            &mount,
            "none",
            &["--dbus-private", "none", "--dbus-bus", "none"],
        );
        d.settled_rss()
    };
    let rss_private = {
        let d = Daemon::start(
            &mount,
            "private",
            &["--dbus-private", &private, "--dbus-bus", "none"],
        );
        let mut c = Client::connect(&private, false);
        c.start("j0");
        d.settled_rss()
    };

    let d = Daemon::start(
        &mount,
        "bus",
        &["--dbus-private", &private, "--dbus-bus", &bus.address],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !outset_sys::dbus::name_has_owner(
        &bus.address,
        "com.ubuntu.Upstart",
        Duration::from_secs(2),
    )
    .unwrap_or(false)
    {
        assert!(
            Instant::now() < deadline,
            "the daemon never took its name on {}; stderr tail:\n{}",
            bus.address,
            support::stderr_tail(&d.stderr_path)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut ctl = {
        let s = UnixStream::connect(&d.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        BufReader::new(s)
    };
    let mut via_private = Client::connect(&private, false);
    let mut via_bus = Client::connect(&bus.address, true);
    let stop = "{\"v\":1,\"cmd\":\"stop\",\"job\":\"j1\",\"wait\":true}\n";
    let (mut t_ctl, mut t_private, mut t_bus) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        control(
            &mut ctl,
            "{\"v\":1,\"cmd\":\"start\",\"job\":\"j1\",\"wait\":true}\n",
        );
        t_ctl.push(ms(t.elapsed()));
        control(&mut ctl, stop);
        let t = Instant::now();
        via_private.start("j1");
        t_private.push(ms(t.elapsed()));
        control(&mut ctl, stop);
        let t = Instant::now();
        via_bus.start("j1");
        t_bus.push(ms(t.elapsed()));
        control(&mut ctl, stop);
    }
    let rss_bus = d.settled_rss();
    let (c, p, b) = (median(&t_ctl), median(&t_private), median(&t_bus));
    println!("start with wait, {rounds} rounds, median ms (each from an open connection):");
    println!("  control socket (JSON start)                    {c:8.3}");
    println!(
        "  D-Bus, private socket (GetJobByName + Start)   {p:8.3}   {:.2}x",
        p / c
    );
    println!(
        "  D-Bus, through dbus-daemon (same two calls)    {b:8.3}   {:.2}x",
        b / c
    );
    println!("daemon memory with {JOBS} jobs, KiB:                 RSS   anonymous");
    let row = |what: &str, (rss, anon): (u64, u64)| {
        println!(
            "  {what:<48} {rss:6} {anon:6}   {:+}",
            anon as i64 - rss_none.1 as i64
        );
    };
    if let Some(before) = rss_before {
        row("the build before the D-Bus API", before);
    }
    row("no D-Bus (--dbus-private none --dbus-bus none)", rss_none);
    row("private socket, one client served", rss_private);
    row(
        &format!("private socket and bus, {} calls served", rounds * 4),
        rss_bus,
    );
}
