//! Turning verbs into protocol requests, and replies into Upstart's output.

use std::io::Write;
use std::path::{Path, PathBuf};

use outset_proto::{Body, Command as Proto, JobText, Response};

use crate::check_config::CheckOptions;
use crate::cli::{Command, EnvScope};
use crate::client;

/// What a verb needs: the daemon, or only the client.
#[derive(Debug, PartialEq)]
pub enum Plan {
    Remote(Proto),
    /// `check-config` over job files (no daemon) when `paths` is not empty, else over the
    /// daemon's jobs.
    CheckConfig {
        paths: Vec<PathBuf>,
        show: bool,
        opts: CheckOptions,
    },
    /// `show-config`: initctl's format, or with `normalised` outset's job files.
    ShowConfig {
        job: Option<String>,
        enumerate: bool,
        normalised: bool,
    },
    /// `list-sessions`: read from the session files, no daemon involved.
    ListSessions,
    /// `graph`: from the daemon's jobs or from conf dirs.
    Graph(crate::graph::GraphArgs),
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
    /// `monitor`: a stream of records until the daemon closes it.
    Monitor,
    /// `timeline`: the daemon's history as a chart.
    Timeline {
        svg: bool,
        last: Option<f64>,
    },
    /// The command line lacks something; the message says what.
    Usage(String),
    /// A request, then a line printed once it is accepted.
    RemoteNote(Proto, String),
    /// `reboot`, `halt`, `poweroff`.
    Power {
        action: outset_proto::ShutdownAction,
        force: bool,
    },
    /// `runlevel`.
    Runlevel,
    /// Nothing to do (`reboot -w`).
    Nothing,
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

/// The job whose environment an environment verb acts on: none with `--global` or outside
/// a job, else the caller's own (`$UPSTART_JOB`, `$UPSTART_INSTANCE`), as initctl's
/// `get_job_details`.
fn env_target(scope: &EnvScope) -> Result<(Option<String>, Option<String>), String> {
    if scope.global {
        return Ok((None, None));
    }
    match std::env::var("UPSTART_JOB") {
        Ok(job) => match std::env::var("UPSTART_INSTANCE") {
            Ok(instance) => Ok((Some(job), Some(instance))),
            Err(_) => Err("missing job name".into()),
        },
        Err(_) => Ok((None, None)),
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
        Command::ShowConfig {
            job,
            enumerate,
            normalised,
        } => {
            return Plan::ShowConfig {
                job,
                enumerate,
                normalised,
            };
        }
        Command::CheckConfig {
            ignore_events,
            warn,
            show,
            syntax_only,
            args,
        } => {
            let (paths, only): (Vec<String>, Vec<String>) = args
                .into_iter()
                .partition(|a| crate::check_config::is_path(a));
            return Plan::CheckConfig {
                paths: paths.into_iter().map(PathBuf::from).collect(),
                show,
                opts: CheckOptions {
                    ignore: ignore_events,
                    warn,
                    only,
                    syntax_only,
                },
            };
        }
        Command::Graph {
            svg,
            renderer,
            job,
            depth,
            conf_dir,
        } => {
            return Plan::Graph(crate::graph::GraphArgs {
                svg,
                renderer,
                job,
                depth,
                conf_dirs: conf_dir,
            });
        }
        Command::Usage { job } => match job.or_else(|| std::env::var("UPSTART_JOB").ok()) {
            Some(job) => Proto::Usage { job },
            None => return Plan::Usage("missing job name".into()),
        },
        Command::ListEnv(scope) => match env_target(&scope) {
            Ok((job, instance)) => Proto::ListEnv { job, instance },
            Err(e) => return Plan::Usage(e),
        },
        Command::GetEnv { scope, name } => match env_target(&scope) {
            Ok((job, instance)) => Proto::GetEnv {
                name,
                job,
                instance,
            },
            Err(e) => return Plan::Usage(e),
        },
        Command::SetEnv {
            scope,
            retain,
            vars,
        } => match env_target(&scope) {
            Ok((job, instance)) => Proto::SetEnv {
                env: vars,
                retain,
                job,
                instance,
            },
            Err(e) => return Plan::Usage(e),
        },
        Command::UnsetEnv { scope, names } => match env_target(&scope) {
            Ok((job, instance)) => Proto::UnsetEnv {
                names,
                job,
                instance,
            },
            Err(e) => return Plan::Usage(e),
        },
        Command::ResetEnv(scope) => match env_target(&scope) {
            Ok((job, instance)) => Proto::ResetEnv { job, instance },
            Err(e) => return Plan::Usage(e),
        },
        Command::NotifyDbusAddress { address } => Proto::NotifyDbusAddress { address },
        Command::NotifyCgroupManagerAddress { address } => {
            Proto::NotifyCgroupManagerAddress { address }
        }
        Command::ListSessions => return Plan::ListSessions,
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
        Command::Shutdown(a) => {
            return crate::power::shutdown_plan(a, outset_sys::power::local_seconds_of_day());
        }
        Command::Reboot(a) => {
            return crate::power::power_plan(outset_proto::ShutdownAction::Reboot, a);
        }
        Command::Halt(a) => return crate::power::power_plan(outset_proto::ShutdownAction::Halt, a),
        Command::Poweroff(a) => {
            return crate::power::power_plan(outset_proto::ShutdownAction::Poweroff, a);
        }
        // Run by a job (rc-sysinit's `exec telinit 2`, whose `stop on runlevel` the event
        // fires), telinit does not wait for its own job to stop.
        Command::Telinit { level, env } => {
            let in_job = std::env::var_os("UPSTART_JOB").is_some_and(|j| !j.is_empty());
            return crate::power::telinit_plan(&level, env, wait && !in_job);
        }
        Command::Runlevel => return Plan::Runlevel,
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
        Command::Monitor => return Plan::Monitor,
        Command::Timeline { svg, last } => return Plan::Timeline { svg, last },
        Command::LogPriority { priority } => Proto::LogPriority { priority },
        Command::Reexec { binary } => Proto::Reexec {
            // The daemon resolves the path itself: relative to here is what the caller means.
            binary: binary.map(|b| {
                std::path::absolute(&b)
                    .unwrap_or(b)
                    .to_string_lossy()
                    .into_owned()
            }),
        },
    };
    Plan::Remote(remote)
}

/// Where the output goes and how it is labelled.
pub struct Io<'a> {
    /// argv[0]'s basename, prefixed to error messages as Upstart does.
    pub prog: &'a str,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// `-v`: informational messages on `err` too.
    pub verbose: bool,
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
    let usage = matches!(cmd, Proto::Usage { .. });
    let all = matches!(cmd, Proto::Status { all: true, .. });
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
    } else if let (true, Body::Value(text)) = (usage, &body) {
        let _ = writeln!(io.out, "Usage: {text}");
    } else {
        write_body(&body, all, io.out);
    }
    0
}

