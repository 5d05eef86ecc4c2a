//! `outsetctl trace`: the real client traces the fake daemon (and a shell script, and strace)
//! and must report the forks, execs and exits in order, recommend the right `expect`
//! stanza, and leave no process and no cgroup behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{OUTSETCTL, TESTD, free_port, pid_alive, require_root_cgroup2};

/// One `N PID NAME KIND ARG` line.
#[derive(Debug, Clone)]
struct Ev {
    pid: u32,
    name: String,
    kind: String,
    arg: String,
}

/// What `outsetctl trace` printed.
#[derive(Debug)]
struct Traced {
    code: i32,
    text: String,
    events: Vec<Ev>,
    /// `key: value` summary lines; a key may repeat (`recommend:`, `why:`, `listening:`).
    summary: BTreeMap<String, Vec<String>>,
}

impl Traced {
    /// The first `key:` line's value.
    fn get(&self, key: &str) -> &str {
        self.summary
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {key}: line in\n{}", self.text))
    }

    /// Every `key:` line's value, in order.
    fn all(&self, key: &str) -> Vec<&str> {
        self.summary
            .get(key)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The launched process (the pid of the first event).
    fn launcher(&self) -> u32 {
        self.events[0].pid
    }

    /// Each process's own events in order, children's inline at their fork:
    /// deterministic although the processes race one another.
    fn tree(&self) -> String {
        self.tree_of(self.launcher())
    }

    fn tree_of(&self, pid: u32) -> String {
        let parts: Vec<String> = self
            .events
            .iter()
            .filter(|e| e.pid == pid)
            .map(|e| match e.kind.as_str() {
                "fork" => format!("fork({})", self.tree_of(e.arg.parse().unwrap())),
                _ => format!("{} {} {}", e.name, e.kind, e.arg),
            })
            .collect();
        parts.join(", ")
    }

    /// Checks that nothing the command started is left: its cgroup is gone and the pids
    /// in `pids` are dead.
    fn assert_nothing_left(&self, pids: &[u32]) {
        let cg = self.get("cgroup");
        let path = cg.split(' ').next().unwrap();
        assert!(cg.ends_with("(removed)"), "{}", self.text);
        assert!(!Path::new(path).exists(), "cgroup {path} left behind");
        for pid in pids {
            assert!(!pid_alive(*pid), "process {pid} left alive\n{}", self.text);
        }
    }
}

fn trace(extra: &[&str], cmd: &[&str]) -> Traced {
    let out = Command::new(OUTSETCTL)
        .arg("trace")
        .args(extra)
        .arg("--")
        .args(cmd)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut events = Vec::new();
    let mut summary = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if let Ok(n) = f[0].parse::<usize>() {
            assert_eq!(n, events.len() + 1, "event count in {line:?}\n{text}");
            assert_eq!(f.len(), 5, "event line {line:?}");
            events.push(Ev {
                pid: f[1].parse().unwrap(),
                name: f[2].to_string(),
                kind: f[3].to_string(),
                arg: f[4].to_string(),
            });
        } else if let Some((k, v)) = line.split_once(": ") {
            summary
                .entry(k.to_string())
                .or_insert_with(Vec::new)
                .push(v.to_string());
        }
    }
    let t = Traced {
        code: out.status.code().unwrap_or(-1),
        text,
        events,
        summary,
    };
    eprintln!(
        "{}\nstderr: {}",
        t.text,
        String::from_utf8_lossy(&out.stderr)
    );
    t
}

fn pid_from(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// A temp dir and the pid file path inside it.
fn pidfile() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.pid");
    (dir, p)
}

/// The launched testd's own exec, as seen in every tree.
const EXEC_TESTD: &str = "outset-testd exec outset-testd";

fn launched(rest: &str) -> String {
    // The launcher's first event is its exec from the tracer's copy (named after it).
    format!("outsetctl exec outset-testd, {rest}")
}

