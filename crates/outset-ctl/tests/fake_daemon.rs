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
        members: vec![],
        log: None,
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

#[test]
fn version_shows_client_and_daemon() {
    let f = fake(Response::Ok {
        body: Body::Version("9.9.9".into()),
    });
    let (code, out, _) = ctl(&["outsetctl", "version", "--socket", "{}"], &f.socket);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!(
            "outsetctl (outset) {}\noutset daemon 9.9.9\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(f.thread.join().unwrap().command, Command::Version);

    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = ctl(
        &["outsetctl", "version", "--socket", "{}"],
        &dir.path().join("none"),
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        format!("outsetctl (outset) {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn version_json() {
    let f = fake(Response::Ok {
        body: Body::Version("9.9.9".into()),
    });
    let (_, out, _) = ctl(
        &["outsetctl", "--json", "version", "--socket", "{}"],
        &f.socket,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["daemon"], "9.9.9");
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

#[test]
fn show_config_prints_job_headers() {
    let f = fake(Response::Ok {
        body: Body::Configs(vec![JobText {
            name: "web".into(),
            text: "exec /bin/web\n".into(),
        }]),
    });
    let (code, out, _) = ctl(
        &["outsetctl", "--socket", "{}", "show-config", "web"],
        &f.socket,
    );
    assert_eq!((code, out.as_str()), (0, "# job: web\nexec /bin/web\n"));
    assert_eq!(
        f.thread.join().unwrap().command,
        Command::ShowConfig {
            job: Some("web".into())
        }
    );
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
fn reexec_is_not_implemented() {
    let none = PathBuf::from("/nonexistent/outset/control");
    let (code, _, err) = ctl(&["outsetctl", "reexec"], &none);
    assert_eq!(
        (code, err.as_str()),
        (1, "outsetctl: reexec: not implemented yet\n")
    );
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
