//! Hostile clients of the control socket (issue 10 items 1–6 and 8, issue 9 items 11–12):
//! a real daemon, raw sockets, and an unprivileged caller (uid 65534).
//!
//! The unprivileged side is this same test binary run again as uid 65534 with
//! `HOSTILE_ACTION` set: each test that needs one re-runs itself (`--exact NAME`), and at its
//! top hands over to [`nobody_side`] when that variable is present.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const NOBODY: u32 = 65534;

/// A system-mode daemon whose socket another uid can reach.
fn system_daemon(setup: impl FnOnce(&TestDaemon)) -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    let mut d = TestDaemon::new(&mount);
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    setup(&d);
    d.start_with(&["--no-startup-event"]);
    Some(d)
}

fn daemon_pid(d: &TestDaemon) -> u32 {
    d.child.as_ref().unwrap().id()
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The daemon's fd count once it has answered root and closed that connection.
fn settled_fds(d: &TestDaemon) -> usize {
    root_is_served(d);
    let pid = daemon_pid(d);
    let mut last = fd_count(pid);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(20));
        let now = fd_count(pid);
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// Root's `version` is answered (the daemon is neither frozen nor blind). A raw socket with
/// a read timeout, so a frozen daemon fails the test instead of hanging it.
fn root_is_served(d: &TestDaemon) {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"{\"v\":1,\"cmd\":\"version\"}\n").unwrap();
    let reply = one_reply(&mut s);
    assert_eq!(reply["body"]["kind"], "version", "{reply}");
}