/// Runs testd with `args` and checks the event tree, the recommendation and the clean-up.
fn check_testd(args: &[&str], tree: &str, recommend: &str) -> Traced {
    let (_dir, pf) = pidfile();
    let pfs = pf.display().to_string();
    let mut cmd = vec![TESTD];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&["--pidfile", &pfs]);
    // The trace ends 1 s after the last event once the launcher has exited; the timeout only
    // guards against a hang, generous so a loaded machine cannot cut a launch chain short.
    let t = trace(&["--timeout", "30"], &cmd);
    assert_eq!(t.get("ended"), "quiet", "{}", t.text);
    assert_eq!(t.tree(), tree, "{}", t.text);
    assert_eq!(t.get("recommend"), recommend, "{}", t.text);
    let daemon = pid_from(&pf);
    assert_eq!(
        t.get("daemon"),
        format!("{daemon} outset-testd"),
        "{}",
        t.text
    );
    assert_eq!(
        t.get("pid file"),
        format!("{pfs} {daemon} (the daemon)"),
        "{}",
        t.text
    );
    t.assert_nothing_left(&[daemon, t.launcher()]);
    t
}

#[test]
fn no_fork_is_a_foreground_process() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let (_dir, pf) = pidfile();
    let pfs = pf.display().to_string();
    let t = trace(&["--timeout", "1.5"], &[TESTD, "--pidfile", &pfs]);
    assert_eq!(t.tree(), "outsetctl exec outset-testd", "{}", t.text);
    assert_eq!(t.get("recommend"), "no expect stanza (foreground)");
    assert!(t.get("launcher").ends_with("still running"), "{}", t.text);
    assert_eq!(t.get("ended"), "timeout");
    assert_eq!(t.code, 0);
    let daemon = pid_from(&pf);
    assert_eq!(daemon, t.launcher());
    t.assert_nothing_left(&[daemon]);
}

#[test]
fn one_fork_is_expect_fork() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let t = check_testd(
        &["--forks", "1"],
        &launched(&format!("fork({EXEC_TESTD}), outset-testd exit 0")),
        "expect fork",
    );
    assert_eq!(t.code, 0);
    assert_eq!(t.get("ended"), "quiet");
    let recs = t.all("recommend");
    assert_eq!(recs.len(), 2, "{}", t.text);
    assert!(recs[1].starts_with("pid file "), "{}", t.text);
    assert_eq!(t.all("why").len(), 2, "{}", t.text);
    // The command was offered a NOTIFY_SOCKET, but testd without --notify sends nothing.
    assert!(t.get("notify socket").starts_with('@'), "{}", t.text);
    assert!(t.all("notify").is_empty(), "{}", t.text);
}

#[test]
fn two_forks_is_expect_daemon() {
    if require_root_cgroup2().is_none() {
        return;
    }
    check_testd(
        &["--forks", "2"],
        &launched(&format!(
            "fork({EXEC_TESTD}, fork({EXEC_TESTD}), outset-testd exit 0), outset-testd exit 0"
        )),
        "expect daemon",
    );
}

#[test]
fn three_forks_is_expect_exit_3() {
    if require_root_cgroup2().is_none() {
        return;
    }
    check_testd(
        &["--forks", "3"],
        &launched(&format!(
            "fork({EXEC_TESTD}, fork({EXEC_TESTD}, fork({EXEC_TESTD}), outset-testd exit 0), \
             outset-testd exit 0), outset-testd exit 0"
        )),
        "expect exit 3",
    );
}

#[test]
fn a_parent_that_waits_is_still_expect_fork() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let t = check_testd(
        &["--forks", "1", "--parent-wait-ms", "500"],
        &launched(&format!("fork({EXEC_TESTD}), outset-testd exit 0")),
        "expect fork",
    );
    // The launcher's exit comes last: the daemon runs 500 ms before its parent exits.
    assert_eq!(t.events.last().unwrap().kind, "exit");
    assert_eq!(t.events.last().unwrap().pid, t.launcher());
}

