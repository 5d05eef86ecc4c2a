//! Turning verbs into protocol requests, and replies into Upstart's output.

use std::io::Write;
use std::path::{Path, PathBuf};

use outset_proto::{Body, Command as Proto, Response};

use crate::cli::Command;
use crate::client;

/// What a verb needs: the daemon, or only the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    Remote(Proto),
    CheckConfig {
        paths: Vec<PathBuf>,
        show: bool,
    },
    Version,
    /// `trace`: runs locally, no daemon involved.
    Trace {
        argv: Vec<String>,
        timeout: std::time::Duration,
        keep: bool,
        ready: Option<String>,
        cgroup_root: Option<PathBuf>,
    },
    /// `log`: one request, or with `follow` one every [`FOLLOW_EVERY`].
    Log {
        job: String,
        instance: Option<String>,
        lines: usize,
        follow: bool,
    },
    /// Verbs Upstart has that outset's protocol does not carry yet.
    NotImplemented(&'static str),
    /// The command line lacks something; the message says what.
    Usage(String),
}

/// The job a verb names, or the job the caller runs in (`$UPSTART_JOB`, then the instance
/// from `$UPSTART_INSTANCE`). The bool says whether it is the caller's own job.
fn target(a: crate::cli::JobArgs) -> Result<(String, Option<String>, Vec<String>, bool), String> {
    let mut env = a.env;
    match a.job {
        Some(j) if !j.contains('=') => Ok((j, None, env, false)),
        first => {
            if let Some(kv) = first {
                env.insert(0, kv);
            }
            match std::env::var("UPSTART_JOB") {
                Ok(job) if !job.is_empty() => {
                    let instance = std::env::var("UPSTART_INSTANCE").ok();
                    Ok((job, instance, env, true))
                }
                _ => Err("missing JOB (name a job, or run this inside one)".to_string()),
            }
        }
    }
}

/// Maps a verb to its plan; `wait` is what start, stop, restart and emit ask for.
pub fn plan(cmd: Command, wait: bool) -> Plan {
    let remote = match cmd {
        Command::Start(a) => match target(a) {
            Ok((job, _, env, own)) => Proto::Start {
                job,
                env,
                wait: wait && !own,
            },
            Err(e) => return Plan::Usage(e),
        },
        // A job stopping or restarting itself must not wait for itself.
        Command::Stop(a) => match target(a) {
            Ok((job, instance, env, own)) => Proto::Stop {
                job,
                instance,
                env,
                wait: wait && !own,
            },
            Err(e) => return Plan::Usage(e),
        },
        Command::Restart(a) => match target(a) {
            Ok((job, instance, env, own)) => Proto::Restart {
                job,
                instance,
                env,
                wait: wait && !own,
            },
            Err(e) => return Plan::Usage(e),
        },
        Command::Reload(a) => match target(a) {
            Ok((job, instance, env, _)) => Proto::Reload { job, instance, env },
            Err(e) => return Plan::Usage(e),
        },
        Command::Status { all, job: a } => match target(a) {
            Ok((job, instance, env, _)) => Proto::Status {
                job,
                instance,
                env,
                all,
            },
            Err(e) => return Plan::Usage(e),
        },
        Command::List => Proto::List,
        Command::Emit { event, env } => Proto::Emit { event, env, wait },
        Command::ReloadConfiguration => Proto::ReloadConfiguration,
        Command::ShowConfig { job } => Proto::ShowConfig { job },
        Command::CheckConfig { show, paths } => return Plan::CheckConfig { paths, show },
        Command::Version => return Plan::Version,
        Command::Trace {
            timeout,
            keep,
            ready,
            cgroup_root,
            command,
        } => {
            return match std::time::Duration::try_from_secs_f64(timeout) {
                Ok(timeout) => Plan::Trace {
                    argv: command,
                    timeout,
                    keep,
                    ready,
                    cgroup_root,
                },
                Err(_) => Plan::Usage(format!("--timeout: bad number of seconds {timeout}")),
            };
        }
        Command::Log {
            job,
            instance,
            lines,
            follow,
        } => {
            return Plan::Log {
                job,
                instance,
                lines,
                follow,
            };
        }
        Command::NotifyDiskWriteable => Proto::NotifyDiskWriteable,
        Command::LogPriority { priority } => Proto::LogPriority { priority },
        Command::Reexec => return Plan::NotImplemented("reexec"),
    };
    Plan::Remote(remote)
}

/// Where the output goes and how it is labelled.
pub struct Io<'a> {
    /// argv[0]'s basename, prefixed to error messages as Upstart does.
    pub prog: &'a str,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// Sends `cmd` and prints the reply; returns the exit code.
pub fn run_remote(socket: &Path, cmd: Proto, json: bool, io: &mut Io) -> i32 {
    // Read verbs print their data; of the changing ones only start/stop/restart report
    // the instances, as Upstart does.
    let read = !cmd.is_change();
    let quiet = cmd.is_change()
        && !matches!(
            cmd,
            Proto::Start { .. }
                | Proto::Stop { .. }
                | Proto::Restart { .. }
                | Proto::LogPriority { priority: None }
        );
    let body = match client::request(socket, cmd) {
        Ok(Response::Ok { body }) => body,
        Ok(Response::Error { message }) => return fail(io, &message),
        Err(e) => return fail(io, &e.to_string()),
    };
    if quiet {
        return 0;
    }
    if json && read {
        let _ = writeln!(io.out, "{}", pretty(&body_data(&body)));
    } else {
        write_body(&body, io.out);
    }
    0
}

