//! Shared harness for the end-to-end tests: a real `outset` daemon in a temp dir with its own
//! socket and its own cgroup subtree, driven by the real `outsetctl`.

pub mod screenshot;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const OUTSET: &str = env!("CARGO_BIN_EXE_outset");
pub const OUTSETCTL: &str = env!("CARGO_BIN_EXE_outsetctl");
pub const TESTD: &str = env!("CARGO_BIN_EXE_outset-testd");

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Whether this process may create cgroups and ptrace: root with a writable cgroup2 mount.
/// Without it the caller skips, except under `CI=true`, where that is a failure.
pub fn require_root_cgroup2() -> Option<PathBuf> {
    let root = outset_testkit::privilege::is_root();
    let mount = cgroup2_mount();
    let why = if !root {
        Some("not root".to_string())
    } else if mount.is_none() {
        Some("no cgroup2 mount".to_string())
    } else {
        None
    };
    if let Some(why) = why {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("this test needs root and cgroup2 ({why}), and CI=true forbids skipping");
        }
        eprintln!("SKIP: this test needs root and cgroup2: {why}");
        return None;
    }
    mount
}

/// An installed program (`.ci/run` installs the Debian packages the tests drive), or None:
/// the test skips, which under `CI=true` is a failure.
pub fn installed(bin: &str) -> Option<PathBuf> {
    let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{bin} is not installed, and CI=true forbids skipping (.ci/run installs it)");
        }
        eprintln!("SKIP: {bin} is not installed");
    }
    found
}

/// The first cgroup2 mount (outset's own lookup).
pub fn cgroup2_mount() -> Option<PathBuf> {
    outset_sys::cgroup::cgroup2_mount()
}

pub use outset_testkit::cgroup::destroy_cgroup_tree;

pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub confdir: PathBuf,
    pub socket: PathBuf,
    pub logdir: PathBuf,
    pub cgroup: PathBuf,
    /// The cgroup the daemon itself (and any wrapper it runs under) lives in, beside
    /// `cgroup`: whatever is left in it when the test ends outlived the test (issue 9 item 18).
    pub daemon_cgroup: PathBuf,
    /// Started through a wrapper (`unshare --fork`): the daemon is the wrapper's child.
    pub wrapped: bool,
    pub child: Option<Child>,
    pub stderr_path: PathBuf,
    /// Extra environment for the daemon.
    pub env: Vec<(String, String)>,
}

impl TestDaemon {
    /// Prepares a daemon (not started): its temp dir, conf dir and cgroup subtree.
    pub fn new(mount: &Path) -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let confdir = dir.path().join("conf");
        let logdir = dir.path().join("log");
        std::fs::create_dir_all(&confdir).unwrap();
        std::fs::create_dir_all(&logdir).unwrap();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let cgroup = mount.join(format!("outset-test-{}-{n}", std::process::id()));
        let daemon_cgroup = mount.join(format!("outset-test-{}-{n}.daemon", std::process::id()));
        TestDaemon {
            daemon_cgroup,
            wrapped: false,
            // In a directory of its own, which the daemon creates: tests may open the temp
            // dir to other users, and a daemon refuses a socket directory others can write.
            socket: dir.path().join("run/control.sock"),
            stderr_path: dir.path().join("daemon.stderr"),
            dir,
            confdir,
            logdir,
            cgroup,
            child: None,
            env: Vec::new(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `<confdir>/<name>.conf`.
    pub fn write_job(&self, name: &str, text: &str) {
        let p = self.confdir.join(format!("{name}.conf"));
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, text).unwrap();
    }

    /// Starts a `--user` daemon with extra flags and waits for its socket.
    pub fn start(&mut self, extra: &[&str]) {
        let mut all = vec!["--user"];
        all.extend_from_slice(extra);
        self.start_with(&all);
    }

    /// Starts the daemon with exactly these flags (besides its paths) and waits for its socket.
    pub fn start_with(&mut self, extra: &[&str]) {
        self.start_under(&[], extra);
    }

    /// Starts the daemon through a wrapper command (`unshare …`) and waits for its socket.
    pub fn start_under(&mut self, wrapper: &[&str], extra: &[&str]) {
        self.spawn_under(wrapper, extra);
        let deadline = Instant::now() + Duration::from_secs(10);
        // The file appears at bind(), a moment before listen(): wait until a connect works.
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "daemon did not create its socket; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the daemon through a wrapper command without waiting for anything.
    pub fn spawn_under(&mut self, wrapper: &[&str], extra: &[&str]) {
        let stderr = std::fs::File::create(&self.stderr_path).unwrap();
        // The shell joins the daemon's own cgroup and execs the wrapper or the daemon, so
        // everything the daemon side starts outside job cgroups is found there at the end.
        std::fs::create_dir_all(&self.daemon_cgroup).unwrap();
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
            .arg(&self.daemon_cgroup)
            .args(wrapper)
            .arg(OUTSET);
        self.wrapped = !wrapper.is_empty();
        cmd.arg("--confdir")
            .arg(&self.confdir)
            .arg("--socket")
            .arg(&self.socket)
            .arg("--logdir")
            .arg(&self.logdir)
            .arg("--cgroup-root")
            .arg(&self.cgroup)
            .arg("--debug")
            // No D-Bus unless a test asks (its own flags come later and win): parallel
            // daemons must not race for Upstart's socket name or join the machine's bus.
            .args(["--dbus-private", "none", "--dbus-bus", "none"])
            .args(extra)
            .env("OUTSET_TEST_DIR", self.dir.path())
            // A `--user` daemon writes its session file there: in the test's temp dir,
            // never the machine's runtime dir.
            .env("XDG_RUNTIME_DIR", self.dir.path().join("runtime"))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        self.child = Some(cmd.spawn().unwrap());
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Runs `outsetctl --socket S ARGS…`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(OUTSETCTL)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .env_remove("UPSTART_JOB")
            .env_remove("UPSTART_INSTANCE")
            .output()
            .unwrap()
    }

    /// Runs outsetctl and returns stdout, panicking (with both outputs) on failure.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        if !out.status.success() {
            panic!(
                "outsetctl {args:?} failed: {}\nstdout: {}\nstderr: {}\ndaemon stderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.stderr()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `status JOB` output trimmed.
    pub fn status(&self, args: &[&str]) -> String {
        let mut a = vec!["status"];
        a.extend_from_slice(args);
        let out = self.ctl(&a);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .trim()
        .to_string()
    }

    /// Polls `cond` until true or the timeout; panics with the daemon's stderr otherwise.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out waiting for {what}; daemon stderr:\n{}",
            self.stderr()
        );
    }

    /// Waits until `status JOB` contains `needle`.
    pub fn wait_status(&self, job: &[&str], needle: &str) -> String {
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            last = self.status(job);
            if last.contains(needle) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "status {job:?} never contained {needle:?}; last: {last}\ndaemon stderr:\n{}",
            self.stderr()
        );
    }