#[test]
fn a_reaped_helper_does_not_count() {
    if require_root_cgroup2().is_none() {
        return;
    }
    check_testd(
        &["--forks", "1", "--helper"],
        &launched(&format!(
            "fork(outset-testd exec true, true exit 0), fork({EXEC_TESTD}), outset-testd exit 0"
        )),
        "expect fork",
    );
}

#[test]
fn a_failing_launcher_is_reported() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let (_dir, pf) = pidfile();
    let pfs = pf.display().to_string();
    let t = trace(
        &["--timeout", "3"],
        &[
            TESTD,
            "--forks",
            "1",
            "--parent-exit",
            "3",
            "--pidfile",
            &pfs,
        ],
    );
    assert_eq!(
        t.tree(),
        launched(&format!("fork({EXEC_TESTD}), outset-testd exit 3"))
    );
    assert_eq!(t.get("recommend"), "none: the command failed");
    assert!(t.get("why").contains("exited with status 3"), "{}", t.text);
    assert_eq!(t.code, 1);
    t.assert_nothing_left(&[pid_from(&pf)]);
}

#[test]
fn a_script_with_helpers_then_a_forking_daemon() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let (_dir, pf) = pidfile();
    let script = format!(
        "/bin/true; /bin/echo starting >/dev/null; exec {TESTD} --forks 2 --pidfile {}",
        pf.display()
    );
    let t = trace(&["--timeout", "3"], &["/bin/sh", "-c", &script]);
    let sh = t.events[0].arg.clone();
    assert_eq!(
        t.tree(),
        format!(
            "outsetctl exec {sh}, fork({sh} exec true, true exit 0), \
             fork({sh} exec echo, echo exit 0), {sh} exec outset-testd, \
             fork({EXEC_TESTD}, fork({EXEC_TESTD}), outset-testd exit 0), outset-testd exit 0"
        ),
        "{}",
        t.text
    );
    // The shell's forks are helpers, not links of the launch chain.
    assert_eq!(t.get("recommend"), "expect daemon");
    let daemon = pid_from(&pf);
    assert_eq!(t.get("daemon"), format!("{daemon} outset-testd"));
    t.assert_nothing_left(&[daemon]);
}

#[test]
fn json_output_has_events_summary_and_recommendation() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let (_dir, pf) = pidfile();
    let pfs = pf.display().to_string();
    let out = Command::new(OUTSETCTL)
        .args(["trace", "--json", "--timeout", "3", "--"])
        .args([TESTD, "--forks", "1", "--parent-wait-ms", "500"])
        .args(["--pidfile", &pfs])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["exec", "fork", "exec", "exit"], "{v:#}");
    let exit = &v["events"][3];
    assert!(exit["time_ms"].as_u64().unwrap() >= 500, "{v:#}");
    assert_eq!(exit["status"], "0");
    let daemon = pid_from(&pf);
    assert_eq!(v["summary"]["daemon"]["pid"], daemon);
    assert_eq!(v["summary"]["launcher"]["exit"], "0");
    assert_eq!(v["recommendation"]["stanza"], "expect fork");
    assert_eq!(v["recommendation"]["pid_file"], pfs);
    assert_eq!(
        v["recommendation"]["stanzas"],
        serde_json::json!(["expect fork", format!("pid file {pfs}")]),
        "{v:#}"
    );
    assert_eq!(v["recommendation"]["reasons"].as_array().unwrap().len(), 2);
    assert!(v["summary"]["notify"]["ready"].is_null(), "{v:#}");
    assert_eq!(v["summary"]["listening"], serde_json::json!([]), "{v:#}");
    let cg = v["summary"]["cgroup"].as_str().unwrap();
    assert!(!Path::new(cg).exists());
    assert!(!pid_alive(daemon));
}

