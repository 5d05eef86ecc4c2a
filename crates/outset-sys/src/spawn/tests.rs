//! Spawn tests with real processes; each reaps only its own child by pid.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::reap::{ExitStatus, exit_status, stop_signal};
use crate::testutil::{TestCgroup, is_root, require};

fn argv(a: &[&str]) -> ProgramSpec {
    ProgramSpec::Argv(a.iter().map(|s| s.to_string()).collect())
}

fn sh(script: &str) -> SpawnRequest {
    SpawnRequest::new(ProgramSpec::Shell {
        script: script.to_string(),
    })
}

fn run(req: &SpawnRequest) -> Spawned {
    spawn(&SpawnPlan::new(req).unwrap()).unwrap()
}

/// Blocks until `pid` ends.
fn wait(pid: u32) -> ExitStatus {
    exit_status(wait_raw(pid)).unwrap()
}

/// Blocks until `pid` changes state (stops included): its raw wait status.
fn wait_raw(pid: u32) -> i32 {
    match crate::reap::wait_raw(Some(pid), libc::WUNTRACED) {
        Ok(Some((_, status))) => status,
        other => panic!("waiting for {pid}: {other:?}"),
    }
}

#[test]
fn exit_code() {
    let s = run(&sh("exit 3"));
    assert!(s.pidfd.is_some());
    assert_eq!(wait(s.pid), ExitStatus::Exited(3));
}

/// A script of `size` bytes that writes `$0` and its size to `out`, padded with comments.
fn long_script(out: &std::path::Path, size: usize) -> String {
    let head = format!(
        "printf '%s\\n' \"$0\" > {o}\nprintf ok >> {o}\n",
        o = out.display()
    );
    let pad = "# padding padding padding padding padding padding padding padding\n";
    let mut s = head;
    while s.len() < size {
        s.push_str(pad);
    }
    s.push_str("exit 4\n");
    s
}

// Issue 10 item 12: a script over 128 KiB failed with E2BIG as an argument.
#[test]
fn issue10_item12_long_script_runs_from_a_memfd() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let s = run(&sh(&long_script(&out, 200 * 1024)));
    assert_eq!(wait(s.pid), ExitStatus::Exited(4));
    let text = fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("/dev/fd/"), "{text}");
    assert!(text.ends_with("\nok"), "{text}");
    // Short scripts still go as `-c`.
    let s = run(&sh(&long_script(&out, 1000)));
    assert_eq!(wait(s.pid), ExitStatus::Exited(4));
    assert!(fs::read_to_string(&out).unwrap().starts_with("/bin/sh\n"));
}

#[test]
fn issue10_item12_long_script_runs_as_another_user() {
    if !require(is_root(), "needs root to change user") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("out");
    let mut req = sh(&long_script(&out, 200 * 1024));
    req.user = Some("nobody".into());
    let s = run(&req);
    assert_eq!(wait(s.pid), ExitStatus::Exited(4));
    assert!(fs::read_to_string(&out).unwrap().ends_with("\nok"));
}

#[test]
fn shell_is_errexit() {
    let s = run(&sh("false; exit 0"));
    assert_eq!(wait(s.pid), ExitStatus::Exited(1));
}

#[test]
fn argv_path_search_env_cwd_umask() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut req = SpawnRequest::new(argv(&[
        "sh",
        "-c",
        "printf '%s|%s|%s|' \"$FOO\" \"$(pwd)\" \"$(umask)\" > out; env | wc -l >> out",
    ]));
    req.env = vec![
        ("FOO".into(), "bar baz".into()),
        ("PATH".into(), "/nonexistent:/usr/bin:/bin".into()),
    ];
    req.cwd = Some(dir.path().to_path_buf());
    req.umask = Some(0o027);
    let s = run(&req);
    assert_eq!(wait(s.pid), ExitStatus::Exited(0));
    let text = fs::read_to_string(&out).unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    // Only the given variables (sh adds PWD, maybe SHLVL/_).
    let (head, count) = text.rsplit_once('|').unwrap();
    assert_eq!(head, format!("bar baz|{}|0027", cwd.display()));
    assert!(count.trim().parse::<u32>().unwrap() <= 5, "{text}");
}

