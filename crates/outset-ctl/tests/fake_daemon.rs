//! The client against a fake daemon: one canned reply per connection, checking the request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;

use outset_proto::{
    Body, Command, InstanceStatus, JobText, ProcessStatus, Request, Response, parse_request,
};

/// A daemon that answers one request with `reply` and hands back the request it got.
struct Fake {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    thread: JoinHandle<Request>,
}

fn fake(reply: Response) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control");
    let listener = UnixListener::bind(&socket).unwrap();
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "{line:?}");
        let req = parse_request(line.trim_end()).expect("request parses");
        let mut text = serde_json::to_string(&reply).unwrap();
        text.push('\n');
        (&stream).write_all(text.as_bytes()).unwrap();
        req
    });
    Fake {
        _dir: dir,
        socket,
        thread,
    }
}

/// Runs the client; argv[0] is `args[0]` and `{}` in other args is replaced by `socket`.
fn ctl(args: &[&str], socket: &std::path::Path) -> (i32, String, String) {
    let args: Vec<OsString> = args
        .iter()
        .map(|a| {
            if *a == "{}" {
                socket.as_os_str().to_owned()
            } else {
                OsString::from(a)
            }
        })
        .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = outset_ctl::run_with(args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn web(instance: &str, pid: u32) -> InstanceStatus {
    InstanceStatus {
        job: "web".into(),
        instance: instance.into(),
        goal: "start".into(),
        state: "running".into(),
        processes: vec![ProcessStatus {
            kind: "main".into(),
            pid,
        }],
        notes: vec![],
        history: vec![],
        changed: None,
        spawned: None,
        ready: None,
        members: vec![],
        log: None,
        resource_problems: vec![],
    }
}

fn instances(list: Vec<InstanceStatus>) -> Response {
    Response::Ok {
        body: Body::Instances(list),
    }
}

#[test]
fn start_prints_upstart_line_and_waits() {
    let f = fake(instances(vec![web("", 42)]));
    let (code, out, err) = ctl(
        &["outsetctl", "--socket", "{}", "start", "web", "X=1"],
        &f.socket,
    );
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "web start/running, process 42\n", "")
    );
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::Start {
            job: "web".into(),
            env: vec!["X=1".into()],
            wait: true
        }
    );
}

#[test]
fn error_reply_goes_to_stderr() {
    let f = fake(Response::error("Unknown job: nope"));
    let (code, out, err) = ctl(
        &["outsetctl", "status", "nope", "--socket", "{}"],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "outsetctl: Unknown job: nope\n");
    f.thread.join().unwrap();
}

#[test]
fn error_prefix_is_the_invoked_name() {
    let f = fake(Response::error("Unknown job: foo"));
    let (code, _, err) = ctl(
        &["/sbin/initctl", "--socket", "{}", "stop", "foo"],
        &f.socket,
    );
    assert_eq!((code, err.as_str()), (1, "initctl: Unknown job: foo\n"));
    f.thread.join().unwrap();
}

#[test]
fn argv0_start_is_the_start_verb() {
    let f = fake(instances(vec![web("", 7)]));
    let (code, out, _) = ctl(&["/sbin/start", "--socket", "{}", "web", "A=b"], &f.socket);
    assert_eq!((code, out.as_str()), (0, "web start/running, process 7\n"));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::Start {
            job: "web".into(),
            env: vec!["A=b".into()],
            wait: true
        }
    );
}

#[test]
fn json_status_prints_the_data() {
    let list = vec![web("a", 1), web("b", 2)];
    let f = fake(instances(list.clone()));
    let (code, out, _) = ctl(
        &["outsetctl", "--json", "--socket", "{}", "status", "web"],
        &f.socket,
    );
    assert_eq!(code, 0);
    let parsed: Vec<InstanceStatus> = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed, list);
    assert!(out.contains("\n  "), "pretty: {out}");
    f.thread.join().unwrap();
}

#[test]
fn status_prints_every_instance() {
    let f = fake(instances(vec![web("a", 1), web("b", 2)]));
    let (code, out, _) = ctl(&["outsetctl", "--socket", "{}", "status", "web"], &f.socket);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "web (a) start/running, process 1\nweb (b) start/running, process 2\n"
    );
    f.thread.join().unwrap();
}

#[test]
fn connection_refused() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("control");
    drop(UnixListener::bind(&socket).unwrap());
    let (code, out, err) = ctl(&["outsetctl", "--socket", "{}", "list"], &socket);
    assert_eq!((code, out.as_str()), (1, ""));
    let want = format!(
        "outsetctl: Unable to connect to outset at {}: ",
        socket.display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(err.contains("refused"), "{err}");
}

