//! `spawn_detached`: the same guarantees as `spawn` (each stage's error, the cgroup from
//! the first instruction, no fd leaks), with failures read later from the shared pipe.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::reap::{ExitStatus, exit_status, stop_signal};
use crate::testutil::TestCgroup;

fn sh(script: &str) -> SpawnRequest {
    SpawnRequest::new(ProgramSpec::Shell {
        script: script.to_string(),
    })
}

fn wait(pid: u32) -> ExitStatus {
    match crate::reap::wait_raw(Some(pid), 0) {
        Ok(Some((_, status))) => exit_status(status).unwrap(),
        other => panic!("waiting for {pid}: {other:?}"),
    }
}

/// Spawns `req` detached, waits for it, and returns its exit and the reports.
fn run(req: &SpawnRequest, reports: &mut FailureReports) -> (u32, ExitStatus, Vec<ChildFailure>) {
    let s = spawn_detached(&SpawnPlan::new(req).unwrap(), reports).unwrap();
    assert!(s.pidfd.is_none());
    let ev = wait(s.pid);
    // The report is written before the child exits, so it is there once it is reaped.
    (s.pid, ev, reports.take())
}

#[test]
fn issue11_detached_reports_each_stage_after_the_fact() {
    let mut reports = FailureReports::new().unwrap();
    let (_, ev, failures) = run(&sh("exit 3"), &mut reports);
    assert_eq!(ev, ExitStatus::Exited(3));
    assert!(failures.is_empty(), "{failures:?}");

    let mut req = sh("exit 0");
    req.rlimits = vec![(outset_job::Resource::Nofile, Some(200), Some(100))];
    let (pid, ev, failures) = run(&req, &mut reports);
    assert_eq!(ev, ExitStatus::Exited(127));
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].pid, failures[0].stage), (pid, "rlimit"));
    assert_eq!(failures[0].error.raw_os_error(), Some(libc::EINVAL));

    let mut req = sh("exit 0");
    req.cwd = Some("/no/such/dir".into());
    let (pid, _, failures) = run(&req, &mut reports);
    assert_eq!((failures[0].pid, failures[0].stage), (pid, "chdir"));
    assert_eq!(failures[0].error.raw_os_error(), Some(libc::ENOENT));
    assert_eq!(
        failures[0].to_string(),
        format!("process {pid} failed at chdir: {}", failures[0].error)
    );

    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("prog");
    fs::write(&prog, b"not a program").unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    let req = SpawnRequest::new(ProgramSpec::Argv(vec![prog.display().to_string()]));
    let (pid, ev, failures) = run(&req, &mut reports);
    assert_eq!(ev, ExitStatus::Exited(127));
    assert_eq!((failures[0].pid, failures[0].stage), (pid, "exec"));
    assert_eq!(failures[0].error.raw_os_error(), Some(libc::ENOEXEC));
}

#[test]
fn issue11_detached_reports_of_many_children_keep_their_pids() {
    let mut reports = FailureReports::new().unwrap();
    let mut req = sh("exit 0");
    req.cwd = Some("/no/such/dir".into());
    let plan = SpawnPlan::new(&req).unwrap();
    let mut pids: Vec<u32> = (0..20)
        .map(|_| spawn_detached(&plan, &mut reports).unwrap().pid)
        .collect();
    for &pid in &pids {
        assert_eq!(wait(pid), ExitStatus::Exited(127));
    }
    let mut reported: Vec<u32> = reports.take().iter().map(|f| f.pid).collect();
    pids.sort_unstable();
    reported.sort_unstable();
    assert_eq!(reported, pids);
    assert!(reports.take().is_empty());
}

#[test]
fn issue11_detached_child_starts_in_its_cgroup() {
    let Some(tc) = TestCgroup::new() else { return };
    let cg = crate::cgroup::Cgroup::create(tc.path()).unwrap();
    let mut reports = FailureReports::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cg");
    // The child's first process image already reads its own cgroup as the job's.
    let mut req = sh(&format!(
        "cat /proc/self/cgroup > {}; exec sleep 5",
        out.display()
    ));
    req.cgroup = Some(tc.path().to_path_buf());
    let s = spawn_detached(&SpawnPlan::new(&req).unwrap(), &mut reports).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fs::read_to_string(&out).unwrap_or_default().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the child never ran");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let name = tc.path().file_name().unwrap().to_string_lossy().to_string();
    let text = fs::read_to_string(&out).unwrap();
    assert!(text.contains(&name), "{text}");
    assert!(cg.procs().unwrap().contains(&s.pid));
    cg.kill().unwrap();
    assert_eq!(wait(s.pid), ExitStatus::Signaled(libc::SIGKILL));
    assert!(reports.take().is_empty());
}