/// Every job's configuration (or `job`'s) as the daemon holds it.
pub fn fetch_configs(socket: &Path, job: Option<String>) -> Result<Vec<JobText>, String> {
    match client::request(socket, Proto::ShowConfig { job }) {
        Ok(Response::Ok {
            body: Body::Configs(c),
        }) => Ok(c),
        Ok(Response::Ok { .. }) => Err("unexpected reply from outset".into()),
        Ok(Response::Error { message }) => Err(message),
        Err(e) => Err(e.to_string()),
    }
}

/// `show-config`: initctl's lines from each job's text (parsed back), or with `normalised`
/// the texts themselves.
pub fn run_show_config(
    socket: &Path,
    job: Option<String>,
    enumerate: bool,
    normalised: bool,
    json: bool,
    io: &mut Io,
) -> i32 {
    let texts = match fetch_configs(socket, job) {
        Ok(t) => t,
        Err(e) => return fail(io, &e),
    };
    if normalised {
        let body = Body::Configs(texts);
        if json {
            let _ = writeln!(io.out, "{}", pretty(&body_data(&body)));
        } else {
            write_body(&body, false, io.out);
        }
        return 0;
    }
    let mut code = 0;
    let mut list = Vec::new();
    for t in &texts {
        // A job whose text this caller may not read: its name, and why on stderr.
        if let Some(why) = t.text.strip_prefix("# not shown: ") {
            if json {
                list.push(serde_json::json!({ "name": t.name, "not_shown": why.trim_end() }));
            } else {
                let _ = writeln!(io.out, "{}", t.name);
            }
            let _ = writeln!(io.err, "{}: {}: {}", io.prog, t.name, why.trim_end());
            continue;
        }
        match outset_job::parse_job(&t.name, &t.text) {
            Ok(c) if json => list.push(serde_json::json!({
                "name": c.name,
                "emits": c.emits,
                "start_on": c.start_on.as_ref().map(crate::show_config::bracketed),
                "stop_on": c.stop_on.as_ref().map(crate::show_config::bracketed),
            })),
            Ok(c) => {
                let _ = write!(io.out, "{}", crate::show_config::render(&c, enumerate));
            }
            // A job whose text is withheld from this caller, or not outset's to parse.
            Err(_) => {
                code = 1;
                let _ = writeln!(io.err, "{}: {}: {}", io.prog, t.name, t.text.trim_end());
            }
        }
    }
    if json {
        let _ = writeln!(io.out, "{}", pretty(&serde_json::Value::Array(list)));
    }
    code
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

/// `version`: the daemon's version line, as initctl prints it (`init (upstart 1.13.2)
/// outset X (…)`), so `initctl version | grep -q upstart` finds an upstart-compatible init;
/// no daemon answering is an error (exit 1), as with initctl. `--json` gives its parts.
pub fn run_version(socket: &Path, json: bool, io: &mut Io) -> i32 {
    let line = match client::request(socket, Proto::Version) {
        Ok(Response::Ok {
            body: Body::Version(v),
        }) => v,
        Ok(Response::Ok { .. }) => return fail(io, "unexpected reply from outset"),
        Ok(Response::Error { message }) => return fail(io, &message),
        Err(e) => return fail(io, &e.to_string()),
    };
    if json {
        let _ = writeln!(io.out, "{}", pretty(&version_json(&line)));
    } else {
        let _ = writeln!(io.out, "{line}");
    }
    0
}

/// The parts of a daemon's version line: `{"name": "outset", "version", "upstart",
/// "detail", "line", "client"}`.
fn version_json(line: &str) -> serde_json::Value {
    let after = |word: &str| {
        line.split_once(word).map(|(_, rest)| {
            rest.split([' ', ')'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
    };
    let detail = line
        .rsplit_once(" (")
        .filter(|(head, _)| head.contains(" outset "))
        .map(|(_, d)| d.trim_end_matches(')').to_string());
    serde_json::json!({
        "name": "outset",
        "version": after("outset "),
        "upstart": after("(upstart "),
        "detail": detail,
        "line": line,
        "client": env!("CARGO_PKG_VERSION"),
    })
}

/// `list-sessions`: `PID UPSTART_SESSION` for each session file of a running session
/// daemon in `$XDG_RUNTIME_DIR/upstart/sessions`, as initctl (which also reads only files).
pub fn run_list_sessions(io: &mut Io) -> i32 {
    let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("upstart/sessions"))
    else {
        return fail(io, "Unable to query session directory");
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return fail(io, "unable to determine sessions");
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_suffix(".session")
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !outset_sys::process::exists(pid) {
            if io.verbose {
                let _ = writeln!(
                    io.err,
                    "{}: Ignoring stale session file: {}",
                    io.prog,
                    e.path().display()
                );
            }
            continue;
        }
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let text = text.strip_suffix('\n').unwrap_or(&text);
        if let Some(addr) = text.strip_prefix("UPSTART_SESSION=")
            && !addr.is_empty()
        {
            found.push((pid, addr.to_string()));
        }
    }
    found.sort();
    for (pid, addr) in found {
        let _ = writeln!(io.out, "{pid} {addr}");
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
/// With `all` (`status --all`), each instance's times follow its processes.
fn write_body(body: &Body, all: bool, out: &mut dyn Write) {
    match body {
        Body::Done => {}
        Body::Instances(list) => {
            for i in list {
                let times = if all { i.time_lines() } else { String::new() };
                let _ = writeln!(out, "{}{times}", i.upstart_line());
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
        Body::Version(v) | Body::Value(v) | Body::Priority(v) => {
            let _ = writeln!(out, "{v}");
        }
        // initctl sorts the table; in the C locale strcoll is byte order.
        Body::Env(list) => {
            let mut sorted: Vec<&String> = list.iter().collect();
            sorted.sort();
            for e in sorted {
                let _ = writeln!(out, "{e}");
            }
        }
        Body::Runlevel { previous, current } => {
            let _ = match current {
                Some(c) => writeln!(out, "{} {c}", previous.unwrap_or('N')),
                None => writeln!(out, "unknown"),
            };
        }
        Body::History(h) => {
            for r in &h.records {
                let _ = writeln!(out, "{}", r.text_line());
            }
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
        assert_eq!(
            plan(Command::Reexec { binary: None }, true),
            Plan::Remote(Proto::Reexec { binary: None })
        );
        assert_eq!(
            plan(
                Command::Reexec {
                    binary: Some("/usr/sbin/outset".into())
                },
                true
            ),
            Plan::Remote(Proto::Reexec {
                binary: Some("/usr/sbin/outset".into())
            })
        );
        // A relative path means one from here: the daemon runs elsewhere.
        let here = std::env::current_dir().unwrap().join("build/outset");
        assert_eq!(
            plan(
                Command::Reexec {
                    binary: Some("build/outset".into())
                },
                true
            ),
            Plan::Remote(Proto::Reexec {
                binary: Some(here.to_string_lossy().into_owned())
            })
        );
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
            false,
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
            changed: None,
            spawned: None,
            ready: None,
            members: vec![],
            log: None,
            resource_problems: vec![],
        };
        let mut out = Vec::new();
        write_body(&Body::Instances(vec![w.clone(), w]), false, &mut out);
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
