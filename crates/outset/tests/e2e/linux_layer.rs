//! The Linux layer under jobs that misbehave (issue 9): notify senders that exit at once or
//! pass descriptors, a job that makes the daemon its tracer, readiness checks on a bus.

use std::time::{Duration, Instant};

use crate::common::*;

/// The number of descriptors the daemon has open.
fn daemon_fds(d: &TestDaemon) -> usize {
    let pid = d.child.as_ref().unwrap().id();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Issue 9 item 7: READY=1 from a helper that has exited by the time the daemon reads it
/// (here a zombie its parent never reaps, so it is in no `cgroup.procs`) still counts.
#[test]
fn issue9_item7_ready_from_an_exited_helper_counts() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        std::fs::write(
            d.path("helper.py"),
            "import os, socket, time\n\
             addr = os.environ['NOTIFY_SOCKET']\n\
             addr = '\\0' + addr[1:] if addr.startswith('@') else addr\n\
             if os.fork() == 0:\n\
             \x20   socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'READY=1', addr)\n\
             \x20   os._exit(0)\n\
             time.sleep(300)\n",
        )
        .unwrap();
        d.write_job(
            "helped",
            &format!("expect notify\nstart timeout 5\nexec python3 {p}/helper.py\n"),
        );
    }) else {
        return;
    };
    for round in 0..5 {
        let out = d.ctl(&["start", "helped"]);
        assert!(
            out.status.success(),
            "round {round}: {}\ndaemon stderr:\n{}",
            String::from_utf8_lossy(&out.stderr),
            d.stderr()
        );
        stop_leaves_nothing(&d, "helped");
    }
    assert!(
        !d.stderr().contains("not part of the job"),
        "{}",
        d.stderr()
    );
}

/// Issue 9 item 8: descriptors passed with FDSTORE=1 and BARRIER=1 are closed at once:
/// every barrier returns and the daemon's descriptor count does not grow.
#[test]
fn issue9_item8_passed_fds_are_closed_and_barriers_return() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        std::fs::write(
            d.path("sender.py"),
            "import os, select, socket, sys, time\n\
             addr = os.environ['NOTIFY_SOCKET']\n\
             addr = '\\0' + addr[1:] if addr.startswith('@') else addr\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             s.connect(addr)\n\
             s.send(b'READY=1')\n\
             d = sys.argv[1]\n\
             while not os.path.exists(d + '/go'):\n\
             \x20   time.sleep(0.02)\n\
             ok = 0\n\
             for i in range(50):\n\
             \x20   r, w = os.pipe()\n\
             \x20   socket.send_fds(s, [b'BARRIER=1'], [w])\n\
             \x20   os.close(w)\n\
             \x20   p = select.poll()\n\
             \x20   p.register(r, 0)\n\
             \x20   if p.poll(5000):\n\
             \x20       ok += 1\n\
             \x20   os.close(r)\n\
             \x20   r, w = os.pipe()\n\
             \x20   socket.send_fds(s, [b'FDSTORE=1\\nFDNAME=x'], [r, w])\n\
             \x20   os.close(r)\n\
             \x20   os.close(w)\n\
             with open(d + '/done.tmp', 'w') as f:\n\
             \x20   f.write('barriers %d\\n' % ok)\n\
             os.rename(d + '/done.tmp', d + '/done')\n\
             time.sleep(300)\n",
        )
        .unwrap();
        d.write_job(
            "sender",
            &format!("expect notify\nexec python3 {p}/sender.py {p}\n"),
        );
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "sender"]);
    assert!(out.starts_with("sender start/running"), "{out}");
    let before = daemon_fds(&d);
    std::fs::write(d.path("go"), "").unwrap();
    assert_eq!(d.wait_file("done"), "barriers 50\n");
    let after = daemon_fds(&d);
    assert!(
        after <= before,
        "the daemon's descriptors grew from {before} to {after}"
    );
    assert_eq!(
        d.stderr().matches("FDSTORE=1 is not supported").count(),
        1,
        "{}",
        d.stderr()
    );
    stop_leaves_nothing(&d, "sender");
}