#[test]
fn keep_leaves_the_daemon_running() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let (_dir, pf) = pidfile();
    let pfs = pf.display().to_string();
    let t = trace(
        &["--keep", "--timeout", "3"],
        &[TESTD, "--forks", "1", "--pidfile", &pfs],
    );
    let daemon = pid_from(&pf);
    let cg = t.get("cgroup").split(' ').next().unwrap().to_string();
    let alive_then = pid_alive(daemon);
    let status = std::fs::read_to_string(format!("/proc/{daemon}/status")).unwrap_or_default();
    let listed = std::fs::read_to_string(Path::new(&cg).join("cgroup.procs")).unwrap_or_default();
    // Clean up before asserting: only our own cgroup, under the mount, and the file the
    // kept daemon writes its stderr to (issue 9 item 21).
    assert!(Path::new(&cg).starts_with(&mount));
    crate::common::destroy_cgroup_tree(Path::new(&cg));
    let stderr_file = t.get("stderr file").split(' ').next().unwrap().to_string();
    let stderr_kept = Path::new(&stderr_file).is_file();
    let _ = std::fs::remove_file(&stderr_file);
    assert!(stderr_kept, "{}", t.text);
    assert!(
        alive_then,
        "kept daemon {daemon} is not running\n{}",
        t.text
    );
    assert!(listed.contains(&daemon.to_string()), "{listed}");
    assert!(t.get("kept").contains(&cg), "{}", t.text);
    // Detached: no longer traced by anyone.
    assert!(status.contains("TracerPid:\t0\n"), "{status}");
    assert_eq!(t.get("recommend"), "expect fork");
}

#[test]
fn strace_is_reported_as_using_ptrace() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let have_strace = ["/usr/bin/strace", "/bin/strace"]
        .iter()
        .any(|p| Path::new(p).exists());
    if !have_strace {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("strace is not installed, and CI=true forbids skipping");
        }
        eprintln!("SKIP: strace is not installed");
        return;
    }
    let t = trace(&[], &["strace", "-f", "-o", "/dev/null", "true"]);
    assert_eq!(t.get("recommend"), "none: the command uses ptrace");
    assert!(
        t.get("why").contains(
            "strace uses ptrace itself; tracing it under ptrace is not possible: run it as a \
             job, outset tracks it by cgroup without ptrace"
        ),
        "{}",
        t.text
    );
    assert_eq!(t.code, 1);
    t.assert_nothing_left(&[]);
}

#[test]
fn notify_is_expect_notify() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let (_dir, pf) = pidfile();
    let pfs = pf.display().to_string();
    let t = trace(
        &["--timeout", "4"],
        &[
            TESTD,
            "--notify",
            "--notify-delay-ms",
            "200",
            "--status",
            "warming",
            "--pidfile",
            &pfs,
        ],
    );
    let daemon = pid_from(&pf);
    assert_eq!(daemon, t.launcher());
    assert_eq!(t.all("recommend"), ["expect notify"], "{}", t.text);
    assert!(t.get("why").contains("sent READY=1"), "{}", t.text);
    assert!(t.get("launcher").ends_with("still running"), "{}", t.text);
    // READY=1 and the quiet time end the trace well before the timeout.
    assert_eq!(t.get("ended"), "ready", "{}", t.text);
    let notes = t.all("notify");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with(&format!("{daemon} ")) && n.contains("READY=1")),
        "{}",
        t.text
    );
    assert!(
        notes.iter().any(|n| n.contains("STATUS=warming")),
        "{}",
        t.text
    );
    assert_eq!(t.code, 0);
    t.assert_nothing_left(&[daemon]);
}