/// Runs a daemon that is expected to refuse to start; one that keeps running fails the
/// test (and is killed, so nothing is left behind).
fn refused_start(cmd: &mut Command) -> String {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(!status.success(), "{err}");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon started where it should have refused to");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect(d: &TestDaemon) -> UnixStream {
    let s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

fn one_reply(s: &mut UnixStream) -> serde_json::Value {
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// Runs test `name` of this module again as uid/gid 65534 with `action`.
fn spawn_nobody(name: &str, action: &str, socket: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_path(name),
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOSTILE_ACTION", action)
        .env("HOSTILE_SOCKET", socket)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The name libtest knows test `name` of this module by: its module path without the crate.
fn test_path(name: &str) -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

/// What the unprivileged side printed after `RESULT ` (libtest may start the line with
/// its own `test NAME ... `).
fn result_of(line: &str) -> Option<String> {
    line.find("RESULT ").map(|i| line[i + 7..].to_string())
}

fn results(out: &std::process::Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "unprivileged side failed: {out:?}\n{text}"
    );
    text.lines().filter_map(result_of).collect()
}

/// The first result a still-running unprivileged side prints.
fn first_result(child: &mut Child) -> String {
    BufReader::new(child.stdout.as_mut().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|l| result_of(&l))
        .expect("the unprivileged side ended without a result")
}

/// Kills and reaps a helper whatever happens to the test.
struct Reaped(Option<Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The unprivileged side: returns true when this process is it (the test then ends).
fn nobody_side() -> bool {
    let Ok(action) = std::env::var("HOSTILE_ACTION") else {
        return false;
    };
    let socket = std::path::PathBuf::from(std::env::var("HOSTILE_SOCKET").unwrap());
    match action.as_str() {
        "env-flood" => {
            let env: Vec<String> = (0..5000).map(|i| format!("K{i}=v")).collect();
            for cmd in ["status", "start"] {
                let mut s = UnixStream::connect(&socket).unwrap();
                let req = serde_json::json!({"v":1,"cmd":cmd,"job":"j","env":env});
                s.write_all(format!("{req}\n").as_bytes()).unwrap();
                let reply = one_reply(&mut s);
                println!("RESULT {}", reply["message"].as_str().unwrap_or("no error"));
            }
        }
        "conn-flood" => {
            let mut held = Vec::new();
            let mut refused = 0;
            for _ in 0..200 {
                held.push(UnixStream::connect(&socket).unwrap());
            }
            std::thread::sleep(Duration::from_millis(500));
            for s in &held {
                s.set_nonblocking(true).unwrap();
                let mut buf = [0u8; 256];
                let mut s = s;
                if let Ok(n) = s.read(&mut buf)
                    && String::from_utf8_lossy(&buf[..n]).contains("too many connections")
                {
                    refused += 1;
                }
            }
            println!("RESULT refused {refused}");
            // Hold the rest until the test is done with them.
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
        "forge" => {
            let l = UnixListener::bind(&socket).unwrap();
            println!("RESULT listening");
            std::io::stdout().flush().unwrap();
            std::thread::spawn(move || {
                for mut s in l.incoming().flatten() {
                    let forged = r#"{"status":"ok","body":{"kind":"version","data":"FORGED"}}"#;
                    let _ = s.write_all(format!("{forged}\n").as_bytes());
                }
            });
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        }
        other => panic!("unknown action {other}"),
    }
    true
}

#[test]
fn issue10_item1_large_replies_are_flushed_even_after_a_half_close() {
    if nobody_side() {
        return;
    }
    let desc = "d".repeat(1500);
    let Some(d) = system_daemon(|d| {
        for i in 0..400 {
            d.write_job(
                &format!("j{i}"),
                &format!("description \"{desc}\"\nexec sleep 1\n"),
            );
        }
    }) else {
        return;
    };
    let pid = daemon_pid(&d);
    let fds = settled_fds(&d);
    let mut s = connect(&d);
    let mut req = String::from("{\"v\":1,\"cmd\":\"show-config\"}\n");
    for _ in 0..100 {
        req.push_str("{\"v\":1,\"cmd\":\"version\"}\n");
    }
    s.write_all(req.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    // Let the daemon fill the socket buffer and see the half-close before anything is read.
    std::thread::sleep(Duration::from_millis(300));
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 101, "{} bytes", all.len());
    assert!(lines[0].len() > 400 * 1500, "{}", lines[0].len());
    assert!(lines[0].contains("\"name\":\"j399\""));
    assert!(lines[100].contains("\"kind\":\"version\""));
    drop(s);
    // The connection is closed once done: no descriptor is left behind.
    d.wait_for(
        "the connection's fd to close",
        Duration::from_secs(10),
        || fd_count(pid) <= fds,
    );
}

#[test]
fn issue10_item2_replies_nobody_reads_stay_bounded_and_the_reader_is_dropped() {
    if nobody_side() {
        return;
    }
    let desc = "d".repeat(1500);
    let Some(d) = system_daemon(|d| {
        for i in 0..400 {
            d.write_job(
                &format!("j{i}"),
                &format!("description \"{desc}\"\nexec sleep 1\n"),
            );
        }
    }) else {
        return;
    };
    let pid = daemon_pid(&d);
    let fds = settled_fds(&d);
    let rss_before = rss_kib(pid);
    // 300 replies of 600 kB each, never read: 180 MB if the daemon kept them all.
    let mut s = connect(&d);
    s.set_nonblocking(true).unwrap();
    let req = "{\"v\":1,\"cmd\":\"show-config\"}\n".repeat(300);
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while sent < req.len() && Instant::now() < deadline {
        match s.write(&req.as_bytes()[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    root_is_served(&d);
    let rss = rss_kib(pid);
    assert!(
        rss < rss_before + 32 * 1024,
        "daemon RSS grew from {rss_before} to {rss} KiB"
    );
    assert!(fd_count(pid) > fds);
    // The connection stays over the bound without reading: it is dropped.
    d.wait_for(
        "the stalled connection to be dropped",
        Duration::from_secs(30),
        || d.stderr().contains("bytes of replies unread"),
    );
    d.wait_for("its fd to close", Duration::from_secs(10), || {
        fd_count(pid) <= fds
    });
    root_is_served(&d);
}

#[test]
fn issue10_item3_a_newline_flood_does_not_freeze_the_daemon() {
    if nobody_side() {
        return;
    }
    let Some(d) = system_daemon(|_| {}) else {
        return;
    };
    let mut s = connect(&d);
    let mut writer = s.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'\n'; 1 << 20];
        for _ in 0..16 {
            writer.write_all(&chunk).unwrap();
        }
        writer
            .write_all(b"{\"v\":1,\"cmd\":\"version\"}\n")
            .unwrap();
    });
    for _ in 0..5 {
        root_is_served(&d);
    }
    // The flood's own request is answered once its 16 MB are consumed.
    let reply = one_reply(&mut s);
    assert_eq!(reply["body"]["kind"], "version", "{reply}");
    flood.join().unwrap();
}

#[test]
fn issue10_item4_unprivileged_callers_are_refused_before_any_work() {
    const NAME: &str = "issue10_item4_unprivileged_callers_are_refused_before_any_work";
    if nobody_side() {
        return;
    }
    let Some(d) = system_daemon(|d| d.write_job("j", "instance $K0\nexec sleep 60\n")) else {
        return;
    };
    let out = spawn_nobody(NAME, "env-flood", &d.socket)
        .wait_with_output()
        .unwrap();
    let r = results(&out);
    assert_eq!(r.len(), 2, "{r:?}");
    // A read verb with too much env: a clear limit error.
    assert!(
        r[0].contains("5000 env entries (the limit is 1024)"),
        "{r:?}"
    );
    // A change verb: refused on its name, before the env is even counted.
    assert_eq!(r[1], "Permission denied: only root may do that");
    root_is_served(&d);
}

#[test]
fn issue10_item5_connection_floods_leave_root_room_and_fd_shortage_does_not_spin() {
    const NAME: &str =
        "issue10_item5_connection_floods_leave_root_room_and_fd_shortage_does_not_spin";
    if nobody_side() {
        return;
    }
    let Some(d) = system_daemon(|_| {}) else {
        return;
    };
    let pid = daemon_pid(&d);
    // The soft limit was raised to the hard limit at start.
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let nofile: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(nofile[3], nofile[4], "{limits}");
    let fds = settled_fds(&d);
    // Another uid holding 200 connections gets 64; root is still served.
    let mut flood = Reaped(Some(spawn_nobody(NAME, "conn-flood", &d.socket)));
    assert_eq!(first_result(flood.0.as_mut().unwrap()), "refused 136");
    assert!(fd_count(pid) <= fds + 64, "{}", fd_count(pid));
    root_is_served(&d);
    drop(flood.0.as_mut().unwrap().stdin.take());
    drop(flood);
    // Out of descriptors: the listener rests instead of spinning, and says so once.
    let set = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={}:{}", fds + 20, fds + 20))
        .status()
        .unwrap();
    assert!(set.success());
    let held: Vec<UnixStream> = (0..60)
        .map(|_| UnixStream::connect(&d.socket).unwrap())
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let log = d.stderr();
    let complaints = log.matches("accept:").count();
    assert!(
        complaints == 1,
        "{complaints} accept complaints:\n{}",
        &log[log.len().saturating_sub(2000)..]
    );
    drop(held);
    root_is_served(&d);
    d.wait_for(
        "the shortage to be reported over",
        Duration::from_secs(10),
        || d.stderr().contains("accepting control connections again"),
    );
}

#[test]
fn issue10_item6_show_config_withholds_files_the_caller_cannot_read() {
    if nobody_side() {
        return;
    }
    let Some(d) = system_daemon(|d| {
        d.write_job("secret", "env DB_PASSWORD=hunter2\nexec sleep 600\n");
        d.write_job("open", "env GREETING=hello\nexec sleep 600\n");
        let f = d.confdir.join("secret.conf");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }) else {
        return;
    };
    d.ctl_ok(&["start", "secret"]);
    let as_nobody = |args: &[&str]| {
        Command::new(OUTSETCTL)
            .arg("--socket")
            .arg(&d.socket)
            .args(args)
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    };
    let one = as_nobody(&["show-config", "--normalised", "secret"]);
    assert_eq!(one.status.code(), Some(1), "{one:?}");
    let err = String::from_utf8_lossy(&one.stderr);
    assert!(err.contains("Permission denied"), "{err}");
    assert!(err.contains("not readable by uid 65534"), "{err}");
    for args in [
        &["show-config"][..],
        &["show-config", "--normalised"],
        &["--json", "show-config"],
        &["--json", "show-config", "--normalised"],
        &["--json", "status", "secret"],
        &["--json", "list"],
        &["status", "secret"],
    ] {
        let out = as_nobody(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = format!("{out:?}");
        assert!(!text.contains("hunter2"), "{args:?}: {text}");
    }
    // Issue 16 item 5: initctl's format gives the name only and says why on stderr;
    // --json stays JSON.
    let plain = as_nobody(&["show-config"]);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("secret\n"));
    let why = String::from_utf8_lossy(&plain.stderr).into_owned();
    assert!(
        why.contains("secret: ") && why.contains("not readable"),
        "{why}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&as_nobody(&["--json", "show-config"]).stdout).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|j| j["name"] == "secret" && j["not_shown"].is_string()),
        "{json}"
    );
    let all =
        String::from_utf8_lossy(&as_nobody(&["show-config", "--normalised"]).stdout).into_owned();
    assert!(all.contains("# job: secret"), "{all}");
    assert!(all.contains("# not shown:"), "{all}");
    assert!(all.contains("GREETING=hello"), "{all}");
    assert!(
        String::from_utf8_lossy(&as_nobody(&["status", "secret"]).stdout)
            .contains("secret start/running")
    );
    // Root (who can read the file) sees it all.
    assert!(
        d.ctl_ok(&["show-config", "--normalised", "secret"])
            .contains("hunter2")
    );
}

#[test]
fn issue10_item8_socket_dirs_others_can_write_are_refused_both_ways() {
    const NAME: &str = "issue10_item8_socket_dirs_others_can_write_are_refused_both_ways";
    if nobody_side() {
        return;
    }
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    // The daemon will not bind in a directory another user could write to.
    let mut d = TestDaemon::new(&mount);
    let open = d.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    d.socket = open.join("control");
    let err = refused_start(
        Command::new(OUTSET)
            .args(["--user", "--no-startup-event", "--confdir"])
            .arg(&d.confdir)
            .arg("--socket")
            .arg(&d.socket)
            .arg("--cgroup-root")
            .arg(&d.cgroup),
    );
    assert!(err.contains("writable by others"), "{err}");
    assert!(!d.socket.exists());
    // In a private directory a user daemon's socket is the owner's alone.
    d.socket = d.path("control.sock");
    d.start(&["--no-startup-event"]);
    let mode = std::fs::symlink_metadata(&d.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Even where another uid can reach it, it cannot connect (issue 10 item 6, user mode).
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(OUTSETCTL)
        .arg("--socket")
        .arg(&d.socket)
        .args(["show-config"])
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    // A socket another user made (and answers on) is not trusted by the client.
    let theirs = d.path("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let forged = theirs.join("control");
    let mut forger = Reaped(Some(spawn_nobody(NAME, "forge", &forged)));
    assert_eq!(first_result(forger.0.as_mut().unwrap()), "listening");
    let ctl = |verb: &str| {
        Command::new(OUTSETCTL)
            .arg("--socket")
            .arg(&forged)
            .arg(verb)
            .output()
            .unwrap()
    };
    let version = ctl("version");
    assert!(!format!("{version:?}").contains("FORGED"), "{version:?}");
    let out = ctl("list");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Refusing to talk to outset"),
        "{out:?}"
    );
}

#[test]
fn issue9_item11_a_second_daemon_does_not_take_a_live_socket() {
    if nobody_side() {
        return;
    }
    let Some(d) = system_daemon(|d| d.write_job("j", "exec sleep 600\n")) else {
        return;
    };
    d.ctl_ok(&["start", "j"]);
    let err = refused_start(
        Command::new(OUTSET)
            .args(["--no-startup-event", "--confdir"])
            .arg(&d.confdir)
            .arg("--socket")
            .arg(&d.socket)
            .arg("--cgroup-root")
            .arg(d.cgroup.join("second")),
    );
    assert!(err.contains("another daemon answers"), "{err}");
    // The first daemon still owns the socket and its job.
    assert!(d.status(&["j"]).contains("j start/running"));
}

#[test]
fn issue9_item12_outsetctl_inside_a_job_finds_its_daemon() {
    if nobody_side() {
        return;
    }
    let Some(d) = system_daemon(|d| {
        let out = d.path("out");
        d.write_job("other", "exec sleep 600\n");
        d.write_job(
            "caller",
            &format!(
                "task\nscript\n  \"{OUTSETCTL}\" start -n other > {o}.tmp 2>&1\n  \"{OUTSETCTL}\" status other >> {o}.tmp 2>&1\n  echo \"socket=$OUTSET_SOCKET\" >> {o}.tmp\n  mv {o}.tmp {o}\nend script\n",
                o = out.display()
            ),
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "caller"]);
    let out = d.wait_file("out");
    assert!(out.contains("other start/running"), "{out}");
    assert!(
        out.contains(&format!("socket={}", d.socket.display())),
        "{out}"
    );
}

/// Issue 16 item 2: the job environment table is read and changed only by those who may
/// change things (it may hold secrets), as Upstart's ListEnv/GetEnv/SetEnv; `usage` and
/// `version` are for everyone.
#[test]
fn issue16_item2_env_table_needs_the_right_to_change() {
    if nobody_side() {
        return;
    }
    let Some(d) = system_daemon(|d| d.write_job("u", "usage \"u X=1\"\nexec sleep 600\n")) else {
        return;
    };
    d.ctl_ok(&["set-env", "TOKEN=s3cret"]);
    let as_nobody = |args: &[&str]| {
        Command::new(OUTSETCTL)
            .arg("--socket")
            .arg(&d.socket)
            .args(args)
            .env_remove("UPSTART_JOB")
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap()
    };
    for args in [
        &["list-env"][..],
        &["get-env", "TOKEN"],
        &["set-env", "X=1"],
        &["unset-env", "TOKEN"],
        &["reset-env"],
    ] {
        let out = as_nobody(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Permission denied"), "{args:?}: {err}");
        assert!(!format!("{out:?}").contains("s3cret"));
    }
    assert_eq!(d.ctl_ok(&["get-env", "TOKEN"]), "s3cret\n");
    let usage = as_nobody(&["usage", "u"]);
    assert_eq!(String::from_utf8_lossy(&usage.stdout), "Usage: u X=1\n");
    assert!(as_nobody(&["version"]).status.success());
}