    /// Reads a file written by a job, waiting for it to appear with content (a shell
    /// redirection creates the file before it writes).
    pub fn wait_file(&self, rel: &str) -> String {
        let p = self.path(rel);
        self.wait_for(&format!("file {rel}"), Duration::from_secs(15), || {
            std::fs::metadata(&p).is_ok_and(|m| m.len() > 0)
        });
        // Let a writer of several lines finish.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::read_to_string(p).unwrap()
    }

    /// Pids currently in the job cgroups below this daemon's root.
    pub fn cgroup_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        collect_pids(&self.cgroup, &mut pids);
        pids
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<u32>) {
    if let Ok(s) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_pids(&e.path(), out);
            }
        }
    }
}

/// Whether a process exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// The main pid in an Upstart status line (`…, process N`).
pub fn main_pid(status: &str) -> Option<u32> {
    let first = status.lines().next()?;
    let idx = first.find("process ")?;
    first[idx + 8..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The children of `pid` (all its threads' children).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let list = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// Pids in one cgroup (not its children).
fn procs(cgroup: &Path) -> Vec<u32> {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

impl TestDaemon {
    /// Ends the daemon the test started. Under a wrapper (`unshare --pid --fork`) the daemon
    /// is the wrapper's child and PID 1 of its namespace: killing only the wrapper would leave
    /// it running under the host's init (issue 9 item 18), so it is killed first, by its
    /// host PID, which also ends everything else in its namespace.
    pub fn kill_daemon(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.wrapped {
            for pid in children_of(child.id()) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The processes still in the daemon's own cgroup, after waiting up to `timeout` for
    /// them to go: empty once the daemon and its wrapper are gone.
    pub fn daemon_leftovers(&self, timeout: Duration) -> Vec<u32> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = procs(&self.daemon_cgroup);
            if left.is_empty() || Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.kill_daemon();
        // The suite's check that no test's daemon outlives it (issue 9 item 18): whatever
        // is still in the daemon's cgroup is killed, and the test fails saying so.
        let left = self.daemon_leftovers(Duration::from_secs(5));
        let described: Vec<String> = left
            .iter()
            .map(|p| {
                let exe = std::fs::read_link(format!("/proc/{p}/exe"))
                    .map(|e| e.display().to_string())
                    .unwrap_or_else(|_| "?".into());
                format!("{p} ({exe})")
            })
            .collect();
        destroy_cgroup_tree(&self.daemon_cgroup);
        destroy_cgroup_tree(&self.cgroup);
        if !left.is_empty() && !std::thread::panicking() {
            panic!(
                "the test's daemon outlived the test: {} still running in {}",
                described.join(", "),
                self.daemon_cgroup.display()
            );
        }
    }
}

/// Starts a `--user` daemon on jobs written by `setup`; None when the test must skip.
pub fn daemon(setup: impl FnOnce(&TestDaemon)) -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    let mut d = TestDaemon::new(&mount);
    setup(&d);
    d.start(&["--no-startup-event"]);
    Some(d)
}

/// The pid a fake daemon wrote to its pid file.
pub fn pidfile(d: &TestDaemon, rel: &str) -> u32 {
    d.wait_file(rel).trim().parse().unwrap()
}

/// Stops `job` and checks that nothing of it is left in its cgroup.
pub fn stop_leaves_nothing(d: &TestDaemon, job: &str) {
    let out = d.ctl_ok(&["stop", job]);
    assert!(out.contains("stop/waiting"), "{out}");
    d.wait_for(
        &format!("{job}'s cgroup to empty"),
        Duration::from_secs(10),
        || d.cgroup_pids().is_empty(),
    );
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range (32768 and up by default): a port from that range
    // can be taken as the source port of any test's outgoing connection between a server's
    // stop and its next start, and the restart then fails to bind. Each process starts at
    // its own place in 20000..32000 and walks on, so parallel test binaries rarely meet.
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let base = 20_000 + (std::process::id() * 7919) % 12_000;
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = u16::try_from(20_000 + (base - 20_000 + n) % 12_000).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000")
}

/// Chromium (Debian's `chromium`), or None: the test skips, which under `CI=true` is a
/// failure (`.ci/run` installs it).
pub fn chromium() -> Option<PathBuf> {
    installed("chromium")
}
