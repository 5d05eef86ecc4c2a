//! Issue 14: `console log` output through a pty into `<logdir>/<job>.log`, held in memory
//! until the disk is writable, rotated, read back with `outsetctl log`; the other consoles.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

const LONG: Duration = Duration::from_secs(20);

/// A system-mode daemon (files 0640) on the jobs `setup` writes.
fn system_daemon(setup: impl FnOnce(&TestDaemon), extra: &[&str]) -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    let mut d = TestDaemon::new(&mount);
    setup(&d);
    let mut args = vec!["--no-startup-event"];
    args.extend_from_slice(extra);
    d.start_with(&args);
    Some(d)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Waits until the file at `p` holds `needle`.
fn wait_text(d: &TestDaemon, p: &Path, needle: &str) -> String {
    d.wait_for(&format!("{needle:?} in {}", p.display()), LONG, || {
        read(p).contains(needle)
    });
    read(p)
}

/// Issue 14 item 1: main process and hooks write through a pty (a terminal to the job) into
/// `<job>.log`, in order, 0640; no controlling terminal, as under Upstart; a silent job
/// leaves no file.
#[test]
fn issue14_item1_main_and_hooks_land_in_order_through_a_pty() {
    let Some(d) = system_daemon(
        |d| {
            d.write_job(
                "hello",
                "task\npre-start exec echo pre\nscript\n  echo one\n  [ -t 1 ] && echo stdout-tty\n  [ -t 2 ] && echo stderr-tty >&2\n  [ -t 0 ] || echo stdin-not-tty\n  (exec 3</dev/tty) 2>/dev/null && echo ctty || echo no-ctty\nend script\npost-stop exec echo post\n",
            );
            d.write_job("quiet", "task\nexec true\n");
        },
        &[],
    ) else {
        return;
    };
    d.ctl_ok(&["start", "hello"]);
    d.ctl_ok(&["start", "quiet"]);
    let log = d.logdir.join("hello.log");
    let text = wait_text(&d, &log, "post\n");
    assert_eq!(
        text,
        "pre\none\nstdout-tty\nstderr-tty\nstdin-not-tty\nno-ctty\npost\n"
    );
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    assert!(!d.logdir.join("quiet.log").exists());
    // `outsetctl log` shows the same lines, the last N of them.
    assert_eq!(d.ctl_ok(&["log", "hello", "-n", "2"]), "no-ctty\npost\n");
}