/// The PID tracing `pid` (0 when none), from /proc.
fn tracer_of(pid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Issue 9 item 5: a job that calls PTRACE_TRACEME on itself makes the daemon its tracer;
/// SIGTERM must still reach it at stop (its handler runs), not wait for `kill timeout`.
#[test]
fn issue9_item5_traceme_job_gets_sigterm() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display();
        std::fs::write(
            d.path("traceme.py"),
            "import ctypes, os, signal, sys, time\n\
             def term(*_):\n\
             \x20   open(sys.argv[1] + '/got-term', 'w').write('TERM\\n')\n\
             \x20   os._exit(0)\n\
             signal.signal(signal.SIGTERM, term)\n\
             libc = ctypes.CDLL(None, use_errno=True)\n\
             r = libc.ptrace(0, 0, None, None)\n\
             open(sys.argv[1] + '/traced.tmp', 'w').write('%d\\n' % r)\n\
             os.rename(sys.argv[1] + '/traced.tmp', sys.argv[1] + '/traced')\n\
             while True:\n\
             \x20   time.sleep(1)\n",
        )
        .unwrap();
        d.write_job(
            "traceme",
            &format!("kill timeout 60\nexec python3 {p}/traceme.py {p}\n"),
        );
    }) else {
        return;
    };
    let out = d.ctl_ok(&["start", "traceme"]);
    let main = main_pid(&out).unwrap();
    assert_eq!(d.wait_file("traced"), "0\n", "PTRACE_TRACEME failed");
    let daemon_pid = d.child.as_ref().unwrap().id();
    assert_eq!(
        tracer_of(main),
        daemon_pid,
        "the job is not traced by outset"
    );
    let t = Instant::now();
    stop_leaves_nothing(&d, "traceme");
    // A hang check, not a measure: the kill timeout is 60 s.
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "stop waited for SIGKILL"
    );
    assert_eq!(
        std::fs::read_to_string(d.path("got-term")).unwrap_or_default(),
        "TERM\n",
        "SIGTERM never reached the job; daemon stderr:\n{}",
        d.stderr()
    );
    assert!(d.stderr().contains("PTRACE_TRACEME"), "{}", d.stderr());
}

/// Killed and reaped however the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts 20 jobs that wait for names on the bus at `address`, then checks `status` stays
/// answered at once while they wait (a hang check: the bound is far above a normal reply,
/// far below a loop that waits on the bus for each job).
fn status_stays_fast_while_jobs_wait_for_the_bus(d: &mut TestDaemon, address: &str) {
    d.env
        .push(("DBUS_SESSION_BUS_ADDRESS".into(), address.to_string()));
    for i in 0..20 {
        d.write_job(
            &format!("waits{i}"),
            &format!("ready on dbus org.outset.Never{i}\nstart timeout 120\nexec sleep 300\n"),
        );
    }
    d.start(&["--no-startup-event"]);
    for i in 0..20 {
        d.ctl_ok(&["--no-wait", "start", &format!("waits{i}")]);
    }
    d.wait_status(&["waits19"], "start/spawned");
    for round in 0..5 {
        let t = Instant::now();
        let out = d.ctl_ok(&["status", "waits0"]);
        assert!(out.contains("start/spawned"), "{out}");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "round {round}: status took {:?} while jobs wait for the bus",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(60));
    }
    for i in 0..20 {
        d.ctl_ok(&["stop", &format!("waits{i}")]);
    }
}

/// Issue 9 item 9: a bus that accepts connections but never answers does not slow the
/// daemon down.
#[test]
fn issue9_item9_silent_bus_does_not_block_the_loop() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let path = d.path("silent-bus");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let address = format!("unix:path={}", path.display());
    status_stays_fast_while_jobs_wait_for_the_bus(&mut d, &address);
}

/// Issue 9 item 9: with a real (private) bus, jobs waiting for names that never appear do
/// not slow the daemon down, and a name that appears still makes its job ready.
#[test]
fn issue9_item9_real_bus_is_watched_without_blocking() {
    let Some(bus_daemon) = installed("dbus-daemon") else {
        return;
    };
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let address = format!("unix:path={}/bus", d.dir.path().display());
    let _bus = Reaped(
        std::process::Command::new(bus_daemon)
            .args([
                "--session",
                "--nofork",
                "--nopidfile",
                &format!("--address={address}"),
            ])
            .spawn()
            .unwrap(),
    );
    d.wait_for("the private bus", Duration::from_secs(10), || {
        d.path("bus").exists()
    });
    d.write_job(
        "owner",
        &format!("ready on dbus org.outset.Owner\nexec {TESTD} --dbus-name org.outset.Owner --dbus-delay-ms 300\n"),
    );
    status_stays_fast_while_jobs_wait_for_the_bus(&mut d, &address);
    let out = d.ctl_ok(&["start", "owner"]);
    assert!(out.contains("start/running"), "{out}");
    // Owned and released again: a second start sees the new owner through the signal.
    d.ctl_ok(&["stop", "owner"]);
    let out = d.ctl_ok(&["start", "owner"]);
    assert!(out.contains("start/running"), "{out}");
    d.ctl_ok(&["stop", "owner"]);
}
