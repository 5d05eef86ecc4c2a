//! Issue 16 item 1: Upstart's D-Bus API, `com.ubuntu.Upstart0_6`, driven by the stock
//! D-Bus tools with calls shaped as Upstart's `initctl` and ChromeOS's `session_manager`
//! make them: on a private `dbus-daemon` each test starts (and kills by PID), and on the
//! daemon's private socket.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

const MANAGER: &str = "/com/ubuntu/Upstart";
const IFACE: &str = "com.ubuntu.Upstart0_6";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A `dbus-daemon` of the test's own, with a config that lets anyone on the machine own
/// names and talk (the bus's policy is not what is tested), killed by PID when dropped.
struct Bus {
    child: Child,
    address: String,
    _dir: Option<tempfile::TempDir>,
}

impl Bus {
    fn start() -> Option<Bus> {
        let dir = tempfile::tempdir().unwrap();
        let mut bus = Bus::at(dir.path())?;
        bus._dir = Some(dir);
        Some(bus)
    }

    /// A bus listening at `DIR/bus`.
    fn at(dir: &Path) -> Option<Bus> {
        let bin = installed("dbus-daemon")?;
        // Unprivileged callers must reach the socket.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
                dir.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(bin)
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let address = String::from_utf8(line).unwrap();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        Some(Bus {
            child,
            address,
            _dir: None,
        })
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process started by a test (a signal monitor), killed by PID when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private-socket address of this test's own (abstract names are machine-wide).
fn private_address() -> String {
    format!(
        "unix:abstract=/outset-test/{}/{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A system-mode daemon serving D-Bus at `private` and, with `bus`, on that bus.
fn daemon(private: &str, bus: Option<&Bus>, jobs: &[(&str, &str)]) -> Option<TestDaemon> {
    let mount = require_root_cgroup2()?;
    installed("dbus-send")?;
    let mut d = TestDaemon::new(&mount);
    for (name, text) in jobs {
        d.write_job(name, text);
    }
    let bus_arg = bus.map_or("none".to_string(), |b| b.address.clone());
    d.start_with(&[
        "--no-startup-event",
        "--dbus-private",
        private,
        "--dbus-bus",
        &bus_arg,
    ]);
    // The private socket is bound after the control socket the harness waits for: wait for
    // it too, so a test's first connection is never refused.
    if let Some(name) = private.strip_prefix("unix:abstract=") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        d.wait_for("the D-Bus private socket", Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect_addr(&addr).is_ok()
        });
    }
    Some(d)
}

/// How a call reaches the daemon.
#[derive(Clone, Copy)]
enum Via<'a> {
    /// Through the bus, to the name `com.ubuntu.Upstart`.
    Bus(&'a Bus),
    /// Straight to the private socket, as Upstart's `initctl` did (no `Hello`).
    Peer(&'a str),
}

fn dbus_send_as(via: Via, uid: Option<u32>, path: &str, method: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("dbus-send");
    match via {
        Via::Bus(b) => cmd
            .arg(format!("--bus={}", b.address))
            .arg("--dest=com.ubuntu.Upstart"),
        Via::Peer(a) => cmd.arg(format!("--peer={a}")),
    };
    cmd.args(["--print-reply", "--reply-timeout=20000", path, method])
        .args(args);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    cmd.output().unwrap()
}

/// A call that must succeed: its printed reply.
fn call(via: Via, path: &str, method: &str, args: &[&str]) -> String {
    let out = dbus_send_as(via, None, path, method, args);
    assert!(
        out.status.success(),
        "{method} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A call that must fail: its `Error NAME: text` line.
fn call_err(via: Via, uid: Option<u32>, path: &str, method: &str, args: &[&str]) -> String {
    let out = dbus_send_as(via, uid, path, method, args);
    assert!(
        !out.status.success(),
        "{method} {args:?} succeeded: {out:?}"
    );
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// The strings and object paths of a printed reply, in order.
fn values(reply: &str) -> Vec<String> {
    reply
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("variant").map_or(l, str::trim_start);
            let v = l
                .strip_prefix("object path ")
                .or_else(|| l.strip_prefix("string "))?;
            Some(v.trim_matches('"').to_string())
        })
        .collect()
}

fn property(via: Via, path: &str, iface: &str, name: &str) -> String {
    call(
        via,
        path,
        "org.freedesktop.DBus.Properties.Get",
        &[&format!("string:{iface}"), &format!("string:{name}")],
    )
}

fn wait_for_name(bus: &Bus, d: &TestDaemon) {
    d.wait_for(
        "com.ubuntu.Upstart on the bus",
        Duration::from_secs(15),
        || {
            outset_sys::dbus::name_has_owner(
                &bus.address,
                "com.ubuntu.Upstart",
                Duration::from_secs(2),
            )
            .unwrap_or(false)
        },
    );
}

const WEB: &str = "description \"the web\"\nauthor \"outset\"\nstart on net-up or web-wanted\nemits web-ready\nexec sleep 600\n";

/// The task `net-up` starts: done (its file written) only after a while, so a reply that
/// came before it finished would find no file.
fn tick(dir: &Path) -> String {
    format!(
        "task\nstart on net-up\nexec sh -c 'sleep 0.3; echo $IFACE > {}/tick.done'\n",
        dir.display()
    )
}

/// The calls Upstart's `initctl` and ChromeOS's `session_manager` make, through `via`.
fn initctl_and_session_manager_calls(via: Via, d: &TestDaemon) {
    // session_manager: EmitEvent(name, env, wait=true) returns once the jobs the event
    // started have settled (the task has finished and written its file).
    let done = d.path("tick.done");
    let _ = std::fs::remove_file(&done);
    call(
        via,
        MANAGER,
        &format!("{IFACE}.EmitEvent"),
        &["string:net-up", "array:string:IFACE=eth0", "boolean:true"],
    );
    assert_eq!(
        std::fs::read_to_string(&done).unwrap_or_default().trim(),
        "eth0",
        "EmitEvent with wait replied before its task finished"
    );
    assert!(
        d.status(&["web"]).contains("start/running"),
        "{}",
        d.status(&["web"])
    );

    // initctl start: GetJobByName, then Job.Start(env, wait) → the instance's path.
    let job = values(&call(
        via,
        MANAGER,
        &format!("{IFACE}.GetJobByName"),
        &["string:web"],
    ));
    assert_eq!(job, ["/com/ubuntu/Upstart/jobs/web"]);
    let job = &job[0];
    call(
        via,
        job,
        &format!("{IFACE}.Job.Stop"),
        &["array:string:", "boolean:true"],
    );
    assert!(d.status(&["web"]).contains("stop/waiting"));
    let inst = values(&call(
        via,
        job,
        &format!("{IFACE}.Job.Start"),
        &["array:string:", "boolean:true"],
    ));
    assert_eq!(inst, ["/com/ubuntu/Upstart/jobs/web/_"]);
    let inst = &inst[0];
    // Answered with wait: it runs now, and the instance's properties say so.
    let status = d.status(&["web"]);
    assert!(status.contains("start/running, process "), "{status}");
    let pid = status.rsplit(' ').next().unwrap().to_string();
    let iface = format!("{IFACE}.Instance");
    assert_eq!(values(&property(via, inst, &iface, "goal")), ["start"]);
    assert_eq!(values(&property(via, inst, &iface, "state")), ["running"]);
    assert_eq!(values(&property(via, inst, &iface, "name")), [""]);
    let procs = property(via, inst, &iface, "processes");
    assert!(
        procs.contains("\"main\"") && procs.contains(&format!("int32 {pid}")),
        "{procs}"
    );
    // The job's properties as its file says.
    let job_iface = format!("{IFACE}.Job");
    assert_eq!(
        values(&property(via, job, &job_iface, "description")),
        ["the web"]
    );
    let start_on = property(via, job, &job_iface, "start_on");
    assert_eq!(
        values(&start_on),
        ["net-up", "web-wanted", "/OR"],
        "{start_on}"
    );
    assert_eq!(
        values(&property(via, job, &job_iface, "emits")),
        ["web-ready"]
    );
    let all = values(&call(
        via,
        job,
        &format!("{IFACE}.Job.GetAllInstances"),
        &[],
    ));
    assert_eq!(all, std::slice::from_ref(inst));
    let by_name = values(&call(
        via,
        job,
        &format!("{IFACE}.Job.GetInstanceByName"),
        &["string:"],
    ));
    assert_eq!(by_name, std::slice::from_ref(inst));

    // Another interface's properties are not this object's.
    let e = call_err(
        via,
        None,
        inst,
        "org.freedesktop.DBus.Properties.Get",
        &[&format!("string:{IFACE}.Job"), "string:goal"],
    );
    assert!(e.contains("UnknownInterface"), "{e}");
    let by_env = values(&call(
        via,
        job,
        &format!("{IFACE}.Job.GetInstance"),
        &["array:string:"],
    ));
    assert_eq!(by_env, std::slice::from_ref(inst));
    // The manager's properties and state.
    let version = values(&property(via, MANAGER, IFACE, "version"));
    assert!(version[0].contains("upstart"), "{version:?}");
    // The test daemon runs with --debug.
    assert_eq!(
        values(&property(via, MANAGER, IFACE, "log_priority")),
        ["debug"]
    );
    let state = values(&call(via, MANAGER, &format!("{IFACE}.GetState"), &[]));
    let state: serde_json::Value = serde_json::from_str(&state[0]).unwrap();
    assert!(
        state
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["job"] == "web" && i["state"] == "running"),
        "{state}"
    );
    // Upstart's errors, by name.
    let e = call_err(
        via,
        None,
        MANAGER,
        &format!("{IFACE}.GetJobByName"),
        &["string:nope"],
    );
    assert!(
        e.starts_with("Error com.ubuntu.Upstart0_6.Error.UnknownJob"),
        "{e}"
    );
    let e = call_err(
        via,
        None,
        job,
        &format!("{IFACE}.Job.Start"),
        &["array:string:", "boolean:true"],
    );
    assert!(
        e.starts_with("Error com.ubuntu.Upstart0_6.Error.AlreadyStarted"),
        "{e}"
    );
    let e = call_err(
        via,
        None,
        MANAGER,
        &format!("{IFACE}.EmitEvent"),
        &["string:x", "array:string:NOEQUALS", "boolean:false"],
    );
    assert!(
        e.starts_with("Error org.freedesktop.DBus.Error.InvalidArgs"),
        "{e}"
    );
    // The job environment table, as initctl's set-env / get-env / list-env / unset-env.
    call(
        via,
        MANAGER,
        &format!("{IFACE}.SetEnv"),
        &["array:string:", "string:DBUS_A=1", "boolean:true"],
    );
    // replace=false keeps the value already set (initctl's `set-env -r`).
    call(
        via,
        MANAGER,
        &format!("{IFACE}.SetEnvList"),
        &[
            "array:string:",
            "array:string:DBUS_A=2,DBUS_B=3",
            "boolean:false",
        ],
    );
    assert_eq!(
        values(&call(
            via,
            MANAGER,
            &format!("{IFACE}.GetEnv"),
            &["array:string:", "string:DBUS_A"]
        )),
        ["1"]
    );
    let listed = call(
        via,
        MANAGER,
        &format!("{IFACE}.ListEnv"),
        &["array:string:"],
    );
    assert!(
        listed.contains("DBUS_A=1") && listed.contains("DBUS_B=3"),
        "{listed}"
    );
    call(
        via,
        MANAGER,
        &format!("{IFACE}.UnsetEnvList"),
        &["array:string:", "array:string:DBUS_A,DBUS_B"],
    );
    let e = call_err(
        via,
        None,
        MANAGER,
        &format!("{IFACE}.GetEnv"),
        &["array:string:", "string:DBUS_A"],
    );
    assert!(e.contains("No such variable"), "{e}");
    let e = call_err(
        via,
        None,
        MANAGER,
        &format!("{IFACE}.SetEnv"),
        &["array:string:", "string:A=1"],
    );
    assert!(
        e.starts_with("Error org.freedesktop.DBus.Error.InvalidArgs"),
        "{e}"
    );
    // A system daemon has no session to end.
    let e = call_err(via, None, MANAGER, &format!("{IFACE}.EndSession"), &[]);
    assert!(e.contains("only for a user session"), "{e}");
    // What this build does not have says so, never a fake success.
    // The disk is writable: output held in memory is written (initctl notify-disk-writeable).
    call(via, MANAGER, &format!("{IFACE}.NotifyDiskWriteable"), &[]);
    // log_priority is writable, as `initctl log-priority` sets it; a bad name is refused.
    call(
        via,
        MANAGER,
        "org.freedesktop.DBus.Properties.Set",
        &[
            &format!("string:{IFACE}"),
            "string:log_priority",
            "variant:string:info",
        ],
    );
    assert_eq!(
        values(&property(via, MANAGER, IFACE, "log_priority")),
        ["info"]
    );
    let e = call_err(
        via,
        None,
        MANAGER,
        "org.freedesktop.DBus.Properties.Set",
        &[
            &format!("string:{IFACE}"),
            "string:log_priority",
            "variant:string:loud",
        ],
    );
    assert!(e.contains("unknown priority"), "{e}");
    // Back to what the test daemon runs with.
    call(
        via,
        MANAGER,
        "org.freedesktop.DBus.Properties.Set",
        &[
            &format!("string:{IFACE}"),
            "string:log_priority",
            "variant:string:debug",
        ],
    );

    // The instance's own methods: Start of a running instance is refused as `start` is;
    // Restart with wait brings it back with a new main process.
    let e = call_err(
        via,
        None,
        inst,
        &format!("{IFACE}.Instance.Start"),
        &["boolean:false"],
    );
    assert!(e.contains("Error.AlreadyStarted"), "{e}");
    call(
        via,
        inst,
        &format!("{IFACE}.Instance.Restart"),
        &["boolean:true"],
    );
    let status = d.status(&["web"]);
    assert!(status.contains("start/running, process "), "{status}");
    assert_ne!(status.rsplit(' ').next().unwrap(), pid, "{status}");

    // session_manager's other shape: EmitEvent without wait is answered while the job the
    // event started is still running (here it waits for a file only the test writes, so a
    // reply that waited would never come).
    let gate_done = d.path("gate.done");
    let _ = std::fs::remove_file(&gate_done);
    call(
        via,
        MANAGER,
        &format!("{IFACE}.EmitEvent"),
        &["string:gate-open", "array:string:", "boolean:false"],
    );
    d.wait_status(&["gate"], "start/running");
    assert!(!gate_done.exists());
    std::fs::write(d.path("gate.go"), "").unwrap();
    d.wait_file("gate.done");
    std::fs::remove_file(d.path("gate.go")).unwrap();

    // initctl stop through the instance, waiting until it is down.
    call(
        via,
        inst,
        &format!("{IFACE}.Instance.Stop"),
        &["boolean:true"],
    );
    assert!(d.status(&["web"]).contains("stop/waiting"));
    let e = call_err(
        via,
        None,
        inst,
        &format!("{IFACE}.Instance.Stop"),
        &["boolean:true"],
    );
    assert!(e.contains("UnknownObject"), "{e}");
}

#[test]
fn issue16_item1_initctl_and_session_manager_calls_on_the_bus() {
    let Some(bus) = Bus::start() else { return };
    let private = private_address();
    let Some(d) = daemon(&private, Some(&bus), &[("web", WEB)]) else {
        return;
    };
    wait_for_name(&bus, &d);
    d.write_job("tick", &tick_in(&d));
    d.ctl_ok(&["reload-configuration"]);
    initctl_and_session_manager_calls(Via::Bus(&bus), &d);
}

/// The task job with its file in the daemon's own temp dir, and the task that waits for
/// the test's go-ahead.
fn tick_in(d: &TestDaemon) -> String {
    let dir = d.dir.path().display();
    d.write_job(
        "gate",
        &format!(
            "task\nstart on gate-open\nexec sh -c 'while [ ! -e {dir}/gate.go ]; do sleep 0.05; done; echo done > {dir}/gate.done'\n"
        ),
    );
    tick(d.dir.path())
}

#[test]
fn issue16_item1_the_same_calls_over_the_private_socket() {
    let private = private_address();
    let Some(d) = daemon(&private, None, &[("web", WEB)]) else {
        return;
    };
    d.write_job("tick", &tick_in(&d));
    d.ctl_ok(&["reload-configuration"]);
    initctl_and_session_manager_calls(Via::Peer(&private), &d);
    // An instance job: the env names the instance, and names escape as Upstart escaped
    // them (`-` is `_2d`, `.` is `_2e`).
    d.write_job("get-ty", "instance $TTY\nexec sleep 600\n");
    d.ctl_ok(&["reload-configuration"]);
    let via = Via::Peer(&private);
    let job = values(&call(
        via,
        MANAGER,
        &format!("{IFACE}.GetJobByName"),
        &["string:get-ty"],
    ));
    assert_eq!(job, ["/com/ubuntu/Upstart/jobs/get_2dty"]);
    let inst = values(&call(
        via,
        &job[0],
        &format!("{IFACE}.Job.Start"),
        &["array:string:TTY=tty-1.0", "boolean:true"],
    ));
    assert_eq!(inst, ["/com/ubuntu/Upstart/jobs/get_2dty/tty_2d1_2e0"]);
    assert!(
        d.status(&["get-ty", "TTY=tty-1.0"])
            .contains("start/running")
    );
    for (method, arg) in [
        ("GetInstance", "array:string:TTY=tty-1.0"),
        ("GetInstanceByName", "string:tty-1.0"),
    ] {
        let found = values(&call(
            via,
            &job[0],
            &format!("{IFACE}.Job.{method}"),
            &[arg],
        ));
        assert_eq!(found, inst, "{method}");
    }
    let name = values(&property(
        via,
        &inst[0],
        &format!("{IFACE}.Instance"),
        "name",
    ));
    assert_eq!(name, ["tty-1.0"]);
    call(
        via,
        &job[0],
        &format!("{IFACE}.Job.Stop"),
        &["array:string:TTY=tty-1.0", "boolean:true"],
    );
    let e = call_err(
        via,
        None,
        &job[0],
        &format!("{IFACE}.Job.GetInstanceByName"),
        &["string:tty-1.0"],
    );
    assert!(e.contains("Error.UnknownInstance"), "{e}");

    // Instance.Reload: the job's reload signal (SIGHUP) to its main process.
    let dir = d.dir.path().display();
    d.write_job(
        "hup",
        &format!(
            "exec sh -c 'trap \"echo reloaded > {dir}/hup.done\" HUP; echo up > {dir}/hup.up; while :; do sleep 0.05; done'\n"
        ),
    );
    d.ctl_ok(&["reload-configuration"]);
    let via = Via::Peer(&private);
    let inst = values(&call(
        via,
        "/com/ubuntu/Upstart/jobs/hup",
        &format!("{IFACE}.Job.Start"),
        &["array:string:", "boolean:true"],
    ));
    d.wait_file("hup.up");
    call(via, &inst[0], &format!("{IFACE}.Instance.Reload"), &[]);
    assert_eq!(d.wait_file("hup.done").trim(), "reloaded");
    assert!(d.status(&["hup"]).contains("start/running"));
    // A client that says Hello first, as `dbus-send --bus=` does, is answered too.
    let out = Command::new("dbus-send")
        .arg(format!("--bus={private}"))
        .args(["--print-reply", MANAGER, &format!("{IFACE}.GetAllJobs")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/com/ubuntu/Upstart/jobs/tick"), "{out:?}");
    // A subscriber on the private socket (dbus-monitor says Hello and adds matches) hears
    // a reload's new job, and only that one.
    if let Some(monitor) = installed("dbus-monitor") {
        let log = d.path("private-monitor.txt");
        let err = d.path("private-monitor.err");
        let _monitor = Guard(
            Command::new(monitor)
                .arg("--address")
                .arg(&private)
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(std::fs::File::create(&err).unwrap())
                .spawn()
                .unwrap(),
        );
        // It has been answered (so its connection is open) once it says it falls back from
        // BecomeMonitor, which only a bus has, to match rules.
        d.wait_for("the monitor", Duration::from_secs(10), || {
            std::fs::read_to_string(&err).is_ok_and(|t| t.contains("eavesdropping"))
        });
        d.write_job("late", "exec sleep 600\n");
        d.ctl_ok(&["reload-configuration"]);
        wait_lines(
            &log,
            &[
                "member=JobAdded",
                "object path \"/com/ubuntu/Upstart/jobs/late\"",
            ],
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.matches("member=JobAdded").count(), 1, "{text}");
    }
    // Introspection leads to the jobs.
    let xml = call(
        Via::Peer(&private),
        "/com/ubuntu/Upstart/jobs",
        "org.freedesktop.DBus.Introspectable.Introspect",
        &[],
    );
    assert!(
        xml.contains("<node name=\"web\"/>") && xml.contains("<node name=\"tick\"/>"),
        "{xml}"
    );
    let xml = call(
        Via::Peer(&private),
        MANAGER,
        "org.freedesktop.DBus.Introspectable.Introspect",
        &[],
    );
    assert!(xml.contains("<method name=\"EmitEvent\">"), "{xml}");
}

/// Reads the monitor's output until `all` of these appear in order, or panics.
fn wait_lines(path: &Path, all: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut at = 0;
        let found = all.iter().all(|needle| match text[at..].find(needle) {
            Some(i) => {
                at += i + needle.len();
                true
            }
            None => false,
        });
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {all:?} in order; monitor saw:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn issue16_item1_a_subscriber_hears_the_signals() {
    let Some(bus) = Bus::start() else { return };
    let Some(monitor) = installed("dbus-monitor") else {
        return;
    };
    let private = private_address();
    let Some(d) = daemon(&private, Some(&bus), &[("web", WEB)]) else {
        return;
    };
    wait_for_name(&bus, &d);
    let log = d.path("monitor.txt");
    let _monitor = Guard(
        Command::new(monitor)
            .arg("--address")
            .arg(&bus.address)
            .arg("type='signal',interface='com.ubuntu.Upstart0_6.Instance'")
            .arg("type='signal',interface='com.ubuntu.Upstart0_6.Job'")
            .arg("type='signal',interface='com.ubuntu.Upstart0_6'")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The monitor is listening once it reports its own name.
    d.wait_for("the monitor", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("NameAcquired"))
    });
    call(
        Via::Bus(&bus),
        MANAGER,
        &format!("{IFACE}.EmitEvent"),
        &["string:web-wanted", "array:string:WHO=test", "boolean:true"],
    );
    wait_lines(
        &log,
        &[
            "member=InstanceAdded",
            "object path \"/com/ubuntu/Upstart/jobs/web/_\"",
            "member=GoalChanged",
            "string \"start\"",
            "member=StateChanged",
            "string \"starting\"",
            "member=StateChanged",
            "string \"running\"",
        ],
    );
    // Each event once it has finished (the one asked for finishes as the job it started
    // is up, before that job's `started` is handled, as in Upstart's event queue).
    wait_lines(
        &log,
        &[
            "member=EventEmitted",
            "string \"web-wanted\"",
            "string \"WHO=test\"",
        ],
    );
    wait_lines(
        &log,
        &[
            "member=EventEmitted",
            "string \"started\"",
            "string \"JOB=web\"",
        ],
    );
    // A reload that adds a job says so.
    d.write_job("late", "exec sleep 600\n");
    d.ctl_ok(&["reload-configuration"]);
    wait_lines(
        &log,
        &[
            "member=JobAdded",
            "object path \"/com/ubuntu/Upstart/jobs/late\"",
        ],
    );
    // A job whose file is removed while it runs goes when its instance stops.
    d.write_job("doomed", "exec sleep 600\n");
    d.ctl_ok(&["reload-configuration"]);
    d.ctl_ok(&["start", "doomed"]);
    std::fs::remove_file(d.confdir.join("doomed.conf")).unwrap();
    d.ctl_ok(&["reload-configuration"]);
    assert!(d.status(&["doomed"]).contains("start/running"));
    d.ctl_ok(&["stop", "doomed"]);
    wait_lines(
        &log,
        &[
            "member=InstanceRemoved",
            "object path \"/com/ubuntu/Upstart/jobs/doomed/_\"",
            "member=JobRemoved",
            "object path \"/com/ubuntu/Upstart/jobs/doomed\"",
        ],
    );
    // A failing task: Failed with its exit status, then the instance goes.
    d.write_job("bad", "task\nexec sh -c 'exit 3'\n");
    d.ctl_ok(&["reload-configuration"]);
    let e = call_err(
        Via::Bus(&bus),
        None,
        "/com/ubuntu/Upstart/jobs/bad",
        &format!("{IFACE}.Job.Start"),
        &["array:string:", "boolean:true"],
    );
    assert!(e.contains("Error.JobFailed"), "{e}");
    wait_lines(
        &log,
        &[
            "path=/com/ubuntu/Upstart/jobs/bad/_; interface=com.ubuntu.Upstart0_6.Instance; member=Failed",
            "int32 3",
            "member=InstanceRemoved",
            "object path \"/com/ubuntu/Upstart/jobs/bad/_\"",
        ],
    );
}

#[test]
fn issue16_item1_non_root_callers_are_refused_changes_as_on_the_control_socket() {
    let Some(bus) = Bus::start() else { return };
    let private = private_address();
    let Some(d) = daemon(&private, Some(&bus), &[("web", WEB)]) else {
        return;
    };
    wait_for_name(&bus, &d);
    let nobody = Some(65534);
    for via in [Via::Bus(&bus), Via::Peer(&private)] {
        // Reading is for everyone, as `status` is.
        let out = dbus_send_as(
            via,
            nobody,
            MANAGER,
            &format!("{IFACE}.GetJobByName"),
            &["string:web"],
        );
        assert!(out.status.success(), "{out:?}");
        for (path, method, args) in [
            (
                MANAGER,
                "EmitEvent",
                &["string:x", "array:string:", "boolean:false"][..],
            ),
            (MANAGER, "ReloadConfiguration", &[][..]),
            (
                "/com/ubuntu/Upstart/jobs/web",
                "Job.Start",
                &["array:string:", "boolean:false"][..],
            ),
        ] {
            let e = call_err(via, nobody, path, &format!("{IFACE}.{method}"), args);
            assert!(
                e.starts_with("Error com.ubuntu.Upstart0_6.Error.PermissionDenied: Permission denied: only root may do that"),
                "{method}: {e}"
            );
        }
    }
    // Nothing was done for them.
    assert!(d.status(&["web"]).contains("stop/waiting"));
}

/// The client's `AUTH EXTERNAL` for `uid`.
fn outset_dbus_hello(uid: u32) -> Vec<u8> {
    let hex: String = uid
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\0AUTH EXTERNAL {hex}\r\n").into_bytes()
}

fn connect_private(address: &str) -> std::os::unix::net::UnixStream {
    use std::os::linux::net::SocketAddrExt;
    let name = address.trim_start_matches("unix:abstract=");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let s = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads until the daemon closes the connection; panics if it does not within the timeout.
fn closed_by_daemon(mut s: std::os::unix::net::UnixStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the daemon kept a bad connection open: {e}"),
        }
    }
}

/// An authenticated connection to the private socket, as root.
fn authenticated(address: &str) -> std::os::unix::net::UnixStream {
    let mut s = connect_private(address);
    s.write_all(&outset_dbus_hello(0)).unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    assert!(
        line.starts_with(b"OK "),
        "{}",
        String::from_utf8_lossy(&line)
    );
    s.write_all(b"BEGIN\r\n").unwrap();
    s
}

#[test]
fn issue16_item1_malformed_messages_cost_their_connection_not_the_daemon() {
    let private = private_address();
    let Some(d) = daemon(&private, None, &[("web", WEB)]) else {
        return;
    };
    // Not D-Bus at all.
    let mut s = connect_private(&private);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    closed_by_daemon(s);
    // A bad endianness byte, a header claiming 2 GiB, a boolean that is 7, a method call
    // without a member: each after a good handshake.
    let good = {
        let mut m = outset_dbus_call();
        m[0] = b'l';
        m
    };
    let mut bad_endian = good.clone();
    bad_endian[0] = b'x';
    let mut huge = good.clone();
    huge[4..8].copy_from_slice(&(1u32 << 31).to_le_bytes());
    for bytes in [bad_endian, huge, bad_bool_call()] {
        let mut s = authenticated(&private);
        s.write_all(&bytes).unwrap();
        closed_by_daemon(s);
    }
    // A well-formed call on a good connection is still answered, and so is outsetctl.
    let mut s = authenticated(&private);
    s.write_all(&good).unwrap();
    let mut head = [0u8; 16];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[1], 2, "a method return");
    drop(s);
    let out = call(
        Via::Peer(&private),
        MANAGER,
        &format!("{IFACE}.GetJobByName"),
        &["string:web"],
    );
    assert!(out.contains("/com/ubuntu/Upstart/jobs/web"));
    assert!(d.status(&["web"]).contains("stop/waiting"));
}

/// `GetJobByName("web")`, serial 1, marshalled by hand as the spec lays it out (the test
/// does not trust outset's own encoder to check outset's decoder).
fn outset_dbus_call() -> Vec<u8> {
    let mut fields = Vec::new();
    let field = |f: &mut Vec<u8>, code: u8, sig: u8, value: &[u8]| {
        while !f.len().is_multiple_of(8) {
            f.push(0);
        }
        f.extend_from_slice(&[code, 1, sig, 0]);
        if sig == b'g' {
            f.push(value.len() as u8);
        } else {
            f.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        f.extend_from_slice(value);
        f.push(0);
    };
    field(&mut fields, 1, b'o', b"/com/ubuntu/Upstart");
    field(&mut fields, 2, b's', b"com.ubuntu.Upstart0_6");
    field(&mut fields, 3, b's', b"GetJobByName");
    field(&mut fields, 8, b'g', b"s");
    let body = [&3u32.to_le_bytes()[..], b"web\0"].concat();
    let mut m = vec![b'l', 1, 0, 1];
    m.extend_from_slice(&(body.len() as u32).to_le_bytes());
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    m.extend_from_slice(&fields);
    while !m.len().is_multiple_of(8) {
        m.push(0);
    }
    m.extend_from_slice(&body);
    m
}

/// `GetJobByName` with signature `b` and the boolean 7, which is neither 0 nor 1.
fn bad_bool_call() -> Vec<u8> {
    let mut m = outset_dbus_call();
    // The signature field's `s` becomes `b`, and the body the boolean 7.
    let body_at = m.len() - 8;
    m.truncate(body_at);
    let sig = m.windows(3).rposition(|w| w == [1, b's', 0]).unwrap();
    m[sig + 1] = b'b';
    m.extend_from_slice(&7u32.to_le_bytes());
    m[4..8].copy_from_slice(&4u32.to_le_bytes());
    m
}

/// The name libtest knows test `name` of this module by.
fn test_path(name: &str) -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

/// The unprivileged side of the next test (this binary run again as uid 65534): claims to
/// be root, then opens more connections than one uid may hold. Prints `RESULT …` lines.
fn nobody_side(address: &str) {
    let mut s = connect_private(address);
    s.write_all(&outset_dbus_hello(0)).unwrap();
    let mut line = [0u8; 64];
    let n = s.read(&mut line).unwrap_or(0);
    println!(
        "RESULT claim-root {}",
        String::from_utf8_lossy(&line[..n]).trim()
    );
    drop(s);
    std::thread::sleep(Duration::from_millis(300));
    let mut held = Vec::new();
    let mut accepted = 0;
    for _ in 0..80 {
        let mut s = connect_private(address);
        let _ = s.write_all(&outset_dbus_hello(65534));
        let mut buf = [0u8; 64];
        if matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"OK ")) {
            accepted += 1;
        }
        held.push(s);
    }
    println!("RESULT accepted {accepted}");
}

#[test]
fn issue16_item1_private_peers_are_who_the_kernel_says_and_are_limited() {
    if let Ok(address) = std::env::var("DBUS_NOBODY_ADDRESS") {
        return nobody_side(&address);
    }
    let private = private_address();
    let Some(d) = daemon(&private, None, &[("web", WEB)]) else {
        return;
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_path("issue16_item1_private_peers_are_who_the_kernel_says_and_are_limited"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DBUS_NOBODY_ADDRESS", &private)
        .uid(65534)
        .gid(65534)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let results: Vec<&str> = text
        .lines()
        .filter_map(|l| l.find("RESULT ").map(|i| &l[i + 7..]))
        .collect();
    // Claiming uid 0 from uid 65534 is refused: the kernel's word counts.
    assert_eq!(results[0], "claim-root REJECTED EXTERNAL", "{text}");
    // One unprivileged uid holds at most the control socket's per-uid share.
    assert_eq!(results[1], "accepted 64", "{text}");
    // Root still gets in, and the daemon carries on.
    let reply = call(
        Via::Peer(&private),
        MANAGER,
        &format!("{IFACE}.GetJobByName"),
        &["string:web"],
    );
    assert!(reply.contains("/com/ubuntu/Upstart/jobs/web"));
    assert!(d.status(&["web"]).contains("stop/waiting"));
}

#[test]
fn issue16_item1_the_bus_is_joined_when_it_appears_and_again_when_it_returns() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    if installed("dbus-daemon").is_none() || installed("dbus-send").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}/bus", dir.path().display());
    let private = private_address();
    let mut d = TestDaemon::new(&mount);
    d.write_job("web", WEB);
    // No bus yet: start-up does not wait for one, and the private socket serves.
    d.start_with(&[
        "--no-startup-event",
        "--dbus-private",
        &private,
        "--dbus-bus",
        &address,
    ]);
    assert!(d.status(&["web"]).contains("stop/waiting"));
    call(
        Via::Peer(&private),
        MANAGER,
        &format!("{IFACE}.GetJobByName"),
        &["string:web"],
    );
    // The bus comes up and its job says so with SIGUSR1, as the `dbus` jobs of Ubuntu and
    // ChromeOS do.
    let bus = Bus::at(dir.path()).unwrap();
    let pid = d.child.as_ref().unwrap().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-USR1", &pid])
            .status()
            .unwrap()
            .success()
    );
    d.wait_for("SIGUSR1 handled", Duration::from_secs(10), || {
        d.stderr().contains("D-Bus: joining the bus now")
    });
    wait_for_name(&bus, &d);
    let get = |bus: &Bus| {
        call(
            Via::Bus(bus),
            MANAGER,
            &format!("{IFACE}.GetJobByName"),
            &["string:web"],
        )
    };
    assert!(get(&bus).contains("/com/ubuntu/Upstart/jobs/web"));
    // The bus goes away and comes back: joined again, with nobody asking.
    drop(bus);
    let _ = std::fs::remove_file(dir.path().join("bus"));
    assert!(
        d.status(&["web"]).contains("stop/waiting"),
        "the daemon carried on"
    );
    let bus = Bus::at(dir.path()).unwrap();
    wait_for_name(&bus, &d);
    assert!(get(&bus).contains("/com/ubuntu/Upstart/jobs/web"));
}

/// GLib's client (another marshaller, and one that asks for fd passing): `gdbus` calls on the
/// private socket as on a bus.
#[test]
fn issue16_item1_gdbus_calls_on_the_private_socket() {
    let private = private_address();
    let Some(d) = daemon(&private, None, &[("web", WEB)]) else {
        return;
    };
    let Some(gdbus) = installed("gdbus") else {
        return;
    };
    let run = |args: &[&str]| {
        let out = Command::new(&gdbus)
            .args([
                "call",
                "--address",
                &private,
                "--dest",
                "com.ubuntu.Upstart",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gdbus {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(
        run(&[
            "--object-path",
            MANAGER,
            "--method",
            &format!("{IFACE}.GetJobByName"),
            "web"
        ]),
        "(objectpath '/com/ubuntu/Upstart/jobs/web',)"
    );
    assert_eq!(
        run(&[
            "--object-path",
            "/com/ubuntu/Upstart/jobs/web",
            "--method",
            &format!("{IFACE}.Job.Start"),
            "[]",
            "true",
        ]),
        "(objectpath '/com/ubuntu/Upstart/jobs/web/_',)"
    );
    assert!(d.status(&["web"]).contains("start/running"));
    let all = run(&[
        "--object-path",
        "/com/ubuntu/Upstart/jobs/web/_",
        "--method",
        "org.freedesktop.DBus.Properties.GetAll",
        &format!("{IFACE}.Instance"),
    ]);
    assert!(
        all.contains("'goal': <'start'>") && all.contains("'state': <'running'>"),
        "{all}"
    );
    assert!(all.contains("'processes': <[('main', "), "{all}");
}

/// A blocking client on the bus at `address`, as root: authenticated, `Hello` said.
fn bus_client(address: &str) -> std::os::unix::net::UnixStream {
    let path = address
        .strip_prefix("unix:path=")
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&outset_dbus_hello(0)).unwrap();
    let mut byte = [0u8; 1];
    let mut line = Vec::new();
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    assert!(line.starts_with(b"OK "));
    s.write_all(b"BEGIN\r\n").unwrap();
    let mut hello = outset_dbus::Message::method_call(
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "Hello",
        vec![],
    );
    hello.destination = Some("org.freedesktop.DBus".into());
    hello.serial = 1;
    s.write_all(&hello.encode()).unwrap();
    s
}

/// Reads messages until the reply to `serial`.
fn reply_to(s: &mut std::os::unix::net::UnixStream, serial: u32) -> outset_dbus::Message {
    let mut input = Vec::new();
    loop {
        while let Some(m) = outset_dbus::message::take(&mut input).unwrap() {
            if m.reply_serial == Some(serial) {
                return m;
            }
        }
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the bus closed the connection");
        input.extend_from_slice(&buf[..n]);
    }
}

/// Any caller on the bus may send the daemon a message larger than it takes (the bus allows
/// far more): it is skipped, and the daemon keeps its place on the bus.
#[test]
fn issue16_item1_an_oversized_call_through_the_bus_does_not_cost_the_bus() {
    let Some(bus) = Bus::start() else { return };
    let private = private_address();
    let Some(d) = daemon(&private, Some(&bus), &[("web", WEB)]) else {
        return;
    };
    wait_for_name(&bus, &d);
    let mut s = bus_client(&bus.address);
    let mut big = outset_dbus::Message::method_call(
        MANAGER,
        IFACE,
        "GetJobByName",
        vec![outset_dbus::Value::Str("x".repeat(3 << 20))],
    );
    big.destination = Some("com.ubuntu.Upstart".into());
    big.serial = 2;
    s.write_all(&big.encode()).unwrap();
    let mut get = outset_dbus::Message::method_call(
        MANAGER,
        IFACE,
        "GetJobByName",
        vec![outset_dbus::Value::Str("web".into())],
    );
    get.destination = Some("com.ubuntu.Upstart".into());
    get.serial = 3;
    s.write_all(&get.encode()).unwrap();
    let reply = reply_to(&mut s, 3);
    assert_eq!(
        reply.body,
        vec![outset_dbus::Value::Path(
            "/com/ubuntu/Upstart/jobs/web".into()
        )],
        "{reply:?}\n{}",
        d.stderr()
    );
    assert!(d.stderr().contains("skipping a message from the bus"));
    assert!(
        !d.stderr().contains("lost the bus connection"),
        "{}",
        d.stderr()
    );
}

/// `--user`: the session bus from `$DBUS_SESSION_BUS_ADDRESS`, and Upstart's per-session
/// private address, `/com/ubuntu/upstart-session/UID/PID`.
#[test]
fn issue16_item1_a_user_daemon_serves_the_session_bus_and_its_session_address() {
    let Some(bus) = Bus::start() else { return };
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    if installed("dbus-send").is_none() {
        return;
    }
    let mut d = TestDaemon::new(&mount);
    d.write_job("web", WEB);
    d.env
        .push(("DBUS_SESSION_BUS_ADDRESS".into(), bus.address.clone()));
    d.start(&[
        "--no-startup-event",
        "--dbus-private",
        "auto",
        "--dbus-bus",
        "auto",
    ]);
    wait_for_name(&bus, &d);
    let pid = d.child.as_ref().unwrap().id();
    let private = format!("unix:abstract=/com/ubuntu/upstart-session/0/{pid}");
    for via in [Via::Bus(&bus), Via::Peer(&private)] {
        let reply = call(
            via,
            MANAGER,
            &format!("{IFACE}.GetJobByName"),
            &["string:web"],
        );
        assert!(reply.contains("/com/ubuntu/Upstart/jobs/web"), "{reply}");
    }
}

/// Sends the signal `iface.member` with one string argument on `bus`, as `dbus-send` does.
fn send_signal(bus: &Bus, iface: &str, member: &str, arg: &str) {
    let out = Command::new("dbus-send")
        .arg(format!("--bus={}", bus.address))
        .args(["--type=signal", "/org/example"])
        .arg(format!("{iface}.{member}"))
        .arg(format!("string:{arg}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "dbus-send: {out:?}");
}

/// The `ping` job waiting on `dbus`, appending its env to `out`.
fn ping_job(d: &TestDaemon, out: &Path) {
    d.write_job(
        "ping",
        &format!(
            "task\nstart on dbus SIGNAL=Ping INTERFACE=org.example.Test\nexec sh -c 'env >> {0}; echo --- >> {0}'\n",
            out.display()
        ),
    );
}

/// Sends `Ping(arg)` until the `ping` job has run with it. The match rule goes to the bus
/// just after the name is asked for: until the bus has it, a signal does not reach the
/// daemon, so one signal could be lost to that race.
fn ping_until_run(bus: &Bus, d: &TestDaemon, out: &Path, arg: &str) {
    let want = format!("ARG0={arg}\n");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !std::fs::read_to_string(out).is_ok_and(|t| t.contains(&want) && t.contains("---")) {
        assert!(
            Instant::now() < deadline,
            "no dbus event started the job; daemon said:\n{}",
            d.stderr()
        );
        send_signal(bus, "org.example.Test", "Ping", arg);
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Issue 17 item 4: a signal on the bus is a `dbus` event with upstart-dbus-bridge's env,
/// and a job waiting for one interface is not started by a signal on another.
#[test]
fn issue17_item4_dbus_signals_are_events() {
    let Some(bus) = Bus::start() else { return };
    let private = private_address();
    let Some(d) = daemon(&private, Some(&bus), &[]) else {
        return;
    };
    let out = d.dir.path().join("ping.env");
    // Added by a reload: the daemon asks for signals once a job wants them.
    ping_job(&d, &out);
    d.ctl_ok(&["reload-configuration"]);
    wait_for_name(&bus, &d);
    ping_until_run(&bus, &d, &out, "hello");
    let text = std::fs::read_to_string(&out).unwrap();
    let first = text.split("---").next().unwrap();
    let lines: Vec<&str> = first.lines().collect();
    for want in [
        "SIGNAL=Ping",
        "INTERFACE=org.example.Test",
        "OBJPATH=/org/example",
        "ARG0=hello",
        "BUS=system",
    ] {
        assert!(
            lines.contains(&want),
            "no {want} in the job's env:\n{first}"
        );
    }
    assert!(
        lines.iter().any(|l| l.starts_with("SENDER=:1.")),
        "no SENDER=:1.N in the job's env:\n{first}"
    );
    // Let any signal still on its way land, then start afresh.
    std::thread::sleep(Duration::from_secs(1));
    d.wait_status(&["ping"], "stop/waiting");
    std::fs::remove_file(&out).unwrap();
    // Another interface starts nothing: had it, the task would have run with its env
    // (or still be running when the right signal came, which would then start nothing).
    send_signal(&bus, "org.example.Other", "Ping", "wrong");
    send_signal(&bus, "org.example.Test", "Ping", "second");
    wait_lines(&out, &["ARG0=second", "---"]);
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("org.example.Other"),
        "ran for another interface:\n{text}"
    );
    assert_eq!(
        text.matches("---").count(),
        1,
        "ran more than once:\n{text}"
    );
}

/// Issue 17 item 4: a new bus connection has no match rules; after the bus comes back the
/// daemon asks for signals again, and they are events again.
#[test]
fn issue17_item4_signals_are_events_again_after_the_bus_returns() {
    let Some(mount) = require_root_cgroup2() else {
        return;
    };
    if installed("dbus-daemon").is_none() || installed("dbus-send").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bus = Bus::at(dir.path()).unwrap();
    let private = private_address();
    let mut d = TestDaemon::new(&mount);
    let out = d.dir.path().join("ping.env");
    ping_job(&d, &out);
    d.start_with(&[
        "--no-startup-event",
        "--dbus-private",
        &private,
        "--dbus-bus",
        &bus.address,
    ]);
    wait_for_name(&bus, &d);
    ping_until_run(&bus, &d, &out, "first");
    drop(bus);
    let _ = std::fs::remove_file(dir.path().join("bus"));
    let bus = Bus::at(dir.path()).unwrap();
    wait_for_name(&bus, &d);
    d.wait_status(&["ping"], "stop/waiting");
    ping_until_run(&bus, &d, &out, "again");
}

/// The daemon's open fds (its `/proc/PID/fd` entries).
fn fd_count(d: &TestDaemon) -> usize {
    let pid = d.child.as_ref().unwrap().id();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Whether one of the daemon's fds is `target` (a `/proc/PID/fd` link's text).
fn daemon_holds(d: &TestDaemon, target: &str) -> bool {
    let pid = d.child.as_ref().unwrap().id();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == target))
}

/// Reads one auth line (up to CRLF).
fn auth_line(s: &mut std::os::unix::net::UnixStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// A root client that negotiated fd passing: on the private socket (`bus` false) or on a
/// bus (then `Hello` is said, serial 1).
fn fd_client(s: &mut std::os::unix::net::UnixStream, bus: bool) {
    s.write_all(&outset_dbus_hello(0)).unwrap();
    let ok = auth_line(s);
    assert!(ok.starts_with("OK "), "{ok}");
    s.write_all(b"NEGOTIATE_UNIX_FD\r\n").unwrap();
    assert_eq!(auth_line(s), "AGREE_UNIX_FD\r\n");
    s.write_all(b"BEGIN\r\n").unwrap();
    if bus {
        let mut hello = outset_dbus::Message::method_call(
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "Hello",
            vec![],
        );
        hello.destination = Some("org.freedesktop.DBus".into());
        hello.serial = 1;
        s.write_all(&hello.encode()).unwrap();
        // As libdbus: nothing more until the bus has answered (it reads the handshake
        // with plain reads, which would drop fds sent meanwhile).
        reply_to(s, 1);
    }
}

/// `EmitEventWithFile(event, ["A=1"], true, h 0)` with serial `serial`, declaring
/// `unix_fds` fds.
fn emit_with_file(event: &str, serial: u32, unix_fds: u32) -> Vec<u8> {
    use outset_dbus::Value;
    let mut m = outset_dbus::Message::method_call(
        MANAGER,
        IFACE,
        "EmitEventWithFile",
        vec![
            Value::Str(event.into()),
            Value::strings(&["A=1"]),
            Value::Bool(true),
            Value::Fd(0),
        ],
    );
    m.destination = Some("com.ubuntu.Upstart".into());
    m.serial = serial;
    m.unix_fds = unix_fds;
    m.encode()
}

/// A pipe holding `data`, its write end closed: the read end to send.
fn pipe_with(data: &str) -> std::io::PipeReader {
    let (r, mut w) = std::io::pipe().unwrap();
    w.write_all(data.as_bytes()).unwrap();
    r
}

/// The job a file-carrying event starts: it reads the fd named by `UPSTART_FDS`.
fn reader_job(d: &TestDaemon) -> String {
    format!(
        "task\nconsole none\nstart on my-event\nscript\n  echo \"$UPSTART_FDS $A\" > {dir}/fds\n  cat <&$UPSTART_FDS > {dir}/got\nend script\n",
        dir = d.dir.path().display()
    )
}

/// Sends `EmitEventWithFile` with a pipe's read end through `s` (already past its
/// handshake) and checks the job read what the test wrote into the pipe, and that the
/// daemon holds no fd more once the event is done.
fn emit_with_file_reaches_the_job(
    d: &TestDaemon,
    s: &mut std::os::unix::net::UnixStream,
    serial: u32,
) {
    use std::os::fd::AsFd;
    let before = fd_count(d);
    let r = pipe_with("written by the test\n");
    let pipe = format!(
        "pipe:[{}]",
        r.as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .unwrap()
            .metadata()
            .unwrap()
            .ino()
    );
    let call = emit_with_file("my-event", serial, 1);
    outset_sys::fdpass::send_with_fds(s.as_fd(), &call, &[r.as_fd()]).unwrap();
    drop(r);
    // wait=true: the reply comes once the task has finished.
    let reply = reply_to(s, serial);
    assert_eq!(
        reply.kind,
        Some(outset_dbus::Kind::Return),
        "{reply:?}\n{}",
        d.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(d.path("got")).unwrap(),
        "written by the test\n"
    );
    assert_eq!(std::fs::read_to_string(d.path("fds")).unwrap(), "3 1\n");
    // The event is over: the daemon closed the fd (no leak), and holds no more fds than
    // before the call (fewer is possible: a control connection of the test's set-up may
    // still have been open then).
    d.wait_for(
        "the daemon's fds back to before",
        Duration::from_secs(10),
        || !daemon_holds(d, &pipe) && fd_count(d) <= before,
    );
}

/// Issue 16: `EmitEventWithFile` over the private socket: the fd reaches the job started
/// by the event as `UPSTART_FDS`, with the event's env; a call whose fd did not come gets
/// an error and the daemon carries on; the daemon's fd count returns to its baseline.
#[test]
fn issue16_emit_event_with_file_over_the_private_socket() {
    let private = private_address();
    let Some(d) = daemon(&private, None, &[("web", WEB)]) else {
        return;
    };
    d.write_job("reader", &reader_job(&d));
    d.ctl_ok(&["reload-configuration"]);
    let mut s = connect_private(&private);
    fd_client(&mut s, false);
    emit_with_file_reaches_the_job(&d, &mut s, 2);
    let baseline = fd_count(&d);
    // The header says one fd, none came: an error reply, the connection stays.
    s.write_all(&emit_with_file("my-event", 3, 1)).unwrap();
    let reply = reply_to(&mut s, 3);
    assert_eq!(
        reply.error_name.as_deref(),
        Some("org.freedesktop.DBus.Error.InvalidArgs"),
        "{reply:?}"
    );
    // An `h` argument with no fd declared or sent at all: the same.
    s.write_all(&emit_with_file("my-event", 4, 0)).unwrap();
    let reply = reply_to(&mut s, 4);
    assert_eq!(
        reply.error_name.as_deref(),
        Some("org.freedesktop.DBus.Error.InvalidArgs"),
        "{reply:?}"
    );
    // Two fds sent where the header says one: refused too, both closed.
    {
        use std::os::fd::AsFd;
        let (a, b) = (pipe_with("x"), pipe_with("y"));
        let call = emit_with_file("my-event", 5, 1);
        outset_sys::fdpass::send_with_fds(s.as_fd(), &call, &[a.as_fd(), b.as_fd()]).unwrap();
        let reply = reply_to(&mut s, 5);
        assert!(reply.error_name.is_some(), "{reply:?}");
    }
    d.wait_for(
        "the refused calls' fds closed",
        Duration::from_secs(10),
        || fd_count(&d) <= baseline,
    );
    // The daemon and the connection carry on.
    std::fs::remove_file(d.path("got")).unwrap();
    emit_with_file_reaches_the_job(&d, &mut s, 6);
    // A peer that did not negotiate fd passing and sends one anyway is cut off.
    {
        use std::os::fd::AsFd;
        let s2 = authenticated(&private);
        let r = pipe_with("z");
        let call = emit_with_file("my-event", 2, 1);
        outset_sys::fdpass::send_with_fds(s2.as_fd(), &call, &[r.as_fd()]).unwrap();
        closed_by_daemon(s2);
    }
    assert!(d.status(&["web"]).contains("stop/waiting"));
    d.wait_for(
        "the daemon's fds back to baseline",
        Duration::from_secs(10),
        || fd_count(&d) <= baseline,
    );
}

/// Issue 16: the same call through a `dbus-daemon`: outset negotiated fd passing with the
/// bus, which delivers the fd with the call.
#[test]
fn issue16_emit_event_with_file_through_the_bus() {
    let Some(bus) = Bus::start() else { return };
    let private = private_address();
    let Some(d) = daemon(&private, Some(&bus), &[("web", WEB)]) else {
        return;
    };
    d.write_job("reader", &reader_job(&d));
    d.ctl_ok(&["reload-configuration"]);
    wait_for_name(&bus, &d);
    let path = bus
        .address
        .strip_prefix("unix:path=")
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    fd_client(&mut s, true);
    emit_with_file_reaches_the_job(&d, &mut s, 2);
    // (A call whose header promises an fd that does not come never reaches outset from a
    // bus: dbus-daemon drops such a sender. The private socket's test covers outset's side.)
    std::fs::remove_file(d.path("got")).unwrap();
    emit_with_file_reaches_the_job(&d, &mut s, 3);
    assert!(
        !d.stderr().contains("lost the bus connection"),
        "{}",
        d.stderr()
    );
}