/// Issue 14 item 1: instances get `<job>-<instance>.log` with `/` as `_`; a respawning job
/// keeps appending to one file.
#[test]
fn issue14_item1_instances_and_respawns() {
    let Some(d) = daemon(|d| {
        d.write_job("inst", "instance $N\ntask\nexec echo instance $N\n");
        d.write_job(
            "again",
            "respawn\nrespawn limit 100 10\nscript\n  echo run\n  sleep 0.2\nend script\n",
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "inst", "N=a/b"]);
    d.ctl_ok(&["start", "inst", "N=c"]);
    assert_eq!(
        wait_text(&d, &d.logdir.join("inst-a_b.log"), "\n"),
        "instance a/b\n"
    );
    assert_eq!(
        wait_text(&d, &d.logdir.join("inst-c.log"), "\n"),
        "instance c\n"
    );
    // User mode: 0600.
    let mode = std::fs::metadata(d.logdir.join("inst-c.log"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    d.ctl_ok(&["start", "again"]);
    let log = d.logdir.join("again.log");
    d.wait_for("three runs", LONG, || {
        read(&log).matches("run\n").count() >= 3
    });
    d.ctl_ok(&["stop", "again"]);
    assert!(read(&log).lines().all(|l| l == "run"), "{}", read(&log));
}

/// Issue 14 item 1: hostile instance names and a symlink planted at the log path: nothing
/// is written outside the log directory or through the link, and the loss is counted.
#[test]
fn issue14_item1_hostile_names_stay_inside_logdir() {
    let Some(d) = daemon(|d| {
        d.write_job("h", "instance $N\ntask\nexec echo out $N\n");
        d.write_job("sym", "task\nexec echo through-the-link\n");
    }) else {
        return;
    };
    let outside = d.path("outside");
    std::fs::write(&outside, "untouched\n").unwrap();
    std::os::unix::fs::symlink(&outside, d.logdir.join("sym.log")).unwrap();
    for n in ["../../x", "..", "a\nb", "../outside"] {
        d.ctl_ok(&["start", "h", &format!("N={n}")]);
    }
    // A name too long for the file system: refused, counted, and the daemon carries on.
    let long = "n".repeat(300);
    d.ctl_ok(&["start", "h", &format!("N={long}")]);
    d.ctl_ok(&["start", "sym"]);
    d.wait_for("the four instance logs", LONG, || {
        [
            "h-.._.._x.log",
            "h-...log",
            "h-a\nb.log",
            "h-.._outside.log",
        ]
        .iter()
        .all(|f| read(&d.logdir.join(f)).starts_with("out "))
    });
    assert_eq!(read(&outside), "untouched\n");
    assert!(!d.path("x").exists() && !d.dir.path().parent().unwrap().join("x").exists());
    // Everything in the log directory is a plain file or the planted link.
    for e in std::fs::read_dir(&d.logdir).unwrap().flatten() {
        let t = e.file_type().unwrap();
        assert!(t.is_file() || e.file_name() == "sym.log", "{e:?}");
    }
    let link = std::fs::symlink_metadata(d.logdir.join("sym.log")).unwrap();
    assert!(link.file_type().is_symlink());
    assert!(
        d.stderr().contains("sym.log") && d.stderr().contains("dropped"),
        "{}",
        d.stderr()
    );
    d.wait_for("the long name's refusal", LONG, || {
        d.stderr().contains("name too long")
    });
    // The daemon still answers.
    assert!(d.ctl_ok(&["list"]).contains("sym stop/waiting"));
}

/// Issue 14 item 2: a log directory that does not exist yet: output waits in memory
/// (`outsetctl log` shows it), then lands first in the file once the directory appears.
#[test]
fn issue14_item2_held_until_the_directory_appears() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let later = d.path("later/log");
    d.write_job(
        "early",
        &format!(
            "script\n  echo first\n  echo second\n  while [ ! -e {p}/go ]; do sleep 0.05; done\n  echo third\n  sleep 600\nend script\n",
            p = d.dir.path().display()
        ),
    );
    d.logdir = later.clone();
    // System mode: a user daemon makes its own cache directory.
    d.start_with(&["--no-startup-event"]);
    d.ctl_ok(&["start", "early"]);
    d.wait_for("held output", LONG, || {
        d.ctl_ok(&["log", "early"]) == "first\nsecond\n"
    });
    assert!(!later.exists());
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(d.path("go"), "").unwrap();
    let text = wait_text(&d, &later.join("early.log"), "third\n");
    assert_eq!(text, "first\nsecond\nthird\n");
    d.ctl_ok(&["stop", "early"]);
}

/// Issue 14 item 2: past the memory bound output is dropped, counted and marked where it
/// was lost; `notify-disk-writeable` writes what was held at once.
#[test]
fn issue14_item2_bound_drops_with_a_marker_and_notify_flushes() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let later = d.path("later");
    // 512 KiB in 1 KiB lines (1023 characters and a newline): twice the bound of a job.
    d.write_job(
        "flood",
        "task\nscript\n  line=$(printf '%01023d' 0)\n  i=0\n  while [ $i -lt 512 ]; do echo \"$line\"; i=$((i+1)); done\n  echo last\nend script\n",
    );
    d.logdir = later.clone();
    // System mode: a user daemon makes its own cache directory.
    d.start_with(&["--no-startup-event"]);
    d.ctl_ok(&["start", "flood"]);
    std::fs::create_dir_all(&later).unwrap();
    d.ctl_ok(&["notify-disk-writeable"]);
    // Written by the notify itself, before its reply.
    let text = read(&later.join("flood.log"));
    let held = 256 * 1024;
    assert!(text.len() >= held, "{}", text.len());
    let marker_at = text.find("[outset: ").expect("a marker");
    assert_eq!(marker_at, held);
    let marker = &text[marker_at..];
    let n: usize = marker
        .trim_start_matches("[outset: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Every byte the job wrote is either in the file or counted.
    let total = 512 * 1024 + "last\n".len();
    assert_eq!(held + n, total, "{marker:.60}");
    assert!(marker.starts_with(&format!("[outset: {n} bytes dropped]\n")));
}

/// Issue 14 item 3: rotation at the size cap keeps `keep` old files, every kept line in
/// order.
#[test]
fn issue14_item3_rotation_keeps_n_files() {
    let Some(d) = daemon(|d| {
        d.write_job(
            "rot",
            "task\nlog rotate 4K 2\nscript\n  i=0\n  while [ $i -lt 1000 ]; do echo \"line $i\"; i=$((i+1)); done\nend script\n",
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "rot"]);
    let log = d.logdir.join("rot.log");
    wait_text(&d, &log, "line 999\n");
    let files: Vec<PathBuf> = ["rot.log.2", "rot.log.1", "rot.log"]
        .iter()
        .map(|f| d.logdir.join(f))
        .collect();
    assert!(!d.logdir.join("rot.log.3").exists());
    let mut all = String::new();
    for f in &files {
        let t = read(f);
        assert!(
            !t.is_empty() && t.len() <= 4096,
            "{}: {}",
            f.display(),
            t.len()
        );
        all.push_str(&t);
    }
    let nums: Vec<u32> = all
        .lines()
        .map(|l| l.trim_start_matches("line ").parse().unwrap())
        .collect();
    assert_eq!(*nums.last().unwrap(), 999);
    assert!(
        nums.windows(2).all(|w| w[1] == w[0] + 1),
        "a gap in the kept lines"
    );
}

/// A job that writes `line I` when `go-I` appears in the test's directory.
fn stepped_job(d: &TestDaemon, name: &str, count: u32, extra: &str) {
    d.write_job(
        name,
        &format!(
            "{extra}script\n  i=1\n  while [ $i -le {count} ]; do\n    while [ ! -e {p}/go-$i ]; do sleep 0.02; done\n    echo \"line $i\"\n    i=$((i+1))\n  done\n  sleep 600\nend script\n",
            p = d.dir.path().display()
        ),
    );
}

fn step(d: &TestDaemon, range: std::ops::RangeInclusive<u32>) {
    for i in range {
        std::fs::write(d.path(&format!("go-{i}")), "").unwrap();
    }
}

/// Issue 14 item 3: external logrotate: `copytruncate`, and rename followed by SIGHUP, both
/// keep every line.
#[test]
fn issue14_item3_copytruncate_and_rename_with_sighup_keep_every_line() {
    let Some(d) = daemon(|d| stepped_job(d, "ext", 15, "log rotate off\n")) else {
        return;
    };
    d.ctl_ok(&["start", "ext"]);
    let log = d.logdir.join("ext.log");
    step(&d, 1..=5);
    wait_text(&d, &log, "line 5\n");
    // copytruncate: copy, then truncate in place.
    std::fs::copy(&log, d.logdir.join("ext.log.copied")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    step(&d, 6..=10);
    wait_text(&d, &log, "line 10\n");
    // No hole of zeros where the old content was: writes append at the new end.
    assert!(read(&log).starts_with("line 6\n"), "{:?}", read(&log));
    std::fs::rename(&log, d.logdir.join("ext.log.renamed")).unwrap();
    let pid = d.child.as_ref().unwrap().id();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    d.wait_for("the reload", LONG, || {
        d.stderr().contains("reopening job logs")
    });
    step(&d, 11..=15);
    wait_text(&d, &log, "line 15\n");
    let all = read(&d.logdir.join("ext.log.copied"))
        + &read(&d.logdir.join("ext.log.renamed"))
        + &read(&log);
    let want: String = (1..=15).map(|i| format!("line {i}\n")).collect();
    assert_eq!(all, want);
    d.ctl_ok(&["stop", "ext"]);
}

/// Issue 14 item 5: `outsetctl log -f` follows the output across a rotation.
#[test]
fn issue14_item5_log_follow_across_rotation() {
    let Some(d) = daemon(|d| stepped_job(d, "fol", 40, "log rotate 200 3\n")) else {
        return;
    };
    d.ctl_ok(&["start", "fol"]);
    let log = d.logdir.join("fol.log");
    step(&d, 1..=2);
    wait_text(&d, &log, "line 2\n");
    let out_path = d.path("follow.out");
    let mut follower = Command::new(OUTSETCTL)
        .arg("--socket")
        .arg(&d.socket)
        .args(["log", "fol", "-n", "100", "-f"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Line by line, so the follower sees each rotation between two of its polls or not.
    for i in 3..=40 {
        step(&d, i..=i);
        if i % 10 == 0 {
            d.wait_for("the follower", LONG, || {
                read(&out_path).contains(&format!("line {i}\n"))
            });
        }
    }
    d.wait_for("the follower to reach line 40", LONG, || {
        read(&out_path).contains("line 40\n")
    });
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(d.logdir.join("fol.log.1").exists(), "no rotation happened");
    let want: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    assert_eq!(read(&out_path), want);
    d.ctl_ok(&["stop", "fol"]);
}

/// A tmpfs mounted for one test, unmounted when dropped (even when the test fails).
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    fn new(at: &Path, size: &str) -> Option<TmpfsMount> {
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TmpfsMount(at.to_path_buf()))
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        // Lazy: a file still open in the daemon cannot keep the mount.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Issue 14 item 4: a log directory that fills: the daemon keeps answering, the job keeps
/// running, the loss is counted and marked, and writing resumes once space is freed.
#[test]
fn issue14_item4_full_disk_drops_marks_and_resumes() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let Some(_tmpfs) = TmpfsMount::new(&d.logdir, "64k") else {
        panic!("cannot mount a tmpfs (root is required and present)");
    };
    // About 100 KiB a second of numbered lines.
    d.write_job(
        "fill",
        "log rotate off\nscript\n  i=0\n  while true; do printf 'line %06d %0100d\\n' $i 0; i=$((i+1)); sleep 0.001; done\nend script\n",
    );
    d.start(&["--no-startup-event"]);
    d.ctl_ok(&["start", "fill"]);
    let log = d.logdir.join("fill.log");
    d.wait_for("the disk to fill", LONG, || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() >= 60 * 1024)
    });
    // Full: the daemon answers and the job runs on.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..10 {
        assert!(d.status(&["fill"]).contains("start/running"));
    }
    // Free the space (as a copytruncate would): a marker, then lines again.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    wait_text(&d, &log, " bytes dropped]\n");
    d.wait_for("lines after the marker", LONG, || {
        read(&log)
            .split(" bytes dropped]\n")
            .nth(1)
            .is_some_and(|rest| rest.lines().count() >= 3)
    });
    let text = read(&log);
    // The line the disk cut is ended, then the marker reports the whole loss at once.
    assert!(
        text.trim_start_matches('\n').starts_with("[outset: "),
        "{:.80}",
        text
    );
    assert_eq!(text.matches("[outset: ").count(), 1, "{:.200}", text);
    let n: u64 = text
        .split("[outset: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(n > 0);
    d.ctl_ok(&["stop", "fill"]);
    d.kill_daemon();
}

/// Issue 14 item 4: a job flooding its pty gets back-pressure; control requests are still
/// answered meanwhile, and the disk use stays within the rotation.
#[test]
fn issue14_item4_flood_keeps_control_answering() {
    let Some(d) = daemon(|d| {
        d.write_job(
            "flood",
            "log rotate 1M 1\nexec yes 0123456789abcdef0123456789abcdef\n",
        );
    }) else {
        return;
    };
    d.ctl_ok(&["start", "flood"]);
    let log = d.logdir.join("flood.log");
    d.wait_for("a rotation", LONG, || d.logdir.join("flood.log.1").exists());
    for _ in 0..20 {
        assert!(d.status(&["flood"]).contains("start/running"));
        // The last line may still be partial, as `tail` shows it.
        let last = d.ctl_ok(&["log", "flood", "-n", "1"]);
        assert!(
            "0123456789abcdef0123456789abcdef\n".starts_with(last.trim_end()),
            "{last:?}"
        );
    }
    d.ctl_ok(&["stop", "flood"]);
    for f in [log.clone(), d.logdir.join("flood.log.1")] {
        assert!(
            std::fs::metadata(&f).unwrap().len() <= 1 << 20,
            "{}",
            f.display()
        );
    }
    assert!(!d.logdir.join("flood.log.2").exists());
}

/// Issue 14 item 6: `console output` and `console owner` on the console device (here a pty
/// the test holds); owner makes it the controlling terminal with the job in the
/// foreground; `--default-console` applies to jobs without the stanza; `--no-log` logs
/// nothing.
#[test]
fn issue14_item6_consoles() {
    let pty = outset_sys::pty::Pty::open().unwrap();
    let slave = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
    ))
    .unwrap();
    let check = "(exec 3</dev/tty) 2>/dev/null && echo ctty || echo no-ctty; [ \"$(cut -d' ' -f8 /proc/$$/stat)\" = \"$$\" ] && echo foreground; true";
    let Some(d) = system_daemon(
        |d| {
            d.write_job(
                "out",
                &format!("task\nconsole output\nscript\n  echo out-job\n  {check}\nend script\n"),
            );
            d.write_job(
                "own",
                &format!("task\nconsole owner\nscript\n  echo own-job\n  {check}\nend script\n"),
            );
            d.write_job("dflt", "task\nexec echo default-console\n");
        },
        &[
            "--console-device",
            slave.to_str().unwrap(),
            "--default-console",
            "output",
        ],
    ) else {
        return;
    };
    let mut got = Vec::new();
    let mut read_until = |needle: &str| {
        let mut buf = [0u8; 4096];
        let deadline = std::time::Instant::now() + LONG;
        while !String::from_utf8_lossy(&got).contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                String::from_utf8_lossy(&got)
            );
            match outset_sys::pty::read_master(&pty.master, &mut buf).unwrap() {
                outset_sys::pty::Read::Data(n) => got.extend_from_slice(&buf[..n]),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        got.clear();
        text
    };
    d.ctl_ok(&["start", "out"]);
    let text = read_until("no-ctty");
    assert!(
        text.contains("out-job") && !text.contains("foreground"),
        "{text}"
    );
    d.ctl_ok(&["start", "own"]);
    let text = read_until("foreground");
    assert!(
        text.contains("own-job") && !text.contains("no-ctty"),
        "{text}"
    );
    d.ctl_ok(&["start", "dflt"]);
    read_until("default-console");
    assert!(!d.logdir.join("dflt.log").exists());
}

/// Issue 14 item 6: a console device that is not there (early boot) does not keep the job
/// from starting; the log says which job and which path.
#[test]
fn issue14_item6_missing_console_still_starts() {
    let Some(d) = system_daemon(
        |d| d.write_job("c", "task\nconsole output\nexec true\n"),
        &["--console-device", "/nonexistent/console"],
    ) else {
        return;
    };
    let out = d.ctl_ok(&["start", "c"]);
    assert!(out.contains("stop/waiting"), "{out}");
    let err = d.stderr();
    assert!(
        err.contains("c: cannot open /nonexistent/console") && err.contains("/dev/null"),
        "{err}"
    );
}

/// Issue 14 items 1 and 6: `--no-log` treats `console log` as `console none`.
#[test]
fn issue14_item1_no_log() {
    let Some(d) = system_daemon(|d| d.write_job("n", "task\nexec echo hi\n"), &["--no-log"]) else {
        return;
    };
    d.ctl_ok(&["start", "n"]);
    assert!(!d.logdir.join("n.log").exists());
    let out = d.ctl(&["log", "n"]);
    assert!(!out.status.success());
}

/// Issue 14 item 7: `log-priority` reads and sets the daemon's own log level.
#[test]
fn issue14_item7_log_priority() {
    let Some(d) = daemon(|_| {}) else {
        return;
    };
    assert_eq!(d.ctl_ok(&["log-priority"]), "debug\n");
    d.ctl_ok(&["log-priority", "warn"]);
    assert_eq!(d.ctl_ok(&["log-priority"]), "warn\n");
    let bad = d.ctl(&["log-priority", "loud"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown priority"));
}

/// Issue 14 item 6: early boot without `/dev/null` (an empty `/dev`, in a mount namespace of
/// the daemon's own that ends with it): a job cannot start, and the failure names the job
/// and the path; a `console log` job first says it has no pty.
#[test]
fn issue14_item6_missing_dev_null_names_the_job_and_the_path() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    d.write_job("quiet", "task\nconsole none\nexec true\n");
    d.write_job("chatty", "task\nexec echo hi\n");
    d.start_under(
        &[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /dev && exec \"$@\"",
            "sh",
        ],
        &["--no-startup-event"],
    );
    for job in ["quiet", "chatty"] {
        let out = d.ctl(&["start", job]);
        assert!(!out.status.success(), "{job} started without /dev/null");
    }
    let err = d.stderr();
    assert!(
        err.contains("quiet: failed to spawn main process: cannot open /dev/null"),
        "{err}"
    );
    assert!(err.contains("chatty: cannot open a pty"), "{err}");
    assert!(
        err.contains("chatty: failed to spawn main process: cannot open /dev/null"),
        "{err}"
    );
}

/// Issue 14 item 5: `log` is for those who may change state or may read the file;
/// `notify-disk-writeable` and `log-priority` need the right to change state.
#[test]
fn issue14_item5_who_may_read_a_log() {
    use std::os::unix::process::CommandExt;
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    // uid 65534 must reach the socket.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.write_job("priv", "task\nexec echo secret-output\n");
    d.start_with(&["--no-startup-event"]);
    d.ctl_ok(&["start", "priv"]);
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
    let out = as_nobody(&["log", "priv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Permission denied"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
    for args in [
        &["notify-disk-writeable"][..],
        &["log-priority", "debug"],
        &["log-priority"],
    ] {
        let out = as_nobody(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    }
    // A file others may read is shown to them.
    let log = d.logdir.join("priv.log");
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = as_nobody(&["log", "priv"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "secret-output\n");
}

/// Issue 14 item 4: a job that went quiet after filling the disk still gets its marker once
/// space is freed (the daemon retries on its own), with the exact count of what was lost.
#[test]
fn issue14_item4_quiet_job_gets_its_marker_once_space_returns() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let Some(_tmpfs) = TmpfsMount::new(&d.logdir, "64k") else {
        panic!("cannot mount a tmpfs (root is required and present)");
    };
    // 128 KiB in 1 KiB lines, then silence.
    d.write_job(
        "burst",
        "log rotate off\nscript\n  line=$(printf '%01023d' 0)\n  i=0\n  while [ $i -lt 128 ]; do echo \"$line\"; i=$((i+1)); done\n  exec sleep 600\nend script\n",
    );
    d.start(&["--no-startup-event"]);
    d.ctl_ok(&["start", "burst"]);
    let log = d.logdir.join("burst.log");
    d.wait_for("the disk to fill", LONG, || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() >= 60 * 1024)
    });
    std::thread::sleep(Duration::from_millis(300));
    let kept = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    let text = wait_text(&d, &log, " bytes dropped]\n");
    let n: u64 = text
        .trim_start_matches('\n')
        .trim_start_matches("[outset: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(kept + n, 128 * 1024, "{text:?}");
    d.ctl_ok(&["stop", "burst"]);
    d.kill_daemon();
}

/// The numbers of the `n K` lines of a log, in file order.
fn numbers(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.strip_prefix("n "))
        .map(|n| n.parse().unwrap())
        .collect()
}

/// Issue 15 with issue 14: a `console log` job writing a numbered line every 20 ms keeps
/// its pty across three re-execs (the masters are handed over), and its file holds every
/// number in order with none missing.
#[test]
fn issue15_log_pty_survives_reexec_with_no_line_lost() {
    let Some(d) = system_daemon(
        |d| {
            d.write_job(
                "count",
                &format!(
                    "script\n  i=1\n  while [ ! -e {p}/halt ]; do echo \"n $i\"; i=$((i+1)); sleep 0.02; done\n  echo \"last $((i-1))\"\n  sleep 600\nend script\n",
                    p = d.dir.path().display()
                ),
            );
        },
        &[],
    ) else {
        return;
    };
    d.ctl_ok(&["start", "count"]);
    let log = d.logdir.join("count.log");
    for round in 0..3 {
        let seen = numbers(&read(&log)).last().copied().unwrap_or(0);
        d.wait_for(&format!("output before re-exec {round}"), LONG, || {
            numbers(&read(&log)).last().copied().unwrap_or(0) >= seen + 5
        });
        crate::reexec::reexec(&d);
        // Output still flows after the switch, into the same file.
        let at = numbers(&read(&log)).last().copied().unwrap_or(0);
        d.wait_for(&format!("output after re-exec {round}"), LONG, || {
            numbers(&read(&log)).last().copied().unwrap_or(0) >= at + 10
        });
    }
    std::fs::write(d.path("halt"), "").unwrap();
    let text = wait_text(&d, &log, "last ");
    d.ctl_ok(&["stop", "count"]);
    let nums = numbers(&text);
    let last: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("last "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        nums,
        (1..=last).collect::<Vec<_>>(),
        "a line lost or out of order"
    );
    assert!(
        d.stderr().matches("state taken over").count() >= 3,
        "{}",
        d.stderr()
    );
}

/// Issue 15 with issue 14 item 2: output held in memory (the log directory does not exist
/// yet), binary bytes included, is carried across a re-exec and written once the directory
/// appears, before what the job writes later.
#[test]
fn issue15_held_log_output_is_carried_across_reexec() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    let mut d = TestDaemon::new(&mount);
    let later = d.path("later/log");
    d.write_job(
        "early",
        &format!(
            "script\n  echo first\n  printf 'bin \\001\\377\\n'\n  echo second\n  while [ ! -e {p}/go ]; do sleep 0.05; done\n  echo third\n  sleep 600\nend script\n",
            p = d.dir.path().display()
        ),
    );
    d.logdir = later.clone();
    d.start_with(&["--no-startup-event"]);
    d.ctl_ok(&["start", "early"]);
    d.wait_for("held output", LONG, || {
        d.ctl_ok(&["log", "early"]).ends_with("second\n")
    });
    crate::reexec::reexec(&d);
    assert!(
        d.ctl_ok(&["log", "early"]).starts_with("first\nbin "),
        "the held output was not carried:\n{}",
        d.stderr()
    );
    assert!(!later.exists());
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(d.path("go"), "").unwrap();
    let log = later.join("early.log");
    // Not UTF-8: read as bytes.
    d.wait_for("\"third\" in early.log", LONG, || {
        std::fs::read(&log).is_ok_and(|b| b.ends_with(b"third\n"))
    });
    d.ctl_ok(&["stop", "early"]);
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b"first\nbin \x01\xff\nsecond\nthird\n".to_vec()
    );
}