#[test]
fn no_wait_sends_wait_false() {
    let f = fake(instances(vec![web("", 3)]));
    let (code, _, _) = ctl(
        &["outsetctl", "stop", "web", "--no-wait", "--socket", "{}"],
        &f.socket,
    );
    assert_eq!(code, 0);
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::Stop {
            job: "web".into(),
            instance: None,
            env: vec![],
            wait: false
        }
    );
}

/// Issue 16 item 3: initctl prints the daemon's version line; no daemon is an error.
#[test]
fn issue16_item3_version_is_the_daemons_line() {
    let line = outset_proto::version_line("9.9.9", "System mode, tracking by cgroups");
    let f = fake(Response::Ok {
        body: Body::Version(line.clone()),
    });
    let (code, out, _) = ctl(&["initctl", "version", "--socket", "{}"], &f.socket);
    assert_eq!((code, out), (0, format!("{line}\n")));
    assert!(line.starts_with("init (upstart 1.13.2) outset 9.9.9"));
    assert_eq!(f.thread.join().unwrap().command, Command::Version);

    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = ctl(
        &["initctl", "version", "--socket", "{}"],
        &dir.path().join("none"),
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("initctl: Unable to connect"), "{err}");
}

#[test]
fn issue16_item3_version_json_gives_the_parts() {
    let f = fake(Response::Ok {
        body: Body::Version(outset_proto::version_line(
            "9.9.9",
            "User mode, tracking by cgroups",
        )),
    });
    let (_, out, _) = ctl(
        &["outsetctl", "--json", "version", "--socket", "{}"],
        &f.socket,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "outset");
    assert_eq!(v["version"], "9.9.9");
    assert_eq!(v["upstart"], "1.13.2");
    assert_eq!(v["detail"], "User mode, tracking by cgroups");
    assert_eq!(v["client"], env!("CARGO_PKG_VERSION"));
    f.thread.join().unwrap();
}

#[test]
fn emit_prints_nothing_and_passes_env_as_is() {
    let f = fake(Response::Ok { body: Body::Done });
    let (code, out, err) = ctl(
        &["outsetctl", "--socket", "{}", "emit", "ev", "A=1", "junk"],
        &f.socket,
    );
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::Emit {
            event: "ev".into(),
            env: vec!["A=1".into(), "junk".into()],
            wait: true
        }
    );
}

fn web_config() -> Response {
    Response::Ok {
        body: Body::Configs(vec![JobText {
            name: "web".into(),
            text: "emits web-up\nstart on started db and net-up\nstop on runlevel [016]\nexec /bin/web\n"
                .into(),
        }]),
    }
}

/// Issue 16 item 5: `show-config` in initctl's format, `-e`, and outset's own view.
#[test]
fn issue16_item5_show_config_formats() {
    let f = fake(web_config());
    let (code, out, _) = ctl(
        &["initctl", "--socket", "{}", "show-config", "web"],
        &f.socket,
    );
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "web\n  emits web-up\n  start on (started db and net-up)\n  stop on runlevel [016]\n"
        )
    );
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::ShowConfig {
            job: Some("web".into())
        }
    );
    let f = fake(web_config());
    let (_, out, _) = ctl(
        &["initctl", "--socket", "{}", "show-config", "-e"],
        &f.socket,
    );
    assert_eq!(
        out,
        "web\n  emits web-up\n  start on started (job: db, env:)\n  start on net-up (job:, env:)\n  stop on runlevel (job:, env: [016])\n"
    );
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::ShowConfig { job: None }
    );
    let f = fake(Response::Ok {
        body: Body::Configs(vec![JobText {
            name: "web".into(),
            text: "exec /bin/web\n".into(),
        }]),
    });
    let (code, out, _) = ctl(
        &[
            "outsetctl",
            "--socket",
            "{}",
            "show-config",
            "--normalised",
            "web",
        ],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, "# job: web\nexec /bin/web\n"));
    f.thread.join().unwrap();
}

