//! Issue 17: event sources built into the daemon: socket activation (item 1), file events
//! (item 2) and the pacing of respawns (item 6).

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::*;

/// Reads what the server sends on one connection, to its end.
fn served(mut s: impl Read) -> String {
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The PID in `served by PID N`.
fn served_pid(line: &str) -> u32 {
    line.trim()
        .strip_prefix("served by PID ")
        .unwrap_or_else(|| panic!("not served: {line:?}"))
        .parse()
        .unwrap()
}

fn with_timeout(s: &std::net::TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
}

/// Item 1: the first connection to a loopback TCP port starts the job, which accepts it
/// (nothing refused, nothing lost: five connections made before the job runs are all
/// served); the job sees UPSTART_FDS=3, LISTEN_FDS=1 and its own PID as LISTEN_PID; later
/// connections go to the running job; the socket stays open across a restart.
#[test]
fn issue17_item1_tcp_socket_activation() {
    let port = free_port();
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        d.write_job(
            "web",
            &format!(
                "start on socket PROTO=inet PORT={port} ADDR=127.0.0.1\nexec {TESTD} --serve-fd3 {p}/web.env\n"
            ),
        );
        d.write_job(
            "seen",
            &format!(
                "start on socket PROTO=inet\ntask\nexec sh -c 'echo \"$PROTO $PORT $ADDR\" >> {p}/seen'\n"
            ),
        );
    }) else {
        return;
    };
    // Answered once the jobs are loaded (and so their sockets listen).
    assert_eq!(d.status(&["web"]), "web stop/waiting");
    // Five clients at once, before the job exists: all are served by the one job.
    let clients: Vec<std::net::TcpStream> = (0..5)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut pids = Vec::new();
    for c in clients {
        with_timeout(&c);
        pids.push(served_pid(&served(c)));
    }
    let pid = pids[0];
    assert!(pids.iter().all(|p| *p == pid), "{pids:?}");
    assert_eq!(
        d.wait_file("web.env"),
        format!("LISTEN_FDS=1 LISTEN_PID={pid} UPSTART_FDS=3 LISTEN_FDNAMES=web PID={pid}\n")
    );
    assert!(
        d.status(&["web"])
            .contains(&format!("start/running, process {pid}"))
    );
    // The event carried the bridge's variables.
    assert_eq!(
        d.wait_file("seen").lines().next(),
        Some(format!("inet {port} 127.0.0.1").as_str())
    );
    // Later connections: the running job.
    for _ in 0..3 {
        let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        with_timeout(&c);
        assert_eq!(served_pid(&served(c)), pid);
    }
    // Stopped, the port still listens (the daemon's), and the next client starts it again.
    stop_leaves_nothing(&d, "web");
    std::fs::remove_file(d.path("web.env")).unwrap();
    let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    with_timeout(&c);
    let again = served_pid(&served(c));
    assert_ne!(again, pid);
    assert!(
        d.wait_file("web.env")
            .contains(&format!("LISTEN_PID={again} "))
    );
    stop_leaves_nothing(&d, "web");
}

/// Item 1: a Unix path and an abstract socket, the same way; removing the job closes its
/// socket (the path refuses connections once the daemon has reloaded).
#[test]
fn issue17_item1_unix_and_abstract_socket_activation() {
    let abs = format!("outset-test-{}-activation", std::process::id());
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        d.write_job(
            "local",
            &format!(
                "start on socket PROTO=unix SOCKET_PATH={p}/local.sock\nexec {TESTD} --serve-fd3 {p}/local.env\n"
            ),
        );
        d.write_job(
            "hidden",
            &format!(
                "start on socket PROTO=unix SOCKET_PATH=@{abs}\nexec {TESTD} --serve-fd3 {p}/hidden.env\n"
            ),
        );
    }) else {
        return;
    };
    assert_eq!(d.status(&["local"]), "local stop/waiting");
    let path = d.path("local.sock");
    let mut pids = Vec::new();
    let clients: Vec<std::os::unix::net::UnixStream> = (0..3)
        .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
        .collect();
    for c in clients {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        pids.push(served_pid(&served(c)));
    }
    assert!(pids.iter().all(|p| *p == pids[0]), "{pids:?}");
    let env = d.wait_file("local.env");
    assert_eq!(
        env,
        format!(
            "LISTEN_FDS=1 LISTEN_PID={p} UPSTART_FDS=3 LISTEN_FDNAMES=local PID={p}\n",
            p = pids[0]
        )
    );

    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes()).unwrap();
    let c = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let hp = served_pid(&served(c));
    assert!(
        d.wait_file("hidden.env")
            .contains(&format!("LISTEN_PID={hp} "))
    );

    // No job names the path any more: the daemon closes it at reload.
    d.ctl_ok(&["stop", "hidden"]);
    stop_leaves_nothing(&d, "local");
    std::fs::remove_file(d.confdir.join("local.conf")).unwrap();
    d.ctl_ok(&["reload-configuration"]);
    d.wait_for("the socket to close", Duration::from_secs(10), || {
        std::os::unix::net::UnixStream::connect(&path).is_err()
    });
}