/// How often `log -f` asks for more.
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// `outsetctl log`: prints the lines (with `--json` one object per line, with the time the
/// daemon read it), and with `follow` keeps asking for what came since.
pub fn run_log(
    socket: &Path,
    job: String,
    instance: Option<String>,
    lines: usize,
    follow: bool,
    json: bool,
    io: &mut Io,
) -> i32 {
    let mut after = None;
    loop {
        let cmd = Proto::Log {
            job: job.clone(),
            instance: instance.clone(),
            lines,
            after,
        };
        let chunk = match client::request(socket, cmd) {
            Ok(Response::Ok { body: Body::Log(c) }) => c,
            Ok(Response::Ok { .. }) => return fail(io, "unexpected reply to `log`"),
            Ok(Response::Error { message }) => return fail(io, &message),
            Err(e) => return fail(io, &e.to_string()),
        };
        for l in &chunk.lines {
            let _ = if json {
                writeln!(
                    io.out,
                    "{}",
                    serde_json::json!({"text": l.text, "time": l.time})
                )
            } else {
                writeln!(io.out, "{}", l.text)
            };
        }
        let _ = io.out.flush();
        if !follow {
            return 0;
        }
        after = Some(chunk.cursor);
        std::thread::sleep(FOLLOW_EVERY);
    }
}

/// `outsetctl version`: the client's version, then the daemon's when it answers.
pub fn run_version(socket: &Path, json: bool, out: &mut dyn Write) -> i32 {
    let client = env!("CARGO_PKG_VERSION");
    let daemon = match client::request(socket, Proto::Version) {
        Ok(Response::Ok {
            body: Body::Version(v),
        }) => Some(v),
        _ => None,
    };
    if json {
        let v = serde_json::json!({ "client": client, "daemon": daemon });
        let _ = writeln!(out, "{}", pretty(&v));
    } else {
        let _ = writeln!(out, "outsetctl (outset) {client}");
        if let Some(d) = daemon {
            let _ = writeln!(out, "outset daemon {d}");
        }
    }
    0
}

/// Prints `<prog>: <message>` to stderr; returns the failure exit code.
pub fn fail(io: &mut Io, message: &str) -> i32 {
    let _ = writeln!(io.err, "{}: {message}", io.prog);
    1
}

/// The `data` half of a body as JSON (`null` for `done`).
fn body_data(body: &Body) -> serde_json::Value {
    serde_json::to_value(body)
        .ok()
        .and_then(|mut v| v.get_mut("data").map(serde_json::Value::take))
        .unwrap_or(serde_json::Value::Null)
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Upstart's text form of a reply.
fn write_body(body: &Body, out: &mut dyn Write) {
    match body {
        Body::Done => {}
        Body::Instances(list) => {
            for i in list {
                let _ = writeln!(out, "{}", i.upstart_line());
            }
        }
        Body::Configs(jobs) => {
            for j in jobs {
                let _ = writeln!(out, "# job: {}", j.name);
                let _ = write!(out, "{}", j.text);
                if !j.text.ends_with('\n') {
                    let _ = writeln!(out);
                }
            }
        }
        Body::Version(v) | Body::Priority(v) => {
            let _ = writeln!(out, "{v}");
        }
        Body::Log(chunk) => {
            for l in &chunk.lines {
                let _ = writeln!(out, "{}", l.text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::JobArgs;
    use outset_proto::{InstanceStatus, JobText};

    fn job(name: &str, env: &[&str]) -> JobArgs {
        JobArgs {
            job: Some(name.into()),
            env: env.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn plans() {
        assert_eq!(
            plan(Command::Start(job("a", &["X=1", "bad"])), false),
            Plan::Remote(Proto::Start {
                job: "a".into(),
                env: vec!["X=1".into(), "bad".into()],
                wait: false
            })
        );
        assert_eq!(
            plan(
                Command::Emit {
                    event: "e".into(),
                    env: vec![]
                },
                true
            ),
            Plan::Remote(Proto::Emit {
                event: "e".into(),
                env: vec![],
                wait: true
            })
        );
        assert_eq!(plan(Command::Reexec, true), Plan::NotImplemented("reexec"));
        assert_eq!(
            plan(
                Command::Log {
                    job: "a".into(),
                    instance: None,
                    lines: 3,
                    follow: true
                },
                true
            ),
            Plan::Log {
                job: "a".into(),
                instance: None,
                lines: 3,
                follow: true
            }
        );
        assert_eq!(
            plan(Command::NotifyDiskWriteable, true),
            Plan::Remote(Proto::NotifyDiskWriteable)
        );
    }

    #[test]
    fn text_output() {
        let mut out = Vec::new();
        write_body(
            &Body::Configs(vec![
                JobText {
                    name: "a".into(),
                    text: "exec /bin/a".into(),
                },
                JobText {
                    name: "b".into(),
                    text: "exec /bin/b\n".into(),
                },
            ]),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# job: a\nexec /bin/a\n# job: b\nexec /bin/b\n"
        );
        let w = InstanceStatus {
            job: "w".into(),
            instance: String::new(),
            goal: "stop".into(),
            state: "waiting".into(),
            processes: vec![],
            notes: vec![],
            history: vec![],
            members: vec![],
            log: None,
        };
        let mut out = Vec::new();
        write_body(&Body::Instances(vec![w.clone(), w]), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "w stop/waiting\nw stop/waiting\n"
        );
        assert_eq!(body_data(&Body::Done), serde_json::Value::Null);
        assert_eq!(
            body_data(&Body::Version("1".into())),
            serde_json::json!("1")
        );
    }
}