#[test]
fn rlimit_nofile_and_nice() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut req = sh(&format!(
        "echo $(ulimit -Sn) $(ulimit -Hn) $(cut -d' ' -f19 /proc/self/stat) > {}",
        out.display()
    ));
    req.rlimits = vec![(Resource::Nofile, Some(100), Some(200))];
    req.nice = Some(5);
    let s = run(&req);
    assert_eq!(wait(s.pid), ExitStatus::Exited(0));
    let text = fs::read_to_string(&out).unwrap();
    let base = crate::procfs::start_time(std::process::id()).map(|_| ());
    assert!(base.is_some());
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(&fields[..2], &["100", "200"]);
    // Nice is relative to ours; tests normally run at 0.
    assert!(fields[2].parse::<i32>().unwrap() >= 5, "{text}");
}

#[test]
fn bad_rlimit_is_child_failure() {
    let mut req = sh("exit 0");
    req.rlimits = vec![(Resource::Nofile, Some(200), Some(100))];
    let err = spawn(&SpawnPlan::new(&req).unwrap()).unwrap_err();
    let SpawnError::ChildFailed { pid, stage, error } = err else {
        panic!("unexpected {err}");
    };
    assert_eq!(stage, "rlimit");
    assert_eq!(error.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(wait(pid), ExitStatus::Exited(127));
}

#[test]
fn missing_program() {
    let req = SpawnRequest::new(argv(&["outset-no-such-program"]));
    let err = SpawnPlan::new(&req).unwrap_err();
    assert_eq!(
        err.to_string(),
        "No such file or directory: outset-no-such-program"
    );
    let req = SpawnRequest::new(argv(&["/no/such/program"]));
    assert!(matches!(SpawnPlan::new(&req), Err(SpawnError::NotFound(_))));
    assert!(matches!(
        SpawnPlan::new(&SpawnRequest::new(argv(&[]))),
        Err(SpawnError::EmptyArgv)
    ));
}

#[test]
fn exec_failure_reported_by_child() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("prog");
    fs::write(&prog, b"not a program").unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    let req = SpawnRequest::new(ProgramSpec::Argv(vec![prog.display().to_string()]));
    let err = spawn(&SpawnPlan::new(&req).unwrap()).unwrap_err();
    let SpawnError::ChildFailed { pid, stage, error } = err else {
        panic!("unexpected {err}");
    };
    assert_eq!(stage, "exec");
    assert_eq!(error.raw_os_error(), Some(libc::ENOEXEC));
    assert_eq!(wait(pid), ExitStatus::Exited(127));
}

#[test]
fn bad_chdir() {
    let mut req = sh("exit 0");
    req.cwd = Some("/no/such/dir".into());
    let err = spawn(&SpawnPlan::new(&req).unwrap()).unwrap_err();
    assert!(err.to_string().contains("chdir"), "{err}");
    assert_eq!(wait(err.child_pid().unwrap()), ExitStatus::Exited(127));
}

#[test]
fn bad_env_and_users() {
    let mut req = sh("exit 0");
    req.env = vec![("A=B".into(), "c".into())];
    assert!(matches!(
        SpawnPlan::new(&req),
        Err(SpawnError::BadEnvName(_))
    ));
    let mut req = sh("exit 0");
    req.user = Some("outset-no-such-user".into());
    assert_eq!(
        SpawnPlan::new(&req).unwrap_err().to_string(),
        "unknown user outset-no-such-user"
    );
    let mut req = sh("exit 0");
    req.group = Some("outset-no-such-group".into());
    assert_eq!(
        SpawnPlan::new(&req).unwrap_err().to_string(),
        "unknown group outset-no-such-group"
    );
}

#[test]
fn no_fd_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fds");
    // One fd opened the std way (CLOEXEC) and one deliberately without.
    let _cloexec = fs::File::open("/dev/null").unwrap();
    // rustix adds no O_CLOEXEC unless asked; the fd is closed below.
    let raw = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let s = run(&sh(&format!("ls /proc/self/fd > {}", out.display())));
    assert_eq!(wait(s.pid), ExitStatus::Exited(0));
    drop(raw);
    let text = fs::read_to_string(&out).unwrap();
    let fds: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
    // 0-2 plus the directory fd ls itself opens (and sh's redirect, on 1).
    assert!(fds.len() <= 4, "{fds:?}");
    assert_eq!(&fds[..3], &[0, 1, 2]);
}

#[test]
fn signals_reset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("status");
    // Block and ignore something in this thread; the job must not see it.
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGUSR2);
    set.thread_block().unwrap();
    let s = run(&sh(&format!(
        "grep -E '^Sig(Blk|Ign)' /proc/self/status > {}",
        out.display()
    )));
    assert_eq!(wait(s.pid), ExitStatus::Exited(0));
    set.thread_unblock().unwrap();
    let text = fs::read_to_string(&out).unwrap();
    assert!(text.contains("SigBlk:\t0000000000000000"), "{text}");
    // Rust's runtime ignores SIGPIPE in the test process; jobs must not.
    assert!(text.contains("SigIgn:\t0000000000000000"), "{text}");
}