/// Item 1: a job that fails at once, started by a connection it never accepts, is not
/// started over and over by that one waiting connection.
#[test]
fn issue17_item1_failing_activated_job_does_not_spin() {
    let port = free_port();
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        d.write_job(
            "broken",
            &format!(
                "start on socket PROTO=inet PORT={port} ADDR=127.0.0.1\nexec sh -c 'echo x >> {p}/runs; exit 1'\n"
            ),
        );
    }) else {
        return;
    };
    // Answered once the jobs are loaded (and so their sockets listen).
    assert_eq!(d.status(&["broken"]), "broken stop/waiting");
    let _c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    d.wait_file("runs");
    std::thread::sleep(Duration::from_secs(3));
    let runs = std::fs::read_to_string(d.path("runs"))
        .unwrap()
        .lines()
        .count();
    // One run, then at most one more per REARM_PAUSE (1 s) while the connection waits.
    assert!((1..=5).contains(&runs), "{runs} runs in 3 s");
}

/// Item 6: `respawn delay 1 max 2` on a job that exits at once: the spawns are paced
/// (about 1 s, then 2 s apart), where without a delay `respawn limit unlimited` would spin.
#[test]
fn issue17_item6_respawn_delay_paces_a_flapping_job() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        d.write_job(
            "flap",
            &format!(
                "respawn\nrespawn limit unlimited\nrespawn delay 1 max 2\nexec sh -c 'echo x >> {p}/spawns; exit 1'\n"
            ),
        );
    }) else {
        return;
    };
    let daemon_pid = d.child.as_ref().unwrap().id();
    let cpu_before = cpu_ticks(daemon_pid);
    let t = Instant::now();
    d.ctl(&["start", "flap"]);
    std::thread::sleep(Duration::from_millis(6000));
    let spawns = std::fs::read_to_string(d.path("spawns"))
        .unwrap()
        .lines()
        .count();
    let elapsed = t.elapsed().as_secs_f64();
    // The daemon's CPU time over the window (clock ticks, 100 a second): a daemon that
    // spun on the flapping job would use most of the 6 s.
    let cpu = cpu_ticks(daemon_pid) - cpu_before;
    println!("{spawns} spawns and {cpu} ticks of daemon CPU in {elapsed:.1} s");
    assert!(
        cpu < 200,
        "the daemon used {cpu} ticks of CPU in {elapsed:.1} s"
    );
    // Paced: spawns at about 0, 1, 3, 5 s. Generous bounds: at least two (it respawns), and
    // far fewer than a spin would make.
    assert!(
        (2..=8).contains(&spawns),
        "{spawns} spawns in {elapsed:.1} s"
    );
    // Between spawns the job waits in post-stop, goal start.
    d.wait_status(&["flap"], "start/post-stop");
    let out = d.ctl_ok(&["stop", "flap"]);
    assert!(out.contains("stop/waiting"), "{out}");
    let after = std::fs::read_to_string(d.path("spawns"))
        .unwrap()
        .lines()
        .count();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        std::fs::read_to_string(d.path("spawns"))
            .unwrap()
            .lines()
            .count(),
        after,
        "no respawn after the stop"
    );
}

/// utime + stime of a process, in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Waits until the file `rel` (written by jobs) has a line containing `needle`.
fn wait_line(d: &TestDaemon, rel: &str, needle: &str) {
    let p = d.path(rel);
    d.wait_for(
        &format!("{needle:?} in {rel}"),
        Duration::from_secs(15),
        || std::fs::read_to_string(&p).is_ok_and(|t| t.lines().any(|l| l.contains(needle))),
    );
}