/// Issue 16 item 5: `check-config` asks the daemon for every job when given no path.
#[test]
fn issue16_item5_check_config_against_the_daemon() {
    let f = fake(web_config());
    let (code, out, err) = ctl(&["initctl", "--socket", "{}", "check-config"], &f.socket);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            1,
            "web\n  start on: unknown event net-up\n  start on: unknown job db\n  stop on: unknown event runlevel\n",
            ""
        )
    );
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::ShowConfig { job: None }
    );
    let f = fake(web_config());
    let (code, out, _) = ctl(
        &[
            "initctl",
            "--socket",
            "{}",
            "check-config",
            "-i",
            "net-up,runlevel",
            "web",
        ],
        &f.socket,
    );
    assert_eq!(
        (code, out.as_str()),
        (1, "web\n  start on: unknown job db\n")
    );
    f.thread.join().unwrap();
    let f = fake(web_config());
    let (code, _, err) = ctl(
        &["initctl", "--socket", "{}", "check-config", "nosuchjob"],
        &f.socket,
    );
    assert_eq!(
        (code, err.as_str()),
        (1, "initctl: Invalid job class: nosuchjob\n")
    );
    f.thread.join().unwrap();
}

/// Issue 16 item 2: the environment verbs' requests and initctl's output.
#[test]
fn issue16_item2_env_verbs() {
    let f = fake(Response::Ok {
        body: Body::Env(vec!["TERM=linux".into(), "PATH=/bin".into(), "A=1".into()]),
    });
    let (code, out, _) = ctl(&["initctl", "--socket", "{}", "list-env", "-g"], &f.socket);
    // Sorted, as initctl sorts.
    assert_eq!((code, out.as_str()), (0, "A=1\nPATH=/bin\nTERM=linux\n"));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::ListEnv {
            job: None,
            instance: None
        }
    );
    let f = fake(Response::Ok {
        body: Body::Value("1".into()),
    });
    let (code, out, _) = ctl(
        &["initctl", "--socket", "{}", "get-env", "--global", "A"],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, "1\n"));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::GetEnv {
            name: "A".into(),
            job: None,
            instance: None
        }
    );
    let f = fake(Response::error("No such variable: B"));
    let (code, out, err) = ctl(
        &["initctl", "--socket", "{}", "get-env", "-g", "B"],
        &f.socket,
    );
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "", "initctl: No such variable: B\n")
    );
    f.thread.join().unwrap();
    let f = fake(Response::Ok { body: Body::Done });
    let (code, out, _) = ctl(
        &[
            "initctl", "--socket", "{}", "set-env", "-g", "-r", "A=1", "BARE",
        ],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::SetEnv {
            env: vec!["A=1".into(), "BARE".into()],
            retain: true,
            job: None,
            instance: None
        }
    );
    let f = fake(Response::Ok { body: Body::Done });
    ctl(
        &["initctl", "--socket", "{}", "unset-env", "-g", "A", "B"],
        &f.socket,
    );
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::UnsetEnv {
            names: vec!["A".into(), "B".into()],
            job: None,
            instance: None
        }
    );
    let f = fake(Response::Ok { body: Body::Done });
    ctl(&["initctl", "--socket", "{}", "reset-env", "-g"], &f.socket);
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::ResetEnv {
            job: None,
            instance: None
        }
    );
}

/// Issue 16 item 3: `usage`, the notify verbs, and `-q`.
#[test]
fn issue16_item3_usage_notify_and_quiet() {
    let f = fake(Response::Ok {
        body: Body::Value("web PORT=<n>".into()),
    });
    let (code, out, _) = ctl(&["initctl", "--socket", "{}", "usage", "web"], &f.socket);
    assert_eq!((code, out.as_str()), (0, "Usage: web PORT=<n>\n"));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::Usage { job: "web".into() }
    );
    for (verb, cmd) in [
        (
            "notify-dbus-address",
            Command::NotifyDbusAddress {
                address: "unix:path=/bus".into(),
            },
        ),
        (
            "notify-cgroup-manager-address",
            Command::NotifyCgroupManagerAddress {
                address: "unix:path=/bus".into(),
            },
        ),
    ] {
        let f = fake(Response::Ok { body: Body::Done });
        let (code, out, _) = ctl(
            &["initctl", "--socket", "{}", verb, "unix:path=/bus"],
            &f.socket,
        );
        assert_eq!((code, out.as_str()), (0, ""));
        assert_eq!(f.thread.join().unwrap().command, cmd);
    }
    let f = fake(instances(vec![web("", 5)]));
    let (code, out, _) = ctl(
        &["initctl", "-q", "--socket", "{}", "status", "web"],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, ""));
    f.thread.join().unwrap();
    let f = fake(Response::error("Unknown job: x"));
    let (code, _, err) = ctl(
        &["initctl", "--quiet", "--socket", "{}", "status", "x"],
        &f.socket,
    );
    assert_eq!((code, err.as_str()), (1, "initctl: Unknown job: x\n"));
    f.thread.join().unwrap();
}

