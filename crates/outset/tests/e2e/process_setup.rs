//! What a job process gets: credentials, directory, limits, priority, umask, environment,
//! and no descriptor of the daemon.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::common::*;

#[test]
fn credentials_directory_limits_priority_umask() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        d.write_job(
            "setup",
            &format!(
                "task\nsetuid nobody\nsetgid nogroup\nchdir /tmp\nlimit nofile 123 456\nnice 7\n\
                 oom score 321\numask 027\nenv GREETING=\"hello there\"\n\
                 script\n  exec > {p}/setup.out\n  id -u; id -g; pwd; ulimit -Sn; ulimit -Hn\n  \
                 cut -d' ' -f19 /proc/self/stat; cat /proc/self/oom_score_adj; umask\n  \
                 echo \"$GREETING/$UPSTART_JOB/$UPSTART_INSTANCE/$PATH\"\nend script\n"
            ),
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "setup"]);
    let out = d.wait_file("setup.out");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "65534",
            "65534",
            "/tmp",
            "123",
            "456",
            "7",
            "321",
            "0027",
            &format!(
                "hello there/setup//{}",
                std::env::var("PATH").unwrap_or_default()
            ),
        ],
        "{out}"
    );
}

#[test]
fn no_daemon_descriptor_leaks_into_a_job() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job(
            "fds",
            &format!("task\nexec sh -c 'exec ls /proc/self/fd > {p}/fds.out'\n"),
        );
        // Something running keeps connections and cgroups open in the daemon meanwhile.
        d.write_job("other", "exec sleep 600\n");
    }) else {
        return;
    };
    d.ctl_ok(&["start", "other"]);
    let _held = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    d.ctl_ok(&["start", "fds"]);
    let out = d.wait_file("fds.out");
    let mut fds: Vec<u32> = out.lines().map(|l| l.parse().unwrap()).collect();
    fds.sort();
    // 0-2, plus the directory ls is reading.
    assert_eq!(fds, [0, 1, 2, 3], "{out}");
}

#[test]
fn exec_runs_directly_unless_it_needs_a_shell() {
    let Some(d) = daemon(|d| {
        let p = d.dir.path().display().to_string();
        d.write_job("direct", "exec sleep 600\n");
        d.write_job("shelled", &format!("exec sleep 600 > {p}/ignored\n"));
    }) else {
        return;
    };
    for job in ["direct", "shelled"] {
        let st = d.ctl_ok(&["start", job]);
        let pid = main_pid(&st).unwrap();
        // Either way the main PID becomes the program's: the shell execs it.
        let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        d.wait_for(
            &format!("{job} to be sleep"),
            Duration::from_secs(5),
            || comm().trim() == "sleep",
        );
        // And it runs in the job's own cgroup.
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(cg.contains(&format!("/{job}.job")), "{job}: {cg}");
    }
    d.wait_for("both stopped", Duration::from_secs(10), || {
        d.ctl(&["stop", "direct"]);
        d.ctl(&["stop", "shelled"]);
        d.status(&["direct"]).contains("stop/waiting")
            && d.status(&["shelled"]).contains("stop/waiting")
    });
}