#[test]
fn notify_with_mainpid_in_json() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let out = Command::new(OUTSETCTL)
        .args(["trace", "--json", "--timeout", "4", "--"])
        .args([TESTD, "--notify", "--mainpid", "4242"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let launcher = v["summary"]["launcher"]["pid"].as_u64().unwrap();
    assert_eq!(v["recommendation"]["kind"], "notify", "{v:#}");
    assert_eq!(v["recommendation"]["stanza"], "expect notify", "{v:#}");
    assert_eq!(
        v["recommendation"]["stanzas"],
        serde_json::json!(["expect notify"])
    );
    assert_eq!(v["summary"]["notify"]["ready"]["pid"], launcher, "{v:#}");
    assert_eq!(v["summary"]["notify"]["mainpid"], 4242, "{v:#}");
    assert!(
        v["summary"]["notify"]["socket"]
            .as_str()
            .unwrap()
            .starts_with('@')
    );
    assert_eq!(v["summary"]["ended"], "ready");
    assert!(!Path::new(v["summary"]["cgroup"].as_str().unwrap()).exists());
}

#[test]
fn a_late_listener_after_one_fork_is_ready_on_listening() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let port = free_port();
    let ps = port.to_string();
    let t = check_testd(
        &["--forks", "1", "--listen", &ps, "--listen-delay-ms", "300"],
        &launched(&format!("fork({EXEC_TESTD}), outset-testd exit 0")),
        "expect fork",
    );
    let daemon = t.get("daemon").split(' ').next().unwrap().to_string();
    let recs = t.all("recommend");
    assert_eq!(
        recs[..2],
        [
            "expect fork".to_string(),
            format!("ready on listening tcp:127.0.0.1:{port}")
        ],
        "{}",
        t.text
    );
    assert!(recs[2].starts_with("pid file "), "{}", t.text);
    let listening = t.all("listening");
    assert_eq!(listening.len(), 1, "{}", t.text);
    assert!(
        listening[0].starts_with(&format!("tcp:127.0.0.1:{port} {daemon} outset-testd at ")),
        "{}",
        t.text
    );
    // The socket came at least 300 ms after the fork, so after the launcher's exit.
    let at: u64 = listening[0].rsplit(' ').nth(1).unwrap().parse().unwrap();
    assert!(at >= 300, "{}", t.text);
    assert!(
        t.all("why")
            .iter()
            .any(|w| w.contains("began listening") && w.contains("after the launched process")),
        "{}",
        t.text
    );
}

#[test]
fn a_listener_before_the_launcher_exits_needs_no_ready_on() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let port = free_port();
    let ps = port.to_string();
    // The daemon listens at once; its parent waits 500 ms before it exits.
    let t = check_testd(
        &["--forks", "1", "--listen", &ps, "--parent-wait-ms", "500"],
        &launched(&format!("fork({EXEC_TESTD}), outset-testd exit 0")),
        "expect fork",
    );
    assert_eq!(t.all("listening").len(), 1, "{}", t.text);
    assert!(
        !t.all("recommend").iter().any(|r| r.starts_with("ready on")),
        "{}",
        t.text
    );
}

#[test]
fn a_named_readiness_source_is_watched_and_recommended() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("flag");
    let flag_s = flag.display().to_string();
    let t = trace(
        &["--ready", &format!("file {flag_s}")],
        &[TESTD, "--forks", "1", "--touch", &flag_s],
    );
    assert_eq!(t.code, 0, "{}", t.text);
    assert!(t.get("ready").contains("held"), "{}", t.text);
    assert!(
        t.all("recommend")
            .contains(&format!("ready on file {flag_s}").as_str()),
        "{}",
        t.text
    );
    // A source that never holds is said to, and not recommended.
    let t = trace(
        &["--ready", "file /nonexistent/outset-flag"],
        &[TESTD, "--forks", "1"],
    );
    assert!(t.get("ready").contains("never held"), "{}", t.text);
    assert!(!t.text.contains("recommend: ready on file"), "{}", t.text);
    // Not a readiness source: a usage error.
    let out = Command::new(OUTSETCTL)
        .args(["trace", "--ready", "bogus thing", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ready"));
}

/// Issue 9 item 21: what the command left gets SIGTERM first, so a daemon can clean up (a
/// real one removes its pid file); before, it got SIGKILL at once.
#[test]
fn issue9_item21_leftovers_get_term_before_kill() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("term");
    let pf = dir.path().join("d.pid");
    // A forking "daemon" that writes its pid file and, on SIGTERM, notes it and removes it
    // (`exec rm`: no fork in the trap, which under a loaded CI machine could outlast the
    // grace period).
    let daemon = dir.path().join("daemon.sh");
    std::fs::write(
        &daemon,
        "echo $$ > \"$2\"\ntrap 'echo term > \"$1\"; exec rm -f \"$2\"' TERM\n\
         while :; do sleep 0.05; done\n",
    )
    .unwrap();
    let t = trace(
        &["--timeout", "3"],
        &[
            "sh",
            "-c",
            r#"sh "$0" "$1" "$2" & exit 0"#,
            &daemon.display().to_string(),
            &said.display().to_string(),
            &pf.display().to_string(),
        ],
    );
    assert_eq!(t.get("recommend"), "expect fork", "{}", t.text);
    let daemon_pid: u32 = t.get("daemon").split(' ').next().unwrap().parse().unwrap();
    assert_eq!(std::fs::read_to_string(&said).unwrap(), "term\n");
    assert!(
        !pf.exists(),
        "the daemon did not get to remove its pid file"
    );
    t.assert_nothing_left(&[daemon_pid]);
}

