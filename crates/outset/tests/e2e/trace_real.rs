//! `outsetctl trace` on real Debian daemons: the stanzas it recommends, put in a job file
//! with the same command, must make the real outset start the daemon correctly (running
//! only once it serves, main PID as in its pid file) and stop it without a trace left.
//! A missing daemon skips its test (a failure under CI=true).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// One argument as the job file's `exec` line takes it (run by a shell when quoted).
fn quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.=:,@+".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// What to run and what the trace must find.
struct Case<'a> {
    job: &'a str,
    /// The command, binary first.
    argv: Vec<String>,
    /// The `expect` stanza the trace must recommend.
    expect: &'a str,
    /// A TCP port that must accept as soon as `start` returns.
    port: Option<u16>,
    /// The pid file (relative to the temp dir) that must name the main process.
    pidfile: Option<&'a str>,
}

/// Traces `case.argv`, checks the trace cleaned up, and returns the recommended stanzas.
fn trace_stanzas(case: &Case) -> Vec<String> {
    let out = Command::new(OUTSETCTL)
        .args(["trace", "--json", "--timeout", "8", "--"])
        .args(&case.argv)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "trace failed: {text}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Nothing left: the cgroup is gone and every process it saw is dead.
    let cg = v["summary"]["cgroup"].as_str().expect("a trace cgroup");
    assert!(!Path::new(cg).exists(), "cgroup {cg} left behind");
    for p in v["summary"]["left"].as_array().unwrap() {
        let pid = p["pid"].as_u64().unwrap();
        assert!(
            !u32::try_from(pid).is_ok_and(pid_alive),
            "traced process {pid} left alive"
        );
    }
    let stanzas: Vec<String> = v["recommendation"]["stanzas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        stanzas.first().map(String::as_str),
        Some(case.expect),
        "{v:#}"
    );
    stanzas
}

/// Traces, writes `<stanzas>\nexec <command>` and runs it under the real daemon.
fn run_case(d: &mut TestDaemon, case: &Case) -> Vec<String> {
    let stanzas = trace_stanzas(case);
    if let Some(pf) = case.pidfile {
        // A traced daemon that does not remove its pid file when ended leaves it: the job
        // must write its own.
        let _ = std::fs::remove_file(d.path(pf));
        if case.expect != "expect notify" {
            let want = format!("pid file {}", d.path(pf).display());
            assert!(stanzas.contains(&want), "{stanzas:?} lacks {want}");
        }
    }
    let exec: Vec<String> = case.argv.iter().map(|a| quote(a)).collect();
    let job = format!("{}\nexec {}\n", stanzas.join("\n"), exec.join(" "));
    eprintln!("job {}:\n{job}", case.job);
    d.write_job(case.job, &job);
    d.start(&["--no-startup-event"]);
    let out = d.ctl_ok(&["start", case.job]);
    // Ready as soon as start returns: that is what the recommended stanzas are for.
    let connected = case
        .port
        .map(|port| std::net::TcpStream::connect(("127.0.0.1", port)).map(drop));
    assert!(out.contains("start/running"), "{out}\n{}", d.stderr());
    if let Some(r) = connected {
        assert!(
            r.is_ok(),
            "port not accepting right after start: {r:?}\n{job}"
        );
    }
    let main = main_pid(&d.status(&[case.job]));
    assert!(main.is_some_and(pid_alive), "no main process: {out}");
    if let Some(pf) = case.pidfile {
        let want: u32 = d.wait_file(pf).trim().parse().unwrap();
        d.wait_for(
            "the main PID of the pid file",
            Duration::from_secs(5),
            || main_pid(&d.status(&[case.job])) == Some(want),
        );
    }
    let out = d.ctl_ok(&["stop", case.job]);
    assert!(out.contains("stop/waiting"), "{out}");
    d.wait_for("the job's cgroup to empty", Duration::from_secs(10), || {
        d.cgroup_pids().is_empty()
    });
    assert!(!main.is_some_and(pid_alive));
    stanzas
}

/// A test daemon whose temp dir any user may write (daemons drop privileges).
fn setup() -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    let d = TestDaemon::new(&mount);
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    Some(d)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn nginx() {
    let Some(bin) = installed("nginx") else {
        return;
    };
    let Some(mut d) = setup() else { return };
    let p = d.dir.path().display().to_string();
    let port = free_port();
    let conf = format!("{p}/nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {p}/nginx.pid;\nerror_log {p}/err;\nevents {{}}\nhttp {{ access_log off; \
             client_body_temp_path {p}/b; proxy_temp_path {p}/p; fastcgi_temp_path {p}/f; \
             uwsgi_temp_path {p}/u; scgi_temp_path {p}/s; \
             server {{ listen 127.0.0.1:{port}; }} }}\n"
        ),
    )
    .unwrap();
    let argv = strings(&[&bin.display().to_string(), "-c", &conf, "-p", &p]);
    run_case(
        &mut d,
        &Case {
            job: "nginx",
            argv,
            expect: "expect fork",
            port: Some(port),
            // Named in the configuration, which the trace reads for nginx.
            pidfile: Some("nginx.pid"),
        },
    );
}