#[test]
fn stop_before_exec() {
    let mut req = sh("exit 4");
    req.stop_before_exec = true;
    let s = run(&req);
    assert_eq!(stop_signal(wait_raw(s.pid)), Some(libc::SIGSTOP));
    s.pidfd.as_ref().unwrap().signal(libc::SIGCONT).unwrap();
    assert_eq!(wait(s.pid), ExitStatus::Exited(4));
}

#[test]
fn user_and_oom_score() {
    if !require(is_root(), "needs root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("out");
    let mut req = sh(&format!(
        "echo $(id -u) $(id -g) $(cat /proc/self/oom_score_adj) > {}",
        out.display()
    ));
    req.user = Some("nobody".into());
    req.oom_score_adj = Some(100);
    let s = run(&req);
    assert_eq!(wait(s.pid), ExitStatus::Exited(0));
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.trim(), format!("{} {} 100", nobody.uid, nobody.gid));
}

#[test]
fn chroot_resolves_inside() {
    if !require(is_root(), "needs root") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let mut req = SpawnRequest::new(argv(&["sh", "-c", "exit 0"]));
    req.chroot = Some(root.path().to_path_buf());
    // The empty chroot has no sh, even though the host does.
    assert!(matches!(SpawnPlan::new(&req), Err(SpawnError::NotFound(_))));
}

#[test]
fn into_cgroup() {
    let Some(tc) = TestCgroup::new() else { return };
    let cg = crate::cgroup::Cgroup::create(tc.path()).unwrap();
    let mut req = SpawnRequest::new(argv(&["sleep", "5"]));
    req.cgroup = Some(tc.path().to_path_buf());
    let s = run(&req);
    assert_eq!(cg.procs().unwrap(), vec![s.pid]);
    cg.kill().unwrap();
    assert_eq!(wait(s.pid), ExitStatus::Signaled(libc::SIGKILL));
}

#[test]
fn fork_fallback_joins_cgroup() {
    let Some(tc) = TestCgroup::new() else { return };
    let cg = crate::cgroup::Cgroup::create(tc.path()).unwrap();
    let mut req = SpawnRequest::new(argv(&["sleep", "5"]));
    req.cgroup = Some(tc.path().to_path_buf());
    let plan = SpawnPlan::new(&req).unwrap();
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let argv_p = ptr_array(&plan.argv);
    let envp_p = ptr_array(&plan.envp);
    let ctx = child::ChildCtx {
        path: plan.path.as_ptr(),
        argv: argv_p.as_ptr(),
        envp: envp_p.as_ptr(),
        devnull: None,
        stderr: None,
        output: None,
        console: None,
        console_owner: false,
        join_cgroup: plan.cgroup.as_ref().map(AsRawFd::as_raw_fd),
        rlimits: &[],
        nice: None,
        oom_score_adj: None,
        umask: None,
        chroot: None,
        cwd: None,
        groups: None,
        gid: None,
        uid: None,
        stop_before_exec: false,
        report_fd: std::cell::Cell::new(wr.as_raw_fd()),
        keep_fd: None,
        pass_fd: None,
        listen_pid: None,
    };
    let pid = fork(&ctx).unwrap();
    drop(wr);
    assert!(read_report(&rd).unwrap().is_none());
    assert_eq!(cg.procs().unwrap(), vec![pid]);
    cg.kill().unwrap();
    assert_eq!(wait(pid), ExitStatus::Signaled(libc::SIGKILL));
}