/// Item 2: `file` events for create, modify and delete with a glob (MATCH names the file;
/// a name the glob does not match gives nothing), and a directory created after start-up
/// (the watch moves down to it): its own creation, then a file created inside it.
#[test]
fn issue17_item2_file_events_with_a_glob_and_a_later_directory() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        std::fs::create_dir(d.path("watched")).unwrap();
        for (job, ev) in [("fc", "create"), ("fm", "modify"), ("fd", "delete")] {
            d.write_job(
                job,
                &format!(
                    "start on file FILE={p}/watched/*.txt EVENT={ev}\ninstance $MATCH\ntask\nexec sh -c 'echo \"$FILE $EVENT $MATCH\" >> {p}/{ev}.log'\n"
                ),
            );
        }
        d.write_job(
            "dir",
            &format!(
                "start on file FILE={p}/later/sub/ EVENT=create\ntask\nexec sh -c 'echo \"$FILE $EVENT\" >> {p}/dir.log'\n"
            ),
        );
        d.write_job(
            "inside",
            &format!(
                "start on file FILE={p}/later/sub/x.conf\ntask\nexec sh -c 'echo \"$FILE $EVENT\" >> {p}/inside.log'\n"
            ),
        );
    }) else {
        return;
    };
    assert_eq!(d.status(&["dir"]), "dir stop/waiting");
    let p = d.dir.path().display().to_string();
    let glob = format!("{p}/watched/*.txt");
    std::fs::write(d.path("watched/b.log"), "no").unwrap();
    std::fs::write(d.path("watched/a.txt"), "one\n").unwrap();
    wait_line(
        &d,
        "create.log",
        &format!("{glob} create {p}/watched/a.txt"),
    );
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(d.path("watched/a.txt"))
        .unwrap()
        .write_all(b"two\n")
        .unwrap();
    wait_line(
        &d,
        "modify.log",
        &format!("{glob} modify {p}/watched/a.txt"),
    );
    std::fs::remove_file(d.path("watched/a.txt")).unwrap();
    wait_line(
        &d,
        "delete.log",
        &format!("{glob} delete {p}/watched/a.txt"),
    );
    for log in ["create.log", "modify.log", "delete.log"] {
        let text = std::fs::read_to_string(d.path(log)).unwrap_or_default();
        assert!(!text.contains("b.log"), "{log}: {text}");
    }

    // `later/` does not exist at start-up: created now, one level at a time.
    std::fs::create_dir(d.path("later")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    std::fs::create_dir(d.path("later/sub")).unwrap();
    wait_line(&d, "dir.log", &format!("{p}/later/sub/ create"));
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(d.path("later/sub/x.conf"), "x").unwrap();
    wait_line(&d, "inside.log", &format!("{p}/later/sub/x.conf create"));
}

/// Item 1, a real daemon that speaks socket activation: `dbus-daemon --address=systemd:`
/// takes its listening socket from LISTEN_FDS and refuses it unless LISTEN_PID is its own
/// PID. The first client's connection starts it, and the client gets its bus name.
#[test]
fn issue17_item1_dbus_daemon_takes_the_activated_socket() {
    let Some(bus_daemon) = installed("dbus-daemon").map(|p| p.display().to_string()) else {
        return;
    };
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        d.write_job(
            "bus",
            &format!(
                "start on socket PROTO=unix SOCKET_PATH={p}/bus.sock\nconsole output\nexec {bus_daemon} --session --nofork --nopidfile --address=systemd:\n"
            ),
        );
    }) else {
        return;
    };
    assert_eq!(d.status(&["bus"]), "bus stop/waiting");
    let address = format!("unix:path={}", d.path("bus.sock").display());
    let owner =
        outset_sys::dbus::request_name(&address, "org.outset.Activated", Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}; daemon stderr:\n{}", d.stderr()));
    let status = d.status(&["bus"]);
    assert!(status.starts_with("bus start/running, process"), "{status}");
    drop(owner);
    stop_leaves_nothing(&d, "bus");
}

/// Issue 15 with issue 17 item 1: a socket-activated job's listener is handed to the new
/// image on re-exec, not bound again (so connections waiting in its backlog survive): the
/// new image says it kept it, binds nothing, and the next connection starts the job.
#[test]
fn issue15_socket_activation_listener_survives_reexec() {
    let port = free_port();
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        d.write_job(
            "web",
            &format!(
                "start on socket PROTO=inet PORT={port} ADDR=127.0.0.1\nexec {TESTD} --serve-fd3 {p}/web.env\n"
            ),
        );
    }) else {
        return;
    };
    assert_eq!(d.status(&["web"]), "web stop/waiting");
    let listening = |d: &TestDaemon| d.stderr().matches("listening on tcp").count();
    assert_eq!(listening(&d), 1, "{}", d.stderr());
    crate::reexec::reexec(&d);
    // The connection lands in the listener the new image took over.
    let c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    with_timeout(&c);
    let pid = served_pid(&served(c));
    assert!(
        d.status(&["web"])
            .contains(&format!("start/running, process {pid}"))
    );
    assert_eq!(listening(&d), 1, "bound again:\n{}", d.stderr());
    assert!(d.stderr().contains("kept tcp 127.0.0.1"), "{}", d.stderr());
    d.ctl_ok(&["stop", "web"]);
}
