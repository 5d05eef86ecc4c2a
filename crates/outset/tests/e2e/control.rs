//! The control socket under bad input and unprivileged callers.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

fn daemon(extra: &[&str], setup: impl FnOnce(&TestDaemon)) -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    let mut d = TestDaemon::new(&mount);
    setup(&d);
    d.start_with(extra);
    Some(d)
}

/// Sends raw bytes and reads one reply line.
fn exchange(d: &TestDaemon, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

fn error_of(reply: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"));
    assert_eq!(v["status"], "error", "{reply}");
    v["message"].as_str().unwrap().to_string()
}

#[test]
fn malformed_unknown_and_wrong_version_requests_get_errors() {
    let Some(d) = daemon(&["--user", "--no-startup-event"], |_| {}) else {
        return;
    };
    assert!(error_of(&exchange(&d, b"{not json\n")).starts_with("malformed request"));
    assert!(error_of(&exchange(&d, b"[1,2]\n")).contains("missing protocol version"));
    assert!(error_of(&exchange(&d, b"{\"v\":1,\"cmd\":\"explode\"}\n")).starts_with("bad request"));
    assert!(
        error_of(&exchange(&d, b"{\"v\":99,\"cmd\":\"list\"}\n"))
            .contains("unsupported protocol version 99")
    );
    assert!(error_of(&exchange(&d, b"{\"v\":1,\"cmd\":\"start\"}\n")).starts_with("bad request"));
    assert!(error_of(&exchange(&d, b"\xff\xfe\n")).contains("not UTF-8"));
    // Several requests on one connection get one reply each, in order.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.write_all(b"{\"v\":1,\"cmd\":\"version\"}\n{\"v\":1,\"cmd\":\"list\"}\n")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 2, "{all}");
    assert!(lines[0].contains("\"version\""), "{all}");
    d.ctl_ok(&["list"]);
}

#[test]
fn oversized_request_is_refused_and_the_daemon_carries_on() {
    let Some(d) = daemon(&["--user", "--no-startup-event"], |_| {}) else {
        return;
    };
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    // Keep writing until the daemon has read past the limit and hung up.
    let mut written = 0usize;
    while written < 4 * outset_proto::MAX_LINE {
        match s.write(&chunk) {
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    let mut reply = String::new();
    let _ = BufReader::new(&s).read_line(&mut reply);
    assert!(error_of(&reply).starts_with("request too long"), "{reply}");
    assert!(d.ctl_ok(&["version"]).contains("outset"));
}

/// A small deterministic generator: no dependency needed for noise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn thousands_of_random_messages_do_not_hurt() {
    let Some(d) = daemon(&["--user", "--no-startup-event"], |d| {
        d.write_job("svc", "exec sleep 600\n");
    }) else {
        return;
    };
    d.ctl_ok(&["start", "svc"]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let fragments: [&[u8]; 12] = [
        b"{\"v\":1,\"cmd\":\"",
        b"start",
        b"stop",
        b"\",\"job\":\"",
        b"svc",
        b"\"env\":[\"A=1\",",
        b"}",
        b"{",
        b"\"wait\":true",
        b"\xff",
        b"null",
        b"\"v\":",
    ];
    let mut replies = 0;
    for conn in 0..40 {
        let mut s = UnixStream::connect(&d.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut batch = Vec::new();
        let mut lines = 0;
        for _ in 0..60 {
            let mut line = Vec::new();
            for _ in 0..1 + rng.next() % 8 {
                match rng.next() % 3 {
                    0 => line.extend_from_slice(fragments[(rng.next() % 12) as usize]),
                    _ => line.push((rng.next() % 256) as u8),
                }
            }
            line.retain(|b| !b.is_ascii_whitespace());
            // Blank lines (Unicode spaces included) get no reply; keep every line a request.
            if String::from_utf8(line.clone()).is_ok_and(|l| l.trim().is_empty()) {
                line = b"{".to_vec();
            }
            batch.extend_from_slice(&line);
            batch.push(b'\n');
            lines += 1;
        }
        s.write_all(&batch).unwrap();
        if conn % 2 == 0 {
            // Read every reply; the odd connections hang up without reading.
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            let text = String::from_utf8_lossy(&all);
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(v["status"] == "error" || v["status"] == "ok", "{line}");
                replies += 1;
            }
            assert_eq!(text.lines().count(), lines, "one reply per request line");
        }
    }
    assert_eq!(replies, 20 * 60);
    // Still alive, still serving, the job untouched.
    assert!(d.status(&["svc"]).contains("start/running"));
    assert!(d.ctl_ok(&["version"]).contains("outset"));
    let child_alive = d.child.as_ref().map(|c| pid_alive(c.id())).unwrap_or(false);
    assert!(child_alive);
}

#[test]
fn unprivileged_clients_may_read_but_not_change_system_jobs() {
    let Some(d) = daemon(&["--no-startup-event"], |d| {
        d.write_job("sys", "exec sleep 600\n");
        // Let another user reach the socket in the test's private directory.
        std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }) else {
        return;
    };
    d.ctl_ok(&["start", "sys"]);
    let as_nobody = |args: &[&str]| {
        Command::new(OUTSETCTL)
            .arg("--socket")
            .arg(&d.socket)
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["status", "sys"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sys start/running"));
    for verb in [
        ["stop", "sys"],
        ["start", "sys"],
        ["restart", "sys"],
        ["emit", "x"],
    ] {
        let out = as_nobody(&verb);
        assert_eq!(out.status.code(), Some(1), "{verb:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Permission denied: only root may do that"),
            "{verb:?}: {err}"
        );
    }
    assert!(d.status(&["sys"]).contains("start/running"));
}
