//! Real Debian daemons in their default forking mode: outset's main PID is the one each
//! daemon writes to its own pid file, and stopping leaves no process behind.
//! `.ci/run` installs them; elsewhere a missing daemon skips its test (a failure under CI).

use std::os::unix::fs::PermissionsExt;

use std::time::Duration;

use crate::common::*;

/// Starts `job`, checks the main PID against the pid file, stops it and checks that its
/// cgroup is empty and the daemon gone.
fn check(d: &TestDaemon, job: &str, pidfile: &str) {
    let out = d.ctl_ok(&["start", job]);
    assert!(out.contains("start/running"), "{out}\n{}", d.stderr());
    let want: u32 = d.wait_file(pidfile).trim().parse().unwrap();
    d.wait_for(&format!("{job}'s main PID"), Duration::from_secs(5), || {
        main_pid(&d.status(&[job])) == Some(want)
    });
    assert!(pid_alive(want));
    let out = d.ctl_ok(&["stop", job]);
    assert!(out.contains("stop/waiting"), "{out}");
    d.wait_for(
        &format!("{job}'s cgroup to empty"),
        Duration::from_secs(10),
        || d.cgroup_pids().is_empty(),
    );
    assert!(!pid_alive(want));
}

fn daemon(setup: impl FnOnce(&TestDaemon, &str)) -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    let mut d = TestDaemon::new(&mount);
    // Daemons drop privileges and still write here.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let p = d.dir.path().display().to_string();
    setup(&d, &p);
    d.start(&["--no-startup-event"]);
    Some(d)
}

#[test]
fn nginx() {
    let Some(bin) = installed("nginx") else {
        return;
    };
    let Some(d) = daemon(|d, p| {
        let port = free_port();
        std::fs::write(
            d.path("nginx.conf"),
            format!(
                "pid {p}/nginx.pid;\nerror_log {p}/nginx.err;\nworker_processes 2;\n\
                 events {{}}\nhttp {{ access_log off; client_body_temp_path {p}/body;\n\
                 proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fcgi; uwsgi_temp_path {p}/uwsgi;\n\
                 scgi_temp_path {p}/scgi;\n server {{ listen 127.0.0.1:{port}; }} }}\n"
            ),
        )
        .unwrap();
        d.write_job(
            "nginx",
            &format!(
                "expect fork\nexec {} -c {p}/nginx.conf -p {p}\n",
                bin.display()
            ),
        );
    }) else {
        return;
    };
    check(&d, "nginx", "nginx.pid");
}

#[test]
fn memcached() {
    let Some(bin) = installed("memcached") else {
        return;
    };
    let Some(d) = daemon(|d, p| {
        d.write_job(
            "memcached",
            &format!(
                "expect fork\nexec {} -d -u nobody -l 127.0.0.1 -p {} -U 0 -P {p}/memcached.pid\n",
                bin.display(),
                free_port()
            ),
        );
    }) else {
        return;
    };
    check(&d, "memcached", "memcached.pid");
}

#[test]
fn redis() {
    let Some(bin) = installed("redis-server") else {
        return;
    };
    let Some(d) = daemon(|d, p| {
        d.write_job(
            "redis",
            &format!(
                "expect fork\nexec {} --daemonize yes --bind 127.0.0.1 --port {} --pidfile {p}/redis.pid \
                 --dir {p} --logfile {p}/redis.log --save \"\"\n",
                bin.display(),
                free_port()
            ),
        );
    }) else {
        return;
    };
    check(&d, "redis", "redis.pid");
}

#[test]
fn dnsmasq() {
    let Some(bin) = installed("dnsmasq") else {
        return;
    };
    let Some(d) = daemon(|d, p| {
        d.write_job(
            "dnsmasq",
            &format!(
                "expect daemon\nexec {} --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
                 --listen-address=127.0.0.1 --port={} --pid-file={p}/dnsmasq.pid\n",
                bin.display(),
                free_port()
            ),
        );
    }) else {
        return;
    };
    check(&d, "dnsmasq", "dnsmasq.pid");
}

#[test]
fn rsyslogd() {
    let Some(bin) = installed("rsyslogd") else {
        return;
    };
    let Some(d) = daemon(|d, p| {
        std::fs::write(
            d.path("rsyslog.conf"),
            format!("global(workDirectory=\"{p}\")\n*.* {p}/messages\n"),
        )
        .unwrap();
        d.write_job(
            "rsyslog",
            &format!(
                "expect fork\nexec {} -f {p}/rsyslog.conf -i {p}/rsyslogd.pid\n",
                bin.display()
            ),
        );
    }) else {
        return;
    };
    check(&d, "rsyslog", "rsyslogd.pid");
}