/// Issue 16 item 3: `--dest` needs `--system`, as initctl's.
#[test]
fn issue16_item3_dest_needs_system() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = ctl(
        &["initctl", "--dest", "com.ubuntu.Upstart", "list"],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with("initctl: --dest given without --system\n"),
        "{err}"
    );
    let f = fake(instances(vec![web("", 5)]));
    let (code, out, _) = ctl(
        &[
            "initctl",
            "--system",
            "--dest",
            "com.ubuntu.Upstart",
            "--socket",
            "{}",
            "list",
        ],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, "web start/running, process 5\n"));
    f.thread.join().unwrap();
}

#[test]
fn list_and_reload_configuration() {
    let f = fake(instances(vec![web("", 5)]));
    let (_, out, _) = ctl(&["outsetctl", "--socket", "{}", "list"], &f.socket);
    assert_eq!(out, "web start/running, process 5\n");
    assert_eq!(f.thread.join().unwrap().command, Command::List);

    let f = fake(Response::Ok { body: Body::Done });
    let (code, out, _) = ctl(
        &["outsetctl", "--socket", "{}", "reload-configuration"],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::ReloadConfiguration
    );
}

/// Issue 14 item 5: `log JOB INSTANCE -n N --json` asks for N lines and prints one JSON
/// object per line, with the time it was read.
#[test]
fn issue14_item5_log_asks_for_lines_and_prints_them() {
    let chunk = outset_proto::LogChunk {
        path: "/var/log/outset/web-a.log".into(),
        lines: vec![
            outset_proto::LogLine {
                text: "one".into(),
                time: Some(5),
            },
            outset_proto::LogLine {
                text: "two".into(),
                time: None,
            },
        ],
        cursor: outset_proto::LogCursor { ino: 1, offset: 8 },
        held: 0,
        dropped: 0,
    };
    let reply = Response::Ok {
        body: Body::Log(chunk.clone()),
    };
    let f = fake(reply.clone());
    let (code, out, _) = ctl(
        &["outsetctl", "--socket", "{}", "log", "web", "a", "-n", "2"],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, "one\ntwo\n"));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::Log {
            job: "web".into(),
            instance: Some("a".into()),
            lines: 2,
            after: None
        }
    );
    let f = fake(reply);
    let (code, out, _) = ctl(
        &["outsetctl", "--json", "--socket", "{}", "log", "web"],
        &f.socket,
    );
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "{\"text\":\"one\",\"time\":5}\n{\"text\":\"two\",\"time\":null}\n"
    );
    f.thread.join().unwrap();
}

#[test]
fn request_returns_the_response() {
    let reply = instances(vec![web("", 1)]);
    let f = fake(reply.clone());
    let got = outset_ctl::request(&f.socket, Command::List).unwrap();
    assert_eq!(got, reply);
    f.thread.join().unwrap();
}

#[test]
fn usage_errors_exit_2() {
    let none = PathBuf::from("/nonexistent");
    let (code, _, err) = ctl(&["outsetctl", "start"], &none);
    assert_eq!(code, 2);
    assert!(err.contains("JOB"), "{err}");
}

/// Issue 16: a missing required argument exits 1 under initctl's names, as Upstart's
/// initctl did (clap's 2 stays for `outsetctl`); `--help` still exits 0. No daemon is
/// asked.
#[test]
fn issue16_missing_argument_exits_1_as_initctl() {
    let nowhere = std::path::Path::new("/nonexistent/outset.sock");
    for argv in [
        &["/sbin/initctl", "--socket", "{}", "start"][..],
        &["/sbin/initctl", "--socket", "{}", "emit"][..],
        &["/sbin/start", "--socket", "{}"][..],
        &["/sbin/initctl", "--socket", "{}", "usage"][..],
    ] {
        let (code, out, err) = ctl(argv, nowhere);
        assert_eq!(code, 1, "{argv:?}: {out}{err}");
        assert!(!err.is_empty(), "{argv:?}");
    }
    let (code, _, err) = ctl(&["outsetctl", "--socket", "{}", "start"], nowhere);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = ctl(&["/sbin/initctl", "--help"], nowhere);
    assert_eq!(code, 0);
    assert!(!out.is_empty());
    let (code, out, _) = ctl(&["/sbin/initctl", "start", "--help"], nowhere);
    assert_eq!(code, 0);
    assert!(!out.is_empty());
}