#[test]
fn clone3_into_cgroup_directly() {
    let Some(tc) = TestCgroup::new() else { return };
    let cg = crate::cgroup::Cgroup::create(tc.path()).unwrap();
    let mut req = SpawnRequest::new(argv(&["sleep", "5"]));
    req.cgroup = Some(tc.path().to_path_buf());
    let plan = SpawnPlan::new(&req).unwrap();
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    let argv_p = ptr_array(&plan.argv);
    let envp_p = ptr_array(&plan.envp);
    let ctx = child::ChildCtx {
        path: plan.path.as_ptr(),
        argv: argv_p.as_ptr(),
        envp: envp_p.as_ptr(),
        devnull: None,
        stderr: None,
        output: None,
        console: None,
        console_owner: false,
        join_cgroup: None,
        rlimits: &[],
        nice: None,
        oom_score_adj: None,
        umask: None,
        chroot: None,
        cwd: None,
        groups: None,
        gid: None,
        uid: None,
        stop_before_exec: false,
        report_fd: std::cell::Cell::new(wr.as_raw_fd()),
        keep_fd: None,
        pass_fd: None,
        listen_pid: None,
    };
    let r = clone3(plan.cgroup.as_ref().map(AsRawFd::as_raw_fd), &ctx);
    drop(wr);
    let Ok((pid, pidfd)) = r else {
        require(false, "clone3 unavailable");
        return;
    };
    assert!(pidfd.is_some());
    assert!(read_report(&rd).unwrap().is_none());
    assert_eq!(cg.procs().unwrap(), vec![pid]);
    pidfd.unwrap().signal(libc::SIGKILL).unwrap();
    assert_eq!(wait(pid), ExitStatus::Signaled(libc::SIGKILL));
}

/// Issue 9 item 21: stderr can go to a file while stdin and stdout stay /dev/null (what
/// `outsetctl trace` shows of a failing command); a symlink is refused.
#[test]
fn issue9_item21_stderr_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = dir.path().join("err");
    fs::write(&err, "before\n").unwrap();
    let mut req = sh("echo out; echo oops >&2; readlink /proc/self/fd/0 >&2");
    req.stdio = Stdio::NullStderrTo(err.clone());
    let s = run(&req);
    assert_eq!(wait(s.pid), ExitStatus::Exited(0));
    let text = fs::read_to_string(&err).unwrap();
    assert!(text.starts_with("before\noops\n"), "{text}");
    assert!(text.ends_with("oops\n/dev/null\n"), "{text}");
    assert!(!text.contains("out\n"), "{text}");

    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&err, &link).unwrap();
    req.stdio = Stdio::NullStderrTo(link);
    assert!(SpawnPlan::new(&req).is_err());
}

/// Reads a master until every slave is closed.
fn drain(master: &std::os::fd::OwnedFd) -> String {
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    for _ in 0..2000 {
        match crate::pty::read_master(master, &mut buf).unwrap() {
            crate::pty::Read::Data(n) => out.extend_from_slice(&buf[..n]),
            crate::pty::Read::Empty => std::thread::sleep(std::time::Duration::from_millis(5)),
            crate::pty::Read::Closed => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Issue 14 item 1: `console log` gives stdout and stderr a pty (a terminal for isatty),
/// stdin /dev/null, and, as Upstart, no controlling terminal.
#[test]
fn issue14_item1_output_to_a_pty_that_is_not_the_controlling_tty() {
    let pty = crate::pty::Pty::open().unwrap();
    let mut req = sh("[ -t 1 ] && echo tty1; [ -t 2 ] && echo tty2 >&2; \
         readlink /proc/self/fd/0; (exec 3</dev/tty) 2>/dev/null && echo ctty || echo no-ctty");
    req.stdio = Stdio::NullOutputTo(pty.slave.as_raw_fd());
    let s = run(&req);
    drop(pty.slave);
    let text = drain(&pty.master);
    assert_eq!(wait(s.pid), ExitStatus::Exited(0));
    assert_eq!(text, "tty1\ntty2\n/dev/null\nno-ctty\n");
}

/// Issue 14 item 6: `console owner` makes the terminal the job's controlling terminal with
/// its process group in the foreground; `console output` only writes to it.
#[test]
fn issue14_item6_console_owner_takes_the_terminal() {
    let script = "(exec 3</dev/tty) 2>/dev/null && echo ctty || echo no-ctty; \
         [ \"$(cut -d' ' -f8 /proc/$$/stat)\" = \"$$\" ] && echo foreground; true";
    for (owner, want) in [(true, "ctty\nforeground\n"), (false, "no-ctty\n")] {
        let pty = crate::pty::Pty::open().unwrap();
        let path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd())).unwrap();
        let mut req = sh(script);
        req.stdio = Stdio::Console { path, owner };
        let s = run(&req);
        drop(pty.slave);
        let text = drain(&pty.master);
        assert_eq!(wait(s.pid), ExitStatus::Exited(0));
        assert_eq!(text, want, "owner {owner}");
    }
}

/// Issue 14 item 6: a console that does not exist yet is a clear error naming the path.
#[test]
fn issue14_item6_missing_console_names_the_path() {
    let mut req = sh("true");
    req.stdio = Stdio::Console {
        path: "/nonexistent/console".into(),
        owner: false,
    };
    let e = SpawnPlan::new(&req).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/console"), "{e}");
}