#[test]
fn memcached() {
    let Some(bin) = installed("memcached") else {
        return;
    };
    let Some(mut d) = setup() else { return };
    let p = d.dir.path().display().to_string();
    let port = free_port();
    let argv = strings(&[
        &bin.display().to_string(),
        "-d",
        "-u",
        "nobody",
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "0",
        "-P",
        &format!("{p}/m.pid"),
    ]);
    run_case(
        &mut d,
        &Case {
            job: "memcached",
            argv,
            expect: "expect fork",
            port: Some(port),
            pidfile: Some("m.pid"),
        },
    );
}

#[test]
fn redis_forking() {
    let Some(bin) = installed("redis-server") else {
        return;
    };
    let Some(mut d) = setup() else { return };
    let p = d.dir.path().display().to_string();
    let port = free_port();
    let argv = strings(&[
        &bin.display().to_string(),
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--pidfile",
        &format!("{p}/r.pid"),
        "--dir",
        &p,
        "--save",
        "",
        "--logfile",
        &format!("{p}/r.log"),
    ]);
    run_case(
        &mut d,
        &Case {
            job: "redis",
            argv,
            expect: "expect fork",
            port: Some(port),
            pidfile: Some("r.pid"),
        },
    );
}

#[test]
fn redis_notify() {
    let Some(bin) = installed("redis-server") else {
        return;
    };
    let Some(mut d) = setup() else { return };
    let p = d.dir.path().display().to_string();
    let port = free_port();
    let argv = strings(&[
        &bin.display().to_string(),
        "--supervised",
        "systemd",
        "--daemonize",
        "no",
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--dir",
        &p,
        "--save",
        "",
    ]);
    let stanzas = run_case(
        &mut d,
        &Case {
            job: "redis-notify",
            argv,
            expect: "expect notify",
            port: Some(port),
            pidfile: None,
        },
    );
    assert_eq!(stanzas, ["expect notify"]);
}

#[test]
fn dnsmasq() {
    let Some(bin) = installed("dnsmasq") else {
        return;
    };
    let Some(mut d) = setup() else { return };
    let p = d.dir.path().display().to_string();
    let port = free_port();
    let argv = strings(&[
        &bin.display().to_string(),
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        &format!("--port={port}"),
        &format!("--pid-file={p}/d.pid"),
    ]);
    run_case(
        &mut d,
        &Case {
            job: "dnsmasq",
            argv,
            expect: "expect daemon",
            port: Some(port),
            pidfile: Some("d.pid"),
        },
    );
}

/// Issue 9 item 21, on a real daemon: nginx listening on any address over IPv4 and IPv6
/// shows one `listening:` line per family (not `tcp:PORT` twice), and the clean-up sends
/// SIGTERM first, so nginx removes its pid file (SIGKILL at once left it behind).
#[test]
fn issue9_item21_nginx_on_both_families_ends_cleanly() {
    let Some(bin) = installed("nginx") else {
        return;
    };
    if require_root_cgroup2().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let p = dir.path().display().to_string();
    let port = free_port();
    let conf = format!("{p}/nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {p}/nginx.pid;\nerror_log {p}/err;\nevents {{}}\nhttp {{ access_log off; \
             client_body_temp_path {p}/b; proxy_temp_path {p}/p; fastcgi_temp_path {p}/f; \
             uwsgi_temp_path {p}/u; scgi_temp_path {p}/s; \
             server {{ listen {port}; listen [::]:{port} ipv6only=on; }} }}\n"
        ),
    )
    .unwrap();
    let out = Command::new(OUTSETCTL)
        .args(["trace", "--timeout", "8", "--"])
        .args([&bin.display().to_string(), "-c", &conf, "-p", &p])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    let mut families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("listening: tcp:{port} (")))
        .filter_map(|rest| rest.split(')').next())
        .collect();
    families.sort_unstable();
    assert_eq!(families, ["IPv4", "IPv6"], "{text}");
    assert!(text.contains("recommend: expect fork"), "{text}");
    // The pid file is read when tracing stops, before nginx is ended and removes it.
    assert!(
        text.contains(&format!("recommend: pid file {p}/nginx.pid\n")),
        "{text}"
    );
    assert!(
        !Path::new(&format!("{p}/nginx.pid")).exists(),
        "nginx did not get SIGTERM first: its pid file is left\n{text}"
    );
}
