//! `started` means ready: sd_notify, `ready on` sources and events, `start timeout`, and
//! real daemons that a client can use the moment `outsetctl start` returns.

use std::io::{Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::time::{Duration, Instant};

use crate::common::*;

fn daemon(setup: impl FnOnce(&TestDaemon, &str)) -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    let mut d = TestDaemon::new(&mount);
    let p = d.dir.path().display().to_string();
    setup(&d, &p);
    d.start(&["--no-startup-event"]);
    Some(d)
}

#[test]
fn notify_ready_late_never_ready_and_ready_then_dies() {
    let Some(d) = daemon(|d, p| {
        d.write_job(
            "late",
            &format!("expect notify\nexec {TESTD} --notify --notify-delay-ms 600 --status warm\n"),
        );
        d.write_job(
            "never",
            &format!("expect notify\nstart timeout 1\nexec {TESTD}\n"),
        );
        d.write_job(
            "dies",
            &format!("expect notify\nexec {TESTD} --notify --exit-after-ms 300 --exit-code 4\n"),
        );
        d.write_job(
            "watch",
            &format!("start on stopped dies\ntask\nexec sh -c 'echo $RESULT $EXIT_STATUS > {p}/dies.stopped'\n"),
        );
    }) else {
        return;
    };
    let t = Instant::now();
    let out = d.ctl_ok(&["start", "late"]);
    assert!(
        t.elapsed() >= Duration::from_millis(550),
        "running before READY=1"
    );
    assert!(out.starts_with("late start/running"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&d.ctl_ok(&["--json", "status", "late"])).unwrap();
    assert_eq!(v[0]["notes"][0], "STATUS=warm");

    let t = Instant::now();
    let out = d.ctl(&["start", "never"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Job failed to start: never"));
    assert!(t.elapsed() < Duration::from_secs(4));
    assert!(d.stderr().contains("not ready within `start timeout`"));

    d.ctl_ok(&["start", "dies"]);
    assert_eq!(d.wait_file("dies.stopped"), "failed 4\n");
}

#[test]
fn notify_lies_and_strangers_are_ignored() {
    let Some(d) = daemon(|d, _| {
        // Claims PID 1 is its main process.
        d.write_job(
            "liar",
            &format!("expect notify\nexec {TESTD} --notify --mainpid 1\n"),
        );
        d.write_job("quiet", "expect notify\nstart timeout 2\nexec sleep 100\n");
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "liar"]);
    let main = main_pid(&out).unwrap();
    assert_ne!(main, 1, "{out}");
    assert!(d.stderr().contains("MAINPID=1"), "{}", d.stderr());
    d.ctl_ok(&["stop", "liar"]);

    // A process outside the job sends READY=1 to the job's socket: ignored.
    let _ = d.ctl(&["start", "--no-wait", "quiet"]);
    let mut socket = None;
    d.wait_for("quiet's NOTIFY_SOCKET", Duration::from_secs(5), || {
        let Some(pid) = main_pid(&d.status(&["quiet"])) else {
            return false;
        };
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        socket = env
            .split(|b| *b == 0)
            .filter_map(|e| std::str::from_utf8(e).ok())
            .find_map(|e| e.strip_prefix("NOTIFY_SOCKET=@"))
            .map(str::to_string);
        socket.is_some()
    });
    let name = socket.unwrap();
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
    s.send_to_addr(b"READY=1", &addr).unwrap();
    d.wait_for("the stranger to be logged", Duration::from_secs(5), || {
        d.stderr().contains("which is not part of the job; ignored")
    });
    assert!(d.status(&["quiet"]).contains("start/spawned"));
    d.wait_status(&["quiet"], "stop/waiting");
}

#[test]
fn ready_on_file_listening_and_event() {
    let port = free_port();
    let Some(d) = daemon(|d, p| {
        d.write_job(
            "file",
            &format!(
                "ready on file {p}/flag\nexec sh -c 'sleep 0.4; touch {p}/flag; exec sleep 100'\n"
            ),
        );
        d.write_job(
            "port",
            &format!("ready on listening tcp:127.0.0.1:{port}\nexec {TESTD} --listen {port} --listen-delay-ms 400\n"),
        );
        d.write_job("evt", "ready on app-ready and file /\nexec sleep 100\n");
        d.write_job(
            "deep",
            &format!(
                "ready on file {p}/later/dir/flag\nexec sh -c 'sleep 0.3; mkdir -p {p}/later/dir; sleep 0.1; touch {p}/later/dir/flag; exec sleep 100'\n"
            ),
        );
    }) else {
        return;
    };
    let t = Instant::now();
    d.ctl_ok(&["start", "file"]);
    assert!(t.elapsed() >= Duration::from_millis(350));
    assert!(d.path("flag").exists());

    let t = Instant::now();
    d.ctl_ok(&["start", "port"]);
    assert!(t.elapsed() >= Duration::from_millis(350));
    // Ready means a client gets through at once.
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    // A file in directories that do not exist yet: watched from the nearest one that does.
    let t = Instant::now();
    d.ctl_ok(&["start", "deep"]);
    assert!(t.elapsed() >= Duration::from_millis(350));
    assert!(d.path("later/dir/flag").exists());

    let _ = d.ctl(&["start", "--no-wait", "evt"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(d.status(&["evt"]).contains("start/spawned"));
    d.ctl_ok(&["emit", "app-ready"]);
    d.wait_status(&["evt"], "start/running");
    // stop works while waiting for readiness too.
    d.write_job("stuck", "ready on never-comes\nexec sleep 100\n");
    d.ctl_ok(&["reload-configuration"]);
    let _ = d.ctl(&["start", "--no-wait", "stuck"]);
    d.wait_status(&["stuck"], "start/spawned");
    assert!(d.ctl_ok(&["stop", "stuck"]).contains("stop/waiting"));
}

#[test]
fn redis_under_expect_notify_serves_as_soon_as_started() {
    let Some(bin) = installed("redis-server").map(|p| p.display().to_string()) else {
        return;
    };
    let port = free_port();
    let Some(d) = daemon(|d, p| {
        d.write_job(
            "redis",
            &format!(
                "expect notify\nstart timeout 20\nexec {bin} --supervised systemd --daemonize no --bind 127.0.0.1 \
                 --port {port} --dir {p} --save \"\" --logfile {p}/redis.log\n"
            ),
        );
    }) else {
        return;
    };
    for _ in 0..3 {
        d.ctl_ok(&["start", "redis"]);
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"+PONG\r\n");
        d.ctl_ok(&["stop", "redis"]);
    }
}

#[test]
fn memcached_ready_on_listening() {
    let Some(bin) = installed("memcached").map(|p| p.display().to_string()) else {
        return;
    };
    let port = free_port();
    let Some(d) = daemon(|d, _| {
        d.write_job(
            "memcached",
            &format!(
                "expect fork\nready on listening tcp:127.0.0.1:{port}\nexec {bin} -d -u nobody -l 127.0.0.1 -p {port} -U 0\n"
            ),
        );
    }) else {
        return;
    };
    for _ in 0..3 {
        d.ctl_ok(&["start", "memcached"]);
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"version\r\n").unwrap();
        let mut buf = [0u8; 8];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"VERSION ");
        d.ctl_ok(&["stop", "memcached"]);
    }
}

#[test]
fn ready_on_dbus_waits_for_the_name_on_the_bus() {
    let Some(bus_daemon) = installed("dbus-daemon").map(|p| p.display().to_string()) else {
        return;
    };
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let address = format!("unix:path={}/bus", d.dir.path().display());
    // Killed and reaped however the test ends.
    struct Bus(std::process::Child);
    impl Drop for Bus {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _bus = Bus(std::process::Command::new(&bus_daemon)
        .args([
            "--session",
            "--nofork",
            "--nopidfile",
            &format!("--address={address}"),
        ])
        .spawn()
        .unwrap());
    d.wait_for("the private bus", Duration::from_secs(10), || {
        d.path("bus").exists()
    });
    d.env.push(("DBUS_SESSION_BUS_ADDRESS".into(), address));
    d.write_job(
        "busy",
        &format!("ready on dbus org.outset.Ready\nexec {TESTD} --dbus-name org.outset.Ready --dbus-delay-ms 400\n"),
    );
    d.start(&["--no-startup-event"]);
    let t = Instant::now();
    let out = d.ctl_ok(&["start", "busy"]);
    assert!(out.contains("start/running"), "{out}");
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "running before the name was owned"
    );
    d.ctl_ok(&["stop", "busy"]);
}