/// Issue 9 item 21: a daemon that ignores SIGTERM is still killed (after the grace).
#[test]
fn issue9_item21_a_daemon_ignoring_term_is_killed() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let (_dir, pf) = pidfile();
    let pfs = pf.display().to_string();
    let t = trace(
        &["--timeout", "3"],
        &[TESTD, "--forks", "1", "--ignore-term", "--pidfile", &pfs],
    );
    assert_eq!(t.get("recommend"), "expect fork", "{}", t.text);
    assert!(t.all("warning").is_empty(), "{}", t.text);
    t.assert_nothing_left(&[pid_from(&pf)]);
}

/// Issue 9 item 21: `--cgroup-root` says where the trace's cgroup goes.
#[test]
fn issue9_item21_cgroup_root_is_chosen() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let root = mount.join(format!("outset-test-trace-root-{}", std::process::id()));
    std::fs::create_dir(&root).unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            crate::common::destroy_cgroup_tree(&self.0);
        }
    }
    let _guard = Remove(root.clone());
    let roots = root.display().to_string();
    let t = trace(
        &["--cgroup-root", &roots, "--timeout", "2"],
        &[TESTD, "--forks", "1"],
    );
    let cg = t.get("cgroup").split(' ').next().unwrap().to_string();
    assert_eq!(Path::new(&cg).parent(), Some(root.as_path()), "{}", t.text);
    t.assert_nothing_left(&[]);
    assert_eq!(
        std::fs::read_dir(&root)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
            .count(),
        0
    );

    // A root that does not exist: the trace runs without a cgroup and says why.
    let t = trace(
        &["--cgroup-root", "/nonexistent/outset", "--timeout", "2"],
        &["true"],
    );
    assert!(t.get("note").contains("/nonexistent/outset"), "{}", t.text);
}

/// Issue 9 item 21: a failing command's own stderr is shown, not only "fix the command".
#[test]
fn issue9_item21_a_failing_command_shows_its_stderr() {
    if require_root_cgroup2().is_none() {
        return;
    }
    let t = trace(
        &["--timeout", "2"],
        &[
            "sh",
            "-c",
            "echo starting; echo 'd: cannot open /etc/d.conf: No such file' >&2; exit 3",
        ],
    );
    assert_eq!(t.code, 1, "{}", t.text);
    assert_eq!(
        t.all("stderr"),
        ["d: cannot open /etc/d.conf: No such file"],
        "{}",
        t.text
    );
    assert!(t.get("why").contains("see its stderr"), "{}", t.text);
    // JSON carries it too, whatever the verdict.
    let out = Command::new(OUTSETCTL)
        .args(["--json", "trace", "--", "sh", "-c", "echo hello >&2"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["stderr"], "hello\n", "{v:#}");
}