#[test]
fn issue11_detached_no_fd_leaks() {
    let mut reports = FailureReports::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fds");
    // Without O_CLOEXEC (rustix adds it only when asked); the fd is closed below.
    let raw = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let (_, ev, failures) = run(
        &sh(&format!("ls /proc/self/fd > {}", out.display())),
        &mut reports,
    );
    drop(raw);
    assert_eq!(ev, ExitStatus::Exited(0));
    assert!(failures.is_empty());
    let text = fs::read_to_string(&out).unwrap();
    let fds: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
    // 0-2 plus the directory fd ls itself opens: neither end of the report pipe.
    assert!(fds.len() <= 4, "{fds:?}");
    assert_eq!(&fds[..3], &[0, 1, 2]);
}

#[test]
fn issue11_detached_stop_before_exec_waits() {
    let mut reports = FailureReports::new().unwrap();
    let mut req = sh("exit 4");
    req.stop_before_exec = true;
    let s = spawn_detached(&SpawnPlan::new(&req).unwrap(), &mut reports).unwrap();
    let (pid, status) = crate::reap::wait_raw(Some(s.pid), libc::WUNTRACED)
        .unwrap()
        .unwrap();
    assert_eq!(pid, s.pid);
    assert_eq!(stop_signal(status), Some(libc::SIGSTOP));
    s.pidfd.as_ref().unwrap().signal(libc::SIGCONT).unwrap();
    assert_eq!(wait(s.pid), ExitStatus::Exited(4));
}

#[test]
fn issue11_wait_exec_waits_for_the_whole_batch() {
    let mut reports = FailureReports::new().unwrap();
    assert!(!reports.pending());
    let ok = SpawnPlan::new(&SpawnRequest::new(ProgramSpec::Argv(vec![
        "sleep".into(),
        "5".into(),
    ])))
    .unwrap();
    let mut bad = sh("exit 0");
    bad.cwd = Some("/no/such/dir".into());
    let bad = SpawnPlan::new(&bad).unwrap();
    let good: Vec<u32> = (0..10)
        .map(|_| spawn_detached(&ok, &mut reports).unwrap().pid)
        .collect();
    let failed = spawn_detached(&bad, &mut reports).unwrap().pid;
    assert!(reports.pending());
    reports.wait_exec().unwrap();
    assert!(!reports.pending());
    // Every child has exec'd: each shows its own program, not a copy of this one.
    for &pid in &good {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(cmd.starts_with(b"sleep\0"), "{pid}: {cmd:?}");
    }
    // The failed one has reported, before anything reaped it.
    let f = reports.take();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].pid, f[0].stage), (failed, "chdir"));
    for &pid in &good {
        crate::pidfd::PidFd::open(pid)
            .unwrap()
            .signal(libc::SIGKILL)
            .unwrap();
        assert_eq!(wait(pid), ExitStatus::Signaled(libc::SIGKILL));
    }
    assert_eq!(wait(failed), ExitStatus::Exited(127));
    // Nothing pending: returns at once.
    reports.wait_exec().unwrap();
}

/// Issue 17 item 1: a passed socket is fd 3 in the program, LISTEN_PID is the program's own
/// PID (set in the child), and nothing else leaks; in both spawn paths.
#[test]
fn issue17_item1_passed_socket_is_fd3_with_listen_pid() {
    use std::os::fd::AsFd;
    let sock = crate::activation::listen(&crate::activation::Endpoint::Inet(
        "127.0.0.1:0".parse().unwrap(),
    ))
    .unwrap();
    let inode = rustix::fs::fstat(sock.as_fd()).unwrap().st_ino;
    let shared = SharedFd(std::rc::Rc::new(sock));
    for detached in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut req = sh(&format!(
            "echo \"$LISTEN_PID $$ $LISTEN_FDS\" > {o}; readlink /proc/$$/fd/3 >> {o}; ls /proc/$$/fd >> {o}",
            o = out.display()
        ));
        req.env = vec![
            ("LISTEN_FDS".into(), "1".into()),
            ("LISTEN_PID".into(), "999999".into()),
        ];
        req.pass_fd = Some(shared.clone());
        let plan = SpawnPlan::new(&req).unwrap();
        let pid = if detached {
            let mut reports = FailureReports::new().unwrap();
            let s = spawn_detached(&plan, &mut reports).unwrap();
            assert_eq!(wait(s.pid), ExitStatus::Exited(0));
            assert!(reports.take().is_empty());
            s.pid
        } else {
            let s = spawn(&plan).unwrap();
            assert_eq!(wait(s.pid), ExitStatus::Exited(0));
            s.pid
        };
        let text = fs::read_to_string(&out).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            format!("{pid} {pid} 1"),
            "detached {detached}"
        );
        assert_eq!(lines.next().unwrap(), format!("socket:[{inode}]"));
        let mut fds: Vec<u32> = lines.map(|l| l.parse().unwrap()).collect();
        fds.sort_unstable();
        // 0-3, plus at most the one fd the shell keeps for its redirection (dash: 10).
        assert_eq!(&fds[..4], &[0, 1, 2, 3], "detached {detached}");
        assert!(fds.len() <= 5, "detached {detached}: {fds:?}");
    }
}
